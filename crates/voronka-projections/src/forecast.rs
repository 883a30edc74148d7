//! The forecast (open deals' amount weighted by their stage's probability,
//! by expected close month, beside what was won and lost each month) and
//! loss analysis (lost deals by the stage they were lost from, reason and
//! competitor). Now, both read `rm_deals`, the deals as they stand; as of a
//! past moment, the versions current then in `rm_deals_history` — exact:
//! a deal lost then but reopened since counts as lost, amounts and
//! expected close dates are those recorded by then.

use std::collections::BTreeMap;

use chrono::Datelike;
use serde::Serialize;
use sqlx::Row;

use crate::control::{bind_as_of, responsibles_len, rows_as_of};
use crate::db::placeholders;
use crate::funnel::{bind_responsibles, Responsibles, StageKind};
use crate::time::{date_of_day, MICROS_PER_DAY};
use crate::{ProjectionError, ReadDb};

/// A stage with what the forecast needs from the definition.
#[derive(Debug, Clone)]
pub struct ForecastStage {
    pub name: String,
    pub kind: StageKind,
    /// Percent, 0..=100.
    pub probability: u8,
}

/// One month of the forecast (`month` empty: open deals with no expected
/// close date).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ForecastMonth {
    /// `YYYY-MM`.
    pub month: String,
    pub open_deals: i64,
    pub open_amount_minor: i64,
    /// Sum of amount x probability / 100.
    pub weighted_amount_minor: i64,
    pub won_deals: i64,
    pub won_amount_minor: i64,
    pub lost_deals: i64,
    pub lost_amount_minor: i64,
}

fn month_of_day(day: i64) -> String {
    let date = date_of_day(day);
    format!("{:04}-{:02}", date.year(), date.month())
}

fn responsible_filter(first: usize, responsibles: &Responsibles) -> String {
    match responsibles {
        Responsibles::All => String::new(),
        Responsibles::Only(list) => {
            format!(" AND responsible IN ({})", placeholders(first, list.len()))
        }
    }
}

/// The forecast of `process`: open deals by expected close month (only
/// months overlapping `from_day..=to_day` when given; deals with no date
/// are kept apart), won and lost deals by the month they closed — as the
/// deals stand, or as they stood at `as_of`.
///
/// Both halves are summed in SQL (open deals per expected close day, closed
/// ones per stage and day closed), so a few thousand groups reach Rust
/// instead of every deal; the weighted amount is still each deal's amount
/// x probability / 100, truncated per deal, as the months always were.
pub async fn forecast(
    db: &ReadDb,
    process: &str,
    stages: &[ForecastStage],
    responsibles: &Responsibles,
    period: Option<(i64, i64)>,
    as_of: Option<i64>,
) -> Result<Vec<ForecastMonth>, ProjectionError> {
    let mut months: BTreeMap<String, ForecastMonth> = BTreeMap::new();
    if matches!(responsibles, Responsibles::Only(list) if list.is_empty()) || stages.is_empty() {
        return Ok(Vec::new());
    }
    let (from_day, to_day) = period.unwrap_or((i64::MIN / 4, i64::MAX / 4));
    // A stage named twice counts as its first definition, as before.
    let mut distinct: Vec<&ForecastStage> = Vec::with_capacity(stages.len());
    for stage in stages {
        if !distinct.iter().any(|s| s.name == stage.name) {
            distinct.push(stage);
        }
    }
    let (open, closed): (Vec<&ForecastStage>, Vec<&ForecastStage>) = distinct
        .into_iter()
        .partition(|s| s.kind == StageKind::Open);
    if !open.is_empty() {
        for (close_day, deals, amount, weighted) in
            open_by_close_day(db, process, &open, responsibles, as_of).await?
        {
            let month = match close_day {
                Some(day) if day < from_day || day > to_day => continue,
                Some(day) => month_of_day(day),
                None => String::new(),
            };
            let m = months.entry(month.clone()).or_default();
            m.month = month;
            m.open_deals += deals;
            m.open_amount_minor += amount;
            m.weighted_amount_minor += weighted;
        }
    }
    if !closed.is_empty() {
        let names: Vec<String> = closed.iter().map(|s| s.name.clone()).collect();
        for (stage, day, deals, amount) in
            closed_by_day(db, process, &names, responsibles, (from_day, to_day), as_of).await?
        {
            let Some(info) = closed.iter().find(|s| s.name == stage) else {
                continue;
            };
            let month = month_of_day(day);
            let m = months.entry(month.clone()).or_default();
            m.month = month;
            if info.kind == StageKind::Won {
                m.won_deals += deals;
                m.won_amount_minor += amount;
            } else {
                m.lost_deals += deals;
                m.lost_amount_minor += amount;
            }
        }
    }
    Ok(months.into_values().collect())
}

/// Open deals in `open` stages per expected close day (`None`: no date):
/// how many, their amount, and the sum of each one's amount weighted by
/// its stage's probability.
async fn open_by_close_day(
    db: &ReadDb,
    process: &str,
    open: &[&ForecastStage],
    responsibles: &Responsibles,
    as_of: Option<i64>,
) -> Result<Vec<(Option<i64>, i64, i64, i64)>, ProjectionError> {
    let (table, as_of_filter) = rows_as_of(
        "rm_deals",
        "rm_deals_history",
        as_of,
        2 + open.len() + responsibles_len(responsibles),
    );
    // The probabilities are numbers from the definition (0..=100), written
    // as literals; the stage names stay bound (each reuses its IN slot).
    let mut weight = String::from("CASE stage");
    for (i, stage) in open.iter().enumerate() {
        weight.push_str(&format!(
            " WHEN ${} THEN {}",
            2 + i,
            stage.probability.min(100)
        ));
    }
    weight.push_str(" ELSE 0 END");
    let sql = format!(
        "SELECT expected_close_day, COUNT(*), CAST(SUM(COALESCE(amount, 0)) AS BIGINT), \
         CAST(SUM(COALESCE(amount, 0) * {weight} / 100) AS BIGINT) FROM {table} \
         WHERE process = $1 AND stage IN ({}){}{as_of_filter} GROUP BY expected_close_day",
        placeholders(2, open.len()),
        responsible_filter(2 + open.len(), responsibles)
    );
    let mut query = sqlx::query(&sql).bind(process.to_owned());
    for stage in open {
        query = query.bind(stage.name.clone());
    }
    let mut groups = Vec::new();
    for row in bind_as_of(bind_responsibles(query, responsibles), as_of)
        .fetch_all(db.pool())
        .await?
    {
        groups.push((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        ));
    }
    Ok(groups)
}

/// Deals in the `closed` stages per stage and UTC day they entered it
/// (days `from_day..=to_day`): how many and their amount.
async fn closed_by_day(
    db: &ReadDb,
    process: &str,
    closed: &[String],
    responsibles: &Responsibles,
    (from_day, to_day): (i64, i64),
    as_of: Option<i64>,
) -> Result<Vec<(String, i64, i64, i64)>, ProjectionError> {
    let from = from_day.saturating_mul(MICROS_PER_DAY);
    let to = to_day
        .saturating_add(1)
        .saturating_mul(MICROS_PER_DAY)
        .saturating_sub(1);
    let (table, as_of_filter) = rows_as_of(
        "rm_deals",
        "rm_deals_history",
        as_of,
        4 + closed.len() + responsibles_len(responsibles),
    );
    // The day rounds down (Euclidean) like `div_euclid`, also before 1970:
    // `%` keeps the dividend's sign on both engines.
    let d = MICROS_PER_DAY;
    let sql = format!(
        "SELECT stage, (stage_entered_at - ((stage_entered_at % {d}) + {d}) % {d}) / {d}, \
         COUNT(*), CAST(SUM(COALESCE(amount, 0)) AS BIGINT) FROM {table} \
         WHERE process = $1 AND stage_entered_at BETWEEN $2 AND $3 \
         AND stage IN ({}){}{as_of_filter} GROUP BY 1, 2",
        placeholders(4, closed.len()),
        responsible_filter(4 + closed.len(), responsibles)
    );
    let mut query = sqlx::query(&sql)
        .bind(process.to_owned())
        .bind(from)
        .bind(to);
    for stage in closed {
        query = query.bind(stage.clone());
    }
    let mut groups = Vec::new();
    for row in bind_as_of(bind_responsibles(query, responsibles), as_of)
        .fetch_all(db.pool())
        .await?
    {
        groups.push((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        ));
    }
    Ok(groups)
}

/// Lost deals of one (stage lost from, reason, competitor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LossLine {
    /// The stage the deal was in before it was lost.
    pub stage: String,
    /// The `loss_reason` dictionary value (empty when none).
    pub reason: String,
    /// The `competitor` dictionary value (empty when none).
    pub competitor: String,
    pub deals: i64,
    pub amount_minor: i64,
}

/// Deals of `process` in a lost stage (now, or at `as_of`), lost within
/// `period` (days), by the stage they left, reason and competitor, most
/// first.
pub async fn losses(
    db: &ReadDb,
    process: &str,
    lost_stages: &[String],
    responsibles: &Responsibles,
    period: Option<(i64, i64)>,
    as_of: Option<i64>,
) -> Result<Vec<LossLine>, ProjectionError> {
    if matches!(responsibles, Responsibles::Only(list) if list.is_empty()) || lost_stages.is_empty()
    {
        return Ok(Vec::new());
    }
    let (from, to) = match period {
        Some((from, to)) => (
            from.saturating_mul(MICROS_PER_DAY),
            to.saturating_add(1)
                .saturating_mul(MICROS_PER_DAY)
                .saturating_sub(1),
        ),
        None => (i64::MIN / 4, i64::MAX / 4),
    };
    let (table, as_of_filter) = rows_as_of(
        "rm_deals",
        "rm_deals_history",
        as_of,
        4 + lost_stages.len() + responsibles_len(responsibles),
    );
    let sql = format!(
        "SELECT COALESCE(previous_stage, ''), COALESCE(loss_reason, ''), COALESCE(competitor, ''), \
         COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM {table} \
         WHERE process = $1 AND stage_entered_at BETWEEN $2 AND $3 \
         AND stage IN ({}){}{as_of_filter} GROUP BY previous_stage, loss_reason, competitor",
        placeholders(4, lost_stages.len()),
        responsible_filter(4 + lost_stages.len(), responsibles)
    );
    let mut query = sqlx::query(&sql)
        .bind(process.to_owned())
        .bind(from)
        .bind(to);
    for stage in lost_stages {
        query = query.bind(stage.clone());
    }
    let mut lines = Vec::new();
    for row in bind_as_of(bind_responsibles(query, responsibles), as_of)
        .fetch_all(db.pool())
        .await?
    {
        lines.push(LossLine {
            stage: row.try_get(0)?,
            reason: row.try_get(1)?,
            competitor: row.try_get(2)?,
            deals: row.try_get(3)?,
            amount_minor: row.try_get(4)?,
        });
    }
    lines.sort_by(|a, b| {
        b.deals.cmp(&a.deals).then_with(|| {
            (&a.stage, &a.reason, &a.competitor).cmp(&(&b.stage, &b.reason, &b.competitor))
        })
    });
    Ok(lines)
}
