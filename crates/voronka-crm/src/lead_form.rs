//! Website lead forms, set up by an administrator. Each form is a stream
//! `lead_form-<id>`: created, paused, resumed, deleted, and one
//! `form_submission_accepted` per lead it let in.
//!
//! Why the accepted submissions live on the form's own stream: the round
//! robin must survive restarts and two submissions at once. Each acceptance
//! is appended with the expected version, so two concurrent submissions are
//! serialized by the store, and the next manager is derived from the last
//! one recorded here, never from memory.
//!
//! The public token is not a secret (it is pasted into a website's HTML); it
//! only names the form. Spam is held off by the honeypot field and the rate
//! limit, both set here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use voronka_core::Timestamp;

use crate::{Aggregate, ContactId, Context, CrmError, DealId, FieldError, UserId};

voronka_core::uuid_id!(
    /// Identifies a website lead form (its stream is `lead_form-<id>`).
    LeadFormId
);

/// The longest form name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The most website fields one form maps.
pub const MAX_MAPPED_FIELDS: usize = 50;

/// Where a website field's value goes in the lead.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum LeadTarget {
    Name,
    Surname,
    Phone,
    Email,
    Company,
    Comment,
    /// A field of the `lead-qualification` process, by name.
    ProcessField(String),
}

impl From<String> for LeadTarget {
    fn from(text: String) -> Self {
        match text.as_str() {
            "name" => LeadTarget::Name,
            "surname" => LeadTarget::Surname,
            "phone" => LeadTarget::Phone,
            "email" => LeadTarget::Email,
            "company" => LeadTarget::Company,
            "comment" => LeadTarget::Comment,
            _ => LeadTarget::ProcessField(text),
        }
    }
}

impl From<LeadTarget> for String {
    fn from(target: LeadTarget) -> Self {
        match target {
            LeadTarget::Name => "name".into(),
            LeadTarget::Surname => "surname".into(),
            LeadTarget::Phone => "phone".into(),
            LeadTarget::Email => "email".into(),
            LeadTarget::Company => "company".into(),
            LeadTarget::Comment => "comment".into(),
            LeadTarget::ProcessField(name) => name,
        }
    }
}

/// A token bucket per form and client address: `burst` submissions at once,
/// refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub burst: u32,
    pub per_minute: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            burst: 10,
            per_minute: 10,
        }
    }
}

/// The public token in the form's submit URL. Not secret, but unguessable,
/// so forms cannot be enumerated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FormToken(pub String);

/// A new form as an administrator sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadFormInput {
    #[serde(default)]
    pub name: String,
    /// Its leads go to this department's managers, in turn.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub department: Option<uuid::Uuid>,
    /// Website field name -> `name`, `surname`, `phone`, `email`, `company`,
    /// `comment` or a field of the `lead-qualification` process.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, String>,
    /// A field hidden from people; a bot that fills it is ignored.
    #[serde(default)]
    pub honeypot: Option<String>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// A lead the form let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedSubmission {
    pub sequence: u64,
    pub responsible: UserId,
    pub deal: DealId,
    pub contact: ContactId,
    /// The contact was new (created for this lead), not found.
    pub contact_created: bool,
}

/// A form as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadFormRecord {
    pub id: LeadFormId,
    pub name: String,
    pub department: uuid::Uuid,
    pub fields: BTreeMap<String, LeadTarget>,
    pub honeypot: Option<String>,
    pub rate_limit: RateLimit,
    pub token: FormToken,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub active: bool,
    pub deleted: bool,
    /// Leads accepted so far.
    pub accepted: u64,
    /// Who got the last lead: the rotation continues after them.
    pub last_responsible: Option<UserId>,
    /// Accepted submissions by id (a retried submission finds its lead).
    pub submissions: BTreeMap<uuid::Uuid, AcceptedSubmission>,
}

impl LeadFormRecord {
    /// The form without its accepted submissions (which grow with every
    /// lead): what a new submission is checked against, cheap to copy.
    pub fn settings(&self) -> LeadFormRecord {
        LeadFormRecord {
            id: self.id,
            name: self.name.clone(),
            department: self.department,
            fields: self.fields.clone(),
            honeypot: self.honeypot.clone(),
            rate_limit: self.rate_limit,
            token: self.token.clone(),
            created_by: self.created_by,
            created_at: self.created_at,
            active: self.active,
            deleted: self.deleted,
            accepted: self.accepted,
            last_responsible: self.last_responsible,
            submissions: BTreeMap::new(),
        }
    }
}

/// What may be done to a form.
#[derive(Debug, Clone)]
pub enum LeadFormCommand {
    Create {
        id: LeadFormId,
        input: LeadFormInput,
        token: FormToken,
        /// The non-built-in fields of `lead-qualification` a mapping may name.
        process_fields: Vec<String>,
    },
    SetActive(bool),
    Delete,
    /// Lets a lead in: the responsible is the next of `managers` (sorted)
    /// after the last one who got a lead.
    Accept {
        submission: uuid::Uuid,
        managers: Vec<UserId>,
        deal: DealId,
        contact: ContactId,
        contact_created: bool,
    },
}

/// Everything that happens to a form. The serde tag is the stored type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LeadFormEvent {
    LeadFormCreated {
        id: LeadFormId,
        name: String,
        department: uuid::Uuid,
        fields: BTreeMap<String, LeadTarget>,
        honeypot: Option<String>,
        rate_limit: RateLimit,
        token: FormToken,
        created_by: UserId,
        at: Timestamp,
    },
    LeadFormPaused {
        at: Timestamp,
    },
    LeadFormResumed {
        at: Timestamp,
    },
    LeadFormDeleted {
        at: Timestamp,
    },
    FormSubmissionAccepted {
        submission: uuid::Uuid,
        #[serde(flatten)]
        accepted: AcceptedSubmission,
        at: Timestamp,
    },
}

/// The lead form aggregate. Its state is `None` until created.
pub struct LeadForm;

impl Aggregate for LeadForm {
    const CATEGORY: &'static str = "lead_form";
    type State = Option<LeadFormRecord>;
    type Event = LeadFormEvent;
    type Command = LeadFormCommand;

    fn event_type(event: &LeadFormEvent) -> &'static str {
        match event {
            LeadFormEvent::LeadFormCreated { .. } => "lead_form_created",
            LeadFormEvent::LeadFormPaused { .. } => "lead_form_paused",
            LeadFormEvent::LeadFormResumed { .. } => "lead_form_resumed",
            LeadFormEvent::LeadFormDeleted { .. } => "lead_form_deleted",
            LeadFormEvent::FormSubmissionAccepted { .. } => "form_submission_accepted",
        }
    }

    fn apply(state: &mut Option<LeadFormRecord>, event: &LeadFormEvent) {
        match event {
            LeadFormEvent::LeadFormCreated {
                id,
                name,
                department,
                fields,
                honeypot,
                rate_limit,
                token,
                created_by,
                at,
            } => {
                *state = Some(LeadFormRecord {
                    id: *id,
                    name: name.clone(),
                    department: *department,
                    fields: fields.clone(),
                    honeypot: honeypot.clone(),
                    rate_limit: *rate_limit,
                    token: token.clone(),
                    created_by: *created_by,
                    created_at: *at,
                    active: true,
                    deleted: false,
                    accepted: 0,
                    last_responsible: None,
                    submissions: BTreeMap::new(),
                });
            }
            LeadFormEvent::LeadFormPaused { .. } => {
                if let Some(record) = state {
                    record.active = false;
                }
            }
            LeadFormEvent::LeadFormResumed { .. } => {
                if let Some(record) = state {
                    record.active = true;
                }
            }
            LeadFormEvent::LeadFormDeleted { .. } => {
                if let Some(record) = state {
                    record.active = false;
                    record.deleted = true;
                }
            }
            LeadFormEvent::FormSubmissionAccepted {
                submission,
                accepted,
                ..
            } => {
                if let Some(record) = state {
                    record.accepted = record.accepted.max(accepted.sequence);
                    record.last_responsible = Some(accepted.responsible);
                    record.submissions.insert(*submission, *accepted);
                }
            }
        }
    }

    fn decide(
        state: &Option<LeadFormRecord>,
        command: &LeadFormCommand,
        context: &Context<'_>,
    ) -> Result<Vec<LeadFormEvent>, CrmError> {
        let at = context.now;
        if let LeadFormCommand::Create {
            id,
            input,
            token,
            process_fields,
        } = command
        {
            if state.is_some() {
                return Err(CrmError::AlreadyExists);
            }
            let checked = check_input(input, process_fields)?;
            return Ok(vec![LeadFormEvent::LeadFormCreated {
                id: *id,
                name: checked.name,
                department: checked.department,
                fields: checked.fields,
                honeypot: checked.honeypot,
                rate_limit: checked.rate_limit,
                token: token.clone(),
                created_by: context.actor,
                at,
            }]);
        }
        let record = state
            .as_ref()
            .filter(|r| !r.deleted)
            .ok_or(CrmError::NotFound)?;
        Ok(match command {
            LeadFormCommand::Create { .. } => Vec::new(),
            LeadFormCommand::SetActive(false) if record.active => {
                vec![LeadFormEvent::LeadFormPaused { at }]
            }
            LeadFormCommand::SetActive(true) if !record.active => {
                vec![LeadFormEvent::LeadFormResumed { at }]
            }
            LeadFormCommand::SetActive(_) => Vec::new(),
            LeadFormCommand::Delete => vec![LeadFormEvent::LeadFormDeleted { at }],
            LeadFormCommand::Accept {
                submission,
                managers,
                deal,
                contact,
                contact_created,
            } => {
                if record.submissions.contains_key(submission) {
                    return Ok(Vec::new());
                }
                if !record.active {
                    return Err(CrmError::NotFound);
                }
                let responsible =
                    next_in_turn(managers, record.last_responsible).ok_or_else(|| {
                        CrmError::not_allowed(
                            "no_managers",
                            "the form's department has no active manager to take the lead",
                        )
                    })?;
                vec![LeadFormEvent::FormSubmissionAccepted {
                    submission: *submission,
                    accepted: AcceptedSubmission {
                        sequence: record.accepted + 1,
                        responsible,
                        deal: *deal,
                        contact: *contact,
                        contact_created: *contact_created,
                    },
                    at,
                }]
            }
        })
    }
}

/// The manager after `last` in id order, wrapping; the first when `last`
/// is none or no longer among them (so a manager who joins or leaves does
/// not reset the rotation of the others).
pub fn next_in_turn(managers: &[UserId], last: Option<UserId>) -> Option<UserId> {
    let mut sorted: Vec<UserId> = managers.to_vec();
    sorted.sort();
    sorted.dedup();
    let first = *sorted.first()?;
    let Some(last) = last else {
        return Some(first);
    };
    Some(sorted.iter().copied().find(|m| *m > last).unwrap_or(first))
}

struct CheckedInput {
    name: String,
    department: uuid::Uuid,
    fields: BTreeMap<String, LeadTarget>,
    honeypot: Option<String>,
    rate_limit: RateLimit,
}

fn website_field_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 100
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']'))
}

/// Every invalid field of a new form at once.
fn check_input(input: &LeadFormInput, process_fields: &[String]) -> Result<CheckedInput, CrmError> {
    let mut errors = Vec::new();
    let name = input.name.trim();
    if name.is_empty() {
        errors.push(FieldError::required("name"));
    } else if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "name_invalid",
            format!("the name has 1 to {MAX_NAME_CHARS} characters and no control characters"),
        ));
    }
    if input.department.is_none() {
        errors.push(FieldError::required("department"));
    }
    let mut fields = BTreeMap::new();
    if input.fields.is_empty() {
        errors.push(FieldError::required("fields"));
    } else if input.fields.len() > MAX_MAPPED_FIELDS {
        errors.push(FieldError::new(
            "fields",
            "too_many_fields",
            format!("a form maps at most {MAX_MAPPED_FIELDS} fields"),
        ));
    }
    for (website, target) in &input.fields {
        let path = format!("fields.{website}");
        if !website_field_name_ok(website) {
            errors.push(FieldError::new(
                path,
                "invalid_field_name",
                "a website field name has 1 to 100 letters, digits, `_`, `-`, `.`, `[` or `]`",
            ));
            continue;
        }
        let target = LeadTarget::from(target.trim().to_owned());
        if let LeadTarget::ProcessField(field) = &target {
            if !process_fields.contains(field) {
                errors.push(FieldError::new(
                    path,
                    "unknown_lead_field",
                    "map to name, surname, phone, email, company, comment or a field of the lead-qualification process",
                ));
                continue;
            }
        }
        fields.insert(website.clone(), target);
    }
    let targets: Vec<&LeadTarget> = fields.values().collect();
    if !targets.contains(&&LeadTarget::Phone) && !targets.contains(&&LeadTarget::Email) {
        errors.push(FieldError::new(
            "fields",
            "no_contact_field",
            "map at least one website field to `phone` or `email`",
        ));
    }
    let honeypot = input
        .honeypot
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned);
    if let Some(honeypot) = &honeypot {
        if !website_field_name_ok(honeypot) {
            errors.push(FieldError::new(
                "honeypot",
                "invalid_field_name",
                "a website field name has 1 to 100 letters, digits, `_`, `-`, `.`, `[` or `]`",
            ));
        } else if fields.contains_key(honeypot) {
            errors.push(FieldError::new(
                "honeypot",
                "honeypot_mapped",
                "the honeypot field must not also be mapped",
            ));
        }
    }
    let rate_limit = input.rate_limit.unwrap_or_default();
    if !(1..=10_000).contains(&rate_limit.burst) {
        errors.push(FieldError::new(
            "rate_limit.burst",
            "out_of_range",
            "`burst` is 1 to 10000",
        ));
    }
    if !(1..=100_000).contains(&rate_limit.per_minute) {
        errors.push(FieldError::new(
            "rate_limit.per_minute",
            "out_of_range",
            "`per_minute` is 1 to 100000",
        ));
    }
    CrmError::check(errors)?;
    Ok(CheckedInput {
        name: name.to_owned(),
        department: input.department.unwrap_or_default(),
        fields,
        honeypot,
        rate_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dictionaries;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn context(dictionaries: &Dictionaries) -> Context<'_> {
        Context {
            now: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            actor: user(9),
            dictionaries,
        }
    }

    fn input() -> LeadFormInput {
        LeadFormInput {
            name: "Contact us".into(),
            department: Some(uuid::Uuid::from_u128(5)),
            fields: BTreeMap::from([
                ("tel".into(), "phone".into()),
                ("your-name".into(), "name".into()),
                ("staff".into(), "employees".into()),
            ]),
            honeypot: Some("website".into()),
            rate_limit: None,
        }
    }

    fn created(dictionaries: &Dictionaries) -> Option<LeadFormRecord> {
        let events = LeadForm::decide(
            &None,
            &LeadFormCommand::Create {
                id: LeadFormId::from_uuid(uuid::Uuid::from_u128(1)),
                input: input(),
                token: FormToken("t".into()),
                process_fields: vec!["employees".into()],
            },
            &context(dictionaries),
        )
        .unwrap();
        let mut state = None;
        for event in &events {
            LeadForm::apply(&mut state, event);
        }
        state
    }

    #[test]
    fn it_should_rotate_after_the_last_manager_and_survive_a_change_of_managers() {
        let managers = [user(3), user(1), user(2)];
        assert_eq!(next_in_turn(&managers, None), Some(user(1)));
        assert_eq!(next_in_turn(&managers, Some(user(1))), Some(user(2)));
        assert_eq!(next_in_turn(&managers, Some(user(3))), Some(user(1)));
        // The last one left: the next after them still.
        assert_eq!(
            next_in_turn(&[user(1), user(3)], Some(user(2))),
            Some(user(3))
        );
        assert_eq!(next_in_turn(&[], None), None);
    }

    #[test]
    fn it_should_accept_a_submission_once_and_count_it() {
        let dictionaries = Dictionaries::standard();
        let mut state = created(&dictionaries);
        let accept = |submission: u128| LeadFormCommand::Accept {
            submission: uuid::Uuid::from_u128(submission),
            managers: vec![user(1), user(2)],
            deal: DealId::from_uuid(uuid::Uuid::from_u128(100 + submission)),
            contact: ContactId::from_uuid(uuid::Uuid::from_u128(200)),
            contact_created: false,
        };
        let mut responsibles = Vec::new();
        for submission in [1, 2, 3] {
            let events =
                LeadForm::decide(&state, &accept(submission), &context(&dictionaries)).unwrap();
            assert_eq!(events.len(), 1);
            LeadForm::apply(&mut state, &events[0]);
            let json = serde_json::to_value(&events[0]).unwrap();
            assert_eq!(json["type"], "form_submission_accepted");
            let back: LeadFormEvent = serde_json::from_value(json).unwrap();
            assert_eq!(back, events[0]);
            responsibles.push(state.as_ref().unwrap().last_responsible.unwrap());
        }
        assert_eq!(responsibles, [user(1), user(2), user(1)]);
        assert_eq!(state.as_ref().unwrap().accepted, 3);
        let again = LeadForm::decide(&state, &accept(2), &context(&dictionaries)).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn it_should_name_every_invalid_field_of_a_new_form() {
        let dictionaries = Dictionaries::standard();
        let mut bad = input();
        bad.name = " ".into();
        bad.department = None;
        bad.fields = BTreeMap::from([
            ("bad name".into(), "phone".into()),
            ("x".into(), "budget".into()),
        ]);
        bad.rate_limit = Some(RateLimit {
            burst: 0,
            per_minute: 5,
        });
        let Err(CrmError::Invalid(errors)) = LeadForm::decide(
            &None,
            &LeadFormCommand::Create {
                id: LeadFormId::from_uuid(uuid::Uuid::from_u128(1)),
                input: bad,
                token: FormToken("t".into()),
                process_fields: vec!["employees".into()],
            },
            &context(&dictionaries),
        ) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "department",
                "fields.bad name",
                "fields.x",
                "fields",
                "rate_limit.burst"
            ]
        );
    }

    #[test]
    fn a_paused_form_accepts_nothing() {
        let dictionaries = Dictionaries::standard();
        let mut state = created(&dictionaries);
        let paused = LeadForm::decide(
            &state,
            &LeadFormCommand::SetActive(false),
            &context(&dictionaries),
        )
        .unwrap();
        LeadForm::apply(&mut state, &paused[0]);
        let refused = LeadForm::decide(
            &state,
            &LeadFormCommand::Accept {
                submission: uuid::Uuid::from_u128(1),
                managers: vec![user(1)],
                deal: DealId::from_uuid(uuid::Uuid::from_u128(2)),
                contact: ContactId::from_uuid(uuid::Uuid::from_u128(3)),
                contact_created: true,
            },
            &context(&dictionaries),
        );
        assert_eq!(refused, Err(CrmError::NotFound));
    }
}
