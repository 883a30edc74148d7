//! Choosing and opening the backend from the `--db` URL.

use anyhow::{bail, Context};
use std::sync::Arc;
use voronka_core::{Clock, SystemClock};
use voronka_store::{EventStore, StoreMetrics};
use voronka_store_postgres::{PostgresOptions, PostgresStore};
use voronka_store_sqlite::{SqliteLocation, SqliteOptions, SqliteStore};

#[derive(clap::Args, Clone)]
pub struct DbArgs {
    /// The database: sqlite://PATH (embedded, the default) or postgres://USER@HOST/DB.
    #[arg(
        long = "db",
        env = "VORONKA_DB",
        default_value = "sqlite://voronka.db",
        hide_env_values = true
    )]
    pub url: String,
}

/// The backend a URL names.
pub enum Backend {
    Sqlite(SqliteLocation),
    Postgres(String),
}

impl Backend {
    pub fn parse(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres(url.to_owned()))
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite(SqliteLocation::parse(url)?))
        } else {
            bail!(
                "unsupported database URL `{}`: use sqlite://PATH or postgres://...",
                redact(url)
            )
        }
    }
}

/// Shows a URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub async fn open(
    url: &str,
    metrics: StoreMetrics,
    run_migrations: bool,
) -> anyhow::Result<Arc<dyn EventStore>> {
    open_with_clock(url, metrics, run_migrations, Arc::new(SystemClock)).await
}

pub async fn open_with_clock(
    url: &str,
    metrics: StoreMetrics,
    run_migrations: bool,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn EventStore>> {
    match Backend::parse(url)? {
        Backend::Sqlite(location) => {
            let mut options = SqliteOptions::new(clock);
            options.metrics = metrics;
            options.run_migrations = run_migrations;
            let store = SqliteStore::open(&location, options)
                .await
                .context("cannot open the database")?;
            Ok(Arc::new(store))
        }
        Backend::Postgres(url) => {
            let options = PostgresOptions {
                clock,
                metrics,
                run_migrations,
            };
            let store = PostgresStore::open(&url, options)
                .await
                .context("cannot open the database")?;
            Ok(Arc::new(store))
        }
    }
}

pub async fn migrate(db: &DbArgs) -> anyhow::Result<()> {
    match Backend::parse(&db.url)? {
        Backend::Sqlite(location) => {
            let applied = SqliteStore::migrate(&location)
                .await
                .context("cannot migrate the database")?;
            println!(
                "{}: {applied} migration(s) applied; the schema is current",
                location.display()
            );
        }
        Backend::Postgres(url) => {
            let options = PostgresOptions {
                clock: Arc::new(SystemClock),
                metrics: StoreMetrics::unregistered(),
                run_migrations: true,
            };
            let store = PostgresStore::open(&url, options)
                .await
                .context("cannot migrate the database")?;
            voronka_store::EventStore::close(&store).await;
            println!("{}: the schema is current", redact(&url));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(Backend::parse("mysql://x").is_err());
        assert!(matches!(
            Backend::parse("sqlite://x.db"),
            Ok(Backend::Sqlite(_))
        ));
        assert!(matches!(
            Backend::parse("postgresql://h/db"),
            Ok(Backend::Postgres(_))
        ));
    }
}
