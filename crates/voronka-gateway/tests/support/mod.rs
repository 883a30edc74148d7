//! A real Voronka server for end-to-end tests: the whole router on a free
//! port of 127.0.0.1, over a fresh database of the chosen backend (a
//! temporary SQLite file, or a scratch PostgreSQL database dropped at the
//! end), with an administrator signed in. Tests speak HTTP to it with
//! `reqwest`, exactly as clients do.
//!
//! `on_both_backends!(name, |server| async move { ... })` makes one test per
//! backend from one body.
#![allow(dead_code)]

pub mod browser;

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use voronka_app::access::{DepartmentId, UserId};
use voronka_app::crm::Crm;
use voronka_app::deals::DealService;
use voronka_app::directory::{Directory, NewUser};
use voronka_app::reports::Reports;
use voronka_core::{Actor, Clock, Role, SystemClock};
use voronka_projections::ProjectionMetrics;
use voronka_store::{EventStore, StoreMetrics};
use voronka_store_postgres::{PostgresOptions, PostgresStore, ScratchDatabase};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

pub const PASSWORD: &str = "correct horse battery staple";
const DEFAULT_POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What keeps the database alive for the test.
enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(ScratchDatabase),
}

pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn EventStore>,
    pub directory: Arc<Directory>,
    pub crm: Arc<Crm>,
    pub reports: Arc<Reports>,
    /// The top department; `sales_moscow` and `sales_spb` are below it.
    pub company_department: DepartmentId,
    pub sales_moscow: DepartmentId,
    pub sales_spb: DepartmentId,
    /// An administrator's token.
    pub admin: String,
    pub admin_id: UserId,
    /// Segments and mailings, sending to `mail`.
    pub mailings: Arc<voronka_app::mailings::Mailings>,
    /// The SMTP server mail goes to: it keeps every message.
    pub mail: Arc<voronka_mail::sink::SmtpSink>,
    server: tokio::task::JoinHandle<()>,
    _database: Database,
}

/// A signed-in user of a test.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: UserId,
    pub token: String,
    pub department: DepartmentId,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with_clock(backend, Arc::new(SystemClock)).await
    }

    /// Like [`TestServer::start`] with an injected clock (a `ManualClock`
    /// for timers: tests move time instead of sleeping).
    pub async fn start_with_clock(backend: Backend, clock: Arc<dyn Clock>) -> TestServer {
        let (store, database, read_db_url): (Arc<dyn EventStore>, Database, String) = match backend
        {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let location = SqliteLocation::from_path(dir.path().join("voronka.db"));
                let store = SqliteStore::open(&location, SqliteOptions::new(clock.clone()))
                    .await
                    .expect("open SQLite");
                let read_db_url = format!(
                    "sqlite://{}",
                    dir.path().join("voronka.reports.db").display()
                );
                (Arc::new(store), Database::Sqlite(dir), read_db_url)
            }
            Backend::Postgres => {
                let server = std::env::var("DATABASE_URL")
                    .unwrap_or_else(|_| DEFAULT_POSTGRES_SERVER.to_owned());
                let scratch = ScratchDatabase::create(&server, "voronka_e2e")
                    .await
                    .unwrap_or_else(|error| {
                        panic!(
                            "cannot create a scratch database on {server} ({error}); set \
                             DATABASE_URL or run scripts/test, which starts PostgreSQL"
                        )
                    });
                let store = PostgresStore::open(
                    scratch.url(),
                    PostgresOptions {
                        clock: clock.clone(),
                        metrics: StoreMetrics::unregistered(),
                        run_migrations: true,
                    },
                )
                .await
                .expect("open PostgreSQL");
                let read_db_url = scratch.url().to_owned();
                (Arc::new(store), Database::Postgres(scratch), read_db_url)
            }
        };
        let directory = Arc::new(
            Directory::open(store.clone(), clock.clone())
                .await
                .expect("open the directory"),
        );
        let system = Actor::system("e2e-setup");
        let company_department = directory
            .add_department("Компания", None, &system)
            .await
            .expect("department");
        let sales_moscow = directory
            .add_department("Продажи Москва", Some(company_department), &system)
            .await
            .expect("department");
        let sales_spb = directory
            .add_department("Продажи Петербург", Some(company_department), &system)
            .await
            .expect("department");
        let admin_id = directory
            .add_user(
                NewUser {
                    email: "admin@e2e.test".into(),
                    display_name: "Admin".into(),
                    password: PASSWORD.into(),
                    roles: BTreeSet::from([Role::Administrator]),
                    department: company_department,
                },
                &system,
            )
            .await
            .expect("admin");
        let processes = Arc::new(
            voronka_app::deals::publications::open_registry(&store)
                .await
                .expect("published processes"),
        );
        let deals = Arc::new(DealService::new(store.clone(), processes, clock.clone()));
        let reports = Arc::new(
            Reports::start(
                store.clone(),
                &read_db_url,
                deals.clone(),
                clock.clone(),
                ProjectionMetrics::unregistered(),
            )
            .await
            .expect("start the report projections"),
        );
        let webhooks = Arc::new(voronka_app::webhooks::Webhooks::new(
            store.clone(),
            clock.clone(),
            reports.db().clone(),
        ));
        let crm = Arc::new(
            Crm::open(store.clone(), clock, directory.clone(), deals)
                .await
                .expect("open the CRM"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let mail = Arc::new(
            voronka_mail::sink::SmtpSink::start()
                .await
                .expect("start the SMTP sink"),
        );
        let mailer = voronka_mail::SmtpMailer::new(&mail.url(), "Voronka <crm@test.example>")
            .expect("an SMTP mailer");
        let mailings = voronka_app::mailings::Mailings::new(crm.clone(), Arc::new(mailer), &base)
            .with_retry_delay(std::time::Duration::from_millis(20));
        let router = voronka_gateway::router(voronka_gateway::Gateway {
            store: store.clone(),
            registry: prometheus::Registry::new(),
            directory: directory.clone(),
            crm: crm.clone(),
            reports: reports.clone(),
            webhooks,
            mailings: mailings.clone(),
            login_throttle: Default::default(),
            // The tests' HTTP client is on loopback: it plays the reverse
            // proxy for the forms' per-client limit.
            trusted_proxies: Arc::new(voronka_gateway::client_address::TrustedProxies::new(vec![
                std::net::IpAddr::from([127, 0, 0, 1]),
            ])),
            // Links on pages start at the request's own Host.
            public_url: None,
        });
        let server = tokio::spawn(async move {
            let _ = voronka_gateway::serve(listener, router, std::future::pending()).await;
        });
        let client = reqwest::Client::new();
        let mut server = TestServer {
            base,
            client,
            store,
            directory,
            crm,
            reports,
            company_department,
            sales_moscow,
            sales_spb,
            admin: String::new(),
            admin_id,
            mailings,
            mail,
            server,
            _database: database,
        };
        server.admin = server.login("admin@e2e.test").await;
        server
    }

    /// Signs in and returns the token.
    pub async fn login(&self, email: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                None,
                "/api/v1/auth/login",
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Registers a user with `roles` in `department` (through the
    /// directory, as `voronka user add` does) and signs them in.
    pub async fn user(&self, name: &str, roles: &[Role], department: DepartmentId) -> TestUser {
        let email = format!("{name}@e2e.test");
        let id = self
            .directory
            .add_user(
                NewUser {
                    email: email.clone(),
                    display_name: name.into(),
                    password: PASSWORD.into(),
                    roles: roles.iter().copied().collect(),
                    department,
                },
                &Actor::system("e2e-setup"),
            )
            .await
            .expect("add user");
        TestUser {
            id,
            token: self.login(&email).await,
            department,
        }
    }

    /// One request; the body parsed as JSON (`Null` when empty).
    pub async fn send(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, Some(token), path, None)
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, Some(token), path, Some(body))
            .await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PATCH, Some(token), path, Some(body))
            .await
    }

    /// A raw body (for malformed JSON tests).
    pub async fn post_raw(
        &self,
        token: &str,
        path: &str,
        body: &'static str,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("HTTP request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Asserts a problem+json answer's status and code; returns the body.
#[track_caller]
pub fn expect_problem(answer: (StatusCode, Value), status: StatusCode, code: &str) -> Value {
    let (actual, body) = answer;
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    body
}

/// One test per backend from one async body taking `TestServer`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let server =
                    $crate::support::TestServer::start($crate::support::Backend::Sqlite).await;
                ($body)(server).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let server =
                    $crate::support::TestServer::start($crate::support::Backend::Postgres).await;
                ($body)(server).await;
            }
        }
    };
}
