//! `/reports/funnel`: the funnel of a process drawn as an SVG by the
//! server (a bar per stage, its width the deals that entered, the darker
//! inner bar those that moved on), the numbers in a table, and losses per
//! stage by reason.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use maud::{html, Markup};
use voronka_app::reports::FunnelReport;
use voronka_process::CompiledProcess;
use voronka_projections::funnel::{FunnelStage, StageKind};

use super::super::deals::process_dictionary_options;
use super::super::i18n::{self, Lang};
use super::super::layout::{t, ta};
use super::super::session::Signed;
use super::filter::{self, Inputs};
use super::{duration, percent, report_page, rub, Trouble};
use crate::report_csv as csv;
use crate::Gateway;

/// The drawing's width in its own units; it scales to the page.
const WIDTH: f64 = 640.0;
/// One stage: a line of text above a bar.
const ROW: f64 = 52.0;
const BAR: f64 = 24.0;

pub async fn page(State(gateway): State<Gateway>, signed: Signed, raw: RawQuery) -> Response {
    let lang = signed.viewer.lang;
    let query = filter::query_form(&raw);
    let controls = filter::filter_form(
        &gateway,
        &signed,
        "/reports/funnel",
        &query,
        Inputs::ALL,
        html! {},
    );
    let filter = match filter::parse_filter(&signed.viewer, &query) {
        Ok(filter) => filter,
        Err(trouble) => {
            return report_page(&signed, "funnel", controls, Some(&trouble), None, None)
        }
    };
    let report = match gateway.reports.funnel(&signed.caller, &filter).await {
        Ok(report) => report,
        Err(error) => {
            return match Trouble::from_app(lang, error) {
                Ok(trouble) => report_page(&signed, "funnel", controls, Some(&trouble), None, None),
                Err(error) => error.render(lang),
            }
        }
    };
    if filter::wants_csv(&query) {
        return csv::funnel(&report);
    }
    let definition = gateway
        .crm
        .deal_service()
        .registry()
        .latest(&report.process);
    let reasons = definition
        .as_deref()
        .and_then(|d| {
            d.dictionary_id("loss_reason")
                .map(|id| process_dictionary_options(lang, gateway.crm.dictionaries(), d, id))
        })
        .unwrap_or_default();
    let markup = render(&signed, &report, definition.as_deref(), &reasons);
    report_page(
        &signed,
        "funnel",
        controls,
        None,
        Some(markup),
        Some(filter::csv_href("/reports/funnel", &query)),
    )
}

/// A stage's title from the definition (its name when unknown).
fn stage_title(lang: Lang, definition: Option<&CompiledProcess>, name: &str) -> String {
    definition
        .and_then(|d| {
            d.stage_id(name)
                .map(|id| lang.title(&d.stage(id).title).to_owned())
        })
        .unwrap_or_else(|| name.to_owned())
}

fn render(
    signed: &Signed,
    report: &FunnelReport,
    definition: Option<&CompiledProcess>,
    reasons: &[(String, String)],
) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let titles: Vec<String> = report
        .stages
        .iter()
        .map(|s| stage_title(lang, definition, &s.stage))
        .collect();
    let reason_title = |code: &str| {
        if code.is_empty() {
            return t(lang, "rep-reason-none");
        }
        reasons
            .iter()
            .find(|(value, _)| value == code)
            .map_or_else(|| code.to_owned(), |(_, title)| title.clone())
    };
    let with_losses: Vec<(&FunnelStage, &String)> = report
        .stages
        .iter()
        .zip(&titles)
        .filter(|(s, _)| s.lost > 0)
        .collect();
    html! {
        @if let Some(as_of) = report.as_of {
            p.as-of { (ta(lang, "rep-as-of-caption", &[("moment", i18n::moment(lang, viewer.zone, as_of))])) }
        }
        section #funnel-chart aria-labelledby="funnel-chart-h" {
            h2 #funnel-chart-h { (t(lang, "rep-funnel-chart")) }
            (chart(lang, &report.stages, &titles))
        }
        section #funnel-numbers aria-labelledby="funnel-numbers-h" {
            h2 #funnel-numbers-h { (t(lang, "rep-funnel-numbers")) }
            div.table-scroll tabindex="0" role="region" aria-labelledby="funnel-numbers-h" {
                table.report #funnel-table {
                    thead { tr {
                        th scope="col" { (t(lang, "rep-col-stage")) }
                        th.num scope="col" { (t(lang, "rep-col-entered")) }
                        th.num scope="col" { (t(lang, "rep-col-moved-on")) }
                        th.num scope="col" { (t(lang, "rep-col-lost")) }
                        th.num scope="col" { (t(lang, "rep-col-conversion")) }
                        th.num scope="col" { (t(lang, "rep-col-average")) }
                        th.num scope="col" { (t(lang, "rep-col-median")) }
                        th.num scope="col" { (t(lang, "rep-col-now")) }
                        th.num scope="col" { (t(lang, "rep-col-amount")) }
                    } }
                    tbody {
                        @for (stage, title) in report.stages.iter().zip(&titles) {
                            tr data-stage=(stage.stage) {
                                th scope="row" { (title) }
                                td.num.entered { (i18n::number(lang, stage.entered)) }
                                td.num { (i18n::number(lang, stage.moved_on)) }
                                td.num { (i18n::number(lang, stage.lost)) }
                                td.num { (stage.conversion.filter(|_| stage.kind == StageKind::Open).map_or_else(|| "—".to_owned(), |c| percent(lang, c))) }
                                td.num { (stage.average_seconds.map_or_else(|| "—".to_owned(), |s| duration(lang, s))) }
                                td.num { (stage.median_seconds.map_or_else(|| "—".to_owned(), |s| duration(lang, s))) }
                                td.num.now { (i18n::number(lang, stage.now)) }
                                td.num { (rub(lang, stage.now_amount_minor)) }
                            }
                        }
                    }
                }
            }
        }
        section #funnel-losses aria-labelledby="funnel-losses-h" {
            h2 #funnel-losses-h { (t(lang, "rep-funnel-losses")) }
            @if with_losses.is_empty() {
                p.muted { (t(lang, "rep-nothing")) }
            } @else {
                dl.facts.losses {
                    @for (stage, title) in &with_losses {
                        dt { (title) ": " (i18n::number(lang, stage.lost)) }
                        dd {
                            ul.reasons {
                                @for reason in &stage.lost_reasons {
                                    li { (reason_title(&reason.reason)) " — " (i18n::number(lang, reason.deals)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The funnel drawing: per stage a centred bar as wide as the deals that
/// entered it (relative to the widest), the moved-on share inside it, the
/// numbers above it and in a `<title>` for screen readers and hover.
fn chart(lang: Lang, stages: &[FunnelStage], titles: &[String]) -> Markup {
    let widest = stages.iter().map(|s| s.entered).max().unwrap_or(0).max(1) as f64;
    let height = ROW * stages.len().max(1) as f64;
    let summary = ta(
        lang,
        "rep-funnel-summary",
        &[("stages", stages.len().to_string())],
    );
    html! {
        svg.funnel viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-labelledby="funnel-svg-title" {
            title #funnel-svg-title { (summary) }
            @for (index, (stage, title)) in stages.iter().zip(titles).enumerate() {
                @let y = index as f64 * ROW;
                @let entered_width = (stage.entered as f64 / widest * WIDTH).max(2.0);
                @let moved_width = if stage.entered > 0 { stage.moved_on as f64 / stage.entered as f64 * entered_width } else { 0.0 };
                @let kind = match stage.kind { StageKind::Open => "open", StageKind::Won => "won", StageKind::Lost => "lost" };
                // A final stage has nothing to move on to.
                @let conversion = stage.conversion.filter(|_| stage.kind == StageKind::Open).map(|c| percent(lang, c));
                @let text = match &conversion {
                    Some(c) => ta(lang, "rep-funnel-bar", &[("stage", title.clone()), ("entered", stage.entered.to_string()), ("moved", stage.moved_on.to_string()), ("conversion", c.clone())]),
                    None => ta(lang, "rep-funnel-bar-final", &[("stage", title.clone()), ("entered", stage.entered.to_string())]),
                };
                g.stage data-stage=(stage.stage) data-kind=(kind) data-entered=(stage.entered) {
                    title { (text) }
                    text.label x=(WIDTH / 2.0) y=(format!("{:.1}", y + 18.0)) text-anchor="middle" { (text) }
                    rect.entered x=(format!("{:.1}", (WIDTH - entered_width) / 2.0)) y=(format!("{:.1}", y + 24.0)) width=(format!("{entered_width:.1}")) height=(BAR) rx="3" {}
                    @if moved_width > 0.0 {
                        rect.moved x=(format!("{:.1}", (WIDTH - moved_width) / 2.0)) y=(format!("{:.1}", y + 24.0)) width=(format!("{moved_width:.1}")) height=(BAR) rx="3" {}
                    }
                }
            }
        }
    }
}
