//! Calls reported by a phone system, and its settings.
//!
//! A call is a stream `phone_call-<id>` whose id is derived from the phone
//! system's `call_id`, holding the call's `started`, `answered` and `ended`
//! reports, each at most once: the same report delivered twice decides
//! nothing. The call's activity (an activity of kind call) is kept by the
//! application from this state, with ids derived from the call, so a replay
//! converges on the same records.
//!
//! Out of order: `ended` is final. A call counts as answered when `answered`
//! came before it or the ended report carries talk time; an incoming call
//! that ended unanswered is missed. An `answered` after `ended` is recorded
//! and changes nothing else.
//!
//! The settings (`telephony-<nil>`) hold the HMAC secret the phone system
//! signs with, and the extension -> user mapping.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use voronka_core::Timestamp;

use crate::activity::Direction;
use crate::{ActivityId, Aggregate, ContactId, Context, CrmError, DealId, UserId};

voronka_core::uuid_id!(
    /// Identifies a call (its stream is `phone_call-<id>`), derived from
    /// the phone system's call id.
    PhoneCallId
);

/// The longest `call_id` accepted.
pub const MAX_CALL_ID_CHARS: usize = 200;

/// What the phone system reports about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallReport {
    Started,
    Answered,
    Ended,
}

/// Who and what a call is about; fixed by its first report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallData {
    pub call_id: String,
    pub direction: Direction,
    /// The other party's number, E.164.
    pub number: String,
    pub responsible: UserId,
    pub contact: Option<ContactId>,
    pub deal: Option<DealId>,
    pub activity: ActivityId,
}

/// A call as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub data: CallData,
    pub started_at: Option<Timestamp>,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub duration_seconds: Option<u32>,
    /// Decided by the ended report.
    pub answered: bool,
    /// Whether the activity was planned before the call ended (else it is
    /// logged as done when it ends).
    pub planned_before_end: bool,
}

impl CallRecord {
    pub fn missed(&self) -> bool {
        self.ended_at.is_some() && !self.answered && self.data.direction == Direction::Incoming
    }
}

/// One report of the phone system.
#[derive(Debug, Clone)]
pub struct RecordCallReport {
    pub report: CallReport,
    pub at: Timestamp,
    pub duration_seconds: Option<u32>,
    /// Used only by the call's first report.
    pub data: CallData,
}

/// Everything that happens to a call. The serde tag is the stored type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PhoneCallEvent {
    CallStarted {
        #[serde(flatten)]
        data: CallData,
        at: Timestamp,
    },
    CallAnswered {
        #[serde(flatten)]
        data: CallData,
        at: Timestamp,
    },
    CallEnded {
        #[serde(flatten)]
        data: CallData,
        at: Timestamp,
        duration_seconds: Option<u32>,
        answered: bool,
        planned_before_end: bool,
    },
}

/// The call aggregate. Its state is `None` until its first report.
pub struct PhoneCall;

impl Aggregate for PhoneCall {
    const CATEGORY: &'static str = "phone_call";
    type State = Option<CallRecord>;
    type Event = PhoneCallEvent;
    type Command = RecordCallReport;

    fn event_type(event: &PhoneCallEvent) -> &'static str {
        match event {
            PhoneCallEvent::CallStarted { .. } => "call_started",
            PhoneCallEvent::CallAnswered { .. } => "call_answered",
            PhoneCallEvent::CallEnded { .. } => "call_ended",
        }
    }

    fn apply(state: &mut Option<CallRecord>, event: &PhoneCallEvent) {
        let data = match event {
            PhoneCallEvent::CallStarted { data, .. }
            | PhoneCallEvent::CallAnswered { data, .. }
            | PhoneCallEvent::CallEnded { data, .. } => data,
        };
        let record = state.get_or_insert_with(|| CallRecord {
            data: data.clone(),
            started_at: None,
            answered_at: None,
            ended_at: None,
            duration_seconds: None,
            answered: false,
            planned_before_end: false,
        });
        match event {
            PhoneCallEvent::CallStarted { at, .. } => record.started_at = Some(*at),
            PhoneCallEvent::CallAnswered { at, .. } => {
                record.answered_at = Some(*at);
                if record.ended_at.is_none() {
                    record.answered = true;
                }
            }
            PhoneCallEvent::CallEnded {
                at,
                duration_seconds,
                answered,
                planned_before_end,
                ..
            } => {
                record.ended_at = Some(*at);
                record.duration_seconds = *duration_seconds;
                record.answered = *answered;
                record.planned_before_end = *planned_before_end;
            }
        }
    }

    fn decide(
        state: &Option<CallRecord>,
        command: &RecordCallReport,
        _context: &Context<'_>,
    ) -> Result<Vec<PhoneCallEvent>, CrmError> {
        let data = state
            .as_ref()
            .map_or_else(|| command.data.clone(), |r| r.data.clone());
        let at = command.at;
        let seen = |report: CallReport| {
            state.as_ref().is_some_and(|r| match report {
                CallReport::Started => r.started_at.is_some(),
                CallReport::Answered => r.answered_at.is_some(),
                CallReport::Ended => r.ended_at.is_some(),
            })
        };
        if seen(command.report) {
            return Ok(Vec::new());
        }
        Ok(vec![match command.report {
            CallReport::Started => PhoneCallEvent::CallStarted { data, at },
            CallReport::Answered => PhoneCallEvent::CallAnswered { data, at },
            CallReport::Ended => {
                let answered = state.as_ref().is_some_and(|r| r.answered_at.is_some())
                    || command.duration_seconds.is_some_and(|d| d > 0);
                PhoneCallEvent::CallEnded {
                    data,
                    at,
                    duration_seconds: command.duration_seconds,
                    answered,
                    planned_before_end: state.is_some(),
                }
            }
        }])
    }
}

/// The HMAC key the phone system signs with, hex. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TelephonySecret(pub String);

impl std::fmt::Debug for TelephonySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelephonySecret([redacted])")
    }
}

/// The telephony settings as they stand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TelephonySettings {
    pub secret: Option<TelephonySecret>,
    /// Extension (as the phone system names it) -> user.
    pub extensions: BTreeMap<String, UserId>,
    /// Who gets calls from unknown numbers with no user named.
    pub default_responsible: Option<UserId>,
}

/// Sets the settings up (again): a new secret replaces the old one.
#[derive(Debug, Clone)]
pub struct ConfigureTelephony {
    pub secret: TelephonySecret,
    pub extensions: BTreeMap<String, UserId>,
    pub default_responsible: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TelephonyEvent {
    TelephonyConfigured {
        secret: TelephonySecret,
        extensions: BTreeMap<String, UserId>,
        default_responsible: Option<UserId>,
        by: UserId,
        at: Timestamp,
    },
}

/// The settings aggregate: one stream for the whole installation.
pub struct Telephony;

impl Aggregate for Telephony {
    const CATEGORY: &'static str = "telephony";
    type State = TelephonySettings;
    type Event = TelephonyEvent;
    type Command = ConfigureTelephony;

    fn event_type(_: &TelephonyEvent) -> &'static str {
        "telephony_configured"
    }

    fn apply(state: &mut TelephonySettings, event: &TelephonyEvent) {
        let TelephonyEvent::TelephonyConfigured {
            secret,
            extensions,
            default_responsible,
            ..
        } = event;
        state.secret = Some(secret.clone());
        state.extensions = extensions.clone();
        state.default_responsible = *default_responsible;
    }

    fn decide(
        _state: &TelephonySettings,
        command: &ConfigureTelephony,
        context: &Context<'_>,
    ) -> Result<Vec<TelephonyEvent>, CrmError> {
        for extension in command.extensions.keys() {
            if extension.is_empty()
                || extension.chars().count() > 32
                || extension.chars().any(char::is_control)
            {
                return Err(CrmError::invalid(crate::FieldError::new(
                    format!("extensions.{extension}"),
                    "invalid_extension",
                    "an extension has 1 to 32 characters",
                )));
            }
        }
        Ok(vec![TelephonyEvent::TelephonyConfigured {
            secret: command.secret.clone(),
            extensions: command.extensions.clone(),
            default_responsible: command.default_responsible,
            by: context.actor,
            at: context.now,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dictionaries;

    fn data() -> CallData {
        CallData {
            call_id: "c-1".into(),
            direction: Direction::Incoming,
            number: "+74951234567".into(),
            responsible: UserId::from_uuid(uuid::Uuid::from_u128(1)),
            contact: None,
            deal: None,
            activity: ActivityId::from_uuid(uuid::Uuid::from_u128(2)),
        }
    }

    fn report(report: CallReport, duration: Option<u32>) -> RecordCallReport {
        RecordCallReport {
            report,
            at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            duration_seconds: duration,
            data: data(),
        }
    }

    fn run(reports: &[RecordCallReport]) -> (Option<CallRecord>, usize) {
        let dictionaries = Dictionaries::standard();
        let context = Context {
            now: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            actor: UserId::from_uuid(uuid::Uuid::from_u128(9)),
            dictionaries: &dictionaries,
        };
        let mut state = None;
        let mut count = 0;
        for command in reports {
            for event in PhoneCall::decide(&state, command, &context).unwrap() {
                let json = serde_json::to_value(&event).unwrap();
                let back: PhoneCallEvent = serde_json::from_value(json).unwrap();
                assert_eq!(back, event);
                PhoneCall::apply(&mut state, &event);
                count += 1;
            }
        }
        (state, count)
    }

    #[test]
    fn it_should_record_each_report_once() {
        let (state, count) = run(&[
            report(CallReport::Started, None),
            report(CallReport::Started, None),
            report(CallReport::Answered, None),
            report(CallReport::Ended, Some(65)),
            report(CallReport::Ended, Some(65)),
        ]);
        assert_eq!(count, 3);
        let state = state.unwrap();
        assert!(state.answered && !state.missed() && state.planned_before_end);
        assert_eq!(state.duration_seconds, Some(65));
    }

    #[test]
    fn it_should_call_an_incoming_call_ended_unanswered_missed() {
        let (state, _) = run(&[
            report(CallReport::Started, None),
            report(CallReport::Ended, None),
        ]);
        assert!(state.unwrap().missed());
    }

    #[test]
    fn it_should_keep_ended_final_when_answered_comes_late() {
        let (state, count) = run(&[
            report(CallReport::Ended, Some(30)),
            report(CallReport::Answered, None),
        ]);
        let state = state.unwrap();
        assert_eq!(count, 2);
        assert!(state.answered && !state.missed() && !state.planned_before_end);
        let (state, _) = run(&[
            report(CallReport::Ended, Some(0)),
            report(CallReport::Answered, None),
        ]);
        // Missed when it ended; the late report is kept but decides nothing.
        let state = state.unwrap();
        assert!(state.answered_at.is_some() && state.missed());
    }
}
