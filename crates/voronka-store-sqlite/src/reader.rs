//! Reads from the pool of reader connections. SQLite readers only ever see
//! committed transactions, and the single writer commits positions in order,
//! so reading by position can never skip an event that commits later.

use crate::errors;
use sqlx::{SqliteConnection, SqlitePool};
use std::borrow::Cow;
use voronka_core::time::timestamp_from_micros;
use voronka_core::{
    Actor, EventMetadata, Payload, Position, RecordedEvent, StreamId, StreamVersion,
};
use voronka_store::{StoreError, MAX_READ_BATCH};

/// Events travel from SQLite as one JSON array per batch rather than one
/// row at a time: sqlx hands each row across threads separately, which costs
/// more than decoding the whole batch from one string.
const EVENT_JSON: &str = "json_group_array(json_array(e.position, s.stream_id, e.stream_version, e.event_type, \
     e.schema_version, e.payload, e.actor, e.command_id, e.correlation_id, e.causation_id, e.recorded_at, \
     e.occurred_at))";

fn clamp_limit(limit: usize) -> i64 {
    limit.min(MAX_READ_BATCH) as i64
}

pub(crate) async fn read_all(pool: &SqlitePool, after: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_JSON} FROM (SELECT * FROM events WHERE position > ?1 ORDER BY position LIMIT ?2) e \
         JOIN streams s ON s.stream_key = e.stream_key"
    );
    let batch: String = sqlx::query_scalar(&sql)
        .bind(position_to_i64(after))
        .bind(clamp_limit(limit))
        .fetch_one(pool)
        .await
        .map_err(errors::classify)?;
    let mut events = decode_batch(&batch)?;
    if !events.is_sorted_by_key(|e| e.position) {
        events.sort_unstable_by_key(|e| e.position);
    }
    Ok(events)
}

pub(crate) async fn read_stream(
    pool: &SqlitePool,
    stream: &StreamId,
    from_version: StreamVersion,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_JSON} FROM (SELECT events.* FROM streams JOIN events ON events.stream_key = streams.stream_key \
         WHERE streams.stream_id = ?1 AND events.stream_version >= ?2 ORDER BY events.stream_version LIMIT ?3) e \
         JOIN streams s ON s.stream_key = e.stream_key"
    );
    let batch: String = sqlx::query_scalar(&sql)
        .bind(stream.as_str())
        .bind(i64::try_from(from_version.0).unwrap_or(i64::MAX))
        .bind(clamp_limit(limit))
        .fetch_one(pool)
        .await
        .map_err(errors::classify)?;
    let mut events = decode_batch(&batch)?;
    if !events.is_sorted_by_key(|e| e.stream_version) {
        events.sort_unstable_by_key(|e| e.stream_version);
    }
    Ok(events)
}

pub(crate) async fn stream_version(
    pool: &SqlitePool,
    stream: &StreamId,
) -> Result<StreamVersion, StoreError> {
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

pub(crate) fn position_to_i64(position: Position) -> i64 {
    i64::try_from(position.0).unwrap_or(i64::MAX)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Incompatible(format!("a stored event has an invalid {what}"))
}

/// One event as `json_array` lays it out, in column order.
type EventRow<'a> = (
    u64,
    Cow<'a, str>,
    u64,
    Cow<'a, str>,
    u32,
    String,
    Cow<'a, str>,
    Option<Cow<'a, str>>,
    Option<Cow<'a, str>>,
    Option<Cow<'a, str>>,
    i64,
    Option<i64>,
);

fn optional_uuid(text: Option<Cow<'_, str>>, what: &str) -> Result<Option<uuid::Uuid>, StoreError> {
    text.map(|t| uuid::Uuid::parse_str(&t).map_err(|_| corrupt(what))).transpose()
}

fn decode_batch(batch: &str) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows: Vec<EventRow<'_>> = serde_json::from_str(batch).map_err(|_| corrupt("encoding"))?;
    let mut streams: Vec<StreamId> = Vec::new();
    let mut events = Vec::with_capacity(rows.len());
    for (position, stream_id, version, event_type, schema_version, payload, actor, command, correlation, causation, recorded_at, occurred_at) in rows {
        // Batches usually repeat streams; share one StreamId per stream.
        let stream_id = match streams.iter().rev().take(8).find(|s| s.as_str() == stream_id) {
            Some(known) => known.clone(),
            None => {
                let id = StreamId::new(stream_id.into_owned()).map_err(|_| corrupt("stream id"))?;
                streams.push(id.clone());
                id
            }
        };
        events.push(RecordedEvent {
            position: Position(position),
            stream_id,
            stream_version: StreamVersion(version),
            event_type: event_type.into_owned(),
            schema_version,
            payload: Payload::from_stored_text(payload),
            metadata: EventMetadata {
                actor: Actor::from_stored(&actor),
                command_id: optional_uuid(command, "command id")?.map(voronka_core::CommandId::from_uuid),
                correlation_id: optional_uuid(correlation, "correlation id")?.map(voronka_core::CorrelationId::from_uuid),
                causation_id: optional_uuid(causation, "causation id")?,
            },
            recorded_at: timestamp_from_micros(recorded_at),
            occurred_at: occurred_at.map(timestamp_from_micros),
        });
    }
    Ok(events)
}
