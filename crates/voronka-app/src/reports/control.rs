//! Control reports (forgotten deals, overdue and upcoming activities,
//! workload against capacity, reschedules), the forecast and loss analysis.
//!
//! Each answers exactly as of a past moment too (`as_of`): the deals and
//! activities as recorded up to then (their versions current at that
//! moment), with today, tomorrow, overdue, the workload days and idle time
//! measured from it.

use serde::Serialize;
use voronka_core::Timestamp;
use voronka_projections::control::{self, DayLoad, ForgottenDeal, OpenActivity, Reschedules};
use voronka_projections::forecast::{self, ForecastMonth, ForecastStage, LossLine};
use voronka_projections::funnel::StageKind;
use voronka_projections::plan_vs_fact::FactScope;
use voronka_projections::time::{micros, MICROS_PER_DAY};

use super::{projection_error, stage_kind, ReportFilter, Reports};
use crate::crm::{AppError, Caller};

/// Defaults and bounds of the control report's knobs.
pub const DEFAULT_IDLE_DAYS: i64 = 7;
pub const MAX_IDLE_DAYS: i64 = 3650;
pub const DEFAULT_CAPACITY: i64 = 20;
pub const MAX_CAPACITY: i64 = 10_000;
/// Days of workload shown (from today).
pub const WORKLOAD_DAYS: i64 = 7;
pub const DEFAULT_LIMIT: i64 = 100;

/// The control report's knobs.
#[derive(Debug, Clone, Copy)]
pub struct ControlOptions {
    pub idle_days: Option<i64>,
    pub capacity: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivityList {
    pub total: i64,
    pub items: Vec<OpenActivity>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ControlReport {
    pub process: String,
    pub idle_days: i64,
    pub forgotten_total: i64,
    pub forgotten: Vec<ForgottenDeal>,
    pub overdue: ActivityList,
    pub today: ActivityList,
    pub tomorrow: ActivityList,
    pub capacity: i64,
    pub workload: Vec<DayLoad>,
    /// In the period (all time when none).
    pub reschedules: Vec<Reschedules>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForecastReport {
    pub process: String,
    pub months: Vec<ForecastMonth>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LossReport {
    pub process: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<Timestamp>,
    /// Always false: loss analysis is exact as of any moment (kept for
    /// clients that read it).
    pub approximate: bool,
    pub lines: Vec<LossLine>,
}

fn bounded(value: Option<i64>, default: i64, max: i64, field: &str) -> Result<i64, AppError> {
    match value {
        None => Ok(default),
        Some(v) if (0..=max).contains(&v) => Ok(v),
        Some(_) => Err(AppError::invalid(
            field,
            "out_of_range",
            format!("`{field}` must be from 0 to {max}"),
        )),
    }
}

fn period_days(period: Option<voronka_projections::funnel::Period>) -> Option<(i64, i64)> {
    period.map(|p| (p.from_day, p.to_day))
}

impl Reports {
    pub async fn control(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
        options: ControlOptions,
    ) -> Result<ControlReport, AppError> {
        let idle_days = bounded(
            options.idle_days,
            DEFAULT_IDLE_DAYS,
            MAX_IDLE_DAYS,
            "idle_days",
        )?;
        let capacity = bounded(options.capacity, DEFAULT_CAPACITY, MAX_CAPACITY, "capacity")?;
        let limit = bounded(options.limit, DEFAULT_LIMIT, control::MAX_ROWS, "limit")?;
        let process = self.process_of(filter)?;
        let scope = self
            .scope(
                caller,
                filter,
                &[
                    voronka_projections::work::NAME,
                    voronka_projections::deals::NAME,
                ],
            )
            .await?;
        let open_stages: Vec<String> = process
            .stages
            .iter()
            .filter(|s| stage_kind(s) == StageKind::Open)
            .map(|s| s.name.clone())
            .collect();
        // As of a moment, "now" is that moment.
        let now = scope.as_of.unwrap_or_else(|| micros(self.clock.now()));
        let today = now.div_euclid(MICROS_PER_DAY);
        let start_of_today = today * MICROS_PER_DAY;
        let (forgotten_total, forgotten) = control::forgotten_deals(
            &self.db,
            &process.identity.name,
            &open_stages,
            &scope.responsibles,
            idle_days,
            now,
            scope.as_of,
            limit,
        )
        .await
        .map_err(projection_error)?;
        let as_of = scope.as_of;
        let list = |from: i64, to: i64| {
            let responsibles = scope.responsibles.clone();
            async move {
                control::planned_due(&self.db, &responsibles, from, to, as_of, limit)
                    .await
                    .map(|(total, items)| ActivityList { total, items })
                    .map_err(projection_error)
            }
        };
        let overdue = list(i64::MIN / 4, now).await?;
        let today_list = list(start_of_today, start_of_today + MICROS_PER_DAY).await?;
        let tomorrow = list(
            start_of_today + MICROS_PER_DAY,
            start_of_today + 2 * MICROS_PER_DAY,
        )
        .await?;
        let workload = control::workload(
            &self.db,
            &scope.responsibles,
            today,
            today + WORKLOAD_DAYS - 1,
            scope.as_of,
            capacity,
        )
        .await
        .map_err(projection_error)?;
        let (from_day, to_day) = period_days(scope.period).unwrap_or((i64::MIN / 4, i64::MAX / 4));
        let reschedules = control::reschedules(
            &self.db,
            &FactScope {
                responsibles: scope.responsibles.clone(),
                from_day,
                to_day,
                as_of: scope.as_of,
            },
        )
        .await
        .map_err(projection_error)?;
        Ok(ControlReport {
            process: process.identity.name.clone(),
            idle_days,
            forgotten_total,
            forgotten,
            overdue,
            today: today_list,
            tomorrow,
            capacity,
            workload,
            reschedules,
        })
    }

    pub async fn forecast(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
    ) -> Result<ForecastReport, AppError> {
        let process = self.process_of(filter)?;
        let scope = self
            .scope(caller, filter, &[voronka_projections::deals::NAME])
            .await?;
        let stages: Vec<ForecastStage> = process
            .stages
            .iter()
            .map(|s| ForecastStage {
                name: s.name.clone(),
                kind: stage_kind(s),
                probability: s.probability,
            })
            .collect();
        let months = forecast::forecast(
            &self.db,
            &process.identity.name,
            &stages,
            &scope.responsibles,
            period_days(scope.period),
            scope.as_of,
        )
        .await
        .map_err(projection_error)?;
        Ok(ForecastReport {
            process: process.identity.name.clone(),
            months,
        })
    }

    pub async fn losses(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
    ) -> Result<LossReport, AppError> {
        let process = self.process_of(filter)?;
        let scope = self
            .scope(caller, filter, &[voronka_projections::deals::NAME])
            .await?;
        let lost: Vec<String> = process
            .stages
            .iter()
            .filter(|s| stage_kind(s) == StageKind::Lost)
            .map(|s| s.name.clone())
            .collect();
        let lines = forecast::losses(
            &self.db,
            &process.identity.name,
            &lost,
            &scope.responsibles,
            period_days(scope.period),
            scope.as_of,
        )
        .await
        .map_err(projection_error)?;
        Ok(LossReport {
            process: process.identity.name.clone(),
            as_of: filter.as_of,
            approximate: false,
            lines,
        })
    }
}
