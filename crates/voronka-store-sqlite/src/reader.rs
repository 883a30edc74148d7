//! Reads from the pool of reader connections. SQLite readers only ever see
//! committed transactions, and the single writer commits positions in order,
//! so reading by position can never skip an event that commits later.

use crate::errors;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};
use voronka_core::time::timestamp_from_micros;
use voronka_core::{
    Actor, EventMetadata, Payload, Position, RecordedEvent, StreamId, StreamVersion,
};
use voronka_store::{StoreError, MAX_READ_BATCH};

const EVENT_COLUMNS: &str = "e.position, s.stream_id, e.stream_version, e.event_type, e.schema_version, \
     e.payload, e.actor, e.command_id, e.correlation_id, e.causation_id, e.recorded_at, e.occurred_at";

fn clamp_limit(limit: usize) -> i64 {
    limit.min(MAX_READ_BATCH) as i64
}

pub(crate) async fn read_all(
    pool: &SqlitePool,
    after: Position,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN streams s ON s.stream_key = e.stream_key \
         WHERE e.position > ?1 ORDER BY e.position LIMIT ?2"
    );
    let rows = sqlx::query(&sql)
        .bind(position_to_i64(after))
        .bind(clamp_limit(limit))
        .fetch_all(pool)
        .await
        .map_err(errors::classify)?;
    rows.iter().map(decode_event).collect()
}

pub(crate) async fn read_stream(
    pool: &SqlitePool,
    stream: &StreamId,
    from_version: StreamVersion,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM streams s JOIN events e ON e.stream_key = s.stream_key \
         WHERE s.stream_id = ?1 AND e.stream_version >= ?2 ORDER BY e.stream_version LIMIT ?3"
    );
    let rows = sqlx::query(&sql)
        .bind(stream.as_str())
        .bind(i64::try_from(from_version.0).unwrap_or(i64::MAX))
        .bind(clamp_limit(limit))
        .fetch_all(pool)
        .await
        .map_err(errors::classify)?;
    rows.iter().map(decode_event).collect()
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

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    index: usize,
    what: &str,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|_| corrupt(what))
}

fn optional_uuid(
    row: &SqliteRow,
    index: usize,
    what: &str,
) -> Result<Option<uuid::Uuid>, StoreError> {
    let text: Option<&str> = get(row, index, what)?;
    text.map(|t| uuid::Uuid::parse_str(t).map_err(|_| corrupt(what)))
        .transpose()
}

fn decode_event(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let stream_id: String = get(row, 1, "stream id")?;
    let payload: String = get(row, 5, "payload")?;
    let actor: &str = get(row, 6, "actor")?;
    let occurred_at: Option<i64> = get(row, 11, "occurred_at")?;
    Ok(RecordedEvent {
        position: Position(get::<i64>(row, 0, "position")? as u64),
        stream_id: StreamId::new(stream_id).map_err(|_| corrupt("stream id"))?,
        stream_version: StreamVersion(get::<i64>(row, 2, "stream version")? as u64),
        event_type: get(row, 3, "event type")?,
        schema_version: get::<i64>(row, 4, "schema version")? as u32,
        payload: Payload::from_stored_text(payload),
        metadata: EventMetadata {
            actor: Actor::from_stored(actor),
            command_id: optional_uuid(row, 7, "command id")?
                .map(voronka_core::CommandId::from_uuid),
            correlation_id: optional_uuid(row, 8, "correlation id")?
                .map(voronka_core::CorrelationId::from_uuid),
            causation_id: optional_uuid(row, 9, "causation id")?,
        },
        recorded_at: timestamp_from_micros(get(row, 10, "recorded_at")?),
        occurred_at: occurred_at.map(timestamp_from_micros),
    })
}
