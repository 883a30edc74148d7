//! E-mail addresses in one spelling, checked for the mistakes people make when
//! typing them.
//!
//! Why: an e-mail is a duplicate key for contacts and the address mailings go
//! to. A CRM does not need the full RFC 5322 grammar (quoted local parts,
//! comments, IP literals are never what a manager types); it needs to refuse
//! what is plainly not an address and to store one spelling per mailbox.
//!
//! Rules: surrounding whitespace is trimmed; exactly one `@`; non-empty local
//! part of at most 64 bytes; a domain with at least one dot and no empty label
//! (`a@.ru`, `a@ru.`, `a@mail..ru`); no whitespace or control characters; at
//! most 254 bytes in all (the SMTP limit).
//!
//! Both parts are lower-cased (full Unicode). Domains are case-insensitive by
//! definition; local parts formally are not, but no real mail provider treats
//! `Ivan@` and `ivan@` as two mailboxes, and a CRM that did would miss
//! duplicates — so lower-casing the local part is a deliberate de-duplication
//! choice. Internationalised domains (`почта.рф`) are kept as Unicode, not
//! converted to punycode.
//!
//! Errors never repeat the address: it is personal data and errors reach logs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

/// A normalised, plausibly deliverable e-mail address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email {
    /// `local@domain`, lower-cased.
    address: String,
    /// Byte index of the `@` in `address`.
    at: usize,
}

/// Why a text is not an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail address is empty")]
    Empty,
    #[error("e-mail address is too long: {len} bytes, at most 254 allowed")]
    TooLong { len: usize },
    #[error("e-mail address contains a space or a control character")]
    Whitespace,
    #[error("e-mail address has no `@`")]
    MissingAt,
    #[error("e-mail address has more than one `@`")]
    MultipleAt,
    #[error("e-mail address has nothing before the `@`")]
    EmptyLocal,
    #[error("the part of the e-mail address before the `@` is longer than 64 bytes")]
    LocalTooLong,
    #[error("e-mail address has nothing after the `@`")]
    EmptyDomain,
    #[error("the domain of the e-mail address has no dot")]
    DomainWithoutDot,
    #[error(
        "the domain of the e-mail address has an empty part (a leading, trailing or double dot)"
    )]
    DomainEmptyLabel,
}

impl EmailError {
    /// Stable machine-readable code for problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            EmailError::Empty => "email_empty",
            EmailError::TooLong { .. } => "email_too_long",
            EmailError::Whitespace => "email_whitespace",
            EmailError::MissingAt => "email_missing_at",
            EmailError::MultipleAt => "email_multiple_at",
            EmailError::EmptyLocal => "email_empty_local",
            EmailError::LocalTooLong => "email_local_too_long",
            EmailError::EmptyDomain => "email_empty_domain",
            EmailError::DomainWithoutDot => "email_domain_without_dot",
            EmailError::DomainEmptyLabel => "email_domain_empty_label",
        }
    }
}

impl Email {
    /// Parses and normalises an address; see the module docs for the rules.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(EmailError::Empty);
        }
        // Checked before lower-casing too, so a huge input is not copied.
        if text.len() > MAX_LEN {
            return Err(EmailError::TooLong { len: text.len() });
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::Whitespace);
        }
        let address = text.to_lowercase();
        // Lower-casing can lengthen a few characters (`İ`).
        if address.len() > MAX_LEN {
            return Err(EmailError::TooLong { len: address.len() });
        }
        let mut ats = address.match_indices('@').map(|(i, _)| i);
        let at = ats.next().ok_or(EmailError::MissingAt)?;
        if ats.next().is_some() {
            return Err(EmailError::MultipleAt);
        }
        let (local, domain) = (&address[..at], &address[at + 1..]);
        if local.is_empty() {
            return Err(EmailError::EmptyLocal);
        }
        if local.len() > MAX_LOCAL_LEN {
            return Err(EmailError::LocalTooLong);
        }
        if domain.is_empty() {
            return Err(EmailError::EmptyDomain);
        }
        if !domain.contains('.') {
            return Err(EmailError::DomainWithoutDot);
        }
        if domain.split('.').any(str::is_empty) {
            return Err(EmailError::DomainEmptyLabel);
        }
        Ok(Email { address, at })
    }

    /// The whole normalised address.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.address)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl FromStr for Email {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Email::parse(s)
    }
}

impl Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.address)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Email::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(normalised)` or the error code.
    fn check(input: &str, expected: Result<&str, &str>) {
        let parsed = Email::parse(input);
        let got = parsed.as_ref().map(Email::as_str).map_err(EmailError::code);
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        check("ivan@example.ru", Ok("ivan@example.ru"));
        check("  Ivan.Petrov@Example.RU \n", Ok("ivan.petrov@example.ru"));
        check("IVAN+crm@MAIL.example.com", Ok("ivan+crm@mail.example.com"));
        check("a@b.co", Ok("a@b.co"));
        check("Иван@Почта.РФ", Ok("иван@почта.рф"));
        check(
            "info@xn--80a1acny.xn--p1ai",
            Ok("info@xn--80a1acny.xn--p1ai"),
        );
        check("o'brien@example.ie", Ok("o'brien@example.ie"));
    }

    #[test]
    fn what_is_plainly_not_an_address_is_refused() {
        check("", Err("email_empty"));
        check("  \t ", Err("email_empty"));
        check("ivan.example.ru", Err("email_missing_at"));
        check("ivan@@example.ru", Err("email_multiple_at"));
        check("ivan@petrov@example.ru", Err("email_multiple_at"));
        check("@example.ru", Err("email_empty_local"));
        check("ivan@", Err("email_empty_domain"));
        check("ivan@localhost", Err("email_domain_without_dot"));
        check("ivan@.example.ru", Err("email_domain_empty_label"));
        check("ivan@example.ru.", Err("email_domain_empty_label"));
        check("ivan@example..ru", Err("email_domain_empty_label"));
        check("ivan petrov@example.ru", Err("email_whitespace"));
        check("ivan@example.ru, petr@example.ru", Err("email_whitespace"));
        check("ivan@exa\u{a0}mple.ru", Err("email_whitespace"));
        check("ivan@example.ru\u{0}", Err("email_whitespace"));
        check("iv\u{7}an@example.ru", Err("email_whitespace"));
    }

    #[test]
    fn length_limits_follow_smtp() {
        let local64 = "a".repeat(64);
        let ok64 = format!("{local64}@example.ru");
        check(&ok64, Ok(ok64.as_str()));
        check(
            &format!("a{local64}@example.ru"),
            Err("email_local_too_long"),
        );
        // 254 bytes exactly: 64 + 1 + 189.
        let domain189 = format!("{}.ru", "d".repeat(186));
        let max = format!("{local64}@{domain189}");
        assert_eq!(max.len(), 254);
        check(&max, Ok(max.as_str()));
        check(&format!("{max}u"), Err("email_too_long"));
        check(&"x".repeat(100_000), Err("email_too_long"));
    }

    #[test]
    fn parts_are_available_separately() {
        let email = Email::parse("Ivan@Example.RU").expect("valid");
        assert_eq!(email.local_part(), "ivan");
        assert_eq!(email.domain(), "example.ru");
        assert_eq!(email.to_string(), "ivan@example.ru");
    }

    #[test]
    fn two_spellings_of_one_mailbox_are_one_value() {
        assert_eq!(
            Email::parse("Ivan@Example.ru").ok(),
            Email::parse(" ivan@EXAMPLE.RU").ok()
        );
    }

    #[test]
    fn email_serializes_as_a_string_and_deserialization_validates() {
        let email = Email::parse("Ivan@Example.ru").expect("valid");
        let json = serde_json::to_string(&email).ok();
        assert_eq!(json.as_deref(), Some("\"ivan@example.ru\""));
        let back: Option<Email> = serde_json::from_str("\"IVAN@example.ru\"").ok();
        assert_eq!(back, Some(email));
        assert!(serde_json::from_str::<Email>("\"ivan\"").is_err());
    }

    #[test]
    fn errors_do_not_repeat_the_address() {
        let err = Email::parse("ivan@localhost").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the domain of the e-mail address has no dot"
        );
    }
}
