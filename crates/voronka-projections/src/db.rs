//! The read-model database: SQLite (a file beside the event store's) or
//! PostgreSQL (the store's own database, tables prefixed `rm_`), reached
//! through sqlx's `Any` driver so every projection and report is written
//! once. The SQL used here is the common subset of both dialects: `$N`
//! parameters, `ON CONFLICT ... DO UPDATE`, integers and text only (times
//! are microseconds since the epoch, money is kopecks), and every aggregate
//! cast to `BIGINT` so PostgreSQL's `numeric` never reaches the decoder.

use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Arguments, Executor, Transaction};

use crate::ProjectionError;

/// Which engine is behind the pool (for the few statements that differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A pool on the read-model database.
#[derive(Clone, Debug)]
pub struct ReadDb {
    pool: AnyPool,
    dialect: Dialect,
}

static DRIVERS: Once = Once::new();

/// The most parameters one statement may carry on either engine (SQLite
/// allows 32,766, PostgreSQL 65,535).
pub const MAX_PARAMETERS: usize = 30_000;

impl ReadDb {
    /// Opens `url`: `sqlite://PATH` (created if missing) or `postgres://...`.
    pub async fn open(url: &str) -> Result<Self, ProjectionError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (dialect, url) = if url.starts_with("sqlite:") {
            let url = if url.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            (Dialect::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_owned())
        } else {
            return Err(ProjectionError::UnsupportedUrl);
        };
        let options: AnyConnectOptions = url.parse().map_err(ProjectionError::Database)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match dialect {
                Dialect::Sqlite => 8,
                Dialect::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL: readers never wait for the projection's
                        // writer; NORMAL: a power cut may lose the last
                        // batches, which the runner simply folds again (the
                        // checkpoint is in the same transaction).
                        connection
                            .execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; \
                                 PRAGMA temp_store = MEMORY;",
                            )
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(ProjectionError::Database)?;
        Ok(Self { pool, dialect })
    }

    /// A transaction that will write: on SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout
    /// instead of one failing when it turns from reading to writing.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The read-model database that goes with an event-store URL: for SQLite a
/// second file beside the store's (`voronka.db` -> `voronka.reports.db`), so
/// the projection's writes never queue behind the store's group commit; for
/// PostgreSQL the same database.
pub fn read_db_url_for(store_url: &str) -> String {
    if let Some(rest) = store_url.strip_prefix("sqlite:") {
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let path = match path.strip_suffix(".db") {
            Some(stem) => format!("{stem}.reports.db"),
            None => format!("{path}.reports.db"),
        };
        match query {
            Some(query) => format!("sqlite:{path}?{query}"),
            None => format!("sqlite:{path}"),
        }
    } else {
        store_url.to_owned()
    }
}

/// A statement on the read-model database with its bound values.
pub type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// Inserts `rows` into `table` as multi-row `INSERT`s of at most
/// [`MAX_PARAMETERS`] values each, `bind` binding one row's values in the
/// order of `columns`; `tail` follows the `VALUES` list (an `ON CONFLICT`
/// clause, or empty). Table, columns and tail are the caller's constants.
/// `bind` may bind text borrowed from the row (`&'q str`): a bulk rebuild
/// binds tens of millions of values, and a copy of each was a third of its
/// time in the allocator.
pub async fn insert_rows<T>(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    table: &str,
    columns: &[&str],
    tail: &str,
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(MAX_PARAMETERS / columns.len().max(1)) {
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {} {tail}",
            columns.join(", "),
            bulk_values(dialect, chunk.len(), columns.len())
        );
        // Room for every value at once: growing a vector of 30,000 values
        // by doubling copied it a dozen times per statement.
        let mut arguments = AnyArguments::default();
        arguments.reserve(chunk.len() * columns.len(), 0);
        let mut query = sqlx::query_with(&sql, arguments);
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `$first, $first+1, ...` for `count` values: placeholders for an `IN`
/// list or a multi-row `VALUES`, never the values themselves.
pub fn placeholders(first: usize, count: usize) -> String {
    let mut text = String::with_capacity(count * 4);
    for i in 0..count {
        if i > 0 {
            text.push_str(", ");
        }
        text.push('$');
        text.push_str(&(first + i).to_string());
    }
    text
}

/// The `VALUES` list of a multi-row insert, in the placeholders the engine
/// parses fastest: SQLite looks numbered parameters up in a list (a
/// 10,000-row insert spends seconds parsing `$N`), so it gets anonymous
/// `?`, bound in order; PostgreSQL gets `$N`.
pub fn bulk_values(dialect: Dialect, rows: usize, columns: usize) -> String {
    match dialect {
        Dialect::Postgres => values_rows(rows, columns),
        Dialect::Sqlite => {
            let row = format!("({})", vec!["?"; columns].join(", "));
            vec![row; rows].join(", ")
        }
    }
}

/// `($1, $2, $3), ($4, $5, $6), ...` for `rows` rows of `columns` values
/// (for a few rows; many go through [`bulk_values`]).
pub fn values_rows(rows: usize, columns: usize) -> String {
    let mut text = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        text.push_str(&placeholders(row * columns + 1, columns));
        text.push(')');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_read_models_live_beside_the_store() {
        assert_eq!(
            read_db_url_for("sqlite://voronka.db"),
            "sqlite://voronka.reports.db"
        );
        assert_eq!(
            read_db_url_for("sqlite:///var/lib/v/data?mode=rwc"),
            "sqlite:///var/lib/v/data.reports.db?mode=rwc"
        );
        assert_eq!(read_db_url_for("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(values_rows(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(bulk_values(Dialect::Sqlite, 2, 2), "(?, ?), (?, ?)");
        assert_eq!(bulk_values(Dialect::Postgres, 1, 2), "($1, $2)");
    }
}
