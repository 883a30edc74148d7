//! Saved import mappings: a column mapping kept under a name, so a file from
//! the same source is imported with `mapping=<name>` (API) instead of a
//! mapping file each time.
//!
//! All live on one catalog stream (`import_mappings-<nil>`): there are a
//! few dozen, and one stream read answers a list. Rules here: a name is 1 to
//! [`MAX_NAME_CHARS`] characters of letters, digits, `-`, `_` and `.`; the
//! columns are a valid mapping for the kind; saving a name again replaces
//! it; deleting an unknown name is `NotFound`. Who may save is the
//! application's decision.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use voronka_core::Timestamp;

use crate::import::{ImportKind, Mapping};
use crate::{Aggregate, Context, CrmError, FieldError, UserId};

/// The longest mapping name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The most saved mappings the catalog holds.
pub const MAX_MAPPINGS: usize = 1_000;

/// A saved mapping as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SavedMapping {
    pub name: String,
    #[schema(value_type = String)]
    pub kind: ImportKind,
    /// CSV header -> field.
    #[schema(value_type = Object)]
    pub columns: Mapping,
    #[schema(value_type = String, format = Uuid)]
    pub saved_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub saved_at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum ImportMappingCommand {
    Save {
        name: String,
        kind: ImportKind,
        columns: Mapping,
    },
    Delete {
        name: String,
    },
}

/// Everything that happens to the catalog; the serde tag is the stored
/// event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImportMappingEvent {
    ImportMappingSaved {
        name: String,
        kind: ImportKind,
        columns: Mapping,
        saved_by: UserId,
        saved_at: Timestamp,
    },
    ImportMappingDeleted {
        name: String,
        deleted_at: Timestamp,
    },
}

/// Every saved mapping, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingCatalog {
    pub mappings: BTreeMap<String, SavedMapping>,
}

/// The catalog aggregate.
pub struct ImportMappings;

/// Whether `name` may name a mapping (it travels in query strings).
pub fn valid_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=MAX_NAME_CHARS).contains(&count)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Aggregate for ImportMappings {
    const CATEGORY: &'static str = "import_mappings";
    type State = MappingCatalog;
    type Event = ImportMappingEvent;
    type Command = ImportMappingCommand;

    fn event_type(event: &ImportMappingEvent) -> &'static str {
        match event {
            ImportMappingEvent::ImportMappingSaved { .. } => "import_mapping_saved",
            ImportMappingEvent::ImportMappingDeleted { .. } => "import_mapping_deleted",
        }
    }

    fn apply(state: &mut MappingCatalog, event: &ImportMappingEvent) {
        match event {
            ImportMappingEvent::ImportMappingSaved {
                name,
                kind,
                columns,
                saved_by,
                saved_at,
            } => {
                state.mappings.insert(
                    name.clone(),
                    SavedMapping {
                        name: name.clone(),
                        kind: *kind,
                        columns: columns.clone(),
                        saved_by: *saved_by,
                        saved_at: *saved_at,
                    },
                );
            }
            ImportMappingEvent::ImportMappingDeleted { name, .. } => {
                state.mappings.remove(name);
            }
        }
    }

    fn decide(
        state: &MappingCatalog,
        command: &ImportMappingCommand,
        context: &Context<'_>,
    ) -> Result<Vec<ImportMappingEvent>, CrmError> {
        match command {
            ImportMappingCommand::Save {
                name,
                kind,
                columns,
            } => {
                let name = name.trim();
                let mut errors = Vec::new();
                if !valid_name(name) {
                    errors.push(FieldError::new(
                        "name",
                        "name_invalid",
                        format!("a name is 1 to {MAX_NAME_CHARS} letters, digits, `-`, `_` or `.`"),
                    ));
                }
                if let Err(error) = columns.check(*kind) {
                    errors.push(FieldError::new(
                        "columns",
                        "mapping_invalid",
                        error.to_string(),
                    ));
                }
                if !state.mappings.contains_key(name) && state.mappings.len() >= MAX_MAPPINGS {
                    errors.push(FieldError::new(
                        "name",
                        "too_many_mappings",
                        format!("at most {MAX_MAPPINGS} mappings are kept"),
                    ));
                }
                CrmError::check(errors)?;
                Ok(vec![ImportMappingEvent::ImportMappingSaved {
                    name: name.to_owned(),
                    kind: *kind,
                    columns: columns.clone(),
                    saved_by: context.actor,
                    saved_at: context.now,
                }])
            }
            ImportMappingCommand::Delete { name } => {
                if !state.mappings.contains_key(name.trim()) {
                    return Err(CrmError::NotFound);
                }
                Ok(vec![ImportMappingEvent::ImportMappingDeleted {
                    name: name.trim().to_owned(),
                    deleted_at: context.now,
                }])
            }
        }
    }
}
