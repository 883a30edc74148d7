//! The CSV form of every report, one place for both doors: the API answers
//! it for `Accept: text/csv`, the report pages for `format=csv`. Each report
//! is first one [`Table`] (`<report>_table`), which the API also answers as
//! XLSX for `Accept: application/vnd.openxmlformats-...sheet`. One writer
//! (byte-order mark, quoting, formula cells defused) and one column list per
//! report, so a download from a page and from the API are the same file.

use axum::http::{header, HeaderMap};
use axum::response::Response;
use voronka_app::reports::control::{ControlReport, ForecastReport, LossReport};
use voronka_app::reports::plans::{MyCounters, PlanVsFactReport, RatingReport};
use voronka_app::reports::FunnelReport;
use voronka_projections::builder::ReportTable;
use voronka_projections::funnel::StageKind;

use voronka_app::export::{ExportFormat, Table};

use crate::imports_api::{table_response, wants_xlsx};

/// Whether the client asked for CSV.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|part| part.trim().starts_with("text/csv")))
}

/// A report's rows under its name, answered in either format.
pub struct NamedTable {
    pub name: String,
    pub table: Table,
}

impl NamedTable {
    fn new(name: &str, header_row: &[&str], rows: &[Vec<String>]) -> NamedTable {
        NamedTable {
            name: name.to_owned(),
            table: Table::new(header_row, rows.to_vec()),
        }
    }

    pub fn respond(&self, format: ExportFormat) -> Response {
        table_response(&self.name, &self.table, format)
    }
}

/// The table format the client asked for by `Accept` (CSV or XLSX), if any.
pub fn wants_table(headers: &HeaderMap) -> Option<ExportFormat> {
    if wants_xlsx(headers) {
        Some(ExportFormat::Xlsx)
    } else if wants_csv(headers) {
        Some(ExportFormat::Csv)
    } else {
        None
    }
}

#[cfg(test)]
fn push_csv_cell(out: &mut String, cell: &str) {
    voronka_app::export::push_csv_cell(out, cell)
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
    funnel_table(report).respond(ExportFormat::Csv)
}

pub fn funnel_table(report: &FunnelReport) -> NamedTable {
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
    NamedTable::new(
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
    plan_vs_fact_table(report).respond(ExportFormat::Csv)
}

pub fn plan_vs_fact_table(report: &PlanVsFactReport) -> NamedTable {
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
    NamedTable::new(
        "plan-vs-fact",
        &[
            "scope", "id", "metric", "plan", "fact", "percent", "forecast",
        ],
        &rows,
    )
}

pub fn my_counters_table(report: &MyCounters) -> NamedTable {
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
    NamedTable::new(
        "my-counters",
        &["metric", "fact", "plan", "today", "text"],
        &rows,
    )
}

pub fn control(report: &ControlReport) -> Response {
    control_table(report).respond(ExportFormat::Csv)
}

pub fn control_table(report: &ControlReport) -> NamedTable {
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
    NamedTable::new(
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
    forecast_table(report).respond(ExportFormat::Csv)
}

pub fn forecast_table(report: &ForecastReport) -> NamedTable {
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
    NamedTable::new(
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
    losses_table(report).respond(ExportFormat::Csv)
}

pub fn losses_table(report: &LossReport) -> NamedTable {
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
    NamedTable::new(
        "losses",
        &["stage", "reason", "competitor", "deals", "amount"],
        &rows,
    )
}

pub fn rating(report: &RatingReport) -> Response {
    rating_table(report).respond(ExportFormat::Csv)
}

pub fn rating_table(report: &RatingReport) -> NamedTable {
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
    NamedTable::new(
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
    builder_table(name, table).respond(ExportFormat::Csv)
}

/// A builder table as a [`NamedTable`].
pub fn builder_table(name: &str, table: &ReportTable) -> NamedTable {
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
    NamedTable::new(name, &header, &rows)
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
