//! Imports started through the API run as jobs: the request answers at
//! once with the job's id, a task imports the file with the same code as
//! the CLI (`Crm::import_file`), and `Crm::import_job` shows its progress and
//! then its report. Saved mappings (`voronka_crm::import_mapping`) name the
//! column mapping a job uses.
//!
//! Jobs live in memory: a restart forgets them (what they wrote stays, and
//! running the same file again completes it without doubling anything).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use voronka_crm::import::{ImportKind, Mapping, RowError};
use voronka_crm::import_mapping::{ImportMappingCommand, ImportMappings, SavedMapping};

use super::import::ImportReport;
use super::{records, AppError, Caller, Crm, Written};
use crate::access::{Action, UserId};

/// The most jobs kept; the oldest finished ones are forgotten first.
const MAX_JOBS: usize = 1_000;
/// The most checked (dry-run) files kept in memory for their real run, and
/// their most bytes together; the oldest are forgotten first (then the file
/// is uploaded again).
const MAX_KEPT_FILES: usize = 8;
const MAX_KEPT_BYTES: usize = 256 * 1024 * 1024;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Finished,
    Failed,
}

/// An import job as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: uuid::Uuid,
    #[schema(value_type = String)]
    pub kind: ImportKind,
    pub dry_run: bool,
    pub file: String,
    /// The saved mapping the job reads the file with.
    pub mapping: String,
    pub status: JobStatus,
    /// Rows checked and ready to write.
    pub rows_planned: usize,
    /// Of those, rows written (or checked, in a dry run) so far.
    pub rows_done: usize,
    /// The final report (rows read, created, duplicates, invalid rows with
    /// line, column and reason), once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ImportReport>,
    /// Why the whole file was refused (mapping, encoding, an unclosed quote).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RowError>,
    /// The real run started from this dry run ([`Crm::run_checked_import`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<uuid::Uuid>,
    #[serde(skip)]
    started_by: UserId,
    #[serde(skip)]
    sequence: u64,
    /// A dry run's file and mapping, kept so the run writes exactly what
    /// was checked (the mapping may be saved again meanwhile).
    #[serde(skip)]
    source: Option<Arc<Source>>,
}

/// What a job reads: the file and the columns of its mapping.
#[derive(Debug)]
struct Source {
    bytes: Vec<u8>,
    columns: Mapping,
}

impl ImportJob {
    /// Whether [`Crm::run_checked_import`] can still run this dry run's file.
    pub fn can_run(&self) -> bool {
        self.dry_run && self.status == JobStatus::Finished && self.source.is_some()
    }
}

#[derive(Debug, Default)]
pub(crate) struct ImportJobs {
    jobs: Mutex<HashMap<uuid::Uuid, ImportJob>>,
    next: std::sync::atomic::AtomicU64,
}

impl ImportJobs {
    fn update(&self, id: uuid::Uuid, change: impl FnOnce(&mut ImportJob)) {
        if let Ok(mut jobs) = self.jobs.lock() {
            if let Some(job) = jobs.get_mut(&id) {
                change(job);
            }
        }
    }

    fn insert(&self, job: ImportJob) {
        if let Ok(mut jobs) = self.jobs.lock() {
            if jobs.len() >= MAX_JOBS {
                let oldest = jobs
                    .values()
                    .filter(|job| job.status != JobStatus::Running)
                    .min_by_key(|job| job.sequence)
                    .map(|job| job.id);
                if let Some(oldest) = oldest {
                    jobs.remove(&oldest);
                }
            }
            if let Some(source) = &job.source {
                let mut kept: Vec<(u64, uuid::Uuid, usize)> = jobs
                    .values()
                    .filter_map(|job| {
                        let bytes = job.source.as_ref()?.bytes.len();
                        Some((job.sequence, job.id, bytes))
                    })
                    .collect();
                kept.sort_unstable();
                let mut files = kept.len() + 1;
                let mut bytes = source.bytes.len() + kept.iter().map(|k| k.2).sum::<usize>();
                for (_, id, size) in kept {
                    if files <= MAX_KEPT_FILES && bytes <= MAX_KEPT_BYTES {
                        break;
                    }
                    if let Some(old) = jobs.get_mut(&id) {
                        old.source = None;
                    }
                    files -= 1;
                    bytes -= size;
                }
            }
            jobs.insert(job.id, job);
        }
    }
}

/// The id of the catalog stream all saved mappings live on.
fn catalog_id() -> uuid::Uuid {
    uuid::Uuid::nil()
}

impl Crm {
    /// Saves (or replaces) a named column mapping for a kind of file. Needs
    /// the right to import that kind.
    pub async fn save_import_mapping(
        &self,
        caller: &Caller,
        name: String,
        kind: ImportKind,
        columns: Mapping,
    ) -> Result<Written, AppError> {
        self.may_import(caller, kind)?;
        let command = ImportMappingCommand::Save {
            name,
            kind,
            columns,
        };
        let context = self.context(caller);
        let (_, outcome) = records::execute::<ImportMappings>(
            &self.store,
            catalog_id(),
            &command,
            &context,
            &caller.actor(),
            None,
            None,
        )
        .await?;
        Ok(Written {
            id: catalog_id(),
            version: outcome.version.0,
            position: outcome.position.0,
        })
    }

    /// Deletes a saved mapping. Needs the right to import its kind; an
    /// unknown name, or one the caller may not use, is `NotFound`.
    pub async fn delete_import_mapping(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Written, AppError> {
        let saved = self.import_mapping(caller, name).await?;
        let command = ImportMappingCommand::Delete { name: saved.name };
        let context = self.context(caller);
        let (_, outcome) = records::execute::<ImportMappings>(
            &self.store,
            catalog_id(),
            &command,
            &context,
            &caller.actor(),
            None,
            None,
        )
        .await?;
        Ok(Written {
            id: catalog_id(),
            version: outcome.version.0,
            position: outcome.position.0,
        })
    }

    /// Every saved mapping the caller may import with.
    pub async fn import_mappings(&self, caller: &Caller) -> Result<Vec<SavedMapping>, AppError> {
        let loaded = records::load::<ImportMappings>(&self.store, catalog_id()).await?;
        Ok(loaded
            .state
            .mappings
            .into_values()
            .filter(|mapping| self.may_import(caller, mapping.kind).is_ok())
            .collect())
    }

    /// One saved mapping by name (404 when unknown or not the caller's to use).
    pub async fn import_mapping(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<SavedMapping, AppError> {
        self.import_mappings(caller)
            .await?
            .into_iter()
            .find(|mapping| mapping.name == name.trim())
            .ok_or(AppError::NotFound)
    }

    /// Starts importing `bytes` with the saved mapping `mapping_name` and
    /// answers the job's id at once. The right and the mapping are checked
    /// here (403, 422); everything else is in the job's report.
    pub async fn start_import(
        self: &Arc<Self>,
        caller: Caller,
        kind: ImportKind,
        mapping_name: &str,
        file: String,
        bytes: Vec<u8>,
        dry_run: bool,
    ) -> Result<uuid::Uuid, AppError> {
        self.may_import(&caller, kind)?;
        let saved = self
            .import_mapping(&caller, mapping_name)
            .await
            .map_err(|_| {
                AppError::invalid(
                    "mapping",
                    "mapping_unknown",
                    format!("no saved mapping is named `{}`", mapping_name.trim()),
                )
            })?;
        if saved.kind != kind {
            return Err(AppError::invalid(
                "mapping",
                "mapping_kind",
                format!(
                    "the mapping `{}` is for {}, not {}",
                    saved.name,
                    saved.kind.as_str(),
                    kind.as_str()
                ),
            ));
        }
        let source = Source {
            bytes,
            columns: saved.columns,
        };
        Ok(self.spawn_job(caller, kind, saved.name, file, Arc::new(source), dry_run))
    }

    /// Runs for real the file a finished dry run checked, with the same
    /// columns, as the caller (who must be the dry run's starter, or may
    /// manage users). Asked again, it answers the same run. 422 naming
    /// `job` when the job is not a finished dry run or its file was
    /// forgotten (the file is then uploaded again).
    pub fn run_checked_import(
        self: &Arc<Self>,
        caller: Caller,
        dry_run: uuid::Uuid,
    ) -> Result<uuid::Uuid, AppError> {
        let checked = self.import_job(&caller, dry_run)?;
        self.may_import(&caller, checked.kind)?;
        if let Some(run) = checked.run {
            return Ok(run);
        }
        let not_runnable = |code: &'static str, message: &str| {
            Err(AppError::invalid("job", code, message.to_owned()))
        };
        if !checked.dry_run || checked.status != JobStatus::Finished {
            return not_runnable("import_not_checked", "only a finished dry run can be run");
        }
        let Some(source) = checked.source.clone() else {
            return not_runnable(
                "import_file_forgotten",
                "the checked file is no longer kept; upload it again",
            );
        };
        // One run per dry run, even when asked twice at once.
        let mut claimed = None;
        if let Ok(mut jobs) = self.import_jobs.jobs.lock() {
            if let Some(job) = jobs.get_mut(&dry_run) {
                match job.run {
                    Some(run) => return Ok(run),
                    None => {
                        let id = uuid::Uuid::now_v7();
                        job.run = Some(id);
                        job.source = None;
                        claimed = Some(id);
                    }
                }
            }
        }
        let Some(id) = claimed else {
            return Err(AppError::NotFound);
        };
        Ok(self.spawn_job_with_id(
            id,
            caller,
            checked.kind,
            checked.mapping,
            checked.file,
            source,
            false,
        ))
    }

    fn spawn_job(
        self: &Arc<Self>,
        caller: Caller,
        kind: ImportKind,
        mapping: String,
        file: String,
        source: Arc<Source>,
        dry_run: bool,
    ) -> uuid::Uuid {
        self.spawn_job_with_id(
            uuid::Uuid::now_v7(),
            caller,
            kind,
            mapping,
            file,
            source,
            dry_run,
        )
    }

    /// Registers the job and imports in a task; a dry run keeps its source
    /// for the real run.
    #[allow(clippy::too_many_arguments)]
    fn spawn_job_with_id(
        self: &Arc<Self>,
        id: uuid::Uuid,
        caller: Caller,
        kind: ImportKind,
        mapping: String,
        file: String,
        source: Arc<Source>,
        dry_run: bool,
    ) -> uuid::Uuid {
        let sequence = self
            .import_jobs
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.import_jobs.insert(ImportJob {
            id,
            kind,
            dry_run,
            file: file.clone(),
            mapping,
            status: JobStatus::Running,
            rows_planned: 0,
            rows_done: 0,
            report: None,
            errors: Vec::new(),
            run: None,
            started_by: caller.user.id,
            sequence,
            source: dry_run.then(|| source.clone()),
        });
        let crm = self.clone();
        tokio::spawn(async move {
            let jobs = &crm.import_jobs;
            let mut progress = |done: usize, total: usize| {
                jobs.update(id, |job| {
                    job.rows_done = done;
                    job.rows_planned = total;
                })
            };
            let outcome = crm
                .import_file(
                    &caller,
                    kind,
                    &file,
                    &source.bytes,
                    &source.columns,
                    dry_run,
                    &mut progress,
                )
                .await;
            jobs.update(id, |job| match outcome {
                Ok(report) => {
                    job.status = JobStatus::Finished;
                    job.report = Some(report);
                }
                Err(error) => {
                    job.status = JobStatus::Failed;
                    job.source = None;
                    job.errors = match error {
                        AppError::Invalid(errors) => errors
                            .into_iter()
                            .map(|error| RowError {
                                line: 0,
                                column: Some(error.field),
                                code: error.code.to_owned(),
                                message: error.message,
                            })
                            .collect(),
                        other => {
                            tracing::warn!(job = %id, error = %other, "an import job failed");
                            vec![RowError {
                                line: 0,
                                column: None,
                                code: "import_failed".to_owned(),
                                message: "the import stopped; running it again completes it"
                                    .to_owned(),
                            }]
                        }
                    };
                }
            });
        });
        id
    }

    /// A job's progress and report: its starter's, or any for who may
    /// manage users (administrators); else 404.
    pub fn import_job(&self, caller: &Caller, id: uuid::Uuid) -> Result<ImportJob, AppError> {
        let job = self
            .import_jobs
            .jobs
            .lock()
            .ok()
            .and_then(|jobs| jobs.get(&id).cloned())
            .ok_or(AppError::NotFound)?;
        if job.started_by != caller.user.id && caller.may_at_all(Action::ManageUsers).is_err() {
            return Err(AppError::NotFound);
        }
        Ok(job)
    }
}
