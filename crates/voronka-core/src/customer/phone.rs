//! Phone numbers in one spelling: E.164 (`+79123456789`), plus an optional
//! extension kept apart.
//!
//! Why: a phone is how a CRM recognises a caller and finds duplicates, and
//! people write one Russian number a dozen ways (`8 (912) 345-67-89`,
//! `+7 912 345 67 89`, `89123456789`). Stored as typed, those are different
//! strings, so the duplicate check, the call-event matching and the search
//! would all miss. Parsed here once, they are one value.
//!
//! Rules, for [`Country::Ru`] as the default country (the only one so far):
//! - separators are ignored: spaces (any Unicode whitespace), `-` and other
//!   dashes, `.`, `(`, `)`; a `+` may only come first;
//! - with a leading `+`, the digits are taken as given: 8 to 15 digits (E.164),
//!   not starting with 0; `+7` numbers (Russia, Kazakhstan) must have 11;
//! - without `+`: 10 digits are a national number (`+7` is added); 11 digits
//!   starting with `8` (the trunk prefix) or `7` are a national number with its
//!   prefix; an international prefix `00` or `810` followed by 8 to 15 digits
//!   dials abroad;
//! - an extension follows a marker, `доб`, `доп`, `добавочный`, `ext`,
//!   `extension`, `x`, `#`
//!   or `;ext=` (any case, an optional `.` or `:`), and has 1 to 10 digits;
//! - anything else (letters, other symbols) is refused; nothing is guessed.
//!
//! Errors never repeat the number: phones are personal data and errors reach
//! logs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The country whose dialling rules apply to a number written without `+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Country {
    /// Russia: country code 7, 10-digit national numbers, trunk prefix 8.
    #[default]
    Ru,
}

impl Country {
    /// The E.164 country calling code, without `+`.
    pub fn calling_code(self) -> &'static str {
        match self {
            Country::Ru => "7",
        }
    }

    fn national_len(self) -> usize {
        match self {
            Country::Ru => 10,
        }
    }

    fn trunk_prefix(self) -> char {
        match self {
            Country::Ru => '8',
        }
    }

    fn international_prefixes(self) -> &'static [&'static str] {
        match self {
            Country::Ru => &["810", "00"],
        }
    }
}

const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;
const MAX_EXTENSION_DIGITS: usize = 10;

/// A phone number in E.164 with an optional extension.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone {
    /// `+` and 8 to 15 digits.
    e164: String,
    /// 1 to 10 digits.
    extension: Option<String>,
}

/// Why a text is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number contains letters")]
    Letters,
    #[error("phone number contains `{found}`, which is neither a digit nor a separator")]
    InvalidChar { found: char },
    #[error("`+` may only start a phone number")]
    MisplacedPlus,
    #[error("phone number is too short: {digits} digits, at least {min} needed")]
    TooShort { digits: usize, min: usize },
    #[error("phone number is too long: {digits} digits, at most {max} allowed")]
    TooLong { digits: usize, max: usize },
    #[error("a country code cannot start with 0")]
    CountryCode,
    #[error("an 11-digit number without `+` must start with 8 or 7")]
    UnrecognizedNational,
    #[error("phone extension must be 1 to 10 digits after its marker (доб., ext, x)")]
    Extension,
}

impl PhoneError {
    /// Stable machine-readable code for problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Empty => "phone_empty",
            PhoneError::Letters => "phone_letters",
            PhoneError::InvalidChar { .. } => "phone_invalid_char",
            PhoneError::MisplacedPlus => "phone_misplaced_plus",
            PhoneError::TooShort { .. } => "phone_too_short",
            PhoneError::TooLong { .. } => "phone_too_long",
            PhoneError::CountryCode => "phone_country_code",
            PhoneError::UnrecognizedNational => "phone_unrecognized_national",
            PhoneError::Extension => "phone_extension",
        }
    }
}

/// Characters that people put between digits and that carry no meaning.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{2212}'
        )
}

/// Extension markers, lower case, longest first so `extension` wins over `ext`.
const EXTENSION_MARKERS: [&str; 8] = [
    ";ext=",
    "extension",
    "ext",
    "добавочный",
    "доб",
    "доп",
    "x",
    "#",
];

/// Parses what follows the number: a marker, then the extension digits.
/// `rest` starts at the first character that is not part of the number.
fn parse_extension(rest: &str) -> Result<String, PhoneError> {
    let lower = rest.to_lowercase();
    let Some(after_marker) = EXTENSION_MARKERS
        .iter()
        .find_map(|marker| lower.strip_prefix(marker))
    else {
        return Err(match rest.chars().next() {
            Some(c) if c.is_alphabetic() => PhoneError::Letters,
            Some(c) => PhoneError::InvalidChar { found: c },
            None => PhoneError::Extension,
        });
    };
    // A word that merely starts like a marker ("extra", "добро") is letters,
    // not an extension.
    if after_marker.chars().next().is_some_and(char::is_alphabetic) {
        return Err(PhoneError::Letters);
    }
    let body = after_marker
        .trim_start_matches(['.', ':'])
        .trim_start_matches(char::is_whitespace)
        .trim_end();
    let valid = !body.is_empty()
        && body.len() <= MAX_EXTENSION_DIGITS
        && body.bytes().all(|b| b.is_ascii_digit());
    if valid {
        Ok(body.to_owned())
    } else {
        Err(PhoneError::Extension)
    }
}

impl Phone {
    /// Parses a phone number as people write it; see the module docs for the
    /// rules. `default_country` applies to numbers written without `+`.
    pub fn parse(input: &str, default_country: Country) -> Result<Phone, PhoneError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(PhoneError::Empty);
        }
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        let mut extension = None;
        for (index, c) in text.char_indices() {
            match c {
                '0'..='9' => {
                    digits.push(c);
                    // Cheap bound: no valid number has this many digits, and
                    // a huge input stops here instead of growing a buffer.
                    if digits.len() > MAX_DIGITS + 3 {
                        return Err(PhoneError::TooLong {
                            digits: digits.len(),
                            max: MAX_DIGITS,
                        });
                    }
                }
                '+' if index == 0 => plus = true,
                '+' => return Err(PhoneError::MisplacedPlus),
                c if is_separator(c) => {}
                _ => {
                    extension = Some(parse_extension(&text[index..])?);
                    break;
                }
            }
        }
        let e164_digits = if plus {
            international(&digits, default_country)?
        } else {
            national(&digits, default_country)?
        };
        Ok(Phone {
            e164: format!("+{e164_digits}"),
            extension,
        })
    }

    /// `+79123456789`.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The E.164 digits without `+`, what [`phone_search_key`] matches.
    pub fn digits(&self) -> &str {
        self.e164.trim_start_matches('+')
    }

    /// The extension digits, if any.
    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }
}

fn check_len(digits: &str) -> Result<(), PhoneError> {
    match digits.len() {
        0..MIN_DIGITS => Err(PhoneError::TooShort {
            digits: digits.len(),
            min: MIN_DIGITS,
        }),
        MIN_DIGITS..=MAX_DIGITS => Ok(()),
        _ => Err(PhoneError::TooLong {
            digits: digits.len(),
            max: MAX_DIGITS,
        }),
    }
}

/// Digits after `+` (or after an international prefix).
fn international(digits: &str, country: Country) -> Result<String, PhoneError> {
    check_len(digits)?;
    if digits.starts_with('0') {
        return Err(PhoneError::CountryCode);
    }
    // Numbers of the default country have a known length; hold them to it.
    if let Some(national) = digits.strip_prefix(country.calling_code()) {
        let want = country.national_len();
        let total = country.calling_code().len() + want;
        if national.len() < want {
            return Err(PhoneError::TooShort {
                digits: digits.len(),
                min: total,
            });
        }
        if national.len() > want {
            return Err(PhoneError::TooLong {
                digits: digits.len(),
                max: total,
            });
        }
    }
    Ok(digits.to_owned())
}

/// Digits written without `+`, read by the default country's dialling rules.
fn national(digits: &str, country: Country) -> Result<String, PhoneError> {
    let code = country.calling_code();
    let want = country.national_len();
    let with_prefix = want + 1;
    if digits.len() == want {
        return Ok(format!("{code}{digits}"));
    }
    if digits.len() == with_prefix {
        if let Some(rest) = digits.strip_prefix(country.trunk_prefix()) {
            return Ok(format!("{code}{rest}"));
        }
        if digits.starts_with(code) {
            return Ok(digits.to_owned());
        }
        return Err(PhoneError::UnrecognizedNational);
    }
    if digits.len() > with_prefix {
        for prefix in country.international_prefixes() {
            if let Some(rest) = digits.strip_prefix(prefix) {
                return international(rest, country);
            }
        }
        return Err(PhoneError::TooLong {
            digits: digits.len(),
            max: with_prefix,
        });
    }
    Err(PhoneError::TooShort {
        digits: digits.len(),
        min: want,
    })
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({self})")
    }
}

/// `+79123456789`, or `+79123456789;ext=123` with an extension (the RFC 3966
/// spelling, which [`Phone::parse`] reads back).
impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)?;
        if let Some(ext) = &self.extension {
            write!(f, ";ext={ext}")?;
        }
        Ok(())
    }
}

/// Serialized as its [`Display`](fmt::Display) string. Deserialization parses
/// with [`Country::Ru`] as the default, so an API client may send any format.
impl Serialize for Phone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Phone::parse(&s, Country::Ru).map_err(serde::de::Error::custom)
    }
}

/// The key a partial phone query is matched with: a stored phone matches when
/// this key is a substring of its E.164 digits ([`Phone::digits`]; equally of
/// [`Phone::e164`], as the key holds no `+`).
///
/// Rule:
/// - only a phone-like query gets a key: digits, separators and one leading
///   `+`; anything with letters or other symbols returns `None` (search it as
///   text instead);
/// - the key is the query's digits;
/// - without a leading `+`, a leading `8` is dropped: it is the Russian trunk
///   prefix in `8 912 ...`, and dropping it still leaves a substring of what
///   was typed, so a query meant as a fragment (`8934`, the last digits) still
///   finds its number too (`934` is inside `...8934`);
/// - fewer than 3 digits left returns `None`: such a key matches nearly every
///   number.
///
/// So `912 345`, `8 (912) 345`, `+7 912 345` and `345-67-89` all find
/// `+79123456789`.
pub fn phone_search_key(query: &str) -> Option<String> {
    let text = query.trim();
    let (plus, body) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut digits = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !is_separator(c) {
            return None;
        }
    }
    let key = if plus {
        digits.as_str()
    } else {
        digits.strip_prefix('8').unwrap_or(&digits)
    };
    (key.len() >= 3).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok((e164, extension))` or the error code.
    fn check(input: &str, expected: Result<(&str, Option<&str>), &str>) {
        let parsed = Phone::parse(input, Country::Ru);
        let got = parsed
            .as_ref()
            .map(|p| (p.e164(), p.extension()))
            .map_err(PhoneError::code);
        assert_eq!(got, expected, "input {input:?}");
    }

    fn ok(e164: &str) -> Result<(&str, Option<&str>), &str> {
        Ok((e164, None))
    }

    #[test]
    fn russian_numbers_in_every_common_spelling_become_one_e164_number() {
        for input in [
            "8 (912) 345-67-89",
            "+7 912 345 67 89",
            "89123456789",
            "79123456789",
            "7-912-345-67-89",
            "(912) 3456789",
            "9123456789",
            "+7 (912) 345-67-89",
            "+79123456789",
            "8.912.345.67.89",
            "8–912–345–67–89",
            " 8\u{a0}912\u{a0}345\u{a0}67\u{a0}89 ",
            "8(912)3456789",
            "+7\t912\t3456789",
        ] {
            check(input, ok("+79123456789"));
        }
        check("(812) 123-45-67", ok("+78121234567"));
        check("8 800 555-35-35", ok("+78005553535"));
        check("8 (495) 123-45-67", ok("+74951234567"));
    }

    #[test]
    fn the_two_examples_from_the_issue_are_equal_values() {
        let a = Phone::parse("8 (912) 345-67-89", Country::Ru);
        let b = Phone::parse("+7 912 345 67 89", Country::Ru);
        assert!(a.is_ok());
        assert_eq!(a, b);
    }

    #[test]
    fn international_numbers_with_plus_are_taken_as_given() {
        check("+44 20 7946 0958", ok("+442079460958"));
        check("+1 (212) 555-0100", ok("+12125550100"));
        check("+49 30 1234567", ok("+49301234567"));
        check("+375 29 123-45-67", ok("+375291234567"));
        check("+7 727 123 45 67", ok("+77271234567")); // Kazakhstan shares +7
        check("+12345678", ok("+12345678")); // 8 digits, the shortest
        check("+123456789012345", ok("+123456789012345")); // 15, the longest
        check("00 44 20 7946 0958", ok("+442079460958"));
        check("8 10 44 20 7946 0958", ok("+442079460958"));
        check("810 49 30 1234567", ok("+49301234567"));
    }

    #[test]
    fn an_extension_is_kept_apart_from_the_number() {
        let with_ext = |e: &'static str| Ok(("+74951234567", Some(e)));
        check("8 (495) 123-45-67 доб. 123", with_ext("123"));
        check("8 (495) 123-45-67 доб.123", with_ext("123"));
        check("8 (495) 123-45-67 Доб 123", with_ext("123"));
        check("8 (495) 123-45-67 доп. 45", with_ext("45"));
        check("+7 495 123 45 67 ext 123", with_ext("123"));
        check("+7 495 123 45 67 ext. 7", with_ext("7"));
        check("+7 495 123 45 67 EXT: 7", with_ext("7"));
        check("+7 495 123 45 67 extension 7", with_ext("7"));
        check("+7 495 123 45 67 x123", with_ext("123"));
        check("+7 495 123 45 67 X 123", with_ext("123"));
        check("+7 495 123 45 67 #123", with_ext("123"));
        check("+74951234567;ext=123", with_ext("123"));
        check("84951234567x1234567890", with_ext("1234567890"));
        check("8 (495) 123-45-67 доб.", Err("phone_extension"));
        check("8 (495) 123-45-67 x", Err("phone_extension"));
        check("8 (495) 123-45-67 доб. 12a", Err("phone_extension"));
        check("8 (495) 123-45-67 доб. 12 34", Err("phone_extension"));
        check("84951234567x12345678901", Err("phone_extension"));
        check("8 (495) 123-45-67 extra 1", Err("phone_letters"));
        check("8 (495) 123-45-67 добавочный 1", with_ext("1"));
        check("8 (495) 123-45-67 добро 1", Err("phone_letters"));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        check("", Err("phone_empty"));
        check("   ", Err("phone_empty"));
        check("call me", Err("phone_letters"));
        check("8 912 ABC 67 89", Err("phone_letters"));
        check("тел. 89123456789", Err("phone_letters"));
        check("8 912 345 67 89!", Err("phone_invalid_char"));
        check("8/912/3456789", Err("phone_invalid_char"));
        check("８９１２３４５６７８９", Err("phone_invalid_char"));
        check("7+9123456789", Err("phone_misplaced_plus"));
        check("++79123456789", Err("phone_misplaced_plus"));
        check("()", Err("phone_too_short"));
        check("+", Err("phone_too_short"));
        check("345-67-89", Err("phone_too_short"));
        check("912345678", Err("phone_too_short"));
        check("+1234567", Err("phone_too_short"));
        check("+7 912 345 67 8", Err("phone_too_short"));
        check("+7 912 345 67 890", Err("phone_too_long"));
        check("+1234567890123456", Err("phone_too_long"));
        check("891234567890", Err("phone_too_long"));
        check("912345678901234567890123456789", Err("phone_too_long"));
        check("19123456789", Err("phone_unrecognized_national"));
        check("+0 123 456 789", Err("phone_country_code"));
        check("00 0 123 456 789", Err("phone_country_code"));
        check("00 44", Err("phone_too_short"));
    }

    #[test]
    fn errors_say_what_is_wrong_without_repeating_the_number() {
        let err = Phone::parse("345-67-89", Country::Ru).unwrap_err();
        assert_eq!(
            err.to_string(),
            "phone number is too short: 7 digits, at least 10 needed"
        );
        assert!(!err.to_string().contains("345"));
        let err = Phone::parse("8 912 345 67 89!", Country::Ru).unwrap_err();
        assert_eq!(
            err.to_string(),
            "phone number contains `!`, which is neither a digit nor a separator"
        );
    }

    #[test]
    fn display_and_serde_round_trip_through_the_rfc_3966_extension_form() {
        let phone = Phone::parse("8 (495) 123-45-67 доб. 12", Country::Ru).expect("valid");
        assert_eq!(phone.to_string(), "+74951234567;ext=12");
        let json = serde_json::to_string(&phone).ok();
        assert_eq!(json.as_deref(), Some("\"+74951234567;ext=12\""));
        let back: Option<Phone> = json.and_then(|j| serde_json::from_str(&j).ok());
        assert_eq!(back, Some(phone));
        let plain: Option<Phone> = serde_json::from_str("\"8 (912) 345-67-89\"").ok();
        assert_eq!(plain.map(|p| p.to_string()), Some("+79123456789".into()));
        assert!(serde_json::from_str::<Phone>("\"not a phone\"").is_err());
    }

    fn check_key(query: &str, expected: Option<&str>) {
        assert_eq!(
            phone_search_key(query).as_deref(),
            expected,
            "query {query:?}"
        );
    }

    #[test]
    fn partial_phone_queries_turn_into_the_digits_to_look_for() {
        check_key("912 345", Some("912345"));
        check_key("8912", Some("912"));
        check_key("8 (912) 345", Some("912345"));
        check_key("89123456789", Some("9123456789"));
        check_key("+7 912", Some("7912"));
        check_key("+79123456789", Some("79123456789"));
        check_key("7912", Some("7912"));
        check_key("345-67-89", Some("3456789"));
        check_key(" 67 89 ", Some("6789"));
        check_key("8934", Some("934"));
        check_key("+8934", Some("8934"));
        check_key("12", None);
        check_key("891", None);
        check_key("", None);
        check_key("+", None);
        check_key("Иванов", None);
        check_key("912 доб", None);
        check_key("91+2", None);
    }

    #[test]
    fn every_search_key_of_a_spelling_finds_the_stored_number() {
        let stored = Phone::parse("+7 912 345 67 89", Country::Ru).expect("valid");
        for query in [
            "912 345",
            "8912",
            "8 912 345 67 89",
            "+7 912",
            "7912",
            "345-67-89",
            "(912)",
            "6789",
            "+79123456789",
        ] {
            let key = phone_search_key(query);
            assert!(
                key.as_deref().is_some_and(|k| stored.digits().contains(k)),
                "{query:?} -> {key:?}"
            );
        }
        assert_eq!(stored.digits(), "79123456789");
    }
}
