//! What a projection is: a named, versioned fold of the event log into
//! tables it owns.
//!
//! The runner hands a projection batches of events in position order and a
//! transaction; the projection writes its change into that transaction and
//! the runner adds the checkpoint and commits both at once. A projection may
//! keep working state in memory (the current stage of every deal, say) to
//! avoid reading its tables per event; after a failed batch the runner
//! throws that state away and asks the projection to load it again from its
//! committed tables, so memory never runs ahead of the database.

use async_trait::async_trait;
use sqlx::{Any, Transaction};
use voronka_core::RecordedEvent;

use crate::{ProjectionError, ReadDb};

/// A table a projection owns: created when the projection starts, dropped
/// when it is rebuilt.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// `CREATE TABLE IF NOT EXISTS ...` and its indexes, one statement per
    /// entry (in the common SQL of both engines).
    pub create: &'static [&'static str],
}

#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the checkpoint's key and `voronka rebuild NAME`.
    fn name(&self) -> &'static str;

    /// Bumped whenever the tables or the fold change: a stored checkpoint of
    /// another version makes the runner rebuild from position 0.
    fn version(&self) -> u32;

    fn tables(&self) -> &'static [Table];

    /// Forgets all working state (before a rebuild or a reload).
    fn reset(&mut self);

    /// Loads working state from the committed tables (on start and after a
    /// failed batch).
    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError>;

    /// Folds `events` (in position order, never empty) and writes the change
    /// into `tx`. The runner commits it together with the checkpoint.
    async fn apply(
        &mut self,
        db: &ReadDb,
        events: &[RecordedEvent],
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), ProjectionError>;

    /// Folds `events` during a bulk rebuild: the tables were just created
    /// empty and without indexes, and everything up to
    /// [`Projection::finish_bulk`] commits at once. A projection may write
    /// append-only rows here and keep rows it would update (current states,
    /// running sums) in memory until the end; it owns the batch, so it may
    /// fold it on another thread while it writes what the batch before gave.
    /// By default, [`Projection::apply`].
    async fn apply_bulk(
        &mut self,
        db: &ReadDb,
        events: Vec<RecordedEvent>,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), ProjectionError> {
        self.apply(db, &events, tx).await
    }

    /// Writes what [`Projection::apply_bulk`] kept in memory, in the bulk
    /// rebuild's transaction.
    async fn finish_bulk(
        &mut self,
        _db: &ReadDb,
        _tx: &mut Transaction<'static, Any>,
    ) -> Result<(), ProjectionError> {
        Ok(())
    }
}
