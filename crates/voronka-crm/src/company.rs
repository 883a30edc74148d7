//! Companies: the organisations (and sole traders) a business sells to.
//!
//! A company lives on its own stream, `company-<uuid>`. [`Company::decide`]
//! holds every rule (what a valid name, INN, KPP, website is; who may be
//! responsible; that a merged company is closed); [`Company::apply`] holds
//! none, it only folds what `decide` allowed.
//!
//! Values are stored normalized: the INN as its digits (checked by
//! [`voronka_core::customer::Inn`]), dictionary values as their stable
//! `value`, text trimmed. An update is a patch ([`CompanyChanges`], each field
//! a [`Patch`]): an absent field stays as it is, `null` clears it. The
//! `company_updated` event lists only the fields that really changed, each
//! with its old and new value ([`Change`]), so a timeline can say "INN changed
//! from X to Y"; an update that changes nothing appends nothing.
//!
//! Merging two cards of one client: the duplicate gets `MergeInto { target }`
//! (and is closed: every later command is refused with code `merged`), the
//! survivor gets `Absorb { source }`. The application layer issues both and
//! checks that the target exists; the index then shows the source's history
//! on the survivor's timeline.
//!
//! This module also holds the small input helpers the contact aggregate
//! reuses: [`Patch`], [`Change`] and the text cleaning functions.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use voronka_core::customer::{Inn, InnKind, Kpp};

use crate::custom_fields::{validate_custom_fields, CustomFields, MAX_CUSTOM_FIELDS};
use crate::dictionaries::names;
use crate::{Aggregate, CompanyId, Context, CrmError, Dictionaries, FieldError, UserId};

/// The longest company name, in characters.
pub const MAX_NAME_CHARS: usize = 300;
/// The longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 1000;
/// The longest website, in characters.
pub const MAX_WEBSITE_CHARS: usize = 2000;

// ---------------------------------------------------------------------------
// Shared input helpers (also used by `contact`).
// ---------------------------------------------------------------------------

/// One field of a partial update as a JSON body carries it: an absent field
/// is [`Patch::Unchanged`], `null` is [`Patch::Clear`], a value is
/// [`Patch::Set`]. Use with `#[serde(default)]` on the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// The field was not sent: keep the current value.
    #[default]
    Unchanged,
    /// The field was sent as `null`: remove the value.
    Clear,
    /// The field was sent with a value.
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_unchanged(&self) -> bool {
        matches!(self, Patch::Unchanged)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Clear,
            Some(value) => Patch::Set(value),
        })
    }
}

/// A changed field in an `*_updated` event: the value before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

/// `Some(Change)` when `new` differs from `old`.
pub(crate) fn change<T: PartialEq + Clone>(old: &T, new: T) -> Option<Change<T>> {
    (*old != new).then(|| Change {
        old: old.clone(),
        new,
    })
}

/// How a text input is cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    /// One line: every run of whitespace (tabs, newlines) becomes one space.
    Line,
    /// Free text: line breaks and tabs are kept, the ends trimmed.
    Multiline,
}

/// Trims `raw`, refuses control characters, bounds its length in
/// characters; `Ok(None)` when nothing is left.
pub(crate) fn clean_text(
    raw: &str,
    field: &str,
    max_chars: usize,
    kind: TextKind,
) -> Result<Option<String>, FieldError> {
    let allowed_control = |c: char| match kind {
        TextKind::Line => c.is_whitespace(),
        TextKind::Multiline => matches!(c, '\n' | '\r' | '\t'),
    };
    if raw.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err(FieldError::new(
            field,
            "control_characters",
            format!("`{field}` contains a control character"),
        ));
    }
    let cleaned = match kind {
        TextKind::Line => raw.split_whitespace().collect::<Vec<_>>().join(" "),
        TextKind::Multiline => raw.trim().to_owned(),
    };
    if cleaned.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("`{field}` is at most {max_chars} characters"),
        ));
    }
    Ok((!cleaned.is_empty()).then_some(cleaned))
}

/// Cleans a required one-line text: blank is `required`.
pub(crate) fn required_line(
    raw: &str,
    field: &str,
    max_chars: usize,
) -> Result<String, FieldError> {
    clean_text(raw, field, max_chars, TextKind::Line)?.ok_or_else(|| FieldError::required(field))
}

/// A dictionary value (trimmed); blank is none.
pub(crate) fn dictionary_value(
    dictionaries: &Dictionaries,
    dictionary: &str,
    raw: &str,
    field: &str,
) -> Result<Option<String>, FieldError> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    dictionaries.check(dictionary, value, field)?;
    Ok(Some(value.to_owned()))
}

/// Collects the error of `result` into `errors`; `fallback` stands in for
/// the value so checking can go on and report every field at once.
pub(crate) fn collect<T>(
    result: Result<T, FieldError>,
    errors: &mut Vec<FieldError>,
    fallback: T,
) -> T {
    result.unwrap_or_else(|error| {
        errors.push(error);
        fallback
    })
}

/// Custom fields of a new record: checked; `null` values are dropped (a
/// missing value is no value).
pub(crate) fn custom_for_create(
    custom: &CustomFields,
    errors: &mut Vec<FieldError>,
) -> CustomFields {
    errors.extend(validate_custom_fields("custom", custom));
    custom
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Applies a custom-field patch the JSON merge-patch way (a key with `null`
/// is removed, other keys are set, keys not sent stay) and returns the keys
/// whose value changed.
pub(crate) fn merge_custom(
    current: &CustomFields,
    patch: &CustomFields,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, Change<Option<Value>>> {
    let problems = validate_custom_fields("custom", patch);
    let invalid = !problems.is_empty();
    errors.extend(problems);
    if invalid {
        return BTreeMap::new();
    }
    let mut merged = current.clone();
    let mut changes = BTreeMap::new();
    for (key, value) in patch {
        let old = current.get(key).cloned();
        let new = (!value.is_null()).then(|| value.clone());
        match &new {
            Some(value) => merged.insert(key.clone(), value.clone()),
            None => merged.remove(key),
        };
        if let Some(change) = change(&old, new) {
            changes.insert(key.clone(), change);
        }
    }
    if merged.len() > MAX_CUSTOM_FIELDS {
        errors.push(FieldError::new(
            "custom",
            "too_many_custom_fields",
            format!("at most {MAX_CUSTOM_FIELDS} custom fields"),
        ));
    }
    changes
}

/// Applies the custom-field changes of an update event.
pub(crate) fn apply_custom(
    custom: &mut CustomFields,
    changes: &BTreeMap<String, Change<Option<Value>>>,
) {
    for (key, change) in changes {
        match &change.new {
            Some(value) => custom.insert(key.clone(), value.clone()),
            None => custom.remove(key),
        };
    }
}

/// Sets `target` to the new value of `change`, if there is one.
pub(crate) fn apply_change<T: Clone>(target: &mut T, change: &Option<Change<T>>) {
    if let Some(change) = change {
        *target = change.new.clone();
    }
}

// ---------------------------------------------------------------------------
// Value checks of a company.
// ---------------------------------------------------------------------------

/// An INN as its digits; blank is none; errors carry the core's code.
fn parse_inn(raw: &str) -> Result<Option<String>, FieldError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    Inn::parse(raw)
        .map(|inn| Some(inn.as_str().to_owned()))
        .map_err(|error| FieldError::new("inn", error.code(), error.to_string()))
}

fn parse_kpp(raw: &str) -> Result<Option<String>, FieldError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    Kpp::parse(raw)
        .map(|kpp| Some(kpp.as_str().to_owned()))
        .map_err(|error| FieldError::new("kpp", error.code(), error.to_string()))
}

/// Whether `inn` is a legal entity's (10 digits).
fn is_legal_entity_inn(inn: &str) -> bool {
    Inn::parse(inn).is_ok_and(|inn| inn.kind() == InnKind::LegalEntity)
}

fn website_invalid() -> FieldError {
    FieldError::new(
        "website",
        "website_invalid",
        "`website` must be a host name or an http(s) address, e.g. example.ru or https://example.ru/about",
    )
}

/// A website: a host name (`example.ru`, `почта.рф`, with an optional port)
/// or an `http://` / `https://` address on such a host. Stored as typed,
/// trimmed.
pub fn parse_website(raw: &str) -> Result<Option<String>, FieldError> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_WEBSITE_CHARS {
        return Err(FieldError::new(
            "website",
            "too_long",
            format!("`website` is at most {MAX_WEBSITE_CHARS} characters"),
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(website_invalid());
    }
    let lower = text.to_lowercase();
    let rest = match lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    {
        Some(rest) => rest,
        None if lower.contains("://") => return Err(website_invalid()),
        None => lower.as_str(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(website_invalid());
    }
    let host = match authority.split_once(':') {
        Some((host, port)) => {
            let port_ok =
                !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
            if !port_ok {
                return Err(website_invalid());
            }
            host
        }
        None => authority,
    };
    if host_is_plausible(host) {
        Ok(Some(text.to_owned()))
    } else {
        Err(website_invalid())
    }
}

/// At least two dot-separated labels of letters, digits and inner hyphens,
/// at most 63 characters each, the last one containing a letter.
fn host_is_plausible(host: &str) -> bool {
    if host.is_empty() || host.chars().count() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let labels_ok = labels.iter().all(|label| {
        let count = label.chars().count();
        (1..=63).contains(&count)
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    let top_has_letter = labels
        .last()
        .is_some_and(|top| top.chars().any(char::is_alphabetic));
    labels.len() >= 2 && labels_ok && top_has_letter
}

// ---------------------------------------------------------------------------
// The aggregate.
// ---------------------------------------------------------------------------

/// A company card.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CompanyRecord {
    #[schema(value_type = String)]
    pub id: CompanyId,
    pub name: String,
    /// A value of the `legal_form` dictionary.
    pub legal_form: Option<String>,
    /// 10 digits (an organisation) or 12 (a sole trader), checksum valid.
    pub inn: Option<String>,
    /// Only with a 10-digit INN.
    pub kpp: Option<String>,
    /// A value of the `industry` dictionary.
    pub industry: Option<String>,
    /// A value of the `segment` dictionary.
    pub segment: Option<String>,
    pub address: Option<String>,
    pub website: Option<String>,
    #[schema(value_type = String)]
    pub responsible: UserId,
    #[schema(value_type = Object)]
    pub custom: CustomFields,
    /// Set when this card was merged into another one; it is then closed.
    #[schema(value_type = Option<String>)]
    pub merged_into: Option<CompanyId>,
    /// Cards merged into this one.
    #[schema(value_type = Vec<String>)]
    pub absorbed: Vec<CompanyId>,
}

impl CompanyRecord {
    /// Folds one event (never `CompanyCreated`, which makes the record).
    pub(crate) fn apply(&mut self, event: &CompanyEvent) {
        match event {
            CompanyEvent::CompanyCreated { .. } => {}
            CompanyEvent::CompanyUpdated { changes } => {
                apply_change(&mut self.name, &changes.name);
                apply_change(&mut self.legal_form, &changes.legal_form);
                apply_change(&mut self.inn, &changes.inn);
                apply_change(&mut self.kpp, &changes.kpp);
                apply_change(&mut self.industry, &changes.industry);
                apply_change(&mut self.segment, &changes.segment);
                apply_change(&mut self.address, &changes.address);
                apply_change(&mut self.website, &changes.website);
                apply_custom(&mut self.custom, &changes.custom);
            }
            CompanyEvent::CompanyReassigned { to, .. } => self.responsible = *to,
            CompanyEvent::CompanyMergedInto { target } => self.merged_into = Some(*target),
            CompanyEvent::CompanyAbsorbed { source } => {
                if !self.absorbed.contains(source) {
                    self.absorbed.push(*source);
                }
            }
        }
    }

    fn values(&self) -> CompanyValues {
        CompanyValues {
            name: self.name.clone(),
            legal_form: self.legal_form.clone(),
            inn: self.inn.clone(),
            kpp: self.kpp.clone(),
            industry: self.industry.clone(),
            segment: self.segment.clone(),
            address: self.address.clone(),
            website: self.website.clone(),
        }
    }
}

/// A company's state: `None` until created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyState(pub Option<CompanyRecord>);

impl CompanyState {
    pub fn record(&self) -> Option<&CompanyRecord> {
        self.0.as_ref()
    }
}

/// A new company as a client sends it. Raw strings: `decide` checks them and
/// names every bad field.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyInput {
    /// Required (a blank name is refused with `required`).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub legal_form: Option<String>,
    #[serde(default)]
    pub inn: Option<String>,
    #[serde(default)]
    pub kpp: Option<String>,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    /// The acting user when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub responsible: Option<UserId>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomFields,
}

/// A patch of a company: absent fields stay, `null` clears (except `name`,
/// which cannot be cleared). `custom` is merged key by key (`null` removes a
/// key). The responsible user changes with `Reassign`, not here.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyChanges {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub legal_form: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub inn: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub kpp: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub industry: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub segment: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub address: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub website: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom: Option<CustomFields>,
}

/// What can be done to a company.
#[derive(Debug, Clone)]
pub enum CompanyCommand {
    /// Creates the card; `default_responsible` (the acting user, as the
    /// application passes it) is used when the input names nobody.
    Create {
        id: CompanyId,
        input: CompanyInput,
        default_responsible: UserId,
    },
    Update {
        changes: CompanyChanges,
    },
    /// Hands the card to another user (nothing when it is already theirs).
    Reassign {
        to: UserId,
    },
    /// Closes this card as a duplicate of `target` (the application checks
    /// that `target` exists and sends `Absorb` to it).
    MergeInto {
        target: CompanyId,
    },
    /// Records on the surviving card that `source` was merged into it.
    Absorb {
        source: CompanyId,
    },
}

/// The fields a `company_updated` event changed, each with its old and new
/// value; absent fields did not change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompanyFieldChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Change<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_form: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inn: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpp: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<Change<Option<String>>>,
    /// Changed custom fields by key; `null` on a side means "not set".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Change<Option<Value>>>,
}

impl CompanyFieldChanges {
    pub fn is_empty(&self) -> bool {
        self == &CompanyFieldChanges::default()
    }
}

/// What happens to a company. Stored with the snake_case variant name as
/// its type (`company_created`...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CompanyEvent {
    CompanyCreated {
        id: CompanyId,
        name: String,
        #[serde(default)]
        legal_form: Option<String>,
        #[serde(default)]
        inn: Option<String>,
        #[serde(default)]
        kpp: Option<String>,
        #[serde(default)]
        industry: Option<String>,
        #[serde(default)]
        segment: Option<String>,
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        website: Option<String>,
        responsible: UserId,
        #[serde(default)]
        custom: CustomFields,
    },
    CompanyUpdated {
        changes: CompanyFieldChanges,
    },
    CompanyReassigned {
        from: UserId,
        to: UserId,
    },
    CompanyMergedInto {
        target: CompanyId,
    },
    CompanyAbsorbed {
        source: CompanyId,
    },
}

/// The aggregate (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Company;

/// The checked, normalized editable values of a company.
#[derive(Debug, Clone, Default)]
struct CompanyValues {
    name: String,
    legal_form: Option<String>,
    inn: Option<String>,
    kpp: Option<String>,
    industry: Option<String>,
    segment: Option<String>,
    address: Option<String>,
    website: Option<String>,
}

/// Which values came out unchecked (their field already has an error), so
/// the cross-field KPP rule does not pile onto them.
#[derive(Debug, Clone, Copy, Default)]
struct Broken {
    inn: bool,
    kpp: bool,
}

fn check_kpp_needs_legal_inn(values: &CompanyValues, broken: Broken, errors: &mut Vec<FieldError>) {
    if broken.inn || broken.kpp || values.kpp.is_none() {
        return;
    }
    if !values.inn.as_deref().is_some_and(is_legal_entity_inn) {
        errors.push(FieldError::new(
            "kpp",
            "kpp_without_legal_inn",
            "a KPP is only given with a legal entity's 10-digit INN",
        ));
    }
}

/// Checks one optional field: `Ok` keeps its value, an error is collected
/// and reported as broken.
fn checked<T>(
    result: Result<Option<T>, FieldError>,
    errors: &mut Vec<FieldError>,
) -> (Option<T>, bool) {
    match result {
        Ok(value) => (value, false),
        Err(error) => {
            errors.push(error);
            (None, true)
        }
    }
}

fn values_from_input(
    input: &CompanyInput,
    dictionaries: &Dictionaries,
    errors: &mut Vec<FieldError>,
) -> CompanyValues {
    let text = |raw: &Option<String>| raw.as_deref().unwrap_or_default().to_owned();
    let name = collect(
        required_line(&input.name, "name", MAX_NAME_CHARS),
        errors,
        String::new(),
    );
    let legal_form = collect(
        dictionary_value(
            dictionaries,
            names::LEGAL_FORM,
            &text(&input.legal_form),
            "legal_form",
        ),
        errors,
        None,
    );
    let (inn, inn_broken) = checked(parse_inn(&text(&input.inn)), errors);
    let (kpp, kpp_broken) = checked(parse_kpp(&text(&input.kpp)), errors);
    let industry = collect(
        dictionary_value(
            dictionaries,
            names::INDUSTRY,
            &text(&input.industry),
            "industry",
        ),
        errors,
        None,
    );
    let segment = collect(
        dictionary_value(
            dictionaries,
            names::SEGMENT,
            &text(&input.segment),
            "segment",
        ),
        errors,
        None,
    );
    let address = collect(
        clean_text(
            &text(&input.address),
            "address",
            MAX_ADDRESS_CHARS,
            TextKind::Multiline,
        ),
        errors,
        None,
    );
    let website = collect(parse_website(&text(&input.website)), errors, None);
    let values = CompanyValues {
        name,
        legal_form,
        inn,
        kpp,
        industry,
        segment,
        address,
        website,
    };
    check_kpp_needs_legal_inn(
        &values,
        Broken {
            inn: inn_broken,
            kpp: kpp_broken,
        },
        errors,
    );
    values
}

/// Applies one optional-field patch with `parse` for a new value.
fn patch_optional(
    current: &Option<String>,
    patch: &Patch<String>,
    parse: impl FnOnce(&str) -> Result<Option<String>, FieldError>,
    errors: &mut Vec<FieldError>,
) -> (Option<String>, bool) {
    match patch {
        Patch::Unchanged => (current.clone(), false),
        Patch::Clear => (None, false),
        Patch::Set(raw) => match parse(raw) {
            Ok(value) => (value, false),
            Err(error) => {
                errors.push(error);
                (current.clone(), true)
            }
        },
    }
}

fn values_after_changes(
    record: &CompanyRecord,
    changes: &CompanyChanges,
    dictionaries: &Dictionaries,
    errors: &mut Vec<FieldError>,
) -> CompanyValues {
    let current = record.values();
    let name = match &changes.name {
        Patch::Unchanged => current.name.clone(),
        Patch::Clear => {
            errors.push(FieldError::required("name"));
            current.name.clone()
        }
        Patch::Set(raw) => collect(
            required_line(raw, "name", MAX_NAME_CHARS),
            errors,
            current.name.clone(),
        ),
    };
    let dictionary = |name: &'static str, field: &'static str| {
        move |raw: &str| dictionary_value(dictionaries, name, raw, field)
    };
    let (legal_form, _) = patch_optional(
        &current.legal_form,
        &changes.legal_form,
        dictionary(names::LEGAL_FORM, "legal_form"),
        errors,
    );
    let (inn, inn_broken) = patch_optional(&current.inn, &changes.inn, parse_inn, errors);
    let (kpp, kpp_broken) = patch_optional(&current.kpp, &changes.kpp, parse_kpp, errors);
    let (industry, _) = patch_optional(
        &current.industry,
        &changes.industry,
        dictionary(names::INDUSTRY, "industry"),
        errors,
    );
    let (segment, _) = patch_optional(
        &current.segment,
        &changes.segment,
        dictionary(names::SEGMENT, "segment"),
        errors,
    );
    let (address, _) = patch_optional(
        &current.address,
        &changes.address,
        |raw| clean_text(raw, "address", MAX_ADDRESS_CHARS, TextKind::Multiline),
        errors,
    );
    let (website, _) = patch_optional(&current.website, &changes.website, parse_website, errors);
    let values = CompanyValues {
        name,
        legal_form,
        inn,
        kpp,
        industry,
        segment,
        address,
        website,
    };
    check_kpp_needs_legal_inn(
        &values,
        Broken {
            inn: inn_broken,
            kpp: kpp_broken,
        },
        errors,
    );
    values
}

/// The record a command other than `Create` works on: it must exist and not
/// be merged away.
fn open_record(state: &CompanyState) -> Result<&CompanyRecord, CrmError> {
    let record = state.0.as_ref().ok_or(CrmError::NotFound)?;
    if record.merged_into.is_some() {
        return Err(CrmError::not_allowed(
            "merged",
            "the company was merged into another one; work on that one",
        ));
    }
    Ok(record)
}

fn merge_into_itself() -> CrmError {
    CrmError::not_allowed(
        "merge_into_itself",
        "a company cannot be merged into itself",
    )
}

impl Aggregate for Company {
    const CATEGORY: &'static str = "company";
    type State = CompanyState;
    type Event = CompanyEvent;
    type Command = CompanyCommand;

    fn event_type(event: &CompanyEvent) -> &'static str {
        match event {
            CompanyEvent::CompanyCreated { .. } => "company_created",
            CompanyEvent::CompanyUpdated { .. } => "company_updated",
            CompanyEvent::CompanyReassigned { .. } => "company_reassigned",
            CompanyEvent::CompanyMergedInto { .. } => "company_merged_into",
            CompanyEvent::CompanyAbsorbed { .. } => "company_absorbed",
        }
    }

    fn apply(state: &mut CompanyState, event: &CompanyEvent) {
        match event {
            CompanyEvent::CompanyCreated {
                id,
                name,
                legal_form,
                inn,
                kpp,
                industry,
                segment,
                address,
                website,
                responsible,
                custom,
            } => {
                state.0 = Some(CompanyRecord {
                    id: *id,
                    name: name.clone(),
                    legal_form: legal_form.clone(),
                    inn: inn.clone(),
                    kpp: kpp.clone(),
                    industry: industry.clone(),
                    segment: segment.clone(),
                    address: address.clone(),
                    website: website.clone(),
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
        state: &CompanyState,
        command: &CompanyCommand,
        context: &Context<'_>,
    ) -> Result<Vec<CompanyEvent>, CrmError> {
        match command {
            CompanyCommand::Create {
                id,
                input,
                default_responsible,
            } => {
                if state.0.is_some() {
                    return Err(CrmError::AlreadyExists);
                }
                let mut errors = Vec::new();
                let values = values_from_input(input, context.dictionaries, &mut errors);
                let custom = custom_for_create(&input.custom, &mut errors);
                CrmError::check(errors)?;
                Ok(vec![CompanyEvent::CompanyCreated {
                    id: *id,
                    name: values.name,
                    legal_form: values.legal_form,
                    inn: values.inn,
                    kpp: values.kpp,
                    industry: values.industry,
                    segment: values.segment,
                    address: values.address,
                    website: values.website,
                    responsible: input.responsible.unwrap_or(*default_responsible),
                    custom,
                }])
            }
            CompanyCommand::Update { changes } => {
                let record = open_record(state)?;
                let mut errors = Vec::new();
                let values =
                    values_after_changes(record, changes, context.dictionaries, &mut errors);
                let custom = match &changes.custom {
                    Some(patch) => merge_custom(&record.custom, patch, &mut errors),
                    None => BTreeMap::new(),
                };
                CrmError::check(errors)?;
                let field_changes = CompanyFieldChanges {
                    name: change(&record.name, values.name),
                    legal_form: change(&record.legal_form, values.legal_form),
                    inn: change(&record.inn, values.inn),
                    kpp: change(&record.kpp, values.kpp),
                    industry: change(&record.industry, values.industry),
                    segment: change(&record.segment, values.segment),
                    address: change(&record.address, values.address),
                    website: change(&record.website, values.website),
                    custom,
                };
                if field_changes.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![CompanyEvent::CompanyUpdated {
                    changes: field_changes,
                }])
            }
            CompanyCommand::Reassign { to } => {
                let record = open_record(state)?;
                if record.responsible == *to {
                    return Ok(Vec::new());
                }
                Ok(vec![CompanyEvent::CompanyReassigned {
                    from: record.responsible,
                    to: *to,
                }])
            }
            CompanyCommand::MergeInto { target } => {
                let record = open_record(state)?;
                if record.id == *target {
                    return Err(merge_into_itself());
                }
                Ok(vec![CompanyEvent::CompanyMergedInto { target: *target }])
            }
            CompanyCommand::Absorb { source } => {
                let record = open_record(state)?;
                if record.id == *source {
                    return Err(merge_into_itself());
                }
                if record.absorbed.contains(source) {
                    return Ok(Vec::new());
                }
                Ok(vec![CompanyEvent::CompanyAbsorbed { source: *source }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use voronka_core::time::timestamp_from_micros;

    fn company_id(n: u128) -> CompanyId {
        CompanyId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn decide(
        state: &CompanyState,
        command: CompanyCommand,
    ) -> Result<Vec<CompanyEvent>, CrmError> {
        let dictionaries = Dictionaries::standard();
        let context = Context {
            now: timestamp_from_micros(1_700_000_000_000_000),
            actor: user(1),
            dictionaries: &dictionaries,
        };
        Company::decide(state, &command, &context)
    }

    fn given(events: &[CompanyEvent]) -> CompanyState {
        let mut state = CompanyState::default();
        for event in events {
            Company::apply(&mut state, event);
        }
        state
    }

    fn created() -> CompanyEvent {
        let input: CompanyInput = serde_json::from_value(json!({
            "name": "ООО «Ромашка»", "inn": "7707083893", "kpp": "773601001"
        }))
        .unwrap();
        let events = decide(
            &CompanyState::default(),
            CompanyCommand::Create {
                id: company_id(1),
                input,
                default_responsible: user(1),
            },
        )
        .unwrap();
        events.into_iter().next().unwrap()
    }

    fn fields(error: CrmError) -> Vec<(String, &'static str)> {
        match error {
            CrmError::Invalid(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn websites_that_look_like_hosts_or_http_addresses_are_accepted() {
        for ok in [
            "example.ru",
            "  https://example.ru/about?x=1 ",
            "HTTP://Shop.Example.com:8080",
            "почта.рф",
            "www.a-b.co/path",
        ] {
            assert!(matches!(parse_website(ok), Ok(Some(_))), "{ok}");
        }
        assert_eq!(parse_website("   "), Ok(None));
        for bad in [
            "example",
            "ftp://example.ru",
            "http://",
            "https://user@example.ru",
            "exa mple.ru",
            "-bad.ru",
            "example.ru:port",
            "1.2.3.4",
            "example..ru",
            "http://example.ru:123456",
        ] {
            assert_eq!(
                parse_website(bad).unwrap_err().code,
                "website_invalid",
                "{bad}"
            );
        }
        let long = format!("https://example.ru/{}", "a".repeat(MAX_WEBSITE_CHARS));
        assert_eq!(parse_website(&long).unwrap_err().code, "too_long");
    }

    #[test]
    fn a_patch_tells_absent_from_null_from_a_value() {
        let changes: CompanyChanges =
            serde_json::from_value(json!({"inn": null, "website": "example.ru"})).unwrap();
        assert_eq!(changes.inn, Patch::Clear);
        assert_eq!(changes.website, Patch::Set("example.ru".into()));
        assert!(changes.name.is_unchanged());
        assert!(serde_json::from_value::<CompanyChanges>(json!({"nmae": "x"})).is_err());
    }

    #[test]
    fn it_should_refuse_clearing_the_name_and_clearing_a_legal_inn_under_a_kpp() {
        let state = given(&[created()]);
        let error = decide(
            &state,
            CompanyCommand::Update {
                changes: serde_json::from_value(json!({"name": null, "inn": null})).unwrap(),
            },
        )
        .unwrap_err();
        assert_eq!(
            fields(error),
            [
                ("name".to_string(), "required"),
                ("kpp".to_string(), "kpp_without_legal_inn")
            ]
        );
    }

    #[test]
    fn custom_fields_merge_key_by_key_and_report_only_real_changes() {
        let mut state = given(&[created()]);
        let events = decide(
            &state,
            CompanyCommand::Update {
                changes: serde_json::from_value(json!({"custom": {"tariff": "pro", "seats": 5}}))
                    .unwrap(),
            },
        )
        .unwrap();
        Company::apply(&mut state, &events[0]);
        let events = decide(
            &state,
            CompanyCommand::Update {
                changes: serde_json::from_value(json!({"custom": {"tariff": null, "seats": 5}}))
                    .unwrap(),
            },
        )
        .unwrap();
        let CompanyEvent::CompanyUpdated { changes } = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(changes.custom.keys().collect::<Vec<_>>(), ["tariff"]);
        Company::apply(&mut state, &events[0]);
        let record = state.record().unwrap();
        assert_eq!(record.custom.get("seats"), Some(&json!(5)));
        assert!(!record.custom.contains_key("tariff"));
    }

    #[test]
    fn absorbing_twice_or_oneself_is_nothing_or_refused() {
        let state = given(&[
            created(),
            CompanyEvent::CompanyAbsorbed {
                source: company_id(2),
            },
        ]);
        assert_eq!(
            decide(
                &state,
                CompanyCommand::Absorb {
                    source: company_id(2)
                }
            )
            .unwrap(),
            []
        );
        assert_eq!(
            decide(
                &state,
                CompanyCommand::Absorb {
                    source: company_id(1)
                }
            )
            .unwrap_err()
            .code(),
            "merge_into_itself"
        );
        assert_eq!(
            decide(
                &state,
                CompanyCommand::MergeInto {
                    target: company_id(1)
                }
            )
            .unwrap_err()
            .code(),
            "merge_into_itself"
        );
    }
}
