//! The shape of stored events, shared by every store backend and by the code
//! that appends and reads them.
//!
//! An event belongs to one stream (a deal, a contact, ...) at a version within
//! it, and has a global position across all streams. Events are never updated
//! or deleted.

use crate::actor::Actor;
use crate::ids::{CommandId, CorrelationId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The longest stream id accepted, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 200;

/// Names one stream of events, such as `deal-0190...`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(Arc<str>);

/// A stream id that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    #[error("a stream id must not be empty")]
    Empty,
    #[error("a stream id is at most {MAX_STREAM_ID_LEN} bytes long")]
    TooLong,
    #[error("a stream id must not contain control characters")]
    ControlCharacter,
}

impl StreamId {
    pub fn new(id: impl Into<String>) -> Result<Self, StreamIdError> {
        let id: String = id.into();
        if id.is_empty() {
            return Err(StreamIdError::Empty);
        }
        if id.len() > MAX_STREAM_ID_LEN {
            return Err(StreamIdError::TooLong);
        }
        if id.chars().any(char::is_control) {
            return Err(StreamIdError::ControlCharacter);
        }
        Ok(Self(id.into()))
    }

    /// A stream id made of a category and an entity id, `deal-<uuid>`.
    pub fn for_entity(category: &str, id: impl fmt::Display) -> Result<Self, StreamIdError> {
        Self::new(format!("{category}-{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = StreamIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.0.to_string()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

/// How many events a stream holds; the version of its newest event. A stream
/// that does not exist has version 0, its first event version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamVersion(pub u64);

impl StreamVersion {
    pub const NONE: StreamVersion = StreamVersion(0);

    pub fn next(self) -> StreamVersion {
        StreamVersion(self.0 + 1)
    }
}

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The place of an event in the global log. Strictly increasing in commit
/// order as readers see it; 0 means "before the first event".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Position(pub u64);

impl Position {
    pub const START: Position = Position(0);
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the writer believes the stream's version to be. A mismatch is a
/// conflict, never a silent overwrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "version")]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (0 is the same as `NoStream`).
    Exact(StreamVersion),
}

impl ExpectedVersion {
    /// Whether a stream currently at `actual` satisfies this expectation.
    pub fn accepts(self, actual: StreamVersion) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == StreamVersion::NONE,
            ExpectedVersion::Exact(expected) => actual == expected,
        }
    }
}

/// An event's body: a JSON document, kept as its text so that reading the log
/// does not parse every event (consumers parse what they need).
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(Arc<str>);

/// A payload that is not a JSON document.
#[derive(Debug, thiserror::Error)]
#[error("the event payload is not valid JSON: {0}")]
pub struct PayloadError(#[from] serde_json::Error);

impl Payload {
    /// Serializes a value as the payload.
    pub fn from_value<T: Serialize>(value: &T) -> Result<Self, PayloadError> {
        Ok(Self(serde_json::to_string(value)?.into()))
    }

    /// Checks that `text` is JSON and takes it as the payload.
    pub fn from_json_text(text: impl Into<String>) -> Result<Self, PayloadError> {
        let text: String = text.into();
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(Self(text.into()))
    }

    /// Takes text that a store wrote itself after validating it; skips the
    /// check so reading the log stays cheap. Not for input from users.
    pub fn from_stored_text(text: impl Into<Arc<str>>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses the payload into a typed event body.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, PayloadError> {
        Ok(serde_json::from_str(&self.0)?)
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() > 120 {
            write!(
                f,
                "Payload({}... {} bytes)",
                &self.0[..self.0.floor_char_boundary(100)],
                self.0.len()
            )
        } else {
            write!(f, "Payload({})", self.0)
        }
    }
}

/// One event to append: its type, the version of that type's schema, the
/// body, and, when it differs from the moment of recording, when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct EventData {
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Payload,
    /// When the fact happened (a call logged an hour later, an imported deal's
    /// original dates). `None` means "when it was recorded".
    pub occurred_at: Option<Timestamp>,
}

impl EventData {
    pub fn new(event_type: impl Into<String>, payload: Payload) -> Self {
        Self {
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            occurred_at: None,
        }
    }
}

/// Who appended, on behalf of which command, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    pub actor: Actor,
    /// Makes the append idempotent: a retry with the same id is answered with
    /// the first result and writes nothing.
    pub command_id: Option<CommandId>,
    pub correlation_id: Option<CorrelationId>,
    /// The command or event that caused this one.
    pub causation_id: Option<uuid::Uuid>,
}

impl EventMetadata {
    pub fn by(actor: Actor) -> Self {
        Self {
            actor,
            command_id: None,
            correlation_id: None,
            causation_id: None,
        }
    }

    pub fn with_command(mut self, command_id: CommandId) -> Self {
        self.command_id = Some(command_id);
        self
    }
}

/// An event as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: Position,
    pub stream_id: StreamId,
    pub stream_version: StreamVersion,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Payload,
    pub metadata: EventMetadata,
    /// When the store took the event (from the store's injected clock).
    pub recorded_at: Timestamp,
    /// When it happened, if that differs from `recorded_at`.
    pub occurred_at: Option<Timestamp>,
}

impl RecordedEvent {
    /// The time reports count by: when it happened, else when it was recorded.
    pub fn effective_time(&self) -> Timestamp {
        self.occurred_at.unwrap_or(self.recorded_at)
    }
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// The stream's version after the append.
    pub stream_version: StreamVersion,
    /// The global position of the first appended event.
    pub first_position: Position,
    /// The global position of the last appended event; readers that wait for
    /// their own writes wait for this one.
    pub last_position: Position,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_versions_accept_only_what_they_say() {
        let v = StreamVersion;
        assert!(ExpectedVersion::Any.accepts(v(0)));
        assert!(ExpectedVersion::Any.accepts(v(7)));
        assert!(ExpectedVersion::NoStream.accepts(v(0)));
        assert!(!ExpectedVersion::NoStream.accepts(v(1)));
        assert!(ExpectedVersion::Exact(v(3)).accepts(v(3)));
        assert!(!ExpectedVersion::Exact(v(3)).accepts(v(4)));
        assert!(ExpectedVersion::Exact(v(0)).accepts(v(0)));
    }

    #[test]
    fn stream_ids_reject_what_cannot_be_stored() {
        assert_eq!(StreamId::new(""), Err(StreamIdError::Empty));
        assert_eq!(StreamId::new("a".repeat(201)), Err(StreamIdError::TooLong));
        assert_eq!(
            StreamId::new("deal\n1"),
            Err(StreamIdError::ControlCharacter)
        );
        assert_eq!(StreamId::new("сделка-1").unwrap().as_str(), "сделка-1");
    }

    #[test]
    fn payloads_must_be_json() {
        assert!(Payload::from_json_text("{\"a\":1}").is_ok());
        assert!(Payload::from_json_text("{a:1}").is_err());
        let p = Payload::from_value(&serde_json::json!({"имя": "Иван"})).unwrap();
        let back: serde_json::Value = p.parse().unwrap();
        assert_eq!(back["имя"], "Иван");
    }

    #[test]
    fn a_long_cyrillic_payload_debug_prints_without_splitting_a_character() {
        let p = Payload::from_value(&"я".repeat(200)).unwrap();
        assert!(format!("{p:?}").contains("bytes"));
    }
}
