//! What only the PostgreSQL backend has to prove: several processes on one
//! database, the position-order visibility guarantee, fast and clear failures
//! for bad URLs and unreachable servers, and leaving foreign databases alone.

mod test_database;

use sqlx::{Connection, PgConnection};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_database::TestDatabase;
use voronka_core::{
    Actor, Clock, EventData, EventMetadata, ExpectedVersion, Payload, Position, StreamId,
    StreamVersion, SystemClock,
};
use voronka_store::{EventStore, StoreError, StoreMetrics, Subscription};
use voronka_store_postgres::{PostgresOptions, PostgresStore};

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("valid stream id")
}

fn event(body: serde_json::Value) -> EventData {
    EventData::new("step", Payload::from_value(&body).expect("json"))
}

fn meta() -> EventMetadata {
    EventMetadata::by(Actor::user("tester"))
}

async fn raw_connection(database: &TestDatabase) -> PgConnection {
    PgConnection::connect(&database.url)
        .await
        .expect("raw connection")
}

fn options(run_migrations: bool) -> PostgresOptions {
    PostgresOptions {
        clock: clock(),
        metrics: StoreMetrics::unregistered(),
        run_migrations,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_append_concurrently_and_a_third_sees_every_event_once_in_order() {
    const TASKS_PER_PROCESS: u64 = 4;
    const APPENDS_PER_TASK: u64 = 250;
    const TOTAL: usize = (2 * TASKS_PER_PROCESS * APPENDS_PER_TASK) as usize;
    let database = TestDatabase::create().await;
    let metrics = StoreMetrics::unregistered();
    let first: Arc<dyn EventStore> = Arc::new(database.open(clock(), metrics.clone()).await);
    let second: Arc<dyn EventStore> = Arc::new(database.open(clock(), metrics.clone()).await);
    let observer: Arc<dyn EventStore> =
        Arc::new(database.open(clock(), StoreMetrics::unregistered()).await);

    let mut subscription = Subscription::new(observer.clone(), Position::START);
    let subscriber = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(TOTAL);
        while seen.len() < TOTAL {
            seen.extend(subscription.next_batch(500).await.expect("subscription"));
        }
        seen
    });

    let mut writers = Vec::new();
    for (process, store) in [(0u64, &first), (1, &second)] {
        for task in 0..TASKS_PER_PROCESS {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let own = stream(&format!("deal-{process}-{task}"));
                let mut own_version = 0;
                for i in 0..APPENDS_PER_TASK {
                    let body = event(serde_json::json!({"p": process, "t": task, "i": i}));
                    if i % 2 == 0 {
                        store
                            .append(
                                &own,
                                ExpectedVersion::Exact(StreamVersion(own_version)),
                                vec![body],
                                meta(),
                            )
                            .await
                            .expect("own stream");
                        own_version += 1;
                    } else {
                        store
                            .append(
                                &stream("deal-shared"),
                                ExpectedVersion::Any,
                                vec![body],
                                meta(),
                            )
                            .await
                            .expect("shared stream");
                    }
                }
            }));
        }
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), subscriber)
        .await
        .expect("the observer saw every event")
        .expect("subscriber");

    assert_eq!(seen.len(), TOTAL);
    for (index, event) in seen.iter().enumerate() {
        assert_eq!(
            event.position,
            Position(index as u64 + 1),
            "positions are seen gapless and in order"
        );
    }
    let mut versions: HashMap<StreamId, Vec<u64>> = HashMap::new();
    for event in &seen {
        versions
            .entry(event.stream_id.clone())
            .or_default()
            .push(event.stream_version.0);
    }
    assert_eq!(versions.len(), 2 * TASKS_PER_PROCESS as usize + 1);
    for (stream_id, list) in versions {
        let expected: Vec<u64> = (1..=list.len() as u64).collect();
        assert_eq!(list, expected, "versions of {stream_id}");
    }
    let groups = metrics.commit_group_size.get_sample_count();
    assert!(
        groups < TOTAL as u64,
        "concurrent appends were grouped: {groups} commits for {TOTAL} appends"
    );
    assert_eq!(metrics.appends.get(), TOTAL as u64);
    for store in [first, second, observer] {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_in_another_process_wakes_local_subscribers() {
    let database = TestDatabase::create().await;
    let writer = database.open(clock(), StoreMetrics::unregistered()).await;
    let observer = database.open(clock(), StoreMetrics::unregistered()).await;
    let mut notifications = observer.commit_notifications();
    // Give the observer's LISTEN a moment to be in place.
    tokio::time::sleep(Duration::from_millis(300)).await;
    notifications.borrow_and_update();
    let outcome = writer
        .append(
            &stream("deal-1"),
            ExpectedVersion::NoStream,
            vec![event(serde_json::json!(1))],
            meta(),
        )
        .await
        .expect("append");
    tokio::time::timeout(Duration::from_millis(1_500), notifications.changed())
        .await
        .expect("woken by the other process's commit well before the safety poll")
        .expect("notifications open");
    assert_eq!(*notifications.borrow(), outcome.last_position);
    writer.close().await;
    observer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_past_a_position_that_can_still_fill() {
    let database = TestDatabase::create().await;
    let store = Arc::new(database.open(clock(), StoreMetrics::unregistered()).await);
    store
        .append(
            &stream("deal-a"),
            ExpectedVersion::NoStream,
            vec![event(serde_json::json!(1))],
            meta(),
        )
        .await
        .expect("first append");

    // Another process is mid-append: it holds the global lock and has written
    // position 2, but has not committed yet.
    let mut other = raw_connection(&database).await;
    sqlx::raw_sql("BEGIN")
        .execute(&mut other)
        .await
        .expect("begin");
    let last: i64 = sqlx::query_scalar("SELECT last_position FROM position_counter FOR UPDATE")
        .fetch_one(&mut other)
        .await
        .expect("lock");
    assert_eq!(last, 1);
    sqlx::query(
        "INSERT INTO events (position, stream_id, stream_version, event_type, schema_version, \
         payload, actor, recorded_at) VALUES (2, 'deal-b', 1, 'step', 1, '2', 'user:other', now())",
    )
    .execute(&mut other)
    .await
    .expect("insert position 2");
    sqlx::query("INSERT INTO streams (stream_id, version) VALUES ('deal-b', 1)")
        .execute(&mut other)
        .await
        .expect("stream version");
    sqlx::query("UPDATE position_counter SET last_position = 2")
        .execute(&mut other)
        .await
        .expect("advance counter");

    // Our append must wait for that transaction: it cannot take position 3
    // and become visible while position 2 may still appear.
    let appending = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append(
                    &stream("deal-c"),
                    ExpectedVersion::NoStream,
                    vec![event(serde_json::json!(3))],
                    meta(),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !appending.is_finished(),
        "the append waits for the global lock"
    );
    let visible: Vec<u64> = store
        .read_all(Position::START, 100)
        .await
        .expect("read")
        .iter()
        .map(|e| e.position.0)
        .collect();
    assert_eq!(
        visible,
        [1],
        "nothing above the gap at position 2 is visible"
    );

    sqlx::raw_sql("COMMIT")
        .execute(&mut other)
        .await
        .expect("commit");
    let outcome = tokio::time::timeout(Duration::from_secs(5), appending)
        .await
        .expect("the append proceeds once the lock is free")
        .expect("task")
        .expect("append");
    assert_eq!(outcome.first_position, Position(3));
    let visible: Vec<u64> = store
        .read_all(Position::START, 100)
        .await
        .expect("read")
        .iter()
        .map(|e| e.position.0)
        .collect();
    assert_eq!(visible, [1, 2, 3]);
    store.close().await;
}

#[tokio::test]
async fn an_unreachable_server_or_a_malformed_url_fails_fast_with_a_clear_error() {
    let cases = [
        (
            "postgres://postgres:hunter2@127.0.0.1:1/postgres",
            "cannot connect",
        ),
        (
            "postgres://postgres:hunter2@127.0.0.1:notaport/db",
            "invalid PostgreSQL URL",
        ),
        (
            "mysql://postgres:hunter2@127.0.0.1/db",
            "invalid PostgreSQL URL",
        ),
        ("not a url at all", "invalid PostgreSQL URL"),
    ];
    for (url, expected) in cases {
        let started = Instant::now();
        let result = PostgresStore::open(url, options(true)).await;
        let elapsed = started.elapsed();
        match result {
            Err(StoreError::Unavailable(message)) => {
                assert!(message.contains(expected), "{url}: {message}");
                assert!(
                    !message.contains("hunter2"),
                    "{url}: the password leaked: {message}"
                );
                assert!(!message.contains('\n'), "{url}: one line: {message}");
            }
            Err(other) => panic!("{url}: expected Unavailable, got {other}"),
            Ok(_) => panic!("{url}: opened"),
        }
        assert!(elapsed < Duration::from_secs(5), "{url}: took {elapsed:?}");
    }

    let missing = test_database::server_url();
    let missing =
        voronka_store_postgres::database_url(&missing, "voronka_no_such_database").expect("url");
    match PostgresStore::open(&missing, options(true)).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("voronka_no_such_database"), "{message}")
        }
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("a missing database opened"),
    }
}

#[tokio::test]
async fn a_database_with_a_foreign_events_table_is_incompatible_and_left_alone() {
    let database = TestDatabase::create().await;
    let mut raw = raw_connection(&database).await;
    sqlx::raw_sql(
        "CREATE TABLE events (id INT PRIMARY KEY, note TEXT); \
         INSERT INTO events VALUES (1, 'someone else''s data');",
    )
    .execute(&mut raw)
    .await
    .expect("foreign table");

    for run_migrations in [true, false] {
        match PostgresStore::open(&database.url, options(run_migrations)).await {
            Err(StoreError::Incompatible(message)) => {
                assert!(message.contains("`events`"), "{message}")
            }
            Err(other) => panic!("expected Incompatible, got {other}"),
            Ok(_) => panic!("opened a foreign database"),
        }
    }
    let note: String = sqlx::query_scalar("SELECT note FROM events WHERE id = 1")
        .fetch_one(&mut raw)
        .await
        .expect("the foreign row is still there");
    assert_eq!(note, "someone else's data");
    let ledger: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut raw)
        .await
        .expect("ledger check");
    assert_eq!(ledger, None, "nothing was created");
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_voronka_is_incompatible() {
    let database = TestDatabase::create().await;
    database
        .open(clock(), StoreMetrics::unregistered())
        .await
        .close()
        .await;
    let mut raw = raw_connection(&database).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99991231000000, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(&mut raw)
    .await
    .expect("fake future migration");
    match PostgresStore::open(&database.url, options(true)).await {
        Err(StoreError::Incompatible(message)) => assert!(message.contains("newer"), "{message}"),
        Err(other) => panic!("expected Incompatible, got {other}"),
        Ok(_) => panic!("opened a newer database"),
    }
}

#[tokio::test]
async fn a_store_opened_without_migrations_reports_them_pending_until_migrated() {
    let database = TestDatabase::create().await;
    let store = PostgresStore::open(&database.url, options(false))
        .await
        .expect("opens unmigrated");
    let health = store.health().await.expect("health");
    assert!(!health.migrations_applied);
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrating twice is harmless");
    let health = store.health().await.expect("health");
    assert!(health.migrations_applied);
    assert_eq!(health.backend, "postgres");
    store
        .append(
            &stream("deal-1"),
            ExpectedVersion::NoStream,
            vec![event(serde_json::json!(1))],
            meta(),
        )
        .await
        .expect("append after migrate");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unstorable_append_fails_alone_while_its_group_commits() {
    let database = TestDatabase::create().await;
    let store = Arc::new(database.open(clock(), StoreMetrics::unregistered()).await);
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut body = event(serde_json::json!(i));
            if i == 7 {
                body.event_type = "bad\0type".into();
            }
            store
                .append(
                    &stream(&format!("deal-{i}")),
                    ExpectedVersion::NoStream,
                    vec![body],
                    meta(),
                )
                .await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.expect("task");
        if i == 7 {
            assert!(
                matches!(result, Err(StoreError::InvalidEvent { .. })),
                "{result:?}"
            );
        } else {
            result.expect("the others commit");
        }
    }
    assert_eq!(
        store
            .read_all(Position::START, 100)
            .await
            .expect("read")
            .len(),
        19
    );
    store.close().await;
}

#[tokio::test]
async fn scratch_databases_are_created_and_dropped_and_the_baseline_measures() {
    let server = test_database::server_url();
    let url = voronka_store_postgres::create_scratch_database(&server)
        .await
        .expect("scratch database");
    let name = voronka_store_postgres::database_name(&url).expect("a database name");
    assert!(name.starts_with("voronka_scratch_"), "{name}");
    let rate =
        voronka_store_postgres::baseline_single_row_commits(&url, 2, Duration::from_millis(300))
            .await
            .expect("baseline");
    assert!(rate > 0.0, "{rate}");
    let store = PostgresStore::open(&url, options(true))
        .await
        .expect("opens");
    store.close().await;
    voronka_store_postgres::drop_database(&server, &name)
        .await
        .expect("drop");
    let mut admin = PgConnection::connect(&server).await.expect("server");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .expect("check");
    assert!(!exists, "the scratch database is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_recovers_after_its_connections_are_killed() {
    let database = TestDatabase::create().await;
    let store = database.open(clock(), StoreMetrics::unregistered()).await;
    let deal = stream("deal-1");
    store
        .append(
            &deal,
            ExpectedVersion::NoStream,
            vec![event(serde_json::json!(1))],
            meta(),
        )
        .await
        .expect("first append");
    let mut admin = raw_connection(&database).await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'voronka'",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminate");
    assert!(!killed.is_empty(), "the store had connections to kill");
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The first attempt may hit a dead connection and say so; it never panics,
    // and a retry (with the same command id, so it is safe) goes through.
    let command = meta().with_command(voronka_core::CommandId::from_parts(1, [1; 10]));
    let mut outcome = None;
    for _ in 0..3 {
        match store
            .append(
                &deal,
                ExpectedVersion::Exact(StreamVersion(1)),
                vec![event(serde_json::json!(2))],
                command.clone(),
            )
            .await
        {
            Ok(done) => {
                outcome = Some(done);
                break;
            }
            Err(StoreError::Unavailable(_) | StoreError::Backend(_)) => continue,
            Err(other) => panic!("unexpected error after reconnect: {other}"),
        }
    }
    let outcome = outcome.expect("an append succeeds after the connections were killed");
    assert_eq!(outcome.stream_version, StreamVersion(2));
    assert_eq!(
        store
            .read_all(Position::START, 10)
            .await
            .expect("read")
            .len(),
        2
    );
    store.close().await;
}
