//! The funnel: per stage, how many deals entered and moved on, conversion,
//! time in stage, how many are there now and their amount, and losses by
//! reason — over a period, for some responsibles, as of any moment.
//!
//! Flows (entered, left) count by when they happened and fall in the period;
//! holdings (how many are in the stage, their amount) are as they stood at
//! the `as_of` moment (or now). `as_of` cuts by when changes were recorded:
//! whole recorded days come from `rm_flow_daily_all` (or `rm_flow_daily`
//! for some responsibles), the moment's own day from
//! the journal; with neither period nor `as_of`, `rm_flow_totals` answers.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use crate::db::{placeholders, AnyQuery};
use crate::deals::{exit_bucket_floor, FlowSums};
use crate::time::{day_of, MICROS_PER_DAY};
use crate::{ProjectionError, ReadDb};

/// How the process definition classifies a stage (the caller knows it; the
/// read models store names only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone)]
pub struct StageInfo {
    pub name: String,
    pub kind: StageKind,
}

/// Whose deals a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Responsibles {
    All,
    /// Only these (user ids as text; [`crate::deals::NOBODY`] for deals with
    /// no responsible). An empty list covers nothing.
    Only(Vec<String>),
}

/// Days (inclusive, UTC day numbers) whose flows a report counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from_day: i64,
    pub to_day: i64,
}

/// A cut of the flow tables shared by the funnel and the reports built on
/// the same tables.
#[derive(Debug, Clone)]
pub struct FlowScope {
    pub process: String,
    pub responsibles: Responsibles,
    pub period: Option<Period>,
    /// Microseconds since the epoch: only what was recorded up to then.
    pub as_of: Option<i64>,
}

/// Sums per (stage, next stage): flows limited to the period, holdings over
/// everything up to `as_of`.
pub async fn flow_sums(
    db: &ReadDb,
    scope: &FlowScope,
) -> Result<HashMap<(String, String), FlowSums>, ProjectionError> {
    let mut sums: HashMap<(String, String), FlowSums> = HashMap::new();
    if matches!(&scope.responsibles, Responsibles::Only(list) if list.is_empty()) {
        return Ok(sums);
    }
    let (period_from, period_to) = match scope.period {
        Some(p) => (p.from_day, p.to_day),
        None => (i64::MIN / 2, i64::MAX / 2),
    };
    let responsible_filter = |first: usize| match &scope.responsibles {
        Responsibles::All => String::new(),
        Responsibles::Only(list) => {
            format!(" AND responsible IN ({})", placeholders(first, list.len()))
        }
    };
    let bind_responsibles = |query| bind_responsibles(query, &scope.responsibles);
    let mut add = |rows: Vec<sqlx::any::AnyRow>| -> Result<(), ProjectionError> {
        for row in rows {
            let key = (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
            let entry = sums.entry(key).or_default();
            entry.entered += row.try_get::<i64, _>(2)?;
            entry.exited += row.try_get::<i64, _>(3)?;
            entry.seconds += row.try_get::<i64, _>(4)?;
            entry.held += row.try_get::<i64, _>(5)?;
            entry.amount += row.try_get::<i64, _>(6)?;
        }
        Ok(())
    };
    if scope.period.is_none() && scope.as_of.is_none() {
        let sql = format!(
            "SELECT stage, next_stage, CAST(SUM(entered) AS BIGINT), CAST(SUM(exited) AS BIGINT), \
             CAST(SUM(seconds) AS BIGINT), CAST(SUM(held) AS BIGINT), CAST(SUM(amount) AS BIGINT) \
             FROM rm_flow_totals WHERE process = $1{} GROUP BY stage, next_stage",
            responsible_filter(2)
        );
        let query = bind_responsibles(sqlx::query(&sql).bind(scope.process.clone()));
        add(query.fetch_all(db.pool()).await?)?;
        return Ok(sums);
    }
    // Whole recorded days before the as_of moment's own day: for everyone
    // from the table without responsibles (a few thousand rows a year).
    let daily = match scope.responsibles {
        Responsibles::All => "rm_flow_daily_all",
        Responsibles::Only(_) => "rm_flow_daily",
    };
    let as_of_day = scope.as_of.map_or(i64::MAX / 2, day_of);
    let flows_in_period = "CASE WHEN day BETWEEN $2 AND $3 THEN {c} ELSE 0 END";
    let sql = format!(
        "SELECT stage, next_stage, \
         CAST(SUM({}) AS BIGINT), CAST(SUM({}) AS BIGINT), CAST(SUM({}) AS BIGINT), \
         CAST(SUM(held) AS BIGINT), CAST(SUM(amount) AS BIGINT) \
         FROM {daily} WHERE process = $1 AND rec_day < $4{} GROUP BY stage, next_stage",
        flows_in_period.replace("{c}", "entered"),
        flows_in_period.replace("{c}", "exited"),
        flows_in_period.replace("{c}", "seconds"),
        responsible_filter(5)
    );
    let query = bind_responsibles(
        sqlx::query(&sql)
            .bind(scope.process.clone())
            .bind(period_from)
            .bind(period_to)
            .bind(as_of_day),
    );
    add(query.fetch_all(db.pool()).await?)?;
    if let Some(as_of) = scope.as_of {
        // The moment's own day, from the journal.
        let from_micros = period_from.saturating_mul(MICROS_PER_DAY);
        let to_micros = period_to
            .saturating_add(1)
            .saturating_mul(MICROS_PER_DAY)
            .saturating_sub(1);
        let in_period = "CASE WHEN at BETWEEN $2 AND $3 THEN {c} ELSE 0 END";
        let sql = format!(
            "SELECT stage, next_stage, \
             CAST(SUM({}) AS BIGINT), CAST(SUM({}) AS BIGINT), CAST(SUM({}) AS BIGINT), \
             CAST(SUM(held) AS BIGINT), CAST(SUM(amount) AS BIGINT) \
             FROM rm_flow_journal WHERE rec_at >= $4 AND rec_at <= $5 AND process = $1{} \
             GROUP BY stage, next_stage",
            in_period.replace("{c}", "entered"),
            in_period.replace("{c}", "exited"),
            in_period.replace("{c}", "seconds"),
            responsible_filter(6)
        );
        let query = bind_responsibles(
            sqlx::query(&sql)
                .bind(scope.process.clone())
                .bind(from_micros)
                .bind(to_micros)
                .bind(as_of_day * MICROS_PER_DAY)
                .bind(as_of),
        );
        add(query.fetch_all(db.pool()).await?)?;
    }
    Ok(sums)
}

/// Binds the ids of an `IN` list made by [`placeholders`].
pub fn bind_responsibles<'q>(mut query: AnyQuery<'q>, responsibles: &Responsibles) -> AnyQuery<'q> {
    if let Responsibles::Only(list) = responsibles {
        for id in list {
            query = query.bind(id.clone());
        }
    }
    query
}

/// One stage of the funnel.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelStage {
    pub stage: String,
    pub kind: StageKind,
    /// Deals that entered the stage (in the period).
    pub entered: i64,
    /// Deals that left it for a stage that is not a loss.
    pub moved_on: i64,
    /// Deals lost from it.
    pub lost: i64,
    /// `moved_on / entered`, when anything entered.
    pub conversion: Option<f64>,
    /// Average seconds in the stage of the deals that left it.
    pub average_seconds: Option<i64>,
    /// Median seconds in the stage of the deals that left it.
    pub median_seconds: Option<i64>,
    /// Deals in the stage at the moment (now or `as_of`).
    pub now: i64,
    /// Their amount, minor units.
    pub now_amount_minor: i64,
    /// Losses from this stage by reason (most first).
    pub lost_reasons: Vec<ReasonCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReasonCount {
    /// The loss reason's dictionary code (empty when none was given).
    pub reason: String,
    pub deals: i64,
}

/// The funnel of `stages` (in the order given: the definition's).
pub async fn funnel(
    db: &ReadDb,
    scope: &FlowScope,
    stages: &[StageInfo],
) -> Result<Vec<FunnelStage>, ProjectionError> {
    let sums = flow_sums(db, scope).await?;
    let lost_stages: Vec<&str> = stages
        .iter()
        .filter(|s| s.kind == StageKind::Lost)
        .map(|s| s.name.as_str())
        .collect();
    let reasons = lost_reasons(db, scope, &lost_stages).await?;
    let mut funnel = Vec::with_capacity(stages.len());
    for info in stages {
        let mut stage = FunnelStage {
            stage: info.name.clone(),
            kind: info.kind,
            entered: 0,
            moved_on: 0,
            lost: 0,
            conversion: None,
            average_seconds: None,
            median_seconds: None,
            now: 0,
            now_amount_minor: 0,
            lost_reasons: reasons.get(&info.name).cloned().unwrap_or_default(),
        };
        let mut seconds = 0;
        for ((name, next), s) in &sums {
            if name != &info.name {
                continue;
            }
            stage.entered += s.entered;
            if lost_stages.contains(&next.as_str()) {
                stage.lost += s.exited;
            } else {
                stage.moved_on += s.exited;
            }
            seconds += s.seconds;
            stage.now += s.held;
            stage.now_amount_minor += s.amount;
        }
        let exits = stage.moved_on + stage.lost;
        if stage.entered > 0 {
            stage.conversion = Some(stage.moved_on as f64 / stage.entered as f64);
        }
        if exits > 0 {
            stage.average_seconds = Some(seconds / exits);
            stage.median_seconds = median_seconds(db, scope, &info.name, exits).await?;
        }
        funnel.push(stage);
    }
    Ok(funnel)
}

/// The lower median of the seconds spent in `stage` by the `exits` deals
/// that left it within the scope: one index walk to the middle.
async fn median_seconds(
    db: &ReadDb,
    scope: &FlowScope,
    stage: &str,
    exits: i64,
) -> Result<Option<i64>, ProjectionError> {
    let (from, to) = match scope.period {
        Some(p) => (
            p.from_day.saturating_mul(MICROS_PER_DAY),
            p.to_day
                .saturating_add(1)
                .saturating_mul(MICROS_PER_DAY)
                .saturating_sub(1),
        ),
        None => (i64::MIN / 2, i64::MAX / 2),
    };
    let k = (exits - 1) / 2;
    let now_for_everyone =
        scope.period.is_none() && scope.as_of.is_none() && scope.responsibles == Responsibles::All;
    if now_for_everyone {
        return median_from_buckets(db, &scope.process, stage, k).await;
    }
    // Only the conditions the scope needs, all of them columns of the
    // partial exits indexes: the walk never reads the table.
    let mut sql = String::from(
        "SELECT seconds FROM rm_flow_journal WHERE process = $1 AND stage = $2 AND exited = 1",
    );
    let mut next = 4;
    if scope.period.is_some() {
        sql.push_str(&format!(" AND at BETWEEN ${next} AND ${}", next + 1));
        next += 2;
    }
    if scope.as_of.is_some() {
        sql.push_str(&format!(" AND rec_at <= ${next}"));
        next += 1;
    }
    if let Responsibles::Only(list) = &scope.responsibles {
        sql.push_str(&format!(
            " AND responsible IN ({})",
            placeholders(next, list.len())
        ));
    }
    sql.push_str(" ORDER BY seconds LIMIT 1 OFFSET $3");
    let mut query = sqlx::query(&sql)
        .bind(scope.process.clone())
        .bind(stage.to_owned())
        .bind(k);
    if scope.period.is_some() {
        query = query.bind(from).bind(to);
    }
    if let Some(as_of) = scope.as_of {
        query = query.bind(as_of);
    }
    query = bind_responsibles(query, &scope.responsibles);
    let row = query.fetch_optional(db.pool()).await?;
    Ok(row.map(|row| row.try_get::<i64, _>(0)).transpose()?)
}

/// The `k`-th smallest (from 0) time in `stage` of every exit: the bucket
/// counts say which bucket holds it, and the walk of the exits index starts
/// at that bucket's floor.
async fn median_from_buckets(
    db: &ReadDb,
    process: &str,
    stage: &str,
    k: i64,
) -> Result<Option<i64>, ProjectionError> {
    let buckets = sqlx::query(
        "SELECT bucket, exits FROM rm_exit_buckets WHERE process = $1 AND stage = $2 \
         ORDER BY bucket",
    )
    .bind(process.to_owned())
    .bind(stage.to_owned())
    .fetch_all(db.pool())
    .await?;
    let mut below = 0i64;
    for row in buckets {
        let bucket: i64 = row.try_get(0)?;
        let exits: i64 = row.try_get(1)?;
        if below + exits > k {
            let row = sqlx::query(
                "SELECT seconds FROM rm_flow_journal WHERE process = $1 AND stage = $2 \
                 AND exited = 1 AND seconds >= $3 ORDER BY seconds LIMIT 1 OFFSET $4",
            )
            .bind(process.to_owned())
            .bind(stage.to_owned())
            .bind(exit_bucket_floor(bucket))
            .bind(k - below)
            .fetch_optional(db.pool())
            .await?;
            return Ok(row.map(|row| row.try_get::<i64, _>(0)).transpose()?);
        }
        below += exits;
    }
    Ok(None)
}

/// Deals in a lost stage, by the stage they were lost from and the reason.
async fn lost_reasons(
    db: &ReadDb,
    scope: &FlowScope,
    lost_stages: &[&str],
) -> Result<HashMap<String, Vec<ReasonCount>>, ProjectionError> {
    let mut reasons: HashMap<String, Vec<ReasonCount>> = HashMap::new();
    if lost_stages.is_empty()
        || matches!(&scope.responsibles, Responsibles::Only(list) if list.is_empty())
    {
        return Ok(reasons);
    }
    let rows = if scope.period.is_none() && scope.as_of.is_none() {
        lost_now(db, scope, lost_stages).await?
    } else {
        lost_in_scope(db, scope, lost_stages).await?
    };
    for row in rows {
        let stage: String = row.try_get(0)?;
        let reason: String = row.try_get(1)?;
        let deals: i64 = row.try_get(2)?;
        reasons
            .entry(stage)
            .or_default()
            .push(ReasonCount { reason, deals });
    }
    for list in reasons.values_mut() {
        list.retain(|r| r.deals != 0);
        list.sort_by(|a, b| b.deals.cmp(&a.deals).then(a.reason.cmp(&b.reason)));
    }
    reasons.retain(|_, list| !list.is_empty());
    Ok(reasons)
}

/// Losses as they stand now, from the counts of where deals stand.
async fn lost_now(
    db: &ReadDb,
    scope: &FlowScope,
    lost_stages: &[&str],
) -> Result<Vec<sqlx::any::AnyRow>, ProjectionError> {
    let mut sql = format!(
        "SELECT previous_stage, loss_reason, CAST(SUM(deals) AS BIGINT) FROM rm_deal_counts \
         WHERE process = $1 AND stage IN ({})",
        placeholders(2, lost_stages.len())
    );
    if let Responsibles::Only(list) = &scope.responsibles {
        sql.push_str(&format!(
            " AND responsible IN ({})",
            placeholders(2 + lost_stages.len(), list.len())
        ));
    }
    sql.push_str(" GROUP BY previous_stage, loss_reason");
    let mut query = sqlx::query(&sql).bind(scope.process.clone());
    for stage in lost_stages {
        query = query.bind((*stage).to_owned());
    }
    query = bind_responsibles(query, &scope.responsibles);
    Ok(query.fetch_all(db.pool()).await?)
}

/// Deals lost within the period, as they stand or (as of a moment) as
/// they stood then: the versions current at it.
async fn lost_in_scope(
    db: &ReadDb,
    scope: &FlowScope,
    lost_stages: &[&str],
) -> Result<Vec<sqlx::any::AnyRow>, ProjectionError> {
    let (from, to) = match scope.period {
        Some(p) => (
            p.from_day.saturating_mul(MICROS_PER_DAY),
            p.to_day
                .saturating_add(1)
                .saturating_mul(MICROS_PER_DAY)
                .saturating_sub(1),
        ),
        None => (i64::MIN / 2, i64::MAX / 2),
    };
    let next = 4 + lost_stages.len();
    let responsibles = crate::control::responsibles_len(&scope.responsibles);
    let (table, as_of_filter) = crate::control::rows_as_of(
        "rm_deals",
        "rm_deals_history",
        scope.as_of,
        next + responsibles,
    );
    let mut sql = format!(
        "SELECT COALESCE(previous_stage, ''), COALESCE(loss_reason, ''), COUNT(*) FROM {table} \
         WHERE process = $1 AND stage_entered_at BETWEEN $2 AND $3 AND stage IN ({}){as_of_filter}",
        placeholders(4, lost_stages.len())
    );
    if let Responsibles::Only(list) = &scope.responsibles {
        sql.push_str(&format!(
            " AND responsible IN ({})",
            placeholders(next, list.len())
        ));
    }
    sql.push_str(" GROUP BY previous_stage, loss_reason");
    let mut query = sqlx::query(&sql)
        .bind(scope.process.clone())
        .bind(from)
        .bind(to);
    for stage in lost_stages {
        query = query.bind((*stage).to_owned());
    }
    query = bind_responsibles(query, &scope.responsibles);
    query = crate::control::bind_as_of(query, scope.as_of);
    Ok(query.fetch_all(db.pool()).await?)
}
