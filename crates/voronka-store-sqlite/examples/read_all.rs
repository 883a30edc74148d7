//! Measures `read_all` throughput: fills a fresh store with EVENTS events
//! (in large appends, to be quick), reads the whole log ROUNDS times, then
//! times closing and reopening the store.
//!
//! `cargo run --release -p voronka-store-sqlite --example read_all -- [EVENTS] [ROUNDS]`

use std::sync::Arc;
use std::time::Instant;
use voronka_core::{
    Actor, EventData, EventMetadata, ExpectedVersion, Payload, Position, StreamId, SystemClock,
};
use voronka_store::EventStore;
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let dir = tempfile::tempdir_in(".")?;
    let location = SqliteLocation::from_path(dir.path().join("read.db"));
    let store = SqliteStore::open(&location, SqliteOptions::new(Arc::new(SystemClock))).await?;
    let metadata = EventMetadata::by(Actor::user("manager-1"));
    let started = Instant::now();
    for chunk in 0..events.div_ceil(1_000) {
        let stream = StreamId::new(format!("deal-{:05}", chunk % 1_000))?;
        let batch = (0..1_000)
            .map(|i| {
                let body = serde_json::json!({"stage": "proposal", "amount": 125_000, "i": i});
                Payload::from_value(&body).map(|p| EventData::new("deal_stage_changed", p))
            })
            .collect::<Result<Vec<_>, _>>()?;
        store
            .append(&stream, ExpectedVersion::Any, batch, metadata.clone())
            .await?;
    }
    println!(
        "filled {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for round in 0..rounds {
        let started = Instant::now();
        let mut after = Position::START;
        let mut count = 0;
        loop {
            let batch = store.read_all(after, voronka_store::MAX_READ_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.position;
            count += batch.len();
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "round {round}: {count} events in {seconds:.2} s = {:.0} events/s",
            count as f64 / seconds
        );
    }
    store.close().await;
    drop(store);
    let started = Instant::now();
    let reopened = SqliteStore::open(&location, SqliteOptions::new(Arc::new(SystemClock))).await?;
    println!(
        "reopened a store of {events} events in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    reopened.close().await;
    Ok(())
}
