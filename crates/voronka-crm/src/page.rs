//! Cursor pagination. Lists are ordered newest first by the global position
//! of the record's first event; the cursor is that position of the last item
//! returned, so a page is stable while new records arrive.

use serde::Serialize;
use voronka_core::Position;

use crate::FieldError;

/// The most items one page may ask for.
pub const MAX_PAGE_SIZE: usize = 200;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// Where a page starts: strictly older than this position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor(pub Position);

impl Cursor {
    /// The opaque text clients pass back: `c` and the position in decimal.
    pub fn encode(self) -> String {
        format!("c{}", self.0 .0)
    }

    /// Reads a cursor from the `cursor` parameter.
    pub fn parse(text: &str) -> Result<Cursor, FieldError> {
        text.strip_prefix('c')
            .and_then(|digits| digits.parse::<u64>().ok())
            .filter(|position| *position > 0)
            .map(|position| Cursor(Position(position)))
            .ok_or_else(|| {
                FieldError::new(
                    "cursor",
                    "invalid_cursor",
                    "the cursor is not one this server returned",
                )
            })
    }
}

/// Checks a requested page size (`limit`): 1..=MAX_PAGE_SIZE, default 50.
pub fn page_size(requested: Option<usize>) -> Result<usize, FieldError> {
    match requested {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
        Some(_) => Err(FieldError::new(
            "limit",
            "limit_out_of_range",
            format!("`limit` must be between 1 and {MAX_PAGE_SIZE}"),
        )),
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Takes up to `limit` items from `newest_first` (already filtered and
    /// ordered newest first by `key`) that are older than `after`.
    pub fn collect<'a, S: 'a>(
        newest_first: impl Iterator<Item = &'a S>,
        key: impl Fn(&S) -> Position,
        after: Option<Cursor>,
        limit: usize,
        to_item: impl Fn(&S) -> T,
    ) -> Page<T> {
        let mut items = Vec::with_capacity(limit.min(64));
        let mut last = None;
        let mut more = false;
        for source in newest_first.filter(|s| after.is_none_or(|c| key(s) < c.0)) {
            if items.len() == limit {
                more = true;
                break;
            }
            last = Some(key(source));
            items.push(to_item(source));
        }
        Page {
            items,
            next_cursor: if more {
                last.map(|p| Cursor(p).encode())
            } else {
                None
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_field_error() {
        let cursor = Cursor(Position(42));
        assert_eq!(Cursor::parse(&cursor.encode()), Ok(cursor));
        for bad in ["", "c", "c-1", "42", "c0", "cx", "c99999999999999999999999"] {
            assert_eq!(Cursor::parse(bad).unwrap_err().field, "cursor", "{bad}");
        }
    }

    #[test]
    fn pages_walk_the_whole_list_once() {
        let positions: Vec<u64> = (1..=7).rev().collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = Page::collect(positions.iter(), |p| Position(*p), after, 3, |p| *p);
            seen.extend(page.items.iter().copied());
            match page.next_cursor {
                Some(text) => after = Some(Cursor::parse(&text).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, positions);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(MAX_PAGE_SIZE + 1)).is_err());
        assert_eq!(page_size(None), Ok(DEFAULT_PAGE_SIZE));
    }
}
