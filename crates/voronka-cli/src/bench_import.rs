//! `voronka bench import --rows N`: the contacts import rate on a fresh
//! SQLite file. Generates N contacts (unique phones and e-mails), imports
//! them through `Crm::import_file` (the code the CLI and the API run), and
//! prints rows per second for the whole import and for its two parts
//! (reading and checking, then writing). The last line is JSON.

use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use voronka_app::directory::{Directory, NewUser};
use voronka_core::{Actor, Role, SystemClock};
use voronka_crm::import::{ImportKind, Mapping};
use voronka_store::StoreMetrics;

use crate::database;
use crate::import::{explain, open_as};

#[derive(clap::Args)]
pub struct ImportBenchArgs {
    /// Contacts to generate and import.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Folder for the scratch SQLite file.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

/// A contacts file of `rows` rows with unique phones and e-mails.
pub fn contacts_csv(rows: usize) -> String {
    let mut text = String::from("Фамилия;Имя;Телефон;Почта\n");
    for n in 0..rows {
        let _ = writeln!(
            text,
            "Иванов{n};Иван;+7 916 {:03}-{:02}-{:02};ivan{n}@example.ru",
            n / 10_000 % 1000,
            n / 100 % 100,
            n % 100
        );
    }
    text
}

pub async fn run(args: ImportBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rows <= 9_999_999, "--rows must be below 10 million");
    let dir = tempfile::Builder::new()
        .prefix("voronka-bench-import-")
        .tempdir_in(&args.dir)
        .with_context(|| format!("cannot create a scratch folder in {}", args.dir.display()))?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = database::open(&url, StoreMetrics::unregistered(), true).await?;
    let directory = Directory::open(store.clone(), Arc::new(SystemClock))
        .await
        .context("cannot open the directory")?;
    let system = Actor::system("bench");
    let department = directory
        .add_department("Bench", None, &system)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    directory
        .add_user(
            NewUser {
                email: "bench@example.com".into(),
                display_name: "Bench".into(),
                password: "bench-password-not-secret".into(),
                roles: BTreeSet::from([Role::Administrator]),
                department,
            },
            &system,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (crm, caller) = open_as(&store, "bench@example.com").await?;
    let file = contacts_csv(args.rows);
    let mapping = Mapping(BTreeMap::from(
        [
            ("Фамилия", "surname"),
            ("Имя", "name"),
            ("Телефон", "phone"),
            ("Почта", "email"),
        ]
        .map(|(header, field)| (header.to_owned(), field.to_owned())),
    ));
    let started = Instant::now();
    let mut checked_at: Option<f64> = None;
    let mut next_report = 10_000;
    let mut progress = |done: usize, total: usize| {
        if checked_at.is_none() {
            checked_at = Some(started.elapsed().as_secs_f64());
        }
        if done >= next_report {
            eprintln!("{done} of {total} rows written");
            next_report += 10_000;
        }
    };
    let report = crm
        .import_file(
            &caller,
            ImportKind::Contacts,
            "bench.csv",
            file.as_bytes(),
            &mapping,
            false,
            &mut progress,
        )
        .await
        .map_err(explain)?;
    let seconds = started.elapsed().as_secs_f64();
    store.close().await;
    anyhow::ensure!(
        report.created == args.rows,
        "created {} of {} rows: {} invalid, {} duplicates",
        report.created,
        args.rows,
        report.invalid.len(),
        report.duplicates.len()
    );
    let checking = checked_at.unwrap_or(seconds);
    let rate = args.rows as f64 / seconds;
    println!(
        "contacts import on SQLite: {} rows in {seconds:.1} s = {rate:.0} rows/s \
         (reading and checking {checking:.1} s, writing {:.1} s)",
        args.rows,
        seconds - checking
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "import_contacts_sqlite",
            "rows": args.rows,
            "seconds": seconds,
            "rows_per_second": rate,
            "checking_seconds": checking,
            "writing_seconds": seconds - checking,
        })
    );
    Ok(())
}
