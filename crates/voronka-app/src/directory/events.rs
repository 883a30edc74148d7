//! The directory's events. Users and departments go on one stream,
//! `access-directory`, appended with the expected version so two
//! administrators never overwrite each other (and e-mail uniqueness holds
//! across processes); sessions go on `access-sessions`, appended without an
//! expected version because each session stands alone (its token hash is
//! random) and logins must not contend with each other.
//!
//! The payload is the serialized [`DirectoryEvent`], whose `type` field
//! equals the stored event type; a mismatch or an unknown type is refused
//! when read (deny by default: an older binary must not skip a newer event
//! that might have revoked something).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use voronka_core::{EventData, Payload, RecordedEvent, Role};

use crate::access::{Department, PasswordHash, Token, TokenHash, User, UserId};

use super::DirectoryError;

/// The stream holding departments and users.
pub const DIRECTORY_STREAM: &str = "access-directory";
/// The stream holding sessions (login and logout).
pub const SESSIONS_STREAM: &str = "access-sessions";

/// Everything that happens to the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DirectoryEvent {
    DepartmentCreated {
        department: Department,
    },
    /// The hash travels beside the user so a [`User`] can be shown without
    /// it; its `Debug` is redacted.
    UserRegistered {
        user: User,
        password_hash: PasswordHash,
    },
    UserRolesChanged {
        user: UserId,
        roles: BTreeSet<Role>,
    },
    UserDeactivated {
        user: UserId,
    },
    /// Only the token's hash is stored; the secret was shown once.
    SessionStarted {
        token: Token,
    },
    SessionEnded {
        token_hash: TokenHash,
    },
}

impl DirectoryEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            DirectoryEvent::DepartmentCreated { .. } => "department_created",
            DirectoryEvent::UserRegistered { .. } => "user_registered",
            DirectoryEvent::UserRolesChanged { .. } => "user_roles_changed",
            DirectoryEvent::UserDeactivated { .. } => "user_deactivated",
            DirectoryEvent::SessionStarted { .. } => "session_started",
            DirectoryEvent::SessionEnded { .. } => "session_ended",
        }
    }

    pub fn to_event_data(&self) -> Result<EventData, DirectoryError> {
        let payload = Payload::from_value(self)
            .map_err(|error| DirectoryError::Internal(format!("serializing an event: {error}")))?;
        Ok(EventData::new(self.event_type(), payload))
    }

    pub fn from_recorded(recorded: &RecordedEvent) -> Result<Self, DirectoryError> {
        let corrupt = |why: String| {
            DirectoryError::Corrupt(format!(
                "{} version {} ({}): {why}",
                recorded.stream_id, recorded.stream_version, recorded.event_type
            ))
        };
        if recorded.schema_version != 1 {
            return Err(corrupt(format!(
                "unknown schema version {}",
                recorded.schema_version
            )));
        }
        let event: DirectoryEvent = recorded
            .payload
            .parse()
            .map_err(|error| corrupt(error.to_string()))?;
        if event.event_type() != recorded.event_type {
            return Err(corrupt(format!(
                "the payload says `{}`",
                event.event_type()
            )));
        }
        Ok(event)
    }
}
