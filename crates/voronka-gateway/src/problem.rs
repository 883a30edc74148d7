//! RFC 9457 problem details: every error leaves the gateway as
//! `application/problem+json` with a stable machine `code`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(skip)]
    status: StatusCode,
    /// A stable machine-readable code, e.g. `version_conflict`.
    pub code: &'static str,
    pub title: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request field the problem is about (validation errors name it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(rename = "status")]
    status_code: u16,
    /// Problem-specific members (`errors`, `unmet`, `candidates`...).
    #[serde(flatten)]
    extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            field: None,
            status_code: status.as_u16(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds a problem-specific member (e.g. `errors` with every invalid
    /// field, `unmet` with every unmet requirement).
    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.extensions.insert(name.to_string(), value);
        }
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A problem-specific member added with [`Problem::with`].
    pub fn extension(&self, name: &str) -> Option<&serde_json::Value> {
        self.extensions.get(name)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body =
            serde_json::to_vec(&self).unwrap_or_else(|_| b"{\"code\":\"internal\"}".to_vec());
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}
