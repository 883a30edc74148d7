//! Webhook pages (right `manage_webhooks`): subscriptions (create with the
//! event types and a process/stage filter; the signing secret is shown
//! once, on the answer to the form, never in a URL), pause/resume, delete,
//! and each subscription's delivery log.
//!
//! Everything goes through `voronka_app::webhooks::Webhooks`, as
//! `/api/v1/webhooks` does.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use voronka_app::crm::AppError;
use voronka_app::webhooks::WebhookView;
use voronka_crm::webhook::{WebhookFilter, WebhookId, WebhookInput, DELIVERABLE_EVENT_TYPES};

use super::forms::Form;
use super::i18n::Lang;
use super::layout::{self, csrf, t, ta, Nav};
use super::session::Signed;
use super::{html_response, page_result, path_uuid, see_other, Refusal, WebError};
use crate::Gateway;

/// The routes of these pages.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/integrations/webhooks", get(index).post(create))
        .route("/integrations/webhooks/{id}", get(webhook_page))
        .route("/integrations/webhooks/{id}/active", post(set_active))
        .route("/integrations/webhooks/{id}/delete", post(delete))
}

async fn index(State(gateway): State<Gateway>, signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let markup = index_page(&gateway, &signed, &Form::default(), None, None).await?;
        Ok(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

fn state_text(lang: Lang, view: &WebhookView) -> String {
    if view.active {
        t(lang, "wh-active")
    } else if view.paused_reason.as_deref() == Some("too_many_failures") {
        t(lang, "wh-paused-failures")
    } else {
        t(lang, "wh-paused")
    }
}

async fn index_page(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    refusal: Option<&Refusal>,
    created: Option<(&WebhookView, &str)>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let hooks = gateway.webhooks.list(&signed.caller).await?;
    let chosen: Vec<String> = form
        .with_prefix("event.")
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    let body = html! {
        @if let Some((view, secret)) = created {
            div.card #created role="status" {
                p.ok { (ta(lang, "wh-created", &[("url", view.url.clone())])) }
                p { (t(lang, "wh-secret-once")) }
                pre.int-body { code #secret { (secret) } }
            }
        }
        section {
            h2 { (t(lang, "wh-list")) span.count { (hooks.len()) } }
            @if hooks.is_empty() {
                p.muted { (t(lang, "wh-none")) }
            } @else {
                ul.list.int-webhooks {
                    @for hook in &hooks {
                        li data-webhook=(hook.id) data-active=(hook.active) {
                            a href={ "/integrations/webhooks/" (hook.id) } { (hook.url) }
                            " · " (state_text(lang, hook))
                            div.muted { (hook.event_types.join(", ")) }
                            @if let Some(description) = &hook.description { div { (description) } }
                        }
                    }
                }
            }
        }
        section {
            h2 { (t(lang, "wh-new")) }
            @if let Some(refusal) = refusal { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
            form.card.grid #webhook-form method="post" action="/integrations/webhooks" {
                (csrf(viewer))
                div.field {
                    label for="w-url" { (t(lang, "wh-url")) " *" }
                    input #w-url type="url" name="url" required placeholder="https://" value=(form.echo("url"));
                }
                (layout::text_input("w-description", "description", &t(lang, "wh-description"), &form.echo("description"), false))
                fieldset.int-mapping {
                    legend { (t(lang, "wh-events")) }
                    @for event in DELIVERABLE_EVENT_TYPES {
                        @let id = format!("w-event-{event}");
                        label.adm-check for=(id) {
                            input id=(id) type="checkbox" name={ "event." (event) } value="on" checked[chosen.iter().any(|c| c == *event)];
                            " " code { (event) }
                        }
                    }
                }
                (layout::text_input("w-process", "process", &t(lang, "wh-process"), &form.echo("process"), false))
                (layout::text_input("w-stage", "stage", &t(lang, "wh-stage"), &form.echo("stage"), false))
                div.actions { button.primary type="submit" { (t(lang, "wh-create")) } }
            }
        }
    };
    Ok(layout::page(
        signed,
        &t(lang, "wh-title"),
        Nav::Integrations,
        body,
    ))
}

/// The subscription a form describes.
fn webhook_input(form: &Form) -> WebhookInput {
    let event_types: Vec<String> = form
        .with_prefix("event.")
        .into_iter()
        .map(|(event, _)| event)
        .collect();
    let filter = WebhookFilter {
        process: form.text("process"),
        stage: form.text("stage"),
    };
    WebhookInput {
        url: form.text("url").unwrap_or_default(),
        event_types,
        filter: (!filter.is_empty()).then_some(filter),
        description: form.text("description"),
    }
}

async fn create(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        match gateway
            .webhooks
            .subscribe(&signed.caller, webhook_input(&form))
            .await
        {
            // The secret is shown in this answer only (no redirect to a URL
            // that would keep it).
            Ok(created) => {
                let markup = index_page(
                    &gateway,
                    &signed,
                    &Form::default(),
                    None,
                    Some((&created.webhook, &created.secret)),
                )
                .await?;
                Ok(html_response(StatusCode::CREATED, markup))
            }
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                let markup = index_page(&gateway, &signed, &form, Some(&refusal), None).await?;
                Ok(html_response(refusal.status_code(), markup))
            }
        }
    }
    .await;
    page_result(lang, result)
}

async fn webhook_page(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let lang = signed.viewer.lang;
    let viewer = &signed.viewer;
    let result = async {
        let id = WebhookId::from_uuid(path_uuid(&id)?);
        let view = gateway.webhooks.get(&signed.caller, id).await?;
        let deliveries = match gateway.webhooks.deliveries(&signed.caller, id, Some(100)).await {
            Ok(rows) => Some(rows),
            Err(AppError::Unavailable { .. }) => None,
            Err(error) => return Err(error.into()),
        };
        let body = html! {
            p { a href="/integrations/webhooks" { (t(lang, "wh-back")) } }
            dl.facts {
                dt { (t(lang, "wh-status")) } dd data-active=(view.active) { (state_text(lang, &view)) }
                dt { (t(lang, "wh-events")) } dd { (view.event_types.join(", ")) }
                @if let Some(process) = &view.filter.process { dt { (t(lang, "wh-process")) } dd { (process) } }
                @if let Some(stage) = &view.filter.stage { dt { (t(lang, "wh-stage")) } dd { (stage) } }
                @if let Some(description) = &view.description { dt { (t(lang, "wh-description")) } dd { (description) } }
            }
            div.actions {
                form.inline method="post" action={ "/integrations/webhooks/" (view.id) "/active" } {
                    (csrf(viewer))
                    @if view.active {
                        input type="hidden" name="active" value="false";
                        button type="submit" { (t(lang, "wh-pause")) }
                    } @else {
                        input type="hidden" name="active" value="true";
                        button.primary type="submit" { (t(lang, "wh-resume")) }
                    }
                }
                form.inline method="post" action={ "/integrations/webhooks/" (view.id) "/delete" } {
                    (csrf(viewer))
                    button.danger type="submit" { (t(lang, "wh-delete")) }
                }
            }
            h2 { (t(lang, "wh-deliveries")) }
            @match &deliveries {
                None => p.alert { (t(lang, "wh-deliveries-unavailable")) },
                Some(rows) if rows.is_empty() => p.muted { (t(lang, "wh-deliveries-none")) },
                Some(rows) => div.int-table-wrap {
                    table.int-table #deliveries {
                        thead { tr {
                            th scope="col" { (t(lang, "wh-at")) }
                            th scope="col" { (t(lang, "wh-event")) }
                            th scope="col" { (t(lang, "wh-attempt")) }
                            th scope="col" { (t(lang, "wh-answer")) }
                        } }
                        tbody {
                            @for row in rows {
                                tr data-success=(row.success) {
                                    td { (row.at.with_timezone(&viewer.zone).format("%Y-%m-%d %H:%M:%S")) }
                                    td { code { (row.event_type) } " #" (row.position) }
                                    td { (row.attempt) }
                                    td {
                                        @if let Some(status) = row.status { (status) " " }
                                        @if let Some(error) = &row.error { (error) " " }
                                        span.muted { (row.duration_ms) " ms" }
                                    }
                                }
                            }
                        }
                    }
                },
            }
        };
        let title = ta(lang, "wh-webhook-title", &[("url", view.url.clone())]);
        Ok(html_response(
            StatusCode::OK,
            layout::page(&signed, &title, Nav::Integrations, body),
        ))
    }
    .await;
    page_result(lang, result)
}

async fn set_active(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let id = WebhookId::from_uuid(path_uuid(&id)?);
        let active = form.text("active").as_deref() == Some("true");
        gateway
            .webhooks
            .set_active(&signed.caller, id, active)
            .await?;
        Ok(see_other(&format!("/integrations/webhooks/{id}")))
    }
    .await;
    page_result(lang, result)
}

async fn delete(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        Form::read(&signed.viewer, body).await?;
        let id = WebhookId::from_uuid(path_uuid(&id)?);
        gateway.webhooks.delete(&signed.caller, id).await?;
        Ok(see_other("/integrations/webhooks"))
    }
    .await;
    page_result(lang, result)
}
