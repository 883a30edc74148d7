//! The web pages: server-rendered HTML (maud templates, which escape every
//! value), CSS and a little JavaScript embedded in the binary, Russian and
//! English (Fluent catalogues), cookie sessions with CSRF tokens.
//!
//! Pages call the same `Crm` service the API does, with the same `Caller`,
//! so the same rules and rights hold: a record the caller may not see is a
//! 404 page, one they see but may not change a 403 page. A form posts,
//! and either redirects (303) to the page that shows the result, or renders
//! that page again with the error and what is missing (422), in one round
//! trip.

pub mod admin;
pub mod customers;
pub mod day;
pub mod deals;
pub mod designer;
pub mod forms;
pub mod i18n;
pub mod imports;
pub mod integrations;
pub mod layout;
pub mod lead_forms;
pub mod mailings;
pub mod notifications;
pub mod reports;
pub mod session;
pub mod timeline;
pub mod upload;
pub mod webhooks;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;
use maud::{html, Markup};
use voronka_app::crm::AppError;

use self::forms::Form;
use self::i18n::Lang;
use self::session::{set_cookie, Signed, Viewer};
use crate::Gateway;

const CSS: &str = concat!(
    include_str!("../../assets/app.css"),
    include_str!("../../assets/reports.css"),
    include_str!("../../assets/admin.css"),
    include_str!("../../assets/integrations.css"),
);
const JS: &str = concat!(
    include_str!("../../assets/app.js"),
    include_str!("../../assets/reports.js"),
    include_str!("../../assets/admin.js"),
    include_str!("../../assets/integrations.js"),
);

/// Every page route.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang", post(switch_language))
        .route("/", get(day::page))
        .route("/activities", post(day::log_activity))
        .route("/activities/{id}/complete", post(day::complete))
        .route("/notifications", get(notifications::page))
        .route("/notifications/{id}/read", post(notifications::mark_read))
        .route("/board", get(deals::first_board))
        .route("/board/{process}", get(deals::board))
        .route("/deals/new", get(deals::new_deal_page))
        .route("/deals", post(deals::create_deal))
        .route("/deals/{id}", get(deals::card))
        .route("/deals/{id}/move", post(deals::move_deal))
        .route("/deals/{id}/fields", post(deals::update_fields))
        .route("/deals/{id}/documents", post(deals::add_document))
        .route("/documents/{id}/status", post(deals::document_status))
        .route("/documents/{id}/payments", post(deals::payment))
        .route(
            "/companies",
            get(customers::companies).post(customers::create_company),
        )
        .route("/companies/new", get(customers::new_company))
        .route("/companies/{id}", get(customers::company))
        .route(
            "/contacts",
            get(customers::contacts).post(customers::create_contact),
        )
        .route("/contacts/new", get(customers::new_contact))
        .route("/contacts/{id}", get(customers::contact))
        .merge(reports::routes())
        .merge(designer::routes())
        .merge(admin::routes())
        .merge(integrations::routes())
        .route("/{*rest}", any(not_found))
}

/// Why a page could not be shown. Each variant is one status.
#[derive(Debug)]
pub enum WebError {
    /// 404: no such record, or not one the caller may see.
    NotFound,
    /// 403: seen, but the caller may not do this.
    Forbidden,
    /// 400: a malformed request (bad id, unreadable form).
    BadRequest(String),
    /// 403: the form's CSRF token is missing or wrong.
    Csrf,
    /// 503: the database cannot be reached.
    Unavailable,
    /// 500: details in the log.
    Internal,
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebError::BadRequest(why) => write!(f, "bad request: {why}"),
            other => write!(f, "{}", other.status()),
        }
    }
}

impl std::error::Error for WebError {}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A plain error page (no navigation: it may be shown signed out).
    pub fn render(&self, lang: Lang) -> Response {
        let t = |key: &str| i18n::message(lang, key, &[]);
        let (title, detail) = match self {
            WebError::NotFound => (t("error-not-found"), t("error-not-found-detail")),
            WebError::Forbidden => (t("error-forbidden"), t("error-forbidden-detail")),
            WebError::BadRequest(why) => (t("error-bad-request"), why.clone()),
            WebError::Csrf => (t("error-csrf"), t("error-csrf-detail")),
            WebError::Unavailable => (t("error-unavailable"), t("error-unavailable-detail")),
            WebError::Internal => (t("error-internal"), t("error-internal-detail")),
        };
        let body = html! {
            main.narrow {
                h1 { (title) }
                p { (detail) }
                p { a href="/" { (t("error-home")) } }
            }
        };
        let markup = layout::bare(lang, &title, body);
        (self.status(), html_headers(), markup.into_string()).into_response()
    }
}

impl From<AppError> for WebError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::NotFound => WebError::NotFound,
            AppError::Forbidden(_) => WebError::Forbidden,
            AppError::Store(
                voronka_store::StoreError::Unavailable(_) | voronka_store::StoreError::Closed,
            ) => WebError::Unavailable,
            AppError::Invalid(_)
            | AppError::NotAllowed { .. }
            | AppError::Rejected { .. }
            | AppError::Conflict { .. }
            | AppError::AlreadyExists
            | AppError::Duplicates { .. } => WebError::BadRequest(error.to_string()),
            other => {
                tracing::error!(error = %other, "web page failed");
                WebError::Internal
            }
        }
    }
}

/// A refused action to show beside the form: the messages, and every
/// unmet requirement of a process refusal (`{code, stage, message}`).
#[derive(Debug, Clone, Default)]
pub struct Refusal {
    pub status: u16,
    pub messages: Vec<String>,
    pub unmet: Vec<serde_json::Value>,
}

impl Refusal {
    pub fn message(status: StatusCode, message: String) -> Refusal {
        Refusal {
            status: status.as_u16(),
            messages: vec![message],
            unmet: Vec::new(),
        }
    }

    /// A refusal to show on the page, or an error page for what is not
    /// the form's fault (404, 403, the database).
    pub fn from_app(lang: Lang, error: AppError) -> Result<Refusal, WebError> {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY.as_u16();
        Ok(match error {
            AppError::Invalid(errors) => Refusal {
                status: unprocessable,
                messages: errors
                    .iter()
                    .map(|e| {
                        let key = format!("field-{}", e.field.replace(['.', '_'], "-"));
                        let label = if i18n::has_message(lang, &key) {
                            i18n::message(lang, &key, &[])
                        } else {
                            e.field.clone()
                        };
                        format!("{label}: {}", e.message)
                    })
                    .collect(),
                unmet: Vec::new(),
            },
            AppError::NotAllowed { message, .. } => Refusal {
                status: unprocessable,
                messages: vec![message],
                unmet: Vec::new(),
            },
            AppError::Rejected { message, unmet, .. } => Refusal {
                status: unprocessable,
                messages: if unmet.is_empty() {
                    vec![message]
                } else {
                    vec![i18n::message(lang, "refused-unmet", &[])]
                },
                unmet,
            },
            AppError::Conflict { .. } | AppError::AlreadyExists => Refusal::message(
                StatusCode::CONFLICT,
                i18n::message(lang, "error-conflict", &[]),
            ),
            AppError::Duplicates { .. } => Refusal::message(
                StatusCode::CONFLICT,
                i18n::message(lang, "duplicates-found", &[]),
            ),
            other => return Err(other.into()),
        })
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
    }
}

/// The headers of every HTML answer: the type, no caching of personal
/// data, no framing, no inline scripts from elsewhere.
pub fn html_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
            ),
        ),
    ]
}

/// An HTML answer with `status`.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    (status, html_headers(), markup.into_string()).into_response()
}

/// A 303 to `to` (after a successful form).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Runs a page body; an error becomes its error page.
pub fn page_result(lang: Lang, result: Result<Response, WebError>) -> Response {
    result.unwrap_or_else(|error| error.render(lang))
}

/// A path segment that must be a UUID.
pub fn path_uuid(text: &str) -> Result<uuid::Uuid, WebError> {
    uuid::Uuid::parse_str(text).map_err(|_| WebError::NotFound)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

/// Unknown paths: problem+json under `/api`, a page elsewhere.
async fn not_found(viewer: Viewer) -> Response {
    if viewer.path.starts_with("/api/") || viewer.path == "/api" {
        return crate::unknown_route().await;
    }
    WebError::NotFound.render(viewer.lang)
}

#[derive(serde::Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(viewer: Viewer, Query(query): Query<LoginQuery>) -> Response {
    let response = html_response(
        StatusCode::OK,
        login_markup(&viewer, query.next.as_deref(), None, ""),
    );
    viewer.finish(response)
}

fn login_markup(viewer: &Viewer, next: Option<&str>, error: Option<&str>, email: &str) -> Markup {
    let lang = viewer.lang;
    let t = |key: &str| i18n::message(lang, key, &[]);
    let body = html! {
        main.narrow {
            h1 { "Voronka" }
            @if let Some(error) = error {
                p.alert role="alert" { (error) }
            }
            form.card method="post" action="/login" {
                input type="hidden" name=(session::CSRF_FIELD) value=(viewer.csrf);
                input type="hidden" name="next" value=(session::safe_next(next));
                label for="email" { (t("login-email")) }
                input #email type="email" name="email" autocomplete="username" required value=(email);
                label for="password" { (t("login-password")) }
                input #password type="password" name="password" autocomplete="current-password" required;
                button.primary type="submit" { (t("login-submit")) }
            }
            (layout::language_form(viewer, "/login"))
        }
    };
    layout::bare(lang, &t("login-title"), body)
}

async fn login(State(gateway): State<Gateway>, viewer: Viewer, body: axum::body::Body) -> Response {
    let lang = viewer.lang;
    let form = match Form::read(&viewer, body).await {
        Ok(form) => form,
        Err(error) => return error.render(lang),
    };
    let email = form.text("email").unwrap_or_default();
    let password = form.raw("password").unwrap_or_default();
    let next = form.text("next");
    let failed = |key: &str, status: StatusCode| {
        let message = i18n::message(lang, key, &[]);
        html_response(
            status,
            login_markup(&viewer, next.as_deref(), Some(&message), &email),
        )
    };
    if gateway.login_throttle.check(&email).is_err() {
        return failed("login-throttled", StatusCode::TOO_MANY_REQUESTS);
    }
    let result = gateway.directory.login(&email, &password).await;
    match result {
        Ok(session) => {
            gateway.login_throttle.succeeded(&email);
            let max_age = (session.expires_at - chrono::Utc::now())
                .num_seconds()
                .max(60);
            let mut response = see_other(&session::safe_next(next.as_deref()));
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    session::SESSION_COOKIE,
                    session.token.expose(),
                    max_age,
                    true,
                    viewer.secure,
                ),
            );
            response
        }
        Err(voronka_app::directory::DirectoryError::InvalidCredentials) => {
            gateway.login_throttle.failed(&email);
            failed("login-failed", StatusCode::UNAUTHORIZED)
        }
        Err(error) => {
            tracing::warn!(%error, "web sign-in failed");
            WebError::Unavailable.render(lang)
        }
    }
}

async fn logout(
    State(gateway): State<Gateway>,
    signed: Signed,
    body: axum::body::Body,
) -> Response {
    let viewer = &signed.viewer;
    if let Err(error) = Form::read(viewer, body).await {
        return error.render(viewer.lang);
    }
    if let Some(token) = &viewer.session_token {
        if let Err(error) = gateway.directory.logout(token).await {
            tracing::warn!(%error, "web sign-out failed");
        }
    }
    let mut response = see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session::SESSION_COOKIE, "", 0, true, viewer.secure),
    );
    response
}

/// Sets the `lang` cookie (a year) and goes back.
async fn switch_language(viewer: Viewer, body: axum::body::Body) -> Response {
    let form = match Form::read(&viewer, body).await {
        Ok(form) => form,
        Err(error) => return error.render(viewer.lang),
    };
    let Some(lang) = form.text("lang").as_deref().and_then(Lang::parse) else {
        return WebError::BadRequest("lang".into()).render(viewer.lang);
    };
    let back = session::safe_next(form.text("back").as_deref());
    let mut response = see_other(&back);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            session::LANG_COOKIE,
            lang.code(),
            60 * 60 * 24 * 365,
            false,
            viewer.secure,
        ),
    );
    response
}
