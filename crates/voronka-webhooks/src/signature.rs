//! The signature a receiver checks: `X-Voronka-Signature: sha256=<hex>`,
//! where `<hex>` is HMAC-SHA256 keyed with the subscription's secret (the
//! hex string exactly as shown at creation, as bytes) over
//! `"<X-Voronka-Timestamp>.<raw body>"`. Binding the timestamp lets a
//! receiver refuse replays older than a few minutes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("sha256={}", hex(&mac(secret, timestamp, body)))
}

/// Whether `header` is the signature of `body` at `timestamp` (constant
/// time comparison).
pub fn verify(secret: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(given) = header.strip_prefix("sha256=").and_then(unhex) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        let signature = sign("key", 1_700_000_000, b"{\"a\":1}");
        assert!(signature.starts_with("sha256="));
        assert_eq!(signature.len(), "sha256=".len() + 64);
        assert!(verify("key", 1_700_000_000, b"{\"a\":1}", &signature));
        assert!(!verify("key", 1_700_000_001, b"{\"a\":1}", &signature));
        assert!(!verify("other", 1_700_000_000, b"{\"a\":1}", &signature));
        assert!(!verify("key", 1_700_000_000, b"{\"a\":2}", &signature));
        assert!(!verify("key", 1_700_000_000, b"{\"a\":1}", "sha256=zz"));
    }

    #[test]
    fn the_signature_matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2: the HMAC-SHA256 used is the standard one.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // And sign() is that MAC over "<timestamp>.<body>".
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"42.what do ya want for nothing?");
        assert_eq!(
            sign("Jefe", 42, b"what do ya want for nothing?"),
            format!("sha256={}", hex(&mac.finalize().into_bytes()))
        );
    }
}
