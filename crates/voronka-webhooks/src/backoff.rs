//! The wait before retrying a failed delivery: `base * 2^(failures - 1)`,
//! capped (1 s, 2 s, 4 s, ... up to 5 min by default).

use std::time::Duration;

/// Exponential backoff with a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after the `failures`-th consecutive failure (1-based; 0
    /// waits nothing).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_doubles_up_to_the_cap() {
        let backoff = Backoff::default();
        let seconds: Vec<u64> = (0..=12).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(
            seconds,
            [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
        );
        assert_eq!(backoff.delay(40), Duration::from_secs(300));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn the_base_and_the_cap_are_configurable() {
        let backoff = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
        };
        let millis: Vec<u128> = (1..=5).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(millis, [10, 20, 40, 50, 50]);
    }
}
