//! Dictionaries: the closed lists a value must come from (legal forms,
//! industries, deal sources, call outcomes...). A value is stored as its
//! stable `value` (`wrong_number`); titles are for people, in Russian and
//! English.
//!
//! The standard set ships with Voronka ([`Dictionaries::standard`]). The
//! outcome and loss dictionaries use the same values as the shipped
//! processes, so an activity's outcome maps onto the process's facts by name.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::FieldError;

/// The names of the standard dictionaries.
pub mod names {
    pub const LEGAL_FORM: &str = "legal_form";
    pub const INDUSTRY: &str = "industry";
    pub const SEGMENT: &str = "segment";
    pub const DEAL_SOURCE: &str = "deal_source";
    pub const CALL_OUTCOME: &str = "call_outcome";
    pub const MEETING_OUTCOME: &str = "meeting_outcome";
    pub const MESSAGE_OUTCOME: &str = "message_outcome";
    pub const TASK_OUTCOME: &str = "task_outcome";
    pub const LOSS_REASON: &str = "loss_reason";
    pub const COMPETITOR: &str = "competitor";
    pub const PRODUCT_UNIT: &str = "product_unit";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DictionaryEntry {
    pub value: String,
    pub title_ru: String,
    pub title_en: String,
}

/// Every dictionary by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dictionaries {
    by_name: BTreeMap<String, Vec<DictionaryEntry>>,
}

/// One entry: value, Russian title, English title.
type Entry = (&'static str, &'static str, &'static str);

const STANDARD: &[(&str, &[Entry])] = &[
    (
        names::LEGAL_FORM,
        &[
            ("ooo", "ООО", "LLC"),
            ("ao", "АО", "JSC"),
            ("pao", "ПАО", "PJSC"),
            ("ip", "ИП", "Sole proprietor"),
            ("gup", "ГУП", "State unitary enterprise"),
            ("other", "Другая", "Other"),
        ],
    ),
    (
        names::INDUSTRY,
        &[
            ("retail", "Розничная торговля", "Retail"),
            ("manufacturing", "Производство", "Manufacturing"),
            ("it", "ИТ", "IT"),
            ("services", "Услуги", "Services"),
            ("government", "Госсектор", "Government"),
            ("other", "Другое", "Other"),
        ],
    ),
    (
        names::SEGMENT,
        &[
            ("small", "Малый бизнес", "Small business"),
            ("medium", "Средний бизнес", "Mid-market"),
            ("enterprise", "Крупный бизнес", "Enterprise"),
            ("public", "Государственный сектор", "Public sector"),
        ],
    ),
    (
        names::DEAL_SOURCE,
        &[
            ("website", "Сайт", "Website"),
            ("referral", "Рекомендация", "Referral"),
            ("cold_call", "Холодный звонок", "Cold call"),
            ("exhibition", "Выставка", "Exhibition"),
            ("partner", "Партнёр", "Partner"),
            ("advertising", "Реклама", "Advertising"),
            ("repeat", "Повторная продажа", "Repeat sale"),
            ("other", "Другое", "Other"),
        ],
    ),
    (
        names::CALL_OUTCOME,
        &[
            ("reached", "Дозвонились", "Reached"),
            ("no_answer", "Не ответил", "No answer"),
            ("wrong_number", "Неверный номер", "Wrong number"),
            ("callback", "Просил перезвонить", "Call back"),
            ("not_interested", "Не интересно", "Not interested"),
        ],
    ),
    (
        names::MEETING_OUTCOME,
        &[
            (
                "needs_identified",
                "Потребности выявлены",
                "Needs identified",
            ),
            ("follow_up_needed", "Нужна ещё встреча", "Follow-up needed"),
            ("not_a_fit", "Не наш клиент", "Not a fit"),
        ],
    ),
    (
        names::MESSAGE_OUTCOME,
        &[
            ("delivered", "Доставлено", "Delivered"),
            ("replied", "Получен ответ", "Replied"),
            ("bounced", "Не доставлено", "Bounced"),
        ],
    ),
    (
        names::TASK_OUTCOME,
        &[
            ("done", "Выполнено", "Done"),
            ("not_needed", "Не понадобилось", "Not needed"),
        ],
    ),
    (
        names::LOSS_REASON,
        &[
            ("price", "Цена", "Price"),
            ("competitor", "Конкурент", "Competitor"),
            ("no_budget", "Нет бюджета", "No budget"),
            ("no_response", "Не выходит на связь", "No response"),
            ("no_need", "Нет потребности", "No need"),
            ("other", "Другое", "Other"),
        ],
    ),
    (
        names::COMPETITOR,
        &[
            ("bitrix24", "Битрикс24", "Bitrix24"),
            ("amocrm", "amoCRM", "amoCRM"),
            ("megaplan", "Мегаплан", "Megaplan"),
            ("in_house", "Своя разработка", "In-house"),
            ("other", "Другой", "Other"),
        ],
    ),
    (
        names::PRODUCT_UNIT,
        &[
            ("piece", "шт.", "pcs"),
            ("licence", "лиц.", "licence"),
            ("hour", "ч", "hour"),
            ("month", "мес.", "month"),
            ("service", "усл.", "service"),
        ],
    ),
];

impl Dictionaries {
    /// The dictionaries Voronka ships with.
    pub fn standard() -> Self {
        let by_name = STANDARD
            .iter()
            .map(|(name, entries)| {
                let entries = entries
                    .iter()
                    .map(|(value, ru, en)| DictionaryEntry {
                        value: (*value).to_string(),
                        title_ru: (*ru).to_string(),
                        title_en: (*en).to_string(),
                    })
                    .collect();
                ((*name).to_string(), entries)
            })
            .collect();
        Self { by_name }
    }

    pub fn get(&self, dictionary: &str) -> Option<&[DictionaryEntry]> {
        self.by_name.get(dictionary).map(Vec::as_slice)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn contains(&self, dictionary: &str, value: &str) -> bool {
        self.get(dictionary)
            .is_some_and(|entries| entries.iter().any(|e| e.value == value))
    }

    /// `Ok` when `value` is in `dictionary`, else a [`FieldError`] with code
    /// `not_in_dictionary` naming `field` and listing the allowed values.
    pub fn check(&self, dictionary: &str, value: &str, field: &str) -> Result<(), FieldError> {
        if self.contains(dictionary, value) {
            return Ok(());
        }
        let allowed = self
            .get(dictionary)
            .unwrap_or_default()
            .iter()
            .map(|e| e.value.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Err(FieldError::new(
            field,
            "not_in_dictionary",
            format!("`{field}` must be one of the `{dictionary}` dictionary: {allowed}"),
        ))
    }
}

impl Default for Dictionaries {
    fn default() -> Self {
        Self::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_outside_the_dictionary_names_the_field_and_the_choices() {
        let dictionaries = Dictionaries::standard();
        assert!(dictionaries
            .check(names::CALL_OUTCOME, "wrong_number", "outcome")
            .is_ok());
        let error = dictionaries
            .check(names::CALL_OUTCOME, "maybe", "outcome")
            .unwrap_err();
        assert_eq!(error.field, "outcome");
        assert_eq!(error.code, "not_in_dictionary");
        assert!(error.message.contains("wrong_number"), "{}", error.message);
        assert!(dictionaries.check("no_such_dictionary", "x", "f").is_err());
    }

    #[test]
    fn every_standard_value_is_unique_within_its_dictionary() {
        let dictionaries = Dictionaries::standard();
        for name in dictionaries.names() {
            let entries = dictionaries.get(name).unwrap();
            let mut values: Vec<_> = entries.iter().map(|e| &e.value).collect();
            values.sort();
            values.dedup();
            assert_eq!(values.len(), entries.len(), "{name}");
        }
    }
}
