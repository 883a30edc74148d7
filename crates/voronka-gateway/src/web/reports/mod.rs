//! Report pages: the funnel (an SVG drawn here), plan-vs-fact with bars,
//! control, forecast, losses, rating, and the report builder with saved,
//! shared reports.
//!
//! Every page reads the same `Reports` service as `/api/v1/reports/...`
//! with the same `Caller`, so reach, periods and `as_of` are decided in the
//! application layer. A page's filter is a GET form, so a report is a link;
//! a refusal (403 outside one's reach, 422 a reversed period or an `as_of`
//! in the future) is shown on the page above the form, never as a crash.
//! `format=csv` answers the same CSV the API answers for `Accept: text/csv`.

mod builder;
mod counters;
mod filter;
mod funnel;
mod work;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use voronka_app::crm::{AppError, Caller};

use super::i18n::{self, Lang};
use super::layout::{self, t, ta, Nav};
use super::session::Signed;
use super::{html_response, page_result, WebError};
use crate::Gateway;

pub use counters::my_counters;

/// The routes of these pages.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/reports", get(index))
        .route("/reports/funnel", get(funnel::page))
        .route("/reports/plans", get(work::plans))
        .route("/reports/control", get(work::control))
        .route("/reports/forecast", get(work::forecast))
        .route("/reports/losses", get(work::losses))
        .route("/reports/rating", get(work::rating))
        .route("/reports/builder", get(builder::page).post(builder::submit))
        .route("/reports/saved/{id}", get(builder::saved))
        .route("/reports/saved/{id}/delete", post(builder::delete))
}

/// The report pages in the order the tabs show them: path segment and
/// title key.
const REPORTS: [(&str, &str); 7] = [
    ("funnel", "rep-funnel"),
    ("plans", "rep-plans"),
    ("control", "rep-control"),
    ("forecast", "rep-forecast"),
    ("losses", "rep-losses"),
    ("rating", "rep-rating"),
    ("builder", "rep-builder"),
];

/// Why a report is not shown: the status and the messages of the error box.
#[derive(Debug, Clone)]
pub(super) struct Trouble {
    pub status: StatusCode,
    pub messages: Vec<String>,
}

impl Trouble {
    pub fn new(status: StatusCode, messages: Vec<String>) -> Trouble {
        Trouble { status, messages }
    }

    /// What the page says for an application error; a missing record and
    /// failures that are not the request's are error pages instead.
    pub fn from_app(lang: Lang, error: AppError) -> Result<Trouble, WebError> {
        Ok(match error {
            AppError::Invalid(errors) => Trouble::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                errors
                    .iter()
                    .map(|e| field_message(lang, &e.field, e.code, &e.message))
                    .collect(),
            ),
            AppError::Forbidden(denied) => Trouble::new(
                StatusCode::FORBIDDEN,
                vec![localized(lang, "rep-forbidden", denied.reason_code, "")],
            ),
            AppError::Unavailable { message, .. } => Trouble::new(
                StatusCode::SERVICE_UNAVAILABLE,
                vec![t(lang, "rep-unavailable"), message],
            ),
            AppError::NotAllowed { message, .. } => {
                Trouble::new(StatusCode::UNPROCESSABLE_ENTITY, vec![message])
            }
            other => return Err(other.into()),
        })
    }
}

/// A field error as a sentence: the field's label and the reason, in the
/// viewer's language when the code is known (else the app's English text).
pub(super) fn field_message(lang: Lang, field: &str, code: &str, message: &str) -> String {
    let label_key = format!("rep-field-{}", field.replace(['_', '.'], "-"));
    let label = if i18n::has_message(lang, &label_key) {
        t(lang, &label_key)
    } else {
        field.to_owned()
    };
    format!("{label}: {}", localized(lang, "", code, message))
}

/// `rep-error-<code>` when the catalogue has it, else `fallback_key`, else
/// `fallback`.
fn localized(lang: Lang, fallback_key: &str, code: &str, fallback: &str) -> String {
    let key = format!("rep-error-{}", code.replace('_', "-"));
    if i18n::has_message(lang, &key) {
        t(lang, &key)
    } else if !fallback_key.is_empty() {
        t(lang, fallback_key)
    } else {
        fallback.to_owned()
    }
}

/// The shell of a report page: the tabs of every report, the filter form,
/// the error box, the report and its CSV link.
pub(super) fn report_page(
    signed: &Signed,
    current: &str,
    controls: Markup,
    trouble: Option<&Trouble>,
    report: Option<Markup>,
    csv_href: Option<String>,
) -> Response {
    let lang = signed.viewer.lang;
    let title_key = REPORTS
        .iter()
        .find(|(slug, _)| *slug == current)
        .map_or("nav-reports", |(_, key)| key);
    let body = html! {
        (tabs(lang, current))
        (controls)
        @if let Some(trouble) = trouble {
            div #report-error { (layout::alert(&trouble.messages)) }
        }
        @if let Some(report) = report {
            @if let Some(href) = csv_href {
                p.report-actions { a.button href=(href) download { (t(lang, "rep-csv")) } }
            }
            (report)
        }
    };
    let markup = layout::page(signed, &t(lang, title_key), Nav::Reports, body);
    let status = trouble.map_or(StatusCode::OK, |t| t.status);
    html_response(status, markup)
}

/// Links to every report; the current one marked.
fn tabs(lang: Lang, current: &str) -> Markup {
    html! {
        nav.tabs.report-tabs aria-label=(t(lang, "rep-tabs")) {
            @for (slug, key) in REPORTS {
                @let href = format!("/reports/{slug}");
                @if slug == current {
                    a href=(href) aria-current="page" { (t(lang, key)) }
                } @else {
                    a href=(href) { (t(lang, key)) }
                }
            }
        }
    }
}

/// `/reports`: every report, and the saved reports the viewer sees.
async fn index(State(gateway): State<Gateway>, signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let saved = match gateway.reports.saved_reports(&signed.caller).await {
            Ok(saved) => Ok(saved),
            Err(AppError::Forbidden(_)) => Err(Trouble::new(
                StatusCode::FORBIDDEN,
                vec![t(lang, "rep-forbidden")],
            )),
            Err(error) => return Err(WebError::from(error)),
        };
        let body = html! {
            (tabs(lang, ""))
            @match &saved {
                Err(trouble) => { div #report-error { (layout::alert(&trouble.messages)) } }
                Ok(saved) => {
                    section aria-labelledby="reports-h" {
                        h2 #reports-h { (t(lang, "rep-all")) }
                        ul.list.report-list {
                            @for (slug, key) in REPORTS {
                                li.card {
                                    a href={ "/reports/" (slug) } { (t(lang, key)) }
                                    p.muted { (t(lang, &format!("{key}-about"))) }
                                }
                            }
                        }
                    }
                    section #saved-reports aria-labelledby="saved-h" {
                        h2 #saved-h { (t(lang, "rep-saved")) }
                        (builder::saved_list(&signed, saved))
                    }
                }
            }
        };
        let status = saved.as_ref().err().map_or(StatusCode::OK, |t| t.status);
        let markup = layout::page(&signed, &t(lang, "nav-reports"), Nav::Reports, body);
        Ok(html_response(status, markup))
    }
    .await;
    page_result(lang, result)
}

/// A progress bar of `fact` against `plan` (an SVG: its sizes are
/// attributes, which the page's style policy allows, unlike inline styles),
/// with the text read out instead of the drawing.
pub fn bar(label: &str, fact: i64, plan: Option<i64>) -> Markup {
    let share = match plan {
        Some(plan) if plan > 0 => (fact as f64 / plan as f64).clamp(0.0, 1.0),
        _ => 0.0,
    };
    let done = matches!(plan, Some(plan) if plan > 0 && fact >= plan);
    let width = format!("{:.1}", share * 100.0);
    html! {
        svg.bar.done[done] viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label=(label) data-share=(width) {
            rect.bar-track x="0" y="0" width="100" height="8" rx="2" {}
            rect.bar-fill x="0" y="0" width=(width) height="8" rx="2" {}
        }
    }
}

/// A user's display name (the id when the viewer's snapshot lacks it).
pub(super) fn user_title(caller: &Caller, id: &str) -> String {
    if id.is_empty() {
        return "—".to_owned();
    }
    id.parse::<voronka_app::access::UserId>()
        .ok()
        .and_then(|user| caller.access.users.get(&user))
        .map_or_else(|| id.to_owned(), |u| u.display_name.clone())
}

/// A department's name (the id when unknown).
pub(super) fn department_title(caller: &Caller, id: &str) -> String {
    id.parse::<uuid::Uuid>()
        .ok()
        .map(voronka_app::access::DepartmentId::from_uuid)
        .and_then(|department| caller.access.tree.get(department))
        .map_or_else(|| id.to_owned(), |d| d.name.clone())
}

/// A ratio (0.25) as a percent in the viewer's language (`25 %`/`25%`).
pub(super) fn percent(lang: Lang, ratio: f64) -> String {
    percent_value(lang, ratio * 100.0)
}

/// A percent value (25.0) in the viewer's language, one decimal when small.
pub(super) fn percent_value(lang: Lang, value: f64) -> String {
    let rounded = if value.abs() < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    match lang {
        Lang::Ru => format!("{}\u{a0}%", rounded.replace('.', ",")),
        Lang::En => format!("{rounded}%"),
    }
}

/// Money in minor units of roubles, per language.
pub(super) fn rub(lang: Lang, minor: i64) -> String {
    i18n::money(lang, &voronka_core::Money::rub(minor))
}

/// Seconds as days and hours (`2 d 5 h`), or hours and minutes under a day.
pub(super) fn duration(lang: Lang, seconds: i64) -> String {
    let (days, hours, minutes) = (
        seconds / 86_400,
        (seconds % 86_400) / 3600,
        (seconds % 3600) / 60,
    );
    if seconds < 60 {
        t(lang, "rep-duration-under-minute")
    } else if days > 0 {
        ta(
            lang,
            "rep-duration-days",
            &[("days", days.to_string()), ("hours", hours.to_string())],
        )
    } else {
        ta(
            lang,
            "rep-duration-hours",
            &[
                ("hours", hours.to_string()),
                ("minutes", minutes.to_string()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_and_durations_read_per_language() {
        assert_eq!(percent(Lang::Ru, 0.5), "50\u{a0}%");
        assert_eq!(percent(Lang::En, 0.0533), "5.3%");
        assert_eq!(percent(Lang::Ru, 0.0533), "5,3\u{a0}%");
        assert_eq!(duration(Lang::En, 2 * 86_400 + 5 * 3600 + 7), "2 d 5 h");
        assert_eq!(duration(Lang::Ru, 3600 + 120), "1 ч 2 мин");
        assert_eq!(duration(Lang::En, 59), "under a minute");
    }
}
