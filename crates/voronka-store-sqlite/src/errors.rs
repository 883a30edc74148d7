//! Turning sqlx and I/O errors into the store's error kinds, with one clear
//! line for the user.
//!
//! sqlx has no error kind for SQLite's "disk full", "read-only" or "not a
//! database" conditions, so those are recognised by SQLite's documented
//! primary result codes (the low byte of the extended code), named below.

use std::path::Path;
use voronka_store::StoreError;

use crate::SqliteLocation;

const SQLITE_PERM: i64 = 3;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_NOTADB: i64 = 26;

fn primary_code(error: &sqlx::Error) -> Option<i64> {
    let code = error.as_database_error()?.code()?;
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

fn message(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => error.to_string(),
    }
}

/// An error while writing or reading an open store.
pub(crate) fn classify(error: sqlx::Error) -> StoreError {
    match primary_code(&error) {
        Some(SQLITE_FULL) => {
            StoreError::NotWritable("the disk is full; nothing was written".into())
        }
        Some(SQLITE_READONLY | SQLITE_PERM) => {
            StoreError::NotWritable(format!("the database is read-only: {}", message(&error)))
        }
        Some(SQLITE_IOERR) => {
            StoreError::NotWritable(format!("disk I/O error: {}", message(&error)))
        }
        Some(SQLITE_CORRUPT | SQLITE_NOTADB) => StoreError::Incompatible(message(&error)),
        _ => backend(error),
    }
}

/// An error while opening; the same kinds, with a hint about the file.
pub(crate) fn classify_open(error: sqlx::Error) -> StoreError {
    match primary_code(&error) {
        Some(SQLITE_NOTADB | SQLITE_CORRUPT) => StoreError::Incompatible(
            "the file is not a SQLite database or is damaged; nothing was changed".into(),
        ),
        Some(SQLITE_CANTOPEN) => {
            StoreError::NotWritable(format!("cannot open the file: {}", message(&error)))
        }
        _ => classify(error),
    }
}

pub(crate) fn open_error(location: &SqliteLocation, error: sqlx::Error) -> StoreError {
    match classify_open(error) {
        StoreError::Incompatible(m) => {
            StoreError::Incompatible(format!("{}: {m}", location.display()))
        }
        StoreError::NotWritable(m) => {
            StoreError::NotWritable(format!("{}: {m}", location.display()))
        }
        StoreError::Backend(m) => StoreError::Unavailable(format!("{}: {m}", location.display())),
        other => other,
    }
}

pub(crate) fn migrate_error(
    location: &SqliteLocation,
    error: sqlx::migrate::MigrateError,
) -> StoreError {
    use sqlx::migrate::MigrateError;
    match error {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => open_error(location, e),
        MigrateError::VersionMissing(v) => StoreError::Incompatible(format!(
            "{}: the database has migration {v}, which this Voronka does not know (a newer version, or another application); nothing was changed",
            location.display()
        )),
        MigrateError::VersionMismatch(v) => StoreError::Incompatible(format!(
            "{}: applied migration {v} differs from this Voronka's; nothing was changed",
            location.display()
        )),
        MigrateError::Dirty(v) => StoreError::Incompatible(format!(
            "{}: migration {v} was interrupted; restore a backup",
            location.display()
        )),
        other => StoreError::Backend(format!("{}: {other}", location.display())),
    }
}

pub(crate) fn io_open_error(path: &Path, error: std::io::Error) -> StoreError {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            StoreError::NotWritable(format!("{}: permission denied", path.display()))
        }
        std::io::ErrorKind::StorageFull => {
            StoreError::NotWritable(format!("{}: the disk is full", path.display()))
        }
        std::io::ErrorKind::NotFound => {
            StoreError::NotWritable(format!("{}: the folder does not exist", path.display()))
        }
        _ => StoreError::Unavailable(format!("{}: {error}", path.display())),
    }
}

pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    StoreError::Backend(message(&error))
}
