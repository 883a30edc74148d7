//! Reads from the pool of reader connections. SQLite readers only ever see
//! committed transactions, and the single writer commits positions in order,
//! so reading by position can never skip an event that commits later.

use crate::errors;
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use voronka_core::time::timestamp_from_micros;
use voronka_core::{
    Actor, EventMetadata, Payload, Position, RecordedEvent, StreamId, StreamVersion,
};
use voronka_store::{StoreError, MAX_READ_BATCH};

/// Events travel from SQLite as one string per batch rather than one row at
/// a time: sqlx hands each row across threads separately, which costs more
/// than the whole batch. Rows are separated by U+001E and columns by U+001F,
/// which never occur in a stored event: JSON text cannot hold raw control
/// characters, and event types and actors are checked for them on append.
/// The payload comes last, so nothing in it is split. A NULL column is `-`
/// (`concat_ws` drops empty values, separator included). Streams come as
/// their integer key; names are resolved from [`Reader`]'s cache.
const EVENT_RECORDS: &str =
    "group_concat(concat_ws(char(31), position, stream_key, stream_version, \
     event_type, schema_version, actor, ifnull(command_id, '-'), ifnull(correlation_id, '-'), \
     ifnull(causation_id, '-'), recorded_at, ifnull(occurred_at, '-'), payload), char(30))";

const ROW_SEPARATOR: char = '\u{1e}';
const COLUMN_SEPARATOR: char = '\u{1f}';
const COLUMNS: usize = 12;
const NULL_COLUMN: &str = "-";

/// Batches at least this large are read in parts on several connections at
/// once, so SQLite's work and the decoding use every core.
const SPLIT_READ_AT: usize = 2_000;
/// How many parts a large batch is read in (one reader connection each).
const READ_PARTS: usize = 4;

/// The reader pool and a cache of stream names by key (a key's name never
/// changes, so the cache is never stale).
#[derive(Clone)]
pub(crate) struct Reader {
    pub(crate) pool: SqlitePool,
    stream_names: Arc<Mutex<HashMap<i64, StreamId>>>,
    /// Past this many names the cache is dropped and refilled on demand.
    max_cached_names: usize,
}

/// One decoded row whose stream is still a key.
struct KeyedEvent {
    stream_key: i64,
    event: RecordedEvent,
}

impl Reader {
    pub(crate) fn new(pool: SqlitePool, max_cached_names: usize) -> Self {
        Self {
            pool,
            stream_names: Arc::default(),
            max_cached_names,
        }
    }

    pub(crate) async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.min(MAX_READ_BATCH);
        if limit < SPLIT_READ_AT {
            return self
                .read_range(after.0, after.0.saturating_add(limit as u64))
                .await;
        }
        // Positions are gapless, so (after, after + limit] holds at most
        // `limit` events. Each part is its own snapshot: if a part is not
        // full, the log ended inside it, and the later parts (read perhaps a
        // moment later) are dropped so that no position is ever skipped.
        let step = (limit / READ_PARTS) as u64;
        let end = after.0.saturating_add(limit as u64);
        let parts: Vec<_> = (0..READ_PARTS as u64)
            .map(|i| {
                let from = after.0.saturating_add(i * step);
                let to = if i + 1 == READ_PARTS as u64 {
                    end
                } else {
                    from.saturating_add(step)
                };
                let reader = self.clone();
                (
                    from,
                    to,
                    tokio::spawn(async move { reader.read_range(from, to).await }),
                )
            })
            .collect();
        let mut events = Vec::with_capacity(limit);
        let mut complete = true;
        for (from, to, part) in parts {
            let part = part
                .await
                .map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))??;
            if complete {
                complete = part.len() as u64 == to - from;
                events.extend(part);
            }
        }
        Ok(events)
    }

    /// Reads the events with positions in `(after, up_to]`.
    async fn read_range(&self, after: u64, up_to: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_RECORDS} FROM (SELECT * FROM events WHERE position > ?1 AND position <= ?2 ORDER BY position)");
        let batch: Option<String> = sqlx::query_scalar(&sql)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::try_from(up_to).unwrap_or(i64::MAX))
            .fetch_one(&self.pool)
            .await
            .map_err(errors::classify)?;
        let mut events = self
            .resolve_streams(decode_batch(batch.as_deref().unwrap_or_default())?)
            .await?;
        if !events.is_sorted_by_key(|e| e.position) {
            events.sort_unstable_by_key(|e| e.position);
        }
        Ok(events)
    }

    pub(crate) async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_RECORDS} FROM (SELECT events.* FROM streams JOIN events ON events.stream_key = streams.stream_key \
             WHERE streams.stream_id = ?1 AND events.stream_version >= ?2 ORDER BY events.stream_version LIMIT ?3)"
        );
        let batch: Option<String> = sqlx::query_scalar(&sql)
            .bind(stream.as_str())
            .bind(i64::try_from(from_version.0).unwrap_or(i64::MAX))
            .bind(limit.min(MAX_READ_BATCH) as i64)
            .fetch_one(&self.pool)
            .await
            .map_err(errors::classify)?;
        let rows = decode_batch(batch.as_deref().unwrap_or_default())?;
        let mut events: Vec<RecordedEvent> = rows
            .into_iter()
            .map(|mut row| {
                row.event.stream_id = stream.clone();
                row.event
            })
            .collect();
        if !events.is_sorted_by_key(|e| e.stream_version) {
            events.sort_unstable_by_key(|e| e.stream_version);
        }
        Ok(events)
    }

    /// Fills in stream names from the cache, loading the unknown ones in one
    /// query. Names are taken from the cache under one lock: another read
    /// (a part of this one, say) may drop the cache at any moment after.
    async fn resolve_streams(
        &self,
        rows: Vec<KeyedEvent>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::with_capacity(rows.len());
        let mut unresolved: Vec<(usize, i64)> = Vec::new();
        {
            let names = self.names();
            for (index, row) in rows.into_iter().enumerate() {
                let mut event = row.event;
                match names.get(&row.stream_key) {
                    Some(name) => event.stream_id = name.clone(),
                    None => unresolved.push((index, row.stream_key)),
                }
                events.push(event);
            }
        }
        if unresolved.is_empty() {
            return Ok(events);
        }
        let mut missing: Vec<i64> = unresolved.iter().map(|(_, key)| *key).collect();
        missing.sort_unstable();
        missing.dedup();
        let keys =
            serde_json::to_string(&missing).map_err(|e| StoreError::Backend(e.to_string()))?;
        let found: Vec<(i64, String)> = sqlx::query_as(
            "SELECT stream_key, stream_id FROM streams WHERE stream_key IN (SELECT value FROM json_each(?1))",
        )
        .bind(keys)
        .fetch_all(&self.pool)
        .await
        .map_err(errors::classify)?;
        let found = found
            .into_iter()
            .map(|(key, id)| Ok((key, StreamId::new(id).map_err(|_| corrupt("stream id"))?)))
            .collect::<Result<HashMap<i64, StreamId>, StoreError>>()?;
        for (index, key) in unresolved {
            events[index].stream_id = found
                .get(&key)
                .cloned()
                .ok_or_else(|| corrupt("stream key"))?;
        }
        let mut names = self.names();
        if names.len() + found.len() > self.max_cached_names {
            names.clear();
        }
        names.extend(found);
        Ok(events)
    }

    fn names(&self) -> std::sync::MutexGuard<'_, HashMap<i64, StreamId>> {
        self.stream_names
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) async fn stream_version(
        &self,
        stream: &StreamId,
    ) -> Result<StreamVersion, StoreError> {
        stream_version(&self.pool, stream).await
    }
}

async fn stream_version(pool: &SqlitePool, stream: &StreamId) -> Result<StreamVersion, StoreError> {
    let version: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(e.stream_version) FROM streams s JOIN events e ON e.stream_key = s.stream_key WHERE s.stream_id = ?1",
    )
    .bind(stream.as_str())
    .fetch_one(pool)
    .await
    .map_err(errors::classify)?;
    Ok(StreamVersion(version.unwrap_or(0).max(0) as u64))
}

pub(crate) async fn head(connection: &mut SqliteConnection) -> Result<Position, StoreError> {
    let head: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM events")
        .fetch_one(connection)
        .await
        .map_err(errors::classify)?;
    Ok(Position(head.unwrap_or(0).max(0) as u64))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Incompatible(format!("a stored event has an invalid {what}"))
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| corrupt(what))
}

fn optional_uuid(text: &str, what: &str) -> Result<Option<uuid::Uuid>, StoreError> {
    if text == NULL_COLUMN {
        return Ok(None);
    }
    uuid::Uuid::parse_str(text)
        .map(Some)
        .map_err(|_| corrupt(what))
}

fn decode_batch(batch: &str) -> Result<Vec<KeyedEvent>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let placeholder = StreamId::new("-").map_err(|_| corrupt("stream id"))?;
    let mut actors: Vec<(String, Actor)> = Vec::new();
    let mut events = Vec::new();
    for record in batch.split(ROW_SEPARATOR) {
        let mut columns = record.splitn(COLUMNS, COLUMN_SEPARATOR);
        let mut next = |what: &str| columns.next().ok_or_else(|| corrupt(what));
        let position = number::<u64>(next("position")?, "position")?;
        let stream_key = number::<i64>(next("stream key")?, "stream key")?;
        let version = number::<u64>(next("stream version")?, "stream version")?;
        let event_type = next("event type")?;
        let schema_version = number::<u32>(next("schema version")?, "schema version")?;
        let actor = next("actor")?;
        let command = optional_uuid(next("command id")?, "command id")?;
        let correlation = optional_uuid(next("correlation id")?, "correlation id")?;
        let causation = optional_uuid(next("causation id")?, "causation id")?;
        let recorded_at = number::<i64>(next("recorded_at")?, "recorded_at")?;
        let occurred_at = match next("occurred_at")? {
            NULL_COLUMN => None,
            text => Some(timestamp_from_micros(number(text, "occurred_at")?)),
        };
        let payload = next("payload")?;
        // Batches usually repeat actors; share one value each.
        let actor = match actors.iter().find(|(stored, _)| stored == actor) {
            Some((_, known)) => known.clone(),
            None => {
                let parsed = Actor::from_stored(actor);
                if actors.len() < 16 {
                    actors.push((actor.to_owned(), parsed.clone()));
                }
                parsed
            }
        };
        events.push(KeyedEvent {
            stream_key,
            event: RecordedEvent {
                position: Position(position),
                stream_id: placeholder.clone(),
                stream_version: StreamVersion(version),
                event_type: event_type.to_owned(),
                schema_version,
                payload: Payload::from_stored_text(payload),
                metadata: EventMetadata {
                    actor,
                    command_id: command.map(voronka_core::CommandId::from_uuid),
                    correlation_id: correlation.map(voronka_core::CorrelationId::from_uuid),
                    causation_id: causation,
                },
                recorded_at: timestamp_from_micros(recorded_at),
                occurred_at,
            },
        });
    }
    Ok(events)
}
