//! `/api/v1/reports/...`: the funnel here, and the filter every report
//! handler shares (process, period, department, manager, `as_of`,
//! `min_position`). CSV answers are in `report_csv`.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use serde::Deserialize;
use voronka_app::access::{DepartmentId, UserId};
use voronka_app::reports::{FunnelReport, ReportFilter};
use voronka_core::{Position, Timestamp};
use voronka_projections::funnel::{FunnelStage, ReasonCount, StageKind};

use crate::api::{app_problem, no_store, ok, query, respond, Auth};
use crate::report_csv;
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new().route("/api/v1/reports/funnel", get(funnel))
}

/// The filter every report takes. Report-specific parameters are parsed
/// from the same query string by the report's own type (unknown names are
/// ignored here for that reason).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Process name (default `b2b-sale`).
    process: Option<String>,
    /// First day of the period, `YYYY-MM-DD` (inclusive).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Last day of the period, `YYYY-MM-DD` (inclusive).
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
    /// Only this department (and the ones below it).
    #[param(value_type = Option<String>, format = Uuid)]
    department: Option<uuid::Uuid>,
    /// Only this manager's records.
    #[param(value_type = Option<String>, format = Uuid)]
    manager: Option<uuid::Uuid>,
    /// Answer as the data stood at this moment (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    as_of: Option<Timestamp>,
    /// Answer once the reports include this position (a command's).
    min_position: Option<u64>,
}

/// Parses the common report filter from the query string (400 naming the
/// parameter that does not parse).
pub fn report_filter(raw: &RawQuery) -> Result<ReportFilter, Problem> {
    let params: ReportQuery = query(raw)?;
    Ok(ReportFilter {
        process: params.process,
        from: params.from,
        to: params.to,
        department: params.department.map(DepartmentId::from_uuid),
        manager: params.manager.map(UserId::from_uuid),
        as_of: params.as_of,
        min_position: params.min_position.map(Position),
    })
}

/// The funnel of a process: per stage, entered, moved on, lost, conversion,
/// average and median time in stage, how many are there and their amount,
/// losses by reason. Flows count within the period; holdings are as of the
/// moment (`as_of`, else now).
#[utoipa::path(get, path = "/api/v1/reports/funnel", tag = "reports", params(ReportQuery),
    responses((status = 200, body = FunnelReport, description = "JSON, or CSV with `Accept: text/csv`"),
        (status = 400, description = "a parameter does not parse"),
        (status = 403, description = "no right to reports, or a manager/department outside the caller's reach"),
        (status = 422, description = "unknown process, reversed period, as_of in the future or before the first event"),
        (status = 503, description = "the reports have not reached `min_position` yet")),
    security(("bearer" = [])))]
async fn funnel(
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
                .funnel(&caller, &filter)
                .await
                .map_err(app_problem)?;
            if let Some(format) = report_csv::wants_table(&headers) {
                return Ok(report_csv::funnel_table(&report).respond(format));
            }
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(funnel),
    components(schemas(FunnelReport, FunnelStage, ReasonCount, StageKind))
)]
pub(crate) struct ReportsApi;
