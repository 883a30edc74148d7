//! The automations a process declares, run after the deal command that
//! triggered them: `decide` returns them as effects (create a task, assign
//! the deal, notify) and this module carries them out through the same
//! commands people use, so an automation cannot bypass a rule either: a task
//! is planned through the activity aggregate and mirrored onto the deal
//! through the process; a reassignment is a process `SetField`.
//!
//! Idempotent: each effect's ids are derived from (deal, automation, the
//! position of the triggering change), so running the same effects again
//! (a retried request) plans nothing twice.
//!
//! A notification is raised on the recipient's inbox stream
//! ([`Crm::notify`]), its id derived the same way.
//!
//! Two runners carry effects out: inline right after the command (so the
//! task is on the card at once), and `timers::Timers` from the log (so a
//! crash between the append and the effects loses nothing). Both derive
//! every id from the position of the event that called for the effect.

use sha2::{Digest, Sha256};
use voronka_core::{CommandId, Position, RecordedEvent, Role, StreamVersion};
use voronka_crm::activity::{Activity, ActivityCommand, ActivityInput};
use voronka_crm::notification::{NotificationId, NotificationKind, NotificationText};
use voronka_process::{
    effects_of, ActivityKind, Assignee, CompiledProcess, DealCommand, DealId, Effect, FieldValue,
    StoredDealEvent,
};

use super::deals::{contact_of, responsible_of};
use super::notifications::NewNotification;
use super::{records, AppError, Caller, Crm};
use crate::access::UserId;
use crate::deals::{CommandOutcome, LoadedDeal};

/// The effects a stored deal event calls for under `definition` (the one
/// the deal ran on when the event was recorded).
pub(crate) fn deal_event_effects(
    definition: &CompiledProcess,
    recorded: &RecordedEvent,
) -> Result<Vec<Effect>, AppError> {
    let unreadable = |reason: String| {
        AppError::Internal(format!(
            "{} at version {} is unreadable: {reason}",
            recorded.stream_id, recorded.stream_version
        ))
    };
    let stored: StoredDealEvent = recorded
        .payload
        .parse()
        .map_err(|error| unreadable(format!("{error}")))?;
    let event = definition
        .decode_event(&stored)
        .map_err(|error| unreadable(error.to_string()))?;
    Ok(effects_of(definition, &event))
}

/// The deal's title field, when it has one, for a notification's text.
fn deal_title(loaded: &LoadedDeal) -> Option<String> {
    let field = loaded.definition.field_id("title")?;
    match loaded.state.deal.as_ref()?.field(field)? {
        FieldValue::Text(text) => Some(text.clone()),
        _ => None,
    }
}

/// Derived ids: the same inputs always give the same UUID.
fn derived(purpose: &str, deal: DealId, automation: u16, position: Position) -> uuid::Uuid {
    let mut hash = Sha256::new();
    hash.update(b"voronka/automation/");
    hash.update(purpose.as_bytes());
    hash.update(deal.as_uuid().as_bytes());
    hash.update(automation.to_be_bytes());
    hash.update(position.0.to_be_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

impl Crm {
    /// Carries out `effects` of a deal command whose last event is at
    /// `position`. An effect that cannot be carried out (no user to assign)
    /// is logged and skipped; a failing command is an error (the triggering
    /// change is written; retrying the request runs the effects again,
    /// idempotently).
    pub(crate) async fn run_effects(
        &self,
        caller: &Caller,
        deal: DealId,
        position: Position,
        effects: Vec<Effect>,
    ) -> Result<(), AppError> {
        if effects.is_empty() {
            return Ok(());
        }
        let Some(loaded) = self.deals.load_recent(deal).await? else {
            return Ok(());
        };
        let responsible = responsible_of(&loaded);
        for effect in effects {
            match effect {
                Effect::CreateTask {
                    automation,
                    kind,
                    title,
                    due_at,
                    assignee,
                } => {
                    let Some(assignee) = self.assignee(caller, responsible, assignee) else {
                        tracing::warn!(%deal, automation = automation.0, "automation task: no one to assign it to");
                        continue;
                    };
                    let contact = contact_of(&loaded);
                    let (kind, direction, start) = match kind {
                        ActivityKind::Call => ("call", Some("outgoing"), None),
                        ActivityKind::Meeting if contact.is_some() => {
                            ("meeting", None, Some(due_at.to_rfc3339()))
                        }
                        _ => ("task", None, None),
                    };
                    let id = derived("task", deal, automation.0, position);
                    let input = ActivityInput {
                        kind: kind.into(),
                        direction: direction.map(Into::into),
                        channel: None,
                        subject: Some(title.ru.clone()),
                        planned_start: start,
                        due_at: Some(due_at.to_rfc3339()),
                        responsible: Some(assignee.to_string()),
                        deal: Some(deal.to_string()),
                        contact: contact.map(|c| c.to_string()),
                        company: None,
                    };
                    let command = ActivityCommand::Plan {
                        id: voronka_crm::ActivityId::from_uuid(id),
                        input,
                        default_responsible: assignee,
                    };
                    let (state, outcome) = records::create::<Activity>(
                        &self.store,
                        id,
                        &command,
                        &self.context(caller),
                        &voronka_core::Actor::system("automation"),
                        Some(CommandId::from_uuid(id)),
                    )
                    .await?;
                    if let Some(record) = state {
                        Box::pin(self.mirror_activity(caller, &record, outcome.version, None))
                            .await?;
                    }
                }
                Effect::Assign {
                    automation,
                    assignee,
                } => {
                    let Some(assignee) = self.assignee(caller, responsible, assignee) else {
                        tracing::warn!(%deal, automation = automation.0, "automation: no one to assign the deal to");
                        continue;
                    };
                    let Some(field) = loaded.definition.field_id("responsible") else {
                        continue;
                    };
                    let command_id =
                        CommandId::from_uuid(derived("assign", deal, automation.0, position));
                    self.deals
                        .execute(
                            deal,
                            DealCommand::SetField {
                                field,
                                value: Some(FieldValue::Reference(*assignee.as_uuid())),
                            },
                            &caller.process_actor(),
                            Some(command_id),
                        )
                        .await
                        .map_err(|error| self.rejection(error, Some(&loaded.definition)))?;
                }
                Effect::Notify {
                    automation,
                    recipient,
                    message,
                } => {
                    let Some(recipient) = self.assignee(caller, responsible, recipient) else {
                        tracing::warn!(%deal, automation = automation.0, "automation notification: no one to notify");
                        continue;
                    };
                    let deal_title = loaded.state.deal.as_ref().and_then(|_| deal_title(&loaded));
                    let text = |message: &str| match &deal_title {
                        Some(title) => format!("{message}: {title}"),
                        None => message.to_string(),
                    };
                    let id = derived("notify", deal, automation.0, position);
                    self.notify(
                        caller,
                        NewNotification {
                            id: NotificationId::from_uuid(id),
                            recipient,
                            kind: NotificationKind::Automation,
                            text: NotificationText {
                                en: text(&message.en),
                                ru: text(&message.ru),
                            },
                            deal: Some(deal),
                            activity: None,
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Carries out the effects of the events an accepted deal command
    /// appended, each under the position of the event that calls for it
    /// (the same ids the log runner derives, so the two never double
    /// anything). A replayed command ran its effects the first time.
    pub(crate) async fn run_outcome_effects(
        &self,
        caller: &Caller,
        deal: DealId,
        outcome: &CommandOutcome,
    ) -> Result<(), AppError> {
        if outcome.replayed || outcome.events == 0 || outcome.effects.is_empty() {
            return Ok(());
        }
        let Some(loaded) = self.deals.load_recent(deal).await? else {
            return Ok(());
        };
        let stream = crate::deals::deal_stream(deal)?;
        let first = StreamVersion(outcome.stream_version.0 + 1 - outcome.events as u64);
        let recorded = self
            .store
            .read_stream(&stream, first, outcome.events)
            .await?;
        for event in recorded {
            let effects = deal_event_effects(&loaded.definition, &event)?;
            self.run_effects(caller, deal, event.position, effects)
                .await?;
        }
        Ok(())
    }

    /// Who an automation means: the deal's responsible, the head of their
    /// department (the nearest department up the tree that has one), or a
    /// user with a role, preferring the responsible's department chain.
    fn assignee(&self, caller: &Caller, responsible: UserId, assignee: Assignee) -> Option<UserId> {
        let access = &caller.access;
        let active = |user: &UserId| access.users.get(user).is_some_and(|u| u.active);
        let nearest_with = |roles: &[Role]| {
            let mut department = access.department_of(responsible);
            while let Some(current) = department {
                let found = access
                    .users
                    .values()
                    .filter(|u| u.active && u.department == current && u.id != responsible)
                    .find(|u| roles.iter().any(|r| u.has_role(*r)));
                if let Some(user) = found {
                    return Some(user.id);
                }
                department = access.tree.get(current).and_then(|d| d.parent);
            }
            access
                .users
                .values()
                .find(|u| u.active && roles.iter().any(|r| u.has_role(*r)))
                .map(|u| u.id)
        };
        match assignee {
            Assignee::Responsible => Some(responsible).filter(active),
            Assignee::ResponsibleHead => nearest_with(&[Role::HeadOfDepartment, Role::HeadOfSales]),
            Assignee::Role(role) => nearest_with(&[role]),
        }
    }
}
