//! The funnel over HTTP on both backends: read-your-writes through
//! `min_position`, visibility (a manager sees only their own deals, a head
//! their department, an analyst everything), filters outside the caller's
//! reach refused, CSV, and bad parameters answered with a clear 4xx.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer};
use voronka_core::Role;

async fn create_deal(server: &TestServer, token: &str, title: &str, rubles: &str) -> Value {
    let (status, body) = server
        .post(
            token,
            "/api/v1/deals",
            json!({"process": "b2b-sale", "title": title, "amount": {"amount": rubles}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn stage<'a>(funnel: &'a Value, name: &str) -> &'a Value {
    funnel["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {funnel}"))
}

on_both_backends!(
    the_funnel_follows_commands_and_obeys_visibility,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let boris = server
            .user("boris", &[Role::Manager], server.sales_spb)
            .await;
        let head = server
            .user("head", &[Role::HeadOfSales], server.sales_moscow)
            .await;
        let analyst = server
            .user("analyst", &[Role::Analyst], server.company_department)
            .await;
        let operator = server
            .user("operator", &[Role::Operator], server.company_department)
            .await;

        create_deal(&server, &anna.token, "Первая", "100000.00").await;
        let second = create_deal(&server, &anna.token, "Вторая", "50000.50").await;
        let lost = server
            .post(
                &anna.token,
                &format!(
                    "/api/v1/deals/{}/transitions",
                    second["id"].as_str().unwrap()
                ),
                json!({"to": "lost", "fields": {"loss_reason": "price"}}),
            )
            .await;
        assert_eq!(lost.0, StatusCode::OK, "{}", lost.1);
        let last = create_deal(&server, &boris.token, "Питер", "70000.00").await;
        let position = last["position"]
            .as_u64()
            .unwrap()
            .max(lost.1["position"].as_u64().unwrap());

        // Read-your-writes: answered once the projection has the position.
        let (status, all) = server
            .get(
                &analyst.token,
                &format!("/api/v1/reports/funnel?min_position={position}"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert_eq!(all["process"], "b2b-sale");
        assert_eq!(stage(&all, "new")["entered"], 3, "{all}");
        assert_eq!(stage(&all, "new")["now"], 2);
        assert_eq!(stage(&all, "new")["now_amount_minor"], 17_000_000);
        assert_eq!(stage(&all, "new")["lost"], 1);
        assert_eq!(stage(&all, "lost")["now"], 1);
        assert_eq!(stage(&all, "new")["lost_reasons"][0]["reason"], "price");
        assert_eq!(stage(&all, "lost")["kind"], "lost");
        assert_eq!(stage(&all, "won")["kind"], "won");

        // A manager sees their own deals only; a head their department.
        let (_, mine) = server.get(&boris.token, "/api/v1/reports/funnel").await;
        assert_eq!(stage(&mine, "new")["entered"], 1, "{mine}");
        assert_eq!(stage(&mine, "new")["now_amount_minor"], 7_000_000);
        let (_, moscow) = server.get(&head.token, "/api/v1/reports/funnel").await;
        assert_eq!(stage(&moscow, "new")["entered"], 2, "{moscow}");
        let (_, narrowed) = server
            .get(
                &analyst.token,
                &format!("/api/v1/reports/funnel?manager={}", anna.id),
            )
            .await;
        assert_eq!(stage(&narrowed, "new")["entered"], 2, "{narrowed}");
        let (_, by_department) = server
            .get(
                &analyst.token,
                &format!("/api/v1/reports/funnel?department={}", server.sales_spb),
            )
            .await;
        assert_eq!(
            stage(&by_department, "new")["entered"],
            1,
            "{by_department}"
        );

        // Reaching past one's rights is refused, not answered with zeros.
        expect_problem(
            server
                .get(
                    &anna.token,
                    &format!("/api/v1/reports/funnel?manager={}", boris.id),
                )
                .await,
            StatusCode::FORBIDDEN,
            "not_responsible",
        );
        expect_problem(
            server
                .get(
                    &head.token,
                    &format!("/api/v1/reports/funnel?department={}", server.sales_spb),
                )
                .await,
            StatusCode::FORBIDDEN,
            "outside_department",
        );
        expect_problem(
            server.get(&operator.token, "/api/v1/reports/funnel").await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );

        // CSV on request.
        let response = server
            .client
            .get(format!("{}/api/v1/reports/funnel", server.base))
            .bearer_auth(&analyst.token)
            .header("Accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let text = response.text().await.unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap().trim_start_matches('\u{feff}'),
            "stage,kind,entered,moved_on,lost,conversion,average_seconds,median_seconds,now,now_amount"
        );
        assert_eq!(
            lines.next().unwrap(),
            "new,open,3,0,1,0.0000,0,0,2,170000.00"
        );

        // As of a moment before anything: refused; as of now: the same.
        let now = chrono::Utc::now();
        let (status, at_now) = server
            .get(
                &analyst.token,
                &format!(
                    "/api/v1/reports/funnel?as_of={}",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                        .replace('+', "%2B")
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{at_now}");
        assert_eq!(at_now["stages"], all["stages"]);
    }
);

on_both_backends!(
    bad_report_parameters_are_clear_4xx,
    |server: TestServer| async move {
        let admin = server.admin.clone();
        let cases: &[(&str, StatusCode, &str, Option<&str>)] = &[
            (
                "as_of=yesterday",
                StatusCode::BAD_REQUEST,
                "invalid_query",
                Some("as_of"),
            ),
            (
                "as_of=2999-01-01T00:00:00Z",
                StatusCode::UNPROCESSABLE_ENTITY,
                "as_of_in_future",
                Some("as_of"),
            ),
            (
                "as_of=2001-01-01T00:00:00Z",
                StatusCode::UNPROCESSABLE_ENTITY,
                "as_of_before_history",
                Some("as_of"),
            ),
            (
                "from=2026-05-01&to=2026-04-01",
                StatusCode::UNPROCESSABLE_ENTITY,
                "period_reversed",
                Some("to"),
            ),
            (
                "from=2000-01-01&to=2026-04-01",
                StatusCode::UNPROCESSABLE_ENTITY,
                "period_too_long",
                Some("to"),
            ),
            (
                "from=2026-13-01",
                StatusCode::BAD_REQUEST,
                "invalid_query",
                Some("from"),
            ),
            (
                "process=nope",
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_process",
                Some("process"),
            ),
            (
                "manager=not-a-uuid",
                StatusCode::BAD_REQUEST,
                "invalid_query",
                Some("manager"),
            ),
            (
                "manager=0193a1b2-0000-7000-8000-000000000000",
                StatusCode::UNPROCESSABLE_ENTITY,
                "user_unknown",
                Some("manager"),
            ),
            (
                "department=0193a1b2-0000-7000-8000-000000000000",
                StatusCode::UNPROCESSABLE_ENTITY,
                "department_unknown",
                Some("department"),
            ),
            (
                "min_position=-1",
                StatusCode::BAD_REQUEST,
                "invalid_query",
                Some("min_position"),
            ),
            (
                "min_position=999999999",
                StatusCode::SERVICE_UNAVAILABLE,
                "reports_behind",
                None,
            ),
        ];
        for (query, status, code, field) in cases {
            let answer = server
                .get(&admin, &format!("/api/v1/reports/funnel?{query}"))
                .await;
            let problem = expect_problem(answer, *status, code);
            if let Some(field) = field {
                assert_eq!(problem["field"], *field, "{query}: {problem}");
            }
        }
        let (status, _) = server
            .send(reqwest::Method::GET, None, "/api/v1/reports/funnel", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
);
