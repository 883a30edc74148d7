//! Webhook delivery lag under load (issue 7's target: p99 < 1 s), on the
//! embedded SQLite store: writers append deal stage changes at a steady
//! rate to many deals; `SUBSCRIPTIONS` subscriptions want every one; a
//! receiver on loopback notes, for each delivery it accepts, how long after
//! the event was recorded it arrived. Then a burst: a backlog appended at
//! once, and how fast one subscription drains it (its deliveries are
//! sequential, in log order).
//!
//! `cargo bench -p voronka-webhooks --bench delivery [-- RATE SECONDS SUBSCRIPTIONS]`
//! (defaults: 500 events/s for 10 s, 2 subscriptions).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use voronka_core::{Actor, Clock, EventMetadata, ExpectedVersion, StreamId, SystemClock};
use voronka_crm::webhook::{Webhook, WebhookCommand, WebhookId, WebhookInput, WebhookSecret};
use voronka_crm::{encode_event, Aggregate, Context, Dictionaries, UserId};
use voronka_projections::ReadDb;
use voronka_store::{EventStore, StoreMetrics};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};
use voronka_webhooks::{Deliverer, DelivererConfig};

/// Writers appending at once (each its share of the rate).
const WRITERS: u64 = 16;
const DEALS: u64 = 2_000;
const BURST: u64 = 5_000;

type Lags = Arc<Mutex<Vec<f64>>>;

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rate = args.first().copied().unwrap_or(500).max(1);
    let seconds = args.get(1).copied().unwrap_or(10).max(1);
    let subscriptions = args.get(2).copied().unwrap_or(2).max(1);

    let dir = tempfile::tempdir().expect("temp dir");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteStore::open(&SqliteLocation::from_path(dir.path().join("bench.db")), {
            let mut options = SqliteOptions::new(clock.clone());
            options.metrics = StoreMetrics::unregistered();
            options
        })
        .await
        .expect("open SQLite"),
    );
    let db = ReadDb::open(&format!(
        "sqlite://{}",
        dir.path().join("bench.reports.db").display()
    ))
    .await
    .expect("open the report database");

    let lags: Lags = Arc::default();
    let url = receiver(lags.clone()).await;
    for _ in 0..subscriptions {
        subscribe(store.as_ref(), clock.as_ref(), &url).await;
    }
    let deliverer = Deliverer::start(
        store.clone(),
        db.clone(),
        clock.clone(),
        DelivererConfig::default(),
    )
    .await
    .expect("start the deliverer");

    println!(
        "steady load: {rate} stage changes/s for {seconds} s by {WRITERS} writers over {DEALS} deals, {subscriptions} subscriptions"
    );
    let total = rate * seconds;
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let share = total / WRITERS + u64::from(writer < total % WRITERS);
            let every = Duration::from_secs_f64(WRITERS as f64 / rate as f64);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for n in 0..share {
                tick.tick().await;
                append_change(store.as_ref(), (writer * 7919 + n * 31) % DEALS, n).await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let written_in = started.elapsed();
    wait_for(&lags, (total * subscriptions) as usize).await;
    let steady = std::mem::take(&mut *lags.lock().expect("lags"));
    println!(
        "  written in {:.1} s ({:.0} events/s); delivered {} deliveries",
        written_in.as_secs_f64(),
        total as f64 / written_in.as_secs_f64(),
        steady.len()
    );
    report("  lag", steady);

    println!("burst: {BURST} stage changes appended at once, {subscriptions} subscriptions");
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..BURST / WRITERS {
                append_change(store.as_ref(), (writer * 7919 + n * 31) % DEALS, n).await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let burst = (BURST / WRITERS) * WRITERS;
    wait_for(&lags, (burst * subscriptions) as usize).await;
    let drained = started.elapsed();
    println!(
        "  drained in {:.2} s: {:.0} deliveries/s per subscription",
        drained.as_secs_f64(),
        burst as f64 / drained.as_secs_f64()
    );
    report("  lag", std::mem::take(&mut *lags.lock().expect("lags")));
    deliverer.stop().await;
}

/// Starts the receiver; every accepted delivery adds its lag in seconds.
async fn receiver(lags: Lags) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let lags = lags.clone();
            async move {
                let arrived = chrono::Utc::now();
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let recorded = body["recorded_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                if let Some(recorded) = recorded {
                    let lag = (arrived - recorded.with_timezone(&chrono::Utc))
                        .to_std()
                        .unwrap_or_default();
                    lags.lock().expect("lags").push(lag.as_secs_f64());
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// Subscribes `url` to every stage change, through the aggregate.
async fn subscribe(store: &dyn EventStore, clock: &dyn Clock, url: &str) {
    let id = WebhookId::from_uuid(uuid::Uuid::now_v7());
    let dictionaries = Dictionaries::default();
    let context = Context {
        now: clock.now(),
        actor: UserId::from_uuid(uuid::Uuid::nil()),
        dictionaries: &dictionaries,
    };
    let command = WebhookCommand::Subscribe {
        id,
        input: WebhookInput {
            url: url.to_owned(),
            event_types: vec!["deal_stage_changed".into()],
            filter: None,
            description: Some("bench".into()),
        },
        secret: WebhookSecret("00".repeat(32)),
    };
    let events = Webhook::decide(&None, &command, &context).expect("a valid subscription");
    let data = events
        .iter()
        .map(encode_event::<Webhook>)
        .collect::<Result<Vec<_>, _>>()
        .expect("encode");
    store
        .append(
            &StreamId::new(format!("{}-{id}", Webhook::CATEGORY)).expect("stream"),
            ExpectedVersion::NoStream,
            data,
            EventMetadata::by(Actor::system("bench")),
        )
        .await
        .expect("subscribe");
}

/// One stage change on deal `deal` (the stage names cycle with `n`).
async fn append_change(store: &dyn EventStore, deal: u64, n: u64) {
    const STAGES: [&str; 4] = ["new", "qualifying", "needs", "proposal"];
    let from = STAGES[(n % 4) as usize];
    let to = STAGES[((n + 1) % 4) as usize];
    let payload = serde_json::json!({
        "type": "deal_stage_changed", "from": from, "to": to,
        "at": chrono::Utc::now(),
    });
    let stream =
        StreamId::new(format!("deal-{}", uuid::Uuid::from_u64_pair(0, deal))).expect("stream");
    store
        .append(
            &stream,
            ExpectedVersion::Any,
            vec![voronka_core::EventData::new(
                "deal_stage_changed",
                voronka_core::Payload::from_value(&payload).expect("payload"),
            )],
            EventMetadata::by(Actor::system("bench")),
        )
        .await
        .expect("append");
}

/// Waits until `count` deliveries arrived (at most two minutes).
async fn wait_for(lags: &Lags, count: usize) {
    let started = Instant::now();
    while lags.lock().expect("lags").len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "deliveries stalled at {} of {count}",
            lags.lock().expect("lags").len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn report(label: &str, mut lags: Vec<f64>) {
    if lags.is_empty() {
        println!("{label}: no deliveries");
        return;
    }
    lags.sort_by(f64::total_cmp);
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize] * 1000.0;
    println!(
        "{label}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} deliveries",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        lags.len()
    );
}
