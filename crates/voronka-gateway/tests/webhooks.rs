//! Outgoing webhooks end to end on both backends: an administrator
//! subscribes a receiver started by the test; the deliverer follows the log
//! and POSTs signed payloads. The receiver fails the first attempts, then
//! accepts: every stage change arrives once, in order, with a valid
//! signature and the right `from`/`to`; the delivery log shows the failures.
//! A deliverer stopped and started again over the same databases sends what
//! was pending, nothing twice. A receiver that always fails gets the
//! subscription paused; resuming it delivers from where it stopped; the
//! count of failures in a row survives a restart. Two deliverers over one
//! database (two `voronka serve` processes) send each event once: a lease
//! per subscription, taken over when the holder stops. Rights
//! and validation: managers get 403, a bad URL or event type is 422 naming
//! the field, and the secret never comes back after creation.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use support::{expect_problem, TestServer};
use voronka_core::{Role, SystemClock};
use voronka_webhooks::{Backoff, Deliverer, DelivererConfig};

/// How long any wait in these tests may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: String,
    timestamp: String,
    signature: String,
    body: String,
    accepted: bool,
}

/// A webhook receiver on a free port: fails the first `failures` requests
/// (or every one while `always_fail`) with 500, accepts the rest with 204.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    failures: Arc<AtomicUsize>,
    always_fail: Arc<AtomicBool>,
}

impl Receiver {
    async fn start(failures: usize) -> (Receiver, String) {
        let receiver = Receiver::default();
        receiver.failures.store(failures, Ordering::SeqCst);
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let state = state.clone();
                    async move {
                        let header = |name: &str| {
                            headers
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let fail = state.always_fail.load(Ordering::SeqCst)
                            || state
                                .failures
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok();
                        state.received.lock().unwrap().push(Received {
                            event: header("x-voronka-event"),
                            delivery: header("x-voronka-delivery"),
                            timestamp: header("x-voronka-timestamp"),
                            signature: header("x-voronka-signature"),
                            body: String::from_utf8_lossy(&body).into_owned(),
                            accepted: !fail,
                        });
                        if fail {
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            axum::http::StatusCode::NO_CONTENT
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (receiver, url)
    }

    fn accepted(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.accepted)
            .cloned()
            .collect()
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Waits (bounded) until `done` holds for the accepted requests.
    async fn wait_accepted(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let started = tokio::time::Instant::now();
        loop {
            let accepted = self.accepted();
            if done(&accepted) {
                return accepted;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "timed out waiting for {what}; got {accepted:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn config(max_failures: u32) -> DelivererConfig {
    DelivererConfig {
        backoff: Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
        },
        max_failures,
        timeout: Duration::from_secs(5),
        idle_poll: Duration::from_millis(100),
        ..DelivererConfig::default()
    }
}

async fn deliverer(server: &TestServer, max_failures: u32) -> Deliverer {
    Deliverer::start(
        server.store.clone(),
        server.reports.db().clone(),
        Arc::new(SystemClock),
        config(max_failures),
    )
    .await
    .expect("start the deliverer")
}

/// The signature recomputed here, independently of the crate.
fn check_signature(secret: &str, received: &Received) {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", received.timestamp, received.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        received.signature,
        format!("sha256={expected}"),
        "{received:?}"
    );
    let timestamp: i64 = received.timestamp.parse().expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 120);
}

fn body(received: &Received) -> Value {
    serde_json::from_str(&received.body).expect("a JSON body")
}

async fn expect(answer: (StatusCode, Value), status: StatusCode) -> Value {
    let (actual, body) = answer;
    assert_eq!(actual, status, "{body}");
    body
}

/// A deal of `b2b-sale` with a company and a contact, ready to qualify.
async fn deal_ready_to_qualify(server: &TestServer, title: &str) -> (String, String, String) {
    let token = &server.admin;
    let company = expect(
        server
            .post(
                token,
                "/api/v1/companies",
                json!({"name": format!("ООО {title}")}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact = expect(
        server
            .post(
                token,
                "/api/v1/contacts",
                json!({"surname": "Иванова", "name": "Анна", "company": company}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deal = expect(
        server
            .post(
                token,
                "/api/v1/deals",
                json!({"process": "b2b-sale", "title": title, "amount": {"amount": "1000.00"},
                       "company": company, "contact": contact}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (deal, company, contact)
}

async fn move_deal(server: &TestServer, deal: &str, to: &str, fields: Value) -> Value {
    expect(
        server
            .post(
                &server.admin,
                &format!("/api/v1/deals/{deal}/transitions"),
                json!({"to": to, "fields": fields}),
            )
            .await,
        StatusCode::OK,
    )
    .await
}

async fn subscribe(server: &TestServer, body: Value) -> Value {
    expect(
        server.post(&server.admin, "/api/v1/webhooks", body).await,
        StatusCode::CREATED,
    )
    .await
}

/// Waits (bounded) until the subscription is paused; its view.
async fn wait_paused(server: &TestServer, id: &str) -> Value {
    let started = tokio::time::Instant::now();
    loop {
        let (status, view) = server
            .get(&server.admin, &format!("/api/v1/webhooks/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        if view["active"] == false {
            return view;
        }
        assert!(started.elapsed() < DEADLINE, "never paused: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stage_moves(accepted: &[Received]) -> Vec<(String, String)> {
    accepted
        .iter()
        .map(|r| {
            let body = body(r);
            (
                body["data"]["from"].as_str().unwrap_or_default().to_owned(),
                body["data"]["to"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pair(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

on_both_backends!(
    stage_changes_arrive_once_in_order_signed_after_retries_and_across_a_restart,
    |server: TestServer| async move {
        let (receiver, url) = Receiver::start(2).await;
        let created = subscribe(
            &server,
            json!({"url": url, "event_types": ["deal_stage_changed"],
                   "filter": {"process": "b2b-sale"}, "description": "ERP"}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let secret = created["secret"].as_str().unwrap().to_owned();
        assert_eq!(secret.len(), 64, "{created}");
        assert!(secret.chars().all(|c| c.is_ascii_hexdigit()));

        let first = deliverer(&server, 10).await;
        let (deal, company, contact) = deal_ready_to_qualify(&server, "Ромашка").await;
        move_deal(&server, &deal, "qualifying", json!({})).await;
        expect(
            server
                .post(
                    &server.admin,
                    "/api/v1/activities",
                    json!({"status": "done", "kind": "call", "direction": "outgoing",
                           "outcome": "reached", "deal": deal, "contact": contact,
                           "company": company}),
                )
                .await,
            StatusCode::CREATED,
        )
        .await;
        move_deal(&server, &deal, "needs", json!({"industry": "it"})).await;
        move_deal(&server, &deal, "qualifying", json!({})).await;
        move_deal(&server, &deal, "needs", json!({})).await;

        let expected = vec![
            pair("new", "qualifying"),
            pair("qualifying", "needs"),
            pair("needs", "qualifying"),
            pair("qualifying", "needs"),
        ];
        let accepted = receiver
            .wait_accepted("four stage changes", |a| a.len() >= 4)
            .await;
        assert_eq!(stage_moves(&accepted), expected);
        let mut last_position = 0;
        for received in &accepted {
            check_signature(&secret, received);
            let body = body(received);
            assert_eq!(received.event, "deal_stage_changed");
            assert_eq!(body["type"], "deal_stage_changed");
            assert_eq!(body["id"], received.delivery.as_str());
            let position = body["position"].as_u64().unwrap();
            assert_eq!(received.delivery, format!("{id}-{position}"));
            assert!(position > last_position, "in log order");
            last_position = position;
            assert_eq!(body["stream"], format!("deal-{deal}"));
            assert_eq!(body["data"]["deal_id"], deal.as_str());
            assert_eq!(body["data"]["process"], "b2b-sale");
            assert!(body["occurred_at"].is_string() && body["recorded_at"].is_string());
        }
        // The first two attempts failed (the same event), then it went on.
        let all = receiver.received.lock().unwrap().clone();
        assert_eq!(all.len(), 6, "{all:#?}");
        assert!(!all[0].accepted && !all[1].accepted && all[2].accepted);
        assert_eq!(all[0].delivery, all[2].delivery);

        let log = expect(
            server
                .get(
                    &server.admin,
                    &format!("/api/v1/webhooks/{id}/deliveries?limit=100"),
                )
                .await,
            StatusCode::OK,
        )
        .await;
        let rows = log["items"].as_array().unwrap();
        assert_eq!(rows.len(), 6, "{log}");
        let failed: Vec<&Value> = rows.iter().filter(|r| r["status"] == 500).collect();
        assert_eq!(failed.len(), 2, "{log}");
        assert!(failed.iter().all(|r| r["success"] == false
            && r["event_type"] == "deal_stage_changed"
            && r["position"] == rows.last().unwrap()["position"]));
        assert_eq!(rows.last().unwrap()["attempt"], 1, "oldest last: {log}");
        assert_eq!(rows[0]["status"], 204, "newest first: {log}");
        let limited = expect(
            server
                .get(
                    &server.admin,
                    &format!("/api/v1/webhooks/{id}/deliveries?limit=2"),
                )
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(limited["items"].as_array().unwrap().len(), 2);

        // Restart: stop between deliveries, write while nothing delivers,
        // start a new deliverer over the same databases.
        first.stop().await;
        move_deal(&server, &deal, "lost", json!({"loss_reason": "price"})).await;
        let (second_deal, _, _) = deal_ready_to_qualify(&server, "Лютик").await;
        move_deal(&server, &second_deal, "qualifying", json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.count(), 6, "nothing is sent while stopped");
        let second = deliverer(&server, 10).await;
        let accepted = receiver
            .wait_accepted("the pending changes", |a| a.len() >= 6)
            .await;
        let mut expected = expected;
        expected.push(pair("needs", "lost"));
        expected.push(pair("new", "qualifying"));
        assert_eq!(stage_moves(&accepted), expected);
        assert_eq!(body(&accepted[5])["data"]["deal_id"], second_deal.as_str());
        for received in &accepted {
            check_signature(&secret, received);
        }
        // Nothing more comes: no duplicates.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let all = receiver.received.lock().unwrap().clone();
        assert_eq!(all.len(), 8, "{all:#?}");
        let ids: HashSet<&str> = all.iter().map(|r| r.delivery.as_str()).collect();
        assert_eq!(
            ids.len(),
            6,
            "one event was attempted thrice, the five others once"
        );
        second.stop().await;
    }
);

on_both_backends!(
    a_receiver_that_always_fails_gets_the_subscription_paused_until_resumed,
    |server: TestServer| async move {
        let (receiver, url) = Receiver::start(0).await;
        receiver.always_fail.store(true, Ordering::SeqCst);
        let created = subscribe(
            &server,
            json!({"url": url, "event_types": ["deal_started"]}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let deliverer = deliverer(&server, 3).await;
        let (first_deal, _, _) = deal_ready_to_qualify(&server, "Первая").await;

        let paused = wait_paused(&server, &id).await;
        assert_eq!(paused["paused_reason"], "too_many_failures", "{paused}");
        assert_eq!(receiver.count(), 3);
        let log = expect(
            server
                .get(&server.admin, &format!("/api/v1/webhooks/{id}/deliveries"))
                .await,
            StatusCode::OK,
        )
        .await;
        let attempts: Vec<u64> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["attempt"].as_u64().unwrap())
            .collect();
        assert_eq!(attempts, [3, 2, 1], "{log}");

        // While paused nothing is sent; a second deal waits its turn.
        let (second_deal, _, _) = deal_ready_to_qualify(&server, "Вторая").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.count(), 3);

        receiver.always_fail.store(false, Ordering::SeqCst);
        let resumed = expect(
            server
                .patch(
                    &server.admin,
                    &format!("/api/v1/webhooks/{id}"),
                    json!({"active": true}),
                )
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(resumed["active"], true, "{resumed}");
        assert_eq!(resumed["paused_reason"], Value::Null);
        let accepted = receiver
            .wait_accepted("both deals after the resume", |a| a.len() >= 2)
            .await;
        let deals: Vec<Value> = accepted
            .iter()
            .map(|r| body(r)["data"]["deal_id"].clone())
            .collect();
        assert_eq!(deals, [json!(first_deal), json!(second_deal)]);
        let failed_first = receiver.received.lock().unwrap()[0].delivery.clone();
        assert_eq!(accepted[0].delivery, failed_first, "nothing skipped");
        assert_eq!(body(&accepted[0])["data"]["process"], "b2b-sale");
        assert_eq!(body(&accepted[0])["data"]["stage"], "new");

        // An administrator's pause stops delivery too.
        let paused = expect(
            server
                .patch(
                    &server.admin,
                    &format!("/api/v1/webhooks/{id}"),
                    json!({"active": false}),
                )
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(paused["paused_reason"], "by_administrator");
        deliverer.stop().await;
    }
);

on_both_backends!(
    two_deliverers_over_one_database_send_each_event_once_and_take_over_on_a_stop,
    |server: TestServer| async move {
        let (receiver, url) = Receiver::start(0).await;
        let created = subscribe(
            &server,
            json!({"url": url, "event_types": ["deal_started"]}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        // Two `voronka serve` processes: two deliverers, one database. The
        // first holds the lease once it has delivered.
        let first = deliverer(&server, 10).await;
        let mut deals = Vec::new();
        for n in 0..3 {
            deals.push(
                deal_ready_to_qualify(&server, &format!("Сделка {n}"))
                    .await
                    .0,
            );
        }
        receiver
            .wait_accepted("three new deals", |a| a.len() >= 3)
            .await;
        let second = deliverer(&server, 10).await;
        for n in 3..6 {
            deals.push(
                deal_ready_to_qualify(&server, &format!("Сделка {n}"))
                    .await
                    .0,
            );
        }
        receiver
            .wait_accepted("six new deals", |a| a.len() >= 6)
            .await;
        // The holder stops once it has recorded the sixth delivery (a stop
        // during a delivery would rightly send that one again): the other
        // takes the subscription over.
        let last = body(&receiver.accepted()[5])["position"].as_u64().unwrap();
        let subscription = voronka_crm::webhook::WebhookId::from_uuid(id.parse().unwrap());
        let started = tokio::time::Instant::now();
        while voronka_webhooks::store::checkpoint(server.reports.db(), subscription)
            .await
            .unwrap()
            .is_none_or(|p| p.0 < last)
        {
            assert!(started.elapsed() < DEADLINE, "the checkpoint never moved");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.stop().await;
        for n in 6..9 {
            deals.push(
                deal_ready_to_qualify(&server, &format!("Сделка {n}"))
                    .await
                    .0,
            );
        }
        let accepted = receiver
            .wait_accepted("nine new deals", |a| a.len() >= 9)
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let all = receiver.received.lock().unwrap().clone();
        assert_eq!(all.len(), 9, "each event once: {all:#?}");
        let ids: HashSet<&str> = all.iter().map(|r| r.delivery.as_str()).collect();
        assert_eq!(ids.len(), 9, "no delivery repeated");
        let delivered: Vec<String> = accepted
            .iter()
            .map(|r| body(r)["data"]["deal_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(delivered, deals, "in log order");
        second.stop().await;
    }
);

on_both_backends!(
    consecutive_failures_count_across_a_restart_towards_the_pause,
    |server: TestServer| async move {
        let (receiver, url) = Receiver::start(0).await;
        receiver.always_fail.store(true, Ordering::SeqCst);
        let created = subscribe(
            &server,
            json!({"url": url, "event_types": ["deal_started"]}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        // A second between attempts: the restart happens in that pause.
        let slow = DelivererConfig {
            backoff: Backoff {
                base: Duration::from_secs(2),
                cap: Duration::from_secs(2),
            },
            ..config(3)
        };
        let start = || {
            Deliverer::start(
                server.store.clone(),
                server.reports.db().clone(),
                Arc::new(SystemClock),
                slow.clone(),
            )
        };
        let first = start().await.expect("start the deliverer");
        deal_ready_to_qualify(&server, "Первая").await;
        let started = tokio::time::Instant::now();
        // Stop once both failures are recorded (a stop while an answer is
        // being read abandons that attempt uncounted).
        let subscription = voronka_crm::webhook::WebhookId::from_uuid(id.parse().unwrap());
        while voronka_webhooks::store::failures(server.reports.db(), subscription)
            .await
            .unwrap()
            < 2
        {
            assert!(started.elapsed() < DEADLINE, "two failures never recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.stop().await;
        assert_eq!(receiver.count(), 2);

        // The new deliverer inherits two failures: one more pauses it.
        let second = start().await.expect("start the deliverer again");
        let paused = wait_paused(&server, &id).await;
        assert_eq!(paused["paused_reason"], "too_many_failures", "{paused}");
        assert_eq!(receiver.count(), 3, "paused at the third failure in a row");

        // A resume starts counting afresh: the receiver accepts now.
        receiver.always_fail.store(false, Ordering::SeqCst);
        expect(
            server
                .patch(
                    &server.admin,
                    &format!("/api/v1/webhooks/{id}"),
                    json!({"active": true}),
                )
                .await,
            StatusCode::OK,
        )
        .await;
        receiver
            .wait_accepted("the deal after the resume", |a| !a.is_empty())
            .await;
        second.stop().await;
    }
);

on_both_backends!(
    only_administrators_subscribe_input_is_checked_and_the_secret_is_shown_once,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let good = json!({"url": "https://erp.example.com/voronka", "event_types": ["deal_stage_changed"],
                          "filter": {"process": "b2b-sale", "stage": "won"}});
        expect_problem(
            server
                .post(&anna.token, "/api/v1/webhooks", good.clone())
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        expect_problem(
            server.get(&anna.token, "/api/v1/webhooks").await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        let bad_url = expect_problem(
            server
                .post(
                    &server.admin,
                    "/api/v1/webhooks",
                    json!({"url": "ftp://erp.example.com", "event_types": ["deal_started"]}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
        );
        assert_eq!(bad_url["field"], "url");
        let no_host = expect_problem(
            server
                .post(
                    &server.admin,
                    "/api/v1/webhooks",
                    json!({"url": "http:///x", "event_types": ["deal_started"]}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
        );
        assert_eq!(no_host["field"], "url");
        let bad_type = expect_problem(
            server
                .post(
                    &server.admin,
                    "/api/v1/webhooks",
                    json!({"url": "https://erp.example.com", "event_types": ["deal_exploded"]}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_event_type",
        );
        assert_eq!(bad_type["field"], "event_types[0]");
        expect_problem(
            server
                .post(
                    &server.admin,
                    "/api/v1/webhooks",
                    json!({"url": "https://erp.example.com", "event_types": ["deal_started"],
                           "colour": "red"}),
                )
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        );

        let created = subscribe(&server, good).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let secret = created["secret"].as_str().unwrap().to_owned();
        assert_eq!(created["filter"]["stage"], "won");
        assert_eq!(created["active"], true);
        let (status, list) = server.get(&server.admin, "/api/v1/webhooks").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list["items"][0]["id"], id.as_str());
        let (status, one) = server
            .get(&server.admin, &format!("/api/v1/webhooks/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        for answer in [&list, &one] {
            let text = answer.to_string();
            assert!(
                !text.contains(&secret) && !text.contains("\"secret\""),
                "{text}"
            );
        }
        expect_problem(
            server
                .patch(
                    &anna.token,
                    &format!("/api/v1/webhooks/{id}"),
                    json!({"active": false}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        let unknown = uuid::Uuid::now_v7();
        expect_problem(
            server
                .get(&server.admin, &format!("/api/v1/webhooks/{unknown}"))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        expect_problem(
            server
                .patch(
                    &server.admin,
                    &format!("/api/v1/webhooks/{unknown}"),
                    json!({"active": true}),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let (status, _) = server
            .send(
                reqwest::Method::DELETE,
                Some(&server.admin),
                &format!("/api/v1/webhooks/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        expect_problem(
            server
                .get(&server.admin, &format!("/api/v1/webhooks/{id}"))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let (_, list) = server.get(&server.admin, "/api/v1/webhooks").await;
        assert_eq!(list["items"], json!([]));
        // The endpoints are in the OpenAPI document.
        let (_, document) = server.get(&server.admin, "/api/v1/openapi.json").await;
        assert!(document["paths"]["/api/v1/webhooks/{id}/deliveries"].is_object());
    }
);
