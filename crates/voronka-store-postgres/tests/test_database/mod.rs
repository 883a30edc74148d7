//! A fresh PostgreSQL database per test, dropped when the test ends, on the
//! server named by `DATABASE_URL` (default: the local trust-auth server).

use std::sync::Arc;
use voronka_core::Clock;
use voronka_store::StoreMetrics;
use voronka_store_postgres::{PostgresOptions, PostgresStore};

pub const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned())
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub server_url: String,
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates `voronka_test_<uuid>`; panics with set-up advice when the
    /// server cannot be reached.
    pub async fn create() -> Self {
        let server_url = server_url();
        let name = format!("voronka_test_{}", uuid::Uuid::new_v4().simple());
        match voronka_store_postgres::create_database(&server_url, &name).await {
            Ok(url) => Self {
                server_url,
                name,
                url,
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

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which must not be blocked on
        // from within: a plain thread with its own small runtime does the work.
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(voronka_store_postgres::drop_database(&server_url, &name))
                .map_err(|e| e.to_string())
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}
