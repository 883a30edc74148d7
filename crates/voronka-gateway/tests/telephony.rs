//! Call events end to end on both backends: an administrator sets the phone
//! system up and gets its secret; signed reports become call activities on
//! the contact found by the number (in any spelling) and on its open lead.
//! A missed call plans a callback task; the manager completes it with an
//! outcome through the activity API and the lead's process lets the lead
//! move on because of it. An answered call is completed with its duration;
//! reports replayed or out of order change nothing twice; a bad or stale
//! signature is 401 and writes nothing.

mod support;

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use support::{expect_problem, TestServer};
use voronka_core::Role;

/// How long any test here may take.
const DEADLINE: Duration = Duration::from_secs(60);

fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Posts a report signed at `timestamp` with `secret`.
async fn report_signed(
    server: &TestServer,
    secret: &str,
    timestamp: i64,
    report: &Value,
) -> (StatusCode, Value) {
    let body = report.to_string();
    let response = server
        .client
        .post(format!("{}/api/v1/telephony/events", server.base))
        .header("content-type", "application/json")
        .header("x-voronka-timestamp", timestamp.to_string())
        .header("x-voronka-signature", signature(secret, timestamp, &body))
        .body(body)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

async fn report(server: &TestServer, secret: &str, report: &Value) -> Value {
    let (status, body) =
        report_signed(server, secret, chrono::Utc::now().timestamp(), report).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn call(id: &str, event: &str, extra: Value) -> Value {
    let mut call = json!({
        "call_id": id,
        "event": event,
        "direction": "incoming",
        "from": "8 (916) 111-22-33",
        "to": "+7 495 000-00-00",
        "at": chrono::Utc::now().to_rfc3339(),
    });
    if let (Some(call), Some(extra)) = (call.as_object_mut(), extra.as_object()) {
        call.extend(extra.clone());
    }
    call
}

async fn activities_of(server: &TestServer, token: &str, deal: &str) -> Vec<Value> {
    let (status, page) = server
        .get(token, &format!("/api/v1/activities?deal={deal}&limit=200"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().expect("items").clone()
}

on_both_backends!(
    calls_become_activities_and_missed_calls_callbacks,
    |server: TestServer| async move {
        tokio::time::timeout(DEADLINE, async {
            let anna = server
                .user("anna", &[Role::Manager], server.sales_moscow)
                .await;
            // Set-up is for administrators; the secret is shown once.
            expect_problem(
                server
                    .post(&anna.token, "/api/v1/telephony/settings", json!({}))
                    .await,
                StatusCode::FORBIDDEN,
                "role_lacks_right",
            );
            let (status, configured) = server
                .post(
                    &server.admin,
                    "/api/v1/telephony/settings",
                    json!({"extensions": {"101": anna.id}}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{configured}");
            let secret = configured["secret"].as_str().expect("secret").to_owned();
            assert_eq!(secret.len(), 64);

            // Anna's contact with an open lead.
            let (status, contact) = server
                .post(
                    &anna.token,
                    "/api/v1/contacts",
                    json!({"surname": "Петров", "name": "Пётр", "phones": ["+79161112233"]}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{contact}");
            let contact = contact["id"].as_str().unwrap().to_owned();
            let (status, deal) = server
                .post(
                    &anna.token,
                    "/api/v1/deals",
                    json!({"process": "lead-qualification", "title": "Лид Петров",
                           "contact": contact, "fields": {"channel": "inbound_call"}}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{deal}");
            let deal = deal["id"].as_str().unwrap().to_owned();
            let planned_by_process = activities_of(&server, &anna.token, &deal).await.len();

            // Forged and stale reports are refused and write nothing.
            let started = call("c-missed", "started", json!({}));
            let (status, body) = report_signed(
                &server,
                &"0".repeat(64),
                chrono::Utc::now().timestamp(),
                &started,
            )
            .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("bad_signature"))
            );
            let (status, body) = report_signed(
                &server,
                &secret,
                chrono::Utc::now().timestamp() - 600,
                &started,
            )
            .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("stale_timestamp"))
            );
            assert_eq!(
                activities_of(&server, &anna.token, &deal).await.len(),
                planned_by_process
            );

            // A missed call: the contact found by the number in another
            // spelling, its lead linked, Anna (the contact's responsible)
            // gets a callback task.
            let first = report(&server, &secret, &started).await;
            assert_eq!(first["contact"], contact.as_str());
            assert_eq!(first["deal"], deal.as_str());
            assert_eq!(first["responsible"], anna.id.to_string());
            let ended = report(&server, &secret, &call("c-missed", "ended", json!({}))).await;
            assert_eq!(ended["missed"], true, "{ended}");
            let callback = ended["callback"]
                .as_str()
                .expect("a callback task")
                .to_owned();
            let (status, missed) = server
                .get(
                    &anna.token,
                    &format!("/api/v1/activities/{}", ended["activity"].as_str().unwrap()),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{missed}");
            assert_eq!(
                (missed["status"].as_str(), missed["outcome"].as_str()),
                (Some("done"), Some("callback"))
            );
            let (_, task) = server
                .get(&anna.token, &format!("/api/v1/activities/{callback}"))
                .await;
            assert_eq!(task["status"], "planned", "{task}");
            assert_eq!(task["kind"], "call");
            assert_eq!(task["direction"], "outgoing");
            assert_eq!(task["responsible"], anna.id.to_string());
            assert_eq!(task["deal"], deal.as_str());
            // Replayed: nothing new.
            let again = report(&server, &secret, &call("c-missed", "ended", json!({}))).await;
            assert_eq!(again["recorded"], false);
            let after_missed = activities_of(&server, &anna.token, &deal).await.len();
            assert_eq!(after_missed, planned_by_process + 2);

            // The lead may not move to `contacted` yet: no call reached it.
            let transition = json!({"to": "contacted"});
            let (status, refused) = server
                .post(
                    &anna.token,
                    &format!("/api/v1/deals/{deal}/transitions"),
                    transition.clone(),
                )
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
            // Anna calls back and reaches him: the process sees it.
            let (status, completed) = server
                .post(
                    &anna.token,
                    &format!("/api/v1/activities/{callback}/complete"),
                    json!({"outcome": "reached"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{completed}");
            let (status, moved) = server
                .post(
                    &anna.token,
                    &format!("/api/v1/deals/{deal}/transitions"),
                    transition,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{moved}");

            // An answered call, named by extension: completed with its
            // duration on the contact and the (still open) lead.
            for event in ["started", "answered"] {
                report(
                    &server,
                    &secret,
                    &call("c-answered", event, json!({"extension": "101"})),
                )
                .await;
            }
            let done = report(
                &server,
                &secret,
                &call(
                    "c-answered",
                    "ended",
                    json!({"extension": "101", "duration_seconds": 125}),
                ),
            )
            .await;
            assert_eq!(done["missed"], false);
            assert!(done["callback"].is_null());
            let (_, activity) = server
                .get(
                    &anna.token,
                    &format!("/api/v1/activities/{}", done["activity"].as_str().unwrap()),
                )
                .await;
            assert_eq!(activity["status"], "done", "{activity}");
            assert_eq!(activity["outcome"], "reached");
            assert_eq!(activity["result"], "duration 125 s");
            assert_eq!(activity["contact"], contact.as_str());
            assert_eq!(activity["deal"], deal.as_str());
            assert_eq!(activity["direction"], "incoming");

            // Out of order: ended (with talk time) before answered is an
            // answered call, logged once; the late report adds nothing.
            let ended_first = report(
                &server,
                &secret,
                &call("c-late", "ended", json!({"duration_seconds": 40})),
            )
            .await;
            assert_eq!(ended_first["missed"], false);
            let late = report(&server, &secret, &call("c-late", "answered", json!({}))).await;
            assert_eq!(late["recorded"], true);
            assert!(late["callback"].is_null());
            let (_, activity) = server
                .get(
                    &anna.token,
                    &format!("/api/v1/activities/{}", late["activity"].as_str().unwrap()),
                )
                .await;
            assert_eq!(
                (activity["status"].as_str(), activity["result"].as_str()),
                (Some("done"), Some("duration 40 s"))
            );
            assert_eq!(
                activities_of(&server, &anna.token, &deal).await.len(),
                after_missed + 2,
                "one activity per answered call"
            );

            // Bad input names the field.
            let (status, body) = report_signed(
                &server,
                &secret,
                chrono::Utc::now().timestamp(),
                &call("c-bad", "started", json!({"from": "12"})),
            )
            .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["field"], "from");
        })
        .await
        .expect("within the deadline");
    }
);
