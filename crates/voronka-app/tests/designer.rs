//! The process designer's application side on real stores (SQLite; the
//! replay also on PostgreSQL, the server `DATABASE_URL` names): a
//! stricter draft replayed over the recorded deals names the deals it would
//! have blocked (and only those, and only of its own process), an invalid
//! draft answers every diagnostic with its line and column, the right to
//! publish is required, and the editor starts from the newest published
//! text.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;
use voronka_app::access::{DepartmentId, UserId};
use voronka_app::crm::deals::{NewDeal, StageMove};
use voronka_app::crm::{AppError, Caller, Crm};
use voronka_app::deals::{publications, DealService};
use voronka_app::designer::DraftError;
use voronka_app::directory::{Directory, NewUser};
use voronka_core::{Actor, Clock, Role, SystemClock};
use voronka_process::DealId;
use voronka_store::EventStore;
use voronka_store_postgres::{PostgresOptions, PostgresStore, ScratchDatabase};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

const LEAD_QUALIFICATION: &str =
    include_str!("../../../process-definitions/lead-qualification.yaml");
const PASSWORD: &str = "correct horse battery staple";

struct World {
    crm: Crm,
    directory: Arc<Directory>,
    department: DepartmentId,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn world() -> World {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteStore::open(
            &SqliteLocation::from_path(dir.path().join("voronka.db")),
            SqliteOptions::new(clock.clone()),
        )
        .await
        .expect("open SQLite"),
    );
    world_on(store, clock, Box::new(dir)).await
}

/// The same world on a scratch PostgreSQL database (dropped at the end).
async fn world_on_postgres() -> World {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let scratch = ScratchDatabase::create(&server, "voronka_designer")
        .await
        .expect("a scratch database (run scripts/test, which starts PostgreSQL)");
    let store: Arc<dyn EventStore> = Arc::new(
        PostgresStore::open(
            scratch.url(),
            PostgresOptions {
                clock: clock.clone(),
                metrics: voronka_store::StoreMetrics::unregistered(),
                run_migrations: true,
            },
        )
        .await
        .expect("open PostgreSQL"),
    );
    world_on(store, clock, Box::new(scratch)).await
}

async fn world_on(
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    keep: Box<dyn std::any::Any + Send>,
) -> World {
    let directory = Arc::new(
        Directory::open(store.clone(), clock.clone())
            .await
            .expect("directory"),
    );
    let department = directory
        .add_department("Продажи", None, &Actor::system("test"))
        .await
        .expect("department");
    let registry = Arc::new(
        publications::open_registry(&store)
            .await
            .expect("published processes"),
    );
    let deals = Arc::new(DealService::new(store.clone(), registry, clock.clone()));
    let crm = Crm::open(store, clock, directory.clone(), deals)
        .await
        .expect("CRM");
    World {
        crm,
        directory,
        department,
        _keep: keep,
    }
}

impl World {
    async fn caller(&self, name: &str, roles: &[Role]) -> Caller {
        let id: UserId = self
            .directory
            .add_user(
                NewUser {
                    email: format!("{name}@designer.test"),
                    display_name: name.to_owned(),
                    password: PASSWORD.to_owned(),
                    roles: roles.iter().copied().collect::<BTreeSet<_>>(),
                    department: self.department,
                },
                &Actor::system("test"),
            )
            .await
            .expect("user");
        let user = self.directory.user(id).await.unwrap().expect("the user");
        self.crm.caller(user).await.expect("caller")
    }

    /// A lead rejected as spam, with or without its channel recorded.
    async fn rejected_lead(&self, caller: &Caller, title: &str, channel: Option<&str>) -> DealId {
        let id = DealId::from_uuid(uuid::Uuid::now_v7());
        let mut fields = BTreeMap::new();
        if let Some(channel) = channel {
            fields.insert("channel".to_owned(), json!(channel));
        }
        self.crm
            .create_deal(
                caller,
                id,
                NewDeal {
                    process: "lead-qualification".into(),
                    title: title.into(),
                    company: None,
                    contact: None,
                    amount: None,
                    responsible: None,
                    source: None,
                    expected_close_date: None,
                    fields,
                },
                None,
            )
            .await
            .expect("create the lead");
        self.crm
            .move_deal(
                caller,
                id,
                StageMove {
                    to: "rejected".into(),
                    expected_version: None,
                    fields: BTreeMap::from([("rejection_reason".to_owned(), json!("spam"))]),
                },
                None,
            )
            .await
            .expect("reject the lead");
        id
    }
}

/// Version 2 of lead qualification: a rejected lead must name its channel.
fn stricter_draft() -> String {
    LEAD_QUALIFICATION
        .replace("version: 1", "version: 2")
        .replace(
            "      fields: [rejection_reason]\n",
            "      fields: [rejection_reason, channel]\n",
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_name_the_deals_a_stricter_draft_would_have_blocked_and_no_others() {
    blocked_deals_are_named(world().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_name_the_blocked_deals_on_postgres_too() {
    blocked_deals_are_named(world_on_postgres().await).await;
}

async fn blocked_deals_are_named(world: World) {
    let admin = world.caller("admin", &[Role::Administrator]).await;
    let designer = world.caller("designer", &[Role::ProcessDesigner]).await;
    let without_channel = world.rejected_lead(&admin, "Лид без канала", None).await;
    let with_channel = world
        .rejected_lead(&admin, "Лид с сайта", Some("website"))
        .await;
    // A deal of another process is not replayed under this draft.
    world
        .crm
        .create_deal(
            &admin,
            DealId::from_uuid(uuid::Uuid::now_v7()),
            NewDeal {
                process: "b2b-sale".into(),
                title: "Другой процесс".into(),
                company: None,
                contact: None,
                amount: None,
                responsible: None,
                source: None,
                expected_close_date: None,
                fields: BTreeMap::new(),
            },
            None,
        )
        .await
        .expect("a b2b deal");
    let draft = stricter_draft();
    assert_ne!(draft, LEAD_QUALIFICATION, "the draft must differ");

    let simulation = world
        .crm
        .simulate_draft(&admin, "lead-qualification.yaml", &draft)
        .await
        .expect("simulate");
    assert_eq!(simulation.process, "lead-qualification");
    assert_eq!(simulation.draft_version, 2);
    assert_eq!(simulation.deals, 2, "only the lead-qualification deals");
    assert_eq!(simulation.blocked.len(), 1, "{:?}", simulation.blocked);
    let blocked = &simulation.blocked[0];
    assert_eq!(blocked.deal, without_channel);
    assert_ne!(blocked.deal, with_channel);
    assert_eq!(
        (blocked.from.as_str(), blocked.to.as_str()),
        ("received", "rejected")
    );
    assert!(!blocked.target_removed);
    assert!(!blocked.unmet.is_empty(), "the draft says what was missing");
    assert_eq!(blocked.title.as_deref(), Some("Лид без канала"));
    assert!(simulation.in_removed_stages.is_empty());
    let rejected = simulation
        .funnel
        .iter()
        .find(|row| row.stage == "rejected")
        .expect("a funnel row for rejected");
    assert_eq!((rejected.entered_before, rejected.entered_after), (2, 1));

    // A designer who sees no deals learns which deals, not their titles.
    let seen_by_designer = world
        .crm
        .simulate_draft(&designer, "lead-qualification.yaml", &draft)
        .await
        .expect("simulate as a designer");
    assert_eq!(seen_by_designer.blocked.len(), 1);
    assert_eq!(seen_by_designer.blocked[0].deal, without_channel);
    assert_eq!(seen_by_designer.blocked[0].title, None);

    // The published text is unchanged: simulating publishes nothing.
    let source = world
        .crm
        .process_source(&admin, "lead-qualification")
        .await
        .expect("source")
        .expect("published");
    assert_eq!(source.version, 1);
    assert_eq!(source.text, LEAD_QUALIFICATION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_answer_an_invalid_draft_with_every_diagnostic_and_its_position() {
    let world = world().await;
    let admin = world.caller("admin", &[Role::Administrator]).await;
    let broken = LEAD_QUALIFICATION.replace(
        "  - { from: received, to: [contacted, rejected] }",
        "  - { from: received, to: [contacted, nowhere] }",
    );
    match world
        .crm
        .simulate_draft(&admin, "lead-qualification.yaml", &broken)
        .await
    {
        Err(DraftError::Invalid { diagnostics }) => {
            let line = broken
                .lines()
                .position(|l| l.contains("nowhere"))
                .expect("the broken line")
                + 1;
            let line = u32::try_from(line).expect("a short file");
            assert!(
                diagnostics
                    .iter()
                    .any(|d| d.location.line == line && d.location.column > 1),
                "a diagnostic on line {line}: {diagnostics:?}"
            );
        }
        other => panic!("expected the diagnostics, got {other:?}"),
    }
    let not_yaml = world
        .crm
        .simulate_draft(&admin, "x.yaml", "process: [unclosed")
        .await;
    assert!(
        matches!(not_yaml, Err(DraftError::Invalid { ref diagnostics }) if !diagnostics.is_empty()),
        "{not_yaml:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_refuse_designing_to_a_manager_and_start_editing_from_the_newest_version() {
    let world = world().await;
    let manager = world.caller("manager", &[Role::Manager]).await;
    let designer = world.caller("designer", &[Role::ProcessDesigner]).await;
    assert!(matches!(
        world
            .crm
            .simulate_draft(&manager, "lead-qualification.yaml", &stricter_draft())
            .await,
        Err(DraftError::App(AppError::Forbidden(_)))
    ));
    assert!(matches!(
        world
            .crm
            .process_source(&manager, "lead-qualification")
            .await,
        Err(AppError::Forbidden(_))
    ));
    world
        .crm
        .publish_process(&designer, "lead-qualification.yaml", &stricter_draft())
        .await
        .expect("publish version 2");
    let source = world
        .crm
        .process_source(&designer, "lead-qualification")
        .await
        .expect("source")
        .expect("published");
    assert_eq!(source.version, 2);
    assert_eq!(source.text, stricter_draft());
    assert_eq!(
        world
            .crm
            .process_source(&designer, "no-such-process")
            .await
            .expect("read"),
        None
    );
}
