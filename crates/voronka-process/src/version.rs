//! A definition's identity: (name, version, content hash). Published versions
//! are immutable; the hash lets the application refuse to publish a changed
//! file under an existing version number, and lets a deal prove which exact
//! definition it was decided under.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The SHA-256 of a definition's source text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of(source: &str) -> Self {
        let digest = Sha256::digest(source.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&digest);
        ContentHash(bytes)
    }

    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok()?;
        }
        Some(ContentHash(bytes))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..12])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ContentHash::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("not a SHA-256 hex digest"))
    }
}

/// Which exact definition a deal runs on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// The `process:` key, e.g. `b2b-sale`.
    pub name: String,
    /// The `version:` key; the application refuses a second publication of
    /// the same name and version with a different hash.
    pub version: u32,
    pub hash: ContentHash,
}

impl fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} v{} ({})",
            self.name,
            self.version,
            &self.hash.to_hex()[..12]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash = ContentHash::of("process: x");
        assert_eq!(ContentHash::from_hex(&hash.to_hex()), Some(hash));
        assert_ne!(hash, ContentHash::of("process: y"));
        assert_eq!(ContentHash::from_hex("zz"), None);
    }
}
