//! Turning a `postgres://` URL into connections, and sqlx errors into
//! [`StoreError`]s.
//!
//! Kept in one place so that every connection the store opens is durable
//! (`synchronous_commit = on`), fails fast when the server is not there, and
//! never prints the password: messages name only user, host, port and database.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use std::str::FromStr;
use std::time::Duration;
use voronka_store::StoreError;

/// How long opening the first connection may take before the server counts
/// as unreachable.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// A parsed server address plus what we may print about it.
#[derive(Clone)]
pub(crate) struct ServerAddress {
    pub(crate) options: PgConnectOptions,
}

impl ServerAddress {
    /// Parses `url`; the error message never repeats the URL (it may hold a
    /// password).
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        const EXPECTED: &str =
            "invalid PostgreSQL URL (expected postgres://user@host:port/database)";
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Unavailable(EXPECTED.to_owned()));
        }
        let options = PgConnectOptions::from_str(url).map_err(|error| {
            StoreError::Unavailable(format!("{EXPECTED}: {}", describe_sqlx_error(&error)))
        })?;
        let options = options
            .application_name("voronka")
            // Acknowledged means durable, whatever the server or role default.
            .options([("synchronous_commit", "on")]);
        Ok(Self { options })
    }

    /// `user@host:port/database`, safe to print.
    pub(crate) fn describe(&self) -> String {
        let target = match self.options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => format!("{}:{}", self.options.get_host(), self.options.get_port()),
        };
        format!(
            "{}@{}/{}",
            self.options.get_username(),
            target,
            self.options.get_database().unwrap_or("(default database)")
        )
    }

    /// The same server, another database.
    pub(crate) fn with_database(&self, database: &str) -> Self {
        Self {
            options: self.options.clone().database(database),
        }
    }

    /// Opens one connection, giving up after [`CONNECT_TIMEOUT`].
    pub(crate) async fn connect(&self) -> Result<PgConnection, StoreError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&self.options)).await
        {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.describe(),
                describe_sqlx_error(&error)
            ))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: no answer within {} s",
                self.describe(),
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// Maps a sqlx error to the store's error by its kind; `context` says what
/// was being done.
pub(crate) fn store_error(context: &str, error: sqlx::Error) -> StoreError {
    let detail = describe_sqlx_error(&error);
    match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("{context}: {detail}")),
        sqlx::Error::PoolClosed => StoreError::Closed,
        sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::Decode(_) => StoreError::Incompatible(format!("{context}: {detail}")),
        _ => StoreError::Backend(format!("{context}: {detail}")),
    }
}

/// One line describing a sqlx error. Database errors keep only the server's
/// message (never a statement or its parameters).
pub(crate) fn describe_sqlx_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(database_error) => database_error.message().to_owned(),
        other => other.to_string().replace('\n', " "),
    }
}

/// A second copy of an error, for answering every caller of a failed group.
pub(crate) fn duplicate_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Conflict {
            stream,
            expected,
            actual,
        } => StoreError::Conflict {
            stream: stream.clone(),
            expected: *expected,
            actual: *actual,
        },
        StoreError::EmptyAppend => StoreError::EmptyAppend,
        StoreError::InvalidEvent { reason } => StoreError::InvalidEvent {
            reason: reason.clone(),
        },
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Incompatible(message) => StoreError::Incompatible(message.clone()),
        StoreError::NotWritable(message) => StoreError::NotWritable(message.clone()),
        StoreError::Closed => StoreError::Closed,
        StoreError::Backend(message) => StoreError::Backend(message.clone()),
    }
}

/// Quotes a database name for `CREATE`/`DROP DATABASE`, which cannot take a
/// bound parameter. Only plain names are accepted at all.
pub(crate) fn quoted_database_name(name: &str) -> Result<String, StoreError> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        Ok(format!("\"{name}\""))
    } else {
        Err(StoreError::InvalidEvent {
            reason: format!(
                "database name {name:?} must be 1 to 63 ASCII letters, digits or underscores"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_url_is_an_unavailable_error_without_the_url() {
        for url in [
            "mysql://secret@host/db",
            "postgres://user:hunter2@host:notaport/db",
            "",
        ] {
            match ServerAddress::parse(url) {
                Err(StoreError::Unavailable(message)) => {
                    assert!(message.contains("invalid PostgreSQL URL"), "{message}");
                    assert!(!message.contains("hunter2"), "{message}");
                }
                Err(other) => panic!("{url}: unexpected error {other}"),
                Ok(_) => panic!("{url}: accepted"),
            }
        }
    }

    #[test]
    fn every_connection_asks_for_durable_commits() {
        let address = ServerAddress::parse("postgres://app@db/crm").unwrap();
        let options = address.options.get_options().unwrap_or_default();
        assert!(options.contains("synchronous_commit=on"), "{options}");
    }

    #[test]
    fn the_description_names_no_password() {
        let address = ServerAddress::parse("postgres://app:hunter2@db.example:6543/crm").unwrap();
        assert_eq!(address.describe(), "app@db.example:6543/crm");
    }

    #[test]
    fn only_plain_database_names_are_quoted() {
        assert_eq!(quoted_database_name("voronka_1").unwrap(), "\"voronka_1\"");
        for bad in ["", "a\"b", "a b", "x;drop", &"a".repeat(64)] {
            assert!(quoted_database_name(bad).is_err(), "{bad}");
        }
    }
}
