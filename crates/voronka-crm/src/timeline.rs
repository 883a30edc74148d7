//! Timelines: everything that happened to a record, newest first. One event
//! can appear on several timelines (a call linked to a deal, a contact and a
//! company is on all three); entries are shared, not copied.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use voronka_core::{Actor, Position, Timestamp};

use crate::page::{Cursor, Page};
use crate::{ActivityId, CompanyId, ContactId, DealId, DocumentId, ProductId};

/// A record a timeline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum EntityRef {
    Company(CompanyId),
    Contact(ContactId),
    Deal(DealId),
    Activity(ActivityId),
    Document(DocumentId),
    Product(ProductId),
}

/// One line of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub position: Position,
    /// When it happened (the event's effective time).
    pub at: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// The stored event type, e.g. `activity_completed`, `deal_stage_changed`.
    pub event_type: String,
    /// The record whose stream holds the event.
    pub subject: EntityRef,
    /// The event's data as stored (a JSON object).
    pub data: serde_json::Value,
}

/// Every record's timeline, in position order (appends arrive in order).
#[derive(Debug, Default, Clone)]
pub struct Timelines {
    by_entity: HashMap<EntityRef, Vec<Arc<TimelineEntry>>>,
}

impl Timelines {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `entry` to the timeline of each of `entities` (duplicates in
    /// `entities` are added once).
    pub fn record(&mut self, entities: &[EntityRef], entry: TimelineEntry) {
        let entry = Arc::new(entry);
        for (index, entity) in entities.iter().enumerate() {
            if entities[..index].contains(entity) {
                continue;
            }
            self.by_entity
                .entry(*entity)
                .or_default()
                .push(entry.clone());
        }
    }

    /// Copies `source`'s timeline into `target`'s (a merge keeps both
    /// histories on the surviving record).
    pub fn merge_into(&mut self, source: EntityRef, target: EntityRef) {
        let Some(entries) = self.by_entity.get(&source).cloned() else {
            return;
        };
        let merged = self.by_entity.entry(target).or_default();
        merged.extend(entries);
        merged.sort_by_key(|entry| entry.position);
        merged.dedup_by_key(|entry| entry.position);
    }

    /// How many entries `entity`'s timeline holds.
    pub fn len(&self, entity: EntityRef) -> usize {
        self.by_entity.get(&entity).map_or(0, Vec::len)
    }

    /// A page of `entity`'s timeline, newest first, older than `after`.
    pub fn page(
        &self,
        entity: EntityRef,
        after: Option<Cursor>,
        limit: usize,
    ) -> Page<TimelineEntry> {
        let entries = self.by_entity.get(&entity).map_or(&[][..], Vec::as_slice);
        Page::collect(
            entries.iter().rev(),
            |entry| entry.position,
            after,
            limit,
            |entry| TimelineEntry::clone(entry),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voronka_core::time::timestamp_from_micros;

    fn entry(position: u64, subject: EntityRef) -> TimelineEntry {
        TimelineEntry {
            position: Position(position),
            at: timestamp_from_micros(position as i64 * 1_000_000),
            actor: Actor::system("test"),
            event_type: "x".into(),
            subject,
            data: serde_json::json!({}),
        }
    }

    #[test]
    fn an_event_on_several_timelines_and_a_merge_keeps_both_histories() {
        let a = EntityRef::Company(CompanyId::from_uuid(uuid::Uuid::from_u128(1)));
        let b = EntityRef::Company(CompanyId::from_uuid(uuid::Uuid::from_u128(2)));
        let mut timelines = Timelines::new();
        timelines.record(&[a, b, a], entry(1, a));
        timelines.record(&[b], entry(2, b));
        timelines.record(&[a], entry(3, a));
        assert_eq!(timelines.len(a), 2);
        timelines.merge_into(a, b);
        let page = timelines.page(b, None, 10);
        let positions: Vec<u64> = page.items.iter().map(|e| e.position.0).collect();
        assert_eq!(positions, [3, 2, 1]);
        let first = timelines.page(b, None, 2);
        let rest = timelines.page(
            b,
            Some(Cursor::parse(first.next_cursor.as_deref().unwrap()).unwrap()),
            2,
        );
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.items[0].position, Position(1));
    }
}
