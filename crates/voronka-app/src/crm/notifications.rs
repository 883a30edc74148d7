//! A user's own notifications and e-mail preferences (right
//! `ReadOwnNotifications`), and raising a notification for someone, which
//! only automations and reminders do.
//!
//! The inbox is the user's `notifications-<user>` stream, so another user's
//! notification is simply not in the caller's inbox: 404, never 403.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use voronka_core::{Actor, CommandId};
use voronka_crm::notification::{
    Inbox, NotificationCommand, NotificationId, NotificationKind, NotificationText, Notifications,
};
use voronka_crm::{ActivityId, DealId};

use super::{records, written, AppError, Caller, Crm, Written};
use crate::access::{Action, UserId};

/// Which kinds of notification a user wants by e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Per kind (`automation`, `reminder`): e-mail on or off. On by default;
    /// a kind left out of a PUT keeps its setting.
    #[schema(value_type = BTreeMap<String, bool>)]
    pub email: BTreeMap<NotificationKind, bool>,
}

impl NotificationSettings {
    fn of(inbox: &Inbox) -> Self {
        Self {
            email: NotificationKind::ALL
                .into_iter()
                .map(|kind| (kind, inbox.wants_email(kind)))
                .collect(),
        }
    }
}

/// A notification the runner raises: for whom, about what.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: NotificationId,
    pub recipient: UserId,
    pub kind: NotificationKind,
    pub text: NotificationText,
    pub deal: Option<DealId>,
    pub activity: Option<ActivityId>,
}

impl Crm {
    /// The caller's inbox (list it with [`Inbox::listed`]: unread first).
    pub async fn notifications(&self, caller: &Caller) -> Result<Inbox, AppError> {
        caller.may(Action::ReadOwnNotifications, caller.user.id)?;
        Ok(
            records::load::<Notifications>(&self.store, *caller.user.id.as_uuid())
                .await?
                .state,
        )
    }

    /// Marks one of the caller's notifications read; someone else's (or an
    /// unknown id) is 404. Reading it twice changes nothing.
    pub async fn mark_notification_read(
        &self,
        caller: &Caller,
        id: NotificationId,
    ) -> Result<Written, AppError> {
        caller.may(Action::ReadOwnNotifications, caller.user.id)?;
        let user = *caller.user.id.as_uuid();
        let (_, outcome) = records::execute::<Notifications>(
            &self.store,
            user,
            &NotificationCommand::MarkRead { id },
            &self.context(caller),
            &caller.actor(),
            None,
            None,
        )
        .await?;
        Ok(written(*id.as_uuid(), outcome))
    }

    pub async fn notification_settings(
        &self,
        caller: &Caller,
    ) -> Result<NotificationSettings, AppError> {
        Ok(NotificationSettings::of(&self.notifications(caller).await?))
    }

    /// Sets the caller's e-mail preference for each kind named.
    pub async fn set_notification_settings(
        &self,
        caller: &Caller,
        settings: &NotificationSettings,
    ) -> Result<NotificationSettings, AppError> {
        caller.may(Action::ReadOwnNotifications, caller.user.id)?;
        let user = *caller.user.id.as_uuid();
        for (kind, enabled) in &settings.email {
            records::execute::<Notifications>(
                &self.store,
                user,
                &NotificationCommand::SetEmail {
                    kind: *kind,
                    enabled: *enabled,
                },
                &self.context(caller),
                &caller.actor(),
                None,
                None,
            )
            .await?;
        }
        self.notification_settings(caller).await
    }

    /// Raises a notification (idempotent by its id: raising it again, from
    /// a retry or a second runner, appends nothing).
    pub(crate) async fn notify(
        &self,
        caller: &Caller,
        notification: NewNotification,
    ) -> Result<(), AppError> {
        let command = NotificationCommand::Notify {
            id: notification.id,
            kind: notification.kind,
            text: notification.text,
            deal: notification.deal,
            activity: notification.activity,
        };
        records::execute::<Notifications>(
            &self.store,
            *notification.recipient.as_uuid(),
            &command,
            &self.context(caller),
            &Actor::system("notifications"),
            None,
            Some(CommandId::from_uuid(*notification.id.as_uuid())),
        )
        .await?;
        Ok(())
    }
}
