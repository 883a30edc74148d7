//! `/api/v1/webhooks`: outgoing webhook subscriptions (administrators).
//! Create (the signing secret is in the 201 answer only), list, read,
//! pause/resume with `PATCH {"active": ...}`, delete, and the delivery log.
//! Delivery itself runs in `voronka-webhooks`; see the README for the
//! signature scheme.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use voronka_app::webhooks::{CreatedWebhook, WebhookView};
use voronka_crm::webhook::{WebhookFilter, WebhookId, WebhookInput};
use voronka_webhooks::DeliveryRecord;

use crate::api::{app_problem, no_store, ok, path_id, query, read_json, respond, Auth};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(subscribe))
        .route(
            "/api/v1/webhooks/{id}",
            get(read).patch(set_active).delete(delete),
        )
        .route("/api/v1/webhooks/{id}/deliveries", get(deliveries))
}

/// Pause or resume.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookPatch {
    /// `false` pauses delivery; `true` resumes it from where it stopped.
    active: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct WebhookList {
    items: Vec<WebhookView>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryList {
    items: Vec<DeliveryRecord>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    /// Rows to return, newest first (1 to 500; 50 by default).
    limit: Option<u32>,
}

/// Subscribes `url` to the events of `event_types` (stored event types:
/// `deal_started`, `deal_stage_changed`, `deal_field_set`, activity and
/// document events, ...), optionally only those of one process and/or
/// entering one stage. The answer carries the signing `secret`, shown this
/// once. 422 naming the field for a bad URL or an unknown event type.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = WebhookInput,
    responses((status = 201, body = CreatedWebhook), (status = 403),
        (status = 422, description = "`url`, `event_types[i]` or `filter.*` invalid")),
    security(("bearer" = [])))]
async fn subscribe(State(gateway): State<Gateway>, Auth(caller): Auth, body: Body) -> Response {
    respond(
        async {
            let input: WebhookInput = read_json(body).await?;
            let created = gateway
                .webhooks
                .subscribe(&caller, input)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(
                (StatusCode::CREATED, Json(created)).into_response(),
            ))
        }
        .await,
    )
}

/// Every subscription, without secrets.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 403)),
    security(("bearer" = [])))]
async fn list(State(gateway): State<Gateway>, Auth(caller): Auth) -> Response {
    respond(
        async {
            let items = gateway.webhooks.list(&caller).await.map_err(app_problem)?;
            Ok::<Response, Problem>(ok(WebhookList { items }))
        }
        .await,
    )
}

/// One subscription, without its secret.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = WebhookView), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn read(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = WebhookId::from_uuid(path_id(&id)?);
            let view = gateway
                .webhooks
                .get(&caller, id)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(view))
        }
        .await,
    )
}

/// Pauses (`{"active": false}`) or resumes (`{"active": true}`) delivery.
/// A resumed subscription continues from the event it stopped at, its
/// failure count cleared.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)), request_body = WebhookPatch,
    responses((status = 200, body = WebhookView), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn set_active(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    respond(
        async {
            let id = WebhookId::from_uuid(path_id(&id)?);
            let patch: WebhookPatch = read_json(body).await?;
            let view = gateway
                .webhooks
                .set_active(&caller, id, patch.active)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(view))
        }
        .await,
    )
}

/// Deletes a subscription; nothing more is delivered to it.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn delete(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = WebhookId::from_uuid(path_id(&id)?);
            gateway
                .webhooks
                .delete(&caller, id)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

/// The delivery log, newest first: every attempt with the event's position
/// and type, the attempt number, the receiver's status or the error, the
/// duration and the time.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, format = Uuid), DeliveriesQuery),
    responses((status = 200, body = DeliveryList), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn deliveries(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = WebhookId::from_uuid(path_id(&id)?);
            let asked: DeliveriesQuery = query(&raw)?;
            let items = gateway
                .webhooks
                .deliveries(&caller, id, asked.limit)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(DeliveryList { items }))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(subscribe, list, read, set_active, delete, deliveries),
    components(schemas(
        WebhookInput,
        WebhookFilter,
        WebhookPatch,
        WebhookView,
        CreatedWebhook,
        WebhookList,
        DeliveryRecord,
        DeliveryList
    ))
)]
pub(crate) struct WebhooksApi;
