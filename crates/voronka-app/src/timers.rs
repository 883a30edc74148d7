//! Durable timers and automations from the log: one task that follows the
//! event log and
//!
//! - carries out every deal event's effects ([`voronka_process::effects_of`]:
//!   tasks, reassignments, notifications) and every reminder's notification,
//!   from a checkpoint in the report database (`tm_checkpoints`), so a crash
//!   between an append and its effects loses nothing. Ids are derived from
//!   the triggering event's position, the same ids the inline run after a
//!   command uses, so running an effect twice (after a restart, by the
//!   inline run and by this one, by two `serve` processes) adds nothing;
//! - keeps each open deal's next wakeup ([`voronka_process::next_wakeup`])
//!   and sends [`DealCommand::Tick`] when it falls due (SLA breaches, idle
//!   and date automations), and each planned call's or meeting's reminder
//!   moment, and sends `ActivityCommand::Remind` then.
//!
//! Why the timers are derived from the log at start rather than kept in a
//! table: the wakeup is a function of the deal's state, which this task
//! needs folded anyway to recompute it after every event; a table would be
//! a second copy to keep in step. Firing once does not depend on this
//! task's memory either: a firing is an event (`deal_sla_breached`,
//! `deal_automation_fired`, `activity_reminded`), decided on the stream's
//! current state and appended with its expected version and a command id
//! derived from the deal (or activity) and the moment, so a second
//! scheduler or a restart finds it already recorded and appends nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use voronka_core::{Actor, CommandId, Position, RecordedEvent, Role, Timestamp};
use voronka_crm::activity::{Activity, ActivityCommand, ActivityEvent, ActivityRecord};
use voronka_crm::notification::{NotificationId, NotificationKind, NotificationText};
use voronka_crm::{decode_event, ActivityId, Aggregate};
use voronka_process::{
    apply, next_wakeup, ActivityKind, ActorContext, CompiledProcess, DealCommand, DealId,
    DealState, StoredDealEvent,
};
use voronka_projections::db::ReadDb;
use voronka_store::MAX_READ_BATCH;

use crate::access::{DepartmentId, User, UserId};
use crate::crm::automations::deal_event_effects;
use crate::crm::notifications::NewNotification;
use crate::crm::{records, AppError, Caller, Crm};

/// How far ahead reminders go out, and how often an idle task looks at the
/// clock.
#[derive(Debug, Clone)]
pub struct TimersConfig {
    /// A reminder goes out this long before a planned call or meeting.
    pub reminder_lead: chrono::Duration,
    /// How often the task wakes without a commit to see whether a timer
    /// fell due.
    pub poll: Duration,
}

impl Default for TimersConfig {
    fn default() -> Self {
        Self {
            reminder_lead: chrono::Duration::minutes(15),
            poll: Duration::from_secs(1),
        }
    }
}

/// The checkpoint name of effects carried out from the log.
const EFFECTS_CHECKPOINT: &str = "effects";

const TABLES: [&str; 1] = ["CREATE TABLE IF NOT EXISTS tm_checkpoints (\
        name TEXT PRIMARY KEY, \
        position BIGINT NOT NULL)"];

/// The running timer task; [`Timers::stop`] ends it (dropping stops it too).
pub struct Timers {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Timers {
    /// Creates the checkpoint table if needed and starts following the log.
    /// The first start on a database sets the checkpoint at the log's head:
    /// effects of earlier events were run inline when they were written.
    pub async fn start(crm: Arc<Crm>, db: ReadDb, config: TimersConfig) -> Result<Self, AppError> {
        ensure_tables(&db).await.map_err(internal)?;
        let checkpoint = match checkpoint(&db, EFFECTS_CHECKPOINT)
            .await
            .map_err(internal)?
        {
            Some(position) => position,
            None => {
                let head = crm.store.health().await?.head;
                set_checkpoint(&db, EFFECTS_CHECKPOINT, head)
                    .await
                    .map_err(internal)?;
                head
            }
        };
        let (stop, stop_receiver) = watch::channel(false);
        let worker = Worker {
            crm,
            db,
            config,
            checkpoint,
            folded_to: Position(0),
            deals: HashMap::new(),
            wakeups: HashMap::new(),
            activities: HashMap::new(),
            failed_ticks: BTreeSet::new(),
        };
        let task = tokio::spawn(worker.run(stop_receiver));
        Ok(Self {
            stop,
            task: Some(task),
        })
    }

    /// Stops the task and waits for it (an effect in flight finishes or is
    /// run again by the next start).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct FoldedDeal {
    definition: Arc<CompiledProcess>,
    state: DealState,
}

struct Worker {
    crm: Arc<Crm>,
    db: ReadDb,
    config: TimersConfig,
    /// Effects are carried out for events after this position.
    checkpoint: Position,
    /// The in-memory fold has seen the log up to here.
    folded_to: Position,
    deals: HashMap<DealId, FoldedDeal>,
    /// Each open deal's next wakeup, recomputed when the deal changes.
    wakeups: HashMap<DealId, Timestamp>,
    /// Planned calls and meetings that may still need a reminder.
    activities: HashMap<ActivityId, ActivityRecord>,
    /// Ticks the process refused (a deal on an unknown version): not
    /// retried every pass.
    failed_ticks: BTreeSet<(DealId, Timestamp)>,
}

impl Worker {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut commits = self.crm.store.commit_notifications();
        loop {
            if *stop.borrow() {
                return;
            }
            if let Err(error) = self.pass().await {
                tracing::warn!(%error, "timers: a pass failed; trying again");
            }
            tokio::select! {
                _ = stop.changed() => {}
                _ = commits.changed() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
    }

    /// Folds and carries out what is new in the log, then fires what is due.
    async fn pass(&mut self) -> Result<(), AppError> {
        loop {
            let batch = self
                .crm
                .store
                .read_all(self.folded_to, MAX_READ_BATCH)
                .await?;
            let full = batch.len() == MAX_READ_BATCH;
            let caller = self.system_caller().await?;
            for event in &batch {
                if event.position > self.checkpoint {
                    self.carry_out(&caller, event).await?;
                }
                self.fold(event);
                self.folded_to = event.position;
            }
            if self.folded_to > self.checkpoint {
                set_checkpoint(&self.db, EFFECTS_CHECKPOINT, self.folded_to)
                    .await
                    .map_err(internal)?;
                self.checkpoint = self.folded_to;
            }
            if !full {
                break;
            }
        }
        self.fire_due().await
    }

    /// Voronka acting on its own: every role, so an automation is never
    /// refused for lack of a right (the process still decides).
    async fn system_caller(&self) -> Result<Caller, AppError> {
        Ok(Caller {
            user: User {
                id: UserId::from_uuid(uuid::Uuid::nil()),
                email: String::new(),
                display_name: "Voronka".into(),
                roles: Role::ALL.into_iter().collect(),
                department: DepartmentId::from_uuid(uuid::Uuid::nil()),
                active: true,
            },
            access: self.crm.directory.access_snapshot().await?,
            acting_as: Some(voronka_core::Actor::system("timers")),
        })
    }

    /// The effects of one event not yet carried out.
    async fn carry_out(&self, caller: &Caller, event: &RecordedEvent) -> Result<(), AppError> {
        let stream = event.stream_id.as_str();
        if let Some(deal) = voronka_crm::deal_index::deal_id_of_stream(stream) {
            let definition = match (self.deals.get(&deal), self.definition_of_start(event)) {
                (_, Some(started)) => started,
                (Some(folded), None) => folded.definition.clone(),
                (None, None) => return Ok(()),
            };
            let effects = deal_event_effects(&definition, event)?;
            if !effects.is_empty() {
                self.crm
                    .run_effects(caller, deal, event.position, effects)
                    .await?;
            }
            return Ok(());
        }
        if event.event_type == "activity_reminded" {
            let Some(id) = activity_of_stream(stream) else {
                return Ok(());
            };
            let Ok(ActivityEvent::ActivityReminded {
                for_start,
                responsible,
                ..
            }) = decode_event::<Activity>(event.payload.as_str())
            else {
                return Ok(());
            };
            let record = self.activities.get(&id);
            self.crm
                .notify(
                    caller,
                    NewNotification {
                        id: NotificationId::from_uuid(derived("reminder", id.as_uuid(), for_start)),
                        recipient: responsible,
                        kind: NotificationKind::Reminder,
                        text: reminder_text(record, for_start),
                        deal: record.and_then(|r| r.deal),
                        activity: Some(id),
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// The definition a `deal_started` / `deal_imported` / `deal_migrated`
    /// event names.
    fn definition_of_start(&self, event: &RecordedEvent) -> Option<Arc<CompiledProcess>> {
        if !matches!(
            event.event_type.as_str(),
            "deal_started" | "deal_imported" | "deal_migrated"
        ) {
            return None;
        }
        let stored: StoredDealEvent = event.payload.parse().ok()?;
        match &stored {
            StoredDealEvent::DealStarted { process, .. }
            | StoredDealEvent::DealImported { process, .. }
            | StoredDealEvent::DealMigrated { to: process, .. } => {
                self.crm.deals.registry().get(process)
            }
            _ => None,
        }
    }

    fn fold(&mut self, event: &RecordedEvent) {
        let stream = event.stream_id.as_str();
        if let Some(deal) = voronka_crm::deal_index::deal_id_of_stream(stream) {
            if let Some(definition) = self.definition_of_start(event) {
                self.deals.entry(deal).or_insert_with(|| FoldedDeal {
                    definition: definition.clone(),
                    state: DealState::default(),
                });
                if let Some(folded) = self.deals.get_mut(&deal) {
                    folded.definition = definition;
                }
            }
            let Some(folded) = self.deals.get_mut(&deal) else {
                return;
            };
            let decoded = event
                .payload
                .parse::<StoredDealEvent>()
                .ok()
                .and_then(|stored| folded.definition.decode_event(&stored).ok());
            match decoded {
                Some(decoded) => apply(&mut folded.state, &decoded),
                None => {
                    tracing::warn!(%deal, position = event.position.0, "timers: a deal event could not be read")
                }
            }
            match next_wakeup(&folded.definition, &folded.state) {
                Some(due) => self.wakeups.insert(deal, due),
                None => self.wakeups.remove(&deal),
            };
            return;
        }
        if let Some(id) = activity_of_stream(stream) {
            let Ok(decoded) = decode_event::<Activity>(event.payload.as_str()) else {
                return;
            };
            let mut record = self.activities.remove(&id);
            Activity::apply(&mut record, &decoded);
            // Only planned calls and meetings can still need a reminder (a
            // reminded one is kept: a reschedule gives it a new start).
            if let Some(record) = record.filter(|r| {
                matches!(r.kind, ActivityKind::Call | ActivityKind::Meeting)
                    && r.status == voronka_process::ActivityStatus::Planned
            }) {
                self.activities.insert(id, record);
            }
        }
    }

    /// Sends what is due now: ticks of deals, reminders of activities.
    async fn fire_due(&mut self) -> Result<(), AppError> {
        let now = self.crm.clock.now();
        let due_deals: Vec<(DealId, Timestamp)> = self
            .wakeups
            .iter()
            .filter(|(deal, due)| **due <= now && !self.failed_ticks.contains(&(**deal, **due)))
            .map(|(deal, due)| (*deal, *due))
            .collect();
        for (deal, due) in due_deals {
            let command_id = CommandId::from_uuid(derived("tick", deal.as_uuid(), due));
            match self
                .crm
                .deals
                .execute(
                    deal,
                    DealCommand::Tick,
                    &ActorContext::system("timers"),
                    Some(command_id),
                )
                .await
            {
                Ok(_) => {}
                Err(crate::deals::DealError::Conflict { .. }) => {
                    // Someone else wrote the deal meanwhile; the next pass
                    // decides on its new state.
                }
                Err(crate::deals::DealError::Store(error)) => return Err(AppError::Store(error)),
                Err(error) => {
                    tracing::warn!(%deal, %error, "timers: the tick was refused");
                    self.failed_ticks.insert((deal, due));
                }
            }
        }
        let due_reminders: Vec<(ActivityId, Timestamp)> = self
            .activities
            .iter()
            .filter_map(|(id, record)| {
                let due = record.reminder_due(self.config.reminder_lead)?;
                let start = record.reminder_start()?;
                // A start already past gets no reminder (one planned before
                // the timers ran, or while they were down for long).
                (due <= now && now < start).then_some((*id, start))
            })
            .collect();
        if due_reminders.is_empty() {
            return Ok(());
        }
        let caller = self.system_caller().await?;
        let context = self.crm.context(&caller);
        for (id, start) in due_reminders {
            let command_id = CommandId::from_uuid(derived("remind", id.as_uuid(), start));
            records::execute::<Activity>(
                &self.crm.store,
                *id.as_uuid(),
                &ActivityCommand::Remind { for_start: start },
                &context,
                &Actor::system("timers"),
                None,
                Some(command_id),
            )
            .await?;
        }
        Ok(())
    }
}

fn activity_of_stream(stream: &str) -> Option<ActivityId> {
    let rest = stream.strip_prefix(Activity::CATEGORY)?.strip_prefix('-')?;
    uuid::Uuid::parse_str(rest).ok().map(ActivityId::from_uuid)
}

/// What the reminder says: the kind, the subject, the start (UTC).
fn reminder_text(record: Option<&ActivityRecord>, start: Timestamp) -> NotificationText {
    let at = start.format("%H:%M UTC");
    let subject = record
        .and_then(|r| r.subject.clone())
        .map(|s| format!(" \u{ab}{s}\u{bb}"))
        .unwrap_or_default();
    let (en, ru) = match record.map(|r| r.kind) {
        Some(ActivityKind::Meeting) => ("Meeting", "Встреча"),
        _ => ("Call", "Звонок"),
    };
    NotificationText {
        en: format!("{en}{subject} at {at}"),
        ru: format!("{ru}{subject} в {at}"),
    }
}

/// Derived ids: the same purpose, record and moment give the same UUID.
fn derived(purpose: &str, record: &uuid::Uuid, moment: Timestamp) -> uuid::Uuid {
    let digest = Sha256::new()
        .chain_update(b"voronka/timers/")
        .chain_update(purpose.as_bytes())
        .chain_update(record.as_bytes())
        .chain_update(moment.timestamp_micros().to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn internal(error: sqlx::Error) -> AppError {
    AppError::Internal(format!("the timers' checkpoint: {error}"))
}

/// Creates the table if missing (twice on a failure: two processes creating
/// it at once may collide on PostgreSQL's catalog).
pub(crate) async fn ensure_tables(db: &ReadDb) -> Result<(), sqlx::Error> {
    let mut result = Ok(());
    for _ in 0..2 {
        result = async {
            for statement in TABLES {
                sqlx::query(statement).execute(db.pool()).await?;
            }
            Ok(())
        }
        .await;
        if result.is_ok() {
            break;
        }
    }
    result
}

pub(crate) async fn checkpoint(db: &ReadDb, name: &str) -> Result<Option<Position>, sqlx::Error> {
    let row = sqlx::query("SELECT position FROM tm_checkpoints WHERE name = $1")
        .bind(name.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|row| Position(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0))))
}

/// Moves a checkpoint forward (never back: two runners may race).
pub(crate) async fn set_checkpoint(
    db: &ReadDb,
    name: &str,
    position: Position,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tm_checkpoints (name, position) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position \
         WHERE tm_checkpoints.position < excluded.position",
    )
    .bind(name.to_string())
    .bind(i64::try_from(position.0).unwrap_or(i64::MAX))
    .execute(db.pool())
    .await?;
    Ok(())
}
