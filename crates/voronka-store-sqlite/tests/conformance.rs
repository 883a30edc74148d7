//! The shared conformance suite on a real SQLite file, plus what only the
//! embedded backend has to show: refusing foreign files and a second writer.

use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use voronka_core::{
    Actor, Clock, EventData, EventMetadata, ExpectedVersion, Payload, StreamId, SystemClock,
};
use voronka_store::conformance::StoreFixture;
use voronka_store::{EventStore, StoreError};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

struct SqliteFixture {
    dir: tempfile::TempDir,
    open: Mutex<Option<Arc<SqliteStore>>>,
}

impl SqliteFixture {
    fn location(&self) -> SqliteLocation {
        SqliteLocation::from_path(self.dir.path().join("voronka.db"))
    }
}

#[async_trait]
impl StoreFixture for SqliteFixture {
    async fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn EventStore> {
        let previous = self.open.lock().unwrap().take();
        if let Some(previous) = previous {
            previous.close().await;
        }
        let store = Arc::new(
            SqliteStore::open(&self.location(), SqliteOptions::new(clock))
                .await
                .expect("open"),
        );
        *self.open.lock().unwrap() = Some(store.clone());
        store
    }
}

async fn fixture() -> SqliteFixture {
    SqliteFixture {
        dir: tempfile::tempdir().expect("tempdir"),
        open: Mutex::new(None),
    }
}

voronka_store::conformance_tests!(fixture());

fn one_event() -> Vec<EventData> {
    vec![EventData::new("e", Payload::from_json_text("{}").unwrap())]
}

#[tokio::test]
async fn a_second_writer_on_the_same_file_is_refused() {
    let f = fixture().await;
    let first = SqliteStore::open(&f.location(), SqliteOptions::new(Arc::new(SystemClock)))
        .await
        .unwrap();
    let second = SqliteStore::open(&f.location(), SqliteOptions::new(Arc::new(SystemClock))).await;
    match second {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("in use"), "{message}"),
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("a second writer must be refused"),
    }
    first.close().await;
    let again = SqliteStore::open(&f.location(), SqliteOptions::new(Arc::new(SystemClock))).await;
    assert!(again.is_ok(), "closing releases the file");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_unchanged() {
    let f = fixture().await;
    let path = f.dir.path().join("voronka.db");
    let garbage = b"this is a text file, not a database\n".repeat(200);
    std::fs::write(&path, &garbage).unwrap();
    let result = SqliteStore::open(&f.location(), SqliteOptions::new(Arc::new(SystemClock))).await;
    assert!(
        matches!(result, Err(StoreError::Incompatible(_))),
        "got {:?}",
        result.err()
    );
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[tokio::test]
async fn a_foreign_sqlite_database_is_refused_and_keeps_its_data() {
    let f = fixture().await;
    let path = f.dir.path().join("voronka.db");
    {
        use sqlx::{ConnectOptions, Connection};
        let mut c = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("INSERT INTO invoices (total) VALUES (100)")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
    let result = SqliteStore::open(&f.location(), SqliteOptions::new(Arc::new(SystemClock))).await;
    match result {
        Err(StoreError::Incompatible(message)) => {
            assert!(message.contains("invoices"), "{message}")
        }
        other => panic!("expected Incompatible, got {:?}", other.err()),
    }
    use sqlx::{ConnectOptions, Connection};
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT total FROM invoices")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(total, 100);
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type='table'")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(tables, ["invoices"]);
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_store_that_was_not_migrated_refuses_to_open_without_migrations() {
    let f = fixture().await;
    let mut options = SqliteOptions::new(Arc::new(SystemClock));
    options.run_migrations = false;
    let result = SqliteStore::open(&f.location(), options.clone()).await;
    match result {
        Err(StoreError::Incompatible(message)) => {
            assert!(message.contains("voronka migrate"), "{message}")
        }
        other => panic!("expected Incompatible, got {:?}", other.err()),
    }
    assert_eq!(SqliteStore::migrate(&f.location()).await.unwrap(), 1);
    assert_eq!(
        SqliteStore::migrate(&f.location()).await.unwrap(),
        0,
        "migrating twice applies nothing"
    );
    let store = SqliteStore::open(&f.location(), options).await.unwrap();
    let stream = StreamId::new("deal-1").unwrap();
    store
        .append(
            &stream,
            ExpectedVersion::Any,
            one_event(),
            EventMetadata::by(Actor::system("t")),
        )
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_folder_that_does_not_exist_gives_a_clear_error() {
    let location = SqliteLocation::from_path("/nonexistent-voronka-folder/sub/voronka.db");
    let result = SqliteStore::open(&location, SqliteOptions::new(Arc::new(SystemClock))).await;
    match result {
        Err(StoreError::NotWritable(message)) => {
            assert!(message.contains("nonexistent-voronka-folder"), "{message}")
        }
        other => panic!("expected NotWritable, got {:?}", other.err()),
    }
}

/// A log with more streams than the name cache holds reads whole: a batch
/// that overflows the cache still names the streams it found there (one
/// busy deal between many new ones), and so do the parts of a large read,
/// which share the cache.
#[tokio::test]
async fn reads_name_every_stream_when_the_name_cache_overflows() {
    let f = fixture().await;
    let mut options = SqliteOptions::new(Arc::new(SystemClock));
    options.cached_stream_names = 5;
    let store = SqliteStore::open(&f.location(), options).await.unwrap();
    const EVENTS: usize = 3_000;
    for n in 0..EVENTS {
        let name = if n % 2 == 0 {
            "deal-busy".to_owned()
        } else {
            format!("deal-{n}")
        };
        let payload = Payload::from_json_text(format!("{{\"stream\":\"{name}\"}}")).unwrap();
        store
            .append(
                &StreamId::new(name).unwrap(),
                ExpectedVersion::Any,
                vec![EventData::new("e", payload)],
                EventMetadata::by(Actor::system("t")),
            )
            .await
            .unwrap();
    }
    for limit in [7, 3_000, 2_500] {
        let mut after = voronka_core::Position::START;
        let mut read = 0;
        loop {
            let batch = store.read_all(after, limit).await.expect("read the log");
            let Some(last) = batch.last() else { break };
            after = last.position;
            for event in &batch {
                let named = format!("{{\"stream\":\"{}\"}}", event.stream_id.as_str());
                assert_eq!(event.payload.as_str(), named, "limit {limit}");
            }
            read += batch.len();
        }
        assert_eq!(read, EVENTS, "limit {limit}");
    }
    store.close().await;
}
