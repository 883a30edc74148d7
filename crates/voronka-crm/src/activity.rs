//! Activities: calls, meetings, e-mails, messages and tasks, each on its own
//! stream `activity-<id>`, linked to a deal, a contact and a company.
//!
//! Why a minimum of data per kind: an activity is what the process's guards
//! count (a held meeting, a call with an outcome), so an empty one would let
//! a deal move on nothing. A meeting needs a date, a contact and a subject;
//! a call needs a direction; a task needs a subject and a due time; a
//! message needs a channel and a contact. Closing one needs its result: a
//! held meeting needs a written result, a call needs an outcome from the
//! `call_outcome` dictionary (`wrong_number` needs nothing else).
//!
//! `decide` holds every rule; `apply` only folds what `decide` allowed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use voronka_core::time::truncate_to_micros;
use voronka_core::Timestamp;
use voronka_process::{ActivityKind, ActivityStatus};

use crate::dictionaries::names;
use crate::{
    ActivityId, Aggregate, CompanyId, ContactId, Context, CrmError, DealId, FieldError, UserId,
};

/// The longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 300;
/// The longest free text (result, cancel reason), in characters.
pub const MAX_TEXT_CHARS: usize = 5000;

/// Who started a call or a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Incoming, Direction::Outgoing];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// How a message travels. An `email` activity always has channel `email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Messenger,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Messenger];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Messenger => "messenger",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// The outcome dictionary of each kind of activity.
pub fn outcome_dictionary(kind: ActivityKind) -> &'static str {
    match kind {
        ActivityKind::Call => names::CALL_OUTCOME,
        ActivityKind::Meeting => names::MEETING_OUTCOME,
        ActivityKind::Email | ActivityKind::Message => names::MESSAGE_OUTCOME,
        ActivityKind::Task => names::TASK_OUTCOME,
    }
}

/// The call outcome that needs nothing else to complete a call.
pub const WRONG_NUMBER: &str = "wrong_number";

/// An activity as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActivityRecord {
    #[schema(value_type = String, format = Uuid)]
    pub id: ActivityId,
    #[schema(value_type = String)]
    pub kind: ActivityKind,
    pub direction: Option<Direction>,
    pub channel: Option<Channel>,
    pub subject: Option<String>,
    /// When it starts (a meeting's date and time).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Timestamp>,
    /// When it is due; an open activity past it is overdue.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    #[schema(value_type = String, format = Uuid)]
    pub responsible: UserId,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub deal: Option<DealId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub contact: Option<ContactId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub company: Option<CompanyId>,
    #[schema(value_type = String)]
    pub status: ActivityStatus,
    /// A value of the kind's outcome dictionary.
    pub outcome: Option<String>,
    /// What came of it, in words.
    pub result: Option<String>,
    pub reschedule_count: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
    pub cancel_reason: Option<String>,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
    /// The planned start the last reminder was sent for (a reschedule
    /// makes a new start, which gets its own reminder).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reminded_for: Option<Timestamp>,
}

impl ActivityRecord {
    /// When the reminder for the current planned start falls due, if one is
    /// still to be sent: a planned call or meeting, `lead` before its start.
    pub fn reminder_due(&self, lead: chrono::Duration) -> Option<Timestamp> {
        let start = self.planned_start?;
        let remindable = matches!(self.kind, ActivityKind::Call | ActivityKind::Meeting)
            && self.status == ActivityStatus::Planned
            && self.reminded_for != Some(start);
        remindable.then_some(start - lead)
    }

    /// The start a reminder speaks of: a call or meeting set for a moment
    /// (one with only a due time is a to-do, not an appointment).
    pub fn reminder_start(&self) -> Option<Timestamp> {
        self.planned_start
    }

    /// Still planned and due before `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.status == ActivityStatus::Planned && self.due_at.is_some_and(|due| due < now)
    }

    fn links(&self) -> Links {
        Links {
            deal: self.deal,
            contact: self.contact,
            company: self.company,
        }
    }
}

/// An activity as a client sends it. Every value is raw so that `decide`
/// names each bad one; timestamps are RFC 3339 (`2026-03-01T10:00:00+03:00`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    /// `call`, `meeting`, `email`, `task` or `message`.
    #[serde(default)]
    pub kind: String,
    /// `incoming` or `outgoing`; required for calls.
    #[serde(default)]
    pub direction: Option<String>,
    /// `email`, `sms` or `messenger`; required for messages, implied for e-mails.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub planned_start: Option<String>,
    /// Defaults to `planned_start` when absent.
    #[serde(default)]
    pub due_at: Option<String>,
    /// A user id; the command's default when absent.
    #[serde(default)]
    pub responsible: Option<String>,
    #[serde(default)]
    pub deal: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
}

/// What may be done to an activity.
#[derive(Debug, Clone)]
pub enum ActivityCommand {
    /// Creates a planned activity.
    Plan {
        id: ActivityId,
        input: ActivityInput,
        default_responsible: UserId,
    },
    /// Creates an activity that already happened (a call logged afterwards):
    /// created done, with its outcome and result.
    Log {
        id: ActivityId,
        input: ActivityInput,
        outcome: Option<String>,
        result: Option<String>,
        default_responsible: UserId,
    },
    /// An activity done in the past, imported: like `Log`, done at
    /// `done_at` (not in the future) instead of now.
    ImportDone {
        id: ActivityId,
        input: ActivityInput,
        outcome: Option<String>,
        result: Option<String>,
        done_at: Timestamp,
        default_responsible: UserId,
    },
    Complete {
        outcome: Option<String>,
        result: Option<String>,
    },
    Cancel {
        reason: Option<String>,
    },
    /// Moves a planned activity. Without `planned_start` the start moves by
    /// as much as the due time does (the duration is kept).
    Reschedule {
        due_at: Timestamp,
        planned_start: Option<Timestamp>,
    },
    Reassign {
        to: UserId,
    },
    /// Sets the links to exactly these (`None` unlinks).
    Relink {
        deal: Option<DealId>,
        contact: Option<ContactId>,
        company: Option<CompanyId>,
    },
    /// The reminder before the start `for_start` fell due (sent by the
    /// timers). Decides nothing if that start was already reminded of, or
    /// the activity is no longer planned for it: a reminder fires once.
    Remind {
        for_start: Timestamp,
    },
}

/// The data an activity is created with (both planned and logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityData {
    pub id: ActivityId,
    pub kind: ActivityKind,
    pub direction: Option<Direction>,
    pub channel: Option<Channel>,
    pub subject: Option<String>,
    pub planned_start: Option<Timestamp>,
    pub due_at: Option<Timestamp>,
    pub responsible: UserId,
    pub deal: Option<DealId>,
    pub contact: Option<ContactId>,
    pub company: Option<CompanyId>,
    pub created_by: UserId,
}

/// Everything that happens to an activity. The serde tag is the stored
/// event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActivityEvent {
    ActivityPlanned {
        #[serde(flatten)]
        data: ActivityData,
    },
    ActivityLogged {
        #[serde(flatten)]
        data: ActivityData,
        outcome: Option<String>,
        result: Option<String>,
        completed_at: Timestamp,
    },
    ActivityCompleted {
        outcome: Option<String>,
        result: Option<String>,
        completed_at: Timestamp,
    },
    ActivityCancelled {
        reason: Option<String>,
        cancelled_at: Timestamp,
    },
    ActivityRescheduled {
        from_due: Option<Timestamp>,
        to_due: Timestamp,
        from_start: Option<Timestamp>,
        to_start: Option<Timestamp>,
        reschedule_count: u32,
    },
    ActivityReassigned {
        from: UserId,
        to: UserId,
    },
    ActivityRelinked {
        from_deal: Option<DealId>,
        from_contact: Option<ContactId>,
        from_company: Option<CompanyId>,
        deal: Option<DealId>,
        contact: Option<ContactId>,
        company: Option<CompanyId>,
    },
    /// The reminder before the start `for_start` went to the responsible.
    ActivityReminded {
        for_start: Timestamp,
        responsible: UserId,
        at: Timestamp,
    },
}

/// The activity aggregate. Its state is `None` until created.
pub struct Activity;

impl Aggregate for Activity {
    const CATEGORY: &'static str = "activity";
    type State = Option<ActivityRecord>;
    type Event = ActivityEvent;
    type Command = ActivityCommand;

    fn event_type(event: &ActivityEvent) -> &'static str {
        match event {
            ActivityEvent::ActivityPlanned { .. } => "activity_planned",
            ActivityEvent::ActivityLogged { .. } => "activity_logged",
            ActivityEvent::ActivityCompleted { .. } => "activity_completed",
            ActivityEvent::ActivityCancelled { .. } => "activity_cancelled",
            ActivityEvent::ActivityRescheduled { .. } => "activity_rescheduled",
            ActivityEvent::ActivityReassigned { .. } => "activity_reassigned",
            ActivityEvent::ActivityRelinked { .. } => "activity_relinked",
            ActivityEvent::ActivityReminded { .. } => "activity_reminded",
        }
    }

    fn apply(state: &mut Option<ActivityRecord>, event: &ActivityEvent) {
        match event {
            ActivityEvent::ActivityPlanned { data } => {
                *state = Some(record_from(data, ActivityStatus::Planned));
            }
            ActivityEvent::ActivityLogged {
                data,
                outcome,
                result,
                completed_at,
            } => {
                let mut record = record_from(data, ActivityStatus::Done);
                record.outcome = outcome.clone();
                record.result = result.clone();
                record.completed_at = Some(*completed_at);
                *state = Some(record);
            }
            ActivityEvent::ActivityCompleted {
                outcome,
                result,
                completed_at,
            } => {
                if let Some(record) = state {
                    record.status = ActivityStatus::Done;
                    record.outcome = outcome.clone();
                    record.result = result.clone();
                    record.completed_at = Some(*completed_at);
                }
            }
            ActivityEvent::ActivityCancelled { reason, .. } => {
                if let Some(record) = state {
                    record.status = ActivityStatus::Cancelled;
                    record.cancel_reason = reason.clone();
                }
            }
            ActivityEvent::ActivityRescheduled {
                to_due,
                to_start,
                reschedule_count,
                ..
            } => {
                if let Some(record) = state {
                    record.due_at = Some(*to_due);
                    record.planned_start = *to_start;
                    record.reschedule_count = *reschedule_count;
                }
            }
            ActivityEvent::ActivityReassigned { to, .. } => {
                if let Some(record) = state {
                    record.responsible = *to;
                }
            }
            ActivityEvent::ActivityRelinked {
                deal,
                contact,
                company,
                ..
            } => {
                if let Some(record) = state {
                    record.deal = *deal;
                    record.contact = *contact;
                    record.company = *company;
                }
            }
            ActivityEvent::ActivityReminded { for_start, .. } => {
                if let Some(record) = state {
                    record.reminded_for = Some(*for_start);
                }
            }
        }
    }

    fn decide(
        state: &Option<ActivityRecord>,
        command: &ActivityCommand,
        context: &Context<'_>,
    ) -> Result<Vec<ActivityEvent>, CrmError> {
        match command {
            ActivityCommand::Remind { for_start } => {
                let Some(record) = state else {
                    return Err(CrmError::NotFound);
                };
                let due = record.reminder_start() == Some(*for_start)
                    && record.reminder_due(chrono::Duration::zero()).is_some();
                Ok(if due {
                    vec![ActivityEvent::ActivityReminded {
                        for_start: *for_start,
                        responsible: record.responsible,
                        at: context.now,
                    }]
                } else {
                    Vec::new()
                })
            }
            ActivityCommand::Plan {
                id,
                input,
                default_responsible,
            } => {
                if state.is_some() {
                    return Err(CrmError::AlreadyExists);
                }
                let (data, errors) = validate_input(*id, input, *default_responsible, context);
                CrmError::check(errors)?;
                let data = data.ok_or(CrmError::Invalid(Vec::new()))?;
                Ok(vec![ActivityEvent::ActivityPlanned { data }])
            }
            ActivityCommand::Log {
                id,
                input,
                outcome,
                result,
                default_responsible,
            }
            | ActivityCommand::ImportDone {
                id,
                input,
                outcome,
                result,
                default_responsible,
                ..
            } => {
                let completed_at = match command {
                    ActivityCommand::ImportDone { done_at, .. } => *done_at,
                    _ => context.now,
                };
                if completed_at > context.now {
                    return Err(CrmError::invalid(FieldError::new(
                        "done_at",
                        "date_in_future",
                        "an activity done cannot be done in the future",
                    )));
                }
                if state.is_some() {
                    return Err(CrmError::AlreadyExists);
                }
                let (data, mut errors) = validate_input(*id, input, *default_responsible, context);
                // The closing is checked even when the input has errors, so
                // that every problem is reported at once.
                let closing = match ActivityKind::parse(input.kind.trim()) {
                    Some(kind) => match validate_closing(kind, outcome, result, context) {
                        Ok(closing) => Some(closing),
                        Err(mut more) => {
                            errors.append(&mut more);
                            None
                        }
                    },
                    None => {
                        let _ = optional_text(outcome, "outcome", MAX_SUBJECT_CHARS, &mut errors);
                        let _ = optional_text(result, "result", MAX_TEXT_CHARS, &mut errors);
                        None
                    }
                };
                CrmError::check(errors)?;
                let (Some(data), Some((outcome, result))) = (data, closing) else {
                    return Err(CrmError::Invalid(Vec::new()));
                };
                Ok(vec![ActivityEvent::ActivityLogged {
                    data,
                    outcome,
                    result,
                    completed_at,
                }])
            }
            ActivityCommand::Complete { outcome, result } => {
                let record = open_record(state, "completed")?;
                let (outcome, result) = validate_closing(record.kind, outcome, result, context)
                    .map_err(CrmError::Invalid)?;
                Ok(vec![ActivityEvent::ActivityCompleted {
                    outcome,
                    result,
                    completed_at: context.now,
                }])
            }
            ActivityCommand::Cancel { reason } => {
                open_record(state, "cancelled")?;
                let mut errors = Vec::new();
                let reason = optional_text(reason, "reason", MAX_TEXT_CHARS, &mut errors);
                CrmError::check(errors)?;
                Ok(vec![ActivityEvent::ActivityCancelled {
                    reason,
                    cancelled_at: context.now,
                }])
            }
            ActivityCommand::Reschedule {
                due_at,
                planned_start,
            } => {
                let record = open_record(state, "rescheduled")?;
                let to_due = truncate_to_micros(*due_at);
                let to_start = match planned_start {
                    Some(start) => Some(truncate_to_micros(*start)),
                    None => match (record.planned_start, record.due_at) {
                        (Some(start), Some(old_due)) => Some(
                            start
                                .checked_add_signed(to_due.signed_duration_since(old_due))
                                .ok_or_else(|| {
                                    CrmError::invalid(FieldError::new(
                                        "due_at",
                                        "invalid_datetime",
                                        "the new due time moves the start out of range",
                                    ))
                                })?,
                        ),
                        (start, _) => start,
                    },
                };
                if to_start.is_some_and(|start| to_due < start) {
                    return Err(CrmError::invalid(due_before_start()));
                }
                if record.due_at == Some(to_due) && record.planned_start == to_start {
                    return Ok(Vec::new());
                }
                Ok(vec![ActivityEvent::ActivityRescheduled {
                    from_due: record.due_at,
                    to_due,
                    from_start: record.planned_start,
                    to_start,
                    reschedule_count: record.reschedule_count.saturating_add(1),
                }])
            }
            ActivityCommand::Reassign { to } => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                if record.responsible == *to {
                    return Ok(Vec::new());
                }
                Ok(vec![ActivityEvent::ActivityReassigned {
                    from: record.responsible,
                    to: *to,
                }])
            }
            ActivityCommand::Relink {
                deal,
                contact,
                company,
            } => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                let links = Links {
                    deal: *deal,
                    contact: *contact,
                    company: *company,
                };
                if links == record.links() {
                    return Ok(Vec::new());
                }
                if needs_contact(record.kind) && contact.is_none() {
                    return Err(CrmError::invalid(FieldError::new(
                        "contact",
                        "required",
                        format!("a {} keeps a contact", record.kind.as_str()),
                    )));
                }
                Ok(vec![ActivityEvent::ActivityRelinked {
                    from_deal: record.deal,
                    from_contact: record.contact,
                    from_company: record.company,
                    deal: *deal,
                    contact: *contact,
                    company: *company,
                }])
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Links {
    deal: Option<DealId>,
    contact: Option<ContactId>,
    company: Option<CompanyId>,
}

fn record_from(data: &ActivityData, status: ActivityStatus) -> ActivityRecord {
    ActivityRecord {
        id: data.id,
        kind: data.kind,
        direction: data.direction,
        channel: data.channel,
        subject: data.subject.clone(),
        planned_start: data.planned_start,
        due_at: data.due_at,
        responsible: data.responsible,
        deal: data.deal,
        contact: data.contact,
        company: data.company,
        status,
        outcome: None,
        result: None,
        reschedule_count: 0,
        completed_at: None,
        cancel_reason: None,
        created_by: data.created_by,
        reminded_for: None,
    }
}

fn needs_contact(kind: ActivityKind) -> bool {
    matches!(
        kind,
        ActivityKind::Meeting | ActivityKind::Message | ActivityKind::Email
    )
}

/// The record when it exists and is still planned.
fn open_record<'a>(
    state: &'a Option<ActivityRecord>,
    verb: &str,
) -> Result<&'a ActivityRecord, CrmError> {
    let record = state.as_ref().ok_or(CrmError::NotFound)?;
    if record.status != ActivityStatus::Planned {
        return Err(CrmError::not_allowed(
            "activity_closed",
            format!(
                "the activity is {} and cannot be {verb}",
                record.status.as_str()
            ),
        ));
    }
    Ok(record)
}

fn due_before_start() -> FieldError {
    FieldError::new(
        "due_at",
        "due_before_start",
        "the due time must not be before the planned start",
    )
}

/// Checks an input; the data is `None` only when an error was reported.
fn validate_input(
    id: ActivityId,
    input: &ActivityInput,
    default_responsible: UserId,
    context: &Context<'_>,
) -> (Option<ActivityData>, Vec<FieldError>) {
    let mut errors = Vec::new();
    let kind_text = input.kind.trim();
    let kind = if kind_text.is_empty() {
        errors.push(FieldError::required("kind"));
        None
    } else {
        let kind = ActivityKind::parse(kind_text);
        if kind.is_none() {
            errors.push(FieldError::new(
                "kind",
                "unknown_kind",
                "`kind` must be one of: call, meeting, email, task, message",
            ));
        }
        kind
    };
    let direction = match non_empty(&input.direction) {
        None => None,
        Some(text) => {
            let direction = Direction::parse(text);
            if direction.is_none() {
                errors.push(FieldError::new(
                    "direction",
                    "unknown_direction",
                    "`direction` must be incoming or outgoing",
                ));
            }
            direction
        }
    };
    let channel_given = non_empty(&input.channel);
    let mut channel = match channel_given {
        None => None,
        Some(text) => {
            let channel = Channel::parse(text);
            if channel.is_none() {
                errors.push(FieldError::new(
                    "channel",
                    "unknown_channel",
                    "`channel` must be email, sms or messenger",
                ));
            }
            channel
        }
    };
    let subject = optional_text(&input.subject, "subject", MAX_SUBJECT_CHARS, &mut errors);
    let planned_start = optional_timestamp(&input.planned_start, "planned_start", &mut errors);
    let due_at = optional_timestamp(&input.due_at, "due_at", &mut errors).or(planned_start);
    if let (Some(start), Some(due)) = (planned_start, due_at) {
        if due < start {
            errors.push(due_before_start());
        }
    }
    let responsible = optional_id(&input.responsible, "responsible", &mut errors)
        .map(UserId::from_uuid)
        .unwrap_or(default_responsible);
    let deal = optional_id(&input.deal, "deal", &mut errors).map(DealId::from_uuid);
    let contact = optional_id(&input.contact, "contact", &mut errors).map(ContactId::from_uuid);
    let company = optional_id(&input.company, "company", &mut errors).map(CompanyId::from_uuid);

    if let Some(kind) = kind {
        let given = |value: &Option<String>| non_empty(value).is_some();
        let mut require = |present: bool, field: &str, what: &str| {
            if !present {
                errors.push(FieldError::new(
                    field,
                    "required",
                    format!("a {} needs {what}", kind.as_str()),
                ));
            }
        };
        match kind {
            ActivityKind::Meeting => {
                require(
                    given(&input.planned_start),
                    "planned_start",
                    "a date (`planned_start`)",
                );
                require(given(&input.contact), "contact", "a contact");
                require(given(&input.subject), "subject", "a subject");
            }
            ActivityKind::Call => {
                require(
                    given(&input.direction),
                    "direction",
                    "a direction (incoming or outgoing)",
                );
            }
            ActivityKind::Task => {
                require(given(&input.subject), "subject", "a subject");
                require(
                    given(&input.due_at) || given(&input.planned_start),
                    "due_at",
                    "a due time (`due_at`)",
                );
            }
            ActivityKind::Email => {
                require(given(&input.contact), "contact", "a contact");
            }
            ActivityKind::Message => {
                require(given(&input.contact), "contact", "a contact");
                require(
                    channel_given.is_some(),
                    "channel",
                    "a channel (email, sms or messenger)",
                );
            }
        }
        match kind {
            ActivityKind::Email => {
                if channel_given.is_some() && channel.is_some() && channel != Some(Channel::Email) {
                    errors.push(FieldError::new(
                        "channel",
                        "channel_not_allowed",
                        "an email's channel is email",
                    ));
                }
                channel = Some(Channel::Email);
            }
            ActivityKind::Message => {}
            ActivityKind::Call | ActivityKind::Meeting | ActivityKind::Task => {
                if channel_given.is_some() {
                    errors.push(FieldError::new(
                        "channel",
                        "channel_not_allowed",
                        format!("a {} has no channel", kind.as_str()),
                    ));
                }
            }
        }
    }
    let data = match kind {
        Some(kind) if errors.is_empty() => Some(ActivityData {
            id,
            kind,
            direction,
            channel,
            subject,
            planned_start,
            due_at,
            responsible,
            deal,
            contact,
            company,
            created_by: context.actor,
        }),
        _ => None,
    };
    (data, errors)
}

/// The outcome and result that close an activity of `kind`.
type Closing = (Option<String>, Option<String>);

fn validate_closing(
    kind: ActivityKind,
    outcome: &Option<String>,
    result: &Option<String>,
    context: &Context<'_>,
) -> Result<Closing, Vec<FieldError>> {
    let mut errors = Vec::new();
    let outcome = optional_text(outcome, "outcome", MAX_SUBJECT_CHARS, &mut errors);
    let result = optional_text(result, "result", MAX_TEXT_CHARS, &mut errors);
    if let Some(value) = &outcome {
        if let Err(error) = context
            .dictionaries
            .check(outcome_dictionary(kind), value, "outcome")
        {
            errors.push(error);
        }
    }
    match kind {
        ActivityKind::Call => {
            if outcome.is_none() {
                errors.push(FieldError::new(
                    "outcome",
                    "required",
                    "completing a call needs its outcome (from the call_outcome dictionary)",
                ));
            }
        }
        ActivityKind::Meeting => {
            if result.is_none() {
                errors.push(FieldError::new(
                    "result",
                    "required",
                    "completing a meeting needs its result",
                ));
            }
        }
        ActivityKind::Email | ActivityKind::Message | ActivityKind::Task => {}
    }
    if errors.is_empty() {
        Ok((outcome, result))
    } else {
        Err(errors)
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Trimmed text, `None` when absent or empty; too long is reported.
fn optional_text(
    value: &Option<String>,
    field: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let text = non_empty(value)?;
    if text.chars().count() > max_chars {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("`{field}` is at most {max_chars} characters"),
        ));
        return None;
    }
    Some(text.to_string())
}

/// An RFC 3339 moment, in UTC, to the microsecond.
fn optional_timestamp(
    value: &Option<String>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Timestamp> {
    let text = non_empty(value)?;
    match DateTime::parse_from_rfc3339(text) {
        Ok(moment) => Some(truncate_to_micros(moment.with_timezone(&Utc))),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "invalid_datetime",
                format!("`{field}` must be a date and time like 2026-03-01T10:00:00+03:00"),
            ));
            None
        }
    }
}

fn optional_id(
    value: &Option<String>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<uuid::Uuid> {
    let text = non_empty(value)?;
    match uuid::Uuid::parse_str(text) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "invalid_id",
                format!("`{field}` must be an id (a UUID)"),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dictionaries;
    use voronka_core::time::timestamp_from_micros;

    fn at(seconds: i64) -> Timestamp {
        timestamp_from_micros(seconds * 1_000_000)
    }

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn data() -> ActivityData {
        ActivityData {
            id: ActivityId::from_uuid(uuid::Uuid::from_u128(1)),
            kind: ActivityKind::Call,
            direction: Some(Direction::Outgoing),
            channel: None,
            subject: None,
            planned_start: None,
            due_at: Some(at(100)),
            responsible: user(2),
            deal: None,
            contact: None,
            company: None,
            created_by: user(2),
        }
    }

    #[test]
    fn every_event_type_is_its_serde_tag() {
        let events = [
            ActivityEvent::ActivityPlanned { data: data() },
            ActivityEvent::ActivityLogged {
                data: data(),
                outcome: Some("reached".into()),
                result: None,
                completed_at: at(1),
            },
            ActivityEvent::ActivityCompleted {
                outcome: None,
                result: None,
                completed_at: at(1),
            },
            ActivityEvent::ActivityCancelled {
                reason: None,
                cancelled_at: at(1),
            },
            ActivityEvent::ActivityRescheduled {
                from_due: None,
                to_due: at(2),
                from_start: None,
                to_start: None,
                reschedule_count: 1,
            },
            ActivityEvent::ActivityReassigned {
                from: user(1),
                to: user(2),
            },
            ActivityEvent::ActivityRelinked {
                from_deal: None,
                from_contact: None,
                from_company: None,
                deal: None,
                contact: None,
                company: None,
            },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], Activity::event_type(&event), "{json}");
            assert!(json["type"]
                .as_str()
                .unwrap()
                .starts_with(Activity::CATEGORY));
            let back: ActivityEvent = serde_json::from_value(json).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn a_planned_call_is_overdue_only_after_its_due_time_and_while_planned() {
        let mut state = None;
        Activity::apply(&mut state, &ActivityEvent::ActivityPlanned { data: data() });
        let record = state.clone().unwrap();
        assert!(!record.is_overdue(at(100)));
        assert!(record.is_overdue(at(101)));
        Activity::apply(
            &mut state,
            &ActivityEvent::ActivityCompleted {
                outcome: Some("reached".into()),
                result: None,
                completed_at: at(150),
            },
        );
        assert!(!state.unwrap().is_overdue(at(1_000)));
    }

    #[test]
    fn timestamps_are_read_in_any_offset_and_stored_in_utc() {
        let dictionaries = Dictionaries::standard();
        let context = Context {
            now: at(0),
            actor: user(9),
            dictionaries: &dictionaries,
        };
        let input = ActivityInput {
            kind: " task ".into(),
            subject: Some("  Send the price list ".into()),
            due_at: Some("2026-03-01T10:00:00+03:00".into()),
            ..ActivityInput::default()
        };
        let (data, errors) = validate_input(data().id, &input, user(3), &context);
        assert_eq!(errors, []);
        let data = data.unwrap();
        assert_eq!(data.subject.as_deref(), Some("Send the price list"));
        assert_eq!(
            data.due_at.unwrap().to_rfc3339(),
            "2026-03-01T07:00:00+00:00"
        );
        assert_eq!(data.responsible, user(3));
        assert_eq!(data.created_by, user(9));
    }
}
