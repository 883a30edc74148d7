//! Plans and the work reports over real HTTP on both backends: who may set
//! plans, "3 of 10" counters after real commands, plan-vs-fact visibility
//! (a manager sees only their own, a head their department), control,
//! rating weights, forecast, losses, CSV and bad input.

mod support;

use chrono::{Datelike, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer};
use voronka_core::Role;

#[track_caller]
fn expect(answer: (StatusCode, Value), status: StatusCode) -> Value {
    assert_eq!(answer.0, status, "{}", answer.1);
    answer.1
}

async fn put(server: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    server
        .send(
            reqwest::Method::PUT,
            Some(token),
            "/api/v1/plans",
            Some(body),
        )
        .await
}

fn month_start() -> String {
    Utc::now().date_naive().with_day(1).unwrap().to_string()
}

async fn log_call(server: &TestServer, token: &str, outcome: &str) -> u64 {
    let written = expect(
        server
            .post(
                token,
                "/api/v1/activities",
                json!({"status": "done", "kind": "call", "direction": "outgoing", "outcome": outcome}),
            )
            .await,
        StatusCode::CREATED,
    );
    written["position"].as_u64().expect("position")
}

fn ids(report: &Value) -> Vec<String> {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

fn line<'a>(report: &'a Value, id: &str, metric: &str) -> Option<&'a Value> {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id && l["metric"] == metric)
}

on_both_backends!(plans_and_work_reports, |server: TestServer| async move {
    tokio::time::timeout(std::time::Duration::from_secs(120), async {
        let head = server.user("head", &[Role::HeadOfSales], server.sales_moscow).await;
        let anna = server.user("anna", &[Role::Manager], server.sales_moscow).await;
        let boris = server.user("boris", &[Role::Manager], server.sales_spb).await;
        let start = month_start();
        let anna_id = anna.id.to_string();
        let boris_id = boris.id.to_string();
        let moscow = server.sales_moscow.to_string();

        // Who may set plans.
        let plan = |who: Value, targets: Value| {
            let mut body = json!({"period": "month", "start": start, "targets": targets});
            body.as_object_mut().unwrap().extend(who.as_object().unwrap().clone());
            body
        };
        expect_problem(
            put(&server, &anna.token, plan(json!({"manager": anna_id}), json!({"calls_made": 1}))).await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        let refused = put(&server, &head.token, plan(json!({"manager": boris_id}), json!({"calls_made": 1}))).await;
        assert_eq!(refused.0, StatusCode::FORBIDDEN, "{}", refused.1);
        let refused = put(&server, &head.token, plan(json!({"department": server.sales_spb.to_string()}), json!({"calls_made": 1}))).await;
        assert_eq!(refused.0, StatusCode::FORBIDDEN, "{}", refused.1);
        let set = expect(
            put(&server, &head.token, plan(json!({"manager": anna_id}), json!({"calls_made": 10, "calls_reached": 4}))).await,
            StatusCode::OK,
        );
        assert_eq!(set["targets"]["calls_made"], 10);
        expect(
            put(&server, &server.admin, plan(json!({"department": moscow}), json!({"calls_made": 30}))).await,
            StatusCode::OK,
        );
        expect(
            put(&server, &server.admin, plan(json!({"manager": boris_id}), json!({"calls_made": 5}))).await,
            StatusCode::OK,
        );
        // Bad input names the field.
        let bad = expect_problem(
            put(&server, &server.admin, plan(json!({"manager": anna_id}), json!({"calls": 1}))).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_metric",
        );
        assert_eq!(bad["field"], "targets.calls");
        let mut unaligned = plan(json!({"manager": anna_id}), json!({"calls_made": 1}));
        unaligned["start"] = json!(format!("{}-02", &start[..7]));
        expect_problem(put(&server, &server.admin, unaligned).await, StatusCode::UNPROCESSABLE_ENTITY, "period_not_aligned");
        expect_problem(
            put(&server, &server.admin, json!({"period": "month", "start": start, "targets": {"calls_made": 1}})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "scope_required",
        );
        let malformed = put(&server, &server.admin, json!({"manager": anna_id, "period": "year", "start": start, "targets": {}})).await;
        assert_eq!(malformed.0, StatusCode::BAD_REQUEST, "{}", malformed.1);

        // Real commands: anna makes three calls (two reach), boris one.
        log_call(&server, &anna.token, "reached").await;
        log_call(&server, &anna.token, "no_answer").await;
        log_call(&server, &anna.token, "reached").await;
        let last = log_call(&server, &boris.token, "reached").await;

        let counters = expect(
            server.get(&anna.token, &format!("/api/v1/reports/my-counters?min_position={last}")).await,
            StatusCode::OK,
        );
        let calls = counters["counters"].as_array().unwrap().iter().find(|c| c["metric"] == "calls_made").unwrap();
        assert_eq!(calls["text"], "3 of 10", "{counters}");
        assert_eq!(calls["today"], 3);
        let reached = counters["counters"].as_array().unwrap().iter().find(|c| c["metric"] == "calls_reached").unwrap();
        assert_eq!(reached["text"], "2 of 4");

        // A manager sees only their own lines.
        let own = expect(server.get(&anna.token, &format!("/api/v1/reports/plan-vs-fact?min_position={last}")).await, StatusCode::OK);
        assert!(!ids(&own).is_empty());
        assert!(ids(&own).iter().all(|id| *id == anna_id), "{own}");
        assert_eq!(line(&own, &anna_id, "calls_made").unwrap()["percent"], 30.0);
        expect_problem(
            server.get(&anna.token, &format!("/api/v1/reports/plan-vs-fact?manager={boris_id}")).await,
            StatusCode::FORBIDDEN,
            "not_responsible",
        );
        // The head: their department's people and the department's plan.
        let dept = expect(server.get(&head.token, &format!("/api/v1/reports/plan-vs-fact?min_position={last}")).await, StatusCode::OK);
        assert!(!ids(&dept).contains(&boris_id), "{dept}");
        assert_eq!(line(&dept, &moscow, "calls_made").unwrap()["fact"], 3, "{dept}");
        // The administrator: everyone; GET /plans answers the same.
        let all = expect(server.get(&server.admin, &format!("/api/v1/plans?min_position={last}")).await, StatusCode::OK);
        assert_eq!(line(&all, &boris_id, "calls_made").unwrap()["fact"], 1, "{all}");
        assert_eq!(line(&all, &anna_id, "calls_made").unwrap()["fact"], 3);

        // As of a moment before the calls: nothing done yet, plans as then.
        let before_calls = (Utc::now() - Duration::milliseconds(1)).to_rfc3339();
        let _ = before_calls;
        let early = expect_problem(
            server.get(&server.admin, "/api/v1/reports/plan-vs-fact?as_of=2000-01-01T00:00:00Z").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "as_of_before_history",
        );
        assert_eq!(early["field"], "as_of");

        // CSV.
        let csv = server
            .client
            .get(format!("{}/api/v1/reports/plan-vs-fact", server.base))
            .bearer_auth(&anna.token)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), StatusCode::OK);
        let text = csv.text().await.unwrap();
        assert!(text.starts_with("\u{feff}scope,id,metric,plan,fact,percent,forecast\r\n"), "{text}");
        assert!(text.contains(&format!("manager,{anna_id},calls_made,10,3,30,")), "{text}");

        // Control: an overdue task of anna's, seen by anna and her head, not boris.
        let before_task = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
        let task = expect(
            server.post(&anna.token, "/api/v1/activities", json!({"kind": "task", "subject": "Перезвонить", "due_at": yesterday})).await,
            StatusCode::CREATED,
        );
        let position = task["position"].as_u64().unwrap();
        let control = expect(server.get(&anna.token, &format!("/api/v1/reports/control?min_position={position}")).await, StatusCode::OK);
        assert_eq!(control["overdue"]["total"], 1, "{control}");
        assert_eq!(control["overdue"]["items"][0]["subject"], "Перезвонить");
        let control = expect(server.get(&head.token, &format!("/api/v1/reports/control?min_position={position}&capacity=0")).await, StatusCode::OK);
        assert_eq!(control["overdue"]["total"], 1);
        let control = expect(server.get(&boris.token, &format!("/api/v1/reports/control?min_position={position}")).await, StatusCode::OK);
        assert_eq!(control["overdue"]["total"], 0);
        // As of a moment before the task it was not there; as of now it is.
        let then = expect(
            server.get(&anna.token, &format!("/api/v1/reports/control?as_of={before_task}&min_position={position}")).await,
            StatusCode::OK,
        );
        assert_eq!(then["overdue"]["total"], 0, "{then}");
        let after_task = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let later = expect(
            server.get(&anna.token, &format!("/api/v1/reports/control?as_of={after_task}")).await,
            StatusCode::OK,
        );
        assert_eq!(later["overdue"]["total"], 1, "{later}");
        assert_eq!(later["overdue"]["items"][0]["subject"], "Перезвонить");
        expect_problem(
            server.get(&anna.token, "/api/v1/reports/control?as_of=2000-01-01T00:00:00Z").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "as_of_before_history",
        );
        expect_problem(
            server.get(&anna.token, "/api/v1/reports/control?idle_days=-1").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
        );

        // Rating: weights are checked; anna (30 % of plan) ranks by them.
        expect_problem(
            server.get(&head.token, "/api/v1/reports/rating?plan_weight=0&conversion_weight=0").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "weights_invalid",
        );
        let rating = expect(server.get(&head.token, &format!("/api/v1/reports/rating?plan_weight=1&conversion_weight=0&min_position={last}")).await, StatusCode::OK);
        let anna_line = rating["managers"].as_array().unwrap().iter().find(|m| m["manager"] == anna_id.as_str()).unwrap();
        // calls_made 3/10 and calls_reached 2/4: (0.3 + 0.5) / 2.
        assert_eq!(anna_line["fulfilment"], 0.4, "{rating}");
        assert!(rating["managers"].as_array().unwrap().iter().all(|m| m["manager"] != boris_id.as_str()));

        // Forecast and losses answer (no deals yet: empty), and refuse what they cannot do.
        let forecast = expect(server.get(&head.token, "/api/v1/reports/forecast").await, StatusCode::OK);
        assert_eq!(forecast["process"], "b2b-sale");
        expect_problem(
            server.get(&head.token, "/api/v1/reports/forecast?process=nope").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_process",
        );
        let losses = expect(server.get(&head.token, "/api/v1/reports/losses").await, StatusCode::OK);
        assert_eq!(losses["approximate"], false);
        // Both answer as of a past moment too, exactly.
        let forecast = expect(server.get(&head.token, &format!("/api/v1/reports/forecast?as_of={after_task}")).await, StatusCode::OK);
        assert_eq!(forecast["months"], json!([]), "{forecast}");
        let losses = expect(server.get(&head.token, &format!("/api/v1/reports/losses?as_of={after_task}")).await, StatusCode::OK);
        assert_eq!(losses["approximate"], false);
        assert!(losses["as_of"].as_str().is_some(), "{losses}");
        let _ = (month_start(), start);
    })
    .await
    .expect("bounded");
});
