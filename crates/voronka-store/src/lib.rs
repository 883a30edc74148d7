//! The event store port: the [`EventStore`] trait every backend implements,
//! its error type, a live [`Subscription`] built on any store, an in-memory
//! store for pure tests, and the [`conformance`] suite that every backend must
//! pass unchanged.
//!
//! Invariants every backend keeps (and the suite checks):
//! - an append is atomic and acknowledged only once durable;
//! - a stream's versions are 1, 2, 3, ... with no gaps; an expected-version
//!   mismatch is [`StoreError::Conflict`] and writes nothing;
//! - a retried append with the same command id returns the first outcome and
//!   writes nothing;
//! - a reader by position sees events in strictly increasing position order and
//!   never skips one that becomes visible later.

pub mod conformance;
mod error;
mod memory;
mod metrics;
mod subscription;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use metrics::StoreMetrics;
pub use subscription::Subscription;

use async_trait::async_trait;
use voronka_core::{
    AppendOutcome, EventData, EventMetadata, ExpectedVersion, Position, RecordedEvent, StreamId,
    StreamVersion,
};

/// The most events one `read_all` or `read_stream` call returns, whatever the
/// caller asks for; readers page through the log in batches.
pub const MAX_READ_BATCH: usize = 10_000;

/// What `/readyz` needs to know about a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    /// The backend's name, `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The newest position readers may see.
    pub head: Position,
    /// Every embedded migration has been applied.
    pub migrations_applied: bool,
}

/// An append-only log of events, organised in streams.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` atomically if the stream is at `expected`.
    ///
    /// Returns after the events are durable. With a command id in `metadata`,
    /// a retry returns the first outcome and appends nothing.
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<EventData>,
        metadata: EventMetadata,
    ) -> Result<AppendOutcome, StoreError>;

    /// Reads up to `limit` events of one stream, starting at `from_version`
    /// (inclusive; versions start at 1).
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `limit` events of the whole log with a position greater
    /// than `after`, in position order. Never returns an event if an event
    /// with a lower position may still become visible.
    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The current version of a stream (0 if it does not exist).
    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, StoreError>;

    /// A receiver whose value changes after every commit (to the newest
    /// position known to this process). Subscriptions wait on it instead of
    /// polling.
    fn commit_notifications(&self) -> tokio::sync::watch::Receiver<Position>;

    /// Checks that the database is reachable and migrated.
    async fn health(&self) -> Result<StoreHealth, StoreError>;

    /// Finishes in-flight appends and releases the database. Appends after
    /// this fail with [`StoreError::Closed`].
    async fn close(&self);
}

/// Checks the parts of an append request that do not depend on the stored
/// state; every backend calls it first, so bad input is rejected the same way.
///
/// Event types and actor ids may not contain control characters: they are
/// names, and backends may use control characters as separators.
pub fn validate_append(events: &[EventData], metadata: &EventMetadata) -> Result<(), StoreError> {
    if events.is_empty() {
        return Err(StoreError::EmptyAppend);
    }
    if metadata.actor.id.is_empty()
        || metadata.actor.id.len() > 200
        || metadata.actor.id.chars().any(char::is_control)
    {
        return Err(StoreError::InvalidEvent {
            reason: "the actor id must be 1 to 200 bytes without control characters".into(),
        });
    }
    for event in events {
        if event.event_type.is_empty()
            || event.event_type.len() > 200
            || event.event_type.chars().any(char::is_control)
        {
            return Err(StoreError::InvalidEvent {
                reason: "event_type must be 1 to 200 bytes without control characters".into(),
            });
        }
        if event.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StoreError::InvalidEvent {
                reason: format!(
                    "payload is {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                    event.payload.len()
                ),
            });
        }
    }
    Ok(())
}

/// The largest payload one event may carry.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;
