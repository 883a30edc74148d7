//! `GET /api/v1/openapi.json`: the OpenAPI 3 document, generated from the
//! handlers' annotations and the request and response types themselves, so
//! it cannot drift from the code.

use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(info(
    title = "Voronka API",
    description = "A process CRM: customer base, deals on processes, activities, documents. \
        Errors are application/problem+json with a stable `code`.",
    version = "1"
))]
struct Root;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = Root::openapi();
    for part in crate::api_parts() {
        document.merge(part);
    }
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    document
}

pub(crate) async fn serve_document() -> Response {
    Json(document()).into_response()
}
