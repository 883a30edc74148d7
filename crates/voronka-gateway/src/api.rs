//! What every `/api/v1` handler shares: who the caller is, reading a JSON
//! body or a query string into a typed request (400 naming the field),
//! `Idempotency-Key`, paging parameters, and the one mapping of
//! [`AppError`] to problem+json.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use voronka_app::crm::{AppError, Caller, Written};
use voronka_core::{CommandId, Position};
use voronka_crm::page::{page_size, Cursor};
use voronka_store::StoreError;

use crate::auth::{bearer_token, directory_error, unauthorized};
use crate::{Gateway, Problem};

/// The largest JSON body the API takes; larger is 413.
pub const MAX_API_BODY_BYTES: usize = 256 * 1024;

/// The authenticated caller of a request (401 problem otherwise).
pub struct Auth(pub Caller);

impl FromRequestParts<Gateway> for Auth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Self, Response> {
        let token = bearer_token(&parts.headers).map_err(unauthorized)?;
        let (user, access) = gateway
            .directory
            .authenticate_with_access(token)
            .await
            .map_err(directory_error)?;
        Ok(Auth(Caller::new(user, access)))
    }
}

/// Reads a request body of at most [`MAX_API_BODY_BYTES`] (413 otherwise).
pub async fn read_body(body: axum::body::Body) -> Result<Bytes, Problem> {
    axum::body::to_bytes(body, MAX_API_BODY_BYTES)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "Body too large",
            )
            .detail(format!(
                "the body must be at most {MAX_API_BODY_BYTES} bytes"
            ))
        })
}

/// Reads and parses a JSON body (see [`json_body`]).
pub async fn read_json<T: DeserializeOwned>(body: axum::body::Body) -> Result<T, Problem> {
    json_body(&read_body(body).await?)
}

/// Parses a JSON body into `T`: malformed JSON, a wrong type or an unknown
/// field is a 400 naming the field's path; a body over the limit is 413
/// (axum's `DefaultBodyLimit` answers that before this runs).
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, Problem> {
    if body.len() > MAX_API_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "Body too large",
        )
        .detail(format!(
            "the body must be at most {MAX_API_BODY_BYTES} bytes"
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => value,
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let (code, detail) = if inner.is_syntax() || inner.is_eof() {
                (
                    "malformed_json",
                    format!("the body is not valid JSON: {inner}"),
                )
            } else {
                ("invalid_body", inner.to_string())
            };
            let mut problem =
                Problem::new(StatusCode::BAD_REQUEST, code, "Bad request").detail(detail);
            if !path.is_empty() && path != "." {
                problem = problem.field(path);
            }
            return Err(problem);
        }
    };
    deserializer.end().map_err(|error| {
        Problem::new(StatusCode::BAD_REQUEST, "malformed_json", "Bad request")
            .detail(format!("the body is not valid JSON: {error}"))
    })?;
    Ok(value)
}

/// Parses the query string into `T` (400 naming the parameter).
pub fn query<T: DeserializeOwned>(raw: &RawQuery) -> Result<T, Problem> {
    let text = raw.0.as_deref().unwrap_or("");
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(text.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let mut problem = Problem::new(StatusCode::BAD_REQUEST, "invalid_query", "Bad request")
            .detail(error.into_inner().to_string());
        if !path.is_empty() && path != "." {
            problem = problem.field(path);
        }
        problem
    })
}

/// Paging parameters every list takes (lists repeat these three fields in
/// their own query type: serde's `flatten` loses numbers in query strings).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 1..=200, default 50.
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Answer only once the lists include this position (a command's
    /// `position`), for reading one's own writes.
    pub min_position: Option<u64>,
}

impl Paging {
    pub fn new(limit: Option<usize>, cursor: Option<String>, min_position: Option<u64>) -> Self {
        Self {
            limit,
            cursor,
            min_position,
        }
    }

    /// The checked page size, cursor and read-your-writes position.
    pub fn parse(&self) -> Result<(usize, Option<Cursor>, Option<Position>), AppError> {
        let limit = page_size(self.limit).map_err(|e| AppError::Invalid(vec![e]))?;
        let cursor = self
            .cursor
            .as_deref()
            .map(Cursor::parse)
            .transpose()
            .map_err(|e| AppError::Invalid(vec![e]))?;
        Ok((limit, cursor, self.min_position.map(Position)))
    }
}

/// A path segment that must be a UUID (400 naming `id` otherwise).
pub fn path_id(text: &str) -> Result<uuid::Uuid, Problem> {
    uuid::Uuid::parse_str(text).map_err(|_| {
        Problem::new(StatusCode::BAD_REQUEST, "invalid_id", "Bad request")
            .detail("the id in the path is not a UUID")
            .field("id")
    })
}

/// The client's `Idempotency-Key`, if any: a retried write with the same
/// key (by the same user, on the same route) returns the first outcome and
/// writes nothing new.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(Option<String>);

/// The longest key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

impl IdempotencyKey {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, Problem> {
        let Some(value) = headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let text = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= MAX_IDEMPOTENCY_KEY);
        match text {
            Some(text) => Ok(Self(Some(text.to_string()))),
            None => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Bad request",
            )
            .detail(format!(
                "Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ))
            .field("Idempotency-Key")),
        }
    }

    /// The key as the client sent it (trimmed).
    pub fn key(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// A UUID derived from the key, the caller and `purpose` (the route):
    /// the same inputs always give the same id.
    fn derive(&self, caller: &Caller, purpose: &str) -> Option<uuid::Uuid> {
        let key = self.0.as_ref()?;
        let mut hash = Sha256::new();
        hash.update(caller.user.id.as_uuid().as_bytes());
        hash.update(purpose.as_bytes());
        hash.update([0u8]);
        hash.update(key.as_bytes());
        let digest = hash.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Some(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The command id of this write.
    pub fn command_id(&self, caller: &Caller, route: &str) -> Option<CommandId> {
        self.derive(caller, route).map(CommandId::from_uuid)
    }

    /// The id of a record this write creates: derived from the key when
    /// there is one (a retry creates nothing new), else fresh.
    pub fn new_record_id(&self, caller: &Caller, route: &str) -> uuid::Uuid {
        self.derive(caller, &format!("{route}#record"))
            .unwrap_or_else(uuid::Uuid::now_v7)
    }
}

/// The shared shape of a change to one record (`POST /things/{id}/verb`,
/// `PATCH /things/{id}`): the path id, the `Idempotency-Key` and the JSON
/// body are parsed (400 naming what is wrong), the command id is derived
/// from the caller, the route with the id, and the key; `write` runs; the
/// answer is 200 with what was written, or the problem.
pub async fn change_record<T, F, Fut>(
    caller: &Caller,
    route: &str,
    id: &str,
    headers: &HeaderMap,
    body: axum::body::Body,
    write: F,
) -> Response
where
    T: DeserializeOwned,
    F: FnOnce(uuid::Uuid, T, Option<CommandId>) -> Fut,
    Fut: std::future::Future<Output = Result<Written, AppError>>,
{
    respond(
        async {
            let id = path_id(id)?;
            let key = IdempotencyKey::from_headers(headers)?;
            let input: T = read_json(body).await?;
            let command = key.command_id(caller, &route.replace("{id}", &id.to_string()));
            let written = write(id, input, command).await.map_err(app_problem)?;
            Ok::<Response, Problem>(changed(written))
        }
        .await,
    )
}

/// The shared shape of a create (`POST /things`): the `Idempotency-Key` and
/// the JSON body are parsed (400 naming what is wrong), the new record's id
/// and the command id are derived from the key (fresh without one), `write`
/// runs, and the answer is 201 with what was written, or the problem.
pub async fn create_record<T, F, Fut>(
    caller: &Caller,
    route: &str,
    headers: &HeaderMap,
    body: axum::body::Body,
    write: F,
) -> Response
where
    T: DeserializeOwned,
    F: FnOnce(uuid::Uuid, T, Option<CommandId>) -> Fut,
    Fut: std::future::Future<Output = Result<Written, AppError>>,
{
    respond(
        async {
            let key = IdempotencyKey::from_headers(headers)?;
            let input: T = read_json(body).await?;
            let id = key.new_record_id(caller, route);
            let written = write(id, input, key.command_id(caller, route))
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(created(written))
        }
        .await,
    )
}

/// 201 with the written record's id, version and position.
pub fn created(written: Written) -> Response {
    (StatusCode::CREATED, Json(written)).into_response()
}

/// 200 with the written record's id, version and position.
pub fn changed(written: Written) -> Response {
    Json(written).into_response()
}

/// Any serializable body as 200 JSON.
pub fn ok<T: Serialize>(body: T) -> Response {
    Json(body).into_response()
}

/// The one place an [`AppError`] becomes HTTP.
pub fn app_error(error: AppError) -> Response {
    app_problem(error).into_response()
}

pub fn app_problem(error: AppError) -> Problem {
    match error {
        AppError::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", "Not found")
            .detail("no such record, or not one you may see"),
        AppError::Forbidden(denied) => {
            Problem::new(StatusCode::FORBIDDEN, denied.reason_code, "Forbidden")
                .detail(format!("you may not {}", denied.action.as_str()))
                .with("action", denied.action.as_str())
        }
        AppError::Invalid(errors) => {
            let first = errors.first().cloned();
            let mut problem = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                first.as_ref().map_or("invalid", |e| e.code),
                "Validation failed",
            );
            if let Some(first) = first {
                problem = problem.detail(first.message).field(first.field);
            }
            problem.with("errors", errors)
        }
        AppError::NotAllowed { code, message } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, "Not allowed").detail(message)
        }
        AppError::Rejected {
            code,
            message,
            unmet,
        } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            "The process does not allow this",
        )
        .detail(message)
        .with("unmet", unmet),
        AppError::Conflict { actual } => {
            Problem::new(StatusCode::CONFLICT, "version_conflict", "Conflict")
                .detail(format!(
                    "the record changed (it is now at version {actual}); reload and retry"
                ))
                .with("actual_version", actual.0)
        }
        AppError::AlreadyExists => {
            Problem::new(StatusCode::CONFLICT, "already_exists", "Conflict")
                .detail("a record with this id already exists")
        }
        AppError::Duplicates { candidates } => {
            Problem::new(StatusCode::CONFLICT, "duplicates_found", "Possible duplicates")
                .detail("records with the same INN, phone or e-mail exist; link one or create without strict mode")
                .with("candidates", candidates)
        }
        AppError::Store(StoreError::Unavailable(_) | StoreError::Closed) => {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "Database unavailable",
            )
        }
        AppError::Store(StoreError::NotWritable(reason)) => {
            tracing::error!(%reason, "store not writable");
            Problem::new(StatusCode::INSUFFICIENT_STORAGE, "store_not_writable", "Database full")
        }
        AppError::Store(error) => {
            tracing::error!(%error, "store failed");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error")
        }
        AppError::Unavailable { code, message } => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, code, "Try again shortly").detail(message)
        }
        AppError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error")
        }
    }
}

/// `Cache-Control: no-store` for answers with personal data.
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Unwraps a result of problems into a response.
pub fn respond(result: Result<Response, Problem>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}
