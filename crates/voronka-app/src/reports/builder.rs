//! The report builder for callers: run a declarative spec over the read
//! models within the caller's reach, and keep specs as saved reports shared
//! with roles.
//!
//! Rights: anyone who may read reports may run a spec (over the records
//! their report right reaches); analysts, heads, directors and
//! administrators may save; a saved report is seen by its owner, by the
//! roles it is shared with and by administrators; its owner or an
//! administrator may delete it. Running a saved report applies the
//! *runner's* reach, never the owner's.

use std::collections::HashMap;

use serde::Deserialize;
use voronka_core::{CommandId, Position, Role, Timestamp};
use voronka_crm::saved_report::{
    SavedReport, SavedReportCatalog, SavedReportCommand, SavedReportId, SavedReportInput,
};
use voronka_crm::{Dictionaries, FieldError};
use voronka_projections::builder::{
    self, BuilderError, ReportSpec, ReportTable, RunContext, Source, SpecError,
};

use super::{projection_error, ReportFilter, Reports};
use crate::access::{AccessDenied, Action, DepartmentId};
use crate::crm::{records, AppError, Caller, Written};

/// The roles that may save reports.
pub const SAVING_ROLES: [Role; 5] = [
    Role::Administrator,
    Role::Director,
    Role::HeadOfSales,
    Role::HeadOfDepartment,
    Role::Analyst,
];

/// Why saving is refused to a role without the right (403).
pub const REASON_CANNOT_SAVE: &str = "role_cannot_save_reports";
/// Why deleting another user's saved report is refused (403).
pub const REASON_NOT_OWNER: &str = "not_report_owner";

/// A report to save, as a client sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSavedReport {
    pub name: String,
    pub spec: ReportSpec,
    /// Role names that see the report besides its owner.
    #[serde(default)]
    pub shared_with: Vec<String>,
}

/// When a run stands and which writes it must include.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub as_of: Option<Timestamp>,
    pub min_position: Option<Position>,
}

/// A spec error as the API reports it: 422 naming the spec path.
pub fn spec_error(error: SpecError, prefix: &str) -> AppError {
    AppError::Invalid(vec![FieldError::new(
        format!("{prefix}{}", error.path()),
        error.code(),
        error.to_string(),
    )])
}

fn builder_error(error: BuilderError, prefix: &str) -> AppError {
    match error {
        BuilderError::Spec(spec) => spec_error(spec, prefix),
        BuilderError::Projection(projection) => projection_error(projection),
    }
}

impl Reports {
    /// Runs `spec` for `caller`: their report reach is AND-ed into the SQL.
    pub async fn run_spec(
        &self,
        caller: &Caller,
        spec: &ReportSpec,
        options: RunOptions,
    ) -> Result<ReportTable, AppError> {
        let context = self.builder_context(caller, spec, options).await?;
        builder::run(&self.db, spec, &context)
            .await
            .map_err(|e| builder_error(e, ""))
    }

    /// The run context of `caller`: checks the spec first (so a bad spec is
    /// a 422 before any wait), then reach, `as_of` and read-your-writes.
    async fn builder_context(
        &self,
        caller: &Caller,
        spec: &ReportSpec,
        options: RunOptions,
    ) -> Result<RunContext, AppError> {
        let responsibles = self.responsibles(caller, &ReportFilter::default())?;
        let user_departments: HashMap<String, String> = caller
            .access
            .users
            .values()
            .map(|u| (u.id.to_string(), u.department.to_string()))
            .collect();
        let mut context = RunContext {
            responsibles,
            user_departments,
            department_members: HashMap::new(),
            as_of: None,
        };
        for department in named_departments(spec) {
            let Ok(id) = department.parse::<DepartmentId>() else {
                continue;
            };
            if !caller.access.tree.contains(id) {
                continue;
            }
            let members = caller
                .access
                .users
                .values()
                .filter(|u| caller.access.tree.is_within(u.department, id))
                .map(|u| u.id.to_string())
                .collect();
            context.department_members.insert(department, members);
        }
        builder::compile(spec, &context).map_err(|e| spec_error(e, ""))?;
        context.as_of = self.as_of(options.as_of).await?;
        if let Some(position) = options.min_position {
            let source = Source::parse(&spec.source).unwrap_or(Source::Deals);
            self.wait_for(&[source.projection()], position).await?;
        }
        Ok(context)
    }

    /// Saves `input` as a new report owned by `caller`. The spec must
    /// compile (422 naming `spec.<path>` otherwise).
    pub async fn save_report(
        &self,
        caller: &Caller,
        id: SavedReportId,
        input: NewSavedReport,
        command_id: Option<CommandId>,
    ) -> Result<(SavedReport, Written), AppError> {
        caller.may_at_all(Action::ReadReports)?;
        if !SAVING_ROLES.iter().any(|r| caller.user.has_role(*r)) {
            return Err(AppError::Forbidden(AccessDenied {
                action: Action::ReadReports,
                reason_code: REASON_CANNOT_SAVE,
            }));
        }
        builder::compile(&input.spec, &RunContext::all()).map_err(|e| spec_error(e, "spec."))?;
        let spec = serde_json::to_value(&input.spec)
            .map_err(|e| AppError::Internal(format!("a spec did not serialize: {e}")))?;
        let command = SavedReportCommand::Save {
            id,
            input: SavedReportInput {
                name: input.name,
                spec,
                shared_with: input.shared_with,
            },
        };
        let dictionaries = Dictionaries::standard();
        let context = voronka_crm::Context {
            now: self.clock.now(),
            actor: caller.user.id,
            dictionaries: &dictionaries,
        };
        let (state, outcome) = records::execute::<SavedReportCatalog>(
            &self.store,
            SavedReportCatalog::STREAM_ID,
            &command,
            &context,
            &caller.actor(),
            None,
            command_id,
        )
        .await?;
        let report = state
            .get(&id)
            .cloned()
            .ok_or_else(|| AppError::Internal("a saved report is missing after saving".into()))?;
        Ok((
            report,
            Written {
                id: id.0,
                version: outcome.version.0,
                position: outcome.position.0,
            },
        ))
    }

    /// The saved reports `caller` sees, by name.
    pub async fn saved_reports(&self, caller: &Caller) -> Result<Vec<SavedReport>, AppError> {
        caller.may_at_all(Action::ReadReports)?;
        let catalog =
            records::load::<SavedReportCatalog>(&self.store, SavedReportCatalog::STREAM_ID).await?;
        let mut reports: Vec<SavedReport> = catalog
            .state
            .into_values()
            .filter(|r| sees(caller, r))
            .collect();
        reports.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(reports)
    }

    /// One saved report (404 when it does not exist or is not shared with
    /// the caller).
    pub async fn saved_report(
        &self,
        caller: &Caller,
        id: SavedReportId,
    ) -> Result<SavedReport, AppError> {
        caller.may_at_all(Action::ReadReports)?;
        let catalog =
            records::load::<SavedReportCatalog>(&self.store, SavedReportCatalog::STREAM_ID).await?;
        catalog
            .state
            .get(&id)
            .filter(|r| sees(caller, r))
            .cloned()
            .ok_or(AppError::NotFound)
    }

    /// Deletes a saved report: its owner or an administrator.
    pub async fn delete_saved_report(
        &self,
        caller: &Caller,
        id: SavedReportId,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let report = self.saved_report(caller, id).await?;
        if report.owner != caller.user.id && !caller.user.has_role(Role::Administrator) {
            return Err(AppError::Forbidden(AccessDenied {
                action: Action::ReadReports,
                reason_code: REASON_NOT_OWNER,
            }));
        }
        let dictionaries = Dictionaries::standard();
        let context = voronka_crm::Context {
            now: self.clock.now(),
            actor: caller.user.id,
            dictionaries: &dictionaries,
        };
        let (_, outcome) = records::execute::<SavedReportCatalog>(
            &self.store,
            SavedReportCatalog::STREAM_ID,
            &SavedReportCommand::Delete { id },
            &context,
            &caller.actor(),
            None,
            command_id,
        )
        .await?;
        Ok(Written {
            id: id.0,
            version: outcome.version.0,
            position: outcome.position.0,
        })
    }

    /// Runs a saved report for `caller`, within the caller's own reach.
    pub async fn run_saved_report(
        &self,
        caller: &Caller,
        id: SavedReportId,
        options: RunOptions,
    ) -> Result<(SavedReport, ReportTable), AppError> {
        let report = self.saved_report(caller, id).await?;
        let spec: ReportSpec = serde_json::from_value(report.spec.clone()).map_err(|e| {
            AppError::Internal(format!("saved report {id} has an unreadable spec: {e}"))
        })?;
        let table = self
            .run_spec(caller, &spec, options)
            .await
            .map_err(|error| {
                match error {
                    // A spec that compiled when saved and no longer does (a
                    // field was withdrawn): say so on the spec.
                    AppError::Invalid(errors) => AppError::Invalid(
                        errors
                            .into_iter()
                            .map(|e| FieldError {
                                field: format!("spec.{}", e.field),
                                ..e
                            })
                            .collect(),
                    ),
                    other => other,
                }
            })?;
        Ok((report, table))
    }
}

/// The owner, administrators and the roles it is shared with see a report.
fn sees(caller: &Caller, report: &SavedReport) -> bool {
    report.owner == caller.user.id
        || caller.user.has_role(Role::Administrator)
        || report.shared_with.iter().any(|r| caller.user.has_role(*r))
}

/// The department ids a spec's department filters name (to resolve their
/// members, sub-departments included).
fn named_departments(spec: &ReportSpec) -> Vec<String> {
    let conditions = spec
        .filters
        .iter()
        .chain(spec.measures.iter().flat_map(|m| m.condition.iter()));
    let mut names = Vec::new();
    for filter in conditions.filter(|f| f.field == "department") {
        match &filter.value {
            serde_json::Value::String(text) => names.push(text.clone()),
            serde_json::Value::Array(items) => {
                names.extend(items.iter().filter_map(|v| v.as_str().map(str::to_owned)))
            }
            _ => {}
        }
    }
    names.sort();
    names.dedup();
    names
}
