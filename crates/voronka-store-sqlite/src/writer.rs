//! The group-commit writer: the only task that writes to the database.
//!
//! Appends arrive on a channel. The writer takes one, drains whatever else is
//! already waiting, and commits them all in one transaction, so one fsync
//! acknowledges many appends. Each append is checked against the writer's
//! exact cache of stream versions first: one that conflicts is answered alone
//! and the rest of its group still commits. Callers are answered only after
//! the commit returned.
//!
//! Every statement text is constant (rows travel as one JSON array bound as a
//! parameter and unpacked by `json_each`), so each group costs a handful of
//! prepared-statement executions whatever its size: sqlx's per-statement cost
//! is paid per group, not per event.

use crate::errors;
use sqlx::{Row, SqliteConnection};
use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};
use voronka_core::{
    AppendOutcome, Clock, CommandId, EventData, EventMetadata, ExpectedVersion, Position, StreamId,
    StreamVersion,
};
use voronka_store::{StoreError, StoreMetrics};

/// Most appends committed in one transaction.
const MAX_GROUP_APPENDS: usize = 1_024;
/// Most payload bytes committed in one transaction (a single larger append
/// still commits, alone).
const MAX_GROUP_BYTES: usize = 8 * 1024 * 1024;
/// Appends waiting beyond this make callers wait to enqueue (back-pressure).
const QUEUE_CAPACITY: usize = 16_384;
/// The stream cache is dropped and rebuilt on demand past this many entries.
const MAX_CACHED_STREAMS: usize = 1_000_000;

struct AppendRequest {
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<EventData>,
    metadata: EventMetadata,
    started: Instant,
    reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

enum Message {
    Append(AppendRequest),
    Close(oneshot::Sender<()>),
}

pub(crate) struct WriterHandle {
    sender: mpsc::Sender<Message>,
}

impl WriterHandle {
    pub(crate) async fn append(
        &self,
        stream: StreamId,
        expected: ExpectedVersion,
        events: Vec<EventData>,
        metadata: EventMetadata,
    ) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream,
            expected,
            events,
            metadata,
            started: Instant::now(),
            reply,
        };
        self.sender
            .send(Message::Append(request))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Commits everything queued so far, then stops the writer.
    pub(crate) async fn close(&self) {
        let (done, finished) = oneshot::channel();
        if self.sender.send(Message::Close(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

pub(crate) async fn last_position(
    connection: &mut SqliteConnection,
) -> Result<Position, StoreError> {
    crate::reader::head(connection).await
}

pub(crate) fn spawn(
    connection: SqliteConnection,
    lock: File,
    head: Position,
    clock: Arc<dyn Clock>,
    metrics: StoreMetrics,
    notify: Arc<watch::Sender<Position>>,
) -> WriterHandle {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let writer = Writer {
        connection,
        _lock: lock,
        next_position: head.0 + 1,
        streams: HashMap::new(),
        needs_reload: false,
        clock,
        metrics,
        notify,
    };
    tokio::spawn(writer.run(receiver));
    WriterHandle { sender }
}

/// What the writer knows of one stream. `key` is `None` for a stream that
/// does not exist yet.
#[derive(Clone, Copy)]
struct StreamSlot {
    key: Option<i64>,
    version: u64,
}

struct Writer {
    connection: SqliteConnection,
    /// Held for the writer's lifetime: no other process may write this file.
    _lock: File,
    next_position: u64,
    streams: HashMap<StreamId, StreamSlot>,
    /// Set after a failed commit, when the database's state is uncertain.
    needs_reload: bool,
    clock: Arc<dyn Clock>,
    metrics: StoreMetrics,
    notify: Arc<watch::Sender<Position>>,
}

/// One append that passed its checks and will be written in this group.
struct Planned {
    request: AppendRequest,
    first_version: u64,
    first_position: u64,
}

impl Planned {
    fn outcome(&self) -> AppendOutcome {
        let count = self.request.events.len() as u64;
        AppendOutcome {
            stream_version: StreamVersion(self.first_version + count - 1),
            first_position: Position(self.first_position),
            last_position: Position(self.first_position + count - 1),
        }
    }
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Message>) {
        let mut closing: Option<oneshot::Sender<()>> = None;
        while closing.is_none() {
            let Some(first) = receiver.recv().await else {
                break;
            };
            let mut group = Vec::new();
            let mut bytes = 0;
            match first {
                Message::Append(request) => {
                    bytes += payload_bytes(&request);
                    group.push(request);
                }
                Message::Close(done) => closing = Some(done),
            }
            while closing.is_none() && group.len() < MAX_GROUP_APPENDS && bytes < MAX_GROUP_BYTES {
                match receiver.try_recv() {
                    Ok(Message::Append(request)) => {
                        bytes += payload_bytes(&request);
                        group.push(request);
                    }
                    Ok(Message::Close(done)) => closing = Some(done),
                    Err(_) => break,
                }
            }
            if !group.is_empty() {
                self.commit_group(group).await;
            }
        }
        // Appends queued behind the close are refused, not lost silently.
        receiver.close();
        while let Ok(message) = receiver.try_recv() {
            if let Message::Append(request) = message {
                let _ = request.reply.send(Err(StoreError::Closed));
            }
        }
        use sqlx::Connection;
        if let Err(e) = self.connection.close().await {
            tracing::warn!(error = %e, "closing the SQLite writer connection failed");
        }
        if let Some(done) = closing {
            let _ = done.send(());
        }
    }

    async fn commit_group(&mut self, group: Vec<AppendRequest>) {
        if self.needs_reload {
            if let Err(e) = self.reload().await {
                for request in group {
                    let _ = request.reply.send(Err(copy_error(&e)));
                }
                return;
            }
        }
        if let Err(e) = self.load_unknown_streams(&group).await {
            for request in group {
                let _ = request.reply.send(Err(copy_error(&e)));
            }
            return;
        }
        let known_commands = match self.load_commands(&group).await {
            Ok(known) => known,
            Err(e) => {
                for request in group {
                    let _ = request.reply.send(Err(copy_error(&e)));
                }
                return;
            }
        };

        // Check every append against the versions as this group leaves them.
        let mut tentative: HashMap<StreamId, StreamSlot> = HashMap::new();
        let mut planned: Vec<Planned> = Vec::new();
        let mut planned_commands: HashMap<CommandId, usize> = HashMap::new();
        let mut duplicates: Vec<(AppendRequest, usize)> = Vec::new();
        let mut next_position = self.next_position;
        for request in group {
            if let Some(command_id) = request.metadata.command_id {
                if let Some(first) = known_commands.get(&command_id) {
                    let _ = request.reply.send(Ok(*first));
                    continue;
                }
                if let Some(&index) = planned_commands.get(&command_id) {
                    duplicates.push((request, index));
                    continue;
                }
            }
            let slot = tentative
                .get(&request.stream)
                .or_else(|| self.streams.get(&request.stream))
                .copied()
                .unwrap_or(StreamSlot {
                    key: None,
                    version: 0,
                });
            if !request.expected.accepts(StreamVersion(slot.version)) {
                self.metrics.conflicts.inc();
                let conflict = StoreError::Conflict {
                    stream: request.stream.clone(),
                    expected: request.expected,
                    actual: StreamVersion(slot.version),
                };
                let _ = request.reply.send(Err(conflict));
                continue;
            }
            let count = request.events.len() as u64;
            tentative.insert(
                request.stream.clone(),
                StreamSlot {
                    key: slot.key,
                    version: slot.version + count,
                },
            );
            if let Some(command_id) = request.metadata.command_id {
                planned_commands.insert(command_id, planned.len());
            }
            planned.push(Planned {
                request,
                first_version: slot.version + 1,
                first_position: next_position,
            });
            next_position += count;
        }
        if planned.is_empty() {
            return;
        }

        match self.write(&planned, &mut tentative).await {
            Ok(()) => {
                self.next_position = next_position;
                if self.streams.len() + tentative.len() > MAX_CACHED_STREAMS {
                    self.streams.clear();
                }
                self.streams.extend(tentative);
                let last = Position(next_position - 1);
                self.notify.send_replace(last);
                self.metrics.commit_group_size.observe(planned.len() as f64);
                let outcomes: Vec<AppendOutcome> = planned.iter().map(Planned::outcome).collect();
                for (request, index) in duplicates {
                    let _ = request.reply.send(Ok(outcomes[index]));
                }
                for (plan, outcome) in planned.into_iter().zip(outcomes) {
                    self.metrics.appends.inc();
                    self.metrics
                        .events_appended
                        .inc_by(plan.request.events.len() as u64);
                    self.metrics
                        .append_seconds
                        .observe(plan.request.started.elapsed().as_secs_f64());
                    let _ = plan.request.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, appends = planned.len(), "group commit failed");
                self.needs_reload = true;
                for (request, _) in duplicates {
                    let _ = request.reply.send(Err(copy_error(&e)));
                }
                for plan in planned {
                    let _ = plan.request.reply.send(Err(copy_error(&e)));
                }
            }
        }
    }

    /// Writes the planned appends in one transaction.
    async fn write(
        &mut self,
        planned: &[Planned],
        tentative: &mut HashMap<StreamId, StreamSlot>,
    ) -> Result<(), StoreError> {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut self.connection)
            .await
            .map_err(errors::classify)?;
        let result = self.write_in_transaction(planned, tentative).await;
        match result {
            Ok(()) => match sqlx::query("COMMIT").execute(&mut self.connection).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let _ = sqlx::query("ROLLBACK").execute(&mut self.connection).await;
                    Err(errors::classify(e))
                }
            },
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut self.connection).await;
                Err(e)
            }
        }
    }

    async fn write_in_transaction(
        &mut self,
        planned: &[Planned],
        tentative: &mut HashMap<StreamId, StreamSlot>,
    ) -> Result<(), StoreError> {
        // New streams first: their keys go into the event rows.
        let mut new_streams: Vec<&str> = Vec::new();
        for (stream, slot) in tentative.iter() {
            if slot.key.is_none() {
                new_streams.push(stream.as_str());
            }
        }
        if !new_streams.is_empty() {
            let rows = sqlx::query(
                "INSERT INTO streams (stream_id) SELECT value FROM json_each(?1) RETURNING stream_key, stream_id",
            )
            .bind(json_string_array(&new_streams))
            .fetch_all(&mut self.connection)
            .await
            .map_err(errors::classify)?;
            for row in rows {
                let key: i64 = row.try_get(0).map_err(errors::backend)?;
                let id: String = row.try_get(1).map_err(errors::backend)?;
                let id = StreamId::new(id).map_err(|e| StoreError::Backend(e.to_string()))?;
                if let Some(slot) = tentative.get_mut(&id) {
                    slot.key = Some(key);
                }
            }
        }

        let recorded_at = self.clock.now().timestamp_micros();
        let mut rows = String::with_capacity(planned.iter().map(|p| 160 + p_bytes(p)).sum());
        let mut commands = String::from("[");
        rows.push('[');
        for plan in planned {
            let key = tentative
                .get(&plan.request.stream)
                .and_then(|s| s.key)
                .ok_or_else(|| StoreError::Backend("a new stream got no key".into()))?;
            let metadata = &plan.request.metadata;
            let actor = metadata.actor.to_stored();
            for (offset, event) in plan.request.events.iter().enumerate() {
                if rows.len() > 1 {
                    rows.push(',');
                }
                let offset = offset as u64;
                push_event_row(
                    &mut rows,
                    plan.first_position + offset,
                    key,
                    plan.first_version + offset,
                    event,
                    &actor,
                    metadata,
                );
            }
            if let Some(command_id) = metadata.command_id {
                let outcome = plan.outcome();
                if commands.len() > 1 {
                    commands.push(',');
                }
                commands.push_str(&format!(
                    "[\"{}\",{},{},{}]",
                    command_id,
                    outcome.stream_version.0,
                    outcome.first_position.0,
                    outcome.last_position.0
                ));
            }
        }
        rows.push(']');
        commands.push(']');

        sqlx::query(
            "INSERT OR ROLLBACK INTO events (position, stream_key, stream_version, event_type, schema_version, payload, \
             actor, command_id, correlation_id, causation_id, recorded_at, occurred_at) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, \
             value->>9, ?2, value->>10 FROM json_each(?1)",
        )
        .bind(rows)
        .bind(recorded_at)
        .execute(&mut self.connection)
        .await
        .map_err(errors::classify)?;

        if commands.len() > 2 {
            sqlx::query(
                "INSERT INTO commands (command_id, stream_version, first_position, last_position) \
                 SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?1)",
            )
            .bind(commands)
            .execute(&mut self.connection)
            .await
            .map_err(errors::classify)?;
        }
        Ok(())
    }

    /// Looks up, in one query, the keys and versions of the group's streams
    /// that the cache does not know.
    async fn load_unknown_streams(&mut self, group: &[AppendRequest]) -> Result<(), StoreError> {
        let mut unknown: Vec<&str> = group
            .iter()
            .filter(|r| !self.streams.contains_key(&r.stream))
            .map(|r| r.stream.as_str())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        unknown.dedup();
        let rows = sqlx::query(
            "SELECT s.stream_key, s.stream_id, \
             COALESCE((SELECT MAX(e.stream_version) FROM events e WHERE e.stream_key = s.stream_key), 0) \
             FROM streams s WHERE s.stream_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_string_array(&unknown))
        .fetch_all(&mut self.connection)
        .await
        .map_err(errors::classify)?;
        let mut found: HashMap<String, StreamSlot> = HashMap::with_capacity(rows.len());
        for row in rows {
            let key: i64 = row.try_get(0).map_err(errors::backend)?;
            let id: String = row.try_get(1).map_err(errors::backend)?;
            let version: i64 = row.try_get(2).map_err(errors::backend)?;
            found.insert(
                id,
                StreamSlot {
                    key: Some(key),
                    version: version.max(0) as u64,
                },
            );
        }
        let owned: Vec<StreamId> = group
            .iter()
            .filter(|r| !self.streams.contains_key(&r.stream))
            .map(|r| r.stream.clone())
            .collect();
        for stream in owned {
            let slot = found.get(stream.as_str()).copied().unwrap_or(StreamSlot {
                key: None,
                version: 0,
            });
            self.streams.insert(stream, slot);
        }
        Ok(())
    }

    /// The first outcomes of the group's command ids that were already
    /// committed.
    async fn load_commands(
        &mut self,
        group: &[AppendRequest],
    ) -> Result<HashMap<CommandId, AppendOutcome>, StoreError> {
        let ids: Vec<String> = group
            .iter()
            .filter_map(|r| r.metadata.command_id)
            .map(|c| c.to_string())
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let rows = sqlx::query(
            "SELECT command_id, stream_version, first_position, last_position FROM commands \
             WHERE command_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_string_array(&ids))
        .fetch_all(&mut self.connection)
        .await
        .map_err(errors::classify)?;
        let mut known = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get(0).map_err(errors::backend)?;
            let id: CommandId = id
                .parse()
                .map_err(|_| StoreError::Incompatible("a stored command id is invalid".into()))?;
            let outcome = AppendOutcome {
                stream_version: StreamVersion(
                    row.try_get::<i64, _>(1).map_err(errors::backend)? as u64
                ),
                first_position: Position(row.try_get::<i64, _>(2).map_err(errors::backend)? as u64),
                last_position: Position(row.try_get::<i64, _>(3).map_err(errors::backend)? as u64),
            };
            known.insert(id, outcome);
        }
        Ok(known)
    }

    /// Forgets everything cached and rereads the head after a failed commit.
    async fn reload(&mut self) -> Result<(), StoreError> {
        self.streams.clear();
        let head = crate::reader::head(&mut self.connection).await?;
        self.next_position = head.0 + 1;
        self.needs_reload = false;
        Ok(())
    }
}

fn payload_bytes(request: &AppendRequest) -> usize {
    request.events.iter().map(|e| e.payload.len()).sum()
}

fn p_bytes(plan: &Planned) -> usize {
    payload_bytes(&plan.request) + plan.request.events.len() * 64
}

/// The errors answered to several callers at once; `StoreError` is not
/// `Clone` because its sources are not, so rebuild an equal one.
fn copy_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Incompatible(m) => StoreError::Incompatible(m.clone()),
        StoreError::NotWritable(m) => StoreError::NotWritable(m.clone()),
        StoreError::Closed => StoreError::Closed,
        other => StoreError::Backend(other.to_string()),
    }
}

fn push_json_string(out: &mut String, value: &str) {
    // Serializing a &str into a String cannot fail.
    let quoted = serde_json::to_string(value).unwrap_or_else(|_| String::from("\"\""));
    out.push_str(&quoted);
}

fn push_optional_uuid(out: &mut String, value: Option<uuid::Uuid>) {
    match value {
        Some(uuid) => {
            out.push('"');
            out.push_str(
                uuid.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            );
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

fn push_event_row(
    out: &mut String,
    position: u64,
    stream_key: i64,
    version: u64,
    event: &EventData,
    actor: &str,
    metadata: &EventMetadata,
) {
    use std::fmt::Write;
    let _ = write!(out, "[{position},{stream_key},{version},");
    push_json_string(out, &event.event_type);
    let _ = write!(out, ",{},", event.schema_version);
    push_json_string(out, event.payload.as_str());
    out.push(',');
    push_json_string(out, actor);
    out.push(',');
    push_optional_uuid(out, metadata.command_id.map(|c| c.0));
    out.push(',');
    push_optional_uuid(out, metadata.correlation_id.map(|c| c.0));
    out.push(',');
    push_optional_uuid(out, metadata.causation_id);
    out.push(',');
    match event.occurred_at {
        Some(t) => {
            let _ = write!(out, "{}", t.timestamp_micros());
        }
        None => out.push_str("null"),
    }
    out.push(']');
}

fn json_string_array(values: &[&str]) -> String {
    let mut out = String::from("[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, value);
    }
    out.push(']');
    out
}
