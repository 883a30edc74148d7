//! The group-commit writer: the only task that writes to the database.
//!
//! Appends arrive on a channel. The writer takes one, drains whatever else is
//! already waiting, and commits them all in one transaction, so one fsync
//! acknowledges many appends. Each append is checked against the writer's
//! exact cache of stream versions first: one that conflicts is answered alone
//! and the rest of its group still commits. Callers are answered only after
//! the commit returned.
//!
//! Every statement text is constant: events go in multi-row inserts of a
//! fixed size, padded with NULL rows that the statement filters out, so the
//! prepared statements are cached and a group of up to 64 events to known
//! streams is one statement in autocommit. sqlx's per-statement cost (a round
//! trip to its worker thread) is paid per group, not per event. Lookups of
//! unknown streams and command ids are one query each per group, and only
//! when the cache cannot answer.

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
    last_stream_key: i64,
    clock: Arc<dyn Clock>,
    metrics: StoreMetrics,
    notify: Arc<watch::Sender<Position>>,
) -> WriterHandle {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let writer = Writer {
        connection,
        _lock: lock,
        next_position: head.0 + 1,
        next_stream_key: last_stream_key + 1,
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
    /// Stream keys are assigned here, not by SQLite, so a whole group's rows
    /// can be built before anything is written.
    next_stream_key: i64,
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
    stream_key: i64,
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
                gather_returning_callers(&receiver).await;
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
        let mut conflicts: Vec<(AppendRequest, StoreError)> = Vec::new();
        let mut next_position = self.next_position;
        let mut next_stream_key = self.next_stream_key;
        let mut new_streams: Vec<(i64, StreamId)> = Vec::new();
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
                // Answered after the group commits: the version it names
                // may come from an append earlier in this same group.
                conflicts.push((request, conflict));
                continue;
            }
            let count = request.events.len() as u64;
            let stream_key = match slot.key {
                Some(key) => key,
                None => {
                    let key = next_stream_key;
                    next_stream_key += 1;
                    new_streams.push((key, request.stream.clone()));
                    key
                }
            };
            tentative.insert(
                request.stream.clone(),
                StreamSlot {
                    key: Some(stream_key),
                    version: slot.version + count,
                },
            );
            if let Some(command_id) = request.metadata.command_id {
                planned_commands.insert(command_id, planned.len());
            }
            planned.push(Planned {
                request,
                stream_key,
                first_version: slot.version + 1,
                first_position: next_position,
            });
            next_position += count;
        }
        if planned.is_empty() {
            for (request, conflict) in conflicts {
                let _ = request.reply.send(Err(conflict));
            }
            return;
        }

        let new_streams: Vec<(i64, &StreamId)> = new_streams.iter().map(|(k, s)| (*k, s)).collect();
        match self.write(&planned, &new_streams).await {
            Ok(()) => {
                self.next_position = next_position;
                self.next_stream_key = next_stream_key;
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
                for (request, conflict) in conflicts {
                    let _ = request.reply.send(Err(conflict));
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
                // Their check was against versions this failed group would
                // have written; they get the group's error and may retry.
                for (request, _) in conflicts {
                    let _ = request.reply.send(Err(copy_error(&e)));
                }
                for plan in planned {
                    let _ = plan.request.reply.send(Err(copy_error(&e)));
                }
            }
        }
    }

    /// Writes the planned appends atomically: as one statement in autocommit
    /// when one suffices (the common case: a group of up to
    /// [`ROWS_PER_STATEMENT`] events to known streams), else in one
    /// transaction.
    async fn write(
        &mut self,
        planned: &[Planned],
        new_streams: &[(i64, &StreamId)],
    ) -> Result<(), StoreError> {
        let recorded_at = self.clock.now().timestamp_micros();
        let actors: Vec<String> = planned
            .iter()
            .map(|p| p.request.metadata.actor.to_stored())
            .collect();
        let uuids: Vec<[Option<String>; 3]> = planned
            .iter()
            .map(|p| {
                let m = &p.request.metadata;
                [
                    m.command_id.map(|c| c.to_string()),
                    m.correlation_id.map(|c| c.to_string()),
                    m.causation_id.map(|c| c.to_string()),
                ]
            })
            .collect();
        let mut rows: Vec<EventRow<'_>> = Vec::new();
        for (index, plan) in planned.iter().enumerate() {
            for (offset, event) in plan.request.events.iter().enumerate() {
                let offset = offset as u64;
                rows.push(EventRow {
                    position: to_i64(plan.first_position + offset),
                    stream_key: plan.stream_key,
                    stream_version: to_i64(plan.first_version + offset),
                    event: event_ref(event),
                    actor: &actors[index],
                    ids: &uuids[index],
                    recorded_at,
                });
            }
        }
        let commands: Vec<(&str, AppendOutcome)> = planned
            .iter()
            .zip(&uuids)
            .filter_map(|(plan, ids)| ids[0].as_deref().map(|id| (id, plan.outcome())))
            .collect();

        let mut statements = Vec::new();
        if !new_streams.is_empty() {
            statements.push(insert_streams(new_streams));
        }
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            statements.push(insert_events(chunk));
        }
        for chunk in commands.chunks(ROWS_PER_STATEMENT) {
            statements.push(insert_commands(chunk));
        }

        if statements.len() == 1 {
            let statement = statements
                .pop()
                .ok_or_else(|| StoreError::Backend("no statement".into()))?;
            return statement
                .execute(&mut self.connection)
                .await
                .map(|_| ())
                .map_err(errors::classify);
        }
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut self.connection)
            .await
            .map_err(errors::classify)?;
        for statement in statements {
            if let Err(e) = statement.execute(&mut self.connection).await {
                let _ = sqlx::query("ROLLBACK").execute(&mut self.connection).await;
                return Err(errors::classify(e));
            }
        }
        if let Err(e) = sqlx::query("COMMIT").execute(&mut self.connection).await {
            let _ = sqlx::query("ROLLBACK").execute(&mut self.connection).await;
            return Err(errors::classify(e));
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
        self.next_stream_key = last_stream_key(&mut self.connection).await? + 1;
        self.needs_reload = false;
        Ok(())
    }
}

/// Lets the callers just answered run before the next group is taken.
///
/// Without this, concurrent writers split into two halves that take turns:
/// while one half's group commits, the other half queues up, and the writer
/// takes only that half next. Yielding while the queue still grows lets the
/// answered callers enqueue their next appends, so groups stay large. It costs
/// nothing when nobody is waiting: the queue stops growing at once.
async fn gather_returning_callers(receiver: &mpsc::Receiver<Message>) {
    const MAX_YIELDS: usize = 16;
    for _ in 0..MAX_YIELDS {
        let queued = receiver.len();
        tokio::task::yield_now().await;
        if receiver.len() == queued {
            return;
        }
    }
}

fn payload_bytes(request: &AppendRequest) -> usize {
    request.events.iter().map(|e| e.payload.len()).sum()
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

/// Rows per multi-row insert. Groups are split into statements of this many
/// rows; a shorter last chunk is padded with NULL rows that the statement
/// filters out, so every group runs the same few cached statements.
const ROWS_PER_STATEMENT: usize = 64;

const EVENT_COLUMNS: usize = 12;
const COMMAND_COLUMNS: usize = 4;

/// The borrowed parts of one event row.
struct EventRow<'a> {
    position: i64,
    stream_key: i64,
    stream_version: i64,
    event: EventRef<'a>,
    actor: &'a str,
    ids: &'a [Option<String>; 3],
    recorded_at: i64,
}

struct EventRef<'a> {
    event_type: &'a str,
    schema_version: i64,
    payload: &'a str,
    occurred_at: Option<i64>,
}

fn event_ref(event: &EventData) -> EventRef<'_> {
    EventRef {
        event_type: &event.event_type,
        schema_version: i64::from(event.schema_version),
        payload: event.payload.as_str(),
        occurred_at: event.occurred_at.map(|t| t.timestamp_micros()),
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

type Statement<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// `INSERT ... SELECT * FROM (VALUES (?, ...), ...) WHERE column1 IS NOT NULL`
/// for `rows` rows of `columns` parameters.
fn padded_insert_sql(insert: &str, columns: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(","));
    format!(
        "{insert} SELECT * FROM (VALUES {}) WHERE column1 IS NOT NULL",
        vec![row; rows].join(",")
    )
}

fn events_sql(rows: usize) -> &'static str {
    static ONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static MANY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    const INSERT: &str = "INSERT OR ROLLBACK INTO events (position, stream_key, stream_version, event_type, \
        schema_version, payload, actor, command_id, correlation_id, causation_id, recorded_at, occurred_at)";
    let cell = if rows == 1 { &ONE } else { &MANY };
    cell.get_or_init(|| {
        padded_insert_sql(
            INSERT,
            EVENT_COLUMNS,
            if rows == 1 { 1 } else { ROWS_PER_STATEMENT },
        )
    })
}

fn commands_sql(rows: usize) -> &'static str {
    static ONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static MANY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    const INSERT: &str = "INSERT OR ROLLBACK INTO commands (command_id, stream_version, first_position, last_position)";
    let cell = if rows == 1 { &ONE } else { &MANY };
    cell.get_or_init(|| {
        padded_insert_sql(
            INSERT,
            COMMAND_COLUMNS,
            if rows == 1 { 1 } else { ROWS_PER_STATEMENT },
        )
    })
}

fn insert_events<'q>(rows: &[EventRow<'q>]) -> Statement<'q> {
    let mut statement = sqlx::query(events_sql(rows.len()));
    for row in rows {
        statement = statement
            .bind(row.position)
            .bind(row.stream_key)
            .bind(row.stream_version)
            .bind(row.event.event_type)
            .bind(row.event.schema_version)
            .bind(row.event.payload)
            .bind(row.actor)
            .bind(row.ids[0].as_deref())
            .bind(row.ids[1].as_deref())
            .bind(row.ids[2].as_deref())
            .bind(row.recorded_at)
            .bind(row.event.occurred_at);
    }
    if rows.len() > 1 {
        for _ in rows.len()..ROWS_PER_STATEMENT {
            for _ in 0..EVENT_COLUMNS {
                statement = statement.bind(None::<i64>);
            }
        }
    }
    statement
}

fn insert_commands<'q>(rows: &[(&'q str, AppendOutcome)]) -> Statement<'q> {
    let mut statement = sqlx::query(commands_sql(rows.len()));
    for (command_id, outcome) in rows {
        statement = statement
            .bind(*command_id)
            .bind(to_i64(outcome.stream_version.0))
            .bind(to_i64(outcome.first_position.0))
            .bind(to_i64(outcome.last_position.0));
    }
    if rows.len() > 1 {
        for _ in rows.len()..ROWS_PER_STATEMENT {
            for _ in 0..COMMAND_COLUMNS {
                statement = statement.bind(None::<i64>);
            }
        }
    }
    statement
}

/// New streams are rare (once per stream), so one JSON parameter serves.
fn insert_streams<'q>(streams: &[(i64, &StreamId)]) -> Statement<'q> {
    let mut json = String::from("[");
    for (i, (key, id)) in streams.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!("[{key},"));
        push_json_string(&mut json, id.as_str());
        json.push(']');
    }
    json.push(']');
    sqlx::query("INSERT INTO streams (stream_key, stream_id) SELECT value->>0, value->>1 FROM json_each(?1)").bind(json)
}

pub(crate) async fn last_stream_key(connection: &mut SqliteConnection) -> Result<i64, StoreError> {
    let key: Option<i64> = sqlx::query_scalar("SELECT MAX(stream_key) FROM streams")
        .fetch_one(connection)
        .await
        .map_err(errors::classify)?;
    Ok(key.unwrap_or(0))
}
