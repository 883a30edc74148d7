//! `/api/v1/reports/...`: the funnel here, and what every report handler
//! shares — the filter every report takes (process, period, department,
//! manager, `as_of`, `min_position`) and CSV answers for `Accept: text/csv`.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use serde::Deserialize;
use voronka_app::access::{DepartmentId, UserId};
use voronka_app::reports::{FunnelReport, ReportFilter};
use voronka_core::{Position, Timestamp};
use voronka_projections::funnel::{FunnelStage, ReasonCount, StageKind};

use crate::api::{app_problem, no_store, ok, query, respond, Auth};
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

/// Whether the client asked for CSV.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|part| part.trim().starts_with("text/csv")))
}

/// A CSV document (UTF-8 with a byte-order mark, so spreadsheet programs
/// read Cyrillic right) as a download named `name.csv`.
pub fn csv_response(name: &str, header_row: &[&str], rows: &[Vec<String>]) -> Response {
    let mut body = String::from("\u{feff}");
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut first = true;
        for cell in cells {
            if !first {
                body.push(',');
            }
            first = false;
            push_csv_cell(&mut body, cell);
        }
        body.push_str("\r\n");
    };
    line(&mut header_row.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        body,
    )
        .into_response();
    // `name` is one of ours (a report name), never the client's text.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    no_store(response)
}

/// Quotes a cell when it needs it; a text cell that a spreadsheet would
/// run as a formula gets a leading apostrophe.
fn push_csv_cell(out: &mut String, cell: &str) {
    let formula = cell.starts_with(['=', '+', '@', '\t', '\r'])
        || (cell.starts_with('-') && cell.parse::<f64>().is_err());
    let needs_quotes = formula || cell.contains([',', '"', '\n', '\r']);
    if !needs_quotes {
        out.push_str(cell);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    out.push_str(&cell.replace('"', "\"\""));
    out.push('"');
}

/// An optional number as a CSV cell.
pub fn cell<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
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
            if wants_csv(&headers) {
                return Ok(funnel_csv(&report));
            }
            Ok::<Response, Problem>(no_store(ok(report)))
        }
        .await,
    )
}

fn funnel_csv(report: &FunnelReport) -> Response {
    let rows: Vec<Vec<String>> = report
        .stages
        .iter()
        .map(|s| {
            vec![
                s.stage.clone(),
                match s.kind {
                    StageKind::Open => "open",
                    StageKind::Won => "won",
                    StageKind::Lost => "lost",
                }
                .to_owned(),
                s.entered.to_string(),
                s.moved_on.to_string(),
                s.lost.to_string(),
                cell(s.conversion.map(|c| format!("{c:.4}"))),
                cell(s.average_seconds),
                cell(s.median_seconds),
                s.now.to_string(),
                format!("{:.2}", s.now_amount_minor as f64 / 100.0),
            ]
        })
        .collect();
    csv_response(
        "funnel",
        &[
            "stage",
            "kind",
            "entered",
            "moved_on",
            "lost",
            "conversion",
            "average_seconds",
            "median_seconds",
            "now",
            "now_amount",
        ],
        &rows,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(funnel),
    components(schemas(FunnelReport, FunnelStage, ReasonCount, StageKind))
)]
pub(crate) struct ReportsApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        push_csv_cell(&mut out, "plain");
        out.push('|');
        push_csv_cell(&mut out, "a,\"b\"");
        out.push('|');
        push_csv_cell(&mut out, "=HYPERLINK(\"x\")");
        out.push('|');
        push_csv_cell(&mut out, "-12.5");
        assert_eq!(
            out,
            "plain|\"a,\"\"b\"\"\"|\"'=HYPERLINK(\"\"x\"\")\"|-12.5"
        );
    }
}
