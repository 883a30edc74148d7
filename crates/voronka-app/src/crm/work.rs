//! The work around deals through the CRM: activities (plan, log, complete,
//! cancel, reschedule, reassign, relink), documents (create on a deal,
//! change status, replace lines, register payments), the product catalog,
//! and the timelines of activities, documents, deals and products.
//!
//! Why deals hear about it: a deal's process counts activities (a held
//! meeting, a call that reached someone) and documents (a sent proposal, a
//! paid invoice) in its guards, and the engine sees only its own stream. So
//! every write that changes what a guard could see is followed by a
//! *mirror*: `RecordActivity` / `RecordDocument` on the linked deal, through
//! the deal service like any other deal command. A mirror is never skipped:
//! when it fails the error is returned, the record's own change stays
//! written, and retrying the request (same `Idempotency-Key`) runs the
//! record's command as a replay and then the mirror again. The mirror's
//! command id is derived from the record's id and stream version, so a
//! mirror that did get through is answered from the deal's stream and not
//! recorded twice.
//!
//! Creating a document is a process command first: the deal's process
//! checks its document policy (`allowed_from`, roles, requirements) and a
//! refusal writes nothing. Only then is the document's own stream created.
//! Both appends use command ids derived from the document id, so a retry of
//! a create that stopped half-way completes it.
//!
//! Access: activities are governed by `LogActivity` over their responsible
//! (managers their own, heads their subtree), documents by
//! `EditSalesRecord` over theirs, both seen by `SeeSalesRecord`; the catalog
//! is read by every user and changed with `ManageCatalog`.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use voronka_core::time::truncate_to_micros;
use voronka_core::{CommandId, Position, StreamVersion, Timestamp};
use voronka_crm::activity::{
    Activity, ActivityCommand, ActivityEvent, ActivityInput, ActivityRecord,
};
use voronka_crm::document::{
    Document, DocumentCommand, DocumentInput, DocumentLineInput, DocumentRecord, DocumentStatus,
};
use voronka_crm::page::{Cursor, Page};
use voronka_crm::product::{Patch, Product, ProductCommand, ProductInput, ProductPatch};
use voronka_crm::work_index::{
    ActivityFilter, ActivityRow, DocumentFilter, DocumentRow, ProductFilter, ProductRow,
};
use voronka_crm::{
    ActivityId, Aggregate, CompanyId, ContactId, CrmError, DealId, DocumentId, EntityRef,
    FieldError, MoneyInput, ProductId, TimelineEntry,
};
use voronka_process::{
    ActivityFact, ActivityKind, ActivityStatus, DealCommand, DocumentFact, DocumentKind,
};

use super::records::{self, RecordOutcome};
use super::{AppError, Caller, Crm, Indexes, Reach, Written};
use crate::access::{Action, RecordKind, UserId};

// ------------------------------------------------------------------ inputs

/// A new activity: planned (the default) or logged as already done.
///
/// `status: "done"` logs an activity that happened (a call made, a meeting
/// held) with its `outcome` and `result`, checked as when completing one;
/// `status: "planned"` (or absent) plans it, and then `outcome` and
/// `result` must be absent. Timestamps are RFC 3339.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    /// `planned` (default) or `done`.
    #[serde(default)]
    pub status: Option<String>,
    /// `call`, `meeting`, `email`, `task` or `message`.
    #[serde(default)]
    pub kind: String,
    /// `incoming` or `outgoing`; required for calls.
    #[serde(default)]
    pub direction: Option<String>,
    /// `email`, `sms` or `messenger`; required for messages.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub planned_start: Option<String>,
    /// Defaults to `planned_start`.
    #[serde(default)]
    pub due_at: Option<String>,
    /// A user id; the caller when absent.
    #[serde(default)]
    pub responsible: Option<String>,
    #[serde(default)]
    pub deal: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    /// Only with `status: "done"`: a value of the kind's outcome dictionary.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Only with `status: "done"`: what came of it.
    #[serde(default)]
    pub result: Option<String>,
}

impl NewActivity {
    fn input(&self) -> ActivityInput {
        ActivityInput {
            kind: self.kind.clone(),
            direction: self.direction.clone(),
            channel: self.channel.clone(),
            subject: self.subject.clone(),
            planned_start: self.planned_start.clone(),
            due_at: self.due_at.clone(),
            responsible: self.responsible.clone(),
            deal: self.deal.clone(),
            contact: self.contact.clone(),
            company: self.company.clone(),
        }
    }
}

/// Closing a planned activity as done.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityCompletion {
    /// A value of the kind's outcome dictionary; required for calls.
    #[serde(default)]
    pub outcome: Option<String>,
    /// What came of it; required for meetings.
    #[serde(default)]
    pub result: Option<String>,
    /// The version the client saw; another current version is 409.
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// Cancelling a planned activity.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityCancellation {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// Moving a planned activity in time.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityReschedule {
    /// RFC 3339, e.g. `2026-03-01T10:00:00+03:00`.
    #[serde(default)]
    pub due_at: String,
    /// RFC 3339; without it the start moves by as much as the due time.
    #[serde(default)]
    pub planned_start: Option<String>,
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// Handing an activity to another user.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityReassignment {
    #[schema(value_type = String, format = Uuid)]
    pub to: UserId,
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// An activity's links, set to exactly these (absent or `null` unlinks).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityLinks {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub deal: Option<DealId>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub contact: Option<ContactId>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub company: Option<CompanyId>,
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// What an activity list may be narrowed to, as a client asks it.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    pub responsible: Option<UserId>,
    pub deal: Option<DealId>,
    pub contact: Option<ContactId>,
    pub company: Option<CompanyId>,
    /// `call`, `meeting`, ...
    pub kind: Option<String>,
    /// `planned`, `done` or `cancelled`.
    pub status: Option<String>,
    /// RFC 3339: due strictly before.
    pub due_before: Option<String>,
    /// RFC 3339: due at or after.
    pub due_after: Option<String>,
    /// Only planned activities past their due time now.
    pub overdue: bool,
}

/// An activity as the API shows it: the row and whether it is overdue now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    #[serde(flatten)]
    pub row: ActivityRow,
    /// Planned and past its due time.
    pub overdue: bool,
}

/// A new document of a deal.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    /// `proposal`, `contract`, `invoice` or `act`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
    /// ISO 4217; the first line's currency, else RUB.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub lines: Vec<DocumentLineInput>,
}

/// A document's next status.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentStatusChange {
    /// `sent` (for an invoice: issued), `signed`, `issued` or `cancelled`;
    /// an invoice becomes `paid` by its payments only.
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// A draft document's new lines (replacing all of them).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentLines {
    #[serde(default)]
    pub lines: Vec<DocumentLineInput>,
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// A payment of an issued invoice. A repeated `payment_id` changes nothing.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    /// Chosen by the client or the bank import; by default derived from the
    /// `Idempotency-Key` (or fresh without one).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub payment_id: Option<uuid::Uuid>,
    pub amount: MoneyInput,
    #[schema(value_type = String, format = Date)]
    pub paid_on: NaiveDate,
    #[serde(default)]
    pub reference: Option<String>,
}

/// What a document list may be narrowed to, as a client asks it.
#[derive(Debug, Clone, Default)]
pub struct DocumentQuery {
    pub deal: Option<DealId>,
    /// `proposal`, `contract`, `invoice` or `act`.
    pub kind: Option<String>,
    /// `draft`, `sent`, `signed`, `issued`, `paid` or `cancelled`.
    pub status: Option<String>,
}

// ------------------------------------------------------------- serialising

/// Document numbers come from the index ("one past the highest in use"), so
/// creations are numbered one at a time: the next one reads the index only
/// after the previous one is folded into it. (Several server processes on
/// one database could still pick the same number concurrently.)
fn numbering() -> &'static Mutex<()> {
    static NUMBERING: OnceLock<Mutex<()>> = OnceLock::new();
    NUMBERING.get_or_init(|| Mutex::new(()))
}

/// SKU uniqueness is the index's answer; catalog changes go one at a time
/// for the same reason as numbering.
fn catalog() -> &'static Mutex<()> {
    static CATALOG: OnceLock<Mutex<()>> = OnceLock::new();
    CATALOG.get_or_init(|| Mutex::new(()))
}

/// A command id derived from `purpose` and `parts`: the same inputs give
/// the same id, so a retried step is answered from the stream.
fn derived_command_id(purpose: &str, parts: &[&[u8]]) -> CommandId {
    let mut hash = Sha256::new();
    hash.update(b"voronka/work/");
    hash.update(purpose.as_bytes());
    for part in parts {
        hash.update([0u8]);
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    CommandId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// The command ids of the two appends that create document `id`: the
/// process's `RecordDocument` on the deal, then the document's own
/// `document_created`. Derived from the id alone, so a retry of a create
/// that stopped between the two (same `Idempotency-Key`, same id) is
/// answered from the deal's stream and goes on to the document.
pub fn document_creation_command_ids(id: DocumentId) -> (CommandId, CommandId) {
    (
        derived_command_id("document-created-on-deal", &[id.as_uuid().as_bytes()]),
        derived_command_id("document-created", &[id.as_uuid().as_bytes()]),
    )
}

fn nil_user() -> UserId {
    UserId::from_uuid(uuid::Uuid::nil())
}

fn parse_moment(field: &str, text: &str) -> Result<Timestamp, FieldError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|moment| truncate_to_micros(moment.with_timezone(&Utc)))
        .map_err(|_| {
            FieldError::new(
                field,
                "invalid_datetime",
                format!("`{field}` must be a date and time like 2026-03-01T10:00:00+03:00"),
            )
        })
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A UUID the domain would accept, if the text is one.
fn parsed_id(value: &Option<String>) -> Option<uuid::Uuid> {
    non_empty(value).and_then(|text| uuid::Uuid::parse_str(text).ok())
}

fn parse_kind(field: &str, text: &str) -> Result<DocumentKind, FieldError> {
    DocumentKind::parse(text.trim()).ok_or_else(|| {
        FieldError::new(
            field,
            "unknown_kind",
            format!("`{field}` must be one of: proposal, contract, invoice, act"),
        )
    })
}

fn merge(mut errors: Vec<FieldError>, result: Result<(), CrmError>) -> Result<(), AppError> {
    match result {
        Ok(()) if errors.is_empty() => Ok(()),
        Ok(()) => Err(AppError::Invalid(errors)),
        Err(CrmError::Invalid(more)) => {
            for error in more {
                if !errors.iter().any(|e| e.field == error.field) {
                    errors.push(error);
                }
            }
            Err(AppError::Invalid(errors))
        }
        Err(other) if errors.is_empty() => Err(other.into()),
        Err(_) => Err(AppError::Invalid(errors)),
    }
}

fn written(id: uuid::Uuid, outcome: RecordOutcome, later: Option<Position>) -> Written {
    let mut written = super::written(id, outcome);
    if let Some(position) = later {
        written.position = written.position.max(position.0);
    }
    written
}

impl Reach {
    fn includes_owner(&self, responsible: Option<UserId>) -> bool {
        match self {
            Reach::All => true,
            Reach::Users(users) => responsible.is_some_and(|r| users.contains(&r)),
        }
    }
}

// -------------------------------------------------------------- activities

impl Crm {
    /// Plans an activity, or logs one that happened (`status: "done"`).
    pub async fn create_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        input: NewActivity,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let status = non_empty(&input.status).unwrap_or("planned");
        match ActivityStatus::parse(status) {
            Some(ActivityStatus::Planned) => {
                let mut errors = Vec::new();
                for (field, value) in [("outcome", &input.outcome), ("result", &input.result)] {
                    if non_empty(value).is_some() {
                        errors.push(FieldError::new(
                            field,
                            "not_allowed_when_planned",
                            format!("`{field}` is given when the activity is done, not planned"),
                        ));
                    }
                }
                if !errors.is_empty() {
                    return Err(AppError::Invalid(errors));
                }
                self.plan_activity(caller, id, input.input(), command_id)
                    .await
            }
            Some(ActivityStatus::Done) => {
                let activity = input.input();
                self.log_activity(
                    caller,
                    id,
                    activity,
                    input.outcome,
                    input.result,
                    command_id,
                )
                .await
            }
            _ => Err(AppError::invalid(
                "status",
                "invalid_status",
                "a new activity's `status` is planned or done",
            )),
        }
    }

    /// Plans an activity. Its responsible (the caller when not named) must
    /// be within the caller's `LogActivity` reach; links must exist.
    pub async fn plan_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        input: ActivityInput,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let command = ActivityCommand::Plan {
            id,
            input,
            default_responsible: caller.user.id,
        };
        self.create_activity_with(caller, id, command, command_id)
            .await
    }

    /// Records an activity that already happened, done, with its outcome
    /// and result.
    pub async fn log_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        input: ActivityInput,
        outcome: Option<String>,
        result: Option<String>,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let command = ActivityCommand::Log {
            id,
            input,
            outcome,
            result,
            default_responsible: caller.user.id,
        };
        self.create_activity_with(caller, id, command, command_id)
            .await
    }

    /// Records an activity done in the past (an import), at `done_at`.
    pub async fn import_done_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        input: ActivityInput,
        closing: (Option<String>, Option<String>),
        done_at: voronka_core::Timestamp,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let command = ActivityCommand::ImportDone {
            id,
            input,
            outcome: closing.0,
            result: closing.1,
            done_at,
            default_responsible: caller.user.id,
        };
        self.create_activity_with(caller, id, command, command_id)
            .await
    }

    /// Checks what [`Crm::create_activity_with`] would write, writes nothing
    /// (an import's dry run).
    pub(crate) async fn check_activity(
        &self,
        caller: &Caller,
        command: &ActivityCommand,
    ) -> Result<(), AppError> {
        let input = match command {
            ActivityCommand::Plan { input, .. }
            | ActivityCommand::Log { input, .. }
            | ActivityCommand::ImportDone { input, .. } => input,
            _ => return Err(AppError::Internal("not a creating command".into())),
        };
        let named = parsed_id(&input.responsible).map(UserId::from_uuid);
        if let Some(responsible) = named {
            caller.active_user("responsible", responsible)?;
        }
        caller.may(Action::LogActivity, named.unwrap_or(caller.user.id))?;
        let link_errors = {
            let indexes = self.indexes(None).await?;
            link_errors(
                caller,
                &indexes,
                parsed_id(&input.deal).map(DealId::from_uuid),
                parsed_id(&input.contact).map(ContactId::from_uuid),
                parsed_id(&input.company).map(CompanyId::from_uuid),
            )
        };
        let context = self.context(caller);
        merge(
            link_errors,
            Activity::decide(&None, command, &context).map(|_| ()),
        )
    }

    async fn create_activity_with(
        &self,
        caller: &Caller,
        id: ActivityId,
        command: ActivityCommand,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let input = match &command {
            ActivityCommand::Plan { input, .. }
            | ActivityCommand::Log { input, .. }
            | ActivityCommand::ImportDone { input, .. } => input,
            _ => return Err(AppError::Internal("not a creating command".into())),
        };
        // An unreadable responsible is reported by the domain below.
        let named = parsed_id(&input.responsible).map(UserId::from_uuid);
        if let Some(responsible) = named {
            caller.active_user("responsible", responsible)?;
        }
        caller.may(Action::LogActivity, named.unwrap_or(caller.user.id))?;
        let link_errors = {
            let indexes = self.indexes(None).await?;
            link_errors(
                caller,
                &indexes,
                parsed_id(&input.deal).map(DealId::from_uuid),
                parsed_id(&input.contact).map(ContactId::from_uuid),
                parsed_id(&input.company).map(CompanyId::from_uuid),
            )
        };
        // Every problem at once: the domain's own checks with the links'.
        let context = self.context(caller);
        merge(
            link_errors,
            Activity::decide(&None, &command, &context).map(|_| ()),
        )?;
        let (state, outcome) = records::execute::<Activity>(
            &self.store,
            *id.as_uuid(),
            &command,
            &context,
            &caller.actor(),
            None,
            command_id,
        )
        .await?;
        let record = state.ok_or_else(|| AppError::Internal(format!("activity {id} vanished")))?;
        let mirrored = self
            .mirror_activity(caller, &record, outcome.version, None)
            .await?;
        Ok(written(*id.as_uuid(), outcome, mirrored))
    }

    /// Completes a planned activity with its outcome and result.
    pub async fn complete_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        completion: ActivityCompletion,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let command = ActivityCommand::Complete {
            outcome: completion.outcome,
            result: completion.result,
        };
        self.change_activity(
            caller,
            id,
            &command,
            completion.expected_version,
            command_id,
            |_| Ok(()),
        )
        .await
    }

    /// Cancels a planned activity.
    pub async fn cancel_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        cancellation: ActivityCancellation,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let command = ActivityCommand::Cancel {
            reason: cancellation.reason,
        };
        self.change_activity(
            caller,
            id,
            &command,
            cancellation.expected_version,
            command_id,
            |_| Ok(()),
        )
        .await
    }

    /// Moves a planned activity's due time (and start).
    pub async fn reschedule_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        reschedule: ActivityReschedule,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let mut errors = Vec::new();
        let due_at = if reschedule.due_at.trim().is_empty() {
            errors.push(FieldError::required("due_at"));
            None
        } else {
            parse_moment("due_at", &reschedule.due_at)
                .map_err(|e| errors.push(e))
                .ok()
        };
        let planned_start = match non_empty(&reschedule.planned_start) {
            None => None,
            Some(text) => parse_moment("planned_start", text)
                .map_err(|e| errors.push(e))
                .ok(),
        };
        let Some(due_at) = due_at.filter(|_| errors.is_empty()) else {
            return Err(AppError::Invalid(errors));
        };
        let command = ActivityCommand::Reschedule {
            due_at,
            planned_start,
        };
        self.change_activity(
            caller,
            id,
            &command,
            reschedule.expected_version,
            command_id,
            |_| Ok(()),
        )
        .await
    }

    /// Hands an activity to another user, who must be within the caller's
    /// `LogActivity` reach too.
    pub async fn reassign_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        reassignment: ActivityReassignment,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let to = reassignment.to;
        let command = ActivityCommand::Reassign { to };
        self.change_activity(
            caller,
            id,
            &command,
            reassignment.expected_version,
            command_id,
            |caller| {
                caller.active_user("to", to)?;
                caller.may(Action::LogActivity, to)
            },
        )
        .await
    }

    /// Sets an activity's links. The deal it leaves stops counting it (its
    /// process records it as cancelled); the deal it joins records it.
    pub async fn relink_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        links: ActivityLinks,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let errors = {
            let indexes = self.indexes(None).await?;
            link_errors(caller, &indexes, links.deal, links.contact, links.company)
        };
        if !errors.is_empty() {
            // Visibility of the activity itself comes first.
            let loaded = records::load::<Activity>(&self.store, *id.as_uuid()).await?;
            let record = loaded.state.ok_or(AppError::NotFound)?;
            caller.authorize(
                RecordKind::SalesRecord,
                Action::LogActivity,
                record.responsible,
            )?;
            return Err(AppError::Invalid(errors));
        }
        let command = ActivityCommand::Relink {
            deal: links.deal,
            contact: links.contact,
            company: links.company,
        };
        self.change_activity(
            caller,
            id,
            &command,
            links.expected_version,
            command_id,
            |_| Ok(()),
        )
        .await
    }

    /// Loads the activity, authorizes `LogActivity` over its responsible
    /// (invisible: 404), runs `extra` checks, runs the command and mirrors
    /// what the deal's process must know.
    async fn change_activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        command: &ActivityCommand,
        expected_version: Option<u64>,
        command_id: Option<CommandId>,
        extra: impl FnOnce(&Caller) -> Result<(), AppError>,
    ) -> Result<Written, AppError> {
        let loaded = records::load::<Activity>(&self.store, *id.as_uuid()).await?;
        let before = loaded.state.ok_or(AppError::NotFound)?;
        caller.authorize(
            RecordKind::SalesRecord,
            Action::LogActivity,
            before.responsible,
        )?;
        extra(caller)?;
        let (state, outcome) = records::execute::<Activity>(
            &self.store,
            *id.as_uuid(),
            command,
            &self.context(caller),
            &caller.actor(),
            expected_version.map(StreamVersion),
            command_id,
        )
        .await?;
        let record = state.ok_or_else(|| AppError::Internal(format!("activity {id} vanished")))?;
        let mirrored = match command {
            ActivityCommand::Complete { .. } | ActivityCommand::Cancel { .. } => {
                self.mirror_activity(caller, &record, outcome.version, None)
                    .await?
            }
            ActivityCommand::Relink { .. } => {
                // The deal left is read from the relink itself, so that a
                // replayed relink (the state already relinked) still knows it.
                let left = self.relinked_from(id, outcome.version).await?;
                self.mirror_activity(caller, &record, outcome.version, left)
                    .await?
            }
            _ => None,
        };
        Ok(written(*id.as_uuid(), outcome, mirrored))
    }

    /// The deal an activity was linked to before the event at `version`,
    /// if that event is a relink.
    async fn relinked_from(
        &self,
        id: ActivityId,
        version: StreamVersion,
    ) -> Result<Option<DealId>, AppError> {
        if version == StreamVersion::NONE {
            return Ok(None);
        }
        let stream = records::stream_of::<Activity>(*id.as_uuid())?;
        let events = self.store.read_stream(&stream, version, 1).await?;
        let Some(event) = events.first() else {
            return Ok(None);
        };
        match voronka_crm::decode_event::<Activity>(event.payload.as_str()) {
            Ok(ActivityEvent::ActivityRelinked { from_deal, .. }) => Ok(from_deal),
            Ok(_) => Ok(None),
            Err(error) => Err(AppError::Internal(format!(
                "{stream} at version {version} is unreadable: {error}"
            ))),
        }
    }

    /// Records the activity's state on its deal (and, after a relink, on
    /// the deal it left, as cancelled there). Returns the position of the
    /// last deal event, if any was run.
    pub(crate) async fn mirror_activity(
        &self,
        caller: &Caller,
        record: &ActivityRecord,
        version: StreamVersion,
        previous_deal: Option<DealId>,
    ) -> Result<Option<Position>, AppError> {
        let mut last = None;
        if let Some(left) = previous_deal.filter(|left| Some(*left) != record.deal) {
            let position = self
                .record_activity_on(caller, left, record, ActivityStatus::Cancelled, version)
                .await?;
            last = Some(position);
        }
        if let Some(deal) = record.deal {
            let position = self
                .record_activity_on(caller, deal, record, record.status, version)
                .await?;
            last = Some(last.map_or(position, |p: Position| p.max(position)));
        }
        Ok(last)
    }

    async fn record_activity_on(
        &self,
        caller: &Caller,
        deal: DealId,
        record: &ActivityRecord,
        status: ActivityStatus,
        version: StreamVersion,
    ) -> Result<Position, AppError> {
        let command_id = derived_command_id(
            "activity-on-deal",
            &[
                record.id.as_uuid().as_bytes(),
                deal.as_uuid().as_bytes(),
                &version.0.to_be_bytes(),
            ],
        );
        let now = self.clock.now();
        let mut definition = None;
        let outcome = self
            .deals
            .execute_checked(deal, &caller.process_actor(), Some(command_id), |loaded| {
                definition = Some(loaded.definition.clone());
                let definition = &loaded.definition;
                let outcome = record.outcome.as_deref().and_then(|name| {
                    definition
                        .outcome_dictionary(record.kind)
                        .and_then(|dictionary| definition.value_id(dictionary, name))
                });
                let fact = ActivityFact {
                    id: record.id,
                    kind: record.kind,
                    status,
                    outcome,
                    at: record
                        .completed_at
                        .or(record.planned_start)
                        .or(record.due_at)
                        .unwrap_or(now),
                };
                Ok::<_, crate::deals::DealError>((vec![DealCommand::RecordActivity(fact)], None))
            })
            .await
            .map_err(|error| self.rejection(error, definition.as_deref()))?;
        // What the process does on this change (a callback task...).
        Box::pin(self.run_outcome_effects(caller, deal, &outcome)).await?;
        Ok(outcome.position)
    }

    /// Moves every planned activity of `from` to `to`; returns how many
    /// moved. The caller of this function authorizes the hand-over.
    pub async fn reassign_work(
        &self,
        caller: &Caller,
        from: UserId,
        to: UserId,
    ) -> Result<usize, AppError> {
        caller.active_user("to", to)?;
        let open = self
            .indexes(None)
            .await?
            .work
            .open_activities_responsible_of(from);
        let mut moved = 0;
        for id in open {
            let loaded = records::load::<Activity>(&self.store, *id.as_uuid()).await?;
            let Some(record) = loaded.state else {
                continue;
            };
            if record.responsible != from || record.status != ActivityStatus::Planned {
                continue;
            }
            let command_id = derived_command_id(
                "reassign-work",
                &[
                    id.as_uuid().as_bytes(),
                    &loaded.version.0.to_be_bytes(),
                    to.as_uuid().as_bytes(),
                ],
            );
            let (_, outcome) = records::execute::<Activity>(
                &self.store,
                *id.as_uuid(),
                &ActivityCommand::Reassign { to },
                &self.context(caller),
                &caller.actor(),
                None,
                Some(command_id),
            )
            .await?;
            if outcome.changed {
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// One activity, or 404 when absent or not visible to the caller.
    pub async fn activity(
        &self,
        caller: &Caller,
        id: ActivityId,
        min_position: Option<Position>,
    ) -> Result<ActivityView, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.work.activity(id).ok_or(AppError::NotFound)?;
        if !caller.sees(RecordKind::SalesRecord, row.record.responsible) {
            return Err(AppError::NotFound);
        }
        let now = self.clock.now();
        Ok(ActivityView {
            overdue: row.record.is_overdue(now),
            row: row.clone(),
        })
    }

    /// A page of the activities the caller sees, newest first.
    pub async fn activities(
        &self,
        caller: &Caller,
        query: &ActivityQuery,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<ActivityView>, AppError> {
        let now = self.clock.now();
        let filter = activity_filter(query, now)?;
        let reach = caller.reach(Action::SeeSalesRecord);
        let indexes = self.indexes(min_position).await?;
        let page = indexes
            .work
            .activities(&filter, &|user| reach.includes(user), after, limit);
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|row| ActivityView {
                    overdue: row.record.is_overdue(now),
                    row,
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }
}

/// The filter a query asks for, every bad value named.
fn activity_filter(query: &ActivityQuery, now: Timestamp) -> Result<ActivityFilter, AppError> {
    let mut errors = Vec::new();
    let kind = non_empty(&query.kind).and_then(|text| {
        let kind = ActivityKind::parse(text);
        if kind.is_none() {
            errors.push(FieldError::new(
                "kind",
                "unknown_kind",
                "`kind` must be one of: call, meeting, email, task, message",
            ));
        }
        kind
    });
    let status = non_empty(&query.status).and_then(|text| {
        let status = ActivityStatus::parse(text);
        if status.is_none() {
            errors.push(FieldError::new(
                "status",
                "unknown_status",
                "`status` must be one of: planned, done, cancelled",
            ));
        }
        status
    });
    let mut moment = |field: &str, value: &Option<String>| {
        non_empty(value).and_then(|text| parse_moment(field, text).map_err(|e| errors.push(e)).ok())
    };
    let due_before = moment("due_before", &query.due_before);
    let due_after = moment("due_after", &query.due_after);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(ActivityFilter {
        responsible: query.responsible,
        deal: query.deal,
        contact: query.contact,
        company: query.company,
        kind,
        status,
        due_before,
        due_after,
        overdue_at: query.overdue.then_some(now),
    })
}

/// Links that do not exist (or, for a deal, that the caller does not see:
/// answered alike, so nothing leaks), each named.
fn link_errors(
    caller: &Caller,
    indexes: &Indexes,
    deal: Option<DealId>,
    contact: Option<ContactId>,
    company: Option<CompanyId>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(deal) = deal {
        let visible = indexes.deals.deal(deal).is_some_and(|row| {
            caller.sees(
                RecordKind::SalesRecord,
                row.responsible.unwrap_or(nil_user()),
            )
        });
        if !visible {
            errors.push(FieldError::new("deal", "deal_unknown", "no such deal"));
        }
    }
    if let Some(contact) = contact {
        if indexes.customers.contact(contact).is_none() {
            errors.push(FieldError::new(
                "contact",
                "contact_unknown",
                "no such contact",
            ));
        }
    }
    if let Some(company) = company {
        if indexes.customers.company(company).is_none() {
            errors.push(FieldError::new(
                "company",
                "company_unknown",
                "no such company",
            ));
        }
    }
    errors
}

// --------------------------------------------------------------- documents

impl Crm {
    /// Creates a document of a kind on a deal: the deal's process decides
    /// first (a refusal is 422 with every unmet requirement and writes
    /// nothing), then the document is created, numbered, in draft, with the
    /// deal's responsible.
    pub async fn create_document(
        &self,
        caller: &Caller,
        deal: DealId,
        id: DocumentId,
        input: NewDocument,
    ) -> Result<Written, AppError> {
        let responsible = {
            let indexes = self.indexes(None).await?;
            let row = indexes.deals.deal(deal).ok_or(AppError::NotFound)?;
            caller.authorize(
                RecordKind::SalesRecord,
                Action::EditSalesRecord,
                row.responsible.unwrap_or(nil_user()),
            )?;
            row.responsible.unwrap_or(caller.user.id)
        };
        let kind = if input.kind.trim().is_empty() {
            Err(FieldError::required("kind"))
        } else {
            parse_kind("kind", &input.kind)
        };
        let document = DocumentInput {
            title: input.title,
            currency: input.currency,
            lines: input.lines,
        };
        let mut errors = self.product_errors(&document.lines).await?;
        let kind = match kind {
            Ok(kind) => kind,
            Err(error) => {
                errors.insert(0, error);
                return Err(AppError::Invalid(errors));
            }
        };
        let context = self.context(caller);
        let create = |number: String| DocumentCommand::Create {
            id,
            kind,
            deal,
            number,
            input: document.clone(),
            responsible,
        };
        // The content is checked before the process is asked, so that a
        // bad line writes nothing either.
        merge(
            errors,
            Document::decide(&None, &create("-".into()), &context).map(|_| ()),
        )?;
        let definition = self
            .deals
            .load(deal)
            .await?
            .ok_or(AppError::NotFound)?
            .definition;
        let on_deal = self
            .deals
            .execute(
                deal,
                DealCommand::RecordDocument(DocumentFact {
                    id,
                    kind,
                    status: voronka_process::DocumentStatus::Draft,
                }),
                &caller.process_actor(),
                Some(document_creation_command_ids(id).0),
            )
            .await
            .map_err(|error| self.rejection(error, Some(&definition)))?;
        let _one_at_a_time = numbering().lock().await;
        let number = self
            .indexes(None)
            .await?
            .work
            .next_document_number(kind, self.clock.now().year());
        let (_, outcome) = records::execute::<Document>(
            &self.store,
            *id.as_uuid(),
            &create(number),
            &context,
            &caller.actor(),
            None,
            Some(document_creation_command_ids(id).1),
        )
        .await?;
        // The next number is read only once this one is in the index.
        drop(self.indexes(Some(outcome.position)).await?);
        Ok(written(*id.as_uuid(), outcome, Some(on_deal.position)))
    }

    /// Changes a document's status (`sent` is `issued` for an invoice).
    pub async fn change_document_status(
        &self,
        caller: &Caller,
        id: DocumentId,
        change: DocumentStatusChange,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let to = DocumentStatus::parse(change.to.trim()).ok_or_else(|| {
            AppError::invalid(
                "to",
                "unknown_status",
                "`to` must be one of: sent, signed, issued, cancelled",
            )
        })?;
        self.change_document(
            caller,
            id,
            &DocumentCommand::ChangeStatus { to },
            change.expected_version,
            command_id,
        )
        .await
    }

    /// Replaces a draft document's lines.
    pub async fn replace_document_lines(
        &self,
        caller: &Caller,
        id: DocumentId,
        lines: DocumentLines,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let errors = self.product_errors(&lines.lines).await?;
        if !errors.is_empty() {
            let loaded = records::load::<Document>(&self.store, *id.as_uuid()).await?;
            let record = loaded.state.ok_or(AppError::NotFound)?;
            caller.authorize(
                RecordKind::SalesRecord,
                Action::EditSalesRecord,
                record.responsible,
            )?;
            return Err(AppError::Invalid(errors));
        }
        self.change_document(
            caller,
            id,
            &DocumentCommand::ReplaceLines { lines: lines.lines },
            lines.expected_version,
            command_id,
        )
        .await
    }

    /// Registers a payment of an issued invoice; reaching the total makes
    /// it paid. `default_payment_id` is used when the payment names none.
    pub async fn register_payment(
        &self,
        caller: &Caller,
        id: DocumentId,
        payment: NewPayment,
        default_payment_id: uuid::Uuid,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let command = DocumentCommand::RegisterPayment {
            payment_id: payment.payment_id.unwrap_or(default_payment_id),
            amount: payment.amount,
            paid_on: payment.paid_on,
            reference: payment.reference,
        };
        self.change_document(caller, id, &command, None, command_id)
            .await
    }

    /// Loads the document, authorizes `EditSalesRecord` over its
    /// responsible (invisible: 404), runs the command and mirrors the
    /// document's status onto its deal.
    async fn change_document(
        &self,
        caller: &Caller,
        id: DocumentId,
        command: &DocumentCommand,
        expected_version: Option<u64>,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let loaded = records::load::<Document>(&self.store, *id.as_uuid()).await?;
        let before = loaded.state.ok_or(AppError::NotFound)?;
        caller.authorize(
            RecordKind::SalesRecord,
            Action::EditSalesRecord,
            before.responsible,
        )?;
        let (state, outcome) = records::execute::<Document>(
            &self.store,
            *id.as_uuid(),
            command,
            &self.context(caller),
            &caller.actor(),
            expected_version.map(StreamVersion),
            command_id,
        )
        .await?;
        let record = state.ok_or_else(|| AppError::Internal(format!("document {id} vanished")))?;
        let mirrored = self
            .mirror_document(caller, &record, outcome.version)
            .await?;
        Ok(written(*id.as_uuid(), outcome, Some(mirrored)))
    }

    /// Records the document's status as the process sees it on its deal.
    async fn mirror_document(
        &self,
        caller: &Caller,
        record: &DocumentRecord,
        version: StreamVersion,
    ) -> Result<Position, AppError> {
        let definition = self
            .deals
            .load(record.deal)
            .await?
            .ok_or(AppError::NotFound)?
            .definition;
        let command_id = derived_command_id(
            "document-on-deal",
            &[record.id.as_uuid().as_bytes(), &version.0.to_be_bytes()],
        );
        let outcome = self
            .deals
            .execute(
                record.deal,
                DealCommand::RecordDocument(DocumentFact {
                    id: record.id,
                    kind: record.kind,
                    status: record.status.to_process(),
                }),
                &caller.process_actor(),
                Some(command_id),
            )
            .await
            .map_err(|error| self.rejection(error, Some(&definition)))?;
        // What the process does on this change (a callback task...).
        Box::pin(self.run_outcome_effects(caller, record.deal, &outcome)).await?;
        Ok(outcome.position)
    }

    /// Lines naming a product the catalog lacks, each named.
    async fn product_errors(
        &self,
        lines: &[DocumentLineInput],
    ) -> Result<Vec<FieldError>, AppError> {
        let indexes = self.indexes(None).await?;
        Ok(lines
            .iter()
            .enumerate()
            .filter(|(_, line)| {
                line.product
                    .is_some_and(|product| indexes.work.product(product).is_none())
            })
            .map(|(index, _)| {
                FieldError::new(
                    format!("lines[{index}].product"),
                    "product_unknown",
                    "no such product",
                )
            })
            .collect())
    }

    /// One document, or 404 when absent or not visible to the caller.
    pub async fn document(
        &self,
        caller: &Caller,
        id: DocumentId,
        min_position: Option<Position>,
    ) -> Result<DocumentRow, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.work.document(id).ok_or(AppError::NotFound)?;
        if !caller.sees(RecordKind::SalesRecord, row.record.responsible) {
            return Err(AppError::NotFound);
        }
        Ok(row.clone())
    }

    /// A page of the documents the caller sees, newest first.
    pub async fn documents(
        &self,
        caller: &Caller,
        query: &DocumentQuery,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<DocumentRow>, AppError> {
        let mut errors = Vec::new();
        let kind = non_empty(&query.kind)
            .and_then(|text| parse_kind("kind", text).map_err(|e| errors.push(e)).ok());
        let status = non_empty(&query.status).and_then(|text| {
            let status = DocumentStatus::parse(text);
            if status.is_none() {
                errors.push(FieldError::new(
                    "status",
                    "unknown_status",
                    "`status` must be one of: draft, sent, signed, issued, paid, cancelled",
                ));
            }
            status
        });
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let filter = DocumentFilter {
            deal: query.deal,
            kind,
            status,
        };
        let reach = caller.reach(Action::SeeSalesRecord);
        let indexes = self.indexes(min_position).await?;
        Ok(indexes
            .work
            .documents(&filter, &|user| reach.includes(user), after, limit))
    }

    /// A page of a deal's documents (404 when the deal is not visible).
    pub async fn deal_documents(
        &self,
        caller: &Caller,
        deal: DealId,
        query: &DocumentQuery,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<DocumentRow>, AppError> {
        self.visible_deal(caller, deal, min_position).await?;
        let query = DocumentQuery {
            deal: Some(deal),
            ..query.clone()
        };
        self.documents(caller, &query, after, limit, min_position)
            .await
    }

    async fn visible_deal(
        &self,
        caller: &Caller,
        deal: DealId,
        min_position: Option<Position>,
    ) -> Result<(), AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.deals.deal(deal).ok_or(AppError::NotFound)?;
        let reach = caller.reach(Action::SeeSalesRecord);
        if reach.includes_owner(row.responsible) {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}

// ---------------------------------------------------------------- products

impl Crm {
    /// Adds a product to the catalog (`ManageCatalog`); its SKU, if any,
    /// must be free.
    pub async fn create_product(
        &self,
        caller: &Caller,
        id: ProductId,
        input: ProductInput,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        caller.may_at_all(Action::ManageCatalog)?;
        let _one_at_a_time = catalog().lock().await;
        if let Some(sku) = non_empty(&input.sku) {
            self.check_sku_free(id, sku).await?;
        }
        let (_, outcome) = records::execute::<Product>(
            &self.store,
            *id.as_uuid(),
            &ProductCommand::Create { id, input },
            &self.context(caller),
            &caller.actor(),
            None,
            command_id,
        )
        .await?;
        drop(self.indexes(Some(outcome.position)).await?);
        Ok(written(*id.as_uuid(), outcome, None))
    }

    /// Changes a product (`ManageCatalog`): absent fields stay, `null`
    /// clears.
    pub async fn update_product(
        &self,
        caller: &Caller,
        id: ProductId,
        patch: ProductPatch,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        self.product_command(caller, id, ProductCommand::Update { patch }, command_id)
            .await
    }

    /// Takes a product out of the catalog's pickers (`ManageCatalog`);
    /// documents keep pointing at it.
    pub async fn archive_product(
        &self,
        caller: &Caller,
        id: ProductId,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        self.product_command(caller, id, ProductCommand::Archive, command_id)
            .await
    }

    /// Brings an archived product back (`ManageCatalog`).
    pub async fn restore_product(
        &self,
        caller: &Caller,
        id: ProductId,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        self.product_command(caller, id, ProductCommand::Restore, command_id)
            .await
    }

    async fn product_command(
        &self,
        caller: &Caller,
        id: ProductId,
        command: ProductCommand,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        // Everyone sees the catalog: a missing product is 404 first.
        if records::load::<Product>(&self.store, *id.as_uuid())
            .await?
            .state
            .is_none()
        {
            return Err(AppError::NotFound);
        }
        caller.may_at_all(Action::ManageCatalog)?;
        let _one_at_a_time = catalog().lock().await;
        if let ProductCommand::Update {
            patch:
                ProductPatch {
                    sku: Patch::Set(sku),
                    ..
                },
        } = &command
        {
            if !sku.trim().is_empty() {
                self.check_sku_free(id, sku.trim()).await?;
            }
        }
        let (_, outcome) = records::execute::<Product>(
            &self.store,
            *id.as_uuid(),
            &command,
            &self.context(caller),
            &caller.actor(),
            None,
            command_id,
        )
        .await?;
        drop(self.indexes(Some(outcome.position)).await?);
        Ok(written(*id.as_uuid(), outcome, None))
    }

    async fn check_sku_free(&self, id: ProductId, sku: &str) -> Result<(), AppError> {
        match self.indexes(None).await?.work.product_by_sku(sku) {
            Some(other) if other != id => Err(AppError::invalid(
                "sku",
                "sku_taken",
                "another product has this SKU",
            )),
            _ => Ok(()),
        }
    }

    /// One product (every user reads the catalog).
    pub async fn product(
        &self,
        _caller: &Caller,
        id: ProductId,
        min_position: Option<Position>,
    ) -> Result<ProductRow, AppError> {
        let indexes = self.indexes(min_position).await?;
        indexes.work.product(id).cloned().ok_or(AppError::NotFound)
    }

    /// A page of the catalog, newest first.
    pub async fn products(
        &self,
        _caller: &Caller,
        filter: &ProductFilter,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<ProductRow>, AppError> {
        let indexes = self.indexes(min_position).await?;
        Ok(indexes.work.products(filter, after, limit))
    }
}

// --------------------------------------------------------------- timelines

impl Crm {
    /// Everything that happened to an activity, newest first.
    pub async fn activity_timeline(
        &self,
        caller: &Caller,
        id: ActivityId,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<TimelineEntry>, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.work.activity(id).ok_or(AppError::NotFound)?;
        if !caller.sees(RecordKind::SalesRecord, row.record.responsible) {
            return Err(AppError::NotFound);
        }
        Ok(indexes
            .timelines
            .page(EntityRef::Activity(id), after, limit))
    }

    /// Everything that happened to a document, newest first.
    pub async fn document_timeline(
        &self,
        caller: &Caller,
        id: DocumentId,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<TimelineEntry>, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.work.document(id).ok_or(AppError::NotFound)?;
        if !caller.sees(RecordKind::SalesRecord, row.record.responsible) {
            return Err(AppError::NotFound);
        }
        Ok(indexes
            .timelines
            .page(EntityRef::Document(id), after, limit))
    }

    /// A deal's history with its activities and documents, newest first.
    pub async fn deal_timeline(
        &self,
        caller: &Caller,
        id: DealId,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<TimelineEntry>, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.deals.deal(id).ok_or(AppError::NotFound)?;
        if !caller
            .reach(Action::SeeSalesRecord)
            .includes_owner(row.responsible)
        {
            return Err(AppError::NotFound);
        }
        Ok(indexes.timelines.page(EntityRef::Deal(id), after, limit))
    }

    /// A product's history (every user reads the catalog).
    pub async fn product_timeline(
        &self,
        _caller: &Caller,
        id: ProductId,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<TimelineEntry>, AppError> {
        let indexes = self.indexes(min_position).await?;
        if indexes.work.product(id).is_none() {
            return Err(AppError::NotFound);
        }
        Ok(indexes.timelines.page(EntityRef::Product(id), after, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_command_ids_are_stable_and_differ_by_every_part() {
        let a = derived_command_id("x", &[b"1", b"2"]);
        assert_eq!(a, derived_command_id("x", &[b"1", b"2"]));
        assert_ne!(a, derived_command_id("y", &[b"1", b"2"]));
        assert_ne!(a, derived_command_id("x", &[b"1", b"3"]));
        // The separator keeps `12` apart from `1`, `2`.
        assert_ne!(a, derived_command_id("x", &[b"12"]));
    }

    #[test]
    fn an_activity_query_names_every_bad_value_and_overdue_reads_the_clock() {
        let query = ActivityQuery {
            kind: Some("fax".into()),
            status: Some("open".into()),
            due_before: Some("tomorrow".into()),
            due_after: Some("2026-03-01T10:00:00+03:00".into()),
            ..ActivityQuery::default()
        };
        let now = Utc::now();
        match activity_filter(&query, now) {
            Err(AppError::Invalid(errors)) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["kind", "status", "due_before"]);
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
        let filter = activity_filter(
            &ActivityQuery {
                overdue: true,
                status: Some(" planned ".into()),
                due_after: Some("2026-03-01T10:00:00+03:00".into()),
                ..ActivityQuery::default()
            },
            now,
        )
        .expect("a valid query");
        assert_eq!(filter.overdue_at, Some(now));
        assert_eq!(filter.status, Some(ActivityStatus::Planned));
        assert_eq!(
            filter.due_after.map(|t| t.to_rfc3339()),
            Some("2026-03-01T07:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn link_and_domain_errors_are_reported_together_once_per_field() {
        let links = vec![FieldError::new("deal", "deal_unknown", "no such deal")];
        let domain = Err(CrmError::Invalid(vec![
            FieldError::new("deal", "invalid_id", "x"),
            FieldError::required("subject"),
        ]));
        match merge(links, domain) {
            Err(AppError::Invalid(errors)) => {
                let fields: Vec<(&str, &str)> =
                    errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
                assert_eq!(fields, [("deal", "deal_unknown"), ("subject", "required")]);
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
        assert!(merge(Vec::new(), Ok(())).is_ok());
    }
}
