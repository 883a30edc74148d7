//! Mailing pages: segments (create with their filter, preview whom they
//! reach now, delete) and mailings (create a subject and a body template,
//! whose unknown placeholders come back beside the text; send; see the
//! progress, polled by `integrations.js`, and the outcome).
//!
//! Everything goes through `voronka_app::mailings::Mailings`, as
//! `/api/v1/segments` and `/api/v1/mailings` do, so the right is the same
//! (`send_mailings`) and recipients are the contacts the sender may see.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use voronka_app::access::{Action, UserId};
use voronka_app::crm::AppError;
use voronka_app::mailings::{MailingView, SegmentView};
use voronka_crm::dictionaries::names;
use voronka_crm::mailing::{
    MailingId, MailingInput, MailingStatus, SegmentFilter, SegmentId, SegmentInput,
};

use super::forms::Form;
use super::i18n::Lang;
use super::layout::{self, csrf, t, ta, Nav};
use super::session::Signed;
use super::{html_response, page_result, path_uuid, see_other, Refusal, WebError};
use crate::Gateway;

/// The routes of these pages.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/mailings", get(index).post(create_mailing))
        .route("/mailings/segments", post(create_segment))
        .route("/mailings/segments/{id}", get(segment_page))
        .route("/mailings/segments/{id}/delete", post(delete_segment))
        .route("/mailings/{id}", get(mailing_page))
        .route("/mailings/{id}/send", post(send))
}

#[derive(Debug, Default, serde::Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

fn status_title(lang: Lang, status: MailingStatus) -> String {
    t(
        lang,
        match status {
            MailingStatus::Draft => "mail-status-draft",
            MailingStatus::Sending => "mail-status-sending",
            MailingStatus::Finished => "mail-status-finished",
        },
    )
}

/// Which form a refusal belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Segment,
    Mailing,
}

async fn index(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<DoneQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let markup = index_page(
            &gateway,
            &signed,
            &Form::default(),
            None,
            query.done.as_deref(),
        )
        .await?;
        Ok(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

fn filter_summary(
    lang: Lang,
    gateway: &Gateway,
    signed: &Signed,
    filter: &SegmentFilter,
) -> String {
    let dictionaries = gateway.crm.dictionaries();
    let mut parts = Vec::new();
    if let Some(q) = &filter.q {
        parts.push(format!("{}: «{q}»", t(lang, "mail-filter-q")));
    }
    if let Some(responsible) = filter.responsible {
        let name = signed
            .caller
            .access
            .users
            .get(&responsible)
            .map_or_else(|| responsible.to_string(), |u| u.display_name.clone());
        parts.push(format!("{}: {name}", t(lang, "field-responsible")));
    }
    if let Some(industry) = &filter.industry {
        parts.push(format!(
            "{}: {}",
            t(lang, "field-industry"),
            layout::dictionary_title(dictionaries, names::INDUSTRY, industry, lang)
        ));
    }
    if let Some(segment) = &filter.company_segment {
        parts.push(format!(
            "{}: {}",
            t(lang, "field-segment"),
            layout::dictionary_title(dictionaries, names::SEGMENT, segment, lang)
        ));
    }
    if parts.is_empty() {
        t(lang, "mail-filter-all")
    } else {
        parts.join(" · ")
    }
}

async fn index_page(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    refusal: Option<(Which, &Refusal)>,
    done: Option<&str>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let mailings = &gateway.mailings;
    let segments = mailings.segments(&signed.caller).await?;
    let list = mailings.list(&signed.caller).await?;
    let segment_names: BTreeMap<SegmentId, String> =
        segments.iter().map(|s| (s.id, s.name.clone())).collect();
    let segment_options: Vec<(String, String)> = segments
        .iter()
        .map(|s| (s.id.to_string(), s.name.clone()))
        .collect();
    let reach = signed.caller.reach(Action::SeeContactPersonalData);
    let mut users: Vec<(String, String)> = signed
        .caller
        .access
        .users
        .values()
        .filter(|u| u.active && reach.includes(u.id))
        .map(|u| (u.id.to_string(), u.display_name.clone()))
        .collect();
    users.sort_by(|a, b| a.1.cmp(&b.1));
    let dictionaries = gateway.crm.dictionaries();
    let refusal_for = |which: Which| {
        refusal
            .filter(|(w, _)| *w == which)
            .map(|(_, refusal)| refusal)
    };
    let body = html! {
        @if let Some(done) = done {
            @let key = format!("mail-done-{done}");
            @if super::i18n::has_message(lang, &key) { p.ok role="status" { (t(lang, &key)) } }
        }
        section #mailings {
            h2 { (t(lang, "mail-mailings")) span.count { (list.len()) } }
            @if list.is_empty() {
                p.muted { (t(lang, "mail-mailings-none")) }
            } @else {
                ul.list.int-mailings {
                    @for mailing in &list {
                        li data-status=(status_key(mailing.status)) {
                            a href={ "/mailings/" (mailing.id) } { (mailing.subject) }
                            " " span.muted { (segment_names.get(&mailing.segment).cloned().unwrap_or_default()) }
                            " · " (status_title(lang, mailing.status))
                            @if mailing.status != MailingStatus::Draft {
                                " · " (progress_text(lang, mailing))
                            }
                        }
                    }
                }
            }
            h2 { (t(lang, "mail-new")) }
            @if let Some(refusal) = refusal_for(Which::Mailing) { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
            @if segments.is_empty() {
                p.muted { (t(lang, "mail-needs-segment")) }
            } @else {
                form.card #mailing-form method="post" action="/mailings" {
                    (csrf(viewer))
                    (layout::text_input("m-subject", "subject", &t(lang, "field-subject"), &form.echo("subject"), true))
                    div.field {
                        label for="m-body" { (t(lang, "mail-body")) " *" }
                        textarea #m-body name="body" rows="8" required aria-describedby="m-body-hint" { (form.echo("body")) }
                        span.muted #m-body-hint { (t(lang, "mail-body-hint")) " " code { "{{name}} {{surname}} {{full_name}} {{company}} {{unsubscribe_url}}" } }
                    }
                    (layout::select("m-segment", "segment", &t(lang, "mail-segment"), &segment_options, form.text("segment").as_deref(), true))
                    div.actions { button.primary type="submit" { (t(lang, "mail-create")) } }
                }
            }
        }
        section #segments {
            h2 { (t(lang, "mail-segments")) span.count { (segments.len()) } }
            @if segments.is_empty() {
                p.muted { (t(lang, "mail-segments-none")) }
            } @else {
                ul.list.int-segments {
                    @for segment in &segments {
                        (segment_item(lang, gateway, signed, segment))
                    }
                }
            }
            h2 { (t(lang, "mail-segment-new")) }
            @if let Some(refusal) = refusal_for(Which::Segment) { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
            form.card.grid #segment-form method="post" action="/mailings/segments" {
                (csrf(viewer))
                (layout::text_input("s-name", "name", &t(lang, "mail-segment-name"), &form.echo("name"), true))
                (layout::text_input("s-q", "q", &t(lang, "mail-filter-q"), &form.echo("q"), false))
                (layout::select("s-responsible", "responsible", &t(lang, "field-responsible"), &users, form.text("responsible").as_deref(), false))
                (layout::select("s-industry", "industry", &t(lang, "field-industry"), &layout::dictionary_options(dictionaries, names::INDUSTRY, lang), form.text("industry").as_deref(), false))
                (layout::select("s-company-segment", "company_segment", &t(lang, "field-segment"), &layout::dictionary_options(dictionaries, names::SEGMENT, lang), form.text("company_segment").as_deref(), false))
                div.actions { button.primary type="submit" { (t(lang, "mail-segment-create")) } }
            }
        }
    };
    Ok(layout::page(
        signed,
        &t(lang, "mail-title"),
        Nav::Integrations,
        body,
    ))
}

fn status_key(status: MailingStatus) -> &'static str {
    match status {
        MailingStatus::Draft => "draft",
        MailingStatus::Sending => "sending",
        MailingStatus::Finished => "finished",
    }
}

fn progress_text(lang: Lang, mailing: &MailingView) -> String {
    ta(
        lang,
        "mail-progress",
        &[
            ("sent", mailing.progress.sent.to_string()),
            ("skipped", mailing.progress.skipped.to_string()),
            ("failed", mailing.progress.failed.to_string()),
            ("total", mailing.recipients.to_string()),
        ],
    )
}

fn segment_item(lang: Lang, gateway: &Gateway, signed: &Signed, segment: &SegmentView) -> Markup {
    html! {
        li data-segment=(segment.id) {
            a href={ "/mailings/segments/" (segment.id) } { (segment.name) }
            div.muted { (filter_summary(lang, gateway, signed, &segment.filter)) }
        }
    }
}

/// The segment a form describes.
fn segment_input(form: &Form) -> Result<SegmentInput, String> {
    let responsible = match form.text("responsible") {
        None => None,
        Some(text) => Some(UserId::from_uuid(
            uuid::Uuid::parse_str(&text).map_err(|_| "responsible".to_owned())?,
        )),
    };
    Ok(SegmentInput {
        name: form.text("name").unwrap_or_default(),
        filter: SegmentFilter {
            q: form.text("q"),
            responsible,
            company: None,
            industry: form.text("industry"),
            company_segment: form.text("company_segment"),
        },
    })
}

async fn again(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    which: Which,
    refusal: Refusal,
) -> Result<Response, WebError> {
    let markup = index_page(gateway, signed, form, Some((which, &refusal)), None).await?;
    Ok(html_response(refusal.status_code(), markup))
}

async fn create_segment(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let input = match segment_input(&form) {
            Ok(input) => input,
            Err(field) => {
                let refusal = Refusal::message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ta(
                        lang,
                        "mail-error-unknown",
                        &[("field", t(lang, &format!("field-{field}")))],
                    ),
                );
                return again(&gateway, &signed, &form, Which::Segment, refusal).await;
            }
        };
        match gateway
            .mailings
            .save_segment(&signed.caller, None, input)
            .await
        {
            Ok((segment, _)) => Ok(see_other(&format!("/mailings/segments/{}", segment.id))),
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                again(&gateway, &signed, &form, Which::Segment, refusal).await
            }
        }
    }
    .await;
    page_result(lang, result)
}

async fn segment_page(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let lang = signed.viewer.lang;
    let viewer = &signed.viewer;
    let result = async {
        let id = SegmentId::from_uuid(path_uuid(&id)?);
        let segments = gateway.mailings.segments(&signed.caller).await?;
        let segment = segments
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(WebError::NotFound)?;
        let preview = gateway.mailings.preview(&signed.caller, id).await?;
        let body = html! {
            p { a href="/mailings" { (t(lang, "mail-back")) } }
            p.muted { (filter_summary(lang, &gateway, &signed, &segment.filter)) }
            h2 #recipients { (ta(lang, "mail-recipients", &[("count", preview.total.to_string())])) }
            @if preview.items.is_empty() {
                p.muted { (t(lang, "mail-recipients-none")) }
            } @else {
                div.int-table-wrap {
                    table.int-table #recipient-list {
                        thead { tr {
                            th scope="col" { (t(lang, "field-name")) }
                            th scope="col" { (t(lang, "field-email")) }
                            th scope="col" { (t(lang, "field-company")) }
                        } }
                        tbody {
                            @for recipient in &preview.items {
                                tr {
                                    td { a href={ "/contacts/" (recipient.contact) } { (recipient.full_name) } }
                                    td { (recipient.email) }
                                    td { (recipient.company.clone().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
                @if preview.total > preview.items.len() {
                    p.muted { (ta(lang, "mail-recipients-more", &[("count", (preview.total - preview.items.len()).to_string())])) }
                }
            }
            form.inline method="post" action={ "/mailings/segments/" (segment.id) "/delete" } {
                (csrf(viewer))
                button.danger type="submit" { (t(lang, "mail-segment-delete")) }
            }
        };
        let title = ta(lang, "mail-segment-title", &[("name", segment.name.clone())]);
        Ok(html_response(
            StatusCode::OK,
            layout::page(&signed, &title, Nav::Integrations, body),
        ))
    }
    .await;
    page_result(lang, result)
}

async fn delete_segment(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        Form::read(&signed.viewer, body).await?;
        let id = SegmentId::from_uuid(path_uuid(&id)?);
        gateway.mailings.delete_segment(&signed.caller, id).await?;
        Ok(see_other("/mailings?done=segment-deleted"))
    }
    .await;
    page_result(lang, result)
}

async fn create_mailing(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let segment = form
            .text("segment")
            .and_then(|text| uuid::Uuid::parse_str(&text).ok())
            .map(SegmentId::from_uuid);
        let input = MailingInput {
            subject: form.text("subject").unwrap_or_default(),
            body: form.raw("body").unwrap_or_default(),
            segment,
        };
        match gateway.mailings.create(&signed.caller, input).await {
            Ok((view, _)) => Ok(see_other(&format!("/mailings/{}", view.id))),
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                again(&gateway, &signed, &form, Which::Mailing, refusal).await
            }
        }
    }
    .await;
    page_result(lang, result)
}

async fn mailing_page(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = MailingId::from_uuid(path_uuid(&id)?);
        let markup = mailing_markup(&gateway, &signed, id, None).await?;
        Ok(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

async fn mailing_markup(
    gateway: &Gateway,
    signed: &Signed,
    id: MailingId,
    refusal: Option<&Refusal>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let mailing = gateway.mailings.get(&signed.caller, id).await?;
    let segment = gateway
        .mailings
        .segments(&signed.caller)
        .await?
        .into_iter()
        .find(|s| s.id == mailing.segment);
    let sending = mailing.status == MailingStatus::Sending;
    let body = html! {
        p { a href="/mailings" { (t(lang, "mail-back")) } }
        @if let Some(refusal) = refusal { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
        div #mailing data-poll=[sending.then_some("1000")] data-status=(status_key(mailing.status)) {
            dl.facts {
                dt { (t(lang, "mail-segment")) }
                dd {
                    @match &segment {
                        Some(segment) => a href={ "/mailings/segments/" (segment.id) } { (segment.name) },
                        None => span.muted { (t(lang, "mail-segment-deleted")) },
                    }
                }
                dt { (t(lang, "imp-status")) } dd.int-status role="status" aria-live="polite" { (status_title(lang, mailing.status)) }
                @if mailing.status != MailingStatus::Draft {
                    dt { (t(lang, "mail-outcome")) } dd #mailing-progress { (progress_text(lang, &mailing)) }
                }
            }
            @if sending {
                progress max=(mailing.recipients.max(1)) value=(mailing.progress.sent + mailing.progress.skipped + mailing.progress.failed) aria-label=(t(lang, "imp-progress")) {}
                noscript { p { a href=(viewer.path) { (t(lang, "imp-refresh")) } } }
            }
            @if mailing.status == MailingStatus::Draft {
                form.inline method="post" action={ "/mailings/" (mailing.id) "/send" } {
                    (csrf(viewer))
                    button.primary type="submit" { (t(lang, "mail-send")) }
                }
            }
        }
        h2 { (t(lang, "mail-body")) }
        pre.int-body { (mailing.body) }
    };
    Ok(layout::page(
        signed,
        &mailing.subject,
        Nav::Integrations,
        body,
    ))
}

async fn send(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        Form::read(&signed.viewer, body).await?;
        let id = MailingId::from_uuid(path_uuid(&id)?);
        let refusal = match gateway.mailings.send(&signed.caller, id).await {
            Ok(_) => return Ok(see_other(&format!("/mailings/{id}"))),
            // No SMTP on this server: said beside the button, not an error page.
            Err(AppError::Unavailable { .. }) => Refusal::message(
                StatusCode::SERVICE_UNAVAILABLE,
                t(lang, "mail-error-no-smtp"),
            ),
            Err(error) => Refusal::from_app(lang, error)?,
        };
        let markup = mailing_markup(&gateway, &signed, id, Some(&refusal)).await?;
        Ok(html_response(refusal.status_code(), markup))
    }
    .await;
    page_result(lang, result)
}
