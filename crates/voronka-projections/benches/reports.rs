//! Report targets of issue 5 on SQLite: a year of a sales department —
//! `DEALS` deals (default 1,000,000, about five events each) by 100
//! managers through the b2b-sale stages — appended to a real store with
//! the store's clock following the history, so `as_of` cuts are real.
//! Then:
//! - rebuild of the `deals` projection from position 0 (events/s), and the
//!   floor under it: SQLite alone writing the leanest journal (see
//!   `write_floor`);
//! - the current funnel, for everyone and for one manager (median of runs);
//! - the funnel as of a past moment, and over a period as of it;
//! - then a year of the same managers' calls and meetings (seven a working
//!   day each), a task a working day each (planned for the next day, done
//!   then) and a month's plans for all of them: plan-vs-fact for the 100
//!   managers (the projection queries and the composition the API does);
//! - the control report's queries (forgotten deals, overdue, today,
//!   tomorrow, a week's workload) and the forecast, for everyone, now and
//!   as of day 200 13:00 (the versions current then).
//!
//! `cargo bench -p voronka-projections --bench reports [-- DEALS]`
//! (`VORONKA_BENCH_KEEP=1` keeps the databases and prints where;
//! `VORONKA_BENCH_BULK_ONLY=1` skips the batch-by-batch rebuild).
//! Targets: rebuild >= 500,000 events/s, current funnel < 20 ms, funnel
//! as of a past moment < 1 s, plan-vs-fact for 100 managers < 20 ms.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use futures::StreamExt;
use voronka_core::{Actor, Currency, EventMetadata, ExpectedVersion, ManualClock, Money, StreamId};
use voronka_crm::activity::{Activity, ActivityData, ActivityEvent, Direction};
use voronka_crm::plan::{PeriodKind, Plan, PlanEvent, PlanMetric, PlanPeriod, PlanScope};
use voronka_crm::{encode_event, ActivityId, UserId};
use voronka_process::ActivityKind;
use voronka_process::{ContentHash, DealId, ProcessIdentity, StoredDealEvent};
use voronka_projections::control;
use voronka_projections::deals::DealsProjection;
use voronka_projections::forecast::{self, ForecastStage};
use voronka_projections::funnel::{self, FlowScope, Period, Responsibles, StageInfo, StageKind};
use voronka_projections::plan_vs_fact::{self, FactScope};
use voronka_projections::time::{day_number, day_of, micros, MICROS_PER_DAY};
use voronka_projections::work::WorkProjection;
use voronka_projections::{runner, ReadDb};
use voronka_store::{EventStore, StoreMetrics};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

/// The allocator of the `voronka` binary, so the rebuild here costs what it
/// costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STAGES: [&str; 9] = [
    "new",
    "qualifying",
    "needs",
    "proposal",
    "negotiation",
    "contract",
    "invoice",
    "won",
    "lost",
];
const MANAGERS: usize = 100;
const DAYS: u32 = 365;

/// One append of the history, compactly: the deal, when, what.
#[derive(Clone, Copy)]
struct Step {
    deal: u32,
    at_seconds: u32,
    /// 0 = start (with responsible and amount); else the stage index moved to.
    stage: u8,
}

fn main() {
    let deals: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(deals));
}

fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn history(deals: u32) -> Vec<Step> {
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut steps = Vec::with_capacity(deals as usize * 5);
    for deal in 0..deals {
        let mut at = (rng(&mut state) % (u64::from(DAYS - 30) * 86_400)) as u32;
        steps.push(Step {
            deal,
            at_seconds: at,
            stage: 0,
        });
        let mut stage = 0u8;
        loop {
            at += (rng(&mut state) % (4 * 86_400)) as u32 + 60;
            let roll = rng(&mut state) % 100;
            if roll < 12 || stage == 6 && roll < 40 {
                steps.push(Step {
                    deal,
                    at_seconds: at,
                    stage: 8,
                });
                break;
            }
            if roll < 22 {
                break; // still open
            }
            stage += 1;
            steps.push(Step {
                deal,
                at_seconds: at,
                stage,
            });
            if stage == 7 {
                break;
            }
        }
    }
    steps.sort_by_key(|s| s.at_seconds);
    steps
}

async fn run(deals: u32) {
    let dir = tempfile::tempdir().expect("temporary directory");
    // VORONKA_BENCH_KEEP=1 keeps the store and report databases for
    // inspection (EXPLAIN QUERY PLAN with the sqlite3 shell).
    let kept = std::env::var_os("VORONKA_BENCH_KEEP").map(|_| dir.path().to_owned());
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteStore::open(&SqliteLocation::from_path(dir.path().join("bench.db")), {
            let mut options = SqliteOptions::new(clock.clone());
            options.metrics = StoreMetrics::unregistered();
            options
        })
        .await
        .expect("open SQLite"),
    );
    let identity = ProcessIdentity {
        name: "b2b-sale".into(),
        version: 1,
        hash: ContentHash::of("bench"),
    };
    let managers: Vec<String> = (0..MANAGERS)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let deal_ids: Vec<DealId> = (0..deals)
        .map(|_| DealId::from_uuid(uuid::Uuid::now_v7()))
        .collect();

    let steps = history(deals);
    let generated = Instant::now();
    let mut events = 0u64;
    let mut current: Vec<u8> = vec![0; deals as usize];
    // Appended in groups that share a recorded time, so a group spans at
    // most an hour of the history: times in stage and `as_of` cuts stay
    // true to the hour.
    for chunk in steps.chunk_by(|a, b| a.at_seconds / 3600 == b.at_seconds / 3600) {
        clock.set(start + chrono::Duration::seconds(i64::from(chunk[0].at_seconds)));
        let at = voronka_core::Clock::now(clock.as_ref());
        let mut appends = Vec::with_capacity(chunk.len());
        for step in chunk {
            let deal = deal_ids[step.deal as usize];
            let stored = if step.stage == 0 {
                vec![
                    StoredDealEvent::DealStarted {
                        deal,
                        process: identity.clone(),
                        stage: "new".into(),
                        at,
                    },
                    StoredDealEvent::DealFieldSet {
                        field: "responsible".into(),
                        value: Some(managers[step.deal as usize % MANAGERS].clone().into()),
                        at,
                    },
                    StoredDealEvent::DealFieldSet {
                        field: "amount".into(),
                        value: serde_json::to_value(Money::new(
                            i64::from(step.deal % 977 + 10) * 10_000,
                            Currency::RUB,
                        ))
                        .ok(),
                        at,
                    },
                ]
            } else {
                let from = STAGES[current[step.deal as usize] as usize].to_owned();
                current[step.deal as usize] = step.stage;
                let mut list = Vec::new();
                if step.stage == 8 {
                    list.push(StoredDealEvent::DealFieldSet {
                        field: "loss_reason".into(),
                        value: Some(
                            ["price", "competitor", "no_budget"][step.deal as usize % 3].into(),
                        ),
                        at,
                    });
                }
                list.push(StoredDealEvent::DealStageChanged {
                    from,
                    to: STAGES[step.stage as usize].into(),
                    at,
                });
                list
            };
            events += stored.len() as u64;
            let data: Vec<_> = stored
                .iter()
                .map(|e| e.to_event_data().expect("payload"))
                .collect();
            appends.push((deal, data));
        }
        futures::stream::iter(appends)
            .map(|(deal, data)| {
                let store = store.clone();
                async move {
                    let stream = StreamId::new(format!("deal-{deal}")).expect("stream");
                    store
                        .append(
                            &stream,
                            ExpectedVersion::Any,
                            data,
                            EventMetadata::by(Actor::system("bench")),
                        )
                        .await
                        .expect("append");
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
    }
    let generated = generated.elapsed();
    println!(
        "history: {deals} deals, {events} events, {MANAGERS} managers, {DAYS} days, written in {:.1} s",
        generated.as_secs_f64()
    );

    // What reading the log alone costs: the floor under any rebuild.
    let reading = Instant::now();
    let mut read = 0u64;
    let mut after = voronka_core::Position::START;
    loop {
        let batch = store
            .read_all(after, runner::BATCH)
            .await
            .expect("read the log");
        let Some(last) = batch.last() else { break };
        after = last.position;
        read += batch.len() as u64;
    }
    let read_rate = read as f64 / reading.elapsed().as_secs_f64();
    println!("reading the log alone: {read} events at {read_rate:.0} events/s");

    let db = ReadDb::open(&format!(
        "sqlite://{}",
        dir.path().join("bench.reports.db").display()
    ))
    .await
    .expect("read db");
    // VORONKA_BENCH_BULK_ONLY=1 skips the batch-by-batch rebuild (minutes
    // at a million events) when measuring the bulk path.
    let mut batchwise_rate = 0.0;
    if std::env::var_os("VORONKA_BENCH_BULK_ONLY").is_none() {
        let mut projection = DealsProjection::new();
        let batchwise = runner::rebuild_batch_by_batch(store.as_ref(), &db, &mut projection)
            .await
            .expect("rebuild batch by batch");
        batchwise_rate = batchwise.events as f64 / batchwise.elapsed.as_secs_f64();
        println!(
            "rebuild batch by batch (how a worker follows the log): {:.2} s = {batchwise_rate:.0} events/s",
            batchwise.elapsed.as_secs_f64()
        );
    }
    let mut projection = DealsProjection::new();
    let report = runner::rebuild(store.as_ref(), &db, &mut projection)
        .await
        .expect("rebuild");
    let rebuild_rate = report.events as f64 / report.elapsed.as_secs_f64();
    println!(
        "rebuild in bulk: {} events in {:.2} s = {:.0} events/s (target >= 500,000)",
        report.events,
        report.elapsed.as_secs_f64(),
        rebuild_rate
    );
    let floor_rate = write_floor(&db, report.events).await;

    let stages: Vec<StageInfo> = STAGES
        .iter()
        .map(|name| StageInfo {
            name: (*name).into(),
            kind: match *name {
                "won" => StageKind::Won,
                "lost" => StageKind::Lost,
                _ => StageKind::Open,
            },
        })
        .collect();
    let everyone = FlowScope {
        process: "b2b-sale".into(),
        responsibles: Responsibles::All,
        period: None,
        as_of: None,
    };
    let now = funnel::funnel(&db, &everyone, &stages)
        .await
        .expect("funnel");
    let open: i64 = now.iter().map(|s| s.now).sum();
    assert_eq!(open, i64::from(deals), "every deal is somewhere");
    let current = median_of(15, || funnel::funnel(&db, &everyone, &stages)).await;
    println!(
        "funnel now, everyone: median {:.2} ms (target < 20 ms)",
        ms(current)
    );
    let one = FlowScope {
        responsibles: Responsibles::Only(vec![managers[7].clone()]),
        ..everyone.clone()
    };
    let one_manager = median_of(15, || funnel::funnel(&db, &one, &stages)).await;
    println!("funnel now, one manager: median {:.2} ms", ms(one_manager));
    let mid = micros(start + chrono::Duration::days(200) + chrono::Duration::hours(13));
    let past = FlowScope {
        as_of: Some(mid),
        ..everyone.clone()
    };
    let as_of = median_of(5, || funnel::funnel(&db, &past, &stages)).await;
    println!(
        "funnel as of day 200 13:00: median {:.1} ms (target < 1,000 ms)",
        ms(as_of)
    );
    let quarter = FlowScope {
        period: Some(Period {
            from_day: day_of(mid) - 90,
            to_day: day_of(mid),
        }),
        ..past.clone()
    };
    let period = median_of(5, || funnel::funnel(&db, &quarter, &stages)).await;
    println!(
        "funnel over the 90 days before it, as of it: median {:.1} ms",
        ms(period)
    );
    let plan_vs_fact = plan_vs_fact_run(store.as_ref(), &db, &clock, start, &managers).await;
    let end = micros(voronka_core::Clock::now(clock.as_ref()));
    let control_now = median_of(5, || control_report(&db, end, None)).await;
    let control_then = median_of(5, || control_report(&db, mid, Some(mid))).await;
    let (_, planned_then) = control_report(&db, mid, Some(mid)).await.expect("control");
    println!(
        "control now: median {:.1} ms; as of day 200 13:00: median {:.1} ms ({:.1}x; {planned_then} planned tasks due then)",
        ms(control_now),
        ms(control_then),
        control_then.as_secs_f64() / control_now.as_secs_f64()
    );
    let forecast_now = median_of(5, || forecast_report(&db, None)).await;
    let forecast_then = median_of(5, || forecast_report(&db, Some(mid))).await;
    println!(
        "forecast now: median {:.1} ms; as of day 200 13:00: median {:.1} ms ({:.1}x)",
        ms(forecast_now),
        ms(forecast_then),
        forecast_then.as_secs_f64() / forecast_now.as_secs_f64()
    );
    println!(
        "{{\"deals\":{deals},\"events\":{events},\"read_events_per_s\":{read_rate:.0},\
         \"batchwise_events_per_s\":{batchwise_rate:.0},\"rebuild_events_per_s\":{rebuild_rate:.0},\"floor_events_per_s\":{floor_rate:.0},\
         \"funnel_now_ms\":{:.2},\"funnel_one_manager_ms\":{:.2},\"funnel_as_of_ms\":{:.1},\
         \"funnel_period_as_of_ms\":{:.1},\"plan_vs_fact_ms\":{:.2},\"control_now_ms\":{:.1},\
         \"control_as_of_ms\":{:.1},\"forecast_now_ms\":{:.1},\"forecast_as_of_ms\":{:.1}}}",
        ms(current),
        ms(one_manager),
        ms(as_of),
        ms(period),
        ms(plan_vs_fact),
        ms(control_now),
        ms(control_then),
        ms(forecast_now),
        ms(forecast_then)
    );
    db.close().await;
    store.close().await;
    if let Some(path) = kept {
        let _ = dir.keep();
        println!("databases kept in {}", path.display());
    }
}

/// Appends a year of calls and meetings and a month's plans for every
/// manager, rebuilds the `work` projection, and times plan-vs-fact for the
/// month of day 200 (median of runs).
async fn plan_vs_fact_run(
    store: &dyn EventStore,
    db: &ReadDb,
    clock: &ManualClock,
    start: chrono::DateTime<Utc>,
    managers: &[String],
) -> Duration {
    let manager_ids: Vec<UserId> = managers
        .iter()
        .map(|m| UserId::from_uuid(m.parse().expect("uuid")))
        .collect();
    let mut events = 0u64;
    let written = Instant::now();
    // Tasks planned the working day before, done today.
    let mut planned_tasks: Vec<ActivityId> = Vec::new();
    for day in 0..DAYS {
        if day % 7 >= 5 {
            continue; // the weekend
        }
        let at = start + chrono::Duration::days(i64::from(day)) + chrono::Duration::hours(18);
        clock.set(at);
        let at = voronka_core::Clock::now(clock);
        let mut appends = Vec::with_capacity(managers.len() * 9);
        for id in planned_tasks.drain(..) {
            let event = ActivityEvent::ActivityCompleted {
                outcome: None,
                result: None,
                completed_at: at,
            };
            let data = encode_event::<Activity>(&event).expect("payload");
            appends.push((format!("activity-{id}"), data));
        }
        for manager in &manager_ids {
            let id = ActivityId::from_uuid(uuid::Uuid::now_v7());
            let event = ActivityEvent::ActivityPlanned {
                data: ActivityData {
                    id,
                    kind: ActivityKind::Task,
                    direction: None,
                    channel: None,
                    subject: Some("Follow up".to_owned()),
                    planned_start: None,
                    due_at: Some(at + chrono::Duration::hours(16)),
                    responsible: *manager,
                    deal: None,
                    contact: None,
                    company: None,
                    created_by: *manager,
                },
            };
            let data = encode_event::<Activity>(&event).expect("payload");
            appends.push((format!("activity-{id}"), data));
            planned_tasks.push(id);
        }
        for (index, manager) in manager_ids.iter().enumerate() {
            for n in 0..7usize {
                let id = ActivityId::from_uuid(uuid::Uuid::now_v7());
                let call = n < 6;
                let event = ActivityEvent::ActivityLogged {
                    data: ActivityData {
                        id,
                        kind: if call {
                            ActivityKind::Call
                        } else {
                            ActivityKind::Meeting
                        },
                        direction: call.then_some(Direction::Outgoing),
                        channel: None,
                        subject: None,
                        planned_start: None,
                        due_at: None,
                        responsible: *manager,
                        deal: None,
                        contact: None,
                        company: None,
                        created_by: *manager,
                    },
                    outcome: call.then(|| {
                        ["reached", "no_answer", "busy"][(index + n + day as usize) % 3].to_owned()
                    }),
                    result: None,
                    completed_at: at,
                };
                let data = encode_event::<Activity>(&event).expect("payload");
                appends.push((format!("activity-{id}"), data));
            }
        }
        events += appends.len() as u64;
        append_all(store, appends).await;
    }
    let month = chrono::NaiveDate::from_ymd_opt(2025, 7, 1).expect("date");
    let plans = manager_ids
        .iter()
        .map(|manager| {
            let event = PlanEvent::PlanTargetsSet {
                scope: PlanScope::Manager(*manager.as_uuid()),
                period: PlanPeriod {
                    kind: PeriodKind::Month,
                    start: month,
                },
                targets: BTreeMap::from([
                    (PlanMetric::CallsMade, 120),
                    (PlanMetric::CallsReached, 40),
                    (PlanMetric::MeetingsHeld, 20),
                    (PlanMetric::DealsWon, 10),
                    (PlanMetric::RevenueWon, 500_000_000), // 5 million roubles in kopecks
                ]),
                set_by: *manager,
            };
            let data = encode_event::<Plan>(&event).expect("payload");
            (format!("plan-{}", uuid::Uuid::now_v7()), data)
        })
        .collect();
    append_all(store, plans).await;
    println!(
        "work history: {events} activities and {} plans written in {:.1} s",
        managers.len(),
        written.elapsed().as_secs_f64()
    );
    let mut work = WorkProjection::new();
    let report = runner::rebuild(store, db, &mut work)
        .await
        .expect("rebuild work");
    println!(
        "rebuild of work: {} events in {:.2} s",
        report.events,
        report.elapsed.as_secs_f64()
    );

    let (from_day, to_day) = (day_number(month), day_number(month) + 30);
    let today = from_day + 19;
    let scope = FactScope {
        responsibles: Responsibles::Only(managers.to_vec()),
        from_day,
        to_day,
        as_of: None,
    };
    let won = vec![("b2b-sale".to_owned(), "won".to_owned())];
    let members = HashMap::new();
    let lines_of = || async {
        let targets = plan_vs_fact::plans(db, "month", from_day, None).await?;
        let facts = plan_vs_fact::metric_facts(db, &scope, &won).await?;
        Ok::<_, voronka_projections::ProjectionError>(plan_vs_fact::compose(
            &targets, &facts, &members, managers, from_day, to_day, today,
        ))
    };
    let lines = lines_of().await.expect("plan-vs-fact");
    let planned = lines.iter().filter(|l| l.plan.is_some()).count();
    assert_eq!(planned, managers.len() * 5, "every manager's plan is there");
    assert!(
        lines
            .iter()
            .any(|l| l.metric == PlanMetric::CallsMade && l.fact > 100),
        "a month of calls is counted"
    );
    let took = median_of(15, lines_of).await;
    println!(
        "plan-vs-fact, {} managers, one month: median {:.2} ms (target < 20 ms)",
        managers.len(),
        ms(took)
    );
    took
}

/// What SQLite alone takes to write the leanest journal an exact `as_of`
/// funnel needs, with no Rust per row: the journal the rebuild just wrote
/// copied by one `INSERT ... SELECT` into a fresh table of integers only
/// (no deal, process, stage or responsible names), with the two indexes
/// the funnel reads (recorded time; exits by stage and time in it), in one
/// transaction on the same file, committed and checkpointed like a
/// rebuild's. No rebuild that writes such a journal can be faster: the
/// `events / seconds` printed is a ceiling on the rebuild rate here.
async fn write_floor(db: &ReadDb, events: u64) -> f64 {
    let started = Instant::now();
    let mut tx = db.begin_write().await.expect("begin");
    let statements = [
        "CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, stage BIGINT NOT NULL, \
         at BIGINT NOT NULL, rec_at BIGINT NOT NULL, exited BIGINT NOT NULL, \
         seconds BIGINT NOT NULL, held BIGINT NOT NULL, amount BIGINT NOT NULL)",
        "INSERT INTO bench_floor SELECT position * 16 + seq, length(stage), at, rec_at, \
         exited, seconds, held, amount FROM rm_flow_journal ORDER BY position, seq",
        "CREATE INDEX bench_floor_rec ON bench_floor (rec_at)",
        "CREATE INDEX bench_floor_exits ON bench_floor (stage, seconds, at, rec_at) \
         WHERE exited = 1",
    ];
    let mut took = Vec::new();
    for statement in statements {
        let step = Instant::now();
        sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .expect("floor statement");
        took.push(step.elapsed().as_secs_f64());
    }
    tx.commit().await.expect("commit");
    let elapsed = started.elapsed().as_secs_f64();
    sqlx::query("DROP TABLE bench_floor")
        .execute(db.pool())
        .await
        .expect("drop");
    let rate = events as f64 / elapsed;
    println!(
        "floor: SQLite alone writing a journal of integers with two indexes: {elapsed:.2} s \
         (rows {:.2} s, indexes {:.2} + {:.2} s, commit {:.2} s) = at most {rate:.0} events/s",
        took[1],
        took[2],
        took[3],
        elapsed - took.iter().sum::<f64>()
    );
    rate
}

/// The control report's queries for everyone at `now` (as of it when
/// `as_of`): forgotten deals (7 days), overdue, today, tomorrow, a week of
/// workload. Returns how many planned activities were due in that week.
async fn control_report(
    db: &ReadDb,
    now: i64,
    as_of: Option<i64>,
) -> Result<(i64, usize), voronka_projections::ProjectionError> {
    let open: Vec<String> = STAGES[..7].iter().map(|s| (*s).to_owned()).collect();
    let all = Responsibles::All;
    let (forgotten, _) =
        control::forgotten_deals(db, "b2b-sale", &open, &all, 7, now, as_of, 100).await?;
    let today = day_of(now) * MICROS_PER_DAY;
    control::planned_due(db, &all, i64::MIN / 4, now, as_of, 100).await?;
    control::planned_due(db, &all, today, today + MICROS_PER_DAY, as_of, 100).await?;
    control::planned_due(
        db,
        &all,
        today + MICROS_PER_DAY,
        today + 2 * MICROS_PER_DAY,
        as_of,
        100,
    )
    .await?;
    let load = control::workload(db, &all, day_of(now), day_of(now) + 6, as_of, 20).await?;
    Ok((forgotten, load.iter().map(|d| d.planned as usize).sum()))
}

async fn forecast_report(
    db: &ReadDb,
    as_of: Option<i64>,
) -> Result<usize, voronka_projections::ProjectionError> {
    let stages: Vec<ForecastStage> = STAGES
        .iter()
        .enumerate()
        .map(|(i, name)| ForecastStage {
            name: (*name).to_owned(),
            kind: match *name {
                "won" => StageKind::Won,
                "lost" => StageKind::Lost,
                _ => StageKind::Open,
            },
            probability: match *name {
                "won" => 100,
                "lost" => 0,
                _ => (10 * (i + 1)) as u8,
            },
        })
        .collect();
    let months =
        forecast::forecast(db, "b2b-sale", &stages, &Responsibles::All, None, as_of).await?;
    Ok(months.len())
}

/// Appends one event to each named stream, 64 at a time.
async fn append_all(store: &dyn EventStore, appends: Vec<(String, voronka_core::EventData)>) {
    futures::stream::iter(appends)
        .map(|(stream, data)| async move {
            let stream = StreamId::new(stream).expect("stream");
            store
                .append(
                    &stream,
                    ExpectedVersion::Any,
                    vec![data],
                    EventMetadata::by(Actor::system("bench")),
                )
                .await
                .expect("append");
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn median_of<F, Fut, T, E>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await.expect("report");
        times.push(started.elapsed());
    }
    times.sort();
    times[runs / 2]
}
