//! The list index of deals: one row per deal, folded from the `deal-<id>`
//! streams' stored events (names, not compiled ids, so it needs no process
//! definition). The deal card itself (state, allowed transitions) comes from
//! the process engine; this index answers lists, filters, search and the
//! timelines of deals and of the companies and contacts they belong to.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use voronka_core::customer::fold_for_search;
use voronka_core::{Money, Position, RecordedEvent, Timestamp};
use voronka_process::{ProcessIdentity, StoredDealEvent};

use crate::page::{Cursor, Page};
use crate::timeline::{EntityRef, TimelineEntry, Timelines};
use crate::{CompanyId, ContactId, DealId, UserId};

/// The stream category of deals (owned by the process engine).
pub const DEAL_CATEGORY: &str = "deal";

/// A deal as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealRow {
    #[schema(value_type = String, format = Uuid)]
    pub id: DealId,
    pub process: String,
    pub process_version: u32,
    pub stage: String,
    pub title: Option<String>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub responsible: Option<UserId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub company: Option<CompanyId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub contact: Option<ContactId>,
    #[schema(value_type = Option<Object>)]
    pub amount: Option<Money>,
    #[schema(value_type = Option<String>, format = Date)]
    pub expected_close_date: Option<NaiveDate>,
    pub source: Option<String>,
    /// Every field with a value, by name, as stored.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub stage_entered_at: Timestamp,
    /// The last moment anything happened on the deal.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The deal stream's version (pass it back as `expected_version`).
    pub version: u64,
    #[serde(skip)]
    pub created_position: Position,
    #[serde(skip)]
    search_text: String,
}

/// What a deal list may be narrowed to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DealFilter {
    /// Case-insensitive substring of the title (Cyrillic folded).
    pub q: Option<String>,
    pub process: Option<String>,
    pub stage: Option<String>,
    pub responsible: Option<UserId>,
    pub company: Option<CompanyId>,
    pub contact: Option<ContactId>,
    /// Only deals untouched since this moment ("forgotten").
    pub idle_since: Option<Timestamp>,
}

#[derive(Debug, Default, Clone)]
pub struct DealIndex {
    rows: HashMap<DealId, DealRow>,
    /// Deal ids in creation order (oldest first).
    order: Vec<DealId>,
    skipped: u64,
}

impl DealIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Events this index could not read (a bug or a newer writer).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn deal(&self, id: DealId) -> Option<&DealRow> {
        self.rows.get(&id)
    }

    /// Deals where `user` is responsible (for reassigning a leaving manager).
    pub fn deals_responsible_of(&self, user: UserId) -> Vec<DealId> {
        self.order
            .iter()
            .filter(|id| {
                self.rows
                    .get(id)
                    .is_some_and(|r| r.responsible == Some(user))
            })
            .copied()
            .collect()
    }

    /// A page of deals, newest first, that match `filter` and whose
    /// responsible `visible` accepts (a deal with no responsible is seen by
    /// whoever sees deals of nobody: `visible` is asked with `None`).
    pub fn deals(
        &self,
        filter: &DealFilter,
        visible: &dyn Fn(Option<UserId>) -> bool,
        after: Option<Cursor>,
        limit: usize,
    ) -> Page<DealRow> {
        let query = filter.q.as_deref().map(fold_for_search);
        let rows = self
            .order
            .iter()
            .rev()
            .filter_map(|id| self.rows.get(id))
            .filter(|row| {
                filter.process.as_ref().is_none_or(|p| &row.process == p)
                    && filter.stage.as_ref().is_none_or(|s| &row.stage == s)
                    && filter
                        .responsible
                        .is_none_or(|u| row.responsible == Some(u))
                    && filter.company.is_none_or(|c| row.company == Some(c))
                    && filter.contact.is_none_or(|c| row.contact == Some(c))
                    && filter.idle_since.is_none_or(|t| row.updated_at < t)
                    && query.as_deref().is_none_or(|q| row.search_text.contains(q))
                    && visible(row.responsible)
            });
        Page::collect(
            rows,
            |row| row.created_position,
            after,
            limit,
            DealRow::clone,
        )
    }

    /// Folds one recorded event; events of other categories are ignored.
    pub fn apply(&mut self, event: &RecordedEvent, timelines: &mut Timelines) {
        let Some(id) = deal_id_of_stream(event.stream_id.as_str()) else {
            return;
        };
        let Ok(stored) = event.payload.parse::<StoredDealEvent>() else {
            self.skipped += 1;
            return;
        };
        let at = event.effective_time();
        match &stored {
            StoredDealEvent::DealStarted { process, stage, .. } => {
                self.start(id, process, stage, event.position, at);
            }
            StoredDealEvent::DealImported {
                process,
                stage,
                created_at,
                stage_entered_at,
                ..
            } => {
                self.start(id, process, stage, event.position, *created_at);
                if let Some(row) = self.rows.get_mut(&id) {
                    row.stage_entered_at = *stage_entered_at;
                }
            }
            StoredDealEvent::DealMigrated {
                to, stage, fields, ..
            } => {
                if let Some(row) = self.rows.get_mut(&id) {
                    row.process = to.name.clone();
                    row.process_version = to.version;
                    if &row.stage != stage {
                        row.stage = stage.clone();
                        row.stage_entered_at = at;
                    }
                    row.fields = fields.iter().cloned().collect();
                    refresh_named_fields(row);
                }
            }
            StoredDealEvent::DealStageChanged { to, .. } => {
                if let Some(row) = self.rows.get_mut(&id) {
                    row.stage = to.clone();
                    row.stage_entered_at = at;
                }
            }
            StoredDealEvent::DealFieldSet { field, value, .. } => {
                if let Some(row) = self.rows.get_mut(&id) {
                    match value {
                        Some(value) if !value.is_null() => {
                            row.fields.insert(field.clone(), value.clone());
                        }
                        _ => {
                            row.fields.remove(field);
                        }
                    }
                    refresh_named_fields(row);
                }
            }
            StoredDealEvent::DealActivityRecorded { .. }
            | StoredDealEvent::DealDocumentRecorded { .. }
            | StoredDealEvent::DealSlaBreached { .. }
            | StoredDealEvent::DealAutomationFired { .. } => {}
        }
        let Some(row) = self.rows.get_mut(&id) else {
            self.skipped += 1;
            return;
        };
        row.version = event.stream_version.0;
        row.updated_at = row.updated_at.max(at);
        // Mirrors of activities and documents are on the timeline through
        // their own records' events; timers are not something that happened.
        let on_timeline = matches!(
            stored,
            StoredDealEvent::DealStarted { .. }
                | StoredDealEvent::DealImported { .. }
                | StoredDealEvent::DealStageChanged { .. }
                | StoredDealEvent::DealFieldSet { .. }
                | StoredDealEvent::DealSlaBreached { .. }
                | StoredDealEvent::DealMigrated { .. }
        );
        if on_timeline {
            let mut entities = vec![EntityRef::Deal(id)];
            entities.extend(row.company.map(EntityRef::Company));
            entities.extend(row.contact.map(EntityRef::Contact));
            let data = serde_json::from_str(event.payload.as_str()).unwrap_or(Value::Null);
            timelines.record(
                &entities,
                TimelineEntry {
                    position: event.position,
                    at,
                    actor: event.metadata.actor.clone(),
                    event_type: event.event_type.clone(),
                    subject: EntityRef::Deal(id),
                    data,
                },
            );
        }
    }

    fn start(
        &mut self,
        id: DealId,
        process: &ProcessIdentity,
        stage: &str,
        position: Position,
        at: Timestamp,
    ) {
        if self.rows.contains_key(&id) {
            return;
        }
        self.order.push(id);
        self.rows.insert(
            id,
            DealRow {
                id,
                process: process.name.clone(),
                process_version: process.version,
                stage: stage.to_string(),
                title: None,
                responsible: None,
                company: None,
                contact: None,
                amount: None,
                expected_close_date: None,
                source: None,
                fields: BTreeMap::new(),
                created_at: at,
                stage_entered_at: at,
                updated_at: at,
                version: 0,
                created_position: position,
                search_text: String::new(),
            },
        );
    }
}

/// `deal-<uuid>` -> the deal id.
pub fn deal_id_of_stream(stream: &str) -> Option<DealId> {
    let rest = stream.strip_prefix(DEAL_CATEGORY)?.strip_prefix('-')?;
    uuid::Uuid::parse_str(rest).ok().map(DealId::from_uuid)
}

fn refresh_named_fields(row: &mut DealRow) {
    let uuid = |name: &str| {
        row.fields
            .get(name)
            .and_then(Value::as_str)
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
    };
    row.responsible = uuid("responsible").map(UserId::from_uuid);
    row.company = uuid("company").map(CompanyId::from_uuid);
    row.contact = uuid("contact").map(ContactId::from_uuid);
    row.title = row
        .fields
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_string);
    row.source = row
        .fields
        .get("source")
        .and_then(Value::as_str)
        .map(str::to_string);
    row.amount = row
        .fields
        .get("amount")
        .and_then(|v| serde_json::from_value::<Money>(v.clone()).ok());
    row.expected_close_date = row
        .fields
        .get("expected_close_date")
        .and_then(Value::as_str)
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
    row.search_text = fold_for_search(row.title.as_deref().unwrap_or_default());
}
