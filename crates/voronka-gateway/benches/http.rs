//! The API's throughput over real HTTP on SQLite: stage-transition commands
//! and deal-card reads with 64 concurrent connections against one server.
//!
//! `cargo bench -p voronka-gateway --bench http [-- SECONDS]` prints a
//! report and, last, one JSON line. Targets (issue 4): >= 10,000
//! transitions/s with p99 < 25 ms, >= 20,000 card reads/s. Client and
//! server share the machine, so the figures are a lower bound.
//!
//! Set-up goes through the application layer (the same `decide` as the
//! API): each deal gets its company, contact, industry and a reached call,
//! so that `needs -> qualifying -> needs -> ...` are all accepted moves.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Backend, TestServer};
use voronka_core::Role;
use voronka_process::{
    ActivityFact, ActivityId, ActivityKind, ActivityStatus, DealCommand, DealId, FieldValue,
};

const CONNECTIONS: usize = 64;
const DEALS_PER_CONNECTION: usize = 4;

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    // `--quiet-process`: the deals run on a version of b2b-sale without
    // automations, so each move is one append (with them, entering `needs`
    // also plans a task and records it on the deal: three appends).
    let quiet = std::env::args().any(|a| a == "--quiet-process");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(Duration::from_secs(seconds), quiet));
}

async fn run(duration: Duration, quiet: bool) {
    let server = Arc::new(TestServer::start(Backend::Sqlite).await);
    if quiet {
        let shipped = voronka_app::deals::SHIPPED_DEFINITIONS[0].1;
        let without = shipped
            .split("\nautomations:")
            .next()
            .unwrap_or(shipped)
            .replace("version: 1", "version: 2");
        server
            .crm
            .deal_service()
            .registry()
            .publish("b2b-sale-quiet.yaml", &without)
            .expect("publish the quiet version");
    }
    let manager = server
        .user("bench", &[Role::Manager], server.sales_moscow)
        .await;
    let deals = prepare_deals(&server, manager.id, CONNECTIONS * DEALS_PER_CONNECTION).await;
    println!(
        "prepared {} deals in stage `needs`; {} connections for {:?} each phase",
        deals.len(),
        CONNECTIONS,
        duration
    );

    // Phase 1: transitions.
    let (moves, latencies) = drive(&server, &manager.token, &deals, duration, true).await;
    let moves_per_sec = moves as f64 / duration.as_secs_f64();
    let (p50, p99) = percentiles(latencies);
    println!("transitions: {moves} in {duration:?} = {moves_per_sec:.0}/s, p50 {p50:.2} ms, p99 {p99:.2} ms");

    // Phase 2: deal cards.
    let (reads, read_latencies) = drive(&server, &manager.token, &deals, duration, false).await;
    let reads_per_sec = reads as f64 / duration.as_secs_f64();
    let (r50, r99) = percentiles(read_latencies);
    println!("card reads: {reads} in {duration:?} = {reads_per_sec:.0}/s, p50 {r50:.2} ms, p99 {r99:.2} ms");
    println!(
        "{}",
        json!({
            "bench": "http", "backend": "sqlite", "connections": CONNECTIONS, "automations": !quiet,
            "transitions_per_sec": moves_per_sec.round(), "transition_p50_ms": p50, "transition_p99_ms": p99,
            "card_reads_per_sec": reads_per_sec.round(), "card_read_p50_ms": r50, "card_read_p99_ms": r99,
        })
    );
}

/// Deals in `needs` with everything `qualifying` and `needs` require.
async fn prepare_deals(
    server: &TestServer,
    manager: voronka_app::access::UserId,
    count: usize,
) -> Vec<DealId> {
    let service = server.crm.deal_service();
    let definition = service.registry().latest("b2b-sale").expect("b2b-sale");
    let user = server.directory.user(manager).await.unwrap().unwrap();
    let caller = server.crm.caller(user).await.unwrap();
    let actor = caller.process_actor();
    let field = |name: &str| definition.field_id(name).expect("field");
    let industry = definition
        .value_id(definition.dictionary_id("industry").unwrap(), "it")
        .unwrap();
    let reached = definition
        .value_id(definition.dictionary_id("call_outcome").unwrap(), "reached")
        .unwrap();
    let mut deals = Vec::with_capacity(count);
    for _ in 0..count {
        let deal = DealId::from_uuid(uuid::Uuid::now_v7());
        let set = |name: &str, value: FieldValue| DealCommand::SetField {
            field: field(name),
            value: Some(value),
        };
        let commands = [
            set("title", FieldValue::Text("Нагрузка".into())),
            set("company", FieldValue::Reference(uuid::Uuid::now_v7())),
            set("contact", FieldValue::Reference(uuid::Uuid::now_v7())),
            set("responsible", FieldValue::Reference(*manager.as_uuid())),
            set("industry", FieldValue::Dictionary(industry)),
            DealCommand::MoveToStage {
                to: definition.stage_id("qualifying").unwrap(),
            },
            DealCommand::RecordActivity(ActivityFact {
                id: ActivityId::from_uuid(uuid::Uuid::now_v7()),
                kind: ActivityKind::Call,
                status: ActivityStatus::Done,
                outcome: Some(reached),
                at: chrono::Utc::now(),
            }),
            DealCommand::MoveToStage {
                to: definition.stage_id("needs").unwrap(),
            },
        ];
        service
            .start_deal_with(definition.clone(), deal, &commands, &actor, None)
            .await
            .expect("prepare a deal");
        deals.push(deal);
    }
    deals
}

/// Runs `CONNECTIONS` clients for `duration`: each moves (or reads) its own
/// deals in turn. Returns how many requests succeeded and their latencies.
async fn drive(
    server: &Arc<TestServer>,
    token: &str,
    deals: &[DealId],
    duration: Duration,
    moving: bool,
) -> (usize, Vec<Duration>) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for connection in 0..CONNECTIONS {
        let own: Vec<DealId> = deals
            .iter()
            .skip(connection)
            .step_by(CONNECTIONS)
            .copied()
            .collect();
        let client = reqwest::Client::new();
        let base = server.base.clone();
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut in_needs = vec![true; own.len()];
            let mut turn = 0usize;
            while Instant::now() < deadline {
                let index = turn % own.len();
                turn += 1;
                let deal = own[index];
                let started = Instant::now();
                let response = if moving {
                    let to = if in_needs[index] {
                        "qualifying"
                    } else {
                        "needs"
                    };
                    client
                        .post(format!("{base}/api/v1/deals/{deal}/transitions"))
                        .bearer_auth(&token)
                        .json(&json!({ "to": to }))
                        .send()
                        .await
                } else {
                    client
                        .get(format!("{base}/api/v1/deals/{deal}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                };
                let response = response.expect("request");
                let status = response.status();
                let _ = response.bytes().await;
                assert!(status.is_success(), "{status}");
                latencies.push(started.elapsed());
                if moving {
                    in_needs[index] = !in_needs[index];
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    (all.len(), all)
}

fn percentiles(mut latencies: Vec<Duration>) -> (f64, f64) {
    if latencies.is_empty() {
        return (0.0, 0.0);
    }
    latencies.sort();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}
