//! Deals over HTTP, end to end on both backends: create with fields in one
//! append, the card's allowed transitions, a move refused with every unmet
//! requirement, optimistic concurrency (exactly one of two racing moves
//! wins), visibility by role, bad input, the OpenAPI document and the
//! integration feed.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer};
use voronka_core::Role;

/// Expected status, code and field, and the actual answer.
type Case<'a> = (StatusCode, &'a str, Option<&'a str>, (StatusCode, Value));

async fn create_deal(server: &TestServer, token: &str, title: &str) -> Value {
    let (status, body) = server
        .post(
            token,
            "/api/v1/deals",
            json!({"process": "b2b-sale", "title": title, "amount": {"amount": "150000.00"},
                   "source": "website"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

on_both_backends!(
    a_deal_is_created_read_and_refused_with_every_unmet_requirement,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let created = create_deal(&server, &anna.token, "Лицензии для ООО «Ромашка»").await;
        let id = created["id"].as_str().unwrap().to_owned();
        // Started plus title, amount, responsible and source: one append.
        assert_eq!(created["version"], 5, "{created}");

        let (status, card) = server
            .get(
                &anna.token,
                &format!("/api/v1/deals/{id}?min_position={}", created["position"]),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{card}");
        assert_eq!(card["stage"], "new");
        assert_eq!(card["title"], "Лицензии для ООО «Ромашка»");
        assert_eq!(card["responsible"], anna.id.to_string());
        assert_eq!(card["amount"]["minor"], 15_000_000);
        let transitions = card["allowed_transitions"].as_array().unwrap();
        let qualifying = transitions
            .iter()
            .find(|t| t["stage"] == "qualifying")
            .unwrap();
        assert_eq!(qualifying["allowed"], false);
        let missing: Vec<&str> = qualifying["unmet"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["code"].as_str().unwrap())
            .collect();
        assert_eq!(missing, ["field_missing", "field_missing"], "{qualifying}");
        assert!(transitions.iter().any(|t| t["stage"] == "lost"));

        // Moving too early: 422 naming each unmet requirement, nothing written.
        let refused = expect_problem(
            server
                .post(
                    &anna.token,
                    &format!("/api/v1/deals/{id}/transitions"),
                    json!({"to": "qualifying"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "requirements_unmet",
        );
        assert_eq!(refused["unmet"].as_array().unwrap().len(), 2, "{refused}");
        assert_eq!(refused["unmet"][0]["stage"], "qualifying");
        let (_, again) = server
            .get(&anna.token, &format!("/api/v1/deals/{id}"))
            .await;
        // 5 from the create, 1 for the "call the new lead" task the process
        // planned and recorded on the deal; the refusal wrote nothing.
        assert_eq!(again["version"], 6);

        // An unknown stage and a value outside a dictionary name their fields.
        let unknown = expect_problem(
            server
                .post(
                    &anna.token,
                    &format!("/api/v1/deals/{id}/transitions"),
                    json!({"to": "paradise"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_stage",
        );
        assert_eq!(unknown["field"], "to");
        let outside = expect_problem(
            server
                .post(
                    &anna.token,
                    &format!("/api/v1/deals/{id}/transitions"),
                    json!({"to": "lost", "fields": {"loss_reason": "bad_weather"}}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field_value",
        );
        assert_eq!(outside["field"], "fields.loss_reason");

        // Lost with a reason: fields and move in one change.
        let (status, moved) = server
        .post(
            &anna.token,
            &format!("/api/v1/deals/{id}/transitions"),
            json!({"to": "lost", "expected_version": 6, "fields": {"loss_reason": "no_budget"}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!(moved["version"], 8);
        let (_, card) = server
            .get(
                &anna.token,
                &format!("/api/v1/deals/{id}?min_position={}", moved["position"]),
            )
            .await;
        assert_eq!(card["stage"], "lost");
        assert_eq!(card["fields"]["loss_reason"], "no_budget");
    }
);

on_both_backends!(
    two_clients_moving_the_same_deal_at_the_same_version_one_gets_409,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let created = create_deal(&server, &anna.token, "Гонка").await;
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/deals/{id}/transitions");
        let (_, card) = server
            .get(&anna.token, &format!("/api/v1/deals/{id}"))
            .await;
        let seen = card["version"].as_u64().unwrap();
        let body =
            json!({"to": "lost", "expected_version": seen, "fields": {"loss_reason": "price"}});
        let other =
            json!({"to": "lost", "expected_version": seen, "fields": {"loss_reason": "no_need"}});
        let (first, second) = tokio::join!(
            server.post(&anna.token, &path, body),
            server.post(&anna.token, &path, other)
        );
        let mut statuses = [first.0, second.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{first:?} {second:?}"
        );
        let conflict = if first.0 == StatusCode::CONFLICT {
            first.1
        } else {
            second.1
        };
        assert_eq!(conflict["code"], "version_conflict");
        // The winner's two events (and perhaps its automation's reassignment).
        assert!(
            conflict["actual_version"].as_u64().unwrap() >= seen + 2,
            "{conflict}"
        );
        // A stale version on a data change is a 409 too.
        expect_problem(
            server
                .patch(
                    &anna.token,
                    &format!("/api/v1/deals/{id}"),
                    json!({"expected_version": seen, "title": "x"}),
                )
                .await,
            StatusCode::CONFLICT,
            "version_conflict",
        );
    }
);

on_both_backends!(who_sees_which_deal, |server: TestServer| async move {
    let anna = server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    let boris = server
        .user("boris", &[Role::Manager], server.sales_moscow)
        .await;
    let petr = server
        .user("petr", &[Role::Manager], server.sales_spb)
        .await;
    let head = server
        .user("olga", &[Role::HeadOfDepartment], server.sales_moscow)
        .await;
    let director = server
        .user("ivan", &[Role::Director], server.company_department)
        .await;
    let operator = server
        .user("oper", &[Role::Operator], server.company_department)
        .await;
    let annas = create_deal(&server, &anna.token, "Сделка Анны").await;
    let petrs = create_deal(&server, &petr.token, "Сделка Петра").await;
    let annas_path = format!("/api/v1/deals/{}", annas["id"].as_str().unwrap());
    let petrs_path = format!("/api/v1/deals/{}", petrs["id"].as_str().unwrap());

    let visible = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let position = petrs["position"].as_u64().unwrap();
    let list = format!("/api/v1/deals?min_position={position}");
    for (user, expected) in [
        (&anna.token, vec!["Сделка Анны"]),
        (&boris.token, vec![]),
        (&head.token, vec!["Сделка Анны"]),
        (&director.token, vec!["Сделка Петра", "Сделка Анны"]),
        (&operator.token, vec![]),
    ] {
        let (status, body) = server.get(user, &list).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(visible(&body), expected);
    }
    // Another department's deal by id is 404, as if it did not exist.
    expect_problem(
        server.get(&anna.token, &petrs_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_problem(
        server.get(&head.token, &petrs_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_problem(
        server.get(&boris.token, &annas_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        server.get(&director.token, &petrs_path).await.0,
        StatusCode::OK
    );
    // Stepping: the head may step a subtree deal; a colleague may not even see it.
    let lose = json!({"to": "lost", "fields": {"loss_reason": "other"}});
    expect_problem(
        server
            .post(
                &boris.token,
                &format!("{annas_path}/transitions"),
                lose.clone(),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        server
            .post(&head.token, &format!("{annas_path}/transitions"), lose)
            .await
            .0,
        StatusCode::OK
    );
    // A manager may not hand a new deal to someone outside their reach.
    expect_problem(
        server
            .post(
                &anna.token,
                "/api/v1/deals",
                json!({"process": "b2b-sale", "title": "x", "responsible": petr.id}),
            )
            .await,
        StatusCode::FORBIDDEN,
        "not_responsible",
    );
    // Operators keep contacts clean; they do not create deals.
    expect_problem(
        server
            .post(
                &operator.token,
                "/api/v1/deals",
                json!({"process": "b2b-sale", "title": "x"}),
            )
            .await,
        StatusCode::FORBIDDEN,
        "role_lacks_right",
    );
});

on_both_backends!(
    bad_input_is_a_clear_problem_and_writes_nothing,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let cases: Vec<Case> = vec![
        (StatusCode::BAD_REQUEST, "malformed_json", None, server.post_raw(&anna.token, "/api/v1/deals", "{\"process\": ").await),
        (StatusCode::BAD_REQUEST, "invalid_body", Some("title"), server.post(&anna.token, "/api/v1/deals", json!({"process": "b2b-sale", "title": 5})).await),
        (StatusCode::BAD_REQUEST, "invalid_body", Some("colour"), server.post(&anna.token, "/api/v1/deals", json!({"process": "b2b-sale", "title": "x", "colour": "red"})).await),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_process", Some("process"), server.post(&anna.token, "/api/v1/deals", json!({"process": "nope", "title": "x"})).await),
        (StatusCode::UNPROCESSABLE_ENTITY, "required", Some("title"), server.post(&anna.token, "/api/v1/deals", json!({"process": "b2b-sale", "title": "  "})).await),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_in_dictionary", Some("source"), server.post(&anna.token, "/api/v1/deals", json!({"process": "b2b-sale", "title": "x", "source": "telepathy"})).await),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", Some("amount.amount"), server.post(&anna.token, "/api/v1/deals", json!({"process": "b2b-sale", "title": "x", "amount": {"amount": "12.345"}})).await),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_field", Some("fields.colour"), server.post(&anna.token, "/api/v1/deals", json!({"process": "b2b-sale", "title": "x", "fields": {"colour": "red"}})).await),
        (StatusCode::UNPROCESSABLE_ENTITY, "company_unknown", Some("company"), server.post(&anna.token, "/api/v1/deals", json!({"process": "b2b-sale", "title": "x", "company": "0190a2f0-0000-7000-8000-000000000000"})).await),
        (StatusCode::BAD_REQUEST, "invalid_id", Some("id"), server.get(&anna.token, "/api/v1/deals/not-a-uuid").await),
        (StatusCode::NOT_FOUND, "not_found", None, server.get(&anna.token, "/api/v1/deals/0190a2f0-0000-7000-8000-000000000000").await),
        (StatusCode::BAD_REQUEST, "invalid_query", Some("limit"), server.get(&anna.token, "/api/v1/deals?limit=lots").await),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_out_of_range", Some("limit"), server.get(&anna.token, "/api/v1/deals?limit=100000").await),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor", Some("cursor"), server.get(&anna.token, "/api/v1/deals?cursor=abc").await),
        (StatusCode::UNAUTHORIZED, "token_invalid", None, server.get("vrk_0000", "/api/v1/deals").await),
    ];
        for (status, code, field, (actual, body)) in cases {
            assert_eq!(actual, status, "{code}: {body}");
            assert_eq!(body["code"], code, "{body}");
            if let Some(field) = field {
                assert_eq!(body["field"], field, "{body}");
            }
        }
        // A body over the limit is 413 problem+json.
        let huge = "x".repeat(300 * 1024);
        let (status, body) = server
            .post(
                &anna.token,
                "/api/v1/deals",
                json!({"process": "b2b-sale", "title": huge}),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["code"], "body_too_large");
        // None of it wrote a deal.
        let (_, list) = server.get(&anna.token, "/api/v1/deals").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
    }
);

on_both_backends!(
    an_idempotency_key_makes_a_retried_create_return_the_first_deal,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let send = || async {
            let response = server
                .client
                .post(format!("{}/api/v1/deals", server.base))
                .bearer_auth(&anna.token)
                .header("Idempotency-Key", "create-42")
                .json(&json!({"process": "b2b-sale", "title": "Один раз"}))
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        };
        let (first_status, first) = send().await;
        let (second_status, second) = send().await;
        assert_eq!(first_status, StatusCode::CREATED, "{first}");
        assert_eq!(second_status, StatusCode::CREATED, "{second}");
        assert_eq!(first["id"], second["id"]);
        assert_eq!(first["version"], second["version"]);
        let (_, list) = server
            .get(
                &anna.token,
                &format!("/api/v1/deals?min_position={}", first["position"]),
            )
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    }
);

on_both_backends!(
    the_openapi_document_and_the_integration_feed,
    |server: TestServer| async move {
        let response = server
            .client
            .get(format!("{}/api/v1/openapi.json", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let document: Value = response.json().await.unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3."));
        for path in [
            "/api/v1/deals",
            "/api/v1/deals/{id}/transitions",
            "/api/v1/auth/login",
            "/api/v1/events",
        ] {
            assert!(
                document["paths"].get(path).is_some(),
                "{path} missing from the OpenAPI document"
            );
        }
        assert!(document["components"]["schemas"].get("NewDeal").is_some());

        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let integrator = server
            .user("robot", &[Role::Integrator], server.company_department)
            .await;
        create_deal(&server, &anna.token, "Для интеграции").await;
        expect_problem(
            server.get(&anna.token, "/api/v1/events").await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        let (status, feed) = server
            .get(&integrator.token, "/api/v1/events?after=0&limit=1000")
            .await;
        assert_eq!(status, StatusCode::OK, "{feed}");
        let events = feed["events"].as_array().unwrap();
        assert!(events.iter().any(|e| e["type"] == "deal_started"));
        // Password and token hashes never leave through the feed.
        assert!(events
            .iter()
            .all(|e| !e["stream"].as_str().unwrap().starts_with("access-")));
        let next = feed["next_after"].as_u64().unwrap();
        let (_, rest) = server
            .get(&integrator.token, &format!("/api/v1/events?after={next}"))
            .await;
        assert_eq!(rest["events"].as_array().unwrap().len(), 0);
    }
);

on_both_backends!(
    automations_plan_tasks_and_reassign_through_the_same_commands,
    |server: TestServer| async move {
        let head = server
            .user("olga", &[Role::HeadOfDepartment], server.sales_moscow)
            .await;
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let created = create_deal(&server, &anna.token, "С автоматикой").await;
        let id = created["id"].as_str().unwrap().to_owned();
        // Entering `new` plans "call the new lead" for the responsible.
        let (status, tasks) = server
            .get(
                &anna.token,
                &format!(
                    "/api/v1/activities?deal={id}&min_position={}",
                    created["position"]
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tasks}");
        let items = tasks["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{tasks}");
        assert_eq!(items[0]["kind"], "call");
        assert_eq!(items[0]["subject"], "Позвонить новому лиду");
        assert_eq!(items[0]["responsible"], anna.id.to_string());
        assert_eq!(items[0]["status"], "planned");
        // The task is a fact the deal's process knows about.
        let (_, timeline) = server
            .get(&anna.token, &format!("/api/v1/deals/{id}/timeline"))
            .await;
        assert!(
            timeline["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["event_type"] == "activity_planned"),
            "{timeline}"
        );

        // Losing the deal hands it to the head of the department.
        let (status, lost) = server
            .post(
                &anna.token,
                &format!("/api/v1/deals/{id}/transitions"),
                json!({"to": "lost", "fields": {"loss_reason": "price"}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{lost}");
        let (_, card) = server
            .get(
                &head.token,
                &format!(
                    "/api/v1/deals/{id}?min_position={}",
                    lost["position"].as_u64().unwrap() + 1
                ),
            )
            .await;
        assert_eq!(card["responsible"], head.id.to_string(), "{card}");
        // And the former manager no longer sees it.
        expect_problem(
            server
                .get(&anna.token, &format!("/api/v1/deals/{id}"))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
);

on_both_backends!(
    a_designer_publishes_a_new_process_version_that_survives_a_restart,
    |server: TestServer| async move {
        let designer = server
            .user(
                "designer",
                &[Role::ProcessDesigner],
                server.company_department,
            )
            .await;
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let shipped = include_str!("../../../process-definitions/b2b-sale.yaml");
        let version_two = shipped
            .replace("version: 1", "version: 2")
            .replace("probability: 5", "probability: 7");
        expect_problem(
            server
                .post(
                    &anna.token,
                    "/api/v1/processes",
                    json!({"yaml": version_two}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        let invalid = expect_problem(
        server
            .post(&designer.token, "/api/v1/processes", json!({"source_name": "broken.yaml", "yaml": "process: x\nversion: 1\nstages:\n  - id: a\ntransitions:\n  - { from: a, to: [nowhere] }\n"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "definition_invalid",
    );
        let diagnostics = invalid["diagnostics"].as_array().unwrap();
        assert!(
            diagnostics
                .iter()
                .any(|d| d["line"].as_u64().unwrap() > 0 && d["file"] == "broken.yaml"),
            "{invalid}"
        );

        let (status, identity) = server
            .post(
                &designer.token,
                "/api/v1/processes",
                json!({"source_name": "b2b-sale.yaml", "yaml": version_two}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{identity}");
        assert_eq!(identity["version"], 2);
        // The same number with other content is refused: versions are immutable.
        let altered = version_two.replace("probability: 7", "probability: 8");
        expect_problem(
            server
                .post(
                    &designer.token,
                    "/api/v1/processes",
                    json!({"yaml": altered}),
                )
                .await,
            StatusCode::CONFLICT,
            "version_taken",
        );
        let created = create_deal(&server, &anna.token, "На второй версии").await;
        let (_, card) = server
            .get(
                &anna.token,
                &format!(
                    "/api/v1/deals/{}?min_position={}",
                    created["id"].as_str().unwrap(),
                    created["position"]
                ),
            )
            .await;
        assert_eq!(card["process_version"], 2, "{card}");
        // A restart reads version 2 back from the log.
        let reopened = voronka_app::deals::publications::open_registry(&server.store)
            .await
            .unwrap();
        assert_eq!(reopened.latest("b2b-sale").unwrap().identity.version, 2);
        assert!(reopened.version("b2b-sale", 1).is_some());
    }
);

on_both_backends!(
    unknown_routes_are_problems_and_requests_are_counted_by_route,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        expect_problem(
            server.get(&anna.token, "/api/v1/nothing-here").await,
            StatusCode::NOT_FOUND,
            "route_not_found",
        );
        create_deal(&server, &anna.token, "Для метрик").await;
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
            metrics.contains(
                r#"voronka_http_requests_total{method="POST",route="/api/v1/deals",status="201"} 1"#
            ),
            "{metrics}"
        );
        // Ids never become label values.
        assert!(!metrics.contains("nothing-here"));
    }
);
