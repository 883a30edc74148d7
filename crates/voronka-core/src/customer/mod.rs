//! Customer data as values: INN and KPP, phones, e-mails, person names, and
//! the text folding behind search.
//!
//! Why a module of its own: the customer base's duplicate checks (same INN,
//! same phone, same e-mail), its search (`иванов` finds `Иванов`, a phone is
//! found in any format) and its input validation all rest on storing each of
//! these in exactly one spelling. Parsing happens here, once, purely: no I/O,
//! no clock, no registry look-ups, so every rule is a plain unit test and any
//! input, however malformed, yields a value or an error — never a panic.
//!
//! Every error type has a `code()` with a stable, snake_case identifier
//! prefixed by its type (`inn_checksum`, `phone_too_short`) for the `code` of
//! an `application/problem+json` response; the `Display` text is English and
//! never repeats the (personal) input.

pub mod email;
pub mod inn;
pub mod person_name;
pub mod phone;
pub mod search;

pub use email::{Email, EmailError};
pub use inn::{Inn, InnError, InnKind, Kpp, KppError};
pub use person_name::{NamePart, PersonName, PersonNameError};
pub use phone::{phone_search_key, Country, Phone, PhoneError};
pub use search::fold_for_search;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Feeds one input to every parser; the assertion is that none panics and
    /// that accepted values re-parse to themselves.
    fn exercise(input: &str) {
        if let Ok(inn) = Inn::parse(input) {
            assert_eq!(Inn::parse(inn.as_str()).as_ref(), Ok(&inn));
        }
        if let Ok(kpp) = Kpp::parse(input) {
            assert_eq!(Kpp::parse(kpp.as_str()).as_ref(), Ok(&kpp));
        }
        if let Ok(phone) = Phone::parse(input, Country::Ru) {
            let again = Phone::parse(&phone.to_string(), Country::Ru);
            assert_eq!(again.as_ref(), Ok(&phone), "{input:?}");
        }
        if let Ok(email) = Email::parse(input) {
            assert_eq!(Email::parse(email.as_str()).as_ref(), Ok(&email));
        }
        let _ = PersonName::new(input, input, Some(input)).map(|n| (n.short(), n.display()));
        let folded = fold_for_search(input);
        assert_eq!(folded.trim(), folded);
        let _ = phone_search_key(input);
    }

    /// splitmix64, so the inputs are the same on every run.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn arbitrary_bytes_read_as_text_never_panic_any_parser() {
        let mut state = 42;
        for _ in 0..20_000 {
            let len = (next(&mut state) % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next(&mut state) as u8).collect();
            exercise(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn strings_built_from_meaningful_pieces_never_panic_any_parser() {
        // Pieces that steer the parsers into their deeper branches.
        let pieces = [
            "0",
            "7",
            "8",
            "9",
            "1",
            "00",
            "810",
            "+",
            "+7",
            " ",
            "\u{a0}",
            "-",
            "(",
            ")",
            ".",
            "@",
            "@@",
            "доб",
            "доб.",
            "ext",
            "x",
            "#",
            ";ext=",
            "İ",
            "Ё",
            "е\u{308}",
            "и\u{306}",
            "\u{308}",
            "\u{306}",
            "\u{0}",
            "\t",
            "A",
            "я",
            "７",
            "😀",
            "\u{200b}",
            "a.ru",
            "..",
            "\u{ffff}",
            "Σ",
            "-",
            "7707083893",
            "500100732259",
            "\u{10ffff}",
        ];
        let mut state = 7;
        for _ in 0..20_000 {
            let count = (next(&mut state) % 12) as usize;
            let input: String = (0..count)
                .map(|_| pieces[(next(&mut state) % pieces.len() as u64) as usize])
                .collect();
            exercise(&input);
        }
        for huge in [
            "9".repeat(1_000_000),
            "я ".repeat(100_000),
            "@".repeat(10_000),
        ] {
            exercise(&huge);
        }
    }

    #[test]
    fn error_codes_are_unique_snake_case_and_prefixed_by_their_type() {
        let part = NamePart::Name;
        let codes = [
            ("inn_", InnError::Empty.code()),
            ("inn_", InnError::NonDigit { position: 1 }.code()),
            ("inn_", InnError::Length { len: 1 }.code()),
            ("inn_", InnError::Checksum.code()),
            ("kpp_", KppError::Empty.code()),
            ("kpp_", KppError::Length { len: 1 }.code()),
            ("kpp_", KppError::NotDigit { position: 1 }.code()),
            ("kpp_", KppError::NotDigitOrLetter { position: 1 }.code()),
            ("phone_", PhoneError::Empty.code()),
            ("phone_", PhoneError::Letters.code()),
            ("phone_", PhoneError::InvalidChar { found: '!' }.code()),
            ("phone_", PhoneError::MisplacedPlus.code()),
            ("phone_", PhoneError::TooShort { digits: 1, min: 8 }.code()),
            ("phone_", PhoneError::TooLong { digits: 1, max: 8 }.code()),
            ("phone_", PhoneError::CountryCode.code()),
            ("phone_", PhoneError::UnrecognizedNational.code()),
            ("phone_", PhoneError::Extension.code()),
            ("email_", EmailError::Empty.code()),
            ("email_", EmailError::TooLong { len: 1 }.code()),
            ("email_", EmailError::Whitespace.code()),
            ("email_", EmailError::MissingAt.code()),
            ("email_", EmailError::MultipleAt.code()),
            ("email_", EmailError::EmptyLocal.code()),
            ("email_", EmailError::LocalTooLong.code()),
            ("email_", EmailError::EmptyDomain.code()),
            ("email_", EmailError::DomainWithoutDot.code()),
            ("email_", EmailError::DomainEmptyLabel.code()),
            ("person_name_", PersonNameError::Empty { part }.code()),
            ("person_name_", PersonNameError::TooLong { part }.code()),
            ("person_name_", PersonNameError::ControlChar { part }.code()),
        ];
        let mut seen = HashSet::new();
        for (prefix, code) in codes {
            assert!(code.starts_with(prefix), "{code}");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert!(seen.insert(code), "duplicate {code}");
        }
    }
}
