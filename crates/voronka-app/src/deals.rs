//! Deals on processes: the command path from a request to appended events.
//!
//! Why it is shaped this way: the process engine (`voronka_process::decide`)
//! is pure, so everything around it lives here, in one place every write path
//! (HTTP, demo seeding, automations, import) goes through, so none of them can
//! bypass the process:
//!
//! 1. load the deal's stream `deal-<uuid>` into a [`DealState`], from a
//!    bounded cache refreshed by reading only the events after the cached
//!    version (long streams are not replayed per command);
//! 2. answer a retried command id from the stream without deciding again;
//! 3. `decide` against the definition version the deal runs on, with `now`
//!    from the injected [`Clock`];
//! 4. append the events with the expected version and the command id in the
//!    metadata; on a version conflict, reload and decide once more on the
//!    fresh state (a concurrent change that commutes with this one succeeds,
//!    one that makes the command invalid is a rejection), then give up with
//!    [`DealError::Conflict`]. A stale state never overwrites: the store
//!    refuses any append whose expected version is not the stream's;
//! 5. return the new version and global position with the effects.
//!
//! Effects (tasks, notifications, reassignment) are returned, not executed:
//! running them idempotently after the append is the automation runner's job,
//! which comes later. Authorization (who may touch which deal) also comes in
//! front of this service later; here the actor's roles only feed the
//! process's own permissions.

mod cache;
pub mod publications;
mod registry;

pub use registry::{ProcessRegistry, PublishError, SHIPPED_DEFINITIONS};

use cache::{CachedDeal, DealCache, RecordedCommand};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use voronka_core::{
    Clock, CommandId, EventMetadata, ExpectedVersion, Position, RecordedEvent, StreamId,
    StreamVersion,
};
use voronka_process::{
    apply, checklist, decide, ActorContext, CompiledProcess, DealCommand, DealEvent, DealId,
    DealImport, DealState, Decision, Effect, ProcessIdentity, Rejection, StageId, StoredDealEvent,
    UnmetRequirement,
};
use voronka_store::{EventStore, StoreError, MAX_READ_BATCH};

/// How many deals a [`DealService`] keeps folded in memory by default.
pub const DEFAULT_CACHED_DEALS: usize = 10_000;

/// How long a retry after a conflict waits for the conflicting events to
/// become readable.
pub const CONFLICT_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// The category of deal streams: a deal's events live on `deal-<uuid>`.
pub const DEAL_STREAM_CATEGORY: &str = "deal";

/// What an accepted command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// The deal's stream version after the command.
    pub stream_version: StreamVersion,
    /// The global position of the command's last event; a client that wants
    /// to read its own write waits for projections to reach it.
    pub position: Position,
    /// How many events the command appended.
    pub events: usize,
    /// Work for the automation runner, not yet done. Empty for a replay: the
    /// effects went to whoever ran the command the first time.
    pub effects: Vec<Effect>,
    /// The command id had already been executed; nothing was appended and
    /// this is the first execution's outcome.
    pub replayed: bool,
}

/// Why a command or a read of a deal failed.
#[derive(Debug, thiserror::Error)]
pub enum DealError {
    /// No deal with this id has been started. 404.
    #[error("deal {0} does not exist")]
    NotFound(DealId),

    /// The process refused the command. 422 with every unmet requirement
    /// ([`Rejection::unmet`]); a `WrongVersion` inside is 409.
    #[error("the process refused the command: {0}")]
    Rejected(Rejection),

    /// The deal changed concurrently and changed again during the single
    /// retry; nothing was written. 409: reload and retry.
    #[error("deal {deal} was changed concurrently (now at version {actual}); reload and retry")]
    Conflict { deal: DealId, actual: StreamVersion },

    /// No process with this name has been published. 404 on a path, 422 when
    /// named in a request body.
    #[error("no process named `{name}` has been published")]
    UnknownProcess { name: String },

    /// The deal runs on a process version this registry does not hold (the
    /// registry is not persisted yet). 500; the detail goes to the log.
    #[error("deal {deal} runs on {process}, which is not published here")]
    ProcessVersionUnavailable {
        deal: DealId,
        process: ProcessIdentity,
    },

    /// The event store failed. 503 when [`StoreError::is_transient`] (or the
    /// store is closed), else 500; the detail goes to the log.
    #[error(transparent)]
    Store(StoreError),

    /// The deal's stream cannot be read (or an event written) as deal events.
    /// 500; the detail goes to the log.
    #[error("deal {deal} is unreadable at version {version}: {reason}")]
    Corrupt {
        deal: DealId,
        version: StreamVersion,
        reason: String,
    },
}

/// A deal as last recorded.
#[derive(Debug, Clone)]
pub struct LoadedDeal {
    pub state: DealState,
    pub version: StreamVersion,
    /// The global position of the deal's newest event.
    pub last_position: Position,
    /// The definition version the deal runs on; commands for this deal use
    /// its stage and field ids.
    pub definition: Arc<CompiledProcess>,
}

/// A stage the deal's current stage has an exit to, and what still blocks
/// the move (empty: the move is allowed now).
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedTransition {
    pub stage: StageId,
    pub stage_name: String,
    pub unmet: Vec<UnmetRequirement>,
}

/// Runs deal commands against an event store. Cheap to share behind an `Arc`;
/// one per process (the cache is per instance).
pub struct DealService {
    store: Arc<dyn EventStore>,
    registry: Arc<ProcessRegistry>,
    clock: Arc<dyn Clock>,
    cache: DealCache,
}

/// What a command run is for: opening a deal on a chosen definition, or any
/// other command on an existing deal.
struct Intent<'a> {
    /// `Some` opens the deal on this definition first.
    start: Option<Arc<CompiledProcess>>,
    /// Decided in order on the evolving state; their events are appended
    /// together, so either all happen or none.
    commands: &'a [DealCommand],
    /// The version the client last saw; a different current version is a
    /// conflict without retry (the client decided on stale data).
    expected: Option<StreamVersion>,
}

impl DealService {
    pub fn new(
        store: Arc<dyn EventStore>,
        registry: Arc<ProcessRegistry>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::with_cache_capacity(store, registry, clock, DEFAULT_CACHED_DEALS)
    }

    /// Like [`DealService::new`], keeping at most `cached_deals` deals folded
    /// in memory (0 replays every stream on every command).
    pub fn with_cache_capacity(
        store: Arc<dyn EventStore>,
        registry: Arc<ProcessRegistry>,
        clock: Arc<dyn Clock>,
        cached_deals: usize,
    ) -> Self {
        Self {
            store,
            registry,
            clock,
            cache: DealCache::new(cached_deals),
        }
    }

    pub fn registry(&self) -> &Arc<ProcessRegistry> {
        &self.registry
    }

    /// How many deals are folded in memory now (for metrics and tests).
    pub fn cached_deals(&self) -> usize {
        self.cache.len()
    }

    /// Opens deal `deal` on the latest published version of `process_name`.
    /// The stream must not exist yet (`ExpectedVersion::NoStream`); starting
    /// an existing deal is rejected with `AlreadyStarted`.
    pub async fn start_deal(
        &self,
        process_name: &str,
        deal: DealId,
        actor: &ActorContext,
        command_id: Option<CommandId>,
    ) -> Result<CommandOutcome, DealError> {
        let definition =
            self.registry
                .latest(process_name)
                .ok_or_else(|| DealError::UnknownProcess {
                    name: process_name.to_string(),
                })?;
        self.run(
            deal,
            Intent {
                start: Some(definition),
                commands: &[],
                expected: None,
            },
            actor,
            command_id,
        )
        .await
    }

    /// Runs one command on an existing deal. `command` uses the ids of the
    /// definition the deal runs on (see [`DealService::load`]). With a
    /// `command_id`, a retry returns the first outcome and appends nothing
    /// (command ids are scoped to the deal: see [`command_id_on_deal`]).
    /// (`DealCommand::Start` here is `NotFound` or `AlreadyStarted`: starting
    /// needs a process, which [`DealService::start_deal`] chooses.)
    pub async fn execute(
        &self,
        deal: DealId,
        command: DealCommand,
        actor: &ActorContext,
        command_id: Option<CommandId>,
    ) -> Result<CommandOutcome, DealError> {
        self.run(
            deal,
            Intent {
                start: None,
                commands: std::slice::from_ref(&command),
                expected: None,
            },
            actor,
            command_id,
        )
        .await
    }

    /// Opens deal `deal` on `definition` and runs `then` (field values,
    /// usually) in the same append: the deal is created whole or not at all.
    pub async fn start_deal_with(
        &self,
        definition: Arc<CompiledProcess>,
        deal: DealId,
        then: &[DealCommand],
        actor: &ActorContext,
        command_id: Option<CommandId>,
    ) -> Result<CommandOutcome, DealError> {
        self.run(
            deal,
            Intent {
                start: Some(definition),
                commands: then,
                expected: None,
            },
            actor,
            command_id,
        )
        .await
    }

    /// Opens deal `deal` as imported (`DealCommand::Import`: its stage and
    /// original dates, no transition rules) and runs `then` in the same
    /// append. The events carry the original stage entry as when they
    /// happened.
    pub async fn import_deal(
        &self,
        definition: Arc<CompiledProcess>,
        import: DealImport,
        then: &[DealCommand],
        actor: &ActorContext,
        command_id: Option<CommandId>,
    ) -> Result<CommandOutcome, DealError> {
        let deal = import.deal;
        let mut commands = Vec::with_capacity(then.len() + 1);
        commands.push(DealCommand::Import(import));
        commands.extend_from_slice(then);
        self.run(
            deal,
            Intent {
                start: Some(definition),
                commands: &commands,
                expected: None,
            },
            actor,
            command_id,
        )
        .await
    }

    /// Runs `commands` in order as one atomic change of the deal (set fields,
    /// then move). With `expected`, a deal now at another version is a
    /// [`DealError::Conflict`] and nothing is decided.
    pub async fn execute_all(
        &self,
        deal: DealId,
        commands: &[DealCommand],
        expected: Option<StreamVersion>,
        actor: &ActorContext,
        command_id: Option<CommandId>,
    ) -> Result<CommandOutcome, DealError> {
        self.run(
            deal,
            Intent {
                start: None,
                commands,
                expected,
            },
            actor,
            command_id,
        )
        .await
    }

    /// The deal as last recorded, or `None` if it was never started.
    pub async fn load(&self, deal: DealId) -> Result<Option<LoadedDeal>, DealError> {
        let stream = deal_stream(deal)?;
        let slot = self.cache.slot(deal);
        let mut guard = slot.lock().await;
        let cached = guard.get_or_insert_with(CachedDeal::empty);
        if let Err(error) = self.refresh(deal, &stream, cached).await {
            *guard = None;
            return Err(error);
        }
        Ok(cached.definition.as_ref().map(|definition| LoadedDeal {
            state: cached.state.clone(),
            version: cached.version,
            last_position: cached.last_position,
            definition: definition.clone(),
        }))
    }

    /// The deal as this process last saw it, read from the store only if it
    /// is not cached: for work that follows a command on the same deal in
    /// this process (its automations), which just brought the cache up to
    /// date. Not for answering clients: use [`DealService::load`].
    pub async fn load_recent(&self, deal: DealId) -> Result<Option<LoadedDeal>, DealError> {
        {
            let slot = self.cache.slot(deal);
            let guard = slot.lock().await;
            if let Some(cached) = guard.as_ref().filter(|c| c.read_at_head.is_some()) {
                if let Some(definition) = &cached.definition {
                    return Ok(Some(LoadedDeal {
                        state: cached.state.clone(),
                        version: cached.version,
                        last_position: cached.last_position,
                        definition: definition.clone(),
                    }));
                }
            }
        }
        self.load(deal).await
    }

    /// Every stage the deal may move to next, each with what still blocks it
    /// for this actor (the "allowed transitions" of a deal card).
    pub async fn allowed_transitions(
        &self,
        deal: DealId,
        actor: &ActorContext,
    ) -> Result<Vec<AllowedTransition>, DealError> {
        let loaded = self.load(deal).await?.ok_or(DealError::NotFound(deal))?;
        Ok(self.transitions_of(&loaded, actor))
    }

    /// [`DealService::allowed_transitions`] of a deal already loaded.
    pub fn transitions_of(
        &self,
        loaded: &LoadedDeal,
        actor: &ActorContext,
    ) -> Vec<AllowedTransition> {
        let now = self.clock.now();
        checklist(&loaded.definition, &loaded.state, actor, now)
            .into_iter()
            .map(|(stage, unmet)| AllowedTransition {
                stage,
                stage_name: loaded
                    .definition
                    .stages
                    .get(stage.index())
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                unmet,
            })
            .collect()
    }

    async fn run(
        &self,
        deal: DealId,
        intent: Intent<'_>,
        actor: &ActorContext,
        command_id: Option<CommandId>,
    ) -> Result<CommandOutcome, DealError> {
        let stream = deal_stream(deal)?;
        let scoped_command = command_id.map(|client_id| ScopedCommand {
            client_id,
            stored_id: command_id_on_deal(deal, client_id),
        });
        let slot = self.cache.slot(deal);
        let mut guard = slot.lock().await;
        let cached = guard.get_or_insert_with(CachedDeal::empty);
        let result = match self.refresh(deal, &stream, cached).await {
            Ok(()) => {
                self.run_on_cached(deal, &stream, cached, &intent, actor, scoped_command)
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(
            DealError::Store(_)
            | DealError::Corrupt { .. }
            | DealError::ProcessVersionUnavailable { .. },
        ) = &result
        {
            // The cached fold may be half-updated; load afresh next time.
            *guard = None;
        }
        result
    }

    /// Loads the deal, lets `prepare` check access and build the commands
    /// from what it sees (their ids come from the deal's definition), and
    /// runs them under the same lock.
    ///
    /// A deal already in the cache is not re-read first: the append carries
    /// the cached version as its expected version, so if anything was
    /// written elsewhere meanwhile, the append conflicts, and the whole
    /// request (access check included) runs once more on the fresh stream.
    /// In the usual case a command therefore costs no read at all.
    pub async fn execute_checked<E: From<DealError>>(
        &self,
        deal: DealId,
        actor: &ActorContext,
        command_id: Option<CommandId>,
        mut prepare: impl FnMut(&LoadedDeal) -> Result<(Vec<DealCommand>, Option<StreamVersion>), E>,
    ) -> Result<CommandOutcome, E> {
        let stream = deal_stream(deal)?;
        let scoped_command = command_id.map(|client_id| ScopedCommand {
            client_id,
            stored_id: command_id_on_deal(deal, client_id),
        });
        let slot = self.cache.slot(deal);
        let mut guard = slot.lock().await;
        let cached = guard.get_or_insert_with(CachedDeal::empty);
        let mut trust_cache = cached.definition.is_some() && cached.read_at_head.is_some();
        loop {
            if !trust_cache {
                if let Err(error) = self.refresh(deal, &stream, cached).await {
                    *guard = None;
                    return Err(error.into());
                }
            }
            let Some(definition) = cached.definition.clone() else {
                return Err(DealError::NotFound(deal).into());
            };
            let loaded = LoadedDeal {
                state: cached.state.clone(),
                version: cached.version,
                last_position: cached.last_position,
                definition,
            };
            let (commands, expected) = prepare(&loaded)?;
            let intent = Intent {
                start: None,
                commands: &commands,
                expected: if trust_cache {
                    Some(expected.unwrap_or(cached.version))
                } else {
                    expected
                },
            };
            let result = self
                .run_on_cached(deal, &stream, cached, &intent, actor, scoped_command)
                .await;
            match &result {
                Err(DealError::Conflict { .. }) if trust_cache => {
                    // Written elsewhere: read it and decide afresh.
                    trust_cache = false;
                    continue;
                }
                Err(
                    DealError::Store(_)
                    | DealError::Corrupt { .. }
                    | DealError::ProcessVersionUnavailable { .. },
                ) => *guard = None,
                _ => {}
            }
            return result.map_err(E::from);
        }
    }

    async fn run_on_cached(
        &self,
        deal: DealId,
        stream: &StreamId,
        cached: &mut CachedDeal,
        intent: &Intent<'_>,
        actor: &ActorContext,
        scoped_command: Option<ScopedCommand>,
    ) -> Result<CommandOutcome, DealError> {
        let command_id = scoped_command.map(|c| c.stored_id);
        let mut retried = false;
        loop {
            if let Some(recorded) = command_id.and_then(|id| cached.commands.get(&id)) {
                return Ok(replayed(*recorded));
            }
            let definition = match (&intent.start, &cached.definition) {
                (_, Some(definition)) => definition.clone(),
                (Some(latest), None) => latest.clone(),
                (None, None) => return Err(DealError::NotFound(deal)),
            };
            if let Some(expected) = intent.expected {
                if expected != cached.version {
                    return Err(DealError::Conflict {
                        deal,
                        actual: cached.version,
                    });
                }
            }
            let decision = self.decide_all(&definition, &cached.state, intent, deal, actor)?;
            if decision.events.is_empty() {
                // Nothing to record (a tick with nothing due).
                return Ok(CommandOutcome {
                    stream_version: cached.version,
                    position: cached.last_position,
                    events: 0,
                    effects: decision.effects,
                    replayed: false,
                });
            }
            let imported_at = decision.events.first().and_then(DealEvent::occurred_at);
            let events = decision
                .events
                .iter()
                .map(|event| {
                    // An import's events belong to the deal's past: they
                    // happened when the imported deal entered its stage.
                    let mut data = definition.encode_event(event).to_event_data()?;
                    data.occurred_at = event.occurred_at().or(imported_at);
                    Ok::<_, voronka_core::PayloadError>(data)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| DealError::Corrupt {
                    deal,
                    version: cached.version,
                    reason: format!("an event could not be encoded: {error}"),
                })?;
            let expected = if cached.version == StreamVersion::NONE {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(cached.version)
            };
            let metadata = EventMetadata {
                actor: actor.actor.clone(),
                command_id,
                correlation_id: None,
                causation_id: scoped_command.map(|c| *c.client_id.as_uuid()),
            };
            match self.store.append(stream, expected, events, metadata).await {
                Ok(appended) => {
                    let count = decision.events.len();
                    if appended.stream_version.0 != cached.version.0 + count as u64 {
                        // The store answered an earlier run of this command
                        // id (one that raced ours from another process) with
                        // its first outcome. (Had that run started from the
                        // same version with as many events, the outcome looks
                        // like ours and the cache keeps our fold, which
                        // differs from the stored one only in `at` times of
                        // the same decision; the next cold load corrects it.)
                        self.refresh(deal, stream, cached).await?;
                        let recorded = command_id
                            .and_then(|id| cached.commands.get(&id).copied())
                            .unwrap_or(RecordedCommand {
                                stream_version: appended.stream_version,
                                last_position: appended.last_position,
                                events: (appended.last_position.0 + 1)
                                    .saturating_sub(appended.first_position.0)
                                    as usize,
                            });
                        return Ok(replayed(recorded));
                    }
                    if cached.definition.is_none() {
                        cached.definition = Some(definition.clone());
                    }
                    for event in &decision.events {
                        apply(&mut cached.state, event);
                    }
                    cached.version = appended.stream_version;
                    cached.last_position = appended.last_position;
                    if let Some(id) = command_id {
                        cached.commands.insert(
                            id,
                            RecordedCommand {
                                stream_version: appended.stream_version,
                                last_position: appended.last_position,
                                events: count,
                            },
                        );
                    }
                    return Ok(CommandOutcome {
                        stream_version: appended.stream_version,
                        position: appended.last_position,
                        events: count,
                        effects: decision.effects,
                        replayed: false,
                    });
                }
                Err(StoreError::Conflict { actual, .. }) => {
                    if retried {
                        return Err(DealError::Conflict { deal, actual });
                    }
                    retried = true;
                    tracing::debug!(%deal, %actual, "deal changed concurrently; deciding again");
                    self.catch_up(deal, stream, cached, actual).await?;
                }
                Err(other) => return Err(DealError::Store(other)),
            }
        }
    }

    /// Decides the intent's commands in order on a scratch copy of the state
    /// (a start first, if any), so that a later command sees what an earlier
    /// one did; the first rejection rejects all.
    fn decide_all(
        &self,
        definition: &CompiledProcess,
        state: &DealState,
        intent: &Intent<'_>,
        deal: DealId,
        actor: &ActorContext,
    ) -> Result<Decision, DealError> {
        let now = self.clock.now();
        // An import opens the deal itself.
        let opens_itself = matches!(intent.commands.first(), Some(DealCommand::Import(_)));
        let start =
            (intent.start.is_some() && !opens_itself).then_some(DealCommand::Start { deal });
        let mut commands = start.iter().chain(intent.commands.iter());
        let Some(first) = commands.next() else {
            return Ok(Decision::default());
        };
        let mut decision =
            decide(definition, state, first, actor, now).map_err(DealError::Rejected)?;
        let mut scratch: Option<DealState> = None;
        for command in commands {
            let current = scratch.get_or_insert_with(|| {
                let mut copy = state.clone();
                for event in &decision.events {
                    apply(&mut copy, event);
                }
                copy
            });
            let next =
                decide(definition, current, command, actor, now).map_err(DealError::Rejected)?;
            for event in &next.events {
                apply(current, event);
            }
            decision.events.extend(next.events);
            decision.effects.extend(next.effects);
        }
        Ok(decision)
    }

    /// Refreshes until the deal reaches `target`, the version a conflict
    /// named. Both backends answer a conflict only after the append that
    /// caused it committed, so the first refresh normally suffices; a store
    /// whose readers lag its writer would make the events readable a moment
    /// later, so wait for commits, up to [`CONFLICT_CATCH_UP`]. Still behind
    /// after that, the retry's append simply conflicts again.
    async fn catch_up(
        &self,
        deal: DealId,
        stream: &StreamId,
        cached: &mut CachedDeal,
        target: StreamVersion,
    ) -> Result<(), DealError> {
        // Subscribed before reading, so a commit in between is not missed.
        let mut commits = self.store.commit_notifications();
        self.refresh(deal, stream, cached).await?;
        let deadline = tokio::time::Instant::now() + CONFLICT_CATCH_UP;
        while cached.version < target {
            match tokio::time::timeout_at(deadline, commits.changed()).await {
                Ok(Ok(())) => self.refresh(deal, stream, cached).await?,
                // The store closed, or the time is up.
                Ok(Err(_)) | Err(_) => break,
            }
        }
        Ok(())
    }

    /// Folds the events recorded after `cached.version` into `cached`.
    async fn refresh(
        &self,
        deal: DealId,
        stream: &StreamId,
        cached: &mut CachedDeal,
    ) -> Result<(), DealError> {
        // Taken before reading, so a commit during the read is read next time.
        let head = *self.store.commit_notifications().borrow();
        if cached.read_at_head == Some(head) {
            return Ok(());
        }
        loop {
            let batch = self
                .store
                .read_stream(stream, cached.version.next(), MAX_READ_BATCH)
                .await
                .map_err(DealError::Store)?;
            for event in &batch {
                self.fold_recorded(deal, cached, event)?;
            }
            if batch.len() < MAX_READ_BATCH {
                cached.read_at_head = Some(head);
                return Ok(());
            }
        }
    }

    /// Decodes one stored event with the definition the deal runs on (the
    /// started or migrated-to version) and applies it.
    fn fold_recorded(
        &self,
        deal: DealId,
        cached: &mut CachedDeal,
        recorded: &RecordedEvent,
    ) -> Result<(), DealError> {
        let corrupt = |reason: String| DealError::Corrupt {
            deal,
            version: recorded.stream_version,
            reason,
        };
        if recorded.stream_version != cached.version.next() {
            return Err(corrupt(format!(
                "expected version {} next, read {}",
                cached.version.next(),
                recorded.stream_version
            )));
        }
        let stored: StoredDealEvent = recorded.payload.parse().map_err(|error| {
            corrupt(format!(
                "`{}` is not a deal event: {error}",
                recorded.event_type
            ))
        })?;
        let definition = match &stored {
            StoredDealEvent::DealStarted { process, .. }
            | StoredDealEvent::DealImported { process, .. }
            | StoredDealEvent::DealMigrated { to: process, .. } => {
                let definition = self.registry.get(process).ok_or_else(|| {
                    DealError::ProcessVersionUnavailable {
                        deal,
                        process: process.clone(),
                    }
                })?;
                cached.definition = Some(definition.clone());
                definition
            }
            _ => cached
                .definition
                .clone()
                .ok_or_else(|| corrupt("an event before `deal_started`".to_string()))?,
        };
        let event = definition
            .decode_event(&stored)
            .map_err(|error| corrupt(error.to_string()))?;
        apply(&mut cached.state, &event);
        cached.version = recorded.stream_version;
        cached.last_position = recorded.position;
        if let Some(id) = recorded.metadata.command_id {
            let entry = cached.commands.entry(id).or_insert(RecordedCommand {
                stream_version: recorded.stream_version,
                last_position: recorded.position,
                events: 0,
            });
            entry.stream_version = recorded.stream_version;
            entry.last_position = recorded.position;
            entry.events += 1;
        }
        Ok(())
    }
}

/// A client's command id and the id stored for it on one deal.
#[derive(Debug, Clone, Copy)]
struct ScopedCommand {
    client_id: CommandId,
    stored_id: CommandId,
}

/// The command id stored with a deal's events: derived from the deal and the
/// client's id, so the store's (global) idempotency is per deal. A client that
/// reuses a key on another deal gets that command run, never another deal's
/// outcome. The client's id is kept as the events' causation id.
pub fn command_id_on_deal(deal: DealId, client_id: CommandId) -> CommandId {
    let digest = Sha256::new()
        .chain_update(b"voronka deal command\0")
        .chain_update(deal.as_uuid().as_bytes())
        .chain_update(client_id.as_uuid().as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    CommandId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// The stream of one deal.
pub fn deal_stream(deal: DealId) -> Result<StreamId, DealError> {
    StreamId::for_entity(DEAL_STREAM_CATEGORY, deal).map_err(|error| DealError::Corrupt {
        deal,
        version: StreamVersion::NONE,
        reason: format!("no stream id: {error}"),
    })
}

fn replayed(recorded: RecordedCommand) -> CommandOutcome {
    CommandOutcome {
        stream_version: recorded.stream_version,
        position: recorded.last_position,
        events: recorded.events,
        effects: Vec::new(),
        replayed: true,
    }
}
