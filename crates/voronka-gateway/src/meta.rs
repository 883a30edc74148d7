//! The API's reference data and administration: processes, dictionaries,
//! users, departments, and the event feed for integrations.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use voronka_app::access::{Action, DepartmentId};
use voronka_app::crm::deals::process_summary;
use voronka_app::crm::AppError;
use voronka_app::directory::NewUser;
use voronka_core::{Actor, Position, Role, Timestamp};
use voronka_store::MAX_READ_BATCH;

use crate::api::{app_problem, ok, query, read_json, respond, Auth};
use crate::auth::{directory_error, UserBody};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route(
            "/api/v1/processes",
            get(list_processes).post(publish_process),
        )
        .route("/api/v1/processes/{name}", get(read_process))
        .route("/api/v1/dictionaries", get(dictionaries))
        .route("/api/v1/users", get(list_users).post(add_user))
        .route(
            "/api/v1/departments",
            get(list_departments).post(add_department),
        )
        .route("/api/v1/events", get(events))
}

/// Every published process (latest version of each name).
#[utoipa::path(get, path = "/api/v1/processes", tag = "processes",
    responses((status = 200, description = "name, version, title, stages, fields of each")),
    security(("bearer" = [])))]
async fn list_processes(State(gateway): State<Gateway>, Auth(_caller): Auth) -> Response {
    let registry = gateway.crm.deal_service().registry().clone();
    let mut names: Vec<String> = registry.published().into_iter().map(|p| p.name).collect();
    names.dedup();
    let processes: Vec<_> = names
        .iter()
        .filter_map(|name| registry.latest(name))
        .map(|definition| process_summary(&definition))
        .collect();
    ok(processes)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDefinition {
    /// Shown in diagnostics, e.g. `b2b-sale.yaml`.
    #[serde(default)]
    source_name: Option<String>,
    /// The definition's YAML text.
    yaml: String,
}

/// Publishes a new version of a process definition (process designers and
/// administrators). Invalid YAML is 422 with every diagnostic
/// (`line:column`); a changed text under a published version is 409.
#[utoipa::path(post, path = "/api/v1/processes", tag = "processes", request_body = NewDefinition,
    responses((status = 201, description = "name, version, hash"), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn publish_process(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    body: Body,
) -> Response {
    use voronka_app::crm::deals::PublishFailure;
    use voronka_app::deals::publications::PublicationError;
    use voronka_app::deals::PublishError;
    let body: NewDefinition = match read_json(body).await {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    let source_name = body
        .source_name
        .unwrap_or_else(|| "definition.yaml".to_owned());
    match gateway
        .crm
        .publish_process(&caller, &source_name, &body.yaml)
        .await
    {
        Ok(identity) => (StatusCode::CREATED, Json(identity)).into_response(),
        Err(PublishFailure::App(error)) => app_problem(error).into_response(),
        Err(PublishFailure::Publication(PublicationError::Publish(PublishError::Invalid {
            diagnostics,
        }))) => {
            let rendered: Vec<serde_json::Value> = diagnostics
                .iter()
                .map(|d| serde_json::json!({
                    "file": d.file, "line": d.location.line, "column": d.location.column,
                    "severity": format!("{:?}", d.severity).to_lowercase(), "code": d.code, "message": d.message,
                }))
                .collect();
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "definition_invalid",
                "Invalid definition",
            )
            .detail(format!("{} problem(s) in the definition", rendered.len()))
            .field("yaml")
            .with("diagnostics", rendered)
            .into_response()
        }
        Err(PublishFailure::Publication(PublicationError::Publish(error))) => {
            Problem::new(StatusCode::CONFLICT, "version_taken", "Conflict")
                .detail(error.to_string())
                .into_response()
        }
        Err(PublishFailure::Publication(PublicationError::Store(error))) => {
            app_problem(AppError::Store(error)).into_response()
        }
        Err(PublishFailure::Publication(error)) => {
            app_problem(AppError::Internal(error.to_string())).into_response()
        }
    }
}

/// One process's latest version.
#[utoipa::path(get, path = "/api/v1/processes/{name}", tag = "processes",
    params(("name" = String, Path)), responses((status = 200), (status = 404)),
    security(("bearer" = [])))]
async fn read_process(
    State(gateway): State<Gateway>,
    Auth(_caller): Auth,
    Path(name): Path<String>,
) -> Response {
    match gateway.crm.deal_service().registry().latest(&name) {
        Some(definition) => ok(process_summary(&definition)),
        None => app_problem(AppError::NotFound).into_response(),
    }
}

/// Every dictionary: `{name: [{value, title_ru, title_en}]}`.
#[utoipa::path(get, path = "/api/v1/dictionaries", tag = "processes",
    responses((status = 200)), security(("bearer" = [])))]
async fn dictionaries(State(gateway): State<Gateway>, Auth(_caller): Auth) -> Response {
    ok(gateway.crm.dictionaries())
}

/// Every user (for pickers: who can be responsible).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserBody>)), security(("bearer" = [])))]
async fn list_users(Auth(caller): Auth) -> Response {
    let users: Vec<UserBody> = caller
        .access
        .users
        .values()
        .cloned()
        .map(UserBody::from)
        .collect();
    ok(users)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    email: String,
    display_name: String,
    password: String,
    #[schema(value_type = Vec<String>)]
    roles: BTreeSet<Role>,
    #[schema(value_type = String, format = Uuid)]
    department: DepartmentId,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CreatedId {
    #[schema(value_type = String, format = Uuid)]
    id: uuid::Uuid,
}

/// Registers a user (administrators only).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, body = CreatedId), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn add_user(State(gateway): State<Gateway>, Auth(caller): Auth, body: Body) -> Response {
    let body: NewUserBody = match read_json(body).await {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    let new = NewUser {
        email: body.email,
        display_name: body.display_name,
        password: body.password,
        roles: body.roles,
        department: body.department,
    };
    match gateway.directory.add_user(new, &caller.actor()).await {
        Ok(id) => (StatusCode::CREATED, Json(CreatedId { id: *id.as_uuid() })).into_response(),
        Err(error) => directory_error(error),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct DepartmentBody {
    #[schema(value_type = String, format = Uuid)]
    id: DepartmentId,
    name: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    parent: Option<DepartmentId>,
}

/// The department tree as a flat list (each with its parent).
#[utoipa::path(get, path = "/api/v1/departments", tag = "users",
    responses((status = 200, body = Vec<DepartmentBody>)), security(("bearer" = [])))]
async fn list_departments(State(gateway): State<Gateway>, Auth(_caller): Auth) -> Response {
    match gateway.directory.department_list().await {
        Ok(list) => ok(list
            .into_iter()
            .map(|d| DepartmentBody {
                id: d.id,
                name: d.name,
                parent: d.parent,
            })
            .collect::<Vec<_>>()),
        Err(error) => directory_error(error),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDepartmentBody {
    name: String,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    parent: Option<DepartmentId>,
}

/// Creates a department (administrators only).
#[utoipa::path(post, path = "/api/v1/departments", tag = "users", request_body = NewDepartmentBody,
    responses((status = 201, body = CreatedId), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn add_department(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    body: Body,
) -> Response {
    let body: NewDepartmentBody = match read_json(body).await {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    match gateway
        .directory
        .add_department(&body.name, body.parent, &caller.actor())
        .await
    {
        Ok(id) => (StatusCode::CREATED, Json(CreatedId { id: *id.as_uuid() })).into_response(),
        Err(error) => directory_error(error),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// Events with a greater position (0: from the start).
    #[serde(default)]
    after: u64,
    /// At most this many (1..=1000, default 100).
    limit: Option<usize>,
}

/// One event of the log as integrations read it.
#[derive(Serialize, utoipa::ToSchema)]
struct FeedEvent {
    position: u64,
    stream: String,
    version: u64,
    #[serde(rename = "type")]
    event_type: String,
    #[schema(value_type = Object)]
    data: serde_json::Value,
    #[schema(value_type = Object)]
    actor: Actor,
    #[schema(value_type = String, format = DateTime)]
    recorded_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    occurred_at: Option<Timestamp>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct FeedPage {
    events: Vec<FeedEvent>,
    /// Pass as `after` for the next page (equal to `after` when empty).
    next_after: u64,
}

/// The event log after a position, for integrations (integrators and
/// administrators). Sign-in secrets' streams are never included.
#[utoipa::path(get, path = "/api/v1/events", tag = "integrations", params(EventsQuery),
    responses((status = 200, body = FeedPage), (status = 403)), security(("bearer" = [])))]
async fn events(State(gateway): State<Gateway>, Auth(caller): Auth, raw: RawQuery) -> Response {
    respond(
        async {
            let params: EventsQuery = query(&raw)?;
            caller
                .may_at_all(Action::ReadEventLog)
                .map_err(app_problem)?;
            let limit = match params.limit {
                None => 100,
                Some(n) if (1..=1000).contains(&n) => n,
                Some(_) => {
                    return Err(app_problem(AppError::invalid(
                        "limit",
                        "limit_out_of_range",
                        "`limit` must be between 1 and 1000",
                    )))
                }
            };
            let batch = gateway
                .store
                .read_all(Position(params.after), limit.min(MAX_READ_BATCH))
                .await
                .map_err(|e| app_problem(AppError::Store(e)))?;
            let next_after = batch.last().map_or(params.after, |e| e.position.0);
            let events = batch
                .into_iter()
                .filter(|e| !e.stream_id.as_str().starts_with("access-"))
                .map(|e| FeedEvent {
                    position: e.position.0,
                    stream: e.stream_id.as_str().to_string(),
                    version: e.stream_version.0,
                    data: serde_json::from_str(e.payload.as_str())
                        .unwrap_or(serde_json::Value::Null),
                    event_type: e.event_type,
                    actor: e.metadata.actor,
                    recorded_at: e.recorded_at,
                    occurred_at: e.occurred_at,
                })
                .collect();
            Ok::<Response, Problem>(ok(FeedPage { events, next_after }))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_processes,
        read_process,
        dictionaries,
        list_users,
        add_user,
        list_departments,
        add_department,
        events
    ),
    components(schemas(
        NewUserBody,
        CreatedId,
        DepartmentBody,
        NewDepartmentBody,
        FeedEvent,
        FeedPage
    ))
)]
pub(crate) struct MetaApi;
