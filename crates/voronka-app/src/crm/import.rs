//! CSV import of companies and contacts through the same commands as the
//! API (`Crm::create_company`, `Crm::create_contact`): the file is read by
//! `voronka_crm::import`, every row is checked by the aggregate's `decide`
//! on an empty state, duplicates are looked for in the customer base and
//! within the file, and (unless it is a dry run) each valid row that is not
//! a duplicate is created in one append.
//!
//! Re-running a file creates nothing twice: a row's record id and command id
//! are derived from (the file's SHA-256, the kind, the row's line), so a row
//! created before is found by its id and skipped, and a create interrupted
//! mid-way is answered from the store when retried.

use crate::crm::records::{create, field_errors};
use std::collections::HashMap;

use futures::StreamExt;

use serde::Serialize;
use sha2::{Digest, Sha256};
use voronka_core::customer::Inn;
use voronka_core::CommandId;
use voronka_crm::company::{Company, CompanyCommand};
use voronka_crm::contact::{Contact, ContactCommand};
use voronka_crm::import::{
    company_key, contact_keys, parse_companies, parse_contacts, ImportError, ImportKind, Mapping,
    RowError,
};
use voronka_crm::{Aggregate, CompanyId, ContactId, FieldError};

use super::view::Indexes;
use super::{AppError, Caller, Crm};
use crate::access::Action;

/// The open company a row's `company_inn` names; a malformed INN or one no
/// open company has is an error on `company_inn`.
pub(super) fn company_by_inn(
    indexes: &Indexes,
    raw: &str,
    errors: &mut Vec<FieldError>,
) -> Option<CompanyId> {
    match Inn::parse(raw) {
        Ok(inn) => {
            let found = indexes
                .customers
                .company_duplicates(inn.as_str())
                .first()
                .copied();
            if found.is_none() {
                errors.push(FieldError::new(
                    "company_inn",
                    "company_unknown",
                    "no open company has this INN",
                ));
            }
            found
        }
        Err(error) => {
            errors.push(FieldError::new(
                "company_inn",
                error.code(),
                error.to_string(),
            ));
            None
        }
    }
}

/// Rows written at once by an import: as many appends as the SQLite
/// writer commits in one group, so one durable write serves them all.
const ROWS_IN_FLIGHT: usize = 1_024;

/// A row not created because it looks like a client already known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DuplicateRow {
    pub line: u64,
    /// Open records with the same INN, phone or e-mail.
    pub candidates: Vec<uuid::Uuid>,
    /// The earlier line of this file with the same INN, phone or e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_as_line: Option<u64>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    #[schema(value_type = String)]
    pub kind: ImportKind,
    pub dry_run: bool,
    /// `utf-8` or `windows-1251`.
    #[schema(value_type = String)]
    pub encoding: &'static str,
    #[schema(value_type = String)]
    pub delimiter: char,
    /// Data rows read, valid or not.
    pub rows: usize,
    /// Records created by this run.
    pub created: usize,
    /// Records this run would create (a dry run; else equal to `created`).
    pub would_create: usize,
    /// Rows of this file created by an earlier run (skipped).
    pub already_imported: usize,
    pub duplicates: Vec<DuplicateRow>,
    pub invalid: Vec<RowError>,
}

impl ImportReport {
    pub(super) fn new(
        kind: ImportKind,
        dry_run: bool,
        encoding: &'static str,
        delimiter: char,
    ) -> ImportReport {
        ImportReport {
            kind,
            dry_run,
            encoding,
            delimiter,
            rows: 0,
            created: 0,
            would_create: 0,
            already_imported: 0,
            duplicates: Vec::new(),
            invalid: Vec::new(),
        }
    }
}

/// One row checked and ready to create.
struct Planned<C> {
    line: u64,
    id: uuid::Uuid,
    command: C,
}

/// The id of a file's row for `purpose` (its record, its command): the
/// same file, kind, line and purpose always give the same id, so a re-run
/// finds what an earlier run wrote.
///
/// The first eight bytes hash (file, kind, purpose) and the last eight are
/// the line, so the ids of one file's rows are consecutive: the store's
/// indexes on stream and command ids then take a whole group of rows in a
/// few pages, where random ids would touch a page per row on every commit.
pub(super) fn derived(file: &[u8; 32], kind: ImportKind, line: u64, purpose: &str) -> uuid::Uuid {
    let mut hash = Sha256::new();
    hash.update(b"voronka-import-rows\0");
    hash.update(file);
    hash.update(kind.as_str().as_bytes());
    hash.update(b"\0");
    hash.update(purpose.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&digest[..8]);
    bytes[8..].copy_from_slice(&line.to_be_bytes());
    // Sets the version and variant bits: in the hash part and in the line's
    // top byte, which is 0 for any real file.
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

pub(super) fn row_errors(line: u64, errors: Vec<FieldError>) -> impl Iterator<Item = RowError> {
    errors.into_iter().map(move |error| RowError {
        line,
        column: Some(if error.field == "company" {
            "company_inn".to_owned()
        } else {
            error.field
        }),
        code: error.code.to_owned(),
        message: error.message,
    })
}

/// The file-level refusal as a 422 naming `file` or `mapping`.
pub(super) fn file_refused(error: ImportError) -> AppError {
    let (field, code) = match &error {
        ImportError::Mapping { .. } => ("mapping", "mapping_invalid"),
        ImportError::Empty => ("file", "file_empty"),
        ImportError::Binary { .. } => ("file", "file_binary"),
        ImportError::UnclosedQuote { .. } => ("file", "csv_unclosed_quote"),
        ImportError::Csv { .. } => ("file", "csv_invalid"),
    };
    AppError::invalid(field, code, error.to_string())
}

/// Registers a valid row's keys; the earlier line holding one of them when
/// the row repeats it.
fn seen_in_file(seen: &mut HashMap<String, u64>, keys: Vec<String>, line: u64) -> Option<u64> {
    if let Some(first) = keys.iter().find_map(|key| seen.get(key).copied()) {
        return Some(first);
    }
    for key in keys {
        seen.insert(key, line);
    }
    None
}

impl Crm {
    /// Creates the checked rows of a companies or contacts file, many in
    /// flight, each its own append straight to a new stream
    /// ([`create`]: no read first, no view catch-up per row). The rows were
    /// checked against the customer base when planned, their ids are new,
    /// and the store's group commit shares one durable write among the
    /// appends in flight. A row written by an interrupted earlier run is
    /// answered from the store by its command id. Results come back in file
    /// order, so `progress` and the report follow the file.
    async fn write_planned<A: Aggregate>(
        &self,
        caller: &Caller,
        file: &[u8; 32],
        kind: ImportKind,
        planned: Vec<Planned<A::Command>>,
        report: &mut ImportReport,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<(), AppError> {
        // Every imported record's responsible is the importer.
        caller.active_user("responsible", caller.user.id)?;
        let total = planned.len();
        let context = self.context(caller);
        let actor = caller.actor();
        let (context, actor) = (&context, &actor);
        let mut writes = futures::stream::iter(planned.into_iter().map(|step| {
            let command_id = CommandId::from_uuid(derived(file, kind, step.line, "command"));
            async move {
                let written = create::<A>(
                    &self.store,
                    step.id,
                    &step.command,
                    context,
                    actor,
                    Some(command_id),
                )
                .await;
                (step.line, written)
            }
        }))
        .buffered(ROWS_IN_FLIGHT);
        let mut done = 0;
        while let Some((line, written)) = writes.next().await {
            match written {
                Ok(_) => report.created += 1,
                Err(AppError::Invalid(errors)) => report.invalid.extend(row_errors(line, errors)),
                Err(other) => return Err(other),
            }
            done += 1;
            progress(done, total);
        }
        Ok(())
    }

    /// Whether the caller may import this kind of file: what creating such
    /// records needs (companies and deals: editing sales records; contacts:
    /// that or editing contacts' personal data; activities: logging them).
    pub fn may_import(&self, caller: &Caller, kind: ImportKind) -> Result<(), AppError> {
        match kind {
            ImportKind::Companies => caller.may(Action::EditSalesRecord, caller.user.id)?,
            ImportKind::Contacts => {
                if let Err(sales) = caller.may(Action::EditSalesRecord, caller.user.id) {
                    caller
                        .may_at_all(Action::EditContactPersonalData)
                        .map_err(|_| sales)?;
                }
            }
            ImportKind::Deals => caller.may(Action::EditSalesRecord, caller.user.id)?,
            ImportKind::Activities => caller.may(Action::LogActivity, caller.user.id)?,
        }
        Ok(())
    }

    /// Imports a CSV file of companies or contacts as the caller (who
    /// becomes their responsible user). A file that cannot be read at all
    /// (mapping, encoding, unclosed quote) is `AppError::Invalid` naming
    /// `file` or `mapping`; bad rows are reported in the answer.
    pub async fn import(
        &self,
        caller: &Caller,
        kind: ImportKind,
        bytes: &[u8],
        mapping: &Mapping,
        dry_run: bool,
    ) -> Result<ImportReport, AppError> {
        self.import_with_progress(caller, kind, bytes, mapping, dry_run, &mut |_, _| {})
            .await
    }

    /// [`Crm::import`], calling `progress(done, total)` after each row
    /// written (or checked, in a dry run).
    pub async fn import_with_progress(
        &self,
        caller: &Caller,
        kind: ImportKind,
        bytes: &[u8],
        mapping: &Mapping,
        dry_run: bool,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<ImportReport, AppError> {
        self.import_file(caller, kind, "", bytes, mapping, dry_run, progress)
            .await
    }

    /// [`Crm::import_with_progress`] naming the file (recorded on imported
    /// deals as where they came from).
    #[allow(clippy::too_many_arguments)]
    pub async fn import_file(
        &self,
        caller: &Caller,
        kind: ImportKind,
        file_name: &str,
        bytes: &[u8],
        mapping: &Mapping,
        dry_run: bool,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<ImportReport, AppError> {
        self.may_import(caller, kind)?;
        let file: [u8; 32] = Sha256::digest(bytes).into();
        match kind {
            ImportKind::Companies => {
                self.import_companies(caller, &file, bytes, mapping, dry_run, progress)
                    .await
            }
            ImportKind::Contacts => {
                self.import_contacts(caller, &file, bytes, mapping, dry_run, progress)
                    .await
            }
            ImportKind::Deals => {
                let name = if file_name.is_empty() {
                    "upload.csv"
                } else {
                    file_name
                };
                self.import_deals(caller, &file, name, bytes, mapping, dry_run, progress)
                    .await
            }
            ImportKind::Activities => {
                self.import_activities(caller, &file, bytes, mapping, dry_run, progress)
                    .await
            }
        }
    }

    async fn import_companies(
        &self,
        caller: &Caller,
        file: &[u8; 32],
        bytes: &[u8],
        mapping: &Mapping,
        dry_run: bool,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<ImportReport, AppError> {
        let kind = ImportKind::Companies;
        let parsed = parse_companies(bytes, mapping).map_err(file_refused)?;
        let mut report = ImportReport {
            kind,
            dry_run,
            encoding: parsed.encoding,
            delimiter: parsed.delimiter,
            rows: parsed.total(),
            created: 0,
            would_create: 0,
            already_imported: 0,
            duplicates: Vec::new(),
            invalid: parsed.errors,
        };
        let mut planned = Vec::new();
        {
            let indexes = self.indexes(None).await?;
            let context = self.context(caller);
            let mut seen = HashMap::new();
            for row in parsed.rows {
                let id = CompanyId::from_uuid(derived(file, kind, row.line, "record"));
                if indexes.customers.company(id).is_some() {
                    report.already_imported += 1;
                    continue;
                }
                let candidates: Vec<uuid::Uuid> = indexes
                    .customers
                    .duplicate_candidates_for_company_input(&row.input)
                    .into_iter()
                    .map(|candidate| *candidate.as_uuid())
                    .collect();
                let key = company_key(&row.input);
                let command = CompanyCommand::Create {
                    id,
                    input: row.input,
                    default_responsible: caller.user.id,
                };
                let errors = field_errors::<Company>(&Default::default(), &command, &context)?;
                if !errors.is_empty() {
                    report.invalid.extend(row_errors(row.line, errors));
                    continue;
                }
                let same_as_line = seen_in_file(&mut seen, key.into_iter().collect(), row.line);
                if !candidates.is_empty() || same_as_line.is_some() {
                    report.duplicates.push(DuplicateRow {
                        line: row.line,
                        candidates,
                        same_as_line,
                    });
                    continue;
                }
                planned.push(Planned {
                    line: row.line,
                    id: *id.as_uuid(),
                    command,
                });
            }
        }
        report.would_create = planned.len();
        let total = planned.len();
        if dry_run {
            progress(total, total);
        } else {
            self.write_planned::<Company>(caller, file, kind, planned, &mut report, progress)
                .await?;
        }
        report.invalid.sort_by_key(|error| error.line);
        Ok(report)
    }

    async fn import_contacts(
        &self,
        caller: &Caller,
        file: &[u8; 32],
        bytes: &[u8],
        mapping: &Mapping,
        dry_run: bool,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<ImportReport, AppError> {
        let kind = ImportKind::Contacts;
        let parsed = parse_contacts(bytes, mapping).map_err(file_refused)?;
        let mut report = ImportReport {
            kind,
            dry_run,
            encoding: parsed.encoding,
            delimiter: parsed.delimiter,
            rows: parsed.total(),
            created: 0,
            would_create: 0,
            already_imported: 0,
            duplicates: Vec::new(),
            invalid: parsed.errors,
        };
        let mut planned = Vec::new();
        {
            let indexes = self.indexes(None).await?;
            let context = self.context(caller);
            let mut seen = HashMap::new();
            for row in parsed.rows {
                let id = ContactId::from_uuid(derived(file, kind, row.line, "record"));
                if indexes.customers.contact(id).is_some() {
                    report.already_imported += 1;
                    continue;
                }
                let mut input = row.input.input;
                let mut errors = Vec::new();
                if let Some(raw) = row.input.company_inn.as_deref() {
                    if let Some(company) = company_by_inn(&indexes, raw, &mut errors) {
                        input.company = Some(company);
                    }
                }
                let candidates: Vec<uuid::Uuid> = indexes
                    .customers
                    .duplicate_candidates_for_contact_input(&input)
                    .into_iter()
                    .map(|candidate| *candidate.as_uuid())
                    .collect();
                let keys = contact_keys(&input);
                let command = ContactCommand::Create {
                    id,
                    input,
                    default_responsible: caller.user.id,
                };
                errors.extend(field_errors::<Contact>(
                    &Default::default(),
                    &command,
                    &context,
                )?);
                if !errors.is_empty() {
                    report.invalid.extend(row_errors(row.line, errors));
                    continue;
                }
                let same_as_line = seen_in_file(&mut seen, keys, row.line);
                if !candidates.is_empty() || same_as_line.is_some() {
                    report.duplicates.push(DuplicateRow {
                        line: row.line,
                        candidates,
                        same_as_line,
                    });
                    continue;
                }
                planned.push(Planned {
                    line: row.line,
                    id: *id.as_uuid(),
                    command,
                });
            }
        }
        report.would_create = planned.len();
        let total = planned.len();
        if dry_run {
            progress(total, total);
        } else {
            self.write_planned::<Contact>(caller, file, kind, planned, &mut report, progress)
                .await?;
        }
        report.invalid.sort_by_key(|error| error.line);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ids_are_stable_distinct_and_follow_the_file() {
        let file = [7u8; 32];
        let other = [8u8; 32];
        let kind = ImportKind::Contacts;
        assert_eq!(
            derived(&file, kind, 2, "record"),
            derived(&file, kind, 2, "record")
        );
        let ids: Vec<uuid::Uuid> = (2..2_000)
            .map(|line| derived(&file, kind, line, "record"))
            .collect();
        // Consecutive lines, ascending ids (and so ascending stream names).
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ids
            .windows(2)
            .all(|pair| pair[0].to_string() < pair[1].to_string()));
        let elsewhere = [
            derived(&file, kind, 2, "command"),
            derived(&file, ImportKind::Companies, 2, "record"),
            derived(&other, kind, 2, "record"),
        ];
        for id in elsewhere {
            assert!(!ids.contains(&id), "{id} repeats a row id");
        }
    }
}
