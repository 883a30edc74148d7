//! The HTTP edge of Voronka. Handlers are thin: they call the layer below
//! and map its result; no SQL and no business rule lives here.
//!
//! Now: `/healthz` (the process runs), `/readyz` (the database is reachable
//! and migrated), `/metrics` (Prometheus text format), and sign-in under
//! `/api/v1` (see [`auth`]).

pub mod api;
pub mod auth;
mod customers;
mod deals;
mod meta;
pub mod openapi;
mod problem;
mod work;

pub use problem::Problem;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::future::Future;
use std::sync::Arc;
use voronka_app::crm::Crm;
use voronka_app::directory::Directory;
use voronka_store::EventStore;

/// What every handler can reach.
#[derive(Clone)]
pub struct Gateway {
    pub store: Arc<dyn EventStore>,
    pub registry: prometheus::Registry,
    /// Users, departments and sessions: who a request is.
    pub directory: Arc<Directory>,
    /// Every CRM command and query.
    pub crm: Arc<Crm>,
    /// Failed sign-ins per e-mail.
    pub login_throttle: Arc<auth::LoginThrottle>,
}

/// The OpenAPI parts of every API module, merged into one document.
pub(crate) fn api_parts() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![
        auth::AuthApi::openapi(),
        customers::CustomersApi::openapi(),
        deals::DealsApi::openapi(),
        meta::MetaApi::openapi(),
        work::WorkApi::openapi(),
    ]
}

/// Builds the router with every route Voronka serves.
pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::serve_document))
        .merge(auth::routes())
        .merge(customers::routes())
        .merge(deals::routes())
        .merge(meta::routes())
        .merge(work::routes())
        .with_state(gateway)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(serde::Serialize)]
struct Readiness {
    status: &'static str,
    backend: &'static str,
    head_position: u64,
}

async fn readyz(State(gateway): State<Gateway>) -> Response {
    match gateway.store.health().await {
        Ok(health) if health.migrations_applied => Json(Readiness {
            status: "ready",
            backend: health.backend,
            head_position: health.head.0,
        })
        .into_response(),
        Ok(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_migrated",
            "Database not migrated",
        )
        .detail("the database schema is behind this version of Voronka; run `voronka migrate`")
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "Database unavailable",
            )
            .detail("the database cannot be reached")
            .into_response()
        }
    }
}

async fn metrics(State(gateway): State<Gateway>) -> Response {
    use prometheus::Encoder;
    let encoder = prometheus::TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&gateway.registry.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding metrics failed");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            )
            .into_response()
        }
    }
}
