//! Text folded for case-insensitive search, computed in Rust and stored.
//!
//! Why not the database: SQLite's `LIKE` and `lower()` fold only ASCII, so
//! `иванов` would not find `Иванов` there, while PostgreSQL's result depends
//! on the database's collation and `ILIKE` treats `ё` and `е` as different
//! letters. Folding here, once, and storing the result in a search column
//! (and folding the query the same way) gives the same answer on both
//! backends: the database only compares already-folded strings.
//!
//! The fold: full Unicode lower-casing (`ИВАНОВ`, `Иванов` -> `иванов`;
//! `Σ` becomes `σ` everywhere, which is what search wants), `ё` -> `е`
//! (most Russian text writes `е` for `ё`, so `Пётр` and `Петр` must meet),
//! `й` typed as `и` + combining breve is joined back to `й`, `е` + combining
//! diaeresis (a decomposed `ё`) becomes `е`, every run of whitespace becomes
//! one space, and the ends are trimmed.
//!
//! Callers building a `LIKE` pattern from a folded query still escape `%`,
//! `_` and their escape character themselves.

const COMBINING_DIAERESIS: char = '\u{0308}';
const COMBINING_BREVE: char = '\u{0306}';

/// Folds `input` for storing in a search column and for the query compared
/// with it; see the module docs.
pub fn fold_for_search(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut space_pending = false;
    for c in input.chars() {
        if c.is_whitespace() {
            space_pending = !out.is_empty();
            continue;
        }
        // Decomposed Cyrillic letters (macOS and some keyboards produce them).
        if !space_pending {
            if c == COMBINING_DIAERESIS && out.ends_with('е') {
                continue;
            }
            if c == COMBINING_BREVE && out.ends_with('и') {
                out.pop();
                out.push('й');
                continue;
            }
        }
        if space_pending {
            out.push(' ');
            space_pending = false;
        }
        for lower in c.to_lowercase() {
            out.push(if lower == 'ё' { 'е' } else { lower });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(fold_for_search(input), expected, "input {input:?}");
    }

    #[test]
    fn cyrillic_is_folded_to_lower_case_with_e_for_yo() {
        check("ИВАНОВ", "иванов");
        check("Иванов", "иванов");
        check("иванов", "иванов");
        check("Пётр", "петр");
        check("ПЁТР", "петр");
        check("Семёнов Алексей", "семенов алексей");
        check("Йошкар-Ола", "йошкар-ола");
        check("ЪЫЬЭЮЯ", "ъыьэюя");
        check("Ivanov", "ivanov");
        check("ООО «Ромашка»", "ооо «ромашка»");
        check("ΣΟΦΙΑ", "σοφια");
        check("Straße", "straße");
        check("İstanbul", "i\u{307}stanbul");
        check("+7 912", "+7 912");
    }

    #[test]
    fn whitespace_is_collapsed_and_trimmed() {
        check("  Иванов   Пётр\tСергеевич \n", "иванов петр сергеевич");
        check("Иванов\u{a0}Пётр", "иванов петр");
        check("Иванов\u{2003}\u{2009}Пётр", "иванов петр");
        check("", "");
        check(" \t\n ", "");
    }

    #[test]
    fn decomposed_yo_and_short_i_fold_like_their_composed_forms() {
        check("Пе\u{0308}тр", "петр");
        check("ПЕ\u{0308}ТР", "петр");
        check("Андреи\u{0306}", "андрей");
        check("И\u{0306}ошкар", "йошкар");
        check("\u{0308}е", "\u{0308}е");
        check("е \u{0308}", "е \u{0308}");
    }

    #[test]
    fn the_query_and_the_stored_value_meet_whatever_the_case() {
        let stored = fold_for_search("Иванов Пётр Сергеевич");
        for query in [
            "иванов",
            "ИВАНОВ",
            "Иванов",
            "петр",
            "пётр",
            "ПЁТР",
            "Сергеевич",
        ] {
            assert!(stored.contains(&fold_for_search(query)), "{query}");
        }
    }
}
