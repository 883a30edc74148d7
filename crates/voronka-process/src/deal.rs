//! A deal as the process engine sees it: the events of its stream and the
//! state folded from them.
//!
//! Why facts live on the deal stream: guards need to know about the deal's
//! activities and documents (a held meeting, a sent proposal). Those are
//! owned by other streams, but the application layer mirrors each change that
//! concerns a deal onto the deal's stream as an `ActivityRecorded` /
//! `DocumentRecorded` fact (through `decide` with `RecordActivity` /
//! `RecordDocument`). So a deal's own stream is enough to decide on it, the
//! decision is reproducible from that stream alone (what-if simulation replays
//! exactly what the guards saw), and there is no second input to keep in sync.
//!
//! `evolve` holds no business rules; it only applies what `decide` allowed.

use crate::model::*;
use crate::version::ProcessIdentity;
use voronka_core::Timestamp;

voronka_core::uuid_id!(
    /// Identifies a deal (its stream is `deal-<id>`).
    DealId
);
voronka_core::uuid_id!(
    /// Identifies an activity (call, meeting, ...) linked to a deal.
    ActivityId
);
voronka_core::uuid_id!(
    /// Identifies a document (proposal, contract, invoice, act).
    DocumentId
);
voronka_core::uuid_id!(
    /// Identifies a user.
    UserId
);

/// What the guards know about one activity linked to the deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFact {
    pub id: ActivityId,
    pub kind: ActivityKind,
    pub status: ActivityStatus,
    /// A value of the outcome dictionary of `kind`.
    pub outcome: Option<ValueId>,
    /// When it happened (or is planned).
    pub at: Timestamp,
}

/// What the guards know about one document of the deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentFact {
    pub id: DocumentId,
    pub kind: DocumentKind,
    pub status: DocumentStatus,
}

/// A deal brought in from another system with its past: where it stands
/// and since when, who brought it in and from which file. The dates are when
/// things happened; the event's `at` is when the import was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealImport {
    pub deal: DealId,
    pub stage: StageId,
    pub created_at: Timestamp,
    pub stage_entered_at: Timestamp,
    /// Only for a deal standing in a terminal stage.
    pub closed_at: Option<Timestamp>,
    /// The deal's responsible when it was imported (also set as the
    /// `responsible` field): the reports count its past under them.
    pub responsible: Option<UserId>,
    pub imported_by: UserId,
    pub source: ImportSource,
}

/// The file a deal was imported from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportSource {
    /// The file's name as given (no path).
    pub file: String,
    /// The SHA-256 of the file's bytes, hex: the same name can hold other data.
    pub sha256: String,
}

/// Everything that happens to a deal, in compiled ids of the version the deal
/// runs on. Stored events use names: see [`crate::stored`].
#[derive(Debug, Clone, PartialEq)]
pub enum DealEvent {
    Started {
        deal: DealId,
        process: ProcessIdentity,
        stage: StageId,
        at: Timestamp,
    },
    StageChanged {
        from: StageId,
        to: StageId,
        at: Timestamp,
    },
    /// The deal was imported standing in `import.stage` (instead of
    /// `Started`): no transition rule was checked, the past is the past.
    Imported {
        import: DealImport,
        process: ProcessIdentity,
        at: Timestamp,
    },
    /// A field got a value, or was cleared (`None`).
    FieldSet {
        field: FieldId,
        value: Option<FieldValue>,
        at: Timestamp,
    },
    /// An activity was linked to the deal or changed (same id: replaces).
    ActivityRecorded {
        activity: ActivityFact,
        at: Timestamp,
    },
    /// A document was created or changed status (same id: replaces).
    DocumentRecorded {
        document: DocumentFact,
        at: Timestamp,
    },
    /// The deal stayed in its stage past the stage's SLA.
    SlaBreached { stage: StageId, at: Timestamp },
    /// A timed automation fired for the given anchor moment, so it does not
    /// fire again for the same anchor.
    AutomationFired {
        automation: AutomationId,
        anchor: Timestamp,
        at: Timestamp,
    },
    /// The deal moved to another version of its process; carries the re-keyed
    /// state, since ids differ between versions.
    Migrated {
        to: ProcessIdentity,
        stage: StageId,
        fields: Vec<(FieldId, FieldValue)>,
        activities: Vec<ActivityFact>,
        at: Timestamp,
    },
}

impl DealEvent {
    /// When it happened, when that is not when it was recorded (an
    /// imported deal's original stage entry).
    pub fn occurred_at(&self) -> Option<Timestamp> {
        match self {
            DealEvent::Imported { import, .. } => Some(import.stage_entered_at),
            _ => None,
        }
    }

    /// The stored event type; the same name as [`StoredDealEvent::event_type`](crate::stored::StoredDealEvent::event_type).
    pub fn event_type(&self) -> &'static str {
        match self {
            DealEvent::Started { .. } => event_types::STARTED,
            DealEvent::StageChanged { .. } => event_types::STAGE_CHANGED,
            DealEvent::Imported { .. } => event_types::IMPORTED,
            DealEvent::FieldSet { .. } => event_types::FIELD_SET,
            DealEvent::ActivityRecorded { .. } => event_types::ACTIVITY_RECORDED,
            DealEvent::DocumentRecorded { .. } => event_types::DOCUMENT_RECORDED,
            DealEvent::SlaBreached { .. } => event_types::SLA_BREACHED,
            DealEvent::AutomationFired { .. } => event_types::AUTOMATION_FIRED,
            DealEvent::Migrated { .. } => event_types::MIGRATED,
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            DealEvent::Started { at, .. }
            | DealEvent::StageChanged { at, .. }
            | DealEvent::Imported { at, .. }
            | DealEvent::FieldSet { at, .. }
            | DealEvent::ActivityRecorded { at, .. }
            | DealEvent::DocumentRecorded { at, .. }
            | DealEvent::SlaBreached { at, .. }
            | DealEvent::AutomationFired { at, .. }
            | DealEvent::Migrated { at, .. } => *at,
        }
    }
}

/// The state `decide` needs, folded from the deal's events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DealState {
    /// `None` until the deal is started.
    pub deal: Option<StartedDeal>,
}

/// A started deal.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedDeal {
    pub id: DealId,
    /// The version the deal runs on; changed only by migration.
    pub process: ProcessIdentity,
    pub stage: StageId,
    pub stage_entered_at: Timestamp,
    /// The last moment anything happened on the deal (for idle automations).
    pub last_touched_at: Timestamp,
    /// Indexed by [`FieldId`]; `None` is an empty field.
    pub fields: Vec<Option<FieldValue>>,
    pub activities: Vec<ActivityFact>,
    pub documents: Vec<DocumentFact>,
    /// Whether the SLA of the current stage was already reported.
    pub sla_breached: bool,
    /// Timed automations already fired, with their anchor moments.
    pub fired: Vec<(AutomationId, Timestamp)>,
}

impl StartedDeal {
    pub fn field(&self, field: FieldId) -> Option<&FieldValue> {
        self.fields.get(field.index()).and_then(Option::as_ref)
    }
}

impl DealState {
    pub fn not_started() -> Self {
        Self::default()
    }

    /// Folds every event of a stream.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a DealEvent>) -> Self {
        events.into_iter().fold(Self::default(), evolve)
    }
}

/// Applies one event. No rules here: whatever `decide` emitted is applied.
pub fn evolve(mut state: DealState, event: &DealEvent) -> DealState {
    apply(&mut state, event);
    state
}

/// `evolve` in place, for folding long streams without moves.
pub fn apply(state: &mut DealState, event: &DealEvent) {
    if let DealEvent::Started {
        deal,
        process,
        stage,
        at,
    } = event
    {
        state.deal = Some(StartedDeal {
            id: *deal,
            process: process.clone(),
            stage: *stage,
            stage_entered_at: *at,
            last_touched_at: *at,
            fields: Vec::new(),
            activities: Vec::new(),
            documents: Vec::new(),
            sla_breached: false,
            fired: Vec::new(),
        });
        return;
    }
    if let DealEvent::Imported {
        import, process, ..
    } = event
    {
        state.deal = Some(StartedDeal {
            id: import.deal,
            process: process.clone(),
            stage: import.stage,
            stage_entered_at: import.stage_entered_at,
            last_touched_at: import.closed_at.unwrap_or(import.stage_entered_at),
            fields: Vec::new(),
            activities: Vec::new(),
            documents: Vec::new(),
            sla_breached: false,
            fired: Vec::new(),
        });
        return;
    }
    let Some(deal) = state.deal.as_mut() else {
        return;
    };
    match event {
        DealEvent::Started { .. } | DealEvent::Imported { .. } => {}
        DealEvent::StageChanged { to, at, .. } => {
            deal.stage = *to;
            deal.stage_entered_at = *at;
            deal.last_touched_at = *at;
            deal.sla_breached = false;
        }
        DealEvent::FieldSet { field, value, at } => {
            let index = field.index();
            if deal.fields.len() <= index {
                deal.fields.resize(index + 1, None);
            }
            deal.fields[index] = value.clone();
            deal.last_touched_at = *at;
        }
        DealEvent::ActivityRecorded { activity, at } => {
            match deal.activities.iter_mut().find(|a| a.id == activity.id) {
                Some(existing) => *existing = activity.clone(),
                None => deal.activities.push(activity.clone()),
            }
            deal.last_touched_at = *at;
        }
        DealEvent::DocumentRecorded { document, at } => {
            match deal.documents.iter_mut().find(|d| d.id == document.id) {
                Some(existing) => *existing = *document,
                None => deal.documents.push(*document),
            }
            deal.last_touched_at = *at;
        }
        DealEvent::SlaBreached { .. } => deal.sla_breached = true,
        DealEvent::AutomationFired {
            automation, anchor, ..
        } => {
            deal.fired.push((*automation, *anchor));
        }
        DealEvent::Migrated {
            to,
            stage,
            fields,
            activities,
            at,
        } => {
            deal.process = to.clone();
            if deal.stage != *stage {
                deal.stage_entered_at = *at;
                deal.sla_breached = false;
            }
            deal.stage = *stage;
            deal.fields.clear();
            for (field, value) in fields {
                let index = field.index();
                if deal.fields.len() <= index {
                    deal.fields.resize(index + 1, None);
                }
                deal.fields[index] = Some(value.clone());
            }
            deal.activities = activities.clone();
            deal.fired.clear();
        }
    }
}

/// The stored names of deal events, shared by [`DealEvent`] and
/// [`crate::stored::StoredDealEvent`] so the two can never drift apart.
pub mod event_types {
    pub const STARTED: &str = "deal_started";
    pub const STAGE_CHANGED: &str = "deal_stage_changed";
    pub const IMPORTED: &str = "deal_imported";
    pub const FIELD_SET: &str = "deal_field_set";
    pub const ACTIVITY_RECORDED: &str = "deal_activity_recorded";
    pub const DOCUMENT_RECORDED: &str = "deal_document_recorded";
    pub const SLA_BREACHED: &str = "deal_sla_breached";
    pub const AUTOMATION_FIRED: &str = "deal_automation_fired";
    pub const MIGRATED: &str = "deal_migrated";
}
