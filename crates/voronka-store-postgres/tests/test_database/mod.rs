//! A fresh PostgreSQL database per test, dropped when the test ends, on the
//! server named by `DATABASE_URL` (default: the local trust-auth server).

use std::sync::Arc;
use voronka_core::Clock;
use voronka_store::StoreMetrics;
use voronka_store_postgres::{PostgresOptions, PostgresStore, ScratchDatabase};

pub const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned())
}

/// A database that exists for one test (dropped with it).
pub struct TestDatabase {
    pub url: String,
    _scratch: ScratchDatabase,
}

impl TestDatabase {
    /// Creates `voronka_test_<uuid>`; panics with set-up advice when the
    /// server cannot be reached.
    pub async fn create() -> Self {
        let server_url = server_url();
        match ScratchDatabase::create(&server_url, "voronka_test").await {
            Ok(scratch) => Self {
                url: scratch.url().to_owned(),
                _scratch: scratch,
            },
            Err(error) => panic!(
                "cannot create a test database on PostgreSQL ({error}). Set DATABASE_URL to a \
                 server where this user may create databases, or run scripts/test, which \
                 starts a throwaway PostgreSQL"
            ),
        }
    }

    pub async fn open(&self, clock: Arc<dyn Clock>, metrics: StoreMetrics) -> PostgresStore {
        PostgresStore::open(
            &self.url,
            PostgresOptions {
                clock,
                metrics,
                run_migrations: true,
            },
        )
        .await
        .expect("the test database opens")
    }
}
