//! Errors of the store layer. The HTTP status each maps to is in its doc.

use voronka_core::{ExpectedVersion, StreamId, StreamVersion};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version; nothing was written. 409.
    #[error("stream {stream} is at version {actual}, expected {expected:?}")]
    Conflict {
        stream: StreamId,
        expected: ExpectedVersion,
        actual: StreamVersion,
    },

    /// An append with no events. 400.
    #[error("an append must carry at least one event")]
    EmptyAppend,

    /// An event that cannot be stored as given. 400.
    #[error("invalid event: {reason}")]
    InvalidEvent { reason: String },

    /// The database cannot be reached. 503.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),

    /// The file or database is not a Voronka store, or is damaged. 500.
    #[error("the database is not a usable Voronka store: {0}")]
    Incompatible(String),

    /// The disk is full or the database is read-only; nothing was written. 507.
    #[error("the database cannot be written: {0}")]
    NotWritable(String),

    /// The store was closed. 503.
    #[error("the store is closed")]
    Closed,

    /// Anything else from the backend. 500; the detail goes to the log only.
    #[error("store backend error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
