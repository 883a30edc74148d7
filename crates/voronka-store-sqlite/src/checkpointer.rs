//! Copies the WAL back into the database file from its own connection, so
//! the writer's commits never pay for a checkpoint (SQLite's automatic
//! checkpoint runs inside the commit that crosses the threshold, which is
//! where the slowest appends came from).
//!
//! A passive checkpoint never blocks the writer or readers. Once the WAL is
//! fully copied, SQLite's next write transaction starts the WAL over from the
//! beginning, so the file stays bounded.

use sqlx::{Connection, SqliteConnection};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use voronka_core::Position;

/// At most one checkpoint per this interval while commits keep coming.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

pub(crate) struct CheckpointerHandle {
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl CheckpointerHandle {
    /// Runs a last checkpoint and closes the connection.
    pub(crate) async fn stop(&self) {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

pub(crate) fn spawn(
    connection: SqliteConnection,
    commits: watch::Receiver<Position>,
) -> CheckpointerHandle {
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(connection, commits, stopped));
    CheckpointerHandle {
        stop: std::sync::Mutex::new(Some(stop)),
        task: std::sync::Mutex::new(Some(task)),
    }
}

async fn run(
    mut connection: SqliteConnection,
    mut commits: watch::Receiver<Position>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            changed = commits.changed() => if changed.is_err() { break },
        }
        tokio::select! {
            _ = &mut stopped => break,
            _ = tokio::time::sleep(CHECKPOINT_INTERVAL) => {}
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut connection)
            .await
        {
            tracing::warn!(%error, "WAL checkpoint failed; will retry after the next commit");
        }
    }
    if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut connection)
        .await
    {
        tracing::debug!(%error, "final WAL checkpoint did not complete");
    }
    let _ = connection.close().await;
}
