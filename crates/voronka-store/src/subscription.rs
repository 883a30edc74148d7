//! A live tail of the log: reads what is there in batches, then waits for the
//! store's commit notification before reading again. No sleep loop; a long
//! safety timeout only covers a notification lost by a backend (for example a
//! dropped PostgreSQL LISTEN connection).

use crate::{EventStore, StoreError};
use std::sync::Arc;
use std::time::Duration;
use voronka_core::{Position, RecordedEvent};

/// How long a subscription waits for a notification before it reads anyway.
const SAFETY_POLL: Duration = Duration::from_secs(2);

pub struct Subscription {
    store: Arc<dyn EventStore>,
    after: Position,
    notifications: tokio::sync::watch::Receiver<Position>,
}

impl Subscription {
    /// Starts a subscription that yields every event after `after`.
    pub fn new(store: Arc<dyn EventStore>, after: Position) -> Self {
        let notifications = store.commit_notifications();
        Self {
            store,
            after,
            notifications,
        }
    }

    /// The position of the last event handed out.
    pub fn position(&self) -> Position {
        self.after
    }

    /// Waits until at least one new event exists and returns up to `max` of
    /// them, in position order.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        loop {
            // Mark the current notification as seen *before* reading, so a
            // commit that lands after the read wakes the wait below.
            self.notifications.borrow_and_update();
            let batch = self.store.read_all(self.after, max).await?;
            if let Some(last) = batch.last() {
                self.after = last.position;
                return Ok(batch);
            }
            match tokio::time::timeout(SAFETY_POLL, self.notifications.changed()).await {
                Ok(Ok(())) | Err(_) => {}
                Ok(Err(_)) => return Err(StoreError::Closed),
            }
        }
    }
}
