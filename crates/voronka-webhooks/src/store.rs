//! The deliverer's durable state in the report database (`ReadDb`, the
//! SQL both SQLite and PostgreSQL accept): a checkpoint per subscription
//! (`wh_checkpoints`: the position of the last event delivered or skipped),
//! a lease per subscription (`wh_leases`: which deliverer may send its
//! events, until when) and the delivery log (`wh_deliveries`: one row per
//! attempt).
//!
//! Two `voronka serve` processes over one database each run a deliverer;
//! the lease makes one of them deliver a subscription at a time. A worker
//! takes the lease before it reads the checkpoint, renews it while it
//! works, and moves the checkpoint only in the same transaction as a
//! renewal, so a worker that lost its lease can never move the checkpoint
//! (compare-and-set by owner). A stop releases the lease; a crashed
//! process's lease runs out after its time to live. The lease row also
//! keeps the count of consecutive failed attempts, so a restart does not
//! reset the count towards the automatic pause.

use serde::Serialize;
use sqlx::Row;
use voronka_core::Position;
use voronka_crm::webhook::WebhookId;
use voronka_projections::db::ReadDb;

const TABLES: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS wh_checkpoints (\
        subscription TEXT PRIMARY KEY, \
        position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS wh_leases (\
        subscription TEXT PRIMARY KEY, \
        owner TEXT NOT NULL, \
        until_ms BIGINT NOT NULL, \
        failures BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS wh_deliveries (\
        id TEXT PRIMARY KEY, \
        subscription TEXT NOT NULL, \
        position BIGINT NOT NULL, \
        event_type TEXT NOT NULL, \
        attempt BIGINT NOT NULL, \
        status BIGINT, \
        error TEXT, \
        duration_ms BIGINT NOT NULL, \
        at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS wh_deliveries_by_subscription \
        ON wh_deliveries (subscription, at)",
];

/// Creates the tables if missing (twice on a failure: two processes
/// creating them at once may collide on PostgreSQL's catalog).
pub async fn ensure_tables(db: &ReadDb) -> Result<(), sqlx::Error> {
    let mut result = Ok(());
    for _ in 0..2 {
        result = create_tables(db).await;
        if result.is_ok() {
            break;
        }
    }
    result
}

async fn create_tables(db: &ReadDb) -> Result<(), sqlx::Error> {
    for statement in TABLES {
        sqlx::query(statement).execute(db.pool()).await?;
    }
    Ok(())
}

/// The stored checkpoint of a subscription, if any.
pub async fn checkpoint(db: &ReadDb, id: WebhookId) -> Result<Option<Position>, sqlx::Error> {
    let row = sqlx::query("SELECT position FROM wh_checkpoints WHERE subscription = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|row| Position(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0))))
}

/// Who holds a subscription's lease: a deliverer instance's random id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOwner(pub uuid::Uuid);

impl LeaseOwner {
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

fn millis(time: chrono::DateTime<chrono::Utc>) -> i64 {
    time.timestamp_millis()
}

/// Takes or renews the lease of `id` for `owner` until `until`, if it is
/// free, ours, or expired at `now`. `true` when `owner` holds it now.
pub async fn acquire_lease(
    db: &ReadDb,
    id: WebhookId,
    owner: LeaseOwner,
    now: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query(
        "INSERT INTO wh_leases (subscription, owner, until_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (subscription) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms \
         WHERE wh_leases.owner = excluded.owner OR wh_leases.until_ms < $4",
    )
    .bind(id.to_string())
    .bind(owner.0.to_string())
    .bind(millis(until))
    .bind(millis(now))
    .execute(db.pool())
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// Gives the lease up (on a stop), if `owner` still holds it: it expires
/// at once; the failure count stays.
pub async fn release_lease(
    db: &ReadDb,
    id: WebhookId,
    owner: LeaseOwner,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE wh_leases SET until_ms = 0 WHERE subscription = $1 AND owner = $2")
        .bind(id.to_string())
        .bind(owner.0.to_string())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The consecutive failed attempts recorded for a subscription.
pub async fn failures(db: &ReadDb, id: WebhookId) -> Result<u32, sqlx::Error> {
    let row = sqlx::query("SELECT failures FROM wh_leases WHERE subscription = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map_or(0, |row| {
        u32::try_from(row.get::<i64, _>(0)).unwrap_or(u32::MAX)
    }))
}

/// Records the consecutive failure count (0 after the automatic pause, so
/// a resume starts afresh) and renews the lease, while `owner` holds it.
pub async fn set_failures(
    db: &ReadDb,
    id: WebhookId,
    owner: LeaseOwner,
    failures: u32,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE wh_leases SET failures = $1, until_ms = $2 WHERE subscription = $3 AND owner = $4",
    )
    .bind(i64::from(failures))
    .bind(millis(until))
    .bind(id.to_string())
    .bind(owner.0.to_string())
    .execute(db.pool())
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Logs `accepted` attempts, moves the checkpoint of a subscription
/// forward (creating it), renews the lease until `until` and records the
/// deliverer's count of failures in a row (0 after an accepted attempt; a
/// stop during a backoff keeps it for the next deliverer), in one
/// transaction, only while `owner` holds the lease. `false` when the lease
/// is lost: then only the attempts are logged.
pub async fn advance_checkpoint(
    db: &ReadDb,
    id: WebhookId,
    owner: LeaseOwner,
    position: Position,
    until: chrono::DateTime<chrono::Utc>,
    accepted: &[DeliveryRecord],
    failures: u32,
) -> Result<bool, sqlx::Error> {
    let mut transaction = db.pool().begin().await?;
    // The renewal first: on PostgreSQL it locks the lease row, so a
    // deliverer taking an expired lease waits for this commit and then
    // finds it renewed; SQLite runs one writer at a time anyway.
    let renewed = sqlx::query(
        "UPDATE wh_leases SET until_ms = $1, failures = $4 WHERE subscription = $2 AND owner = $3",
    )
    .bind(millis(until))
    .bind(id.to_string())
    .bind(owner.0.to_string())
    .bind(i64::from(failures))
    .execute(&mut *transaction)
    .await?;
    let held = renewed.rows_affected() == 1;
    if held {
        sqlx::query(
            "INSERT INTO wh_checkpoints (subscription, position) VALUES ($1, $2) \
             ON CONFLICT (subscription) DO UPDATE SET position = excluded.position \
             WHERE wh_checkpoints.position < excluded.position",
        )
        .bind(id.to_string())
        .bind(i64::try_from(position.0).unwrap_or(i64::MAX))
        .execute(&mut *transaction)
        .await?;
    }
    for attempt in accepted {
        insert_attempt(&mut transaction, id, attempt).await?;
    }
    transaction.commit().await?;
    Ok(held)
}

/// One attempt to deliver one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    /// The delivery id sent as `X-Voronka-Delivery` (subscription + position).
    pub delivery: String,
    pub position: u64,
    pub event_type: String,
    /// 1 for the first attempt at this event, counting since the worker
    /// took it up.
    pub attempt: u32,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the attempt failed without an answer (timeout, connection).
    pub error: Option<String>,
    pub duration_ms: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub success: bool,
}

/// Writes one attempt to the delivery log.
pub async fn record_attempt(
    db: &ReadDb,
    subscription: WebhookId,
    attempt: &DeliveryRecord,
) -> Result<(), sqlx::Error> {
    let mut connection = db.pool().acquire().await?;
    insert_attempt(&mut connection, subscription, attempt).await
}

async fn insert_attempt(
    connection: &mut sqlx::AnyConnection,
    subscription: WebhookId,
    attempt: &DeliveryRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wh_deliveries \
         (id, subscription, position, event_type, attempt, status, error, duration_ms, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(subscription.to_string())
    .bind(i64::try_from(attempt.position).unwrap_or(i64::MAX))
    .bind(attempt.event_type.clone())
    .bind(i64::from(attempt.attempt))
    .bind(attempt.status.map(i64::from))
    .bind(attempt.error.clone())
    .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
    .bind(attempt.at.timestamp_micros())
    .execute(connection)
    .await?;
    Ok(())
}

/// The delivery log of a subscription, newest first, at most `limit` rows.
pub async fn deliveries(
    db: &ReadDb,
    subscription: WebhookId,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, sqlx::Error> {
    ensure_tables(db).await?;
    let rows = sqlx::query(
        "SELECT position, event_type, attempt, status, error, duration_ms, at \
         FROM wh_deliveries WHERE subscription = $1 \
         ORDER BY at DESC, position DESC, attempt DESC LIMIT $2",
    )
    .bind(subscription.to_string())
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let position = u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0);
            let status = row
                .try_get::<Option<i64>, _>(3)?
                .and_then(|s| u16::try_from(s).ok());
            Ok(DeliveryRecord {
                delivery: crate::payload::delivery_id(subscription, Position(position)),
                position,
                event_type: row.try_get(1)?,
                attempt: u32::try_from(row.try_get::<i64, _>(2)?).unwrap_or(u32::MAX),
                status,
                error: row.try_get(4)?,
                duration_ms: u64::try_from(row.try_get::<i64, _>(5)?).unwrap_or(0),
                at: chrono::DateTime::from_timestamp_micros(row.try_get::<i64, _>(6)?)
                    .unwrap_or_default(),
                success: status.is_some_and(|s| (200..300).contains(&s)),
            })
        })
        .collect()
}
