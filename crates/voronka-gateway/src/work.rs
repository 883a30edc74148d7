//! `/api/v1` activities, documents, products and the timelines of those
//! and of deals.
//!
//! Creating an activity is one route for both cases: `POST /activities`
//! with `"status": "planned"` (the default) plans it; `"status": "done"`
//! logs one that already happened, with its `outcome` and `result`.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use voronka_app::crm::work::{
    ActivityCancellation, ActivityCompletion, ActivityLinks, ActivityQuery, ActivityReassignment,
    ActivityReschedule, ActivityView, DocumentLines, DocumentQuery, DocumentStatusChange,
    NewActivity, NewDocument, NewPayment,
};
use voronka_app::crm::{Caller, Written};
use voronka_core::{CommandId, Position};
use voronka_crm::document::{DocumentLine, DocumentLineInput, Payment, Totals};
use voronka_crm::product::{ProductInput, ProductPatch};
use voronka_crm::work_index::{DocumentRow, ProductFilter, ProductRow};
use voronka_crm::{
    ActivityId, CompanyId, ContactId, DealId, DocumentId, MoneyInput, ProductId, UserId,
};

use crate::api::{
    app_problem, changed, created, ok, path_id, query, read_json, respond, Auth, IdempotencyKey,
    Paging,
};
use crate::api::{change_record, create_record};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route(
            "/api/v1/activities",
            get(list_activities).post(create_activity),
        )
        .route("/api/v1/activities/{id}", get(read_activity))
        .route("/api/v1/activities/{id}/complete", post(complete_activity))
        .route("/api/v1/activities/{id}/cancel", post(cancel_activity))
        .route(
            "/api/v1/activities/{id}/reschedule",
            post(reschedule_activity),
        )
        .route("/api/v1/activities/{id}/reassign", post(reassign_activity))
        .route("/api/v1/activities/{id}/links", post(relink_activity))
        .route("/api/v1/activities/{id}/timeline", get(activity_timeline))
        .route(
            "/api/v1/deals/{id}/documents",
            get(list_deal_documents).post(create_document),
        )
        .route("/api/v1/deals/{id}/timeline", get(deal_timeline))
        .route("/api/v1/documents", get(list_documents))
        .route("/api/v1/documents/{id}", get(read_document))
        .route(
            "/api/v1/documents/{id}/status",
            post(change_document_status),
        )
        .route(
            "/api/v1/documents/{id}/lines",
            axum::routing::put(replace_document_lines),
        )
        .route("/api/v1/documents/{id}/payments", post(register_payment))
        .route("/api/v1/documents/{id}/timeline", get(document_timeline))
        .route("/api/v1/products", get(list_products).post(create_product))
        .route(
            "/api/v1/products/{id}",
            get(read_product).patch(update_product),
        )
        .route("/api/v1/products/{id}/archive", post(archive_product))
        .route("/api/v1/products/{id}/restore", post(restore_product))
        .route("/api/v1/products/{id}/timeline", get(product_timeline))
}

// ------------------------------------------------------------------ shared

/// A change of record `id` on `route` (e.g. `POST /activities/{id}/cancel`):
/// the command id of the client's `Idempotency-Key`, scoped to the record.
fn change_command(
    key: &IdempotencyKey,
    caller: &Caller,
    route: &str,
    id: uuid::Uuid,
) -> Option<CommandId> {
    key.command_id(caller, &route.replace("{id}", &id.to_string()))
}

/// One line of a timeline.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TimelineEntryBody {
    position: u64,
    #[schema(value_type = String, format = DateTime)]
    at: String,
    /// `{kind: user|system, id}`.
    #[schema(value_type = Object)]
    actor: serde_json::Value,
    /// The stored event type, e.g. `activity_completed`.
    event_type: String,
    /// `{kind, id}` of the record whose stream holds the event.
    #[schema(value_type = Object)]
    subject: serde_json::Value,
    /// The event's data as stored.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TimelinePage {
    items: Vec<TimelineEntryBody>,
    next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ActivityPage {
    items: Vec<ActivityView>,
    next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentPage {
    items: Vec<DocumentRow>,
    next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProductPage {
    items: Vec<ProductRow>,
    next_cursor: Option<String>,
}

/// Paging of a timeline.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// 1..=200, default 50.
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Answer once the timeline includes this position.
    min_position: Option<u64>,
}

/// What a timeline read needs: the record and the page asked for.
type TimelineRead = (
    uuid::Uuid,
    usize,
    Option<voronka_crm::Cursor>,
    Option<Position>,
);

fn timeline_read(id: &str, raw: &RawQuery) -> Result<TimelineRead, Problem> {
    let id = path_id(id)?;
    let params: TimelineQuery = query(raw)?;
    let (limit, cursor, min_position) =
        Paging::new(params.limit, params.cursor, params.min_position)
            .parse()
            .map_err(app_problem)?;
    Ok((id, limit, cursor, min_position))
}

// -------------------------------------------------------------- activities

/// Filters of the activity list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActivityListQuery {
    #[param(value_type = Option<String>, format = Uuid)]
    responsible: Option<uuid::Uuid>,
    #[param(value_type = Option<String>, format = Uuid)]
    deal: Option<uuid::Uuid>,
    #[param(value_type = Option<String>, format = Uuid)]
    contact: Option<uuid::Uuid>,
    #[param(value_type = Option<String>, format = Uuid)]
    company: Option<uuid::Uuid>,
    /// `call`, `meeting`, `email`, `task`, `message`.
    kind: Option<String>,
    /// `planned`, `done`, `cancelled`.
    status: Option<String>,
    /// RFC 3339: due strictly before.
    due_before: Option<String>,
    /// RFC 3339: due at or after.
    due_after: Option<String>,
    /// `true`: only planned activities past their due time now.
    overdue: Option<bool>,
    /// 1..=200, default 50.
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Answer once lists include this position (read your own writes).
    min_position: Option<u64>,
}

/// Lists the activities the caller sees, newest first.
#[utoipa::path(get, path = "/api/v1/activities", tag = "activities", params(ActivityListQuery),
    responses((status = 200, body = ActivityPage), (status = 400, description = "bad parameter"),
        (status = 422, description = "bad filter value"), (status = 401)),
    security(("bearer" = [])))]
async fn list_activities(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let params: ActivityListQuery = query(&raw)?;
            let (limit, cursor, min_position) =
                Paging::new(params.limit, params.cursor, params.min_position)
                    .parse()
                    .map_err(app_problem)?;
            let filter = ActivityQuery {
                responsible: params.responsible.map(UserId::from_uuid),
                deal: params.deal.map(DealId::from_uuid),
                contact: params.contact.map(ContactId::from_uuid),
                company: params.company.map(CompanyId::from_uuid),
                kind: params.kind,
                status: params.status,
                due_before: params.due_before,
                due_after: params.due_after,
                overdue: params.overdue.unwrap_or(false),
            };
            let page = gateway
                .crm
                .activities(&caller, &filter, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

/// Plans an activity (`status: "planned"`, the default) or logs one that
/// happened (`status: "done"`, with `outcome` and `result`). A meeting needs
/// a date, a contact and a subject; a call a direction; a task a subject and
/// a due time. Links must exist; the responsible must be within the
/// caller's reach.
#[utoipa::path(post, path = "/api/v1/activities", tag = "activities", request_body = NewActivity,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key creates nothing new and completes the deal's mirror")),
    responses((status = 201, body = Written), (status = 400), (status = 403),
        (status = 422, description = "invalid fields, every one in `errors`")),
    security(("bearer" = [])))]
async fn create_activity(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    create_record(
        &caller,
        "POST /activities",
        &headers,
        body,
        |id, input: NewActivity, command| {
            gateway
                .crm
                .create_activity(&caller, ActivityId::from_uuid(id), input, command)
        },
    )
    .await
}

/// One activity with `overdue`.
#[utoipa::path(get, path = "/api/v1/activities/{id}", tag = "activities",
    params(("id" = String, Path, format = Uuid), ("min_position" = Option<u64>, Query)),
    responses((status = 200, body = ActivityView), (status = 404)),
    security(("bearer" = [])))]
async fn read_activity(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = ActivityId::from_uuid(path_id(&id)?);
            let paging: Paging = query(&raw)?;
            let view = gateway
                .crm
                .activity(&caller, id, paging.min_position.map(Position))
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(view))
        }
        .await,
    )
}

/// Completes a planned activity: a call needs an `outcome`
/// (`wrong_number` alone suffices), a meeting a `result`.
#[utoipa::path(post, path = "/api/v1/activities/{id}/complete", tag = "activities",
    request_body = ActivityCompletion, params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404), (status = 409),
        (status = 422, description = "missing outcome or result; the activity is closed")),
    security(("bearer" = [])))]
async fn complete_activity(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "POST /activities/{id}/complete",
        &id,
        &headers,
        body,
        |id, input: ActivityCompletion, command| {
            gateway
                .crm
                .complete_activity(&caller, ActivityId::from_uuid(id), input, command)
        },
    )
    .await
}

/// Cancels a planned activity.
#[utoipa::path(post, path = "/api/v1/activities/{id}/cancel", tag = "activities",
    request_body = ActivityCancellation, params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn cancel_activity(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "POST /activities/{id}/cancel",
        &id,
        &headers,
        body,
        |id, input: ActivityCancellation, command| {
            gateway
                .crm
                .cancel_activity(&caller, ActivityId::from_uuid(id), input, command)
        },
    )
    .await
}

/// Moves a planned activity to a new due time (and start); counts the
/// moves in `reschedule_count`.
#[utoipa::path(post, path = "/api/v1/activities/{id}/reschedule", tag = "activities",
    request_body = ActivityReschedule, params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn reschedule_activity(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "POST /activities/{id}/reschedule",
        &id,
        &headers,
        body,
        |id, input: ActivityReschedule, command| {
            gateway
                .crm
                .reschedule_activity(&caller, ActivityId::from_uuid(id), input, command)
        },
    )
    .await
}

/// Hands an activity to another user (both within the caller's reach).
#[utoipa::path(post, path = "/api/v1/activities/{id}/reassign", tag = "activities",
    request_body = ActivityReassignment, params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn reassign_activity(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "POST /activities/{id}/reassign",
        &id,
        &headers,
        body,
        |id, input: ActivityReassignment, command| {
            gateway
                .crm
                .reassign_activity(&caller, ActivityId::from_uuid(id), input, command)
        },
    )
    .await
}

/// Sets an activity's deal, contact and company links (absent unlinks).
/// The deal it joins records it; the deal it leaves stops counting it.
#[utoipa::path(post, path = "/api/v1/activities/{id}/links", tag = "activities",
    request_body = ActivityLinks, params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn relink_activity(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "POST /activities/{id}/links",
        &id,
        &headers,
        body,
        |id, input: ActivityLinks, command| {
            gateway
                .crm
                .relink_activity(&caller, ActivityId::from_uuid(id), input, command)
        },
    )
    .await
}

/// Everything that happened to an activity, newest first.
#[utoipa::path(get, path = "/api/v1/activities/{id}/timeline", tag = "activities",
    params(("id" = String, Path, format = Uuid), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 404)),
    security(("bearer" = [])))]
async fn activity_timeline(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let (id, limit, cursor, min_position) = timeline_read(&id, &raw)?;
            let page = gateway
                .crm
                .activity_timeline(
                    &caller,
                    ActivityId::from_uuid(id),
                    cursor,
                    limit,
                    min_position,
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

// --------------------------------------------------------------- documents

/// Filters of the document lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DocumentListQuery {
    #[param(value_type = Option<String>, format = Uuid)]
    deal: Option<uuid::Uuid>,
    /// `proposal`, `contract`, `invoice`, `act`.
    kind: Option<String>,
    /// `draft`, `sent`, `signed`, `issued`, `paid`, `cancelled`.
    status: Option<String>,
    /// 1..=200, default 50.
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Answer once lists include this position (read your own writes).
    min_position: Option<u64>,
}

/// Lists the documents the caller sees, newest first.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", params(DocumentListQuery),
    responses((status = 200, body = DocumentPage), (status = 400), (status = 422)),
    security(("bearer" = [])))]
async fn list_documents(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let params: DocumentListQuery = query(&raw)?;
            let (limit, cursor, min_position) =
                Paging::new(params.limit, params.cursor, params.min_position)
                    .parse()
                    .map_err(app_problem)?;
            let filter = DocumentQuery {
                deal: params.deal.map(DealId::from_uuid),
                kind: params.kind,
                status: params.status,
            };
            let page = gateway
                .crm
                .documents(&caller, &filter, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

/// Lists a deal's documents (404 when the deal is not visible).
#[utoipa::path(get, path = "/api/v1/deals/{id}/documents", tag = "documents",
    params(("id" = String, Path, format = Uuid), DocumentListQuery),
    responses((status = 200, body = DocumentPage), (status = 404)),
    security(("bearer" = [])))]
async fn list_deal_documents(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let deal = DealId::from_uuid(path_id(&id)?);
            let params: DocumentListQuery = query(&raw)?;
            let (limit, cursor, min_position) =
                Paging::new(params.limit, params.cursor, params.min_position)
                    .parse()
                    .map_err(app_problem)?;
            let filter = DocumentQuery {
                deal: None,
                kind: params.kind,
                status: params.status,
            };
            let page = gateway
                .crm
                .deal_documents(&caller, deal, &filter, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

/// Creates a document of a kind on a deal. The deal's process decides
/// first: a refusal is 422 with every unmet requirement in `unmet`
/// (`document_not_allowed_in_stage`, `document_missing`, ...) and writes
/// nothing. The number is `PRO-/CON-/INV-/ACT-<year>-<sequence>`.
#[utoipa::path(post, path = "/api/v1/deals/{id}/documents", tag = "documents", request_body = NewDocument,
    params(("id" = String, Path, format = Uuid),
        ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key creates nothing new and completes a half-done create")),
    responses((status = 201, body = Written), (status = 400), (status = 403), (status = 404),
        (status = 422, description = "invalid lines, or the process refused (`unmet`)")),
    security(("bearer" = [])))]
async fn create_document(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let deal = DealId::from_uuid(path_id(&id)?);
            let key = IdempotencyKey::from_headers(&headers)?;
            let input: NewDocument = read_json(body).await?;
            let route = format!("POST /deals/{deal}/documents");
            let id = DocumentId::from_uuid(key.new_record_id(&caller, &route));
            let written = gateway
                .crm
                .create_document(&caller, deal, id, input)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(created(written))
        }
        .await,
    )
}

/// One document with its lines, totals and payments.
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path, format = Uuid), ("min_position" = Option<u64>, Query)),
    responses((status = 200, body = DocumentRow), (status = 404)),
    security(("bearer" = [])))]
async fn read_document(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = DocumentId::from_uuid(path_id(&id)?);
            let paging: Paging = query(&raw)?;
            let row = gateway
                .crm
                .document(&caller, id, paging.min_position.map(Position))
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(row))
        }
        .await,
    )
}

/// Changes a document's status: proposals, contracts and acts go draft ->
/// sent -> signed; invoices draft -> issued (`sent` is read as `issued`),
/// and become paid by payments only. Anything not paid may be cancelled.
/// The deal's process learns the new status.
#[utoipa::path(post, path = "/api/v1/documents/{id}/status", tag = "documents",
    request_body = DocumentStatusChange, params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404), (status = 409),
        (status = 422, description = "unknown status or transition not allowed")),
    security(("bearer" = [])))]
async fn change_document_status(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "POST /documents/{id}/status",
        &id,
        &headers,
        body,
        |id, input: DocumentStatusChange, command| {
            gateway
                .crm
                .change_document_status(&caller, DocumentId::from_uuid(id), input, command)
        },
    )
    .await
}

/// Replaces every line of a draft document; totals are recomputed exactly
/// (half-up to the kopeck per line).
#[utoipa::path(put, path = "/api/v1/documents/{id}/lines", tag = "documents",
    request_body = DocumentLines, params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404), (status = 409),
        (status = 422, description = "invalid lines, or the document is not a draft")),
    security(("bearer" = [])))]
async fn replace_document_lines(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "PUT /documents/{id}/lines",
        &id,
        &headers,
        body,
        |id, input: DocumentLines, command| {
            gateway
                .crm
                .replace_document_lines(&caller, DocumentId::from_uuid(id), input, command)
        },
    )
    .await
}

/// Registers a payment of an issued invoice; payments reaching the gross
/// total make it paid (and the deal's process learns it). A repeated
/// `payment_id` changes nothing.
#[utoipa::path(post, path = "/api/v1/documents/{id}/payments", tag = "documents",
    request_body = NewPayment,
    params(("id" = String, Path, format = Uuid),
        ("Idempotency-Key" = Option<String>, Header, description = "the default payment_id is derived from it")),
    responses((status = 200, body = Written), (status = 403), (status = 404),
        (status = 422, description = "invalid amount, or not an issued invoice")),
    security(("bearer" = [])))]
async fn register_payment(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let id = path_id(&id)?;
            let key = IdempotencyKey::from_headers(&headers)?;
            let input: NewPayment = read_json(body).await?;
            let route = format!("POST /documents/{id}/payments");
            let default_payment = key.new_record_id(&caller, &route);
            let written = gateway
                .crm
                .register_payment(
                    &caller,
                    DocumentId::from_uuid(id),
                    input,
                    default_payment,
                    key.command_id(&caller, &route),
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

/// Everything that happened to a document, newest first.
#[utoipa::path(get, path = "/api/v1/documents/{id}/timeline", tag = "documents",
    params(("id" = String, Path, format = Uuid), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 404)),
    security(("bearer" = [])))]
async fn document_timeline(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let (id, limit, cursor, min_position) = timeline_read(&id, &raw)?;
            let page = gateway
                .crm
                .document_timeline(
                    &caller,
                    DocumentId::from_uuid(id),
                    cursor,
                    limit,
                    min_position,
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

/// A deal's history with its activities and documents, newest first.
#[utoipa::path(get, path = "/api/v1/deals/{id}/timeline", tag = "deals",
    params(("id" = String, Path, format = Uuid), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 404)),
    security(("bearer" = [])))]
async fn deal_timeline(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let (id, limit, cursor, min_position) = timeline_read(&id, &raw)?;
            let page = gateway
                .crm
                .deal_timeline(&caller, DealId::from_uuid(id), cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

// ---------------------------------------------------------------- products

/// Filters of the catalog.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProductListQuery {
    /// Case-insensitive search in the name and SKU.
    q: Option<String>,
    /// `true`: only active products; `false`: only archived ones.
    active: Option<bool>,
    /// 1..=200, default 50.
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Answer once lists include this position (read your own writes).
    min_position: Option<u64>,
}

/// The product catalog, newest first (every user).
#[utoipa::path(get, path = "/api/v1/products", tag = "products", params(ProductListQuery),
    responses((status = 200, body = ProductPage), (status = 400)),
    security(("bearer" = [])))]
async fn list_products(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let params: ProductListQuery = query(&raw)?;
            let (limit, cursor, min_position) =
                Paging::new(params.limit, params.cursor, params.min_position)
                    .parse()
                    .map_err(app_problem)?;
            let filter = ProductFilter {
                q: params.q,
                active: params.active,
            };
            let page = gateway
                .crm
                .products(&caller, &filter, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

/// Adds a product (`manage_catalog`: heads of sales, directors,
/// administrators). A taken SKU is 422 `sku_taken`.
#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = ProductInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key creates nothing new")),
    responses((status = 201, body = Written), (status = 400), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn create_product(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    create_record(
        &caller,
        "POST /products",
        &headers,
        body,
        |id, input: ProductInput, command| {
            gateway
                .crm
                .create_product(&caller, ProductId::from_uuid(id), input, command)
        },
    )
    .await
}

/// One product.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = String, Path, format = Uuid), ("min_position" = Option<u64>, Query)),
    responses((status = 200, body = ProductRow), (status = 404)),
    security(("bearer" = [])))]
async fn read_product(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = ProductId::from_uuid(path_id(&id)?);
            let paging: Paging = query(&raw)?;
            let row = gateway
                .crm
                .product(&caller, id, paging.min_position.map(Position))
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(row))
        }
        .await,
    )
}

/// Changes a product: absent fields stay, `null` clears (`name`, `price`
/// and `vat_rate` cannot be cleared).
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", request_body = ProductPatch,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
async fn update_product(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "PATCH /products/{id}",
        &id,
        &headers,
        body,
        |id, patch: ProductPatch, command| {
            gateway
                .crm
                .update_product(&caller, ProductId::from_uuid(id), patch, command)
        },
    )
    .await
}

/// Archives a product (documents keep pointing at it).
#[utoipa::path(post, path = "/api/v1/products/{id}/archive", tag = "products",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn archive_product(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let id = path_id(&id)?;
            let key = IdempotencyKey::from_headers(&headers)?;
            let command = change_command(&key, &caller, "POST /products/{id}/archive", id);
            let written = gateway
                .crm
                .archive_product(&caller, ProductId::from_uuid(id), command)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

/// Brings an archived product back.
#[utoipa::path(post, path = "/api/v1/products/{id}/restore", tag = "products",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn restore_product(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let id = path_id(&id)?;
            let key = IdempotencyKey::from_headers(&headers)?;
            let command = change_command(&key, &caller, "POST /products/{id}/restore", id);
            let written = gateway
                .crm
                .restore_product(&caller, ProductId::from_uuid(id), command)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

/// A product's history, newest first.
#[utoipa::path(get, path = "/api/v1/products/{id}/timeline", tag = "products",
    params(("id" = String, Path, format = Uuid), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 404)),
    security(("bearer" = [])))]
async fn product_timeline(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let (id, limit, cursor, min_position) = timeline_read(&id, &raw)?;
            let page = gateway
                .crm
                .product_timeline(
                    &caller,
                    ProductId::from_uuid(id),
                    cursor,
                    limit,
                    min_position,
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_activities,
        create_activity,
        read_activity,
        complete_activity,
        cancel_activity,
        reschedule_activity,
        reassign_activity,
        relink_activity,
        activity_timeline,
        list_documents,
        list_deal_documents,
        create_document,
        read_document,
        change_document_status,
        replace_document_lines,
        register_payment,
        document_timeline,
        deal_timeline,
        list_products,
        create_product,
        read_product,
        update_product,
        archive_product,
        restore_product,
        product_timeline,
    ),
    components(schemas(
        NewActivity,
        ActivityCompletion,
        ActivityCancellation,
        ActivityReschedule,
        ActivityReassignment,
        ActivityLinks,
        ActivityView,
        ActivityPage,
        NewDocument,
        DocumentLineInput,
        DocumentStatusChange,
        DocumentLines,
        NewPayment,
        DocumentRow,
        DocumentLine,
        Totals,
        Payment,
        DocumentPage,
        ProductInput,
        ProductPatch,
        ProductRow,
        ProductPage,
        MoneyInput,
        TimelineEntryBody,
        TimelinePage,
        Written,
    ))
)]
pub(crate) struct WorkApi;
