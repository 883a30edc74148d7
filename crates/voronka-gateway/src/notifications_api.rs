//! `/api/v1/notifications` (the caller's own, unread first; mark one read)
//! and `/api/v1/me/notification-settings` (e-mail on or off per kind).
//! Notifications are raised by automations and reminders (`voronka-app`'s
//! timers); nobody sees another user's: their ids are 404 here.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use voronka_app::crm::notifications::NotificationSettings;
use voronka_crm::notification::{Notification, NotificationId, NotificationKind, NotificationText};

use crate::api::{app_problem, ok, path_id, read_json, respond, Auth};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/notifications", get(list))
        .route("/api/v1/notifications/{id}/read", post(mark_read))
        .route(
            "/api/v1/me/notification-settings",
            get(settings).put(set_settings),
        )
}

/// One notification as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NotificationView {
    #[schema(value_type = String, format = Uuid)]
    id: uuid::Uuid,
    kind: NotificationKind,
    text: NotificationText,
    #[schema(value_type = Option<String>, format = Uuid)]
    deal: Option<uuid::Uuid>,
    #[schema(value_type = Option<String>, format = Uuid)]
    activity: Option<uuid::Uuid>,
    #[schema(value_type = String, format = DateTime)]
    created_at: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = Option<String>, format = DateTime)]
    read_at: Option<chrono::DateTime<chrono::Utc>>,
    read: bool,
    emailed: bool,
}

impl From<&Notification> for NotificationView {
    fn from(n: &Notification) -> Self {
        Self {
            id: *n.id.as_uuid(),
            kind: n.kind,
            text: n.text.clone(),
            deal: n.deal.map(|d| *d.as_uuid()),
            activity: n.activity.map(|a| *a.as_uuid()),
            created_at: n.created_at,
            read_at: n.read_at,
            read: n.read_at.is_some(),
            emailed: n.emailed,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct NotificationList {
    /// Unread first, newest first within each group.
    items: Vec<NotificationView>,
    unread: usize,
}

/// The caller's notifications, unread first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    responses((status = 200, body = NotificationList), (status = 401)),
    security(("bearer" = [])))]
async fn list(State(gateway): State<Gateway>, Auth(caller): Auth) -> Response {
    respond(
        async {
            let inbox = gateway
                .crm
                .notifications(&caller)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(NotificationList {
                items: inbox.listed().into_iter().map(Into::into).collect(),
                unread: inbox.unread(),
            }))
        }
        .await,
    )
}

/// Marks one of the caller's notifications read (again: no change). Another
/// user's notification is 404.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = NotificationView), (status = 404)),
    security(("bearer" = [])))]
async fn mark_read(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let id = NotificationId::from_uuid(path_id(&id)?);
            gateway
                .crm
                .mark_notification_read(&caller, id)
                .await
                .map_err(app_problem)?;
            let inbox = gateway
                .crm
                .notifications(&caller)
                .await
                .map_err(app_problem)?;
            let notification = inbox
                .get(id)
                .ok_or_else(|| app_problem(voronka_app::crm::AppError::NotFound))?;
            Ok::<Response, Problem>(ok(NotificationView::from(notification)))
        }
        .await,
    )
}

/// Which kinds of notification the caller gets by e-mail.
#[utoipa::path(get, path = "/api/v1/me/notification-settings", tag = "notifications",
    responses((status = 200, body = NotificationSettings)),
    security(("bearer" = [])))]
async fn settings(State(gateway): State<Gateway>, Auth(caller): Auth) -> Response {
    respond(
        async {
            let settings = gateway
                .crm
                .notification_settings(&caller)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(settings))
        }
        .await,
    )
}

/// Turns e-mail on or off per kind: `{"email": {"reminder": false}}`. Kinds
/// left out keep their setting; an unknown kind is 400 naming it.
#[utoipa::path(put, path = "/api/v1/me/notification-settings", tag = "notifications",
    request_body = NotificationSettings,
    responses((status = 200, body = NotificationSettings), (status = 400)),
    security(("bearer" = [])))]
async fn set_settings(State(gateway): State<Gateway>, Auth(caller): Auth, body: Body) -> Response {
    respond(
        async {
            let wanted: NotificationSettings = read_json(body).await?;
            let settings = gateway
                .crm
                .set_notification_settings(&caller, &wanted)
                .await
                .map_err(app_problem)?;
            Ok::<Response, Problem>(ok(settings))
        }
        .await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, mark_read, settings, set_settings),
    components(schemas(
        NotificationView,
        NotificationList,
        NotificationSettings,
        NotificationKind,
        NotificationText
    ))
)]
pub(crate) struct NotificationsApi;
