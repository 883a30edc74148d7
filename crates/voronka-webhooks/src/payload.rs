//! What is sent for one event: whether a subscription wants it, and the
//! JSON body.
//!
//! `{ "id", "type", "position", "stream", "occurred_at", "recorded_at",
//! "data" }`; `data` is the stored event's own fields (without its `type`)
//! and, for deal events, `deal_id` and `process` (the name); a stage change
//! carries `from` and `to`.

use serde_json::{json, Map, Value};
use voronka_core::{Position, RecordedEvent};
use voronka_crm::webhook::{WebhookId, WebhookRecord};
use voronka_process::DealId;

/// The stable id of a delivery: the same event to the same subscription
/// always has the same id, so a receiver can drop a repeat.
pub fn delivery_id(subscription: WebhookId, position: Position) -> String {
    format!("{subscription}-{}", position.0)
}

/// Whether `record` wants `event` (whose payload is `data`, of deal `deal`
/// in process `process` when it is a deal event).
pub fn matches(
    record: &WebhookRecord,
    event: &RecordedEvent,
    data: &Value,
    process: Option<&str>,
) -> bool {
    if !record.event_types.contains(&event.event_type) {
        return false;
    }
    if let Some(wanted) = &record.filter.process {
        if process != Some(wanted.as_str()) {
            return false;
        }
    }
    if let Some(stage) = &record.filter.stage {
        let entered = match event.event_type.as_str() {
            "deal_stage_changed" => data.get("to"),
            "deal_started" | "deal_imported" | "deal_migrated" => data.get("stage"),
            _ => None,
        };
        if entered.and_then(Value::as_str) != Some(stage.as_str()) {
            return false;
        }
    }
    true
}

/// The body POSTed for `event`.
pub fn body(
    subscription: WebhookId,
    event: &RecordedEvent,
    data: Value,
    deal: Option<(DealId, Option<&str>)>,
) -> Value {
    let mut fields = match data {
        Value::Object(fields) => fields,
        other => {
            let mut fields = Map::new();
            fields.insert("value".into(), other);
            fields
        }
    };
    fields.remove("type");
    if let Some((deal, process)) = deal {
        fields.insert("deal_id".into(), Value::String(deal.to_string()));
        if let Some(process) = process {
            fields.insert("process".into(), Value::String(process.to_owned()));
        }
    }
    json!({
        "id": delivery_id(subscription, event.position),
        "type": event.event_type,
        "position": event.position.0,
        "stream": event.stream_id.as_str(),
        "occurred_at": event.effective_time(),
        "recorded_at": event.recorded_at,
        "data": fields,
    })
}
