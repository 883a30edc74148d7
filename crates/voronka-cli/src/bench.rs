//! `voronka bench store`: durable append throughput and latency of a backend
//! on a fresh database, next to the disk's own limit measured in the same run
//! (plain one-row-per-commit inserts on the same backend and file system).
//!
//! The last line printed is one JSON object, for scripts.

use crate::database;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voronka_core::{
    Actor, EventData, EventMetadata, ExpectedVersion, Payload, Position, StreamId, StreamVersion,
};
use voronka_store::{EventStore, StoreMetrics};

#[derive(clap::Subcommand)]
pub enum BenchTarget {
    /// Append throughput and latency of the event store.
    Store(StoreBenchArgs),
    /// Contacts import rate on a fresh SQLite file.
    Import(crate::bench_import::ImportBenchArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl BackendKind {
    fn name(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Postgres => "postgres",
        }
    }
}

#[derive(clap::Args)]
pub struct StoreBenchArgs {
    #[arg(long, value_enum)]
    backend: BackendKind,
    /// Concurrent appending tasks.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Events to append in all.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events per append.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Streams the appends are spread over.
    #[arg(long, default_value_t = 1_000)]
    streams: usize,
    /// Folder for the scratch SQLite files (the file system being measured).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// PostgreSQL server to create the scratch database on.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        hide_env_values = true
    )]
    postgres: String,
    /// Seconds to spend on the baseline.
    #[arg(long, default_value_t = 3)]
    baseline_seconds: u64,
}

pub async fn run(target: BenchTarget) -> anyhow::Result<()> {
    match target {
        BenchTarget::Store(args) => store(args).await,
        BenchTarget::Import(args) => crate::bench_import::run(args).await,
    }
}

struct Scratch {
    url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_database: Option<String>,
}

async fn scratch(args: &StoreBenchArgs, purpose: &str) -> anyhow::Result<Scratch> {
    match args.backend {
        BackendKind::Sqlite => {
            let dir = tempfile::Builder::new()
                .prefix(&format!("voronka-bench-{purpose}-"))
                .tempdir_in(&args.dir)
                .with_context(|| {
                    format!("cannot create a scratch folder in {}", args.dir.display())
                })?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            Ok(Scratch {
                url,
                _dir: Some(dir),
                postgres_database: None,
            })
        }
        BackendKind::Postgres => {
            let url = voronka_store_postgres::create_scratch_database(&args.postgres)
                .await
                .context("cannot create a scratch PostgreSQL database")?;
            let name = url.rsplit('/').next().unwrap_or_default().to_owned();
            Ok(Scratch {
                url,
                _dir: None,
                postgres_database: Some(name),
            })
        }
    }
}

async fn cleanup(args: &StoreBenchArgs, scratch: Scratch) {
    if let Some(name) = scratch.postgres_database {
        if let Err(e) = voronka_store_postgres::drop_database(&args.postgres, &name).await {
            tracing::warn!(error = %e, "could not drop the scratch database {name}");
        }
    }
}

async fn store(args: StoreBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.writers >= 1, "--writers must be at least 1");
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(
        args.streams >= args.writers,
        "--streams must be at least --writers"
    );
    anyhow::ensure!(
        args.events >= args.batch,
        "--events must be at least --batch"
    );

    let baseline_scratch = scratch(&args, "baseline").await?;
    let baseline = baseline_commits_per_sec(&args, &baseline_scratch.url).await?;
    cleanup(&args, baseline_scratch).await;

    let run_scratch = scratch(&args, "store").await?;
    let metrics = StoreMetrics::unregistered();
    let store = database::open(&run_scratch.url, metrics.clone(), true).await?;
    let appends = args.events / args.batch;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..args.writers {
        let count = appends / args.writers + usize::from(writer < appends % args.writers);
        tasks.push(tokio::spawn(append_loop(
            store.clone(),
            writer,
            args.writers,
            args.streams,
            count,
            args.batch,
        )));
    }
    let mut latencies = Vec::with_capacity(appends);
    for task in tasks {
        latencies.extend(task.await.context("a writer task failed")??);
    }
    let elapsed = started.elapsed();
    let appended_events = latencies.len() * args.batch;
    latencies.sort_unstable();

    let read_started = Instant::now();
    let read_events = read_everything(store.as_ref()).await?;
    let read_elapsed = read_started.elapsed();
    store.close().await;
    drop(store);
    let reopen_started = Instant::now();
    let reopened = database::open(&run_scratch.url, StoreMetrics::unregistered(), false).await?;
    let reopen = reopen_started.elapsed();
    reopened.close().await;
    drop(reopened);
    cleanup(&args, run_scratch).await;

    let appends_per_sec = latencies.len() as f64 / elapsed.as_secs_f64();
    let events_per_sec = appended_events as f64 / elapsed.as_secs_f64();
    let p50 = percentile_ms(&latencies, 0.50);
    let p99 = percentile_ms(&latencies, 0.99);
    let mean_group = metrics.commit_group_size.get_sample_sum()
        / metrics.commit_group_size.get_sample_count().max(1) as f64;
    let read_per_sec = read_events as f64 / read_elapsed.as_secs_f64();

    println!("backend              {}", args.backend.name());
    println!("writers              {}", args.writers);
    println!("events x batch       {} x {}", appended_events, args.batch);
    println!("appends/s            {appends_per_sec:.0}");
    println!("events/s             {events_per_sec:.0}");
    println!("append p50 / p99     {p50:.2} ms / {p99:.2} ms");
    println!("mean commit group    {mean_group:.1} appends");
    println!(
        "baseline commits/s   {baseline:.0}   (one row per transaction, same backend and disk)"
    );
    println!(
        "ratio to baseline    {:.1}x",
        appends_per_sec / baseline.max(1.0)
    );
    println!("read_all events/s    {read_per_sec:.0}   ({read_events} events)");
    println!(
        "reopen               {:.1} ms",
        reopen.as_secs_f64() * 1000.0
    );
    let summary = serde_json::json!({
        "backend": args.backend.name(),
        "writers": args.writers,
        "events": appended_events,
        "batch": args.batch,
        "appends_per_sec": appends_per_sec.round(),
        "p50_ms": (p50 * 1000.0).round() / 1000.0,
        "p99_ms": (p99 * 1000.0).round() / 1000.0,
        "baseline_commits_per_sec": baseline.round(),
        "mean_commit_group": (mean_group * 10.0).round() / 10.0,
        "read_all_events_per_sec": read_per_sec.round(),
        "reopen_ms": (reopen.as_secs_f64() * 10_000.0).round() / 10.0,
    });
    println!("{summary}");
    Ok(())
}

async fn append_loop(
    store: Arc<dyn EventStore>,
    writer: usize,
    writers: usize,
    streams: usize,
    appends: usize,
    batch: usize,
) -> anyhow::Result<Vec<Duration>> {
    // This writer owns streams writer, writer + writers, ...: it knows their
    // versions, so every append carries an exact expected version.
    let own: Vec<StreamId> = (writer..streams)
        .step_by(writers)
        .map(|s| StreamId::new(format!("bench-{s:05}")))
        .collect::<Result<_, _>>()?;
    let mut versions = vec![0u64; own.len()];
    let metadata = EventMetadata::by(Actor::system("bench"));
    let mut latencies = Vec::with_capacity(appends);
    for i in 0..appends {
        let slot = i % own.len();
        let events: Vec<EventData> = (0..batch)
            .map(|b| {
                let body = serde_json::json!({"writer": writer, "i": i, "b": b, "amount": 125_000});
                Payload::from_value(&body).map(|p| EventData::new("bench_event_appended", p))
            })
            .collect::<Result<_, _>>()?;
        let started = Instant::now();
        let outcome = store
            .append(
                &own[slot],
                ExpectedVersion::Exact(StreamVersion(versions[slot])),
                events,
                metadata.clone(),
            )
            .await?;
        latencies.push(started.elapsed());
        versions[slot] = outcome.stream_version.0;
    }
    Ok(latencies)
}

async fn read_everything(store: &dyn EventStore) -> anyhow::Result<usize> {
    let mut after = Position::START;
    let mut count = 0;
    loop {
        let batch = store.read_all(after, voronka_store::MAX_READ_BATCH).await?;
        let Some(last) = batch.last() else {
            return Ok(count);
        };
        after = last.position;
        count += batch.len();
    }
}

fn percentile_ms(sorted: &[Duration], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Plain one-row-per-transaction inserts, durable, on the same backend and
/// file system: what the disk allows without group commit.
async fn baseline_commits_per_sec(args: &StoreBenchArgs, url: &str) -> anyhow::Result<f64> {
    let duration = Duration::from_secs(args.baseline_seconds.max(1));
    match args.backend {
        BackendKind::Sqlite => {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
            use sqlx::{ConnectOptions, Connection};
            let location = voronka_store_sqlite::SqliteLocation::parse(url)?;
            let mut connection = SqliteConnectOptions::new()
                .filename(location.path())
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .connect()
                .await
                .context("cannot open the baseline database")?;
            sqlx::query("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
                .execute(&mut connection)
                .await?;
            let started = Instant::now();
            let mut commits = 0u64;
            while started.elapsed() < duration {
                sqlx::query("INSERT INTO rows (body) VALUES (?1)")
                    .bind("{\"amount\":125000}")
                    .execute(&mut connection)
                    .await?;
                commits += 1;
            }
            let rate = commits as f64 / started.elapsed().as_secs_f64();
            connection.close().await?;
            Ok(rate)
        }
        BackendKind::Postgres => {
            Ok(
                voronka_store_postgres::baseline_single_row_commits(url, args.writers, duration)
                    .await
                    .context("the PostgreSQL baseline failed")?,
            )
        }
    }
}
