//! `/api/v1/plans` and the reports on the work projection: plan-vs-fact,
//! my counters, control, forecast, loss analysis and the manager rating.
//! Every report takes the shared filter ([`crate::reports::report_filter`])
//! and answers CSV for `Accept: text/csv`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use serde::Deserialize;
use voronka_app::reports::control::{
    ActivityList, ControlOptions, ControlReport, ForecastReport, LossReport,
};
use voronka_app::reports::plans::{
    Counter, MyCounters, PlanInput, PlanView, PlanVsFactReport, RatingReport,
};
use voronka_core::Position;
use voronka_crm::plan::{PeriodKind, PlanScope};
use voronka_projections::control::{DayLoad, ForgottenDeal, OpenActivity, Reschedules};
use voronka_projections::forecast::{ForecastMonth, LossLine};
use voronka_projections::plan_vs_fact::PlanLine;
use voronka_projections::rating::{RatingLine, Weights};

use crate::api::{app_problem, no_store, ok, query, read_json, respond, Auth};
use crate::report_csv;
use crate::reports::{report_filter, ReportQuery};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/plans", get(plan_vs_fact).put(set_plan))
        .route("/api/v1/reports/plan-vs-fact", get(plan_vs_fact))
        .route("/api/v1/reports/my-counters", get(my_counters))
        .route("/api/v1/reports/control", get(control))
        .route("/api/v1/reports/forecast", get(forecast))
        .route("/api/v1/reports/losses", get(losses))
        .route("/api/v1/reports/rating", get(rating))
}

/// The body of `PUT /api/v1/plans`: exactly one of `manager` and
/// `department`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    #[schema(value_type = Option<String>, format = Uuid)]
    manager: Option<uuid::Uuid>,
    #[schema(value_type = Option<String>, format = Uuid)]
    department: Option<uuid::Uuid>,
    /// `month` or `week`.
    #[schema(value_type = String)]
    period: PeriodKind,
    /// The period's first day (the 1st, or a Monday).
    #[schema(value_type = String, format = Date)]
    start: NaiveDate,
    /// Metric -> target (revenue_won in kopecks); `null` removes a target.
    #[schema(value_type = Object)]
    targets: BTreeMap<String, Option<i64>>,
}

/// Parameters of the period reports (besides the shared filter).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// `month` (default) or `week`.
    #[param(value_type = Option<String>)]
    period: Option<PeriodKind>,
    /// Any day of the period (default: today, or the `as_of` day).
    #[param(value_type = Option<String>, format = Date)]
    date: Option<NaiveDate>,
    /// Rating only: weight of plan fulfilment (default 0.5).
    plan_weight: Option<f64>,
    /// Rating only: weight of conversion (default 0.5).
    conversion_weight: Option<f64>,
    /// My counters only.
    min_position: Option<u64>,
}

/// Parameters of the control report (besides the shared filter).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ControlQuery {
    /// A deal is forgotten after this many days untouched (default 7).
    idle_days: Option<i64>,
    /// Planned activities per manager per day (default 20).
    capacity: Option<i64>,
    /// Rows per list (default 100, at most 1000).
    limit: Option<i64>,
}

fn period_query(raw: &RawQuery) -> Result<PeriodQuery, Problem> {
    query(raw)
}

/// Sets (part of) the plan of a manager or a department for a month or week.
#[utoipa::path(put, path = "/api/v1/plans", tag = "reports", request_body = PlanBody,
    responses((status = 200, body = PlanView),
        (status = 400, description = "malformed body"),
        (status = 403, description = "no right to set plans for this manager or department"),
        (status = 422, description = "unknown metric, bad target, period not aligned, unknown manager or department")),
    security(("bearer" = [])))]
async fn set_plan(State(gateway): State<Gateway>, Auth(caller): Auth, body: Body) -> Response {
    respond(
        async {
            let body: PlanBody = read_json(body).await?;
            let scope = match (body.manager, body.department) {
                (Some(manager), None) => PlanScope::Manager(manager),
                (None, Some(department)) => PlanScope::Department(department),
                _ => {
                    return Err(app_problem(voronka_app::crm::AppError::invalid(
                        "manager",
                        "scope_required",
                        "name exactly one of `manager` and `department`",
                    )))
                }
            };
            let view = gateway
                .reports
                .set_plan(
                    &caller,
                    PlanInput {
                        scope,
                        period: body.period,
                        start: body.start,
                        targets: body.targets,
                    },
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(view))
        }
        .await,
    )
}

/// Plan against fact for a month or week: per plan target (a department's
/// fact is its members'), plus managers' facts with no plan; percent and a
/// run-rate forecast to the period's end. Exact `as_of`. Also `GET /api/v1/plans`.
#[utoipa::path(get, path = "/api/v1/reports/plan-vs-fact", tag = "reports", params(ReportQuery, PeriodQuery),
    responses((status = 200, body = PlanVsFactReport, description = "JSON, or CSV with `Accept: text/csv`"),
        (status = 400, description = "a parameter does not parse"),
        (status = 403, description = "no right to reports, or outside the caller's reach"),
        (status = 422, description = "as_of in the future or before the first event"),
        (status = 503, description = "the reports have not reached `min_position` yet")),
    security(("bearer" = [])))]
async fn plan_vs_fact(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let filter = report_filter(&raw)?;
            let params = period_query(&raw)?;
            let report = gateway
                .reports
                .plan_vs_fact(
                    &caller,
                    &filter,
                    params.period.unwrap_or(PeriodKind::Month),
                    params.date,
                )
                .await
                .map_err(app_problem)?;
            if let Some(format) = report_csv::wants_table(&headers) {
                return Ok(report_csv::plan_vs_fact_table(&report).respond(format));
            }
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

/// The caller's own counters for the current month (or week): "5 of 10".
#[utoipa::path(get, path = "/api/v1/reports/my-counters", tag = "reports", params(PeriodQuery),
    responses((status = 200, body = MyCounters, description = "JSON, or CSV with `Accept: text/csv`"),
        (status = 403, description = "no right to reports")),
    security(("bearer" = [])))]
async fn my_counters(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let params = period_query(&raw)?;
            let report = gateway
                .reports
                .my_counters(
                    &caller,
                    params.period.unwrap_or(PeriodKind::Month),
                    params.min_position.map(Position),
                )
                .await
                .map_err(app_problem)?;
            if let Some(format) = report_csv::wants_table(&headers) {
                return Ok(report_csv::my_counters_table(&report).respond(format));
            }
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

/// Forgotten deals, overdue activities, today's and tomorrow's, workload
/// per manager per day against a capacity, reschedules (in the period).
/// Exact `as_of`: the deals and activities as recorded then, with today,
/// overdue, workload days and idle time measured from that moment.
#[utoipa::path(get, path = "/api/v1/reports/control", tag = "reports", params(ReportQuery, ControlQuery),
    responses((status = 200, body = ControlReport, description = "JSON, or CSV (forgotten deals) with `Accept: text/csv`"),
        (status = 400, description = "a parameter does not parse"),
        (status = 403, description = "no right to reports, or outside the caller's reach"),
        (status = 422, description = "as_of in the future or before the first event, or a knob out of range")),
    security(("bearer" = [])))]
async fn control(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let filter = report_filter(&raw)?;
            let params: ControlQuery = query(&raw)?;
            let report = gateway
                .reports
                .control(
                    &caller,
                    &filter,
                    ControlOptions {
                        idle_days: params.idle_days,
                        capacity: params.capacity,
                        limit: params.limit,
                    },
                )
                .await
                .map_err(app_problem)?;
            if let Some(format) = report_csv::wants_table(&headers) {
                return Ok(report_csv::control_table(&report).respond(format));
            }
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

/// Weighted pipeline by expected close month, with won and lost by the
/// month they closed. Exact `as_of`: stages, amounts and expected close
/// dates as recorded then.
#[utoipa::path(get, path = "/api/v1/reports/forecast", tag = "reports", params(ReportQuery),
    responses((status = 200, body = ForecastReport, description = "JSON, or CSV with `Accept: text/csv`"),
        (status = 403, description = "no right to reports, or outside the caller's reach"),
        (status = 422, description = "unknown process, bad period or as_of")),
    security(("bearer" = [])))]
async fn forecast(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let filter = report_filter(&raw)?;
            let report = gateway
                .reports
                .forecast(&caller, &filter)
                .await
                .map_err(app_problem)?;
            if let Some(format) = report_csv::wants_table(&headers) {
                return Ok(report_csv::forecast_table(&report).respond(format));
            }
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

/// Lost deals by the stage they were lost from, reason and competitor.
/// Exact `as_of` (a deal lost then but reopened since counts);
/// `approximate` is always false.
#[utoipa::path(get, path = "/api/v1/reports/losses", tag = "reports", params(ReportQuery),
    responses((status = 200, body = LossReport, description = "JSON, or CSV with `Accept: text/csv`"),
        (status = 403, description = "no right to reports, or outside the caller's reach"),
        (status = 422, description = "unknown process, bad period or as_of")),
    security(("bearer" = [])))]
async fn losses(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let filter = report_filter(&raw)?;
            let report = gateway
                .reports
                .losses(&caller, &filter)
                .await
                .map_err(app_problem)?;
            if let Some(format) = report_csv::wants_table(&headers) {
                return Ok(report_csv::losses_table(&report).respond(format));
            }
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

/// Managers ranked by plan fulfilment and conversion with the reader's
/// weights (`plan_weight`, `conversion_weight`). Exact `as_of`.
#[utoipa::path(get, path = "/api/v1/reports/rating", tag = "reports", params(ReportQuery, PeriodQuery),
    responses((status = 200, body = RatingReport, description = "JSON, or CSV with `Accept: text/csv`"),
        (status = 403, description = "no right to reports, or outside the caller's reach"),
        (status = 422, description = "bad weights, as_of")),
    security(("bearer" = [])))]
async fn rating(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let filter = report_filter(&raw)?;
            let params = period_query(&raw)?;
            let weights = Weights {
                plan: params.plan_weight.unwrap_or(0.5),
                conversion: params.conversion_weight.unwrap_or(0.5),
            };
            let report = gateway
                .reports
                .rating(
                    &caller,
                    &filter,
                    params.period.unwrap_or(PeriodKind::Month),
                    params.date,
                    weights,
                )
                .await
                .map_err(app_problem)?;
            if let Some(format) = report_csv::wants_table(&headers) {
                return Ok(report_csv::rating_table(&report).respond(format));
            }
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(set_plan, plan_vs_fact, my_counters, control, forecast, losses, rating),
    components(schemas(
        PlanBody,
        PlanView,
        PlanVsFactReport,
        PlanLine,
        MyCounters,
        Counter,
        ControlReport,
        ActivityList,
        OpenActivity,
        ForgottenDeal,
        DayLoad,
        Reschedules,
        ForecastReport,
        ForecastMonth,
        LossReport,
        LossLine,
        RatingReport,
        RatingLine
    ))
)]
pub(crate) struct ReportsWorkApi;
