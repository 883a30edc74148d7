//! Two `DealService`s on one store (as two server processes on one
//! PostgreSQL database): a command decided on a cached deal that changed
//! elsewhere must not overwrite that change; it is decided again on the
//! fresh stream.

use std::sync::Arc;

use voronka_app::deals::{publications, DealError, DealService};
use voronka_core::{Clock, Role, SystemClock};
use voronka_process::{ActorContext, DealCommand, DealId, FieldValue, RoleSet, UserId};
use voronka_store::EventStore;
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

#[tokio::test]
async fn a_cached_deal_changed_elsewhere_is_read_again_before_deciding() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteStore::open(
            &SqliteLocation::from_path(dir.path().join("x.db")),
            SqliteOptions::new(clock.clone()),
        )
        .await
        .unwrap(),
    );
    let registry = Arc::new(publications::open_registry(&store).await.unwrap());
    let here = DealService::new(store.clone(), registry.clone(), clock.clone());
    let elsewhere = DealService::new(store.clone(), registry.clone(), clock.clone());
    let actor = ActorContext::user(
        UserId::from_uuid(uuid::Uuid::now_v7()),
        [Role::Director].into_iter().collect::<RoleSet>(),
    );
    let definition = registry.latest("b2b-sale").unwrap();
    let title = definition.field_id("title").unwrap();
    let reason = definition.field_id("loss_reason").unwrap();
    let lost = definition.stage_id("lost").unwrap();
    let deal = DealId::from_uuid(uuid::Uuid::now_v7());
    here.start_deal_with(definition.clone(), deal, &[], &actor, None)
        .await
        .unwrap();
    // `here` has the deal cached at version 1; `elsewhere` moves it on.
    let set_title = |text: &str| DealCommand::SetField {
        field: title,
        value: Some(FieldValue::Text(text.into())),
    };
    elsewhere
        .execute(deal, set_title("Другой процесс"), &actor, None)
        .await
        .unwrap();
    // Deciding on the stale cache would lose nothing (the append is pinned
    // to the cached version); the command runs again on version 2.
    let mut seen_versions = Vec::new();
    let outcome = here
        .execute_checked(deal, &actor, None, |loaded| {
            seen_versions.push(loaded.version.0);
            Ok::<_, DealError>((vec![set_title("Здесь")], None))
        })
        .await
        .unwrap();
    assert_eq!(seen_versions, [1, 2]);
    assert_eq!(outcome.stream_version.0, 3);
    // A client's stale expected version is still a conflict.
    let stale = here
        .execute_checked(deal, &actor, None, |_| {
            Ok::<_, DealError>((
                vec![
                    DealCommand::SetField {
                        field: reason,
                        value: definition
                            .field_value_from_json(reason, &"price".into())
                            .ok(),
                    },
                    DealCommand::MoveToStage { to: lost },
                ],
                Some(voronka_core::StreamVersion(2)),
            ))
        })
        .await;
    assert!(
        matches!(stale, Err(DealError::Conflict { .. })),
        "{stale:?}"
    );
    let loaded = elsewhere.load(deal).await.unwrap().unwrap();
    assert_eq!(loaded.version.0, 3);
}
