//! Prometheus metrics of webhook delivery: how long after an event was
//! recorded it reached its receiver (the lag the p99 target is
//! about), and attempts by outcome.

use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

/// The deliverer's metrics; [`WebhookMetrics::unregistered`] for tests and
/// benches that do not export them.
#[derive(Clone)]
pub struct WebhookMetrics {
    lag_seconds: Histogram,
    attempts: IntCounterVec,
}

impl std::fmt::Debug for WebhookMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookMetrics")
    }
}

impl WebhookMetrics {
    /// Creates the metrics and registers them with `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered();
        registry.register(Box::new(metrics.lag_seconds.clone()))?;
        registry.register(Box::new(metrics.attempts.clone()))?;
        Ok(metrics)
    }

    pub fn unregistered() -> Self {
        let lag_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "voronka_webhook_delivery_lag_seconds",
                "Time from an event being recorded to its webhook delivery being accepted.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
        )
        .expect("constant histogram options are valid");
        let attempts = IntCounterVec::new(
            Opts::new(
                "voronka_webhook_attempts_total",
                "Webhook delivery attempts by outcome (delivered or failed).",
            ),
            &["outcome"],
        )
        .expect("constant counter options are valid");
        Self {
            lag_seconds,
            attempts,
        }
    }

    pub(crate) fn attempt(&self, success: bool) {
        let outcome = if success { "delivered" } else { "failed" };
        self.attempts.with_label_values(&[outcome]).inc();
    }

    pub(crate) fn delivered(&self, lag: Duration) {
        self.lag_seconds.observe(lag.as_secs_f64());
    }
}
