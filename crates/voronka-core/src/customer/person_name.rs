//! A contact's full name the Russian way: surname, name, optional patronymic.
//!
//! Why three fields and not one string: the business addresses people by name
//! and patronymic ("Пётр Сергеевич"), documents print the surname with
//! initials ("Иванов П. С."), lists sort by surname, and a patronymic is often
//! missing (foreigners, some contacts never give it). A single string cannot be
//! split back reliably, so the parts are kept apart from the start.
//!
//! Each part is trimmed and runs of whitespace inside it become one space.
//! Letters are kept as typed (no forced capitalisation: "ван дер Берг" and
//! "МакКуин" exist). Surname and name are required; an empty patronymic is
//! none. Control characters are refused; a part is at most 100 characters.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::search::fold_for_search;

const MAX_PART_CHARS: usize = 100;

/// A person's name: surname, name and an optional patronymic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawPersonName")]
pub struct PersonName {
    surname: String,
    name: String,
    patronymic: Option<String>,
}

/// The unchecked wire form, validated through [`PersonName::new`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersonName {
    surname: String,
    name: String,
    #[serde(default)]
    patronymic: Option<String>,
}

impl TryFrom<RawPersonName> for PersonName {
    type Error = PersonNameError;
    fn try_from(raw: RawPersonName) -> Result<Self, Self::Error> {
        PersonName::new(&raw.surname, &raw.name, raw.patronymic.as_deref())
    }
}

/// Which part of a name an error is about; the HTTP layer names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamePart {
    Surname,
    Name,
    Patronymic,
}

impl NamePart {
    /// The field name as it appears in JSON.
    pub fn field(self) -> &'static str {
        match self {
            NamePart::Surname => "surname",
            NamePart::Name => "name",
            NamePart::Patronymic => "patronymic",
        }
    }
}

impl fmt::Display for NamePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field())
    }
}

/// Why a name cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    #[error("{part} is empty")]
    Empty { part: NamePart },
    #[error("{part} is longer than 100 characters")]
    TooLong { part: NamePart },
    #[error("{part} contains a control character")]
    ControlChar { part: NamePart },
}

impl PersonNameError {
    /// Stable machine-readable code for problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            PersonNameError::Empty { .. } => "person_name_empty",
            PersonNameError::TooLong { .. } => "person_name_too_long",
            PersonNameError::ControlChar { .. } => "person_name_control_char",
        }
    }

    /// The part (and JSON field) the error is about.
    pub fn part(&self) -> NamePart {
        match self {
            PersonNameError::Empty { part }
            | PersonNameError::TooLong { part }
            | PersonNameError::ControlChar { part } => *part,
        }
    }
}

/// Trims, collapses inner whitespace and checks one part; `None` if blank.
fn clean(input: &str, part: NamePart) -> Result<Option<String>, PersonNameError> {
    // Whitespace controls (tab, newline) are collapsed like spaces; others refused.
    if input.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(PersonNameError::ControlChar { part });
    }
    let mut out = String::with_capacity(input.len());
    for word in input.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() > MAX_PART_CHARS {
        return Err(PersonNameError::TooLong { part });
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `П.` for `Пётр`, `А.-М.` for `Анна-Мария`, `М. Л.` for `Мария Луиза`.
fn initials(part: &str) -> String {
    part.split(' ')
        .map(|word| {
            word.split('-')
                .filter_map(|piece| piece.chars().find(|c| c.is_alphanumeric()))
                .map(|first| format!("{}.", first.to_uppercase()))
                .collect::<Vec<_>>()
                .join("-")
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl PersonName {
    pub fn new(
        surname: &str,
        name: &str,
        patronymic: Option<&str>,
    ) -> Result<PersonName, PersonNameError> {
        let required =
            |input: &str, part| clean(input, part)?.ok_or(PersonNameError::Empty { part });
        let surname = required(surname, NamePart::Surname)?;
        let name = required(name, NamePart::Name)?;
        let patronymic = match patronymic {
            Some(p) => clean(p, NamePart::Patronymic)?,
            None => None,
        };
        Ok(PersonName {
            surname,
            name,
            patronymic,
        })
    }

    pub fn surname(&self) -> &str {
        &self.surname
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn patronymic(&self) -> Option<&str> {
        self.patronymic.as_deref()
    }

    /// "Иванов Пётр Сергеевич", or "Иванов Пётр" without a patronymic.
    pub fn display(&self) -> String {
        match &self.patronymic {
            Some(p) => format!("{} {} {}", self.surname, self.name, p),
            None => format!("{} {}", self.surname, self.name),
        }
    }

    /// "Иванов П. С.", or "Иванов П." without a patronymic.
    pub fn short(&self) -> String {
        let mut out = self.surname.clone();
        for part in std::iter::once(self.name.as_str()).chain(self.patronymic.as_deref()) {
            let initials = initials(part);
            if !initials.is_empty() {
                out.push(' ');
                out.push_str(&initials);
            }
        }
        out
    }

    /// The full name folded for the search column (see [`fold_for_search`]).
    pub fn search_text(&self) -> String {
        fold_for_search(&self.display())
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok((display, short))` or the error code and field.
    fn check(parts: (&str, &str, Option<&str>), expected: Result<(&str, &str), (&str, &str)>) {
        let got = PersonName::new(parts.0, parts.1, parts.2);
        let got = match &got {
            Ok(n) => Ok((n.display(), n.short())),
            Err(e) => Err((e.code(), e.part().field())),
        };
        let expected = expected.map(|(d, s)| (d.to_owned(), s.to_owned()));
        assert_eq!(got, expected, "parts {parts:?}");
    }

    #[test]
    fn full_and_short_forms_read_as_in_russian_documents() {
        check(
            ("Иванов", "Пётр", Some("Сергеевич")),
            Ok(("Иванов Пётр Сергеевич", "Иванов П. С.")),
        );
        check(("Иванов", "Пётр", None), Ok(("Иванов Пётр", "Иванов П.")));
        check(
            ("Иванов", "Пётр", Some("  ")),
            Ok(("Иванов Пётр", "Иванов П.")),
        );
        check(
            ("  Салтыков-Щедрин ", " Михаил\t", Some(" Евграфович ")),
            Ok(("Салтыков-Щедрин Михаил Евграфович", "Салтыков-Щедрин М. Е.")),
        );
        check(
            ("Петрова", "Анна-Мария", Some("Ивановна")),
            Ok(("Петрова Анна-Мария Ивановна", "Петрова А.-М. И.")),
        );
        check(
            ("Dumas", "Alexandre   Davy", None),
            Ok(("Dumas Alexandre Davy", "Dumas A. D.")),
        );
        check(
            ("ёлкин", "ёж", Some("ильич")),
            Ok(("ёлкин ёж ильич", "ёлкин Ё. И.")),
        );
        check(("Ли", "-", None), Ok(("Ли -", "Ли")));
        check(
            ("Петров", "(Петя)", None),
            Ok(("Петров (Петя)", "Петров П.")),
        );
    }

    #[test]
    fn missing_or_broken_parts_are_refused_naming_the_field() {
        check(("", "Пётр", None), Err(("person_name_empty", "surname")));
        check(("Иванов", " \n ", None), Err(("person_name_empty", "name")));
        check(
            ("Иванов", "Пётр", Some("Серг\u{0}еевич")),
            Err(("person_name_control_char", "patronymic")),
        );
        let long = "я".repeat(101);
        check(
            ("Иванов", &long, None),
            Err(("person_name_too_long", "name")),
        );
        let max = "я".repeat(100);
        assert!(PersonName::new(&max, "Пётр", None).is_ok());
    }

    #[test]
    fn name_round_trips_through_json_and_deserialization_validates() {
        let name = PersonName::new("Иванов", "Пётр", Some("Сергеевич")).expect("valid");
        let json = serde_json::to_string(&name).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"surname":"Иванов","name":"Пётр","patronymic":"Сергеевич"}"#
        );
        let back: Option<PersonName> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(name));
        let no_patronymic: Option<PersonName> =
            serde_json::from_str(r#"{"surname":" Иванов ","name":"Пётр"}"#).ok();
        assert_eq!(
            no_patronymic.map(|n| n.display()),
            Some("Иванов Пётр".into())
        );
        let err = serde_json::from_str::<PersonName>(r#"{"surname":"","name":"Пётр"}"#);
        assert!(err.is_err_and(|e| e.to_string().contains("surname is empty")));
        let unknown = r#"{"surname":"И","name":"П","middle":"x"}"#;
        assert!(serde_json::from_str::<PersonName>(unknown).is_err());
    }

    #[test]
    fn search_text_is_the_folded_full_name() {
        let name = PersonName::new("ИВАНОВ", "Пётр", Some("Сергеевич")).expect("valid");
        assert_eq!(name.search_text(), "иванов петр сергеевич");
    }
}
