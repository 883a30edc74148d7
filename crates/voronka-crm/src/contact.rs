//! Contacts: the people a business talks to, usually working at a company.
//!
//! A contact lives on its own stream, `contact-<uuid>`. [`Contact::decide`]
//! holds the rules, [`Contact::apply`] none.
//!
//! Values are stored normalized so duplicates and search meet: phones in
//! E.164 (`8 (912) 345-67-89` and `+7 912 345 67 89` are both
//! `+79123456789`; an extension is kept as `+79123456789;ext=123`), e-mails
//! lower-cased; repeated phones or e-mails of one contact are collapsed. At
//! most [`MAX_PHONES`] phones and [`MAX_EMAILS`] e-mails. A birthday is not in
//! the future (the decision's `now`) and not before 1900.
//!
//! Personal data: [`ContactChanges::touches_personal_data`] tells the
//! application layer that a patch changes a person's name, phones, e-mails or
//! birthday, which only operators and administrators may do.
//!
//! Merging works as for companies: `MergeInto { target }` closes the
//! duplicate (later commands are refused with code `merged`), `Absorb {
//! source }` is recorded on the survivor. Phones and e-mails are not moved
//! over automatically; the index shows the source's history on the
//! survivor's timeline.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use voronka_core::customer::{Country, Email, NamePart, PersonName, PersonNameError, Phone};

use crate::company::{
    apply_change, apply_custom, change, clean_text, collect, custom_for_create, merge_custom,
    Change, Patch, TextKind,
};
use crate::custom_fields::CustomFields;
use crate::{Aggregate, CompanyId, ContactId, Context, CrmError, FieldError, UserId};

/// At most this many phones per contact.
pub const MAX_PHONES: usize = 10;
/// At most this many e-mails per contact.
pub const MAX_EMAILS: usize = 10;
/// The longest position (job title), in characters.
pub const MAX_POSITION_CHARS: usize = 300;
/// The earliest year of birth accepted.
pub const MIN_BIRTH_YEAR: i32 = 1900;

// ---------------------------------------------------------------------------
// Value checks.
// ---------------------------------------------------------------------------

/// One part of a person's name, checked by [`PersonName`] on its own so
/// that every bad part is reported. Blank is `Ok(None)`.
fn name_part(raw: &str, part: NamePart) -> Result<Option<String>, FieldError> {
    let checked = match part {
        NamePart::Surname => {
            PersonName::new(raw, "-", None).map(|name| Some(name.surname().to_owned()))
        }
        NamePart::Name => PersonName::new("-", raw, None).map(|name| Some(name.name().to_owned())),
        NamePart::Patronymic => {
            PersonName::new("-", "-", Some(raw)).map(|name| name.patronymic().map(str::to_owned))
        }
    };
    match checked {
        Ok(value) => Ok(value),
        Err(PersonNameError::Empty { .. }) => Ok(None),
        Err(error) => Err(FieldError::new(
            part.field(),
            error.code(),
            error.to_string(),
        )),
    }
}

/// A required name part: blank is `required`.
fn required_name_part(raw: &str, part: NamePart) -> Result<String, FieldError> {
    name_part(raw, part)?.ok_or_else(|| FieldError::required(part.field()))
}

/// A sent list longer than this is refused whole, without checking each
/// entry (repeats collapse, so somewhat more than the maximum may pass).
const MAX_LIST_INPUT: usize = 100;

fn too_many(field: &str, code: &'static str, max: usize) -> FieldError {
    FieldError::new(field, code, format!("at most {max} {field} per contact"))
}

/// Phones as stored: E.164 (with `;ext=N` when there is an extension),
/// repeats collapsed, blanks skipped. Every bad one is named `phones[i]`.
pub(crate) fn normalize_phones(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if raw.len() > MAX_LIST_INPUT {
        errors.push(too_many("phones", "too_many_phones", MAX_PHONES));
        return Vec::new();
    }
    let mut phones: Vec<String> = Vec::new();
    for (index, text) in raw.iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        match Phone::parse(text, Country::Ru) {
            Ok(phone) => {
                let stored = phone.to_string();
                if !phones.contains(&stored) {
                    phones.push(stored);
                }
            }
            Err(error) => errors.push(FieldError::new(
                format!("phones[{index}]"),
                error.code(),
                error.to_string(),
            )),
        }
    }
    if phones.len() > MAX_PHONES {
        errors.push(too_many("phones", "too_many_phones", MAX_PHONES));
    }
    phones
}

/// E-mails as stored: lower-cased, repeats collapsed, blanks skipped. Every
/// bad one is named `emails[i]`.
pub(crate) fn normalize_emails(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if raw.len() > MAX_LIST_INPUT {
        errors.push(too_many("emails", "too_many_emails", MAX_EMAILS));
        return Vec::new();
    }
    let mut emails: Vec<String> = Vec::new();
    for (index, text) in raw.iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        match Email::parse(text) {
            Ok(email) => {
                let stored = email.as_str().to_owned();
                if !emails.contains(&stored) {
                    emails.push(stored);
                }
            }
            Err(error) => errors.push(FieldError::new(
                format!("emails[{index}]"),
                error.code(),
                error.to_string(),
            )),
        }
    }
    if emails.len() > MAX_EMAILS {
        errors.push(too_many("emails", "too_many_emails", MAX_EMAILS));
    }
    emails
}

/// A birthday `YYYY-MM-DD`, not after `today`, not before 1900.
fn parse_birthday(raw: &str, today: NaiveDate) -> Result<Option<NaiveDate>, FieldError> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date = (text.len() <= 10)
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            FieldError::new(
                "birthday",
                "birthday_invalid",
                "`birthday` is a date written YYYY-MM-DD",
            )
        })?;
    if date > today {
        return Err(FieldError::new(
            "birthday",
            "birthday_in_future",
            "`birthday` cannot be in the future",
        ));
    }
    if date.year() < MIN_BIRTH_YEAR {
        return Err(FieldError::new(
            "birthday",
            "birthday_before_1900",
            format!("`birthday` cannot be before {MIN_BIRTH_YEAR}"),
        ));
    }
    Ok(Some(date))
}

// ---------------------------------------------------------------------------
// The aggregate.
// ---------------------------------------------------------------------------

/// A contact card.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContactRecord {
    #[schema(value_type = String)]
    pub id: ContactId,
    pub surname: String,
    pub name: String,
    pub patronymic: Option<String>,
    /// E.164, e.g. `+79123456789` (`+79123456789;ext=12` with an extension).
    pub phones: Vec<String>,
    /// Lower-cased addresses.
    pub emails: Vec<String>,
    /// The job title.
    pub position: Option<String>,
    #[schema(value_type = Option<String>)]
    pub company: Option<CompanyId>,
    pub birthday: Option<NaiveDate>,
    pub consent_to_mailings: bool,
    #[schema(value_type = String)]
    pub responsible: UserId,
    #[schema(value_type = Object)]
    pub custom: CustomFields,
    /// Set when this card was merged into another one; it is then closed.
    #[schema(value_type = Option<String>)]
    pub merged_into: Option<ContactId>,
    /// Cards merged into this one.
    #[schema(value_type = Vec<String>)]
    pub absorbed: Vec<ContactId>,
}

impl ContactRecord {
    /// "Иванов Пётр Сергеевич", or without the patronymic.
    pub fn full_name(&self) -> String {
        match &self.patronymic {
            Some(patronymic) => format!("{} {} {}", self.surname, self.name, patronymic),
            None => format!("{} {}", self.surname, self.name),
        }
    }

    /// Folds one event (never `ContactCreated`, which makes the record).
    pub(crate) fn apply(&mut self, event: &ContactEvent) {
        match event {
            ContactEvent::ContactCreated { .. } => {}
            ContactEvent::ContactUpdated { changes } => {
                apply_change(&mut self.surname, &changes.surname);
                apply_change(&mut self.name, &changes.name);
                apply_change(&mut self.patronymic, &changes.patronymic);
                apply_change(&mut self.phones, &changes.phones);
                apply_change(&mut self.emails, &changes.emails);
                apply_change(&mut self.position, &changes.position);
                apply_change(&mut self.company, &changes.company);
                apply_change(&mut self.birthday, &changes.birthday);
                apply_change(&mut self.consent_to_mailings, &changes.consent_to_mailings);
                apply_custom(&mut self.custom, &changes.custom);
            }
            ContactEvent::ContactReassigned { to, .. } => self.responsible = *to,
            ContactEvent::ContactMergedInto { target } => self.merged_into = Some(*target),
            ContactEvent::ContactAbsorbed { source } => {
                if !self.absorbed.contains(source) {
                    self.absorbed.push(*source);
                }
            }
        }
    }

    fn values(&self) -> ContactValues {
        ContactValues {
            surname: self.surname.clone(),
            name: self.name.clone(),
            patronymic: self.patronymic.clone(),
            phones: self.phones.clone(),
            emails: self.emails.clone(),
            position: self.position.clone(),
            company: self.company,
            birthday: self.birthday,
            consent_to_mailings: self.consent_to_mailings,
        }
    }
}

/// A contact's state: `None` until created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactState(pub Option<ContactRecord>);

impl ContactState {
    pub fn record(&self) -> Option<&ContactRecord> {
        self.0.as_ref()
    }
}

/// A new contact as a client sends it (raw strings, checked by `decide`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// Required.
    #[serde(default)]
    pub surname: String,
    /// Required.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub patronymic: Option<String>,
    /// Any common spelling; Russian numbers without `+` are understood.
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub position: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub company: Option<CompanyId>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub birthday: Option<String>,
    #[serde(default)]
    pub consent_to_mailings: bool,
    /// The acting user when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub responsible: Option<UserId>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomFields,
}

/// A patch of a contact: absent fields stay, `null` clears (surname and name
/// cannot be cleared; `null` phones or e-mails empty the list). A sent
/// `phones` or `emails` list replaces the stored one. `custom` is merged key
/// by key. The responsible user changes with `Reassign`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactChanges {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub surname: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub patronymic: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub phones: Patch<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub emails: Patch<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub position: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub company: Patch<CompanyId>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub birthday: Patch<String>,
    #[serde(default)]
    pub consent_to_mailings: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom: Option<CustomFields>,
}

impl ContactChanges {
    /// Whether the patch sends any personal data: surname, name, patronymic,
    /// phones, e-mails or birthday (even with the value already stored). The
    /// application layer lets only operators and administrators send it.
    pub fn touches_personal_data(&self) -> bool {
        !(self.surname.is_unchanged()
            && self.name.is_unchanged()
            && self.patronymic.is_unchanged()
            && self.phones.is_unchanged()
            && self.emails.is_unchanged()
            && self.birthday.is_unchanged())
    }

    /// Whether applying the patch to `record` would really change personal
    /// data (values compared after normalization; a value that does not
    /// parse counts as a change). For a form that sends every field back.
    pub fn changes_personal_data_of(&self, record: &ContactRecord) -> bool {
        let mut ignored = Vec::new();
        let text_changes =
            |patch: &Patch<String>, current: Option<&str>, part: NamePart| match patch {
                Patch::Unchanged => false,
                Patch::Clear => current.is_some(),
                Patch::Set(raw) => name_part(raw, part).map_or(true, |v| v.as_deref() != current),
            };
        let birthday_changes = match &self.birthday {
            Patch::Unchanged => false,
            Patch::Clear => record.birthday.is_some(),
            Patch::Set(raw) => {
                let text = raw.trim();
                let parsed = (text.len() <= 10)
                    .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
                    .flatten();
                if text.is_empty() {
                    record.birthday.is_some()
                } else {
                    parsed.is_none() || parsed != record.birthday
                }
            }
        };
        let phones_change = match &self.phones {
            Patch::Unchanged => false,
            Patch::Clear => !record.phones.is_empty(),
            Patch::Set(raw) => {
                let before = ignored.len();
                let phones = normalize_phones(raw, &mut ignored);
                ignored.len() > before || phones != record.phones
            }
        };
        let emails_change = match &self.emails {
            Patch::Unchanged => false,
            Patch::Clear => !record.emails.is_empty(),
            Patch::Set(raw) => {
                let before = ignored.len();
                let emails = normalize_emails(raw, &mut ignored);
                ignored.len() > before || emails != record.emails
            }
        };
        text_changes(&self.surname, Some(&record.surname), NamePart::Surname)
            || text_changes(&self.name, Some(&record.name), NamePart::Name)
            || text_changes(
                &self.patronymic,
                record.patronymic.as_deref(),
                NamePart::Patronymic,
            )
            || birthday_changes
            || phones_change
            || emails_change
    }
}

/// What can be done to a contact.
#[derive(Debug, Clone)]
pub enum ContactCommand {
    /// Creates the card; `default_responsible` (the acting user) is used
    /// when the input names nobody.
    Create {
        id: ContactId,
        input: ContactInput,
        default_responsible: UserId,
    },
    Update {
        changes: ContactChanges,
    },
    Reassign {
        to: UserId,
    },
    /// Closes this card as a duplicate of `target` (the application checks
    /// that `target` exists and sends `Absorb` to it).
    MergeInto {
        target: ContactId,
    },
    /// Records on the surviving card that `source` was merged into it.
    Absorb {
        source: ContactId,
    },
}

/// The fields a `contact_updated` event changed, old and new value each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactFieldChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<Change<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Change<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patronymic: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phones: Option<Change<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Change<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<Change<Option<CompanyId>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<Change<Option<NaiveDate>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_to_mailings: Option<Change<bool>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Change<Option<Value>>>,
}

impl ContactFieldChanges {
    pub fn is_empty(&self) -> bool {
        self == &ContactFieldChanges::default()
    }
}

/// What happens to a contact (stored types `contact_created`...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContactEvent {
    ContactCreated {
        id: ContactId,
        surname: String,
        name: String,
        #[serde(default)]
        patronymic: Option<String>,
        #[serde(default)]
        phones: Vec<String>,
        #[serde(default)]
        emails: Vec<String>,
        #[serde(default)]
        position: Option<String>,
        #[serde(default)]
        company: Option<CompanyId>,
        #[serde(default)]
        birthday: Option<NaiveDate>,
        #[serde(default)]
        consent_to_mailings: bool,
        responsible: UserId,
        #[serde(default)]
        custom: CustomFields,
    },
    ContactUpdated {
        changes: ContactFieldChanges,
    },
    ContactReassigned {
        from: UserId,
        to: UserId,
    },
    ContactMergedInto {
        target: ContactId,
    },
    ContactAbsorbed {
        source: ContactId,
    },
}

/// The aggregate (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Contact;

/// The checked, normalized editable values of a contact (custom aside).
#[derive(Debug, Clone)]
struct ContactValues {
    surname: String,
    name: String,
    patronymic: Option<String>,
    phones: Vec<String>,
    emails: Vec<String>,
    position: Option<String>,
    company: Option<CompanyId>,
    birthday: Option<NaiveDate>,
    consent_to_mailings: bool,
}

fn values_from_input(
    input: &ContactInput,
    today: NaiveDate,
    errors: &mut Vec<FieldError>,
) -> ContactValues {
    let text = |raw: &Option<String>| raw.as_deref().unwrap_or_default().to_owned();
    ContactValues {
        surname: collect(
            required_name_part(&input.surname, NamePart::Surname),
            errors,
            String::new(),
        ),
        name: collect(
            required_name_part(&input.name, NamePart::Name),
            errors,
            String::new(),
        ),
        patronymic: collect(
            name_part(&text(&input.patronymic), NamePart::Patronymic),
            errors,
            None,
        ),
        phones: normalize_phones(&input.phones, errors),
        emails: normalize_emails(&input.emails, errors),
        position: collect(
            clean_text(
                &text(&input.position),
                "position",
                MAX_POSITION_CHARS,
                TextKind::Line,
            ),
            errors,
            None,
        ),
        company: input.company,
        birthday: collect(parse_birthday(&text(&input.birthday), today), errors, None),
        consent_to_mailings: input.consent_to_mailings,
    }
}

/// Applies one optional-field patch with `parse` for a new value.
fn patch_optional<T: Clone>(
    current: &Option<T>,
    patch: &Patch<String>,
    parse: impl FnOnce(&str) -> Result<Option<T>, FieldError>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match patch {
        Patch::Unchanged => current.clone(),
        Patch::Clear => None,
        Patch::Set(raw) => collect(parse(raw), errors, current.clone()),
    }
}

/// Applies a required name part's patch.
fn patch_required(
    current: &str,
    patch: &Patch<String>,
    part: NamePart,
    errors: &mut Vec<FieldError>,
) -> String {
    match patch {
        Patch::Unchanged => current.to_owned(),
        Patch::Clear => {
            errors.push(FieldError::required(part.field()));
            current.to_owned()
        }
        Patch::Set(raw) => collect(required_name_part(raw, part), errors, current.to_owned()),
    }
}

/// Applies a list patch (`null` empties the list).
fn patch_list(
    current: &[String],
    patch: &Patch<Vec<String>>,
    normalize: fn(&[String], &mut Vec<FieldError>) -> Vec<String>,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    match patch {
        Patch::Unchanged => current.to_vec(),
        Patch::Clear => Vec::new(),
        Patch::Set(raw) => normalize(raw, errors),
    }
}

fn values_after_changes(
    record: &ContactRecord,
    changes: &ContactChanges,
    today: NaiveDate,
    errors: &mut Vec<FieldError>,
) -> ContactValues {
    let current = record.values();
    ContactValues {
        surname: patch_required(
            &current.surname,
            &changes.surname,
            NamePart::Surname,
            errors,
        ),
        name: patch_required(&current.name, &changes.name, NamePart::Name, errors),
        patronymic: patch_optional(
            &current.patronymic,
            &changes.patronymic,
            |raw| name_part(raw, NamePart::Patronymic),
            errors,
        ),
        phones: patch_list(&current.phones, &changes.phones, normalize_phones, errors),
        emails: patch_list(&current.emails, &changes.emails, normalize_emails, errors),
        position: patch_optional(
            &current.position,
            &changes.position,
            |raw| clean_text(raw, "position", MAX_POSITION_CHARS, TextKind::Line),
            errors,
        ),
        company: match &changes.company {
            Patch::Unchanged => current.company,
            Patch::Clear => None,
            Patch::Set(company) => Some(*company),
        },
        birthday: patch_optional(
            &current.birthday,
            &changes.birthday,
            |raw| parse_birthday(raw, today),
            errors,
        ),
        consent_to_mailings: changes
            .consent_to_mailings
            .unwrap_or(current.consent_to_mailings),
    }
}

/// The record a command other than `Create` works on: it must exist and not
/// be merged away.
fn open_record(state: &ContactState) -> Result<&ContactRecord, CrmError> {
    let record = state.0.as_ref().ok_or(CrmError::NotFound)?;
    if record.merged_into.is_some() {
        return Err(CrmError::not_allowed(
            "merged",
            "the contact was merged into another one; work on that one",
        ));
    }
    Ok(record)
}

fn merge_into_itself() -> CrmError {
    CrmError::not_allowed(
        "merge_into_itself",
        "a contact cannot be merged into itself",
    )
}

impl Aggregate for Contact {
    const CATEGORY: &'static str = "contact";
    type State = ContactState;
    type Event = ContactEvent;
    type Command = ContactCommand;

    fn event_type(event: &ContactEvent) -> &'static str {
        match event {
            ContactEvent::ContactCreated { .. } => "contact_created",
            ContactEvent::ContactUpdated { .. } => "contact_updated",
            ContactEvent::ContactReassigned { .. } => "contact_reassigned",
            ContactEvent::ContactMergedInto { .. } => "contact_merged_into",
            ContactEvent::ContactAbsorbed { .. } => "contact_absorbed",
        }
    }

    fn apply(state: &mut ContactState, event: &ContactEvent) {
        match event {
            ContactEvent::ContactCreated {
                id,
                surname,
                name,
                patronymic,
                phones,
                emails,
                position,
                company,
                birthday,
                consent_to_mailings,
                responsible,
                custom,
            } => {
                state.0 = Some(ContactRecord {
                    id: *id,
                    surname: surname.clone(),
                    name: name.clone(),
                    patronymic: patronymic.clone(),
                    phones: phones.clone(),
                    emails: emails.clone(),
                    position: position.clone(),
                    company: *company,
                    birthday: *birthday,
                    consent_to_mailings: *consent_to_mailings,
                    responsible: *responsible,
                    custom: custom.clone(),
                    merged_into: None,
                    absorbed: Vec::new(),
                });
            }
            other => {
                if let Some(record) = &mut state.0 {
                    record.apply(other);
                }
            }
        }
    }

    fn decide(
        state: &ContactState,
        command: &ContactCommand,
        context: &Context<'_>,
    ) -> Result<Vec<ContactEvent>, CrmError> {
        let today = context.now.date_naive();
        match command {
            ContactCommand::Create {
                id,
                input,
                default_responsible,
            } => {
                if state.0.is_some() {
                    return Err(CrmError::AlreadyExists);
                }
                let mut errors = Vec::new();
                let values = values_from_input(input, today, &mut errors);
                let custom = custom_for_create(&input.custom, &mut errors);
                CrmError::check(errors)?;
                Ok(vec![ContactEvent::ContactCreated {
                    id: *id,
                    surname: values.surname,
                    name: values.name,
                    patronymic: values.patronymic,
                    phones: values.phones,
                    emails: values.emails,
                    position: values.position,
                    company: values.company,
                    birthday: values.birthday,
                    consent_to_mailings: values.consent_to_mailings,
                    responsible: input.responsible.unwrap_or(*default_responsible),
                    custom,
                }])
            }
            ContactCommand::Update { changes } => {
                let record = open_record(state)?;
                let mut errors = Vec::new();
                let values = values_after_changes(record, changes, today, &mut errors);
                let custom = match &changes.custom {
                    Some(patch) => merge_custom(&record.custom, patch, &mut errors),
                    None => BTreeMap::new(),
                };
                CrmError::check(errors)?;
                let field_changes = ContactFieldChanges {
                    surname: change(&record.surname, values.surname),
                    name: change(&record.name, values.name),
                    patronymic: change(&record.patronymic, values.patronymic),
                    phones: change(&record.phones, values.phones),
                    emails: change(&record.emails, values.emails),
                    position: change(&record.position, values.position),
                    company: change(&record.company, values.company),
                    birthday: change(&record.birthday, values.birthday),
                    consent_to_mailings: change(
                        &record.consent_to_mailings,
                        values.consent_to_mailings,
                    ),
                    custom,
                };
                if field_changes.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![ContactEvent::ContactUpdated {
                    changes: field_changes,
                }])
            }
            ContactCommand::Reassign { to } => {
                let record = open_record(state)?;
                if record.responsible == *to {
                    return Ok(Vec::new());
                }
                Ok(vec![ContactEvent::ContactReassigned {
                    from: record.responsible,
                    to: *to,
                }])
            }
            ContactCommand::MergeInto { target } => {
                let record = open_record(state)?;
                if record.id == *target {
                    return Err(merge_into_itself());
                }
                Ok(vec![ContactEvent::ContactMergedInto { target: *target }])
            }
            ContactCommand::Absorb { source } => {
                let record = open_record(state)?;
                if record.id == *source {
                    return Err(merge_into_itself());
                }
                if record.absorbed.contains(source) {
                    return Ok(Vec::new());
                }
                Ok(vec![ContactEvent::ContactAbsorbed { source: *source }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dictionaries;
    use serde_json::json;
    use voronka_core::time::timestamp_from_micros;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn contact_id(n: u128) -> ContactId {
        ContactId::from_uuid(uuid::Uuid::from_u128(n))
    }

    /// 2023-11-14T22:13:20Z.
    fn decide(
        state: &ContactState,
        command: ContactCommand,
    ) -> Result<Vec<ContactEvent>, CrmError> {
        let dictionaries = Dictionaries::standard();
        let context = Context {
            now: timestamp_from_micros(1_700_000_000_000_000),
            actor: user(1),
            dictionaries: &dictionaries,
        };
        Contact::decide(state, &command, &context)
    }

    fn create(input: serde_json::Value) -> Result<Vec<ContactEvent>, CrmError> {
        decide(
            &ContactState::default(),
            ContactCommand::Create {
                id: contact_id(1),
                input: serde_json::from_value(input).unwrap(),
                default_responsible: user(1),
            },
        )
    }

    fn codes(error: CrmError) -> Vec<(String, &'static str)> {
        match error {
            CrmError::Invalid(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn birthdays_are_checked_against_now_and_1900() {
        let today = NaiveDate::from_ymd_opt(2023, 11, 14).unwrap();
        let check = |raw: &str| parse_birthday(raw, today).map_err(|e| e.code);
        assert_eq!(check("1985-03-08"), Ok(NaiveDate::from_ymd_opt(1985, 3, 8)));
        assert_eq!(check("2023-11-14"), Ok(Some(today)));
        assert_eq!(check(""), Ok(None));
        assert_eq!(check("2023-11-15"), Err("birthday_in_future"));
        assert_eq!(check("1899-12-31"), Err("birthday_before_1900"));
        for bad in [
            "08.03.1985",
            "1985-02-30",
            "yesterday",
            "1985-03-08T00:00",
            "+1985-03-08",
        ] {
            assert_eq!(check(bad), Err("birthday_invalid"), "{bad}");
        }
    }

    #[test]
    fn bad_name_parts_are_all_reported_and_blank_ones_are_required() {
        let long = "я".repeat(101);
        let error =
            create(json!({"surname": " ", "name": long, "patronymic": "a\u{0}b"})).unwrap_err();
        assert_eq!(
            codes(error),
            [
                ("surname".to_string(), "required"),
                ("name".to_string(), "person_name_too_long"),
                ("patronymic".to_string(), "person_name_control_char"),
            ]
        );
    }

    #[test]
    fn too_many_phones_or_emails_are_refused_after_collapsing_repeats() {
        let same: Vec<String> = (0..20).map(|_| "+7 912 345 67 89".to_string()).collect();
        let events = create(json!({"surname": "И", "name": "П", "phones": same})).unwrap();
        let ContactEvent::ContactCreated { phones, .. } = &events[0] else {
            panic!()
        };
        assert_eq!(phones, &["+79123456789"]);
        let many: Vec<String> = (0..11).map(|i| format!("+7 912 345 67 {i:02}")).collect();
        let emails: Vec<String> = (0..11).map(|i| format!("a{i}@example.ru")).collect();
        let error = create(json!({"surname": "И", "name": "П", "phones": many, "emails": emails}))
            .unwrap_err();
        assert_eq!(
            codes(error),
            [
                ("phones".to_string(), "too_many_phones"),
                ("emails".to_string(), "too_many_emails")
            ]
        );
        let flood: Vec<String> = (0..10_000).map(|_| "garbage".to_string()).collect();
        let error = create(json!({"surname": "И", "name": "П", "phones": flood})).unwrap_err();
        assert_eq!(codes(error), [("phones".to_string(), "too_many_phones")]);
    }

    #[test]
    fn personal_data_is_what_names_phones_emails_and_birthday_are() {
        let patch =
            |value: serde_json::Value| serde_json::from_value::<ContactChanges>(value).unwrap();
        assert!(
            !patch(json!({"position": "CEO", "consent_to_mailings": true})).touches_personal_data()
        );
        for field in ["surname", "name", "patronymic", "birthday"] {
            assert!(
                patch(json!({ field: null })).touches_personal_data(),
                "{field}"
            );
        }
        assert!(patch(json!({"phones": []})).touches_personal_data());
        assert!(patch(json!({"emails": ["a@b.ru"]})).touches_personal_data());

        let events =
            create(json!({"surname": "Иванов", "name": "Пётр", "phones": ["89123456789"]}))
                .unwrap();
        let mut state = ContactState::default();
        Contact::apply(&mut state, &events[0]);
        let record = state.record().unwrap();
        let resent = patch(
            json!({"surname": " Иванов ", "name": "Пётр", "phones": ["+7 912 345-67-89"], "birthday": ""}),
        );
        assert!(resent.touches_personal_data());
        assert!(!resent.changes_personal_data_of(record));
        assert!(patch(json!({"phones": ["+7 912 000-00-00"]})).changes_personal_data_of(record));
        assert!(patch(json!({"birthday": "1990-01-01"})).changes_personal_data_of(record));
        assert!(patch(json!({"patronymic": "Сергеевич"})).changes_personal_data_of(record));
        assert!(!patch(json!({"patronymic": null})).changes_personal_data_of(record));
    }
}
