//! Published process definitions, kept as events on the
//! `process-definitions` stream so that every version a deal ever ran on
//! can be read after a restart, even when the YAML files that shipped it
//! have changed since.
//!
//! At start: replay the stream into a [`ProcessRegistry`], then publish the
//! shipped files; a shipped version not yet on the stream is appended. A
//! shipped file that changed under an already published version number is
//! refused (versions are immutable) with a warning, and the recorded
//! version stays in force.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use voronka_core::{
    Actor, EventData, EventMetadata, ExpectedVersion, Payload, StreamId, StreamVersion,
};
use voronka_process::ProcessIdentity;
use voronka_store::{EventStore, StoreError, MAX_READ_BATCH};

use super::registry::{ProcessRegistry, PublishError, SHIPPED_DEFINITIONS};

/// The stream of publications.
pub const PUBLICATIONS_STREAM: &str = "process-definitions";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PublicationEvent {
    /// The full text, so the exact rules can be compiled again.
    ProcessPublished {
        identity: ProcessIdentity,
        source_name: String,
        text: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PublicationError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the publications stream is unreadable: {0}")]
    Corrupt(String),
}

fn stream() -> StreamId {
    // A constant, valid name.
    StreamId::new(PUBLICATIONS_STREAM).unwrap_or_else(|_| unreachable!("valid stream name"))
}

/// The registry of every recorded publication plus the shipped files.
pub async fn open_registry(
    store: &Arc<dyn EventStore>,
) -> Result<ProcessRegistry, PublicationError> {
    let registry = ProcessRegistry::new();
    let mut recorded = HashSet::new();
    let mut version = StreamVersion::NONE;
    loop {
        let batch = store
            .read_stream(&stream(), version.next(), MAX_READ_BATCH)
            .await?;
        for event in &batch {
            let PublicationEvent::ProcessPublished {
                identity,
                source_name,
                text,
            } = event
                .payload
                .parse()
                .map_err(|e| PublicationError::Corrupt(e.to_string()))?;
            match registry.publish(&source_name, &text) {
                Ok(published) if published == identity => {}
                Ok(other) => {
                    return Err(PublicationError::Corrupt(format!(
                        "{source_name} compiles to {other}, recorded as {identity}"
                    )))
                }
                Err(error) => return Err(PublicationError::Corrupt(error.to_string())),
            }
            recorded.insert(identity);
            version = event.stream_version;
        }
        if batch.len() < MAX_READ_BATCH {
            break;
        }
    }
    for (source_name, text) in SHIPPED_DEFINITIONS {
        match registry.publish(source_name, text) {
            Ok(identity) if recorded.contains(&identity) => {}
            Ok(identity) => {
                append(
                    store,
                    &identity,
                    source_name,
                    text,
                    &Actor::system("voronka"),
                )
                .await?;
                recorded.insert(identity);
            }
            Err(error) => {
                tracing::warn!(%source_name, %error, "a shipped process definition was not published");
            }
        }
    }
    Ok(registry)
}

/// Validates and publishes a definition, and records it.
pub async fn publish_definition(
    store: &Arc<dyn EventStore>,
    registry: &ProcessRegistry,
    source_name: &str,
    text: &str,
    by: &Actor,
) -> Result<ProcessIdentity, PublicationError> {
    let known = registry.published();
    let identity = registry.publish(source_name, text)?;
    if !known.contains(&identity) {
        append(store, &identity, source_name, text, by).await?;
    }
    Ok(identity)
}

async fn append(
    store: &Arc<dyn EventStore>,
    identity: &ProcessIdentity,
    source_name: &str,
    text: &str,
    by: &Actor,
) -> Result<(), PublicationError> {
    let event = PublicationEvent::ProcessPublished {
        identity: identity.clone(),
        source_name: source_name.to_string(),
        text: text.to_string(),
    };
    let payload =
        Payload::from_value(&event).map_err(|e| PublicationError::Corrupt(e.to_string()))?;
    store
        .append(
            &stream(),
            ExpectedVersion::Any,
            vec![EventData::new("process_published", payload)],
            EventMetadata::by(by.clone()),
        )
        .await?;
    Ok(())
}
