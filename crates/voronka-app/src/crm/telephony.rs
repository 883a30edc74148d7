//! Call events from a phone system. An administrator (`ManageIntegrations`)
//! sets it up: a signing secret (shown once), extensions -> users, and a
//! default responsible. The phone system POSTs each call report signed with
//! HMAC-SHA256 over `"<timestamp>.<body>"`, the scheme of outgoing webhooks.
//!
//! A report: signature and age checked -> the call's stream
//! (`voronka_crm::phone_call`, each report at most once) -> the call's
//! activity, kept in step with the call through the same commands as the
//! API by a system caller `telephony`: planned when the call starts,
//! completed when it ends (`reached` with the duration when answered,
//! `callback` for a missed incoming call, `no_answer` for an unanswered
//! outgoing one), or logged done at once when `ended` is the first report
//! heard. A missed call also plans a callback task for the responsible, due
//! in [`CALLBACK_WITHIN_MINUTES`]. The manager completes it later with an
//! outcome through the activity API, and the lead's process sees it.
//!
//! Every id is derived from the call id, and the activity steps run from the
//! call's state on every report, so a replayed report creates nothing new
//! and a report whose processing was cut short is finished by its replay.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use voronka_core::customer::{Country, Phone};
use voronka_core::{Actor, CommandId, Role, Timestamp};
use voronka_crm::activity::{ActivityInput, Direction};
use voronka_crm::deal_index::DealFilter;
use voronka_crm::phone_call::{
    CallData, CallRecord, CallReport, ConfigureTelephony, PhoneCall, PhoneCallId, RecordCallReport,
    Telephony, TelephonySecret, MAX_CALL_ID_CHARS,
};
use voronka_crm::{ActivityId, ContactId, DealId, FieldError};

use super::forms::derived_id;
use super::work::ActivityCompletion;
use super::{records, AppError, Caller, Crm};
use crate::access::{Action, DepartmentId, User, UserId};

/// A report older (or newer) than this is refused as a replay.
pub const MAX_REPORT_AGE_SECONDS: i64 = 300;
/// When a missed call's callback task is due.
pub const CALLBACK_WITHIN_MINUTES: i64 = 15;

/// What an administrator sets up.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelephonySetup {
    /// Extension -> user id.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub extensions: BTreeMap<String, UserId>,
    /// Who gets calls from unknown numbers when no user is named.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub default_responsible: Option<UserId>,
}

/// The answer to a set-up: the secret, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TelephonyConfigured {
    /// The HMAC-SHA256 key (64 hex digits); never shown again.
    pub secret: String,
    #[schema(value_type = Object)]
    pub extensions: BTreeMap<String, UserId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub default_responsible: Option<UserId>,
}

/// One report of the phone system, as it posts it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallEventInput {
    pub call_id: String,
    pub event: CallReport,
    #[schema(value_type = String)]
    pub direction: Direction,
    pub from: String,
    pub to: String,
    /// RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[serde(default)]
    pub duration_seconds: Option<u32>,
    /// The user who took or made the call.
    #[serde(default)]
    pub user_email: Option<String>,
    /// Or their extension, mapped in the settings.
    #[serde(default)]
    pub extension: Option<String>,
}

/// What a report did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallEventOutcome {
    #[schema(value_type = String, format = Uuid)]
    pub activity: ActivityId,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub contact: Option<ContactId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub deal: Option<DealId>,
    #[schema(value_type = String, format = Uuid)]
    pub responsible: UserId,
    /// The callback task of a missed call.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub callback: Option<ActivityId>,
    pub missed: bool,
    /// Whether this report was new (a replay changes nothing).
    pub recorded: bool,
}

/// Why a report was refused before it was read. HTTP 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("telephony is not set up")]
    NotConfigured,
    #[error("the timestamp is missing, malformed or more than five minutes away")]
    Stale,
    #[error("the signature does not match")]
    BadSignature,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::NotConfigured => "telephony_not_configured",
            SignatureError::Stale => "stale_timestamp",
            SignatureError::BadSignature => "bad_signature",
        }
    }
}

fn telephony_caller(access: std::sync::Arc<crate::directory::AccessSnapshot>) -> Caller {
    let id = derived_id("telephony-user", &[]);
    Caller {
        user: User {
            id: UserId::from_uuid(id),
            email: "telephony@integrations.invalid".into(),
            display_name: "Telephony".into(),
            roles: BTreeSet::from([Role::Director]),
            department: DepartmentId::from_uuid(uuid::Uuid::nil()),
            active: true,
        },
        access,
        acting_as: Some(Actor::system("telephony")),
    }
}

fn settings_id() -> uuid::Uuid {
    uuid::Uuid::nil()
}

impl Crm {
    /// Sets the phone system up; a new secret replaces the old one.
    pub async fn configure_telephony(
        &self,
        caller: &Caller,
        setup: TelephonySetup,
    ) -> Result<TelephonyConfigured, AppError> {
        caller.may_at_all(Action::ManageIntegrations)?;
        let mut errors = Vec::new();
        for (extension, user) in &setup.extensions {
            if caller.active_user("", *user).is_err() {
                errors.push(FieldError::new(
                    format!("extensions.{extension}"),
                    "user_unknown",
                    "an extension maps to an active user",
                ));
            }
        }
        if let Some(user) = setup.default_responsible {
            if let Err(AppError::Invalid(mut found)) =
                caller.active_user("default_responsible", user)
            {
                errors.append(&mut found);
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|error| AppError::Internal(error.to_string()))?;
        let secret = TelephonySecret(voronka_webhooks::signature::hex(&random));
        records::execute::<Telephony>(
            &self.store,
            settings_id(),
            &ConfigureTelephony {
                secret: secret.clone(),
                extensions: setup.extensions.clone(),
                default_responsible: setup.default_responsible,
            },
            &self.context(caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        Ok(TelephonyConfigured {
            secret: secret.0,
            extensions: setup.extensions,
            default_responsible: setup.default_responsible,
        })
    }

    /// Checks a report's signature and age before its body is read.
    pub async fn verify_telephony_signature(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let settings = records::load::<Telephony>(&self.store, settings_id())
            .await
            .map_err(|error| {
                tracing::warn!(%error, "reading the telephony settings failed");
                SignatureError::NotConfigured
            })?;
        let secret = settings.state.secret.ok_or(SignatureError::NotConfigured)?;
        let timestamp: i64 = timestamp
            .and_then(|t| t.trim().parse().ok())
            .ok_or(SignatureError::Stale)?;
        if (self.clock.now().timestamp() - timestamp).abs() > MAX_REPORT_AGE_SECONDS {
            return Err(SignatureError::Stale);
        }
        let signature = signature.ok_or(SignatureError::BadSignature)?;
        if voronka_webhooks::signature::verify(&secret.0, timestamp, body, signature.trim()) {
            Ok(())
        } else {
            Err(SignatureError::BadSignature)
        }
    }

    /// Records one (already verified) report and keeps the call's activity
    /// in step.
    pub async fn record_call_event(
        &self,
        input: CallEventInput,
    ) -> Result<CallEventOutcome, AppError> {
        let call_id = input.call_id.trim().to_owned();
        if call_id.is_empty()
            || call_id.chars().count() > MAX_CALL_ID_CHARS
            || call_id.chars().any(char::is_control)
        {
            return Err(AppError::invalid(
                "call_id",
                "invalid_call_id",
                format!("`call_id` has 1 to {MAX_CALL_ID_CHARS} characters"),
            ));
        }
        let (number_field, raw_number) = match input.direction {
            Direction::Incoming => ("from", &input.from),
            Direction::Outgoing => ("to", &input.to),
        };
        let number = Phone::parse(raw_number, Country::Ru).map_err(|error| {
            AppError::invalid(number_field, error.code(), "the phone number is not valid")
        })?;
        let settings = records::load::<Telephony>(&self.store, settings_id())
            .await?
            .state;
        let access = self.directory.access_snapshot().await?;
        let caller = telephony_caller(access.clone());
        let call = PhoneCallId::from_uuid(derived_id("call", &[call_id.as_bytes()]));
        let existing = records::load::<PhoneCall>(&self.store, *call.as_uuid())
            .await?
            .state;
        let data = match &existing {
            Some(record) => record.data.clone(),
            None => {
                self.first_call_data(&input, &call_id, number.e164(), &settings, &access)
                    .await?
            }
        };
        let report = RecordCallReport {
            report: input.event,
            at: input.at,
            duration_seconds: input.duration_seconds,
            data,
        };
        let (state, outcome) = records::execute::<PhoneCall>(
            &self.store,
            *call.as_uuid(),
            &report,
            &self.context(&caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        let record =
            state.ok_or_else(|| AppError::Internal("a reported call has no state".into()))?;
        let callback = self.keep_call_activity(&caller, &record).await?;
        Ok(CallEventOutcome {
            activity: record.data.activity,
            contact: record.data.contact,
            deal: record.data.deal,
            responsible: record.data.responsible,
            callback,
            missed: record.missed(),
            recorded: outcome.changed,
        })
    }

    /// Who the call is with and who answers for it, fixed by its first
    /// report: the contact found by the number, that contact's one open
    /// deal, and the user named (by e-mail or extension), else the
    /// contact's responsible, else the default.
    async fn first_call_data(
        &self,
        input: &CallEventInput,
        call_id: &str,
        number: &str,
        settings: &voronka_crm::phone_call::TelephonySettings,
        access: &crate::directory::AccessSnapshot,
    ) -> Result<CallData, AppError> {
        let named = match (&input.user_email, &input.extension) {
            (Some(email), _) => {
                let wanted = email.trim().to_lowercase();
                let user = access
                    .users
                    .values()
                    .find(|u| u.active && u.email.to_lowercase() == wanted)
                    .ok_or_else(|| {
                        AppError::invalid(
                            "user_email",
                            "user_unknown",
                            "no active user has this e-mail",
                        )
                    })?;
                Some(user.id)
            }
            (None, Some(extension)) => Some(
                settings
                    .extensions
                    .get(extension.trim())
                    .copied()
                    .ok_or_else(|| {
                        AppError::invalid(
                            "extension",
                            "extension_unknown",
                            "the extension is not mapped to a user",
                        )
                    })?,
            ),
            (None, None) => None,
        };
        let (contact, contact_responsible, deal) = {
            let indexes = self.indexes(None).await?;
            let contact = indexes
                .customers
                .contact_duplicates(&[number.to_owned()], &[])
                .into_iter()
                .next();
            let contact_responsible = contact
                .and_then(|c| indexes.customers.contact(c))
                .map(|row| row.record.responsible);
            let deal = match contact {
                Some(contact) => {
                    let page = indexes.deals.deals(
                        &DealFilter {
                            contact: Some(contact),
                            ..DealFilter::default()
                        },
                        &|_| true,
                        None,
                        voronka_crm::MAX_PAGE_SIZE,
                    );
                    let open: Vec<DealId> = page
                        .items
                        .iter()
                        .filter(|row| {
                            self.deals
                                .registry()
                                .version(&row.process, row.process_version)
                                .and_then(|d| d.stage_id(&row.stage).map(|s| !d.stage(s).terminal))
                                .unwrap_or(false)
                        })
                        .map(|row| row.id)
                        .collect();
                    (open.len() == 1).then(|| open[0])
                }
                None => None,
            };
            (contact, contact_responsible, deal)
        };
        let responsible = named
            .or(contact_responsible.filter(|u| access.users.get(u).is_some_and(|u| u.active)))
            .or(settings.default_responsible)
            .ok_or_else(|| {
                AppError::invalid(
                    "user_email",
                    "no_responsible",
                    "name the user (user_email or extension): the number is unknown and no default responsible is set",
                )
            })?;
        Ok(CallData {
            call_id: call_id.to_owned(),
            direction: input.direction,
            number: number.to_owned(),
            responsible,
            contact,
            deal,
            activity: ActivityId::from_uuid(derived_id("call-activity", &[call_id.as_bytes()])),
        })
    }

    /// Brings the call's activity (and a missed call's callback task) to
    /// what the call's state says, idempotently. Returns the callback id.
    async fn keep_call_activity(
        &self,
        caller: &Caller,
        record: &CallRecord,
    ) -> Result<Option<ActivityId>, AppError> {
        let data = &record.data;
        let call_key = data.call_id.as_bytes();
        let command = |step: &str| CommandId::from_uuid(derived_id(step, &[call_key]));
        let subject = match data.direction {
            Direction::Incoming => format!("Входящий звонок {}", data.number),
            Direction::Outgoing => format!("Исходящий звонок {}", data.number),
        };
        let first_at = [record.started_at, record.answered_at, record.ended_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| self.clock.now());
        let input = |subject: String, direction: Direction, due: Timestamp| ActivityInput {
            kind: "call".into(),
            direction: Some(direction.as_str().into()),
            channel: None,
            subject: Some(subject),
            planned_start: None,
            due_at: Some(due.to_rfc3339()),
            responsible: Some(data.responsible.to_string()),
            deal: data.deal.map(|d| d.to_string()),
            contact: data.contact.map(|c| c.to_string()),
            company: None,
        };
        let outcome = if record.answered {
            "reached"
        } else if data.direction == Direction::Incoming {
            "callback"
        } else {
            "no_answer"
        };
        let result = record
            .duration_seconds
            .filter(|_| record.answered)
            .map(|seconds| format!("duration {seconds} s"));
        match (record.ended_at, record.planned_before_end) {
            // Ended, first heard as ended: logged done at once.
            (Some(_), false) => {
                self.log_activity(
                    caller,
                    data.activity,
                    input(subject, data.direction, first_at),
                    Some(outcome.into()),
                    result,
                    Some(command("call-log")),
                )
                .await?;
            }
            (ended, _) => {
                self.plan_activity(
                    caller,
                    data.activity,
                    input(subject, data.direction, first_at),
                    Some(command("call-plan")),
                )
                .await?;
                if ended.is_some() {
                    let completed = self
                        .complete_activity(
                            caller,
                            data.activity,
                            ActivityCompletion {
                                outcome: Some(outcome.into()),
                                result,
                                expected_version: None,
                            },
                            Some(command("call-complete")),
                        )
                        .await;
                    match completed {
                        // A manager completed it first: theirs stands.
                        Err(AppError::NotAllowed { code, .. }) => {
                            tracing::info!(call = %data.call_id, code, "the call's activity was already closed");
                        }
                        other => {
                            other?;
                        }
                    }
                }
            }
        }
        if !record.missed() {
            return Ok(None);
        }
        let callback = ActivityId::from_uuid(derived_id("call-callback", &[call_key]));
        let due = record.ended_at.unwrap_or(first_at)
            + chrono::Duration::minutes(CALLBACK_WITHIN_MINUTES);
        self.plan_activity(
            caller,
            callback,
            input(
                format!("Перезвонить: пропущенный звонок {}", data.number),
                Direction::Outgoing,
                due,
            ),
            Some(command("call-callback-plan")),
        )
        .await?;
        Ok(Some(callback))
    }
}
