//! The reports on the work projection as pages: plan-vs-fact with a bar
//! per manager and metric, control (forgotten deals, overdue, today's and
//! tomorrow's activities, workload), the weighted forecast, loss analysis
//! and the manager rating.

use std::future::Future;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use maud::{html, Markup};
use voronka_app::crm::AppError;
use voronka_app::reports::control::{
    ActivityList, ControlOptions, ControlReport, ForecastReport, LossReport,
};
use voronka_app::reports::plans::{PlanVsFactReport, RatingReport};
use voronka_app::reports::ReportFilter;
use voronka_crm::plan::{PeriodKind, PlanMetric};
use voronka_process::CompiledProcess;
use voronka_projections::rating::Weights;
use voronka_projections::time::{date_of_day, from_micros};

use super::super::deals::process_dictionary_options;
use super::super::forms::Form;
use super::super::i18n::{self, Lang};
use super::super::layout::{t, ta};
use super::super::session::Signed;
use super::filter::{self, Inputs};
use super::{bar, department_title, percent, percent_value, report_page, rub, user_title, Trouble};
use crate::report_csv as csv;
use crate::Gateway;

/// Why a report was not produced: the page's own check, or the app's.
enum Refused {
    Page(Trouble),
    App(AppError),
}

impl From<AppError> for Refused {
    fn from(error: AppError) -> Self {
        Refused::App(error)
    }
}

/// One report page: the filter form, then the report (or the reason it is
/// not shown), or its CSV.
#[allow(clippy::too_many_arguments)]
async fn show<R, F, Fut>(
    gateway: &Gateway,
    signed: &Signed,
    query: &Form,
    slug: &str,
    inputs: Inputs,
    extra: Markup,
    load: F,
    to_csv: fn(&R) -> Response,
    view: impl FnOnce(&R) -> Markup,
) -> Response
where
    F: FnOnce(ReportFilter) -> Fut,
    Fut: Future<Output = Result<R, Refused>>,
{
    let lang = signed.viewer.lang;
    let path = format!("/reports/{slug}");
    let controls = filter::filter_form(gateway, signed, &path, query, inputs, extra);
    let failed =
        |trouble: Trouble| report_page(signed, slug, controls.clone(), Some(&trouble), None, None);
    let filter = match filter::parse_filter(&signed.viewer, query) {
        Ok(filter) => filter,
        Err(trouble) => return failed(trouble),
    };
    let report = match load(filter).await {
        Ok(report) => report,
        Err(Refused::Page(trouble)) => return failed(trouble),
        Err(Refused::App(error)) => {
            return match Trouble::from_app(lang, error) {
                Ok(trouble) => failed(trouble),
                Err(error) => error.render(lang),
            }
        }
    };
    if filter::wants_csv(query) {
        return to_csv(&report);
    }
    let markup = view(&report);
    report_page(
        signed,
        slug,
        controls,
        None,
        Some(markup),
        Some(filter::csv_href(&path, query)),
    )
}

/// A whole number of the query, if given (400 naming it when not a number).
fn number_param(lang: Lang, query: &Form, name: &str) -> Result<Option<i64>, Refused> {
    query
        .text(name)
        .map(|v| v.parse::<i64>())
        .transpose()
        .map_err(|_| malformed(lang, name))
}

fn malformed(lang: Lang, name: &str) -> Refused {
    Refused::Page(Trouble::new(
        StatusCode::BAD_REQUEST,
        vec![super::field_message(
            lang,
            name,
            "malformed",
            &t(lang, "rep-error-malformed"),
        )],
    ))
}

/// The period kind and a day in it.
fn period_params(lang: Lang, query: &Form) -> Result<(PeriodKind, Option<NaiveDate>), Refused> {
    let period = match query.text("period") {
        None => PeriodKind::Month,
        Some(text) => PeriodKind::parse(&text).ok_or_else(|| malformed(lang, "period"))?,
    };
    let date = query
        .text("date")
        .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
        .transpose()
        .map_err(|_| malformed(lang, "date"))?;
    Ok((period, date))
}

/// A period's first and last day, as the page says it.
fn period_caption(lang: Lang, from: NaiveDate, to: NaiveDate) -> String {
    ta(
        lang,
        "rep-period-caption",
        &[
            ("from", i18n::date(lang, from)),
            ("to", i18n::date(lang, to)),
        ],
    )
}

/// A metric's value: money for revenue, a count otherwise.
pub fn metric_value(lang: Lang, metric: PlanMetric, value: i64) -> String {
    match metric {
        PlanMetric::RevenueWon => rub(lang, value),
        _ => i18n::number(lang, value),
    }
}

pub fn metric_title(lang: Lang, metric: PlanMetric) -> String {
    t(
        lang,
        &format!("rep-metric-{}", metric.as_str().replace('_', "-")),
    )
}

// ------------------------------------------------------------------ plans

pub async fn plans(State(gateway): State<Gateway>, signed: Signed, raw: RawQuery) -> Response {
    let lang = signed.viewer.lang;
    let query = filter::query_form(&raw);
    let inputs = Inputs {
        process: false,
        period: false,
        people: true,
    };
    let params = period_params(lang, &query);
    let (reports, caller) = (&gateway.reports, &signed.caller);
    show(
        &gateway,
        &signed,
        &query,
        "plans",
        inputs,
        filter::period_inputs(lang, &query),
        |filter| async move {
            let (period, date) = params?;
            Ok(reports.plan_vs_fact(caller, &filter, period, date).await?)
        },
        csv::plan_vs_fact,
        |report| plans_view(&signed, report),
    )
    .await
}

fn plans_view(signed: &Signed, report: &PlanVsFactReport) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let caller = &signed.caller;
    // Lines come grouped by whose they are; keep that order.
    let mut groups: Vec<(
        &str,
        &str,
        Vec<&voronka_projections::plan_vs_fact::PlanLine>,
    )> = Vec::new();
    for line in &report.lines {
        match groups.last_mut() {
            Some((scope, id, lines)) if *scope == line.scope && *id == line.id => lines.push(line),
            _ => groups.push((&line.scope, &line.id, vec![line])),
        }
    }
    html! {
        p.period { (period_caption(lang, report.from, report.to)) }
        @if let Some(as_of) = report.as_of {
            p.as-of { (ta(lang, "rep-as-of-caption", &[("moment", i18n::moment(lang, viewer.zone, as_of))])) }
        }
        @if groups.is_empty() {
            p.muted { (t(lang, "rep-nothing")) }
        }
        @for (scope, id, lines) in &groups {
            @let name = if *scope == "department" { department_title(caller, id) } else { user_title(caller, id) };
            section.plan-group data-scope=(scope) data-id=(id) aria-label=(name) {
                h2 {
                    (name)
                    @if *scope == "department" { " " span.count { (t(lang, "rep-department")) } }
                }
                div.table-scroll tabindex="0" role="region" aria-label=(name) {
                    table.report.plan {
                        thead { tr {
                            th scope="col" { (t(lang, "rep-col-metric")) }
                            th.num scope="col" { (t(lang, "rep-col-plan")) }
                            th.num scope="col" { (t(lang, "rep-col-fact")) }
                            th scope="col" { (t(lang, "rep-col-percent")) }
                            th.num scope="col" { (t(lang, "rep-col-forecast")) }
                        } }
                        tbody {
                            @for line in lines {
                                @let title = metric_title(lang, line.metric);
                                @let of = match line.plan {
                                    Some(plan) => ta(lang, "rep-counter-of", &[("fact", metric_value(lang, line.metric, line.fact)), ("plan", metric_value(lang, line.metric, plan))]),
                                    None => metric_value(lang, line.metric, line.fact),
                                };
                                tr data-metric=(line.metric.as_str()) {
                                    th scope="row" { (title) }
                                    td.num { (line.plan.map_or_else(|| "—".to_owned(), |p| metric_value(lang, line.metric, p))) }
                                    td.num.fact { (metric_value(lang, line.metric, line.fact)) }
                                    td.progress {
                                        @if line.plan.is_some() {
                                            (bar(&format!("{title}: {of}"), line.fact, line.plan))
                                            " " span.percent { (line.percent.map_or_else(|| "—".to_owned(), |p| percent_value(lang, p))) }
                                        } @else {
                                            span.muted { (t(lang, "rep-no-plan")) }
                                        }
                                    }
                                    td.num { (metric_value(lang, line.metric, line.forecast)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------ control

pub async fn control(State(gateway): State<Gateway>, signed: Signed, raw: RawQuery) -> Response {
    let lang = signed.viewer.lang;
    let query = filter::query_form(&raw);
    let knobs = (
        number_param(lang, &query, "idle_days"),
        number_param(lang, &query, "capacity"),
    );
    let extra = html! {
        div.field {
            label for="rep-idle" { (t(lang, "rep-field-idle-days")) }
            input #rep-idle type="number" min="0" name="idle_days" value=(query.echo("idle_days")) placeholder="7";
        }
        div.field {
            label for="rep-capacity" { (t(lang, "rep-field-capacity")) }
            input #rep-capacity type="number" min="0" name="capacity" value=(query.echo("capacity")) placeholder="20";
        }
    };
    let (reports, caller) = (&gateway.reports, &signed.caller);
    let definition = |name: &str| gateway.crm.deal_service().registry().latest(name);
    show(
        &gateway,
        &signed,
        &query,
        "control",
        Inputs::ALL,
        extra,
        |filter| async move {
            let options = ControlOptions {
                idle_days: knobs.0?,
                capacity: knobs.1?,
                limit: None,
            };
            Ok(reports.control(caller, &filter, options).await?)
        },
        csv::control,
        |report| control_view(&signed, report, definition(&report.process).as_deref()),
    )
    .await
}

fn stage_title(lang: Lang, definition: Option<&CompiledProcess>, name: &str) -> String {
    definition
        .and_then(|d| {
            d.stage_id(name)
                .map(|id| lang.title(&d.stage(id).title).to_owned())
        })
        .unwrap_or_else(|| name.to_owned())
}

fn control_view(
    signed: &Signed,
    report: &ControlReport,
    definition: Option<&CompiledProcess>,
) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let caller = &signed.caller;
    let lists = [
        ("overdue", "rep-overdue", &report.overdue),
        ("today", "rep-today", &report.today),
        ("tomorrow", "rep-tomorrow", &report.tomorrow),
    ];
    html! {
        section #forgotten aria-labelledby="forgotten-h" {
            h2 #forgotten-h {
                (ta(lang, "rep-forgotten", &[("days", report.idle_days.to_string())]))
                " " span.count { (i18n::number(lang, report.forgotten_total)) }
            }
            @if report.forgotten.is_empty() {
                p.muted { (t(lang, "rep-nothing")) }
            } @else {
                div.table-scroll tabindex="0" role="region" aria-labelledby="forgotten-h" {
                    table.report {
                        thead { tr {
                            th scope="col" { (t(lang, "rep-col-deal")) }
                            th scope="col" { (t(lang, "rep-col-stage")) }
                            th scope="col" { (t(lang, "rep-col-manager")) }
                            th.num scope="col" { (t(lang, "rep-col-idle")) }
                            th.num scope="col" { (t(lang, "rep-col-amount")) }
                        } }
                        tbody {
                            @for deal in &report.forgotten {
                                tr data-deal=(deal.deal_id) {
                                    th scope="row" { a href={ "/deals/" (deal.deal_id) } { (deal.title.as_deref().unwrap_or("—")) } }
                                    td { (stage_title(lang, definition, &deal.stage)) }
                                    td { (user_title(caller, &deal.responsible)) }
                                    td.num { (i18n::number(lang, deal.idle_days)) }
                                    td.num { (deal.amount_minor.map_or_else(|| "—".to_owned(), |a| rub(lang, a))) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @for (id, key, list) in lists {
            (activity_list(signed, id, key, list))
        }
        section #workload aria-labelledby="workload-h" {
            h2 #workload-h { (ta(lang, "rep-workload", &[("capacity", report.capacity.to_string())])) }
            @if report.workload.is_empty() {
                p.muted { (t(lang, "rep-nothing")) }
            } @else {
                div.table-scroll tabindex="0" role="region" aria-labelledby="workload-h" {
                    table.report {
                        thead { tr {
                            th scope="col" { (t(lang, "rep-col-manager")) }
                            th scope="col" { (t(lang, "rep-col-day")) }
                            th scope="col" { (t(lang, "rep-col-planned")) }
                        } }
                        tbody {
                            @for load in &report.workload {
                                @let label = ta(lang, "rep-counter-of", &[("fact", load.planned.to_string()), ("plan", load.capacity.to_string())]);
                                tr.over[load.over_capacity] {
                                    th scope="row" { (user_title(caller, &load.responsible)) }
                                    td { (i18n::date(lang, date_of_day(load.day))) }
                                    td.progress {
                                        (bar(&label, load.planned, Some(load.capacity)))
                                        " " (label)
                                        @if load.over_capacity { " " span.badge { (t(lang, "rep-over-capacity")) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section #reschedules aria-labelledby="reschedules-h" {
            h2 #reschedules-h { (t(lang, "rep-reschedules")) }
            @if report.reschedules.is_empty() {
                p.muted { (t(lang, "rep-nothing")) }
            } @else {
                ul.list {
                    @for line in &report.reschedules {
                        li { (user_title(caller, &line.responsible)) ": " (i18n::number(lang, line.reschedules)) }
                    }
                }
            }
        }
    }
}

fn activity_list(signed: &Signed, id: &str, key: &str, list: &ActivityList) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    html! {
        section id=(id) aria-labelledby={ (id) "-h" } {
            h2 id={ (id) "-h" } { (t(lang, key)) " " span.count { (i18n::number(lang, list.total)) } }
            @if list.items.is_empty() {
                p.muted { (t(lang, "rep-nothing")) }
            } @else {
                ul.list {
                    @for item in &list.items {
                        @let due = from_micros(item.due_at);
                        li.card {
                            strong { (t(lang, &format!("kind-{}", item.kind))) }
                            @if !item.subject.is_empty() { " · " (item.subject) }
                            " · " time datetime=(due.to_rfc3339()) { (i18n::moment(lang, viewer.zone, due)) }
                            " · " (user_title(&signed.caller, &item.responsible))
                            @if !item.deal_id.is_empty() {
                                " · " a href={ "/deals/" (item.deal_id) } { (t(lang, "activity-deal")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------ forecast

pub async fn forecast(State(gateway): State<Gateway>, signed: Signed, raw: RawQuery) -> Response {
    let query = filter::query_form(&raw);
    let (reports, caller) = (&gateway.reports, &signed.caller);
    show(
        &gateway,
        &signed,
        &query,
        "forecast",
        Inputs::ALL,
        html! {},
        |filter| async move { Ok(reports.forecast(caller, &filter).await?) },
        csv::forecast,
        |report| forecast_view(&signed, report),
    )
    .await
}

/// `2026-03` as `03.2026` / `Mar 2026`; no month as "no date".
fn month_title(lang: Lang, month: &str) -> String {
    match NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d") {
        Ok(first) => match lang {
            Lang::Ru => first.format("%m.%Y").to_string(),
            Lang::En => first.format("%b %Y").to_string(),
        },
        Err(_) => t(lang, "rep-no-close-date"),
    }
}

fn forecast_view(signed: &Signed, report: &ForecastReport) -> Markup {
    let lang = signed.viewer.lang;
    let widest = report
        .months
        .iter()
        .map(|m| m.open_amount_minor)
        .max()
        .unwrap_or(0);
    html! {
        @if report.months.is_empty() {
            p.muted { (t(lang, "rep-nothing")) }
        } @else {
            div.table-scroll tabindex="0" role="region" aria-label=(t(lang, "rep-forecast")) {
                table.report #forecast-table {
                    thead { tr {
                        th scope="col" { (t(lang, "rep-col-month")) }
                        th.num scope="col" { (t(lang, "rep-col-open")) }
                        th.num scope="col" { (t(lang, "rep-col-open-amount")) }
                        th scope="col" { (t(lang, "rep-col-weighted")) }
                        th.num scope="col" { (t(lang, "rep-col-won")) }
                        th.num scope="col" { (t(lang, "rep-col-lost")) }
                    } }
                    tbody {
                        @for month in &report.months {
                            @let weighted = rub(lang, month.weighted_amount_minor);
                            tr data-month=(month.month) {
                                th scope="row" { (month_title(lang, &month.month)) }
                                td.num { (i18n::number(lang, month.open_deals)) }
                                td.num { (rub(lang, month.open_amount_minor)) }
                                td.progress {
                                    (bar(&weighted, month.weighted_amount_minor, Some(widest)))
                                    " " (weighted)
                                }
                                td.num { (i18n::number(lang, month.won_deals)) " · " (rub(lang, month.won_amount_minor)) }
                                td.num { (i18n::number(lang, month.lost_deals)) " · " (rub(lang, month.lost_amount_minor)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------ losses

pub async fn losses(State(gateway): State<Gateway>, signed: Signed, raw: RawQuery) -> Response {
    let query = filter::query_form(&raw);
    let (reports, caller) = (&gateway.reports, &signed.caller);
    let definition = |name: &str| gateway.crm.deal_service().registry().latest(name);
    show(
        &gateway,
        &signed,
        &query,
        "losses",
        Inputs::ALL,
        html! {},
        |filter| async move { Ok(reports.losses(caller, &filter).await?) },
        csv::losses,
        |report| {
            losses_view(
                &gateway,
                &signed,
                report,
                definition(&report.process).as_deref(),
            )
        },
    )
    .await
}

fn losses_view(
    gateway: &Gateway,
    signed: &Signed,
    report: &LossReport,
    definition: Option<&CompiledProcess>,
) -> Markup {
    let lang = signed.viewer.lang;
    let options = |name: &str| {
        definition
            .and_then(|d| {
                d.dictionary_id(name)
                    .map(|id| process_dictionary_options(lang, gateway.crm.dictionaries(), d, id))
            })
            .unwrap_or_default()
    };
    let (reasons, competitors) = (options("loss_reason"), options("competitor"));
    let title = |options: &[(String, String)], code: &str| {
        if code.is_empty() {
            return "—".to_owned();
        }
        options
            .iter()
            .find(|(value, _)| value == code)
            .map_or_else(|| code.to_owned(), |(_, title)| title.clone())
    };
    let widest = report.lines.iter().map(|l| l.deals).max().unwrap_or(0);
    html! {
        @if report.lines.is_empty() {
            p.muted { (t(lang, "rep-nothing")) }
        } @else {
            div.table-scroll tabindex="0" role="region" aria-label=(t(lang, "rep-losses")) {
                table.report #losses-table {
                    thead { tr {
                        th scope="col" { (t(lang, "rep-col-stage")) }
                        th scope="col" { (t(lang, "rep-col-reason")) }
                        th scope="col" { (t(lang, "rep-col-competitor")) }
                        th scope="col" { (t(lang, "rep-col-deals")) }
                        th.num scope="col" { (t(lang, "rep-col-amount")) }
                    } }
                    tbody {
                        @for line in &report.lines {
                            @let deals = i18n::number(lang, line.deals);
                            tr {
                                th scope="row" { (stage_title(lang, definition, &line.stage)) }
                                td { (title(&reasons, &line.reason)) }
                                td { (title(&competitors, &line.competitor)) }
                                td.progress { (bar(&deals, line.deals, Some(widest))) " " (deals) }
                                td.num { (rub(lang, line.amount_minor)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------ rating

pub async fn rating(State(gateway): State<Gateway>, signed: Signed, raw: RawQuery) -> Response {
    let lang = signed.viewer.lang;
    let query = filter::query_form(&raw);
    let inputs = Inputs {
        process: false,
        period: false,
        people: true,
    };
    let params = period_params(lang, &query);
    let weight = |name: &str| -> Result<f64, Refused> {
        match query.text(name) {
            None => Ok(0.5),
            Some(text) => text
                .replace(',', ".")
                .parse::<f64>()
                .map_err(|_| malformed(lang, name)),
        }
    };
    let weights = (weight("plan_weight"), weight("conversion_weight"));
    let extra = html! {
        (filter::period_inputs(lang, &query))
        div.field {
            label for="rep-plan-weight" { (t(lang, "rep-field-plan-weight")) }
            input #rep-plan-weight type="number" min="0" step="0.1" name="plan_weight" value=(query.echo("plan_weight")) placeholder="0.5";
        }
        div.field {
            label for="rep-conversion-weight" { (t(lang, "rep-field-conversion-weight")) }
            input #rep-conversion-weight type="number" min="0" step="0.1" name="conversion_weight" value=(query.echo("conversion_weight")) placeholder="0.5";
        }
    };
    let (reports, caller) = (&gateway.reports, &signed.caller);
    show(
        &gateway,
        &signed,
        &query,
        "rating",
        inputs,
        extra,
        |filter| async move {
            let (period, date) = params?;
            let weights = Weights {
                plan: weights.0?,
                conversion: weights.1?,
            };
            Ok(reports
                .rating(caller, &filter, period, date, weights)
                .await?)
        },
        csv::rating,
        |report| rating_view(&signed, report),
    )
    .await
}

fn rating_view(signed: &Signed, report: &RatingReport) -> Markup {
    let lang = signed.viewer.lang;
    let caller = &signed.caller;
    let maybe = |value: Option<f64>| value.map_or_else(|| "—".to_owned(), |v| percent(lang, v));
    html! {
        p.period { (period_caption(lang, report.from, report.to)) }
        @if report.managers.is_empty() {
            p.muted { (t(lang, "rep-nothing")) }
        } @else {
            div.table-scroll tabindex="0" role="region" aria-label=(t(lang, "rep-rating")) {
                table.report #rating-table {
                    thead { tr {
                        th.num scope="col" { (t(lang, "rep-col-rank")) }
                        th scope="col" { (t(lang, "rep-col-manager")) }
                        th.num scope="col" { (t(lang, "rep-col-fulfilment")) }
                        th.num scope="col" { (t(lang, "rep-col-won")) }
                        th.num scope="col" { (t(lang, "rep-col-lost")) }
                        th.num scope="col" { (t(lang, "rep-col-conversion")) }
                        th scope="col" { (t(lang, "rep-col-score")) }
                    } }
                    tbody {
                        @for line in &report.managers {
                            @let score = percent(lang, line.score);
                            tr {
                                td.num { (line.rank) }
                                th scope="row" { (user_title(caller, &line.manager)) }
                                td.num { (maybe(line.fulfilment)) }
                                td.num { (i18n::number(lang, line.won)) }
                                td.num { (i18n::number(lang, line.lost)) }
                                td.num { (maybe(line.conversion)) }
                                td.progress { (bar(&score, (line.score * 1000.0).round() as i64, Some(1000))) " " (score) }
                            }
                        }
                    }
                }
            }
        }
    }
}
