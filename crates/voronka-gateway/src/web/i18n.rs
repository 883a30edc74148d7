//! Languages of the pages: the Fluent catalogues (embedded in the binary),
//! choosing a language (the `lang` cookie, else `Accept-Language`), and
//! formatting money, numbers and dates per language.
//!
//! A message missing from a catalogue shows its key, so a gap is visible
//! and never a crash; a test checks both catalogues have the same keys.

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use voronka_core::{Money, Timestamp};
use voronka_process::Titles;

/// The Russian catalogue (one file per group of pages, read as one).
pub const RU_FTL: &str = concat!(
    include_str!("../../locales/ru/main.ftl"),
    "\n",
    include_str!("../../locales/ru/reports.ftl"),
    "\n",
    include_str!("../../locales/ru/admin.ftl"),
    "\n",
    include_str!("../../locales/ru/integrations.ftl"),
);
/// The English catalogue.
pub const EN_FTL: &str = concat!(
    include_str!("../../locales/en/main.ftl"),
    "\n",
    include_str!("../../locales/en/reports.ftl"),
    "\n",
    include_str!("../../locales/en/admin.ftl"),
    "\n",
    include_str!("../../locales/en/integrations.ftl"),
);

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn parse(text: &str) -> Option<Lang> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The best language of an `Accept-Language` header (q-values
    /// honoured); Russian when nothing matches.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else {
            return Lang::Ru;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            if best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map_or(Lang::Ru, |(_, lang)| lang)
    }

    /// The title in this language.
    pub fn title(self, titles: &Titles) -> &str {
        match self {
            Lang::Ru => &titles.ru,
            Lang::En => &titles.en,
        }
    }

    /// A dictionary entry's title in this language.
    pub fn entry(self, entry: &voronka_crm::DictionaryEntry) -> &str {
        match self {
            Lang::Ru => &entry.title_ru,
            Lang::En => &entry.title_en,
        }
    }
}

type Bundle = FluentBundle<FluentResource>;

fn bundle(lang: Lang) -> &'static Bundle {
    static RU: OnceLock<Bundle> = OnceLock::new();
    static EN: OnceLock<Bundle> = OnceLock::new();
    let (cell, source, id) = match lang {
        Lang::Ru => (&RU, RU_FTL, "ru"),
        Lang::En => (&EN, EN_FTL, "en"),
    };
    cell.get_or_init(|| build_bundle(source, id))
}

fn build_bundle(source: &str, id: &str) -> Bundle {
    let langid: unic_langid::LanguageIdentifier = id.parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![langid]);
    // Isolation marks around arguments would end up inside attribute values
    // and test assertions; the pages never mix scripts in one argument.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(source.to_owned()) {
        Ok(resource) => resource,
        Err((resource, errors)) => {
            tracing::error!(?errors, lang = id, "errors in a message catalogue");
            resource
        }
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(?errors, lang = id, "duplicate messages in a catalogue");
    }
    bundle
}

/// The message `key`, with `args`; the key itself when missing.
pub fn message(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let bundle = bundle(lang);
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return key.to_owned();
    };
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        // Whole numbers go in as numbers, so plural forms are chosen.
        match value.parse::<i64>() {
            Ok(number) => fluent_args.set(*name, number),
            Err(_) => fluent_args.set(*name, value.clone()),
        }
    }
    let mut errors = Vec::new();
    let text = bundle.format_pattern(
        pattern,
        (!args.is_empty()).then_some(&fluent_args),
        &mut errors,
    );
    text.into_owned()
}

/// Whether the catalogue of `lang` has `key` (for tests).
pub fn has_message(lang: Lang, key: &str) -> bool {
    bundle(lang).has_message(key)
}

/// The message ids of a catalogue's source, in order.
pub fn message_ids(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|line| line.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .filter_map(|line| line.split_once('=').map(|(id, _)| id.trim().to_owned()))
        .collect()
}

const NBSP: char = '\u{a0}';

/// Digits of `value` grouped by three with `separator`.
fn grouped(value: u64, separator: char) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(digit);
    }
    out
}

/// A whole number: `1 234 567` in Russian, `1,234,567` in English.
pub fn number(lang: Lang, value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let separator = match lang {
        Lang::Ru => NBSP,
        Lang::En => ',',
    };
    format!("{sign}{}", grouped(value.unsigned_abs(), separator))
}

/// Money: `1 234 567,00 ₽` in Russian, `₽1,234,567.00` in English; other
/// currencies by their code.
pub fn money(lang: Lang, value: &Money) -> String {
    let minor = value.minor.unsigned_abs();
    let sign = if value.minor < 0 { "-" } else { "" };
    let (whole, cents) = (minor / 100, minor % 100);
    let code = value.currency.as_str();
    let symbol = match code {
        "RUB" => "₽",
        "USD" => "$",
        "EUR" => "€",
        other => other,
    };
    match lang {
        Lang::Ru => format!("{sign}{},{cents:02}{NBSP}{symbol}", grouped(whole, NBSP)),
        Lang::En if symbol.len() > 3 || code == symbol => {
            format!("{sign}{}.{cents:02}{NBSP}{symbol}", grouped(whole, ','))
        }
        Lang::En => format!("{sign}{symbol}{}.{cents:02}", grouped(whole, ',')),
    }
}

/// Money as an input field shows it: `1234.50`.
pub fn money_input(value: &Money) -> String {
    let minor = value.minor.unsigned_abs();
    let sign = if value.minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor / 100, minor % 100)
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A date: `05.03.2026` in Russian, `5 Mar 2026` in English.
pub fn date(lang: Lang, value: NaiveDate) -> String {
    use chrono::Datelike;
    match lang {
        Lang::Ru => value.format("%d.%m.%Y").to_string(),
        Lang::En => format!(
            "{} {} {}",
            value.day(),
            MONTHS_EN[value.month0() as usize],
            value.year()
        ),
    }
}

/// A moment in the viewer's time zone: `05.03.2026 14:30` or
/// `5 Mar 2026, 14:30`.
pub fn moment(lang: Lang, zone: FixedOffset, value: Timestamp) -> String {
    let local: DateTime<FixedOffset> = value.with_timezone(&zone);
    let time = local.format("%H:%M");
    match lang {
        Lang::Ru => format!("{} {time}", date(lang, local.date_naive())),
        Lang::En => format!("{}, {time}", date(lang, local.date_naive())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voronka_core::Currency;

    #[test]
    fn money_and_numbers_are_formatted_per_language() {
        let cases = [
            (Lang::Ru, 123_456_700, "1\u{a0}234\u{a0}567,00\u{a0}₽"),
            (Lang::En, 123_456_700, "₽1,234,567.00"),
            (Lang::Ru, 5, "0,05\u{a0}₽"),
            (Lang::Ru, -100_000, "-1\u{a0}000,00\u{a0}₽"),
            (Lang::En, 99_999, "₽999.99"),
        ];
        for (lang, minor, expected) in cases {
            assert_eq!(money(lang, &Money::rub(minor)), expected, "{minor}");
        }
        assert_eq!(
            money(Lang::En, &Money::new(150, Currency::parse("CNY").unwrap())),
            "1.50\u{a0}CNY"
        );
        assert_eq!(number(Lang::En, 1_000), "1,000");
        assert_eq!(number(Lang::Ru, 999), "999");
        assert_eq!(money_input(&Money::rub(123_450)), "1234.50");
    }

    #[test]
    fn dates_are_formatted_per_language() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(date(Lang::Ru, day), "05.03.2026");
        assert_eq!(date(Lang::En, day), "5 Mar 2026");
    }

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        let cases = [
            (None, Lang::Ru),
            (Some("en-US,en;q=0.9"), Lang::En),
            (Some("ru-RU,ru;q=0.9,en;q=0.8"), Lang::Ru),
            (Some("de-DE, en;q=0.5, ru;q=0.7"), Lang::Ru),
            (Some("de"), Lang::Ru),
            (Some("fr;q=1, en;q=0.1"), Lang::En),
        ];
        for (header, expected) in cases {
            assert_eq!(Lang::from_accept_language(header), expected, "{header:?}");
        }
    }

    #[test]
    fn both_catalogues_have_the_same_messages() {
        let ru = message_ids(RU_FTL);
        let en = message_ids(EN_FTL);
        for id in &ru {
            assert!(has_message(Lang::En, id), "`{id}` missing in English");
        }
        for id in &en {
            assert!(has_message(Lang::Ru, id), "`{id}` missing in Russian");
        }
        assert!(ru.len() > 50, "{}", ru.len());
        assert_eq!(message(Lang::Ru, "nav-day", &[]), "Мой день");
        assert_eq!(
            message(Lang::En, "board-count", &[("count", "3".into())]),
            "3 deals"
        );
    }
}
