//! Custom fields: the extra values a company keeps on its records
//! (`{"tariff": "pro", "employees": 40}`). Scalars only, bounded in count
//! and size, keys in a fixed alphabet so they can be filter names later.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::FieldError;

/// At most this many custom fields per record.
pub const MAX_CUSTOM_FIELDS: usize = 50;
/// A text value's longest length, in characters.
pub const MAX_CUSTOM_TEXT: usize = 1000;

pub type CustomFields = BTreeMap<String, Value>;

/// Checks custom fields sent under `field` (usually `custom`); every problem
/// is reported, each naming `custom.<key>`.
pub fn validate_custom_fields(field: &str, values: &CustomFields) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if values.len() > MAX_CUSTOM_FIELDS {
        errors.push(FieldError::new(
            field,
            "too_many_custom_fields",
            format!("at most {MAX_CUSTOM_FIELDS} custom fields"),
        ));
    }
    for (key, value) in values {
        let path = format!("{field}.{key}");
        let key_ok = !key.is_empty()
            && key.len() <= 64
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            errors.push(FieldError::new(
                path.clone(),
                "custom_field_name",
                "custom field names are 1-64 of a-z, 0-9 and _, starting with a letter",
            ));
        }
        match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
            Value::String(text) if text.chars().count() <= MAX_CUSTOM_TEXT => {}
            Value::String(_) => errors.push(FieldError::new(
                path,
                "too_long",
                format!("at most {MAX_CUSTOM_TEXT} characters"),
            )),
            Value::Array(_) | Value::Object(_) => errors.push(FieldError::new(
                path,
                "custom_field_type",
                "a custom field holds text, a number, true/false or null",
            )),
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_pass_and_each_bad_entry_is_named() {
        let good: CustomFields = [
            ("tariff".to_string(), json!("pro")),
            ("n".to_string(), json!(4)),
        ]
        .into_iter()
        .collect();
        assert!(validate_custom_fields("custom", &good).is_empty());
        let bad: CustomFields = [
            ("Bad Key".to_string(), json!(1)),
            ("list".to_string(), json!([1])),
        ]
        .into_iter()
        .collect();
        let errors = validate_custom_fields("custom", &bad);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["custom.Bad Key", "custom.list"]);
    }
}
