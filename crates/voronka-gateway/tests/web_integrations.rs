//! The integration pages over real HTTP on both backends: a CSV uploaded
//! through the import form with a mapping typed beside it is checked (what
//! would be created, the invalid row by line and column, the duplicate of an
//! earlier line), then run from its report without uploading it again; the
//! saved mapping is listed and deleted; form errors come back beside the
//! form; mailings: a segment (its name shown as text) previews its
//! recipients, a body with an unknown placeholder is refused inline, a
//! mailing is created and sent with its progress; a lead form with its
//! submit URL and snippet takes a lead, is paused and deleted; a webhook's
//! secret is shown once; rights: a manager imports but has no mailings,
//! forms or webhooks, and does not see another's job.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::browser::Browser;
use support::{Backend, TestServer};
use voronka_core::Role;

const DEADLINE: Duration = Duration::from_secs(30);

/// The `data-count` value `name` of a report page.
fn count(html: &str, name: &str) -> Option<u64> {
    let marker = format!("data-count=\"{name}\">");
    let start = html.find(&marker)? + marker.len();
    html[start..].split('<').next()?.trim().parse().ok()
}

/// Reads a job's page until it is no longer running (bounded).
async fn finished_job(browser: &mut Browser, path: &str) -> String {
    let started = tokio::time::Instant::now();
    loop {
        let (status, page) = browser.get(path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        if !page.contains("data-status=\"running\"") {
            return page;
        }
        assert!(started.elapsed() < DEADLINE, "the job never ended: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn imports_go_through_check_then_run(server: TestServer) {
    let mut admin = Browser::sign_in_reading(&server, "admin@e2e.test", "en").await;
    let (status, home) = admin.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("href=\"/integrations\""), "in the navigation");
    let (status, index) = admin.get("/integrations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(index.contains("href=\"/imports\"") && index.contains("href=\"/mailings\""));
    let (status, page) = admin.get("/imports").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("enctype=\"multipart/form-data\""));

    // Line 2 is new, line 3 has a bad INN, line 4 repeats line 2's INN.
    let csv = "ИНН;Название;<script>x</script>\n7707083893;ООО Ромашка;a\n12345;ООО Кривая;b\n7707083893;Ромашка снова;c\n";
    let pairs = "ИНН = inn\nНазвание = name";
    let file_name = "<img src=x onerror=alert(1)>.csv";
    let (status, body, location) = admin
        .post_multipart(
            "/imports",
            &[
                ("kind", "companies"),
                ("mapping", ""),
                ("new_name", "web-companies"),
                ("pairs", pairs),
                ("action", "check"),
            ],
            ("file", file_name, csv.as_bytes()),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let check = location.expect("the job's page");
    assert!(check.starts_with("/imports/jobs/"), "{check}");
    let report = finished_job(&mut admin, &check).await;
    assert_eq!(count(&report, "rows"), Some(3), "{report}");
    assert_eq!(count(&report, "would_create"), Some(1), "{report}");
    assert_eq!(count(&report, "invalid"), Some(1), "{report}");
    assert_eq!(count(&report, "duplicates"), Some(1), "{report}");
    let invalid = report
        .split("<tr data-line=\"3\">")
        .nth(1)
        .expect("the invalid row by its line");
    let invalid = invalid.split("</tr>").next().unwrap();
    assert!(
        invalid.contains("<code>inn</code>") || invalid.contains("<code>ИНН</code>"),
        "its column: {invalid}"
    );
    assert!(report.contains("<tr data-line=\"4\">"), "the duplicate");
    assert!(report.contains("line 2 of this file"), "{report}");
    assert!(
        report.contains("&lt;img src=x onerror=alert(1)&gt;.csv") && !report.contains("<img src=x"),
        "the file name is text"
    );
    let (_, before) = server
        .get(
            &server.admin,
            "/api/v1/companies?q=%D0%A0%D0%BE%D0%BC%D0%B0%D1%88%D0%BA%D0%B0",
        )
        .await;
    assert_eq!(
        before["items"].as_array().unwrap().len(),
        0,
        "a check writes nothing"
    );

    // The checked file is imported from its report, once.
    let run_path = format!("{check}/run");
    let (status, body, location) = admin.post(&run_path, &[], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let run = location.expect("the run's page");
    assert_ne!(run, check);
    let (status, _, again) = admin.post(&run_path, &[], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(again.as_deref(), Some(run.as_str()), "asked twice, one run");
    let done = finished_job(&mut admin, &run).await;
    assert_eq!(count(&done, "created"), Some(1), "{done}");
    let (_, after) = server
        .get(
            &server.admin,
            "/api/v1/companies?q=%D0%A0%D0%BE%D0%BC%D0%B0%D1%88%D0%BA%D0%B0",
        )
        .await;
    assert_eq!(after["items"].as_array().unwrap().len(), 1, "{after}");
    let (_, checked) = admin.get(&check).await;
    assert!(
        checked.contains(&format!("href=\"{run}\"")),
        "the check links its run"
    );

    // The typed mapping was saved; it is listed as text, edited, deleted.
    let (_, page) = admin.get("/imports").await;
    assert!(page.contains("data-mapping=\"web-companies\""));
    let (status, editor) = admin.get("/imports?edit=web-companies").await;
    assert_eq!(status, StatusCode::OK);
    assert!(editor.contains("ИНН = inn"), "the pairs in the editor");
    let (status, _, location) = admin
        .post(
            "/imports/mappings/delete",
            &[("name", "web-companies")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/imports?done=deleted"));
    let (_, listed) = server.get(&server.admin, "/api/v1/import-mappings").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");

    // Form errors: every problem beside the form, in one answer.
    let (status, page, _) = admin
        .post_multipart(
            "/imports",
            &[
                ("kind", ""),
                ("pairs", "ИНН = inn\nno pair"),
                ("action", "check"),
            ],
            ("file", "empty.csv", b""),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for expected in [
        "Choose what the file holds.",
        "Choose a non-empty CSV file.",
        "Columns, line 2",
        "Name the new mapping.",
    ] {
        assert!(page.contains(expected), "{expected}: {page}");
    }
    // An unknown field is refused by the application, naming the column.
    let (status, page, _) = admin
        .post_multipart(
            "/imports",
            &[
                ("kind", "contacts"),
                ("new_name", "bad"),
                ("pairs", "<b>Девичья</b> = maiden_name"),
                ("action", "check"),
            ],
            ("file", "a.csv", "x\n1\n".as_bytes()),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Columns: "), "{page}");
    assert!(page.contains("&lt;b&gt;Девичья"), "kept as text: {page}");
    assert!(!page.contains("<b>Девичья"));
    // Without the CSRF token: refused before anything is read.
    let (status, _, _) = admin
        .post_multipart(
            "/imports",
            &[("kind", "companies"), ("mapping", "x")],
            ("file", "a.csv", b"a\n1\n"),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A manager imports (an edit right) but has no mailings, and does not
    // see the administrator's job.
    server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    let mut anna = Browser::sign_in_reading(&server, "anna@e2e.test", "en").await;
    let (status, index) = anna.get("/integrations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(index.contains("href=\"/imports\"") && !index.contains("href=\"/mailings\""));
    assert_eq!(anna.get("/imports").await.0, StatusCode::OK);
    assert_eq!(anna.get("/mailings").await.0, StatusCode::FORBIDDEN);
    assert_eq!(anna.get(&check).await.0, StatusCode::NOT_FOUND);
    let (status, _, _) = anna.post(&run_path, &[], true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_go_through_check_then_run_on_sqlite() {
    imports_go_through_check_then_run(TestServer::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_go_through_check_then_run_on_postgres() {
    imports_go_through_check_then_run(TestServer::start(Backend::Postgres).await).await;
}

async fn mailings_are_segmented_created_and_sent(server: TestServer) {
    let (status, company) = server
        .post(
            &server.admin,
            "/api/v1/companies",
            json!({"name": "ООО Код", "industry": "it"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    let (status, contact) = server
        .post(
            &server.admin,
            "/api/v1/contacts",
            json!({"surname": "Иванова", "name": "Анна", "emails": ["anna@kod.example"],
                   "company": company["id"], "consent_to_mailings": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");

    let mut admin = Browser::sign_in_reading(&server, "admin@e2e.test", "en").await;
    let (status, page) = admin.get("/mailings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Create a segment first"),
        "no mailing without a segment"
    );
    let (status, page, _) = admin
        .post(
            "/mailings/segments",
            &[("name", "x"), ("responsible", "nobody")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Responsible: not one of the choices."),
        "{page}"
    );
    let name = "<img src=x onerror=alert(1)> IT";
    let (status, body, location) = admin
        .post(
            "/mailings/segments",
            &[("name", name), ("industry", "it"), ("q", "")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let segment_path = location.expect("the segment's page");
    let (status, segment) = admin.get(&segment_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(segment.contains("&lt;img src=x onerror=alert(1)&gt; IT"));
    assert!(!segment.contains("<img src=x"), "the name is text");
    assert!(segment.contains("Reaches 1 contact now"), "{segment}");
    assert!(segment.contains("anna@kod.example"));
    let segment_id = segment_path.rsplit('/').next().unwrap().to_owned();

    // An unknown placeholder comes back beside the kept text.
    let typo = "Hello, {{nmae}}!";
    let (status, page, _) = admin
        .post(
            "/mailings",
            &[
                ("subject", "News"),
                ("body", typo),
                ("segment", &segment_id),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("role=\"alert\""));
    assert!(page.contains("Text: "), "the field is named: {page}");
    assert!(page.contains("nmae"));
    assert!(
        page.contains("Hello, {{nmae}}!</textarea>"),
        "the text is kept"
    );

    let (status, body, location) = admin
        .post(
            "/mailings",
            &[
                ("subject", "News for {{company}}"),
                ("body", "Hello, {{name}}!"),
                ("segment", &segment_id),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let mailing_path = location.expect("the mailing's page");
    let (status, draft) = admin.get(&mailing_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(draft.contains("data-status=\"draft\""));
    let (status, body, location) = admin.post(&format!("{mailing_path}/send"), &[], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some(mailing_path.as_str()));
    let started = tokio::time::Instant::now();
    loop {
        let (_, page) = admin.get(&mailing_path).await;
        if page.contains("data-status=\"finished\"") {
            assert!(page.contains("sent 1, skipped 0, failed 0 of 1"), "{page}");
            break;
        }
        assert!(started.elapsed() < DEADLINE, "never sent: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, list) = admin.get("/mailings").await;
    assert!(list.contains(&format!("href=\"{mailing_path}\"")));

    // Sending again is refused beside the button.
    let (status, page, _) = admin.post(&format!("{mailing_path}/send"), &[], true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("role=\"alert\""));

    let (status, _, location) = admin
        .post(&format!("{segment_path}/delete"), &[], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/mailings?done=segment-deleted"));
    assert_eq!(admin.get(&segment_path).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailings_are_segmented_created_and_sent_on_sqlite() {
    mailings_are_segmented_created_and_sent(TestServer::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailings_are_segmented_created_and_sent_on_postgres() {
    mailings_are_segmented_created_and_sent(TestServer::start(Backend::Postgres).await).await;
}

/// The value of `attribute="..."` on the first element that has it.
fn attribute<'a>(html: &'a str, attribute: &str) -> &'a str {
    let marker = format!("{attribute}=\"");
    let start = html.find(&marker).expect(attribute) + marker.len();
    html[start..].split('"').next().unwrap()
}

async fn lead_forms_and_webhooks_are_set_up_by_pages(server: TestServer) {
    server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    let mut admin = Browser::sign_in_reading(&server, "admin@e2e.test", "en").await;
    let (_, index) = admin.get("/integrations").await;
    assert!(index.contains("href=\"/integrations/forms\""));
    assert!(index.contains("href=\"/integrations/webhooks\""));

    // A lead form: a bad line and an unknown lead field come back inline.
    let department = server.sales_moscow.to_string();
    let (status, page, _) = admin
        .post(
            "/integrations/forms",
            &[
                ("name", "Site"),
                ("department", &department),
                ("fields", "no pair"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Fields, line 1"), "{page}");
    let (status, page, _) = admin
        .post(
            "/integrations/forms",
            &[
                ("name", "Site"),
                ("department", &department),
                ("fields", "x = maiden_name"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("maiden_name"), "{page}");

    let name = "<script>alert(1)</script> site";
    let (status, body, location) = admin
        .post(
            "/integrations/forms",
            &[
                ("name", name),
                ("department", &department),
                ("fields", "your-phone = phone\nyour-name = name"),
                ("honeypot", "website"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let form_path = location.expect("the form's page");
    let (status, page) = admin.get(&form_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; site"));
    assert!(!page.contains("<script>alert(1)"), "the name is text");
    let start = page.find("id=\"submit-url\">").expect("the submit URL") + 16;
    let submit_url = page[start..].split('<').next().unwrap().to_owned();
    assert!(
        submit_url.starts_with(&server.base),
        "absolute: {submit_url}"
    );
    assert!(submit_url.ends_with("/submit"), "{submit_url}");
    assert!(
        page.contains("name=&quot;your-phone&quot;") && page.contains("type=&quot;tel&quot;"),
        "the snippet, as text: {page}"
    );
    // The website posts the snippet's fields: a lead is accepted and counted.
    let response = server
        .client
        .post(&submit_url)
        .form(&[("your-phone", "+7 916 123-45-67"), ("your-name", "Иван")])
        .send()
        .await
        .expect("a submission");
    assert_eq!(response.status(), StatusCode::OK);
    let (_, page) = admin.get(&form_path).await;
    assert!(page.contains("<dd>1</dd>"), "one lead accepted: {page}");
    let (status, _, _) = admin
        .post(&format!("{form_path}/active"), &[("active", "false")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = admin.get(&form_path).await;
    assert!(page.contains("data-active=\"false\""));
    let response = server
        .client
        .post(&submit_url)
        .form(&[("your-phone", "+7 916 123-45-68")])
        .send()
        .await
        .expect("a submission");
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "a paused form");
    let (status, _, location) = admin.post(&format!("{form_path}/delete"), &[], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/integrations/forms"));
    assert_eq!(admin.get(&form_path).await.0, StatusCode::NOT_FOUND);

    // A webhook: refused inline without an event type, then created with
    // its secret shown once, paused and deleted.
    let (status, page, _) = admin
        .post("/integrations/webhooks", &[("url", "ftp://x")], true)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("role=\"alert\""));
    let (status, page, _) = admin
        .post(
            "/integrations/webhooks",
            &[
                ("url", "http://127.0.0.1:9/hook"),
                ("event.deal_stage_changed", "on"),
                ("stage", "won"),
                ("description", "<b>ERP</b>"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let secret = page
        .split("id=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret");
    assert_eq!(secret.len(), 64, "{secret}");
    assert!(page.contains("&lt;b&gt;ERP&lt;/b&gt;") && !page.contains("<b>ERP"));
    let id = attribute(&page, "data-webhook").to_owned();
    let hook_path = format!("/integrations/webhooks/{id}");
    let (status, page) = admin.get(&hook_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(secret), "the secret is shown once");
    assert!(page.contains("deal_stage_changed") && page.contains("won"));
    let (status, _, _) = admin
        .post(&format!("{hook_path}/active"), &[("active", "false")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = admin.get(&hook_path).await;
    assert_eq!(attribute(&page, "data-active"), "false");
    let (_, listed) = server.get(&server.admin, "/api/v1/webhooks").await;
    assert_eq!(listed["items"][0]["active"], false, "{listed}");
    let (status, _, _) = admin.post(&format!("{hook_path}/delete"), &[], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(admin.get(&hook_path).await.0, StatusCode::NOT_FOUND);

    // Without the rights: a manager gets the 403 page for both.
    let mut anna = Browser::sign_in_reading(&server, "anna@e2e.test", "en").await;
    assert_eq!(
        anna.get("/integrations/forms").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        anna.get("/integrations/webhooks").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _, _) = anna
        .post(
            "/integrations/webhooks",
            &[
                ("url", "http://127.0.0.1:9/x"),
                ("event.deal_started", "on"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_forms_and_webhooks_are_set_up_by_pages_on_sqlite() {
    lead_forms_and_webhooks_are_set_up_by_pages(TestServer::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_forms_and_webhooks_are_set_up_by_pages_on_postgres() {
    lead_forms_and_webhooks_are_set_up_by_pages(TestServer::start(Backend::Postgres).await).await;
}
