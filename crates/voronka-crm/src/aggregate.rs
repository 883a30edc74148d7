//! The shape every aggregate here has, and how its events are stored.
//!
//! An aggregate owns one stream per record (`<CATEGORY>-<uuid>`). Its events
//! are a serde enum tagged with `"type"`; the tag is also the stored event
//! type, so a stored payload decodes on its own.

use serde::de::DeserializeOwned;
use serde::Serialize;
use voronka_core::{EventData, Payload, PayloadError, Timestamp};

use crate::{CrmError, Dictionaries, UserId};

/// What a decision may know besides the state and the command.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The moment the command is decided (from the application's clock).
    pub now: Timestamp,
    /// Who issues the command.
    pub actor: UserId,
    /// The dictionaries values are checked against.
    pub dictionaries: &'a Dictionaries,
}

/// A record kind with its own stream per record.
pub trait Aggregate {
    /// The stream category: records live on `<CATEGORY>-<uuid>`.
    const CATEGORY: &'static str;
    /// Folded from the record's events; `Default` is "does not exist yet".
    type State: Default + Clone + Send + Sync + 'static;
    /// Serialized with `#[serde(tag = "type", rename_all = "snake_case")]`.
    type Event: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    type Command: Send + Sync;

    /// The stored event type (equal to the serde tag).
    fn event_type(event: &Self::Event) -> &'static str;

    /// Applies one event; no rules here, only what `decide` allowed.
    fn apply(state: &mut Self::State, event: &Self::Event);

    /// The events a command produces, or why it may not happen. Every
    /// invalid field is reported at once.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
        context: &Context<'_>,
    ) -> Result<Vec<Self::Event>, CrmError>;
}

/// Encodes an event for appending.
pub fn encode_event<A: Aggregate>(event: &A::Event) -> Result<EventData, PayloadError> {
    Ok(EventData::new(
        A::event_type(event),
        Payload::from_value(event)?,
    ))
}

/// Decodes a stored payload of aggregate `A`.
pub fn decode_event<A: Aggregate>(payload: &str) -> Result<A::Event, serde_json::Error> {
    serde_json::from_str(payload)
}
