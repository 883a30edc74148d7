//! What the directory refuses, and why. One enum for the whole service so the
//! gateway maps it to HTTP in one place; each variant's doc names its status
//! and [`DirectoryError::code`] gives the stable problem+json code.

use voronka_core::StreamVersion;
use voronka_store::StoreError;

use crate::access::{DepartmentId, PasswordPolicyError, UserId};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Unknown e-mail, wrong password or deactivated user: one answer for
    /// all three so login does not reveal who has an account. HTTP: 401.
    #[error("the e-mail or the password is wrong")]
    InvalidCredentials,
    /// The presented token is malformed, was never issued, was ended by a
    /// logout, or its user is deactivated. HTTP: 401.
    #[error("the token is not valid")]
    TokenInvalid,
    /// The token was valid and has expired: log in again. HTTP: 401.
    #[error("the token has expired")]
    TokenExpired,
    /// The e-mail is not a plausible address. HTTP: 422, field `email`.
    #[error("`{0}` is not a valid e-mail address")]
    InvalidEmail(String),
    /// Another user has this e-mail (compared ignoring case). HTTP: 409,
    /// field `email`.
    #[error("a user with this e-mail already exists")]
    EmailTaken,
    /// Empty, too long, or holding control characters. HTTP: 422, field
    /// `display_name`.
    #[error("the display name must have 1 to {max} characters and no control characters")]
    InvalidDisplayName { max: usize },
    /// A user needs at least one role. HTTP: 422, field `roles`.
    #[error("a user needs at least one role")]
    NoRoles,
    /// The password policy refused the password. HTTP: 422, field `password`.
    #[error(transparent)]
    PasswordPolicy(#[from] PasswordPolicyError),
    /// Empty, too long, or holding control characters. HTTP: 422, field
    /// `name`.
    #[error("the department name must have 1 to {max} characters and no control characters")]
    InvalidDepartmentName { max: usize },
    /// A sibling department already has this name (ignoring case). HTTP: 409,
    /// field `name`.
    #[error("a department named `{0}` already exists at that place")]
    DepartmentNameTaken(String),
    /// A department named in the request does not exist. HTTP: 422, field
    /// `department` (or `parent`).
    #[error("department {0} does not exist")]
    UnknownDepartment(DepartmentId),
    /// No such user. HTTP: 404.
    #[error("user {0} does not exist")]
    UnknownUser(UserId),
    /// The acting party may not manage users and departments. HTTP: 403.
    #[error("not allowed to manage users: {reason_code}")]
    Forbidden { reason_code: &'static str },
    /// Another writer changed the directory twice while this command was
    /// retried; nothing was written. HTTP: 409.
    #[error("the directory changed concurrently (now at version {actual}); try again")]
    Conflict { actual: StreamVersion },
    /// The event store failed. HTTP: 503 when unavailable or closed, 507
    /// when not writable, otherwise 500; the detail goes to the log only.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored directory event cannot be read or applied. HTTP: 500.
    #[error("the access directory's events cannot be applied: {0}")]
    Corrupt(String),
    /// Hashing, entropy or a worker thread failed. HTTP: 500; the detail
    /// goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DirectoryError {
    /// A stable code for problem+json bodies.
    pub fn code(&self) -> &'static str {
        match self {
            DirectoryError::InvalidCredentials => "invalid_credentials",
            DirectoryError::TokenInvalid => "token_invalid",
            DirectoryError::TokenExpired => "token_expired",
            DirectoryError::InvalidEmail(_) => "email_invalid",
            DirectoryError::EmailTaken => "email_taken",
            DirectoryError::InvalidDisplayName { .. } => "display_name_invalid",
            DirectoryError::NoRoles => "roles_empty",
            DirectoryError::PasswordPolicy(policy) => policy.code(),
            DirectoryError::InvalidDepartmentName { .. } => "department_name_invalid",
            DirectoryError::DepartmentNameTaken(_) => "department_name_taken",
            DirectoryError::UnknownDepartment(_) => "department_unknown",
            DirectoryError::UnknownUser(_) => "user_unknown",
            DirectoryError::Forbidden { .. } => "forbidden",
            DirectoryError::Conflict { .. } => "directory_conflict",
            DirectoryError::Store(StoreError::Unavailable(_) | StoreError::Closed) => {
                "store_unavailable"
            }
            DirectoryError::Store(StoreError::NotWritable(_)) => "store_not_writable",
            DirectoryError::Store(_) | DirectoryError::Corrupt(_) | DirectoryError::Internal(_) => {
                "internal"
            }
        }
    }

    /// The request field a validation error is about, for problem bodies
    /// that name the field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DirectoryError::InvalidEmail(_) | DirectoryError::EmailTaken => Some("email"),
            DirectoryError::InvalidDisplayName { .. } => Some("display_name"),
            DirectoryError::NoRoles => Some("roles"),
            DirectoryError::PasswordPolicy(_) => Some("password"),
            DirectoryError::InvalidDepartmentName { .. }
            | DirectoryError::DepartmentNameTaken(_) => Some("name"),
            DirectoryError::UnknownDepartment(_) => Some("department"),
            _ => None,
        }
    }
}
