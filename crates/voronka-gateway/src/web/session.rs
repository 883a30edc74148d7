//! Who is looking at a page: the session cookie (the same session tokens
//! the API's bearer tokens are, issued and checked by `Directory`), the
//! language and time zone, and the CSRF token every form carries.
//!
//! The session cookie is `HttpOnly` (scripts never see the token),
//! `SameSite=Lax` (other sites' forms do not carry it) and `Secure` when the
//! request came over TLS (`X-Forwarded-Proto: https` from the proxy).
//!
//! CSRF: every form has a hidden `_csrf` field, checked on every POST. With
//! a session it is derived from the session token (SHA-256 with a purpose
//! prefix), so it is per session, needs no storage, and cannot be computed
//! without the HttpOnly token. Before sign-in (the login and language
//! forms) it is derived the same way from a random `voronka_pre` cookie.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::FixedOffset;
use sha2::{Digest, Sha256};
use voronka_app::crm::Caller;

use super::i18n::Lang;
use super::WebError;
use crate::Gateway;

pub const SESSION_COOKIE: &str = "voronka_session";
pub const PRE_SESSION_COOKIE: &str = "voronka_pre";
pub const LANG_COOKIE: &str = "lang";
/// Minutes east of UTC, set by the page script from the browser's zone.
pub const TZ_COOKIE: &str = "tz";
/// The name of the hidden CSRF field.
pub const CSRF_FIELD: &str = "_csrf";

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Whether the request came over TLS (directly or through a proxy).
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value with the attributes every Voronka cookie has.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_seconds: i64,
    http_only: bool,
    secure: bool,
) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; Max-Age={max_age_seconds}; SameSite=Lax");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if secure {
        text.push_str("; Secure");
    }
    // Names and values are ASCII we produce (tokens, codes), never user text.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The CSRF token of a seed (the session token, or the pre-session value).
pub fn csrf_token(seed: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"voronka/csrf/");
    hash.update(seed.as_bytes());
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares without an early exit, so timing says nothing of the token.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What every page knows about its viewer, signed in or not.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub lang: Lang,
    pub zone: FixedOffset,
    pub secure: bool,
    /// The CSRF token for this viewer's forms (empty until a pre-session
    /// cookie exists).
    pub csrf: String,
    /// A pre-session cookie to set on this answer (first visit).
    pub new_pre_session: Option<String>,
    /// The session token from the cookie, if any (not yet checked).
    pub session_token: Option<String>,
    /// The path and query asked for (to come back after sign-in).
    pub path: String,
}

impl Viewer {
    pub fn from_parts(parts: &Parts) -> Viewer {
        let headers = &parts.headers;
        let lang = cookie(headers, LANG_COOKIE)
            .and_then(Lang::parse)
            .unwrap_or_else(|| {
                Lang::from_accept_language(
                    headers
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok()),
                )
            });
        let zone = cookie(headers, TZ_COOKIE)
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|minutes| minutes.abs() <= 14 * 60)
            .and_then(|minutes| FixedOffset::east_opt(minutes * 60))
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC is a valid offset"));
        let session_token = cookie(headers, SESSION_COOKIE).map(str::to_owned);
        let pre = cookie(headers, PRE_SESSION_COOKIE).map(str::to_owned);
        let (csrf, new_pre_session) = match (&session_token, pre) {
            (Some(token), _) => (csrf_token(token), None),
            (None, Some(pre)) => (csrf_token(&pre), None),
            (None, None) => {
                let fresh = uuid::Uuid::new_v4().simple().to_string();
                (csrf_token(&fresh), Some(fresh))
            }
        };
        Viewer {
            lang,
            zone,
            secure: over_tls(headers),
            csrf,
            new_pre_session,
            session_token,
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        }
    }

    /// Adds the cookies this viewer needs to an answer.
    pub fn finish(&self, mut response: Response) -> Response {
        if let Some(pre) = &self.new_pre_session {
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(PRE_SESSION_COOKIE, pre, 60 * 60 * 24, true, self.secure),
            );
        }
        response
    }

    /// The CSRF token a POST must carry, checked against the cookies the
    /// request came with (a POST never mints a fresh pre-session).
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), WebError> {
        if self.new_pre_session.is_some() {
            return Err(WebError::Csrf);
        }
        match presented {
            Some(token) if same_token(token, &self.csrf) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }
}

impl FromRequestParts<Gateway> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &Gateway) -> Result<Self, Response> {
        Ok(Viewer::from_parts(parts))
    }
}

/// A signed-in viewer: the caller as the API sees them. Without a valid
/// session, pages redirect to `/login?next=...` (303).
#[derive(Debug, Clone)]
pub struct Signed {
    pub viewer: Viewer,
    pub caller: Caller,
    /// The caller's unread notifications (the header's counter).
    pub unread_notifications: usize,
}

impl FromRequestParts<Gateway> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Self, Response> {
        let viewer = Viewer::from_parts(parts);
        // After sign-in a page is shown again; a form is not re-sent.
        let back = if parts.method == axum::http::Method::GET {
            viewer.path.clone()
        } else {
            "/".to_owned()
        };
        let to_login = |viewer: &Viewer| {
            let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>();
            let mut response = Redirect::to(&format!("/login?next={next}")).into_response();
            if viewer.session_token.is_some() {
                response.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(SESSION_COOKIE, "", 0, true, viewer.secure),
                );
            }
            response
        };
        let Some(token) = viewer.session_token.clone() else {
            return Err(to_login(&viewer));
        };
        match gateway.directory.authenticate_with_access(&token).await {
            Ok((user, access)) => {
                let caller = Caller::new(user, access);
                let unread_notifications = match gateway.crm.notifications(&caller).await {
                    Ok(inbox) => inbox.unread(),
                    Err(error) => {
                        tracing::warn!(%error, "web: the notification counter is unavailable");
                        0
                    }
                };
                Ok(Signed {
                    viewer,
                    caller,
                    unread_notifications,
                })
            }
            Err(
                voronka_app::directory::DirectoryError::TokenInvalid
                | voronka_app::directory::DirectoryError::TokenExpired,
            ) => Err(to_login(&viewer)),
            Err(error) => {
                tracing::warn!(%error, "web: authentication failed");
                Err(WebError::Unavailable.render(viewer.lang))
            }
        }
    }
}

/// Where to go after signing in: a local path only (never another site).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.starts_with("/login") =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        let cases = [
            (Some("/deals/1"), "/deals/1"),
            (Some("//evil.example/"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("/login"), "/"),
            (None, "/"),
        ];
        for (next, expected) in cases {
            assert_eq!(safe_next(next), expected, "{next:?}");
        }
    }

    #[test]
    fn csrf_tokens_differ_per_seed_and_compare_exactly() {
        let a = csrf_token("session-a");
        assert_eq!(a.len(), 32);
        assert_ne!(a, csrf_token("session-b"));
        assert!(same_token(&a, &csrf_token("session-a")));
        assert!(!same_token(&a, &a[..31]));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xlang=de; lang=en; voronka_session=abc"),
        );
        assert_eq!(cookie(&headers, "lang"), Some("en"));
        assert_eq!(cookie(&headers, "voronka_session"), Some("abc"));
        assert_eq!(cookie(&headers, "tz"), None);
    }
}
