//! Activities, documents and products over HTTP, on both backends: what
//! each kind of activity needs, who may log and see what, the process
//! guarding documents, a b2b sale driven from `new` to `won` with exact
//! invoice totals and idempotent payments, and the catalog's right.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer, TestUser};
use voronka_core::Role;

// ---------------------------------------------------------------- helpers

/// RFC 3339 for `days` from now (negative: in the past).
fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

fn date_in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .date_naive()
        .to_string()
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("an id").to_owned()
}

/// The `field`s of a validation problem's `errors`.
fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A request with an `Idempotency-Key`.
async fn send_with_key(
    server: &TestServer,
    method: reqwest::Method,
    token: &str,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = server
        .client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn put(server: &TestServer, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    server
        .send(reqwest::Method::PUT, Some(token), path, Some(body))
        .await
}

#[track_caller]
fn expect(answer: (StatusCode, Value), status: StatusCode) -> Value {
    let (actual, body) = answer;
    assert_eq!(actual, status, "{body}");
    body
}

/// A company and a contact of it, created by `user` over HTTP.
async fn customer(server: &TestServer, user: &TestUser) -> (String, String) {
    let company = expect(
        server
            .post(
                &user.token,
                "/api/v1/companies",
                json!({"name": "ООО Ромашка"}),
            )
            .await,
        StatusCode::CREATED,
    );
    let company = id_of(&company);
    let contact = expect(
        server
            .post(
                &user.token,
                "/api/v1/contacts",
                json!({"surname": "Иванова", "name": "Анна", "company": company}),
            )
            .await,
        StatusCode::CREATED,
    );
    (company, id_of(&contact))
}

async fn new_deal(server: &TestServer, token: &str, title: &str) -> String {
    let body = expect(
        server
            .post(
                token,
                "/api/v1/deals",
                json!({"process": "b2b-sale", "title": title}),
            )
            .await,
        StatusCode::CREATED,
    );
    id_of(&body)
}

async fn move_deal(server: &TestServer, token: &str, deal: &str, to: &str, fields: Value) {
    expect(
        server
            .post(
                token,
                &format!("/api/v1/deals/{deal}/transitions"),
                json!({"to": to, "fields": fields}),
            )
            .await,
        StatusCode::OK,
    );
}

async fn stage_of(server: &TestServer, token: &str, deal: &str) -> String {
    let card = expect(
        server.get(token, &format!("/api/v1/deals/{deal}")).await,
        StatusCode::OK,
    );
    card["stage"].as_str().expect("stage").to_owned()
}

async fn set_document_status(server: &TestServer, token: &str, document: &str, to: &str) {
    expect(
        server
            .post(
                token,
                &format!("/api/v1/documents/{document}/status"),
                json!({"to": to}),
            )
            .await,
        StatusCode::OK,
    );
}

async fn create_document(server: &TestServer, token: &str, deal: &str, body: Value) -> Value {
    expect(
        server
            .post(token, &format!("/api/v1/deals/{deal}/documents"), body)
            .await,
        StatusCode::CREATED,
    )
}

/// The event types of a timeline, newest first.
async fn timeline(server: &TestServer, token: &str, path: &str) -> Vec<String> {
    let page = expect(
        server.get(token, &format!("{path}?limit=200")).await,
        StatusCode::OK,
    );
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Writes what `POST /activities` with `Idempotency-Key: key` would write
/// for a logged call on `deal`, but not the deal's mirror: a request that
/// stopped half-way.
async fn write_activity_without_mirror(
    server: &TestServer,
    user: &TestUser,
    key: &str,
    deal: &str,
    contact: &str,
    company: &str,
) {
    use voronka_crm::activity::{Activity, ActivityCommand, ActivityInput};
    let caller = server
        .crm
        .caller(server.directory.authenticate(&user.token).await.unwrap())
        .await
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("idempotency-key", key.parse().unwrap());
    let key = voronka_gateway::api::IdempotencyKey::from_headers(&headers).unwrap();
    let id = key.new_record_id(&caller, "POST /activities");
    let command = ActivityCommand::Log {
        id: voronka_crm::ActivityId::from_uuid(id),
        input: ActivityInput {
            kind: "call".into(),
            direction: Some("outgoing".into()),
            deal: Some(deal.into()),
            contact: Some(contact.into()),
            company: Some(company.into()),
            ..ActivityInput::default()
        },
        outcome: Some("reached".into()),
        result: None,
        default_responsible: user.id,
    };
    let context = voronka_crm::Context {
        now: chrono::Utc::now(),
        actor: user.id,
        dictionaries: server.crm.dictionaries(),
    };
    voronka_app::crm::records::execute::<Activity>(
        &server.store,
        id,
        &command,
        &context,
        &caller.actor(),
        None,
        key.command_id(&caller, "POST /activities"),
    )
    .await
    .expect("the activity's half");
}

/// The statuses of the activities a deal's process recorded, oldest first.
async fn recorded_activity_statuses(server: &TestServer, deal: &str) -> Vec<String> {
    let mut statuses = Vec::new();
    for event in people_events_of_deal(server, deal).await {
        if event.event_type != "deal_activity_recorded" {
            continue;
        }
        let payload: Value = serde_json::from_str(event.payload.as_str()).expect("JSON");
        statuses.push(
            payload["activity"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    statuses
}

/// The deal's events except the records of tasks its process's automations
/// planned (those activities were created by the `automation` system actor).
async fn people_events_of_deal(
    server: &TestServer,
    deal: &str,
) -> Vec<voronka_core::RecordedEvent> {
    let stream = voronka_core::StreamId::new(format!("deal-{deal}")).expect("stream");
    let events = server
        .store
        .read_stream(&stream, voronka_core::StreamVersion(1), 10_000)
        .await
        .expect("read the deal");
    let mut kept = Vec::new();
    for event in events {
        if event.event_type == "deal_activity_recorded" {
            let payload: Value = serde_json::from_str(event.payload.as_str()).expect("JSON");
            let activity = payload["activity"]["id"].as_str().unwrap_or_default();
            let own = voronka_core::StreamId::new(format!("activity-{activity}")).expect("stream");
            let first = server
                .store
                .read_stream(&own, voronka_core::StreamVersion(1), 1)
                .await
                .expect("read the activity");
            if first
                .first()
                .is_some_and(|e| e.metadata.actor.kind == voronka_core::ActorKind::System)
            {
                continue;
            }
        }
        kept.push(event);
    }
    kept
}

/// Runs the process's half of `POST /deals/{deal}/documents` with
/// `Idempotency-Key: key` for a proposal, not the document's own append: a
/// create that stopped half-way. Returns the document's id.
async fn process_accepts_document_without_writing_it(
    server: &TestServer,
    user: &TestUser,
    deal: &str,
    key: &str,
) -> String {
    let caller = server
        .crm
        .caller(server.directory.authenticate(&user.token).await.unwrap())
        .await
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("idempotency-key", key.parse().unwrap());
    let key = voronka_gateway::api::IdempotencyKey::from_headers(&headers).unwrap();
    let id = voronka_crm::DocumentId::from_uuid(
        key.new_record_id(&caller, &format!("POST /deals/{deal}/documents")),
    );
    let (on_deal, _) = voronka_app::crm::work::document_creation_command_ids(id);
    server
        .crm
        .deal_service()
        .execute(
            voronka_crm::DealId::from_uuid(deal.parse().unwrap()),
            voronka_process::DealCommand::RecordDocument(voronka_process::DocumentFact {
                id,
                kind: voronka_process::DocumentKind::Proposal,
                status: voronka_process::DocumentStatus::Draft,
            }),
            &caller.process_actor(),
            Some(on_deal),
        )
        .await
        .expect("the process's half");
    id.to_string()
}

/// The event types on the deal's own stream, oldest first.
async fn deal_event_types(server: &TestServer, deal: &str) -> Vec<String> {
    people_events_of_deal(server, deal)
        .await
        .into_iter()
        .map(|event| event.event_type)
        .collect()
}

// ------------------------------------------------------------------ tests

on_both_backends!(
    each_kind_of_activity_needs_its_data_and_its_result,
    |server: TestServer| async move {
        let manager = server
            .user("work-manager", &[Role::Manager], server.sales_moscow)
            .await;
        let token = manager.token.as_str();

        // A meeting without a date, a contact and a subject: all three named.
        let body = expect_problem(
            server
                .post(token, "/api/v1/activities", json!({"kind": "meeting"}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
        );
        let fields = error_fields(&body);
        for field in ["planned_start", "contact", "subject"] {
            assert!(fields.contains(&field.to_owned()), "{field}: {body}");
        }
        // Links that do not exist are named too, and nothing was written.
        let body = expect_problem(
            server
                .post(
                    token,
                    "/api/v1/activities",
                    json!({"kind": "call", "direction": "outgoing",
                           "deal": uuid::Uuid::now_v7().to_string(),
                           "contact": uuid::Uuid::now_v7().to_string()}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "deal_unknown",
        );
        assert_eq!(error_fields(&body), ["deal", "contact"], "{body}");
        let list = expect(
            server.get(token, "/api/v1/activities").await,
            StatusCode::OK,
        );
        assert_eq!(list["items"], json!([]), "{list}");

        // A call completes only with an outcome; `wrong_number` alone does.
        let call = expect(
            server
                .post(
                    token,
                    "/api/v1/activities",
                    json!({"kind": "call", "direction": "outgoing", "due_at": in_days(1)}),
                )
                .await,
            StatusCode::CREATED,
        );
        let call = id_of(&call);
        let body = expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/activities/{call}/complete"),
                    json!({}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
        );
        assert_eq!(body["field"], "outcome", "{body}");
        expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/activities/{call}/complete"),
                    json!({"outcome": "needs_identified"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_in_dictionary",
        );
        expect(
            server
                .post(
                    token,
                    &format!("/api/v1/activities/{call}/complete"),
                    json!({"outcome": "wrong_number"}),
                )
                .await,
            StatusCode::OK,
        );
        let read = expect(
            server
                .get(token, &format!("/api/v1/activities/{call}"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(read["status"], "done", "{read}");
        assert_eq!(read["outcome"], "wrong_number", "{read}");
        assert_eq!(read["overdue"], false, "{read}");
        expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/activities/{call}/cancel"),
                    json!({}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "activity_closed",
        );

        // Rescheduled twice: counted, and both moves are on the timeline.
        let task = expect(
            server
                .post(
                    token,
                    "/api/v1/activities",
                    json!({"kind": "task", "subject": "Send the price list", "due_at": in_days(1)}),
                )
                .await,
            StatusCode::CREATED,
        );
        let task = id_of(&task);
        for days in [2, 3] {
            expect(
                server
                    .post(
                        token,
                        &format!("/api/v1/activities/{task}/reschedule"),
                        json!({"due_at": in_days(days)}),
                    )
                    .await,
                StatusCode::OK,
            );
        }
        let read = expect(
            server
                .get(token, &format!("/api/v1/activities/{task}"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(read["reschedule_count"], 2, "{read}");
        let events = timeline(
            &server,
            token,
            &format!("/api/v1/activities/{task}/timeline"),
        )
        .await;
        assert_eq!(
            events,
            [
                "activity_rescheduled",
                "activity_rescheduled",
                "activity_planned"
            ]
        );
        expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/activities/{task}/reschedule"),
                    json!({"due_at": "tomorrow"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_datetime",
        );

        // Overdue: planned and past its due time, from the server's clock.
        let late = expect(
            server
                .post(
                    token,
                    "/api/v1/activities",
                    json!({"kind": "task", "subject": "Late", "due_at": in_days(-1)}),
                )
                .await,
            StatusCode::CREATED,
        );
        let late = id_of(&late);
        let overdue = expect(
            server.get(token, "/api/v1/activities?overdue=true").await,
            StatusCode::OK,
        );
        let ids: Vec<&str> = overdue["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [late.as_str()], "{overdue}");
        assert_eq!(overdue["items"][0]["overdue"], true);
        let due_soon = expect(
            server
                .get(
                    token,
                    &format!(
                        "/api/v1/activities?status=planned&due_after={}",
                        urlencode(&in_days(0))
                    ),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(due_soon["items"].as_array().unwrap().len(), 1, "{due_soon}");
        assert_eq!(due_soon["items"][0]["id"], task.as_str());
        expect_problem(
            server.get(token, "/api/v1/activities?kind=fax").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_kind",
        );

        // Moved from one deal to another (the request sent twice): the deal
        // left stops counting it, the deal joined records it, once each.
        let first_deal = new_deal(&server, token, "Первая").await;
        let second_deal = new_deal(&server, token, "Вторая").await;
        let call = expect(
            server
                .post(
                    token,
                    "/api/v1/activities",
                    json!({"kind": "call", "direction": "outgoing", "deal": first_deal}),
                )
                .await,
            StatusCode::CREATED,
        );
        let call = id_of(&call);
        assert_eq!(
            recorded_activity_statuses(&server, &first_deal).await,
            ["planned"]
        );
        for _ in 0..2 {
            expect(
                send_with_key(
                    &server,
                    reqwest::Method::POST,
                    token,
                    &format!("/api/v1/activities/{call}/links"),
                    "relink-1",
                    json!({"deal": second_deal}),
                )
                .await,
                StatusCode::OK,
            );
        }
        assert_eq!(
            recorded_activity_statuses(&server, &first_deal).await,
            ["planned", "cancelled"]
        );
        assert_eq!(
            recorded_activity_statuses(&server, &second_deal).await,
            ["planned"]
        );
        let on_second = expect(
            server
                .get(token, &format!("/api/v1/activities?deal={second_deal}"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(on_second["items"][0]["id"], call.as_str(), "{on_second}");
        expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/activities/{call}/links"),
                    json!({"deal": uuid::Uuid::now_v7().to_string()}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "deal_unknown",
        );
    }
);

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

on_both_backends!(
    managers_log_and_see_only_their_own_activities,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let boris = server
            .user("boris", &[Role::Manager], server.sales_moscow)
            .await;
        let head = server
            .user("head", &[Role::HeadOfSales], server.sales_moscow)
            .await;

        // Anna may not log an activity for Boris.
        let body = expect_problem(
            server
                .post(
                    &anna.token,
                    "/api/v1/activities",
                    json!({"kind": "task", "subject": "For Boris", "due_at": in_days(1),
                           "responsible": boris.id.to_string()}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "not_responsible",
        );
        assert_eq!(body["action"], "log_activity", "{body}");

        // Boris's own activity is invisible to Anna: 404, not in her list.
        let task = expect(
            server
                .post(
                    &boris.token,
                    "/api/v1/activities",
                    json!({"kind": "task", "subject": "Mine", "due_at": in_days(1)}),
                )
                .await,
            StatusCode::CREATED,
        );
        let task = id_of(&task);
        for path in [
            format!("/api/v1/activities/{task}"),
            format!("/api/v1/activities/{task}/timeline"),
        ] {
            expect_problem(
                server.get(&anna.token, &path).await,
                StatusCode::NOT_FOUND,
                "not_found",
            );
        }
        expect_problem(
            server
                .post(
                    &anna.token,
                    &format!("/api/v1/activities/{task}/complete"),
                    json!({"outcome": "done"}),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let list = expect(
            server.get(&anna.token, "/api/v1/activities").await,
            StatusCode::OK,
        );
        assert_eq!(list["items"], json!([]), "{list}");

        // The head of the department logs for Boris and sees it; Boris too.
        let call = expect(
            server
                .post(
                    &head.token,
                    "/api/v1/activities",
                    json!({"status": "done", "kind": "call", "direction": "incoming",
                           "outcome": "reached", "responsible": boris.id.to_string()}),
                )
                .await,
            StatusCode::CREATED,
        );
        let call = id_of(&call);
        let read = expect(
            server
                .get(&boris.token, &format!("/api/v1/activities/{call}"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(read["status"], "done");
        assert_eq!(read["responsible"], boris.id.to_string());
        let list = expect(
            server
                .get(
                    &head.token,
                    &format!("/api/v1/activities?responsible={}", boris.id),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");

        // Boris may hand his task to Anna only if she is within his reach.
        expect_problem(
            server
                .post(
                    &boris.token,
                    &format!("/api/v1/activities/{task}/reassign"),
                    json!({"to": anna.id.to_string()}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "not_responsible",
        );
        // A leaving manager's open work moves in one call.
        let caller = server
            .crm
            .caller(server.directory.authenticate(&head.token).await.unwrap())
            .await
            .unwrap();
        let moved = server
            .crm
            .reassign_work(&caller, boris.id, anna.id)
            .await
            .expect("reassign");
        assert_eq!(moved, 1, "only the planned task moves");
        let read = expect(
            server
                .get(&anna.token, &format!("/api/v1/activities/{task}"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(read["responsible"], anna.id.to_string());
        assert_eq!(
            server
                .crm
                .reassign_work(&caller, boris.id, anna.id)
                .await
                .unwrap(),
            0
        );
    }
);

on_both_backends!(
    the_process_guards_documents_and_a_b2b_sale_is_won,
    |server: TestServer| async move {
        let manager = server
            .user("seller", &[Role::Manager], server.sales_moscow)
            .await;
        let token = manager.token.as_str();
        let (company, contact) = customer(&server, &manager).await;
        let deal = new_deal(&server, token, "Лицензии для Ромашки").await;

        // In `new` the process refuses an invoice: every unmet requirement
        // is listed and no document exists afterwards.
        let body = expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/deals/{deal}/documents"),
                    json!({"kind": "invoice"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "requirements_unmet",
        );
        let codes: Vec<&str> = body["unmet"]
            .as_array()
            .expect("unmet")
            .iter()
            .map(|u| u["code"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            [
                "document_not_allowed_in_stage",
                "document_missing",
                "document_missing"
            ],
            "{body}"
        );
        assert_eq!(body["unmet"][0]["stage"], "new", "{body}");
        for path in [
            format!("/api/v1/deals/{deal}/documents"),
            format!("/api/v1/documents?deal={deal}"),
        ] {
            let list = expect(server.get(token, &path).await, StatusCode::OK);
            assert_eq!(list["items"], json!([]), "{path}: {list}");
        }
        assert_eq!(
            deal_event_types(&server, &deal).await,
            ["deal_started", "deal_field_set", "deal_field_set"]
        );
        // Bad lines are refused before the process is asked.
        let body = expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/deals/{deal}/documents"),
                    json!({"kind": "proposal", "lines": [{"name": "", "quantity": "0",
                           "price": {"amount": "1"}}]}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
        );
        assert_eq!(
            error_fields(&body),
            ["lines[0].name", "lines[0].quantity", "lines[0].vat_rate"]
        );

        // new -> qualifying: company, contact, responsible.
        expect(
            server
                .patch(
                    token,
                    &format!("/api/v1/deals/{deal}"),
                    json!({"company": company, "contact": contact}),
                )
                .await,
            StatusCode::OK,
        );
        move_deal(&server, token, &deal, "qualifying", json!({})).await;

        // qualifying -> needs: a call that reached someone, and the industry.
        // The first attempt stopped after the activity was written and
        // before the deal heard of it (as if the mirror had failed): the
        // retry with the same Idempotency-Key completes the mirror, once.
        let log_call = json!({"status": "done", "kind": "call", "direction": "outgoing",
            "outcome": "reached", "deal": deal, "contact": contact, "company": company});
        write_activity_without_mirror(&server, &manager, "call-1", &deal, &contact, &company).await;
        assert!(!deal_event_types(&server, &deal)
            .await
            .contains(&"deal_activity_recorded".to_owned()));
        expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/deals/{deal}/transitions"),
                    json!({"to": "needs", "fields": {"industry": "it"}}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "requirements_unmet",
        );
        let first = expect(
            send_with_key(
                &server,
                reqwest::Method::POST,
                token,
                "/api/v1/activities",
                "call-1",
                log_call.clone(),
            )
            .await,
            StatusCode::CREATED,
        );
        let again = expect(
            send_with_key(
                &server,
                reqwest::Method::POST,
                token,
                "/api/v1/activities",
                "call-1",
                log_call,
            )
            .await,
            StatusCode::CREATED,
        );
        assert_eq!(first, again);
        let events = timeline(&server, token, &format!("/api/v1/deals/{deal}/timeline")).await;
        assert_eq!(
            events.iter().filter(|e| *e == "activity_logged").count(),
            1,
            "{events:?}"
        );
        assert_eq!(
            deal_event_types(&server, &deal)
                .await
                .iter()
                .filter(|e| e.as_str() == "deal_activity_recorded")
                .count(),
            1,
            "the mirror ran once"
        );
        move_deal(&server, token, &deal, "needs", json!({"industry": "it"})).await;

        // needs -> proposal: a meeting held with needs identified, a summary
        // and an amount.
        let meeting = expect(
            server
                .post(
                    token,
                    "/api/v1/activities",
                    json!({"kind": "meeting", "subject": "Needs", "planned_start": in_days(1),
                           "contact": contact, "deal": deal}),
                )
                .await,
            StatusCode::CREATED,
        );
        let meeting = id_of(&meeting);
        expect(
            server
                .post(
                    token,
                    &format!("/api/v1/activities/{meeting}/complete"),
                    json!({"outcome": "needs_identified", "result": "50 seats, CRM and telephony"}),
                )
                .await,
            StatusCode::OK,
        );
        expect(
            server
                .patch(
                    token,
                    &format!("/api/v1/deals/{deal}"),
                    json!({"amount": {"amount": "803.98", "currency": "RUB"}}),
                )
                .await,
            StatusCode::OK,
        );
        move_deal(
            &server,
            token,
            &deal,
            "proposal",
            json!({"needs_summary": "50 seats"}),
        )
        .await;

        // The proposal, sent; then negotiation.
        let lines = json!([
            {"name": "Licence", "quantity": "2", "unit": "piece",
             "price": {"amount": "99.99", "currency": "RUB"}, "vat_rate": 20, "discount_percent": 15},
            {"name": "Setup", "quantity": "1,5", "price": {"minor": 33333}, "vat_rate": 20}
        ]);
        // The first attempt stopped after the process accepted the proposal
        // and before the document was written: the retry with the same
        // Idempotency-Key completes it, and the deal records it once.
        let proposal =
            process_accepts_document_without_writing_it(&server, &manager, &deal, "proposal-1")
                .await;
        assert!(expect(
            server
                .get(token, &format!("/api/v1/deals/{deal}/documents"))
                .await,
            StatusCode::OK
        )["items"]
            .as_array()
            .unwrap()
            .is_empty());
        let created = expect(
            send_with_key(
                &server,
                reqwest::Method::POST,
                token,
                &format!("/api/v1/deals/{deal}/documents"),
                "proposal-1",
                json!({"kind": "proposal", "lines": lines.clone()}),
            )
            .await,
            StatusCode::CREATED,
        );
        assert_eq!(id_of(&created), proposal);
        assert_eq!(
            deal_event_types(&server, &deal)
                .await
                .iter()
                .filter(|e| e.as_str() == "deal_document_recorded")
                .count(),
            1
        );
        set_document_status(&server, token, &proposal, "sent").await;
        // Lines change only in draft.
        expect_problem(
            put(
                &server,
                token,
                &format!("/api/v1/documents/{proposal}/lines"),
                json!({"lines": []}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "document_not_draft",
        );
        expect(
            server
                .patch(
                    token,
                    &format!("/api/v1/deals/{deal}"),
                    json!({"expected_close_date": date_in_days(30)}),
                )
                .await,
            StatusCode::OK,
        );
        move_deal(
            &server,
            token,
            &deal,
            "negotiation",
            json!({"decision_maker": contact}),
        )
        .await;

        // The contract: sent to enter `contract`, signed before the invoice.
        // Created with an Idempotency-Key twice: one document.
        let path = format!("/api/v1/deals/{deal}/documents");
        let mut created = Vec::new();
        for _ in 0..2 {
            created.push(expect(
                send_with_key(
                    &server,
                    reqwest::Method::POST,
                    token,
                    &path,
                    "contract-1",
                    json!({"kind": "contract", "title": "Договор поставки"}),
                )
                .await,
                StatusCode::CREATED,
            ));
        }
        assert_eq!(created[0], created[1]);
        let contract = id_of(&created[0]);
        let contracts = expect(
            server
                .get(
                    token,
                    &format!("/api/v1/documents?deal={deal}&kind=contract"),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(
            contracts["items"].as_array().unwrap().len(),
            1,
            "{contracts}"
        );
        assert_eq!(
            contracts["items"][0]["number"],
            format!("CON-{}-000001", chrono::Utc::now().format("%Y"))
        );
        set_document_status(&server, token, &contract, "sent").await;
        move_deal(
            &server,
            token,
            &deal,
            "contract",
            json!({"contract_number": "Д-2026/17"}),
        )
        .await;
        set_document_status(&server, token, &contract, "signed").await;

        // The invoice: created empty, lines put in draft, totals exact.
        let invoice = create_document(&server, token, &deal, json!({"kind": "invoice"})).await;
        let invoice = id_of(&invoice);
        expect(
            put(
                &server,
                token,
                &format!("/api/v1/documents/{invoice}/lines"),
                json!({"lines": lines}),
            )
            .await,
            StatusCode::OK,
        );
        let read = expect(
            server
                .get(token, &format!("/api/v1/documents/{invoice}"))
                .await,
            StatusCode::OK,
        );
        let year = chrono::Utc::now().format("%Y").to_string();
        assert_eq!(read["number"], format!("INV-{year}-000001"), "{read}");
        assert_eq!(read["kind"], "invoice");
        assert_eq!(read["status"], "draft");
        // 2 x 99.99 - 15% = 169.983 -> 169.98, VAT 34.00; 1.5 x 333.33 =
        // 499.995 -> 500.00, VAT 100.00.
        assert_eq!(read["lines"][0]["net"]["minor"], 16_998, "{read}");
        assert_eq!(read["lines"][0]["vat"]["minor"], 3_400, "{read}");
        assert_eq!(read["lines"][1]["net"]["minor"], 50_000, "{read}");
        assert_eq!(read["totals"]["net"]["minor"], 66_998, "{read}");
        assert_eq!(read["totals"]["vat"]["minor"], 13_400, "{read}");
        assert_eq!(read["totals"]["gross"]["minor"], 80_398, "{read}");
        // A draft invoice takes no payment.
        expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/documents/{invoice}/payments"),
                    json!({"amount": {"minor": 100}, "paid_on": date_in_days(0)}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment_not_allowed",
        );
        set_document_status(&server, token, &invoice, "sent").await;
        move_deal(&server, token, &deal, "invoice", json!({})).await;

        // Not paid yet: `won` is refused.
        let body = expect_problem(
            server
                .post(
                    token,
                    &format!("/api/v1/deals/{deal}/transitions"),
                    json!({"to": "won"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "requirements_unmet",
        );
        assert_eq!(body["unmet"][0]["code"], "document_missing", "{body}");

        // Two payments; a replayed payment id changes nothing.
        let first_payment = uuid::Uuid::now_v7().to_string();
        let payment = json!({"payment_id": first_payment, "amount": {"amount": "500.00"},
            "paid_on": date_in_days(0), "reference": "п/п 101"});
        let paid_once = expect(
            server
                .post(
                    token,
                    &format!("/api/v1/documents/{invoice}/payments"),
                    payment.clone(),
                )
                .await,
            StatusCode::OK,
        );
        let replayed = expect(
            server
                .post(
                    token,
                    &format!("/api/v1/documents/{invoice}/payments"),
                    payment,
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(replayed["version"], paid_once["version"], "{replayed}");
        let read = expect(
            server
                .get(token, &format!("/api/v1/documents/{invoice}"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(read["status"], "issued", "{read}");
        assert_eq!(read["paid"]["minor"], 50_000, "{read}");
        assert_eq!(read["payments"].as_array().unwrap().len(), 1, "{read}");
        // The rest, with an Idempotency-Key as the payment id, sent twice.
        let rest =
            json!({"amount": {"minor": 30_398, "currency": "RUB"}, "paid_on": date_in_days(0)});
        for _ in 0..2 {
            expect(
                send_with_key(
                    &server,
                    reqwest::Method::POST,
                    token,
                    &format!("/api/v1/documents/{invoice}/payments"),
                    "payment-2",
                    rest.clone(),
                )
                .await,
                StatusCode::OK,
            );
        }
        let read = expect(
            server
                .get(token, &format!("/api/v1/documents/{invoice}"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(read["status"], "paid", "{read}");
        assert_eq!(read["paid"]["minor"], 80_398, "{read}");
        assert_eq!(read["overpaid"]["minor"], 0, "{read}");
        assert_eq!(read["payments"].as_array().unwrap().len(), 2, "{read}");

        // Paid: the deal is won.
        move_deal(&server, token, &deal, "won", json!({})).await;
        assert_eq!(stage_of(&server, token, &deal).await, "won");

        // The deal's documents and timeline tell the whole story.
        let documents = expect(
            server
                .get(token, &format!("/api/v1/deals/{deal}/documents"))
                .await,
            StatusCode::OK,
        );
        let kinds: Vec<&str> = documents["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["invoice", "contract", "proposal"]);
        let invoices = expect(
            server
                .get(token, "/api/v1/documents?kind=invoice&status=paid")
                .await,
            StatusCode::OK,
        );
        assert_eq!(invoices["items"].as_array().unwrap().len(), 1);
        let events = timeline(&server, token, &format!("/api/v1/deals/{deal}/timeline")).await;
        for expected in [
            "document_created",
            "document_payment_registered",
            "activity_completed",
            "activity_logged",
        ] {
            assert!(
                events.iter().any(|e| e == expected),
                "{expected}: {events:?}"
            );
        }
        let events = timeline(
            &server,
            token,
            &format!("/api/v1/documents/{invoice}/timeline"),
        )
        .await;
        assert_eq!(
            events,
            [
                "document_status_changed",
                "document_payment_registered",
                "document_payment_registered",
                "document_status_changed",
                "document_lines_replaced",
                "document_created"
            ]
        );

        // Another manager sees none of it.
        let other = server
            .user("other-seller", &[Role::Manager], server.sales_moscow)
            .await;
        for path in [
            format!("/api/v1/deals/{deal}/documents"),
            format!("/api/v1/deals/{deal}/timeline"),
            format!("/api/v1/documents/{invoice}"),
        ] {
            expect_problem(
                server.get(&other.token, &path).await,
                StatusCode::NOT_FOUND,
                "not_found",
            );
        }
        expect_problem(
            server
                .post(
                    &other.token,
                    &format!("/api/v1/deals/{deal}/documents"),
                    json!({"kind": "act"}),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let list = expect(
            server.get(&other.token, "/api/v1/documents").await,
            StatusCode::OK,
        );
        assert_eq!(list["items"], json!([]));
    }
);

on_both_backends!(
    the_catalog_is_read_by_all_and_changed_by_those_with_the_right,
    |server: TestServer| async move {
        let (status, document) = server
            .send(reqwest::Method::GET, None, "/api/v1/openapi.json", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        for path in [
            "/api/v1/activities",
            "/api/v1/activities/{id}/complete",
            "/api/v1/deals/{id}/documents",
            "/api/v1/deals/{id}/timeline",
            "/api/v1/documents/{id}/lines",
            "/api/v1/documents/{id}/payments",
            "/api/v1/products/{id}/timeline",
        ] {
            assert!(document["paths"][path].is_object(), "{path}");
        }
        assert!(document["components"]["schemas"]["NewActivity"].is_object());
        let manager = server
            .user("catalog-manager", &[Role::Manager], server.sales_moscow)
            .await;
        let head = server
            .user("catalog-head", &[Role::HeadOfSales], server.sales_moscow)
            .await;
        let product = json!({"name": "Лицензия CRM", "sku": "CRM-50", "unit": "piece",
            "price": {"amount": "1200.00"}, "vat_rate": 20});
        let body = expect_problem(
            server
                .post(&manager.token, "/api/v1/products", product.clone())
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        assert_eq!(body["action"], "manage_catalog");
        let created = expect(
            server.post(&head.token, "/api/v1/products", product).await,
            StatusCode::CREATED,
        );
        let id = id_of(&created);
        // SKUs are unique, compared without case.
        let body = expect_problem(
            server
                .post(
                    &head.token,
                    "/api/v1/products",
                    json!({"name": "Другая", "sku": "crm-50", "price": {"minor": 100}, "vat_rate": 0}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "sku_taken",
        );
        assert_eq!(body["field"], "sku");
        let list = expect(
            server.get(&manager.token, "/api/v1/products?q=crm").await,
            StatusCode::OK,
        );
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

        expect_problem(
            server
                .patch(
                    &manager.token,
                    &format!("/api/v1/products/{id}"),
                    json!({"name": "x"}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        expect(
            server
                .patch(
                    &head.token,
                    &format!("/api/v1/products/{id}"),
                    json!({"price": {"amount": "1500.00"}, "description": null}),
                )
                .await,
            StatusCode::OK,
        );
        expect(
            server
                .post(
                    &head.token,
                    &format!("/api/v1/products/{id}/archive"),
                    json!({}),
                )
                .await,
            StatusCode::OK,
        );
        let read = expect(
            server
                .get(&manager.token, &format!("/api/v1/products/{id}"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(read["active"], false, "{read}");
        assert_eq!(read["price"]["minor"], 150_000, "{read}");
        let active = expect(
            server
                .get(&manager.token, "/api/v1/products?active=true")
                .await,
            StatusCode::OK,
        );
        assert_eq!(active["items"], json!([]));
        let events = timeline(
            &server,
            &manager.token,
            &format!("/api/v1/products/{id}/timeline"),
        )
        .await;
        assert_eq!(
            events,
            ["product_archived", "product_updated", "product_created"]
        );
        expect_problem(
            server
                .post(
                    &head.token,
                    &format!("/api/v1/products/{}/archive", uuid::Uuid::now_v7()),
                    json!({}),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
);
