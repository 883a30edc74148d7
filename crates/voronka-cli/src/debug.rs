//! Hidden subcommands used by Voronka's own tests.
//!
//! `append-until-killed` appends as fast as it can from several tasks and
//! prints one line per acknowledged append, `ack STREAM VERSION POSITION`,
//! only after the store acknowledged it. The crash test kills it with SIGKILL
//! and then checks that every printed line is in the store.

use crate::database::{self, DbArgs};
use std::io::Write;
use voronka_core::{Actor, EventData, EventMetadata, ExpectedVersion, Payload, StreamId};
use voronka_store::StoreMetrics;

#[derive(clap::Subcommand)]
pub enum DebugCommand {
    /// Append forever, printing each acknowledged append.
    AppendUntilKilled {
        #[command(flatten)]
        db: DbArgs,
        /// Concurrent appending tasks.
        #[arg(long, default_value_t = 16)]
        writers: usize,
    },
}

pub async fn run(command: DebugCommand) -> anyhow::Result<()> {
    match command {
        DebugCommand::AppendUntilKilled { db, writers } => {
            append_until_killed(&db.url, writers).await
        }
    }
}

async fn append_until_killed(url: &str, writers: usize) -> anyhow::Result<()> {
    let store = database::open(url, StoreMetrics::unregistered(), true).await?;
    let (acks, mut printer) = tokio::sync::mpsc::unbounded_channel::<anyhow::Result<String>>();
    for writer in 0..writers {
        let store = store.clone();
        let acks = acks.clone();
        tokio::spawn(async move {
            let metadata = EventMetadata::by(Actor::system("crash-test"));
            for i in 0u64.. {
                let line = append_one(store.as_ref(), writer, i, &metadata).await;
                let failed = line.is_err();
                if acks.send(line).is_err() || failed {
                    break;
                }
            }
        });
    }
    drop(acks);
    println!("ready");
    let stdout = std::io::stdout();
    while let Some(line) = printer.recv().await {
        // The first failure ends the run with its error (e.g. a full disk).
        let line = line?;
        let mut out = stdout.lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(())
}

async fn append_one(
    store: &dyn voronka_store::EventStore,
    writer: usize,
    i: u64,
    metadata: &EventMetadata,
) -> anyhow::Result<String> {
    let stream = StreamId::new(format!("crash-{writer}-{}", i % 8))?;
    let body = serde_json::json!({"writer": writer, "i": i, "pad": "ж".repeat((i % 64) as usize)});
    let event = EventData::new("crash_test_appended", Payload::from_value(&body)?);
    let outcome = store
        .append(&stream, ExpectedVersion::Any, vec![event], metadata.clone())
        .await?;
    Ok(format!(
        "ack {stream} {} {}",
        outcome.stream_version, outcome.last_position
    ))
}
