//! The crash test: a child process appends as fast as it can and prints each
//! acknowledged append; it is killed with SIGKILL mid-run. After a restart
//! every acknowledged event must be in the store, the log must be gapless, and
//! the store must open cleanly and take new appends. Both backends.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voronka_core::{
    Actor, EventData, EventMetadata, ExpectedVersion, Payload, Position, StreamId, SystemClock,
};
use voronka_store::EventStore;

const ACKS_BEFORE_KILL: usize = 3_000;

struct Ack {
    stream: String,
    version: u64,
    position: u64,
}

/// Runs the child until it has acknowledged enough appends (or 20 s pass),
/// kills it, and returns every acknowledgement it printed.
fn run_child_and_kill(db_url: &str) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_voronka"))
        .args([
            "debug",
            "append-until-killed",
            "--db",
            db_url,
            "--writers",
            "16",
        ])
        .env("VORONKA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    let mut acks = Vec::new();
    let mut killed = false;
    while let Some(Ok(line)) = lines.next() {
        if let Some(rest) = line.strip_prefix("ack ") {
            let mut parts = rest.split(' ');
            let stream = parts.next().expect("stream").to_owned();
            let version = parts
                .next()
                .expect("version")
                .parse()
                .expect("version number");
            let position = parts
                .next()
                .expect("position")
                .parse()
                .expect("position number");
            acks.push(Ack {
                stream,
                version,
                position,
            });
        }
        if !killed
            && (acks.len() >= ACKS_BEFORE_KILL || started.elapsed() > Duration::from_secs(20))
        {
            child.kill().expect("SIGKILL the child"); // Child::kill sends SIGKILL on Unix.
            killed = true;
        }
    }
    // Lines already in the pipe were acknowledged before the kill: all count.
    let status = child.wait().expect("wait for the child");
    assert!(killed, "the child stopped by itself: {status:?}");
    assert!(
        acks.len() >= 100,
        "the child acknowledged only {} appends",
        acks.len()
    );
    acks
}

async fn verify_after_restart(db_url: &str, acks: &[Ack]) {
    let options_clock = Arc::new(SystemClock);
    let store: Arc<dyn EventStore> = match db_url {
        url if url.starts_with("sqlite:") => {
            let location = voronka_store_sqlite::SqliteLocation::parse(url).expect("sqlite url");
            Arc::new(
                voronka_store_sqlite::SqliteStore::open(
                    &location,
                    voronka_store_sqlite::SqliteOptions::new(options_clock),
                )
                .await
                .expect("the store opens cleanly after the crash"),
            )
        }
        url => Arc::new(
            voronka_store_postgres::PostgresStore::open(
                url,
                voronka_store_postgres::PostgresOptions {
                    clock: options_clock,
                    metrics: voronka_store::StoreMetrics::unregistered(),
                    run_migrations: true,
                },
            )
            .await
            .expect("the store opens cleanly after the crash"),
        ),
    };
    let mut stored: HashMap<u64, (String, u64)> = HashMap::new();
    let mut after = Position::START;
    loop {
        let batch = store.read_all(after, 5_000).await.expect("read_all");
        let Some(last) = batch.last() else { break };
        after = last.position;
        for event in batch {
            stored.insert(
                event.position.0,
                (event.stream_id.as_str().to_owned(), event.stream_version.0),
            );
        }
    }
    for ack in acks {
        let found = stored.get(&ack.position);
        assert_eq!(
            found,
            Some(&(ack.stream.clone(), ack.version)),
            "acknowledged append at position {} is missing or different",
            ack.position
        );
    }
    let head = after.0;
    assert!(head >= acks.iter().map(|a| a.position).max().unwrap_or(0));
    assert_eq!(
        stored.len() as u64,
        head,
        "the log is gapless: positions 1..={head}"
    );
    let mut per_stream: HashMap<&str, Vec<u64>> = HashMap::new();
    for (stream, version) in stored.values() {
        per_stream
            .entry(stream.as_str())
            .or_default()
            .push(*version);
    }
    for (stream, mut versions) in per_stream {
        versions.sort_unstable();
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(versions, expected, "stream {stream} has gapless versions");
    }
    let next = store
        .append(
            &StreamId::new("crash-0-0").expect("id"),
            ExpectedVersion::Any,
            vec![EventData::new(
                "after_restart",
                Payload::from_json_text("{}").expect("json"),
            )],
            EventMetadata::by(Actor::system("crash-test")),
        )
        .await
        .expect("appends work after the restart");
    assert_eq!(next.first_position.0, head + 1);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_append_across_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let child_url = url.clone();
    let acks = tokio::task::spawn_blocking(move || run_child_and_kill(&child_url))
        .await
        .expect("child");
    verify_after_restart(&url, &acks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_acknowledged_append_across_sigkill() {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let database = voronka_store_postgres::ScratchDatabase::create(&server, "voronka_crash")
        .await
        .expect("PostgreSQL is needed for this test: set DATABASE_URL or run scripts/test");
    let url = database.url().to_owned();
    let child_url = url.clone();
    let acks = tokio::task::spawn_blocking(move || run_child_and_kill(&child_url))
        .await
        .expect("child");
    verify_after_restart(&url, &acks).await;
}
