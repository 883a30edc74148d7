//! `/api/v1/imports`, `/api/v1/import-mappings` and `/api/v1/exports`.
//!
//! - `POST /api/v1/imports?kind=..&mapping=..&dry_run=..&file=..` with the
//!   CSV as the body (at most [`MAX_IMPORT_BYTES`]; more is 413) starts an
//!   import job with a saved mapping and answers 202 with its id;
//!   `GET /api/v1/imports/{id}` shows its progress, then its report;
//!   `POST /api/v1/imports/{id}/run` runs a finished dry run's file for
//!   real (the same columns, no second upload).
//! - `PUT /api/v1/import-mappings/{name}` saves a mapping
//!   (`{"kind", "columns": {header: field}}`); `GET /api/v1/import-mappings`
//!   lists them; `DELETE /api/v1/import-mappings/{name}` deletes one.
//! - `GET /api/v1/exports/{deals|companies|contacts|activities}` with the
//!   list's filters: the whole list the caller sees, as CSV (default) or
//!   XLSX (`?format=xlsx` or `Accept: application/vnd.openxmlformats-...`).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use voronka_app::crm::work::ActivityQuery;
use voronka_app::crm::{AppError, Caller};
use voronka_app::export::{ExportFormat, ListExport, Table, XLSX_CONTENT_TYPE};
use voronka_crm::customer_index::{CompanyFilter, ContactFilter};
use voronka_crm::deal_index::DealFilter;
use voronka_crm::import::{ImportKind, Mapping};
use voronka_crm::{CompanyId, ContactId, DealId};

use voronka_app::crm::import::{DuplicateRow, ImportReport};
use voronka_app::crm::import_jobs::{ImportJob, JobStatus};
use voronka_crm::import::RowError;
use voronka_crm::import_mapping::SavedMapping;

use crate::api::{app_problem, changed, no_store, ok, path_id, query, read_json, respond, Auth};
use crate::{Gateway, Problem};

/// The largest CSV an import takes through the API.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/imports", post(start_import))
        .route("/api/v1/imports/{id}", get(import_job))
        .route("/api/v1/imports/{id}/run", post(run_checked))
        .route("/api/v1/import-mappings", get(list_mappings))
        .route(
            "/api/v1/import-mappings/{name}",
            put(save_mapping).delete(delete_mapping),
        )
        .route("/api/v1/exports/{list}", get(export_list))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// `companies`, `contacts`, `deals` or `activities`.
    kind: String,
    /// The name of a saved mapping for this kind.
    mapping: String,
    #[serde(default)]
    dry_run: Option<bool>,
    /// The file's name, recorded on imported deals.
    #[serde(default)]
    file: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Started {
    id: uuid::Uuid,
}

fn parse_kind(text: &str) -> Result<ImportKind, Problem> {
    ImportKind::parse(text).ok_or_else(|| {
        Problem::new(StatusCode::BAD_REQUEST, "invalid_query", "Bad request")
            .detail("`kind` is companies, contacts, deals or activities")
            .field("kind")
    })
}

/// Starts an import job: the body is the CSV (UTF-8 or Windows-1251, `;`
/// or `,`), read with the saved mapping `mapping` of the same `kind`. The
/// job's report (or the file's refusal) is at `GET /api/v1/imports/{id}`.
#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = Started), (status = 400), (status = 403),
        (status = 413, description = "more than 64 MiB"),
        (status = 422, description = "`mapping` unknown or for another kind")),
    security(("bearer" = [])))]
async fn start_import(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    raw: RawQuery,
    body: Body,
) -> Response {
    respond(
        async {
            let params: ImportQuery = query(&raw)?;
            let kind = parse_kind(&params.kind)?;
            gateway.crm.may_import(&caller, kind).map_err(app_problem)?;
            let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
                .await
                .map_err(|_| {
                    Problem::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "file_too_large",
                        "File too large",
                    )
                    .detail(format!(
                        "an import file is at most {} MiB; split it",
                        MAX_IMPORT_BYTES / 1024 / 1024
                    ))
                })?;
            let file = params
                .file
                .map(|name| name.chars().filter(|c| !c.is_control()).take(200).collect())
                .unwrap_or_else(|| "upload.csv".to_owned());
            let id = gateway
                .crm
                .start_import(
                    caller,
                    kind,
                    &params.mapping,
                    file,
                    bytes.to_vec(),
                    params.dry_run.unwrap_or(false),
                )
                .await
                .map_err(app_problem)?;
            let mut response = (StatusCode::ACCEPTED, Json(Started { id })).into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/imports/{id}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok::<Response, Problem>(response)
        }
        .await,
    )
}

/// A job's progress (`rows_planned`, `rows_done`), then its `report`: rows
/// read, created, already imported, duplicates, invalid rows with line,
/// column and reason; or the file's `errors`. The starter's jobs only
/// (administrators see all).
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "imports",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = ImportJob), (status = 404)),
    security(("bearer" = [])))]
async fn import_job(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = path_id(&id)?;
            let job = gateway.crm.import_job(&caller, id).map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(ok(job)))
        }
        .await,
    )
}

/// Runs for real the file a finished dry run checked, with the columns it
/// was checked with: 202 with the new job's id (asked again, the same
/// one). 422 naming `job` when it is not a finished dry run or its file is
/// no longer kept (the last 8 checked files are); 404 for another's job.
#[utoipa::path(post, path = "/api/v1/imports/{id}/run", tag = "imports",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 202, body = Started), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
async fn run_checked(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let dry_run = path_id(&id)?;
            let id = gateway
                .crm
                .run_checked_import(caller, dry_run)
                .map_err(app_problem)?;
            let mut response = (StatusCode::ACCEPTED, Json(Started { id })).into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/imports/{id}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok::<Response, Problem>(response)
        }
        .await,
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MappingInput {
    /// `companies`, `contacts`, `deals` or `activities`.
    kind: String,
    /// CSV header -> field.
    #[schema(value_type = Object)]
    columns: Mapping,
}

/// Saves (or replaces) a named mapping. 422 naming `name` or `columns`.
#[utoipa::path(put, path = "/api/v1/import-mappings/{name}", tag = "imports",
    params(("name" = String, Path)),
    request_body = MappingInput,
    responses((status = 200), (status = 400), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn save_mapping(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    body: Body,
) -> Response {
    respond(
        async {
            let input: MappingInput = read_json(body).await?;
            let kind = ImportKind::parse(&input.kind).ok_or_else(|| {
                Problem::new(StatusCode::BAD_REQUEST, "invalid_body", "Bad request")
                    .detail("`kind` is companies, contacts, deals or activities")
                    .field("kind")
            })?;
            let written = gateway
                .crm
                .save_import_mapping(&caller, name, kind, input.columns)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(written))
        }
        .await,
    )
}

/// Deletes a saved mapping (the right to import its kind; else 404).
#[utoipa::path(delete, path = "/api/v1/import-mappings/{name}", tag = "imports",
    params(("name" = String, Path)),
    responses((status = 200), (status = 404)),
    security(("bearer" = [])))]
async fn delete_mapping(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> Response {
    respond(
        async {
            let written = gateway
                .crm
                .delete_import_mapping(&caller, &name)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

#[derive(Serialize, utoipa::ToSchema)]
struct MappingList {
    items: Vec<voronka_crm::import_mapping::SavedMapping>,
}

/// The saved mappings the caller may import with.
#[utoipa::path(get, path = "/api/v1/import-mappings", tag = "imports",
    responses((status = 200, body = MappingList)),
    security(("bearer" = [])))]
async fn list_mappings(State(gateway): State<Gateway>, Auth(caller): Auth) -> Response {
    respond(
        async {
            let items = gateway
                .crm
                .import_mappings(&caller)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(MappingList { items }))
        }
        .await,
    )
}

/// The filters of the deal list (as `GET /api/v1/deals` takes them).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DealExportQuery {
    q: Option<String>,
    process: Option<String>,
    stage: Option<String>,
    responsible: Option<uuid::Uuid>,
    company: Option<uuid::Uuid>,
    contact: Option<uuid::Uuid>,
    format: Option<String>,
}

/// The filters of the activity list (as `GET /api/v1/activities` takes them).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityExportQuery {
    responsible: Option<uuid::Uuid>,
    deal: Option<uuid::Uuid>,
    contact: Option<uuid::Uuid>,
    company: Option<uuid::Uuid>,
    kind: Option<String>,
    status: Option<String>,
    due_before: Option<String>,
    due_after: Option<String>,
    overdue: Option<bool>,
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct FormatOnly {
    format: Option<String>,
}

/// The format asked by `?format=` first, else by `Accept`; CSV by default.
pub fn export_format(asked: Option<&str>, headers: &HeaderMap) -> Result<ExportFormat, Problem> {
    if let Some(asked) = asked {
        return ExportFormat::parse(asked).ok_or_else(|| {
            Problem::new(StatusCode::BAD_REQUEST, "invalid_query", "Bad request")
                .detail("`format` is csv or xlsx")
                .field("format")
        });
    }
    Ok(if wants_xlsx(headers) {
        ExportFormat::Xlsx
    } else {
        ExportFormat::Csv
    })
}

/// Whether the client asked for an XLSX workbook.
pub fn wants_xlsx(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|part| part.trim().starts_with(XLSX_CONTENT_TYPE))
        })
}

/// A table as a download named `name.<csv|xlsx>`.
pub fn table_response(name: &str, table: &Table, format: ExportFormat) -> Response {
    let body = match table.write(format) {
        Ok(body) => body,
        Err(error) => return app_problem(AppError::Internal(error.to_string())).into_response(),
    };
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response();
    // `name` is one of ours (a list or report name), never the client's text.
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{name}.{}\"",
        format.extension()
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    no_store(response)
}

fn list_of(list: &str, raw: &RawQuery) -> Result<(ListExport, Option<String>), Problem> {
    Ok(match list {
        "deals" => {
            let params: DealExportQuery = query(raw)?;
            (
                ListExport::Deals(DealFilter {
                    q: params.q,
                    process: params.process,
                    stage: params.stage,
                    responsible: params
                        .responsible
                        .map(voronka_app::access::UserId::from_uuid),
                    company: params.company.map(CompanyId::from_uuid),
                    contact: params.contact.map(ContactId::from_uuid),
                    idle_since: None,
                }),
                params.format,
            )
        }
        "companies" => {
            let format: FormatOnly = query(raw)?;
            (
                ListExport::Companies(query::<CompanyFilter>(raw)?),
                format.format,
            )
        }
        "contacts" => {
            let format: FormatOnly = query(raw)?;
            (
                ListExport::Contacts(query::<ContactFilter>(raw)?),
                format.format,
            )
        }
        "activities" => {
            let params: ActivityExportQuery = query(raw)?;
            (
                ListExport::Activities(ActivityQuery {
                    responsible: params
                        .responsible
                        .map(voronka_app::access::UserId::from_uuid),
                    deal: params.deal.map(DealId::from_uuid),
                    contact: params.contact.map(ContactId::from_uuid),
                    company: params.company.map(CompanyId::from_uuid),
                    kind: params.kind,
                    status: params.status,
                    due_before: params.due_before,
                    due_after: params.due_after,
                    overdue: params.overdue.unwrap_or(false),
                }),
                params.format,
            )
        }
        _ => {
            return Err(
                Problem::new(StatusCode::NOT_FOUND, "not_found", "Not found")
                    .detail("exports are of deals, companies, contacts or activities"),
            )
        }
    })
}

async fn export_list(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(list): Path<String>,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let (list, format) = list_of(&list, &raw)?;
            let format = export_format(format.as_deref(), &headers)?;
            let table = export(&gateway, &caller, &list).await?;
            Ok::<Response, Problem>(table_response(list.name(), &table, format))
        }
        .await,
    )
}

async fn export(gateway: &Gateway, caller: &Caller, list: &ListExport) -> Result<Table, Problem> {
    gateway
        .crm
        .export_list(caller, list)
        .await
        .map_err(app_problem)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        start_import,
        import_job,
        run_checked,
        list_mappings,
        save_mapping,
        delete_mapping
    ),
    components(schemas(
        Started,
        ImportJob,
        JobStatus,
        ImportReport,
        DuplicateRow,
        RowError,
        MappingInput,
        MappingList,
        SavedMapping
    ))
)]
pub(crate) struct ImportsApi;
