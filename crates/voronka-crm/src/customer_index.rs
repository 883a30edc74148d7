//! The customer base as a read model: companies and contacts for lists,
//! search, duplicate checks and timelines, built from the event log alone.
//!
//! Fed every recorded event in position order through
//! [`CustomerIndex::apply`]; it keeps only `company-*` and `contact-*`
//! streams, skips (and counts) payloads it cannot decode, never panics.
//!
//! - Rows are kept in the order of their creation position; lists walk that
//!   order newest first, starting at the cursor, through the smallest
//!   matching secondary index (by responsible, industry, segment, company,
//!   consent), so a filtered page costs about the rows it returns, not the
//!   size of the base. Merged records are left out of lists (still readable
//!   by id, with `merged_into`).
//! - Search (`q`) is a scan over text folded once per change with
//!   [`fold_for_search`]: every word of the query must appear in the row's
//!   text; a phone-like query ([`phone_search_key`]) also matches the digits
//!   of any phone, whatever format it was typed in.
//! - Duplicates: hash maps from INN, phone (E.164 without extension) and
//!   e-mail to the open records holding them.
//! - Timelines: a company's events go on its timeline; a contact's on its own
//!   and on its company's (the old and the new one when it moves, and the
//!   company it was merged into). `*_absorbed` copies the source's timeline
//!   onto the survivor.
//!
//! The index never decides access: lists take a visibility predicate built
//! by the application layer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use voronka_core::customer::{fold_for_search, phone_search_key, Country, Email, Inn, Phone};
use voronka_core::{Position, RecordedEvent, Timestamp};

use crate::company::{Company, CompanyEvent, CompanyInput, CompanyRecord, CompanyState};
use crate::contact::{Contact, ContactEvent, ContactInput, ContactRecord, ContactState};
use crate::page::{Cursor, Page};
use crate::{
    decode_event, Aggregate, CompanyId, ContactId, EntityRef, TimelineEntry, Timelines, UserId,
};

/// How many merges a chain of merged companies is followed through.
const MAX_MERGE_CHAIN: usize = 32;

/// A company as lists and cards show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CompanyRow {
    #[serde(flatten)]
    pub record: CompanyRecord,
    /// The global position of `company_created`; lists are ordered by it.
    #[schema(value_type = u64)]
    pub created_position: Position,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The stream's version: send it back as the expected version.
    pub version: u64,
}

/// A contact as lists and cards show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContactRow {
    #[serde(flatten)]
    pub record: ContactRecord,
    /// "Иванов Пётр Сергеевич".
    pub full_name: String,
    #[schema(value_type = u64)]
    pub created_position: Position,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
}

/// Which companies a list shows (all given conditions hold). Unknown
/// fields are ignored, so the gateway can flatten it into its query type.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CompanyFilter {
    /// Search text: name, INN, website.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub responsible: Option<UserId>,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub segment: Option<String>,
}

/// Which contacts a list shows (all given conditions hold). Unknown fields
/// are ignored, so the gateway can flatten it into its query type.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContactFilter {
    /// Search text: names, phones (any format), e-mails.
    #[serde(default)]
    pub q: Option<String>,
    /// Contacts of this company, and of the companies merged into it.
    #[serde(default)]
    pub company: Option<CompanyId>,
    #[serde(default)]
    pub responsible: Option<UserId>,
    #[serde(default)]
    pub has_consent: Option<bool>,
}

#[derive(Debug, Clone)]
struct CompanyEntry {
    row: CompanyRow,
    /// Folded name, INN, KPP and website.
    search: String,
}

#[derive(Debug, Clone)]
struct ContactEntry {
    row: ContactRow,
    /// Folded names, e-mails and phones.
    search: String,
    /// The E.164 digits of every phone (no `+`, no extension).
    phone_digits: Vec<String>,
}

/// Secondary indexes of open (not merged) companies.
#[derive(Debug, Clone, Default)]
struct CompanyKeys {
    by_responsible: HashMap<UserId, BTreeSet<Position>>,
    by_industry: HashMap<String, BTreeSet<Position>>,
    by_segment: HashMap<String, BTreeSet<Position>>,
    by_inn: HashMap<String, Vec<CompanyId>>,
}

/// Secondary indexes of open (not merged) contacts.
#[derive(Debug, Clone, Default)]
struct ContactKeys {
    by_responsible: HashMap<UserId, BTreeSet<Position>>,
    by_company: HashMap<CompanyId, BTreeSet<Position>>,
    with_consent: BTreeSet<Position>,
    by_phone: HashMap<String, Vec<ContactId>>,
    by_email: HashMap<String, Vec<ContactId>>,
}

fn add_to_set<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, BTreeSet<Position>>,
    key: K,
    position: Position,
) {
    map.entry(key).or_default().insert(position);
}

fn remove_from_set<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, BTreeSet<Position>>,
    key: &K,
    position: Position,
) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&position);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

fn add_to_list<I: PartialEq + Copy>(map: &mut HashMap<String, Vec<I>>, key: &str, id: I) {
    let list = map.entry(key.to_owned()).or_default();
    if !list.contains(&id) {
        list.push(id);
    }
}

fn remove_from_list<I: PartialEq>(map: &mut HashMap<String, Vec<I>>, key: &str, id: &I) {
    if let Some(list) = map.get_mut(key) {
        list.retain(|other| other != id);
        if list.is_empty() {
            map.remove(key);
        }
    }
}

impl CompanyKeys {
    fn add(&mut self, position: Position, record: &CompanyRecord) {
        if record.merged_into.is_some() {
            return;
        }
        add_to_set(&mut self.by_responsible, record.responsible, position);
        if let Some(industry) = &record.industry {
            add_to_set(&mut self.by_industry, industry.clone(), position);
        }
        if let Some(segment) = &record.segment {
            add_to_set(&mut self.by_segment, segment.clone(), position);
        }
        if let Some(inn) = &record.inn {
            add_to_list(&mut self.by_inn, inn, record.id);
        }
    }

    fn remove(&mut self, position: Position, record: &CompanyRecord) {
        remove_from_set(&mut self.by_responsible, &record.responsible, position);
        if let Some(industry) = &record.industry {
            remove_from_set(&mut self.by_industry, industry, position);
        }
        if let Some(segment) = &record.segment {
            remove_from_set(&mut self.by_segment, segment, position);
        }
        if let Some(inn) = &record.inn {
            remove_from_list(&mut self.by_inn, inn, &record.id);
        }
    }
}

/// The duplicate key of a stored phone: its E.164 part, without extension.
fn phone_key(stored: &str) -> &str {
    stored.split(';').next().unwrap_or(stored)
}

impl ContactKeys {
    fn add(&mut self, position: Position, record: &ContactRecord) {
        if record.merged_into.is_some() {
            return;
        }
        add_to_set(&mut self.by_responsible, record.responsible, position);
        if let Some(company) = record.company {
            add_to_set(&mut self.by_company, company, position);
        }
        if record.consent_to_mailings {
            self.with_consent.insert(position);
        }
        for phone in &record.phones {
            add_to_list(&mut self.by_phone, phone_key(phone), record.id);
        }
        for email in &record.emails {
            add_to_list(&mut self.by_email, email, record.id);
        }
    }

    fn remove(&mut self, position: Position, record: &ContactRecord) {
        remove_from_set(&mut self.by_responsible, &record.responsible, position);
        if let Some(company) = &record.company {
            remove_from_set(&mut self.by_company, company, position);
        }
        self.with_consent.remove(&position);
        for phone in &record.phones {
            remove_from_list(&mut self.by_phone, phone_key(phone), &record.id);
        }
        for email in &record.emails {
            remove_from_list(&mut self.by_email, email, &record.id);
        }
    }
}

fn company_search_text(record: &CompanyRecord) -> String {
    let parts = [
        Some(record.name.as_str()),
        record.inn.as_deref(),
        record.kpp.as_deref(),
        record.website.as_deref(),
    ];
    fold_for_search(&parts.into_iter().flatten().collect::<Vec<_>>().join(" "))
}

fn contact_search_text(record: &ContactRecord) -> String {
    let mut parts = vec![record.full_name()];
    parts.extend(record.emails.iter().cloned());
    parts.extend(
        record
            .phones
            .iter()
            .map(|phone| phone_key(phone).to_owned()),
    );
    fold_for_search(&parts.join(" "))
}

fn phone_digits(record: &ContactRecord) -> Vec<String> {
    record
        .phones
        .iter()
        .map(|phone| phone_key(phone).trim_start_matches('+').to_owned())
        .collect()
}

/// A search query, folded once.
struct Query {
    words: Vec<String>,
    phone_key: Option<String>,
}

impl Query {
    /// `None` when the text is blank (no search).
    fn parse(text: Option<&str>) -> Option<Query> {
        let text = text?;
        let folded = fold_for_search(text);
        if folded.is_empty() {
            return None;
        }
        Some(Query {
            words: folded.split(' ').map(str::to_owned).collect(),
            phone_key: phone_search_key(text),
        })
    }

    fn matches(&self, search: &str, phone_digits: &[String]) -> bool {
        if let Some(key) = &self.phone_key {
            if phone_digits
                .iter()
                .any(|digits| digits.contains(key.as_str()))
            {
                return true;
            }
        }
        self.words.iter().all(|word| search.contains(word.as_str()))
    }
}

/// Positions of `set` older than `after`, newest first.
fn older_first_rev(
    set: &BTreeSet<Position>,
    after: Option<Cursor>,
) -> impl Iterator<Item = Position> + '_ {
    let upper = after.map_or(Bound::Unbounded, |cursor| Bound::Excluded(cursor.0));
    set.range((Bound::Unbounded, upper)).rev().copied()
}

/// The uuid of a stream of `category` (`<category>-<uuid>`): `None` when
/// the stream is another category's, `Some(Err)` when the id is malformed.
fn stream_uuid(event: &RecordedEvent, category: &str) -> Option<Result<uuid::Uuid, uuid::Error>> {
    let rest = event
        .stream_id
        .as_str()
        .strip_prefix(category)?
        .strip_prefix('-')?;
    Some(uuid::Uuid::parse_str(rest))
}

/// The read model of companies and contacts (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct CustomerIndex {
    companies: BTreeMap<Position, CompanyEntry>,
    company_positions: HashMap<CompanyId, Position>,
    company_keys: CompanyKeys,
    contacts: BTreeMap<Position, ContactEntry>,
    contact_positions: HashMap<ContactId, Position>,
    contact_keys: ContactKeys,
    skipped: u64,
}

impl CustomerIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events of this index's categories were skipped (payloads
    /// that do not decode, changes of records never created, duplicate
    /// creations).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Takes one recorded event (in position order).
    pub fn apply(&mut self, event: &RecordedEvent, timelines: &mut Timelines) {
        if let Some(id) = stream_uuid(event, Company::CATEGORY) {
            match (id, decode_event::<Company>(event.payload.as_str())) {
                (Ok(id), Ok(decoded)) => {
                    self.apply_company(event, CompanyId::from_uuid(id), &decoded, timelines)
                }
                _ => self.skipped += 1,
            }
        } else if let Some(id) = stream_uuid(event, Contact::CATEGORY) {
            match (id, decode_event::<Contact>(event.payload.as_str())) {
                (Ok(id), Ok(decoded)) => {
                    self.apply_contact(event, ContactId::from_uuid(id), &decoded, timelines)
                }
                _ => self.skipped += 1,
            }
        }
    }

    fn apply_company(
        &mut self,
        event: &RecordedEvent,
        id: CompanyId,
        decoded: &CompanyEvent,
        timelines: &mut Timelines,
    ) {
        let at = event.effective_time();
        if let CompanyEvent::CompanyCreated { .. } = decoded {
            if self.company_positions.contains_key(&id) {
                self.skipped += 1;
                return;
            }
            let mut state = CompanyState::default();
            Company::apply(&mut state, decoded);
            let Some(mut record) = state.0 else {
                self.skipped += 1;
                return;
            };
            record.id = id;
            let position = event.position;
            self.company_keys.add(position, &record);
            let search = company_search_text(&record);
            self.company_positions.insert(id, position);
            self.companies.insert(
                position,
                CompanyEntry {
                    row: CompanyRow {
                        record,
                        created_position: position,
                        created_at: at,
                        updated_at: at,
                        version: event.stream_version.0,
                    },
                    search,
                },
            );
        } else {
            let Some(entry) = self
                .company_positions
                .get(&id)
                .and_then(|position| self.companies.get_mut(position))
            else {
                self.skipped += 1;
                return;
            };
            let position = entry.row.created_position;
            self.company_keys.remove(position, &entry.row.record);
            entry.row.record.apply(decoded);
            self.company_keys.add(position, &entry.row.record);
            entry.search = company_search_text(&entry.row.record);
            entry.row.updated_at = at;
            entry.row.version = event.stream_version.0;
        }
        record_on_timelines(
            event,
            EntityRef::Company(id),
            Company::event_type(decoded),
            &[EntityRef::Company(id)],
            timelines,
        );
        if let CompanyEvent::CompanyAbsorbed { source } = decoded {
            timelines.merge_into(EntityRef::Company(*source), EntityRef::Company(id));
        }
    }

    fn apply_contact(
        &mut self,
        event: &RecordedEvent,
        id: ContactId,
        decoded: &ContactEvent,
        timelines: &mut Timelines,
    ) {
        let at = event.effective_time();
        let mut companies: Vec<CompanyId> = Vec::new();
        if let ContactEvent::ContactCreated { .. } = decoded {
            if self.contact_positions.contains_key(&id) {
                self.skipped += 1;
                return;
            }
            let mut state = ContactState::default();
            Contact::apply(&mut state, decoded);
            let Some(mut record) = state.0 else {
                self.skipped += 1;
                return;
            };
            record.id = id;
            companies.extend(record.company);
            let position = event.position;
            self.contact_keys.add(position, &record);
            let search = contact_search_text(&record);
            let digits = phone_digits(&record);
            self.contact_positions.insert(id, position);
            self.contacts.insert(
                position,
                ContactEntry {
                    row: ContactRow {
                        full_name: record.full_name(),
                        record,
                        created_position: position,
                        created_at: at,
                        updated_at: at,
                        version: event.stream_version.0,
                    },
                    search,
                    phone_digits: digits,
                },
            );
        } else {
            let Some(entry) = self
                .contact_positions
                .get(&id)
                .and_then(|position| self.contacts.get_mut(position))
            else {
                self.skipped += 1;
                return;
            };
            let position = entry.row.created_position;
            companies.extend(entry.row.record.company);
            self.contact_keys.remove(position, &entry.row.record);
            entry.row.record.apply(decoded);
            self.contact_keys.add(position, &entry.row.record);
            companies.extend(entry.row.record.company);
            entry.search = contact_search_text(&entry.row.record);
            entry.phone_digits = phone_digits(&entry.row.record);
            entry.row.full_name = entry.row.record.full_name();
            entry.row.updated_at = at;
            entry.row.version = event.stream_version.0;
        }
        let mut entities = vec![EntityRef::Contact(id)];
        for company in companies {
            entities.push(EntityRef::Company(company));
            entities.push(EntityRef::Company(self.surviving_company(company)));
        }
        record_on_timelines(
            event,
            EntityRef::Contact(id),
            Contact::event_type(decoded),
            &entities,
            timelines,
        );
        if let ContactEvent::ContactAbsorbed { source } = decoded {
            timelines.merge_into(EntityRef::Contact(*source), EntityRef::Contact(id));
        }
    }

    /// The company `id` ends up in after merges (itself when not merged).
    fn surviving_company(&self, id: CompanyId) -> CompanyId {
        let mut current = id;
        for _ in 0..MAX_MERGE_CHAIN {
            match self.company(current).and_then(|row| row.record.merged_into) {
                Some(next) if next != current => current = next,
                _ => break,
            }
        }
        current
    }

    /// The companies merged into `id`, directly or through others, and `id`.
    fn company_family(&self, id: CompanyId) -> Vec<CompanyId> {
        let mut family = vec![id];
        let mut index = 0;
        while let Some(current) = family.get(index).copied() {
            index += 1;
            if let Some(row) = self.company(current) {
                for source in &row.record.absorbed {
                    if !family.contains(source) {
                        family.push(*source);
                    }
                }
            }
        }
        family
    }

    // -- reads -------------------------------------------------------------

    /// A company by id, merged or not.
    pub fn company(&self, id: CompanyId) -> Option<&CompanyRow> {
        let position = self.company_positions.get(&id)?;
        self.companies.get(position).map(|entry| &entry.row)
    }

    /// A contact by id, merged or not.
    pub fn contact(&self, id: ContactId) -> Option<&ContactRow> {
        let position = self.contact_positions.get(&id)?;
        self.contacts.get(position).map(|entry| &entry.row)
    }

    /// A page of open companies, newest first, that match `filter` and whose
    /// responsible user `visible` accepts.
    pub fn companies(
        &self,
        filter: &CompanyFilter,
        visible: &dyn Fn(UserId) -> bool,
        after: Option<Cursor>,
        limit: usize,
    ) -> Page<CompanyRow> {
        let query = Query::parse(filter.q.as_deref());
        let keys = &self.company_keys;
        let empty = BTreeSet::new();
        // The smallest secondary index among the filters, else every row.
        let narrowest = [
            filter
                .responsible
                .map(|user| keys.by_responsible.get(&user)),
            filter
                .industry
                .as_ref()
                .map(|value| keys.by_industry.get(value.trim())),
            filter
                .segment
                .as_ref()
                .map(|value| keys.by_segment.get(value.trim())),
        ]
        .into_iter()
        .flatten()
        .map(|set| set.unwrap_or(&empty))
        .min_by_key(|set| set.len());
        let candidates: Box<dyn Iterator<Item = &CompanyEntry> + '_> = match narrowest {
            Some(set) => Box::new(
                older_first_rev(set, after).filter_map(|position| self.companies.get(&position)),
            ),
            None => {
                let upper = after.map_or(Bound::Unbounded, |cursor| Bound::Excluded(cursor.0));
                Box::new(
                    self.companies
                        .range((Bound::Unbounded, upper))
                        .rev()
                        .map(|(_, entry)| entry),
                )
            }
        };
        let matching = candidates.filter(|entry| {
            let record = &entry.row.record;
            record.merged_into.is_none()
                && filter
                    .responsible
                    .is_none_or(|user| record.responsible == user)
                && filter
                    .industry
                    .as_ref()
                    .is_none_or(|value| record.industry.as_deref() == Some(value.trim()))
                && filter
                    .segment
                    .as_ref()
                    .is_none_or(|value| record.segment.as_deref() == Some(value.trim()))
                && visible(record.responsible)
                && query
                    .as_ref()
                    .is_none_or(|query| query.matches(&entry.search, &[]))
        });
        Page::collect(
            matching,
            |entry| entry.row.created_position,
            after,
            limit,
            |entry| entry.row.clone(),
        )
    }

    /// A page of open contacts, newest first, that match `filter` and whose
    /// responsible user `visible` accepts.
    pub fn contacts(
        &self,
        filter: &ContactFilter,
        visible: &dyn Fn(UserId) -> bool,
        after: Option<Cursor>,
        limit: usize,
    ) -> Page<ContactRow> {
        let query = Query::parse(filter.q.as_deref());
        let keys = &self.contact_keys;
        let empty = BTreeSet::new();
        let family = filter.company.map(|company| self.company_family(company));
        // Positions of the contacts of the company and of those merged into it.
        let family_positions: Option<BTreeSet<Position>> = family.as_ref().map(|family| {
            family
                .iter()
                .filter_map(|company| keys.by_company.get(company))
                .flatten()
                .copied()
                .collect()
        });
        let narrowest = [
            family_positions.as_ref(),
            filter
                .responsible
                .map(|user| keys.by_responsible.get(&user).unwrap_or(&empty)),
            (filter.has_consent == Some(true)).then_some(&keys.with_consent),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|set| set.len());
        let candidates: Box<dyn Iterator<Item = &ContactEntry> + '_> = match narrowest {
            Some(set) => Box::new(
                older_first_rev(set, after).filter_map(|position| self.contacts.get(&position)),
            ),
            None => {
                let upper = after.map_or(Bound::Unbounded, |cursor| Bound::Excluded(cursor.0));
                Box::new(
                    self.contacts
                        .range((Bound::Unbounded, upper))
                        .rev()
                        .map(|(_, entry)| entry),
                )
            }
        };
        let matching = candidates.filter(|entry| {
            let record = &entry.row.record;
            record.merged_into.is_none()
                && family.as_ref().is_none_or(|family| {
                    record
                        .company
                        .is_some_and(|company| family.contains(&company))
                })
                && filter
                    .responsible
                    .is_none_or(|user| record.responsible == user)
                && filter
                    .has_consent
                    .is_none_or(|consent| record.consent_to_mailings == consent)
                && visible(record.responsible)
                && query
                    .as_ref()
                    .is_none_or(|query| query.matches(&entry.search, &entry.phone_digits))
        });
        Page::collect(
            matching,
            |entry| entry.row.created_position,
            after,
            limit,
            |entry| entry.row.clone(),
        )
    }

    // -- duplicates --------------------------------------------------------

    /// Open companies with this INN (give it normalized: its digits).
    pub fn company_duplicates(&self, inn: &str) -> Vec<CompanyId> {
        self.company_keys
            .by_inn
            .get(inn.trim())
            .cloned()
            .unwrap_or_default()
    }

    /// Open contacts holding any of these phones (E.164; an extension is
    /// ignored) or e-mails (normalized), each once, in the order found.
    pub fn contact_duplicates(&self, phones: &[String], emails: &[String]) -> Vec<ContactId> {
        let keys = &self.contact_keys;
        let mut found: Vec<ContactId> = Vec::new();
        let by_phone = phones
            .iter()
            .filter_map(|phone| keys.by_phone.get(phone_key(phone.trim())));
        let by_email = emails
            .iter()
            .filter_map(|email| keys.by_email.get(email.trim()));
        for id in by_phone.chain(by_email).flatten() {
            if !found.contains(id) {
                found.push(*id);
            }
        }
        found
    }

    /// Open companies that look like the one `input` would create (same
    /// INN); an INN that does not parse finds nothing.
    pub fn duplicate_candidates_for_company_input(&self, input: &CompanyInput) -> Vec<CompanyId> {
        input
            .inn
            .as_deref()
            .and_then(|raw| Inn::parse(raw).ok())
            .map(|inn| self.company_duplicates(inn.as_str()))
            .unwrap_or_default()
    }

    /// Open contacts sharing a phone or an e-mail with `input`; values that
    /// do not parse are ignored.
    pub fn duplicate_candidates_for_contact_input(&self, input: &ContactInput) -> Vec<ContactId> {
        let phones: Vec<String> = input
            .phones
            .iter()
            .filter_map(|raw| Phone::parse(raw, Country::Ru).ok())
            .map(|phone| phone.e164().to_owned())
            .collect();
        let emails: Vec<String> = input
            .emails
            .iter()
            .filter_map(|raw| Email::parse(raw).ok())
            .map(|email| email.as_str().to_owned())
            .collect();
        self.contact_duplicates(&phones, &emails)
    }

    // -- by responsible ----------------------------------------------------

    /// Every open company `user` is responsible for, oldest first.
    pub fn companies_responsible_of(&self, user: UserId) -> Vec<CompanyId> {
        self.company_keys
            .by_responsible
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|position| self.companies.get(position))
            .map(|entry| entry.row.record.id)
            .collect()
    }

    /// Every open contact `user` is responsible for, oldest first.
    pub fn contacts_responsible_of(&self, user: UserId) -> Vec<ContactId> {
        self.contact_keys
            .by_responsible
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|position| self.contacts.get(position))
            .map(|entry| entry.row.record.id)
            .collect()
    }
}

/// Records `event` on the timelines of `entities`.
fn record_on_timelines(
    event: &RecordedEvent,
    subject: EntityRef,
    event_type: &str,
    entities: &[EntityRef],
    timelines: &mut Timelines,
) {
    let data = serde_json::from_str(event.payload.as_str()).unwrap_or(serde_json::Value::Null);
    timelines.record(
        entities,
        TimelineEntry {
            position: event.position,
            at: event.effective_time(),
            actor: event.metadata.actor.clone(),
            event_type: event_type.to_owned(),
            subject,
            data,
        },
    );
}
