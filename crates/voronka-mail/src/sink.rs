//! A minimal SMTP server for tests: it speaks just enough of RFC 5321
//! (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to accept messages and
//! keeps each one (envelope and raw text). It can be told to refuse the
//! next messages with a transient error, to test retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent (dot-stuffing undone, CRLF line ends).
    pub data: String,
}

impl ReceivedMail {
    /// The value of the first header named `name` (case-insensitive),
    /// unfolded, with RFC 2047 encoded words (`=?utf-8?b?...?=`) decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.raw_header(name).map(|value| decode_words(&value))
    }

    /// The value of the first header named `name`, unfolded, as sent.
    pub fn raw_header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(current) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    current.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':') {
                if key.eq_ignore_ascii_case(name) {
                    value = Some(rest.trim().to_owned());
                }
            }
        }
        value
    }

    /// The body after the headers, as sent.
    pub fn body(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
    }

    /// The body's text, its transfer encoding (base64 or quoted-printable)
    /// undone; `None` when it does not decode to UTF-8.
    pub fn text(&self) -> Option<String> {
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = self.body();
        let bytes = match encoding.as_str() {
            "base64" => {
                use base64::Engine;
                let compact: String = body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .ok()?
            }
            "quoted-printable" => quoted_printable(body)?,
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8(bytes).ok()
    }
}

/// Decodes RFC 2047 encoded words (`=?charset?B|Q?text?=`, UTF-8 assumed);
/// the space between two adjacent encoded words is dropped.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        if !(after_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let mut parts = word[2..].splitn(3, '?');
        let (Some(_charset), Some(encoding), Some(tail)) =
            (parts.next(), parts.next(), parts.next())
        else {
            out.push_str(word);
            return out;
        };
        let Some(end) = tail.find("?=") else {
            out.push_str(word);
            return out;
        };
        let text = &tail[..end];
        let bytes = if encoding.eq_ignore_ascii_case("b") {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
        } else {
            quoted_printable(&text.replace('_', " ")).unwrap_or_default()
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        rest = &tail[end + 2..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// Undoes quoted-printable: `=XX` bytes and `=` soft line breaks.
fn quoted_printable(text: &str) -> Option<Vec<u8>> {
    let text = text.replace("=\r\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A running sink; dropping it stops accepting connections.
pub struct SmtpSink {
    address: std::net::SocketAddr,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    refuse_next: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let received: Arc<Mutex<Vec<ReceivedMail>>> = Arc::default();
        let refuse_next: Arc<AtomicUsize> = Arc::default();
        let task = {
            let received = received.clone();
            let refuse_next = refuse_next.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let received = received.clone();
                    let refuse_next = refuse_next.clone();
                    tokio::spawn(async move {
                        let _ = session(stream, received, refuse_next).await;
                    });
                }
            })
        };
        Ok(Self {
            address,
            received,
            refuse_next,
            task,
        })
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Answers the next `count` messages' DATA with a transient 451.
    pub fn refuse_next(&self, count: usize) {
        self.refuse_next.store(count, Ordering::SeqCst);
    }
}

async fn session(
    stream: TcpStream,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    refuse_next: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 voronka-test-sink ESMTP\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-voronka-test-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address_of(&command["MAIL FROM:".len()..]);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(address_of(&command["RCPT TO:".len()..]));
            b"250 OK\r\n"
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let text = line.trim_end_matches(['\r', '\n']);
                if text == "." {
                    break;
                }
                data.push_str(text.strip_prefix('.').unwrap_or(text));
                data.push_str("\r\n");
            }
            let refused = refuse_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                b"451 Try again later\r\n"
            } else {
                if let Ok(mut received) = received.lock() {
                    received.push(ReceivedMail {
                        from: from.clone(),
                        to: to.clone(),
                        data,
                    });
                }
                b"250 OK: queued\r\n"
            }
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// `<a@b>` (with any parameters after it) as `a@b`.
fn address_of(argument: &str) -> String {
    let argument = argument.trim();
    match (argument.find('<'), argument.find('>')) {
        (Some(open), Some(close)) if open < close => argument[open + 1..close].to_owned(),
        _ => argument
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MailTransport, OutgoingMail, SmtpMailer};

    #[tokio::test]
    async fn a_message_sent_by_smtp_arrives_with_its_headers() {
        let sink = SmtpSink::start().await.unwrap();
        let mailer = SmtpMailer::new(&sink.url(), "Voronka <crm@example.com>").unwrap();
        let mail = OutgoingMail {
            to: "anna@example.com".into(),
            to_name: "Анна Иванова".into(),
            subject: "Скидки марта".into(),
            text: "Здравствуйте!\n.точка в начале строки\n".into(),
            unsubscribe_url: Some("https://crm.example.com/unsubscribe/abc".into()),
        };
        mailer.send(&mail).await.unwrap();
        let received = sink.received();
        assert_eq!(received.len(), 1);
        let message = &received[0];
        assert_eq!(message.from, "crm@example.com");
        assert_eq!(message.to, ["anna@example.com"]);
        assert_eq!(
            message.header("List-Unsubscribe").as_deref(),
            Some("<https://crm.example.com/unsubscribe/abc>")
        );
        assert_eq!(
            message.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert_eq!(message.header("Subject").as_deref(), Some("Скидки марта"));
        assert_eq!(decode_words("=?utf-8?q?a_b?= =?utf-8?b?0JA=?= c"), "a bА c");
        assert_eq!(
            message.text().as_deref(),
            Some("Здравствуйте!\r\n.точка в начале строки\r\n")
        );

        sink.refuse_next(1);
        let refused = mailer.send(&mail).await.unwrap_err();
        assert!(refused.is_transient(), "{refused:?}");
        assert_eq!(sink.received().len(), 1);
        mailer.send(&mail).await.unwrap();
        assert_eq!(sink.received().len(), 2);
        assert!(SmtpMailer::new("http://x", "a@b.c").is_err());
        assert!(SmtpMailer::new("smtp://host:port", "a@b.c").is_err());
    }
}
