//! The deal command path on the real stores: every scenario runs on the
//! in-memory store, on SQLite in a temporary directory and on PostgreSQL in a
//! scratch database (one test per backend, e.g. `<scenario>::on_postgres`),
//! through a wrapper that counts stream reads and can force conflicts (by
//! holding appends at a barrier, or by appending a foreign event just before
//! one).
//!
//! PostgreSQL is the server `DATABASE_URL` names (default: the local
//! trust-auth server); `scripts/test` starts a throwaway one when none answers.

use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tempfile::TempDir;
use voronka_app::deals::{
    deal_stream, CommandOutcome, DealError, DealService, ProcessRegistry, PublishError,
};
use voronka_core::{
    Actor, AppendOutcome, Clock, CommandId, EventData, EventMetadata, ExpectedVersion, ManualClock,
    Position, RecordedEvent, Role, StreamId, StreamVersion, Timestamp,
};
use voronka_process::{
    ActivityFact, ActivityId, ActivityKind, ActivityStatus, ActorContext, CompiledProcess,
    DealCommand, DealEvent, DealId, FieldId, FieldValue, Rejection, RoleSet, StageId, UnmetCode,
    UserId,
};
use voronka_store::{EventStore, MemoryStore, StoreError, StoreHealth, StoreMetrics};
use voronka_store_postgres::{PostgresOptions, PostgresStore, ScratchDatabase};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

const B2B_SALE: &str = include_str!("../../../process-definitions/b2b-sale.yaml");

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

const DEFAULT_POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Creates a scratch database on the server `DATABASE_URL` names (dropped
/// with the returned guard), or panics with set-up advice.
async fn scratch_database() -> ScratchDatabase {
    let server_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_SERVER.to_owned());
    ScratchDatabase::create(&server_url, "voronka_scratch")
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot create a scratch database on PostgreSQL at {server_url} ({error}). \
                 Set DATABASE_URL to a server where this user may create databases, or run \
                 scripts/test, which starts a throwaway PostgreSQL"
            )
        })
}

/// Counts reads and forces conflicts; everything else goes to the real store.
struct TestStore {
    inner: Arc<dyn EventStore>,
    stream_reads: AtomicUsize,
    events_read: AtomicUsize,
    appends: AtomicUsize,
    /// How many of the next appends wait at `barrier` (both sides of a race
    /// then hold the same expected version).
    appends_to_hold: AtomicUsize,
    barrier: tokio::sync::Barrier,
    /// Before each of the next `n` appends, this event goes in first.
    interference: Mutex<Option<(usize, EventData)>>,
}

impl TestStore {
    fn new(inner: Arc<dyn EventStore>) -> Self {
        Self {
            inner,
            stream_reads: AtomicUsize::new(0),
            events_read: AtomicUsize::new(0),
            appends: AtomicUsize::new(0),
            appends_to_hold: AtomicUsize::new(0),
            barrier: tokio::sync::Barrier::new(2),
            interference: Mutex::new(None),
        }
    }

    fn reset_counters(&self) {
        self.stream_reads.store(0, Ordering::SeqCst);
        self.events_read.store(0, Ordering::SeqCst);
        self.appends.store(0, Ordering::SeqCst);
    }

    fn hold_next_two_appends(&self) {
        self.appends_to_hold.store(2, Ordering::SeqCst);
    }

    fn interfere_before_next_appends(&self, times: usize, event: EventData) {
        *self.interference.lock().expect("test lock") = Some((times, event));
    }

    fn take_interference(&self) -> Option<EventData> {
        let mut interference = self.interference.lock().expect("test lock");
        match interference.as_mut() {
            Some((remaining, event)) if *remaining > 0 => {
                *remaining -= 1;
                Some(event.clone())
            }
            _ => None,
        }
    }
}

#[async_trait]
impl EventStore for TestStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<EventData>,
        metadata: EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        let held = self
            .appends_to_hold
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if held {
            self.barrier.wait().await;
        }
        if let Some(foreign) = self.take_interference() {
            self.inner
                .append(
                    stream,
                    ExpectedVersion::Any,
                    vec![foreign],
                    EventMetadata::by(Actor::system("interference")),
                )
                .await?;
        }
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.inner.append(stream, expected, events, metadata).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.read_stream(stream, from_version, limit).await?;
        self.stream_reads.fetch_add(1, Ordering::SeqCst);
        self.events_read.fetch_add(events.len(), Ordering::SeqCst);
        Ok(events)
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, StoreError> {
        self.inner.stream_version(stream).await
    }

    fn commit_notifications(&self) -> tokio::sync::watch::Receiver<Position> {
        self.inner.commit_notifications()
    }

    async fn health(&self) -> Result<StoreHealth, StoreError> {
        self.inner.health().await
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

/// A store, a registry with b2b-sale published, a fixed clock and a service.
struct World {
    backend: Backend,
    store: Arc<TestStore>,
    registry: Arc<ProcessRegistry>,
    clock: Arc<ManualClock>,
    service: DealService,
    definition: Arc<CompiledProcess>,
    manager: ActorContext,
    _dir: Option<TempDir>,
}

fn start_of_day() -> Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
        .expect("a valid timestamp")
        .to_utc()
}

impl World {
    async fn new(backend: Backend) -> (World, Option<ScratchDatabase>) {
        let clock = Arc::new(ManualClock::new(start_of_day()));
        let (inner, dir, database): (
            Arc<dyn EventStore>,
            Option<TempDir>,
            Option<ScratchDatabase>,
        ) = match backend {
            Backend::Memory => (Arc::new(MemoryStore::new(clock.clone())), None, None),
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let location = SqliteLocation::from_path(dir.path().join("voronka.db"));
                let store = SqliteStore::open(&location, SqliteOptions::new(clock.clone()))
                    .await
                    .expect("the SQLite store opens");
                (Arc::new(store), Some(dir), None)
            }
            Backend::Postgres => {
                let database = scratch_database().await;
                let store = PostgresStore::open(
                    database.url(),
                    PostgresOptions {
                        clock: clock.clone(),
                        metrics: StoreMetrics::unregistered(),
                        run_migrations: true,
                    },
                )
                .await
                .expect("the PostgreSQL scratch database opens");
                (Arc::new(store), None, Some(database))
            }
        };
        let store = Arc::new(TestStore::new(inner));
        let registry = Arc::new(ProcessRegistry::new());
        registry
            .publish("b2b-sale.yaml", B2B_SALE)
            .expect("b2b-sale publishes");
        let definition = registry.latest("b2b-sale").expect("b2b-sale is published");
        let service = DealService::new(store.clone(), registry.clone(), clock.clone());
        let manager = ActorContext::user(
            UserId::from_parts(1_700_000_000_000, [1; 10]),
            RoleSet::EMPTY.with(Role::Manager),
        );
        let world = World {
            backend,
            store,
            registry,
            clock,
            service,
            definition,
            manager,
            _dir: dir,
        };
        (world, database)
    }

    /// Another process on the same store: its own, cold cache.
    fn second_service(&self) -> DealService {
        DealService::new(
            self.store.clone(),
            self.registry.clone(),
            self.clock.clone(),
        )
    }

    fn field(&self, name: &str) -> FieldId {
        self.definition.field_id(name).expect("a field of b2b-sale")
    }

    fn stage(&self, name: &str) -> StageId {
        self.definition.stage_id(name).expect("a stage of b2b-sale")
    }

    fn dictionary_value(&self, dictionary: &str, value: &str) -> FieldValue {
        let dictionary = self
            .definition
            .dictionary_id(dictionary)
            .expect("a dictionary of b2b-sale");
        FieldValue::Dictionary(
            self.definition
                .value_id(dictionary, value)
                .expect("a value of the dictionary"),
        )
    }

    fn set(&self, field: &str, value: FieldValue) -> DealCommand {
        DealCommand::SetField {
            field: self.field(field),
            value: Some(value),
        }
    }

    fn move_to(&self, stage: &str) -> DealCommand {
        DealCommand::MoveToStage {
            to: self.stage(stage),
        }
    }

    async fn started_deal(&self, n: u8) -> DealId {
        let deal = DealId::from_parts(1_700_000_000_000, [n; 10]);
        self.service
            .start_deal("b2b-sale", deal, &self.manager, None)
            .await
            .expect("the deal starts");
        deal
    }

    async fn run(&self, deal: DealId, command: DealCommand) -> CommandOutcome {
        self.clock.advance(chrono::Duration::seconds(1));
        self.service
            .execute(deal, command, &self.manager, None)
            .await
            .unwrap_or_else(|error| panic!("{:?}: command refused: {error:?}", self.backend))
    }

    /// A deal event encoded as another writer would store it.
    fn foreign_event(&self, event: DealEvent) -> EventData {
        self.definition
            .encode_event(&event)
            .to_event_data()
            .expect("the event encodes")
    }

    async fn stage_of(&self, service: &DealService, deal: DealId) -> String {
        let loaded = service
            .load(deal)
            .await
            .expect("the deal loads")
            .expect("the deal exists");
        self.definition
            .stage(loaded.state.deal.expect("started").stage)
            .name
            .clone()
    }
}

fn reference(n: u8) -> FieldValue {
    FieldValue::Reference(uuid::Uuid::from_bytes([n; 16]))
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.to_string())
}

fn unmet_codes(error: DealError) -> Vec<UnmetCode> {
    match error {
        DealError::Rejected(rejection) => rejection.unmet().iter().map(|u| u.code).collect(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Runs `scenario` on a fresh world of `backend`, then closes the store and
/// (for PostgreSQL) drops its scratch database, also when the scenario panics.
async fn run_on<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(World) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (world, database) = World::new(backend).await;
    let store = world.store.clone();
    scenario(world).await;
    store.close().await;
    drop(database);
}

/// For each scenario `name` (an `async fn(World)` above), a module `name`
/// with one test per backend: `name::on_memory`, `name::on_sqlite` and
/// `name::on_postgres`.
macro_rules! on_every_backend {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                use super::{run_on, Backend};

                #[tokio::test]
                async fn on_memory() {
                    run_on(Backend::Memory, super::$scenario).await;
                }

                #[tokio::test]
                async fn on_sqlite() {
                    run_on(Backend::Sqlite, super::$scenario).await;
                }

                #[tokio::test]
                async fn on_postgres() {
                    run_on(Backend::Postgres, super::$scenario).await;
                }
            }
        )+
    };
}

on_every_backend!(
    it_should_reject_a_move_naming_every_unmet_requirement_and_move_once_they_are_met,
    it_should_report_unknown_deals_and_processes,
    it_should_answer_a_retried_command_id_with_the_first_outcome_and_append_nothing,
    it_should_let_two_commuting_concurrent_commands_both_succeed_through_one_retry,
    it_should_not_apply_a_stale_decision_when_a_concurrent_move_got_there_first,
    it_should_retry_once_after_a_foreign_append_and_give_up_with_conflict_after_two,
    it_should_read_only_new_events_for_a_command_on_a_long_deal,
);

async fn it_should_reject_a_move_naming_every_unmet_requirement_and_move_once_they_are_met(
    w: World,
) {
    let deal = DealId::from_parts(1_700_000_000_000, [9; 10]);
    let started = w
        .service
        .start_deal("b2b-sale", deal, &w.manager, None)
        .await
        .expect("the deal starts");
    assert_eq!(started.stream_version, StreamVersion(1));
    assert_eq!(started.events, 1);
    assert_eq!(
        started.effects.len(),
        1,
        "entering `new` creates a call task"
    );

    let refused = w
        .service
        .execute(deal, w.move_to("qualifying"), &w.manager, None)
        .await
        .expect_err("company, contact and responsible are missing");
    assert_eq!(unmet_codes(refused), vec![UnmetCode::FieldMissing; 3]);

    let mut last = started;
    for (field, value) in [
        ("company", reference(1)),
        ("contact", reference(2)),
        ("responsible", reference(3)),
    ] {
        let outcome = w.run(deal, w.set(field, value)).await;
        assert_eq!(outcome.stream_version, last.stream_version.next());
        assert!(outcome.position > last.position);
        last = outcome;
    }
    let moved = w.run(deal, w.move_to("qualifying")).await;
    assert_eq!(moved.stream_version, StreamVersion(5));

    let refused = w
        .service
        .execute(deal, w.move_to("needs"), &w.manager, None)
        .await
        .expect_err("industry and a reached call are missing");
    assert_eq!(
        unmet_codes(refused),
        vec![UnmetCode::FieldMissing, UnmetCode::ActivityMissing]
    );

    w.run(
        deal,
        w.set("industry", w.dictionary_value("industry", "it")),
    )
    .await;
    let call = ActivityFact {
        id: ActivityId::from_parts(1_700_000_000_000, [4; 10]),
        kind: ActivityKind::Call,
        status: ActivityStatus::Done,
        outcome: Some(match w.dictionary_value("call_outcome", "reached") {
            FieldValue::Dictionary(value) => value,
            _ => unreachable!("a dictionary value"),
        }),
        at: w.clock.now(),
    };
    w.run(deal, DealCommand::RecordActivity(call)).await;
    let moved = w.run(deal, w.move_to("needs")).await;
    assert_eq!(moved.stream_version, StreamVersion(8));
    assert_eq!(moved.effects.len(), 1, "entering `needs` plans a meeting");

    assert_eq!(w.stage_of(&w.service, deal).await, "needs");
    // A cold service reads the same deal back from the store.
    assert_eq!(w.stage_of(&w.second_service(), deal).await, "needs");
    let loaded = w.service.load(deal).await.expect("loads").expect("exists");
    assert_eq!(loaded.version, StreamVersion(8));
    assert_eq!(loaded.last_position, moved.position);

    let transitions = w
        .service
        .allowed_transitions(deal, &w.manager)
        .await
        .expect("transitions");
    let blocked = |name: &str| {
        transitions
            .iter()
            .find(|t| t.stage_name == name)
            .map(|t| !t.unmet.is_empty())
    };
    assert_eq!(blocked("qualifying"), Some(false));
    assert_eq!(blocked("proposal"), Some(true));
    assert_eq!(blocked("lost"), Some(true));
}

async fn it_should_report_unknown_deals_and_processes(w: World) {
    let missing = DealId::from_parts(1_700_000_000_000, [77; 10]);
    let error = w
        .service
        .execute(missing, w.move_to("qualifying"), &w.manager, None)
        .await
        .expect_err("no such deal");
    assert!(matches!(error, DealError::NotFound(id) if id == missing));
    assert!(w.service.load(missing).await.expect("loads").is_none());
    let error = w
        .service
        .start_deal("no-such-process", missing, &w.manager, None)
        .await
        .expect_err("no such process");
    assert!(matches!(error, DealError::UnknownProcess { .. }));
    let deal = w.started_deal(1).await;
    let error = w
        .service
        .start_deal("b2b-sale", deal, &w.manager, None)
        .await
        .expect_err("already started");
    assert!(matches!(
        error,
        DealError::Rejected(Rejection::AlreadyStarted)
    ));
}

async fn it_should_answer_a_retried_command_id_with_the_first_outcome_and_append_nothing(w: World) {
    let deal = DealId::from_parts(1_700_000_000_000, [2; 10]);
    let start_id = CommandId::from_parts(1_700_000_000_000, [20; 10]);
    let started = w
        .service
        .start_deal("b2b-sale", deal, &w.manager, Some(start_id))
        .await
        .expect("starts");
    let retried_start = w
        .service
        .start_deal("b2b-sale", deal, &w.manager, Some(start_id))
        .await
        .expect("a retried start is answered, not rejected");
    assert!(retried_start.replayed);
    assert_eq!(retried_start.stream_version, started.stream_version);
    assert_eq!(retried_start.position, started.position);

    for (field, value) in [
        ("company", reference(1)),
        ("contact", reference(2)),
        ("responsible", reference(3)),
    ] {
        w.run(deal, w.set(field, value)).await;
    }
    // A move, retried, would be refused if decided again (the deal is
    // already in `qualifying`): the retry must not decide again.
    let move_id = CommandId::from_parts(1_700_000_000_000, [21; 10]);
    let first = w
        .service
        .execute(deal, w.move_to("qualifying"), &w.manager, Some(move_id))
        .await
        .expect("moves");
    assert!(!first.replayed);
    w.store.reset_counters();
    for service in [&w.service, &w.second_service()] {
        let retry = service
            .execute(deal, w.move_to("qualifying"), &w.manager, Some(move_id))
            .await
            .expect("a retry is answered");
        assert!(retry.replayed);
        assert_eq!(
            (retry.stream_version, retry.position, retry.events),
            (first.stream_version, first.position, first.events)
        );
    }
    assert_eq!(
        w.store.appends.load(Ordering::SeqCst),
        0,
        "nothing appended"
    );
    let stream = deal_stream(deal).expect("a stream id");
    assert_eq!(
        w.store.stream_version(&stream).await.expect("version"),
        first.stream_version
    );

    // The same key on another deal is another command, not a replay.
    let other_deal = w.started_deal(12).await;
    let on_other_deal = w
        .service
        .execute(
            other_deal,
            w.set("company", reference(1)),
            &w.manager,
            Some(move_id),
        )
        .await
        .expect("runs on the other deal");
    assert!(!on_other_deal.replayed);
    assert_eq!(on_other_deal.stream_version, StreamVersion(2));
}

async fn it_should_let_two_commuting_concurrent_commands_both_succeed_through_one_retry(w: World) {
    let deal = w.started_deal(3).await;
    let other = w.second_service();
    other.load(deal).await.expect("loads");
    w.store.reset_counters();
    w.store.hold_next_two_appends();
    let budget = w.set(
        "budget",
        FieldValue::Money(voronka_core::Money::rub(15_000_000)),
    );
    let industry = w.set("industry", w.dictionary_value("industry", "retail"));
    let (first, second) = tokio::join!(
        w.service.execute(deal, budget, &w.manager, None),
        other.execute(deal, industry, &w.manager, None),
    );
    let first = first.expect("the budget is set");
    let second = second.expect("the industry is set");
    let mut versions = [first.stream_version.0, second.stream_version.0];
    versions.sort_unstable();
    assert_eq!(versions, [2, 3], "one went first, the other was retried");
    assert_eq!(
        w.store.appends.load(Ordering::SeqCst),
        3,
        "two racing appends and one retry"
    );

    let loaded = w
        .second_service()
        .load(deal)
        .await
        .expect("loads")
        .expect("exists");
    let state = loaded.state.deal.expect("started");
    assert_eq!(loaded.version, StreamVersion(3));
    assert!(state.field(w.field("budget")).is_some(), "no lost update");
    assert!(state.field(w.field("industry")).is_some(), "no lost update");
}

async fn it_should_not_apply_a_stale_decision_when_a_concurrent_move_got_there_first(w: World) {
    let deal = w.started_deal(4).await;
    for (field, value) in [
        ("company", reference(1)),
        ("contact", reference(2)),
        ("responsible", reference(3)),
    ] {
        w.run(deal, w.set(field, value)).await;
    }
    let other = w.second_service();
    other.load(deal).await.expect("loads");
    w.store.hold_next_two_appends();
    let (first, second) = tokio::join!(
        w.service
            .execute(deal, w.move_to("qualifying"), &w.manager, None),
        other.execute(deal, w.move_to("qualifying"), &w.manager, None),
    );
    let (won, lost) = match (first, second) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one move must win: {other:?}"),
    };
    assert_eq!(won.stream_version, StreamVersion(5));
    assert_eq!(unmet_codes(lost), vec![UnmetCode::TransitionNotAllowed]);
    let stream = deal_stream(deal).expect("a stream id");
    assert_eq!(
        w.store.stream_version(&stream).await.expect("version"),
        StreamVersion(5),
        "exactly one stage change was recorded"
    );
}

async fn it_should_retry_once_after_a_foreign_append_and_give_up_with_conflict_after_two(w: World) {
    let deal = w.started_deal(5).await;
    let summary = w.foreign_event(DealEvent::FieldSet {
        field: w.field("needs_summary"),
        value: Some(text("written elsewhere")),
        at: start_of_day(),
    });
    w.store.interfere_before_next_appends(1, summary.clone());
    let outcome = w
        .service
        .execute(
            deal,
            w.set("contract_number", text("Д-1")),
            &w.manager,
            None,
        )
        .await
        .expect("succeeds after one retry");
    assert_eq!(outcome.stream_version, StreamVersion(3));

    w.store.interfere_before_next_appends(2, summary);
    let error = w
        .service
        .execute(
            deal,
            w.set("contract_number", text("Д-2")),
            &w.manager,
            None,
        )
        .await
        .expect_err("a second conflict ends the command");
    assert!(
        matches!(error, DealError::Conflict { actual, .. } if actual == StreamVersion(5)),
        "{error:?}"
    );

    let loaded = w
        .second_service()
        .load(deal)
        .await
        .expect("loads")
        .expect("exists");
    let state = loaded.state.deal.clone().expect("started");
    assert_eq!(loaded.version, StreamVersion(5));
    assert_eq!(
        state.field(w.field("contract_number")),
        Some(&text("Д-1")),
        "the refused command wrote nothing"
    );
    assert_eq!(
        state.field(w.field("needs_summary")),
        Some(&text("written elsewhere"))
    );
    // The service's own cache agrees with the store.
    let cached = w.service.load(deal).await.expect("loads").expect("exists");
    assert_eq!(cached.version, StreamVersion(5));
    assert_eq!(cached.state, loaded.state);
}

async fn it_should_read_only_new_events_for_a_command_on_a_long_deal(w: World) {
    let deal = w.started_deal(6).await;
    for n in 0..500 {
        w.run(deal, w.set("needs_summary", text(&format!("note {n}"))))
            .await;
    }
    w.store.reset_counters();
    let outcome = w.run(deal, w.set("needs_summary", text("one more"))).await;
    assert_eq!(outcome.stream_version, StreamVersion(502));
    assert_eq!(w.store.events_read.load(Ordering::SeqCst), 0);
    assert_eq!(w.store.stream_reads.load(Ordering::SeqCst), 1);

    // Another writer appends one event: the next command reads just it.
    let other = w.second_service();
    w.store.reset_counters();
    other
        .execute(
            deal,
            w.set("contract_number", text("Д-7")),
            &w.manager,
            None,
        )
        .await
        .expect("the other writer's command");
    assert_eq!(
        w.store.events_read.load(Ordering::SeqCst),
        502,
        "a cold cache replays the stream once"
    );
    w.store.reset_counters();
    let outcome = w.run(deal, w.set("needs_summary", text("and more"))).await;
    assert_eq!(outcome.stream_version, StreamVersion(504));
    assert_eq!(w.store.events_read.load(Ordering::SeqCst), 1);
    assert_eq!(w.service.cached_deals(), 1);
}

#[test]
fn it_should_publish_the_same_content_once_and_refuse_a_changed_file_under_the_same_version() {
    let registry = ProcessRegistry::new();
    let first = registry
        .publish("b2b-sale.yaml", B2B_SALE)
        .expect("publishes");
    let again = registry
        .publish("b2b-sale.yaml", B2B_SALE)
        .expect("publishes");
    assert_eq!(first, again);
    assert_eq!(registry.published().len(), 1);

    let changed = B2B_SALE.replace("probability: 5\n", "probability: 6\n");
    assert!(matches!(
        registry.publish("b2b-sale.yaml", &changed),
        Err(PublishError::VersionTaken { .. })
    ));
    let next = changed.replace("version: 1\n", "version: 2\n");
    let second = registry
        .publish("b2b-sale.yaml", &next)
        .expect("publishes v2");
    assert_eq!(second.version, 2);
    assert_eq!(
        registry.latest("b2b-sale").map(|d| d.identity.clone()),
        Some(second.clone())
    );
    assert!(registry.get(&first).is_some(), "v1 stays readable");
    let older = B2B_SALE.replace("probability: 5\n", "probability: 7\n");
    assert!(matches!(
        registry.publish("b2b-sale.yaml", &older),
        Err(PublishError::VersionTaken { .. })
    ));
    assert!(matches!(
        registry.publish("broken.yaml", "process: [\n"),
        Err(PublishError::Invalid { .. })
    ));
}
