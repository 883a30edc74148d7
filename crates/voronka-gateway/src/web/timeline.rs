//! A timeline as a list: when, who, what happened, in the viewer's
//! language. Entries about records the caller may not see come without
//! data and show only their kind.

use maud::{html, Markup};
use serde_json::Value;
use voronka_app::crm::Caller;
use voronka_core::ActorKind;
use voronka_crm::TimelineEntry;
use voronka_process::CompiledProcess;

use super::i18n;
use super::layout::t;
use super::session::Viewer;

/// The name of whoever did it.
pub fn actor_name(caller: &Caller, entry: &TimelineEntry) -> String {
    match entry.actor.kind {
        ActorKind::User => uuid::Uuid::parse_str(&entry.actor.id)
            .ok()
            .and_then(|id| {
                caller
                    .access
                    .users
                    .get(&voronka_app::access::UserId::from_uuid(id))
            })
            .map_or_else(|| entry.actor.id.clone(), |u| u.display_name.clone()),
        ActorKind::Integration | ActorKind::System => entry.actor.id.clone(),
    }
}

fn text(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A short detail line for an entry, if there is one worth showing.
fn detail(
    viewer: &Viewer,
    caller: &Caller,
    definition: Option<&CompiledProcess>,
    entry: &TimelineEntry,
) -> String {
    let lang = viewer.lang;
    let data = &entry.data;
    let stage = |name: &str| {
        definition
            .and_then(|d| {
                d.stage_id(name)
                    .map(|id| lang.title(&d.stage(id).title).to_owned())
            })
            .unwrap_or_else(|| name.to_owned())
    };
    match entry.event_type.as_str() {
        "deal_stage_changed" => format!(
            "{} → {}",
            stage(&text(data, "from").unwrap_or_default()),
            stage(&text(data, "to").unwrap_or_default())
        ),
        "deal_started" | "deal_imported" => stage(&text(data, "stage").unwrap_or_default()),
        "deal_field_set" => {
            let field = text(data, "field").unwrap_or_default();
            let title = definition
                .and_then(|d| {
                    d.field_id(&field)
                        .map(|id| lang.title(&d.field(id).title).to_owned())
                })
                .unwrap_or(field);
            let value = match data.get("value") {
                // A user by name; other references are linked elsewhere.
                Some(Value::String(s)) => match uuid::Uuid::parse_str(s) {
                    Ok(id) => caller
                        .access
                        .users
                        .get(&voronka_app::access::UserId::from_uuid(id))
                        .map_or_else(|| "…".to_owned(), |u| u.display_name.clone()),
                    Err(_) => s.clone(),
                },
                Some(Value::Null) | None => "—".to_owned(),
                Some(other) => match serde_json::from_value::<voronka_core::Money>(other.clone()) {
                    Ok(money) => i18n::money(lang, &money),
                    Err(_) => other.to_string(),
                },
            };
            format!("{title}: {value}")
        }
        "activity_planned" | "activity_logged" | "activity_completed" => {
            let mut parts = Vec::new();
            if let Some(kind) = text(data, "kind") {
                parts.push(t(lang, &format!("kind-{kind}")));
            }
            for key in ["subject", "outcome", "result"] {
                if let Some(value) = text(data, key) {
                    parts.push(value);
                }
            }
            parts.join(" · ")
        }
        "document_created" => {
            let kind = text(data, "kind").map(|k| t(lang, &format!("doc-{k}")));
            let number = text(data, "number");
            [kind, number]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        }
        "document_status_changed" => text(data, "to")
            .map(|s| t(lang, &format!("status-{s}")))
            .unwrap_or_default(),
        "company_created" | "company_updated" => text(data, "name").unwrap_or_default(),
        _ => String::new(),
    }
}

/// The list of entries, newest first.
pub fn render(
    viewer: &Viewer,
    caller: &Caller,
    definition: Option<&CompiledProcess>,
    entries: &[TimelineEntry],
) -> Markup {
    let lang = viewer.lang;
    html! {
        @if entries.is_empty() {
            p.muted { (t(lang, "timeline-empty")) }
        } @else {
            ol.timeline {
                @for entry in entries {
                    li {
                        time datetime=(entry.at.to_rfc3339()) {
                            (i18n::moment(lang, viewer.zone, entry.at))
                        }
                        " "
                        span.who { (actor_label(lang, caller, entry)) }
                        " "
                        strong { (event_title(lang, &entry.event_type)) }
                        @let more = detail(viewer, caller, definition, entry);
                        @if !more.is_empty() { " " span.detail { (more) } }
                    }
                }
            }
        }
    }
}

fn actor_label(lang: i18n::Lang, caller: &Caller, entry: &TimelineEntry) -> String {
    match entry.actor.kind {
        ActorKind::User => actor_name(caller, entry),
        _ => t(lang, "actor-system"),
    }
}

/// The event type's title (the type itself when the catalogue lacks it).
pub fn event_title(lang: i18n::Lang, event_type: &str) -> String {
    let key = format!("ev-{}", event_type.replace('_', "-"));
    if i18n::has_message(lang, &key) {
        t(lang, &key)
    } else {
        event_type.replace('_', " ")
    }
}
