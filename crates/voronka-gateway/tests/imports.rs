//! Imports and exports over HTTP on both backends: a Windows-1251 file of
//! deals with their history imported as a job with a saved mapping (the
//! `deal_imported` event says who, from which file and when things
//! happened; the funnel for the original period counts the deal; a later
//! move is checked by the process; a re-run creates nothing twice); broken
//! files answered with the row and column; the 413 limit; exports of lists
//! as CSV and XLSX holding the same rows and only what the reader sees.

mod support;

use std::io::Read;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer};
use voronka_core::{Role, StreamId, StreamVersion};

const ROMASHKA_INN: &str = "7707083893";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Windows-1251 bytes of a text of ASCII and Russian letters.
fn windows_1251(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            'А'..='я' => (c as u32 - 0x410 + 0xC0) as u8,
            'Ё' => 0xA8,
            'ё' => 0xB8,
            c if c.is_ascii() => c as u8,
            other => panic!("not in the test's Windows-1251 subset: {other}"),
        })
        .collect()
}

async fn put(server: &TestServer, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    server
        .send(reqwest::Method::PUT, Some(token), path, Some(body))
        .await
}

/// Posts a file to `/api/v1/imports` and waits (bounded) for the job to end.
async fn import(server: &TestServer, token: &str, query: &str, body: Vec<u8>) -> Value {
    let response = server
        .client
        .post(format!("{}/api/v1/imports?{query}", server.base))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status();
    let started: Value = response.json().await.expect("JSON");
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["id"].as_str().expect("job id").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, job) = server.get(token, &format!("/api/v1/imports/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["status"] != "running" {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the import did not end: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stage<'a>(funnel: &'a Value, name: &str) -> &'a Value {
    funnel["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {funnel}"))
}

/// The funnel of b2b-sale for a period, once the projection has caught up
/// with everything written so far (bounded).
async fn funnel(server: &TestServer, token: &str, period: &str) -> Value {
    let head = server.store.commit_notifications().borrow().0;
    let (status, funnel) = server
        .get(
            token,
            &format!("/api/v1/reports/funnel?process=b2b-sale&{period}&min_position={head}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    funnel
}

const DEALS_MAPPING: &str = r#"{"kind": "deals", "columns": {
    "Процесс": "process", "Сделка": "title", "ИНН": "company_inn",
    "Ответственный": "responsible_email", "Сумма": "amount", "Этап": "stage",
    "Создана": "created_at", "На этапе с": "stage_entered_at"}}"#;

on_both_backends!(
    deals_imported_with_history_count_by_their_original_dates,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let (status, company) = server
            .post(
                &server.admin,
                "/api/v1/companies",
                json!({"name": "ООО Ромашка", "inn": ROMASHKA_INN}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{company}");
        let mapping: Value = serde_json::from_str(DEALS_MAPPING).unwrap();
        let (status, saved) = put(
            &server,
            &server.admin,
            "/api/v1/import-mappings/deals-from-1c",
            mapping,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{saved}");

        let file = windows_1251(&format!(
            "Процесс;Сделка;ИНН;Ответственный;Сумма;Этап;Создана;На этапе с\r\n\
             b2b-sale;Поставка насосов;{ROMASHKA_INN};anna@e2e.test;150000,50;proposal;2025-03-01;10.03.2025 12:00\r\n\
             b2b-sale;Без даты;{ROMASHKA_INN};anna@e2e.test;1000;proposal;вчера;\r\n\
             b2b-sale;Не тот этап;{ROMASHKA_INN};anna@e2e.test;1000;heaven;2025-03-01;\r\n\
             b2b-sale;Лишняя ячейка;{ROMASHKA_INN};anna@e2e.test;1000;proposal;2025-03-01;2025-03-02;9\r\n\
             b2b-sale;Наоборот;{ROMASHKA_INN};anna@e2e.test;1000;proposal;2025-03-05;2025-03-01\r\n"
        ));
        let query = "kind=deals&mapping=deals-from-1c&file=deals-2025.csv";

        // A dry run checks every row and writes nothing.
        let dry = import(
            &server,
            &server.admin,
            &format!("{query}&dry_run=true"),
            file.clone(),
        )
        .await;
        assert_eq!(dry["status"], "finished", "{dry}");
        assert_eq!(dry["report"]["would_create"], 1, "{dry}");
        assert_eq!(dry["report"]["created"], 0, "{dry}");
        let (_, none) = server.get(&server.admin, "/api/v1/deals?q=насосов").await;
        assert_eq!(none["items"].as_array().unwrap().len(), 0, "{none}");

        let job = import(&server, &server.admin, query, file.clone()).await;
        assert_eq!(job["status"], "finished", "{job}");
        let report = &job["report"];
        assert_eq!(report["encoding"], "windows-1251", "{job}");
        assert_eq!(report["rows"], 5, "{job}");
        assert_eq!(report["created"], 1, "{job}");
        // Three rows resolved and were tried; the process refused two.
        assert_eq!(job["rows_planned"], 3, "{job}");
        assert_eq!(job["rows_done"], 3, "{job}");
        let invalid: Vec<(u64, String, String)> = report["invalid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["line"].as_u64().unwrap(),
                    e["column"].as_str().unwrap_or("row").to_owned(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            invalid,
            vec![
                (3, "created_at".into(), "date_invalid".into()),
                (4, "stage".into(), "unknown_stage".into()),
                (5, "row".into(), "column_count".into()),
                (
                    6,
                    "stage_entered_at".into(),
                    "stage_entered_before_created".into()
                ),
            ],
            "{job}"
        );

        // The deal stands in `proposal`, Anna's, with its amount; nothing
        // half-imported from the bad rows.
        let (_, listed) = server.get(&server.admin, "/api/v1/deals?q=насосов").await;
        let items = listed["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{listed}");
        let deal = &items[0];
        assert_eq!(deal["stage"], "proposal", "{deal}");
        assert_eq!(deal["responsible"], anna.id.to_string(), "{deal}");
        assert_eq!(deal["company"], company["id"], "{deal}");
        for title in ["Без даты", "Не тот этап", "Наоборот"] {
            let (_, found) = server
                .get(&server.admin, &format!("/api/v1/deals?q={title}"))
                .await;
            assert_eq!(
                found["items"].as_array().unwrap().len(),
                0,
                "{title}: {found}"
            );
        }

        // Its first event says imported, by whom, from which file, with the
        // original dates as when it happened.
        let id = deal["id"].as_str().unwrap().to_owned();
        let events = server
            .store
            .read_stream(
                &StreamId::new(format!("deal-{id}")).unwrap(),
                StreamVersion::NONE.next(),
                100,
            )
            .await
            .expect("read the deal");
        let first = &events[0];
        assert_eq!(first.event_type, "deal_imported");
        let payload: Value = serde_json::from_str(first.payload.as_str()).unwrap();
        assert_eq!(
            payload["imported_by"],
            server.admin_id.to_string(),
            "{payload}"
        );
        assert_eq!(payload["source"]["file"], "deals-2025.csv", "{payload}");
        assert_eq!(
            payload["source"]["sha256"].as_str().unwrap().len(),
            64,
            "{payload}"
        );
        assert_eq!(payload["stage"], "proposal", "{payload}");
        assert_eq!(payload["created_at"], "2025-03-01T00:00:00Z", "{payload}");
        assert_eq!(
            payload["stage_entered_at"], "2025-03-10T12:00:00Z",
            "{payload}"
        );
        assert_eq!(
            first.occurred_at.map(|t| t.to_rfc3339()),
            Some("2025-03-10T12:00:00+00:00".to_owned())
        );
        assert!(first.recorded_at.date_naive().to_string().as_str() > "2025-12-31");
        assert!(
            events[1..].iter().all(|e| e.event_type == "deal_field_set"),
            "one append: the import, then its fields"
        );

        // The funnel for March 2025 counts it in `proposal`, for Anna too;
        // April does not.
        let march = funnel(&server, &server.admin, "from=2025-03-01&to=2025-03-31").await;
        assert_eq!(stage(&march, "proposal")["entered"], 1, "{march}");
        assert_eq!(stage(&march, "new")["entered"], 0, "{march}");
        let (_, annas) = server
            .get(
                &server.admin,
                &format!(
                    "/api/v1/reports/funnel?process=b2b-sale&from=2025-03-01&to=2025-03-31&manager={}",
                    anna.id
                ),
            )
            .await;
        assert_eq!(stage(&annas, "proposal")["entered"], 1, "{annas}");
        let april = funnel(&server, &server.admin, "from=2025-04-01&to=2025-04-30").await;
        assert_eq!(stage(&april, "proposal")["entered"], 0, "{april}");
        assert_eq!(stage(&april, "proposal")["now"], 1, "{april}");

        // As of a day after its original date (long before the log began)
        // it stands in `proposal` with its amount; a day before, it is not
        // known yet, and before any history the moment is refused.
        let then = funnel(
            &server,
            &server.admin,
            "from=2025-03-01&to=2025-03-31&as_of=2025-03-11T00:00:00Z",
        )
        .await;
        assert_eq!(stage(&then, "proposal")["now"], 1, "{then}");
        assert_eq!(
            stage(&then, "proposal")["now_amount_minor"],
            15_000_050,
            "{then}"
        );
        let (status, before) = server
            .get(
                &server.admin,
                "/api/v1/reports/funnel?process=b2b-sale&as_of=2025-03-10T00:00:00Z",
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{before}");
        assert_eq!(before["code"], "as_of_before_history", "{before}");

        // After the import the process applies: proposal -> contract is not
        // a transition.
        let refused = server
            .post(
                &anna.token,
                &format!("/api/v1/deals/{id}/transitions"),
                json!({"to": "contract"}),
            )
            .await;
        let body = expect_problem(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "requirements_unmet",
        );
        assert_eq!(body["unmet"][0]["code"], "transition_not_allowed", "{body}");

        // Running the same file again creates nothing twice.
        let again = import(&server, &server.admin, query, file).await;
        assert_eq!(again["report"]["created"], 0, "{again}");
        assert_eq!(again["report"]["already_imported"], 1, "{again}");
        let (_, listed) = server.get(&server.admin, "/api/v1/deals?q=насосов").await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    }
);

on_both_backends!(
    broken_files_are_refused_with_line_and_nothing_is_written,
    |server: TestServer| async move {
        let contacts = json!({"kind": "contacts", "columns": {
            "Фамилия": "surname", "Имя": "name", "Телефон": "phone", "Почта": "email"}});
        let (status, saved) = put(
            &server,
            &server.admin,
            "/api/v1/import-mappings/contacts",
            contacts,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{saved}");

        // An unknown field in a mapping is refused naming the column.
        let (status, refused) = put(
            &server,
            &server.admin,
            "/api/v1/import-mappings/bad",
            json!({"kind": "contacts", "columns": {"Девичья фамилия": "maiden_name"}}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["field"], "columns", "{refused}");
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .contains("Девичья фамилия"),
            "{refused}"
        );

        // An unclosed quote: the whole file is refused, naming its line.
        let unclosed = "Фамилия,Имя,Телефон,Почта\nИванов,Иван,+7 916 000-00-01,a@b.ru\n\"Петров,Пётр,+7 916 000-00-02,p@b.ru\n";
        let job = import(
            &server,
            &server.admin,
            "kind=contacts&mapping=contacts",
            unclosed.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["errors"][0]["code"], "csv_unclosed_quote", "{job}");
        assert!(
            job["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("line 3"),
            "{job}"
        );

        // Binary data.
        let mut binary = b"\x89PNG\r\n\x1a\n".to_vec();
        binary.extend([0u8, 0, 0, 13]);
        let job = import(
            &server,
            &server.admin,
            "kind=contacts&mapping=contacts",
            binary,
        )
        .await;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["errors"][0]["code"], "file_binary", "{job}");

        let (_, listed) = server.get(&server.admin, "/api/v1/contacts").await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");

        // Duplicates by phone and e-mail within the file are reported.
        let file = "Фамилия;Имя;Телефон;Почта\nИванов;Иван;+7 916 000-00-01;ivan@b.ru\nИванов;Ваня;8 (916) 000-00-01;\nСидоров;Сидор;;IVAN@b.ru\n";
        let job = import(
            &server,
            &server.admin,
            "kind=contacts&mapping=contacts",
            file.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(job["report"]["created"], 1, "{job}");
        let same: Vec<u64> = job["report"]["duplicates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["same_as_line"].as_u64().unwrap())
            .collect();
        assert_eq!(same, vec![2, 2], "{job}");

        // A kind without a saved mapping of that kind, and a manager
        // importing deals of nobody they may not: refused before any job.
        let response = server
            .client
            .post(format!(
                "{}/api/v1/imports?kind=deals&mapping=contacts",
                server.base
            ))
            .bearer_auth(&server.admin)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "mapping_kind", "{body}");

        // Too big: 413, with a clear code.
        let huge = vec![b'a'; 64 * 1024 * 1024 + 1];
        let response = server
            .client
            .post(format!(
                "{}/api/v1/imports?kind=contacts&mapping=contacts",
                server.base
            ))
            .bearer_auth(&server.admin)
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "file_too_large", "{body}");
    }
);

/// The rows of an XLSX's first sheet, read from its XML: every cell's text
/// (shared strings resolved), row by row.
fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("an XLSX is a zip");
    let mut read = |name: &str| {
        let mut text = String::new();
        archive
            .by_name(name)
            .unwrap_or_else(|_| panic!("no {name} in the XLSX"))
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    let sheet = read("xl/worksheets/sheet1.xml");
    let shared = read("xl/sharedStrings.xml");
    let strings: Vec<String> = shared
        .split("<si>")
        .skip(1)
        .map(|si| {
            let start = si.find("<t").unwrap();
            let text = &si[si[start..].find('>').unwrap() + start + 1..si.find("</t>").unwrap()];
            text.replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
        })
        .collect();
    sheet
        .split("<row ")
        .skip(1)
        .map(|row| {
            row.split("<c ")
                .skip(1)
                .map(|cell| {
                    let value = &cell[cell.find("<v>").unwrap() + 3..cell.find("</v>").unwrap()];
                    strings[value.parse::<usize>().unwrap()].clone()
                })
                .collect()
        })
        .collect()
}

on_both_backends!(
    exports_in_csv_and_xlsx_hold_the_same_rows_the_reader_sees,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let boris = server
            .user("boris", &[Role::Manager], server.sales_spb)
            .await;
        for (token, title) in [
            (&anna.token, "Насосы, \"большие\""),
            (&anna.token, "=Формула"),
            (&boris.token, "Питерская сделка"),
        ] {
            let (status, body) = server
                .post(
                    token,
                    "/api/v1/deals",
                    json!({"process": "b2b-sale", "title": title, "amount": {"amount": "1000.00"}}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }

        let download = |token: String, path: String, accept: Option<&'static str>| {
            let request = server
                .client
                .get(format!("{}{path}", server.base))
                .bearer_auth(token);
            let request = match accept {
                Some(accept) => request.header("accept", accept),
                None => request,
            };
            async move {
                let response = request.send().await.expect("HTTP request");
                assert_eq!(response.status(), StatusCode::OK);
                let kind = response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                (kind, response.bytes().await.unwrap().to_vec())
            }
        };
        let (kind, csv) = download(anna.token.clone(), "/api/v1/exports/deals".into(), None).await;
        assert!(kind.starts_with("text/csv"), "{kind}");
        let (kind, xlsx) = download(
            anna.token.clone(),
            "/api/v1/exports/deals?format=xlsx".into(),
            None,
        )
        .await;
        assert_eq!(kind, XLSX);
        let (_, by_accept) = download(
            anna.token.clone(),
            "/api/v1/exports/deals".into(),
            Some(XLSX),
        )
        .await;
        assert_eq!(xlsx_rows(&by_accept), xlsx_rows(&xlsx));

        // The CSV read back as the XLSX's rows: the same rows.
        let text = String::from_utf8(csv).unwrap();
        let text = text.trim_start_matches('\u{feff}');
        let mut reader = csv_rows(text);
        let sheet = xlsx_rows(&xlsx);
        // The formula cell is defused in CSV only (a leading apostrophe).
        for row in &mut reader {
            for cell in row.iter_mut() {
                if let Some(rest) = cell.strip_prefix('\'') {
                    *cell = rest.to_owned();
                }
            }
        }
        let dense = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| r.iter().filter(|c| !c.is_empty()).cloned().collect())
                .collect()
        };
        assert_eq!(dense(&reader), dense(&sheet));
        assert_eq!(sheet.len(), 3, "a header and Anna's two deals: {sheet:?}");
        let titles: Vec<&str> = sheet.iter().flatten().map(String::as_str).collect();
        assert!(titles.contains(&"Насосы, \"большие\""), "{titles:?}");
        assert!(titles.contains(&"=Формула"), "{titles:?}");
        assert!(
            !titles.contains(&"Питерская сделка"),
            "another manager's deal: {titles:?}"
        );

        // The administrator sees all three; a filter narrows the export.
        let (_, all) = download(
            server.admin.clone(),
            "/api/v1/exports/deals?format=xlsx".into(),
            None,
        )
        .await;
        assert_eq!(xlsx_rows(&all).len(), 4);
        let (_, narrowed) = download(
            server.admin.clone(),
            "/api/v1/exports/deals?format=xlsx&q=питерская".into(),
            None,
        )
        .await;
        assert_eq!(xlsx_rows(&narrowed).len(), 2);

        // A report as XLSX through Accept.
        let (kind, funnel) = download(
            server.admin.clone(),
            "/api/v1/reports/funnel".into(),
            Some(XLSX),
        )
        .await;
        assert_eq!(kind, XLSX);
        assert_eq!(xlsx_rows(&funnel)[0][0], "stage");

        // Bad formats and lists are clear 4xx.
        let (status, body) = server
            .get(&server.admin, "/api/v1/exports/deals?format=pdf")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], "format", "{body}");
        let (status, _) = server.get(&server.admin, "/api/v1/exports/secrets").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

/// A small RFC 4180 reader for the test: `,`, quotes, CRLF.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

on_both_backends!(
    a_saved_mapping_is_deleted_a_checked_file_is_run_and_the_routes_are_documented,
    |server: TestServer| async move {
        let mapping = json!({"kind": "companies", "columns": {"ИНН": "inn", "Название": "name"}});
        let (status, saved) = put(
            &server,
            &server.admin,
            "/api/v1/import-mappings/old-crm",
            mapping,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{saved}");

        // An operator (who may import contacts only) cannot touch a
        // companies mapping: 404, as for an unknown name.
        let operator = server
            .user("olga", &[Role::Operator], server.sales_moscow)
            .await;
        expect_problem(
            server
                .send(
                    reqwest::Method::DELETE,
                    Some(&operator.token),
                    "/api/v1/import-mappings/old-crm",
                    None,
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let (status, deleted) = server
            .send(
                reqwest::Method::DELETE,
                Some(&server.admin),
                "/api/v1/import-mappings/old-crm",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{deleted}");
        assert!(deleted["position"].as_u64().is_some(), "{deleted}");
        let (_, listed) = server.get(&server.admin, "/api/v1/import-mappings").await;
        assert_eq!(listed["items"], json!([]), "{listed}");
        expect_problem(
            server
                .send(
                    reqwest::Method::DELETE,
                    Some(&server.admin),
                    "/api/v1/import-mappings/old-crm",
                    None,
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        // A job started with the deleted name is refused, naming `mapping`.
        let response = server
            .client
            .post(format!(
                "{}/api/v1/imports?kind=companies&mapping=old-crm",
                server.base
            ))
            .bearer_auth(&server.admin)
            .body("ИНН;Название\n7707083893;Ромашка\n")
            .send()
            .await
            .expect("HTTP request");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // A dry run's file is run for real from the job, once.
        let (status, saved) = put(
            &server,
            &server.admin,
            "/api/v1/import-mappings/old-crm",
            json!({"kind": "companies", "columns": {"ИНН": "inn", "Название": "name"}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        let file = "ИНН;Название\n7707083893;Ромашка\n".as_bytes().to_vec();
        let checked = import(
            &server,
            &server.admin,
            "kind=companies&mapping=old-crm&dry_run=true",
            file,
        )
        .await;
        assert_eq!(checked["report"]["would_create"], 1, "{checked}");
        let check_id = checked["id"].as_str().unwrap().to_owned();
        let run_path = format!("/api/v1/imports/{check_id}/run");
        expect_problem(
            server.post(&operator.token, &run_path, json!({})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let (status, started) = server.post(&server.admin, &run_path, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        let (status, again) = server.post(&server.admin, &run_path, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{again}");
        assert_eq!(again["id"], started["id"], "one run per dry run");
        let run_id = started["id"].as_str().unwrap().to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let run = loop {
            let (_, job) = server
                .get(&server.admin, &format!("/api/v1/imports/{run_id}"))
                .await;
            if job["status"] != "running" {
                break job;
            }
            assert!(tokio::time::Instant::now() < deadline, "{job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(run["dry_run"], false, "{run}");
        assert_eq!(run["report"]["created"], 1, "{run}");
        assert_eq!(run["mapping"], "old-crm", "{run}");
        let problem = expect_problem(
            server
                .post(
                    &server.admin,
                    &format!("/api/v1/imports/{run_id}/run"),
                    json!({}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "import_not_checked",
        );
        assert_eq!(problem["field"], "job", "{problem}");

        let (_, document) = server.get(&server.admin, "/api/v1/openapi.json").await;
        let paths = &document["paths"];
        assert!(paths["/api/v1/imports"]["post"].is_object(), "{paths}");
        assert!(paths["/api/v1/imports/{id}"]["get"].is_object());
        assert!(paths["/api/v1/imports/{id}/run"]["post"].is_object());
        assert!(paths["/api/v1/import-mappings"]["get"].is_object());
        assert!(paths["/api/v1/import-mappings/{name}"]["put"].is_object());
        assert!(paths["/api/v1/import-mappings/{name}"]["delete"].is_object());
        assert!(document["components"]["schemas"]["ImportJob"].is_object());
    }
);
