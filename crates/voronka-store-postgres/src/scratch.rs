//! Throwaway databases and the disk's own commit rate: what tests, the crash
//! test and `voronka bench store --backend postgres` need around the store.
//!
//! A scratch database is created on the server a URL points at and named by a
//! fresh UUID, so concurrent runs never meet. The baseline measures plain
//! one-row-per-transaction inserts with `synchronous_commit = on`, the rate
//! group commit has to beat.

use crate::connection::{describe_sqlx_error, quoted_database_name, store_error, ServerAddress};
use sqlx::Connection;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voronka_store::StoreError;

/// Creates an empty database named `voronka_scratch_<uuid>` on the server
/// `server_url` points at, and returns its URL (`server_url` with the
/// database replaced).
pub async fn create_scratch_database(server_url: &str) -> Result<String, StoreError> {
    let name = format!("voronka_scratch_{}", uuid::Uuid::new_v4().simple());
    create_database(server_url, &name).await
}

/// A scratch database that is dropped again when this guard goes out of
/// scope, also when a test panics. Dropping is best effort: a failure is
/// printed, not raised, since it happens during unwinding or cleanup.
pub struct ScratchDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates `{prefix}_<uuid>` on the server `server_url` points at.
    pub async fn create(server_url: &str, prefix: &str) -> Result<Self, StoreError> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let url = create_database(server_url, &name).await?;
        Ok(Self {
            server_url: server_url.to_owned(),
            name,
            url,
        })
    }

    /// The URL of the scratch database itself.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server it lives on, as given to [`ScratchDatabase::create`].
    pub fn server_url(&self) -> &str {
        &self.server_url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime, which must not be blocked on from
        // within: a plain thread with its own small runtime does the work.
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime
                .block_on(drop_database(&server_url, &name))
                .map_err(|error| error.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop scratch database {}: {error}", self.name),
            Err(_) => eprintln!("could not drop scratch database {}", self.name),
        }
    }
}

/// Creates an empty database `name` (ASCII letters, digits and underscores)
/// on the server `server_url` points at; returns its URL.
pub async fn create_database(server_url: &str, name: &str) -> Result<String, StoreError> {
    let quoted = quoted_database_name(name)?;
    let url = database_url(server_url, name)?;
    let mut connection = ServerAddress::parse(server_url)?.connect().await?;
    let created = sqlx::raw_sql(&format!("CREATE DATABASE {quoted}"))
        .execute(&mut connection)
        .await
        .map_err(|error| store_error(&format!("creating database {name}"), error));
    let _ = connection.close().await;
    created?;
    Ok(url)
}

/// Drops database `name` (if it exists) on the server `server_url` points at,
/// disconnecting whoever is still connected to it.
pub async fn drop_database(server_url: &str, name: &str) -> Result<(), StoreError> {
    let quoted = quoted_database_name(name)?;
    let mut address = ServerAddress::parse(server_url)?;
    if address.options.get_database() == Some(name) {
        // A database cannot be dropped from a connection to itself.
        address = address.with_database("postgres");
    }
    let mut connection = address.connect().await?;
    let dropped = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        .execute(&mut connection)
        .await
        .map_err(|error| store_error(&format!("dropping database {name}"), error));
    let _ = connection.close().await;
    dropped.map(|_| ())
}

/// The database a `postgres://` URL names, if it names one.
pub fn database_name(url: &str) -> Option<String> {
    let address = ServerAddress::parse(url).ok()?;
    address.options.get_database().map(str::to_owned)
}

/// `server_url` with its database (the URL path) replaced by `name`; the
/// user, password, host, port and query parameters stay as they were.
pub fn database_url(server_url: &str, name: &str) -> Result<String, StoreError> {
    quoted_database_name(name)?;
    let invalid = || {
        StoreError::Unavailable(
            "invalid PostgreSQL URL (expected postgres://user@host:port/database)".into(),
        )
    };
    let (scheme, rest) = server_url.split_once("://").ok_or_else(invalid)?;
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(invalid());
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after_authority) = rest.split_at(authority_end);
    let suffix = match after_authority.strip_prefix('/') {
        Some(path_and_more) => {
            let path_end = path_and_more
                .find(['?', '#'])
                .unwrap_or(path_and_more.len());
            &path_and_more[path_end..]
        }
        None => after_authority,
    };
    Ok(format!("{scheme}://{authority}/{name}{suffix}"))
}

/// The baseline for the append bench: `clients` connections each insert one
/// row per transaction (`synchronous_commit = on`) into a scratch table of
/// the database at `url` for `duration`; returns commits per second. The
/// table is dropped afterwards.
pub async fn baseline_single_row_commits(
    url: &str,
    clients: usize,
    duration: Duration,
) -> Result<f64, StoreError> {
    let address = ServerAddress::parse(url)?;
    let clients = clients.max(1);
    // Our own generated name, not user input: identifiers cannot be bound.
    let table = format!("voronka_baseline_{}", uuid::Uuid::new_v4().simple());
    let mut setup = address.connect().await?;
    sqlx::raw_sql(&format!(
        "CREATE TABLE {table} (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         client INT NOT NULL, body TEXT NOT NULL)"
    ))
    .execute(&mut setup)
    .await
    .map_err(|error| store_error("creating the baseline table", error))?;

    let measured = measure_single_row_commits(&address, &table, clients, duration).await;

    let dropped = sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {table}"))
        .execute(&mut setup)
        .await;
    if let Err(error) = dropped {
        tracing::warn!(error = %describe_sqlx_error(&error), %table, "cannot drop the baseline table");
    }
    let _ = setup.close().await;
    measured
}

async fn measure_single_row_commits(
    address: &ServerAddress,
    table: &str,
    clients: usize,
    duration: Duration,
) -> Result<f64, StoreError> {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(address.connect().await?);
    }
    let insert: Arc<str> = format!("INSERT INTO {table} (client, body) VALUES ($1, $2)").into();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for (client, mut connection) in (0i32..).zip(connections) {
        let insert = insert.clone();
        tasks.push(tokio::spawn(async move {
            let mut commits = 0u64;
            while Instant::now() < deadline {
                sqlx::query(&insert)
                    .bind(client)
                    .bind(r#"{"step":"baseline","note":"one row per commit"}"#)
                    .execute(&mut connection)
                    .await
                    .map_err(|error| store_error("inserting a baseline row", error))?;
                commits += 1;
            }
            let _ = connection.close().await;
            Ok::<u64, StoreError>(commits)
        }));
    }
    let mut total = 0u64;
    for task in tasks {
        total += task
            .await
            .map_err(|error| StoreError::Backend(format!("a baseline client failed: {error}")))??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(if elapsed > 0.0 {
        total as f64 / elapsed
    } else {
        0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_everything_but_the_database() {
        let check = |server: &str, expected: &str| {
            assert_eq!(
                database_url(server, "voronka_x").unwrap(),
                expected,
                "{server}"
            );
        };
        check(
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@127.0.0.1:5432/voronka_x",
        );
        check(
            "postgres://u:p%2Fw@db:6543",
            "postgres://u:p%2Fw@db:6543/voronka_x",
        );
        check(
            "postgresql://u@db/old?sslmode=disable",
            "postgresql://u@db/voronka_x?sslmode=disable",
        );
        check(
            "postgres://db?sslmode=require",
            "postgres://db/voronka_x?sslmode=require",
        );
        assert!(database_url("mysql://db/x", "voronka_x").is_err());
        assert!(database_url("postgres://db/x", "bad name").is_err());
        assert!(database_url("nonsense", "voronka_x").is_err());
    }

    #[test]
    fn the_database_name_is_read_from_the_url() {
        assert_eq!(
            database_name("postgres://u@h:1/voronka_1").as_deref(),
            Some("voronka_1")
        );
        assert_eq!(database_name("not a url"), None);
    }
}
