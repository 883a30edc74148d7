//! The read model of the work around deals: activities, documents and
//! products, folded from their streams' events in position order. Answers
//! rows by id, filtered pages, a manager's open activities, a deal's
//! documents, the next document number and SKU look-ups, and records each
//! event on the timelines it concerns: an activity's events on the
//! activity's and on its deal's, contact's and company's timelines (a relink
//! on the old links' and the new ones'), a document's on the document's and
//! its deal's, a product's on the product's.
//!
//! Pure: it never decides access. Lists take a visibility predicate that the
//! application builds from the caller's rights.

use std::collections::HashMap;

use serde::Serialize;
use voronka_core::customer::fold_for_search;
use voronka_core::{Position, RecordedEvent, Timestamp};
use voronka_process::{ActivityKind, ActivityStatus, DocumentKind};

use crate::activity::{Activity, ActivityRecord};
use crate::document::{Document, DocumentRecord, DocumentStatus};
use crate::page::{Cursor, Page};
use crate::product::{Product, ProductRecord};
use crate::timeline::{EntityRef, TimelineEntry, Timelines};
use crate::{
    decode_event, ActivityId, Aggregate, CompanyId, ContactId, DealId, DocumentId, ProductId,
    UserId,
};

/// An activity as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActivityRow {
    #[serde(flatten)]
    pub record: ActivityRecord,
    /// The position of the activity's first event (the list order).
    #[serde(skip)]
    pub created_position: Position,
    /// When the first event was recorded.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the last event was recorded.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The stream's version (pass it back as the expected version).
    pub version: u64,
}

/// A document as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DocumentRow {
    #[serde(flatten)]
    pub record: DocumentRecord,
    #[serde(skip)]
    pub created_position: Position,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
}

/// A product as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProductRow {
    #[serde(flatten)]
    pub record: ProductRecord,
    #[serde(skip)]
    pub created_position: Position,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
    /// Name and SKU folded for search.
    #[serde(skip)]
    search_text: String,
}

/// What an activity list may be narrowed to (every given filter must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityFilter {
    pub responsible: Option<UserId>,
    pub deal: Option<DealId>,
    pub contact: Option<ContactId>,
    pub company: Option<CompanyId>,
    pub kind: Option<ActivityKind>,
    pub status: Option<ActivityStatus>,
    /// Due strictly before this moment (activities with no due time are out).
    pub due_before: Option<Timestamp>,
    /// Due at or after this moment (activities with no due time are out).
    pub due_after: Option<Timestamp>,
    /// Planned and due strictly before this moment.
    pub overdue_at: Option<Timestamp>,
}

/// What a document list may be narrowed to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentFilter {
    pub deal: Option<DealId>,
    pub kind: Option<DocumentKind>,
    pub status: Option<DocumentStatus>,
}

/// What a product list may be narrowed to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductFilter {
    /// Case-insensitive substring of the name or the SKU (Cyrillic folded).
    pub q: Option<String>,
    pub active: Option<bool>,
}

/// The number prefix of each kind of document.
pub fn document_number_prefix(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Proposal => "PRO",
        DocumentKind::Contract => "CON",
        DocumentKind::Invoice => "INV",
        DocumentKind::Act => "ACT",
    }
}

#[derive(Debug, Default, Clone)]
pub struct WorkIndex {
    activities: HashMap<ActivityId, ActivityRow>,
    /// Activity ids in creation order (oldest first).
    activity_order: Vec<ActivityId>,
    documents: HashMap<DocumentId, DocumentRow>,
    document_order: Vec<DocumentId>,
    documents_by_deal: HashMap<DealId, Vec<DocumentId>>,
    /// The highest sequence number used per kind and year.
    document_sequences: HashMap<(DocumentKind, i32), u64>,
    products: HashMap<ProductId, ProductRow>,
    product_order: Vec<ProductId>,
    /// Folded SKU -> product.
    products_by_sku: HashMap<String, ProductId>,
    skipped: u64,
}

impl WorkIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Events of this index's categories it could not read (a bug or a
    /// newer writer), or that concern a record never created.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    pub fn activity(&self, id: ActivityId) -> Option<&ActivityRow> {
        self.activities.get(&id)
    }

    pub fn document(&self, id: DocumentId) -> Option<&DocumentRow> {
        self.documents.get(&id)
    }

    pub fn product(&self, id: ProductId) -> Option<&ProductRow> {
        self.products.get(&id)
    }

    /// A page of activities, newest first, matching `filter`, whose
    /// responsible `visible` accepts.
    pub fn activities(
        &self,
        filter: &ActivityFilter,
        visible: &dyn Fn(UserId) -> bool,
        after: Option<Cursor>,
        limit: usize,
    ) -> Page<ActivityRow> {
        let rows = self
            .activity_order
            .iter()
            .rev()
            .filter_map(|id| self.activities.get(id))
            .filter(|row| {
                let record = &row.record;
                filter.responsible.is_none_or(|u| record.responsible == u)
                    && filter.deal.is_none_or(|d| record.deal == Some(d))
                    && filter.contact.is_none_or(|c| record.contact == Some(c))
                    && filter.company.is_none_or(|c| record.company == Some(c))
                    && filter.kind.is_none_or(|k| record.kind == k)
                    && filter.status.is_none_or(|s| record.status == s)
                    && filter
                        .due_before
                        .is_none_or(|t| record.due_at.is_some_and(|due| due < t))
                    && filter
                        .due_after
                        .is_none_or(|t| record.due_at.is_some_and(|due| due >= t))
                    && filter.overdue_at.is_none_or(|t| record.is_overdue(t))
                    && visible(record.responsible)
            });
        Page::collect(
            rows,
            |row| row.created_position,
            after,
            limit,
            ActivityRow::clone,
        )
    }

    /// A page of documents, newest first, matching `filter`, whose
    /// responsible `visible` accepts.
    pub fn documents(
        &self,
        filter: &DocumentFilter,
        visible: &dyn Fn(UserId) -> bool,
        after: Option<Cursor>,
        limit: usize,
    ) -> Page<DocumentRow> {
        let rows = self
            .document_order
            .iter()
            .rev()
            .filter_map(|id| self.documents.get(id))
            .filter(|row| {
                let record = &row.record;
                filter.deal.is_none_or(|d| record.deal == d)
                    && filter.kind.is_none_or(|k| record.kind == k)
                    && filter.status.is_none_or(|s| record.status == s)
                    && visible(record.responsible)
            });
        Page::collect(
            rows,
            |row| row.created_position,
            after,
            limit,
            DocumentRow::clone,
        )
    }

    /// A page of the catalog, newest first.
    pub fn products(
        &self,
        filter: &ProductFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Page<ProductRow> {
        let query = filter
            .q
            .as_deref()
            .map(fold_for_search)
            .filter(|q| !q.is_empty());
        let rows = self
            .product_order
            .iter()
            .rev()
            .filter_map(|id| self.products.get(id))
            .filter(|row| {
                filter.active.is_none_or(|a| row.record.active == a)
                    && query.as_deref().is_none_or(|q| row.search_text.contains(q))
            });
        Page::collect(
            rows,
            |row| row.created_position,
            after,
            limit,
            ProductRow::clone,
        )
    }

    /// Planned activities where `user` is responsible, oldest first (for
    /// handing a leaving manager's work over).
    pub fn open_activities_responsible_of(&self, user: UserId) -> Vec<ActivityId> {
        self.activity_order
            .iter()
            .filter(|id| {
                self.activities.get(id).is_some_and(|row| {
                    row.record.responsible == user && row.record.status == ActivityStatus::Planned
                })
            })
            .copied()
            .collect()
    }

    /// The documents of `deal`, oldest first.
    pub fn documents_of_deal(&self, deal: DealId) -> Vec<DocumentId> {
        self.documents_by_deal
            .get(&deal)
            .cloned()
            .unwrap_or_default()
    }

    /// The number for the next document of `kind` in `year`:
    /// `INV-2026-000123`, one past the highest such number in use.
    pub fn next_document_number(&self, kind: DocumentKind, year: i32) -> String {
        let used = self
            .document_sequences
            .get(&(kind, year))
            .copied()
            .unwrap_or(0);
        format!(
            "{}-{year}-{:06}",
            document_number_prefix(kind),
            used.saturating_add(1)
        )
    }

    /// The product with this SKU (compared case-insensitively), archived
    /// ones included.
    pub fn product_by_sku(&self, sku: &str) -> Option<ProductId> {
        self.products_by_sku.get(&fold_for_search(sku)).copied()
    }

    /// Folds one recorded event; events of other categories are ignored.
    pub fn apply(&mut self, event: &RecordedEvent, timelines: &mut Timelines) {
        let Some((category, rest)) = event.stream_id.as_str().split_once('-') else {
            return;
        };
        if ![Activity::CATEGORY, Document::CATEGORY, Product::CATEGORY].contains(&category) {
            return;
        }
        let Ok(uuid) = uuid::Uuid::parse_str(rest) else {
            self.skipped += 1;
            return;
        };
        let applied = match category {
            Activity::CATEGORY => self.apply_activity(ActivityId::from_uuid(uuid), event),
            Document::CATEGORY => self.apply_document(DocumentId::from_uuid(uuid), event),
            _ => self.apply_product(ProductId::from_uuid(uuid), event),
        };
        let Some((subject, entities)) = applied else {
            self.skipped += 1;
            return;
        };
        let data = serde_json::from_str(event.payload.as_str()).unwrap_or(serde_json::Value::Null);
        timelines.record(
            &entities,
            TimelineEntry {
                position: event.position,
                at: event.effective_time(),
                actor: event.metadata.actor.clone(),
                event_type: event.event_type.clone(),
                subject,
                data,
            },
        );
    }

    /// Folds an activity event; the subject and every timeline it goes on,
    /// or `None` when it could not be read.
    fn apply_activity(
        &mut self,
        id: ActivityId,
        event: &RecordedEvent,
    ) -> Option<(EntityRef, Vec<EntityRef>)> {
        let decoded = decode_event::<Activity>(event.payload.as_str()).ok()?;
        let before = self.activities.get(&id).map(|row| row.record.clone());
        let mut state = before.clone();
        Activity::apply(&mut state, &decoded);
        let mut record = state?;
        record.id = id;
        let subject = EntityRef::Activity(id);
        let mut entities = vec![subject];
        for linked in before.iter().chain(std::iter::once(&record)) {
            entities.extend(linked.deal.map(EntityRef::Deal));
            entities.extend(linked.contact.map(EntityRef::Contact));
            entities.extend(linked.company.map(EntityRef::Company));
        }
        let recorded_at = event.recorded_at;
        let version = event.stream_version.0;
        match self.activities.get_mut(&id) {
            Some(row) => {
                row.record = record;
                row.updated_at = row.updated_at.max(recorded_at);
                row.version = version;
            }
            None => {
                self.activity_order.push(id);
                self.activities.insert(
                    id,
                    ActivityRow {
                        record,
                        created_position: event.position,
                        created_at: recorded_at,
                        updated_at: recorded_at,
                        version,
                    },
                );
            }
        }
        Some((subject, entities))
    }

    fn apply_document(
        &mut self,
        id: DocumentId,
        event: &RecordedEvent,
    ) -> Option<(EntityRef, Vec<EntityRef>)> {
        let decoded = decode_event::<Document>(event.payload.as_str()).ok()?;
        let mut state = self.documents.get(&id).map(|row| row.record.clone());
        Document::apply(&mut state, &decoded);
        let mut record = state?;
        record.id = id;
        let subject = EntityRef::Document(id);
        let entities = vec![subject, EntityRef::Deal(record.deal)];
        let recorded_at = event.recorded_at;
        let version = event.stream_version.0;
        match self.documents.get_mut(&id) {
            Some(row) => {
                row.record = record;
                row.updated_at = row.updated_at.max(recorded_at);
                row.version = version;
            }
            None => {
                if let Some((kind, year, sequence)) = parse_document_number(&record.number) {
                    if kind == record.kind {
                        let used = self.document_sequences.entry((kind, year)).or_insert(0);
                        *used = (*used).max(sequence);
                    }
                }
                self.document_order.push(id);
                self.documents_by_deal
                    .entry(record.deal)
                    .or_default()
                    .push(id);
                self.documents.insert(
                    id,
                    DocumentRow {
                        record,
                        created_position: event.position,
                        created_at: recorded_at,
                        updated_at: recorded_at,
                        version,
                    },
                );
            }
        }
        Some((subject, entities))
    }

    fn apply_product(
        &mut self,
        id: ProductId,
        event: &RecordedEvent,
    ) -> Option<(EntityRef, Vec<EntityRef>)> {
        let decoded = decode_event::<Product>(event.payload.as_str()).ok()?;
        let before = self.products.get(&id).map(|row| row.record.clone());
        let mut state = before.clone();
        Product::apply(&mut state, &decoded);
        let mut record = state?;
        record.id = id;
        let old_sku = before
            .as_ref()
            .and_then(|r| r.sku.as_deref())
            .map(fold_for_search);
        let new_sku = record.sku.as_deref().map(fold_for_search);
        if old_sku != new_sku {
            if let Some(old) = old_sku {
                if self.products_by_sku.get(&old) == Some(&id) {
                    self.products_by_sku.remove(&old);
                }
            }
            if let Some(new) = new_sku {
                self.products_by_sku.entry(new).or_insert(id);
            }
        }
        let search_text = product_search_text(&record);
        let recorded_at = event.recorded_at;
        let version = event.stream_version.0;
        match self.products.get_mut(&id) {
            Some(row) => {
                row.record = record;
                row.search_text = search_text;
                row.updated_at = row.updated_at.max(recorded_at);
                row.version = version;
            }
            None => {
                self.product_order.push(id);
                self.products.insert(
                    id,
                    ProductRow {
                        record,
                        created_position: event.position,
                        created_at: recorded_at,
                        updated_at: recorded_at,
                        version,
                        search_text,
                    },
                );
            }
        }
        let subject = EntityRef::Product(id);
        Some((subject, vec![subject]))
    }
}

fn product_search_text(record: &ProductRecord) -> String {
    let mut text = fold_for_search(&record.name);
    if let Some(sku) = &record.sku {
        text.push('\n');
        text.push_str(&fold_for_search(sku));
    }
    text
}

/// `INV-2026-000123` -> (invoice, 2026, 123); other numbers -> `None`.
fn parse_document_number(number: &str) -> Option<(DocumentKind, i32, u64)> {
    let mut parts = number.splitn(3, '-');
    let prefix = parts.next()?;
    let year = parts.next()?;
    let sequence = parts.next()?;
    let kind = DocumentKind::ALL
        .into_iter()
        .find(|kind| document_number_prefix(*kind) == prefix)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if year.len() != 4 || !digits(year) || !digits(sequence) {
        return None;
    }
    Some((kind, year.parse().ok()?, sequence.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_numbers_of_a_known_kind_count() {
        assert_eq!(
            parse_document_number("INV-2026-000123"),
            Some((DocumentKind::Invoice, 2026, 123))
        );
        assert_eq!(
            parse_document_number("ACT-2025-1"),
            Some((DocumentKind::Act, 2025, 1))
        );
        for bad in [
            "",
            "INV",
            "INV-2026",
            "INV-26-000001",
            "XYZ-2026-000001",
            "INV-2026-",
            "INV-2026-12a",
            "INV-2026-99999999999999999999999",
            "inv-2026-000001",
        ] {
            assert_eq!(parse_document_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_next_number_is_one_past_the_highest_of_its_kind_and_year() {
        let mut index = WorkIndex::new();
        assert_eq!(
            index.next_document_number(DocumentKind::Invoice, 2026),
            "INV-2026-000001"
        );
        index
            .document_sequences
            .insert((DocumentKind::Invoice, 2026), 41);
        assert_eq!(
            index.next_document_number(DocumentKind::Invoice, 2026),
            "INV-2026-000042"
        );
        assert_eq!(
            index.next_document_number(DocumentKind::Invoice, 2027),
            "INV-2027-000001"
        );
        assert_eq!(
            index.next_document_number(DocumentKind::Proposal, 2026),
            "PRO-2026-000001"
        );
    }
}
