//! `voronka import FILE --kind companies|contacts|deals|activities --mapping MAP.yaml|MAP.json --as EMAIL`:
//! CSV import through the same commands as the API, acting as that user
//! (who needs the right to create such records and becomes their
//! responsible). `--dry-run` checks everything and writes nothing.
//! Re-running a file creates nothing twice.

use crate::database::{self, DbArgs};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::sync::Arc;
use voronka_app::crm::import::ImportReport;
use voronka_app::crm::{AppError, Caller, Crm};
use voronka_app::deals::{publications, DealService};
use voronka_app::directory::Directory;
use voronka_core::SystemClock;
use voronka_crm::import::{ImportKind, Mapping};
use voronka_store::StoreMetrics;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The CSV file (UTF-8 or Windows-1251, `;` or `,` separated, a header line first).
    file: PathBuf,
    /// What the rows are: companies, contacts, deals or activities.
    #[arg(long, value_parser = parse_kind)]
    kind: ImportKind,
    /// CSV header -> field, as a JSON object ({"Название": "name", "ИНН": "inn"})
    /// or a YAML mapping (`Название: name`).
    #[arg(long)]
    mapping: PathBuf,
    /// Check every row and report; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The e-mail of the user the import acts as.
    #[arg(long = "as")]
    as_user: String,
    #[command(flatten)]
    db: DbArgs,
}

fn parse_kind(text: &str) -> Result<ImportKind, String> {
    ImportKind::parse(text)
        .ok_or_else(|| format!("unknown kind `{text}`: companies, contacts, deals or activities"))
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mapping_text = std::fs::read_to_string(&args.mapping)
        .with_context(|| format!("cannot read {}", args.mapping.display()))?;
    let mapping = Mapping::from_text(&mapping_text)
        .with_context(|| format!("in {}", args.mapping.display()))?;
    let store = database::open(&args.db.url, StoreMetrics::unregistered(), true).await?;
    let outcome = import_with(&store, &args, &bytes, &mapping).await;
    store.close().await;
    let report = outcome?;
    print_report(&report);
    if !report.invalid.is_empty() {
        bail!(
            "{} invalid row(s); nothing else is wrong",
            report.invalid.len()
        );
    }
    Ok(())
}

async fn import_with(
    store: &Arc<dyn voronka_store::EventStore>,
    args: &ImportArgs,
    bytes: &[u8],
    mapping: &Mapping,
) -> anyhow::Result<ImportReport> {
    let (crm, caller) = open_as(store, &args.as_user).await?;
    let verb = if args.dry_run { "checked" } else { "written" };
    let mut next_report = 1000;
    let mut progress = |done: usize, total: usize| {
        if done >= next_report {
            eprintln!("{done} of {total} rows {verb}");
            next_report += 1000;
        }
    };
    let file_name = args
        .file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    crm.import_file(
        &caller,
        args.kind,
        &file_name,
        bytes,
        mapping,
        args.dry_run,
        &mut progress,
    )
    .await
    .map_err(explain)
}

/// The CRM over `store`, and the active user with this e-mail as the caller.
pub(crate) async fn open_as(
    store: &Arc<dyn voronka_store::EventStore>,
    email: &str,
) -> anyhow::Result<(Crm, Caller)> {
    let clock: Arc<dyn voronka_core::Clock> = Arc::new(SystemClock);
    let directory = Arc::new(
        Directory::open(store.clone(), clock.clone())
            .await
            .context("cannot read the users")?,
    );
    let wanted = email.trim().to_lowercase();
    let user = directory
        .users()
        .await
        .context("cannot read the users")?
        .into_iter()
        .find(|user| user.email.trim().to_lowercase() == wanted)
        .with_context(|| format!("no user with the e-mail {}", email.trim()))?;
    if !user.active {
        bail!("the user {} is deactivated", user.email);
    }
    let processes = Arc::new(
        publications::open_registry(store)
            .await
            .context("cannot read the published process definitions")?,
    );
    let deals = Arc::new(DealService::new(store.clone(), processes, clock.clone()));
    let crm = Crm::open(store.clone(), clock, directory, deals)
        .await
        .context("cannot read the event log")?;
    let caller = crm.caller(user).await.map_err(explain)?;
    Ok((crm, caller))
}

/// An application error as one line.
pub(crate) fn explain(error: AppError) -> anyhow::Error {
    match error {
        AppError::Invalid(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{} ({}): {}", e.field, e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

fn print_report(report: &ImportReport) {
    for duplicate in &report.duplicates {
        let mut what = Vec::new();
        if let Some(line) = duplicate.same_as_line {
            what.push(format!("same as line {line}"));
        }
        if !duplicate.candidates.is_empty() {
            let ids: Vec<String> = duplicate
                .candidates
                .iter()
                .map(|id| id.to_string())
                .collect();
            what.push(format!("already in the base: {}", ids.join(", ")));
        }
        println!(
            "line {}: duplicate, skipped ({})",
            duplicate.line,
            what.join("; ")
        );
    }
    for invalid in &report.invalid {
        println!(
            "line {}: invalid {}: {} ({})",
            invalid.line,
            invalid.column.as_deref().unwrap_or("row"),
            invalid.message,
            invalid.code
        );
    }
    let kind = report.kind.as_str();
    let done = if report.dry_run {
        format!("would_create {}", report.would_create)
    } else {
        format!("created {}", report.created)
    };
    println!(
        "{kind}: {} rows ({}, `{}`): {done}, already_imported {}, duplicates {}, invalid {}{}",
        report.rows,
        report.encoding,
        report.delimiter,
        report.already_imported,
        report.duplicates.len(),
        report.invalid.len(),
        if report.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
}
