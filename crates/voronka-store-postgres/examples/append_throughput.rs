//! Measures durable append throughput against the disk's own commit rate:
//! `clients` tasks each append single events with an exact expected version
//! to their share of `streams` streams for `seconds`, after the plain
//! one-row-per-commit baseline ran with as many connections.
//!
//! ```text
//! cargo run --release -p voronka-store-postgres --example append_throughput -- 64 1000 10
//! ```
//!
//! Arguments: clients (64), streams (1000), seconds (10). The server comes
//! from `DATABASE_URL` (default: the local trust-auth server); a scratch
//! database is created and dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};
use voronka_core::{
    Actor, EventData, EventMetadata, ExpectedVersion, Payload, StreamId, StreamVersion, SystemClock,
};
use voronka_store::{EventStore, StoreMetrics};
use voronka_store_postgres::{PostgresOptions, PostgresStore};

fn argument(index: usize, default: u64) -> u64 {
    std::env::args()
        .nth(index)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clients = argument(1, 64).max(1);
    let streams = argument(2, 1_000).max(clients);
    let duration = Duration::from_secs(argument(3, 10).max(1));
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());

    let url = voronka_store_postgres::create_scratch_database(&server).await?;
    let name = voronka_store_postgres::database_name(&url).unwrap_or_default();
    let result = run(&url, clients, streams, duration).await;
    voronka_store_postgres::drop_database(&server, &name).await?;
    let (baseline, appends_per_sec, p50, p99, mean_group) = result?;
    println!(
        "clients {clients}, streams {streams}, {} s",
        duration.as_secs()
    );
    println!("baseline single-row commits/s  {baseline:>10.0}");
    println!("appends/s                      {appends_per_sec:>10.0}");
    println!(
        "ratio to baseline              {:>10.2}",
        appends_per_sec / baseline
    );
    println!("p50 ms                         {p50:>10.2}");
    println!("p99 ms                         {p99:>10.2}");
    println!("mean commit group              {mean_group:>10.1}");
    Ok(())
}

async fn run(
    url: &str,
    clients: u64,
    streams: u64,
    duration: Duration,
) -> Result<(f64, f64, f64, f64, f64), Box<dyn std::error::Error>> {
    let baseline =
        voronka_store_postgres::baseline_single_row_commits(url, clients as usize, duration)
            .await?;
    let metrics = StoreMetrics::unregistered();
    let store: Arc<dyn EventStore> = Arc::new(
        PostgresStore::open(
            url,
            PostgresOptions {
                clock: Arc::new(SystemClock),
                metrics: metrics.clone(),
                run_migrations: true,
            },
        )
        .await?,
    );
    let payload =
        Payload::from_value(&serde_json::json!({"step": "call_logged", "outcome": "reached"}))?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let store = store.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let own: Vec<StreamId> = (client..streams)
                .step_by(clients as usize)
                .filter_map(|s| StreamId::new(format!("deal-{s}")).ok())
                .collect();
            let mut versions = vec![0u64; own.len()];
            let mut latencies = Vec::new();
            let mut next = 0;
            while Instant::now() < deadline {
                let began = Instant::now();
                let outcome = store
                    .append(
                        &own[next],
                        ExpectedVersion::Exact(StreamVersion(versions[next])),
                        vec![EventData::new("call_logged", payload.clone())],
                        EventMetadata::by(Actor::user("bench")),
                    )
                    .await?;
                latencies.push(began.elapsed());
                versions[next] = outcome.stream_version.0;
                next = (next + 1) % own.len();
            }
            Ok::<_, voronka_store::StoreError>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    store.close().await;
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    };
    let groups = metrics.commit_group_size.get_sample_count().max(1) as f64;
    Ok((
        baseline,
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        metrics.commit_group_size.get_sample_sum() / groups,
    ))
}
