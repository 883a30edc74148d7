//! Where the store lives: parsing `sqlite://...` URLs and guarding the file
//! against a second writer process.

use std::fs::File;
use std::path::{Path, PathBuf};
use voronka_store::StoreError;

/// A SQLite database file, from a `sqlite://path` URL or a plain path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteLocation {
    path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqliteLocationError {
    #[error("`{0}` is not a SQLite URL (expected sqlite://PATH, e.g. sqlite://voronka.db)")]
    NotSqlite(String),
    #[error("the SQLite URL `{0}` names no file")]
    NoPath(String),
    #[error("the SQLite URL `{0}` has options; none are supported")]
    Options(String),
}

impl SqliteLocation {
    /// Accepts `sqlite://relative.db`, `sqlite:///absolute.db` and `sqlite:file.db`.
    pub fn parse(url: &str) -> Result<Self, SqliteLocationError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| SqliteLocationError::NotSqlite(url.to_owned()))?;
        if rest.contains('?') {
            return Err(SqliteLocationError::Options(url.to_owned()));
        }
        if rest.is_empty() || rest == ":memory:" {
            return Err(SqliteLocationError::NoPath(url.to_owned()));
        }
        Ok(Self {
            path: PathBuf::from(rest),
        })
    }

    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".writer-lock");
        PathBuf::from(name)
    }

    /// Takes the exclusive writer lock for this database, held as long as the
    /// returned file is open. The OS releases it if the process dies.
    pub(crate) fn lock_writer(&self) -> Result<File, StoreError> {
        let lock_path = self.lock_path();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| crate::errors::io_open_error(&lock_path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
                "{} is in use by another Voronka process",
                self.path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(crate::errors::io_open_error(&lock_path, e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_parse() {
        assert_eq!(
            SqliteLocation::parse("sqlite://voronka.db").unwrap().path(),
            Path::new("voronka.db")
        );
        assert_eq!(
            SqliteLocation::parse("sqlite:///var/lib/v.db")
                .unwrap()
                .path(),
            Path::new("/var/lib/v.db")
        );
        assert_eq!(
            SqliteLocation::parse("sqlite:x.db").unwrap().path(),
            Path::new("x.db")
        );
        assert!(matches!(
            SqliteLocation::parse("postgres://x"),
            Err(SqliteLocationError::NotSqlite(_))
        ));
        assert!(matches!(
            SqliteLocation::parse("sqlite://"),
            Err(SqliteLocationError::NoPath(_))
        ));
        assert!(matches!(
            SqliteLocation::parse("sqlite://a.db?mode=ro"),
            Err(SqliteLocationError::Options(_))
        ));
    }
}
