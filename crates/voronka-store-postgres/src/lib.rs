//! The PostgreSQL event store: Voronka's production engine, and the way to run
//! several stateless processes on one database.
//!
//! - **Durable acknowledgements.** Every connection sets
//!   `synchronous_commit = on`; an append is answered only after its
//!   transaction committed.
//! - **Group commit.** One writer task per [`PostgresStore`] commits the
//!   appends waiting in its queue together, in one transaction of four round
//!   trips (the `group_commit` module describes the protocol). A
//!   conflicting append fails alone; the rest of its group commits.
//! - **Several processes.** Each process has its own writer; they share the
//!   database through one global append lock (below). Commits notify the
//!   `voronka_events` channel, and every store LISTENs to it, so subscribers
//!   wake on commits from any process.
//!
//! # Why a reader by position never skips an event
//!
//! With sequence-style positions, a transaction that took position 41 may
//! commit after one that took 42, and a reader that already moved past 42
//! would never see 41. Here positions come from the single row of
//! `position_counter`, and every appending transaction
//!
//! 1. locks that row (`SELECT ... FOR UPDATE`) before it reads the counter,
//! 2. assigns the positions right after the counter's value, and
//! 3. keeps the lock until its `COMMIT` has finished.
//!
//! PostgreSQL releases a transaction's locks only after the commit is durable
//! and visible to new snapshots. So the transaction that assigns positions
//! `n+1..` cannot even read the counter until the one that assigned `..n` is
//! visible (or rolled back, in which case its positions are reused and no gap
//! remains). Transactions therefore become visible in position order, the
//! visible events are always exactly positions `1..=head`, and a reader's
//! single-statement snapshot sees a gapless prefix: `read_all` is a plain
//! `WHERE position > $1 ORDER BY position LIMIT $2`. The price is that
//! appends of all processes are serialised, which group commit makes cheap:
//! one lock hold covers a whole group.

mod connection;
mod group_commit;
mod reading;
mod schema;
mod scratch;

pub use scratch::{
    baseline_single_row_commits, create_database, create_scratch_database, database_name,
    database_url, drop_database, ScratchDatabase,
};

use async_trait::async_trait;
use connection::{store_error, ServerAddress};
use group_commit::{AppendRequest, GroupWriter, COMMIT_CHANNEL};
use schema::SchemaState;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::Connection;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use voronka_core::{
    AppendOutcome, Clock, EventData, EventMetadata, ExpectedVersion, Position, RecordedEvent,
    StreamId, StreamVersion, Timestamp,
};
use voronka_store::{validate_append, EventStore, StoreError, StoreHealth, StoreMetrics};

/// Connections for concurrent readers (`read_all`, `read_stream`, ...).
const READ_POOL_SIZE: u32 = 8;
/// Appends waiting for the writer before callers are slowed down.
const APPEND_QUEUE: usize = 4_096;
/// How long a reader waits for a free or new connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the listener waits before reconnecting after an error.
const LISTENER_RETRY: Duration = Duration::from_secs(1);

/// How to open a [`PostgresStore`].
#[derive(Clone)]
pub struct PostgresOptions {
    /// Where `recorded_at` comes from.
    pub clock: Arc<dyn Clock>,
    /// Where appends, conflicts, latencies and group sizes are counted.
    pub metrics: StoreMetrics,
    /// Apply pending migrations while opening (`voronka serve` does; `voronka
    /// migrate` opens without and calls [`PostgresStore::migrate`]).
    pub run_migrations: bool,
}

/// An [`EventStore`] on PostgreSQL. See the crate documentation.
pub struct PostgresStore {
    address: ServerAddress,
    read_pool: PgPool,
    write_pool: PgPool,
    /// `None` once closed: appends are refused.
    append_queue: Mutex<Option<mpsc::Sender<AppendRequest>>>,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    listener: Mutex<Option<JoinHandle<()>>>,
    head: Arc<watch::Sender<Position>>,
}

impl PostgresStore {
    /// Connects to the database at `url`, checks that it is a Voronka store
    /// (or empty), applies migrations if asked, and starts the writer and the
    /// commit listener.
    ///
    /// An unreachable server or a malformed URL is
    /// [`StoreError::Unavailable`] within a few seconds; a database holding
    /// someone else's tables or a newer Voronka's migrations is
    /// [`StoreError::Incompatible`], and nothing in it is touched.
    pub async fn open(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let address = ServerAddress::parse(url)?;
        let mut connection = address.connect().await?;
        let state = if options.run_migrations {
            schema::migrate(&mut connection).await?;
            SchemaState::Current
        } else {
            schema::inspect(&mut connection).await?
        };
        let initial_head = if state == SchemaState::Current {
            let last: i64 = sqlx::query_scalar("SELECT last_position FROM position_counter")
                .fetch_one(&mut connection)
                .await
                .map_err(|error| store_error("reading the log's head", error))?;
            Position(reading::stored_u64("position_counter.last_position", last)?)
        } else {
            Position::START
        };
        // Closing politely is a courtesy; the connection is gone either way.
        let _ = connection.close().await;

        let pool = |size: u32| {
            PgPoolOptions::new()
                .max_connections(size)
                .min_connections(0)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // A dead connection shows up as an error of the statement,
                // which is mapped and reported; pinging first would cost a
                // round trip per group.
                .test_before_acquire(false)
                .connect_lazy_with(address.options.clone())
        };
        let read_pool = pool(READ_POOL_SIZE);
        let write_pool = pool(1);
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(address.options.clone());

        let head = Arc::new(watch::Sender::new(initial_head));
        let (sender, receiver) = mpsc::channel(APPEND_QUEUE);
        let writer = GroupWriter {
            pool: write_pool.clone(),
            clock: options.clock,
            metrics: options.metrics,
            head: head.clone(),
        };
        let writer = tokio::spawn(writer.run(receiver));
        let listener = tokio::spawn(listen_for_commits(
            listen_pool,
            read_pool.clone(),
            head.clone(),
        ));
        Ok(Self {
            address,
            read_pool,
            write_pool,
            append_queue: Mutex::new(Some(sender)),
            writer: tokio::sync::Mutex::new(Some(writer)),
            listener: Mutex::new(Some(listener)),
            head,
        })
    }

    /// Applies pending migrations (several processes may do so at once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.address.connect().await?;
        let result = schema::migrate(&mut connection).await;
        let _ = connection.close().await;
        result?;
        advance_head(&self.head, reading::head(&self.read_pool).await?);
        Ok(())
    }

    fn lock_queue(&self) -> MutexGuard<'_, Option<mpsc::Sender<AppendRequest>>> {
        // The guarded value is a plain Option; a panic elsewhere cannot leave
        // it half-changed.
        self.append_queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(listener) = listener {
            listener.abort();
        }
        // The writer stops by itself once the queue's sender is dropped.
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<EventData>,
        metadata: EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        let started = Instant::now();
        validate_append(&events, &metadata)?;
        validate_for_postgres(&events, &metadata)?;
        let queue = self.lock_queue().clone().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream: stream.clone(),
            expected,
            events,
            metadata,
            started,
            reply,
        };
        queue.send(request).await.map_err(|_| StoreError::Closed)?;
        drop(queue);
        answer
            .await
            .map_err(|_| StoreError::Backend("the append writer stopped before answering".into()))?
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reading::read_stream(&self.read_pool, stream, from_version, limit).await
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reading::read_all(&self.read_pool, after, limit).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, StoreError> {
        reading::stream_version(&self.read_pool, stream).await
    }

    fn commit_notifications(&self) -> watch::Receiver<Position> {
        self.head.subscribe()
    }

    async fn health(&self) -> Result<StoreHealth, StoreError> {
        let mut connection = self
            .read_pool
            .acquire()
            .await
            .map_err(|error| store_error("checking the database", error))?;
        let state = schema::inspect(&mut connection).await?;
        drop(connection);
        let head = match state {
            SchemaState::Current => reading::head(&self.read_pool).await?,
            SchemaState::Pending => Position::START,
        };
        Ok(StoreHealth {
            backend: "postgres",
            head,
            migrations_applied: state == SchemaState::Current,
        })
    }

    async fn close(&self) {
        // Refuse new appends; the writer drains what is queued, then stops.
        drop(self.lock_queue().take());
        if let Some(writer) = self.writer.lock().await.take() {
            if let Err(error) = writer.await {
                tracing::error!(%error, "the append writer ended abnormally");
            }
        }
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(listener) = listener {
            listener.abort();
        }
        self.write_pool.close().await;
        self.read_pool.close().await;
    }
}

/// The earliest moment PostgreSQL's `timestamptz` can hold (4714-11-24 BC).
fn earliest_storable_time() -> Option<Timestamp> {
    chrono::NaiveDate::from_ymd_opt(-4713, 11, 24)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// Refuses, for this append alone, values PostgreSQL would reject for the
/// whole group: NUL characters in text, out-of-range numbers and times.
fn validate_for_postgres(events: &[EventData], metadata: &EventMetadata) -> Result<(), StoreError> {
    let invalid = |reason: &str| {
        Err(StoreError::InvalidEvent {
            reason: reason.to_owned(),
        })
    };
    if metadata.actor.id.contains('\0') {
        return invalid("the actor id must not contain a NUL character");
    }
    let earliest = earliest_storable_time();
    for event in events {
        if event.event_type.contains('\0') {
            return invalid("event_type must not contain a NUL character");
        }
        if event.payload.as_str().contains('\0') {
            return invalid("the payload must not contain a NUL character");
        }
        if i32::try_from(event.schema_version).is_err() {
            return invalid("schema_version must be at most 2147483647");
        }
        if let (Some(occurred_at), Some(earliest)) = (event.occurred_at, earliest) {
            if occurred_at < earliest {
                return invalid("occurred_at is before 4714 BC, which cannot be stored");
            }
        }
    }
    Ok(())
}

fn advance_head(head: &watch::Sender<Position>, to: Position) {
    head.send_if_modified(|current| {
        let newer = to > *current;
        if newer {
            *current = to;
        }
        newer
    });
}

/// LISTENs for commits of every process on this database and advances the
/// local head, so local subscribers wake. After a lost connection it re-reads
/// the head through `read_pool` (notifications sent meanwhile are gone; the
/// listener's own one-connection pool is busy listening).
async fn listen_for_commits(pool: PgPool, read_pool: PgPool, head: Arc<watch::Sender<Position>>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(error) = listener.listen(COMMIT_CHANNEL).await {
                    tracing::warn!(error = %connection::describe_sqlx_error(&error), "cannot LISTEN for commits");
                } else {
                    refresh_head(&read_pool, &head).await;
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => {
                                if let Ok(position) = notification.payload().parse::<u64>() {
                                    advance_head(&head, Position(position));
                                }
                            }
                            // Reconnected: anything sent meanwhile was lost.
                            Ok(None) => refresh_head(&read_pool, &head).await,
                            Err(error) => {
                                tracing::warn!(error = %connection::describe_sqlx_error(&error), "lost the commit listener");
                                break;
                            }
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %connection::describe_sqlx_error(&error), "cannot connect the commit listener");
            }
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(LISTENER_RETRY).await;
    }
}

async fn refresh_head(pool: &PgPool, head: &watch::Sender<Position>) {
    if let Ok(position) = reading::head(pool).await {
        advance_head(head, position);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voronka_core::{Actor, Payload};

    fn event(event_type: &str) -> EventData {
        EventData::new(event_type, Payload::from_json_text("{}").unwrap())
    }

    #[test]
    fn values_postgres_cannot_store_are_refused_per_append() {
        let metadata = EventMetadata::by(Actor::user("u"));
        assert!(validate_for_postgres(&[event("ok")], &metadata).is_ok());
        assert!(validate_for_postgres(&[event("a\0b")], &metadata).is_err());
        assert!(
            validate_for_postgres(&[event("ok")], &EventMetadata::by(Actor::user("\0"))).is_err()
        );
        let mut huge_schema = event("ok");
        huge_schema.schema_version = u32::MAX;
        assert!(validate_for_postgres(&[huge_schema], &metadata).is_err());
        let mut ancient = event("ok");
        ancient.occurred_at = Some(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        assert!(validate_for_postgres(&[ancient], &metadata).is_err());
        let mut max = event("ok");
        max.occurred_at = Some(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        assert!(validate_for_postgres(&[max], &metadata).is_ok());
        let nul_payload = EventData::new("ok", Payload::from_stored_text("\"\0\""));
        assert!(validate_for_postgres(&[nul_payload], &metadata).is_err());
    }
}
