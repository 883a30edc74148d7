//! Users, roles, departments and who may see and change what.
//!
//! Why it lives here: authorization is decided in `voronka-app` for every
//! command and query, never in HTTP handlers (DESIGN "Security"). Everything
//! in this module is pure: no I/O, no async, no clock reads. "Now" and random
//! bytes are handed in by the caller at the edge; the one exception is
//! [`tokens::fresh_token_bytes`] and [`passwords::hash_password`], which draw
//! from the operating system's random source because a salt or a token must
//! never come from a caller that could get it wrong.
//!
//! The module map:
//! - [`departments`]: [`DepartmentId`] and the [`DepartmentTree`] (parent
//!   links, cycles refused).
//! - [`visibility`]: [`User`], [`Scope`], [`can_see`]: which records a user
//!   sees at all.
//! - [`rights`]: the data-driven table of field and action rights and the
//!   `may_*` checks returning [`AccessDenied`] with a stable code.
//! - [`passwords`]: Argon2id hashing and the password policy.
//! - [`tokens`]: session and API tokens, stored only as SHA-256 hashes.
//!
//! Persistence: users and departments will be stored as events later. The
//! types meant to become event payloads ([`User`], [`Department`],
//! [`PasswordHash`], [`Token`], [`TokenKind`]) already derive serde with typed
//! ids, so an event such as `user_registered { user, password_hash }` can
//! carry them unchanged. [`DepartmentTree`] is a projection: rebuild it by
//! replaying `department_created` events through [`DepartmentTree::add`].
//!
//! Invariants:
//! - a record the user may not *see* is answered as 404 (unknown), never 403,
//!   so that its existence does not leak; 403 with [`AccessDenied::reason_code`]
//!   is only for records the user sees but may not change (see [`rights`]);
//! - no plaintext password or token secret is ever stored or printed by
//!   `Debug`.

pub mod departments;
pub mod passwords;
pub mod rights;
pub mod tokens;
pub mod visibility;

pub use departments::{Department, DepartmentError, DepartmentId, DepartmentTree};
pub use passwords::{
    check_password_policy, hash_new_password, hash_password, verify_password, PasswordError,
    PasswordHash, PasswordPolicyError,
};
pub use rights::{
    authorize_on_record, may_edit_contact_personal_data, may_log_activity_for, may_manage_users,
    may_step_deal, AccessDenied, Action, Grant, RecordAccessError,
};
pub use tokens::{
    fresh_token_bytes, EntropyUnavailable, IssuedToken, Token, TokenError, TokenHash, TokenKind,
    TokenSecret,
};
pub use visibility::{
    can_see, can_see_contact_personal_data, RecordKind, RecordOwnership, Scope, User,
};
/// The user id is the one the process crate already uses for a deal's
/// responsible, so the two layers never disagree about who a user is.
pub use voronka_process::UserId;
