//! Companies and contacts over HTTP, end to end on both backends: every
//! invalid field named at once, duplicates as a warning or (strict) a 409
//! that writes nothing, Cyrillic and phone search, who sees and edits what
//! (personal data is the operators'), optimistic concurrency, merging two
//! cards with both histories kept, handing a leaving manager's records
//! over, bad input, and idempotent creates.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer, TestUser};
use voronka_core::Role;

// ---------------------------------------------------------------- helpers

const ROMASHKA_INN: &str = "7707083893";
const ROMASHKA_KPP: &str = "773601001";
const LUTIK_INN: &str = "7736050003";

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("an id").to_owned()
}

/// A query parameter value, percent-encoded.
fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
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

/// The ids of a page's items.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(id_of)
        .collect()
}

/// An expected status, code and field, and the answer.
type Case = (
    StatusCode,
    &'static str,
    Option<&'static str>,
    (StatusCode, Value),
);

#[track_caller]
fn expect(answer: (StatusCode, Value), status: StatusCode) -> Value {
    let (actual, body) = answer;
    assert_eq!(actual, status, "{body}");
    body
}

async fn create_company(server: &TestServer, user: &TestUser, body: Value) -> Value {
    expect(
        server.post(&user.token, "/api/v1/companies", body).await,
        StatusCode::CREATED,
    )
}

async fn create_contact(server: &TestServer, user: &TestUser, body: Value) -> Value {
    expect(
        server.post(&user.token, "/api/v1/contacts", body).await,
        StatusCode::CREATED,
    )
}

/// Every company an administrator sees (nothing is hidden from them).
async fn all_companies(server: &TestServer) -> Vec<String> {
    ids(&expect(
        server
            .get(&server.admin, "/api/v1/companies?limit=200")
            .await,
        StatusCode::OK,
    ))
}

async fn all_contacts(server: &TestServer) -> Vec<String> {
    ids(&expect(
        server
            .get(&server.admin, "/api/v1/contacts?limit=200")
            .await,
        StatusCode::OK,
    ))
}

/// A request with an `Idempotency-Key`.
async fn post_with_key(
    server: &TestServer,
    token: &str,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = server
        .client
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
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

/// The event types of a timeline page, oldest first.
fn event_types(page: &Value) -> Vec<String> {
    let mut types: Vec<String> = page["items"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
        .collect();
    types.reverse();
    types
}

// ------------------------------------------------------------------ tests

on_both_backends!(
    invalid_company_fields_are_named_every_one_and_nothing_is_written,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let body = expect_problem(
            server
                .post(
                    &anna.token,
                    "/api/v1/companies",
                    json!({"name": "ООО Ромашка", "inn": "7707083894"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "inn_checksum",
        );
        assert_eq!(body["field"], "inn", "{body}");

        let body = expect_problem(
            server
                .post(
                    &anna.token,
                    "/api/v1/companies",
                    json!({"name": "  ", "inn": "12345", "kpp": "77", "industry": "alchemy",
                           "website": "not a site"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
        );
        let fields = error_fields(&body);
        for field in ["name", "inn", "kpp", "industry", "website"] {
            assert!(fields.contains(&field.to_owned()), "{field}: {body}");
        }

        // Contacts: every bad field, and an unknown company among them.
        let body = expect(
            server
                .post(
                    &anna.token,
                    "/api/v1/contacts",
                    json!({"surname": "", "name": "Пётр", "phones": ["+7 912 345-67-89", "12"],
                           "emails": ["not-an-email"], "birthday": "2999-01-01",
                           "company": uuid::Uuid::now_v7()}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        let fields = error_fields(&body);
        for field in ["surname", "phones[1]", "emails[0]", "birthday", "company"] {
            assert!(fields.contains(&field.to_owned()), "{field}: {body}");
        }
        let company_error = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == "company")
            .unwrap();
        assert_eq!(company_error["code"], "company_unknown");

        assert!(all_companies(&server).await.is_empty());
        assert!(all_contacts(&server).await.is_empty());
    }
);

on_both_backends!(
    duplicates_are_a_warning_or_in_strict_mode_a_conflict_that_writes_nothing,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let boris = server
            .user("boris", &[Role::Manager], server.sales_spb)
            .await;
        let first = create_company(
            &server,
            &anna,
            json!({"name": "ООО Ромашка", "inn": ROMASHKA_INN, "kpp": ROMASHKA_KPP}),
        )
        .await;
        assert_eq!(first["duplicates"], json!([]), "{first}");
        assert_eq!(first["version"], 1);

        // Boris does not see Anna's company, but is warned it exists.
        let second = create_company(
            &server,
            &boris,
            json!({"name": "Ромашка", "inn": " 7707083893 "}),
        )
        .await;
        assert_eq!(second["duplicates"], json!([id_of(&first)]), "{second}");

        let refused = expect_problem(
            server
                .post(
                    &boris.token,
                    "/api/v1/companies?strict=true",
                    json!({"name": "Ромашка 3", "inn": ROMASHKA_INN}),
                )
                .await,
            StatusCode::CONFLICT,
            "duplicates_found",
        );
        let mut candidates: Vec<String> = refused["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        candidates.sort();
        let mut expected = vec![id_of(&first), id_of(&second)];
        expected.sort();
        assert_eq!(candidates, expected);
        // Invalid fields come before duplicates, even in strict mode.
        expect_problem(
            server
                .post(
                    &boris.token,
                    "/api/v1/companies?strict=true",
                    json!({"name": "", "inn": ROMASHKA_INN}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
        );
        assert_eq!(all_companies(&server).await.len(), 2);
        // Strict without duplicates creates.
        create_company(&server, &boris, json!({"name": "Лютик", "inn": LUTIK_INN})).await;
        let bad_strict = server
            .post(
                &boris.token,
                "/api/v1/companies?strict=maybe",
                json!({"name": "Х"}),
            )
            .await;
        assert_eq!(
            expect_problem(bad_strict, StatusCode::BAD_REQUEST, "invalid_query")["field"],
            "strict"
        );

        // Contacts: the same phone in another spelling, the same e-mail in
        // another case.
        let ivanov = create_contact(
            &server,
            &anna,
            json!({"surname": "Иванов", "name": "Пётр", "phones": ["+7 912 345-67-89"],
                   "emails": ["petr@romashka.ru"]}),
        )
        .await;
        let again = create_contact(
            &server,
            &boris,
            json!({"surname": "Иванов", "name": "Пётр", "phones": ["8 (912) 345 67 89"]}),
        )
        .await;
        assert_eq!(again["duplicates"], json!([id_of(&ivanov)]), "{again}");
        let refused = expect_problem(
            server
                .post(
                    &boris.token,
                    "/api/v1/contacts?strict=true",
                    json!({"surname": "Петров", "name": "Иван", "emails": ["PETR@Romashka.ru"]}),
                )
                .await,
            StatusCode::CONFLICT,
            "duplicates_found",
        );
        assert_eq!(refused["candidates"], json!([id_of(&ivanov)]));
        assert_eq!(all_contacts(&server).await.len(), 2);
    }
);

on_both_backends!(
    search_finds_cyrillic_in_any_case_and_phones_in_any_format,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let company = create_company(
            &server,
            &anna,
            json!({"name": "ООО «Иванов и партнёры»", "industry": "it", "segment": "small"}),
        )
        .await;
        create_company(
            &server,
            &anna,
            json!({"name": "ЗАО Лютик", "industry": "retail"}),
        )
        .await;
        let ivanov = create_contact(
            &server,
            &anna,
            json!({"surname": "Иванов", "name": "Пётр", "phones": ["+7 (912) 345-67-89"],
                   "company": id_of(&company)}),
        )
        .await;
        let other = create_contact(
            &server,
            &anna,
            json!({"surname": "Сидорова", "name": "Анна", "phones": ["+7 495 123-45-67"]}),
        )
        .await;
        let position = other["position"].as_u64().unwrap();

        let found = expect(
            server
                .get(
                    &anna.token,
                    &format!(
                        "/api/v1/contacts?q={}&min_position={position}",
                        encoded("иванов")
                    ),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(ids(&found), [id_of(&ivanov)], "{found}");
        assert_eq!(found["items"][0]["surname"], "Иванов");
        assert_eq!(found["items"][0]["full_name"], "Иванов Пётр");
        assert_eq!(found["items"][0]["phones"], json!(["+79123456789"]));

        for phone in ["8 (912) 345-67-89", "+79123456789", "912 345 67 89"] {
            let found = expect(
                server
                    .get(
                        &anna.token,
                        &format!("/api/v1/contacts?q={}", encoded(phone)),
                    )
                    .await,
                StatusCode::OK,
            );
            assert_eq!(ids(&found), [id_of(&ivanov)], "{phone}: {found}");
        }
        let by_company = expect(
            server
                .get(
                    &anna.token,
                    &format!("/api/v1/contacts?company={}", id_of(&company)),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(ids(&by_company), [id_of(&ivanov)]);

        let found = expect(
            server
                .get(
                    &anna.token,
                    &format!("/api/v1/companies?q={}", encoded("ИВАНОВ")),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(ids(&found), [id_of(&company)], "{found}");
        let by_industry = expect(
            server
                .get(&anna.token, "/api/v1/companies?industry=it&segment=small")
                .await,
            StatusCode::OK,
        );
        assert_eq!(ids(&by_industry), [id_of(&company)]);

        // Paging walks the list once, newest first.
        let first = expect(
            server.get(&anna.token, "/api/v1/companies?limit=1").await,
            StatusCode::OK,
        );
        assert_eq!(first["items"][0]["name"], "ЗАО Лютик");
        let cursor = first["next_cursor"].as_str().unwrap();
        let rest = expect(
            server
                .get(
                    &anna.token,
                    &format!("/api/v1/companies?limit=1&cursor={cursor}"),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(ids(&rest), [id_of(&company)]);
        assert!(rest.get("next_cursor").is_none() || rest["next_cursor"].is_null());
    }
);

on_both_backends!(
    managers_see_their_own_heads_their_subtree_directors_everything,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let boris = server
            .user("boris", &[Role::Manager], server.sales_spb)
            .await;
        let head = server
            .user("head", &[Role::HeadOfDepartment], server.sales_moscow)
            .await;
        let director = server
            .user("director", &[Role::Director], server.company_department)
            .await;
        let operator = server
            .user("operator", &[Role::Operator], server.company_department)
            .await;
        let annas = create_company(&server, &anna, json!({"name": "Ромашка"})).await;
        let boriss = create_company(&server, &boris, json!({"name": "Лютик"})).await;
        let annas_contact =
            create_contact(&server, &anna, json!({"surname": "Иванов", "name": "Пётр"})).await;
        let boriss_contact = create_contact(
            &server,
            &boris,
            json!({"surname": "Петров", "name": "Иван"}),
        )
        .await;
        let at = boriss_contact["position"].as_u64().unwrap();

        let list = |user: &TestUser, what: &'static str| {
            let token = user.token.clone();
            let server = &server;
            async move {
                let mut ids = ids(&expect(
                    server
                        .get(&token, &format!("/api/v1/{what}?min_position={at}"))
                        .await,
                    StatusCode::OK,
                ));
                ids.sort();
                ids
            }
        };
        let sorted = |mut ids: Vec<String>| {
            ids.sort();
            ids
        };
        assert_eq!(list(&anna, "companies").await, [id_of(&annas)]);
        assert_eq!(list(&boris, "companies").await, [id_of(&boriss)]);
        assert_eq!(list(&head, "companies").await, [id_of(&annas)]);
        assert_eq!(
            list(&director, "companies").await,
            sorted(vec![id_of(&annas), id_of(&boriss)])
        );
        assert!(list(&operator, "companies").await.is_empty());
        assert_eq!(list(&anna, "contacts").await, [id_of(&annas_contact)]);
        assert_eq!(list(&head, "contacts").await, [id_of(&annas_contact)]);
        assert_eq!(
            list(&operator, "contacts").await,
            sorted(vec![id_of(&annas_contact), id_of(&boriss_contact)])
        );

        // Someone else's card is 404, exactly like a card that does not exist.
        let boriss_path = format!("/api/v1/companies/{}", id_of(&boriss));
        for user in [&anna, &head, &operator] {
            expect_problem(
                server.get(&user.token, &boriss_path).await,
                StatusCode::NOT_FOUND,
                "not_found",
            );
            expect_problem(
                server
                    .get(&user.token, &format!("{boriss_path}/timeline"))
                    .await,
                StatusCode::NOT_FOUND,
                "not_found",
            );
            expect_problem(
                server
                    .patch(&user.token, &boriss_path, json!({"name": "Моё"}))
                    .await,
                StatusCode::NOT_FOUND,
                "not_found",
            );
        }
        expect_problem(
            server
                .get(
                    &anna.token,
                    &format!("/api/v1/contacts/{}", id_of(&boriss_contact)),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let card = expect(
            server.get(&director.token, &boriss_path).await,
            StatusCode::OK,
        );
        assert_eq!(card["name"], "Лютик");
        assert_eq!(card["responsible"], boris.id.to_string());
        assert_eq!(card["version"], 1);
        let card = expect(
            server
                .get(&head.token, &format!("/api/v1/companies/{}", id_of(&annas)))
                .await,
            StatusCode::OK,
        );
        assert_eq!(card["name"], "Ромашка");
        let (status, contact) = server
            .get(
                &operator.token,
                &format!("/api/v1/contacts/{}", id_of(&boriss_contact)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{contact}");

        // Boris's contact at Anna's company is on her company's timeline,
        // without its personal data.
        let linked = create_contact(
            &server,
            &boris,
            json!({"surname": "Козлов", "name": "Олег", "phones": ["+7 921 000-11-22"],
                   "company": id_of(&annas)}),
        )
        .await;
        let timeline = expect(
            server
                .get(
                    &anna.token,
                    &format!(
                        "/api/v1/companies/{}/timeline?min_position={}",
                        id_of(&annas),
                        linked["position"]
                    ),
                )
                .await,
            StatusCode::OK,
        );
        let entry = &timeline["items"][0];
        assert_eq!(entry["event_type"], "contact_created", "{timeline}");
        assert_eq!(entry["subject"]["id"], id_of(&linked));
        assert!(entry["data"].is_null(), "{entry}");
        let timeline = expect(
            server
                .get(
                    &director.token,
                    &format!("/api/v1/companies/{}/timeline", id_of(&annas)),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(timeline["items"][0]["data"]["surname"], "Козлов");

        // Handing a company to someone outside one's reach is refused.
        expect_problem(
            server
                .patch(
                    &anna.token,
                    &format!("/api/v1/companies/{}", id_of(&annas)),
                    json!({"responsible": boris.id}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "not_responsible",
        );
        // Creating for someone else too.
        expect_problem(
            server
                .post(
                    &anna.token,
                    "/api/v1/companies",
                    json!({"name": "Для Бориса", "responsible": boris.id}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "not_responsible",
        );
        // An operator keeps contacts, not companies.
        expect_problem(
            server
                .post(
                    &operator.token,
                    "/api/v1/companies",
                    json!({"name": "Оператора"}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        let operators = create_contact(
            &server,
            &operator,
            json!({"surname": "Смирнова", "name": "Ольга", "responsible": anna.id,
                   "company": id_of(&annas)}),
        )
        .await;
        let card = expect(
            server
                .get(
                    &anna.token,
                    &format!(
                        "/api/v1/contacts/{}?min_position={}",
                        id_of(&operators),
                        operators["position"]
                    ),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(card["company"], id_of(&annas));
    }
);

on_both_backends!(
    personal_data_is_changed_by_operators_the_business_side_by_managers,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let operator = server
            .user("operator", &[Role::Operator], server.company_department)
            .await;
        let contact = create_contact(
            &server,
            &anna,
            json!({"surname": "Иванов", "name": "Пётр", "phones": ["+7 912 345-67-89"]}),
        )
        .await;
        let path = format!("/api/v1/contacts/{}", id_of(&contact));

        let written = expect(
            server
                .patch(
                    &operator.token,
                    &path,
                    json!({"phones": ["+7 912 345-67-89", "8 495 123 45 67"], "expected_version": 1}),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(written["version"], 2);

        let refused = expect_problem(
            server
                .patch(&anna.token, &path, json!({"phones": ["+7 999 000-00-00"]}))
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        assert_eq!(refused["action"], "edit_contact_personal_data");
        expect_problem(
            server
                .patch(&anna.token, &path, json!({"surname": "Сидоров"}))
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        // The business side is hers; personal data sent back unchanged (a
        // form posting every field) is not a change.
        let written = expect(
            server
                .patch(
                    &anna.token,
                    &path,
                    json!({"position": "Директор", "surname": "Иванов",
                           "phones": ["+79123456789", "+7 (495) 123-45-67"]}),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(written["version"], 3);
        let card = expect(
            server
                .get(
                    &anna.token,
                    &format!("{path}?min_position={}", written["position"]),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(card["position"], "Директор");
        assert_eq!(card["phones"], json!(["+79123456789", "+74951234567"]));
        assert_eq!(card["version"], 3);

        // An unknown company is 422 on `company`, nothing written.
        let refused = expect_problem(
            server
                .patch(&anna.token, &path, json!({"company": uuid::Uuid::now_v7()}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "company_unknown",
        );
        assert_eq!(refused["field"], "company");
        let card = expect(server.get(&anna.token, &path).await, StatusCode::OK);
        assert_eq!(card["version"], 3);
    }
);

on_both_backends!(
    a_stale_expected_version_is_a_conflict_and_writes_nothing,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let company = create_company(&server, &anna, json!({"name": "Ромашка"})).await;
        let path = format!("/api/v1/companies/{}", id_of(&company));
        let written = expect(
            server
                .patch(
                    &anna.token,
                    &path,
                    json!({"expected_version": 1, "website": "romashka.ru", "segment": "small"}),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(written["version"], 2);
        let conflict = expect_problem(
            server
                .patch(
                    &anna.token,
                    &path,
                    json!({"expected_version": 1, "name": "Лютик"}),
                )
                .await,
            StatusCode::CONFLICT,
            "version_conflict",
        );
        assert_eq!(conflict["actual_version"], 2);
        let card = expect(
            server
                .get(
                    &anna.token,
                    &format!("{path}?min_position={}", written["position"]),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(card["name"], "Ромашка");
        assert_eq!(card["website"], "romashka.ru");
        assert_eq!(card["version"], 2);
        // `null` clears; the current version is accepted.
        let written = expect(
            server
                .patch(
                    &anna.token,
                    &path,
                    json!({"expected_version": 2, "website": null}),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(written["version"], 3);
        let card = expect(
            server
                .get(
                    &anna.token,
                    &format!("{path}?min_position={}", written["position"]),
                )
                .await,
            StatusCode::OK,
        );
        assert!(card["website"].is_null(), "{card}");
        // Contacts too.
        let contact =
            create_contact(&server, &anna, json!({"surname": "Иванов", "name": "Пётр"})).await;
        expect_problem(
            server
                .patch(
                    &anna.token,
                    &format!("/api/v1/contacts/{}", id_of(&contact)),
                    json!({"expected_version": 7, "position": "Бухгалтер"}),
                )
                .await,
            StatusCode::CONFLICT,
            "version_conflict",
        );
    }
);

on_both_backends!(
    a_merge_closes_the_duplicate_and_keeps_both_histories,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let boris = server
            .user("boris", &[Role::Manager], server.sales_spb)
            .await;
        let survivor = create_company(
            &server,
            &anna,
            json!({"name": "ООО Ромашка", "inn": ROMASHKA_INN}),
        )
        .await;
        let duplicate = create_company(
            &server,
            &anna,
            json!({"name": "Ромашка (дубль)", "inn": ROMASHKA_INN}),
        )
        .await;
        let survivor_path = format!("/api/v1/companies/{}", id_of(&survivor));
        let duplicate_path = format!("/api/v1/companies/{}", id_of(&duplicate));
        expect(
            server
                .patch(
                    &anna.token,
                    &duplicate_path,
                    json!({"website": "romashka.ru"}),
                )
                .await,
            StatusCode::OK,
        );
        let contact = create_contact(
            &server,
            &anna,
            json!({"surname": "Иванов", "name": "Пётр", "company": id_of(&duplicate)}),
        )
        .await;

        // Into itself, into nothing, into someone else's card: refused.
        expect_problem(
            server
                .post(
                    &anna.token,
                    &format!("{duplicate_path}/merge"),
                    json!({"into": id_of(&duplicate)}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "merge_into_itself",
        );
        let unknown = expect_problem(
            server
                .post(
                    &anna.token,
                    &format!("{duplicate_path}/merge"),
                    json!({"into": uuid::Uuid::now_v7()}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "company_unknown",
        );
        assert_eq!(unknown["field"], "into");
        let boriss = create_company(&server, &boris, json!({"name": "Лютик"})).await;
        expect_problem(
            server
                .post(
                    &anna.token,
                    &format!("{duplicate_path}/merge"),
                    json!({"into": id_of(&boriss)}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "company_unknown",
        );

        let merged = expect(
            server
                .post(
                    &anna.token,
                    &format!("{duplicate_path}/merge"),
                    json!({"into": id_of(&survivor)}),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(merged["source"]["id"], id_of(&duplicate));
        assert_eq!(merged["target"]["id"], id_of(&survivor));
        // Repeating it writes nothing.
        let again = expect(
            server
                .post(
                    &anna.token,
                    &format!("{duplicate_path}/merge"),
                    json!({"into": id_of(&survivor)}),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(again["source"]["version"], merged["source"]["version"]);
        assert_eq!(again["target"]["version"], merged["target"]["version"]);
        let position = merged["target"]["position"].as_u64().unwrap();

        let closed = expect(
            server
                .get(
                    &anna.token,
                    &format!("{duplicate_path}?min_position={position}"),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(closed["merged_into"], id_of(&survivor));
        let card = expect(
            server.get(&anna.token, &survivor_path).await,
            StatusCode::OK,
        );
        assert_eq!(card["absorbed"], json!([id_of(&duplicate)]));
        let timeline = expect(
            server
                .get(&anna.token, &format!("{survivor_path}/timeline"))
                .await,
            StatusCode::OK,
        );
        let types = event_types(&timeline);
        assert_eq!(
            types.iter().filter(|t| *t == "company_created").count(),
            2,
            "{types:?}"
        );
        for expected in [
            "company_updated",
            "contact_created",
            "company_merged_into",
            "company_absorbed",
        ] {
            assert!(
                types.contains(&expected.to_owned()),
                "{expected}: {types:?}"
            );
        }
        // The duplicate's own history is still its own.
        let own = expect(
            server
                .get(&anna.token, &format!("{duplicate_path}/timeline?limit=2"))
                .await,
            StatusCode::OK,
        );
        assert_eq!(own["items"].as_array().unwrap().len(), 2);
        assert!(own["next_cursor"].is_string(), "{own}");
        // Lists leave the closed card out; its contact shows under the survivor.
        assert_eq!(all_companies(&server).await.len(), 2);
        let contacts = expect(
            server
                .get(
                    &anna.token,
                    &format!("/api/v1/contacts?company={}", id_of(&survivor)),
                )
                .await,
            StatusCode::OK,
        );
        assert_eq!(ids(&contacts), [id_of(&contact)]);
        // A closed card takes no more changes.
        expect_problem(
            server
                .patch(&anna.token, &duplicate_path, json!({"name": "Ещё"}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "merged",
        );
        // Merging into a closed card is refused.
        let third = create_company(&server, &anna, json!({"name": "Третья"})).await;
        expect_problem(
            server
                .post(
                    &anna.token,
                    &format!("/api/v1/companies/{}/merge", id_of(&third)),
                    json!({"into": id_of(&duplicate)}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "target_merged",
        );

        // Contacts merge the same way; an operator may do it.
        let operator = server
            .user("operator", &[Role::Operator], server.company_department)
            .await;
        let twin = create_contact(
            &server,
            &anna,
            json!({"surname": "Иванов", "name": "Пётр", "phones": ["+7 912 345-67-89"]}),
        )
        .await;
        let merged = expect(
            server
                .post(
                    &operator.token,
                    &format!("/api/v1/contacts/{}/merge", id_of(&twin)),
                    json!({"into": id_of(&contact)}),
                )
                .await,
            StatusCode::OK,
        );
        let timeline = expect(
            server
                .get(
                    &anna.token,
                    &format!(
                        "/api/v1/contacts/{}/timeline?min_position={}",
                        id_of(&contact),
                        merged["target"]["position"]
                    ),
                )
                .await,
            StatusCode::OK,
        );
        let types = event_types(&timeline);
        assert_eq!(
            types.iter().filter(|t| *t == "contact_created").count(),
            2,
            "{types:?}"
        );
        assert!(types.contains(&"contact_absorbed".to_owned()), "{types:?}");
    }
);

on_both_backends!(
    a_leaving_managers_records_move_and_the_history_shows_both_owners,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let boris = server
            .user("boris", &[Role::Manager], server.sales_moscow)
            .await;
        let vera = server
            .user("vera", &[Role::Manager], server.sales_spb)
            .await;
        let head = server
            .user("head", &[Role::HeadOfDepartment], server.sales_moscow)
            .await;
        let company = create_company(&server, &anna, json!({"name": "Ромашка"})).await;
        let contact = create_contact(
            &server,
            &anna,
            json!({"surname": "Иванов", "name": "Пётр", "company": id_of(&company)}),
        )
        .await;
        let deal = expect(
            server
                .post(
                    &anna.token,
                    "/api/v1/deals",
                    json!({"process": "b2b-sale", "title": "Лицензии", "company": id_of(&company)}),
                )
                .await,
            StatusCode::CREATED,
        );
        let call = expect(
            server
                .post(
                    &anna.token,
                    "/api/v1/activities",
                    json!({"kind": "call", "direction": "outgoing",
                           "due_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
                )
                .await,
            StatusCode::CREATED,
        );
        let path = format!("/api/v1/users/{}/reassign", anna.id);

        // Anna cannot hand herself over; the head cannot hand her to someone
        // outside the department.
        expect_problem(
            server
                .post(&anna.token, &path, json!({"to": boris.id}))
                .await,
            StatusCode::FORBIDDEN,
            "not_responsible",
        );
        expect_problem(
            server
                .post(&head.token, &path, json!({"to": vera.id}))
                .await,
            StatusCode::FORBIDDEN,
            "outside_department",
        );
        expect_problem(
            server
                .post(&head.token, &path, json!({"to": anna.id}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "same_user",
        );
        expect_problem(
            server
                .post(&head.token, &path, json!({"to": uuid::Uuid::now_v7()}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_unknown",
        );
        expect_problem(
            server
                .post(
                    &head.token,
                    &format!("/api/v1/users/{}/reassign", uuid::Uuid::now_v7()),
                    json!({"to": boris.id}),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );

        let moved = expect(
            server
                .post(&head.token, &path, json!({"to": boris.id}))
                .await,
            StatusCode::OK,
        );
        assert_eq!(moved["companies"], 1, "{moved}");
        assert_eq!(moved["contacts"], 1, "{moved}");
        assert_eq!(moved["deals"], 1, "{moved}");
        // Hers, and the "call the new lead" task the deal's process planned.
        assert_eq!(moved["activities"], 2, "{moved}");
        assert_eq!(moved["failed"], json!([]), "{moved}");

        // Boris has it all now; Anna sees none of it.
        let (_, list) = server.get(&boris.token, "/api/v1/companies").await;
        assert_eq!(ids(&list), [id_of(&company)]);
        let (_, list) = server.get(&boris.token, "/api/v1/contacts").await;
        assert_eq!(ids(&list), [id_of(&contact)]);
        let (_, card) = server
            .get(&boris.token, &format!("/api/v1/deals/{}", id_of(&deal)))
            .await;
        assert_eq!(card["responsible"], boris.id.to_string(), "{card}");
        let (_, activity) = server
            .get(
                &boris.token,
                &format!("/api/v1/activities/{}", id_of(&call)),
            )
            .await;
        assert_eq!(activity["responsible"], boris.id.to_string(), "{activity}");
        let (_, list) = server.get(&anna.token, "/api/v1/companies").await;
        assert!(ids(&list).is_empty());
        expect_problem(
            server
                .get(
                    &anna.token,
                    &format!("/api/v1/contacts/{}", id_of(&contact)),
                )
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );

        // The history keeps both owners.
        let timeline = expect(
            server
                .get(
                    &boris.token,
                    &format!("/api/v1/companies/{}/timeline", id_of(&company)),
                )
                .await,
            StatusCode::OK,
        );
        let items = timeline["items"].as_array().unwrap();
        let created = items
            .iter()
            .find(|e| e["event_type"] == "company_created")
            .expect("company_created");
        assert_eq!(created["data"]["responsible"], anna.id.to_string());
        let reassigned = items
            .iter()
            .find(|e| e["event_type"] == "company_reassigned")
            .expect("company_reassigned");
        assert_eq!(reassigned["data"]["from"], anna.id.to_string());
        assert_eq!(reassigned["data"]["to"], boris.id.to_string());
        assert!(items
            .iter()
            .any(|e| e["event_type"] == "contact_reassigned"));

        // Nothing is left to move.
        let again = expect(
            server
                .post(&head.token, &path, json!({"to": boris.id}))
                .await,
            StatusCode::OK,
        );
        assert_eq!(
            (
                again["companies"].as_u64(),
                again["contacts"].as_u64(),
                again["deals"].as_u64()
            ),
            (Some(0), Some(0), Some(0))
        );
    }
);

on_both_backends!(
    bad_input_is_a_400_naming_the_field_and_writes_nothing,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let company = create_company(&server, &anna, json!({"name": "Ромашка"})).await;
        let company_path = format!("/api/v1/companies/{}", id_of(&company));
        let contact =
            create_contact(&server, &anna, json!({"surname": "Иванов", "name": "Пётр"})).await;
        let contact_path = format!("/api/v1/contacts/{}", id_of(&contact));
        let cases: Vec<Case> = vec![
            (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                None,
                server
                    .post_raw(&anna.token, "/api/v1/companies", "{\"name\": ")
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                None,
                server
                    .post_raw(
                        &anna.token,
                        "/api/v1/contacts",
                        "{\"surname\": \"x\"} trailing",
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("colour"),
                server
                    .post(
                        &anna.token,
                        "/api/v1/companies",
                        json!({"name": "x", "colour": "red"}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("inn"),
                server
                    .post(
                        &anna.token,
                        "/api/v1/companies",
                        json!({"name": "x", "inn": 7707083893_u64}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("phones"),
                server
                    .post(
                        &anna.token,
                        "/api/v1/contacts",
                        json!({"surname": "x", "name": "y", "phones": "+79123456789"}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("responsible"),
                server
                    .post(
                        &anna.token,
                        "/api/v1/contacts",
                        json!({"surname": "x", "name": "y", "responsible": "anna"}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("nmae"),
                server
                    .patch(&anna.token, &company_path, json!({"nmae": "Лютик"}))
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("expected_version"),
                server
                    .patch(
                        &anna.token,
                        &company_path,
                        json!({"expected_version": "one", "name": "Лютик"}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("responsible"),
                server
                    .patch(&anna.token, &contact_path, json!({"responsible": 5}))
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("phone"),
                server
                    .patch(
                        &anna.token,
                        &contact_path,
                        json!({"phone": ["+79123456789"]}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                None,
                server
                    .patch(&anna.token, &contact_path, json!(["not", "an", "object"]))
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("into"),
                server
                    .post(
                        &anna.token,
                        &format!("{company_path}/merge"),
                        json!({"into": "somewhere"}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_id",
                Some("id"),
                server
                    .get(&anna.token, "/api/v1/companies/not-a-uuid")
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_id",
                Some("id"),
                server
                    .patch(
                        &anna.token,
                        "/api/v1/contacts/12345",
                        json!({"position": "x"}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_id",
                Some("id"),
                server
                    .get(&anna.token, "/api/v1/companies/zzz/timeline")
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_id",
                Some("id"),
                server
                    .post(
                        &anna.token,
                        "/api/v1/users/nobody/reassign",
                        json!({"to": anna.id}),
                    )
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_query",
                Some("colour"),
                server
                    .get(&anna.token, "/api/v1/companies?colour=red")
                    .await,
            ),
            (
                StatusCode::BAD_REQUEST,
                "invalid_query",
                Some("responsible"),
                server
                    .get(&anna.token, "/api/v1/contacts?responsible=anna")
                    .await,
            ),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "limit_out_of_range",
                Some("limit"),
                server.get(&anna.token, "/api/v1/contacts?limit=0").await,
            ),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_cursor",
                Some("cursor"),
                server
                    .get(&anna.token, &format!("{company_path}/timeline?cursor=abc"))
                    .await,
            ),
            (
                StatusCode::NOT_FOUND,
                "not_found",
                None,
                server
                    .get(
                        &anna.token,
                        &format!("/api/v1/companies/{}", uuid::Uuid::now_v7()),
                    )
                    .await,
            ),
            (
                StatusCode::UNAUTHORIZED,
                "token_invalid",
                None,
                server.get("vrk_0000", "/api/v1/companies").await,
            ),
        ];
        for (status, code, field, (actual, body)) in cases {
            assert_eq!(actual, status, "{code}: {body}");
            assert_eq!(body["code"], code, "{body}");
            if let Some(field) = field {
                assert_eq!(body["field"], field, "{body}");
            }
        }
        assert_eq!(all_companies(&server).await, [id_of(&company)]);
        assert_eq!(all_contacts(&server).await, [id_of(&contact)]);
        let card = expect(server.get(&anna.token, &company_path).await, StatusCode::OK);
        assert_eq!(card["version"], 1);
        let card = expect(server.get(&anna.token, &contact_path).await, StatusCode::OK);
        assert_eq!(card["version"], 1);
    }
);

on_both_backends!(
    an_idempotency_key_makes_a_retried_create_return_the_first_record,
    |server: TestServer| async move {
        let anna = server
            .user("anna", &[Role::Manager], server.sales_moscow)
            .await;
        let body = json!({"name": "ООО Ромашка", "inn": ROMASHKA_INN});
        let first = post_with_key(
            &server,
            &anna.token,
            "/api/v1/companies?strict=true",
            "create-1",
            body.clone(),
        )
        .await;
        let second = post_with_key(
            &server,
            &anna.token,
            "/api/v1/companies?strict=true",
            "create-1",
            body.clone(),
        )
        .await;
        assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
        // The retry is not its own duplicate.
        assert_eq!(second.0, StatusCode::CREATED, "{}", second.1);
        assert_eq!(first.1["id"], second.1["id"]);
        assert_eq!(first.1["version"], second.1["version"]);
        assert_eq!(first.1["position"], second.1["position"]);
        assert_eq!(second.1["duplicates"], json!([]));
        assert_eq!(all_companies(&server).await, [id_of(&first.1)]);
        let company_path = format!("/api/v1/companies/{}", id_of(&first.1));

        let contact = json!({"surname": "Иванов", "name": "Пётр", "phones": ["+79123456789"]});
        let first = post_with_key(
            &server,
            &anna.token,
            "/api/v1/contacts",
            "create-1",
            contact.clone(),
        )
        .await;
        let second = post_with_key(
            &server,
            &anna.token,
            "/api/v1/contacts",
            "create-1",
            contact,
        )
        .await;
        assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
        assert_eq!(second.0, StatusCode::CREATED, "{}", second.1);
        assert_eq!(first.1["id"], second.1["id"]);
        assert_eq!(all_contacts(&server).await, [id_of(&first.1)]);

        // A change with a key is applied once.
        let change = || async {
            let response = server
                .client
                .patch(format!("{}{company_path}", server.base))
                .bearer_auth(&anna.token)
                .header("Idempotency-Key", "rename-1")
                .json(&json!({"expected_version": 1, "name": "Ромашка-2"}))
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        };
        let (status, once) = change().await;
        assert_eq!(status, StatusCode::OK, "{once}");
        let (status, twice) = change().await;
        assert_eq!(status, StatusCode::OK, "{twice}");
        assert_eq!(once["version"], 2);
        assert_eq!(twice["version"], 2);
    }
);

on_both_backends!(
    the_openapi_document_describes_the_customer_base,
    |server: TestServer| async move {
        let response = server
            .client
            .get(format!("{}/api/v1/openapi.json", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let document: Value = response.json().await.unwrap();
        for path in [
            "/api/v1/companies",
            "/api/v1/companies/{id}",
            "/api/v1/companies/{id}/merge",
            "/api/v1/companies/{id}/timeline",
            "/api/v1/contacts",
            "/api/v1/contacts/{id}",
            "/api/v1/contacts/{id}/merge",
            "/api/v1/contacts/{id}/timeline",
            "/api/v1/users/{id}/reassign",
        ] {
            assert!(document["paths"].get(path).is_some(), "{path} missing");
        }
        for schema in [
            "CompanyRecord",
            "ContactRecord",
            "CompanyRow",
            "ContactRow",
            "CompanyInput",
            "ContactInput",
            "CompanyPatch",
            "ContactPatch",
            "Created",
            "Reassigned",
        ] {
            assert!(
                document["components"]["schemas"].get(schema).is_some(),
                "{schema} missing"
            );
        }
    }
);
