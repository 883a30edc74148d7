//! Money as clients send it: a decimal string (`"1234.50"`, `"1 234,50"`)
//! or integer minor units, with a currency (RUB when absent). Never a float.

use serde::Deserialize;
use voronka_core::{Currency, Money};

use crate::FieldError;

/// `{"amount": "1234.50", "currency": "RUB"}` or `{"minor": 123450}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    /// A decimal amount with at most two places; exclusive with `minor`.
    #[serde(default)]
    pub amount: Option<String>,
    /// Integer minor units (kopecks); exclusive with `amount`.
    #[serde(default)]
    pub minor: Option<i64>,
    /// ISO 4217 code; RUB when absent.
    #[serde(default)]
    pub currency: Option<String>,
}

impl MoneyInput {
    pub fn rub_minor(minor: i64) -> Self {
        Self {
            amount: None,
            minor: Some(minor),
            currency: None,
        }
    }

    /// The amount, or an error naming `field` (`field.amount`,
    /// `field.currency`).
    pub fn parse(&self, field: &str) -> Result<Money, FieldError> {
        let currency = match &self.currency {
            None => Currency::RUB,
            Some(code) => Currency::parse(code.trim()).map_err(|_| {
                FieldError::new(
                    format!("{field}.currency"),
                    "invalid_currency",
                    "the currency is three upper-case letters, e.g. RUB",
                )
            })?,
        };
        match (&self.amount, self.minor) {
            (Some(_), Some(_)) => Err(FieldError::new(
                field,
                "ambiguous_amount",
                "give either `amount` or `minor`, not both",
            )),
            (None, None) => Err(FieldError::required(format!("{field}.amount"))),
            (None, Some(minor)) => Ok(Money::new(minor, currency)),
            (Some(amount), None) => Money::parse_decimal(amount, currency).map_err(|_| {
                FieldError::new(
                    format!("{field}.amount"),
                    "invalid_amount",
                    "the amount is a decimal number with at most two places, e.g. 1234.50",
                )
            }),
        }
    }
}

impl From<Money> for MoneyInput {
    fn from(money: Money) -> Self {
        Self {
            amount: None,
            minor: Some(money.minor),
            currency: Some(money.currency.as_str().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> MoneyInput {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn decimal_and_minor_forms_agree_and_errors_name_the_field() {
        let a = input(r#"{"amount": "1 234,50"}"#).parse("amount").unwrap();
        let b = input(r#"{"minor": 123450, "currency": "RUB"}"#)
            .parse("amount")
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, Money::rub(123_450));
        let error = input(r#"{"amount": "12.345"}"#)
            .parse("amount")
            .unwrap_err();
        assert_eq!(error.field, "amount.amount");
        let error = input(r#"{"amount": "1", "currency": "rubles"}"#)
            .parse("price")
            .unwrap_err();
        assert_eq!(error.field, "price.currency");
        assert_eq!(input("{}").parse("amount").unwrap_err().code, "required");
        assert!(serde_json::from_str::<MoneyInput>(r#"{"amount": 1.5}"#).is_err());
    }
}
