//! The subscriptions as they stand, folded from `webhook-<id>` streams of
//! the log in position order (the deliverer and the application's list both
//! use it).

use std::collections::BTreeMap;

use voronka_core::{Position, RecordedEvent, StreamVersion};
use voronka_crm::webhook::{Webhook, WebhookId, WebhookRecord};
use voronka_crm::Aggregate;

/// One subscription with where it sits in the log.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub record: WebhookRecord,
    /// The position of `webhook_subscribed`: delivery starts after it.
    pub subscribed_at: Position,
    /// The stream's version (for appending with the expected version).
    pub version: StreamVersion,
}

impl Subscription {
    /// Active and not deleted: events are delivered.
    pub fn delivering(&self) -> bool {
        self.record.active && !self.record.deleted
    }
}

/// Every subscription ever made, deleted ones included (marked).
#[derive(Debug, Clone, Default)]
pub struct Subscriptions {
    by_id: BTreeMap<WebhookId, Subscription>,
}

/// The subscription id of a `webhook-<uuid>` stream.
pub fn webhook_id_of_stream(stream: &str) -> Option<WebhookId> {
    let rest = stream.strip_prefix(Webhook::CATEGORY)?.strip_prefix('-')?;
    rest.parse::<uuid::Uuid>().ok().map(WebhookId::from_uuid)
}

impl Subscriptions {
    /// Folds one event of the log; others than subscription events are
    /// ignored. Returns whether it was a subscription event.
    pub fn apply(&mut self, event: &RecordedEvent) -> bool {
        let Some(id) = webhook_id_of_stream(event.stream_id.as_str()) else {
            return false;
        };
        let decoded = match voronka_crm::decode_event::<Webhook>(event.payload.as_str()) {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::warn!(%id, position = event.position.0, %error, "an unreadable webhook event was skipped");
                return true;
            }
        };
        let mut state = self.by_id.get(&id).map(|s| s.record.clone());
        Webhook::apply(&mut state, &decoded);
        let Some(record) = state else { return true };
        let entry = self.by_id.entry(id).or_insert_with(|| Subscription {
            record: record.clone(),
            subscribed_at: event.position,
            version: event.stream_version,
        });
        entry.record = record;
        entry.version = event.stream_version;
        true
    }

    pub fn get(&self, id: WebhookId) -> Option<&Subscription> {
        self.by_id.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: WebhookId) -> Option<&mut Subscription> {
        self.by_id.get_mut(&id)
    }

    /// Every subscription, oldest id first (ids are time-ordered).
    pub fn iter(&self) -> impl Iterator<Item = &Subscription> {
        self.by_id.values()
    }
}
