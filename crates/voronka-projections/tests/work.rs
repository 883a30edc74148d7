//! The `work` projection and the reports on it against an oracle: random
//! histories of activities, documents, contacts, plans and deals are
//! appended to a real store (SQLite and PostgreSQL) while the projections
//! follow the log; every count is then computed again here by folding the
//! events in plain Rust and compared with the SQL answer, over random
//! periods and `as_of` moments. A rebuild from position 0 must give the
//! same tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;
use voronka_core::time::ManualClock;
use voronka_core::{
    Actor, Clock, Currency, EventData, EventMetadata, ExpectedVersion, Money, Position,
    RecordedEvent, StreamId, Timestamp,
};
use voronka_crm::activity::{Activity, ActivityData, ActivityEvent, Direction};
use voronka_crm::contact::Contact;
use voronka_crm::document::{Document, DocumentEvent, DocumentStatus, Totals};
use voronka_crm::plan::{PeriodKind, Plan, PlanEvent, PlanMetric, PlanPeriod, PlanScope};
use voronka_crm::{encode_event, Aggregate};
use voronka_process::{
    ActivityId, ActivityKind, ContentHash, DealId, DocumentId, DocumentKind, ProcessIdentity,
    StoredDealEvent, UserId,
};
use voronka_projections::control::{planned_due, workload};
use voronka_projections::deals::DealsProjection;
use voronka_projections::forecast::{forecast, ForecastStage};
use voronka_projections::funnel::{Responsibles, StageKind};
use voronka_projections::plan_vs_fact::{metric_facts, plans, FactScope};
use voronka_projections::runner::{self, Projections};
use voronka_projections::time::{day_number, day_of, micros, whole_months, MICROS_PER_DAY};
use voronka_projections::work::{WorkProjection, REACHED_OUTCOMES};
use voronka_projections::{Projection, ProjectionMetrics, ReadDb};
use voronka_store::{EventStore, StoreMetrics};

/// splitmix64: deterministic, so a failure reproduces with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const PROCESS: &str = "p";
const OPEN_STAGES: [&str; 2] = ["new", "qualified"];

struct Env {
    store: Arc<dyn EventStore>,
    clock: Arc<ManualClock>,
    db: ReadDb,
    /// A second read-model database for the rebuild.
    rebuild_db: ReadDb,
    _keep: Box<dyn std::any::Any + Send>,
}

fn start_time() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 26, 8, 0, 0).unwrap()
}

async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let location = voronka_store_sqlite::SqliteLocation::from_path(dir.path().join("s.db"));
    let store = voronka_store_sqlite::SqliteStore::open(
        &location,
        voronka_store_sqlite::SqliteOptions::new(clock.clone() as Arc<dyn Clock>),
    )
    .await
    .unwrap();
    let db = ReadDb::open(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    let rebuild_db = ReadDb::open(&format!("sqlite://{}", dir.path().join("r2.db").display()))
        .await
        .unwrap();
    Env {
        store: Arc::new(store),
        clock,
        db,
        rebuild_db,
        _keep: Box::new(dir),
    }
}

async fn postgres_env() -> Env {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let database = voronka_store_postgres::ScratchDatabase::create(&server, "voronka_work")
        .await
        .expect("PostgreSQL is needed for this test: set DATABASE_URL or run scripts/test");
    let second = voronka_store_postgres::ScratchDatabase::create(&server, "voronka_work_rb")
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = voronka_store_postgres::PostgresStore::open(
        database.url(),
        voronka_store_postgres::PostgresOptions {
            clock: clock.clone() as Arc<dyn Clock>,
            metrics: StoreMetrics::unregistered(),
            run_migrations: true,
        },
    )
    .await
    .unwrap();
    let db = ReadDb::open(database.url()).await.unwrap();
    let rebuild_db = ReadDb::open(second.url()).await.unwrap();
    Env {
        store: Arc::new(store),
        clock,
        db,
        rebuild_db,
        _keep: Box::new((database, second)),
    }
}

fn uuid(rng: &mut Rng) -> uuid::Uuid {
    uuid::Uuid::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next()))
}

/// Appends random histories; returns nothing: the oracle reads the log.
struct Generator {
    rng: Rng,
    users: Vec<UserId>,
    /// Planned activities (id, kind).
    open: Vec<(ActivityId, ActivityKind, u32)>,
    all_activities: Vec<ActivityId>,
    documents: Vec<(DocumentId, DocumentKind, DocumentStatus, i64)>,
    deals: Vec<(DealId, &'static str)>,
    plans: HashMap<(uuid::Uuid, NaiveDate), (uuid::Uuid, BTreeMap<PlanMetric, i64>)>,
}

impl Generator {
    async fn append(&self, env: &Env, stream: String, data: Vec<EventData>) {
        let stream = StreamId::new(stream).unwrap();
        env.store
            .append(
                &stream,
                ExpectedVersion::Any,
                data,
                EventMetadata::by(Actor::user("test")),
            )
            .await
            .unwrap();
    }

    async fn activity(
        &self,
        env: &Env,
        id: ActivityId,
        event: ActivityEvent,
        occurred: Option<Timestamp>,
    ) {
        let mut data = encode_event::<Activity>(&event).unwrap();
        data.occurred_at = occurred;
        self.append(env, format!("activity-{id}"), vec![data]).await;
    }

    async fn step(&mut self, env: &Env) {
        let hours = self.rng.below(7) as i64;
        env.clock.advance(chrono::Duration::minutes(
            hours * 60 + self.rng.below(60) as i64,
        ));
        let now = env.clock.now();
        let user = *self.rng.pick(&self.users);
        match self.rng.below(12) {
            0 | 1 => {
                // Plan an activity.
                let id = ActivityId::from_uuid(uuid(&mut self.rng));
                let kind = *self.rng.pick(&[
                    ActivityKind::Call,
                    ActivityKind::Meeting,
                    ActivityKind::Task,
                ]);
                let due = now + chrono::Duration::hours(self.rng.below(96) as i64 - 24);
                let data = activity_data(id, kind, user, Some(due), self.rng.below(2) == 0);
                self.activity(env, id, ActivityEvent::ActivityPlanned { data }, None)
                    .await;
                self.open.push((id, kind, 0));
                self.all_activities.push(id);
            }
            2 | 3 => {
                // Log a call (sometimes backdated).
                let id = ActivityId::from_uuid(uuid(&mut self.rng));
                let outcome = *self.rng.pick(&[
                    "reached",
                    "no_answer",
                    "callback",
                    "wrong_number",
                    "not_interested",
                ]);
                let data =
                    activity_data(id, ActivityKind::Call, user, None, self.rng.below(3) != 0);
                let occurred = (self.rng.below(3) == 0)
                    .then(|| now - chrono::Duration::hours(self.rng.below(30) as i64));
                let event = ActivityEvent::ActivityLogged {
                    data,
                    outcome: Some(outcome.into()),
                    result: None,
                    completed_at: occurred.unwrap_or(now),
                };
                self.activity(env, id, event, occurred).await;
                self.all_activities.push(id);
            }
            4 if !self.open.is_empty() => {
                let i = self.rng.below(self.open.len() as u64) as usize;
                let (id, kind, _) = self.open.swap_remove(i);
                let outcome = match kind {
                    ActivityKind::Call => {
                        Some((*self.rng.pick(&["reached", "no_answer", "callback"])).to_owned())
                    }
                    _ => None,
                };
                let event = if self.rng.below(4) == 0 {
                    ActivityEvent::ActivityCancelled {
                        reason: None,
                        cancelled_at: now,
                    }
                } else {
                    ActivityEvent::ActivityCompleted {
                        outcome,
                        result: Some("ok".into()),
                        completed_at: now,
                    }
                };
                self.activity(env, id, event, None).await;
            }
            5 if !self.open.is_empty() => {
                let i = self.rng.below(self.open.len() as u64) as usize;
                self.open[i].2 += 1;
                let (id, _, count) = self.open[i];
                let event = ActivityEvent::ActivityRescheduled {
                    from_due: None,
                    to_due: now + chrono::Duration::hours(self.rng.below(72) as i64),
                    from_start: None,
                    to_start: None,
                    reschedule_count: count,
                };
                self.activity(env, id, event, None).await;
            }
            6 if !self.all_activities.is_empty() => {
                let id = *self.rng.pick(&self.all_activities);
                let event = ActivityEvent::ActivityReassigned {
                    from: user,
                    to: *self.rng.pick(&self.users),
                };
                self.activity(env, id, event, None).await;
            }
            7 if !self.deals.is_empty() => {
                let deal = self.rng.pick(&self.deals).0;
                let id = DocumentId::from_uuid(uuid(&mut self.rng));
                let kind = *self
                    .rng
                    .pick(&[DocumentKind::Proposal, DocumentKind::Invoice]);
                let gross = 1000 + self.rng.below(100_000) as i64;
                let money = |m| Money::new(m, Currency::RUB);
                let event = DocumentEvent::DocumentCreated {
                    id,
                    kind,
                    deal,
                    number: format!("D-{}", self.documents.len()),
                    title: None,
                    currency: Currency::RUB,
                    lines: Vec::new(),
                    totals: Totals {
                        net: money(gross),
                        vat: money(0),
                        gross: money(gross),
                    },
                    responsible: user,
                    created_by: user,
                };
                let data = encode_event::<Document>(&event).unwrap();
                self.append(env, format!("document-{id}"), vec![data]).await;
                self.documents
                    .push((id, kind, DocumentStatus::Draft, gross));
            }
            8 if !self.documents.is_empty() => {
                let i = self.rng.below(self.documents.len() as u64) as usize;
                let (id, kind, status, gross) = self.documents[i];
                let event = match (kind, status) {
                    (DocumentKind::Proposal, DocumentStatus::Draft) => {
                        self.documents[i].2 = DocumentStatus::Sent;
                        DocumentEvent::DocumentStatusChanged {
                            from: status,
                            to: DocumentStatus::Sent,
                        }
                    }
                    (DocumentKind::Invoice, DocumentStatus::Draft) => {
                        self.documents[i].2 = DocumentStatus::Issued;
                        DocumentEvent::DocumentStatusChanged {
                            from: status,
                            to: DocumentStatus::Issued,
                        }
                    }
                    (DocumentKind::Invoice, DocumentStatus::Issued) => {
                        DocumentEvent::DocumentPaymentRegistered {
                            payment_id: uuid(&mut self.rng),
                            amount: Money::new(gross / 2, Currency::RUB),
                            paid_on: now.date_naive(),
                            reference: None,
                            paid_total: Money::new(gross / 2, Currency::RUB),
                        }
                    }
                    _ => DocumentEvent::DocumentReassigned {
                        from: user,
                        to: *self.rng.pick(&self.users),
                    },
                };
                let data = encode_event::<Document>(&event).unwrap();
                self.append(env, format!("document-{id}"), vec![data]).await;
            }
            9 => {
                let id = uuid(&mut self.rng);
                let payload = json!({
                    "type": "contact_created", "id": id, "surname": "Иванов", "name": "Пётр",
                    "responsible": user,
                });
                let data = EventData::new(
                    "contact_created",
                    voronka_core::Payload::from_value(&payload).unwrap(),
                );
                self.append(env, format!("{}-{id}", Contact::CATEGORY), vec![data])
                    .await;
            }
            10 => {
                // A deal: start, or move one on.
                if self.deals.is_empty() || self.rng.below(2) == 0 {
                    let id = DealId::from_uuid(uuid(&mut self.rng));
                    let process = ProcessIdentity {
                        name: PROCESS.into(),
                        version: 1,
                        hash: ContentHash([0; 32]),
                    };
                    let events = [
                        StoredDealEvent::DealStarted {
                            deal: id,
                            process,
                            stage: "new".into(),
                            at: now,
                        },
                        StoredDealEvent::DealFieldSet {
                            field: "responsible".into(),
                            value: Some(json!(user)),
                            at: now,
                        },
                        StoredDealEvent::DealFieldSet {
                            field: "amount".into(),
                            value: Some(
                                json!({"minor": 100 * self.rng.below(1000) as i64, "currency": "RUB"}),
                            ),
                            at: now,
                        },
                    ];
                    let data = events.iter().map(|e| e.to_event_data().unwrap()).collect();
                    self.append(env, format!("deal-{id}"), data).await;
                    self.deals.push((id, "new"));
                } else {
                    let i = self.rng.below(self.deals.len() as u64) as usize;
                    let (id, from) = self.deals[i];
                    let event = if OPEN_STAGES.contains(&from) {
                        let to = *self.rng.pick(&["qualified", "won", "lost"]);
                        self.deals[i].1 = to;
                        StoredDealEvent::DealStageChanged {
                            from: from.into(),
                            to: to.into(),
                            at: now,
                        }
                    } else {
                        StoredDealEvent::DealFieldSet {
                            field: "responsible".into(),
                            value: Some(json!(user)),
                            at: now,
                        }
                    };
                    self.append(
                        env,
                        format!("deal-{id}"),
                        vec![event.to_event_data().unwrap()],
                    )
                    .await;
                }
            }
            _ => {
                // Set (part of) a plan for this month.
                let period = PlanPeriod::containing(PeriodKind::Month, now.date_naive());
                let key = (*user.as_uuid(), period.start);
                let fresh = uuid(&mut self.rng);
                let (plan_id, targets) = self.plans.entry(key).or_insert((fresh, BTreeMap::new()));
                let plan_id = *plan_id;
                let metric = *self.rng.pick(&PlanMetric::ALL);
                if self.rng.below(4) == 0 {
                    targets.remove(&metric);
                } else {
                    targets.insert(metric, self.rng.below(50) as i64);
                }
                let event = PlanEvent::PlanTargetsSet {
                    scope: PlanScope::Manager(key.0),
                    period,
                    targets: targets.clone(),
                    set_by: user,
                };
                let data = encode_event::<Plan>(&event).unwrap();
                self.append(env, format!("plan-{plan_id}"), vec![data])
                    .await;
            }
        }
    }
}

fn activity_data(
    id: ActivityId,
    kind: ActivityKind,
    user: UserId,
    due: Option<Timestamp>,
    outgoing: bool,
) -> ActivityData {
    ActivityData {
        id,
        kind,
        direction: (kind == ActivityKind::Call).then_some(if outgoing {
            Direction::Outgoing
        } else {
            Direction::Incoming
        }),
        channel: None,
        subject: Some("s".into()),
        planned_start: None,
        due_at: due,
        responsible: user,
        deal: None,
        contact: None,
        company: None,
        created_by: user,
    }
}

/// One counted fact as the oracle sees it.
#[derive(Debug, Clone)]
struct OracleFact {
    metric: PlanMetric,
    user: String,
    at: i64,
    rec_at: i64,
    value: i64,
}

/// Everything the oracle folds from the log, in plain Rust.
#[derive(Default)]
struct Oracle {
    facts: Vec<OracleFact>,
    /// Activity id -> (kind, outgoing, responsible, planned, due).
    activities: HashMap<String, (String, bool, String, bool, Option<i64>)>,
    documents: HashMap<String, (String, String, i64)>,
    /// Deal -> (responsible, stage, amount).
    deals: HashMap<String, (String, String, i64)>,
    /// (plan stream, period start, rec_at, targets after).
    plan_changes: Vec<(String, String, i64, BTreeMap<PlanMetric, i64>)>,
}

impl Oracle {
    fn fact(&mut self, metric: PlanMetric, user: &str, e: &RecordedEvent, value: i64) {
        self.facts.push(OracleFact {
            metric,
            user: user.to_owned(),
            at: micros(e.effective_time()),
            rec_at: micros(e.recorded_at),
            value,
        });
    }

    fn fold(&mut self, e: &RecordedEvent) {
        let (category, id) = e.stream_id.as_str().split_once('-').unwrap();
        let v: serde_json::Value = serde_json::from_str(e.payload.as_str()).unwrap();
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        match (category, e.event_type.as_str()) {
            ("activity", "activity_planned" | "activity_logged") => {
                let outgoing = text("direction") == "outgoing";
                let due = v["due_at"].as_str().map(|s| {
                    micros(
                        chrono::DateTime::parse_from_rfc3339(s)
                            .unwrap()
                            .with_timezone(&Utc),
                    )
                });
                let done = e.event_type == "activity_logged";
                self.activities.insert(
                    id.into(),
                    (text("kind"), outgoing, text("responsible"), !done, due),
                );
                if done {
                    self.completed(id, &text("outcome"), e);
                }
            }
            ("activity", "activity_completed") => {
                self.activities.get_mut(id).unwrap().3 = false;
                self.completed(id, &text("outcome"), e);
            }
            ("activity", "activity_cancelled") => self.activities.get_mut(id).unwrap().3 = false,
            ("activity", "activity_rescheduled") => {
                let a = self.activities.get_mut(id).unwrap();
                a.4 = Some(micros(
                    chrono::DateTime::parse_from_rfc3339(v["to_due"].as_str().unwrap())
                        .unwrap()
                        .with_timezone(&Utc),
                ));
            }
            ("activity", "activity_reassigned") => {
                self.activities.get_mut(id).unwrap().2 = text("to")
            }
            ("document", "document_created") => {
                let gross = v["totals"]["gross"]["minor"].as_i64().unwrap();
                self.documents
                    .insert(id.into(), (text("kind"), text("responsible"), gross));
            }
            ("document", "document_status_changed") => {
                let (kind, user, gross) = self.documents[id].clone();
                match (kind.as_str(), text("to").as_str()) {
                    ("proposal", "sent") => self.fact(PlanMetric::ProposalsSent, &user, e, 1),
                    ("invoice", "issued") => self.fact(PlanMetric::InvoicesIssued, &user, e, 1),
                    _ => {}
                }
                let _ = gross;
            }
            ("document", "document_reassigned") => {
                self.documents.get_mut(id).unwrap().1 = text("to")
            }
            ("contact", "contact_created") => {
                self.fact(PlanMetric::NewContacts, &text("responsible"), e, 1)
            }
            ("deal", "deal_started") => {
                self.deals
                    .insert(id.into(), (String::new(), text("stage"), 0));
            }
            ("deal", "deal_field_set") => {
                let deal = self.deals.get_mut(id).unwrap();
                match text("field").as_str() {
                    "responsible" => deal.0 = v["value"].as_str().unwrap().to_owned(),
                    "amount" => deal.2 = v["value"]["minor"].as_i64().unwrap(),
                    _ => {}
                }
            }
            ("deal", "deal_stage_changed") => {
                let (user, _, amount) = self.deals[id].clone();
                let to = text("to");
                if to == "won" {
                    self.fact(PlanMetric::DealsWon, &user, e, 1);
                    self.fact(PlanMetric::RevenueWon, &user, e, amount);
                }
                self.deals.get_mut(id).unwrap().1 = to;
            }
            ("plan", "plan_targets_set") => {
                let targets: BTreeMap<PlanMetric, i64> =
                    serde_json::from_value(v["targets"].clone()).unwrap();
                let start = v["period"]["start"].as_str().unwrap().to_owned();
                self.plan_changes
                    .push((id.to_owned(), start, micros(e.recorded_at), targets));
            }
            _ => {}
        }
    }

    fn completed(&mut self, id: &str, outcome: &str, e: &RecordedEvent) {
        let (kind, outgoing, user, _, _) = self.activities[id].clone();
        if kind == "call" && outgoing {
            self.fact(PlanMetric::CallsMade, &user, e, 1);
            if REACHED_OUTCOMES.contains(&outcome) {
                self.fact(PlanMetric::CallsReached, &user, e, 1);
            }
        } else if kind == "meeting" {
            self.fact(PlanMetric::MeetingsHeld, &user, e, 1);
        }
    }

    fn sums(
        &self,
        users: Option<&BTreeSet<String>>,
        from_day: i64,
        to_day: i64,
        as_of: i64,
    ) -> HashMap<(String, PlanMetric), i64> {
        let mut sums = HashMap::new();
        for f in &self.facts {
            if f.rec_at <= as_of
                && (from_day..=to_day).contains(&day_of(f.at))
                && users.is_none_or(|u| u.contains(&f.user))
            {
                *sums.entry((f.user.clone(), f.metric)).or_insert(0) += f.value;
            }
        }
        sums.retain(|_, v| *v != 0);
        sums
    }
}

async fn all_events(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    let mut position = Position::START;
    loop {
        let batch = store.read_all(position, 1000).await.unwrap();
        let Some(last) = batch.last() else { break };
        position = last.position;
        events.extend(batch);
    }
    events
}

/// Every row of `table` as text, sorted (for comparing two databases).
async fn dump(db: &ReadDb, table: &str, columns: &str) -> Vec<String> {
    use sqlx::Row;
    let rows = sqlx::query(&format!("SELECT {columns} FROM {table}"))
        .fetch_all(db.pool())
        .await
        .unwrap();
    let mut out: Vec<String> = rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get::<Option<i64>, _>(i)
                        .map(|v| format!("{v:?}"))
                        .or_else(|_| {
                            row.try_get::<Option<String>, _>(i)
                                .map(|v| format!("{v:?}"))
                        })
                        .unwrap()
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    out.sort();
    out
}

async fn oracle_story(env: Env, steps: usize, seed: u64) {
    let projections = Projections::start(
        env.store.clone(),
        env.db.clone(),
        vec![
            Box::new(DealsProjection::new()) as Box<dyn Projection>,
            Box::new(WorkProjection::new()),
        ],
        ProjectionMetrics::unregistered(),
    )
    .await
    .unwrap();
    let mut rng = Rng(seed);
    let users: Vec<UserId> = (0..5).map(|_| UserId::from_uuid(uuid(&mut rng))).collect();
    let mut generator = Generator {
        rng,
        users: users.clone(),
        open: Vec::new(),
        all_activities: Vec::new(),
        documents: Vec::new(),
        deals: Vec::new(),
        plans: HashMap::new(),
    };
    for _ in 0..steps {
        generator.step(&env).await;
    }
    let events = all_events(env.store.as_ref()).await;
    let head = events.last().unwrap().position;
    projections
        .wait_for(&["deals", "work"], head, Duration::from_secs(60))
        .await
        .unwrap();

    let mut oracle = Oracle::default();
    for e in &events {
        oracle.fold(e);
    }
    assert!(oracle.facts.len() > steps / 4, "the story counts something");
    let first = micros(events[0].recorded_at);
    let last = micros(events.last().unwrap().recorded_at);
    let won = vec![(PROCESS.to_owned(), "won".to_owned())];
    let user_ids: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    let mut rng = Rng(seed ^ 0xABCD);
    let mut checked_nonempty = 0;
    let mut checked_whole_months = 0;
    for round in 0..40 {
        let as_of = if round % 4 == 1 {
            None
        } else {
            Some(first + rng.below((last - first) as u64 + 1) as i64)
        };
        // Now, periods anywhere in the story and up to a quarter long, so
        // whole calendar months (read from the monthly sums) come up.
        let (from_day, to_day) = if as_of.is_none() {
            let span = (day_of(last) - day_of(first)) as u64 + 1;
            let from_day = day_of(first) + rng.below(span) as i64 - 2;
            (from_day, from_day + rng.below(100) as i64)
        } else {
            let from_day = day_of(first) + rng.below(20) as i64 - 2;
            (from_day, from_day + rng.below(40) as i64)
        };
        let subset: Option<BTreeSet<String>> =
            (round % 3 == 0).then(|| user_ids.iter().take(2).cloned().collect());
        let responsibles = match &subset {
            Some(s) => Responsibles::Only(s.iter().cloned().collect()),
            None => Responsibles::All,
        };
        let scope = FactScope {
            responsibles,
            from_day,
            to_day,
            as_of,
        };
        let mut sql = metric_facts(&env.db, &scope, &won).await.unwrap();
        sql.retain(|_, v| *v != 0);
        let expected = oracle.sums(subset.as_ref(), from_day, to_day, as_of.unwrap_or(i64::MAX));
        assert_eq!(
            sql, expected,
            "round {round}: period {from_day}..={to_day}, as_of {as_of:?}"
        );
        if !expected.is_empty() {
            checked_nonempty += 1;
            if as_of.is_none() && whole_months(from_day, to_day).is_some() {
                checked_whole_months += 1;
            }
        }
    }
    assert!(checked_nonempty > 10, "most rounds compare real figures");
    assert!(
        checked_whole_months >= 3,
        "the monthly sums were compared ({checked_whole_months} rounds)"
    );

    // Plans as of random moments: the newest change of each plan by then.
    let mut plans_seen = 0;
    for _ in 0..20 {
        let as_of = first + rng.below((last - first) as u64 + 1) as i64;
        let month = PlanPeriod::containing(
            PeriodKind::Month,
            voronka_projections::time::date_of_day(day_of(as_of)),
        );
        let start = day_number(month.start);
        let mut latest: HashMap<&str, &BTreeMap<PlanMetric, i64>> = HashMap::new();
        for (plan, period_start, rec_at, targets) in &oracle.plan_changes {
            if *rec_at <= as_of && *period_start == month.start.to_string() {
                latest.insert(plan, targets);
            }
        }
        let sql = plans(&env.db, "month", start, Some(as_of)).await.unwrap();
        let sql_set: BTreeSet<(String, PlanMetric, i64)> = sql
            .iter()
            .map(|t| (t.plan_id.clone(), t.metric, t.target))
            .collect();
        let expected: BTreeSet<(String, PlanMetric, i64)> = latest
            .iter()
            .flat_map(|(plan, targets)| targets.iter().map(|(m, t)| (plan.to_string(), *m, *t)))
            .collect();
        assert_eq!(sql_set, expected, "plans as of {as_of}");
        if !expected.is_empty() {
            plans_seen += 1;
        }
    }

    assert!(plans_seen > 5, "plans were compared");

    // Overdue now: planned activities due before the last event, per oracle.
    let now = last;
    let expected_overdue = oracle
        .activities
        .values()
        .filter(|a| a.3 && a.4.is_some_and(|d| d < now))
        .count() as i64;
    let (overdue, list) = planned_due(&env.db, &Responsibles::All, i64::MIN / 4, now, None, 10)
        .await
        .unwrap();
    assert_eq!(overdue, expected_overdue);
    assert!(list.len() as i64 == overdue.min(10));
    assert!(list.windows(2).all(|w| w[0].due_at <= w[1].due_at));

    // As of random moments: the activities and deals as the events recorded
    // by then left them — overdue then, due within the next two days, and
    // the forecast's won deals and weighted pipeline.
    let forecast_stages = |names: &[(&str, StageKind, u8)]| -> Vec<ForecastStage> {
        names
            .iter()
            .map(|(name, kind, probability)| ForecastStage {
                name: (*name).to_owned(),
                kind: *kind,
                probability: *probability,
            })
            .collect()
    };
    let stages_as_of = forecast_stages(&[
        ("new", StageKind::Open, 10),
        ("qualified", StageKind::Open, 50),
        ("won", StageKind::Won, 100),
        ("lost", StageKind::Lost, 0),
    ]);
    let mut overdue_seen = 0;
    let mut workload_seen = 0;
    for _ in 0..25 {
        let as_of = first + rng.below((last - first) as u64 + 1) as i64;
        let mut then = Oracle::default();
        for e in events.iter().take_while(|e| micros(e.recorded_at) <= as_of) {
            then.fold(e);
        }
        let due_between = |from: i64, to: i64| {
            then.activities
                .values()
                .filter(|a| a.3 && a.4.is_some_and(|d| d >= from && d < to))
                .count() as i64
        };
        let (overdue, list) = planned_due(
            &env.db,
            &Responsibles::All,
            i64::MIN / 4,
            as_of,
            Some(as_of),
            1000,
        )
        .await
        .unwrap();
        assert_eq!(
            overdue,
            due_between(i64::MIN / 4, as_of),
            "overdue as of {as_of}"
        );
        assert_eq!(list.len() as i64, overdue);
        let (soon, _) = planned_due(
            &env.db,
            &Responsibles::All,
            as_of,
            as_of + 2 * MICROS_PER_DAY,
            Some(as_of),
            10,
        )
        .await
        .unwrap();
        assert_eq!(
            soon,
            due_between(as_of, as_of + 2 * MICROS_PER_DAY),
            "due soon as of {as_of}"
        );
        if overdue > 0 {
            overdue_seen += 1;
        }
        // The workload then (counted per manager and day in SQL): planned
        // activities by responsible and due day, for everyone and for two.
        let today = day_of(as_of);
        let subset: Vec<String> = user_ids.iter().take(2).cloned().collect();
        for responsibles in [Responsibles::All, Responsibles::Only(subset.clone())] {
            let load = workload(&env.db, &responsibles, today - 3, today + 6, Some(as_of), 2)
                .await
                .unwrap();
            let mut expected: BTreeMap<(String, i64), i64> = BTreeMap::new();
            for a in then.activities.values().filter(|a| a.3) {
                let Some(day) = a.4.map(day_of) else { continue };
                let covered = match &responsibles {
                    Responsibles::All => true,
                    Responsibles::Only(list) => list.contains(&a.2),
                };
                if covered && (today - 3..=today + 6).contains(&day) {
                    *expected.entry((a.2.clone(), day)).or_default() += 1;
                }
            }
            let got: BTreeMap<(String, i64), i64> = load
                .iter()
                .map(|l| ((l.responsible.clone(), l.day), l.planned))
                .collect();
            assert_eq!(got, expected, "workload as of {as_of}");
            assert!(load.iter().all(|l| l.over_capacity == (l.planned > 2)));
            assert!(load
                .windows(2)
                .all(|w| (&w[0].responsible, w[0].day) < (&w[1].responsible, w[1].day)));
            if !expected.is_empty() {
                workload_seen += 1;
            }
        }
        let months = forecast(
            &env.db,
            PROCESS,
            &stages_as_of,
            &Responsibles::All,
            None,
            Some(as_of),
        )
        .await
        .unwrap();
        let won_then = then.deals.values().filter(|d| d.1 == "won").count() as i64;
        assert_eq!(
            months.iter().map(|m| m.won_deals).sum::<i64>(),
            won_then,
            "won as of {as_of}"
        );
        let weighted_then: i64 = then
            .deals
            .values()
            .map(|d| match d.1.as_str() {
                "new" => d.2 * 10 / 100,
                "qualified" => d.2 * 50 / 100,
                _ => 0,
            })
            .sum();
        assert_eq!(
            months.iter().map(|m| m.weighted_amount_minor).sum::<i64>(),
            weighted_then,
            "weighted pipeline as of {as_of}"
        );
    }
    assert!(
        overdue_seen > 3,
        "moments with overdue activities were compared"
    );
    assert!(workload_seen > 3, "moments with a workload were compared");

    // Forecast: every won deal is in some month's won count.
    let stages = vec![
        ForecastStage {
            name: "new".into(),
            kind: StageKind::Open,
            probability: 10,
        },
        ForecastStage {
            name: "qualified".into(),
            kind: StageKind::Open,
            probability: 50,
        },
        ForecastStage {
            name: "won".into(),
            kind: StageKind::Won,
            probability: 100,
        },
        ForecastStage {
            name: "lost".into(),
            kind: StageKind::Lost,
            probability: 0,
        },
    ];
    let months = forecast(&env.db, PROCESS, &stages, &Responsibles::All, None, None)
        .await
        .unwrap();
    let won_now = oracle.deals.values().filter(|d| d.1 == "won").count() as i64;
    assert_eq!(months.iter().map(|m| m.won_deals).sum::<i64>(), won_now);
    let open_weighted: i64 = oracle
        .deals
        .values()
        .map(|d| match d.1.as_str() {
            "new" => d.2 * 10 / 100,
            "qualified" => d.2 * 50 / 100,
            _ => 0,
        })
        .sum();
    assert_eq!(
        months.iter().map(|m| m.weighted_amount_minor).sum::<i64>(),
        open_weighted
    );

    // A rebuild from position 0 gives the same tables.
    projections.stop().await;
    let mut work = WorkProjection::new();
    let report = runner::rebuild(env.store.as_ref(), &env.rebuild_db, &mut work)
        .await
        .unwrap();
    assert_eq!(report.events, events.len() as u64);
    for (table, columns) in [
        (
            "rm_counters_daily",
            "metric, user_id, day, rec_day, count, total",
        ),
        (
            "rm_counters_journal",
            "position, seq, metric, user_id, at, rec_at, count, total",
        ),
        (
            "rm_activities",
            "activity_id, status, outcome, responsible, due_at, reschedule_count, closed_rec",
        ),
        (
            "rm_activities_history",
            "activity_id, valid_from, valid_to, status, responsible, due_at, reschedule_count",
        ),
        (
            "rm_documents",
            "document_id, status, responsible, gross, paid, sent_at",
        ),
        ("rm_payments", "document_id, payment_id, amount, paid_day"),
        ("rm_plans", "position, metric, plan_id, target, rec_at"),
    ] {
        let live = dump(&env.db, table, columns).await;
        assert!(!live.is_empty(), "{table} has rows");
        assert_eq!(live, dump(&env.rebuild_db, table, columns).await, "{table}");
    }
    let _ = MICROS_PER_DAY;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_work_reports_match_the_oracle() {
    let env = sqlite_env().await;
    tokio::time::timeout(Duration::from_secs(240), oracle_story(env, 1500, 7))
        .await
        .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_work_reports_match_the_oracle() {
    let env = postgres_env().await;
    tokio::time::timeout(Duration::from_secs(240), oracle_story(env, 1000, 11))
        .await
        .expect("bounded");
}
