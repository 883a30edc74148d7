//! Group commit: one writer task per store takes the appends waiting in its
//! channel and commits them together in one transaction, so many appends
//! share one WAL flush and a handful of statements.
//!
//! One transaction, four round trips whatever the group's size:
//!
//! 1. `BEGIN` and lock the position counter row (the global append lock),
//!    sent together as one simple query;
//! 2. read the last position handed out, the current version of every stream
//!    in the group and the outcome of every command id it carries (one
//!    `UNION ALL` query);
//! 3. in Rust: check each append's expected version against those versions,
//!    updated by the earlier appends of the same group; a conflicting append
//!    fails alone, a retried command id is answered with its first outcome;
//!    the rest get consecutive positions. Then ONE statement inserts every
//!    event (`UNNEST` of arrays), upserts the stream versions and command
//!    outcomes, advances the counter and queues `pg_notify`;
//! 4. `COMMIT`.
//!
//! Callers are answered only after the commit. If the transaction fails as a
//! whole, every caller gets the error (with a command id they can retry
//! safely: the commit may or may not have happened).
//!
//! Several processes may write one database, each with its own writer: the
//! versions and command ids are read *after* the counter row is locked, and a
//! READ COMMITTED statement sees everything committed before it starts, so
//! whatever the previous lock holder wrote is seen.

use crate::connection::{duplicate_error, store_error};
use crate::reading::stored_u64;
use sqlx::postgres::PgPool;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};
use voronka_core::{
    AppendOutcome, Clock, EventData, EventMetadata, ExpectedVersion, Position, StreamId,
    StreamVersion, Timestamp,
};
use voronka_store::{StoreError, StoreMetrics};

/// The most appends committed in one transaction.
pub(crate) const MAX_GROUP_APPENDS: usize = 256;
/// Stop adding appends to a group once its payloads reach this many bytes.
pub(crate) const MAX_GROUP_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;
/// How long a new group waits for the callers of the previous one to append
/// again; short against a commit's WAL flush.
pub(crate) const GATHER_LINGER: std::time::Duration = std::time::Duration::from_micros(300);
/// The PostgreSQL channel a commit notifies, with the last position as payload.
pub(crate) const COMMIT_CHANNEL: &str = "voronka_events";

/// One append waiting for the writer.
pub(crate) struct AppendRequest {
    pub(crate) stream: StreamId,
    pub(crate) expected: ExpectedVersion,
    pub(crate) events: Vec<EventData>,
    pub(crate) metadata: EventMetadata,
    pub(crate) started: Instant,
    pub(crate) reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

impl AppendRequest {
    fn payload_bytes(&self) -> usize {
        self.events.iter().map(|e| e.payload.len()).sum()
    }
}

/// The writer task's state.
pub(crate) struct GroupWriter {
    pub(crate) pool: PgPool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: StoreMetrics,
    pub(crate) head: Arc<watch::Sender<Position>>,
}

impl GroupWriter {
    /// Commits groups until every sender is gone and the queue is empty.
    ///
    /// After answering a group, the callers it answered usually append again
    /// within microseconds; the next group waits for them briefly (at most
    /// [`GATHER_LINGER`]) instead of committing the one append that arrived
    /// first. Without this, a steady set of writers splits into two halves
    /// that take turns, and each commit carries half as many appends.
    pub(crate) async fn run(self, mut requests: mpsc::Receiver<AppendRequest>) {
        let mut group: Vec<AppendRequest> = Vec::with_capacity(MAX_GROUP_APPENDS);
        let mut just_answered = 0usize;
        while let Some(first) = requests.recv().await {
            let mut payload_bytes = first.payload_bytes();
            group.push(first);
            let linger_until = Instant::now() + GATHER_LINGER;
            loop {
                while group.len() < MAX_GROUP_APPENDS && payload_bytes < MAX_GROUP_PAYLOAD_BYTES {
                    match requests.try_recv() {
                        Ok(next) => {
                            payload_bytes += next.payload_bytes();
                            group.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let full =
                    group.len() >= MAX_GROUP_APPENDS || payload_bytes >= MAX_GROUP_PAYLOAD_BYTES;
                if full || group.len() >= just_answered || Instant::now() >= linger_until {
                    break;
                }
                tokio::task::yield_now().await;
            }
            just_answered = group.len();
            self.commit_and_answer(&mut group).await;
        }
    }

    async fn commit_and_answer(&self, group: &mut Vec<AppendRequest>) {
        self.metrics.commit_group_size.observe(group.len() as f64);
        let answers = self.commit(group).await;
        match answers {
            Ok(answers) => {
                for (request, answer) in group.drain(..).zip(answers) {
                    self.answer(request, answer);
                }
            }
            Err(error) => {
                tracing::warn!(%error, appends = group.len(), "a commit group failed");
                for request in group.drain(..) {
                    self.answer(request, Err(duplicate_error(&error)));
                }
            }
        }
    }

    fn answer(&self, request: AppendRequest, answer: Result<AppendOutcome, StoreError>) {
        match &answer {
            Ok(_) => self.metrics.appends.inc(),
            Err(StoreError::Conflict { .. }) => self.metrics.conflicts.inc(),
            Err(_) => {}
        }
        self.metrics
            .append_seconds
            .observe(request.started.elapsed().as_secs_f64());
        // The caller may have stopped waiting; the append stands regardless.
        let _ = request.reply.send(answer);
    }

    /// Runs the group's transaction; returns one answer per request, in order.
    async fn commit(
        &self,
        group: &[AppendRequest],
    ) -> Result<Vec<Result<AppendOutcome, StoreError>>, StoreError> {
        // BEGIN and the global append lock in one round trip (see the crate
        // docs); the lock is held until COMMIT.
        let mut transaction = self
            .pool
            .begin_with("BEGIN; SELECT 1 FROM position_counter FOR UPDATE")
            .await
            .map_err(|error| store_error("locking the position counter", error))?;

        // Read after the lock: this statement's snapshot includes every
        // commit of the previous lock holder, in whatever process.
        let known = read_known_state(&mut transaction, group).await?;
        let last_position = known.last_position.ok_or_else(|| {
            StoreError::Incompatible("the position counter row is missing".into())
        })?;
        let plan = plan_group(group, known, last_position, self.clock.now())?;

        if !plan.events.is_empty() {
            plan.write(&mut transaction).await?;
        }
        transaction
            .commit()
            .await
            .map_err(|error| store_error("committing appends", error))?;

        if !plan.events.is_empty() {
            self.metrics
                .events_appended
                .inc_by(plan.events.len() as u64);
            let new_head = Position(plan.last_position);
            self.head.send_if_modified(|head| {
                let newer = new_head > *head;
                if newer {
                    *head = new_head;
                }
                newer
            });
        }
        Ok(plan.answers)
    }
}

/// What the database holds for the streams and command ids of a group.
#[derive(Default)]
struct KnownState {
    /// The last position handed out, read under the lock.
    last_position: Option<u64>,
    stream_versions: HashMap<String, u64>,
    command_outcomes: HashMap<uuid::Uuid, AppendOutcome>,
}

async fn read_known_state(
    transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    group: &[AppendRequest],
) -> Result<KnownState, StoreError> {
    let mut stream_ids: Vec<&str> = group.iter().map(|r| r.stream.as_str()).collect();
    stream_ids.sort_unstable();
    stream_ids.dedup();
    let mut command_ids: Vec<uuid::Uuid> = group
        .iter()
        .filter_map(|r| r.metadata.command_id.map(|c| c.0))
        .collect();
    command_ids.sort_unstable();
    command_ids.dedup();

    let rows = sqlx::query(
        "SELECT stream_id, version, NULL::uuid AS command_id, \
                NULL::bigint AS first_position, NULL::bigint AS last_position \
           FROM streams WHERE stream_id = ANY($1) \
         UNION ALL \
         SELECT NULL::text, stream_version, command_id, first_position, last_position \
           FROM commands WHERE command_id = ANY($2) \
         UNION ALL \
         SELECT NULL::text, last_position, NULL::uuid, NULL::bigint, NULL::bigint \
           FROM position_counter",
    )
    .bind(&stream_ids)
    .bind(&command_ids)
    .fetch_all(&mut **transaction)
    .await
    .map_err(|error| store_error("reading stream versions", error))?;

    let mut known = KnownState::default();
    for row in rows {
        let read = |error| store_error("reading stream versions", error);
        let stream_id: Option<String> = row.try_get(0).map_err(read)?;
        let version: i64 = row.try_get(1).map_err(read)?;
        let command_id: Option<uuid::Uuid> = row.try_get(2).map_err(read)?;
        let first_position: Option<i64> = row.try_get(3).map_err(read)?;
        let last_position: Option<i64> = row.try_get(4).map_err(read)?;
        match (stream_id, command_id, first_position, last_position) {
            (Some(stream_id), None, _, _) => {
                known
                    .stream_versions
                    .insert(stream_id, stored_u64("streams.version", version)?);
            }
            (None, Some(command_id), Some(first), Some(last)) => {
                known.command_outcomes.insert(
                    command_id,
                    AppendOutcome {
                        stream_version: StreamVersion(stored_u64(
                            "commands.stream_version",
                            version,
                        )?),
                        first_position: Position(stored_u64("commands.first_position", first)?),
                        last_position: Position(stored_u64("commands.last_position", last)?),
                    },
                );
            }
            (None, None, _, _) if known.last_position.is_none() => {
                known.last_position =
                    Some(stored_u64("position_counter.last_position", version)?);
            }
            _ => {
                return Err(StoreError::Incompatible(
                    "the streams, commands or position_counter table returned a row this store never writes".into(),
                ))
            }
        }
    }
    Ok(known)
}

/// The rows one group writes, as column arrays for `UNNEST`.
#[derive(Default)]
struct EventColumns<'a> {
    positions: Vec<i64>,
    stream_ids: Vec<&'a str>,
    stream_versions: Vec<i64>,
    event_types: Vec<&'a str>,
    schema_versions: Vec<i32>,
    payloads: Vec<&'a str>,
    actors: Vec<String>,
    command_ids: Vec<Option<uuid::Uuid>>,
    correlation_ids: Vec<Option<uuid::Uuid>>,
    causation_ids: Vec<Option<uuid::Uuid>>,
    occurred_at: Vec<Option<Timestamp>>,
}

impl EventColumns<'_> {
    fn len(&self) -> usize {
        self.positions.len()
    }

    fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

/// The decisions for one group: an answer per append and what to write.
struct GroupPlan<'a> {
    answers: Vec<Result<AppendOutcome, StoreError>>,
    events: EventColumns<'a>,
    recorded_at: Timestamp,
    /// Each touched stream's version after the group.
    stream_versions: HashMap<&'a str, u64>,
    commands: Vec<(uuid::Uuid, AppendOutcome)>,
    last_position: u64,
}

fn position_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("position or version {value} overflows")))
}

/// Decides every append of a group against the stored state, in order.
fn plan_group<'a>(
    group: &'a [AppendRequest],
    mut known: KnownState,
    last_position: u64,
    recorded_at: Timestamp,
) -> Result<GroupPlan<'a>, StoreError> {
    let mut plan = GroupPlan {
        answers: Vec::with_capacity(group.len()),
        events: EventColumns::default(),
        recorded_at,
        stream_versions: HashMap::new(),
        commands: Vec::new(),
        last_position,
    };
    for request in group {
        let command_id = request.metadata.command_id.map(|c| c.0);
        if let Some(first) = command_id.and_then(|id| known.command_outcomes.get(&id)) {
            plan.answers.push(Ok(*first));
            continue;
        }
        let stream = request.stream.as_str();
        let actual = plan
            .stream_versions
            .get(stream)
            .copied()
            .or_else(|| known.stream_versions.get(stream).copied())
            .unwrap_or(0);
        if !request.expected.accepts(StreamVersion(actual)) {
            plan.answers.push(Err(StoreError::Conflict {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: StreamVersion(actual),
            }));
            continue;
        }
        let count = request.events.len() as u64;
        let overflow = || StoreError::Backend("the log's positions are exhausted".into());
        let first_position = plan.last_position.checked_add(1).ok_or_else(overflow)?;
        let last_position = plan.last_position.checked_add(count).ok_or_else(overflow)?;
        let new_version = actual.checked_add(count).ok_or_else(overflow)?;
        let actor = request.metadata.actor.to_stored();
        for (offset, event) in (0u64..).zip(&request.events) {
            let columns = &mut plan.events;
            columns
                .positions
                .push(position_i64(first_position + offset)?);
            columns.stream_ids.push(stream);
            columns
                .stream_versions
                .push(position_i64(actual + 1 + offset)?);
            columns.event_types.push(&event.event_type);
            columns
                .schema_versions
                .push(i32::try_from(event.schema_version).map_err(|_| {
                    StoreError::InvalidEvent {
                        reason: "schema_version must be at most 2147483647".into(),
                    }
                })?);
            columns.payloads.push(event.payload.as_str());
            columns.actors.push(actor.clone());
            columns.command_ids.push(command_id);
            columns
                .correlation_ids
                .push(request.metadata.correlation_id.map(|c| c.0));
            columns.causation_ids.push(request.metadata.causation_id);
            columns.occurred_at.push(event.occurred_at);
        }
        let outcome = AppendOutcome {
            stream_version: StreamVersion(new_version),
            first_position: Position(first_position),
            last_position: Position(last_position),
        };
        plan.last_position = last_position;
        plan.stream_versions.insert(stream, new_version);
        if let Some(id) = command_id {
            known.command_outcomes.insert(id, outcome);
            plan.commands.push((id, outcome));
        }
        plan.answers.push(Ok(outcome));
    }
    Ok(plan)
}

/// Inserts the events, upserts stream versions and command outcomes, advances
/// the counter and queues the notification: one statement, one round trip.
const WRITE_GROUP: &str = "\
WITH new_events AS (
    INSERT INTO events (position, stream_id, stream_version, event_type, schema_version,
                        payload, actor, command_id, correlation_id, causation_id,
                        recorded_at, occurred_at)
    SELECT e.position, e.stream_id, e.stream_version, e.event_type, e.schema_version,
           e.payload, e.actor, e.command_id, e.correlation_id, e.causation_id,
           $12, e.occurred_at
      FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::int[],
                  $6::text[], $7::text[], $8::uuid[], $9::uuid[], $10::uuid[],
                  $11::timestamptz[])
           AS e(position, stream_id, stream_version, event_type, schema_version,
                payload, actor, command_id, correlation_id, causation_id, occurred_at)
), new_versions AS (
    INSERT INTO streams (stream_id, version)
    SELECT * FROM UNNEST($13::text[], $14::bigint[])
    ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version
), new_commands AS (
    INSERT INTO commands (command_id, stream_version, first_position, last_position)
    SELECT * FROM UNNEST($15::uuid[], $16::bigint[], $17::bigint[], $18::bigint[])
), advanced AS (
    UPDATE position_counter SET last_position = $19 WHERE singleton
)
SELECT pg_notify($20, $19::bigint::text)";

impl GroupPlan<'_> {
    async fn write(
        &self,
        transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> Result<(), StoreError> {
        let columns = &self.events;
        let mut stream_ids = Vec::with_capacity(self.stream_versions.len());
        let mut versions = Vec::with_capacity(self.stream_versions.len());
        for (stream, version) in &self.stream_versions {
            stream_ids.push(*stream);
            versions.push(position_i64(*version)?);
        }
        let mut command_ids = Vec::with_capacity(self.commands.len());
        let mut command_versions = Vec::with_capacity(self.commands.len());
        let mut command_firsts = Vec::with_capacity(self.commands.len());
        let mut command_lasts = Vec::with_capacity(self.commands.len());
        for (id, outcome) in &self.commands {
            command_ids.push(*id);
            command_versions.push(position_i64(outcome.stream_version.0)?);
            command_firsts.push(position_i64(outcome.first_position.0)?);
            command_lasts.push(position_i64(outcome.last_position.0)?);
        }
        sqlx::query(WRITE_GROUP)
            .bind(&columns.positions)
            .bind(&columns.stream_ids)
            .bind(&columns.stream_versions)
            .bind(&columns.event_types)
            .bind(&columns.schema_versions)
            .bind(&columns.payloads)
            .bind(&columns.actors)
            .bind(&columns.command_ids)
            .bind(&columns.correlation_ids)
            .bind(&columns.causation_ids)
            .bind(&columns.occurred_at)
            .bind(self.recorded_at)
            .bind(&stream_ids)
            .bind(&versions)
            .bind(&command_ids)
            .bind(&command_versions)
            .bind(&command_firsts)
            .bind(&command_lasts)
            .bind(position_i64(self.last_position)?)
            .bind(COMMIT_CHANNEL)
            .execute(&mut **transaction)
            .await
            .map_err(|error| store_error("writing appended events", error))?;
        Ok(())
    }
}
