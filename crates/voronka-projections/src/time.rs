//! Times as the read models store them: microseconds since the Unix epoch
//! (comparable and indexable as integers on both engines) and UTC days.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use voronka_core::Timestamp;

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

pub fn micros(at: Timestamp) -> i64 {
    at.timestamp_micros()
}

pub fn from_micros(micros: i64) -> Timestamp {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

/// The UTC day a moment falls on, as days since 1970-01-01.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

pub fn day_number(date: NaiveDate) -> i64 {
    let start = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default());
    day_of(micros(start))
}

pub fn date_of_day(day: i64) -> NaiveDate {
    from_micros(day.saturating_mul(MICROS_PER_DAY)).date_naive()
}

/// The first day of the calendar month `day` falls in. A day beyond the
/// calendar (the bound of an open period, `i64::MAX / 4` say) is its own
/// month start, so such a period's months are all whole.
pub fn month_start(day: i64) -> i64 {
    match day
        .checked_mul(MICROS_PER_DAY)
        .and_then(DateTime::<Utc>::from_timestamp_micros)
    {
        Some(at) => day - i64::from(at.date_naive().day0()),
        None => day,
    }
}

/// The whole calendar months inside the days `from..=to`, as the first day
/// of the first and the day after the last (`None` when none fits).
pub fn whole_months(from: i64, to: i64) -> Option<(i64, i64)> {
    let first = if month_start(from) == from {
        from
    } else {
        next_month_start(from)
    };
    let end = month_start(to.checked_add(1)?);
    (first < end).then_some((first, end))
}

fn next_month_start(day: i64) -> i64 {
    let start = month_start(day);
    // 31 days after any month's start is in the next month.
    month_start(start + 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_down_before_the_epoch_too() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(MICROS_PER_DAY - 1), 0);
        assert_eq!(day_of(-1), -1);
        let date = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(date_of_day(day_number(date)), date);
    }

    #[test]
    fn whole_months_are_the_calendar_months_a_period_covers() {
        let day = |y, m, d| day_number(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert_eq!(month_start(day(2024, 2, 29)), day(2024, 2, 1));
        assert_eq!(month_start(day(2024, 3, 1)), day(2024, 3, 1));
        assert_eq!(month_start(day(1969, 12, 31)), day(1969, 12, 1));
        // Exactly one month.
        assert_eq!(
            whole_months(day(2025, 7, 1), day(2025, 7, 31)),
            Some((day(2025, 7, 1), day(2025, 8, 1)))
        );
        // Ragged ends: only February and March are whole.
        assert_eq!(
            whole_months(day(2025, 1, 15), day(2025, 4, 2)),
            Some((day(2025, 2, 1), day(2025, 4, 1)))
        );
        // December into January.
        assert_eq!(
            whole_months(day(2025, 11, 30), day(2026, 1, 31)),
            Some((day(2025, 12, 1), day(2026, 2, 1)))
        );
        // No whole month: a week, a month less a day, an empty period.
        assert_eq!(whole_months(day(2025, 7, 7), day(2025, 7, 13)), None);
        assert_eq!(whole_months(day(2025, 7, 1), day(2025, 7, 30)), None);
        assert_eq!(whole_months(day(2025, 7, 2), day(2025, 7, 31)), None);
        assert_eq!(whole_months(day(2025, 7, 9), day(2025, 7, 1)), None);
        // Open periods: every month is whole, and nothing overflows.
        let (min, max) = (i64::MIN / 4, i64::MAX / 4);
        assert_eq!(whole_months(min, max), Some((min, max + 1)));
        assert_eq!(whole_months(i64::MIN, i64::MAX), None);
        assert_eq!(month_start(i64::MAX), i64::MAX);
        assert_eq!(
            whole_months(day(2025, 7, 2), max),
            Some((day(2025, 8, 1), max + 1))
        );
    }
}
