//! Durable timers, automations from the log and notifications, end to end
//! on both backends: the real router over HTTP, the timer task of
//! `voronka-app` on a `ManualClock` (time is moved, never slept through),
//! restarts and a second scheduler on the same database.

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, Backend, TestServer, TestUser};
use voronka_app::crm::Crm;
use voronka_app::deals::DealService;
use voronka_app::mail::{MailConfig, Mailer};
use voronka_app::timers::{Timers, TimersConfig};
use voronka_core::{Clock, ManualClock, Role, StreamId, StreamVersion};
use voronka_mail::sink::SmtpSink;
use voronka_store::MAX_READ_BATCH;

/// Every wait in these tests ends by this.
const BOUND: Duration = Duration::from_secs(20);

fn config() -> TimersConfig {
    TimersConfig {
        reminder_lead: chrono::Duration::minutes(15),
        poll: Duration::from_millis(20),
    }
}

async fn start_timers(server: &TestServer, crm: &Arc<Crm>) -> Timers {
    Timers::start(crm.clone(), server.reports.db().clone(), config())
        .await
        .expect("start the timers")
}

/// A second `voronka serve` on the same database: its own deal service
/// (and cache) and CRM.
async fn second_crm(server: &TestServer, clock: Arc<dyn Clock>) -> Arc<Crm> {
    let processes = Arc::new(
        voronka_app::deals::publications::open_registry(&server.store)
            .await
            .expect("published processes"),
    );
    let deals = Arc::new(DealService::new(
        server.store.clone(),
        processes,
        clock.clone(),
    ));
    Arc::new(
        Crm::open(server.store.clone(), clock, server.directory.clone(), deals)
            .await
            .expect("a second CRM"),
    )
}

/// The event types of a stream, in order.
async fn stream_types(server: &TestServer, stream: &str) -> Vec<String> {
    let stream = StreamId::new(stream.to_owned()).expect("stream id");
    let mut types = Vec::new();
    let mut from = StreamVersion(1);
    loop {
        let batch = server
            .store
            .read_stream(&stream, from, MAX_READ_BATCH)
            .await
            .expect("read the stream");
        for event in &batch {
            types.push(event.event_type.clone());
            from = event.stream_version.next();
        }
        if batch.len() < MAX_READ_BATCH {
            return types;
        }
    }
}

async fn count_of(server: &TestServer, stream: &str, event_type: &str) -> usize {
    stream_types(server, stream)
        .await
        .iter()
        .filter(|t| *t == event_type)
        .count()
}

/// Waits (bounded) until `count_of` reaches `expected`.
async fn wait_for_count(server: &TestServer, stream: &str, event_type: &str, expected: usize) {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let count = count_of(server, stream, event_type).await;
        if count >= expected {
            assert_eq!(count, expected, "{event_type} on {stream}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{event_type} on {stream}: {count} after {BOUND:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The user's notifications (token from a fresh sign-in: moving the clock
/// by days expires sessions).
async fn notifications_of(server: &TestServer, email: &str) -> Value {
    let token = server.login(email).await;
    let (status, body) = server.get(&token, "/api/v1/notifications").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn wait_for_notifications(server: &TestServer, email: &str, expected: usize) -> Value {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let body = notifications_of(server, email).await;
        let count = body["items"].as_array().map_or(0, Vec::len);
        if count >= expected {
            assert_eq!(count, expected, "{body}");
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{email}: {count} notifications after {BOUND:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Gives the timers time for several passes (to show nothing more fires).
async fn let_timers_run() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn create_deal(server: &TestServer, user: &TestUser, process: &str, title: &str) -> String {
    let (status, body) = server
        .post(
            &user.token,
            "/api/v1/deals",
            json!({"process": process, "title": title}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("deal id").to_owned()
}

struct Team {
    head: TestUser,
    manager: TestUser,
    other: TestUser,
}

async fn team(server: &TestServer) -> Team {
    Team {
        head: server
            .user("head", &[Role::HeadOfSales], server.sales_moscow)
            .await,
        manager: server
            .user("manager", &[Role::Manager], server.sales_moscow)
            .await,
        other: server
            .user("other", &[Role::Manager], server.sales_spb)
            .await,
    }
}

macro_rules! on_both_backends_with_clock {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let clock = Arc::new(ManualClock::new(voronka_core::SystemClock.now()));
                let server = TestServer::start_with_clock(Backend::Sqlite, clock.clone()).await;
                tokio::time::timeout(Duration::from_secs(120), ($body)(server, clock))
                    .await
                    .expect("the test finishes within two minutes");
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let clock = Arc::new(ManualClock::new(voronka_core::SystemClock.now()));
                let server = TestServer::start_with_clock(Backend::Postgres, clock.clone()).await;
                tokio::time::timeout(Duration::from_secs(120), ($body)(server, clock))
                    .await
                    .expect("the test finishes within two minutes");
            }
        }
    };
}

on_both_backends_with_clock!(
    a_lead_not_contacted_in_15_minutes_is_escalated_to_the_head_once,
    |server: TestServer, clock: Arc<ManualClock>| async move {
        let team = team(&server).await;
        let crm = server.crm.clone();
        let first = start_timers(&server, &crm).await;
        let other_crm = second_crm(&server, clock.clone()).await;
        let second = start_timers(&server, &other_crm).await;
        let deal = create_deal(&server, &team.manager, "lead-qualification", "Лид с сайта").await;
        let stream = format!("deal-{deal}");

        clock.advance(chrono::Duration::minutes(14));
        let_timers_run().await;
        assert_eq!(count_of(&server, &stream, "deal_sla_breached").await, 0);

        clock.advance(chrono::Duration::minutes(2));
        wait_for_count(&server, &stream, "deal_sla_breached", 1).await;
        let inbox = wait_for_notifications(&server, "head@e2e.test", 1).await;
        let item = &inbox["items"][0];
        assert_eq!(item["kind"], "automation", "{inbox}");
        assert_eq!(item["deal"], deal.as_str(), "{inbox}");
        assert_eq!(item["read"], false, "{inbox}");
        assert!(
            item["text"]["en"]
                .as_str()
                .is_some_and(|t| t.contains("not contacted within 15 minutes")),
            "{inbox}"
        );
        assert_eq!(inbox["unread"], 1);

        // Two schedulers ran all along; a restart of both, and more time,
        // fire nothing again.
        first.stop().await;
        second.stop().await;
        let restarted = start_timers(&server, &crm).await;
        clock.advance(chrono::Duration::minutes(30));
        let_timers_run().await;
        assert_eq!(count_of(&server, &stream, "deal_sla_breached").await, 1);
        wait_for_notifications(&server, "head@e2e.test", 1).await;
        // The responsible and another department's manager got none.
        assert_eq!(
            notifications_of(&server, "manager@e2e.test").await["items"],
            json!([])
        );
        assert_eq!(
            notifications_of(&server, "other@e2e.test").await["items"],
            json!([])
        );
        // The task planned on entering `received` exists once (inline run
        // and the runner from the log derived the same id).
        assert_eq!(
            count_of(&server, &stream, "deal_activity_recorded").await,
            1,
            "{:?}",
            stream_types(&server, &stream).await
        );
        restarted.stop().await;
        let _ = team.head;
        let _ = team.other;
    }
);

on_both_backends_with_clock!(
    a_forgotten_deal_is_reported_after_seven_idle_days_once,
    |server: TestServer, clock: Arc<ManualClock>| async move {
        let team = team(&server).await;
        let timers = start_timers(&server, &server.crm).await;
        let deal = create_deal(&server, &team.manager, "b2b-sale", "Поставка станков").await;
        let stream = format!("deal-{deal}");

        clock.advance(chrono::Duration::days(6));
        let_timers_run().await;
        assert_eq!(count_of(&server, &stream, "deal_automation_fired").await, 0);

        clock.advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
        wait_for_count(&server, &stream, "deal_automation_fired", 1).await;
        let inbox = wait_for_notifications(&server, "head@e2e.test", 1).await;
        assert!(
            inbox["items"][0]["text"]["en"]
                .as_str()
                .is_some_and(|t| t.contains("idle for 7 days")),
            "{inbox}"
        );
        timers.stop().await;
        let timers = start_timers(&server, &server.crm).await;
        clock.advance(chrono::Duration::days(2));
        let_timers_run().await;
        assert_eq!(count_of(&server, &stream, "deal_automation_fired").await, 1);
        wait_for_notifications(&server, "head@e2e.test", 1).await;
        timers.stop().await;
    }
);

on_both_backends_with_clock!(
    a_reminder_goes_out_15_minutes_before_a_planned_call_once,
    |server: TestServer, clock: Arc<ManualClock>| async move {
        let team = team(&server).await;
        let timers = start_timers(&server, &server.crm).await;
        let start = clock.now() + chrono::Duration::hours(1);
        let (status, call) = server
            .post(
                &team.manager.token,
                "/api/v1/activities",
                json!({"kind": "call", "direction": "outgoing", "subject": "Обсудить договор",
                       "planned_start": start.to_rfc3339(), "due_at": start.to_rfc3339()}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{call}");
        let stream = format!("activity-{}", call["id"].as_str().expect("id"));

        clock.advance(chrono::Duration::minutes(44));
        let_timers_run().await;
        assert_eq!(count_of(&server, &stream, "activity_reminded").await, 0);

        clock.advance(chrono::Duration::minutes(2));
        wait_for_count(&server, &stream, "activity_reminded", 1).await;
        let inbox = wait_for_notifications(&server, "manager@e2e.test", 1).await;
        let item = &inbox["items"][0];
        assert_eq!(item["kind"], "reminder", "{inbox}");
        assert_eq!(item["activity"], call["id"], "{inbox}");
        assert!(
            item["text"]["ru"]
                .as_str()
                .is_some_and(|t| t.contains("Обсудить договор")),
            "{inbox}"
        );

        timers.stop().await;
        let timers = start_timers(&server, &server.crm).await;
        clock.advance(chrono::Duration::minutes(5));
        let_timers_run().await;
        assert_eq!(count_of(&server, &stream, "activity_reminded").await, 1);
        wait_for_notifications(&server, "manager@e2e.test", 1).await;
        assert_eq!(
            notifications_of(&server, "head@e2e.test").await["items"],
            json!([])
        );
        timers.stop().await;
    }
);

on_both_backends_with_clock!(
    effects_lost_in_a_crash_are_carried_out_from_the_log_once,
    |server: TestServer, clock: Arc<ManualClock>| async move {
        let team = team(&server).await;
        // A first start sets the checkpoint at the head.
        start_timers(&server, &server.crm).await.stop().await;
        // The "process" appends a deal and dies before its effects: the
        // deal service appends, nothing runs the planned task.
        let deal = voronka_process::DealId::from_uuid(uuid::Uuid::now_v7());
        let deals = server.crm.deal_service();
        let definition = deals
            .registry()
            .latest("lead-qualification")
            .expect("the shipped process");
        let responsible = definition
            .field_id("responsible")
            .expect("a responsible field");
        deals
            .start_deal_with(
                definition,
                deal,
                &[voronka_process::DealCommand::SetField {
                    field: responsible,
                    value: Some(voronka_process::FieldValue::Reference(
                        *team.manager.id.as_uuid(),
                    )),
                }],
                &voronka_process::ActorContext::user(
                    team.manager.id,
                    [Role::Manager].into_iter().collect(),
                ),
                None,
            )
            .await
            .expect("start the deal");
        let stream = format!("deal-{deal}");
        let_timers_run().await;
        assert_eq!(
            count_of(&server, &stream, "deal_activity_recorded").await,
            0
        );

        let timers = start_timers(&server, &server.crm).await;
        wait_for_count(&server, &stream, "deal_activity_recorded", 1).await;
        timers.stop().await;
        let timers = start_timers(&server, &server.crm).await;
        let_timers_run().await;
        assert_eq!(
            count_of(&server, &stream, "deal_activity_recorded").await,
            1
        );
        let (status, tasks) = server
            .get(
                &team.manager.token,
                &format!("/api/v1/activities?deal={deal}"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tasks}");
        assert_eq!(tasks["items"].as_array().map(Vec::len), Some(1), "{tasks}");
        timers.stop().await;
        let _ = clock;
    }
);

on_both_backends_with_clock!(
    only_the_recipient_sees_and_reads_a_notification,
    |server: TestServer, clock: Arc<ManualClock>| async move {
        let team = team(&server).await;
        let timers = start_timers(&server, &server.crm).await;
        create_deal(&server, &team.manager, "lead-qualification", "Лид 1").await;
        create_deal(&server, &team.manager, "lead-qualification", "Лид 2").await;
        clock.advance(chrono::Duration::minutes(16));
        let inbox = wait_for_notifications(&server, "head@e2e.test", 2).await;
        timers.stop().await;
        let head = server.login("head@e2e.test").await;
        let other = server.login("other@e2e.test").await;
        let first = inbox["items"][0]["id"].as_str().expect("id").to_owned();
        let second = inbox["items"][1]["id"].as_str().expect("id").to_owned();

        // Someone else's notification does not exist for them.
        expect_problem(
            server
                .post(
                    &other,
                    &format!("/api/v1/notifications/{second}/read"),
                    json!({}),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let (status, read) = server
            .post(
                &head,
                &format!("/api/v1/notifications/{second}/read"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{read}");
        assert_eq!(read["read"], true);
        // Twice is fine and changes nothing.
        let (status, _) = server
            .post(
                &head,
                &format!("/api/v1/notifications/{second}/read"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, listed) = server.get(&head, "/api/v1/notifications").await;
        assert_eq!(listed["unread"], 1, "{listed}");
        // Unread first.
        assert_eq!(listed["items"][0]["id"], first.as_str(), "{listed}");
        assert_eq!(listed["items"][1]["id"], second.as_str(), "{listed}");
        expect_problem(
            server
                .post(
                    &head,
                    &format!("/api/v1/notifications/{}/read", uuid::Uuid::now_v7()),
                    json!({}),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let (status, _) = server
            .send(reqwest::Method::GET, None, "/api/v1/notifications", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // E-mail preferences: on by default, off per kind.
        let (_, settings) = server.get(&head, "/api/v1/me/notification-settings").await;
        assert_eq!(
            settings,
            json!({"email": {"automation": true, "reminder": true}})
        );
        let (status, settings) = server
            .send(
                reqwest::Method::PUT,
                Some(&head),
                "/api/v1/me/notification-settings",
                Some(json!({"email": {"reminder": false}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        assert_eq!(
            settings,
            json!({"email": {"automation": true, "reminder": false}})
        );
        let (status, problem) = server
            .send(
                reqwest::Method::PUT,
                Some(&head),
                "/api/v1/me/notification-settings",
                Some(json!({"email": {"telegram": false}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        // The other user's settings are their own.
        let (_, theirs) = server.get(&other, "/api/v1/me/notification-settings").await;
        assert_eq!(theirs["email"]["reminder"], true);
    }
);

async fn start_mailer(server: &TestServer, sink: &SmtpSink) -> Mailer {
    let transport = voronka_mail::SmtpMailer::new(&sink.url(), "Voronka <crm@e2e.test>")
        .expect("the sink's URL");
    Mailer::start(
        server.crm.clone(),
        server.reports.db().clone(),
        Arc::new(transport),
        MailConfig {
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            poll: Duration::from_millis(20),
        },
    )
    .await
    .expect("start the mailer")
}

async fn plan_call(
    server: &TestServer,
    user: &TestUser,
    subject: &str,
    start: chrono::DateTime<chrono::Utc>,
) {
    let (status, call) = server
        .post(
            &user.token,
            "/api/v1/activities",
            json!({"kind": "call", "direction": "outgoing", "subject": subject,
                   "planned_start": start.to_rfc3339(), "due_at": start.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
}

on_both_backends_with_clock!(
    a_reminder_is_mailed_once_unless_the_user_turned_email_off,
    |server: TestServer, clock: Arc<ManualClock>| async move {
        let sink = SmtpSink::start().await.expect("start the SMTP sink");
        let team = team(&server).await;
        let quiet = server
            .user("quiet", &[Role::Manager], server.sales_moscow)
            .await;
        let (status, _) = server
            .send(
                reqwest::Method::PUT,
                Some(&quiet.token),
                "/api/v1/me/notification-settings",
                Some(json!({"email": {"reminder": false}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let timers = start_timers(&server, &server.crm).await;
        let mailer = start_mailer(&server, &sink).await;
        let start = clock.now() + chrono::Duration::hours(1);
        plan_call(&server, &team.manager, "Обсудить договор", start).await;
        plan_call(&server, &quiet, "Тихий звонок", start).await;

        clock.advance(chrono::Duration::minutes(46));
        wait_for_notifications(&server, "quiet@e2e.test", 1).await;
        wait_for_notifications(&server, "manager@e2e.test", 1).await;
        let deadline = tokio::time::Instant::now() + BOUND;
        while sink.received().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no mail after {BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let_timers_run().await;
        let mails = sink.received();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].to, ["manager@e2e.test"]);
        let subject = mails[0].header("Subject").expect("a subject");
        assert!(
            subject.starts_with("Напоминание: Звонок «Обсудить договор» в "),
            "{subject}"
        );
        let inbox = notifications_of(&server, "manager@e2e.test").await;
        assert_eq!(inbox["items"][0]["emailed"], true, "{inbox}");
        let inbox = notifications_of(&server, "quiet@e2e.test").await;
        assert_eq!(inbox["items"][0]["emailed"], false, "{inbox}");

        // A restart of the mailer (and of the timers) sends nothing again.
        mailer.stop().await;
        timers.stop().await;
        let timers = start_timers(&server, &server.crm).await;
        let mailer = start_mailer(&server, &sink).await;
        clock.advance(chrono::Duration::minutes(5));
        let_timers_run().await;
        assert_eq!(sink.received().len(), 1);
        mailer.stop().await;
        timers.stop().await;
    }
);

on_both_backends_with_clock!(
    the_pages_show_the_unread_counter_and_the_list,
    |server: TestServer, clock: Arc<ManualClock>| async move {
        let team = team(&server).await;
        let timers = start_timers(&server, &server.crm).await;
        let deal = create_deal(&server, &team.manager, "lead-qualification", "<b>Лид</b>").await;
        clock.advance(chrono::Duration::minutes(16));
        let inbox = wait_for_notifications(&server, "head@e2e.test", 1).await;
        timers.stop().await;
        let id = inbox["items"][0]["id"].as_str().expect("id").to_owned();

        let mut head = support::browser::Browser::sign_in(&server, "head@e2e.test").await;
        let (status, day) = head.get("/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            day.contains(r#"aria-label="Непрочитанных уведомлений: 1""#),
            "{day}"
        );
        let (status, list) = head.get("/notifications").await;
        assert_eq!(status, StatusCode::OK);
        assert!(list.contains("Лид не обработан за 15 минут"), "{list}");
        assert!(list.contains(&format!("/deals/{deal}")), "{list}");
        // The deal's title is text, never markup.
        assert!(list.contains("&lt;b&gt;Лид&lt;/b&gt;"), "{list}");
        assert!(!list.contains("<b>Лид</b>"), "{list}");

        // Without the CSRF token nothing changes.
        let (status, _, _) = head
            .post(&format!("/notifications/{id}/read"), &[], false)
            .await;
        assert_ne!(status, StatusCode::SEE_OTHER);
        let (status, _, location) = head
            .post(&format!("/notifications/{id}/read"), &[], true)
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location.as_deref(), Some("/notifications"));
        let (_, list) = head.get("/notifications").await;
        assert!(
            list.contains(r#"aria-label="Непрочитанных уведомлений: 0""#),
            "{list}"
        );
        assert!(
            !list.contains(&format!("/notifications/{id}/read")),
            "{list}"
        );

        // Someone else cannot mark it: 404.
        let mut other = support::browser::Browser::sign_in(&server, "other@e2e.test").await;
        let (status, _, _) = other
            .post(&format!("/notifications/{id}/read"), &[], true)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, theirs) = other.get("/notifications").await;
        assert!(theirs.contains("Уведомлений пока нет."), "{theirs}");
    }
);
