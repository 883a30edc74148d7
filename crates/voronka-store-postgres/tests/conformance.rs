//! The conformance suite every backend passes, against a real PostgreSQL:
//! each test gets its own fresh database, dropped afterwards.

mod test_database;

use async_trait::async_trait;
use std::sync::Arc;
use test_database::TestDatabase;
use voronka_core::Clock;
use voronka_store::conformance::StoreFixture;
use voronka_store::{EventStore, StoreMetrics};

struct PostgresFixture {
    database: TestDatabase,
}

#[async_trait]
impl StoreFixture for PostgresFixture {
    async fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn EventStore> {
        Arc::new(
            self.database
                .open(clock, StoreMetrics::unregistered())
                .await,
        )
    }
}

async fn fixture() -> PostgresFixture {
    PostgresFixture {
        database: TestDatabase::create().await,
    }
}

voronka_store::conformance_tests!(fixture());
