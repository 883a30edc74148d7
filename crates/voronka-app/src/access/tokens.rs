//! Session and API tokens.
//!
//! A token is 32 random bytes, shown to its holder exactly once as
//! `vrk_` followed by 64 lowercase hex digits. We store only the SHA-256 of
//! the bytes ([`TokenHash`]): a leaked database or event log holds nothing a
//! client could present. A slow hash is unnecessary here, unlike for
//! passwords: 256 random bits cannot be guessed, and a fast hash keeps every
//! request's check cheap.
//!
//! Checking a presented token: [`TokenHash::of_presented`] gives the lookup
//! key (or `Malformed`), the store returns the token with that hash if any,
//! and [`Token::verify`] compares the hashes in constant time and checks the
//! expiry against the `now` it is handed. No clock is read here; randomness
//! comes from [`fresh_token_bytes`] at the edge and is passed in.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use voronka_core::Timestamp;

use super::UserId;

/// The prefix that marks a Voronka token (and lets secret scanners find one
/// pasted where it should not be).
pub const TOKEN_PREFIX: &str = "vrk_";
/// Random bytes per token.
pub const TOKEN_BYTES: usize = 32;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Returned by login; short-lived.
    Session,
    /// For integrations; long-lived, revoked by an administrator.
    Api,
}

impl TokenKind {
    /// Default lifetimes: a working day for a session, a year for an API
    /// token (so a forgotten integration token dies on its own).
    pub fn default_lifetime(self) -> chrono::Duration {
        match self {
            TokenKind::Session => chrono::Duration::hours(12),
            TokenKind::Api => chrono::Duration::days(365),
        }
    }
}

/// The SHA-256 of a token's random bytes: what is stored and looked up.
/// Serializes as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    fn of_bytes(bytes: &[u8; TOKEN_BYTES]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Parses a presented `vrk_<hex>` token and hashes it: the key to look
    /// the stored token up by.
    pub fn of_presented(presented: &str) -> Result<Self, TokenError> {
        let hex = presented
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed)?;
        let bytes: [u8; TOKEN_BYTES] = decode_hex(hex).ok_or(TokenError::Malformed)?;
        Ok(Self::of_bytes(&bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares without an early exit, so timing reveals nothing about how
    /// many leading bytes matched.
    pub fn constant_time_eq(&self, other: &TokenHash) -> bool {
        let difference = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

impl TryFrom<String> for TokenHash {
    type Error = TokenError;
    fn try_from(hex: String) -> Result<Self, TokenError> {
        decode_hex(&hex).map(Self).ok_or(TokenError::Malformed)
    }
}

impl From<TokenHash> for String {
    fn from(hash: TokenHash) -> String {
        encode_hex(&hash.0)
    }
}

impl fmt::Debug for TokenHash {
    /// Only a short prefix, enough to correlate log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = encode_hex(&self.0);
        write!(f, "TokenHash({}…)", hex.get(..8).unwrap_or(""))
    }
}

/// The token as shown to its holder, once. `Debug` is redacted; the only
/// way to read it is [`TokenSecret::expose`], for the one response that
/// hands it out.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// A stored token: ready to be the payload of a `token_issued` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub hash: TokenHash,
    pub kind: TokenKind,
    pub user: UserId,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A freshly issued token: the secret to show once, the record to store.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub secret: TokenSecret,
    pub token: Token,
}

/// Why a presented token was not accepted. HTTP: 401 for all three, with
/// [`TokenError::code`] telling the client whether to log in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No stored token has this hash (never issued, revoked, or tampered).
    #[error("unknown token")]
    Unknown,
    /// The token was valid and has expired.
    #[error("token expired")]
    Expired,
    /// Not of the form `vrk_` + 64 hex digits.
    #[error("malformed token")]
    Malformed,
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Unknown => "token_unknown",
            TokenError::Expired => "token_expired",
            TokenError::Malformed => "token_malformed",
        }
    }
}

/// The operating system could not supply random bytes. HTTP: 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no entropy available: {0}")]
pub struct EntropyUnavailable(pub String);

/// 32 bytes from the operating system's random source; call at the edge and
/// pass the result to [`Token::issue`].
pub fn fresh_token_bytes() -> Result<[u8; TOKEN_BYTES], EntropyUnavailable> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| EntropyUnavailable(error.to_string()))?;
    Ok(bytes)
}

impl Token {
    /// Issues a token from random bytes the caller drew with
    /// [`fresh_token_bytes`]; valid from `now` for `lifetime`.
    pub fn issue(
        user: UserId,
        kind: TokenKind,
        random: [u8; TOKEN_BYTES],
        now: Timestamp,
        lifetime: chrono::Duration,
    ) -> IssuedToken {
        let expires_at = now
            .checked_add_signed(lifetime)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        IssuedToken {
            secret: TokenSecret(format!("{TOKEN_PREFIX}{}", encode_hex(&random))),
            token: Token {
                hash: TokenHash::of_bytes(&random),
                kind,
                user,
                issued_at: now,
                expires_at,
            },
        }
    }

    /// Checks a presented token against the stored one found by its hash
    /// (`None` when the store found none). Order: malformed, unknown (hash
    /// mismatch, compared in constant time), expired (at `expires_at` or
    /// later).
    pub fn verify(
        presented: &str,
        stored: Option<&Token>,
        now: Timestamp,
    ) -> Result<UserId, TokenError> {
        let presented_hash = TokenHash::of_presented(presented)?;
        let stored = stored.ok_or(TokenError::Unknown)?;
        if !presented_hash.constant_time_eq(&stored.hash) {
            return Err(TokenError::Unknown);
        }
        if now >= stored.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(stored.user)
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes exactly `2 * N` lowercase hex digits; anything else is `None`.
fn decode_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let raw = hex.as_bytes();
    if raw.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(raw.chunks_exact(2)) {
        *slot = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_uppercase_odd_and_foreign_digits() {
        let bytes = [0x00, 0x7f, 0xa5, 0xff];
        let hex = encode_hex(&bytes);
        assert_eq!(hex, "007fa5ff");
        assert_eq!(decode_hex::<4>(&hex), Some(bytes));
        for bad in ["007FA5FF", "007fa5f", "007fa5fg", "", "007fa5ff00"] {
            assert_eq!(decode_hex::<4>(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn token_hashes_serialize_as_hex_and_back() {
        let hash = TokenHash::of_bytes(&[7; TOKEN_BYTES]);
        let json = serde_json::to_string(&hash).unwrap_or_default();
        assert_eq!(json.len(), 64 + 2);
        let back: Result<TokenHash, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(hash));
    }
}
