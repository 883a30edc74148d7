//! The funnel against an oracle: random deal histories are written through
//! the real command path (`DealService`, the process engine, the store) on
//! SQLite and on PostgreSQL; the test folds the same events in plain Rust
//! and compares every stage's figures with the projection's SQL answer —
//! now, over random periods, for random managers and as of random moments.
//! It also breaks the runner in the middle of the history (a projection
//! that fails after writing part of a batch) and checks nothing was
//! counted twice, and that a rebuild from position 0 gives identical tables.
//! The reports read from deal rows — the forecast, loss analysis and
//! forgotten deals — are compared the same way, now and as of random
//! moments (the deals as the events recorded by then leave them).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use sqlx::{Any, Row, Transaction};
use voronka_app::deals::{publications, DealService};
use voronka_app::reports::stage_infos;
use voronka_core::{Clock, Currency, ManualClock, Money, Position, RecordedEvent, Role};
use voronka_process::{ActorContext, DealCommand, DealId, FieldValue, RoleSet, UserId};
use voronka_projections::control;
use voronka_projections::deals::{DealsProjection, NOBODY};
use voronka_projections::forecast::{self, ForecastMonth, ForecastStage, LossLine};
use voronka_projections::funnel::{self, FlowScope, Period, Responsibles, StageKind};
use voronka_projections::time::{date_of_day, day_of, micros, MICROS_PER_DAY};
use voronka_projections::{
    runner, Projection, ProjectionError, ProjectionMetrics, Projections, ReadDb, Table,
};
use voronka_store::{EventStore, StoreMetrics};
use voronka_store_postgres::{PostgresOptions, PostgresStore, ScratchDatabase};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

const PROCESS: &str = r#"
process: oracle-funnel
version: 1
title: { ru: Оракул, en: Oracle }
dictionaries:
  loss_reason: [price, competitor, no_budget]
fields:
  loss_reason: { type: dictionary, dictionary: loss_reason, title: { ru: Причина, en: Reason } }
stages:
  - { id: new, title: { ru: Новая, en: New }, probability: 10 }
  - { id: talk, title: { ru: Разговор, en: Talk }, probability: 40 }
  - { id: offer, title: { ru: Предложение, en: Offer }, probability: 70 }
  - { id: won, title: { ru: Выиграна, en: Won }, probability: 100, terminal: true }
  - { id: lost, title: { ru: Проиграна, en: Lost }, probability: 0, terminal: true }
transitions:
  - { from: new, to: [talk, lost] }
  - { from: talk, to: [offer, new, lost] }
  - { from: offer, to: [won, talk, lost] }
"#;

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Backend {
    store: Arc<dyn EventStore>,
    read_db_url: String,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite(clock: Arc<dyn Clock>) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &SqliteLocation::from_path(dir.path().join("v.db")),
        SqliteOptions::new(clock),
    )
    .await
    .unwrap();
    Backend {
        store: Arc::new(store),
        read_db_url: format!("sqlite://{}", dir.path().join("v.reports.db").display()),
        _keep: Box::new(dir),
    }
}

async fn postgres(clock: Arc<dyn Clock>) -> Backend {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let scratch = ScratchDatabase::create(&server, "voronka_oracle")
        .await
        .expect("scratch database (run scripts/test, which starts PostgreSQL)");
    let store = PostgresStore::open(
        scratch.url(),
        PostgresOptions {
            clock,
            metrics: StoreMetrics::unregistered(),
            run_migrations: true,
        },
    )
    .await
    .unwrap();
    Backend {
        store: Arc::new(store),
        read_db_url: scratch.url().to_owned(),
        _keep: Box::new(scratch),
    }
}

/// Writes a random history of `steps` commands; returns the managers.
async fn random_history(
    store: &Arc<dyn EventStore>,
    clock: &Arc<ManualClock>,
    seed: u64,
    steps: usize,
) -> Vec<UserId> {
    let registry = Arc::new(publications::open_registry(store).await.unwrap());
    publications::publish_definition(
        store,
        &registry,
        "oracle.yaml",
        PROCESS,
        &voronka_core::Actor::system("test"),
    )
    .await
    .unwrap();
    let service = DealService::new(
        store.clone(),
        registry.clone(),
        clock.clone() as Arc<dyn Clock>,
    );
    let definition = registry.latest("oracle-funnel").unwrap();
    let managers: Vec<UserId> = (0..4)
        .map(|_| UserId::from_uuid(uuid::Uuid::now_v7()))
        .collect();
    let actor = ActorContext::user(
        managers[0],
        [Role::Director].into_iter().collect::<RoleSet>(),
    );
    let amount = definition.field_id("amount").unwrap();
    let responsible = definition.field_id("responsible").unwrap();
    let reason = definition.field_id("loss_reason").unwrap();
    let money = |minor: u64| FieldValue::Money(Money::new(minor as i64 * 100, Currency::RUB));
    let mut rng = Rng(seed);
    let mut open: Vec<(DealId, &'static str)> = Vec::new();
    for _ in 0..steps {
        clock.advance(Duration::minutes(rng.below(60 * 14) as i64));
        let roll = rng.below(100);
        if roll < 25 || open.is_empty() {
            let deal = DealId::from_uuid(uuid::Uuid::now_v7());
            let mut then = vec![DealCommand::SetField {
                field: amount,
                value: Some(money(1000 + rng.below(90_000))),
            }];
            if rng.below(10) > 0 {
                let who = managers[rng.below(managers.len() as u64) as usize];
                then.insert(
                    0,
                    DealCommand::SetField {
                        field: responsible,
                        value: Some(FieldValue::Reference(*who.as_uuid())),
                    },
                );
            }
            service
                .start_deal_with(definition.clone(), deal, &then, &actor, None)
                .await
                .unwrap();
            open.push((deal, "new"));
            continue;
        }
        let index = rng.below(open.len() as u64) as usize;
        let (deal, stage) = open[index];
        if roll < 75 {
            let choices: &[&'static str] = match stage {
                "new" => &["talk", "talk", "lost"],
                "talk" => &["offer", "offer", "new", "lost"],
                _ => &["won", "won", "talk", "lost"],
            };
            let to = choices[rng.below(choices.len() as u64) as usize];
            let mut commands = Vec::new();
            if to == "lost" {
                let reasons = ["price", "competitor", "no_budget"];
                commands.push(DealCommand::SetField {
                    field: reason,
                    value: definition
                        .field_value_from_json(reason, &reasons[rng.below(3) as usize].into())
                        .ok(),
                });
            }
            commands.push(DealCommand::MoveToStage {
                to: definition.stage_id(to).unwrap(),
            });
            service
                .execute_all(deal, &commands, None, &actor, None)
                .await
                .unwrap();
            if to == "won" || to == "lost" {
                open.swap_remove(index);
            } else {
                open[index].1 = to;
            }
        } else if roll < 88 {
            service
                .execute(
                    deal,
                    DealCommand::SetField {
                        field: amount,
                        value: Some(money(1000 + rng.below(90_000))),
                    },
                    &actor,
                    None,
                )
                .await
                .unwrap();
        } else {
            let who = managers[rng.below(managers.len() as u64) as usize];
            service
                .execute(
                    deal,
                    DealCommand::SetField {
                        field: responsible,
                        value: Some(FieldValue::Reference(*who.as_uuid())),
                    },
                    &actor,
                    None,
                )
                .await
                .unwrap();
        }
    }
    managers
}

/// One stage's figures as the oracle computes them.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    entered: i64,
    moved_on: i64,
    lost: i64,
    seconds: Vec<i64>,
    now: i64,
    now_amount: i64,
    reasons: BTreeMap<String, i64>,
}

/// The funnel folded in plain Rust from the raw events: entries count for
/// the responsible at the time (a new deal's first entry for its first
/// responsible), exits in the period by when they happened, holdings as of
/// `as_of` (recorded time), and losses by the stage lost from and reason.
fn oracle(
    events: &[RecordedEvent],
    scope: &FlowScope,
    lost_stages: &[&str],
) -> HashMap<String, Expected> {
    #[derive(Default, Clone)]
    struct Deal {
        stage: String,
        entered_at: i64,
        amount: i64,
        responsible: String,
        fields: BTreeMap<String, serde_json::Value>,
        moved: bool,
        previous: Option<String>,
        lost_at: Option<(i64, i64)>,
    }
    let covers = |who: &str| match &scope.responsibles {
        Responsibles::All => true,
        Responsibles::Only(list) => list.iter().any(|u| u == who),
    };
    let in_period = |at: i64| {
        scope
            .period
            .is_none_or(|p| (p.from_day..=p.to_day).contains(&day_of(at)))
    };
    let as_of = scope.as_of.unwrap_or(i64::MAX);
    let mut deals: HashMap<String, Deal> = HashMap::new();
    let mut out: HashMap<String, Expected> = HashMap::new();
    for event in events {
        if micros(event.recorded_at) > as_of {
            break;
        }
        let Some(id) = event.stream_id.as_str().strip_prefix("deal-") else {
            continue;
        };
        let payload: serde_json::Value = serde_json::from_str(event.payload.as_str()).unwrap();
        let at = micros(event.effective_time());
        match payload["type"].as_str().unwrap() {
            "deal_started" => {
                let deal = Deal {
                    stage: payload["stage"].as_str().unwrap().to_owned(),
                    entered_at: at,
                    responsible: NOBODY.to_owned(),
                    ..Deal::default()
                };
                if covers(NOBODY) && in_period(at) {
                    out.entry(deal.stage.clone()).or_default().entered += 1;
                }
                deals.insert(id.to_owned(), deal);
            }
            "deal_field_set" => {
                let deal = deals.get_mut(id).unwrap();
                let field = payload["field"].as_str().unwrap().to_owned();
                match &payload["value"] {
                    serde_json::Value::Null => {
                        deal.fields.remove(&field);
                    }
                    value => {
                        deal.fields.insert(field.clone(), value.clone());
                    }
                }
                if field == "amount" {
                    deal.amount = payload["value"]["minor"].as_i64().unwrap_or(0);
                }
                if field == "responsible" {
                    let new = payload["value"].as_str().unwrap_or("").to_owned();
                    if new != deal.responsible && deal.responsible == NOBODY && !deal.moved {
                        // The first entry moves to the first responsible.
                        let stage = out.entry(deal.stage.clone()).or_default();
                        if in_period(at) {
                            stage.entered -= i64::from(covers(NOBODY));
                            stage.entered += i64::from(covers(&new));
                        }
                    }
                    deal.responsible = new;
                }
            }
            "deal_stage_changed" => {
                let deal = deals.get_mut(id).unwrap();
                let to = payload["to"].as_str().unwrap().to_owned();
                if covers(&deal.responsible) && in_period(at) {
                    let from = out.entry(deal.stage.clone()).or_default();
                    if lost_stages.contains(&to.as_str()) {
                        from.lost += 1;
                    } else {
                        from.moved_on += 1;
                    }
                    from.seconds.push((at - deal.entered_at) / 1_000_000);
                    out.entry(to.clone()).or_default().entered += 1;
                }
                deal.previous = Some(std::mem::replace(&mut deal.stage, to));
                deal.entered_at = at;
                deal.moved = true;
                if lost_stages.contains(&deal.stage.as_str()) {
                    deal.lost_at = Some((at, micros(event.recorded_at)));
                }
            }
            _ => {}
        }
    }
    for deal in deals.values() {
        if !covers(&deal.responsible) {
            continue;
        }
        let stage = out.entry(deal.stage.clone()).or_default();
        stage.now += 1;
        stage.now_amount += deal.amount;
        if let Some((at, _)) = deal.lost_at {
            if in_period(at) {
                let reason = deal
                    .fields
                    .get("loss_reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                *out.entry(deal.previous.clone().unwrap_or_default())
                    .or_default()
                    .reasons
                    .entry(reason)
                    .or_default() += 1;
            }
        }
    }
    out
}

async fn compare(db: &ReadDb, events: &[RecordedEvent], scope: &FlowScope, label: &str) {
    let definition_stages = [
        ("new", StageKind::Open),
        ("talk", StageKind::Open),
        ("offer", StageKind::Open),
        ("won", StageKind::Won),
        ("lost", StageKind::Lost),
    ];
    let stages: Vec<funnel::StageInfo> = definition_stages
        .iter()
        .map(|(name, kind)| funnel::StageInfo {
            name: (*name).to_owned(),
            kind: *kind,
        })
        .collect();
    let expected = oracle(events, scope, &["lost"]);
    let actual = funnel::funnel(db, scope, &stages).await.unwrap();
    for stage in &actual {
        let mut want = expected.get(&stage.stage).cloned().unwrap_or_default();
        want.seconds.sort_unstable();
        let context = format!("{label}: stage {} ({scope:?})", stage.stage);
        assert_eq!(stage.entered, want.entered, "entered, {context}");
        assert_eq!(stage.moved_on, want.moved_on, "moved on, {context}");
        assert_eq!(stage.lost, want.lost, "lost, {context}");
        assert_eq!(stage.now, want.now, "now, {context}");
        assert_eq!(stage.now_amount_minor, want.now_amount, "amount, {context}");
        let exits = want.seconds.len() as i64;
        let average = (exits > 0).then(|| want.seconds.iter().sum::<i64>() / exits);
        assert_eq!(stage.average_seconds, average, "average, {context}");
        let median = (exits > 0).then(|| want.seconds[((exits - 1) / 2) as usize]);
        assert_eq!(stage.median_seconds, median, "median, {context}");
        let reasons: BTreeMap<String, i64> = stage
            .lost_reasons
            .iter()
            .map(|r| (r.reason.clone(), r.deals))
            .collect();
        assert_eq!(reasons, want.reasons, "loss reasons, {context}");
    }
}

/// A deal's row as the oracle folds it for the row reports.
#[derive(Debug, Default, Clone)]
struct DealRow {
    stage: String,
    previous: String,
    entered_at: i64,
    amount: i64,
    responsible: String,
    loss_reason: String,
    last_touch: i64,
}

/// Every deal as the events recorded up to `as_of` leave it.
fn deals_as_of(events: &[RecordedEvent], as_of: Option<i64>) -> BTreeMap<String, DealRow> {
    let mut deals: BTreeMap<String, DealRow> = BTreeMap::new();
    for event in events {
        if as_of.is_some_and(|t| micros(event.recorded_at) > t) {
            break;
        }
        let Some(id) = event.stream_id.as_str().strip_prefix("deal-") else {
            continue;
        };
        let payload: serde_json::Value = serde_json::from_str(event.payload.as_str()).unwrap();
        let at = micros(event.effective_time());
        let kind = payload["type"].as_str().unwrap();
        if kind == "deal_started" {
            deals.insert(
                id.to_owned(),
                DealRow {
                    stage: payload["stage"].as_str().unwrap().to_owned(),
                    entered_at: at,
                    last_touch: at,
                    ..DealRow::default()
                },
            );
            continue;
        }
        let deal = deals.get_mut(id).unwrap();
        if !matches!(kind, "deal_sla_breached" | "deal_automation_fired") {
            deal.last_touch = deal.last_touch.max(at);
        }
        match kind {
            "deal_field_set" => {
                let value = &payload["value"];
                match payload["field"].as_str().unwrap() {
                    "amount" => deal.amount = value["minor"].as_i64().unwrap_or(0),
                    "responsible" => deal.responsible = value.as_str().unwrap_or("").to_owned(),
                    "loss_reason" => deal.loss_reason = value.as_str().unwrap_or("").to_owned(),
                    _ => {}
                }
            }
            "deal_stage_changed" => {
                let to = payload["to"].as_str().unwrap().to_owned();
                deal.previous = std::mem::replace(&mut deal.stage, to);
                deal.entered_at = at;
            }
            _ => {}
        }
    }
    deals
}

/// The forecast, loss analysis and forgotten deals against the oracle's
/// rows, for the scope's reach, period and moment.
async fn compare_rows(db: &ReadDb, events: &[RecordedEvent], scope: &FlowScope, label: &str) {
    let deals = deals_as_of(events, scope.as_of);
    let covers = |who: &str| match &scope.responsibles {
        Responsibles::All => true,
        Responsibles::Only(list) => list.iter().any(|u| u == who),
    };
    let period = scope.period.map(|p| (p.from_day, p.to_day));
    let in_period = |at: i64| period.is_none_or(|(a, b)| (a..=b).contains(&day_of(at)));
    let month = |at: i64| {
        let date = date_of_day(day_of(at));
        format!("{}", date.format("%Y-%m"))
    };
    let context = format!("{label} ({scope:?})");

    // Forecast: open deals have no expected close date here (month "").
    let probabilities = [("new", 10), ("talk", 40), ("offer", 70)];
    let mut months: BTreeMap<String, ForecastMonth> = BTreeMap::new();
    for deal in deals.values().filter(|d| covers(&d.responsible)) {
        if let Some((_, p)) = probabilities.iter().find(|(s, _)| *s == deal.stage) {
            let m = months.entry(String::new()).or_default();
            m.open_deals += 1;
            m.open_amount_minor += deal.amount;
            m.weighted_amount_minor += deal.amount * p / 100;
        } else if in_period(deal.entered_at) {
            let key = month(deal.entered_at);
            let m = months.entry(key.clone()).or_default();
            m.month = key;
            if deal.stage == "won" {
                m.won_deals += 1;
                m.won_amount_minor += deal.amount;
            } else {
                m.lost_deals += 1;
                m.lost_amount_minor += deal.amount;
            }
        }
    }
    let stages: Vec<ForecastStage> = [
        ("new", StageKind::Open, 10),
        ("talk", StageKind::Open, 40),
        ("offer", StageKind::Open, 70),
        ("won", StageKind::Won, 100),
        ("lost", StageKind::Lost, 0),
    ]
    .into_iter()
    .map(|(name, kind, probability)| ForecastStage {
        name: name.to_owned(),
        kind,
        probability,
    })
    .collect();
    let actual = forecast::forecast(
        db,
        &scope.process,
        &stages,
        &scope.responsibles,
        period,
        scope.as_of,
    )
    .await
    .unwrap();
    let expected: Vec<ForecastMonth> = months.into_values().collect();
    assert_eq!(actual, expected, "forecast, {context}");

    // Loss analysis: lost deals by the stage lost from and reason.
    let mut lines: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for deal in deals.values() {
        if deal.stage == "lost" && covers(&deal.responsible) && in_period(deal.entered_at) {
            let line = lines
                .entry((deal.previous.clone(), deal.loss_reason.clone()))
                .or_default();
            line.0 += 1;
            line.1 += deal.amount;
        }
    }
    let mut expected: Vec<LossLine> = lines
        .into_iter()
        .map(|((stage, reason), (deals, amount_minor))| LossLine {
            stage,
            reason,
            competitor: String::new(),
            deals,
            amount_minor,
        })
        .collect();
    expected.sort_by(|a, b| {
        b.deals
            .cmp(&a.deals)
            .then((&a.stage, &a.reason).cmp(&(&b.stage, &b.reason)))
    });
    let actual = forecast::losses(
        db,
        &scope.process,
        &["lost".to_owned()],
        &scope.responsibles,
        period,
        scope.as_of,
    )
    .await
    .unwrap();
    assert_eq!(actual, expected, "losses, {context}");

    // Forgotten deals: open, untouched for a day before the moment.
    let now = scope
        .as_of
        .unwrap_or_else(|| micros(events.last().unwrap().recorded_at));
    let before = now - MICROS_PER_DAY;
    let mut forgotten: Vec<(i64, &String, &DealRow)> = deals
        .iter()
        .filter(|(_, d)| {
            covers(&d.responsible)
                && probabilities.iter().any(|(s, _)| *s == d.stage)
                && d.last_touch < before
        })
        .map(|(id, d)| (d.last_touch, id, d))
        .collect();
    forgotten.sort_by_key(|(touch, id, _)| (*touch, (*id).clone()));
    let open: Vec<String> = ["new", "talk", "offer"].map(str::to_owned).to_vec();
    let (total, list) = control::forgotten_deals(
        db,
        &scope.process,
        &open,
        &scope.responsibles,
        1,
        now,
        scope.as_of,
        20,
    )
    .await
    .unwrap();
    assert_eq!(total, forgotten.len() as i64, "forgotten total, {context}");
    let want: Vec<(String, String, String, i64, i64)> = forgotten
        .iter()
        .take(20)
        .map(|(touch, id, d)| {
            (
                (*id).clone(),
                d.stage.clone(),
                d.responsible.clone(),
                *touch,
                d.amount,
            )
        })
        .collect();
    let got: Vec<(String, String, String, i64, i64)> = list
        .into_iter()
        .map(|f| {
            (
                f.deal_id,
                f.stage,
                f.responsible,
                f.last_touch_at,
                f.amount_minor.unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(got, want, "forgotten deals, {context}");
}

async fn all_events(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    let mut after = Position::START;
    loop {
        let batch = store.read_all(after, 5_000).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        events.extend(batch);
    }
    events
}

/// Every row of the deals projection's tables, in a stable order. The
/// journal is compared per change (deal, stage, responsible, next stage,
/// moment), and all-zero sums are left out: batch boundaries decide whether
/// a deal's start and its first responsible share a journal row, and whether
/// a sum that nets to zero leaves a row behind.
async fn dump(db: &ReadDb) -> Vec<String> {
    const FIGURES: &str = "entered, exited, seconds, held, amount, entered_amount";
    const NONZERO: &str = "NOT (entered = 0 AND exited = 0 AND seconds = 0 AND held = 0 \
                           AND amount = 0 AND entered_amount = 0)";
    let queries = [
        "SELECT deal_id, stage, responsible, fields, version, last_touch_at, stage_entered_at \
         FROM rm_deals ORDER BY deal_id"
            .to_owned(),
        "SELECT deal_id, valid_from, valid_to, stage, COALESCE(previous_stage, ''), responsible, \
         COALESCE(amount, -1), fields, version, last_touch_at FROM rm_deals_history \
         ORDER BY deal_id, valid_from"
            .to_owned(),
        format!(
            "SELECT * FROM (SELECT deal_id, stage, responsible, next_stage, at, \
             CAST(SUM(entered) AS BIGINT) AS entered, CAST(SUM(exited) AS BIGINT) AS exited, \
             CAST(SUM(seconds) AS BIGINT) AS seconds, CAST(SUM(held) AS BIGINT) AS held, \
             CAST(SUM(amount) AS BIGINT) AS amount, \
             CAST(SUM(entered_amount) AS BIGINT) AS entered_amount \
             FROM rm_flow_journal GROUP BY deal_id, stage, responsible, next_stage, at) AS j \
             WHERE {NONZERO} ORDER BY deal_id, at, stage, responsible, next_stage"
        ),
        format!(
            "SELECT process, stage, responsible, next_stage, day, rec_day, {FIGURES} \
             FROM rm_flow_daily WHERE {NONZERO} \
             ORDER BY process, rec_day, day, stage, responsible, next_stage"
        ),
        format!(
            "SELECT process, stage, responsible, next_stage, {FIGURES} FROM rm_flow_totals \
             WHERE {NONZERO} ORDER BY process, stage, responsible, next_stage"
        ),
    ];
    let mut rows = Vec::new();
    for (table, sql) in queries.iter().enumerate() {
        for row in sqlx::query(sql).fetch_all(db.pool()).await.unwrap() {
            let mut text = table.to_string();
            for i in 0..row.len() {
                text.push('|');
                match row.try_get::<String, _>(i) {
                    Ok(value) => text.push_str(&value),
                    Err(_) => text.push_str(&row.get::<i64, _>(i).to_string()),
                }
            }
            rows.push(text);
        }
    }
    rows
}

/// The deals projection, failing every `every`-th batch after writing it
/// (but before the checkpoint): what a crash mid-batch leaves behind.
struct Flaky {
    inner: DealsProjection,
    calls: u64,
    every: u64,
}

#[async_trait]
impl Projection for Flaky {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn version(&self) -> u32 {
        self.inner.version()
    }
    fn tables(&self) -> &'static [Table] {
        self.inner.tables()
    }
    fn reset(&mut self) {
        self.inner.reset()
    }
    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        self.inner.load(db).await
    }
    async fn apply(
        &mut self,
        db: &ReadDb,
        events: &[RecordedEvent],
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), ProjectionError> {
        self.inner.apply(db, events, tx).await?;
        self.calls += 1;
        if self.calls.is_multiple_of(self.every) {
            return Err(ProjectionError::Stopped);
        }
        Ok(())
    }
}

async fn oracle_on(backend: Backend, clock: Arc<ManualClock>, seed: u64) {
    let store = backend.store.clone();
    let managers = random_history(&store, &clock, seed, 900).await;
    let events = all_events(store.as_ref()).await;
    let head = events.last().unwrap().position;

    // Followed live, by a runner that fails every third batch of 97 events.
    let db = ReadDb::open(&backend.read_db_url).await.unwrap();
    let flaky = Flaky {
        inner: DealsProjection::new(),
        calls: 0,
        every: 3,
    };
    let running = Projections::start_with_batch(
        store.clone(),
        db.clone(),
        vec![Box::new(flaky)],
        ProjectionMetrics::unregistered(),
        97,
    )
    .await
    .unwrap();
    running
        .wait_for(&["deals"], head, std::time::Duration::from_secs(120))
        .await
        .expect("the runner reaches the head despite failing batches");
    running.stop().await;
    let followed = dump(&db).await;

    // Nothing double-counted: the same as a clean rebuild from 0.
    let mut fresh = DealsProjection::new();
    let report = runner::rebuild(store.as_ref(), &db, &mut fresh)
        .await
        .unwrap();
    assert_eq!(report.position, head);
    assert_eq!(
        dump(&db).await,
        followed,
        "rebuild differs from the followed tables"
    );

    // The funnel against the oracle.
    let first = micros(events.first().unwrap().recorded_at);
    let last = micros(events.last().unwrap().recorded_at);
    let process = "oracle-funnel".to_owned();
    let mut scopes = vec![FlowScope {
        process: process.clone(),
        responsibles: Responsibles::All,
        period: None,
        as_of: None,
    }];
    let mut rng = Rng(seed ^ 0x9e37_79b9);
    for i in 0..12 {
        let as_of = (i % 3 != 0).then(|| first + (rng.below((last - first) as u64) as i64));
        let period = (i % 2 == 0).then(|| {
            let a = day_of(first) + rng.below(20) as i64;
            Period {
                from_day: a,
                to_day: a + rng.below(25) as i64,
            }
        });
        let responsibles = match i % 4 {
            0 => Responsibles::All,
            1 => Responsibles::Only(vec![managers[rng.below(4) as usize].to_string()]),
            2 => Responsibles::Only(vec![
                managers[0].to_string(),
                managers[1].to_string(),
                NOBODY.to_owned(),
            ]),
            _ => Responsibles::Only(Vec::new()),
        };
        scopes.push(FlowScope {
            process: process.clone(),
            responsibles,
            period,
            as_of,
        });
    }
    for (i, scope) in scopes.iter().enumerate() {
        compare(&db, &events, scope, &format!("scope {i}")).await;
        compare_rows(&db, &events, scope, &format!("scope {i}")).await;
    }
    // More moments for the row reports: they read versions, not sums.
    for i in 0..20 {
        let scope = FlowScope {
            as_of: Some(first + (rng.below((last - first) as u64) as i64)),
            responsibles: if i % 2 == 0 {
                Responsibles::All
            } else {
                Responsibles::Only(vec![managers[i % 4].to_string()])
            },
            ..scopes[0].clone()
        };
        compare_rows(&db, &events, &scope, &format!("moment {i}")).await;
    }
    // An as_of at the very end equals now.
    let at_end = FlowScope {
        as_of: Some(last),
        ..scopes[0].clone()
    };
    compare(&db, &events, &at_end, "as of the last event").await;
    compare_rows(&db, &events, &at_end, "as of the last event").await;
    db.close().await;
    store.close().await;
}

fn start_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funnel_matches_the_oracle_on_sqlite() {
    let clock = start_clock();
    let backend = sqlite(clock.clone()).await;
    oracle_on(backend, clock, 0x5eed_0001).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funnel_matches_the_oracle_on_postgres() {
    let clock = start_clock();
    let backend = postgres(clock.clone()).await;
    oracle_on(backend, clock, 0x5eed_0002).await;
}

#[test]
fn stage_kinds_come_from_the_definition() {
    let registry = voronka_app::deals::ProcessRegistry::new();
    registry.publish("oracle.yaml", PROCESS).unwrap();
    let process = registry.latest("oracle-funnel").unwrap();
    let kinds: Vec<StageKind> = stage_infos(&process).iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StageKind::Open,
            StageKind::Open,
            StageKind::Open,
            StageKind::Won,
            StageKind::Lost
        ]
    );
}
