//! The CRM's in-memory read model: every index of `voronka-crm` fed from the
//! whole log in position order, caught up before each query.
//!
//! Why in memory: lists, search, duplicate checks and timelines need every
//! record's current shape, and the log already holds it; folding it here
//! costs one pass at start and a few events per command. The persistent
//! read models of reports (issue 5) are separate and do not replace this.
//!
//! Read-your-writes: a command returns the position of its last event and
//! [`CrmView::read_at_least`] waits (briefly) until the view has folded it,
//! so a client never reads a list without its own write.

use std::time::Duration;

use tokio::sync::{Mutex, RwLock, RwLockReadGuard};
use voronka_core::{Position, RecordedEvent};
use voronka_crm::customer_index::CustomerIndex;
use voronka_crm::deal_index::DealIndex;
use voronka_crm::work_index::WorkIndex;
use voronka_crm::Timelines;
use voronka_store::{EventStore, StoreError, MAX_READ_BATCH};

/// How long a read waits for the view to reach a position it was promised.
pub const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(2);

/// Every index, at one position of the log.
#[derive(Debug)]
pub struct Indexes {
    /// The last event folded.
    pub position: Position,
    pub deals: DealIndex,
    pub customers: CustomerIndex,
    pub work: WorkIndex,
    pub timelines: Timelines,
}

impl Default for Indexes {
    fn default() -> Self {
        Self {
            position: Position(0),
            deals: DealIndex::default(),
            customers: CustomerIndex::default(),
            work: WorkIndex::default(),
            timelines: Timelines::default(),
        }
    }
}

impl Indexes {
    fn apply(&mut self, event: &RecordedEvent) {
        self.deals.apply(event, &mut self.timelines);
        self.customers.apply(event, &mut self.timelines);
        self.work.apply(event, &mut self.timelines);
        self.position = event.position;
    }
}

pub struct CrmView {
    store: std::sync::Arc<dyn EventStore>,
    indexes: RwLock<Indexes>,
    /// One catch-up at a time; readers keep reading meanwhile.
    catching_up: Mutex<()>,
}

impl CrmView {
    /// Folds the whole log.
    pub async fn open(store: std::sync::Arc<dyn EventStore>) -> Result<Self, StoreError> {
        let view = Self {
            store,
            indexes: RwLock::new(Indexes::default()),
            catching_up: Mutex::new(()),
        };
        view.catch_up().await?;
        Ok(view)
    }

    /// The indexes, caught up with every commit this process knows of.
    pub async fn read(&self) -> Result<RwLockReadGuard<'_, Indexes>, StoreError> {
        let head = *self.store.commit_notifications().borrow();
        if self.indexes.read().await.position < head {
            self.catch_up().await?;
        }
        Ok(self.indexes.read().await)
    }

    /// The indexes once they include `position` (a command's answer), or
    /// as far as they got after [`READ_YOUR_WRITES_WAIT`].
    pub async fn read_at_least(
        &self,
        position: Position,
    ) -> Result<RwLockReadGuard<'_, Indexes>, StoreError> {
        let deadline = tokio::time::Instant::now() + READ_YOUR_WRITES_WAIT;
        let mut commits = self.store.commit_notifications();
        loop {
            self.catch_up().await?;
            let indexes = self.indexes.read().await;
            if indexes.position >= position {
                return Ok(indexes);
            }
            drop(indexes);
            match tokio::time::timeout_at(deadline, commits.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Ok(self.indexes.read().await),
            }
        }
    }

    async fn catch_up(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.catching_up.lock().await;
        let mut after = self.indexes.read().await.position;
        loop {
            let batch = self.store.read_all(after, MAX_READ_BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.position;
            let mut indexes = self.indexes.write().await;
            for event in &batch {
                indexes.apply(event);
            }
            drop(indexes);
            if batch.len() < MAX_READ_BATCH {
                return Ok(());
            }
        }
    }
}
