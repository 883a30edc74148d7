//! The delivery task: one coordinator follows the log and folds the
//! subscriptions and each deal's process; one worker per active
//! subscription delivers the events it wants, in log order, from its
//! checkpoint.
//!
//! A worker only reads up to the position the coordinator has folded, so a
//! deal's process is always known when one of its events is delivered. Per
//! event: POST, and on a failure wait (backoff) and POST again, until a 2xx
//! (the checkpoint moves past the event), a stop (the checkpoint stays: the
//! event is sent again after a restart), a pause or deletion by an
//! administrator (the worker ends; a resume starts a new one from the same
//! checkpoint), or `max_failures` consecutive failures (the worker appends
//! `webhook_paused` with reason `too_many_failures` and ends).
//!
//! Each deliverer has a random owner id. A worker delivers only while it
//! holds its subscription's lease (`store`): with two `voronka serve`
//! processes over one database, each subscription is delivered by one of
//! them, and the other takes over when the lease is released or runs out.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use voronka_core::{
    Actor, Clock, EventMetadata, ExpectedVersion, Position, RecordedEvent, StreamId, StreamVersion,
};
use voronka_crm::deal_index::deal_id_of_stream;
use voronka_crm::webhook::{pause_reason, Webhook, WebhookCommand, WebhookId, WebhookSecret};
use voronka_crm::{encode_event, Aggregate, Context, Dictionaries, UserId};
use voronka_process::DealId;
use voronka_projections::db::ReadDb;
use voronka_store::{EventStore, MAX_READ_BATCH};

use crate::store::{self, DeliveryRecord, LeaseOwner};
use crate::{payload, signature, Backoff, Subscriptions, WebhookError, WebhookMetrics};

/// Accepted deliveries logged, and the checkpoint moved, in one write.
const ACCEPTED_PER_WRITE: usize = 64;

/// How the deliverer retries and waits.
#[derive(Debug, Clone)]
pub struct DelivererConfig {
    pub backoff: Backoff,
    /// Consecutive failures after which a subscription is paused.
    pub max_failures: u32,
    /// How long one POST may take before it counts as failed.
    pub timeout: Duration,
    /// How often an idle deliverer looks at the log even without a commit
    /// notification.
    pub idle_poll: Duration,
    /// How long a subscription's lease lasts without renewal: after a crash,
    /// another deliverer takes the subscription over after this long.
    pub lease: Duration,
    pub metrics: WebhookMetrics,
}

impl Default for DelivererConfig {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            max_failures: 10,
            timeout: Duration::from_secs(10),
            idle_poll: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            metrics: WebhookMetrics::unregistered(),
        }
    }
}

/// The running delivery task. [`Deliverer::stop`] ends it; dropping it
/// stops it too (without waiting).
pub struct Deliverer {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// What the coordinator knows, shared with the workers.
#[derive(Default)]
struct Folded {
    subscriptions: Subscriptions,
    /// Each deal's process name, from `deal_started` / `deal_migrated`.
    processes: HashMap<DealId, Arc<str>>,
}

struct Shared {
    store: Arc<dyn EventStore>,
    db: ReadDb,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    config: DelivererConfig,
    folded: RwLock<Folded>,
    /// This deliverer's id in the subscriptions' leases.
    owner: LeaseOwner,
    /// The position the coordinator has folded up to.
    head: watch::Sender<Position>,
    stop: watch::Receiver<bool>,
}

impl Deliverer {
    /// Creates the tables if needed and starts following the log.
    pub async fn start(
        store: Arc<dyn EventStore>,
        db: ReadDb,
        clock: Arc<dyn Clock>,
        config: DelivererConfig,
    ) -> Result<Self, WebhookError> {
        store::ensure_tables(&db).await?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Voronka-Webhooks/1")
            .build()
            .map_err(|error| WebhookError::Client(error.to_string()))?;
        let (stop, stop_receiver) = watch::channel(false);
        let shared = Arc::new(Shared {
            store,
            db,
            clock,
            client,
            config,
            folded: RwLock::new(Folded::default()),
            owner: LeaseOwner::random(),
            head: watch::Sender::new(Position(0)),
            stop: stop_receiver,
        });
        let task = tokio::spawn(coordinate(shared));
        Ok(Self {
            stop,
            task: Some(task),
        })
    }

    /// Stops every worker (a delivery in flight is abandoned and will be
    /// sent again by the next deliverer) and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Deliverer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn delivering(&self, id: WebhookId) -> bool {
        self.folded
            .read()
            .map(|f| f.subscriptions.get(id).is_some_and(|s| s.delivering()))
            .unwrap_or(false)
    }

    /// When a lease taken or renewed now runs out.
    fn lease_until(&self) -> chrono::DateTime<chrono::Utc> {
        let ttl = chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::MAX);
        self.clock
            .now()
            .checked_add_signed(ttl)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }

    /// Sleeps `duration` unless stopped first; `false` when stopped.
    async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = stopped(self.stop.clone()) => false,
            () = tokio::time::sleep(duration) => !self.stopping(),
        }
    }
}

impl Folded {
    fn apply(&mut self, event: &RecordedEvent) {
        if self.subscriptions.apply(event) {
            return;
        }
        if !matches!(
            event.event_type.as_str(),
            "deal_started" | "deal_imported" | "deal_migrated"
        ) {
            return;
        }
        let Some(deal) = deal_id_of_stream(event.stream_id.as_str()) else {
            return;
        };
        let Ok(value) = event.payload.as_str().parse::<Value>() else {
            return;
        };
        let identity = if event.event_type != "deal_migrated" {
            &value["process"]
        } else {
            &value["to"]
        };
        if let Some(name) = identity["name"].as_str() {
            let name: Arc<str> = self
                .processes
                .values()
                .find(|known| &***known == name)
                .cloned()
                .unwrap_or_else(|| Arc::from(name));
            self.processes.insert(deal, name);
        }
    }
}

/// Resolves when the deliverer is told to stop (or its owner is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn coordinate(shared: Arc<Shared>) {
    let mut after = Position(0);
    let mut workers: HashMap<WebhookId, JoinHandle<()>> = HashMap::new();
    let mut notifications = shared.store.commit_notifications();
    while !shared.stopping() {
        match shared.store.read_all(after, MAX_READ_BATCH).await {
            Ok(batch) if !batch.is_empty() => {
                if let Ok(mut folded) = shared.folded.write() {
                    for event in &batch {
                        folded.apply(event);
                    }
                }
                after = batch.last().map_or(after, |e| e.position);
                shared.head.send_replace(after);
                if batch.len() == MAX_READ_BATCH {
                    continue;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "webhooks: reading the log failed; retrying");
                shared.sleep(shared.config.idle_poll).await;
                continue;
            }
        }
        reconcile(&shared, &mut workers);
        tokio::select! {
            () = stopped(shared.stop.clone()) => {}
            changed = notifications.changed() => {
                if changed.is_err() {
                    shared.sleep(shared.config.idle_poll).await;
                }
            }
            () = tokio::time::sleep(shared.config.idle_poll) => {}
        }
    }
    for (_, worker) in workers {
        let _ = worker.await;
    }
}

/// Starts a worker for every delivering subscription that has none.
fn reconcile(shared: &Arc<Shared>, workers: &mut HashMap<WebhookId, JoinHandle<()>>) {
    workers.retain(|_, worker| !worker.is_finished());
    let Ok(folded) = shared.folded.read() else {
        return;
    };
    for subscription in folded.subscriptions.iter() {
        let id = subscription.record.id;
        if subscription.delivering() && !workers.contains_key(&id) {
            let shared = shared.clone();
            workers.insert(
                id,
                tokio::spawn(async move {
                    if let Err(error) = work(&shared, id).await {
                        tracing::warn!(subscription = %id, %error, "webhook worker failed; it restarts");
                        shared.sleep(shared.config.idle_poll).await;
                    }
                }),
            );
        }
    }
}

/// One event ready to send.
struct Prepared {
    url: String,
    secret: WebhookSecret,
    body: Vec<u8>,
}

/// What the worker does with the next event.
enum Next {
    Skip,
    Send(Prepared),
    Quit,
}

fn prepare(shared: &Shared, id: WebhookId, event: &RecordedEvent) -> Next {
    let Ok(folded) = shared.folded.read() else {
        return Next::Quit;
    };
    let Some(subscription) = folded.subscriptions.get(id) else {
        return Next::Quit;
    };
    if !subscription.delivering() {
        return Next::Quit;
    }
    let record = &subscription.record;
    if !record.event_types.contains(&event.event_type) {
        return Next::Skip;
    }
    let Ok(data) = event.payload.as_str().parse::<Value>() else {
        tracing::warn!(
            position = event.position.0,
            "webhooks: an unreadable event was skipped"
        );
        return Next::Skip;
    };
    let deal = deal_id_of_stream(event.stream_id.as_str());
    let process = deal.and_then(|deal| folded.processes.get(&deal).cloned());
    if !payload::matches(record, event, &data, process.as_deref()) {
        return Next::Skip;
    }
    let body = payload::body(id, event, data, deal.map(|d| (d, process.as_deref())));
    Next::Send(Prepared {
        url: record.url.clone(),
        secret: record.secret.clone(),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// Delivers a subscription's events from its checkpoint until stopped,
/// paused or deleted, while it holds the subscription's lease (waiting for
/// the lease while another deliverer holds it).
async fn work(shared: &Shared, id: WebhookId) -> Result<(), WebhookError> {
    let subscribed_at = {
        let folded = shared
            .folded
            .read()
            .map_err(|_| WebhookError::Client("poisoned".into()))?;
        match folded.subscriptions.get(id) {
            Some(subscription) => subscription.subscribed_at,
            None => return Ok(()),
        }
    };
    loop {
        if shared.stopping() || !shared.delivering(id) {
            return Ok(());
        }
        let now = shared.clock.now();
        if store::acquire_lease(&shared.db, id, shared.owner, now, shared.lease_until()).await? {
            break;
        }
        if !shared.sleep(shared.config.idle_poll).await {
            return Ok(());
        }
    }
    let mut held = Held {
        shared,
        id,
        renewed: Instant::now(),
    };
    let result = deliver_from_checkpoint(&mut held, subscribed_at).await;
    if let Err(error) = store::release_lease(&shared.db, id, shared.owner).await {
        tracing::warn!(subscription = %id, %error, "webhooks: the lease could not be released; it runs out");
    }
    result
}

/// A worker's hold on its subscription's lease.
struct Held<'a> {
    shared: &'a Shared,
    id: WebhookId,
    /// When the lease was last taken or renewed.
    renewed: Instant,
}

impl Held<'_> {
    /// Renews the lease once a third of its time has passed; `false` when
    /// another deliverer has taken it (the worker must end).
    async fn keep(&mut self) -> Result<bool, WebhookError> {
        if self.renewed.elapsed() < self.shared.config.lease / 3 {
            return Ok(true);
        }
        let shared = self.shared;
        let now = shared.clock.now();
        let held =
            store::acquire_lease(&shared.db, self.id, shared.owner, now, shared.lease_until())
                .await?;
        self.renewed = Instant::now();
        Ok(held)
    }

    /// Writes the accepted attempts not yet logged, moves the checkpoint and
    /// renews the lease, in one transaction; `false` when the lease was lost
    /// (the attempts are logged, the checkpoint is not moved).
    async fn advance(
        &mut self,
        position: Position,
        accepted: &mut Vec<DeliveryRecord>,
        failures: u32,
    ) -> Result<bool, WebhookError> {
        let shared = self.shared;
        let held = store::advance_checkpoint(
            &shared.db,
            self.id,
            shared.owner,
            position,
            shared.lease_until(),
            accepted,
            failures,
        )
        .await?;
        accepted.clear();
        self.renewed = Instant::now();
        Ok(held)
    }
}

async fn deliver_from_checkpoint(
    held: &mut Held<'_>,
    subscribed_at: Position,
) -> Result<(), WebhookError> {
    let shared = held.shared;
    let id = held.id;
    // Accepted deliveries whose log rows and checkpoint are written together,
    // a group at a time: a crash sends at most this group again.
    let mut accepted: Vec<DeliveryRecord> = Vec::new();
    // Failures in a row, carried over from the previous deliverer; every
    // checkpoint write records the count as it stands.
    let mut failures = store::failures(&shared.db, id).await?;
    let mut checkpoint = match store::checkpoint(&shared.db, id).await? {
        Some(position) => position,
        None => {
            if !held.advance(subscribed_at, &mut accepted, failures).await? {
                return Ok(());
            }
            subscribed_at
        }
    };
    let mut saved = checkpoint;
    let mut head = shared.head.subscribe();
    loop {
        if shared.stopping() || !shared.delivering(id) || !held.keep().await? {
            break;
        }
        let folded_to = *head.borrow_and_update();
        if checkpoint >= folded_to {
            if saved != checkpoint {
                if !held.advance(checkpoint, &mut accepted, failures).await? {
                    return Ok(());
                }
                saved = checkpoint;
            }
            tokio::select! {
                () = stopped(shared.stop.clone()) => {}
                _ = head.changed() => {}
                () = tokio::time::sleep(shared.config.idle_poll) => {}
            }
            continue;
        }
        let batch = shared.store.read_all(checkpoint, 1000).await?;
        for event in batch.iter().take_while(|e| e.position <= folded_to) {
            match prepare(shared, id, event) {
                Next::Quit => break,
                Next::Skip => checkpoint = event.position,
                Next::Send(prepared) => {
                    let Some(record) = deliver(held, event, &prepared, &mut failures).await? else {
                        if saved != checkpoint || !accepted.is_empty() {
                            held.advance(checkpoint, &mut accepted, failures).await?;
                        }
                        return Ok(());
                    };
                    accepted.push(record);
                    checkpoint = event.position;
                    failures = 0;
                    if accepted.len() >= ACCEPTED_PER_WRITE {
                        if !held.advance(checkpoint, &mut accepted, failures).await? {
                            return Ok(());
                        }
                        saved = checkpoint;
                    }
                }
            }
        }
        if saved != checkpoint || !accepted.is_empty() {
            if !held.advance(checkpoint, &mut accepted, failures).await? {
                return Ok(());
            }
            saved = checkpoint;
        }
    }
    if saved != checkpoint || !accepted.is_empty() {
        held.advance(checkpoint, &mut accepted, failures).await?;
    }
    Ok(())
}

/// Sends one event until it is accepted (the attempt, for the caller to
/// log with the checkpoint) or the worker must end (`None`: stopped,
/// paused, deleted, the lease lost, or paused now for too many failures).
/// Failed attempts are logged at once. `failures` counts consecutive failed attempts across
/// events and restarts (it is stored with the lease).
async fn deliver(
    held: &mut Held<'_>,
    event: &RecordedEvent,
    prepared: &Prepared,
    failures: &mut u32,
) -> Result<Option<DeliveryRecord>, WebhookError> {
    let shared = held.shared;
    let id = held.id;
    let delivery = payload::delivery_id(id, event.position);
    let mut attempt = 0u32;
    loop {
        if !held.keep().await? {
            return Ok(None);
        }
        attempt += 1;
        let timestamp = shared.clock.now().timestamp();
        let signature = signature::sign(&prepared.secret.0, timestamp, &prepared.body);
        let request = shared
            .client
            .post(&prepared.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Voronka-Event", event.event_type.as_str())
            .header("X-Voronka-Delivery", delivery.as_str())
            .header("X-Voronka-Timestamp", timestamp.to_string())
            .header("X-Voronka-Signature", signature)
            .body(prepared.body.clone())
            .send();
        let started = Instant::now();
        let outcome = tokio::select! {
            () = stopped(shared.stop.clone()) => return Ok(None),
            outcome = request => outcome,
        };
        let (status, error) = match outcome {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(error) if error.is_timeout() => (None, Some("timeout".to_owned())),
            Err(error) => (None, Some(error.without_url().to_string())),
        };
        let success = status.is_some_and(|s| (200..300).contains(&s));
        let now = shared.clock.now();
        let record = DeliveryRecord {
            delivery: delivery.clone(),
            position: event.position.0,
            event_type: event.event_type.clone(),
            attempt,
            status,
            error,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            at: now,
            success,
        };
        shared.config.metrics.attempt(success);
        if success {
            let lag = (now - event.recorded_at).to_std().unwrap_or_default();
            shared.config.metrics.delivered(lag);
            return Ok(Some(record));
        }
        store::record_attempt(&shared.db, id, &record).await?;
        *failures += 1;
        if *failures >= shared.config.max_failures {
            tracing::warn!(subscription = %id, failures, "webhook paused after repeated failures");
            pause(shared, id).await?;
            // The pause is recorded; a resume starts counting afresh.
            *failures = 0;
            store::set_failures(&shared.db, id, shared.owner, 0, shared.lease_until()).await?;
            return Ok(None);
        }
        if !store::set_failures(
            &shared.db,
            id,
            shared.owner,
            *failures,
            shared.lease_until(),
        )
        .await?
        {
            return Ok(None);
        }
        held.renewed = Instant::now();
        // Wait out the backoff in steps, renewing the lease between them.
        let mut left = shared.config.backoff.delay(*failures);
        while !left.is_zero() {
            let step = left
                .min(shared.config.lease / 3)
                .max(Duration::from_millis(1));
            let step = step.min(left);
            if !shared.sleep(step).await || !shared.delivering(id) || !held.keep().await? {
                return Ok(None);
            }
            left -= step;
        }
    }
}

/// Appends `webhook_paused` (`too_many_failures`) through the aggregate's
/// decision, and marks the subscription paused at once for the
/// coordinator.
async fn pause(shared: &Shared, id: WebhookId) -> Result<(), WebhookError> {
    let stream = StreamId::new(format!("{}-{id}", Webhook::CATEGORY))
        .map_err(|error| WebhookError::Client(error.to_string()))?;
    let events = shared
        .store
        .read_stream(&stream, StreamVersion::NONE.next(), MAX_READ_BATCH)
        .await?;
    let mut state = None;
    let mut version = StreamVersion::NONE;
    for event in &events {
        if let Ok(decoded) = voronka_crm::decode_event::<Webhook>(event.payload.as_str()) {
            Webhook::apply(&mut state, &decoded);
        }
        version = event.stream_version;
    }
    let dictionaries = Dictionaries::default();
    let context = Context {
        now: shared.clock.now(),
        actor: UserId::from_uuid(uuid::Uuid::nil()),
        dictionaries: &dictionaries,
    };
    let decided = Webhook::decide(
        &state,
        &WebhookCommand::Pause {
            reason: pause_reason::TOO_MANY_FAILURES,
        },
        &context,
    )
    .unwrap_or_default();
    if !decided.is_empty() {
        let data = decided
            .iter()
            .map(encode_event::<Webhook>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| WebhookError::Client(error.to_string()))?;
        match shared
            .store
            .append(
                &stream,
                ExpectedVersion::Exact(version),
                data,
                EventMetadata::by(Actor::system("webhooks")),
            )
            .await
        {
            Ok(_) => {}
            // An administrator changed it meanwhile: their word stands.
            Err(voronka_store::StoreError::Conflict { .. }) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
    }
    if let Ok(mut folded) = shared.folded.write() {
        if let Some(subscription) = folded.subscriptions.get_mut(id) {
            subscription.record.active = false;
        }
    }
    Ok(())
}
