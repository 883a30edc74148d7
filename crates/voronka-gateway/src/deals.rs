//! `/api/v1/deals`: create, list, read the card with its allowed
//! transitions, change data, move between stages, timeline.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use voronka_app::crm::deals::{DealCard, DealChanges, NewDeal, StageMove};
use voronka_app::crm::Written;
use voronka_crm::deal_index::{DealFilter, DealRow};
use voronka_crm::{CompanyId, ContactId, DealId, UserId};

use crate::api::{
    app_problem, change_record, create_record, ok, path_id, query, respond, Auth, Paging,
};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/deals", get(list_deals).post(create_deal))
        .route("/api/v1/deals/{id}", get(read_deal).patch(update_deal))
        .route("/api/v1/deals/{id}/transitions", post(move_deal))
}

/// Filters of the deal list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DealQuery {
    /// Case-insensitive search in the title (Cyrillic too).
    q: Option<String>,
    process: Option<String>,
    stage: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    responsible: Option<uuid::Uuid>,
    #[param(value_type = Option<String>, format = Uuid)]
    company: Option<uuid::Uuid>,
    #[param(value_type = Option<String>, format = Uuid)]
    contact: Option<uuid::Uuid>,
    /// 1..=200, default 50.
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Answer once lists include this position (read your own writes).
    min_position: Option<u64>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DealPage {
    items: Vec<DealRow>,
    next_cursor: Option<String>,
}

/// Lists the deals the caller sees, newest first.
#[utoipa::path(get, path = "/api/v1/deals", tag = "deals", params(DealQuery),
    responses((status = 200, body = DealPage), (status = 400, description = "bad parameter"), (status = 401)),
    security(("bearer" = [])))]
async fn list_deals(State(gateway): State<Gateway>, Auth(caller): Auth, raw: RawQuery) -> Response {
    respond(
        async {
            let params: DealQuery = query(&raw)?;
            let (limit, cursor, min_position) =
                Paging::new(params.limit, params.cursor, params.min_position)
                    .parse()
                    .map_err(app_problem)?;
            let filter = DealFilter {
                q: params.q,
                process: params.process,
                stage: params.stage,
                responsible: params.responsible.map(UserId::from_uuid),
                company: params.company.map(CompanyId::from_uuid),
                contact: params.contact.map(ContactId::from_uuid),
                idle_since: None,
            };
            let page = gateway
                .crm
                .deals(&caller, &filter, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

/// Creates a deal on the latest version of a process, with its fields.
#[utoipa::path(post, path = "/api/v1/deals", tag = "deals", request_body = NewDeal,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key creates nothing new")),
    responses((status = 201, body = Written), (status = 400), (status = 403), (status = 422, description = "invalid field or process rejection")),
    security(("bearer" = [])))]
async fn create_deal(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    create_record(
        &caller,
        "POST /deals",
        &headers,
        body,
        |id, input: NewDeal, command| {
            gateway
                .crm
                .create_deal(&caller, DealId::from_uuid(id), input, command)
        },
    )
    .await
}

/// The deal card: data, stages, and every possible next stage with what
/// still blocks it.
#[utoipa::path(get, path = "/api/v1/deals/{id}", tag = "deals",
    params(("id" = String, Path, format = Uuid), ("min_position" = Option<u64>, Query)),
    responses((status = 200, body = DealCard), (status = 404)),
    security(("bearer" = [])))]
async fn read_deal(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = DealId::from_uuid(path_id(&id)?);
            let paging: Paging = query(&raw)?;
            let card = gateway
                .crm
                .deal(&caller, id, paging.min_position.map(voronka_core::Position))
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(card))
        }
        .await,
    )
}

/// Changes a deal's data (title, amount, company, responsible, fields).
#[utoipa::path(patch, path = "/api/v1/deals/{id}", tag = "deals", request_body = DealChanges,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn update_deal(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "PATCH /deals/{id}",
        &id,
        &headers,
        body,
        |id, changes: DealChanges, command| {
            gateway
                .crm
                .update_deal(&caller, DealId::from_uuid(id), changes, command)
        },
    )
    .await
}

/// Moves a deal to another stage (fields set in the same change). A
/// refusal is 422 with every unmet requirement; a stale
/// `expected_version` is 409.
#[utoipa::path(post, path = "/api/v1/deals/{id}/transitions", tag = "deals", request_body = StageMove,
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Written), (status = 404), (status = 409), (status = 422, description = "requirements unmet: `unmet` lists each")),
    security(("bearer" = [])))]
async fn move_deal(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    change_record(
        &caller,
        "POST /deals/{id}/transitions",
        &id,
        &headers,
        body,
        |id, request: StageMove, command| {
            gateway
                .crm
                .move_deal(&caller, DealId::from_uuid(id), request, command)
        },
    )
    .await
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_deals, create_deal, read_deal, update_deal, move_deal),
    components(schemas(NewDeal, DealChanges, StageMove, DealCard, DealRow, DealPage, Written))
)]
pub(crate) struct DealsApi;
