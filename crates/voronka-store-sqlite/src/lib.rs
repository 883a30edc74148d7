//! The embedded default event store: one SQLite file in WAL mode with
//! `synchronous=FULL`, so an acknowledged append is on disk.
//!
//! Throughput comes from group commit, not weaker durability: one writer task
//! owns the only writing connection, takes appends from a channel, and commits
//! whatever has queued up as one transaction (see [`writer`]). Readers use a
//! separate pool and never block the writer.
//!
//! Invariants:
//! - only the writer task writes, and only one process at a time may hold the
//!   writer (a lock file next to the database enforces it), so the writer's
//!   cache of stream versions and of the next position is always exact;
//! - opening a store never scans the log: it reads the highest position from
//!   the end of the primary-key b-tree.

mod checkpointer;
mod errors;
mod location;
mod reader;
mod writer;

pub use location::{SqliteLocation, SqliteLocationError};

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use voronka_core::{
    AppendOutcome, Clock, EventData, EventMetadata, ExpectedVersion, Position, RecordedEvent,
    StreamId, StreamVersion,
};
use voronka_store::{EventStore, StoreError, StoreHealth, StoreMetrics};

/// The migrations of the SQLite schema, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How a store is opened.
#[derive(Clone)]
pub struct SqliteOptions {
    pub clock: Arc<dyn Clock>,
    pub metrics: StoreMetrics,
    /// Apply pending migrations on open (what `voronka serve` does). Without
    /// it, a store whose schema is behind refuses to open.
    pub run_migrations: bool,
    /// Reader connections in the pool.
    pub readers: u32,
    /// Stream names kept in memory by key; past this many the cache is
    /// dropped and refilled as reads need names.
    pub cached_stream_names: usize,
}

impl SqliteOptions {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            metrics: StoreMetrics::unregistered(),
            run_migrations: true,
            readers: 4,
            cached_stream_names: 1_000_000,
        }
    }
}

pub struct SqliteStore {
    writer: writer::WriterHandle,
    checkpointer: checkpointer::CheckpointerHandle,
    reader: reader::Reader,
    closed: AtomicBool,
    notify: Arc<tokio::sync::watch::Sender<Position>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the store at `location`.
    pub async fn open(
        location: &SqliteLocation,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let lock = location.lock_writer()?;
        let connect = base_connect_options(location);
        let mut connection = connect
            .clone()
            .connect()
            .await
            .map_err(|e| errors::open_error(location, e))?;
        check_is_voronka_or_empty(&mut connection).await?;
        if options.run_migrations {
            MIGRATOR
                .run_direct(&mut connection)
                .await
                .map_err(|e| errors::migrate_error(location, e))?;
        } else if !migrations_applied(&mut connection).await? {
            return Err(StoreError::Incompatible(format!(
                "{} has not been migrated to this version of Voronka; run `voronka migrate`",
                location.display()
            )));
        }
        // Checkpoints run on their own connection, off the commit path (see
        // `checkpointer`); the writer never stops to copy the WAL back.
        // The writer touches a random leaf of the stream index per event:
        // keep the index in its own page cache rather than re-reading it.
        sqlx::query("PRAGMA cache_size = -65536")
            .execute(&mut connection)
            .await
            .map_err(errors::classify)?;
        sqlx::query("PRAGMA wal_autocheckpoint = 0")
            .execute(&mut connection)
            .await
            .map_err(errors::classify)?;
        let checkpoint_connection = connect
            .clone()
            .connect()
            .await
            .map_err(|e| errors::open_error(location, e))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .min_connections(1)
            .connect_with(
                connect
                    .pragma("query_only", "ON")
                    // Map the file: a scan of the log then costs no read() per page.
                    .pragma("mmap_size", "1073741824"),
            )
            .await
            .map_err(|e| errors::open_error(location, e))?;
        let head = writer::last_position(&mut connection).await?;
        let notify = Arc::new(tokio::sync::watch::Sender::new(head));
        let checkpointer = checkpointer::spawn(checkpoint_connection, notify.subscribe());
        let last_stream_key = writer::last_stream_key(&mut connection).await?;
        let writer = writer::spawn(
            connection,
            lock,
            head,
            last_stream_key,
            options.clock,
            options.metrics,
            notify.clone(),
        );
        Ok(SqliteStore {
            checkpointer,
            writer,
            reader: reader::Reader::new(readers, options.cached_stream_names.max(1)),
            closed: AtomicBool::new(false),
            notify,
        })
    }

    /// Applies pending migrations to the database at `location` and returns
    /// how many were applied.
    pub async fn migrate(location: &SqliteLocation) -> Result<usize, StoreError> {
        let _lock = location.lock_writer()?;
        let mut connection = base_connect_options(location)
            .connect()
            .await
            .map_err(|e| errors::open_error(location, e))?;
        check_is_voronka_or_empty(&mut connection).await?;
        let before = applied_versions(&mut connection).await?.len();
        MIGRATOR
            .run_direct(&mut connection)
            .await
            .map_err(|e| errors::migrate_error(location, e))?;
        let after = applied_versions(&mut connection).await?.len();
        connection.close().await.map_err(errors::backend)?;
        Ok(after.saturating_sub(before))
    }
}

/// The options every connection to the file shares: WAL, full fsync on
/// commit, and a busy timeout so a checkpoint never fails a reader.
fn base_connect_options(location: &SqliteLocation) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(location.path())
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(false)
        .statement_cache_capacity(64)
        .log_statements(tracing::log::LevelFilter::Trace)
}

/// Refuses a database that holds tables but is not a Voronka store, so that
/// pointing `--db` at the wrong file never changes it.
async fn check_is_voronka_or_empty(connection: &mut SqliteConnection) -> Result<(), StoreError> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *connection)
            .await
            .map_err(errors::classify_open)?;
    // Ours, or on its way to being ours. A database that another sqlx
    // application migrated fails later, in the migrator, as incompatible.
    if tables.is_empty() || tables.iter().any(|t| t == "_sqlx_migrations") {
        return Ok(());
    }
    Err(StoreError::Incompatible(format!(
        "the file holds other tables ({}) and is not a Voronka store; nothing was changed",
        tables.join(", ")
    )))
}

async fn applied_versions(connection: &mut SqliteConnection) -> Result<Vec<i64>, StoreError> {
    let exists: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *connection)
    .await
    .map_err(errors::backend)?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut *connection)
        .await
        .map_err(errors::backend)
}

async fn migrations_applied(connection: &mut SqliteConnection) -> Result<bool, StoreError> {
    let applied = applied_versions(connection).await?;
    Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<EventData>,
        metadata: EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        voronka_store::validate_append(&events, &metadata)?;
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.writer
            .append(stream.clone(), expected, events, metadata)
            .await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reader.read_stream(stream, from_version, limit).await
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reader.read_all(after, limit).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, StoreError> {
        self.reader.stream_version(stream).await
    }

    fn commit_notifications(&self) -> tokio::sync::watch::Receiver<Position> {
        self.notify.subscribe()
    }

    async fn health(&self) -> Result<StoreHealth, StoreError> {
        let mut connection = self
            .reader
            .pool
            .acquire()
            .await
            .map_err(errors::classify_open)?;
        let migrations_applied = migrations_applied(&mut connection).await?;
        let head = reader::head(&mut connection).await?;
        Ok(StoreHealth {
            backend: "sqlite",
            head,
            migrations_applied,
        })
    }

    async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.writer.close().await;
        self.checkpointer.stop().await;
        self.reader.pool.close().await;
    }
}
