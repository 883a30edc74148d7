//! Read models and reports.
//!
//! The event log is the truth; reports are answered from tables that
//! projections fold from it ([`runner`]), in a database of their own
//! ([`db`]). Each projection's change and its checkpoint commit in one
//! transaction, so a crash never double-counts or skips, and any projection
//! can be rebuilt from position 0.
//!
//! Reports may be asked *as of* a past moment: every table that a report
//! sums is keyed by the day the change was recorded, so a past moment costs
//! a sum over whole days before it plus the few journal rows of its own day
//! — never a replay of the log. Reports that list or sum deal and activity
//! rows read their versions (`rm_deals_history`, `rm_activities_history`)
//! current at the moment, by an interval condition.

pub mod builder;
pub mod db;
pub mod deals;
pub mod funnel;
pub mod projection;
pub mod runner;
pub mod time;

pub mod control;
pub mod forecast;
pub mod plan_vs_fact;
pub mod rating;
pub mod work;

pub use db::{Dialect, ReadDb};
pub use projection::{Projection, Table};
pub use runner::{ProjectionMetrics, Projections};

use voronka_core::Position;

/// Every projection Voronka runs, fresh (nothing loaded yet).
pub fn all() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(deals::DealsProjection::new()),
        Box::new(work::WorkProjection::new()),
    ]
}

/// What can go wrong below the report layer.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("read-model database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event store: {0}")]
    Store(#[from] voronka_store::StoreError),
    #[error("the read-model database URL must be sqlite://PATH or postgres://...")]
    UnsupportedUrl,
    #[error("no such projection")]
    UnknownProjection,
    #[error("the projection runner has stopped")]
    Stopped,
    #[error("projection `{0}` was moved by another runner during a rebuild")]
    Contended(&'static str),
    #[error("a bulk fold stopped on its thread: {0}")]
    FoldPanicked(String),
    #[error("the reports have reached position {reached:?}, not yet {wanted:?}")]
    Lagging { wanted: Position, reached: Position },
}
