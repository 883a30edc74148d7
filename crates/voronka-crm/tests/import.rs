//! The pure CSV reader: encodings, delimiters, broken rows and files,
//! mappings, phones.

use std::collections::BTreeMap;

use voronka_core::customer::{Country, Phone};
use voronka_crm::import::{
    company_key, contact_keys, parse_companies, parse_contacts, ImportError, Mapping,
};

fn mapping(pairs: &[(&str, &str)]) -> Mapping {
    Mapping(
        pairs
            .iter()
            .map(|(column, field)| (column.to_string(), field.to_string()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn companies_mapping() -> Mapping {
    mapping(&[("Название", "name"), ("ИНН", "inn"), ("Сайт", "website")])
}

#[test]
fn utf8_with_a_bom_and_semicolons() {
    let text = "\u{feff}Название;ИНН;Сайт;Лишнее\n\
                ООО \"Ромашка\";7707083893;romashka.ru;x\n\
                \"Лютик; и партнёры\";;;y\n";
    let parsed = parse_companies(text.as_bytes(), &companies_mapping()).unwrap();
    assert_eq!(parsed.encoding, "utf-8");
    assert_eq!(parsed.delimiter, ';');
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.rows.len(), 2);
    assert_eq!(parsed.rows[0].line, 2);
    assert_eq!(parsed.rows[0].input.name, "ООО \"Ромашка\"");
    assert_eq!(parsed.rows[0].input.inn.as_deref(), Some("7707083893"));
    assert_eq!(parsed.rows[0].input.website.as_deref(), Some("romashka.ru"));
    assert_eq!(parsed.rows[1].line, 3);
    assert_eq!(parsed.rows[1].input.name, "Лютик; и партнёры");
    assert_eq!(parsed.rows[1].input.inn, None, "blank is absent");
    assert_eq!(
        company_key(&parsed.rows[0].input).as_deref(),
        Some("7707083893")
    );
}

#[test]
fn windows_1251_with_commas() {
    let text = "Название,ИНН,Сайт\r\nЗАО Василёк,7707083893,\r\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
    let parsed = parse_companies(&bytes, &companies_mapping()).unwrap();
    assert_eq!(parsed.encoding, "windows-1251");
    assert_eq!(parsed.delimiter, ',');
    assert_eq!(parsed.rows.len(), 1);
    assert_eq!(parsed.rows[0].input.name, "ЗАО Василёк");
    assert_eq!(parsed.rows[0].input.website, None);
}

#[test]
fn a_wrong_column_count_is_an_error_for_that_row_only() {
    let text = "Название;ИНН;Сайт\nА;;\nБ;1;2;3\nВ;;\n";
    let parsed = parse_companies(text.as_bytes(), &companies_mapping()).unwrap();
    assert_eq!(parsed.rows.len(), 2);
    assert_eq!(parsed.rows[1].line, 4);
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 3);
    assert_eq!(parsed.errors[0].code, "column_count");
    assert_eq!(parsed.total(), 3);
}

#[test]
fn an_unclosed_quote_refuses_the_file_naming_its_line() {
    let text = "Название;ИНН;Сайт\nА;;\n\"Б;1;2\nВ;;\n";
    let error = parse_companies(text.as_bytes(), &companies_mapping()).unwrap_err();
    assert_eq!(error, ImportError::UnclosedQuote { line: 3 });
    assert!(error.to_string().contains("line 3"), "{error}");
}

#[test]
fn binary_garbage_is_refused_without_a_panic() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let error = parse_companies(&garbage, &companies_mapping()).unwrap_err();
    assert!(matches!(error, ImportError::Binary { .. }), "{error}");
    // Garbage without NUL bytes decodes as Windows-1251 and simply lacks the
    // mapped header.
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 255) as u8 + 1).collect();
    assert!(parse_companies(&garbage, &companies_mapping()).is_err());
    assert!(parse_companies(b"", &companies_mapping()).is_err());
}

#[test]
fn mapped_columns_missing_from_the_header_are_named() {
    let text = "Название;Телефон\nА;1\n";
    let error = parse_companies(
        text.as_bytes(),
        &mapping(&[("Название", "name"), ("ИНН", "inn"), ("Сайт", "website")]),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("`ИНН`") && message.contains("`Сайт`"),
        "{message}"
    );
    assert!(!message.contains("`Название`"), "{message}");
    let unknown_field =
        parse_companies(text.as_bytes(), &mapping(&[("Название", "title")])).unwrap_err();
    assert!(unknown_field.to_string().contains("unknown field `title`"));
    let twice = parse_companies(
        text.as_bytes(),
        &mapping(&[("Название", "name"), ("Телефон", "name")]),
    )
    .unwrap_err();
    assert!(twice.to_string().contains("two columns"), "{twice}");
    assert!(Mapping::from_json("[1]").is_err());
    assert_eq!(
        Mapping::from_json(r#"{"ИНН": "inn"}"#).unwrap(),
        mapping(&[("ИНН", "inn")])
    );
}

#[test]
fn phones_in_several_formats_and_columns() {
    let text = "Фамилия;Имя;Телефон;Мобильный;Почта;ИНН компании\n\
                Иванов;Иван;\"8 (916) 123-45-67, +7 916 765 43 21\";79161112233;ivan@example.com;7707083893\n\
                Петров;Пётр;+7-495-000-00-00; ;;\n";
    let parsed = parse_contacts(
        text.as_bytes(),
        &mapping(&[
            ("Фамилия", "surname"),
            ("Имя", "name"),
            ("Телефон", "phones"),
            ("Мобильный", "phone"),
            ("Почта", "email"),
            ("ИНН компании", "company_inn"),
        ]),
    )
    .unwrap();
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let ivan = &parsed.rows[0].input;
    assert_eq!(ivan.input.surname, "Иванов");
    assert_eq!(ivan.input.phones.len(), 3, "{:?}", ivan.input.phones);
    let e164: Vec<String> = ivan
        .input
        .phones
        .iter()
        .map(|raw| Phone::parse(raw, Country::Ru).unwrap().e164().to_owned())
        .collect();
    assert!(e164.contains(&"+79161234567".to_owned()), "{e164:?}");
    assert!(e164.contains(&"+79167654321".to_owned()), "{e164:?}");
    assert!(e164.contains(&"+79161112233".to_owned()), "{e164:?}");
    assert_eq!(ivan.input.emails, vec!["ivan@example.com".to_owned()]);
    assert_eq!(ivan.company_inn.as_deref(), Some("7707083893"));
    let keys = contact_keys(&ivan.input);
    assert_eq!(keys.len(), 4, "{keys:?}");
    let petr = &parsed.rows[1].input;
    assert_eq!(petr.input.phones, vec!["+7-495-000-00-00".to_owned()]);
    assert!(petr.input.emails.is_empty());
    assert_eq!(petr.company_inn, None);
}

#[test]
fn crlf_files_name_the_right_lines() {
    let text = "Название,ИНН\r\nА,1\r\n\"Б\r\nи В\",2\r\nлишняя,3,ячейка\r\nГ,4\r\n";
    let parsed = parse_companies(text.as_bytes(), &mapping(&[("Название", "name")])).unwrap();
    let lines: Vec<u64> = parsed.rows.iter().map(|row| row.line).collect();
    assert_eq!(lines, vec![2, 3, 6]);
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 5);
}

#[test]
fn deals_rows_carry_their_history_and_process_fields() {
    use voronka_crm::import::{parse_deals, parse_moment};
    let mapping = Mapping::from_yaml(
        "Сделка: title\nЭтап: stage\nСоздана: created_at\nКанал: fields.channel\n",
    )
    .unwrap();
    let text = "Сделка;Этап;Создана;Канал\nНасосы;proposal;01.03.2025 09:30;выставка\n";
    let parsed = parse_deals(text.as_bytes(), &mapping).unwrap();
    let row = &parsed.rows[0].input;
    assert_eq!(row.title.as_deref(), Some("Насосы"));
    assert_eq!(row.stage.as_deref(), Some("proposal"));
    assert_eq!(
        row.fields.get("channel").map(String::as_str),
        Some("выставка")
    );
    assert_eq!(
        parse_moment(row.created_at.as_deref().unwrap()).map(|t| t.to_rfc3339()),
        Some("2025-03-01T09:30:00+00:00".to_owned())
    );
    assert_eq!(parse_moment("2025-02-30"), None);
    assert_eq!(
        parse_moment("2025-03-01").map(|t| t.to_rfc3339()),
        Some("2025-03-01T00:00:00+00:00".to_owned())
    );
}

#[test]
fn mappings_are_read_from_yaml_or_json_and_checked_against_the_kind() {
    use voronka_crm::import::ImportKind;
    let yaml = Mapping::from_text("ИНН: inn\n'Название': name\n").unwrap();
    let json = Mapping::from_text(r#"{"ИНН": "inn", "Название": "name"}"#).unwrap();
    assert_eq!(yaml, json);
    assert!(yaml.check(ImportKind::Companies).is_ok());
    let error = yaml.check(ImportKind::Activities).unwrap_err();
    assert!(error.to_string().contains("unknown field `inn`"), "{error}");
    assert!(Mapping::from_yaml("- a\n- b\n").is_err());
    assert!(Mapping::from_yaml("a: [1, 2]\n").is_err());
    assert!(mapping(&[("Канал", "fields.channel")])
        .check(ImportKind::Deals)
        .is_ok());
    assert!(mapping(&[("Канал", "fields.")])
        .check(ImportKind::Deals)
        .is_err());
}
