//! Notifications for one user: what automations and reminders tell them,
//! whether they read it, whether it went out by e-mail, and which kinds they
//! want by e-mail. One stream per user, `notifications-<user id>`, so a
//! user's list is one short read and the e-mail preference sits beside the
//! notifications it governs.
//!
//! Idempotent by construction: a notification's id is derived by whoever
//! raises it (from the triggering event), and notifying an id that exists
//! decides nothing, so the automation runner may run an effect twice.

use serde::{Deserialize, Serialize};
use voronka_core::Timestamp;

use crate::{ActivityId, Aggregate, Context, CrmError, DealId};

voronka_core::uuid_id!(
    /// Identifies one notification (derived from what raised it).
    NotificationId
);

/// What a notification is about; a user turns e-mail on or off per kind.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A process automation (an SLA breach, a forgotten deal, a stage entered).
    Automation,
    /// A planned call or meeting is about to start.
    Reminder,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 2] =
        [NotificationKind::Automation, NotificationKind::Reminder];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Automation => "automation",
            NotificationKind::Reminder => "reminder",
        }
    }
}

/// The text of a notification in both interface languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationText {
    pub en: String,
    pub ru: String,
}

/// One notification as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: NotificationId,
    pub kind: NotificationKind,
    pub text: NotificationText,
    pub deal: Option<DealId>,
    pub activity: Option<ActivityId>,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
    pub emailed: bool,
}

/// A user's notifications and e-mail preferences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inbox {
    /// In the order they were raised.
    pub notifications: Vec<Notification>,
    /// Kinds the user turned e-mail off for (on by default).
    pub email_off: Vec<NotificationKind>,
}

impl Inbox {
    pub fn get(&self, id: NotificationId) -> Option<&Notification> {
        self.notifications.iter().find(|n| n.id == id)
    }

    pub fn wants_email(&self, kind: NotificationKind) -> bool {
        !self.email_off.contains(&kind)
    }

    pub fn unread(&self) -> usize {
        self.notifications
            .iter()
            .filter(|n| n.read_at.is_none())
            .count()
    }

    /// Unread first, newest first within each group.
    pub fn listed(&self) -> Vec<&Notification> {
        let mut listed: Vec<&Notification> = self.notifications.iter().collect();
        listed.sort_by(|a, b| {
            a.read_at
                .is_some()
                .cmp(&b.read_at.is_some())
                .then(b.created_at.cmp(&a.created_at))
        });
        listed
    }
}

/// What may be done with a user's notifications.
#[derive(Debug, Clone)]
pub enum NotificationCommand {
    /// Raises a notification; an existing id decides nothing.
    Notify {
        id: NotificationId,
        kind: NotificationKind,
        text: NotificationText,
        deal: Option<DealId>,
        activity: Option<ActivityId>,
    },
    /// The user read it; reading it again decides nothing.
    MarkRead { id: NotificationId },
    /// The mailer sent it; recorded so a restart never sends it again.
    RecordEmailed { id: NotificationId },
    /// The user turns e-mail for a kind on or off.
    SetEmail {
        kind: NotificationKind,
        enabled: bool,
    },
}

/// Everything that happens in an inbox; the serde tag is the stored type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotificationEvent {
    NotificationRaised {
        id: NotificationId,
        kind: NotificationKind,
        text: NotificationText,
        #[serde(default)]
        deal: Option<DealId>,
        #[serde(default)]
        activity: Option<ActivityId>,
        at: Timestamp,
    },
    NotificationRead {
        id: NotificationId,
        at: Timestamp,
    },
    NotificationEmailed {
        id: NotificationId,
        at: Timestamp,
    },
    NotificationEmailPreferenceSet {
        kind: NotificationKind,
        enabled: bool,
        at: Timestamp,
    },
}

/// The per-user notification aggregate (stream id = the user's id).
pub struct Notifications;

impl Aggregate for Notifications {
    const CATEGORY: &'static str = "notifications";
    type State = Inbox;
    type Event = NotificationEvent;
    type Command = NotificationCommand;

    fn event_type(event: &NotificationEvent) -> &'static str {
        match event {
            NotificationEvent::NotificationRaised { .. } => "notification_raised",
            NotificationEvent::NotificationRead { .. } => "notification_read",
            NotificationEvent::NotificationEmailed { .. } => "notification_emailed",
            NotificationEvent::NotificationEmailPreferenceSet { .. } => {
                "notification_email_preference_set"
            }
        }
    }

    fn apply(state: &mut Inbox, event: &NotificationEvent) {
        match event {
            NotificationEvent::NotificationRaised {
                id,
                kind,
                text,
                deal,
                activity,
                at,
            } => state.notifications.push(Notification {
                id: *id,
                kind: *kind,
                text: text.clone(),
                deal: *deal,
                activity: *activity,
                created_at: *at,
                read_at: None,
                emailed: false,
            }),
            NotificationEvent::NotificationRead { id, at } => {
                if let Some(n) = state.notifications.iter_mut().find(|n| n.id == *id) {
                    n.read_at = Some(*at);
                }
            }
            NotificationEvent::NotificationEmailed { id, .. } => {
                if let Some(n) = state.notifications.iter_mut().find(|n| n.id == *id) {
                    n.emailed = true;
                }
            }
            NotificationEvent::NotificationEmailPreferenceSet { kind, enabled, .. } => {
                state.email_off.retain(|k| k != kind);
                if !enabled {
                    state.email_off.push(*kind);
                }
            }
        }
    }

    fn decide(
        state: &Inbox,
        command: &NotificationCommand,
        context: &Context<'_>,
    ) -> Result<Vec<NotificationEvent>, CrmError> {
        let at = context.now;
        Ok(match command {
            NotificationCommand::Notify {
                id,
                kind,
                text,
                deal,
                activity,
            } => {
                if state.get(*id).is_some() {
                    Vec::new()
                } else {
                    vec![NotificationEvent::NotificationRaised {
                        id: *id,
                        kind: *kind,
                        text: text.clone(),
                        deal: *deal,
                        activity: *activity,
                        at,
                    }]
                }
            }
            NotificationCommand::MarkRead { id } => match state.get(*id) {
                None => return Err(CrmError::NotFound),
                Some(n) if n.read_at.is_some() => Vec::new(),
                Some(_) => vec![NotificationEvent::NotificationRead { id: *id, at }],
            },
            NotificationCommand::RecordEmailed { id } => match state.get(*id) {
                None => return Err(CrmError::NotFound),
                Some(n) if n.emailed => Vec::new(),
                Some(_) => vec![NotificationEvent::NotificationEmailed { id: *id, at }],
            },
            NotificationCommand::SetEmail { kind, enabled } => {
                if state.wants_email(*kind) == *enabled {
                    Vec::new()
                } else {
                    vec![NotificationEvent::NotificationEmailPreferenceSet {
                        kind: *kind,
                        enabled: *enabled,
                        at,
                    }]
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dictionaries, UserId};

    fn context(dictionaries: &Dictionaries) -> Context<'_> {
        Context {
            now: Timestamp::from_timestamp(1_800_000_000, 0).expect("a valid moment"),
            actor: UserId::from_uuid(uuid::Uuid::nil()),
            dictionaries,
        }
    }

    fn run(state: &mut Inbox, command: NotificationCommand) -> Result<usize, CrmError> {
        let dictionaries = Dictionaries::standard();
        let events = Notifications::decide(state, &command, &context(&dictionaries))?;
        for event in &events {
            Notifications::apply(state, event);
        }
        Ok(events.len())
    }

    fn notify(id: NotificationId) -> NotificationCommand {
        NotificationCommand::Notify {
            id,
            kind: NotificationKind::Reminder,
            text: NotificationText {
                en: "Call soon".into(),
                ru: "Скоро звонок".into(),
            },
            deal: None,
            activity: None,
        }
    }

    #[test]
    fn it_should_raise_a_notification_once_and_read_it_once() {
        let mut inbox = Inbox::default();
        let id = NotificationId::from_uuid(uuid::Uuid::from_u128(7));
        assert_eq!(run(&mut inbox, notify(id)).ok(), Some(1));
        assert_eq!(run(&mut inbox, notify(id)).ok(), Some(0));
        assert_eq!(inbox.unread(), 1);
        assert_eq!(
            run(&mut inbox, NotificationCommand::MarkRead { id }).ok(),
            Some(1)
        );
        assert_eq!(
            run(&mut inbox, NotificationCommand::MarkRead { id }).ok(),
            Some(0)
        );
        assert_eq!(inbox.unread(), 0);
    }

    #[test]
    fn it_should_not_read_a_notification_that_does_not_exist() {
        let mut inbox = Inbox::default();
        let id = NotificationId::from_uuid(uuid::Uuid::from_u128(8));
        assert!(matches!(
            run(&mut inbox, NotificationCommand::MarkRead { id }),
            Err(CrmError::NotFound)
        ));
    }

    #[test]
    fn it_should_keep_email_on_by_default_and_turn_it_off_per_kind() {
        let mut inbox = Inbox::default();
        assert!(inbox.wants_email(NotificationKind::Reminder));
        let off = NotificationCommand::SetEmail {
            kind: NotificationKind::Reminder,
            enabled: false,
        };
        assert_eq!(run(&mut inbox, off.clone()).ok(), Some(1));
        assert_eq!(run(&mut inbox, off).ok(), Some(0));
        assert!(!inbox.wants_email(NotificationKind::Reminder));
        assert!(inbox.wants_email(NotificationKind::Automation));
    }
}
