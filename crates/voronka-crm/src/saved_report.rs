//! Saved reports: report-builder specs kept under a name and shared with
//! roles.
//!
//! All saved reports live on one stream (the catalog, `saved_reports-<nil>`):
//! there are tens or hundreds of them, and listing them must not scan the
//! log, so one stream read answers a list. The spec is stored as JSON as the
//! client sent it; the application compiles it before saving (this crate
//! does not know the read models), so a stored spec was valid when saved.
//!
//! Rules here: a name is 1..=200 characters and unique among its owner's
//! live reports; `shared_with` names known roles, each once; a deleted
//! report is gone (a second delete is `NotFound`). Who may save, see and
//! delete is the application's decision.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use voronka_core::{Role, Timestamp};

use crate::{Aggregate, Context, CrmError, FieldError, UserId};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The most saved reports the catalog holds.
pub const MAX_REPORTS: usize = 10_000;
/// The largest stored spec, in bytes of JSON.
pub const MAX_SPEC_BYTES: usize = 64 * 1024;

voronka_core::uuid_id!(
    /// Identifies a saved report.
    SavedReportId
);

/// A saved report as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SavedReport {
    #[schema(value_type = String, format = Uuid)]
    pub id: SavedReportId,
    pub name: String,
    /// The report builder's spec, as saved.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// Roles that see the report besides its owner.
    #[schema(value_type = Vec<String>)]
    pub shared_with: Vec<Role>,
    #[schema(value_type = String, format = Uuid)]
    pub owner: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A report to save, as a client sends it (the spec already checked by the
/// application).
#[derive(Debug, Clone, PartialEq)]
pub struct SavedReportInput {
    pub name: String,
    pub spec: serde_json::Value,
    /// Role names (`analyst`, `head_of_sales`, ...).
    pub shared_with: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum SavedReportCommand {
    Save {
        id: SavedReportId,
        input: SavedReportInput,
    },
    Delete {
        id: SavedReportId,
    },
}

/// Everything that happens to the catalog. The serde tag is the stored
/// event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SavedReportEvent {
    SavedReportCreated {
        id: SavedReportId,
        name: String,
        spec: serde_json::Value,
        shared_with: Vec<Role>,
        owner: UserId,
        created_at: Timestamp,
    },
    SavedReportDeleted {
        id: SavedReportId,
    },
}

/// The catalog of live saved reports, by id.
pub type SavedReports = BTreeMap<SavedReportId, SavedReport>;

/// The catalog aggregate (one stream for every saved report).
pub struct SavedReportCatalog;

impl SavedReportCatalog {
    /// The id of the catalog's one stream.
    pub const STREAM_ID: uuid::Uuid = uuid::Uuid::nil();
}

impl Aggregate for SavedReportCatalog {
    const CATEGORY: &'static str = "saved_reports";
    type State = SavedReports;
    type Event = SavedReportEvent;
    type Command = SavedReportCommand;

    fn event_type(event: &SavedReportEvent) -> &'static str {
        match event {
            SavedReportEvent::SavedReportCreated { .. } => "saved_report_created",
            SavedReportEvent::SavedReportDeleted { .. } => "saved_report_deleted",
        }
    }

    fn apply(state: &mut SavedReports, event: &SavedReportEvent) {
        match event {
            SavedReportEvent::SavedReportCreated {
                id,
                name,
                spec,
                shared_with,
                owner,
                created_at,
            } => {
                state.insert(
                    *id,
                    SavedReport {
                        id: *id,
                        name: name.clone(),
                        spec: spec.clone(),
                        shared_with: shared_with.clone(),
                        owner: *owner,
                        created_at: *created_at,
                    },
                );
            }
            SavedReportEvent::SavedReportDeleted { id } => {
                state.remove(id);
            }
        }
    }

    fn decide(
        state: &SavedReports,
        command: &SavedReportCommand,
        context: &Context<'_>,
    ) -> Result<Vec<SavedReportEvent>, CrmError> {
        match command {
            SavedReportCommand::Save { id, input } => {
                if state.contains_key(id) {
                    return Err(CrmError::AlreadyExists);
                }
                let mut errors = Vec::new();
                let name = input.name.trim().to_owned();
                if name.is_empty() {
                    errors.push(FieldError::required("name"));
                } else if name.chars().count() > MAX_NAME_CHARS {
                    errors.push(FieldError::new(
                        "name",
                        "too_long",
                        format!("`name` is at most {MAX_NAME_CHARS} characters"),
                    ));
                } else if state
                    .values()
                    .any(|r| r.owner == context.actor && r.name == name)
                {
                    errors.push(FieldError::new(
                        "name",
                        "name_taken",
                        "you already have a saved report with this name",
                    ));
                }
                if !input.spec.is_object() {
                    errors.push(FieldError::new(
                        "spec",
                        "invalid",
                        "`spec` must be an object",
                    ));
                } else if input.spec.to_string().len() > MAX_SPEC_BYTES {
                    errors.push(FieldError::new(
                        "spec",
                        "too_long",
                        format!("`spec` is at most {MAX_SPEC_BYTES} bytes"),
                    ));
                }
                let mut shared_with = Vec::new();
                for (i, name) in input.shared_with.iter().enumerate() {
                    match Role::parse(name) {
                        Some(role) if shared_with.contains(&role) => errors.push(FieldError::new(
                            format!("shared_with[{i}]"),
                            "duplicate",
                            "the role is listed twice",
                        )),
                        Some(role) => shared_with.push(role),
                        None => errors.push(FieldError::new(
                            format!("shared_with[{i}]"),
                            "unknown_role",
                            "no such role",
                        )),
                    }
                }
                if state.len() >= MAX_REPORTS {
                    errors.push(FieldError::new(
                        "name",
                        "too_many_reports",
                        format!("at most {MAX_REPORTS} reports can be saved"),
                    ));
                }
                CrmError::check(errors)?;
                Ok(vec![SavedReportEvent::SavedReportCreated {
                    id: *id,
                    name,
                    spec: input.spec.clone(),
                    shared_with,
                    owner: context.actor,
                    created_at: context.now,
                }])
            }
            SavedReportCommand::Delete { id } => {
                if !state.contains_key(id) {
                    return Err(CrmError::NotFound);
                }
                Ok(vec![SavedReportEvent::SavedReportDeleted { id: *id }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dictionaries;

    fn given(events: &[SavedReportEvent]) -> SavedReports {
        let mut state = SavedReports::new();
        for event in events {
            SavedReportCatalog::apply(&mut state, event);
        }
        state
    }

    fn when(
        state: &SavedReports,
        actor: UserId,
        command: SavedReportCommand,
    ) -> Result<Vec<SavedReportEvent>, CrmError> {
        let dictionaries = Dictionaries::standard();
        let context = Context {
            now: Timestamp::default(),
            actor,
            dictionaries: &dictionaries,
        };
        SavedReportCatalog::decide(state, &command, &context)
    }

    fn save(id: SavedReportId, name: &str, shared: &[&str]) -> SavedReportCommand {
        SavedReportCommand::Save {
            id,
            input: SavedReportInput {
                name: name.into(),
                spec: serde_json::json!({"source": "deals"}),
                shared_with: shared.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    fn codes(error: CrmError) -> Vec<(String, &'static str)> {
        match error {
            CrmError::Invalid(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => vec![(String::new(), other.code())],
        }
    }

    #[test]
    fn it_should_save_a_report_shared_with_roles() {
        let owner = UserId::from_uuid(uuid::Uuid::new_v4());
        let id = SavedReportId::from_uuid(uuid::Uuid::new_v4());
        let events = when(&given(&[]), owner, save(id, " Won by month ", &["analyst"])).unwrap();
        let state = given(&events);
        let report = &state[&id];
        assert_eq!(report.name, "Won by month");
        assert_eq!(report.shared_with, vec![Role::Analyst]);
        assert_eq!(report.owner, owner);
    }

    #[test]
    fn it_should_not_save_when_the_name_is_taken_by_the_same_owner() {
        let owner = UserId::from_uuid(uuid::Uuid::new_v4());
        let first = when(
            &given(&[]),
            owner,
            save(SavedReportId::from_uuid(uuid::Uuid::new_v4()), "A", &[]),
        )
        .unwrap();
        let state = given(&first);
        let error = when(
            &state,
            owner,
            save(SavedReportId::from_uuid(uuid::Uuid::new_v4()), "A", &[]),
        )
        .unwrap_err();
        assert_eq!(codes(error), vec![("name".to_owned(), "name_taken")]);
        // Another owner may use the name.
        assert!(when(
            &state,
            UserId::from_uuid(uuid::Uuid::new_v4()),
            save(SavedReportId::from_uuid(uuid::Uuid::new_v4()), "A", &[])
        )
        .is_ok());
    }

    #[test]
    fn it_should_name_every_bad_input() {
        let error = when(
            &given(&[]),
            UserId::from_uuid(uuid::Uuid::new_v4()),
            save(
                SavedReportId::from_uuid(uuid::Uuid::new_v4()),
                "  ",
                &["analyst", "king", "analyst"],
            ),
        )
        .unwrap_err();
        assert_eq!(
            codes(error),
            vec![
                ("name".to_owned(), "required"),
                ("shared_with[1]".to_owned(), "unknown_role"),
                ("shared_with[2]".to_owned(), "duplicate"),
            ]
        );
    }

    #[test]
    fn it_should_not_delete_a_report_twice() {
        let owner = UserId::from_uuid(uuid::Uuid::new_v4());
        let id = SavedReportId::from_uuid(uuid::Uuid::new_v4());
        let mut history = when(&given(&[]), owner, save(id, "A", &[])).unwrap();
        history.extend(when(&given(&history), owner, SavedReportCommand::Delete { id }).unwrap());
        let state = given(&history);
        assert!(state.is_empty());
        let error = when(&state, owner, SavedReportCommand::Delete { id }).unwrap_err();
        assert_eq!(error, CrmError::NotFound);
    }
}
