//! My day: the caller's overdue, today's and tomorrow's planned
//! activities, each completed in one click on its outcome; and logging a
//! call or a meeting in a few fields with dictionary pickers.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, TimeZone};
use maud::{html, Markup};
use voronka_app::crm::work::{ActivityCompletion, ActivityQuery, ActivityView, NewActivity};
use voronka_app::crm::Crm;
use voronka_app::reports::Reports;
use voronka_core::Position;
use voronka_crm::deal_index::{DealFilter, DealRow};
use voronka_crm::dictionaries::names;
use voronka_crm::{ActivityId, DealId, Dictionaries, MAX_PAGE_SIZE};
use voronka_process::{ActivityKind, ActivityStatus};

use super::deals::{all_deals, definition_of, render_card, with_position, CardNotice, PageQuery};
use super::forms::{local_to_rfc3339, Form};
use super::i18n;
use super::layout::{self, csrf, t, Nav};
use super::session::{safe_next, Signed};
use super::{html_response, page_result, path_uuid, see_other, Refusal, WebError};
use crate::Gateway;

pub async fn page(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<PageQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    page_result(
        lang,
        render(
            &gateway.crm,
            &gateway.reports,
            &signed,
            query.at.map(Position),
            None,
        )
        .await,
    )
}

/// The day page, with a refused form's messages when given.
pub async fn render(
    crm: &Crm,
    reports: &Reports,
    signed: &Signed,
    at: Option<Position>,
    refusal: Option<&Refusal>,
) -> Result<Response, WebError> {
    let viewer = &signed.viewer;
    let caller = &signed.caller;
    let lang = viewer.lang;
    let now = chrono::Utc::now();
    let local_today = now.with_timezone(&viewer.zone).date_naive();
    let midnight = |days: i64| {
        let day = local_today + Duration::days(days);
        viewer
            .zone
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .map(|moment| moment.to_rfc3339())
    };
    let mine = ActivityQuery {
        responsible: Some(caller.user.id),
        status: Some("planned".into()),
        ..ActivityQuery::default()
    };
    let overdue = crm
        .activities(
            caller,
            &ActivityQuery {
                overdue: true,
                ..mine.clone()
            },
            None,
            MAX_PAGE_SIZE,
            at,
        )
        .await?;
    let today = crm
        .activities(
            caller,
            &ActivityQuery {
                due_after: Some(now.to_rfc3339()),
                due_before: midnight(1),
                ..mine.clone()
            },
            None,
            MAX_PAGE_SIZE,
            at,
        )
        .await?;
    let tomorrow = crm
        .activities(
            caller,
            &ActivityQuery {
                due_after: midnight(1),
                due_before: midnight(2),
                ..mine.clone()
            },
            None,
            MAX_PAGE_SIZE,
            at,
        )
        .await?;
    let my_deals: Vec<DealRow> = all_deals(
        crm,
        caller,
        &DealFilter {
            responsible: Some(caller.user.id),
            ..DealFilter::default()
        },
        at,
    )
    .await?
    .into_iter()
    .filter(|row| {
        definition_of(crm, row)
            .and_then(|d| d.stage_id(&row.stage).map(|s| !d.stage(s).terminal))
            .unwrap_or(true)
    })
    .collect();
    // The plan counters ("5 of 10"): see `reports::my_counters`.
    let counters = super::reports::my_counters(reports, signed, at).await?;
    let dictionaries = crm.dictionaries();
    let groups = [
        ("day-overdue", "overdue", &overdue.items),
        ("day-today", "today", &today.items),
        ("day-tomorrow", "tomorrow", &tomorrow.items),
    ];
    let body = html! {
        @if let Some(refusal) = refusal { (layout::alert(&refusal.messages)) }
        (counters)
        div.day {
            @for (key, id, items) in groups {
                section.tasks id=(id) aria-labelledby={ (id) "-h" } {
                    h2 id={ (id) "-h" } { (t(lang, key)) " " span.count { (items.len()) } }
                    @if items.is_empty() {
                        p.muted { (t(lang, "day-nothing")) }
                    } @else {
                        ul.activities {
                            @for activity in items.iter() {
                                li { (activity_item(signed, dictionaries, activity, "/")) }
                            }
                        }
                    }
                }
            }
        }
        section #log-activity aria-labelledby="log-h" {
            h2 #log-h { (t(lang, "day-log")) }
            (log_form(signed, dictionaries, None, &my_deals, "/"))
        }
    };
    let markup = layout::page(signed, &t(lang, "nav-day"), Nav::Day, body);
    let status = refusal.map_or(StatusCode::OK, Refusal::status_code);
    Ok(html_response(status, markup))
}

/// One activity: what, when, for which deal, and for a planned one the
/// buttons that complete it (a call: one button per outcome).
pub fn activity_item(
    signed: &Signed,
    dictionaries: &Dictionaries,
    activity: &ActivityView,
    back: &str,
) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let record = &activity.row.record;
    let kind = record.kind.as_str();
    let outcomes = outcome_dictionary(record.kind)
        .map(|name| layout::dictionary_options(dictionaries, name, lang))
        .unwrap_or_default();
    let id = record.id.to_string();
    html! {
        article.activity data-kind=(kind) data-status=(record.status.as_str()) .overdue[activity.overdue] {
            div {
                strong { (t(lang, &format!("kind-{kind}"))) }
                @if let Some(subject) = &record.subject { " · " (subject) }
                @if let Some(due) = record.due_at {
                    " · " time datetime=(due.to_rfc3339()) { (i18n::moment(lang, viewer.zone, due)) }
                }
                @if activity.overdue { " " span.badge { (t(lang, "day-overdue-badge")) } }
                @if let Some(deal) = record.deal {
                    @if back == "/" { " · " a href={ "/deals/" (deal) } { (t(lang, "activity-deal")) } }
                }
            }
            @if record.status == ActivityStatus::Done {
                div.muted {
                    (t(lang, "status-done"))
                    @if let (Some(outcome), Some(name)) = (&record.outcome, outcome_dictionary(record.kind)) {
                        ": " (layout::dictionary_title(dictionaries, name, outcome, lang))
                    }
                    @if let Some(result) = &record.result { " · " (result) }
                }
            } @else if record.status == ActivityStatus::Planned {
                form.complete method="post" action={ "/activities/" (id) "/complete" } {
                    (csrf(viewer))
                    input type="hidden" name="back" value=(back);
                    input type="hidden" name="expected_version" value=(activity.row.version);
                    @if record.kind == ActivityKind::Meeting {
                        label for={ "result-" (id) } { (t(lang, "field-result")) }
                        input id={ "result-" (id) } type="text" name="result" required;
                    }
                    @if outcomes.is_empty() || record.kind == ActivityKind::Task {
                        button type="submit" { (t(lang, "activity-complete")) }
                    } @else {
                        span.outcomes role="group" aria-label=(t(lang, "field-outcome")) {
                            @for (value, title) in &outcomes {
                                button type="submit" name="outcome" value=(value) { (title) }
                            }
                        }
                    }
                }
            } @else {
                div.muted { (t(lang, "status-cancelled")) }
            }
        }
    }
}

fn outcome_dictionary(kind: ActivityKind) -> Option<&'static str> {
    match kind {
        ActivityKind::Call => Some(names::CALL_OUTCOME),
        ActivityKind::Meeting => Some(names::MEETING_OUTCOME),
        ActivityKind::Message | ActivityKind::Email => Some(names::MESSAGE_OUTCOME),
        ActivityKind::Task => Some(names::TASK_OUTCOME),
    }
}

/// Logging (or planning) a call or a meeting: kind, outcome picked from
/// its dictionary, a subject and a result. On a deal card the deal and
/// its contact are fixed; on My day a deal is picked.
pub fn log_form(
    signed: &Signed,
    dictionaries: &Dictionaries,
    deal: Option<&DealRow>,
    deals: &[DealRow],
    back: &str,
) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let now = chrono::Utc::now()
        .with_timezone(&viewer.zone)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let kinds = vec![
        ("call".to_owned(), t(lang, "kind-call")),
        ("meeting".to_owned(), t(lang, "kind-meeting")),
        ("task".to_owned(), t(lang, "kind-task")),
    ];
    let statuses = vec![
        ("done".to_owned(), t(lang, "activity-log-done")),
        ("planned".to_owned(), t(lang, "activity-log-planned")),
    ];
    let directions = vec![
        ("outgoing".to_owned(), t(lang, "direction-outgoing")),
        ("incoming".to_owned(), t(lang, "direction-incoming")),
    ];
    let deal_options: Vec<(String, String)> = deals
        .iter()
        .map(|d| (d.id.to_string(), d.title.clone().unwrap_or_default()))
        .collect();
    html! {
        form.card.grid.log method="post" action="/activities" {
            (csrf(viewer))
            input type="hidden" name="back" value=(back);
            input type="hidden" name="nonce" value=(uuid::Uuid::new_v4());
            @if let Some(deal) = deal {
                input type="hidden" name="deal" value=(deal.id);
                @if let Some(contact) = deal.contact { input type="hidden" name="contact" value=(contact); }
                @if let Some(company) = deal.company { input type="hidden" name="company" value=(company); }
            } @else {
                (layout::select("log-deal", "deal", &t(lang, "field-deal"), &deal_options, None, false))
            }
            (layout::select("log-kind", "kind", &t(lang, "field-kind"), &kinds, Some("call"), true))
            (layout::select("log-status", "status", &t(lang, "field-status"), &statuses, Some("done"), true))
            (layout::select("log-direction", "direction", &t(lang, "field-direction"), &directions, Some("outgoing"), true))
            (layout::select("log-call-outcome", "call_outcome", &t(lang, "field-call-outcome"), &layout::dictionary_options(dictionaries, names::CALL_OUTCOME, lang), None, false))
            (layout::select("log-meeting-outcome", "meeting_outcome", &t(lang, "field-meeting-outcome"), &layout::dictionary_options(dictionaries, names::MEETING_OUTCOME, lang), None, false))
            (layout::text_input("log-subject", "subject", &t(lang, "field-subject"), "", false))
            (layout::text_input("log-result", "result", &t(lang, "field-result"), "", false))
            div.field {
                label for="log-when" { (t(lang, "field-when")) }
                input #log-when type="datetime-local" name="when" value=(now);
            }
            div.actions { button.primary type="submit" { (t(lang, "activity-save")) } }
        }
    }
}

/// Answers a refused activity form on the page it came from.
async fn refuse(
    crm: &Crm,
    reports: &Reports,
    signed: &Signed,
    back: &str,
    refusal: Refusal,
) -> Result<Response, WebError> {
    if let Some(deal) = back
        .strip_prefix("/deals/")
        .and_then(|rest| uuid::Uuid::parse_str(rest.split(['?', '#']).next().unwrap_or("")).ok())
    {
        return render_card(
            crm,
            signed,
            DealId::from_uuid(deal),
            None,
            None,
            Some(CardNotice {
                refusal,
                stage: None,
            }),
        )
        .await;
    }
    render(crm, reports, signed, None, Some(&refusal)).await
}

pub async fn log_activity(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let back = safe_next(form.text("back").as_deref());
        let kind = form.text("kind").unwrap_or_default();
        let status = form.text("status").unwrap_or_else(|| "done".into());
        let when = form
            .text("when")
            .and_then(|w| local_to_rfc3339(&signed.viewer, &w))
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339());
        let done = status == "done";
        let outcome = match kind.as_str() {
            "call" => form.text("call_outcome"),
            "meeting" => form.text("meeting_outcome"),
            _ => None,
        };
        let input = NewActivity {
            status: Some(status.clone()),
            kind: kind.clone(),
            direction: (kind == "call").then(|| form.text("direction")).flatten(),
            channel: None,
            subject: form.text("subject"),
            planned_start: Some(when.clone()),
            due_at: (!done).then(|| when.clone()),
            responsible: None,
            deal: form.text("deal"),
            contact: form.text("contact"),
            company: form.text("company"),
            outcome: if done { outcome } else { None },
            result: if done { form.text("result") } else { None },
        };
        let id = form
            .text("nonce")
            .and_then(|n| uuid::Uuid::parse_str(&n).ok())
            .unwrap_or_else(uuid::Uuid::now_v7);
        match crm
            .create_activity(&signed.caller, ActivityId::from_uuid(id), input, None)
            .await
        {
            Ok(written) => Ok(see_other(&with_position(&back, written.position))),
            Err(voronka_app::crm::AppError::AlreadyExists) => Ok(see_other(&back)),
            Err(error) => {
                refuse(
                    crm,
                    &gateway.reports,
                    &signed,
                    &back,
                    Refusal::from_app(lang, error)?,
                )
                .await
            }
        }
    }
    .await;
    page_result(lang, result)
}

pub async fn complete(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = ActivityId::from_uuid(path_uuid(&id)?);
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let back = safe_next(form.text("back").as_deref());
        let completion = ActivityCompletion {
            outcome: form.text("outcome"),
            result: form.text("result"),
            expected_version: form.text("expected_version").and_then(|v| v.parse().ok()),
        };
        match crm
            .complete_activity(&signed.caller, id, completion, None)
            .await
        {
            Ok(written) => Ok(see_other(&with_position(&back, written.position))),
            Err(error) => {
                refuse(
                    crm,
                    &gateway.reports,
                    &signed,
                    &back,
                    Refusal::from_app(lang, error)?,
                )
                .await
            }
        }
    }
    .await;
    page_result(lang, result)
}
