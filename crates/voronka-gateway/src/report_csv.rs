//! The CSV form of every report, one place for both doors: the API answers
//! it for `Accept: text/csv`, the report pages for `format=csv`. One writer
//! (byte-order mark, quoting, formula cells defused) and one column list per
//! report, so a download from a page and from the API are the same file.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use voronka_app::reports::control::{ControlReport, ForecastReport, LossReport};
use voronka_app::reports::plans::{MyCounters, PlanVsFactReport, RatingReport};
use voronka_app::reports::FunnelReport;
use voronka_projections::builder::ReportTable;
use voronka_projections::funnel::StageKind;

use crate::api::no_store;

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

/// Minor units as a decimal number (`1234.50`), as the API writes them.
fn money(minor: i64) -> String {
    format!("{:.2}", minor as f64 / 100.0)
}

pub fn funnel(report: &FunnelReport) -> Response {
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
                money(s.now_amount_minor),
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

pub fn plan_vs_fact(report: &PlanVsFactReport) -> Response {
    let rows: Vec<Vec<String>> = report
        .lines
        .iter()
        .map(|l| {
            vec![
                l.scope.clone(),
                l.id.clone(),
                l.metric.as_str().to_owned(),
                cell(l.plan),
                l.fact.to_string(),
                cell(l.percent),
                l.forecast.to_string(),
            ]
        })
        .collect();
    csv_response(
        "plan-vs-fact",
        &[
            "scope", "id", "metric", "plan", "fact", "percent", "forecast",
        ],
        &rows,
    )
}

pub fn my_counters(report: &MyCounters) -> Response {
    let rows: Vec<Vec<String>> = report
        .counters
        .iter()
        .map(|c| {
            vec![
                c.metric.as_str().to_owned(),
                c.fact.to_string(),
                cell(c.plan),
                c.today.to_string(),
                c.text.clone(),
            ]
        })
        .collect();
    csv_response(
        "my-counters",
        &["metric", "fact", "plan", "today", "text"],
        &rows,
    )
}

pub fn control(report: &ControlReport) -> Response {
    let rows: Vec<Vec<String>> = report
        .forgotten
        .iter()
        .map(|d| {
            vec![
                d.deal_id.clone(),
                d.title.clone().unwrap_or_default(),
                d.stage.clone(),
                d.responsible.clone(),
                d.idle_days.to_string(),
                cell(d.amount_minor.map(money)),
            ]
        })
        .collect();
    csv_response(
        "forgotten-deals",
        &[
            "deal",
            "title",
            "stage",
            "responsible",
            "idle_days",
            "amount",
        ],
        &rows,
    )
}

pub fn forecast(report: &ForecastReport) -> Response {
    let rows: Vec<Vec<String>> = report
        .months
        .iter()
        .map(|m| {
            vec![
                m.month.clone(),
                m.open_deals.to_string(),
                money(m.open_amount_minor),
                money(m.weighted_amount_minor),
                m.won_deals.to_string(),
                money(m.won_amount_minor),
                m.lost_deals.to_string(),
                money(m.lost_amount_minor),
            ]
        })
        .collect();
    csv_response(
        "forecast",
        &[
            "month",
            "open_deals",
            "open_amount",
            "weighted_amount",
            "won_deals",
            "won_amount",
            "lost_deals",
            "lost_amount",
        ],
        &rows,
    )
}

pub fn losses(report: &LossReport) -> Response {
    let rows: Vec<Vec<String>> = report
        .lines
        .iter()
        .map(|l| {
            vec![
                l.stage.clone(),
                l.reason.clone(),
                l.competitor.clone(),
                l.deals.to_string(),
                money(l.amount_minor),
            ]
        })
        .collect();
    csv_response(
        "losses",
        &["stage", "reason", "competitor", "deals", "amount"],
        &rows,
    )
}

pub fn rating(report: &RatingReport) -> Response {
    let rows: Vec<Vec<String>> = report
        .managers
        .iter()
        .map(|m| {
            vec![
                m.rank.to_string(),
                m.manager.clone(),
                cell(m.fulfilment),
                m.won.to_string(),
                m.lost.to_string(),
                cell(m.conversion),
                m.score.to_string(),
            ]
        })
        .collect();
    csv_response(
        "rating",
        &[
            "rank",
            "manager",
            "fulfilment",
            "won",
            "lost",
            "conversion",
            "score",
        ],
        &rows,
    )
}

/// A builder table: its columns as the header.
pub fn table(name: &str, table: &ReportTable) -> Response {
    let header: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|value| match value {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    csv_response(name, &header, &rows)
}

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
