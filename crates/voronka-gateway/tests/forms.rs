//! Website lead forms end to end on both backends: an administrator sets a
//! form up; a "browser" posts it urlencoded to the public endpoint; the lead
//! appears in `lead-qualification` with the mapped fields, the contact is
//! found or created, and the process plans the 15-minute call for the
//! manager whose turn it is. Round robin over three managers (sequential
//! and concurrent), the same phone in another format, an idempotent
//! resubmission. Refusals (unknown or paused token, honeypot, flood,
//! oversized body, missing or malformed contact data, a manager creating a
//! form) create nothing.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer, TestUser};
use voronka_core::Role;

/// How long any test here may take.
const DEADLINE: Duration = Duration::from_secs(60);

async fn create_form(server: &TestServer, department: uuid::Uuid, rate_limit: Value) -> Value {
    let (status, form) = server
        .post(
            &server.admin,
            "/api/v1/forms",
            json!({
                "name": "Заявка с сайта",
                "department": department,
                "fields": {
                    "your-name": "name",
                    "tel": "phone",
                    "mail": "email",
                    "msg": "comment",
                    "staff": "employees",
                },
                "honeypot": "website",
                "rate_limit": rate_limit,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{form}");
    form
}

/// Posts `fields` as a plain HTML form would.
async fn submit(
    server: &TestServer,
    token: &str,
    fields: &[(&str, &str)],
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .client
        .post(format!("{}/api/v1/forms/{token}/submit", server.base))
        .form(fields);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.expect("HTTP request")
}

async fn accepted(response: reqwest::Response) {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"status": "received"}));
}

/// The leads, oldest first.
async fn leads(server: &TestServer) -> Vec<Value> {
    let (status, page) = server
        .get(
            &server.admin,
            "/api/v1/deals?process=lead-qualification&limit=200",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut items = page["items"].as_array().expect("items").clone();
    items.reverse();
    items
}

fn responsible(deal: &Value) -> String {
    deal["responsible"]
        .as_str()
        .expect("responsible")
        .to_owned()
}

async fn managers(server: &TestServer) -> (Vec<TestUser>, TestUser) {
    let mut moscow = Vec::new();
    for name in ["anna", "boris", "vera"] {
        moscow.push(
            server
                .user(name, &[Role::Manager], server.sales_moscow)
                .await,
        );
    }
    let spb = server
        .user("pavel", &[Role::Manager], server.sales_spb)
        .await;
    (moscow, spb)
}

on_both_backends!(
    a_browser_form_makes_leads_in_turn_for_the_department_managers,
    |server: TestServer| async move {
        tokio::time::timeout(DEADLINE, async {
            let (moscow, spb) = managers(&server).await;
            // Only administrators set forms up.
            expect_problem(
                server
                    .post(&moscow[0].token, "/api/v1/forms", json!({"name": "x"}))
                    .await,
                StatusCode::FORBIDDEN,
                "role_lacks_right",
            );
            let form = create_form(
                &server,
                *server.sales_moscow.as_uuid(),
                json!({"burst": 50, "per_minute": 60}),
            )
            .await;
            let token = form["token"].as_str().expect("token").to_owned();
            assert_eq!(form["submit_path"], format!("/api/v1/forms/{token}/submit"));
            assert_eq!(form["fields"]["staff"], "employees");

            // The first lead, as a browser posts it.
            let before = chrono::Utc::now();
            accepted(
                submit(
                    &server,
                    &token,
                    &[
                        ("your-name", "Иван"),
                        ("tel", "+7 (916) 123-45-67"),
                        ("msg", "Перезвоните\nпосле обеда"),
                        ("staff", "25"),
                        ("website", ""),
                    ],
                    None,
                )
                .await,
            )
            .await;
            let first = leads(&server).await;
            assert_eq!(first.len(), 1);
            let lead = &first[0];
            assert_eq!(lead["stage"], "received");
            assert_eq!(lead["source"], "website");
            assert!(
                lead["fields"]["channel"].to_string().contains("website"),
                "{lead}"
            );
            assert!(
                lead["fields"]["employees"].to_string().contains("25"),
                "{lead}"
            );
            let title = lead["title"].as_str().expect("title");
            assert!(
                title.contains("Иван") && title.contains("Перезвоните после обеда"),
                "{title}"
            );
            let contact_id = lead["contact"].as_str().expect("a contact").to_owned();
            let (status, contact) = server
                .get(&server.admin, &format!("/api/v1/contacts/{contact_id}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{contact}");
            assert_eq!(contact["phones"], json!(["+79161234567"]), "{contact}");
            assert_eq!(contact["name"], "Иван");

            // The process planned the first call, within 15 minutes, for
            // the manager who got the lead, and they see it.
            let owner = moscow
                .iter()
                .find(|m| m.id.to_string() == responsible(lead))
                .expect("a Moscow manager got the lead");
            let (status, tasks) = server
                .get(
                    &owner.token,
                    &format!("/api/v1/activities?deal={}", lead["id"].as_str().unwrap()),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{tasks}");
            let tasks = tasks["items"].as_array().expect("items");
            assert_eq!(tasks.len(), 1, "{tasks:?}");
            assert_eq!(tasks[0]["kind"], "call");
            assert_eq!(tasks[0]["status"], "planned");
            assert_eq!(tasks[0]["responsible"], owner.id.to_string());
            let due: chrono::DateTime<chrono::Utc> = tasks[0]["due_at"]
                .as_str()
                .expect("due")
                .parse()
                .expect("RFC 3339");
            let minutes = (due - before).num_seconds();
            assert!((14 * 60..=16 * 60).contains(&minutes), "due in {minutes} s");

            // Five more; the fourth lead has the first one's phone in
            // another spelling; the sixth is sent twice with one key.
            for i in 2..=6 {
                let phone = if i == 4 {
                    "8 916 123 45 67".to_owned()
                } else {
                    format!("+7 916 000-00-0{i}")
                };
                let name = format!("Lead{i}");
                let fields = [("your-name", name.as_str()), ("tel", phone.as_str())];
                let key = (i == 6).then_some("submission-6");
                accepted(submit(&server, &token, &fields, key).await).await;
                if i == 6 {
                    accepted(submit(&server, &token, &fields, key).await).await;
                }
            }
            let six = leads(&server).await;
            assert_eq!(
                six.len(),
                6,
                "a resubmission with the same key creates nothing"
            );
            assert_eq!(
                six[3]["contact"], six[0]["contact"],
                "the same phone links the same contact"
            );
            let (_, contacts) = server
                .get(&server.admin, "/api/v1/contacts?limit=200")
                .await;
            assert_eq!(contacts["items"].as_array().unwrap().len(), 5);

            // In turn: sorted managers a, b, c, a, b, c.
            let mut sorted: Vec<String> = moscow.iter().map(|m| m.id.to_string()).collect();
            sorted.sort();
            let order: Vec<String> = six.iter().map(responsible).collect();
            let expected: Vec<String> = sorted.iter().chain(sorted.iter()).cloned().collect();
            assert_eq!(order, expected);

            // Three at once: still one each.
            let fields: Vec<(String, String)> = (7..=9)
                .map(|i| (format!("Lead{i}"), format!("+7 916 000-00-1{i}")))
                .collect();
            let send = |i: usize| {
                let (name, phone) = &fields[i];
                let pairs = [("your-name", name.as_str()), ("tel", phone.as_str())];
                let request = server
                    .client
                    .post(format!("{}/api/v1/forms/{token}/submit", server.base))
                    .form(&pairs);
                request.send()
            };
            let (a, b, c) = tokio::join!(send(0), send(1), send(2));
            for response in [a, b, c] {
                accepted(response.expect("HTTP request")).await;
            }
            let nine = leads(&server).await;
            assert_eq!(nine.len(), 9);
            let mut per_manager: BTreeMap<String, usize> = BTreeMap::new();
            for lead in &nine {
                *per_manager.entry(responsible(lead)).or_default() += 1;
            }
            assert_eq!(per_manager.len(), 3, "{per_manager:?}");
            assert!(per_manager.values().all(|n| *n == 3), "{per_manager:?}");
            assert!(!per_manager.contains_key(&spb.id.to_string()));
            let (_, form) = server
                .get(
                    &server.admin,
                    &format!("/api/v1/forms/{}", form["id"].as_str().unwrap()),
                )
                .await;
            assert_eq!(form["accepted"], 9);
        })
        .await
        .expect("within the deadline");
    }
);

on_both_backends!(
    refused_submissions_create_nothing,
    |server: TestServer| async move {
        tokio::time::timeout(DEADLINE, async {
            managers(&server).await;
            let department = *server.sales_moscow.as_uuid();

            // A form that maps an unknown lead field is refused, naming it.
            let (status, problem) = server
                .post(
                    &server.admin,
                    "/api/v1/forms",
                    json!({"name": "x", "department": department,
                           "fields": {"tel": "phone", "budget": "budget_rub"}}),
                )
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
            assert_eq!(problem["field"], "fields.budget");

            let form =
                create_form(&server, department, json!({"burst": 20, "per_minute": 60})).await;
            let token = form["token"].as_str().unwrap().to_owned();

            // Unknown tokens.
            for unknown in ["nope".to_owned(), "ab".repeat(32)] {
                let response = submit(&server, &unknown, &[("tel", "+79161234567")], None).await;
                assert_eq!(response.status(), StatusCode::NOT_FOUND);
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], "not_found");
            }
            // The honeypot: answered as a success, counted, nothing made.
            accepted(
                submit(
                    &server,
                    &token,
                    &[("tel", "+79161234567"), ("website", "http://spam.example")],
                    None,
                )
                .await,
            )
            .await;
            // Too big.
            let big = "x".repeat(20 * 1024);
            let response = submit(
                &server,
                &token,
                &[("tel", "+79161234567"), ("msg", &big)],
                None,
            )
            .await;
            assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
            // No phone and no e-mail; a malformed e-mail; a malformed phone.
            for (fields, field) in [
                (vec![("your-name", "Иван")], "tel"),
                (vec![("mail", "not-an-address")], "mail"),
                (vec![("tel", "12")], "tel"),
            ] {
                let response = submit(&server, &token, &fields, None).await;
                assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["field"], field, "{body}");
            }
            // JSON works too.
            let response = server
                .client
                .post(format!("{}/api/v1/forms/{token}/submit", server.base))
                .json(&json!({"mail": "lead@example.com", "staff": 12}))
                .send()
                .await
                .unwrap();
            accepted(response).await;
            assert_eq!(leads(&server).await.len(), 1);

            // A paused form is not there; resumed, it is.
            let path = format!("/api/v1/forms/{}", form["id"].as_str().unwrap());
            let (status, paused) = server
                .patch(&server.admin, &path, json!({"active": false}))
                .await;
            assert_eq!(status, StatusCode::OK, "{paused}");
            assert_eq!(paused["active"], false);
            let response = submit(&server, &token, &[("tel", "+79161234567")], None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            server
                .patch(&server.admin, &path, json!({"active": true}))
                .await;

            // A flood: three at once, then 429 with Retry-After.
            let flood =
                create_form(&server, department, json!({"burst": 3, "per_minute": 1})).await;
            let flood_token = flood["token"].as_str().unwrap().to_owned();
            for i in 0..3 {
                let phone = format!("+7 926 000-00-0{i}");
                accepted(submit(&server, &flood_token, &[("tel", phone.as_str())], None).await)
                    .await;
            }
            for i in 3..8 {
                let phone = format!("+7 926 000-00-0{i}");
                let response =
                    submit(&server, &flood_token, &[("tel", phone.as_str())], None).await;
                assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
                let retry_after: u64 = response
                    .headers()
                    .get("retry-after")
                    .expect("Retry-After")
                    .to_str()
                    .unwrap()
                    .parse()
                    .expect("seconds");
                assert!((1..=60).contains(&retry_after), "{retry_after}");
            }
            assert_eq!(
                leads(&server).await.len(),
                4,
                "refused requests create nothing"
            );
            // Behind the trusted proxy (the tests' loopback), each visitor
            // it forwards for has a bucket of its own...
            let from_visitor = |forwarded: &'static str, phone: String| {
                server
                    .client
                    .post(format!("{}/api/v1/forms/{flood_token}/submit", server.base))
                    .header("x-forwarded-for", forwarded)
                    .form(&[("tel", phone)])
                    .send()
            };
            for i in 0..3 {
                accepted(
                    from_visitor("203.0.113.7", format!("+7 926 000-00-1{i}"))
                        .await
                        .unwrap(),
                )
                .await;
            }
            // ...which a made-up address put in front by the visitor does
            // not reset: the proxy appends the address it saw.
            let response = from_visitor("198.51.100.99, 203.0.113.7", "+7 926 000-00-19".into())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            // The other form's bucket is its own.
            let response = submit(&server, &token, &[("tel", "+79260000099")], None).await;
            assert_eq!(response.status(), StatusCode::OK);

            let metrics = server
                .client
                .get(format!("{}/metrics", server.base))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                metrics.contains("voronka_form_submissions_total{outcome=\"honeypot\"} 1"),
                "{metrics}"
            );
            assert!(metrics.contains("voronka_form_submissions_total{outcome=\"rate_limited\"} 6"));

            // Listed; deleted, gone.
            let (_, list) = server.get(&server.admin, "/api/v1/forms").await;
            assert_eq!(list["items"].as_array().unwrap().len(), 2);
            let response = server
                .client
                .delete(format!("{}{path}", server.base))
                .bearer_auth(&server.admin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            let response = submit(&server, &token, &[("tel", "+79161234567")], None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            let (_, list) = server.get(&server.admin, "/api/v1/forms").await;
            assert_eq!(list["items"].as_array().unwrap().len(), 1);

            let (_, document) = server.get(&server.admin, "/api/v1/openapi.json").await;
            assert!(document["paths"]["/api/v1/forms/{token}/submit"].is_object());
            assert!(document["paths"]["/api/v1/telephony/events"].is_object());
        })
        .await
        .expect("within the deadline");
    }
);

/// A figure, not a check: accepted leads per second over HTTP with 8
/// submitting clients (`cargo test -p voronka-gateway --test forms --
/// --ignored --nocapture`; `VORONKA_FORM_LEADS` sets the count, 200 by
/// default).
async fn measure_submissions(server: TestServer) {
    managers(&server).await;
    let leads_wanted: usize = std::env::var("VORONKA_FORM_LEADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let form = create_form(
        &server,
        *server.sales_moscow.as_uuid(),
        json!({"burst": 10_000, "per_minute": 100_000}),
    )
    .await;
    let url = format!(
        "{}/api/v1/forms/{}/submit",
        server.base,
        form["token"].as_str().unwrap()
    );
    let started = std::time::Instant::now();
    let mut clients = Vec::new();
    for client in 0..8 {
        let (http, url) = (server.client.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (client..leads_wanted).step_by(8) {
                let phone = format!(
                    "+7 916 {:03}-{:02}-{:02}",
                    i / 10_000,
                    (i / 100) % 100,
                    i % 100
                );
                let sent = std::time::Instant::now();
                let response = http
                    .post(&url)
                    .form(&[("your-name", "Bench"), ("tel", phone.as_str())])
                    .send()
                    .await
                    .expect("HTTP request");
                assert_eq!(response.status(), StatusCode::OK);
                latencies.push((i, sent.elapsed()));
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("client"));
    }
    let elapsed = started.elapsed();
    // The first and the last quarter of the leads: a form's stream grows
    // with every lead, so a submission that read it whole would slow down.
    let median_of = |quarter: usize| {
        let mut part: Vec<std::time::Duration> = latencies
            .iter()
            .filter(|(i, _)| i * 4 / leads_wanted == quarter)
            .map(|(_, latency)| *latency)
            .collect();
        part.sort();
        part[part.len() / 2]
    };
    let mut sorted: Vec<std::time::Duration> = latencies.iter().map(|(_, l)| *l).collect();
    sorted.sort();
    let percentile = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    println!(
        "{} leads in {:.2} s: {:.0} leads/s; latency p50 {:?}, p99 {:?}; \
         median of the first quarter {:?}, of the last {:?}",
        sorted.len(),
        elapsed.as_secs_f64(),
        sorted.len() as f64 / elapsed.as_secs_f64(),
        percentile(0.5),
        percentile(0.99),
        median_of(0),
        median_of(3)
    );
    assert_eq!(leads(&server).await.len(), leads_wanted.min(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn measure_submissions_sqlite() {
    measure_submissions(TestServer::start(support::Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn measure_submissions_postgres() {
    measure_submissions(TestServer::start(support::Backend::Postgres).await).await;
}
