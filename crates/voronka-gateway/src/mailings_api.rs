//! `/api/v1/segments` and `/api/v1/mailings`: saved segments of contacts,
//! their recipients, and mailings sent by e-mail (right `send_mailings`);
//! `/unsubscribe/{token}`: the public page an unsubscribe link opens (a
//! button that POSTs back; mail clients' one-click POST lands there too).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{html, DOCTYPE};
use serde::Serialize;
use voronka_app::crm::AppError;
use voronka_app::mailings::{MailingView, Recipient, RecipientsPreview, SegmentView};
use voronka_crm::mailing::{
    MailingId, MailingInput, MailingOutcome, MailingStatus, SegmentFilter, SegmentId, SegmentInput,
};

use crate::api::{app_problem, changed, ok, path_id, read_json, respond, Auth};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/segments", get(segments).post(create_segment))
        .route(
            "/api/v1/segments/{id}",
            axum::routing::put(replace_segment).delete(delete_segment),
        )
        .route("/api/v1/segments/{id}/recipients", get(recipients))
        .route("/api/v1/mailings", get(mailings).post(create_mailing))
        .route("/api/v1/mailings/{id}", get(mailing))
        .route("/api/v1/mailings/{id}/send", post(send))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
}

#[derive(Serialize, utoipa::ToSchema)]
struct SegmentList {
    items: Vec<SegmentView>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct MailingList {
    items: Vec<MailingView>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SavedSegment {
    #[serde(flatten)]
    segment: SegmentView,
    version: u64,
    position: u64,
}

/// Saves a segment: a named filter over contacts (`q`, `responsible`,
/// `company`) and their companies (`industry`, `company_segment`). 422
/// naming the field for an empty name or an unknown dictionary value.
#[utoipa::path(post, path = "/api/v1/segments", tag = "mailings",
    request_body = SegmentInput,
    responses((status = 201, body = SavedSegment), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn create_segment(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    body: Body,
) -> Response {
    respond(
        async {
            let input: SegmentInput = read_json(body).await?;
            let (segment, written) = gateway
                .mailings
                .save_segment(&caller, None, input)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(
                (
                    StatusCode::CREATED,
                    Json(SavedSegment {
                        segment,
                        version: written.version,
                        position: written.position,
                    }),
                )
                    .into_response(),
            )
        }
        .await,
    )
}

/// Replaces a segment's name and filter.
#[utoipa::path(put, path = "/api/v1/segments/{id}", tag = "mailings",
    params(("id" = String, Path, format = Uuid)),
    request_body = SegmentInput,
    responses((status = 200, body = SavedSegment), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
async fn replace_segment(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    respond(
        async {
            let id = SegmentId::from_uuid(path_id(&id)?);
            let input: SegmentInput = read_json(body).await?;
            let (segment, written) = gateway
                .mailings
                .save_segment(&caller, Some(id), input)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(SavedSegment {
                segment,
                version: written.version,
                position: written.position,
            }))
        }
        .await,
    )
}

#[utoipa::path(delete, path = "/api/v1/segments/{id}", tag = "mailings",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn delete_segment(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = SegmentId::from_uuid(path_id(&id)?);
            let written = gateway
                .mailings
                .delete_segment(&caller, id)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

#[utoipa::path(get, path = "/api/v1/segments", tag = "mailings",
    responses((status = 200, body = SegmentList), (status = 403)),
    security(("bearer" = [])))]
async fn segments(State(gateway): State<Gateway>, Auth(caller): Auth) -> Response {
    respond(
        async {
            let items = gateway
                .mailings
                .segments(&caller)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(SegmentList { items }))
        }
        .await,
    )
}

/// Whom the segment reaches now: contacts the caller sees, with consent
/// to mailings and an e-mail (the total and the first 200).
#[utoipa::path(get, path = "/api/v1/segments/{id}/recipients", tag = "mailings",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = RecipientsPreview), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn recipients(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = SegmentId::from_uuid(path_id(&id)?);
            let preview = gateway
                .mailings
                .preview(&caller, id)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(preview))
        }
        .await,
    )
}

/// Creates a draft mailing: `subject`, a plain-text `body` with
/// placeholders (`{{name}}`, `{{surname}}`, `{{full_name}}`,
/// `{{company}}`, `{{unsubscribe_url}}`) and a `segment`.
#[utoipa::path(post, path = "/api/v1/mailings", tag = "mailings",
    request_body = MailingInput,
    responses((status = 201, body = MailingView), (status = 403),
        (status = 422, description = "`subject`, `body` (unknown placeholder) or `segment`")),
    security(("bearer" = [])))]
async fn create_mailing(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    body: Body,
) -> Response {
    respond(
        async {
            let input: MailingInput = read_json(body).await?;
            let (view, _) = gateway
                .mailings
                .create(&caller, input)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>((StatusCode::CREATED, Json(view)).into_response())
        }
        .await,
    )
}

#[utoipa::path(get, path = "/api/v1/mailings", tag = "mailings",
    responses((status = 200, body = MailingList), (status = 403)),
    security(("bearer" = [])))]
async fn mailings(State(gateway): State<Gateway>, Auth(caller): Auth) -> Response {
    respond(
        async {
            let items = gateway.mailings.list(&caller).await.map_err(app_problem)?;
            Ok::<Response, Problem>(ok(MailingList { items }))
        }
        .await,
    )
}

/// A mailing with its progress (sent, skipped, failed).
#[utoipa::path(get, path = "/api/v1/mailings/{id}", tag = "mailings",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = MailingView), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn mailing(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = MailingId::from_uuid(path_id(&id)?);
            let view = gateway
                .mailings
                .get(&caller, id)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(view))
        }
        .await,
    )
}

/// Starts sending to the segment's recipients as the caller sees them now
/// (202; progress in `GET /api/v1/mailings/{id}`). 422 when already sent or
/// nobody qualifies; 503 `mail_not_configured` without SMTP.
#[utoipa::path(post, path = "/api/v1/mailings/{id}/send", tag = "mailings",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 202), (status = 403), (status = 404), (status = 422), (status = 503)),
    security(("bearer" = [])))]
async fn send(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = MailingId::from_uuid(path_id(&id)?);
            let written = gateway
                .mailings
                .send(&caller, id)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>((StatusCode::ACCEPTED, Json(written)).into_response())
        }
        .await,
    )
}

/// A small page in both languages (the reader has no session).
fn unsubscribe_html(token: &str, done: bool) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="ru" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { "Отписка / Unsubscribe" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                main.unsubscribe {
                    @if done {
                        h1 { "Вы отписаны от рассылок" }
                        p lang="en" { "You are unsubscribed from our mailings." }
                    } @else {
                        h1 { "Отписаться от рассылок?" }
                        p lang="en" { "Unsubscribe from our mailings?" }
                        form method="post" action={ "/unsubscribe/" (token) } {
                            button type="submit" { "Отписаться / Unsubscribe" }
                        }
                    }
                }
            }
        }
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

fn unknown_link() -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="ru" {
            head { meta charset="utf-8"; title { "Ссылка недействительна / Invalid link" } }
            body { main { h1 { "Ссылка недействительна" } p lang="en" { "This link is not valid." } } }
        }
    };
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// Shows the confirmation button; following a link changes nothing by
/// itself (mail scanners open links).
async fn unsubscribe_page(Path(token): Path<String>) -> Response {
    if token.len() != 96 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return unknown_link();
    }
    unsubscribe_html(&token, false)
}

/// Unsubscribes (the page's button, or a mail client's RFC 8058 one-click
/// POST). A forged or unknown token is a 404 page; a repeat is fine.
async fn unsubscribe(State(gateway): State<Gateway>, Path(token): Path<String>) -> Response {
    match gateway.mailings.unsubscribe(&token).await {
        Ok(()) => unsubscribe_html(&token, true),
        Err(AppError::NotFound) => unknown_link(),
        Err(error) => app_problem(error).into_response(),
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        create_segment,
        replace_segment,
        delete_segment,
        segments,
        recipients,
        create_mailing,
        mailings,
        mailing,
        send
    ),
    components(schemas(
        SegmentInput,
        SegmentFilter,
        SegmentView,
        SavedSegment,
        SegmentList,
        Recipient,
        RecipientsPreview,
        MailingInput,
        MailingView,
        MailingStatus,
        MailingOutcome,
        MailingList
    ))
)]
pub(crate) struct MailingsApi;
