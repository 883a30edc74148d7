//! `/api/v1/telephony`: call events from a phone system. An administrator
//! sets it up (`POST /api/v1/telephony/settings`: the signing secret is in
//! the answer only); the phone system posts each call report to
//! `POST /api/v1/telephony/events` with `X-Voronka-Timestamp` (unix seconds)
//! and `X-Voronka-Signature: sha256=<hex>`, the HMAC-SHA256 keyed with the
//! secret of `"<timestamp>.<raw body>"`. A bad signature, or a timestamp
//! more than five minutes away, is 401 before the body is read as JSON.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use voronka_app::crm::telephony::{
    CallEventInput, CallEventOutcome, TelephonyConfigured, TelephonySetup,
};

use crate::api::{app_problem, json_body, no_store, ok, read_json, respond, Auth};
use crate::{Gateway, Problem};

/// The largest call report accepted; larger is 413.
pub const MAX_REPORT_BYTES: usize = 64 * 1024;

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/telephony/settings", post(configure))
        .route("/api/v1/telephony/events", post(report))
}

/// Sets the phone system up: extensions -> users and a default
/// responsible. A new signing secret is generated every time (the old one
/// stops working) and shown in this answer only.
#[utoipa::path(post, path = "/api/v1/telephony/settings", tag = "telephony",
    request_body = TelephonySetup,
    responses((status = 201, body = TelephonyConfigured), (status = 403),
        (status = 422, description = "`extensions.<ext>` or `default_responsible` is not an active user")),
    security(("bearer" = [])))]
async fn configure(State(gateway): State<Gateway>, Auth(caller): Auth, body: Body) -> Response {
    respond(
        async {
            let setup: TelephonySetup = read_json(body).await?;
            let configured = gateway
                .crm
                .configure_telephony(&caller, setup)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(no_store(
                (StatusCode::CREATED, Json(configured)).into_response(),
            ))
        }
        .await,
    )
}

/// One call report: `{"call_id", "event": "started"|"answered"|"ended",
/// "direction": "incoming"|"outgoing", "from", "to", "at",
/// "duration_seconds"?, "user_email"? | "extension"?}`. The call becomes a
/// call activity on the contact found by the number (and on its one open
/// deal); a missed incoming call plans a callback task. The same report
/// twice changes nothing.
#[utoipa::path(post, path = "/api/v1/telephony/events", tag = "telephony",
    request_body = CallEventInput,
    params(("X-Voronka-Timestamp" = String, Header), ("X-Voronka-Signature" = String, Header)),
    responses((status = 200, body = CallEventOutcome), (status = 400), (status = 401),
        (status = 413), (status = 422)))]
async fn report(State(gateway): State<Gateway>, headers: HeaderMap, body: Body) -> Response {
    respond(
        async {
            let bytes = axum::body::to_bytes(body, MAX_REPORT_BYTES)
                .await
                .map_err(|_| {
                    Problem::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "Body too large",
                    )
                    .detail(format!("a call report is at most {MAX_REPORT_BYTES} bytes"))
                })?;
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            gateway
                .crm
                .verify_telephony_signature(
                    header("x-voronka-timestamp"),
                    header("x-voronka-signature"),
                    &bytes,
                )
                .await
                .map_err(|error| {
                    Problem::new(StatusCode::UNAUTHORIZED, error.code(), "Unauthorized")
                        .detail(error.to_string())
                })?;
            let input: CallEventInput = json_body(&bytes)?;
            let outcome = gateway
                .crm
                .record_call_event(input)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(outcome))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(configure, report),
    components(schemas(TelephonySetup, TelephonyConfigured, CallEventInput, CallEventOutcome))
)]
pub(crate) struct TelephonyApi;
