//! Sign-in over HTTP: `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`,
//! `GET /api/v1/me`.
//!
//! Thin on purpose: the handlers read the body (bounded to
//! [`MAX_BODY_BYTES`]), check its shape, take the bearer token from the
//! `Authorization` header, and call [`Directory`]; every rule (credentials,
//! expiry, deactivation) is decided there. This module's own job is the
//! HTTP mapping of [`DirectoryError`], done here in one place.
//!
//! Secrets: the password is never logged and the token appears only in the
//! login response, which is marked `Cache-Control: no-store`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use voronka_app::access::{DepartmentId, User, UserId};
use voronka_app::directory::DirectoryError;
use voronka_core::{Role, Timestamp};
use voronka_store::StoreError;

use crate::{Gateway, Problem};

/// The largest request body accepted on these routes; larger is 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Failed sign-ins allowed per e-mail within [`THROTTLE_WINDOW`]; the next
/// attempt is 429 until the oldest failure leaves the window.
pub const MAX_FAILED_LOGINS: usize = 5;
pub const THROTTLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Past this many tracked e-mails, entries whose failures all left the
/// window are dropped (bounds memory under a spray of e-mails).
const MAX_TRACKED: usize = 10_000;

/// Slows password guessing: failed sign-ins per e-mail (lower-cased), kept
/// in memory (per process; a restart forgets them, which only shortens one
/// window).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: std::sync::Mutex<std::collections::HashMap<String, Vec<std::time::Instant>>>,
}

impl LoginThrottle {
    /// `Err(retry_after)` while the e-mail is locked out.
    pub(crate) fn check(&self, email: &str) -> Result<(), std::time::Duration> {
        let now = std::time::Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = failures.get_mut(&email.trim().to_lowercase()) else {
            return Ok(());
        };
        times.retain(|t| now.duration_since(*t) < THROTTLE_WINDOW);
        if times.len() < MAX_FAILED_LOGINS {
            return Ok(());
        }
        let oldest = times.iter().min().copied().unwrap_or(now);
        Err(THROTTLE_WINDOW.saturating_sub(now.duration_since(oldest)))
    }

    pub(crate) fn failed(&self, email: &str) {
        let now = std::time::Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, times| {
                times
                    .iter()
                    .any(|t| now.duration_since(*t) < THROTTLE_WINDOW)
            });
        }
        failures
            .entry(email.trim().to_lowercase())
            .or_default()
            .push(now);
    }

    pub(crate) fn succeeded(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&email.trim().to_lowercase());
    }
}

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/users/{id}/api-tokens", post(issue_api_token))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
}

/// A user as the API shows one (never the password hash).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserBody {
    #[schema(value_type = String, format = Uuid)]
    id: UserId,
    email: String,
    display_name: String,
    #[schema(value_type = Vec<String>)]
    roles: Vec<Role>,
    #[schema(value_type = String, format = Uuid)]
    department: DepartmentId,
    active: bool,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            roles: user.roles.into_iter().collect(),
            department: user.department,
            active: user.active,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct LoginResponse {
    token: String,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
    user: UserBody,
}

/// `{"email", "password"}` of a sign-in.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Credentials {
    email: String,
    password: String,
}

/// Signs in: the token is shown once and expires.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = LoginResponse), (status = 401, description = "invalid_credentials")))]
async fn login(State(gateway): State<Gateway>, body: Body) -> Response {
    let credentials = match read_json_object(body).await.and_then(|mut object| {
        let email = take_string(&mut object, "email")?;
        let password = take_string(&mut object, "password")?;
        refuse_unknown_fields(&object)?;
        Ok((email, password))
    }) {
        Ok(credentials) => credentials,
        Err(problem) => return problem.into_response(),
    };
    if let Err(retry_after) = gateway.login_throttle.check(&credentials.0) {
        let seconds = retry_after.as_secs().max(1);
        return (
            [(header::RETRY_AFTER, HeaderValue::from(seconds))],
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many attempts",
            )
            .detail(format!(
                "too many failed sign-ins for this e-mail; try again in {seconds} s"
            )),
        )
            .into_response();
    }
    let result = gateway
        .directory
        .login(&credentials.0, &credentials.1)
        .await;
    match &result {
        Ok(_) => gateway.login_throttle.succeeded(&credentials.0),
        Err(DirectoryError::InvalidCredentials) => gateway.login_throttle.failed(&credentials.0),
        Err(_) => {}
    }
    match result {
        Ok(session) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(LoginResponse {
                token: session.token.expose().to_owned(),
                expires_at: session.expires_at,
                user: session.user.into(),
            }),
        )
            .into_response(),
        Err(error) => directory_error(error),
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApiTokenRequest {
    /// Lifetime in days (1..=730); a year when absent.
    #[serde(default)]
    days: Option<u32>,
}

/// Issues an API token for a user (an integration's account);
/// administrators only. The token is shown once.
#[utoipa::path(post, path = "/api/v1/users/{id}/api-tokens", tag = "users",
    request_body = ApiTokenRequest, params(("id" = String, Path, format = Uuid)),
    responses((status = 201, body = LoginResponse), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn issue_api_token(
    State(gateway): State<Gateway>,
    crate::api::Auth(caller): crate::api::Auth,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Body,
) -> Response {
    let id = match crate::api::path_id(&id) {
        Ok(id) => UserId::from_uuid(id),
        Err(problem) => return problem.into_response(),
    };
    let request: ApiTokenRequest = match crate::api::read_json(body).await {
        Ok(request) => request,
        Err(problem) => return problem.into_response(),
    };
    let lifetime = match request.days {
        None => None,
        Some(days @ 1..=730) => Some(chrono::Duration::days(i64::from(days))),
        Some(_) => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "days_out_of_range",
                "Validation failed",
            )
            .detail("`days` must be between 1 and 730")
            .field("days")
            .into_response()
        }
    };
    match gateway
        .directory
        .issue_api_token(id, lifetime, &caller.actor())
        .await
    {
        Ok(session) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(LoginResponse {
                token: session.token.expose().to_owned(),
                expires_at: session.expires_at,
                user: session.user.into(),
            }),
        )
            .into_response(),
        Err(error) => directory_error(error),
    }
}

/// Ends the session of the presented token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401)), security(("bearer" = [])))]
async fn logout(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    let token = match bearer_token(&headers) {
        Ok(token) => token,
        Err(problem) => return unauthorized(problem),
    };
    match gateway.directory.logout(token).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => directory_error(error),
    }
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = UserBody), (status = 401)), security(("bearer" = [])))]
async fn me(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    let token = match bearer_token(&headers) {
        Ok(token) => token,
        Err(problem) => return unauthorized(problem),
    };
    match gateway.directory.authenticate(token).await {
        Ok(user) => Json(UserBody::from(user)).into_response(),
        Err(error) => directory_error(error),
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any
/// case). No header is `token_missing`; anything else unusable is
/// `token_invalid`.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, Problem> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(
            Problem::new(StatusCode::UNAUTHORIZED, "token_missing", "Token missing")
                .detail("send `Authorization: Bearer <token>` (from POST /api/v1/auth/login)"),
        );
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|text| text.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    token.ok_or_else(|| {
        Problem::new(StatusCode::UNAUTHORIZED, "token_invalid", "Token invalid")
            .detail("the Authorization header is not `Bearer <token>`")
    })
}

pub(crate) fn unauthorized(problem: Problem) -> Response {
    (
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
        problem,
    )
        .into_response()
}

/// Reads at most [`MAX_BODY_BYTES`] and parses a JSON object.
async fn read_json_object(
    body: Body,
) -> Result<serde_json::Map<String, serde_json::Value>, Problem> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "Body too large",
            )
            .detail(format!("the body must be at most {MAX_BODY_BYTES} bytes"))
        })?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad_request(
            "body_not_object",
            "the body must be a JSON object",
        )),
        Err(error) => Err(bad_request(
            "malformed_json",
            // serde_json's message names the line and column, never the input.
            format!("the body is not valid JSON: {error}"),
        )),
    }
}

fn take_string(
    object: &mut serde_json::Map<String, serde_json::Value>,
    field: &'static str,
) -> Result<String, Problem> {
    match object.remove(field) {
        Some(serde_json::Value::String(text)) => Ok(text),
        Some(_) => {
            Err(bad_request("field_invalid", format!("`{field}` must be a string")).field(field))
        }
        None => Err(bad_request("field_missing", format!("`{field}` is required")).field(field)),
    }
}

fn refuse_unknown_fields(
    object: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Problem> {
    match object.keys().next() {
        None => Ok(()),
        Some(unknown) => {
            let shown: String = unknown.chars().take(64).collect();
            Err(bad_request("field_unknown", format!("unknown field `{shown}`")).field(shown))
        }
    }
}

pub(crate) fn bad_request(code: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, code, "Bad request").detail(detail)
}

/// The one place a [`DirectoryError`] becomes HTTP.
pub(crate) fn directory_error(error: DirectoryError) -> Response {
    use DirectoryError as E;
    let code = error.code();
    let field = error.field();
    let (status, title) = match &error {
        E::InvalidCredentials | E::TokenInvalid | E::TokenExpired => {
            return unauthorized(
                Problem::new(StatusCode::UNAUTHORIZED, code, "Not authenticated")
                    .detail(error.to_string()),
            );
        }
        E::InvalidEmail(_)
        | E::InvalidDisplayName { .. }
        | E::NoRoles
        | E::PasswordPolicy(_)
        | E::InvalidDepartmentName { .. }
        | E::UnknownDepartment(_) => (StatusCode::UNPROCESSABLE_ENTITY, "Validation failed"),
        E::EmailTaken | E::DepartmentNameTaken(_) | E::Conflict { .. } => {
            (StatusCode::CONFLICT, "Conflict")
        }
        E::UnknownUser(_) => (StatusCode::NOT_FOUND, "Not found"),
        E::Forbidden { .. } => (StatusCode::FORBIDDEN, "Forbidden"),
        E::Store(StoreError::Unavailable(_) | StoreError::Closed) => {
            tracing::warn!(%error, "directory: store unavailable");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "Database unavailable",
            )
            .into_response();
        }
        E::Store(StoreError::NotWritable(_)) => {
            tracing::error!(%error, "directory: store not writable");
            return Problem::new(StatusCode::INSUFFICIENT_STORAGE, code, "Database full")
                .into_response();
        }
        E::Store(_) | E::Corrupt(_) | E::Internal(_) => {
            tracing::error!(%error, "directory: internal error");
            return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, code, "Internal error")
                .into_response();
        }
    };
    let mut problem = Problem::new(status, code, title).detail(error.to_string());
    if let Some(field) = field {
        problem = problem.field(field);
    }
    problem.into_response()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(login, logout, me),
    components(schemas(Credentials, LoginResponse, UserBody))
)]
pub(crate) struct AuthApi;
