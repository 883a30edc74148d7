//! The report builder and saved reports over real HTTP on both backends:
//! specs over deals made through the API, the caller's visibility AND-ed
//! in, 422 naming the spec path, injection attempts that change nothing,
//! CSV, and saved reports shared by role.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer};
use voronka_core::Role;

#[track_caller]
fn expect(answer: (StatusCode, Value), status: StatusCode) -> Value {
    assert_eq!(answer.0, status, "{}", answer.1);
    answer.1
}

async fn deal(server: &TestServer, token: &str, amount: &str) -> u64 {
    let written = expect(
        server
            .post(
                token,
                "/api/v1/deals",
                json!({"process": "b2b-sale", "title": "Сделка", "amount": {"amount": amount},
                       "source": "website"}),
            )
            .await,
        StatusCode::CREATED,
    );
    written["position"].as_u64().expect("position")
}

/// Rows of a result keyed by their first column.
fn by_first(result: &Value) -> Vec<(Value, Vec<Value>)> {
    let mut rows: Vec<(Value, Vec<Value>)> = result["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let r = r.as_array().unwrap();
            (r[0].clone(), r[1..].to_vec())
        })
        .collect();
    rows.sort_by_key(|(k, _)| k.to_string());
    rows
}

on_both_backends!(report_builder_over_http, |server: TestServer| async move {
    tokio::time::timeout(std::time::Duration::from_secs(120), async {
        let anna = server.user("anna", &[Role::Manager], server.sales_moscow).await;
        let boris = server.user("boris", &[Role::Manager], server.sales_spb).await;
        let head = server.user("head", &[Role::HeadOfSales], server.sales_moscow).await;
        let analyst = server.user("analyst", &[Role::Analyst], server.company_department).await;
        deal(&server, &anna.token, "1000.00").await;
        deal(&server, &anna.token, "2500.50").await;
        let last = deal(&server, &boris.token, "700.00").await;
        let (anna_id, boris_id) = (anna.id.to_string(), boris.id.to_string());

        let by_manager = json!({"source": "deals",
            "filters": [{"field": "process", "op": "eq", "value": "b2b-sale"}],
            "group_by": [{"field": "manager"}],
            "measures": [{"fn": "count"}, {"fn": "sum", "field": "amount"}]});
        let query = format!("/api/v1/reports/query?min_position={last}");

        // Everyone's deals for the administrator.
        let all = expect(
            server.post(&server.admin, &query, by_manager.clone()).await,
            StatusCode::OK,
        );
        assert_eq!(
            all["columns"],
            json!([{"name": "manager", "kind": "user"}, {"name": "count", "kind": "integer"},
                   {"name": "sum_amount", "kind": "money"}])
        );
        let mut expected = vec![
            (json!(anna_id), vec![json!(2), json!(350_050)]),
            (json!(boris_id), vec![json!(1), json!(70_000)]),
        ];
        expected.sort_by_key(|(k, _)| k.to_string());
        assert_eq!(by_first(&all), expected);

        // Visibility: a manager sees their own, a head their department.
        for token in [&anna.token, &head.token] {
            let mine = expect(server.post(token, &query, by_manager.clone()).await, StatusCode::OK);
            assert_eq!(
                by_first(&mine),
                vec![(json!(anna_id), vec![json!(2), json!(350_050)])]
            );
        }
        // A department filter (subtree) as the analyst.
        let spb = expect(
            server
                .post(
                    &analyst.token,
                    &query,
                    json!({"source": "deals", "filters": [{"field": "department", "op": "eq",
                        "value": server.sales_spb.to_string()}],
                        "group_by": [{"field": "department"}]}),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(spb["rows"], json!([[server.sales_spb.to_string(), 1]]));

        // Bad specs: 422 naming the path; malformed JSON: 400.
        let problem = expect_problem(
            server
                .post(
                    &server.admin,
                    &query,
                    json!({"source": "deals", "filters": [
                        {"field": "stage", "op": "eq", "value": "new"},
                        {"field": "salary", "op": "eq", "value": 1}]}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
        );
        assert_eq!(problem["field"], "filters[1].field");
        for (spec, field, code) in [
            (json!({"source": "deals", "limit": 100000}), "limit", "bad_limit"),
            (json!({"source": "leads"}), "source", "unknown_source"),
            (
                json!({"source": "deals", "filters": [{"field": "amount", "op": "gt", "value": "lots"}]}),
                "filters[0].value",
                "wrong_type",
            ),
            (
                json!({"source": "deals", "measures": [{"fn": "avg", "field": "stage"}]}),
                "measures[0].field",
                "not_numeric",
            ),
        ] {
            let problem = expect_problem(
                server.post(&server.admin, &query, spec).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
            );
            assert_eq!(problem["field"], field);
        }
        let problem = expect_problem(
            server
                .post(&server.admin, &query, json!({"source": "deals", "colour": "red"}))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        );
        assert!(problem["detail"].as_str().unwrap().contains("colour"), "{problem}");
        let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        let problem = expect_problem(
            server
                .client
                .post(format!("{}/api/v1/reports/query", server.base))
                .query(&[("as_of", future)])
                .bearer_auth(&server.admin)
                .json(&json!({"source": "deals"}))
                .send()
                .await
                .map(|r| (r.status(), r))
                .expect("request")
                .into_json()
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "as_of_in_future",
        );
        assert_eq!(problem["field"], "as_of");

        // Injection attempts: a name is refused, a value is only bound.
        let evil = "x'); DROP TABLE rm_deals; --";
        expect_problem(
            server
                .post(&server.admin, &query, json!({"source": "deals", "group_by": [{"field": evil}]}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
        );
        let none = expect(
            server
                .post(
                    &server.admin,
                    &query,
                    json!({"source": "deals", "filters": [{"field": "stage", "op": "eq", "value": evil}]}),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(none["rows"], json!([[0]]));
        let count = expect(
            server.post(&server.admin, &query, json!({"source": "deals"})).await,
            StatusCode::OK,
        );
        assert_eq!(count["rows"], json!([[3]]), "the deals are all still there");

        // CSV.
        let response = server
            .client
            .post(format!("{}{query}", server.base))
            .bearer_auth(&server.admin)
            .header("accept", "text/csv")
            .json(&json!({"source": "deals", "group_by": [{"field": "source"}],
                "measures": [{"fn": "count", "as": "=deals"}]}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let csv = response.text().await.unwrap();
        assert_eq!(csv, "\u{feff}source,\"'=deals\"\r\nwebsite,3\r\n");

        // Saving: managers may not; an analyst shares one with heads.
        let saved_spec = json!({"name": "Deals by manager", "spec": by_manager,
            "shared_with": ["head_of_sales"]});
        expect_problem(
            server.post(&anna.token, "/api/v1/reports/saved", saved_spec.clone()).await,
            StatusCode::FORBIDDEN,
            "role_cannot_save_reports",
        );
        let problem = expect_problem(
            server
                .post(
                    &analyst.token,
                    "/api/v1/reports/saved",
                    json!({"name": "Bad", "spec": {"source": "deals", "group_by": [{"field": "nope"}]}}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
        );
        assert_eq!(problem["field"], "spec.group_by[0].field");
        expect_problem(
            server
                .post(
                    &analyst.token,
                    "/api/v1/reports/saved",
                    json!({"name": "Roles", "spec": {"source": "deals"}, "shared_with": ["king"]}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_role",
        );
        let created = expect(
            server.post(&analyst.token, "/api/v1/reports/saved", saved_spec.clone()).await,
            StatusCode::CREATED,
        );
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["report"]["name"], "Deals by manager");
        expect_problem(
            server.post(&analyst.token, "/api/v1/reports/saved", saved_spec).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "name_taken",
        );

        // Who sees it: the owner, heads of sales, administrators.
        let names = |list: &Value| -> Vec<String> {
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect()
        };
        for token in [&analyst.token, &head.token, &server.admin] {
            let list = expect(server.get(token, "/api/v1/reports/saved").await, StatusCode::OK);
            assert_eq!(names(&list), vec![id.clone()]);
        }
        let list = expect(server.get(&boris.token, "/api/v1/reports/saved").await, StatusCode::OK);
        assert!(names(&list).is_empty());
        let path = format!("/api/v1/reports/saved/{id}");
        expect_problem(server.get(&boris.token, &path).await, StatusCode::NOT_FOUND, "not_found");
        let read = expect(server.get(&head.token, &path).await, StatusCode::OK);
        assert_eq!(read["shared_with"], json!(["head_of_sales"]));

        // Running it applies the runner's reach, not the owner's.
        let run = expect(server.get(&head.token, &format!("{path}/run")).await, StatusCode::OK);
        assert_eq!(
            by_first(&run["result"]),
            vec![(json!(anna_id), vec![json!(2), json!(350_050)])]
        );
        let run = expect(server.get(&analyst.token, &format!("{path}/run")).await, StatusCode::OK);
        assert_eq!(run["result"]["rows"].as_array().unwrap().len(), 2);
        expect_problem(
            server.get(&boris.token, &format!("{path}/run")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );

        // Only the owner (or an administrator) deletes.
        expect_problem(
            server.send(reqwest::Method::DELETE, Some(&head.token), &path, None).await,
            StatusCode::FORBIDDEN,
            "not_report_owner",
        );
        expect(
            server.send(reqwest::Method::DELETE, Some(&analyst.token), &path, None).await,
            StatusCode::OK,
        );
        expect_problem(server.get(&head.token, &path).await, StatusCode::NOT_FOUND, "not_found");
        expect_problem(
            server.send(reqwest::Method::DELETE, Some(&analyst.token), &path, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        expect_problem(
            server.get(&head.token, "/api/v1/reports/saved/not-a-uuid").await,
            StatusCode::BAD_REQUEST,
            "invalid_id",
        );

        // The routes are documented.
        let (status, document) = server
            .send(reqwest::Method::GET, None, "/api/v1/openapi.json", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        for route in [
            "/api/v1/reports/query",
            "/api/v1/reports/saved",
            "/api/v1/reports/saved/{id}",
            "/api/v1/reports/saved/{id}/run",
        ] {
            assert!(document["paths"][route].is_object(), "{route} undocumented");
        }
        for schema in ["ReportSpec", "ReportTable", "SavedReport", "NewSavedReport"] {
            assert!(
                document["components"]["schemas"][schema].is_object(),
                "{schema} undocumented"
            );
        }
    })
    .await
    .expect("bounded");
});

trait IntoJson {
    async fn into_json(self) -> (StatusCode, Value);
}

impl IntoJson for (StatusCode, reqwest::Response) {
    async fn into_json(self) -> (StatusCode, Value) {
        let text = self.1.text().await.expect("body");
        (
            self.0,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}
