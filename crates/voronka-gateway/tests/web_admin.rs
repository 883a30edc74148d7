//! The process designer and the administration pages over real HTTP: a
//! broken draft comes back with `line:column` problems beside the kept
//! text; a valid one with its SVG diagram and the deals of the real history
//! it would have blocked; publishing makes a new version the API shows; a
//! stale editor gets a 409; managers get 403; a user added through the form
//! signs in; names are shown as text.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::browser::Browser;
use support::{Backend, TestServer, PASSWORD};
use voronka_core::Role;

const LEAD_QUALIFICATION: &str =
    include_str!("../../../process-definitions/lead-qualification.yaml");

/// Version 2 of lead qualification: a rejected lead must name its channel.
fn stricter_draft() -> String {
    LEAD_QUALIFICATION
        .replace("version: 1", "version: 2")
        .replace(
            "      fields: [rejection_reason]\n",
            "      fields: [rejection_reason, channel]\n",
        )
}

/// A lead rejected as spam over the API, with or without its channel.
async fn rejected_lead(server: &TestServer, title: &str, channel: Option<&str>) -> String {
    let mut fields = json!({});
    if let Some(channel) = channel {
        fields["channel"] = json!(channel);
    }
    let (status, created) = server
        .post(
            &server.admin,
            "/api/v1/deals",
            json!({"process": "lead-qualification", "title": title, "fields": fields}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, moved) = server
        .post(
            &server.admin,
            &format!("/api/v1/deals/{id}/transitions"),
            json!({"to": "rejected", "fields": {"rejection_reason": "spam"}}),
        )
        .await;
    assert!(status.is_success(), "{moved}");
    id
}

/// The `data-line` values of the problems listed beside the editor.
fn problem_lines(html: &str) -> Vec<u32> {
    html.split("data-line=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_check_draw_simulate_and_publish_a_draft() {
    let server = TestServer::start(Backend::Sqlite).await;
    let blocked = rejected_lead(&server, "Lead without a channel", None).await;
    let passing = rejected_lead(&server, "Lead from the site", Some("website")).await;
    let mut admin = Browser::sign_in_reading(&server, "admin@e2e.test", "en").await;

    let (status, list) = admin.get("/processes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("href=\"/processes/lead-qualification/edit\""));
    let (status, editor) = admin.get("/processes/lead-qualification/edit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        editor.contains("process: lead-qualification"),
        "the current YAML"
    );
    assert!(editor.contains("name=\"base\" value=\"1\""));

    // A broken draft: every problem at its line and column, the text kept.
    let broken = LEAD_QUALIFICATION.replace(
        "  - { from: received, to: [contacted, rejected] }",
        "  - { from: received, to: [contacted, nowhere] }",
    );
    let broken_line = u32::try_from(
        broken
            .lines()
            .position(|l| l.contains("nowhere"))
            .expect("the broken line")
            + 1,
    )
    .unwrap();
    let (status, page, _) = admin
        .post(
            "/processes/lead-qualification/check",
            &[
                ("yaml", &broken),
                ("base", "1"),
                ("source_name", "lead-qualification.yaml"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem_lines(&page).contains(&broken_line),
        "a problem on line {broken_line}: {:?}",
        problem_lines(&page)
    );
    assert!(
        page.contains(&format!(">{broken_line}:")),
        "shown as line:column"
    );
    assert!(
        page.contains("to: [contacted, nowhere]"),
        "the text is kept"
    );
    assert!(
        page.contains("class=\"des-bad\""),
        "the line is marked in the gutter"
    );
    assert!(!page.contains("<svg"), "no diagram for an invalid draft");

    // A valid, stricter draft: the diagram and the deal it would have blocked.
    let draft = stricter_draft();
    let (status, page, _) = admin
        .post(
            "/processes/lead-qualification/check",
            &[
                ("yaml", &draft),
                ("base", "1"),
                ("source_name", "lead-qualification.yaml"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<svg"));
    assert_eq!(
        page.matches("class=\"des-node\"").count(),
        4,
        "a node per stage of lead qualification"
    );
    assert!(
        page.contains(&format!("href=\"/deals/{blocked}\"")),
        "the blocked deal is listed"
    );
    assert!(
        !page.contains(&format!("href=\"/deals/{passing}\"")),
        "a deal with its channel is not"
    );
    assert!(page.contains("Lead without a channel"));

    // The same over the API.
    let (status, simulation) = server
        .post(
            &server.admin,
            "/api/v1/processes/lead-qualification/simulate",
            json!({"yaml": draft}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{simulation}");
    assert_eq!(simulation["deals"], 2);
    assert_eq!(simulation["blocked"][0]["deal"], blocked.as_str());
    let (status, problem) = server
        .post(
            &server.admin,
            "/api/v1/processes/lead-qualification/simulate",
            json!({"yaml": broken}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["diagnostics"][0]["line"], broken_line);

    let (status, document) = server.get(&server.admin, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        document["paths"]
            .get("/api/v1/processes/{name}/simulate")
            .is_some(),
        "the simulation is documented"
    );

    // Publish: a new version, shown in the list and by the API.
    let (status, body, location) = admin
        .post(
            "/processes/lead-qualification/publish",
            &[
                ("yaml", &draft),
                ("base", "1"),
                ("source_name", "lead-qualification.yaml"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = location.expect("a redirect");
    assert_eq!(
        location,
        "/processes?published=lead-qualification&version=2"
    );
    let (_, list) = admin.get(&location).await;
    assert!(list.contains("Published lead-qualification, version 2."));
    let (status, process) = server
        .get(&server.admin, "/api/v1/processes/lead-qualification")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(process["version"], 2);

    // An editor opened on version 1 is told someone published since.
    let version_three = draft.replace("version: 2", "version: 3");
    let (status, page, _) = admin
        .post(
            "/processes/lead-qualification/publish",
            &[
                ("yaml", &version_three),
                ("base", "1"),
                ("source_name", "lead-qualification.yaml"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("Someone published version 2"), "{page}");
    assert!(page.contains("version: 3"), "the text is kept");
    // A number not above the latest is a 409 too, with the latest named.
    let (status, page, _) = admin
        .post(
            "/processes/lead-qualification/publish",
            &[
                ("yaml", &draft.replace("channel]", "channel, has_budget]")),
                ("base", "2"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("latest published version is 2"), "{page}");
    let (_, process) = server
        .get(&server.admin, "/api/v1/processes/lead-qualification")
        .await;
    assert_eq!(process["version"], 2, "nothing more was published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_refuse_designing_and_administration_to_a_manager() {
    let server = TestServer::start(Backend::Sqlite).await;
    let anna = server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    let mut manager = Browser::sign_in_reading(&server, "anna@e2e.test", "en").await;
    let (_, day) = manager.get("/").await;
    assert!(!day.contains("href=\"/admin\""), "no administration link");
    assert!(!day.contains("href=\"/processes\""), "no designer link");
    for path in [
        "/admin",
        "/admin/users",
        "/admin/departments",
        "/admin/roles",
        "/admin/dictionaries",
        "/admin/plans",
        "/processes",
        "/processes/lead-qualification/edit",
    ] {
        let (status, _) = manager.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _, _) = manager
        .post(
            "/processes/lead-qualification/publish",
            &[("yaml", &stricter_draft()), ("base", "1")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = manager
        .post(
            "/admin/users",
            &[
                ("display_name", "Intruder"),
                ("email", "intruder@e2e.test"),
                ("password", PASSWORD),
                ("department", &server.sales_moscow.to_string()),
                ("role.administrator", "on"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .post(
            &anna.token,
            "/api/v1/processes/lead-qualification/simulate",
            json!({"yaml": stricter_draft()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, process) = server
        .get(&server.admin, "/api/v1/processes/lead-qualification")
        .await;
    assert_eq!(process["version"], 1, "nothing was published");
    let (status, _) = server
        .client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": "intruder@e2e.test", "password": PASSWORD}))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .expect("login");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no user was added");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_add_a_user_who_can_sign_in_and_show_names_as_text() {
    let server = TestServer::start(Backend::Sqlite).await;
    let mut admin = Browser::sign_in_reading(&server, "admin@e2e.test", "en").await;
    let (status, page) = admin.get("/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"role.manager\""));
    let department = server.sales_spb.to_string();

    // Without a role: the form comes back with the values and the reason.
    let (status, page, _) = admin
        .post(
            "/admin/users",
            &[
                ("display_name", "Boris"),
                ("email", "boris@e2e.test"),
                ("password", PASSWORD),
                ("department", &department),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Choose at least one role."));
    assert!(
        page.contains("value=\"boris@e2e.test\""),
        "the values are kept"
    );

    let script = "<script>alert(1)</script>";
    let (status, body, location) = admin
        .post(
            "/admin/users",
            &[
                ("display_name", script),
                ("email", "boris@e2e.test"),
                ("password", PASSWORD),
                ("department", &department),
                ("role.manager", "on"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, page) = admin.get(location.as_deref().expect("redirect")).await;
    assert!(page.contains("The user was added."));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains(script), "never as markup");

    // The same e-mail again is a 409 beside the form.
    let (status, page, _) = admin
        .post(
            "/admin/users",
            &[
                ("display_name", "Boris 2"),
                ("email", "BORIS@e2e.test"),
                ("password", PASSWORD),
                ("department", &department),
                ("role.manager", "on"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("already exists"));

    // The new user signs in and sees a manager's pages.
    let mut boris = Browser::sign_in_reading(&server, "boris@e2e.test", "en").await;
    let (status, _) = boris.get("/admin/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Roles changed through the form take effect; deactivation stops sign-in.
    let users = server.directory.users().await.expect("users");
    let id = users
        .iter()
        .find(|u| u.email == "boris@e2e.test")
        .expect("boris")
        .id;
    admin.get("/admin/users").await;
    let (status, _, _) = admin
        .post(
            &format!("/admin/users/{id}/roles"),
            &[("role.manager", "on"), ("role.process_designer", "on")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = boris.get("/processes").await;
    assert_eq!(status, StatusCode::OK, "a process designer now");
    let (status, _, _) = admin
        .post(&format!("/admin/users/{id}/deactivate"), &[], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = boris.get("/processes").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the session ended: back to sign-in"
    );
    let (_, page) = admin.get("/admin/users").await;
    assert!(page.contains("deactivated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_add_departments_show_dictionaries_and_rights_and_set_plans() {
    let server = TestServer::start(Backend::Sqlite).await;
    let anna = server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    let mut admin = Browser::sign_in_reading(&server, "admin@e2e.test", "en").await;

    let (status, page) = admin.get("/admin").await;
    assert_eq!(status, StatusCode::OK);
    for link in [
        "/admin/users",
        "/admin/departments",
        "/admin/dictionaries",
        "/admin/plans",
        "/admin/roles",
    ] {
        assert!(page.contains(&format!("href=\"{link}\"")), "{link}");
    }

    admin.get("/admin/departments").await;
    let parent = server.sales_moscow.to_string();
    let (status, body, _) = admin
        .post(
            "/admin/departments",
            &[("name", "Отдел <b>VIP</b>"), ("parent", &parent)],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, page) = admin.get("/admin/departments").await;
    assert!(page.contains("Отдел &lt;b&gt;VIP&lt;/b&gt;"));
    let (status, page, _) = admin
        .post(
            "/admin/departments",
            &[("name", "Отдел <b>VIP</b>"), ("parent", &parent)],
            true,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a sibling with the name exists"
    );
    assert!(page.contains("already exists"));
    let (status, _, _) = admin
        .post("/admin/departments", &[("name", "  ")], true)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, page) = admin.get("/admin/dictionaries").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("loss_reason"),
        "the process dictionaries are listed"
    );
    let (status, page) = admin.get("/admin/roles").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Publish processes"));

    admin.get("/admin/plans").await;
    let manager = format!("manager:{}", anna.id);
    let (status, page, _) = admin
        .post(
            "/admin/plans",
            &[
                ("scope", &manager),
                ("period", "month"),
                ("start", "2026-03-17"),
                ("target.calls_made", "-5"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("enter a whole number"));
    let (status, body, location) = admin
        .post(
            "/admin/plans",
            &[
                ("scope", &manager),
                ("period", "month"),
                ("start", "2026-03-17"),
                ("target.calls_made", "40"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, page) = admin.get(location.as_deref().expect("redirect")).await;
    assert!(page.contains("The plan was saved."));
    // The plan is read back once the report projection has folded it.
    let mut report = serde_json::Value::Null;
    for _ in 0..50 {
        let (status, body) = server
            .get(&anna.token, "/api/v1/plans?period=month&date=2026-03-17")
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        report = body;
        let planned = report["lines"].as_array().is_some_and(|lines| {
            lines
                .iter()
                .any(|l| l["metric"] == "calls_made" && l["plan"] == 40)
        });
        if planned {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the plan was not read back: {report}");
}
