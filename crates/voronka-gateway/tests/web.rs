//! The web pages over real HTTP: sign-in with a cookie session, CSRF
//! refusals, escaping of user data, 404/403 like the API, the language
//! choice, and a deal moved through a page form.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::browser::{form, set_cookies, Browser};
use support::{Backend, TestServer, PASSWORD};
use voronka_core::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_sign_in_with_an_httponly_lax_cookie_and_refuse_forms_without_the_csrf_token() {
    let server = TestServer::start(Backend::Sqlite).await;
    server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;

    // Not signed in: pages send to the sign-in form, keeping the way back.
    let mut anonymous = Browser::new(&server);
    let (status, _) = anonymous.get("/companies").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // The sign-in form itself needs its token.
    let (_, _) = anonymous.get("/login").await;
    let (status, _, _) = anonymous
        .post(
            "/login",
            &[("email", "anna@e2e.test"), ("password", PASSWORD)],
            false,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) = anonymous
        .post(
            "/login",
            &[("email", "anna@e2e.test"), ("password", "wrong")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("role=\"alert\""), "{body}");

    // The session cookie: HttpOnly, SameSite=Lax; Secure behind TLS.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/login", server.base))
        .header("cookie", anonymous.cookie_header())
        .header("x-forwarded-proto", "https")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("email", "anna@e2e.test"),
            ("password", PASSWORD),
            ("_csrf", &anonymous.csrf),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = set_cookies(&response)
        .into_iter()
        .find(|(name, _, _)| name == "voronka_session")
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session.2.contains(attribute), "{attribute}: {}", session.2);
    }

    let mut anna = Browser::sign_in(&server, "anna@e2e.test").await;
    // A form without the token, or with another session's, changes nothing.
    let (status, _, _) = anna
        .post("/companies", &[("name", "ООО «Без токена»")], false)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stolen = anonymous.csrf.clone();
    let (status, _, _) = anna
        .post(
            "/companies",
            &[("name", "ООО «Чужой токен»"), ("_csrf", &stolen)],
            false,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list) = anna.get("/companies").await;
    assert!(!list.contains("Без токена") && !list.contains("Чужой токен"));

    // With the token the company is created and its card shown.
    anna.get("/companies/new").await;
    let (status, body, location) = anna
        .post("/companies", &[("name", "ООО «Ромашка»")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, card) = anna.get(&location.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(card.contains("ООО «Ромашка»"));

    // Signing out ends the session on the server too.
    let (status, _, _) = anna.post("/logout", &[], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = anna.get("/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_show_user_data_as_text_never_as_markup() {
    let server = TestServer::start(Backend::Sqlite).await;
    let anna = server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    let (status, created) = server
        .post(
            &anna.token,
            "/api/v1/contacts",
            json!({"surname": "<script>alert(1)</script>", "name": "\"><img src=x onerror=alert(2)>"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let mut browser = Browser::sign_in(&server, "anna@e2e.test").await;
    for path in [
        format!(
            "/contacts/{}?at={}",
            created["id"].as_str().unwrap(),
            created["position"]
        ),
        "/contacts?q=script".to_owned(),
    ] {
        let (status, page) = browser.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>alert(1)"), "{path}");
        assert!(!page.contains("<img src=x"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_answer_404_for_another_departments_deal_and_403_for_a_refused_right() {
    let server = TestServer::start(Backend::Sqlite).await;
    let sergey = server
        .user("sergey", &[Role::Manager], server.sales_spb)
        .await;
    server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    server
        .user("olga", &[Role::Operator], server.company_department)
        .await;
    let (status, deal) = server
        .post(
            &sergey.token,
            "/api/v1/deals",
            json!({"process": "b2b-sale", "title": "Сделка Петербурга"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    let path = format!(
        "/deals/{}?at={}",
        deal["id"].as_str().unwrap(),
        deal["position"]
    );

    let mut anna = Browser::sign_in(&server, "anna@e2e.test").await;
    let (status, page) = anna.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("Сделка Петербурга"));
    let (status, _, _) = anna
        .post(
            &format!("/deals/{}/move", deal["id"].as_str().unwrap()),
            &[("to", "lost"), ("f.loss_reason", "price")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for missing in [
        "/deals/not-a-uuid",
        "/deals/01890000-0000-7000-8000-000000000000",
        "/no-such-page",
    ] {
        let (status, page) = anna.get(missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert!(page.contains("<html"), "{missing}");
    }
    // The API keeps its problem+json for unknown routes.
    let response = reqwest::get(format!("{}/api/v1/no-such-route", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("problem+json"));

    // The sales manager's own deal shows; an operator may not create deals.
    let mut sergey_browser = Browser::sign_in(&server, "sergey@e2e.test").await;
    let (status, page) = sergey_browser.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Сделка Петербурга"));
    let mut olga = Browser::sign_in(&server, "olga@e2e.test").await;
    olga.get("/deals/new").await;
    let (status, _, _) = olga
        .post(
            "/deals",
            &[("process", "b2b-sale"), ("title", "Нельзя")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_speak_the_chosen_language_else_the_browsers() {
    let server = TestServer::start(Backend::Sqlite).await;
    server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    let mut browser = Browser::sign_in(&server, "anna@e2e.test").await;
    let english = browser
        .client
        .get(format!("{}/", server.base))
        .header("cookie", browser.cookie_header())
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("<html lang=\"en\""), "{english}");
    assert!(english.contains("My day"));
    let (_, russian) = browser.get("/").await;
    assert!(russian.contains("Мой день"));

    // The switch sets a cookie that wins over the browser's language.
    let (status, _, location) = browser
        .post("/lang", &[("lang", "en"), ("back", "/companies")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/companies"));
    let (_, page) = browser.get("/companies").await;
    assert!(page.contains("Companies") && page.contains("<html lang=\"en\""));
    // An outside address is never followed.
    let (_, _, location) = browser
        .post(
            "/lang",
            &[("lang", "ru"), ("back", "https://evil.example/")],
            true,
        )
        .await;
    assert_eq!(location.as_deref(), Some("/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_should_refuse_an_early_move_with_the_checklist_and_move_once_it_is_met() {
    let server = TestServer::start(Backend::Sqlite).await;
    let anna = server
        .user("anna", &[Role::Manager], server.sales_moscow)
        .await;
    let (_, company) = server
        .post(
            &anna.token,
            "/api/v1/companies",
            json!({"name": "ООО «Вектор»"}),
        )
        .await;
    let (_, contact) = server
        .post(
            &anna.token,
            "/api/v1/contacts",
            json!({"surname": "Иванов", "name": "Пётр", "company": company["id"], "phones": ["8 (912) 345-67-89"]}),
        )
        .await;
    let mut browser = Browser::sign_in(&server, "anna@e2e.test").await;
    browser.get("/deals/new").await;
    let (status, body, location) = browser
        .post(
            "/deals",
            &[
                ("process", "b2b-sale"),
                ("title", "Лицензии"),
                ("amount", "150 000,50"),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let card_path = location.unwrap();
    let id = card_path
        .trim_start_matches("/deals/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (status, card) = browser.get(&card_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        card.contains("150\u{a0}000,50\u{a0}₽"),
        "money in Russian format"
    );

    // Too early: the card comes back with every missing field listed.
    let (status, refused, _) = browser
        .post(&format!("/deals/{id}/move"), &[("to", "qualifying")], true)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.contains("id=\"refusal\""));
    assert!(
        refused.matches("data-code=\"field_missing\"").count() >= 2,
        "{refused}"
    );

    // Fill the fields through the card's form, then the move goes through.
    let (status, body, _) = browser
        .post(
            &format!("/deals/{id}/fields"),
            &[
                ("company", company["id"].as_str().unwrap()),
                ("contact", contact["id"].as_str().unwrap()),
            ],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, body, location) = browser
        .post(&format!("/deals/{id}/move"), &[("to", "qualifying")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, card) = browser.get(&location.unwrap()).await;
    assert!(
        card.contains("aria-current=\"step\">Квалифицирующий звонок"),
        "{card}"
    );

    // The contact list finds the phone in another format.
    let (_, found) = browser.get("/contacts?q=%2B7%20912%20345%2067%2089").await;
    assert!(found.contains("Иванов Пётр"), "{found}");
}
