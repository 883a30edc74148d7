//! Outgoing webhooks: every event of the log that an active subscription
//! asks for is POSTed to its URL, signed with HMAC-SHA256, in log order per
//! subscription, at least once.
//!
//! Subscriptions are events (`voronka-crm::webhook`); the [`Deliverer`]
//! folds them from the log together with each deal's process, and runs one
//! worker per active subscription. A worker keeps a checkpoint (the position
//! of the last event delivered or skipped) in the report database
//! ([`store`]), so a restart resumes where it stopped: nothing is lost.
//! Accepted deliveries are logged and the checkpoint moved in one write per
//! group of up to 64 (or at the end of what was ready), so a crash sends at
//! most that group again; a stop sends nothing twice. A failed attempt is
//! retried with exponential backoff ([`backoff`]); every attempt goes to the
//! delivery log; after `max_failures` consecutive failures the worker
//! appends `webhook_paused` (`too_many_failures`) and stops until an
//! administrator resumes the subscription, which continues from the same
//! event.
//!
//! Invariant: this crate depends on the core, the store, the pure CRM and
//! process crates and on `voronka-projections` for `ReadDb` only; never on
//! the application or the gateway.

pub mod backoff;
pub mod deliverer;
pub mod metrics;
pub mod payload;
pub mod signature;
pub mod store;
pub mod subscriptions;

pub use backoff::Backoff;
pub use deliverer::{Deliverer, DelivererConfig};
pub use metrics::WebhookMetrics;
pub use store::{deliveries, DeliveryRecord};
pub use subscriptions::Subscriptions;

/// Why the deliverer could not start or a delivery-log query failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the report database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] voronka_store::StoreError),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}
