//! The caller's notifications as a page: unread first, each with its deal,
//! and a button to mark it read. The counter of unread ones is in every
//! page's header (`layout::page`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use voronka_crm::notification::{NotificationId, NotificationKind};

use super::forms::Form;
use super::i18n::{self, Lang};
use super::layout::{self, csrf, t, Nav};
use super::session::Signed;
use super::{html_response, page_result, path_uuid, see_other, WebError};
use crate::Gateway;

pub async fn page(State(gateway): State<Gateway>, signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let inbox = gateway.crm.notifications(&signed.caller).await?;
        let viewer = &signed.viewer;
        let listed = inbox.listed();
        let body = html! {
            @if listed.is_empty() {
                p.muted { (t(lang, "ntf-empty")) }
            } @else {
                ul.notifications {
                    @for n in listed {
                        li.notification.unread[n.read_at.is_none()] {
                            span.kind { (kind_title(lang, n.kind)) }
                            " "
                            @if let Some(deal) = n.deal {
                                a href=(format!("/deals/{deal}")) { (text(lang, &n.text)) }
                            } @else {
                                span { (text(lang, &n.text)) }
                            }
                            " · " time datetime=(n.created_at.to_rfc3339()) { (i18n::moment(lang, viewer.zone, n.created_at)) }
                            @if n.read_at.is_none() {
                                form.inline method="post" action=(format!("/notifications/{}/read", n.id)) {
                                    (csrf(viewer))
                                    button.link type="submit" { (t(lang, "ntf-mark-read")) }
                                }
                            }
                        }
                    }
                }
            }
        };
        let markup = layout::page(&signed, &t(lang, "ntf-title"), Nav::None, body);
        Ok::<Response, WebError>(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

pub async fn mark_read(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = NotificationId::from_uuid(path_uuid(&id)?);
        Form::read(&signed.viewer, body).await?;
        gateway
            .crm
            .mark_notification_read(&signed.caller, id)
            .await?;
        Ok::<Response, WebError>(see_other("/notifications"))
    }
    .await;
    page_result(lang, result)
}

fn text(lang: Lang, text: &voronka_crm::notification::NotificationText) -> String {
    match lang.code() {
        "ru" => text.ru.clone(),
        _ => text.en.clone(),
    }
}

fn kind_title(lang: Lang, kind: NotificationKind) -> String {
    t(lang, &format!("ntf-kind-{}", kind.as_str()))
}
