//! The authorization matrix: every role against every kind of read and
//! write on records owned by one manager of the Moscow team, each answer
//! checked against the specification (a manager sees own records, a head
//! the department subtree, a director all; only operators and
//! administrators edit contacts' personal data; invisible records are 404,
//! never 403). On both backends.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::TestServer;
use voronka_core::Role;

/// What is tried, in order; the expected statuses per role follow below.
const OPERATIONS: [&str; 14] = [
    "read deal",
    "list deals",
    "edit deal",
    "read company",
    "edit company",
    "read contact",
    "edit contact phones",
    "edit contact position",
    "read activity",
    "reschedule activity",
    "read deal timeline",
    "create product",
    "read event feed",
    "create user",
];

const OK: u16 = 200;
const CREATED: u16 = 201;
const FORBIDDEN: u16 = 403;
const HIDDEN: u16 = 404;
/// `list deals` answers 200 for everyone; this marks "and the deal is in it".
const LISTED: u16 = 1;
const UNLISTED: u16 = 0;

#[rustfmt::skip]
const MATRIX: [(&str, [u16; 14]); 8] = [
    //                deal   list      edit  company edit  contact phones    pos  activity resch  timeline product    feed       user
    ("owner",        [OK,    LISTED,   OK,   OK,     OK,   OK,     FORBIDDEN, OK,  OK,      OK,    OK,      FORBIDDEN, FORBIDDEN, FORBIDDEN]),
    ("colleague",    [HIDDEN, UNLISTED, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN]),
    ("other team",   [HIDDEN, UNLISTED, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN]),
    ("head",         [OK,    LISTED,   OK,   OK,     OK,   OK,     FORBIDDEN, OK,  OK,      OK,    OK,      FORBIDDEN, FORBIDDEN, FORBIDDEN]),
    ("other head",   [HIDDEN, UNLISTED, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN]),
    ("director",     [OK,    LISTED,   OK,   OK,     OK,   OK,     FORBIDDEN, OK,  OK,      OK,    OK,      CREATED,   FORBIDDEN, FORBIDDEN]),
    ("operator",     [HIDDEN, UNLISTED, HIDDEN, HIDDEN, HIDDEN, OK,  OK,        OK,  HIDDEN,  HIDDEN, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN]),
    ("administrator",[OK,    LISTED,   OK,   OK,     OK,   OK,     OK,        OK,  OK,      OK,    OK,      CREATED,   OK,        CREATED]),
];

struct Records {
    deal: String,
    company: String,
    contact: String,
    activity: String,
    min_position: u64,
}

async fn created(server: &TestServer, token: &str, path: &str, body: Value) -> (String, u64) {
    let (status, answer) = server.post(token, path, body).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {answer}");
    (
        answer["id"].as_str().unwrap().to_owned(),
        answer["position"].as_u64().unwrap(),
    )
}

async fn records_of(server: &TestServer, owner: &str) -> Records {
    let (company, _) = created(
        server,
        owner,
        "/api/v1/companies",
        json!({"name": "ООО Матрица"}),
    )
    .await;
    let (contact, _) = created(
        server,
        owner,
        "/api/v1/contacts",
        json!({"surname": "Матрицын", "name": "Нео", "phones": ["+7 912 000-00-01"], "company": company}),
    )
    .await;
    let (deal, _) = created(
        server,
        owner,
        "/api/v1/deals",
        json!({"process": "b2b-sale", "title": "Сделка матрицы", "company": company}),
    )
    .await;
    let due = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (activity, position) = created(
        server,
        owner,
        "/api/v1/activities",
        json!({"kind": "task", "subject": "Подготовить КП", "due_at": due, "deal": deal}),
    )
    .await;
    Records {
        deal,
        company,
        contact,
        activity,
        min_position: position,
    }
}

/// Runs operation `index` as `token`; returns the status (for the list:
/// whether the deal is in it).
async fn attempt(
    server: &TestServer,
    token: &str,
    index: usize,
    records: &Records,
    round: usize,
) -> u16 {
    let p = records.min_position;
    let (method, path, body) = match OPERATIONS[index] {
        "read deal" => (
            Method::GET,
            format!("/api/v1/deals/{}?min_position={p}", records.deal),
            None,
        ),
        "list deals" => {
            let (status, list) = server
                .get(token, &format!("/api/v1/deals?min_position={p}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{list}");
            let listed = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["id"] == records.deal.as_str());
            return if listed { LISTED } else { UNLISTED };
        }
        "edit deal" => (
            Method::PATCH,
            format!("/api/v1/deals/{}", records.deal),
            Some(json!({"title": format!("Сделка матрицы {round}")})),
        ),
        "read company" => (
            Method::GET,
            format!("/api/v1/companies/{}?min_position={p}", records.company),
            None,
        ),
        "edit company" => (
            Method::PATCH,
            format!("/api/v1/companies/{}", records.company),
            Some(json!({"address": format!("Москва, д. {round}")})),
        ),
        "read contact" => (
            Method::GET,
            format!("/api/v1/contacts/{}?min_position={p}", records.contact),
            None,
        ),
        "edit contact phones" => (
            Method::PATCH,
            format!("/api/v1/contacts/{}", records.contact),
            Some(json!({"phones": [format!("+7 912 000-00-{:02}", round + 10)]})),
        ),
        "edit contact position" => (
            Method::PATCH,
            format!("/api/v1/contacts/{}", records.contact),
            Some(json!({"position": format!("Директор {round}")})),
        ),
        "read activity" => (
            Method::GET,
            format!("/api/v1/activities/{}?min_position={p}", records.activity),
            None,
        ),
        "reschedule activity" => {
            let due = (chrono::Utc::now() + chrono::Duration::days(2 + round as i64)).to_rfc3339();
            (
                Method::POST,
                format!("/api/v1/activities/{}/reschedule", records.activity),
                Some(json!({"due_at": due})),
            )
        }
        "read deal timeline" => (
            Method::GET,
            format!("/api/v1/deals/{}/timeline?min_position={p}", records.deal),
            None,
        ),
        "create product" => (
            Method::POST,
            "/api/v1/products".to_owned(),
            Some(
                json!({"name": format!("Тариф {round}"), "price": {"amount": "100.00"}, "vat_rate": 22}),
            ),
        ),
        "read event feed" => (
            Method::GET,
            "/api/v1/events?after=0&limit=10".to_owned(),
            None,
        ),
        "create user" => (
            Method::POST,
            "/api/v1/users".to_owned(),
            Some(json!({
                "email": format!("new{round}@e2e.test"), "display_name": "Новичок", "password": support::PASSWORD,
                "roles": ["manager"], "department": server.sales_moscow,
            })),
        ),
        other => panic!("unknown operation {other}"),
    };
    let (status, answer) = server.send(method, Some(token), &path, body).await;
    if !status.is_success() {
        // Every refusal is problem+json with a stable code.
        assert!(answer["code"].is_string(), "{path}: {answer}");
    }
    status.as_u16()
}

on_both_backends!(
    every_role_against_every_read_and_write,
    |server: TestServer| async move {
        let owner = server
            .user("owner", &[Role::Manager], server.sales_moscow)
            .await;
        let tokens = [
            ("owner", owner.token.clone()),
            (
                "colleague",
                server
                    .user("colleague", &[Role::Manager], server.sales_moscow)
                    .await
                    .token,
            ),
            (
                "other team",
                server
                    .user("spb", &[Role::Manager], server.sales_spb)
                    .await
                    .token,
            ),
            (
                "head",
                server
                    .user("head", &[Role::HeadOfDepartment], server.sales_moscow)
                    .await
                    .token,
            ),
            (
                "other head",
                server
                    .user("spbhead", &[Role::HeadOfDepartment], server.sales_spb)
                    .await
                    .token,
            ),
            (
                "director",
                server
                    .user("director", &[Role::Director], server.company_department)
                    .await
                    .token,
            ),
            (
                "operator",
                server
                    .user("operator", &[Role::Operator], server.company_department)
                    .await
                    .token,
            ),
            ("administrator", server.admin.clone()),
        ];
        let records = records_of(&server, &owner.token).await;
        let mut mismatches = Vec::new();
        for (round, ((role, token), (matrix_role, expected))) in
            tokens.iter().zip(MATRIX.iter()).enumerate()
        {
            assert_eq!(role, matrix_role);
            for (index, want) in expected.iter().enumerate() {
                let got = attempt(&server, token, index, &records, round).await;
                if got != *want {
                    mismatches.push(format!(
                        "{role} / {}: expected {want}, got {got}",
                        OPERATIONS[index]
                    ));
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "authorization matrix mismatches:\n{}",
            mismatches.join("\n")
        );
    }
);
