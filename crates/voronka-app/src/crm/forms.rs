//! Website lead forms: set up by a [`Caller`] with `ManageIntegrations`
//! (administrators), submitted by anyone who has the public token.
//!
//! A submission goes: token -> the form (404 when unknown, paused or
//! deleted) -> the rate limit per form and client address (429) -> the
//! honeypot (answered like a success, nothing written) -> the mapped values
//! (422 naming the website field for a missing or malformed phone or
//! e-mail) -> the form's `form_submission_accepted`, appended with the
//! expected version and naming the next manager in turn -> the contact
//! (found by phone or e-mail, else created) -> the lead in
//! `lead-qualification` through [`Crm::create_deal`], whose automation plans
//! the first call. Everything after the token is done by a system caller
//! named after the form, through the same commands as the API.
//!
//! Idempotent: the submission id comes from the `Idempotency-Key` when the
//! site sends one, and every record's id and command id is derived from it,
//! so a retried submission finishes what a failed one began and creates
//! nothing twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use voronka_core::customer::{Country, Email, Phone};
use voronka_core::{Actor, CommandId, Position, Role, Timestamp};
use voronka_crm::contact::ContactInput;
use voronka_crm::lead_form::{
    FormToken, LeadForm, LeadFormCommand, LeadFormId, LeadFormInput, LeadFormRecord, LeadTarget,
    RateLimit,
};
use voronka_crm::{ContactId, DealId, FieldError};
use voronka_store::MAX_READ_BATCH;

use super::deals::{NewDeal, MAX_TITLE_CHARS};
use super::{records, AppError, Caller, Crm, Written};
use crate::access::{Action, DepartmentId, User, UserId};

/// The process every website lead starts in.
pub const LEAD_PROCESS: &str = "lead-qualification";

/// A form as the API shows it (its token is public: it is in the site's
/// HTML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeadFormView {
    #[schema(value_type = String, format = Uuid)]
    pub id: LeadFormId,
    pub name: String,
    #[schema(value_type = String, format = Uuid)]
    pub department: uuid::Uuid,
    /// Website field -> lead field.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, String>,
    pub honeypot: Option<String>,
    pub rate_limit: RateLimit,
    pub token: String,
    /// Where the website posts: `/api/v1/forms/{token}/submit`.
    pub submit_path: String,
    /// `false` while paused.
    pub active: bool,
    /// Leads accepted so far.
    pub accepted: u64,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&LeadFormRecord> for LeadFormView {
    fn from(record: &LeadFormRecord) -> Self {
        Self {
            id: record.id,
            name: record.name.clone(),
            department: record.department,
            fields: record
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), String::from(v.clone())))
                .collect(),
            honeypot: record.honeypot.clone(),
            rate_limit: record.rate_limit,
            token: record.token.0.clone(),
            submit_path: format!("/api/v1/forms/{}/submit", record.token.0),
            active: record.active,
            accepted: record.accepted,
            created_by: record.created_by,
            created_at: record.created_at,
        }
    }
}

/// What a website posted, as ordered pairs (a field repeated keeps its
/// first value).
#[derive(Debug, Clone)]
pub struct FormSubmission {
    pub values: Vec<(String, String)>,
    pub client: IpAddr,
    pub idempotency_key: Option<String>,
}

/// The lead a submission made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AcceptedLead {
    #[schema(value_type = String, format = Uuid)]
    pub deal: DealId,
    #[schema(value_type = String, format = Uuid)]
    pub contact: ContactId,
    /// The contact was created for this lead (else an existing one was
    /// linked).
    pub contact_created: bool,
    #[schema(value_type = String, format = Uuid)]
    pub responsible: UserId,
    pub position: u64,
}

/// How a submission ended when it was not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionOutcome {
    Accepted(AcceptedLead),
    /// The honeypot was filled: nothing was written.
    Honeypot,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    App(#[from] AppError),
    /// Too many submissions from this address to this form. 429 with
    /// `Retry-After`.
    #[error("too many submissions; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
}

/// Token buckets per (form, client address), in memory: a restart forgives
/// everyone, which is acceptable for spam control.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: HashMap<(LeadFormId, IpAddr), Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Beyond this many buckets, the full ones are dropped.
const MAX_BUCKETS: usize = 50_000;

impl RateLimiter {
    /// Takes one token, or says how long until one is there.
    pub fn take(
        &mut self,
        key: (LeadFormId, IpAddr),
        limit: RateLimit,
        now: Instant,
    ) -> Result<(), Duration> {
        let capacity = f64::from(limit.burst.max(1));
        let per_second = f64::from(limit.per_minute.max(1)) / 60.0;
        if self.buckets.len() >= MAX_BUCKETS {
            self.buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second
                    < capacity
            });
        }
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// A form kept in memory (see [`FormsState::cached`]).
type CachedForm = std::sync::Arc<tokio::sync::Mutex<records::Loaded<LeadForm>>>;

/// The in-memory parts of the forms service.
#[derive(Debug)]
pub struct FormsState {
    limiter: std::sync::Mutex<RateLimiter>,
    /// Each form as last read, kept up to date by reading only its new
    /// events: a form's stream holds every lead it took and grows without
    /// end. Its lock also makes one acceptance at a time per form in this
    /// process, so simultaneous submissions queue instead of retrying on
    /// conflicts (across processes the expected version still decides).
    cached: std::sync::Mutex<HashMap<LeadFormId, CachedForm>>,
    listing: tokio::sync::Mutex<(Position, BTreeMap<LeadFormId, LeadFormRecord>)>,
}

impl Default for FormsState {
    fn default() -> Self {
        Self {
            limiter: std::sync::Mutex::default(),
            cached: std::sync::Mutex::default(),
            listing: tokio::sync::Mutex::new((Position(0), BTreeMap::new())),
        }
    }
}

/// A UUID derived from `parts`: the same parts always give the same id.
pub(crate) fn derived_id(purpose: &str, parts: &[&[u8]]) -> uuid::Uuid {
    let mut hash = Sha256::new();
    hash.update(b"voronka/incoming/");
    hash.update(purpose.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The form id is the token's first 32 hex digits; the rest is random.
fn form_id_of_token(token: &str) -> Option<LeadFormId> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    uuid::Uuid::parse_str(&token[..32])
        .ok()
        .map(LeadFormId::from_uuid)
}

fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The system caller a form acts as: a director-like reach over sales
/// records (it files leads for any manager), recorded as `system:lead_form:<id>`.
fn form_caller(
    form: &LeadFormRecord,
    access: std::sync::Arc<crate::directory::AccessSnapshot>,
) -> Caller {
    Caller {
        user: User {
            id: UserId::from_uuid(*form.id.as_uuid()),
            email: format!("lead-form-{}@integrations.invalid", form.id),
            display_name: form.name.clone(),
            roles: BTreeSet::from([Role::Director]),
            department: DepartmentId::from_uuid(form.department),
            active: true,
        },
        access,
        acting_as: Some(Actor::system(format!("lead_form:{}", form.id))),
    }
}

/// The mapped values of one submission.
#[derive(Debug, Default)]
struct MappedLead {
    name: Option<String>,
    surname: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    company: Option<String>,
    comment: Option<String>,
    fields: BTreeMap<String, String>,
}

/// One line of text: whitespace runs collapsed, control characters gone.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .map(|word| word.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

impl Crm {
    /// Creates a form with a fresh public token.
    pub async fn create_form(
        &self,
        caller: &Caller,
        input: LeadFormInput,
    ) -> Result<LeadFormView, AppError> {
        caller.may_at_all(Action::ManageIntegrations)?;
        let definition =
            self.deals
                .registry()
                .latest(LEAD_PROCESS)
                .ok_or_else(|| AppError::NotAllowed {
                    code: "lead_process_missing",
                    message: format!("the `{LEAD_PROCESS}` process is not published"),
                })?;
        if let Some(department) = input.department {
            if caller
                .access
                .tree
                .get(DepartmentId::from_uuid(department))
                .is_none()
            {
                return Err(AppError::invalid(
                    "department",
                    "department_unknown",
                    "no such department",
                ));
            }
        }
        let process_fields: Vec<String> = definition
            .fields
            .iter()
            .filter(|field| !field.builtin && field.name != "channel")
            .map(|field| field.name.clone())
            .collect();
        let mut random = [0u8; 26];
        getrandom::fill(&mut random).map_err(|error| AppError::Internal(error.to_string()))?;
        let millis = u64::try_from(self.clock.now().timestamp_millis()).unwrap_or(0);
        let mut id_random = [0u8; 10];
        id_random.copy_from_slice(&random[16..]);
        let id = LeadFormId::from_parts(millis, id_random);
        let token = FormToken(format!(
            "{}{}",
            id.as_uuid().simple(),
            voronka_webhooks::signature::hex(&random[..16])
        ));
        let command = LeadFormCommand::Create {
            id,
            input,
            token,
            process_fields,
        };
        let (state, _) = records::execute::<LeadForm>(
            &self.store,
            *id.as_uuid(),
            &command,
            &self.context(caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        state
            .as_ref()
            .map(LeadFormView::from)
            .ok_or_else(|| AppError::Internal("a new form has no state".into()))
    }

    /// Every form not deleted, oldest first.
    pub async fn forms(&self, caller: &Caller) -> Result<Vec<LeadFormView>, AppError> {
        caller.may_at_all(Action::ManageIntegrations)?;
        let mut listing = self.forms.listing.lock().await;
        let (after, forms) = &mut *listing;
        loop {
            let batch = self.store.read_all(*after, MAX_READ_BATCH).await?;
            for event in &batch {
                *after = event.position;
                let Some(id) = event
                    .stream_id
                    .as_str()
                    .strip_prefix("lead_form-")
                    .and_then(|id| uuid::Uuid::parse_str(id).ok())
                else {
                    continue;
                };
                match voronka_crm::decode_event::<LeadForm>(event.payload.as_str()) {
                    Ok(decoded) => {
                        let mut state = forms.remove(&LeadFormId::from_uuid(id));
                        <LeadForm as voronka_crm::Aggregate>::apply(&mut state, &decoded);
                        if let Some(record) = state {
                            forms.insert(record.id, record);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, stream = %event.stream_id, "an unreadable form event was skipped");
                    }
                }
            }
            if batch.len() < MAX_READ_BATCH {
                break;
            }
        }
        let mut views: Vec<LeadFormView> = forms
            .values()
            .filter(|form| !form.deleted)
            .map(LeadFormView::from)
            .collect();
        views.sort_by_key(|view| view.created_at);
        Ok(views)
    }

    /// One form (404 when unknown or deleted).
    pub async fn form(&self, caller: &Caller, id: LeadFormId) -> Result<LeadFormView, AppError> {
        caller.may_at_all(Action::ManageIntegrations)?;
        let loaded = records::load::<LeadForm>(&self.store, *id.as_uuid()).await?;
        loaded
            .state
            .as_ref()
            .filter(|form| !form.deleted)
            .map(LeadFormView::from)
            .ok_or(AppError::NotFound)
    }

    /// Pauses (`false`) or resumes (`true`) a form: a paused form's token
    /// answers 404.
    pub async fn set_form_active(
        &self,
        caller: &Caller,
        id: LeadFormId,
        active: bool,
    ) -> Result<LeadFormView, AppError> {
        caller.may_at_all(Action::ManageIntegrations)?;
        let (state, _) = records::execute::<LeadForm>(
            &self.store,
            *id.as_uuid(),
            &LeadFormCommand::SetActive(active),
            &self.context(caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        state
            .as_ref()
            .map(LeadFormView::from)
            .ok_or(AppError::NotFound)
    }

    /// Deletes a form; its leads stay.
    pub async fn delete_form(&self, caller: &Caller, id: LeadFormId) -> Result<Written, AppError> {
        caller.may_at_all(Action::ManageIntegrations)?;
        let (_, outcome) = records::execute::<LeadForm>(
            &self.store,
            *id.as_uuid(),
            &LeadFormCommand::Delete,
            &self.context(caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        Ok(super::written(*id.as_uuid(), outcome))
    }

    /// The in-memory copy of form `id`, read whole the first time; `None`
    /// when no such form was ever created (so made-up tokens fill no memory).
    async fn cached_form(&self, id: LeadFormId) -> Result<Option<CachedForm>, AppError> {
        let known = |state: &FormsState| {
            state
                .cached
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&id)
                .cloned()
        };
        if let Some(cached) = known(&self.forms) {
            return Ok(Some(cached));
        }
        let loaded = records::load::<LeadForm>(&self.store, *id.as_uuid()).await?;
        if loaded.state.is_none() {
            return Ok(None);
        }
        let mut cached = self
            .forms
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Some(
            cached
                .entry(id)
                .or_insert_with(|| std::sync::Arc::new(tokio::sync::Mutex::new(loaded)))
                .clone(),
        ))
    }

    /// Takes a website's submission (no sign-in: the token names the form).
    pub async fn submit_form(
        &self,
        token: &str,
        submission: FormSubmission,
    ) -> Result<SubmissionOutcome, SubmitError> {
        let form_id = form_id_of_token(token).ok_or(AppError::NotFound)?;
        let cached = self.cached_form(form_id).await?.ok_or(AppError::NotFound)?;
        let form = {
            let mut loaded = cached.lock().await;
            records::catch_up(&self.store, *form_id.as_uuid(), &mut loaded).await?;
            loaded
                .state
                .as_ref()
                .filter(|form| form.active && !form.deleted && same_token(&form.token.0, token))
                .map(LeadFormRecord::settings)
                .ok_or(AppError::NotFound)?
        };
        {
            let mut limiter = self
                .forms
                .limiter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            limiter
                .take(
                    (form.id, submission.client),
                    form.rate_limit,
                    Instant::now(),
                )
                .map_err(|retry_after| SubmitError::RateLimited { retry_after })?;
        }
        if let Some(honeypot) = &form.honeypot {
            if submission
                .values
                .iter()
                .any(|(name, value)| name == honeypot && !value.trim().is_empty())
            {
                return Ok(SubmissionOutcome::Honeypot);
            }
        }
        let lead = map_values(&form, &submission.values);
        let (phone, email) = check_contact_values(&form, &lead)?;

        let submission_id = match &submission.idempotency_key {
            Some(key) => derived_id(
                "submission",
                &[form.id.as_uuid().as_bytes(), key.as_bytes()],
            ),
            None => uuid::Uuid::now_v7(),
        };
        let access = self
            .directory
            .access_snapshot()
            .await
            .map_err(AppError::from)?;
        let managers: Vec<UserId> = access
            .users
            .values()
            .filter(|user| {
                user.active
                    && user.department == DepartmentId::from_uuid(form.department)
                    && user.has_role(Role::Manager)
            })
            .map(|user| user.id)
            .collect();
        let found = {
            let indexes = self.indexes(None).await?;
            let phones: Vec<String> = phone.iter().map(|p| p.e164().to_owned()).collect();
            let emails: Vec<String> = email.iter().map(|e| e.as_str().to_owned()).collect();
            indexes
                .customers
                .contact_duplicates(&phones, &emails)
                .into_iter()
                .next()
        };
        let caller = form_caller(&form, access);
        let command = LeadFormCommand::Accept {
            submission: submission_id,
            managers,
            deal: DealId::from_uuid(derived_id("deal", &[submission_id.as_bytes()])),
            contact: found.unwrap_or_else(|| {
                ContactId::from_uuid(derived_id("contact", &[submission_id.as_bytes()]))
            }),
            contact_created: found.is_none(),
        };
        let mut loaded = cached.lock().await;
        let mut attempts = 0;
        loop {
            match records::execute_loaded::<LeadForm>(
                &self.store,
                *form.id.as_uuid(),
                &mut loaded,
                &command,
                &self.context(&caller),
                &caller.actor(),
                Some(CommandId::from_uuid(submission_id)),
            )
            .await
            {
                Ok(_) => break,
                // Another process took a lead meanwhile: decide again on the
                // newer rotation.
                Err(AppError::Conflict { .. }) if attempts < 50 => {
                    attempts += 1;
                    tokio::task::yield_now().await;
                }
                Err(AppError::NotAllowed { code, message }) => {
                    tracing::warn!(form = %form.id, code, "a lead was refused: {message}");
                    return Err(AppError::Unavailable {
                        code,
                        message: "the form cannot take leads now".into(),
                    }
                    .into());
                }
                Err(other) => return Err(other.into()),
            }
        }
        let accepted = loaded
            .state
            .as_ref()
            .and_then(|form| form.submissions.get(&submission_id).copied());
        drop(loaded);
        let accepted = accepted.ok_or_else(|| {
            AppError::Internal("an accepted submission is not on the form".into())
        })?;

        if accepted.contact_created {
            let input = ContactInput {
                surname: lead.surname.clone().unwrap_or_else(|| "—".into()),
                name: lead
                    .name
                    .clone()
                    .unwrap_or_else(|| "Посетитель сайта".into()),
                phones: phone.iter().map(|p| p.e164().to_owned()).collect(),
                emails: email.iter().map(|e| e.as_str().to_owned()).collect(),
                responsible: Some(accepted.responsible),
                ..ContactInput::default()
            };
            self.create_contact(
                &caller,
                accepted.contact,
                input,
                false,
                Some(CommandId::from_uuid(derived_id(
                    "contact-command",
                    &[submission_id.as_bytes()],
                ))),
            )
            .await?;
        }

        let definition =
            self.deals
                .registry()
                .latest(LEAD_PROCESS)
                .ok_or_else(|| AppError::NotAllowed {
                    code: "lead_process_missing",
                    message: format!("the `{LEAD_PROCESS}` process is not published"),
                })?;
        let mut fields = BTreeMap::from([("channel".to_owned(), json!("website"))]);
        let mut unreadable = Vec::new();
        for (name, raw) in &lead.fields {
            match process_value(&definition, name, raw) {
                Some(value) => {
                    fields.insert(name.clone(), value);
                }
                None => unreadable.push(format!("{name}: {raw}")),
            }
        }
        let written = self
            .create_deal(
                &caller,
                accepted.deal,
                NewDeal {
                    process: LEAD_PROCESS.into(),
                    title: lead_title(&form, &lead, &unreadable),
                    company: None,
                    contact: Some(accepted.contact),
                    amount: None,
                    responsible: Some(accepted.responsible),
                    source: Some("website".into()),
                    expected_close_date: None,
                    fields,
                },
                Some(CommandId::from_uuid(derived_id(
                    "deal-command",
                    &[submission_id.as_bytes()],
                ))),
            )
            .await?;
        Ok(SubmissionOutcome::Accepted(AcceptedLead {
            deal: accepted.deal,
            contact: accepted.contact,
            contact_created: accepted.contact_created,
            responsible: accepted.responsible,
            position: written.position,
        }))
    }
}

fn map_values(form: &LeadFormRecord, values: &[(String, String)]) -> MappedLead {
    let mut lead = MappedLead::default();
    for (name, value) in values {
        let Some(target) = form.fields.get(name) else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let slot = match target {
            LeadTarget::Name => &mut lead.name,
            LeadTarget::Surname => &mut lead.surname,
            LeadTarget::Phone => &mut lead.phone,
            LeadTarget::Email => &mut lead.email,
            LeadTarget::Company => &mut lead.company,
            LeadTarget::Comment => &mut lead.comment,
            LeadTarget::ProcessField(field) => {
                lead.fields
                    .entry(field.clone())
                    .or_insert_with(|| value.to_owned());
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(value.to_owned());
        }
    }
    lead
}

/// The phone and e-mail of a lead: at least one, each well formed; errors
/// name the website's field.
fn check_contact_values(
    form: &LeadFormRecord,
    lead: &MappedLead,
) -> Result<(Option<Phone>, Option<Email>), AppError> {
    let website_field = |target: &LeadTarget| {
        form.fields
            .iter()
            .find(|(_, mapped)| *mapped == target)
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| String::from(target.clone()))
    };
    let mut errors = Vec::new();
    let phone = match &lead.phone {
        Some(raw) => match Phone::parse(raw, Country::Ru) {
            Ok(phone) => Some(phone),
            Err(error) => {
                errors.push(FieldError::new(
                    website_field(&LeadTarget::Phone),
                    error.code(),
                    "the phone number is not valid",
                ));
                None
            }
        },
        None => None,
    };
    let email = match &lead.email {
        Some(raw) => match Email::parse(raw) {
            Ok(email) => Some(email),
            Err(error) => {
                errors.push(FieldError::new(
                    website_field(&LeadTarget::Email),
                    error.code(),
                    "the e-mail address is not valid",
                ));
                None
            }
        },
        None => None,
    };
    if errors.is_empty() && phone.is_none() && email.is_none() {
        let target = if form.fields.values().any(|t| *t == LeadTarget::Phone) {
            LeadTarget::Phone
        } else {
            LeadTarget::Email
        };
        errors.push(FieldError::new(
            website_field(&target),
            "contact_required",
            "a phone number or an e-mail address is required",
        ));
    }
    if errors.is_empty() {
        Ok((phone, email))
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// A website's text as a value of process field `name`: as text, else as
/// JSON (`25`, `true`), else a checkbox's `on`/`yes`. `None` when the field
/// takes none of these (the value goes into the title instead: a lead is
/// never lost for an optional value).
fn process_value(
    definition: &voronka_process::CompiledProcess,
    name: &str,
    raw: &str,
) -> Option<Value> {
    let field = definition.field_id(name)?;
    let checkbox =
        matches!(raw.to_lowercase().as_str(), "on" | "yes" | "да").then_some(Value::Bool(true));
    [
        Some(Value::String(raw.to_owned())),
        serde_json::from_str::<Value>(raw).ok(),
        checkbox,
    ]
    .into_iter()
    .flatten()
    .find(|candidate| definition.field_value_from_json(field, candidate).is_ok())
}

/// `Форма «…»: Имя Фамилия (Компания) — комментарий`, within the title limit.
fn lead_title(form: &LeadFormRecord, lead: &MappedLead, unreadable: &[String]) -> String {
    let person = [lead.name.as_deref(), lead.surname.as_deref()]
        .into_iter()
        .flatten()
        .map(one_line)
        .collect::<Vec<_>>()
        .join(" ");
    let who = if person.is_empty() {
        lead.phone
            .as_deref()
            .or(lead.email.as_deref())
            .map(one_line)
            .unwrap_or_default()
    } else {
        person
    };
    let mut title = format!("{}: {}", one_line(&form.name), who);
    if let Some(company) = &lead.company {
        title.push_str(&format!(" ({})", one_line(company)));
    }
    let mut notes: Vec<String> = lead.comment.iter().map(|c| one_line(c)).collect();
    notes.extend(unreadable.iter().map(|u| one_line(u)));
    if !notes.is_empty() {
        title.push_str(" — ");
        title.push_str(&notes.join("; "));
    }
    truncate(title.trim(), MAX_TITLE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refuses_after_the_burst_and_refills() {
        let mut limiter = RateLimiter::default();
        let key = (
            LeadFormId::from_uuid(uuid::Uuid::from_u128(1)),
            IpAddr::from([127, 0, 0, 1]),
        );
        let limit = RateLimit {
            burst: 2,
            per_minute: 6,
        };
        let start = Instant::now();
        assert!(limiter.take(key, limit, start).is_ok());
        assert!(limiter.take(key, limit, start).is_ok());
        let wait = limiter.take(key, limit, start).unwrap_err();
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        assert!(limiter
            .take(key, limit, start + Duration::from_secs(10))
            .is_ok());
        let other = (key.0, IpAddr::from([10, 0, 0, 1]));
        assert!(limiter.take(other, limit, start).is_ok());
    }

    #[test]
    fn a_token_names_its_form() {
        let id = uuid::Uuid::from_u128(0xabc);
        let token = format!("{}{}", id.simple(), "0".repeat(32));
        assert_eq!(form_id_of_token(&token), Some(LeadFormId::from_uuid(id)));
        assert_eq!(form_id_of_token("short"), None);
        assert_eq!(form_id_of_token(&"z".repeat(64)), None);
        assert!(same_token(&token, &token.clone()));
        assert!(!same_token(&token, &token.replace('0', "1")));
    }
}
