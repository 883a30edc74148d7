//! Runs projections: each folds the log from its checkpoint in batches, and
//! each batch's change commits with the checkpoint in one transaction.
//!
//! Exactly once, even with several Voronka processes on one PostgreSQL: the
//! checkpoint moves by compare-and-set (`WHERE position = <the one this
//! batch started from>`), so when two runners fold the same batch only the
//! first commit counts; the other rolls back, reloads and goes on from the
//! newer checkpoint. A crash mid-batch leaves nothing: the transaction never
//! committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{IntGaugeVec, Opts, Registry};
use sqlx::Row;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use voronka_core::{Position, RecordedEvent};
use voronka_store::{EventStore, MAX_READ_BATCH};

use crate::{Projection, ProjectionError, ReadDb};

/// Events per batch: big enough to amortize the commit, small enough that a
/// batch of large events stays a few megabytes.
pub const BATCH: usize = MAX_READ_BATCH;

/// A worker that starts from position 0 with more than this many events in
/// the log folds them in bulk (see [`rebuild`]) before following the log.
pub const BULK_FROM: u64 = 50_000;

/// Lag of each projection, for Prometheus.
#[derive(Clone)]
pub struct ProjectionMetrics {
    position: IntGaugeVec,
    lag_events: IntGaugeVec,
    lag_seconds: prometheus::GaugeVec,
}

impl ProjectionMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered();
        registry.register(Box::new(metrics.position.clone()))?;
        registry.register(Box::new(metrics.lag_events.clone()))?;
        registry.register(Box::new(metrics.lag_seconds.clone()))?;
        Ok(metrics)
    }

    pub fn unregistered() -> Self {
        let position = IntGaugeVec::new(
            Opts::new(
                "voronka_projection_position",
                "Last log position folded into the projection",
            ),
            &["projection"],
        )
        .expect("valid metric");
        let lag_events = IntGaugeVec::new(
            Opts::new(
                "voronka_projection_lag_events",
                "Log positions the projection is behind the store's head",
            ),
            &["projection"],
        )
        .expect("valid metric");
        let lag_seconds = prometheus::GaugeVec::new(
            Opts::new(
                "voronka_projection_lag_seconds",
                "Age of the newest event folded while events are still waiting (0 when caught up)",
            ),
            &["projection"],
        )
        .expect("valid metric");
        Self {
            position,
            lag_events,
            lag_seconds,
        }
    }
}

const CHECKPOINTS: &str = "CREATE TABLE IF NOT EXISTS rm_checkpoints (\
    name TEXT PRIMARY KEY, version BIGINT NOT NULL, position BIGINT NOT NULL)";

/// The stored checkpoint of `name`, if any: (version, position).
async fn stored_checkpoint(
    db: &ReadDb,
    name: &str,
) -> Result<Option<(u32, Position)>, ProjectionError> {
    sqlx::query(CHECKPOINTS).execute(db.pool()).await?;
    let row = sqlx::query("SELECT version, position FROM rm_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|row| {
        let version: i64 = row.get(0);
        let position: i64 = row.get(1);
        (version as u32, Position(position as u64))
    }))
}

/// Drops the projection's tables and checkpoint, and creates them afresh.
async fn recreate(db: &ReadDb, projection: &dyn Projection) -> Result<(), ProjectionError> {
    let mut tx = db.begin_write().await?;
    for table in projection.tables() {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", table.name))
            .execute(&mut *tx)
            .await?;
    }
    for table in projection.tables() {
        for statement in table.create {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
    }
    sqlx::query("DELETE FROM rm_checkpoints WHERE name = $1")
        .bind(projection.name())
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO rm_checkpoints (name, version, position) VALUES ($1, $2, 0)")
        .bind(projection.name())
        .bind(i64::from(projection.version()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes the projection's tables match its version (rebuilding from 0 when
/// they do not), loads its working state, and returns where it stands.
async fn prepare(
    db: &ReadDb,
    projection: &mut dyn Projection,
) -> Result<Position, ProjectionError> {
    let stored = stored_checkpoint(db, projection.name()).await?;
    projection.reset();
    match stored {
        Some((version, position)) if version == projection.version() => {
            for table in projection.tables() {
                for statement in table.create {
                    sqlx::query(statement).execute(db.pool()).await?;
                }
            }
            projection.load(db).await?;
            Ok(position)
        }
        other => {
            if let Some((version, _)) = other {
                tracing::info!(
                    projection = projection.name(),
                    from = version,
                    to = projection.version(),
                    "projection version changed: rebuilding from the start of the log"
                );
            }
            recreate(db, projection).await?;
            Ok(Position::START)
        }
    }
}

/// Folds one batch and moves the checkpoint from `from` to the batch's end,
/// in one transaction. `Ok(false)` when another runner moved the checkpoint
/// first (nothing of this batch was kept).
async fn fold_batch(
    db: &ReadDb,
    projection: &mut dyn Projection,
    from: Position,
    batch: &[RecordedEvent],
) -> Result<bool, ProjectionError> {
    let Some(last) = batch.last() else {
        return Ok(true);
    };
    let mut tx = db.begin_write().await?;
    projection.apply(db, batch, &mut tx).await?;
    let moved = sqlx::query(
        "UPDATE rm_checkpoints SET position = $1 WHERE name = $2 AND version = $3 AND position = $4",
    )
    .bind(last.position.0 as i64)
    .bind(projection.name())
    .bind(i64::from(projection.version()))
    .bind(from.0 as i64)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Figures of one offline rebuild.
#[derive(Debug, Clone, Copy)]
pub struct RebuildReport {
    pub events: u64,
    pub position: Position,
    pub elapsed: Duration,
}

/// Rebuilds `projection` from position 0 up to the store's current head,
/// in this task (for `voronka rebuild` and benchmarks), in bulk.
pub async fn rebuild(
    store: &dyn EventStore,
    db: &ReadDb,
    projection: &mut dyn Projection,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    sqlx::query(CHECKPOINTS).execute(db.pool()).await?;
    let (events, position) = bulk_fold(store, db, projection).await?;
    Ok(RebuildReport {
        events,
        position,
        elapsed: started.elapsed(),
    })
}

/// Rebuilds `projection` from position 0 the way a running worker follows
/// the log: batch by batch, each with its checkpoint. Slower than
/// [`rebuild`]; benchmarks compare the two, tests check they agree.
pub async fn rebuild_batch_by_batch(
    store: &dyn EventStore,
    db: &ReadDb,
    projection: &mut dyn Projection,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    sqlx::query(CHECKPOINTS).execute(db.pool()).await?;
    projection.reset();
    recreate(db, projection).await?;
    let mut position = Position::START;
    let mut events = 0;
    loop {
        let batch = store.read_all(position, BATCH).await?;
        let Some(last) = batch.last() else { break };
        let last = last.position;
        if !fold_batch(db, projection, position, &batch).await? {
            return Err(ProjectionError::Contended(projection.name()));
        }
        events += batch.len() as u64;
        position = last;
    }
    Ok(RebuildReport {
        events,
        position,
        elapsed: started.elapsed(),
    })
}

/// Whether `statement` creates an index (built after a bulk load, which is
/// faster than keeping it up to date row by row).
fn is_index(statement: &str) -> bool {
    let statement = statement.trim_start();
    statement.starts_with("CREATE INDEX") || statement.starts_with("CREATE UNIQUE INDEX")
}

/// Folds the whole log into fresh tables in one transaction: the tables are
/// recreated without their indexes, batches go through the projection's bulk
/// path while the next batch is being read, then the projection writes what
/// it kept in memory, the indexes are built and the checkpoint is set. All of
/// it commits at once: readers and a crash see the old tables or the new,
/// never a part. Returns the events folded and the position reached.
async fn bulk_fold(
    store: &dyn EventStore,
    db: &ReadDb,
    projection: &mut dyn Projection,
) -> Result<(u64, Position), ProjectionError> {
    projection.reset();
    let mut tx = db.begin_write().await?;
    for table in projection.tables() {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", table.name))
            .execute(&mut *tx)
            .await?;
        for statement in table.create.iter().filter(|s| !is_index(s)) {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
    }
    let mut position = Position::START;
    let mut events = 0u64;
    let started = Instant::now();
    let mut batch = store.read_all(position, BATCH).await?;
    while let Some(last) = batch.last().map(|event| event.position) {
        let folding = batch.len() as u64;
        let (next, folded) = tokio::join!(
            store.read_all(last, BATCH),
            projection.apply_bulk(db, batch, &mut tx)
        );
        folded?;
        events += folding;
        position = last;
        batch = next?;
    }
    let folded = Instant::now();
    projection.finish_bulk(db, &mut tx).await?;
    let finished = Instant::now();
    for table in projection.tables() {
        for statement in table.create.iter().filter(|s| is_index(s)) {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
    }
    sqlx::query("DELETE FROM rm_checkpoints WHERE name = $1")
        .bind(projection.name())
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO rm_checkpoints (name, version, position) VALUES ($1, $2, $3)")
        .bind(projection.name())
        .bind(i64::from(projection.version()))
        .bind(position.0 as i64)
        .execute(&mut *tx)
        .await?;
    let indexed = Instant::now();
    tx.commit().await?;
    tracing::info!(
        projection = projection.name(),
        events,
        fold_s = (folded - started).as_secs_f64(),
        finish_s = (finished - folded).as_secs_f64(),
        index_s = (indexed - finished).as_secs_f64(),
        commit_s = indexed.elapsed().as_secs_f64(),
        "bulk rebuild: where the time went"
    );
    Ok((events, position))
}

/// Marks `name` for rebuild: its next start folds the log from position 0.
pub async fn request_rebuild(db: &ReadDb, name: &str) -> Result<bool, ProjectionError> {
    sqlx::query(CHECKPOINTS).execute(db.pool()).await?;
    let changed = sqlx::query("DELETE FROM rm_checkpoints WHERE name = $1")
        .bind(name)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(changed > 0)
}

/// Running projections: one task each, following the log.
pub struct Projections {
    positions: HashMap<&'static str, watch::Receiver<Position>>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Projections {
    /// Prepares every projection (rebuilding those whose version changed)
    /// and starts following the log.
    pub async fn start(
        store: Arc<dyn EventStore>,
        db: ReadDb,
        projections: Vec<Box<dyn Projection>>,
        metrics: ProjectionMetrics,
    ) -> Result<Self, ProjectionError> {
        Self::start_with_batch(store, db, projections, metrics, BATCH).await
    }

    /// [`Projections::start`] with another batch size (tests use small
    /// batches to fail in the middle of a history).
    pub async fn start_with_batch(
        store: Arc<dyn EventStore>,
        db: ReadDb,
        projections: Vec<Box<dyn Projection>>,
        metrics: ProjectionMetrics,
        batch: usize,
    ) -> Result<Self, ProjectionError> {
        let batch = batch.clamp(1, BATCH);
        let (stop, stopped) = watch::channel(false);
        let mut positions = HashMap::new();
        let mut tasks = Vec::new();
        // Prepare every projection before any worker writes: on SQLite a
        // rebuild's schema change would otherwise race a running worker's
        // commit (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not wait out).
        let mut prepared = Vec::with_capacity(projections.len());
        for mut projection in projections {
            let start = prepare(&db, projection.as_mut()).await?;
            prepared.push((projection, start));
        }
        for (projection, start) in prepared {
            let (position_tx, position_rx) = watch::channel(start);
            positions.insert(projection.name(), position_rx);
            let worker = Worker {
                store: store.clone(),
                db: db.clone(),
                projection,
                position: start,
                published: position_tx,
                metrics: metrics.clone(),
                batch,
            };
            tasks.push(tokio::spawn(worker.run(stopped.clone())));
        }
        Ok(Self {
            positions,
            tasks,
            stop,
        })
    }

    /// The position `name` has folded up to.
    pub fn position(&self, name: &str) -> Option<Position> {
        self.positions.get(name).map(|rx| *rx.borrow())
    }

    /// Waits until every projection in `names` has folded `position`
    /// (read-your-writes), at most `timeout`.
    pub async fn wait_for(
        &self,
        names: &[&str],
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for name in names {
            let mut rx = self
                .positions
                .get(name)
                .ok_or(ProjectionError::UnknownProjection)?
                .clone();
            let reached = tokio::time::timeout_at(deadline, rx.wait_for(|p| *p >= position))
                .await
                .map(|result| result.map(|_| ()));
            match reached {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ProjectionError::Stopped),
                Err(_) => {
                    return Err(ProjectionError::Lagging {
                        wanted: position,
                        reached: *rx.borrow(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Stops every worker after its current batch.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Projections {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Worker {
    store: Arc<dyn EventStore>,
    db: ReadDb,
    projection: Box<dyn Projection>,
    position: Position,
    published: watch::Sender<Position>,
    metrics: ProjectionMetrics,
    batch: usize,
}

impl Worker {
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let mut notifications = self.store.commit_notifications();
        let mut failures = 0u32;
        self.catch_up_in_bulk().await;
        loop {
            if *stopped.borrow() {
                return;
            }
            notifications.borrow_and_update();
            match self.step().await {
                Ok(true) => {
                    failures = 0;
                    continue;
                }
                Ok(false) => {
                    failures = 0;
                    // Caught up: wait for a commit (or a safety poll: a
                    // commit by another process is not always announced).
                    tokio::select! {
                        _ = stopped.changed() => return,
                        _ = notifications.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let backoff = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                    tracing::warn!(projection = self.projection.name(), %error, ?backoff,
                        "projection batch failed; reloading and retrying");
                    tokio::select! {
                        _ = stopped.changed() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    if let Err(error) = self.reload().await {
                        tracing::warn!(projection = self.projection.name(), %error, "projection reload failed");
                    }
                }
            }
        }
    }

    /// From position 0 with a long log (a new installation over old data, or
    /// a version bump), folds it in bulk first; if that fails, the batches
    /// that follow simply do the same work one at a time.
    async fn catch_up_in_bulk(&mut self) {
        let head = *self.store.commit_notifications().borrow();
        if self.position != Position::START || head.0 <= BULK_FROM {
            return;
        }
        let name = self.projection.name();
        let started = Instant::now();
        match bulk_fold(self.store.as_ref(), &self.db, self.projection.as_mut()).await {
            Ok((events, position)) => {
                tracing::info!(projection = name, events, elapsed = ?started.elapsed(),
                    "projection rebuilt in bulk");
                self.position = position;
                let _ = self.published.send(position);
                self.observe_lag(None);
            }
            Err(error) => {
                tracing::warn!(projection = name, %error,
                    "bulk rebuild failed; folding batch by batch instead");
                if let Err(error) = self.reload().await {
                    tracing::warn!(projection = name, %error, "projection reload failed");
                }
            }
        }
    }

    /// Folds one batch if there is one; `Ok(true)` if it did anything.
    async fn step(&mut self) -> Result<bool, ProjectionError> {
        let batch = self.store.read_all(self.position, self.batch).await?;
        let Some(last) = batch.last() else {
            self.observe_lag(None);
            return Ok(false);
        };
        let last_position = last.position;
        let recorded_at = last.recorded_at;
        if fold_batch(&self.db, self.projection.as_mut(), self.position, &batch).await? {
            self.position = last_position;
            let _ = self.published.send(last_position);
            self.observe_lag(Some(recorded_at));
        } else {
            // Another runner folded it first: start from its checkpoint.
            self.reload().await?;
        }
        Ok(true)
    }

    async fn reload(&mut self) -> Result<(), ProjectionError> {
        self.position = prepare(&self.db, self.projection.as_mut()).await?;
        let _ = self.published.send(self.position);
        Ok(())
    }

    fn observe_lag(&self, newest_folded: Option<voronka_core::Timestamp>) {
        let name = self.projection.name();
        let head = *self.store.commit_notifications().borrow();
        let behind = head.0.saturating_sub(self.position.0);
        self.metrics
            .position
            .with_label_values(&[name])
            .set(self.position.0 as i64);
        self.metrics
            .lag_events
            .with_label_values(&[name])
            .set(behind as i64);
        let seconds = match newest_folded {
            Some(at) if behind > 0 => {
                (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
            }
            _ => 0.0,
        };
        self.metrics
            .lag_seconds
            .with_label_values(&[name])
            .set(seconds);
    }
}
