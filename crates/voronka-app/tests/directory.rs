//! The directory as its callers meet it: users, departments and sessions
//! kept as events, on the memory store and on SQLite. Each test runs on both
//! backends; time is a `ManualClock`, so expiry is tested by moving it.

use std::collections::BTreeSet;
use std::sync::Arc;

use tempfile::TempDir;
use voronka_app::access::{DepartmentId, UserId};
use voronka_app::directory::{Directory, DirectoryError, NewUser};
use voronka_core::{Actor, ManualClock, Role, Timestamp};
use voronka_store::{EventStore, MemoryStore};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
}

const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Sqlite];

struct World {
    store: Arc<dyn EventStore>,
    clock: Arc<ManualClock>,
    directory: Directory,
    _dir: Option<TempDir>,
}

fn start() -> Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
        .expect("a valid date")
        .to_utc()
}

fn admin() -> Actor {
    Actor::system("test")
}

impl World {
    async fn new(backend: Backend) -> World {
        let clock = Arc::new(ManualClock::new(start()));
        let (store, dir): (Arc<dyn EventStore>, Option<TempDir>) = match backend {
            Backend::Memory => (Arc::new(MemoryStore::new(clock.clone())), None),
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let location = SqliteLocation::from_path(dir.path().join("voronka.db"));
                let store = SqliteStore::open(&location, SqliteOptions::new(clock.clone()))
                    .await
                    .expect("the SQLite store opens");
                (Arc::new(store), Some(dir))
            }
        };
        let directory = Directory::open(store.clone(), clock.clone())
            .await
            .expect("the directory opens");
        World {
            store,
            clock,
            directory,
            _dir: dir,
        }
    }

    async fn another_directory(&self) -> Directory {
        Directory::open(self.store.clone(), self.clock.clone())
            .await
            .expect("a second directory opens")
    }

    async fn department(&self, name: &str) -> DepartmentId {
        self.directory
            .add_department(name, None, &admin())
            .await
            .expect("the department is added")
    }

    async fn user(&self, email: &str, role: Role, department: DepartmentId) -> UserId {
        self.directory
            .add_user(new_user(email, role, department), &admin())
            .await
            .expect("the user is added")
    }
}

fn new_user(email: &str, role: Role, department: DepartmentId) -> NewUser {
    NewUser {
        email: email.to_owned(),
        display_name: format!("User {email}"),
        password: PASSWORD.to_owned(),
        roles: BTreeSet::from([role]),
        department,
    }
}

#[tokio::test]
async fn departments_and_users_are_added_and_listed() {
    for backend in BACKENDS {
        let world = World::new(backend).await;
        assert!(world.directory.is_empty().await.unwrap(), "{backend:?}");
        let sales = world.department("Продажи").await;
        let moscow = world
            .directory
            .add_department("Москва", Some(sales), &admin())
            .await
            .unwrap();
        let anna = world.user("anna@example.com", Role::Manager, moscow).await;

        assert!(!world.directory.is_empty().await.unwrap());
        let tree = world.directory.departments().await.unwrap();
        assert!(tree.is_within(moscow, sales));
        let user = world.directory.user(anna).await.unwrap().unwrap();
        assert_eq!(user.email, "anna@example.com");
        assert_eq!(user.department, moscow);
        assert!(user.active && user.has_role(Role::Manager));
        assert_eq!(world.directory.users().await.unwrap(), vec![user]);
        let found = world.directory.department_named("продажи", None).await;
        assert_eq!(found.unwrap().map(|d| d.id), Some(sales));
    }
}

#[tokio::test]
async fn it_should_refuse_bad_input_with_the_field_named() {
    for backend in BACKENDS {
        let world = World::new(backend).await;
        let sales = world.department("Sales").await;
        let refused = |new: NewUser| {
            let directory = &world.directory;
            async move { directory.add_user(new, &admin()).await.unwrap_err() }
        };
        let mut weak = new_user("weak@example.com", Role::Manager, sales);
        weak.password = "short".to_owned();
        let error = refused(weak).await;
        assert_eq!(
            (error.code(), error.field()),
            ("password_too_short", Some("password"))
        );
        let error = refused(new_user("not-an-email", Role::Manager, sales)).await;
        assert_eq!(error.code(), "email_invalid");
        let mut no_roles = new_user("x@example.com", Role::Manager, sales);
        no_roles.roles.clear();
        assert_eq!(refused(no_roles).await.code(), "roles_empty");
        let nowhere = DepartmentId::from_parts(1, [9; 10]);
        let error = refused(new_user("y@example.com", Role::Manager, nowhere)).await;
        assert_eq!(error.code(), "department_unknown");
        let error = world
            .directory
            .add_department("SALES", None, &admin())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "department_name_taken");
        assert!(world.directory.is_empty().await.unwrap(), "nothing written");
    }
}

#[tokio::test]
async fn it_should_refuse_a_duplicate_email_in_any_case() {
    for backend in BACKENDS {
        let world = World::new(backend).await;
        let sales = world.department("Sales").await;
        world.user("Anna@Example.com", Role::Manager, sales).await;
        for again in ["anna@example.com", " ANNA@EXAMPLE.COM "] {
            let error = world
                .directory
                .add_user(new_user(again, Role::Operator, sales), &admin())
                .await
                .unwrap_err();
            assert!(matches!(error, DirectoryError::EmailTaken), "{error:?}");
        }
        assert_eq!(world.directory.users().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn only_administrators_and_the_system_manage_users() {
    let world = World::new(Backend::Memory).await;
    let sales = world.department("Sales").await;
    let manager = world.user("m@example.com", Role::Manager, sales).await;
    let administrator = world
        .user("a@example.com", Role::Administrator, sales)
        .await;
    let error = world
        .directory
        .add_department("Support", None, &Actor::user(manager.to_string()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    world
        .directory
        .add_department("Support", None, &Actor::user(administrator.to_string()))
        .await
        .expect("an administrator may");
    let error = world
        .directory
        .add_department("Integrations", None, &Actor::integration("site"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
}

#[tokio::test]
async fn login_accepts_the_password_and_gives_one_answer_for_every_failure() {
    for backend in BACKENDS {
        let world = World::new(backend).await;
        let sales = world.department("Sales").await;
        let anna = world.user("anna@example.com", Role::Manager, sales).await;

        let session = world
            .directory
            .login("ANNA@example.com", PASSWORD)
            .await
            .expect("login works with the e-mail in any case");
        assert_eq!(session.user.id, anna);
        assert_eq!(session.expires_at, start() + chrono::Duration::hours(12));
        assert!(session.token.expose().starts_with("vrk_"));
        assert!(!format!("{session:?}").contains(session.token.expose()));

        let wrong_password = world
            .directory
            .login("anna@example.com", "wrong password!")
            .await
            .unwrap_err();
        let unknown_email = world
            .directory
            .login("nobody@example.com", PASSWORD)
            .await
            .unwrap_err();
        for error in [wrong_password, unknown_email] {
            assert!(
                matches!(error, DirectoryError::InvalidCredentials),
                "{error:?}"
            );
            assert_eq!(error.code(), "invalid_credentials");
            assert_eq!(error.to_string(), "the e-mail or the password is wrong");
        }
    }
}

#[tokio::test]
async fn authenticate_accepts_a_live_token_and_refuses_expired_ended_and_deactivated() {
    for backend in BACKENDS {
        let world = World::new(backend).await;
        let sales = world.department("Sales").await;
        let anna = world.user("anna@example.com", Role::Manager, sales).await;
        let directory = &world.directory;

        let session = directory.login("anna@example.com", PASSWORD).await.unwrap();
        let token = session.token.expose();
        assert_eq!(directory.authenticate(token).await.unwrap().id, anna);

        for malformed in ["", "Bearer x", "vrk_00", &token.to_uppercase()] {
            let error = directory.authenticate(malformed).await.unwrap_err();
            assert_eq!(error.code(), "token_invalid", "{malformed:?}");
        }

        world.clock.advance(chrono::Duration::hours(12));
        let error = directory.authenticate(token).await.unwrap_err();
        assert_eq!(error.code(), "token_expired");

        let second = directory.login("anna@example.com", PASSWORD).await.unwrap();
        directory.logout(second.token.expose()).await.unwrap();
        let error = directory
            .authenticate(second.token.expose())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "token_invalid");
        let error = directory.logout(second.token.expose()).await.unwrap_err();
        assert_eq!(error.code(), "token_invalid");

        let third = directory.login("anna@example.com", PASSWORD).await.unwrap();
        directory.deactivate_user(anna, &admin()).await.unwrap();
        let error = directory
            .authenticate(third.token.expose())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "token_invalid");
        let error = directory
            .login("anna@example.com", PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_credentials");
    }
}

#[tokio::test]
async fn a_new_directory_on_the_same_store_sees_users_and_sessions() {
    for backend in BACKENDS {
        let world = World::new(backend).await;
        let sales = world.department("Sales").await;
        let anna = world.user("anna@example.com", Role::Director, sales).await;
        let session = world
            .directory
            .login("anna@example.com", PASSWORD)
            .await
            .unwrap();

        let reopened = world.another_directory().await;
        assert_eq!(reopened.users().await.unwrap().len(), 1);
        assert!(reopened.departments().await.unwrap().contains(sales));
        let user = reopened.authenticate(session.token.expose()).await.unwrap();
        assert_eq!(user.id, anna);

        // And changes made by one are seen by the other before its next query.
        reopened.logout(session.token.expose()).await.unwrap();
        let error = world
            .directory
            .authenticate(session.token.expose())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "token_invalid");
        reopened
            .change_roles(anna, BTreeSet::from([Role::Manager]), &admin())
            .await
            .unwrap();
        let user = world.directory.user(anna).await.unwrap().unwrap();
        assert_eq!(user.roles, BTreeSet::from([Role::Manager]));
    }
}

#[tokio::test]
async fn two_directories_adding_users_at_once_never_lose_one() {
    for backend in BACKENDS {
        let world = World::new(backend).await;
        let sales = world.department("Sales").await;
        let first = Arc::new(world.another_directory().await);
        let second = Arc::new(world.another_directory().await);
        let mut tasks = Vec::new();
        for n in 0..6 {
            let directory = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tasks.push(tokio::spawn(async move {
                let email = format!("user{n}@example.com");
                let added = directory
                    .add_user(new_user(&email, Role::Manager, sales), &admin())
                    .await;
                (email, added)
            }));
        }
        // The same e-mail from both at once: exactly one wins.
        let both = [first.clone(), second.clone()].map(|directory| {
            tokio::spawn(async move {
                directory
                    .add_user(new_user("same@example.com", Role::Manager, sales), &admin())
                    .await
            })
        });
        let mut added = BTreeSet::new();
        let mut refused_loudly = 0;
        for task in tasks {
            let (email, outcome) = task.await.unwrap();
            match outcome {
                Ok(id) => {
                    added.insert((id, email));
                }
                // Refused loudly is allowed under contention; lost is not.
                Err(DirectoryError::Conflict { .. }) => refused_loudly += 1,
                Err(other) => panic!("{email}: {other:?}"),
            }
        }
        assert_eq!(added.len() + refused_loudly, 6, "{backend:?}");
        assert!(
            added.len() >= 3,
            "{backend:?}: a retry resolves most conflicts"
        );
        let mut same_added = 0;
        for task in both {
            match task.await.unwrap() {
                Ok(id) => {
                    same_added += 1;
                    added.insert((id, "same@example.com".to_owned()));
                }
                Err(DirectoryError::EmailTaken | DirectoryError::Conflict { .. }) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert!(same_added <= 1, "{backend:?}: one user per e-mail");

        let fresh = world.another_directory().await;
        let stored: BTreeSet<(UserId, String)> = fresh
            .users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
        assert_eq!(
            stored, added,
            "{backend:?}: every acknowledged user is there"
        );
    }
}
