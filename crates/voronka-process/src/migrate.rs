//! Moving in-flight deals to a new version of their process. A deal keeps the
//! version it started on until an explicit migration; the stage mapping
//! (old -> new) is validated as a whole before any deal is touched, and the
//! migrated deal's fields and activity outcomes are re-keyed by name.
//! Entry requirements of the new stage are not enforced: migration is an
//! administrative act, recorded with its actor like any event.

use crate::deal::*;
use crate::decide::{Decision, Rejection, VersionMismatch};
use crate::model::*;
use crate::version::ProcessIdentity;
use voronka_core::Timestamp;

/// A checked stage mapping between two versions.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationPlan {
    pub from: ProcessIdentity,
    pub to: ProcessIdentity,
    /// Indexed by the old [`StageId`]: the new stage.
    pub stages: Vec<StageId>,
    /// Indexed by the old [`FieldId`]: the new field of the same name and
    /// type, if any (values of other fields are dropped).
    pub fields: Vec<Option<FieldId>>,
    /// Indexed by the old [`ValueId`]: the same-named value in the
    /// same-named dictionary of the new version, if any.
    pub values: Vec<Option<ValueId>>,
}

/// A problem with a stage mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    #[error("`{0}` is not a stage of the old version")]
    UnknownOldStage(String),
    #[error("`{0}` is not a stage of the new version")]
    UnknownNewStage(String),
    #[error("stage `{0}` is mapped twice")]
    MappedTwice(String),
    #[error("stage `{0}` does not exist in the new version; map it to one that does")]
    Unmapped(String),
    #[error("the versions belong to different processes (`{from}` and `{to}`)")]
    DifferentProcess { from: String, to: String },
}

/// Checks a mapping and builds the plan. Stages whose name exists in both
/// versions map to themselves unless the mapping says otherwise.
pub fn plan_migration(
    from: &CompiledProcess,
    to: &CompiledProcess,
    stage_mapping: &[(&str, &str)],
) -> Result<MigrationPlan, Vec<MigrationError>> {
    let mut errors = Vec::new();
    if from.identity.name != to.identity.name {
        errors.push(MigrationError::DifferentProcess {
            from: from.identity.name.to_string(),
            to: to.identity.name.to_string(),
        });
    }
    let mut stages: Vec<Option<StageId>> =
        from.stages.iter().map(|s| to.stage_id(&s.name)).collect();
    let mut seen: Vec<&str> = Vec::new();
    for (old, new) in stage_mapping {
        if seen.contains(old) {
            errors.push(MigrationError::MappedTwice(old.to_string()));
            continue;
        }
        seen.push(old);
        let old_id = from.stage_id(old);
        let new_id = to.stage_id(new);
        if old_id.is_none() {
            errors.push(MigrationError::UnknownOldStage(old.to_string()));
        }
        if new_id.is_none() {
            errors.push(MigrationError::UnknownNewStage(new.to_string()));
        }
        if let (Some(old_id), Some(new_id)) = (old_id, new_id) {
            stages[old_id.index()] = Some(new_id);
        }
    }
    for (stage, mapped) in from.stages.iter().zip(&stages) {
        if mapped.is_none() && !seen.contains(&stage.name.as_str()) {
            errors.push(MigrationError::Unmapped(stage.name.clone()));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let fields = from
        .fields
        .iter()
        .map(|field| {
            let new = to.field_id(&field.name)?;
            let compatible = match (field.field_type, to.field(new).field_type) {
                (FieldType::Dictionary(a), FieldType::Dictionary(b)) => {
                    from.dictionaries[a.index()].name == to.dictionaries[b.index()].name
                }
                (a, b) => a == b,
            };
            compatible.then_some(new)
        })
        .collect();
    let values = from
        .values
        .iter()
        .map(|value| {
            let dictionary = to.dictionary_id(&from.dictionaries[value.dictionary.index()].name)?;
            to.value_id(dictionary, &value.name)
        })
        .collect();
    Ok(MigrationPlan {
        from: from.identity.clone(),
        to: to.identity.clone(),
        stages: stages
            .into_iter()
            .map(|s| s.unwrap_or(StageId(0)))
            .collect(),
        fields,
        values,
    })
}

/// Decides the migration of one deal along a checked plan.
pub fn migrate(
    plan: &MigrationPlan,
    state: &DealState,
    now: Timestamp,
) -> Result<Decision, Rejection> {
    let Some(deal) = &state.deal else {
        return Err(Rejection::NotStarted);
    };
    if deal.process.hash != plan.from.hash {
        return Err(Rejection::WrongVersion(Box::new(VersionMismatch {
            deal: deal.process.clone(),
            definition: plan.from.clone(),
        })));
    }
    let stage = *plan
        .stages
        .get(deal.stage.index())
        .ok_or(Rejection::UnknownStage(deal.stage))?;
    let map_value = |value: &FieldValue| -> Option<FieldValue> {
        match value {
            FieldValue::Dictionary(v) => plan
                .values
                .get(v.index())
                .copied()
                .flatten()
                .map(FieldValue::Dictionary),
            other => Some(other.clone()),
        }
    };
    let fields = deal
        .fields
        .iter()
        .enumerate()
        .filter_map(|(i, value)| {
            let new_field = plan.fields.get(i).copied().flatten()?;
            Some((new_field, map_value(value.as_ref()?)?))
        })
        .collect();
    let activities = deal
        .activities
        .iter()
        .map(|a| ActivityFact {
            outcome: a
                .outcome
                .and_then(|v| plan.values.get(v.index()).copied().flatten()),
            ..a.clone()
        })
        .collect();
    Ok(Decision {
        events: vec![DealEvent::Migrated {
            to: plan.to.clone(),
            stage,
            fields,
            activities,
            at: now,
        }],
        effects: Vec::new(),
    })
}
