//! The conformance suite: one set of behaviours every [`EventStore`] backend
//! must show, written once and run against each backend.
//!
//! A backend's test file provides a [`StoreFixture`] (a fresh database that
//! can be opened again) and expands [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! voronka_store::conformance_tests!(my_backend_fixture());
//! ```

use crate::{EventStore, StoreError, Subscription};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use voronka_core::{
    Actor, Clock, CommandId, CorrelationId, EventData, EventMetadata, ExpectedVersion, ManualClock,
    Payload, Position, StreamId, StreamVersion, Timestamp,
};

/// A fresh, empty database of one backend.
#[async_trait]
pub trait StoreFixture: Send + Sync {
    /// Opens the fixture's database (the same one on every call) with the
    /// given clock. A store from an earlier call is closed before the next.
    async fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn EventStore>;
}

/// Expands to one `#[tokio::test]` per conformance case. `$fixture` is an
/// expression evaluating to a future of a [`StoreFixture`]; it is evaluated
/// once per test, so each test gets its own database.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::conformance_tests!(@cases $fixture;
            appended_events_read_back_with_their_metadata,
            conflicting_appends_name_the_actual_version_and_write_nothing,
            a_retried_command_returns_the_first_result_and_writes_nothing,
            one_conflicting_append_fails_alone_among_concurrent_appends,
            concurrent_writers_are_seen_once_each_in_position_order,
            large_and_cyrillic_payloads_round_trip,
            a_reopened_store_finds_everything,
            reads_page_by_version_and_by_position,
            a_subscriber_wakes_on_a_new_commit,
            bad_appends_are_refused_and_write_nothing,
        );
    };
    (@cases $fixture:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $fixture.await;
                $crate::conformance::$name(&fixture).await;
            }
        )+
    };
}

fn t0() -> Timestamp {
    voronka_core::time::timestamp_from_micros(1_767_225_600_000_000) // 2026-01-01T00:00:00Z
}

fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("test stream ids are valid")
}

fn event(event_type: &str, body: serde_json::Value) -> EventData {
    EventData::new(event_type, Payload::from_value(&body).expect("json"))
}

fn meta() -> EventMetadata {
    EventMetadata::by(Actor::user("tester"))
}

fn command_id(n: u64) -> CommandId {
    CommandId::from_parts(1_767_225_600_000 + n, [n as u8; 10])
}

async fn read_everything(store: &dyn EventStore) -> Vec<voronka_core::RecordedEvent> {
    let mut all = Vec::new();
    let mut after = Position::START;
    loop {
        let batch = store.read_all(after, 1_000).await.expect("read_all");
        match batch.last() {
            Some(last) => after = last.position,
            None => return all,
        }
        all.extend(batch);
    }
}

pub async fn appended_events_read_back_with_their_metadata(f: &impl StoreFixture) {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = f.open(clock.clone()).await;
    let deal = stream("deal-1");
    let occurred = t0() - chrono::Duration::hours(1);
    let mut logged_call = event("call_logged", serde_json::json!({"outcome": "reached"}));
    logged_call.occurred_at = Some(occurred);
    logged_call.schema_version = 2;
    let metadata = EventMetadata {
        actor: Actor::user("manager-7"),
        command_id: Some(command_id(1)),
        correlation_id: Some(CorrelationId::from_parts(1, [9; 10])),
        causation_id: Some(uuid::Uuid::from_u128(42)),
    };
    let outcome = store
        .append(
            &deal,
            ExpectedVersion::NoStream,
            vec![
                event("deal_created", serde_json::json!({"title": "Pumps"})),
                logged_call,
            ],
            metadata.clone(),
        )
        .await
        .expect("first append");
    assert_eq!(outcome.stream_version, StreamVersion(2));
    assert_eq!(outcome.last_position.0, outcome.first_position.0 + 1);

    let events = store
        .read_stream(&deal, StreamVersion(1), 100)
        .await
        .expect("read_stream");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event_type, "deal_created");
    assert_eq!(events[0].stream_version, StreamVersion(1));
    assert_eq!(events[0].position, outcome.first_position);
    assert_eq!(events[0].schema_version, 1);
    assert_eq!(events[0].occurred_at, None);
    assert_eq!(events[0].effective_time(), t0());
    assert_eq!(events[1].schema_version, 2);
    assert_eq!(events[1].occurred_at, Some(occurred));
    assert_eq!(events[1].effective_time(), occurred);
    for e in &events {
        assert_eq!(e.metadata, metadata);
        assert_eq!(
            e.recorded_at,
            t0(),
            "recorded_at comes from the injected clock"
        );
        assert_eq!(e.stream_id, deal);
    }
    let body: serde_json::Value = events[1].payload.parse().expect("payload parses");
    assert_eq!(body["outcome"], "reached");
    assert_eq!(
        store.stream_version(&deal).await.expect("version"),
        StreamVersion(2)
    );
    assert_eq!(
        store
            .stream_version(&stream("deal-none"))
            .await
            .expect("version"),
        StreamVersion(0)
    );
    let health = store.health().await.expect("health");
    assert!(health.migrations_applied);
    assert_eq!(health.head, outcome.last_position);
    store.close().await;
}

pub async fn conflicting_appends_name_the_actual_version_and_write_nothing(f: &impl StoreFixture) {
    let store = f.open(Arc::new(ManualClock::new(t0()))).await;
    let deal = stream("deal-conflict");
    store
        .append(
            &deal,
            ExpectedVersion::Exact(StreamVersion(0)),
            vec![event("a", serde_json::json!(1))],
            meta(),
        )
        .await
        .expect("exact 0 creates");
    for (expected, actual) in [
        (ExpectedVersion::NoStream, 1),
        (ExpectedVersion::Exact(StreamVersion(0)), 1),
        (ExpectedVersion::Exact(StreamVersion(5)), 1),
    ] {
        match store
            .append(
                &deal,
                expected,
                vec![event("b", serde_json::json!(2))],
                meta(),
            )
            .await
        {
            Err(StoreError::Conflict {
                stream: s,
                expected: e,
                actual: a,
            }) => {
                assert_eq!(s, deal);
                assert_eq!(e, expected);
                assert_eq!(a, StreamVersion(actual));
            }
            other => panic!("expected a conflict for {expected:?}, got {other:?}"),
        }
    }
    match store
        .append(
            &stream("deal-absent"),
            ExpectedVersion::Exact(StreamVersion(3)),
            vec![event("x", serde_json::json!(0))],
            meta(),
        )
        .await
    {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, StreamVersion(0)),
        other => panic!("expected a conflict on a missing stream, got {other:?}"),
    }
    let ok = store
        .append(
            &deal,
            ExpectedVersion::Exact(StreamVersion(1)),
            vec![event("c", serde_json::json!(3))],
            meta(),
        )
        .await
        .expect("right version appends");
    assert_eq!(ok.stream_version, StreamVersion(2));
    let any = store
        .append(
            &deal,
            ExpectedVersion::Any,
            vec![event("d", serde_json::json!(4))],
            meta(),
        )
        .await
        .expect("any");
    assert_eq!(any.stream_version, StreamVersion(3));
    let all = read_everything(store.as_ref()).await;
    let types: Vec<_> = all.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["a", "c", "d"], "conflicting appends wrote nothing");
    store.close().await;
}

pub async fn a_retried_command_returns_the_first_result_and_writes_nothing(f: &impl StoreFixture) {
    let store = f.open(Arc::new(ManualClock::new(t0()))).await;
    let deal = stream("deal-retry");
    let command = meta().with_command(command_id(7));
    let first = store
        .append(
            &deal,
            ExpectedVersion::NoStream,
            vec![
                event("created", serde_json::json!({})),
                event("x", serde_json::json!({})),
            ],
            command.clone(),
        )
        .await
        .expect("first");
    store
        .append(
            &deal,
            ExpectedVersion::Any,
            vec![event("other", serde_json::json!({}))],
            meta(),
        )
        .await
        .expect("other");
    // The retry carries a now-stale expected version: it must still get the first result.
    let retry = store
        .append(
            &deal,
            ExpectedVersion::NoStream,
            vec![
                event("created", serde_json::json!({})),
                event("x", serde_json::json!({})),
            ],
            command.clone(),
        )
        .await
        .expect("retry is answered, not rejected");
    assert_eq!(retry, first);
    let elsewhere = store
        .append(
            &stream("deal-elsewhere"),
            ExpectedVersion::Any,
            vec![event("created", serde_json::json!({}))],
            command,
        )
        .await
        .expect("same command id on another stream");
    assert_eq!(
        elsewhere, first,
        "a command id identifies one command, whatever it is resent to"
    );
    let all = read_everything(store.as_ref()).await;
    assert_eq!(all.len(), 3);
    assert_eq!(
        store
            .stream_version(&stream("deal-elsewhere"))
            .await
            .expect("v"),
        StreamVersion(0)
    );
    store.close().await;
}

pub async fn one_conflicting_append_fails_alone_among_concurrent_appends(f: &impl StoreFixture) {
    let store = f.open(Arc::new(ManualClock::new(t0()))).await;
    let contested = stream("deal-contested");
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let store = store.clone();
        let contested = contested.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                // Twenty racers for the first version of one stream.
                let result = store
                    .append(
                        &contested,
                        ExpectedVersion::NoStream,
                        vec![event("first", serde_json::json!(i))],
                        meta(),
                    )
                    .await;
                if let Err(StoreError::Conflict { actual, .. }) = &result {
                    // A conflict is answered only once the version it names
                    // is there to be read, so a retry can catch up at once.
                    let readable = store.stream_version(&contested).await.expect("version");
                    assert!(
                        readable >= *actual,
                        "conflict named {actual} but {readable} is readable"
                    );
                }
                result
            } else {
                store
                    .append(
                        &stream(&format!("deal-free-{i}")),
                        ExpectedVersion::NoStream,
                        vec![event("free", serde_json::json!(i))],
                        meta(),
                    )
                    .await
            }
        }));
    }
    let mut winners = 0;
    let mut conflicts = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("task") {
            Ok(_) if i % 2 == 0 => winners += 1,
            Ok(_) => {}
            Err(StoreError::Conflict { actual, .. }) if i % 2 == 0 => {
                assert_eq!(actual, StreamVersion(1));
                conflicts += 1;
            }
            Err(e) => panic!("append {i} failed: {e}"),
        }
    }
    assert_eq!((winners, conflicts), (1, 19));
    assert_eq!(read_everything(store.as_ref()).await.len(), 21);
    store.close().await;
}

pub async fn concurrent_writers_are_seen_once_each_in_position_order(f: &impl StoreFixture) {
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 1_000;
    let store = f.open(Arc::new(ManualClock::new(t0()))).await;
    let mut subscription = Subscription::new(store.clone(), Position::START);
    let subscriber = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < (WRITERS * APPENDS) as usize {
            let batch = subscription.next_batch(500).await.expect("subscription");
            seen.extend(
                batch
                    .into_iter()
                    .map(|e| (e.position, e.stream_id, e.stream_version, e.payload)),
            );
        }
        seen
    });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let own = stream(&format!("deal-writer-{w}"));
            let shared = stream("deal-shared");
            let mut own_version = 0;
            for i in 0..APPENDS {
                let body = event("step", serde_json::json!({"writer": w, "i": i}));
                if i % 2 == 0 {
                    let outcome = store
                        .append(
                            &own,
                            ExpectedVersion::Exact(StreamVersion(own_version)),
                            vec![body],
                            meta(),
                        )
                        .await
                        .expect("own stream append");
                    own_version += 1;
                    assert_eq!(outcome.stream_version, StreamVersion(own_version));
                } else {
                    store
                        .append(&shared, ExpectedVersion::Any, vec![body], meta())
                        .await
                        .expect("shared append");
                }
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let seen = tokio::time::timeout(Duration::from_secs(120), subscriber)
        .await
        .expect("the subscriber saw every event in time")
        .expect("subscriber task");
    assert_eq!(seen.len(), (WRITERS * APPENDS) as usize);
    for pair in seen.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "positions strictly increase: {:?} then {:?}",
            pair[0].0,
            pair[1].0
        );
    }
    let mut versions: HashMap<StreamId, Vec<u64>> = HashMap::new();
    let mut bodies = HashSet::new();
    for (_, stream_id, version, payload) in &seen {
        versions
            .entry(stream_id.clone())
            .or_default()
            .push(version.0);
        assert!(
            bodies.insert(payload.as_str().to_owned()),
            "event seen twice: {}",
            payload.as_str()
        );
    }
    assert_eq!(versions.len(), WRITERS as usize + 1);
    for (stream_id, list) in versions {
        let expected: Vec<u64> = (1..=list.len() as u64).collect();
        assert_eq!(
            list, expected,
            "versions of {stream_id} are gapless and in order"
        );
    }
    let all = read_everything(store.as_ref()).await;
    assert_eq!(all.len(), seen.len());
    store.close().await;
}

pub async fn large_and_cyrillic_payloads_round_trip(f: &impl StoreFixture) {
    let store = f.open(Arc::new(ManualClock::new(t0()))).await;
    let client = stream("контакт-Иванов");
    let big_text: String = "Ж".repeat(512 * 1024); // 1 MiB of UTF-8
    let big = event("note_added", serde_json::json!({"text": big_text}));
    let cyrillic = event(
        "контакт_создан",
        serde_json::json!({"фамилия": "Иванов", "имя": "Пётр", "ёлка": "🎄"}),
    );
    store
        .append(
            &client,
            ExpectedVersion::NoStream,
            vec![big.clone(), cyrillic.clone()],
            EventMetadata::by(Actor::user("оператор")),
        )
        .await
        .expect("append big and cyrillic");
    let events = store
        .read_stream(&client, StreamVersion(1), 10)
        .await
        .expect("read");
    assert_eq!(events.len(), 2);
    assert!(events[0].payload.len() > 1024 * 1024);
    assert_eq!(events[0].payload, big.payload);
    assert_eq!(events[1].payload, cyrillic.payload);
    assert_eq!(events[1].event_type, "контакт_создан");
    assert_eq!(events[1].stream_id.as_str(), "контакт-Иванов");
    assert_eq!(events[1].metadata.actor, Actor::user("оператор"));
    store.close().await;
}

pub async fn a_reopened_store_finds_everything(f: &impl StoreFixture) {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(t0()));
    let store = f.open(clock.clone()).await;
    for i in 0..50u64 {
        let s = stream(&format!("deal-{}", i % 5));
        store
            .append(
                &s,
                ExpectedVersion::Any,
                vec![event("e", serde_json::json!({"i": i}))],
                meta().with_command(command_id(100 + i)),
            )
            .await
            .expect("append");
    }
    let before = read_everything(store.as_ref()).await;
    store.close().await;
    assert!(matches!(
        store
            .append(
                &stream("deal-0"),
                ExpectedVersion::Any,
                vec![event("late", serde_json::json!(0))],
                meta()
            )
            .await,
        Err(StoreError::Closed)
    ));
    drop(store);

    let reopened = f.open(clock).await;
    let after = read_everything(reopened.as_ref()).await;
    assert_eq!(after, before, "everything comes back exactly");
    assert_eq!(
        reopened.stream_version(&stream("deal-3")).await.expect("v"),
        StreamVersion(10)
    );
    let retried = reopened
        .append(
            &stream("deal-0"),
            ExpectedVersion::Any,
            vec![event("e", serde_json::json!({"i": 0}))],
            meta().with_command(command_id(100)),
        )
        .await
        .expect("retry after reopen");
    assert_eq!(
        retried.first_position, before[0].position,
        "idempotency survives a reopen"
    );
    let next = reopened
        .append(
            &stream("deal-0"),
            ExpectedVersion::Exact(StreamVersion(10)),
            vec![event("next", serde_json::json!(1))],
            meta(),
        )
        .await
        .expect("append after reopen");
    assert_eq!(next.stream_version, StreamVersion(11));
    assert!(next.first_position > before.last().expect("events").position);
    reopened.close().await;
}

pub async fn reads_page_by_version_and_by_position(f: &impl StoreFixture) {
    let store = f.open(Arc::new(ManualClock::new(t0()))).await;
    let deal = stream("deal-pages");
    let batch: Vec<_> = (0..25).map(|i| event("e", serde_json::json!(i))).collect();
    store
        .append(&deal, ExpectedVersion::NoStream, batch, meta())
        .await
        .expect("append");
    store
        .append(
            &stream("deal-other"),
            ExpectedVersion::NoStream,
            vec![event("o", serde_json::json!(0))],
            meta(),
        )
        .await
        .expect("other");

    let page = store
        .read_stream(&deal, StreamVersion(11), 5)
        .await
        .expect("page");
    assert_eq!(
        page.iter().map(|e| e.stream_version.0).collect::<Vec<_>>(),
        [11, 12, 13, 14, 15]
    );
    assert!(store
        .read_stream(&deal, StreamVersion(26), 5)
        .await
        .expect("past end")
        .is_empty());
    assert_eq!(
        store
            .read_stream(&deal, StreamVersion(0), 100)
            .await
            .expect("from 0")
            .len(),
        25
    );

    let first = store
        .read_all(Position::START, 10)
        .await
        .expect("first page");
    assert_eq!(first.len(), 10);
    let rest = store.read_all(first[9].position, 100).await.expect("rest");
    assert_eq!(rest.len(), 16);
    assert_eq!(rest.last().expect("last").stream_id, stream("deal-other"));
    assert!(store
        .read_all(rest.last().expect("last").position, 10)
        .await
        .expect("end")
        .is_empty());
    store.close().await;
}

pub async fn a_subscriber_wakes_on_a_new_commit(f: &impl StoreFixture) {
    let store = f.open(Arc::new(ManualClock::new(t0()))).await;
    let deal = stream("deal-live");
    for i in 0..3 {
        store
            .append(
                &deal,
                ExpectedVersion::Any,
                vec![event("old", serde_json::json!(i))],
                meta(),
            )
            .await
            .expect("append");
    }
    let mut subscription = Subscription::new(store.clone(), Position(2));
    let caught_up = subscription.next_batch(100).await.expect("catch up");
    assert_eq!(caught_up.len(), 1, "starts after the given position");
    assert_eq!(caught_up[0].position, Position(3));
    let waiting = tokio::spawn(async move { subscription.next_batch(100).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiting.is_finished(),
        "nothing new yet, the subscriber waits"
    );
    store
        .append(
            &deal,
            ExpectedVersion::Any,
            vec![event("new", serde_json::json!(1))],
            meta(),
        )
        .await
        .expect("append");
    // Well under the safety poll: it was the commit that woke it.
    let woke = tokio::time::timeout(Duration::from_millis(1_500), waiting)
        .await
        .expect("woken by the commit")
        .expect("task")
        .expect("batch");
    assert_eq!(woke.len(), 1);
    assert_eq!(woke[0].event_type, "new");
    store.close().await;
}

pub async fn bad_appends_are_refused_and_write_nothing(f: &impl StoreFixture) {
    let store = f.open(Arc::new(ManualClock::new(t0()))).await;
    let deal = stream("deal-bad");
    assert!(matches!(
        store
            .append(&deal, ExpectedVersion::Any, vec![], meta())
            .await,
        Err(StoreError::EmptyAppend)
    ));
    let nameless = event("", serde_json::json!({}));
    assert!(matches!(
        store
            .append(
                &deal,
                ExpectedVersion::Any,
                vec![event("ok", serde_json::json!({})), nameless],
                meta()
            )
            .await,
        Err(StoreError::InvalidEvent { .. })
    ));
    assert!(read_everything(store.as_ref()).await.is_empty());
    assert_eq!(
        store.stream_version(&deal).await.expect("v"),
        StreamVersion(0)
    );
    store.close().await;
}
