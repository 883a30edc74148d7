//! Notification e-mail: a task that follows the log from a checkpoint
//! (`tm_checkpoints`, row `mail`) and sends each raised notification to its
//! recipient by SMTP, if the recipient wants that kind by e-mail.
//!
//! Once per notification: before sending, the recipient's inbox is read and
//! a notification already marked `emailed` is skipped; after the relay
//! accepts the message, `notification_emailed` is appended (command id
//! derived from the notification) and the checkpoint moves. Only a crash in
//! the moment between the relay's acceptance and that append sends one
//! message again. A failure is retried with exponential backoff, in order.
//!
//! Messages go through a `voronka_mail::MailTransport` (SMTP, shared with
//! mailings); with `NoMail` (no relay configured) e-mail is off: what would
//! have been sent is logged.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use voronka_core::{Actor, CommandId, Position, RecordedEvent};
use voronka_crm::notification::{
    Notification, NotificationCommand, NotificationEvent, NotificationKind, Notifications,
};
use voronka_crm::{decode_event, Aggregate};
use voronka_mail::{MailError, MailTransport, OutgoingMail};
use voronka_projections::db::ReadDb;
use voronka_store::MAX_READ_BATCH;

use crate::access::UserId;
use crate::crm::{records, AppError, Crm};
use crate::timers::{checkpoint, ensure_tables, set_checkpoint};

const MAIL_CHECKPOINT: &str = "mail";

/// How notification e-mail is retried and polled.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// The first wait after a failed send; doubled up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How often an idle mailer looks at the log without a commit.
    pub poll: Duration,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            poll: Duration::from_secs(1),
        }
    }
}

/// The running mailer; [`Mailer::stop`] ends it.
pub struct Mailer {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Mailer {
    /// Starts following the log; a first start begins at the head (older
    /// notifications are not mailed).
    pub async fn start(
        crm: Arc<Crm>,
        db: ReadDb,
        transport: Arc<dyn MailTransport>,
        config: MailConfig,
    ) -> Result<Self, AppError> {
        ensure_tables(&db).await.map_err(internal)?;
        let position = match checkpoint(&db, MAIL_CHECKPOINT).await.map_err(internal)? {
            Some(position) => position,
            None => {
                let head = crm.store.health().await?.head;
                set_checkpoint(&db, MAIL_CHECKPOINT, head)
                    .await
                    .map_err(internal)?;
                head
            }
        };
        let (stop, stop_receiver) = watch::channel(false);
        let worker = Worker {
            crm,
            db,
            config,
            transport,
            position,
            stop: stop_receiver,
        };
        let task = tokio::spawn(worker.run());
        Ok(Self {
            stop,
            task: Some(task),
        })
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Mailer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Worker {
    crm: Arc<Crm>,
    db: ReadDb,
    config: MailConfig,
    transport: Arc<dyn MailTransport>,
    /// Notifications up to here are handled.
    position: Position,
    stop: watch::Receiver<bool>,
}

/// Why one notification was not handled yet.
enum Pending {
    Stopped,
    Failed(String),
}

impl Worker {
    async fn run(mut self) {
        let mut commits = self.crm.store.commit_notifications();
        let mut backoff = self.config.backoff;
        loop {
            if *self.stop.borrow() {
                return;
            }
            let wait = match self.pass().await {
                Ok(()) => {
                    backoff = self.config.backoff;
                    self.config.poll
                }
                Err(Pending::Stopped) => return,
                Err(Pending::Failed(error)) => {
                    tracing::warn!(%error, retry_in = ?backoff, "mail: sending failed; will retry");
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    wait
                }
            };
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = stop.changed() => {}
                _ = commits.changed(), if wait == self.config.poll => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn pass(&mut self) -> Result<(), Pending> {
        loop {
            let batch = self
                .crm
                .store
                .read_all(self.position, MAX_READ_BATCH)
                .await
                .map_err(|e| Pending::Failed(e.to_string()))?;
            let full = batch.len() == MAX_READ_BATCH;
            for event in &batch {
                if *self.stop.borrow() {
                    return Err(Pending::Stopped);
                }
                let notification = event.event_type == "notification_raised";
                self.handle(event).await?;
                self.position = event.position;
                // Moved after each notification, and once per batch for the
                // rest of the log (not a write per event).
                if notification {
                    self.save_position().await?;
                }
            }
            if !batch.is_empty() {
                self.save_position().await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn save_position(&self) -> Result<(), Pending> {
        set_checkpoint(&self.db, MAIL_CHECKPOINT, self.position)
            .await
            .map_err(|e| Pending::Failed(e.to_string()))
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), Pending> {
        if event.event_type != "notification_raised" {
            return Ok(());
        }
        let Some(user) = user_of_stream(event.stream_id.as_str()) else {
            return Ok(());
        };
        let Ok(NotificationEvent::NotificationRaised { id, .. }) =
            decode_event::<Notifications>(event.payload.as_str())
        else {
            return Ok(());
        };
        let failed = |e: AppError| Pending::Failed(e.to_string());
        let inbox = records::load::<Notifications>(&self.crm.store, *user.as_uuid())
            .await
            .map_err(failed)?
            .state;
        let Some(notification) = inbox.get(id) else {
            return Ok(());
        };
        if notification.emailed || !inbox.wants_email(notification.kind) {
            return Ok(());
        }
        let recipient = self
            .crm
            .directory
            .user(user)
            .await
            .map_err(|e| Pending::Failed(e.to_string()))?;
        let Some(recipient) = recipient.filter(|u| u.active) else {
            return Ok(());
        };
        if !self.transport.configured() {
            tracing::info!(to = %recipient.email, subject = %subject(notification), "mail is off (no --smtp): not sent");
            return Ok(());
        }
        let mail = OutgoingMail {
            to: recipient.email.clone(),
            to_name: recipient.display_name.clone(),
            subject: subject(notification),
            text: format!("{}\n\n{}\n", notification.text.ru, notification.text.en),
            unsubscribe_url: None,
        };
        match self.transport.send(&mail).await {
            Ok(()) => {}
            Err(MailError::Invalid(error)) => {
                tracing::warn!(user = %user, %error, "mail: the message cannot be built (the user's address?); skipped");
                return Ok(());
            }
            Err(error) => return Err(Pending::Failed(error.to_string())),
        }
        let caller_context = voronka_crm::Context {
            now: self.crm.clock.now(),
            actor: user,
            dictionaries: self.crm.dictionaries(),
        };
        records::execute::<Notifications>(
            &self.crm.store,
            *user.as_uuid(),
            &NotificationCommand::RecordEmailed { id },
            &caller_context,
            &Actor::system("mail"),
            None,
            Some(CommandId::from_uuid(emailed_command(id.as_uuid()))),
        )
        .await
        .map_err(failed)?;
        Ok(())
    }
}

/// The subject: what kind of notice, and its text (Russian, the product's
/// first language; the body carries both).
fn subject(notification: &Notification) -> String {
    let kind = match notification.kind {
        NotificationKind::Reminder => "Напоминание",
        NotificationKind::Automation => "Воронка",
    };
    format!("{kind}: {}", notification.text.ru)
}

fn emailed_command(id: &uuid::Uuid) -> uuid::Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"voronka/mail/emailed/")
        .chain_update(id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn user_of_stream(stream: &str) -> Option<UserId> {
    let rest = stream
        .strip_prefix(Notifications::CATEGORY)?
        .strip_prefix('-')?;
    uuid::Uuid::parse_str(rest).ok().map(UserId::from_uuid)
}

fn internal(error: sqlx::Error) -> AppError {
    AppError::Internal(format!("the mailer's checkpoint: {error}"))
}
