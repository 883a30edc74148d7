//! The command path of the CRM's own records (companies, contacts,
//! activities, documents, products): load the stream, `decide`, append with
//! the expected version, retry once on a conflict.
//!
//! Streams of these records are short (tens of events), so they are read
//! whole per command; no cache is needed. A retried command id is answered
//! from the stream without deciding again.

use std::sync::Arc;

use voronka_core::{
    Actor, CommandId, EventMetadata, ExpectedVersion, Position, StreamId, StreamVersion,
};
use voronka_crm::{encode_event, Aggregate, Context, CrmError};
use voronka_store::{EventStore, StoreError, MAX_READ_BATCH};

use super::AppError;

/// What an accepted command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordOutcome {
    /// The record's stream version after the command.
    pub version: StreamVersion,
    /// The position of the last event written (or of the record's newest
    /// event, if the command changed nothing).
    pub position: Position,
    /// Whether anything was appended.
    pub changed: bool,
}

/// A record's state as loaded.
pub struct Loaded<A: Aggregate> {
    pub state: A::State,
    pub version: StreamVersion,
    pub position: Position,
    seen_commands: Vec<(CommandId, StreamVersion, Position)>,
}

/// The stream of record `id` of aggregate `A`: `<CATEGORY>-<uuid>`.
pub fn stream_of<A: Aggregate>(id: uuid::Uuid) -> Result<StreamId, AppError> {
    StreamId::new(format!("{}-{}", A::CATEGORY, id)).map_err(|e| AppError::Internal(e.to_string()))
}

impl<A: Aggregate> std::fmt::Debug for Loaded<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("version", &self.version)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> Loaded<A> {
    /// A record nothing was read of yet (version 0).
    pub fn empty() -> Self {
        Self {
            state: A::State::default(),
            version: StreamVersion::NONE,
            position: Position(0),
            seen_commands: Vec::new(),
        }
    }

    fn record_command(&mut self, command: CommandId, version: StreamVersion, position: Position) {
        match self.seen_commands.last_mut() {
            Some(last) if last.0 == command => {
                last.1 = version;
                last.2 = position;
            }
            _ => self.seen_commands.push((command, version, position)),
        }
    }

    /// The first outcome of `command`, if this record has seen it.
    fn outcome_of(&self, command: CommandId) -> Option<RecordOutcome> {
        self.seen_commands
            .iter()
            .find(|seen| seen.0 == command)
            .map(|(_, version, position)| RecordOutcome {
                version: *version,
                position: *position,
                changed: false,
            })
    }
}

/// Reads and folds a record's whole stream.
pub async fn load<A: Aggregate>(
    store: &Arc<dyn EventStore>,
    id: uuid::Uuid,
) -> Result<Loaded<A>, AppError> {
    let mut loaded = Loaded::<A>::empty();
    catch_up(store, id, &mut loaded).await?;
    Ok(loaded)
}

/// Folds into `loaded` the events of record `id` after its version: a
/// record kept in memory reads only what is new.
pub async fn catch_up<A: Aggregate>(
    store: &Arc<dyn EventStore>,
    id: uuid::Uuid,
    loaded: &mut Loaded<A>,
) -> Result<(), AppError> {
    let stream = stream_of::<A>(id)?;
    loop {
        let batch = store
            .read_stream(&stream, loaded.version.next(), MAX_READ_BATCH)
            .await
            .map_err(AppError::Store)?;
        for event in &batch {
            let decoded = voronka_crm::decode_event::<A>(event.payload.as_str()).map_err(|e| {
                AppError::Internal(format!(
                    "{} at version {} is unreadable: {e}",
                    event.stream_id, event.stream_version
                ))
            })?;
            A::apply(&mut loaded.state, &decoded);
            loaded.version = event.stream_version;
            loaded.position = event.position;
            if let Some(command) = event.metadata.command_id {
                loaded.record_command(command, event.stream_version, event.position);
            }
        }
        if batch.len() < MAX_READ_BATCH {
            return Ok(());
        }
    }
}

/// [`execute`] on a record kept in memory (`loaded`, brought up to date
/// first), for records whose streams grow long, such as a website form with
/// every lead it took: a command reads only the events since the last one.
/// On success `loaded` includes the new events.
pub async fn execute_loaded<A: Aggregate>(
    store: &Arc<dyn EventStore>,
    id: uuid::Uuid,
    loaded: &mut Loaded<A>,
    command: &A::Command,
    context: &Context<'_>,
    actor: &Actor,
    command_id: Option<CommandId>,
) -> Result<RecordOutcome, AppError> {
    execute_on(store, id, loaded, command, context, actor, None, command_id).await
}

/// The command path of [`execute`] and [`execute_loaded`]: catch `loaded`
/// up, answer a replayed command id, check the pinned version, decide,
/// append at the version decided on; a conflict decides once more unless
/// the version was pinned.
#[allow(clippy::too_many_arguments)]
async fn execute_on<A: Aggregate>(
    store: &Arc<dyn EventStore>,
    id: uuid::Uuid,
    loaded: &mut Loaded<A>,
    command: &A::Command,
    context: &Context<'_>,
    actor: &Actor,
    expected: Option<StreamVersion>,
    command_id: Option<CommandId>,
) -> Result<RecordOutcome, AppError> {
    let stream = stream_of::<A>(id)?;
    let mut retried = false;
    loop {
        catch_up(store, id, loaded).await?;
        if let Some(outcome) = command_id.and_then(|command| loaded.outcome_of(command)) {
            return Ok(outcome);
        }
        if let Some(expected) = expected {
            if expected != loaded.version {
                return Err(AppError::Conflict {
                    actual: loaded.version,
                });
            }
        }
        let events = A::decide(&loaded.state, command, context).map_err(AppError::from)?;
        if events.is_empty() {
            return Ok(RecordOutcome {
                version: loaded.version,
                position: loaded.position,
                changed: false,
            });
        }
        let data = events
            .iter()
            .map(encode_event::<A>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let decided_on = if loaded.version == StreamVersion::NONE {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(loaded.version)
        };
        let metadata = EventMetadata {
            actor: actor.clone(),
            command_id,
            correlation_id: None,
            causation_id: None,
        };
        match store.append(&stream, decided_on, data, metadata).await {
            // Appended at the expected version: the new events follow the
            // ones `loaded` holds directly.
            Ok(appended) if appended.stream_version.0 == loaded.version.0 + events.len() as u64 => {
                for event in &events {
                    A::apply(&mut loaded.state, event);
                }
                loaded.version = appended.stream_version;
                loaded.position = appended.last_position;
                if let Some(command) = command_id {
                    loaded.record_command(command, appended.stream_version, appended.last_position);
                }
                return Ok(RecordOutcome {
                    version: appended.stream_version,
                    position: appended.last_position,
                    changed: true,
                });
            }
            // The store answered a retried command id with its first
            // outcome: read what it wrote, then answer from it.
            Ok(_) => {
                catch_up(store, id, loaded).await?;
                if let Some(outcome) = command_id.and_then(|command| loaded.outcome_of(command)) {
                    return Ok(outcome);
                }
                return Err(AppError::Internal(format!(
                    "{stream}: an append answered for a command the stream does not hold"
                )));
            }
            // Another writer got there first; decide again on the new state
            // once, unless the client pinned the version it saw.
            Err(StoreError::Conflict { actual, .. }) if !retried && expected.is_none() => {
                tracing::debug!(%stream, %actual, "record changed concurrently; deciding again");
                retried = true;
            }
            Err(StoreError::Conflict { actual, .. }) => return Err(AppError::Conflict { actual }),
            Err(other) => return Err(AppError::Store(other)),
        }
    }
}

/// Runs `command` on record `id`: decide on the current state and append.
/// `expected` is the version the client saw (a mismatch is a conflict with
/// no retry); `command_id` makes a retry return the first outcome.
pub async fn execute<A: Aggregate>(
    store: &Arc<dyn EventStore>,
    id: uuid::Uuid,
    command: &A::Command,
    context: &Context<'_>,
    actor: &Actor,
    expected: Option<StreamVersion>,
    command_id: Option<CommandId>,
) -> Result<(A::State, RecordOutcome), AppError> {
    let mut loaded = Loaded::<A>::empty();
    let outcome = execute_on(
        store,
        id,
        &mut loaded,
        command,
        context,
        actor,
        expected,
        command_id,
    )
    .await?;
    Ok((loaded.state, outcome))
}

/// Runs a command that creates record `id`, without reading first: it is
/// decided on the empty state and appended only if the stream does not
/// exist yet. If it does (a retry, or a taken id), the usual path of
/// [`execute`] answers: a replayed command id returns its first outcome.
pub async fn create<A: Aggregate>(
    store: &Arc<dyn EventStore>,
    id: uuid::Uuid,
    command: &A::Command,
    context: &Context<'_>,
    actor: &Actor,
    command_id: Option<CommandId>,
) -> Result<(A::State, RecordOutcome), AppError> {
    let stream = stream_of::<A>(id)?;
    let empty = A::State::default();
    let events = A::decide(&empty, command, context).map_err(AppError::from)?;
    if events.is_empty() {
        return execute::<A>(store, id, command, context, actor, None, command_id).await;
    }
    let data = events
        .iter()
        .map(encode_event::<A>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let metadata = EventMetadata {
        actor: actor.clone(),
        command_id,
        correlation_id: None,
        causation_id: None,
    };
    match store
        .append(&stream, ExpectedVersion::NoStream, data, metadata)
        .await
    {
        Ok(appended) if appended.stream_version.0 == events.len() as u64 => {
            let mut state = empty;
            for event in &events {
                A::apply(&mut state, event);
            }
            Ok((
                state,
                RecordOutcome {
                    version: appended.stream_version,
                    position: appended.last_position,
                    changed: true,
                },
            ))
        }
        // The store answered a retried command id with its first outcome,
        // or the stream exists: read it and answer as `execute` does.
        Ok(_) | Err(StoreError::Conflict { .. }) => {
            execute::<A>(store, id, command, context, actor, None, command_id).await
        }
        Err(other) => Err(AppError::Store(other)),
    }
}

/// The invalid fields `decide` finds in a command, checked without writing
/// (`Ok(vec![])` when the command is valid; other refusals are errors).
pub(crate) fn field_errors<A: Aggregate>(
    state: &A::State,
    command: &A::Command,
    context: &Context<'_>,
) -> Result<Vec<voronka_crm::FieldError>, AppError> {
    match A::decide(state, command, context) {
        Ok(_) => Ok(Vec::new()),
        Err(CrmError::Invalid(errors)) => Ok(errors),
        Err(other) => Err(other.into()),
    }
}

impl From<CrmError> for AppError {
    fn from(error: CrmError) -> Self {
        match error {
            CrmError::Invalid(errors) => AppError::Invalid(errors),
            CrmError::NotFound => AppError::NotFound,
            CrmError::AlreadyExists => AppError::AlreadyExists,
            CrmError::NotAllowed { code, message } => AppError::NotAllowed { code, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use voronka_core::SystemClock;
    use voronka_crm::import::{ImportKind, Mapping};
    use voronka_crm::import_mapping::{ImportMappingCommand, ImportMappings};
    use voronka_crm::Dictionaries;
    use voronka_crm::UserId;
    use voronka_store::MemoryStore;

    fn save(name: &str) -> ImportMappingCommand {
        ImportMappingCommand::Save {
            name: name.to_owned(),
            kind: ImportKind::Companies,
            columns: Mapping(BTreeMap::from([("ИНН".to_owned(), "inn".to_owned())])),
        }
    }

    fn names(loaded: &Loaded<ImportMappings>) -> Vec<String> {
        loaded.state.mappings.keys().cloned().collect()
    }

    #[tokio::test]
    async fn a_record_kept_in_memory_reads_what_others_wrote_and_answers_retries() {
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
        let dictionaries = Dictionaries::default();
        let context = Context {
            now: chrono::Utc::now(),
            actor: UserId::from_uuid(uuid::Uuid::from_u128(7)),
            dictionaries: &dictionaries,
        };
        let actor = Actor::system("test");
        let id = uuid::Uuid::from_u128(1);
        let mut kept = Loaded::<ImportMappings>::empty();

        let first = execute_loaded(&store, id, &mut kept, &save("a"), &context, &actor, None)
            .await
            .unwrap();
        assert!(first.changed);
        assert_eq!(kept.version, StreamVersion(1));

        // Someone else writes; the kept copy does not know yet.
        execute::<ImportMappings>(&store, id, &save("b"), &context, &actor, None, None)
            .await
            .unwrap();
        let command = CommandId::from_uuid(uuid::Uuid::from_u128(99));
        let third = execute_loaded(
            &store,
            id,
            &mut kept,
            &save("c"),
            &context,
            &actor,
            Some(command),
        )
        .await
        .unwrap();
        assert_eq!(third.version, StreamVersion(3));
        assert_eq!(names(&kept), ["a", "b", "c"]);

        // A retry of the same command writes nothing and answers the same.
        let retried = execute_loaded(
            &store,
            id,
            &mut kept,
            &save("c"),
            &context,
            &actor,
            Some(command),
        )
        .await
        .unwrap();
        assert!(!retried.changed);
        assert_eq!(retried.version, third.version);
        assert_eq!(retried.position, third.position);
        assert_eq!(
            store
                .stream_version(&stream_of::<ImportMappings>(id).unwrap())
                .await
                .unwrap(),
            StreamVersion(3)
        );

        // What it holds is what reading the stream afresh gives.
        let fresh = load::<ImportMappings>(&store, id).await.unwrap();
        assert_eq!(fresh.version, kept.version);
        assert_eq!(fresh.position, kept.position);
        assert_eq!(fresh.state, kept.state);
    }
}
