//! Prometheus metrics every backend records: appends, append latency and the
//! size of commit groups. The gateway exposes them at `/metrics`.

use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};

#[derive(Clone)]
pub struct StoreMetrics {
    /// Events appended and acknowledged.
    pub events_appended: IntCounter,
    /// Append calls acknowledged (one call may carry several events).
    pub appends: IntCounter,
    /// Appends rejected because of a version conflict.
    pub conflicts: IntCounter,
    /// From the call to the acknowledgement, in seconds.
    pub append_seconds: Histogram,
    /// Appends committed together in one transaction.
    pub commit_group_size: Histogram,
}

impl StoreMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered();
        registry.register(Box::new(metrics.events_appended.clone()))?;
        registry.register(Box::new(metrics.appends.clone()))?;
        registry.register(Box::new(metrics.conflicts.clone()))?;
        registry.register(Box::new(metrics.append_seconds.clone()))?;
        registry.register(Box::new(metrics.commit_group_size.clone()))?;
        Ok(metrics)
    }

    /// Metrics that are counted but exposed nowhere (tests, benches).
    pub fn unregistered() -> Self {
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric(name))
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .unwrap_or_else(|_| unreachable_metric(name))
        };
        Self {
            events_appended: counter(
                "voronka_store_events_appended_total",
                "Events appended and acknowledged.",
            ),
            appends: counter("voronka_store_appends_total", "Append calls acknowledged."),
            conflicts: counter(
                "voronka_store_append_conflicts_total",
                "Appends rejected by a version conflict.",
            ),
            append_seconds: histogram(
                "voronka_store_append_seconds",
                "Time from an append call to its durable acknowledgement.",
                vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ],
            ),
            commit_group_size: histogram(
                "voronka_store_commit_group_size",
                "Appends committed together in one transaction.",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            ),
        }
    }
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self::unregistered()
    }
}

/// Metric names and help texts above are constants that prometheus accepts;
/// this is only reached if that stops being true, which a unit test would show.
fn unreachable_metric(name: &str) -> ! {
    panic!("metric definition {name} rejected by prometheus")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_register_once_per_registry() {
        let registry = Registry::new();
        StoreMetrics::register(&registry).unwrap();
        assert!(
            StoreMetrics::register(&registry).is_err(),
            "a second registration must be refused"
        );
        assert_eq!(registry.gather().len(), 5);
    }
}
