//! "My day"'s plan counters: each metric of the viewer's plan for this
//! month as "5 of 10" with a bar, and what was done today.

use maud::{html, Markup};
use voronka_app::crm::AppError;
use voronka_app::reports::Reports;
use voronka_core::Position;
use voronka_crm::plan::PeriodKind;

use super::super::layout::{t, ta};
use super::super::session::Signed;
use super::super::WebError;
use super::bar;
use super::work::{metric_title, metric_value};

/// The counters block, or nothing for a viewer without the report right.
/// `at`: a position the counters must include (the viewer's last write).
pub async fn my_counters(
    reports: &Reports,
    signed: &Signed,
    at: Option<Position>,
) -> Result<Markup, WebError> {
    let lang = signed.viewer.lang;
    let counters = match reports
        .my_counters(&signed.caller, PeriodKind::Month, at)
        .await
    {
        Ok(counters) => counters,
        // No report right: no counters. Reports behind: the day still shows.
        Err(AppError::Forbidden(_) | AppError::Unavailable { .. }) => return Ok(html! {}),
        Err(error) => return Err(error.into()),
    };
    // Planned metrics always; the others once something was done.
    let shown: Vec<_> = counters
        .counters
        .iter()
        .filter(|c| c.plan.is_some() || c.fact > 0)
        .collect();
    let planned = counters.counters.iter().any(|c| c.plan.is_some());
    Ok(html! {
        section #plan-counters aria-labelledby="plan-counters-h" {
            h2 #plan-counters-h { (t(lang, "rep-day-plan")) }
            @if !planned { p.muted { (t(lang, "rep-day-no-plan")) } }
            @if !shown.is_empty() {
                ul.counters {
                    @for counter in shown {
                        @let title = metric_title(lang, counter.metric);
                        @let text = match counter.plan {
                            Some(plan) => ta(lang, "rep-counter-of", &[("fact", metric_value(lang, counter.metric, counter.fact)), ("plan", metric_value(lang, counter.metric, plan))]),
                            None => metric_value(lang, counter.metric, counter.fact),
                        };
                        li data-metric=(counter.metric.as_str()) {
                            span.counter-title { (title) }
                            span.counter-text { (text) }
                            @if counter.plan.is_some() {
                                (bar(&format!("{title}: {text}"), counter.fact, counter.plan))
                            }
                            span.muted { (ta(lang, "rep-day-today", &[("count", metric_value(lang, counter.metric, counter.today))])) }
                        }
                    }
                }
            }
        }
    })
}
