//! Why a command on a CRM record was refused. The gateway maps each variant
//! to one HTTP status in one place.

use serde::Serialize;

/// One invalid or missing input value, named by its field path as the
/// client sent it (`phones[1]`, `lines[0].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    /// Stable snake_case code, e.g. `inn_checksum`, `required`, `not_in_dictionary`.
    pub code: &'static str,
    /// English, for people; never repeats personal input.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// A required value is missing or empty.
    pub fn required(field: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("`{field}` is required");
        Self::new(field, "required", message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    /// Input values are invalid; every one is listed. HTTP 422 (the first
    /// field is the problem's `field`, all of them in `errors`).
    #[error("invalid input: {}", .0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldError>),
    /// The record does not exist (or was never created). HTTP 404.
    #[error("the record does not exist")]
    NotFound,
    /// Creating a record whose id is taken. HTTP 409.
    #[error("the record already exists")]
    AlreadyExists,
    /// The record's state forbids the command (completing a cancelled
    /// activity, paying a draft invoice). HTTP 422 with `code`.
    #[error("{message}")]
    NotAllowed { code: &'static str, message: String },
}

impl CrmError {
    pub fn invalid(error: FieldError) -> Self {
        CrmError::Invalid(vec![error])
    }

    pub fn not_allowed(code: &'static str, message: impl Into<String>) -> Self {
        CrmError::NotAllowed {
            code,
            message: message.into(),
        }
    }

    /// `Ok(())` when `errors` is empty, else `Invalid` with all of them.
    pub fn check(errors: Vec<FieldError>) -> Result<(), CrmError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CrmError::Invalid(errors))
        }
    }

    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            CrmError::Invalid(errors) => errors.first().map_or("invalid", |e| e.code),
            CrmError::NotFound => "not_found",
            CrmError::AlreadyExists => "already_exists",
            CrmError::NotAllowed { code, .. } => code,
        }
    }
}
