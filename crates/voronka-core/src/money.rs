//! Money as integer minor units with a currency. Never `f64`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code of three upper-case Latin letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const RUB: Currency = Currency(*b"RUB");
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");

    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(MoneyError::Currency {
                input: code.chars().take(16).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from three ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a money value could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{input}` is not a currency code (three upper-case letters, e.g. RUB)")]
    Currency { input: String },
    #[error("`{input}` is not an amount (digits with at most two decimals, e.g. 1234.50)")]
    Amount { input: String },
    #[error("the amount is too large")]
    Overflow,
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
}

/// An amount in minor units (kopecks, cents) of a currency. Two decimals for
/// every supported currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units: 123456 RUB means 1 234,56 ₽.
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub const fn rub(minor: i64) -> Self {
        Self::new(minor, Currency::RUB)
    }

    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// Parses a decimal amount such as `1234`, `1234.5`, `-10,25` or `1 234,56`
    /// (spaces and a comma as the decimal mark are accepted, as Russian users
    /// type them).
    pub fn parse_decimal(input: &str, currency: Currency) -> Result<Money, MoneyError> {
        let bad = || MoneyError::Amount {
            input: input.chars().take(64).collect(),
        };
        let cleaned: String = input
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '_'))
            .map(|c| if c == ',' { '.' } else { c })
            .collect();
        let (negative, digits) = match cleaned.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, cleaned.as_str()),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Overflow)?;
        let mut fraction_minor: i64 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| bad())?
        };
        if fraction.len() == 1 {
            fraction_minor *= 10;
        }
        let minor = whole
            .checked_mul(100)
            .and_then(|m| m.checked_add(fraction_minor))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(if negative { -minor } else { minor }, currency))
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            });
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// The amount as a plain decimal string with two places, `-1234.50`.
    pub fn to_decimal_string(&self) -> String {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected_minor: Option<i64>) {
        let parsed = Money::parse_decimal(input, Currency::RUB)
            .ok()
            .map(|m| m.minor);
        assert_eq!(parsed, expected_minor, "input {input:?}");
    }

    #[test]
    fn decimal_amounts_parse_as_russian_users_type_them() {
        check("1234", Some(123_400));
        check("1234.5", Some(123_450));
        check("1 234,56", Some(123_456));
        check("-10,25", Some(-1_025));
        check("0.01", Some(1));
        check("1.234", None);
        check("abc", None);
        check("", None);
        check(".5", None);
        check("99999999999999999999", None);
    }

    #[test]
    fn money_prints_with_two_decimals() {
        assert_eq!(Money::rub(123_456).to_string(), "1234.56 RUB");
        assert_eq!(Money::rub(-5).to_decimal_string(), "-0.05");
    }

    #[test]
    fn adding_different_currencies_is_an_error() {
        let err = Money::rub(1)
            .checked_add(Money::new(1, Currency::USD))
            .unwrap_err();
        assert!(matches!(err, MoneyError::CurrencyMismatch { .. }));
    }

    #[test]
    fn currency_codes_are_three_upper_case_letters() {
        assert!(Currency::parse("RUB").is_ok());
        assert!(Currency::parse("rub").is_err());
        assert!(Currency::parse("RUBL").is_err());
    }
}
