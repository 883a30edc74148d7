//! Plan against fact: the plans as they stood (now or as of a moment), the
//! facts of a period per user and metric, the percent done and a run-rate
//! forecast to the period's end.
//!
//! Facts of the six counted metrics come from `rm_counters_daily` (+ the
//! journal for the `as_of` moment's own day; now, whole calendar months from
//! `rm_counters_monthly`); deals won and revenue won are
//! entries into won stages from `rm_flow_daily` (+ `rm_flow_journal`).
//! Both are exact as of any moment: they are keyed by the recorded day.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::Row;
use voronka_crm::plan::PlanMetric;

use crate::db::placeholders;
use crate::funnel::{bind_responsibles, Responsibles};
use crate::time::{whole_months, MICROS_PER_DAY};
use crate::work::{COUNTED_METRICS, REMOVED_TARGET};
use crate::{ProjectionError, ReadDb};

/// Which facts to count: whose, on which days (inclusive), as recorded up
/// to when.
#[derive(Debug, Clone)]
pub struct FactScope {
    pub responsibles: Responsibles,
    pub from_day: i64,
    pub to_day: i64,
    pub as_of: Option<i64>,
}

impl FactScope {
    fn nobody(&self) -> bool {
        matches!(&self.responsibles, Responsibles::Only(list) if list.is_empty())
    }

    fn micros_bounds(&self) -> (i64, i64) {
        (
            self.from_day.saturating_mul(MICROS_PER_DAY),
            self.to_day
                .saturating_add(1)
                .saturating_mul(MICROS_PER_DAY)
                .saturating_sub(1),
        )
    }

    /// Recorded days strictly before this one come from the daily tables.
    fn as_of_day(&self) -> i64 {
        self.as_of.map_or(i64::MAX / 4, crate::time::day_of)
    }
}

/// A count and the money counted with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Fact {
    pub count: i64,
    pub total: i64,
}

fn responsible_filter(column: &str, first: usize, responsibles: &Responsibles) -> String {
    match responsibles {
        Responsibles::All => String::new(),
        Responsibles::Only(list) => {
            format!(" AND {column} IN ({})", placeholders(first, list.len()))
        }
    }
}

/// Counter facts per (user, metric name) over the scope.
pub async fn counter_facts(
    db: &ReadDb,
    scope: &FactScope,
) -> Result<HashMap<(String, String), Fact>, ProjectionError> {
    let mut facts: HashMap<(String, String), Fact> = HashMap::new();
    if scope.nobody() {
        return Ok(facts);
    }
    let mut add = |rows: Vec<sqlx::any::AnyRow>| -> Result<(), ProjectionError> {
        for row in rows {
            let fact = facts.entry((row.try_get(0)?, row.try_get(1)?)).or_default();
            fact.count += row.try_get::<i64, _>(2)?;
            fact.total += row.try_get::<i64, _>(3)?;
        }
        Ok(())
    };
    // Now, whole calendar months come from the monthly sums and only the
    // ragged ends from the daily ones; as of a moment, every day is cut by
    // the day it was recorded.
    let whole = scope
        .as_of
        .is_none()
        .then(|| whole_months(scope.from_day, scope.to_day))
        .flatten();
    let daily_ranges = match whole {
        Some((first, end)) => vec![
            (scope.from_day, first.saturating_sub(1)),
            (end, scope.to_day),
        ],
        None => vec![(scope.from_day, scope.to_day)],
    };
    let sql = format!(
        "SELECT user_id, metric, CAST(SUM(count) AS BIGINT), CAST(SUM(total) AS BIGINT) \
         FROM rm_counters_daily WHERE day BETWEEN $1 AND $2 AND rec_day < $3{} \
         GROUP BY user_id, metric",
        responsible_filter("user_id", 4, &scope.responsibles)
    );
    for (from_day, to_day) in daily_ranges.into_iter().filter(|(from, to)| from <= to) {
        let query = sqlx::query(&sql)
            .bind(from_day)
            .bind(to_day)
            .bind(scope.as_of_day());
        add(bind_responsibles(query, &scope.responsibles)
            .fetch_all(db.pool())
            .await?)?;
    }
    if let Some((first, end)) = whole {
        let sql = format!(
            "SELECT user_id, metric, CAST(SUM(count) AS BIGINT), CAST(SUM(total) AS BIGINT) \
             FROM rm_counters_monthly WHERE month >= $1 AND month < $2{} \
             GROUP BY user_id, metric",
            responsible_filter("user_id", 3, &scope.responsibles)
        );
        let query = sqlx::query(&sql).bind(first).bind(end);
        add(bind_responsibles(query, &scope.responsibles)
            .fetch_all(db.pool())
            .await?)?;
    }
    if let Some(as_of) = scope.as_of {
        let (from, to) = scope.micros_bounds();
        let sql = format!(
            "SELECT user_id, metric, CAST(SUM(count) AS BIGINT), CAST(SUM(total) AS BIGINT) \
             FROM rm_counters_journal WHERE rec_at >= $1 AND rec_at <= $2 \
             AND at BETWEEN $3 AND $4{} GROUP BY user_id, metric",
            responsible_filter("user_id", 5, &scope.responsibles)
        );
        let query = sqlx::query(&sql)
            .bind(scope.as_of_day() * MICROS_PER_DAY)
            .bind(as_of)
            .bind(from)
            .bind(to);
        add(bind_responsibles(query, &scope.responsibles)
            .fetch_all(db.pool())
            .await?)?;
    }
    Ok(facts)
}

/// Entries into `stages` ((process, stage) pairs) per responsible: count
/// and the amount the deals entered with.
pub async fn entries_by_user(
    db: &ReadDb,
    scope: &FactScope,
    stages: &[(String, String)],
) -> Result<HashMap<String, Fact>, ProjectionError> {
    let mut facts: HashMap<String, Fact> = HashMap::new();
    if scope.nobody() || stages.is_empty() {
        return Ok(facts);
    }
    let stage_filter = |first: usize| {
        let mut text = String::from(" AND (");
        for i in 0..stages.len() {
            if i > 0 {
                text.push_str(" OR ");
            }
            text.push_str(&format!(
                "(process = ${} AND stage = ${})",
                first + 2 * i,
                first + 2 * i + 1
            ));
        }
        text.push(')');
        text
    };
    let mut add = |rows: Vec<sqlx::any::AnyRow>| -> Result<(), ProjectionError> {
        for row in rows {
            let fact = facts.entry(row.try_get(0)?).or_default();
            fact.count += row.try_get::<i64, _>(1)?;
            fact.total += row.try_get::<i64, _>(2)?;
        }
        Ok(())
    };
    let sql = format!(
        "SELECT responsible, CAST(SUM(entered) AS BIGINT), CAST(SUM(entered_amount) AS BIGINT) \
         FROM rm_flow_daily WHERE entered <> 0 AND day BETWEEN $1 AND $2 AND rec_day < $3{}{} \
         GROUP BY responsible",
        stage_filter(4),
        responsible_filter("responsible", 4 + 2 * stages.len(), &scope.responsibles)
    );
    let query = bind_stages(
        stages,
        sqlx::query(&sql)
            .bind(scope.from_day)
            .bind(scope.to_day)
            .bind(scope.as_of_day()),
    );
    add(bind_responsibles(query, &scope.responsibles)
        .fetch_all(db.pool())
        .await?)?;
    if let Some(as_of) = scope.as_of {
        let (from, to) = scope.micros_bounds();
        let sql = format!(
            "SELECT responsible, CAST(SUM(entered) AS BIGINT), CAST(SUM(entered_amount) AS BIGINT) \
             FROM rm_flow_journal WHERE entered <> 0 AND rec_at >= $1 AND rec_at <= $2 \
             AND at BETWEEN $3 AND $4{}{} GROUP BY responsible",
            stage_filter(5),
            responsible_filter("responsible", 5 + 2 * stages.len(), &scope.responsibles)
        );
        let query = bind_stages(
            stages,
            sqlx::query(&sql)
                .bind(scope.as_of_day() * MICROS_PER_DAY)
                .bind(as_of)
                .bind(from)
                .bind(to),
        );
        add(bind_responsibles(query, &scope.responsibles)
            .fetch_all(db.pool())
            .await?)?;
    }
    Ok(facts)
}

fn bind_stages<'q>(
    stages: &[(String, String)],
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for (process, stage) in stages {
        query = query.bind(process.clone()).bind(stage.clone());
    }
    query
}

/// Every plan metric's fact per user: the counters, and deals and revenue
/// won from entries into `won_stages`.
pub async fn metric_facts(
    db: &ReadDb,
    scope: &FactScope,
    won_stages: &[(String, String)],
) -> Result<HashMap<(String, PlanMetric), i64>, ProjectionError> {
    let mut facts = HashMap::new();
    for ((user, metric), fact) in counter_facts(db, scope).await? {
        if let Some(metric) = PlanMetric::parse(&metric).filter(|m| COUNTED_METRICS.contains(m)) {
            facts.insert((user, metric), fact.count);
        }
    }
    for (user, fact) in entries_by_user(db, scope, won_stages).await? {
        facts.insert((user.clone(), PlanMetric::DealsWon), fact.count);
        facts.insert((user, PlanMetric::RevenueWon), fact.total);
    }
    Ok(facts)
}

/// One target of a plan as it stood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTarget {
    pub plan_id: String,
    /// `manager` or `department`.
    pub scope_kind: String,
    pub scope_id: String,
    pub period_start: i64,
    pub period_end: i64,
    pub metric: PlanMetric,
    pub target: i64,
}

/// The targets of every plan of the period (`month` or `week` starting on
/// `start_day`) as they stood at `as_of` (or now).
pub async fn plans(
    db: &ReadDb,
    period_kind: &str,
    start_day: i64,
    as_of: Option<i64>,
) -> Result<Vec<PlanTarget>, ProjectionError> {
    // Every change of the period's plans recorded by then, oldest first: the
    // last one of each plan's metric is how it stood (one range read).
    let rows = sqlx::query(
        "SELECT plan_id, scope_kind, scope_id, period_start, period_end, metric, target \
         FROM rm_plans WHERE period_kind = $1 AND period_start = $2 AND rec_at <= $3 \
         ORDER BY position",
    )
    .bind(period_kind.to_owned())
    .bind(start_day)
    .bind(as_of.unwrap_or(i64::MAX / 4))
    .fetch_all(db.pool())
    .await?;
    let mut latest: HashMap<(String, PlanMetric), PlanTarget> = HashMap::new();
    for row in rows {
        let metric: String = row.try_get(5)?;
        let Some(metric) = PlanMetric::parse(&metric) else {
            continue;
        };
        let plan_id: String = row.try_get(0)?;
        latest.insert(
            (plan_id.clone(), metric),
            PlanTarget {
                plan_id,
                scope_kind: row.try_get(1)?,
                scope_id: row.try_get(2)?,
                period_start: row.try_get(3)?,
                period_end: row.try_get(4)?,
                metric,
                target: row.try_get(6)?,
            },
        );
    }
    let mut targets: Vec<PlanTarget> = latest
        .into_values()
        .filter(|t| t.target != REMOVED_TARGET)
        .collect();
    targets.sort_by(|a, b| {
        (a.scope_kind.as_str(), a.scope_id.as_str(), a.metric).cmp(&(
            b.scope_kind.as_str(),
            b.scope_id.as_str(),
            b.metric,
        ))
    });
    Ok(targets)
}

/// One line of plan-vs-fact.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlanLine {
    /// `manager` or `department`.
    pub scope: String,
    /// The user's or the department's id.
    pub id: String,
    #[schema(value_type = String)]
    pub metric: PlanMetric,
    /// The target; none when no plan names this metric.
    pub plan: Option<i64>,
    pub fact: i64,
    /// `fact / plan * 100`, when there is a non-zero plan.
    pub percent: Option<f64>,
    /// The fact extended at its pace so far to the period's end.
    pub forecast: i64,
}

/// `fact` extended from the days elapsed (up to and including `today`) to
/// the whole period: unchanged before the period starts and after it ends.
pub fn run_rate(fact: i64, from_day: i64, to_day: i64, today: i64) -> i64 {
    let total = to_day - from_day + 1;
    let elapsed = today - from_day + 1;
    if elapsed <= 0 || elapsed >= total || total <= 0 {
        return fact;
    }
    // Rounded half up, in integers (money is in kopecks).
    let rounded = (i128::from(fact) * i128::from(total) * 2 + i128::from(elapsed))
        / (2 * i128::from(elapsed));
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// Composes plan-vs-fact lines: one per plan target (a department's fact is
/// its members' sum), plus one per listed user's metric that has a fact
/// but no plan.
pub fn compose(
    targets: &[PlanTarget],
    facts: &HashMap<(String, PlanMetric), i64>,
    members: &HashMap<String, Vec<String>>,
    users: &[String],
    from_day: i64,
    to_day: i64,
    today: i64,
) -> Vec<PlanLine> {
    let fact_of = |kind: &str, id: &str, metric: PlanMetric| -> i64 {
        if kind == "department" {
            members
                .get(id)
                .map(|users| {
                    users
                        .iter()
                        .map(|u| facts.get(&(u.clone(), metric)).copied().unwrap_or(0))
                        .sum()
                })
                .unwrap_or(0)
        } else {
            facts.get(&(id.to_owned(), metric)).copied().unwrap_or(0)
        }
    };
    let line = |kind: &str, id: &str, metric: PlanMetric, plan: Option<i64>| {
        let fact = fact_of(kind, id, metric);
        PlanLine {
            scope: kind.to_owned(),
            id: id.to_owned(),
            metric,
            plan,
            fact,
            percent: plan
                .filter(|p| *p > 0)
                .map(|p| (fact as f64 * 10000.0 / p as f64).round() / 100.0),
            forecast: run_rate(fact, from_day, to_day, today),
        }
    };
    let mut lines: Vec<PlanLine> = targets
        .iter()
        .map(|t| line(&t.scope_kind, &t.scope_id, t.metric, Some(t.target)))
        .collect();
    let planned: HashSet<(&str, PlanMetric)> = targets
        .iter()
        .filter(|t| t.scope_kind == "manager")
        .map(|t| (t.scope_id.as_str(), t.metric))
        .collect();
    for user in users {
        for metric in PlanMetric::ALL {
            if !planned.contains(&(user.as_str(), metric))
                && facts.get(&(user.clone(), metric)).is_some_and(|f| *f != 0)
            {
                lines.push(line("manager", user, metric, None));
            }
        }
    }
    lines.sort_by(|a, b| {
        (a.scope.as_str(), a.id.as_str(), a.metric).cmp(&(
            b.scope.as_str(),
            b.id.as_str(),
            b.metric,
        ))
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_rate_extends_the_pace_and_leaves_closed_periods_alone() {
        // 10 in the first 5 of 30 days: 60 at that pace.
        assert_eq!(run_rate(10, 100, 129, 104), 60);
        assert_eq!(run_rate(10, 100, 129, 99), 10);
        assert_eq!(run_rate(10, 100, 129, 129), 10);
        assert_eq!(run_rate(10, 100, 129, 200), 10);
        // Rounded: 1 in 2 of 3 days is 1.5 -> 2.
        assert_eq!(run_rate(1, 0, 2, 1), 2);
    }

    #[test]
    fn a_department_plan_is_measured_by_its_members_facts() {
        let targets = vec![PlanTarget {
            plan_id: "p".into(),
            scope_kind: "department".into(),
            scope_id: "d".into(),
            period_start: 0,
            period_end: 9,
            metric: PlanMetric::CallsMade,
            target: 10,
        }];
        let facts = HashMap::from([
            (("a".to_owned(), PlanMetric::CallsMade), 3),
            (("b".to_owned(), PlanMetric::CallsMade), 2),
            (("b".to_owned(), PlanMetric::DealsWon), 1),
        ]);
        let members = HashMap::from([("d".to_owned(), vec!["a".to_owned(), "b".to_owned()])]);
        let lines = compose(&targets, &facts, &members, &["b".to_owned()], 0, 9, 4);
        assert_eq!(lines[0].scope, "department");
        assert_eq!(lines[0].fact, 5);
        assert_eq!(lines[0].percent, Some(50.0));
        assert_eq!(lines[0].forecast, 10);
        // b's facts with no plan of b's own are listed too.
        assert_eq!(lines[1].id, "b");
        assert_eq!((lines[1].metric, lines[1].fact), (PlanMetric::CallsMade, 2));
        assert_eq!(lines[2].metric, PlanMetric::DealsWon);
        assert_eq!(lines[2].plan, None);
        assert_eq!(lines.len(), 3);
    }
}
