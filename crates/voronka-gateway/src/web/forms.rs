//! Reading a posted form: bounded, URL-encoded, CSRF-checked first.

use std::collections::HashMap;

use super::session::{Viewer, CSRF_FIELD};
use super::WebError;

/// The largest form body taken.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A posted form's fields (the last value of a repeated name wins).
#[derive(Debug, Default, Clone)]
pub struct Form {
    fields: HashMap<String, String>,
}

impl Form {
    /// Reads the body and checks its CSRF token (403 when wrong or absent).
    pub async fn read(viewer: &Viewer, body: axum::body::Body) -> Result<Form, WebError> {
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| WebError::BadRequest("the form is too large".into()))?;
        let form = Form::parse(&bytes);
        viewer.check_csrf(form.raw(CSRF_FIELD).as_deref())?;
        Ok(form)
    }

    pub fn parse(bytes: &[u8]) -> Form {
        Form {
            fields: form_urlencoded::parse(bytes).into_owned().collect(),
        }
    }

    /// The value as sent.
    pub fn raw(&self, name: &str) -> Option<String> {
        self.fields.get(name).cloned()
    }

    /// The value trimmed, `None` when blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Every non-blank field whose name starts with `prefix`, without it.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .fields
            .iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(prefix)?;
                let value = value.trim();
                (!value.is_empty()).then(|| (rest.to_owned(), value.to_owned()))
            })
            .collect();
        fields.sort();
        fields
    }

    /// The value echoed back into a re-rendered form.
    pub fn echo(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

/// A `datetime-local` value (`2026-03-05T14:30`) in the viewer's zone as
/// RFC 3339, which the application layer takes.
pub fn local_to_rfc3339(viewer: &Viewer, text: &str) -> Option<String> {
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let local = naive.and_local_timezone(viewer.zone).single()?;
    Some(local.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded_trimmed_and_grouped_by_prefix() {
        let form = Form::parse("a=+x+&b=&f.budget=10&f.industry=it&f.x=%3Cb%3E".as_bytes());
        assert_eq!(form.text("a").as_deref(), Some("x"));
        assert_eq!(form.text("b"), None);
        assert_eq!(form.raw("a").as_deref(), Some(" x "));
        assert_eq!(
            form.with_prefix("f."),
            vec![
                ("budget".to_owned(), "10".to_owned()),
                ("industry".to_owned(), "it".to_owned()),
                ("x".to_owned(), "<b>".to_owned())
            ]
        );
    }
}
