//! The stored (and wire) form of deal events: names instead of compiled ids.
//!
//! Compiled ids are positions within one version of a definition; what goes
//! into the event store must stay readable after the definition changes, by
//! simulation under a draft and by migration. So events are encoded to names
//! on the way out and decoded against a definition on the way in — the one
//! place where names are looked up.

use crate::compile::parse_money;
use crate::deal::*;
use crate::model::*;
use crate::version::ProcessIdentity;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use voronka_core::{EventData, Money, Payload, PayloadError, Timestamp};

/// An activity in stored form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredActivity {
    pub id: ActivityId,
    pub kind: ActivityKind,
    pub status: ActivityStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub at: Timestamp,
}

/// A deal event as stored: the payload of an event on the `deal-<id>` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoredDealEvent {
    DealStarted {
        deal: DealId,
        process: ProcessIdentity,
        stage: String,
        at: Timestamp,
    },
    DealStageChanged {
        from: String,
        to: String,
        at: Timestamp,
    },
    /// See [`DealEvent::Imported`]: `at` is when the import was recorded,
    /// the other dates are the deal's past.
    DealImported {
        deal: DealId,
        process: ProcessIdentity,
        stage: String,
        created_at: Timestamp,
        stage_entered_at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closed_at: Option<Timestamp>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        responsible: Option<UserId>,
        imported_by: UserId,
        source: ImportSource,
        at: Timestamp,
    },
    DealFieldSet {
        field: String,
        value: Option<Value>,
        at: Timestamp,
    },
    DealActivityRecorded {
        activity: StoredActivity,
        at: Timestamp,
    },
    DealDocumentRecorded {
        document: DocumentId,
        kind: DocumentKind,
        status: DocumentStatus,
        at: Timestamp,
    },
    DealSlaBreached {
        stage: String,
        at: Timestamp,
    },
    DealAutomationFired {
        automation: u16,
        anchor: Timestamp,
        at: Timestamp,
    },
    DealMigrated {
        to: ProcessIdentity,
        stage: String,
        fields: Vec<(String, Value)>,
        activities: Vec<StoredActivity>,
        at: Timestamp,
    },
}

impl StoredDealEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            StoredDealEvent::DealStarted { .. } => crate::deal::event_types::STARTED,
            StoredDealEvent::DealStageChanged { .. } => crate::deal::event_types::STAGE_CHANGED,
            StoredDealEvent::DealImported { .. } => crate::deal::event_types::IMPORTED,
            StoredDealEvent::DealFieldSet { .. } => crate::deal::event_types::FIELD_SET,
            StoredDealEvent::DealActivityRecorded { .. } => {
                crate::deal::event_types::ACTIVITY_RECORDED
            }
            StoredDealEvent::DealDocumentRecorded { .. } => {
                crate::deal::event_types::DOCUMENT_RECORDED
            }
            StoredDealEvent::DealSlaBreached { .. } => crate::deal::event_types::SLA_BREACHED,
            StoredDealEvent::DealAutomationFired { .. } => {
                crate::deal::event_types::AUTOMATION_FIRED
            }
            StoredDealEvent::DealMigrated { .. } => crate::deal::event_types::MIGRATED,
        }
    }

    /// The event as the store appends it.
    pub fn to_event_data(&self) -> Result<EventData, PayloadError> {
        Ok(EventData::new(
            self.event_type(),
            Payload::from_value(self)?,
        ))
    }
}

/// A stored event that does not fit the definition it is read against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown stage `{0}`")]
    UnknownStage(String),
    #[error("unknown field `{0}`")]
    UnknownField(String),
    #[error("field `{field}`: {problem}")]
    BadFieldValue { field: String, problem: String },
    #[error("unknown outcome `{outcome}` for a {kind:?}")]
    UnknownOutcome { kind: ActivityKind, outcome: String },
}

impl CompiledProcess {
    fn stage_by_name_or_err(&self, name: &str) -> Result<StageId, DecodeError> {
        self.stage_id(name)
            .ok_or_else(|| DecodeError::UnknownStage(name.to_string()))
    }

    /// Reads a JSON value (API input or stored payload) as a value of `field`.
    pub fn field_value_from_json(
        &self,
        field: FieldId,
        value: &Value,
    ) -> Result<FieldValue, DecodeError> {
        let definition = self
            .fields
            .get(field.index())
            .ok_or_else(|| DecodeError::UnknownField(format!("#{}", field.0)))?;
        let bad = |problem: &str| DecodeError::BadFieldValue {
            field: definition.name.clone(),
            problem: problem.to_string(),
        };
        match definition.field_type {
            FieldType::Text => value
                .as_str()
                .map(|s| FieldValue::Text(s.to_string()))
                .ok_or_else(|| bad("expected text")),
            FieldType::Number => value
                .as_i64()
                .map(FieldValue::Number)
                .ok_or_else(|| bad("expected a whole number")),
            FieldType::Bool => value
                .as_bool()
                .map(FieldValue::Bool)
                .ok_or_else(|| bad("expected true or false")),
            FieldType::Money => match value {
                Value::String(s) => parse_money(s)
                    .map(FieldValue::Money)
                    .ok_or_else(|| bad("expected money such as `1500.00 RUB`")),
                other => serde_json::from_value::<Money>(other.clone())
                    .map(FieldValue::Money)
                    .map_err(|_| bad("expected money {minor, currency}")),
            },
            FieldType::Date => value
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map(FieldValue::Date)
                .ok_or_else(|| bad("expected a date YYYY-MM-DD")),
            FieldType::Dictionary(dictionary) => value
                .as_str()
                .and_then(|s| self.value_id(dictionary, s))
                .map(FieldValue::Dictionary)
                .ok_or_else(|| bad("expected a value of its dictionary")),
            FieldType::Reference(_) => value
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .map(FieldValue::Reference)
                .ok_or_else(|| bad("expected an id (UUID)")),
        }
    }

    /// Writes a field value as JSON (dictionary values by name).
    pub fn field_value_to_json(&self, value: &FieldValue) -> Value {
        match value {
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Number(n) => Value::from(*n),
            FieldValue::Money(m) => serde_json::to_value(m).unwrap_or(Value::Null),
            FieldValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Dictionary(v) => Value::String(self.value(*v).name.clone()),
            FieldValue::Reference(id) => Value::String(id.to_string()),
        }
    }

    fn encode_activity(&self, activity: &ActivityFact) -> StoredActivity {
        StoredActivity {
            id: activity.id,
            kind: activity.kind,
            status: activity.status,
            outcome: activity.outcome.map(|v| self.value(v).name.clone()),
            at: activity.at,
        }
    }

    /// Reads a stored activity; an outcome unknown to this version is an error.
    pub fn decode_activity(&self, activity: &StoredActivity) -> Result<ActivityFact, DecodeError> {
        let outcome = match &activity.outcome {
            None => None,
            Some(name) => Some(
                self.outcome_dictionary(activity.kind)
                    .and_then(|d| self.value_id(d, name))
                    .ok_or_else(|| DecodeError::UnknownOutcome {
                        kind: activity.kind,
                        outcome: name.clone(),
                    })?,
            ),
        };
        Ok(ActivityFact {
            id: activity.id,
            kind: activity.kind,
            status: activity.status,
            outcome,
            at: activity.at,
        })
    }

    /// Names instead of ids, for the event store.
    pub fn encode_event(&self, event: &DealEvent) -> StoredDealEvent {
        let stage = |id: &StageId| self.stage(*id).name.clone();
        match event {
            DealEvent::Started {
                deal,
                process,
                stage: s,
                at,
            } => StoredDealEvent::DealStarted {
                deal: *deal,
                process: process.clone(),
                stage: stage(s),
                at: *at,
            },
            DealEvent::StageChanged { from, to, at } => StoredDealEvent::DealStageChanged {
                from: stage(from),
                to: stage(to),
                at: *at,
            },
            DealEvent::Imported {
                import,
                process,
                at,
            } => StoredDealEvent::DealImported {
                deal: import.deal,
                process: process.clone(),
                stage: stage(&import.stage),
                created_at: import.created_at,
                stage_entered_at: import.stage_entered_at,
                closed_at: import.closed_at,
                responsible: import.responsible,
                imported_by: import.imported_by,
                source: import.source.clone(),
                at: *at,
            },
            DealEvent::FieldSet { field, value, at } => StoredDealEvent::DealFieldSet {
                field: self.field(*field).name.clone(),
                value: value.as_ref().map(|v| self.field_value_to_json(v)),
                at: *at,
            },
            DealEvent::ActivityRecorded { activity, at } => StoredDealEvent::DealActivityRecorded {
                activity: self.encode_activity(activity),
                at: *at,
            },
            DealEvent::DocumentRecorded { document, at } => StoredDealEvent::DealDocumentRecorded {
                document: document.id,
                kind: document.kind,
                status: document.status,
                at: *at,
            },
            DealEvent::SlaBreached { stage: s, at } => StoredDealEvent::DealSlaBreached {
                stage: stage(s),
                at: *at,
            },
            DealEvent::AutomationFired {
                automation,
                anchor,
                at,
            } => StoredDealEvent::DealAutomationFired {
                automation: automation.0,
                anchor: *anchor,
                at: *at,
            },
            DealEvent::Migrated {
                to,
                stage: s,
                fields,
                activities,
                at,
            } => StoredDealEvent::DealMigrated {
                to: to.clone(),
                stage: stage(s),
                fields: fields
                    .iter()
                    .map(|(f, v)| (self.field(*f).name.clone(), self.field_value_to_json(v)))
                    .collect(),
                activities: activities.iter().map(|a| self.encode_activity(a)).collect(),
                at: *at,
            },
        }
    }

    /// Ids instead of names, against this version. (For a `DealMigrated`
    /// event, `self` must be the version migrated to.)
    pub fn decode_event(&self, event: &StoredDealEvent) -> Result<DealEvent, DecodeError> {
        Ok(match event {
            StoredDealEvent::DealStarted {
                deal,
                process,
                stage,
                at,
            } => DealEvent::Started {
                deal: *deal,
                process: process.clone(),
                stage: self.stage_by_name_or_err(stage)?,
                at: *at,
            },
            StoredDealEvent::DealStageChanged { from, to, at } => DealEvent::StageChanged {
                from: self.stage_by_name_or_err(from)?,
                to: self.stage_by_name_or_err(to)?,
                at: *at,
            },
            StoredDealEvent::DealImported {
                deal,
                process,
                stage,
                created_at,
                stage_entered_at,
                closed_at,
                responsible,
                imported_by,
                source,
                at,
            } => DealEvent::Imported {
                import: DealImport {
                    deal: *deal,
                    stage: self.stage_by_name_or_err(stage)?,
                    created_at: *created_at,
                    stage_entered_at: *stage_entered_at,
                    closed_at: *closed_at,
                    responsible: *responsible,
                    imported_by: *imported_by,
                    source: source.clone(),
                },
                process: process.clone(),
                at: *at,
            },
            StoredDealEvent::DealFieldSet { field, value, at } => {
                let id = self
                    .field_id(field)
                    .ok_or_else(|| DecodeError::UnknownField(field.clone()))?;
                let value = match value {
                    Some(v) if !v.is_null() => Some(self.field_value_from_json(id, v)?),
                    _ => None,
                };
                DealEvent::FieldSet {
                    field: id,
                    value,
                    at: *at,
                }
            }
            StoredDealEvent::DealActivityRecorded { activity, at } => DealEvent::ActivityRecorded {
                activity: self.decode_activity(activity)?,
                at: *at,
            },
            StoredDealEvent::DealDocumentRecorded {
                document,
                kind,
                status,
                at,
            } => DealEvent::DocumentRecorded {
                document: DocumentFact {
                    id: *document,
                    kind: *kind,
                    status: *status,
                },
                at: *at,
            },
            StoredDealEvent::DealSlaBreached { stage, at } => DealEvent::SlaBreached {
                stage: self.stage_by_name_or_err(stage)?,
                at: *at,
            },
            StoredDealEvent::DealAutomationFired {
                automation,
                anchor,
                at,
            } => DealEvent::AutomationFired {
                automation: AutomationId(*automation),
                anchor: *anchor,
                at: *at,
            },
            StoredDealEvent::DealMigrated {
                to,
                stage,
                fields,
                activities,
                at,
            } => {
                let mut decoded_fields = Vec::with_capacity(fields.len());
                for (name, value) in fields {
                    let id = self
                        .field_id(name)
                        .ok_or_else(|| DecodeError::UnknownField(name.clone()))?;
                    decoded_fields.push((id, self.field_value_from_json(id, value)?));
                }
                DealEvent::Migrated {
                    to: to.clone(),
                    stage: self.stage_by_name_or_err(stage)?,
                    fields: decoded_fields,
                    activities: activities
                        .iter()
                        .map(|a| self.decode_activity(a))
                        .collect::<Result<_, _>>()?,
                    at: *at,
                }
            }
        })
    }
}
