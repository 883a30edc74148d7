//! `voronka import` on a real SQLite file: dry runs write nothing, the real
//! run creates each row once, re-running creates nothing, duplicates and
//! invalid rows are reported.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const PASSWORD: &str = "Import-Test-Password-2026";

fn voronka(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voronka"))
        .args(args)
        .env("VORONKA_LOG", "error")
        .env_remove("VORONKA_DB")
        .env("VORONKA_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run voronka")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn add_admin(url: &str) {
    let added = voronka(&[
        "user",
        "add",
        "--email",
        "admin@example.com",
        "--role",
        "administrator",
        "--role",
        "director",
        "--department",
        "Head office",
        "--db",
        url,
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
}

fn import(url: &str, file: &Path, kind: &str, mapping: &Path, dry_run: bool) -> Output {
    let mut args = vec![
        "import",
        file.to_str().unwrap(),
        "--kind",
        kind,
        "--mapping",
        mapping.to_str().unwrap(),
        "--as",
        "Admin@Example.com",
        "--db",
        url,
    ];
    if dry_run {
        args.push("--dry-run");
    }
    let output = voronka(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

fn assert_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(output)
}

#[test]
fn companies_then_contacts_dry_run_real_run_and_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crm.db").display());
    add_admin(&url);

    let companies = dir.path().join("companies.csv");
    std::fs::write(
        &companies,
        "\u{feff}Название;ИНН;Город\n\
         Сбер;7707083893;Москва\n\
         Яндекс;7736207543;Москва\n\
         Сбер ещё раз;7707083893;Москва\n\
         Без ИНН;;Тверь\n",
    )
    .unwrap();
    let mapping = dir.path().join("companies.json");
    std::fs::write(&mapping, r#"{"Название": "name", "ИНН": "inn"}"#).unwrap();

    for _ in 0..2 {
        let out = assert_ok(&import(&url, &companies, "companies", &mapping, true));
        assert!(out.contains("would_create 3"), "{out}");
        assert!(out.contains("duplicates 1"), "{out}");
        assert!(out.contains("line 4: duplicate"), "{out}");
        assert!(out.contains("same as line 2"), "{out}");
        assert!(out.contains("dry run"), "{out}");
    }
    let out = assert_ok(&import(&url, &companies, "companies", &mapping, false));
    assert!(out.contains("created 3"), "{out}");
    let out = assert_ok(&import(&url, &companies, "companies", &mapping, false));
    assert!(out.contains("created 0"), "{out}");
    assert!(out.contains("already_imported 3"), "{out}");

    // Another file naming a known INN: a duplicate of the base.
    let again = dir.path().join("again.csv");
    std::fs::write(&again, "Название,ИНН\nСбербанк,7707083893\n").unwrap();
    let out = assert_ok(&import(&url, &again, "companies", &mapping, false));
    assert!(out.contains("created 0"), "{out}");
    assert!(out.contains("already in the base"), "{out}");

    // Contacts: linked by INN; one invalid e-mail, one unknown company.
    let contacts = dir.path().join("contacts.csv");
    std::fs::write(
        &contacts,
        "Фамилия;Имя;Телефоны;Почта;ИНН\n\
         Иванов;Иван;\"8 (916) 123-45-67, +7 916 765 43 21\";ivan@example.com;7707083893\n\
         Петров;Пётр;+7 495 000-00-01;not-an-email;\n\
         Сидоров;Сидор;;sidor@example.com;7728168971\n\
         Иванов;Иван;+79161234567;;\n",
    )
    .unwrap();
    let contact_mapping = dir.path().join("contacts.json");
    std::fs::write(
        &contact_mapping,
        r#"{"Фамилия": "surname", "Имя": "name", "Телефоны": "phones", "Почта": "email", "ИНН": "company_inn"}"#,
    )
    .unwrap();
    let dry = import(&url, &contacts, "contacts", &contact_mapping, true);
    assert_eq!(dry.status.code(), Some(1), "{}", stdout(&dry));
    let out = stdout(&dry);
    assert!(out.contains("would_create 1"), "{out}");
    assert!(out.contains("invalid 2"), "{out}");
    assert!(out.contains("line 3: invalid emails"), "{out}");
    assert!(out.contains("line 4: invalid company_inn"), "{out}");
    assert!(out.contains("line 5: duplicate"), "{out}");
    let real = import(&url, &contacts, "contacts", &contact_mapping, false);
    assert_eq!(real.status.code(), Some(1), "{}", stdout(&real));
    assert!(stdout(&real).contains("created 1"), "{}", stdout(&real));
    let rerun = import(&url, &contacts, "contacts", &contact_mapping, false);
    assert!(stdout(&rerun).contains("created 0"), "{}", stdout(&rerun));
    assert!(
        stdout(&rerun).contains("already_imported 1"),
        "{}",
        stdout(&rerun)
    );
}

#[test]
fn a_broken_file_or_mapping_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crm.db").display());
    add_admin(&url);
    let mapping = dir.path().join("map.json");
    std::fs::write(&mapping, r#"{"Название": "name", "ИНН": "inn"}"#).unwrap();
    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "Название;ИНН\nА;1\n\"Б;2\n").unwrap();
    let out = import(&url, &broken, "companies", &mapping, false);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("quote"),
        "{stderr}"
    );

    let unknown = dir.path().join("unknown.csv");
    std::fs::write(&unknown, "Name;INN\nA;1\n").unwrap();
    let out = import(&url, &unknown, "companies", &mapping, false);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`Название`"), "{stderr}");
}

/// A contacts file of `rows` rows in Windows-1251 with `;`, as an old CRM
/// exports them: every 100th row repeats the phone of the row before it
/// (a duplicate within the file) and every 1000th row has a broken e-mail.
fn big_contacts_file(rows: usize) -> (Vec<u8>, usize, usize) {
    let mut text = String::from("Фамилия;Имя;Телефон;Почта\r\n");
    let (mut duplicates, mut invalid) = (0, 0);
    for n in 0..rows {
        let phone_of = if n % 100 == 99 { n - 1 } else { n };
        let email = if n % 1000 == 500 {
            invalid += 1;
            format!("broken{n}-at-example.ru")
        } else {
            format!("p{n}@example.ru")
        };
        if phone_of != n {
            duplicates += 1;
        }
        text.push_str(&format!(
            "Петров{n};Пётр;+7 495 {:03}-{:02}-{:02};{email}\r\n",
            phone_of / 10_000 % 1000,
            phone_of / 100 % 100,
            phone_of % 100
        ));
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(&text);
    assert!(!unmappable);
    (bytes.into_owned(), duplicates, invalid)
}

/// The line (1 = the header) of every reported row of a kind, from the
/// CLI's report.
fn lines_reported(out: &str, what: &str) -> usize {
    out.lines()
        .filter(|line| line.trim_start().starts_with("line ") && line.contains(what))
        .count()
}

/// 100,000 rows: the progress reaches the end, every valid row is created
/// once, duplicates and invalid rows are reported, and a second run
/// creates nothing.
fn imports_a_hundred_thousand_rows(url: &str) {
    const ROWS: usize = 100_000;
    add_admin(url);
    let dir = tempfile::tempdir().unwrap();
    let (bytes, duplicates, invalid) = big_contacts_file(ROWS);
    let file = dir.path().join("contacts-1251.csv");
    std::fs::write(&file, bytes).unwrap();
    let mapping = dir.path().join("contacts.json");
    std::fs::write(
        &mapping,
        r#"{"Фамилия": "surname", "Имя": "name", "Телефон": "phone", "Почта": "email"}"#,
    )
    .unwrap();
    let expected = ROWS - duplicates - invalid;

    let run = import(url, &file, "contacts", &mapping, false);
    let out = stdout(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    // Invalid rows make the exit status 1; the valid rows are still created.
    assert_eq!(run.status.code(), Some(1), "{out}\n{stderr}");
    assert!(out.contains(&format!("created {expected}")), "{out}");
    assert!(out.contains("windows-1251"), "{out}");
    assert_eq!(lines_reported(&out, "duplicate"), duplicates, "{out}");
    assert_eq!(lines_reported(&out, "invalid"), invalid, "{out}");
    assert!(
        stderr.contains(&format!("{expected} of {expected} rows written"))
            || stderr.contains(&format!(
                "{} of {expected} rows written",
                expected / 1000 * 1000
            )),
        "{stderr}"
    );

    let rerun = import(url, &file, "contacts", &mapping, true);
    let out = stdout(&rerun);
    assert!(out.contains("would_create 0"), "{out}");
    assert!(
        out.contains(&format!("already_imported {expected}")),
        "{out}"
    );
}

#[test]
fn a_hundred_thousand_rows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crm.db").display());
    imports_a_hundred_thousand_rows(&url);
}

#[test]
fn a_hundred_thousand_rows_on_postgres() {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let database = runtime
        .block_on(voronka_store_postgres::ScratchDatabase::create(
            &server,
            "voronka_import",
        ))
        .expect("PostgreSQL is needed for this test: set DATABASE_URL or run scripts/test");
    imports_a_hundred_thousand_rows(database.url());
    drop(database);
}
