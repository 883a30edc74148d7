//! Time. The core never reads the clock: whoever needs "now" is handed a
//! [`Clock`], so tests can fix time and replay history deterministically.

use std::sync::atomic::{AtomicI64, Ordering};

/// A moment in UTC. Stored with microsecond precision everywhere.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A source of the current time, injected at the edges.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real wall clock, truncated to microseconds so that a value survives a
/// round trip through either database unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        truncate_to_micros(chrono::Utc::now())
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            micros: AtomicI64::new(start.timestamp_micros()),
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        let step = by.num_microseconds().unwrap_or(i64::MAX);
        self.micros.fetch_add(step, Ordering::SeqCst);
    }

    pub fn set(&self, to: Timestamp) {
        self.micros.store(to.timestamp_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        timestamp_from_micros(self.micros.load(Ordering::SeqCst))
    }
}

/// Drops sub-microsecond precision.
pub fn truncate_to_micros(t: Timestamp) -> Timestamp {
    timestamp_from_micros(t.timestamp_micros())
}

/// Builds a timestamp from microseconds since the Unix epoch; values outside
/// chrono's range saturate to its bounds rather than panic.
pub fn timestamp_from_micros(micros: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or(if micros < 0 {
        chrono::DateTime::<chrono::Utc>::MIN_UTC
    } else {
        chrono::DateTime::<chrono::Utc>::MAX_UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = timestamp_from_micros(1_700_000_000_000_000);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::seconds(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
    }

    #[test]
    fn system_time_survives_a_round_trip_through_micros() {
        let now = SystemClock.now();
        assert_eq!(timestamp_from_micros(now.timestamp_micros()), now);
    }
}
