//! Passwords: a policy with stable error codes, and Argon2id hashing.
//!
//! Parameters are the `argon2` crate's defaults, which follow the OWASP
//! recommendation: Argon2id, version 0x13, m = 19 MiB (19 456 KiB), t = 2
//! iterations, p = 1 lane, 32-byte output, a fresh 16-byte random salt per
//! hash. A verification costs about 50 ms on one core of our machines, which
//! bounds online guessing without making login slow; tests run the same code.
//! The parameters travel inside the PHC string (`$argon2id$v=19$m=...`), so
//! raising them later leaves existing hashes verifiable.
//!
//! Only the hash is stored, as a PHC string inside [`PasswordHash`]; its
//! `Debug` never prints it (a hash is still an offline-guessing target).

use std::fmt;

use argon2::password_hash::phc::PasswordHash as PhcString;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

/// The shortest password accepted, in characters (not bytes).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted, in characters: hashing cost grows with the
/// input, so an unbounded password would be a cheap denial of service.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// An Argon2id hash in PHC string form. Ready to be stored in a
/// `user_password_set` event payload (serializes as the plain string).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Accepts a stored PHC string, refusing anything that is not Argon2id.
    pub fn from_phc(phc: String) -> Result<Self, PasswordError> {
        if !phc.starts_with("$argon2id$") || PhcString::new(&phc).is_err() {
            return Err(PasswordError::MalformedHash);
        }
        Ok(Self(phc))
    }

    /// The PHC string, for storage only.
    pub fn as_phc_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PasswordHash {
    type Error = PasswordError;
    fn try_from(phc: String) -> Result<Self, Self::Error> {
        Self::from_phc(phc)
    }
}

impl From<PasswordHash> for String {
    fn from(hash: PasswordHash) -> String {
        hash.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A password the policy refuses. HTTP: 422 naming the `password` field,
/// with [`PasswordPolicyError::code`] as the problem code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("the password must have at least {min} characters, it has {actual}")]
    TooShort { min: usize, actual: usize },
    #[error("the password must have at most {max} characters")]
    TooLong { max: usize },
    #[error("the password must not repeat one character only")]
    SingleRepeatedCharacter,
    #[error("the password must not be the e-mail address")]
    EqualsEmail,
}

impl PasswordPolicyError {
    pub fn code(&self) -> &'static str {
        match self {
            PasswordPolicyError::TooShort { .. } => "password_too_short",
            PasswordPolicyError::TooLong { .. } => "password_too_long",
            PasswordPolicyError::SingleRepeatedCharacter => "password_single_repeated_character",
            PasswordPolicyError::EqualsEmail => "password_equals_email",
        }
    }
}

/// Everything that can go wrong with a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// HTTP: 422.
    #[error(transparent)]
    Policy(#[from] PasswordPolicyError),
    /// The password does not match. HTTP: 401 with the same body as an
    /// unknown e-mail, so that login does not reveal which users exist.
    #[error("wrong password")]
    Mismatch,
    /// A stored hash is not an Argon2id PHC string. HTTP: 500 (our data).
    #[error("stored password hash is malformed")]
    MalformedHash,
    /// Hashing failed (no entropy for the salt, out of memory). HTTP: 500;
    /// the detail goes to the log only.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl PasswordError {
    pub fn code(&self) -> &'static str {
        match self {
            PasswordError::Policy(policy) => policy.code(),
            PasswordError::Mismatch => "invalid_credentials",
            PasswordError::MalformedHash => "password_hash_malformed",
            PasswordError::Hashing(_) => "internal",
        }
    }
}

/// Checks a new password against the policy: at least
/// [`MIN_PASSWORD_CHARS`] characters, at most [`MAX_PASSWORD_CHARS`], not one
/// character repeated, not the user's e-mail (ignoring case and surrounding
/// spaces).
pub fn check_password_policy(password: &str, email: &str) -> Result<(), PasswordPolicyError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort {
            min: MIN_PASSWORD_CHARS,
            actual: chars,
        });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    let mut all = password.chars();
    if let Some(first) = all.next() {
        if all.all(|c| c == first) {
            return Err(PasswordPolicyError::SingleRepeatedCharacter);
        }
    }
    if password.trim().to_lowercase() == email.trim().to_lowercase() {
        return Err(PasswordPolicyError::EqualsEmail);
    }
    Ok(())
}

/// Hashes a password with Argon2id and a fresh random salt. Does not apply
/// the policy: use [`hash_new_password`] when a user chooses a password.
pub fn hash_password(password: &str) -> Result<PasswordHash, PasswordError> {
    let hash: PhcString = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|error| PasswordError::Hashing(error.to_string()))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Applies the policy, then hashes: the one call for setting a password.
pub fn hash_new_password(password: &str, email: &str) -> Result<PasswordHash, PasswordError> {
    check_password_policy(password, email)?;
    hash_password(password)
}

/// Checks a presented password against the stored hash (the comparison
/// inside `argon2` is constant-time).
pub fn verify_password(password: &str, hash: &PasswordHash) -> Result<(), PasswordError> {
    let parsed = PhcString::new(&hash.0).map_err(|_| PasswordError::MalformedHash)?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(()),
        Err(argon2::password_hash::Error::PasswordInvalid) => Err(PasswordError::Mismatch),
        Err(error) => Err(PasswordError::Hashing(error.to_string())),
    }
}
