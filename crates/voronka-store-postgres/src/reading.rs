//! Reading events back: the queries behind `read_all`, `read_stream` and
//! `stream_version`, and the conversion of a row into a [`RecordedEvent`].
//!
//! Rows are checked, never trusted: a value this store could not have written
//! (a negative position, an invalid stream id) is [`StoreError::Incompatible`],
//! not a panic.

use crate::connection::store_error;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;
use voronka_core::{
    Actor, CommandId, CorrelationId, EventMetadata, Payload, Position, RecordedEvent, StreamId,
    StreamVersion, Timestamp,
};
use voronka_store::{StoreError, MAX_READ_BATCH};

const EVENT_COLUMNS: &str = "position, stream_id, stream_version, event_type, schema_version, \
     payload, actor, command_id, correlation_id, causation_id, recorded_at, occurred_at";

/// Up to `limit` events after `after`, in position order.
///
/// A plain range scan is enough: appends become visible strictly in position
/// order (see the crate documentation), so no later-committing event can
/// appear below what this query returns.
pub(crate) async fn read_all(
    pool: &PgPool,
    after: Position,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let Ok(after) = i64::try_from(after.0) else {
        return Ok(Vec::new());
    };
    let limit = batch_limit(limit);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|error| store_error("reading the log", error))?;
    rows.iter().map(decode_event).collect()
}

/// Up to `limit` events of `stream` from `from_version` on, in version order.
pub(crate) async fn read_stream(
    pool: &PgPool,
    stream: &StreamId,
    from_version: StreamVersion,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let Ok(from_version) = i64::try_from(from_version.0) else {
        return Ok(Vec::new());
    };
    let limit = batch_limit(limit);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version >= $2 \
         ORDER BY stream_version LIMIT $3"
    ))
    .bind(stream.as_str())
    .bind(from_version)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|error| store_error("reading a stream", error))?;
    rows.iter().map(decode_event).collect()
}

/// The stream's current version, 0 if it has no events.
pub(crate) async fn stream_version(
    pool: &PgPool,
    stream: &StreamId,
) -> Result<StreamVersion, StoreError> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM streams WHERE stream_id = $1")
            .bind(stream.as_str())
            .fetch_optional(pool)
            .await
            .map_err(|error| store_error("reading a stream's version", error))?;
    match version {
        None => Ok(StreamVersion::NONE),
        Some(version) => Ok(StreamVersion(stored_u64("streams.version", version)?)),
    }
}

/// The newest position any reader may see.
pub(crate) async fn head(pool: &PgPool) -> Result<Position, StoreError> {
    let last: i64 = sqlx::query_scalar("SELECT last_position FROM position_counter")
        .fetch_one(pool)
        .await
        .map_err(|error| store_error("reading the log's head", error))?;
    Ok(Position(stored_u64(
        "position_counter.last_position",
        last,
    )?))
}

fn batch_limit(limit: usize) -> i64 {
    // MAX_READ_BATCH is far below i64::MAX.
    i64::try_from(limit.min(MAX_READ_BATCH)).unwrap_or(0)
}

/// A stored integer that must not be negative.
pub(crate) fn stored_u64(column: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        StoreError::Incompatible(format!("{column} holds {value}, which is never stored"))
    })
}

fn decode_event(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let column = |name: &str, error: sqlx::Error| store_error(&format!("reading {name}"), error);
    let position: i64 = row.try_get(0).map_err(|e| column("position", e))?;
    let stream_id: String = row.try_get(1).map_err(|e| column("stream_id", e))?;
    let stream_version: i64 = row.try_get(2).map_err(|e| column("stream_version", e))?;
    let event_type: String = row.try_get(3).map_err(|e| column("event_type", e))?;
    let schema_version: i32 = row.try_get(4).map_err(|e| column("schema_version", e))?;
    let payload: String = row.try_get(5).map_err(|e| column("payload", e))?;
    let actor: String = row.try_get(6).map_err(|e| column("actor", e))?;
    let command_id: Option<uuid::Uuid> = row.try_get(7).map_err(|e| column("command_id", e))?;
    let correlation_id: Option<uuid::Uuid> =
        row.try_get(8).map_err(|e| column("correlation_id", e))?;
    let causation_id: Option<uuid::Uuid> = row.try_get(9).map_err(|e| column("causation_id", e))?;
    let recorded_at: Timestamp = row.try_get(10).map_err(|e| column("recorded_at", e))?;
    let occurred_at: Option<Timestamp> = row.try_get(11).map_err(|e| column("occurred_at", e))?;

    let stream_id = StreamId::new(stream_id).map_err(|error| {
        StoreError::Incompatible(format!(
            "event {position} has an invalid stream id: {error}"
        ))
    })?;
    let schema_version = u32::try_from(schema_version).map_err(|_| {
        StoreError::Incompatible(format!(
            "event {position} has schema version {schema_version}, which is never stored"
        ))
    })?;
    Ok(RecordedEvent {
        position: Position(stored_u64("events.position", position)?),
        stream_id,
        stream_version: StreamVersion(stored_u64("events.stream_version", stream_version)?),
        event_type,
        schema_version,
        payload: Payload::from_stored_text(payload),
        metadata: EventMetadata {
            actor: Actor::from_stored(&actor),
            command_id: command_id.map(CommandId::from_uuid),
            correlation_id: correlation_id.map(CorrelationId::from_uuid),
            causation_id,
        },
        recorded_at,
        occurred_at,
    })
}
