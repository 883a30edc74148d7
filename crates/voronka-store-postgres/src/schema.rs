//! The embedded migrations and the checks that keep Voronka from writing into
//! a database it does not understand.
//!
//! Before anything is created, the database is inspected: a table named like
//! ours that no Voronka migration created (someone else's `events`), a
//! migration we do not know (a newer Voronka wrote here), a changed or
//! half-applied migration — each makes the database [`StoreError::Incompatible`]
//! and nothing is touched.

use crate::connection::store_error;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgConnection;
use std::collections::HashMap;
use voronka_store::StoreError;

/// Every migration of the PostgreSQL store, compiled into the binary.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// The tables the first migration creates; finding any of them without that
/// migration recorded means they belong to someone else.
const OWN_TABLES: [&str; 4] = ["events", "streams", "commands", "position_counter"];

/// Where a database stands relative to the embedded migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemaState {
    /// Every embedded migration is applied, and nothing else.
    Current,
    /// Some embedded migrations are not applied yet (an empty database, or an
    /// older Voronka's).
    Pending,
}

/// Reads the migration ledger and the table names, and says whether the
/// database is ours and how far it is migrated.
pub(crate) async fn inspect(connection: &mut PgConnection) -> Result<SchemaState, StoreError> {
    let existing_tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_catalog.pg_class c \
         WHERE c.relname = ANY($1) AND pg_catalog.pg_table_is_visible(c.oid)",
    )
    .bind(
        OWN_TABLES
            .iter()
            .chain(["_sqlx_migrations"].iter())
            .copied()
            .collect::<Vec<&str>>(),
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(|error| store_error("reading the database's tables", error))?;

    let mut applied: HashMap<i64, (bool, Vec<u8>)> = HashMap::new();
    if existing_tables.iter().any(|t| t == "_sqlx_migrations") {
        let rows: Vec<(i64, bool, Vec<u8>)> =
            sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations")
                .fetch_all(&mut *connection)
                .await
                .map_err(|error| {
                    StoreError::Incompatible(format!(
                        "the table _sqlx_migrations is not a migration ledger Voronka can read: {}",
                        crate::connection::describe_sqlx_error(&error)
                    ))
                })?;
        applied = rows
            .into_iter()
            .map(|(version, success, checksum)| (version, (success, checksum)))
            .collect();
    }
    judge(&existing_tables, &applied)
}

/// The pure part of [`inspect`].
fn judge(
    existing_tables: &[String],
    applied: &HashMap<i64, (bool, Vec<u8>)>,
) -> Result<SchemaState, StoreError> {
    let known: HashMap<i64, &[u8]> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    let mut unknown: Vec<i64> = applied
        .keys()
        .copied()
        .filter(|v| !known.contains_key(v))
        .collect();
    unknown.sort_unstable();
    if let Some(version) = unknown.first() {
        return Err(StoreError::Incompatible(format!(
            "the database has migration {version}, which this Voronka does not know: \
             it was written by a newer Voronka (or another application); upgrade Voronka \
             or use another database"
        )));
    }
    for (version, (success, checksum)) in applied {
        if !success {
            return Err(StoreError::Incompatible(format!(
                "migration {version} was left half-applied; repair the database by hand"
            )));
        }
        if known.get(version).copied() != Some(checksum.as_slice()) {
            return Err(StoreError::Incompatible(format!(
                "migration {version} in the database differs from this Voronka's"
            )));
        }
    }
    let first_version = known.keys().min().copied();
    let ours_created_tables = first_version.is_some_and(|v| applied.contains_key(&v));
    if !ours_created_tables {
        if let Some(foreign) = existing_tables
            .iter()
            .find(|t| OWN_TABLES.contains(&t.as_str()))
        {
            return Err(StoreError::Incompatible(format!(
                "the database already has a table `{foreign}` that Voronka did not create; \
                 use an empty database"
            )));
        }
    }
    if known.keys().all(|v| applied.contains_key(v)) {
        Ok(SchemaState::Current)
    } else {
        Ok(SchemaState::Pending)
    }
}

/// Applies the pending migrations (after [`inspect`] found the database ours).
/// Several processes may call this at once: sqlx serialises them with an
/// advisory lock, and each migration runs in its own transaction.
pub(crate) async fn migrate(connection: &mut PgConnection) -> Result<(), StoreError> {
    inspect(connection).await?;
    MIGRATOR
        .run_direct(&mut *connection)
        .await
        .map_err(|error| match error {
            MigrateError::Execute(error) => store_error("running migrations", error),
            MigrateError::ExecuteMigration(error, version) => {
                store_error(&format!("running migration {version}"), error)
            }
            MigrateError::VersionMissing(_)
            | MigrateError::VersionMismatch(_)
            | MigrateError::Dirty(_) => StoreError::Incompatible(error.to_string()),
            other => StoreError::Backend(format!("running migrations: {other}")),
        })?;
    match inspect(connection).await? {
        SchemaState::Current => Ok(()),
        SchemaState::Pending => Err(StoreError::Backend(
            "migrations ran but some are still not recorded as applied".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_applied() -> HashMap<i64, (bool, Vec<u8>)> {
        MIGRATOR
            .iter()
            .map(|m| (m.version, (true, m.checksum.to_vec())))
            .collect()
    }

    fn tables(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn an_empty_database_is_pending() {
        assert_eq!(judge(&[], &HashMap::new()).unwrap(), SchemaState::Pending);
    }

    #[test]
    fn a_fully_migrated_database_is_current() {
        let applied = all_applied();
        let existing = tables(&["events", "streams", "commands", "position_counter"]);
        assert_eq!(judge(&existing, &applied).unwrap(), SchemaState::Current);
    }

    #[test]
    fn foreign_tables_unknown_or_broken_migrations_are_incompatible() {
        let foreign = judge(&tables(&["events"]), &HashMap::new());
        assert!(matches!(foreign, Err(StoreError::Incompatible(m)) if m.contains("`events`")));

        let mut newer = all_applied();
        newer.insert(99_991_231_000_000, (true, vec![1]));
        assert!(matches!(
            judge(&[], &newer),
            Err(StoreError::Incompatible(m)) if m.contains("newer")
        ));

        let mut changed = all_applied();
        for entry in changed.values_mut() {
            entry.1 = vec![0];
        }
        assert!(matches!(
            judge(&[], &changed),
            Err(StoreError::Incompatible(m)) if m.contains("differs")
        ));

        let mut dirty = all_applied();
        for entry in dirty.values_mut() {
            entry.0 = false;
        }
        assert!(matches!(
            judge(&[], &dirty),
            Err(StoreError::Incompatible(m)) if m.contains("half-applied")
        ));
    }
}
