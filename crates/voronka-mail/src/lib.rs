//! Outgoing e-mail. The application sends through [`MailTransport`];
//! [`SmtpMailer`] delivers to an SMTP relay (`smtp://host:port`, plain, as
//! to a local relay that does the onward TLS), [`NoMail`] refuses (e-mail
//! not configured). [`sink::SmtpSink`] is a minimal SMTP server that keeps
//! what it receives, for tests: the test command needs no mail server.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub mod sink;

/// One message to one recipient, plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    /// The recipient's name as shown in `To:` (may be empty).
    pub to_name: String,
    pub subject: String,
    pub text: String,
    /// Sent as `List-Unsubscribe` with one-click (RFC 8058) when given.
    pub unsubscribe_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// E-mail is not configured (`voronka serve` without `--smtp`).
    #[error("e-mail is not configured")]
    NotConfigured,
    /// The message cannot be built (a bad address); retrying will not help.
    #[error("the message is invalid: {0}")]
    Invalid(String),
    /// The relay refused or could not be reached; a retry may succeed.
    #[error("the mail server did not accept the message: {0}")]
    Transport(String),
}

impl MailError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, MailError::Transport(_))
    }
}

/// Where messages go.
#[async_trait::async_trait]
pub trait MailTransport: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
    /// Whether messages can be sent at all.
    fn configured(&self) -> bool {
        true
    }
}

/// E-mail switched off: every send is refused with `NotConfigured`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMail;

#[async_trait::async_trait]
impl MailTransport for NoMail {
    async fn send(&self, _mail: &OutgoingMail) -> Result<(), MailError> {
        Err(MailError::NotConfigured)
    }

    fn configured(&self) -> bool {
        false
    }
}

/// Sends through an SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// `url` is `smtp://host[:port]` (port 25 when absent); `from` an address
    /// such as `Voronka <crm@example.com>`.
    pub fn new(url: &str, from: &str) -> Result<Self, MailError> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| MailError::Invalid("the SMTP URL must start with smtp://".into()))?
            .trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| MailError::Invalid("the SMTP port is not a number".into()))?,
            ),
            None => (rest, 25),
        };
        if host.is_empty() || host.contains(['@', '/', ' ']) {
            return Err(MailError::Invalid("the SMTP URL has no valid host".into()));
        }
        let from = from
            .parse::<Mailbox>()
            .map_err(|error| MailError::Invalid(format!("the sender address: {error}")))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(20)))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait::async_trait]
impl MailTransport for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let address = mail
            .to
            .parse()
            .map_err(|error| MailError::Invalid(format!("the recipient address: {error}")))?;
        let name = (!mail.to_name.trim().is_empty()).then(|| mail.to_name.trim().to_owned());
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(name, address))
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN);
        if let Some(url) = &mail.unsubscribe_url {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let message = builder
            .body(mail.text.clone())
            .map_err(|error| MailError::Invalid(error.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|error| MailError::Transport(error.to_string()))
    }
}
