//! Mailings for a [`Caller`] with `SendMailings`: saved segments, their
//! recipients (contacts the caller sees, with consent and an e-mail), and
//! mailings sent by e-mail with an unsubscribe link, each message recorded
//! as an e-mail activity on the contact it reached.
//!
//! Sending runs in the background from the `mailing_sending_started`
//! event, which lists whom the mailing targets. Per recipient, in order:
//! skip if its activity exists (already sent: the activity id is derived
//! from the mailing and the contact), re-check consent and address, render,
//! send (retried on transient refusals), log the activity. A restart
//! resumes every mailing that has not finished, so each contact gets the
//! message once, except one sent just before a crash and not yet logged.
//!
//! Unsubscribe links carry `<mailing><contact><HMAC>` signed with the
//! mailing's own key; following one (a POST, also RFC 8058 one-click)
//! clears the contact's consent as the system, whoever clicks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use voronka_core::{Actor, Clock, CommandId, Position, Timestamp};
use voronka_crm::activity::{Activity, ActivityCommand, ActivityInput};
use voronka_crm::contact::{Contact, ContactChanges, ContactCommand};
use voronka_crm::customer_index::ContactFilter;
use voronka_crm::mailing::{
    self, Mailing, MailingCommand, MailingId, MailingInput, MailingKey, MailingOutcome,
    MailingRecord, MailingStatus, Segment, SegmentCommand, SegmentFilter, SegmentId, SegmentInput,
    SegmentRecord, TemplateValues,
};
use voronka_crm::{ActivityId, Aggregate, ContactId, Cursor, Dictionaries, UserId};
use voronka_mail::{MailError, MailTransport, OutgoingMail};
use voronka_store::{EventStore, MAX_READ_BATCH};

use crate::access::Action;
use crate::crm::{records, AppError, Caller, Crm, Reach, Written};

/// Attempts per message before it counts as failed.
const ATTEMPTS: u32 = 3;
/// Recipients shown in a segment's preview.
pub const MAX_PREVIEW: usize = 200;

/// A segment as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SegmentView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SegmentId,
    pub name: String,
    pub filter: SegmentFilter,
    #[schema(value_type = String, format = Uuid)]
    pub saved_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub saved_at: Timestamp,
}

impl From<&SegmentRecord> for SegmentView {
    fn from(record: &SegmentRecord) -> Self {
        Self {
            id: record.id,
            name: record.name.clone(),
            filter: record.filter.clone(),
            saved_by: record.saved_by,
            saved_at: record.saved_at,
        }
    }
}

/// One contact a mailing would reach.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recipient {
    #[schema(value_type = String, format = Uuid)]
    pub contact: ContactId,
    pub full_name: String,
    pub email: String,
    pub company: Option<String>,
}

/// A segment's recipients: how many, and the first of them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecipientsPreview {
    pub total: usize,
    pub items: Vec<Recipient>,
}

/// A mailing as the API shows it (never with its key).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailingView {
    #[schema(value_type = String, format = Uuid)]
    pub id: MailingId,
    pub subject: String,
    pub body: String,
    #[schema(value_type = String, format = Uuid)]
    pub segment: SegmentId,
    pub status: MailingStatus,
    /// Contacts targeted (once started).
    pub recipients: usize,
    /// Sent, skipped and failed so far (final once finished).
    pub progress: MailingOutcome,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
}

/// Segments and mailings folded from the log.
struct Folded {
    after: Position,
    segments: BTreeMap<SegmentId, SegmentRecord>,
    mailings: BTreeMap<MailingId, MailingRecord>,
}

impl Default for Folded {
    fn default() -> Self {
        Self {
            after: Position(0),
            segments: BTreeMap::new(),
            mailings: BTreeMap::new(),
        }
    }
}

/// The mailings service. One per process, shared behind an `Arc`.
pub struct Mailings {
    crm: Arc<Crm>,
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    transport: Arc<dyn MailTransport>,
    /// The address pages are served at, for unsubscribe links
    /// (`https://crm.example.com`).
    public_url: String,
    retry_delay: Duration,
    dictionaries: Dictionaries,
    folded: tokio::sync::Mutex<Folded>,
    /// Sent/skipped/failed of the mailings being sent now.
    progress: std::sync::Mutex<HashMap<MailingId, MailingOutcome>>,
}

impl Mailings {
    pub fn new(
        crm: Arc<Crm>,
        transport: Arc<dyn MailTransport>,
        public_url: impl Into<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store: crm.store.clone(),
            clock: crm.clock.clone(),
            crm,
            transport,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            retry_delay: Duration::from_secs(2),
            dictionaries: Dictionaries::standard(),
            folded: tokio::sync::Mutex::default(),
            progress: std::sync::Mutex::default(),
        })
    }

    /// The same with a shorter wait between attempts (tests).
    pub fn with_retry_delay(self: Arc<Self>, delay: Duration) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut inner) => {
                inner.retry_delay = delay;
                Arc::new(inner)
            }
            Err(shared) => shared,
        }
    }

    fn context(&self, actor: UserId) -> voronka_crm::Context<'_> {
        voronka_crm::Context {
            now: self.clock.now(),
            actor,
            dictionaries: &self.dictionaries,
        }
    }

    /// Folds new segment and mailing events and returns the view.
    async fn folded(&self) -> Result<tokio::sync::MutexGuard<'_, Folded>, AppError> {
        let mut folded = self.folded.lock().await;
        loop {
            let batch = self.store.read_all(folded.after, MAX_READ_BATCH).await?;
            let Some(last) = batch.last() else { break };
            folded.after = last.position;
            for event in &batch {
                let stream = event.stream_id.as_str();
                if let Some(id) = id_of_stream(stream, Segment::CATEGORY) {
                    if let Ok(decoded) =
                        voronka_crm::decode_event::<Segment>(event.payload.as_str())
                    {
                        let id = SegmentId::from_uuid(id);
                        let mut state = folded.segments.remove(&id);
                        Segment::apply(&mut state, &decoded);
                        if let Some(record) = state {
                            folded.segments.insert(id, record);
                        }
                    }
                } else if let Some(id) = id_of_stream(stream, Mailing::CATEGORY) {
                    if let Ok(decoded) =
                        voronka_crm::decode_event::<Mailing>(event.payload.as_str())
                    {
                        let id = MailingId::from_uuid(id);
                        let mut state = folded.mailings.remove(&id);
                        Mailing::apply(&mut state, &decoded);
                        if let Some(record) = state {
                            folded.mailings.insert(id, record);
                        }
                    }
                }
            }
            if batch.len() < MAX_READ_BATCH {
                break;
            }
        }
        Ok(folded)
    }

    /// Creates a segment (`id` none) or replaces one.
    pub async fn save_segment(
        &self,
        caller: &Caller,
        id: Option<SegmentId>,
        input: SegmentInput,
    ) -> Result<(SegmentView, Written), AppError> {
        caller.may_at_all(Action::SendMailings)?;
        let id = match id {
            Some(id) => {
                let folded = self.folded().await?;
                folded
                    .segments
                    .get(&id)
                    .filter(|s| !s.deleted)
                    .ok_or(AppError::NotFound)?;
                id
            }
            None => SegmentId::from_uuid(uuid::Uuid::now_v7()),
        };
        let (state, outcome) = records::execute::<Segment>(
            &self.store,
            id.0,
            &SegmentCommand::Save { id, input },
            &self.context(caller.user.id),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        let record =
            state.ok_or_else(|| AppError::Internal("a saved segment has no state".into()))?;
        Ok((SegmentView::from(&record), written(id.0, &outcome)))
    }

    pub async fn segments(&self, caller: &Caller) -> Result<Vec<SegmentView>, AppError> {
        caller.may_at_all(Action::SendMailings)?;
        let folded = self.folded().await?;
        Ok(folded
            .segments
            .values()
            .filter(|s| !s.deleted)
            .map(SegmentView::from)
            .collect())
    }

    pub async fn delete_segment(
        &self,
        caller: &Caller,
        id: SegmentId,
    ) -> Result<Written, AppError> {
        caller.may_at_all(Action::SendMailings)?;
        let (_, outcome) = records::execute::<Segment>(
            &self.store,
            id.0,
            &SegmentCommand::Delete,
            &self.context(caller.user.id),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        Ok(written(id.0, &outcome))
    }

    /// Whom a segment reaches now, for the caller.
    pub async fn preview(
        &self,
        caller: &Caller,
        id: SegmentId,
    ) -> Result<RecipientsPreview, AppError> {
        caller.may_at_all(Action::SendMailings)?;
        let filter = self.segment_filter(id).await?;
        let all = self
            .recipients(&filter, &caller.reach(Action::SeeContactPersonalData))
            .await?;
        Ok(RecipientsPreview {
            total: all.len(),
            items: all.into_iter().take(MAX_PREVIEW).collect(),
        })
    }

    async fn segment_filter(&self, id: SegmentId) -> Result<SegmentFilter, AppError> {
        let folded = self.folded().await?;
        folded
            .segments
            .get(&id)
            .filter(|s| !s.deleted)
            .map(|s| s.filter.clone())
            .ok_or(AppError::NotFound)
    }

    /// The open contacts within `reach` that match `filter`, have consent
    /// and an e-mail, oldest first.
    async fn recipients(
        &self,
        filter: &SegmentFilter,
        reach: &Reach,
    ) -> Result<Vec<Recipient>, AppError> {
        let indexes = self.crm.indexes(None).await?;
        let customers = &indexes.customers;
        let contact_filter = ContactFilter {
            q: filter.q.clone(),
            company: filter.company,
            responsible: filter.responsible,
            has_consent: Some(true),
        };
        let mut found = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let page = customers.contacts(
                &contact_filter,
                &|responsible| reach.includes(responsible),
                after,
                voronka_crm::MAX_PAGE_SIZE,
            );
            for row in &page.items {
                let record = &row.record;
                let Some(email) = record.emails.first() else {
                    continue;
                };
                let company = record.company.and_then(|c| customers.company(c));
                let wanted = |value: &Option<String>, actual: Option<&Option<String>>| {
                    value.is_none() || actual.is_some_and(|actual| actual == value)
                };
                if !wanted(&filter.industry, company.map(|c| &c.record.industry))
                    || !wanted(&filter.company_segment, company.map(|c| &c.record.segment))
                {
                    continue;
                }
                found.push(Recipient {
                    contact: record.id,
                    full_name: row.full_name.clone(),
                    email: email.clone(),
                    company: company.map(|c| c.record.name.clone()),
                });
            }
            match page.next_cursor.as_deref().map(Cursor::parse) {
                Some(Ok(cursor)) => after = Some(cursor),
                _ => break,
            }
        }
        found.reverse();
        Ok(found)
    }

    /// Creates a draft mailing to a segment.
    pub async fn create(
        &self,
        caller: &Caller,
        input: MailingInput,
    ) -> Result<(MailingView, Written), AppError> {
        caller.may_at_all(Action::SendMailings)?;
        if let Some(segment) = input.segment {
            let known = self
                .folded()
                .await?
                .segments
                .get(&segment)
                .is_some_and(|s| !s.deleted);
            if !known {
                return Err(AppError::invalid(
                    "segment",
                    "unknown_segment",
                    "no such segment",
                ));
            }
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|error| AppError::Internal(error.to_string()))?;
        let id = MailingId::from_uuid(uuid::Uuid::now_v7());
        let (state, outcome) = records::execute::<Mailing>(
            &self.store,
            id.0,
            &MailingCommand::Create {
                id,
                input,
                key: MailingKey(hex(&key)),
            },
            &self.context(caller.user.id),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        let record =
            state.ok_or_else(|| AppError::Internal("a new mailing has no state".into()))?;
        Ok((self.view(&record), written(id.0, &outcome)))
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<MailingView>, AppError> {
        caller.may_at_all(Action::SendMailings)?;
        let folded = self.folded().await?;
        Ok(folded
            .mailings
            .values()
            .rev()
            .map(|m| self.view(m))
            .collect())
    }

    pub async fn get(&self, caller: &Caller, id: MailingId) -> Result<MailingView, AppError> {
        caller.may_at_all(Action::SendMailings)?;
        let folded = self.folded().await?;
        let record = folded.mailings.get(&id).ok_or(AppError::NotFound)?;
        Ok(self.view(record))
    }

    fn view(&self, record: &MailingRecord) -> MailingView {
        let progress = record.outcome.unwrap_or_else(|| {
            self.progress
                .lock()
                .ok()
                .and_then(|p| p.get(&record.id).copied())
                .unwrap_or_default()
        });
        MailingView {
            id: record.id,
            subject: record.subject.clone(),
            body: record.body.clone(),
            segment: record.segment,
            status: record.status,
            recipients: record.recipients.len(),
            progress,
            created_by: record.created_by,
            created_at: record.created_at,
            started_at: record.started_at,
        }
    }

    /// Starts sending: the segment's recipients for the caller now are
    /// recorded, and a background task sends to them.
    pub async fn send(
        self: &Arc<Self>,
        caller: &Caller,
        id: MailingId,
    ) -> Result<Written, AppError> {
        caller.may_at_all(Action::SendMailings)?;
        if !self.transport.configured() {
            return Err(AppError::Unavailable {
                code: "mail_not_configured",
                message: "e-mail is not configured on this server (voronka serve --smtp)".into(),
            });
        }
        let segment = {
            let folded = self.folded().await?;
            folded.mailings.get(&id).ok_or(AppError::NotFound)?.segment
        };
        let filter = self.segment_filter(segment).await?;
        let recipients: Vec<ContactId> = self
            .recipients(&filter, &caller.reach(Action::SeeContactPersonalData))
            .await?
            .into_iter()
            .map(|r| r.contact)
            .collect();
        let (_, outcome) = records::execute::<Mailing>(
            &self.store,
            id.0,
            &MailingCommand::StartSending { recipients },
            &self.context(caller.user.id),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        self.spawn_delivery(id);
        Ok(written(id.0, &outcome))
    }

    /// Resumes every mailing started and not finished (after a restart).
    pub async fn resume(self: &Arc<Self>) -> Result<usize, AppError> {
        let unfinished: Vec<MailingId> = self
            .folded()
            .await?
            .mailings
            .values()
            .filter(|m| m.status == MailingStatus::Sending)
            .map(|m| m.id)
            .collect();
        for id in &unfinished {
            self.spawn_delivery(*id);
        }
        Ok(unfinished.len())
    }

    fn spawn_delivery(self: &Arc<Self>, id: MailingId) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(error) = this.deliver(id).await {
                tracing::warn!(mailing = %id, %error, "mailing: sending stopped; it resumes on the next start");
            }
        });
    }

    /// Sends a started mailing to each recipient not yet reached, then
    /// records how it ended.
    async fn deliver(&self, id: MailingId) -> Result<(), AppError> {
        let record = records::load::<Mailing>(&self.store, id.0)
            .await?
            .state
            .ok_or(AppError::NotFound)?;
        if record.status != MailingStatus::Sending {
            return Ok(());
        }
        let sender = record.started_by.unwrap_or(record.created_by);
        let mut outcome = MailingOutcome::default();
        for contact in &record.recipients {
            let activity = mailing_activity_id(id, *contact);
            if records::load::<Activity>(&self.store, activity.0)
                .await?
                .state
                .is_some()
            {
                outcome.sent += 1;
            } else {
                match self.send_one(&record, *contact, activity, sender).await? {
                    Delivery::Sent => outcome.sent += 1,
                    Delivery::Skipped => outcome.skipped += 1,
                    Delivery::Failed => outcome.failed += 1,
                }
            }
            if let Ok(mut progress) = self.progress.lock() {
                progress.insert(id, outcome);
            }
        }
        records::execute::<Mailing>(
            &self.store,
            id.0,
            &MailingCommand::Finish { outcome },
            &self.context(sender),
            &Actor::system("mailing"),
            None,
            None,
        )
        .await?;
        if let Ok(mut progress) = self.progress.lock() {
            progress.remove(&id);
        }
        tracing::info!(mailing = %id, sent = outcome.sent, skipped = outcome.skipped, failed = outcome.failed, "mailing finished");
        Ok(())
    }

    async fn send_one(
        &self,
        record: &MailingRecord,
        contact: ContactId,
        activity: ActivityId,
        sender: UserId,
    ) -> Result<Delivery, AppError> {
        let (mail, responsible, company) = {
            let indexes = self.crm.indexes(None).await?;
            let Some(row) = indexes.customers.contact(contact) else {
                return Ok(Delivery::Skipped);
            };
            let person = &row.record;
            let Some(email) = person.emails.first() else {
                return Ok(Delivery::Skipped);
            };
            if !person.consent_to_mailings || person.merged_into.is_some() {
                return Ok(Delivery::Skipped);
            }
            let company = person.company.and_then(|c| indexes.customers.company(c));
            let url = format!(
                "{}/unsubscribe/{}",
                self.public_url,
                unsubscribe_token(&record.key, record.id, contact)
            );
            let text = mailing::render(
                &record.body,
                &TemplateValues {
                    name: &person.name,
                    surname: &person.surname,
                    full_name: &row.full_name,
                    company: company.map_or("", |c| c.record.name.as_str()),
                    unsubscribe_url: &url,
                },
            );
            let mail = OutgoingMail {
                to: email.clone(),
                to_name: row.full_name.clone(),
                subject: record.subject.clone(),
                text,
                unsubscribe_url: Some(url),
            };
            (mail, person.responsible, person.company)
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.transport.send(&mail).await {
                Ok(()) => break,
                Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                    tracing::debug!(mailing = %record.id, %contact, %error, "mailing: retrying");
                    tokio::time::sleep(self.retry_delay * attempt).await;
                }
                Err(MailError::NotConfigured) => {
                    return Err(AppError::Internal("e-mail is not configured".into()))
                }
                Err(error) => {
                    tracing::warn!(mailing = %record.id, %contact, %error, "mailing: a message failed");
                    return Ok(Delivery::Failed);
                }
            }
        }
        let input = ActivityInput {
            kind: "email".into(),
            direction: Some("outgoing".into()),
            channel: None,
            subject: Some(record.subject.clone()),
            planned_start: None,
            due_at: None,
            responsible: Some(responsible.to_string()),
            deal: None,
            contact: Some(contact.to_string()),
            company: company.map(|c| c.to_string()),
        };
        records::create::<Activity>(
            &self.store,
            activity.0,
            &ActivityCommand::Log {
                id: activity,
                input,
                outcome: None,
                result: Some(format!("mailing {}", record.id)),
                default_responsible: sender,
            },
            &self.context(sender),
            &Actor::system("mailing"),
            Some(CommandId::from_uuid(activity.0)),
        )
        .await?;
        Ok(Delivery::Sent)
    }

    /// Clears the consent of the contact a valid unsubscribe token names.
    /// Unknown or forged tokens are `NotFound`; a second click changes
    /// nothing.
    pub async fn unsubscribe(&self, token: &str) -> Result<(), AppError> {
        let (mailing, contact) = parse_token(token).ok_or(AppError::NotFound)?;
        let record = records::load::<Mailing>(&self.store, mailing.0)
            .await?
            .state
            .ok_or(AppError::NotFound)?;
        if !verify_token(&record.key, mailing, contact, token) {
            return Err(AppError::NotFound);
        }
        let changes = ContactChanges {
            consent_to_mailings: Some(false),
            ..Default::default()
        };
        records::execute::<Contact>(
            &self.store,
            contact.0,
            &ContactCommand::Update { changes },
            &self.context(record.created_by),
            &Actor::system("unsubscribe"),
            None,
            None,
        )
        .await?;
        Ok(())
    }
}

enum Delivery {
    Sent,
    Skipped,
    Failed,
}

fn written(id: uuid::Uuid, outcome: &records::RecordOutcome) -> Written {
    Written {
        id,
        version: outcome.version.0,
        position: outcome.position.0,
    }
}

fn id_of_stream(stream: &str, category: &str) -> Option<uuid::Uuid> {
    stream
        .strip_prefix(category)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// The e-mail activity of a mailing for a contact: the same inputs give the
/// same id, so a resumed mailing finds what it already sent.
pub fn mailing_activity_id(mailing: MailingId, contact: ContactId) -> ActivityId {
    let mut hash = Sha256::new();
    hash.update(b"voronka/mailing/");
    hash.update(mailing.0.as_bytes());
    hash.update(contact.0.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ActivityId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(key: &MailingKey, mailing: MailingId, contact: ContactId) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.0.as_bytes()).ok()?;
    mac.update(b"unsubscribe/");
    mac.update(mailing.0.as_bytes());
    mac.update(contact.0.as_bytes());
    Some(mac)
}

/// `<mailing hex><contact hex><first 16 bytes of the HMAC, hex>`.
pub fn unsubscribe_token(key: &MailingKey, mailing: MailingId, contact: ContactId) -> String {
    let signature = mac(key, mailing, contact)
        .map(|mac| hex(&mac.finalize().into_bytes()[..16]))
        .unwrap_or_default();
    format!("{}{}{signature}", mailing.0.simple(), contact.0.simple())
}

fn parse_token(token: &str) -> Option<(MailingId, ContactId)> {
    if token.len() != 96 || !token.is_ascii() {
        return None;
    }
    let mailing = uuid::Uuid::try_parse(&token[..32]).ok()?;
    let contact = uuid::Uuid::try_parse(&token[32..64]).ok()?;
    Some((MailingId::from_uuid(mailing), ContactId::from_uuid(contact)))
}

fn verify_token(key: &MailingKey, mailing: MailingId, contact: ContactId, token: &str) -> bool {
    let Some(given) = (0..16)
        .map(|i| u8::from_str_radix(token.get(64 + 2 * i..66 + 2 * i)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    mac(key, mailing, contact).is_some_and(|mac| mac.verify_truncated_left(&given).is_ok())
}
