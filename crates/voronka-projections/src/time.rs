//! Times as the read models store them: microseconds since the Unix epoch
//! (comparable and indexable as integers on both engines) and UTC days.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
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
    from_micros(day * MICROS_PER_DAY).date_naive()
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
}
