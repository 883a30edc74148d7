//! The report pages over real HTTP: the funnel page shows the counts of
//! deals created through the API (and the old count as of a past moment),
//! refusals render as the page with the error box (422 for a reversed
//! period, 403 for another department's manager), plan-vs-fact and My day
//! show "2 of 10" with bars, the builder runs, refuses a bad value beside
//! its input, saves and shares a report whose script-like name shows as
//! text, and every CSV link answers text/csv.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::browser::{form, Browser};
use support::{TestServer, TestUser};
use voronka_core::Role;

/// Every test here is bounded.
const TEST_LIMIT: Duration = Duration::from_secs(120);

async fn create_deal(server: &TestServer, user: &TestUser, title: &str, rubles: &str) -> Value {
    let (status, body) = server
        .post(
            &user.token,
            "/api/v1/deals",
            json!({"process": "b2b-sale", "title": title, "amount": {"amount": rubles}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Waits until the report projections include `position` (the pages do
/// not wait; the API does with `min_position`).
async fn caught_up(server: &TestServer, position: u64) {
    let (status, body) = server
        .get(
            &server.admin,
            &format!("/api/v1/reports/funnel?min_position={position}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .get(
            &server.admin,
            &format!("/api/v1/reports/plan-vs-fact?min_position={position}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn position(written: &Value) -> u64 {
    written["position"].as_u64().expect("a position")
}

/// The `<tr data-stage=...>` row of the funnel table.
fn funnel_row<'a>(page: &'a str, stage: &str) -> &'a str {
    let start = page
        .find(&format!("<tr data-stage=\"{stage}\">"))
        .unwrap_or_else(|| panic!("no row for {stage}"));
    let end = page[start..].find("</tr>").expect("row end") + start;
    &page[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_draw_the_funnel_from_real_deals_and_answer_as_of_a_past_moment() {
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start(support::Backend::Sqlite).await;
        server
            .user("head", &[Role::HeadOfSales], server.sales_moscow)
            .await;
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let boris = server
            .user("boris", &[Role::Manager], server.sales_spb)
            .await;

        create_deal(&server, &anna, "Первая", "100000.00").await;
        // A moment between the first deal and the rest (the form takes
        // seconds; the viewer's zone is UTC without the tz cookie).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let between = chrono::Utc::now();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        create_deal(&server, &anna, "Вторая", "50000.00").await;
        let third = create_deal(&server, &anna, "Третья", "25000.00").await;
        let lost = server
            .post(
                &anna.token,
                &format!(
                    "/api/v1/deals/{}/transitions",
                    third["id"].as_str().unwrap()
                ),
                json!({"to": "lost", "fields": {"loss_reason": "price"}}),
            )
            .await;
        assert_eq!(lost.0, StatusCode::OK, "{}", lost.1);
        let spb = create_deal(&server, &boris, "Питер", "70000.00").await;
        caught_up(&server, position(&lost.1).max(position(&spb))).await;

        let mut browser = Browser::sign_in(&server, "head@e2e.test").await;
        let (status, page) = browser.get("/reports/funnel").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        // A bar per stage of the process, with the entered count.
        let stages = page.matches("<g class=\"stage\"").count();
        assert_eq!(stages, 9, "the nine stages of b2b-sale: {page}");
        assert!(
            page.contains("data-stage=\"new\" data-kind=\"open\" data-entered=\"3\""),
            "the head sees their department's three deals: {page}"
        );
        assert!(
            page.contains("<title"),
            "the chart has text for screen readers"
        );
        let new = funnel_row(&page, "new");
        assert!(new.contains("<td class=\"num entered\">3</td>"), "{new}");
        assert!(new.contains("<td class=\"num now\">2</td>"), "{new}");
        // Money in the Russian format.
        assert!(new.contains("150\u{a0}000,00\u{a0}₽"), "{new}");
        assert!(!page.contains("Питер"));
        // Losses per stage by reason, titled from the dictionary.
        assert!(page.contains("Цена — 1"), "{page}");
        // The pickers offer only what the head may see.
        assert!(page.contains(&format!("value=\"{}\"", anna.id)));
        assert!(!page.contains(&format!("value=\"{}\"", boris.id)));
        assert!(page.contains(&format!("value=\"{}\"", server.sales_moscow)));
        assert!(!page.contains(&format!("value=\"{}\"", server.sales_spb)));

        // As of the moment between the deals: one had entered.
        let as_of = between.format("%Y-%m-%dT%H:%M:%S").to_string();
        let (status, old) = browser
            .get(&format!("/reports/funnel?as_of={as_of}&process=&from="))
            .await;
        assert_eq!(status, StatusCode::OK, "{old}");
        let new_then = funnel_row(&old, "new");
        assert!(
            new_then.contains("<td class=\"num entered\">1</td>"),
            "{new_then}"
        );
        assert!(old.contains("data-entered=\"1\""));
        assert!(old.contains("По данным, записанным до"), "{old}");

        // A reversed period is the page with the error box, 422.
        let (status, reversed) = browser
            .get("/reports/funnel?from=2026-03-10&to=2026-03-01")
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reversed.contains("role=\"alert\""), "{reversed}");
        assert!(
            reversed.contains("период кончается раньше, чем начинается"),
            "{reversed}"
        );
        assert!(
            reversed.contains("value=\"2026-03-10\""),
            "the form keeps its values"
        );
        // A date that is not a date is named, 400; a future moment is a 422.
        let (status, malformed) = browser.get("/reports/funnel?from=10.03.2026").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(malformed.contains("С: не удалось разобрать"), "{malformed}");
        let (status, future) = browser.get("/reports/funnel?as_of=2999-01-01T00:00").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(future.contains("момент в будущем"), "{future}");

        // The CSV link answers the API's CSV.
        let csv_href = page
            .split("href=\"")
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .find(|href| href.contains("format=csv"))
            .expect("a CSV link")
            .replace("&amp;", "&");
        let response = browser.get_raw(&csv_href).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let body = response.text().await.unwrap();
        assert!(body.contains("stage,kind,entered,moved_on"), "{body}");
        assert!(body.contains("new,open,3,"), "{body}");

        // A manager asking for another department's manager: 403, shown
        // as the page with the reason.
        let mut anna_browser = Browser::sign_in(&server, "anna@e2e.test").await;
        let (status, refused) = anna_browser
            .get(&format!("/reports/funnel?manager={}", boris.id))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            refused.contains("Отчёты по чужим менеджерам вам недоступны."),
            "{refused}"
        );
        assert!(!refused.contains("Питер"));
        assert!(refused.contains("<form"), "the filter stays to try again");
        let (status, own) = anna_browser.get("/reports/funnel").await;
        assert_eq!(status, StatusCode::OK);
        assert!(own.contains("data-stage=\"new\" data-kind=\"open\" data-entered=\"3\""));
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_show_plan_against_fact_with_bars_on_the_report_and_on_my_day() {
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start(support::Backend::Sqlite).await;
        let head = server
            .user("head", &[Role::HeadOfSales], server.sales_moscow)
            .await;
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let start = chrono::Utc::now().date_naive().format("%Y-%m-01").to_string();
        let (status, plan) = server
            .send(
                reqwest::Method::PUT,
                Some(&head.token),
                "/api/v1/plans",
                Some(json!({"manager": anna.id.to_string(), "period": "month", "start": start,
                    "targets": {"calls_made": 10, "deals_won": 4}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{plan}");
        let mut last = position(&plan);
        for _ in 0..2 {
            let (status, call) = server
                .post(
                    &anna.token,
                    "/api/v1/activities",
                    json!({"status": "done", "kind": "call", "direction": "outgoing", "outcome": "reached"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{call}");
            last = last.max(position(&call));
        }
        caught_up(&server, last).await;

        let mut browser = Browser::sign_in(&server, "head@e2e.test").await;
        let (status, page) = browser.get("/reports/plans").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(&format!("data-id=\"{}\"", anna.id)), "{page}");
        assert!(
            page.contains("aria-label=\"Звонки: 2 из 10\""),
            "a bar read out as 2 of 10: {page}"
        );
        assert!(page.contains("data-share=\"20.0\""), "{page}");
        assert!(page.contains("20\u{a0}%"), "{page}");
        let (status, week) = browser.get("/reports/plans?period=week").await;
        assert_eq!(status, StatusCode::OK);
        assert!(week.contains("Период:"));
        let (status, bad) = browser.get("/reports/plans?period=year").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(bad.contains("role=\"alert\""));
        let response = browser.get_raw("/reports/plans?format=csv").await;
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let body = response.text().await.unwrap();
        assert!(
            body.contains(&format!("manager,{},calls_made,10,2,20,", anna.id)),
            "{body}"
        );

        // The other report pages answer with their data.
        for (path, marker) in [
            ("/reports/control", "id=\"forgotten\""),
            ("/reports/forecast", "<h1>Прогноз</h1>"),
            ("/reports/losses", "<h1>Потери</h1>"),
            ("/reports/rating", "id=\"rating-table\""),
            ("/reports", "id=\"saved-reports\""),
        ] {
            let (status, page) = browser.get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            assert!(page.contains(marker), "{path}: {page}");
        }
        let (status, refused) = browser
            .get("/reports/control?as_of=2026-01-01T00:00")
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused.contains("role=\"alert\""));

        // My day: the manager's counters, "2 of 10" with a bar.
        let mut anna_browser = Browser::sign_in(&server, "anna@e2e.test").await;
        let (status, day) = anna_browser.get("/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(day.contains("id=\"plan-counters\""), "{day}");
        assert!(day.contains("2 из 10"), "{day}");
        assert!(day.contains("0 из 4"), "{day}");
        assert!(day.contains("<svg class=\"bar\""), "{day}");
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_build_save_and_share_a_report_and_show_its_name_as_text() {
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start(support::Backend::Sqlite).await;
        server
            .user("head", &[Role::HeadOfSales], server.sales_moscow)
            .await;
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let ivan = server
            .user("ivan", &[Role::Manager], server.sales_moscow)
            .await;
        create_deal(&server, &anna, "Анна 1", "1000.00").await;
        create_deal(&server, &anna, "Анна 2", "2000.00").await;
        let last = create_deal(&server, &ivan, "Иван 1", "4000.00").await;
        caught_up(&server, position(&last)).await;

        let mut head = Browser::sign_in(&server, "head@e2e.test").await;
        let (status, empty) = head.get("/reports/builder").await;
        assert_eq!(status, StatusCode::OK);
        for label in [
            "for=\"b-source\"",
            "for=\"b-f0-field\"",
            "for=\"b-m0-fn\"",
            "for=\"b-name\"",
        ] {
            assert!(empty.contains(label), "{label}");
        }
        let spec = [
            ("source", "deals"),
            ("g0.field", "manager"),
            ("m0.fn", "count"),
            ("m1.fn", "sum"),
            ("m1.field", "amount"),
            ("sort", "sum_amount"),
            ("desc", "1"),
        ];
        let mut run = spec.to_vec();
        run.push(("action", "run"));
        let (status, result, _) = head.post("/reports/builder", &run, true).await;
        assert_eq!(status, StatusCode::OK, "{result}");
        assert!(result.contains("id=\"result-table\""), "{result}");
        // Users by name, money per locale, the biggest first.
        let (ivan_row, anna_row) = (
            result.find(">ivan<").unwrap(),
            result.find(">anna<").unwrap(),
        );
        assert!(ivan_row < anna_row, "sorted by sum, descending: {result}");
        assert!(result.contains("3\u{a0}000,00\u{a0}₽"), "{result}");

        // A value that does not fit its field: 422, the message beside it.
        let mut bad = spec.to_vec();
        bad.extend([
            ("f1.field", "amount"),
            ("f1.op", "gte"),
            ("f1.value", "много"),
            ("action", "run"),
        ]);
        let (status, refused, _) = head.post("/reports/builder", &bad, true).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused.contains("id=\"f1-error\""), "{refused}");
        assert!(
            refused.contains("aria-describedby=\"f1-error\""),
            "{refused}"
        );
        assert!(
            refused.contains("value=\"много\""),
            "the form keeps the value"
        );

        // CSV of the builder's result.
        let mut csv = spec.to_vec();
        csv.push(("action", "csv"));
        let token = head.csrf.clone();
        csv.push(("_csrf", &token));
        let response = head
            .client
            .post(format!("{}/reports/builder", head.base))
            .header("cookie", head.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&csv))
            .send()
            .await
            .unwrap();
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("manager,count,sum_amount"));

        // Saved under a script-like name, shared with managers.
        let name = "<script>alert(1)</script> по менеджерам";
        let mut save = spec.to_vec();
        save.extend([("name", name), ("share.manager", "1"), ("action", "save")]);
        let (status, body, location) = head.post("/reports/builder", &save, true).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        let saved_path = location.expect("the saved report");
        assert!(saved_path.starts_with("/reports/saved/"));
        let (status, saved) = head.get(&saved_path).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert!(saved.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!saved.contains("<script>alert(1)"));
        let (_, index) = head.get("/reports").await;
        assert!(
            index.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{index}"
        );
        assert!(!index.contains("<script>alert(1)"));
        // The same name again is refused beside the name input.
        let (status, again, _) = head.post("/reports/builder", &save, true).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{again}");
        assert!(again.contains("id=\"name-error\""), "{again}");

        // A manager it is shared with sees it, run within *her* reach.
        let mut anna_browser = Browser::sign_in(&server, "anna@e2e.test").await;
        let (_, index) = anna_browser.get("/reports").await;
        assert!(index.contains(&saved_path), "{index}");
        let (status, hers) = anna_browser.get(&saved_path).await;
        assert_eq!(status, StatusCode::OK, "{hers}");
        assert!(
            hers.contains(">anna<") && !hers.contains(">ivan<"),
            "{hers}"
        );
        let response = anna_browser
            .get_raw(&format!("{saved_path}?format=csv"))
            .await;
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        // A manager may not save reports: the builder says why.
        anna_browser.get("/reports/builder").await;
        let mut own = spec.to_vec();
        own.extend([("name", "Мой отчёт"), ("action", "save")]);
        let (status, refused, _) = anna_browser.post("/reports/builder", &own, true).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        assert!(
            refused.contains("Ваша роль не может сохранять отчёты."),
            "{refused}"
        );
        // Without the CSRF token nothing is saved.
        let (status, _, _) = head.post("/reports/builder", &save, false).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    })
    .await
    .expect("the test finished in time");
}
