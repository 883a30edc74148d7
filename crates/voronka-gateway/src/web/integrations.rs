//! The integrations section: one index of the pages a caller may use
//! (imports with an edit right, mailings with `send_mailings`, lead forms
//! with `manage_integrations`, webhooks with `manage_webhooks`), and their
//! routes. The navigation shows it only to those who may use one of them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use voronka_app::access::Action;

use super::layout::{self, t, Nav};
use super::session::Signed;
use super::{html_response, imports, lead_forms, mailings, webhooks, WebError};
use crate::Gateway;

/// The routes of the section.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/integrations", get(index))
        .merge(imports::routes())
        .merge(mailings::routes())
        .merge(lead_forms::routes())
        .merge(webhooks::routes())
}

/// The section's pages the caller may use: (path, title key, hint key).
pub fn pages(
    gateway: &Gateway,
    signed: &Signed,
) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut pages = Vec::new();
    if !imports::allowed_kinds(gateway, signed).is_empty() {
        pages.push(("/imports", "imp-title", "int-imports-hint"));
    }
    if signed.caller.may_at_all(Action::SendMailings).is_ok() {
        pages.push(("/mailings", "mail-title", "int-mailings-hint"));
    }
    if signed.caller.may_at_all(Action::ManageIntegrations).is_ok() {
        pages.push(("/integrations/forms", "lf-title", "int-forms-hint"));
    }
    if signed.caller.may_at_all(Action::ManageWebhooks).is_ok() {
        pages.push(("/integrations/webhooks", "wh-title", "int-webhooks-hint"));
    }
    pages
}

async fn index(State(gateway): State<Gateway>, signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    let pages = pages(&gateway, &signed);
    if pages.is_empty() {
        return WebError::Forbidden.render(lang);
    }
    let body = html! {
        ul.list.int-links {
            @for (href, key, hint) in &pages {
                li { a href=(href) { (t(lang, key)) } p.muted { (t(lang, hint)) } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(
            &signed,
            &t(lang, "nav-integrations"),
            Nav::Integrations,
            body,
        ),
    )
}
