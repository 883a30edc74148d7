//! `/api/v1/companies` and `/api/v1/contacts`: create (with a duplicate
//! warning, or `?strict=true` to refuse duplicates), list with search and
//! filters, read, change (`expected_version`, `responsible` and the
//! fields), merge a duplicate into another card, timeline; and
//! `/api/v1/users/{id}/reassign`, handing a leaving manager's records over.
//! Contact answers carry personal data and are sent `no-store`.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use voronka_app::crm::customers::{
    CompanyUpdate, ContactUpdate, Created, Merged, ReassignFailure, Reassigned,
};
use voronka_app::crm::Written;
use voronka_core::Position;
use voronka_crm::company::{CompanyChanges, CompanyInput, CompanyRecord};
use voronka_crm::contact::{ContactChanges, ContactInput, ContactRecord};
use voronka_crm::customer_index::{CompanyFilter, CompanyRow, ContactFilter, ContactRow};
use voronka_crm::{CompanyId, ContactId, UserId};

use crate::api::{
    app_problem, changed, no_store, ok, path_id, query, read_json, respond, Auth, IdempotencyKey,
    Paging,
};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route(
            "/api/v1/companies",
            get(list_companies).post(create_company),
        )
        .route(
            "/api/v1/companies/{id}",
            get(read_company).patch(update_company),
        )
        .route("/api/v1/companies/{id}/merge", post(merge_company))
        .route("/api/v1/companies/{id}/timeline", get(company_timeline))
        .route("/api/v1/contacts", get(list_contacts).post(create_contact))
        .route(
            "/api/v1/contacts/{id}",
            get(read_contact).patch(update_contact),
        )
        .route("/api/v1/contacts/{id}/merge", post(merge_contact))
        .route("/api/v1/contacts/{id}/timeline", get(contact_timeline))
        .route("/api/v1/users/{id}/reassign", post(reassign_user))
}

// ---------------------------------------------------------------------------
// Request and response shapes.
// ---------------------------------------------------------------------------

/// Filters of the company list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CompanyQuery {
    /// Search in name, INN, KPP and website (case-insensitive, Cyrillic
    /// too; every word must match).
    q: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    responsible: Option<uuid::Uuid>,
    /// A value of the `industry` dictionary.
    industry: Option<String>,
    /// A value of the `segment` dictionary.
    segment: Option<String>,
    /// 1..=200, default 50.
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Answer once lists include this position (read your own writes).
    min_position: Option<u64>,
}

/// Filters of the contact list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    /// Search in names and e-mails; a phone in any format (`8 912 ...`,
    /// `+7 (912) ...`, `912-...`) matches its digits.
    q: Option<String>,
    /// Contacts of this company (and of companies merged into it).
    #[param(value_type = Option<String>, format = Uuid)]
    company: Option<uuid::Uuid>,
    #[param(value_type = Option<String>, format = Uuid)]
    responsible: Option<uuid::Uuid>,
    has_consent: Option<bool>,
    /// 1..=200, default 50.
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Answer once lists include this position (read your own writes).
    min_position: Option<u64>,
}

/// Query parameters of a create.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// Refuse (409 `duplicates_found` with `candidates`) instead of
    /// warning when records with the same INN, phone or e-mail exist.
    strict: Option<bool>,
}

/// Which card a duplicate is merged into.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The surviving card (it must exist and not be merged itself).
    #[schema(value_type = String, format = Uuid)]
    into: uuid::Uuid,
}

/// Who takes a leaving user's records.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// An active user.
    #[schema(value_type = String, format = Uuid)]
    to: uuid::Uuid,
}

/// The members of a change body besides the record's own fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeHead {
    #[serde(default)]
    expected_version: Option<u64>,
    #[serde(default)]
    responsible: Option<UserId>,
}

/// A change of a company (schema only; parsed by [`read_change`]): absent
/// fields stay, `null` clears.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CompanyPatch {
    /// The version the client saw; another current version is 409.
    expected_version: Option<u64>,
    /// Hands the company to this user.
    #[schema(value_type = Option<String>, format = Uuid)]
    responsible: Option<uuid::Uuid>,
    #[serde(flatten)]
    changes: CompanyChanges,
}

/// A change of a contact (schema only; parsed by [`read_change`]): absent
/// fields stay, `null` clears; a sent `phones` or `emails` list replaces
/// the stored one. Names, phones, e-mails and birthday are personal data:
/// only operators and administrators change them.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ContactPatch {
    /// The version the client saw; another current version is 409.
    expected_version: Option<u64>,
    /// Hands the contact to this user.
    #[schema(value_type = Option<String>, format = Uuid)]
    responsible: Option<uuid::Uuid>,
    #[serde(flatten)]
    changes: ContactChanges,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CompanyPage {
    items: Vec<CompanyRow>,
    next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ContactPage {
    items: Vec<ContactRow>,
    next_cursor: Option<String>,
}

/// A page of a timeline: `{position, at, actor, event_type, subject: {kind,
/// id}, data}` per entry, newest first. `data` is `null` for entries about
/// records the caller does not see.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TimelinePage {
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
    next_cursor: Option<String>,
}

/// Parses a change body: `expected_version` and `responsible`, and the
/// rest as the record's patch `C`. Malformed JSON, wrong types and unknown
/// fields are 400 naming the field.
async fn read_change<C: DeserializeOwned>(body: Body) -> Result<(ChangeHead, C), Problem> {
    let mut fields: Map<String, Value> = read_json(body).await?;
    let mut head = Map::new();
    for name in ["expected_version", "responsible"] {
        if let Some(value) = fields.remove(name) {
            head.insert(name.to_owned(), value);
        }
    }
    let head: ChangeHead = from_value(Value::Object(head))?;
    let changes: C = from_value(Value::Object(fields))?;
    Ok((head, changes))
}

/// A JSON value into `T`, 400 naming the field on a mismatch.
fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let mut problem = Problem::new(StatusCode::BAD_REQUEST, "invalid_body", "Bad request")
            .detail(error.into_inner().to_string());
        if !path.is_empty() && path != "." {
            problem = problem.field(path);
        }
        problem
    })
}

/// 201 with the new record's id, version, position and duplicates.
fn created_with_duplicates(created: Created) -> Response {
    (StatusCode::CREATED, Json(created)).into_response()
}

// ---------------------------------------------------------------------------
// Companies.
// ---------------------------------------------------------------------------

/// Lists the open companies the caller sees, newest first.
#[utoipa::path(get, path = "/api/v1/companies", tag = "customers", params(CompanyQuery),
    responses((status = 200, body = CompanyPage), (status = 400, description = "bad parameter"), (status = 401), (status = 422, description = "bad limit or cursor")),
    security(("bearer" = [])))]
async fn list_companies(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let params: CompanyQuery = query(&raw)?;
            let (limit, cursor, min_position) =
                Paging::new(params.limit, params.cursor, params.min_position)
                    .parse()
                    .map_err(app_problem)?;
            let filter = CompanyFilter {
                q: params.q,
                responsible: params.responsible.map(UserId::from_uuid),
                industry: params.industry,
                segment: params.segment,
            };
            let page = gateway
                .crm
                .companies(&caller, &filter, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(page))
        }
        .await,
    )
}

/// Creates a company. Open companies with the same INN come back in
/// `duplicates`; with `?strict=true` they refuse the create (409).
#[utoipa::path(post, path = "/api/v1/companies", tag = "customers", request_body = CompanyInput,
    params(CreateQuery, ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key creates nothing new")),
    responses((status = 201, body = Created), (status = 400), (status = 403),
        (status = 409, description = "strict mode: `duplicates_found` with `candidates`"),
        (status = 422, description = "invalid fields, each in `errors`")),
    security(("bearer" = [])))]
async fn create_company(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
    body: Body,
) -> Response {
    respond(
        async {
            let key = IdempotencyKey::from_headers(&headers)?;
            let params: CreateQuery = query(&raw)?;
            let input: CompanyInput = read_json(body).await?;
            let route = "POST /companies";
            let id = CompanyId::from_uuid(key.new_record_id(&caller, route));
            let created = gateway
                .crm
                .create_company(
                    &caller,
                    id,
                    input,
                    params.strict.unwrap_or(false),
                    key.command_id(&caller, route),
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(created_with_duplicates(created))
        }
        .await,
    )
}

/// A company card (a merged one too, with `merged_into`).
#[utoipa::path(get, path = "/api/v1/companies/{id}", tag = "customers",
    params(("id" = String, Path, format = Uuid), ("min_position" = Option<u64>, Query)),
    responses((status = 200, body = CompanyRow), (status = 400, description = "the id is not a UUID"), (status = 404)),
    security(("bearer" = [])))]
async fn read_company(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = CompanyId::from_uuid(path_id(&id)?);
            let paging: Paging = query(&raw)?;
            let row = gateway
                .crm
                .company(&caller, id, paging.min_position.map(Position))
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(row))
        }
        .await,
    )
}

/// Changes a company's fields and, with `responsible`, hands it over.
#[utoipa::path(patch, path = "/api/v1/companies/{id}", tag = "customers", request_body = CompanyPatch,
    params(("id" = String, Path, format = Uuid), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Written), (status = 400), (status = 403), (status = 404),
        (status = 409, description = "stale `expected_version`"), (status = 422)),
    security(("bearer" = [])))]
async fn update_company(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let id = CompanyId::from_uuid(path_id(&id)?);
            let key = IdempotencyKey::from_headers(&headers)?;
            let (head, changes): (ChangeHead, CompanyChanges) = read_change(body).await?;
            let update = CompanyUpdate {
                expected_version: head.expected_version,
                responsible: head.responsible,
                changes,
            };
            let written = gateway
                .crm
                .update_company(
                    &caller,
                    id,
                    update,
                    key.command_id(&caller, &format!("PATCH /companies/{id}")),
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

/// Merges this company (a duplicate) into `into`: this one is closed, the
/// survivor's timeline shows both histories.
#[utoipa::path(post, path = "/api/v1/companies/{id}/merge", tag = "customers", request_body = MergeRequest,
    params(("id" = String, Path, format = Uuid), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Merged), (status = 400), (status = 403), (status = 404),
        (status = 422, description = "`into` unknown, merged, or this company itself")),
    security(("bearer" = [])))]
async fn merge_company(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let id = CompanyId::from_uuid(path_id(&id)?);
            let key = IdempotencyKey::from_headers(&headers)?;
            let request: MergeRequest = read_json(body).await?;
            let merged = gateway
                .crm
                .merge_company(
                    &caller,
                    id,
                    CompanyId::from_uuid(request.into),
                    key.command_id(&caller, &format!("POST /companies/{id}/merge")),
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(merged))
        }
        .await,
    )
}

/// A company's timeline, newest first (its contacts', deals' and work's
/// events, and those of companies merged into it).
#[utoipa::path(get, path = "/api/v1/companies/{id}/timeline", tag = "customers",
    params(("id" = String, Path, format = Uuid), Paging),
    responses((status = 200, body = TimelinePage), (status = 400), (status = 404)),
    security(("bearer" = [])))]
async fn company_timeline(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = CompanyId::from_uuid(path_id(&id)?);
            let paging: Paging = query(&raw)?;
            let (limit, cursor, min_position) = paging.parse().map_err(app_problem)?;
            let page = gateway
                .crm
                .company_timeline(&caller, id, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(ok(page)))
        }
        .await,
    )
}

// ---------------------------------------------------------------------------
// Contacts.
// ---------------------------------------------------------------------------

/// Lists the open contacts the caller sees, newest first.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "customers", params(ContactQuery),
    responses((status = 200, body = ContactPage), (status = 400, description = "bad parameter"), (status = 401), (status = 422, description = "bad limit or cursor")),
    security(("bearer" = [])))]
async fn list_contacts(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let params: ContactQuery = query(&raw)?;
            let (limit, cursor, min_position) =
                Paging::new(params.limit, params.cursor, params.min_position)
                    .parse()
                    .map_err(app_problem)?;
            let filter = ContactFilter {
                q: params.q,
                company: params.company.map(CompanyId::from_uuid),
                responsible: params.responsible.map(UserId::from_uuid),
                has_consent: params.has_consent,
            };
            let page = gateway
                .crm
                .contacts(&caller, &filter, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(ok(page)))
        }
        .await,
    )
}

/// Creates a contact. Open contacts sharing a phone or an e-mail come back
/// in `duplicates`; with `?strict=true` they refuse the create (409).
#[utoipa::path(post, path = "/api/v1/contacts", tag = "customers", request_body = ContactInput,
    params(CreateQuery, ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key creates nothing new")),
    responses((status = 201, body = Created), (status = 400), (status = 403),
        (status = 409, description = "strict mode: `duplicates_found` with `candidates`"),
        (status = 422, description = "invalid fields, each in `errors` (`company_unknown` on `company`)")),
    security(("bearer" = [])))]
async fn create_contact(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    headers: HeaderMap,
    raw: RawQuery,
    body: Body,
) -> Response {
    respond(
        async {
            let key = IdempotencyKey::from_headers(&headers)?;
            let params: CreateQuery = query(&raw)?;
            let input: ContactInput = read_json(body).await?;
            let route = "POST /contacts";
            let id = ContactId::from_uuid(key.new_record_id(&caller, route));
            let created = gateway
                .crm
                .create_contact(
                    &caller,
                    id,
                    input,
                    params.strict.unwrap_or(false),
                    key.command_id(&caller, route),
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(created_with_duplicates(created))
        }
        .await,
    )
}

/// A contact card (a merged one too, with `merged_into`).
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "customers",
    params(("id" = String, Path, format = Uuid), ("min_position" = Option<u64>, Query)),
    responses((status = 200, body = ContactRow), (status = 400, description = "the id is not a UUID"), (status = 404)),
    security(("bearer" = [])))]
async fn read_contact(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = ContactId::from_uuid(path_id(&id)?);
            let paging: Paging = query(&raw)?;
            let row = gateway
                .crm
                .contact(&caller, id, paging.min_position.map(Position))
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(ok(row)))
        }
        .await,
    )
}

/// Changes a contact and, with `responsible`, hands it over. Changing
/// personal data is for operators and administrators (403
/// `role_lacks_right` otherwise).
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "customers", request_body = ContactPatch,
    params(("id" = String, Path, format = Uuid), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Written), (status = 400), (status = 403), (status = 404),
        (status = 409, description = "stale `expected_version`"), (status = 422)),
    security(("bearer" = [])))]
async fn update_contact(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let id = ContactId::from_uuid(path_id(&id)?);
            let key = IdempotencyKey::from_headers(&headers)?;
            let (head, changes): (ChangeHead, ContactChanges) = read_change(body).await?;
            let update = ContactUpdate {
                expected_version: head.expected_version,
                responsible: head.responsible,
                changes,
            };
            let written = gateway
                .crm
                .update_contact(
                    &caller,
                    id,
                    update,
                    key.command_id(&caller, &format!("PATCH /contacts/{id}")),
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

/// Merges this contact (a duplicate) into `into`.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge", tag = "customers", request_body = MergeRequest,
    params(("id" = String, Path, format = Uuid), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Merged), (status = 400), (status = 403), (status = 404),
        (status = 422, description = "`into` unknown, merged, or this contact itself")),
    security(("bearer" = [])))]
async fn merge_contact(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let id = ContactId::from_uuid(path_id(&id)?);
            let key = IdempotencyKey::from_headers(&headers)?;
            let request: MergeRequest = read_json(body).await?;
            let merged = gateway
                .crm
                .merge_contact(
                    &caller,
                    id,
                    ContactId::from_uuid(request.into),
                    key.command_id(&caller, &format!("POST /contacts/{id}/merge")),
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(merged))
        }
        .await,
    )
}

/// A contact's timeline, newest first (with contacts merged into it).
#[utoipa::path(get, path = "/api/v1/contacts/{id}/timeline", tag = "customers",
    params(("id" = String, Path, format = Uuid), Paging),
    responses((status = 200, body = TimelinePage), (status = 400), (status = 404)),
    security(("bearer" = [])))]
async fn contact_timeline(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    respond(
        async {
            let id = ContactId::from_uuid(path_id(&id)?);
            let paging: Paging = query(&raw)?;
            let (limit, cursor, min_position) = paging.parse().map_err(app_problem)?;
            let page = gateway
                .crm
                .contact_timeline(&caller, id, cursor, limit, min_position)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(ok(page)))
        }
        .await,
    )
}

// ---------------------------------------------------------------------------
// A leaving manager.
// ---------------------------------------------------------------------------

/// Hands every open company, contact and deal and every planned activity
/// of user `{id}` to `to`.
/// Needs the right to edit both users' records (administrators,
/// directors, the head of a subtree holding both).
#[utoipa::path(post, path = "/api/v1/users/{id}/reassign", tag = "customers", request_body = ReassignRequest,
    params(("id" = String, Path, format = Uuid), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Reassigned), (status = 400), (status = 403),
        (status = 404, description = "no such user"),
        (status = 422, description = "`to` is not an active user, or the same one")),
    security(("bearer" = [])))]
async fn reassign_user(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let from = UserId::from_uuid(path_id(&id)?);
            let key = IdempotencyKey::from_headers(&headers)?;
            let request: ReassignRequest = read_json(body).await?;
            let reassigned = gateway
                .crm
                .reassign_all(
                    &caller,
                    from,
                    UserId::from_uuid(request.to),
                    key.command_id(&caller, &format!("POST /users/{from}/reassign")),
                )
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(reassigned))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_companies,
        create_company,
        read_company,
        update_company,
        merge_company,
        company_timeline,
        list_contacts,
        create_contact,
        read_contact,
        update_contact,
        merge_contact,
        contact_timeline,
        reassign_user
    ),
    components(schemas(
        CompanyInput,
        CompanyChanges,
        CompanyPatch,
        CompanyRecord,
        CompanyRow,
        CompanyPage,
        ContactInput,
        ContactChanges,
        ContactPatch,
        ContactRecord,
        ContactRow,
        ContactPage,
        TimelinePage,
        MergeRequest,
        Merged,
        ReassignRequest,
        Reassigned,
        ReassignFailure,
        Created,
        Written
    ))
)]
pub(crate) struct CustomersApi;
