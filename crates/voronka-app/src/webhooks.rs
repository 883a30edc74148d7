//! Outgoing webhook subscriptions for a [`Caller`] with `ManageWebhooks`
//! (administrators): subscribe (the signing secret is generated here and
//! shown once), list, read, pause and resume, delete, and the delivery log.
//!
//! A subscription is a `webhook-<id>` stream decided by
//! `voronka_crm::webhook::Webhook` through the same command path as the
//! CRM's records. The list is a fold of those streams kept in memory and
//! caught up from the log before each query. Delivery is
//! `voronka-webhooks`'s `Deliverer`; the delivery log it writes is read here
//! from the report database. No response ever carries the secret except the
//! one that creates it.

use std::sync::Arc;

use serde::Serialize;
use voronka_core::{Clock, Position, Timestamp};
use voronka_crm::webhook::{
    pause_reason, Webhook, WebhookCommand, WebhookFilter, WebhookId, WebhookInput, WebhookRecord,
    WebhookSecret,
};
use voronka_crm::{Dictionaries, UserId};
use voronka_projections::db::ReadDb;
use voronka_store::{EventStore, MAX_READ_BATCH};
use voronka_webhooks::{DeliveryRecord, Subscriptions};

use crate::access::Action;
use crate::crm::{records, AppError, Caller, Written};

/// The most rows of the delivery log one request returns.
pub const MAX_DELIVERIES: u32 = 500;

/// A subscription as the API shows it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    #[schema(value_type = String, format = Uuid)]
    pub id: WebhookId,
    pub url: String,
    pub event_types: Vec<String>,
    pub filter: WebhookFilter,
    pub description: Option<String>,
    /// `false` while paused.
    pub active: bool,
    /// `by_administrator` or `too_many_failures`, while paused.
    pub paused_reason: Option<String>,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&WebhookRecord> for WebhookView {
    fn from(record: &WebhookRecord) -> Self {
        Self {
            id: record.id,
            url: record.url.clone(),
            event_types: record.event_types.clone(),
            filter: record.filter.clone(),
            description: record.description.clone(),
            active: record.active,
            paused_reason: record.paused_reason.clone(),
            created_by: record.created_by,
            created_at: record.created_at,
        }
    }
}

/// A new subscription with its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key (64 hex digits); it is never shown again.
    pub secret: String,
    /// The global position of the subscription: events after it are
    /// delivered.
    pub position: u64,
}

/// The subscriptions service. One per process, shared behind an `Arc`.
pub struct Webhooks {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    db: ReadDb,
    dictionaries: Dictionaries,
    view: tokio::sync::Mutex<(Position, Subscriptions)>,
}

impl Webhooks {
    /// `db` is the report database the deliverer writes its log to.
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, db: ReadDb) -> Self {
        Self {
            store,
            clock,
            db,
            dictionaries: Dictionaries::standard(),
            view: tokio::sync::Mutex::new((Position(0), Subscriptions::default())),
        }
    }

    fn context(&self, caller: &Caller) -> voronka_crm::Context<'_> {
        voronka_crm::Context {
            now: self.clock.now(),
            actor: caller.user.id,
            dictionaries: &self.dictionaries,
        }
    }

    /// Creates a subscription; its secret is in the answer only.
    pub async fn subscribe(
        &self,
        caller: &Caller,
        input: WebhookInput,
    ) -> Result<CreatedWebhook, AppError> {
        caller.may_at_all(Action::ManageWebhooks)?;
        let mut random = [0u8; 42];
        getrandom::fill(&mut random).map_err(|error| AppError::Internal(error.to_string()))?;
        let millis = u64::try_from(self.clock.now().timestamp_millis()).unwrap_or(0);
        let mut id_random = [0u8; 10];
        id_random.copy_from_slice(&random[32..]);
        let id = WebhookId::from_parts(millis, id_random);
        let secret = WebhookSecret(voronka_webhooks::signature::hex(&random[..32]));
        let command = WebhookCommand::Subscribe {
            id,
            input,
            secret: secret.clone(),
        };
        let (state, outcome) = records::execute::<Webhook>(
            &self.store,
            id.0,
            &command,
            &self.context(caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        let record = state
            .as_ref()
            .ok_or_else(|| AppError::Internal("a new webhook has no state".into()))?;
        Ok(CreatedWebhook {
            webhook: WebhookView::from(record),
            secret: secret.0,
            position: outcome.position.0,
        })
    }

    /// Every subscription not deleted, oldest first.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<WebhookView>, AppError> {
        caller.may_at_all(Action::ManageWebhooks)?;
        let mut view = self.view.lock().await;
        let (after, subscriptions) = &mut *view;
        loop {
            let batch = self.store.read_all(*after, MAX_READ_BATCH).await?;
            for event in &batch {
                subscriptions.apply(event);
                *after = event.position;
            }
            if batch.len() < MAX_READ_BATCH {
                break;
            }
        }
        Ok(subscriptions
            .iter()
            .filter(|s| !s.record.deleted)
            .map(|s| WebhookView::from(&s.record))
            .collect())
    }

    /// One subscription (404 when unknown or deleted).
    pub async fn get(&self, caller: &Caller, id: WebhookId) -> Result<WebhookView, AppError> {
        caller.may_at_all(Action::ManageWebhooks)?;
        let loaded = records::load::<Webhook>(&self.store, id.0).await?;
        loaded
            .state
            .as_ref()
            .filter(|record| !record.deleted)
            .map(WebhookView::from)
            .ok_or(AppError::NotFound)
    }

    /// Pauses (`active: false`) or resumes (`active: true`) a subscription.
    /// A resumed subscription continues from the event it stopped at, with
    /// its failure count cleared.
    pub async fn set_active(
        &self,
        caller: &Caller,
        id: WebhookId,
        active: bool,
    ) -> Result<WebhookView, AppError> {
        caller.may_at_all(Action::ManageWebhooks)?;
        let command = if active {
            WebhookCommand::Resume
        } else {
            WebhookCommand::Pause {
                reason: pause_reason::BY_ADMINISTRATOR,
            }
        };
        let (state, _) = records::execute::<Webhook>(
            &self.store,
            id.0,
            &command,
            &self.context(caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        state
            .as_ref()
            .map(WebhookView::from)
            .ok_or(AppError::NotFound)
    }

    /// Deletes a subscription: nothing more is delivered.
    pub async fn delete(&self, caller: &Caller, id: WebhookId) -> Result<Written, AppError> {
        caller.may_at_all(Action::ManageWebhooks)?;
        let (_, outcome) = records::execute::<Webhook>(
            &self.store,
            id.0,
            &WebhookCommand::Delete,
            &self.context(caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        Ok(crate::crm::written(id.0, outcome))
    }

    /// The delivery log of a subscription, newest first (`limit` rows, at
    /// most [`MAX_DELIVERIES`]).
    pub async fn deliveries(
        &self,
        caller: &Caller,
        id: WebhookId,
        limit: Option<u32>,
    ) -> Result<Vec<DeliveryRecord>, AppError> {
        self.get(caller, id).await?;
        let limit = limit.unwrap_or(50).clamp(1, MAX_DELIVERIES);
        voronka_webhooks::deliveries(&self.db, id, limit)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "reading the webhook delivery log failed");
                AppError::Unavailable {
                    code: "delivery_log_unavailable",
                    message: "the delivery log cannot be read now".into(),
                }
            })
    }
}
