//! The HTTP edge of Voronka. Handlers are thin: they call the layer below
//! and map its result; no SQL and no business rule lives here.
//!
//! `/healthz` (the process runs), `/readyz` (the database is reachable and
//! migrated), `/metrics` (Prometheus text format, including every request
//! by route and status), `/api/v1/openapi.json`, and the REST API under
//! `/api/v1` (see [`api`] for what every handler shares).

pub mod api;
pub mod auth;
pub mod client_address;
mod customers;
mod deals;
mod designer_api;
mod forms_api;
mod imports_api;
mod mailings_api;
mod meta;
mod notifications_api;
pub mod openapi;
mod problem;
mod report_csv;
pub mod reports;
mod reports_builder;
mod reports_work;
mod telephony_api;
pub mod web;
mod webhooks_api;
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
use voronka_app::reports::Reports;
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
    /// Reports over the projections' read models.
    pub reports: Arc<Reports>,
    /// Outgoing webhook subscriptions and their delivery log.
    pub webhooks: Arc<voronka_app::webhooks::Webhooks>,
    /// Segments and mailings.
    pub mailings: Arc<voronka_app::mailings::Mailings>,
    /// Failed sign-ins per e-mail.
    pub login_throttle: Arc<auth::LoginThrottle>,
    /// Reverse proxies believed about the client they forward for.
    pub trusted_proxies: Arc<client_address::TrustedProxies>,
    /// The address users reach the pages at (`serve --public-url`), for
    /// absolute links shown on pages; `None`: the request's own Host.
    pub public_url: Option<String>,
}

/// The OpenAPI parts of every API module, merged into one document.
pub(crate) fn api_parts() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![
        auth::AuthApi::openapi(),
        customers::CustomersApi::openapi(),
        deals::DealsApi::openapi(),
        meta::MetaApi::openapi(),
        designer_api::DesignerApi::openapi(),
        reports::ReportsApi::openapi(),
        reports_builder::ReportsBuilderApi::openapi(),
        reports_work::ReportsWorkApi::openapi(),
        work::WorkApi::openapi(),
        webhooks_api::WebhooksApi::openapi(),
        mailings_api::MailingsApi::openapi(),
        forms_api::FormsApi::openapi(),
        telephony_api::TelephonyApi::openapi(),
        notifications_api::NotificationsApi::openapi(),
        imports_api::ImportsApi::openapi(),
    ]
}

/// Builds the router with every route Voronka serves.
pub fn router(gateway: Gateway) -> Router {
    let http_metrics = HttpMetrics::register(&gateway.registry)
        .map_err(|error| tracing::warn!(%error, "HTTP metrics not registered"))
        .ok();
    let form_metrics = forms_api::FormMetrics::register(&gateway.registry)
        .map_err(|error| tracing::warn!(%error, "form metrics not registered"))
        .ok();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::serve_document))
        .merge(auth::routes())
        .merge(customers::routes())
        .merge(deals::routes())
        .merge(meta::routes())
        .merge(designer_api::routes())
        .merge(reports::routes())
        .merge(reports_builder::routes())
        .merge(reports_work::routes())
        .merge(work::routes())
        .merge(webhooks_api::routes())
        .merge(mailings_api::routes())
        .merge(forms_api::routes(form_metrics))
        .merge(telephony_api::routes())
        .merge(notifications_api::routes())
        .merge(imports_api::routes())
        .merge(web::routes())
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            count_requests,
        ))
        .with_state(gateway)
}

/// 404 problem+json for a path no route serves.
async fn unknown_route() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "route_not_found", "Not found")
        .detail("no such endpoint; see /api/v1/openapi.json")
        .into_response()
}

/// Requests by route template (never the raw path: ids would explode the
/// label set), method and status, and their latency.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: prometheus::IntCounterVec,
    seconds: prometheus::HistogramVec,
}

impl HttpMetrics {
    pub fn register(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let requests = prometheus::IntCounterVec::new(
            prometheus::Opts::new("voronka_http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        )?;
        let seconds = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new(
                "voronka_http_request_seconds",
                "Time to answer an HTTP request",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        Ok(Self { requests, seconds })
    }
}

async fn count_requests(
    State(metrics): State<Option<HttpMetrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(metrics) = metrics else {
        return next.run(request).await;
    };
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics
        .seconds
        .with_label_values(&[&route, &method])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[&route, &method, response.status().as_str()])
        .inc();
    response
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight. Handlers see the peer address (the website forms'
/// rate limit is per client address).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
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
