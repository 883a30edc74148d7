//! Control: forgotten deals, overdue activities, what is due today and
//! tomorrow, each manager's load per day against a capacity, reschedules.
//!
//! Now, these read the current rows (`rm_deals`, `rm_activities`); as of a
//! past moment, the versions current then (`rm_deals_history`,
//! `rm_activities_history`, by their recorded-time interval), with "today"
//! and "idle" measured from that moment. Reschedules come from the
//! counters, exact as of any moment too.

use serde::Serialize;
use sqlx::Row;

use crate::db::placeholders;
use crate::funnel::{bind_responsibles, Responsibles};
use crate::plan_vs_fact::{counter_facts, FactScope};
use crate::time::MICROS_PER_DAY;
use crate::work::metric::RESCHEDULES;
use crate::{ProjectionError, ReadDb};

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The most rows a list returns.
pub const MAX_ROWS: i64 = 1000;

fn nobody(responsibles: &Responsibles) -> bool {
    matches!(responsibles, Responsibles::Only(list) if list.is_empty())
}

/// The rows a query reads: the current table, or as of a moment the
/// versions current then. `as_of_param` is the placeholder number the
/// moment is bound to (see [`bind_as_of`]).
pub(crate) fn rows_as_of(
    current: &str,
    history: &str,
    as_of: Option<i64>,
    as_of_param: usize,
) -> (String, String) {
    match as_of {
        None => (current.to_owned(), String::new()),
        Some(_) => (
            history.to_owned(),
            format!(" AND valid_from <= ${as_of_param} AND valid_to > ${as_of_param}"),
        ),
    }
}

/// Binds the moment of [`rows_as_of`], when there is one (last).
pub(crate) fn bind_as_of<'q>(query: AnyQuery<'q>, as_of: Option<i64>) -> AnyQuery<'q> {
    match as_of {
        Some(at) => query.bind(at),
        None => query,
    }
}

/// How many placeholders [`responsible_filter`] takes.
pub(crate) fn responsibles_len(responsibles: &Responsibles) -> usize {
    match responsibles {
        Responsibles::All => 0,
        Responsibles::Only(list) => list.len(),
    }
}

fn responsible_filter(first: usize, responsibles: &Responsibles) -> String {
    match responsibles {
        Responsibles::All => String::new(),
        Responsibles::Only(list) => {
            format!(" AND responsible IN ({})", placeholders(first, list.len()))
        }
    }
}

/// An open deal nobody has touched for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ForgottenDeal {
    pub deal_id: String,
    pub title: Option<String>,
    pub stage: String,
    pub responsible: String,
    /// Microseconds since the epoch of the last stage change, field change,
    /// activity or document.
    pub last_touch_at: i64,
    pub idle_days: i64,
    pub amount_minor: Option<i64>,
}

/// Deals of `process` in `open_stages` last touched before `now - idle_days`,
/// the longest idle first: as they stand, or as they stood at `as_of`
/// (then `now` is that moment).
#[allow(clippy::too_many_arguments)]
pub async fn forgotten_deals(
    db: &ReadDb,
    process: &str,
    open_stages: &[String],
    responsibles: &Responsibles,
    idle_days: i64,
    now: i64,
    as_of: Option<i64>,
    limit: i64,
) -> Result<(i64, Vec<ForgottenDeal>), ProjectionError> {
    if nobody(responsibles) || open_stages.is_empty() {
        return Ok((0, Vec::new()));
    }
    let before = now.saturating_sub(idle_days.saturating_mul(MICROS_PER_DAY));
    let stages_first = 3;
    let responsibles_first = stages_first + open_stages.len();
    let (table, as_of_filter) = rows_as_of(
        "rm_deals",
        "rm_deals_history",
        as_of,
        responsibles_first + responsibles_len(responsibles),
    );
    let where_clause = format!(
        "WHERE process = $1 AND last_touch_at < $2 AND stage IN ({}){}{as_of_filter}",
        placeholders(stages_first, open_stages.len()),
        responsible_filter(responsibles_first, responsibles)
    );
    fn bind<'q>(
        sql: &'q str,
        process: &str,
        before: i64,
        stages: &[String],
        responsibles: &Responsibles,
        as_of: Option<i64>,
    ) -> AnyQuery<'q> {
        let mut query = sqlx::query(sql).bind(process.to_owned()).bind(before);
        for stage in stages {
            query = query.bind(stage.clone());
        }
        bind_as_of(bind_responsibles(query, responsibles), as_of)
    }
    let count_sql = format!("SELECT COUNT(*) FROM {table} {where_clause}");
    let total: i64 = bind(
        &count_sql,
        process,
        before,
        open_stages,
        responsibles,
        as_of,
    )
    .fetch_one(db.pool())
    .await?
    .try_get(0)?;
    let limit = limit.clamp(0, MAX_ROWS);
    // As of a moment, the matching versions are many and scattered: the
    // index alone finds the `limit`-th idlest touch, and only the versions
    // up to it are read and sorted (ties on it included).
    let up_to_limit = match as_of {
        Some(_) if limit > 0 => format!(
            " AND last_touch_at <= COALESCE((SELECT last_touch_at FROM {table} {where_clause} \
             ORDER BY last_touch_at LIMIT 1 OFFSET {}), {})",
            limit - 1,
            i64::MAX
        ),
        _ => String::new(),
    };
    let list_sql = format!(
        "SELECT deal_id, title, stage, responsible, last_touch_at, amount FROM {table} \
         {where_clause}{up_to_limit} ORDER BY last_touch_at, deal_id LIMIT {limit}"
    );
    let mut deals = Vec::new();
    for row in bind(&list_sql, process, before, open_stages, responsibles, as_of)
        .fetch_all(db.pool())
        .await?
    {
        let last_touch_at: i64 = row.try_get(4)?;
        deals.push(ForgottenDeal {
            deal_id: row.try_get(0)?,
            title: row.try_get(1)?,
            stage: row.try_get(2)?,
            responsible: row.try_get(3)?,
            last_touch_at,
            idle_days: (now - last_touch_at).max(0) / MICROS_PER_DAY,
            amount_minor: row.try_get(5)?,
        });
    }
    Ok((total, deals))
}

/// A planned activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OpenActivity {
    pub activity_id: String,
    pub kind: String,
    pub subject: String,
    pub responsible: String,
    /// Empty when not linked to a deal.
    pub deal_id: String,
    /// Microseconds since the epoch.
    pub due_at: i64,
    pub reschedule_count: i64,
}

/// Planned activities due in `[from, to)` (microseconds), soonest first,
/// with how many there are in all: as they stand, or as they stood at
/// `as_of`.
pub async fn planned_due(
    db: &ReadDb,
    responsibles: &Responsibles,
    from: i64,
    to: i64,
    as_of: Option<i64>,
    limit: i64,
) -> Result<(i64, Vec<OpenActivity>), ProjectionError> {
    if nobody(responsibles) {
        return Ok((0, Vec::new()));
    }
    let (table, as_of_filter) = rows_as_of(
        "rm_activities",
        "rm_activities_history",
        as_of,
        3 + responsibles_len(responsibles),
    );
    let where_clause = format!(
        "WHERE status = 'planned' AND due_at >= $1 AND due_at < $2{}{as_of_filter}",
        responsible_filter(3, responsibles)
    );
    fn bind<'q>(
        sql: &'q str,
        from: i64,
        to: i64,
        responsibles: &Responsibles,
        as_of: Option<i64>,
    ) -> AnyQuery<'q> {
        bind_as_of(
            bind_responsibles(sqlx::query(sql).bind(from).bind(to), responsibles),
            as_of,
        )
    }
    let count_sql = format!("SELECT COUNT(*) FROM {table} {where_clause}");
    let total: i64 = bind(&count_sql, from, to, responsibles, as_of)
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    let list_sql = format!(
        "SELECT activity_id, kind, subject, responsible, deal_id, due_at, reschedule_count \
         FROM {table} {where_clause} ORDER BY due_at, activity_id LIMIT {}",
        limit.clamp(0, MAX_ROWS)
    );
    let mut list = Vec::new();
    for row in bind(&list_sql, from, to, responsibles, as_of)
        .fetch_all(db.pool())
        .await?
    {
        list.push(OpenActivity {
            activity_id: row.try_get(0)?,
            kind: row.try_get(1)?,
            subject: row.try_get(2)?,
            responsible: row.try_get(3)?,
            deal_id: row.try_get(4)?,
            due_at: row.try_get(5)?,
            reschedule_count: row.try_get(6)?,
        });
    }
    Ok((total, list))
}

/// A manager's planned activities on one day against the capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayLoad {
    pub responsible: String,
    /// UTC day number.
    pub day: i64,
    pub planned: i64,
    pub capacity: i64,
    pub over_capacity: bool,
}

/// Planned activities per manager per due day on days `from_day..=to_day`
/// (as they stood at `as_of`, when given).
pub async fn workload(
    db: &ReadDb,
    responsibles: &Responsibles,
    from_day: i64,
    to_day: i64,
    as_of: Option<i64>,
    capacity: i64,
) -> Result<Vec<DayLoad>, ProjectionError> {
    if nobody(responsibles) {
        return Ok(Vec::new());
    }
    let (table, as_of_filter) = rows_as_of(
        "rm_activities",
        "rm_activities_history",
        as_of,
        3 + responsibles_len(responsibles),
    );
    // Counted per manager and due day in SQL; the day rounds down
    // (Euclidean, like `day_of`): `%` keeps the dividend's sign on both
    // engines.
    let d = MICROS_PER_DAY;
    let sql = format!(
        "SELECT responsible, (due_at - ((due_at % {d}) + {d}) % {d}) / {d}, COUNT(*) \
         FROM {table} WHERE status = 'planned' \
         AND due_at >= $1 AND due_at < $2{}{as_of_filter} GROUP BY 1, 2",
        responsible_filter(3, responsibles)
    );
    let query = sqlx::query(&sql)
        .bind(from_day.saturating_mul(MICROS_PER_DAY))
        .bind(to_day.saturating_add(1).saturating_mul(MICROS_PER_DAY));
    let mut load: std::collections::BTreeMap<(String, i64), i64> = Default::default();
    for row in bind_as_of(bind_responsibles(query, responsibles), as_of)
        .fetch_all(db.pool())
        .await?
    {
        *load.entry((row.try_get(0)?, row.try_get(1)?)).or_default() += row.try_get::<i64, _>(2)?;
    }
    Ok(load
        .into_iter()
        .map(|((responsible, day), planned)| DayLoad {
            responsible,
            day,
            planned,
            capacity,
            over_capacity: planned > capacity,
        })
        .collect())
}

/// Reschedules per manager in the scope's period (exact as of any moment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reschedules {
    pub responsible: String,
    pub reschedules: i64,
}

pub async fn reschedules(
    db: &ReadDb,
    scope: &FactScope,
) -> Result<Vec<Reschedules>, ProjectionError> {
    let mut list: Vec<Reschedules> = counter_facts(db, scope)
        .await?
        .into_iter()
        .filter(|((_, metric), _)| metric == RESCHEDULES)
        .map(|((responsible, _), fact)| Reschedules {
            responsible,
            reschedules: fact.count,
        })
        .collect();
    list.sort_by(|a, b| {
        b.reschedules
            .cmp(&a.reschedules)
            .then(a.responsible.cmp(&b.responsible))
    });
    Ok(list)
}
