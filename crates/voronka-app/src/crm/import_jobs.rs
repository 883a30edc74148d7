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

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Finished,
    Failed,
}

/// An import job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ImportJob {
    pub id: uuid::Uuid,
    pub kind: ImportKind,
    pub dry_run: bool,
    pub file: String,
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
    #[serde(skip)]
    started_by: UserId,
    #[serde(skip)]
    sequence: u64,
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
        let id = uuid::Uuid::now_v7();
        let sequence = self
            .import_jobs
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.import_jobs.insert(ImportJob {
            id,
            kind,
            dry_run,
            file: file.clone(),
            status: JobStatus::Running,
            rows_planned: 0,
            rows_done: 0,
            report: None,
            errors: Vec::new(),
            started_by: caller.user.id,
            sequence,
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
                    &bytes,
                    &saved.columns,
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
        Ok(id)
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
