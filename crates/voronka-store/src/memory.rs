//! An in-memory store with the same semantics as the durable backends, for
//! pure tests of the layers above. Not durable, by design.

use crate::{validate_append, EventStore, StoreError, StoreHealth, StoreMetrics};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use voronka_core::{
    AppendOutcome, Clock, CommandId, EventData, EventMetadata, ExpectedVersion, Position,
    RecordedEvent, StreamId, StreamVersion,
};

#[derive(Default)]
struct State {
    events: Vec<RecordedEvent>,
    /// Indexes into `events` of each stream's events, in version order.
    streams: HashMap<StreamId, Vec<usize>>,
    commands: HashMap<CommandId, AppendOutcome>,
    closed: bool,
}

/// Cloning shares the same log: a clone is a "reopen".
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    notify: Arc<tokio::sync::watch::Sender<Position>>,
    metrics: StoreMetrics,
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::default(),
            clock,
            notify: Arc::new(tokio::sync::watch::Sender::new(Position::START)),
            metrics: StoreMetrics::unregistered(),
        }
    }

    /// A handle on the same log that is open again after a `close`.
    pub fn reopen(&self) -> Self {
        self.lock().closed = false;
        self.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere mid-append; the state itself
        // is only changed after all checks, so it is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<EventData>,
        metadata: EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        validate_append(&events, &metadata)?;
        let mut state = self.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        if let Some(command_id) = metadata.command_id {
            if let Some(first) = state.commands.get(&command_id) {
                return Ok(*first);
            }
        }
        let actual = StreamVersion(state.streams.get(stream).map_or(0, |e| e.len() as u64));
        if !expected.accepts(actual) {
            self.metrics.conflicts.inc();
            return Err(StoreError::Conflict {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
        let recorded_at = self.clock.now();
        let count = events.len();
        let first_index = state.events.len();
        for (offset, event) in events.into_iter().enumerate() {
            let index = first_index + offset;
            state.events.push(RecordedEvent {
                position: Position(index as u64 + 1),
                stream_id: stream.clone(),
                stream_version: StreamVersion(actual.0 + offset as u64 + 1),
                event_type: event.event_type,
                schema_version: event.schema_version,
                payload: event.payload,
                metadata: metadata.clone(),
                recorded_at,
                occurred_at: event.occurred_at,
            });
            state.streams.entry(stream.clone()).or_default().push(index);
        }
        let outcome = AppendOutcome {
            stream_version: StreamVersion(actual.0 + count as u64),
            first_position: Position(first_index as u64 + 1),
            last_position: Position((first_index + count) as u64),
        };
        if let Some(command_id) = metadata.command_id {
            state.commands.insert(command_id, outcome);
        }
        drop(state);
        self.metrics.appends.inc();
        self.metrics.events_appended.inc_by(count as u64);
        self.notify.send_replace(outcome.last_position);
        Ok(outcome)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.lock();
        let skip = from_version.0.saturating_sub(1) as usize;
        let limit = limit.min(crate::MAX_READ_BATCH);
        Ok(state
            .streams
            .get(stream)
            .map(|indexes| {
                indexes
                    .iter()
                    .skip(skip)
                    .take(limit)
                    .map(|&i| state.events[i].clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.lock();
        let start = (after.0 as usize).min(state.events.len());
        let limit = limit.min(crate::MAX_READ_BATCH);
        Ok(state.events[start..].iter().take(limit).cloned().collect())
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, StoreError> {
        Ok(StreamVersion(
            self.lock()
                .streams
                .get(stream)
                .map_or(0, |e| e.len() as u64),
        ))
    }

    fn commit_notifications(&self) -> tokio::sync::watch::Receiver<Position> {
        self.notify.subscribe()
    }

    async fn health(&self) -> Result<StoreHealth, StoreError> {
        let head = Position(self.lock().events.len() as u64);
        Ok(StoreHealth {
            backend: "memory",
            head,
            migrations_applied: true,
        })
    }

    async fn close(&self) {
        self.lock().closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::StoreFixture;

    struct MemoryFixture(MemoryStore);

    #[async_trait]
    impl StoreFixture for MemoryFixture {
        async fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn EventStore> {
            let mut store = self.0.reopen();
            store.clock = clock;
            Arc::new(store)
        }
    }

    async fn fixture() -> MemoryFixture {
        MemoryFixture(MemoryStore::new(Arc::new(voronka_core::SystemClock)))
    }

    crate::conformance_tests!(fixture());
}
