//! `/api/v1/forms`: website lead forms. Administrators create, list, pause
//! and delete them; `POST /api/v1/forms/{token}/submit` is public and takes
//! what a website posts (a plain HTML form, urlencoded, or JSON).
//!
//! The public answer is the same for a lead let in and for a bot caught by
//! the honeypot (`200 {"status": "received"}`), so a bot learns nothing;
//! bots are counted in `voronka_form_submissions_total{outcome="honeypot"}`.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use voronka_app::crm::forms::{FormSubmission, LeadFormView, SubmissionOutcome, SubmitError};
use voronka_crm::lead_form::{LeadFormId, LeadFormInput, RateLimit};

use crate::api::{app_problem, ok, path_id, read_json, respond, Auth, IdempotencyKey};
use crate::{Gateway, Problem};

/// The largest submission a website may post; larger is 413.
pub const MAX_SUBMISSION_BYTES: usize = 16 * 1024;

/// Submissions by outcome.
#[derive(Clone)]
pub struct FormMetrics {
    submissions: prometheus::IntCounterVec,
}

impl FormMetrics {
    pub fn register(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let submissions = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "voronka_form_submissions_total",
                "Website form submissions by outcome (accepted, honeypot, rate_limited, invalid, not_found, failed)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(submissions.clone()))?;
        Ok(Self { submissions })
    }

    fn count(metrics: &Option<Self>, outcome: &str) {
        if let Some(metrics) = metrics {
            metrics.submissions.with_label_values(&[outcome]).inc();
        }
    }
}

pub(crate) fn routes(metrics: Option<FormMetrics>) -> Router<Gateway> {
    Router::new()
        .route("/api/v1/forms", get(list).post(create))
        .route(
            "/api/v1/forms/{id}",
            get(read).patch(set_active).delete(delete),
        )
        .route(
            "/api/v1/forms/{token}/submit",
            post(submit).options(preflight),
        )
        .layer(Extension(metrics))
}

/// Pause or resume.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FormPatch {
    /// `false` pauses the form (its token answers 404); `true` resumes it.
    active: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct FormList {
    items: Vec<LeadFormView>,
}

/// The public answer to a submission.
#[derive(Serialize, utoipa::ToSchema)]
struct Received {
    /// Always `received`.
    status: &'static str,
}

/// Creates a form: its name, department (whose managers take its leads in
/// turn), the mapping of website fields to lead fields, a honeypot field and
/// a rate limit (10 at once, 10 a minute per address by default). The
/// answer has the public `token` and the `submit_path`.
#[utoipa::path(post, path = "/api/v1/forms", tag = "forms",
    request_body = LeadFormInput,
    responses((status = 201, body = LeadFormView), (status = 403),
        (status = 422, description = "`name`, `department`, `fields.<website field>`, `honeypot` or `rate_limit.*` invalid")),
    security(("bearer" = [])))]
async fn create(State(gateway): State<Gateway>, Auth(caller): Auth, body: Body) -> Response {
    respond(
        async {
            let input: LeadFormInput = read_json(body).await?;
            let view = gateway
                .crm
                .create_form(&caller, input)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>((StatusCode::CREATED, Json(view)).into_response())
        }
        .await,
    )
}

/// Every form, oldest first.
#[utoipa::path(get, path = "/api/v1/forms", tag = "forms",
    responses((status = 200, body = FormList), (status = 403)),
    security(("bearer" = [])))]
async fn list(State(gateway): State<Gateway>, Auth(caller): Auth) -> Response {
    respond(
        async {
            let items = gateway.crm.forms(&caller).await.map_err(app_problem)?;
            Ok::<Response, Problem>(ok(FormList { items }))
        }
        .await,
    )
}

/// One form.
#[utoipa::path(get, path = "/api/v1/forms/{id}", tag = "forms",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = LeadFormView), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn read(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = LeadFormId::from_uuid(path_id(&id)?);
            let view = gateway.crm.form(&caller, id).await.map_err(app_problem)?;
            Ok::<Response, Problem>(ok(view))
        }
        .await,
    )
}

/// Pauses (`{"active": false}`) or resumes (`{"active": true}`) a form.
#[utoipa::path(patch, path = "/api/v1/forms/{id}", tag = "forms",
    params(("id" = String, Path, format = Uuid)), request_body = FormPatch,
    responses((status = 200, body = LeadFormView), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn set_active(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    respond(
        async {
            let id = LeadFormId::from_uuid(path_id(&id)?);
            let patch: FormPatch = read_json(body).await?;
            let view = gateway
                .crm
                .set_form_active(&caller, id, patch.active)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(view))
        }
        .await,
    )
}

/// Deletes a form; its leads stay.
#[utoipa::path(delete, path = "/api/v1/forms/{id}", tag = "forms",
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
            let id = LeadFormId::from_uuid(path_id(&id)?);
            gateway
                .crm
                .delete_form(&caller, id)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

/// Lets a website's script post from its own origin.
fn cross_origin(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, idempotency-key"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    response
}

async fn preflight() -> Response {
    cross_origin(StatusCode::NO_CONTENT.into_response())
}

/// The posted fields as ordered pairs: urlencoded (a plain HTML form), or a
/// JSON object of strings, numbers and booleans.
fn submitted_values(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" | "" => Ok(form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()),
        "application/json" => {
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
                .map_err(|error| {
                Problem::new(StatusCode::BAD_REQUEST, "malformed_json", "Bad request")
                    .detail(format!("the body is not a JSON object: {error}"))
            })?;
            object
                .into_iter()
                .filter_map(|(key, value)| match value {
                    serde_json::Value::String(text) => Some(Ok((key, text))),
                    serde_json::Value::Number(n) => Some(Ok((key, n.to_string()))),
                    serde_json::Value::Bool(b) => Some(Ok((key, b.to_string()))),
                    serde_json::Value::Null => None,
                    _ => Some(Err(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_body",
                        "Bad request",
                    )
                    .detail("every value is a string, a number or a boolean")
                    .field(key))),
                })
                .collect()
        }
        _ => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
        )
        .detail("post application/x-www-form-urlencoded or application/json")),
    }
}

/// Takes a website's submission. No sign-in: the token in the path names
/// the form. 404 for an unknown or paused form, 413 over 16 KiB, 422
/// naming the website field when the phone and e-mail are both missing or
/// one is malformed, 429 with `Retry-After` past the form's rate limit.
/// `Idempotency-Key` makes a resubmission create nothing twice.
#[utoipa::path(post, path = "/api/v1/forms/{token}/submit", tag = "forms",
    params(("token" = String, Path)),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Received), (status = 404), (status = 413),
        (status = 422), (status = 429)))]
async fn submit(
    State(gateway): State<Gateway>,
    Extension(metrics): Extension<Option<FormMetrics>>,
    Path(token): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    let client = gateway.trusted_proxies.client(peer, &parts.headers);
    let result = async {
        let bytes = axum::body::to_bytes(body, MAX_SUBMISSION_BYTES)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "Body too large",
                )
                .detail(format!(
                    "a submission is at most {MAX_SUBMISSION_BYTES} bytes"
                ))
            })?;
        let key = IdempotencyKey::from_headers(&parts.headers)?;
        let values = submitted_values(&parts.headers, &bytes)?;
        let outcome = gateway
            .crm
            .submit_form(
                &token,
                FormSubmission {
                    values,
                    client,
                    idempotency_key: key.key().map(str::to_owned),
                },
            )
            .await
            .map_err(|error| match error {
                SubmitError::App(app) => app_problem(app),
                SubmitError::RateLimited { retry_after } => {
                    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                    Problem::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        "Too many requests",
                    )
                    .detail(format!("too many submissions; retry in {seconds} s"))
                    .with("retry_after", seconds.max(1))
                }
            })?;
        FormMetrics::count(
            &metrics,
            match outcome {
                SubmissionOutcome::Accepted(_) => "accepted",
                SubmissionOutcome::Honeypot => "honeypot",
            },
        );
        Ok::<Response, Problem>(ok(Received { status: "received" }))
    }
    .await;
    let response = match result {
        Ok(response) => response,
        Err(problem) => {
            let status = problem.status();
            FormMetrics::count(
                &metrics,
                match status {
                    StatusCode::TOO_MANY_REQUESTS => "rate_limited",
                    StatusCode::NOT_FOUND => "not_found",
                    s if s.is_client_error() => "invalid",
                    _ => "failed",
                },
            );
            let retry_after = problem
                .extension("retry_after")
                .and_then(serde_json::Value::as_u64);
            let mut response = problem.into_response();
            if let Some(seconds) = retry_after {
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            response
        }
    };
    cross_origin(response)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create, list, read, set_active, delete, submit),
    components(schemas(LeadFormInput, RateLimit, LeadFormView, FormPatch, FormList, Received))
)]
pub(crate) struct FormsApi;
