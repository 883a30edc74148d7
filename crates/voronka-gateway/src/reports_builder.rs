//! `/api/v1/reports/query` (the no-code report builder) and
//! `/api/v1/reports/saved` (saved reports shared with roles). Handlers
//! parse and map; what a spec may name, whose rows it reads and who may
//! save or see a report are decided in `voronka-app`.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use voronka_app::reports::builder::{NewSavedReport, RunOptions};
use voronka_core::{Position, Timestamp};
use voronka_crm::saved_report::{SavedReport, SavedReportId};
use voronka_projections::builder::{
    DimensionSpec, FilterSpec, MeasureSpec, ReportSpec, ReportTable, ResultColumn, SortSpec,
};

use crate::api::IdempotencyKey;
use crate::api::{app_problem, changed, no_store, ok, path_id, query, read_json, respond, Auth};
use crate::report_csv;
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/reports/query", post(run_query))
        .route("/api/v1/reports/saved", get(list_saved).post(save_report))
        .route(
            "/api/v1/reports/saved/{id}",
            get(read_saved).delete(delete_saved),
        )
        .route("/api/v1/reports/saved/{id}/run", get(run_saved))
}

/// When a report run stands.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// Answer as the data stood at this moment (RFC 3339): for `deals`, each
    /// deal with the values recorded by then.
    #[param(value_type = Option<String>, format = DateTime)]
    as_of: Option<Timestamp>,
    /// Answer once the reports include this position (a command's).
    min_position: Option<u64>,
}

impl RunQuery {
    fn options(&self) -> RunOptions {
        RunOptions {
            as_of: self.as_of,
            min_position: self.min_position.map(Position),
        }
    }
}

/// A saved report created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedReportWritten {
    #[schema(value_type = String, format = Uuid)]
    id: uuid::Uuid,
    /// The global position of the change (pass as `min_position`).
    position: u64,
    report: SavedReport,
}

/// A saved report's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedReportRun {
    report: SavedReport,
    result: ReportTable,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedReportList {
    items: Vec<SavedReport>,
}

/// A table as JSON, or as CSV or XLSX (columns as the header) when asked.
fn table_response(headers: &HeaderMap, name: &str, table: ReportTable) -> Response {
    match report_csv::wants_table(headers) {
        Some(format) => report_csv::builder_table(name, &table).respond(format),
        None => no_store(ok(table)),
    }
}

/// Runs a report spec: filters, group-by, measures, sort, limit over one
/// source, within the caller's reach.
#[utoipa::path(post, path = "/api/v1/reports/query", tag = "reports", params(RunQuery),
    request_body = ReportSpec,
    responses((status = 200, body = ReportTable, description = "JSON, or CSV with `Accept: text/csv`"),
        (status = 400, description = "malformed JSON, a wrong JSON type or an unknown key (named)"),
        (status = 403, description = "no right to reports"),
        (status = 422, description = "unknown source, field, operator or measure, a value of the wrong type, a bad limit, a bad as_of (the problem's `field` names the spec path, e.g. `filters[2].field`)"),
        (status = 503, description = "the reports have not reached `min_position` yet")),
    security(("bearer" = [])))]
async fn run_query(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
    body: Body,
) -> Response {
    respond(
        async {
            let params: RunQuery = query(&raw)?;
            let spec: ReportSpec = read_json(body).await?;
            let table = gateway
                .reports
                .run_spec(&caller, &spec, params.options())
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(table_response(&headers, "report", table))
        }
        .await,
    )
}

/// The saved reports the caller sees: their own, those shared with one of
/// their roles (administrators see all).
#[utoipa::path(get, path = "/api/v1/reports/saved", tag = "reports",
    responses((status = 200, body = SavedReportList), (status = 403, description = "no right to reports")),
    security(("bearer" = [])))]
async fn list_saved(State(gateway): State<Gateway>, Auth(caller): Auth) -> Response {
    respond(
        async {
            let items = gateway
                .reports
                .saved_reports(&caller)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(ok(SavedReportList { items })))
        }
        .await,
    )
}

/// Saves a spec under a name, shared with roles (analysts, heads,
/// directors and administrators may save). `Idempotency-Key` makes a retry
/// return the first outcome.
#[utoipa::path(post, path = "/api/v1/reports/saved", tag = "reports",
    request_body = NewSavedReport,
    responses((status = 201, body = SavedReportWritten),
        (status = 400, description = "malformed JSON or an unknown key"),
        (status = 403, description = "the caller's roles may not save reports"),
        (status = 422, description = "empty or taken name, unknown role, or a spec that does not compile (`spec.<path>`)")),
    security(("bearer" = [])))]
async fn save_report(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    const ROUTE: &str = "POST /api/v1/reports/saved";
    respond(
        async {
            let key = IdempotencyKey::from_headers(&headers)?;
            let input: NewSavedReport = read_json(body).await?;
            let id = SavedReportId::from_uuid(key.new_record_id(&caller, ROUTE));
            let (report, written) = gateway
                .reports
                .save_report(&caller, id, input, key.command_id(&caller, ROUTE))
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(
                (
                    StatusCode::CREATED,
                    Json(SavedReportWritten {
                        id: written.id,
                        position: written.position,
                        report,
                    }),
                )
                    .into_response(),
            )
        }
        .await,
    )
}

/// One saved report (404 when it is not shared with the caller).
#[utoipa::path(get, path = "/api/v1/reports/saved/{id}", tag = "reports",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = SavedReport), (status = 404, description = "no such report, or not shared with you")),
    security(("bearer" = [])))]
async fn read_saved(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = SavedReportId::from_uuid(path_id(&id)?);
            let report = gateway
                .reports
                .saved_report(&caller, id)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

/// Deletes a saved report (its owner or an administrator).
#[utoipa::path(delete, path = "/api/v1/reports/saved/{id}", tag = "reports",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = voronka_app::crm::Written),
        (status = 403, description = "not the report's owner"),
        (status = 404, description = "no such report, or not shared with you")),
    security(("bearer" = [])))]
async fn delete_saved(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = path_id(&id)?;
            let key = IdempotencyKey::from_headers(&headers)?;
            let command = key.command_id(&caller, &format!("DELETE /api/v1/reports/saved/{id}"));
            let written = gateway
                .reports
                .delete_saved_report(&caller, SavedReportId::from_uuid(id), command)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

/// Runs a saved report within the *caller's* reach.
#[utoipa::path(get, path = "/api/v1/reports/saved/{id}/run", tag = "reports",
    params(("id" = String, Path, format = Uuid), RunQuery),
    responses((status = 200, body = SavedReportRun, description = "JSON, or the table as CSV with `Accept: text/csv`"),
        (status = 404, description = "no such report, or not shared with you"),
        (status = 422, description = "a bad as_of, or a spec that no longer compiles")),
    security(("bearer" = [])))]
async fn run_saved(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = SavedReportId::from_uuid(path_id(&id)?);
            let params: RunQuery = query(&raw)?;
            let (report, result) = gateway
                .reports
                .run_saved_report(&caller, id, params.options())
                .await
                .map_err(app_problem)?;
            if report_csv::wants_table(&headers).is_some() {
                return Ok(table_response(&headers, "saved-report", result));
            }
            Ok::<Response, Problem>(no_store(ok(SavedReportRun { report, result })))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        run_query,
        list_saved,
        save_report,
        read_saved,
        delete_saved,
        run_saved
    ),
    components(schemas(
        ReportSpec,
        FilterSpec,
        DimensionSpec,
        MeasureSpec,
        SortSpec,
        ReportTable,
        ResultColumn,
        NewSavedReport,
        SavedReport,
        SavedReportWritten,
        SavedReportRun,
        SavedReportList
    ))
)]
pub(crate) struct ReportsBuilderApi;
