//! Mailings end to end on both backends, with mail captured by the SMTP
//! sink the test starts: a segment of IT companies' contacts reaches only
//! those with consent and an e-mail; each gets one personalised message
//! with an unsubscribe link (also as `List-Unsubscribe`), sent again after a
//! transient refusal; each message is an e-mail activity on the contact.
//! The link unsubscribes (one-click POST); a forged one is refused. A
//! mailing resumed after a crash skips whom it already reached. Rights and
//! bad input: managers 403, unknown placeholders and dictionary values 422.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{expect_problem, TestServer};
use voronka_app::crm::records;
use voronka_app::mailings::{mailing_activity_id, unsubscribe_token};
use voronka_core::{Actor, Role};
use voronka_crm::activity::{Activity, ActivityCommand, ActivityInput};
use voronka_crm::mailing::{Mailing, MailingCommand, MailingId};
use voronka_crm::{ContactId, Dictionaries, UserId};

const DEADLINE: Duration = Duration::from_secs(20);

async fn created(answer: (StatusCode, Value)) -> Value {
    let (status, body) = answer;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn company(server: &TestServer, name: &str, industry: &str) -> String {
    created(
        server
            .post(
                &server.admin,
                "/api/v1/companies",
                json!({"name": name, "industry": industry}),
            )
            .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn contact(server: &TestServer, body: Value) -> String {
    created(server.post(&server.admin, "/api/v1/contacts", body).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wait_finished(server: &TestServer, id: &str) -> Value {
    let started = tokio::time::Instant::now();
    loop {
        let (status, view) = server
            .get(&server.admin, &format!("/api/v1/mailings/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        if view["status"] == "finished" {
            return view;
        }
        assert!(started.elapsed() < DEADLINE, "never finished: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends!(
    a_mailing_reaches_each_consenting_contact_once_and_unsubscribes_by_link,
    |server: TestServer| async move {
        let it = company(&server, "ООО Код", "it").await;
        let shop = company(&server, "ООО Лавка", "retail").await;
        let anna = contact(
            &server,
            json!({"surname": "Иванова", "name": "Анна", "emails": ["anna@kod.example"],
                   "company": it, "consent_to_mailings": true}),
        )
        .await;
        let boris = contact(
            &server,
            json!({"surname": "Петров", "name": "Борис", "emails": ["boris@kod.example"],
                   "company": it, "consent_to_mailings": true}),
        )
        .await;
        // Not reached: another industry, no consent, no e-mail.
        contact(
            &server,
            json!({"surname": "Лавкина", "name": "Вера", "emails": ["vera@lavka.example"],
                   "company": shop, "consent_to_mailings": true}),
        )
        .await;
        contact(
            &server,
            json!({"surname": "Без", "name": "Согласия", "emails": ["no@kod.example"],
                   "company": it, "consent_to_mailings": false}),
        )
        .await;
        contact(
            &server,
            json!({"surname": "Без", "name": "Почты", "company": it, "consent_to_mailings": true}),
        )
        .await;

        let segment = created(
            server
                .post(
                    &server.admin,
                    "/api/v1/segments",
                    json!({"name": "ИТ-компании", "filter": {"industry": "it"}}),
                )
                .await,
        )
        .await;
        let segment_id = segment["id"].as_str().unwrap().to_owned();
        let (status, preview) = server
            .get(
                &server.admin,
                &format!("/api/v1/segments/{segment_id}/recipients"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(preview["total"], 2, "{preview}");
        let emails: Vec<&str> = preview["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, ["anna@kod.example", "boris@kod.example"]);

        let mailing = created(
            server
                .post(
                    &server.admin,
                    "/api/v1/mailings",
                    json!({"subject": "Весенние скидки", "segment": segment_id,
                           "body": "Здравствуйте, {{name}}!\nДля {{company}} скидка 10%."}),
                )
                .await,
        )
        .await;
        assert_eq!(mailing["status"], "draft");
        let mailing_id = mailing["id"].as_str().unwrap().to_owned();
        server.mail.refuse_next(1);
        let (status, sent) = server
            .post(
                &server.admin,
                &format!("/api/v1/mailings/{mailing_id}/send"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
        let finished = wait_finished(&server, &mailing_id).await;
        assert_eq!(finished["recipients"], 2, "{finished}");
        assert_eq!(
            finished["progress"],
            json!({"sent": 2, "skipped": 0, "failed": 0})
        );

        let mail = server.mail.received();
        assert_eq!(mail.len(), 2, "one each, the refused one sent again");
        let to_anna = mail
            .iter()
            .find(|m| m.to == ["anna@kod.example"])
            .expect("a message to Anna");
        assert!(mail.iter().any(|m| m.to == ["boris@kod.example"]));
        let text = to_anna.text().expect("a UTF-8 body");
        assert!(
            text.starts_with("Здравствуйте, Анна!\r\nДля ООО Код скидка 10%."),
            "{text}"
        );
        let link = to_anna
            .header("List-Unsubscribe")
            .expect("List-Unsubscribe")
            .trim_matches(['<', '>'])
            .to_owned();
        assert!(
            link.starts_with(&format!("{}/unsubscribe/", server.base)),
            "{link}"
        );
        assert!(text.contains(&link), "the link is in the text too: {text}");

        // Each message is an e-mail activity on its contact.
        let (status, activities) = server
            .get(&server.admin, &format!("/api/v1/activities?contact={anna}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{activities}");
        let items = activities["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{activities}");
        assert_eq!(items[0]["kind"], "email");
        assert_eq!(items[0]["subject"], "Весенние скидки");

        // Sent once only.
        expect_problem(
            server
                .post(
                    &server.admin,
                    &format!("/api/v1/mailings/{mailing_id}/send"),
                    json!({}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "mailing_already_sent",
        );

        // The link: a page with a button; the POST unsubscribes.
        let page = server.client.get(&link).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\""), "{html}");
        let (status, card) = server
            .get(&server.admin, &format!("/api/v1/contacts/{anna}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(card["consent_to_mailings"], true, "a GET changes nothing");
        let forged = format!("{}0", &link[..link.len() - 1]);
        let forged = if forged == link {
            format!("{}1", &link[..link.len() - 1])
        } else {
            forged
        };
        let refused = server
            .client
            .post(&forged)
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::NOT_FOUND);
        for _ in 0..2 {
            let done = server
                .client
                .post(&link)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), StatusCode::OK, "a repeat is fine too");
        }
        let (_, card) = server
            .get(&server.admin, &format!("/api/v1/contacts/{anna}"))
            .await;
        assert_eq!(card["consent_to_mailings"], false, "{card}");
        let (_, preview) = server
            .get(
                &server.admin,
                &format!("/api/v1/segments/{segment_id}/recipients"),
            )
            .await;
        assert_eq!(preview["total"], 1, "{preview}");
        assert_eq!(preview["items"][0]["contact"], boris.as_str());
    }
);

on_both_backends!(
    a_mailing_cut_off_by_a_crash_resumes_without_repeating_anyone,
    |server: TestServer| async move {
        let it = company(&server, "ООО Код", "it").await;
        let mut people = Vec::new();
        for n in 0..3 {
            people.push(
                contact(
                    &server,
                    json!({"surname": format!("Клиент{n}"), "name": "Имя",
                           "emails": [format!("c{n}@kod.example")],
                           "company": it, "consent_to_mailings": true}),
                )
                .await,
            );
        }
        let segment = created(
            server
                .post(
                    &server.admin,
                    "/api/v1/segments",
                    json!({"name": "Все ИТ", "filter": {"industry": "it"}}),
                )
                .await,
        )
        .await;
        let mailing = created(
            server
                .post(
                    &server.admin,
                    "/api/v1/mailings",
                    json!({"subject": "Новости", "segment": segment["id"],
                           "body": "Отписка: {{unsubscribe_url}}"}),
                )
                .await,
        )
        .await;
        let id = MailingId::from_uuid(mailing["id"].as_str().unwrap().parse().unwrap());
        // The process recorded the start and reached the first contact,
        // then died: the start is written, the first e-mail activity too.
        let recipients: Vec<ContactId> = people
            .iter()
            .map(|p| ContactId::from_uuid(p.parse().unwrap()))
            .collect();
        let dictionaries = Dictionaries::standard();
        let context = voronka_crm::Context {
            now: chrono::Utc::now(),
            actor: UserId::from_uuid(*server.admin_id.as_uuid()),
            dictionaries: &dictionaries,
        };
        records::execute::<Mailing>(
            &server.store,
            id.0,
            &MailingCommand::StartSending { recipients },
            &context,
            &Actor::system("test"),
            None,
            None,
        )
        .await
        .expect("start");
        let first = ContactId::from_uuid(people[0].parse().unwrap());
        let activity = mailing_activity_id(id, first);
        records::create::<Activity>(
            &server.store,
            activity.0,
            &ActivityCommand::Log {
                id: activity,
                input: ActivityInput {
                    kind: "email".into(),
                    direction: Some("outgoing".into()),
                    channel: None,
                    subject: Some("Новости".into()),
                    planned_start: None,
                    due_at: None,
                    responsible: None,
                    deal: None,
                    contact: Some(people[0].clone()),
                    company: None,
                },
                outcome: None,
                result: None,
                default_responsible: context.actor,
            },
            &context,
            &Actor::system("test"),
            None,
        )
        .await
        .expect("the first e-mail activity");
        let (_, mailing_view) = server
            .get(&server.admin, &format!("/api/v1/mailings/{}", id.0))
            .await;
        assert_eq!(mailing_view["status"], "sending", "{mailing_view}");
        assert_eq!(server.mailings.resume().await.expect("resume"), 1);
        let finished = wait_finished(&server, &id.0.to_string()).await;
        assert_eq!(finished["progress"]["sent"], 3, "{finished}");
        let mail = server.mail.received();
        assert_eq!(
            mail.len(),
            2,
            "the first contact was reached before the crash"
        );
        assert!(mail.iter().all(|m| m.to != ["c0@kod.example"]));
        // A second resume (another restart) sends nothing more.
        assert_eq!(server.mailings.resume().await.expect("resume"), 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.mail.received().len(), 2);
        let token = unsubscribe_token(
            &voronka_crm::mailing::MailingKey("0".repeat(64)),
            id,
            ContactId::from_uuid(people[0].parse().unwrap()),
        );
        let forged = server
            .client
            .post(format!("{}/unsubscribe/{token}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            forged.status(),
            StatusCode::NOT_FOUND,
            "signed with another key"
        );
    }
);

on_both_backends!(
    only_heads_and_above_send_mailings_and_input_is_checked,
    |server: TestServer| async move {
        let ivan = server
            .user("ivan", &[Role::Manager], server.sales_moscow)
            .await;
        expect_problem(
            server.get(&ivan.token, "/api/v1/segments").await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        expect_problem(
            server
                .post(
                    &ivan.token,
                    "/api/v1/segments",
                    json!({"name": "x", "filter": {}}),
                )
                .await,
            StatusCode::FORBIDDEN,
            "role_lacks_right",
        );
        let bad = expect_problem(
            server
                .post(
                    &server.admin,
                    "/api/v1/segments",
                    json!({"name": "", "filter": {"industry": "astrology"}}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
        );
        let fields: Vec<&str> = bad["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["name", "filter.industry"], "{bad}");
        let segment = created(
            server
                .post(
                    &server.admin,
                    "/api/v1/segments",
                    json!({"name": "Пустой", "filter": {"industry": "manufacturing"}}),
                )
                .await,
        )
        .await;
        let bad = expect_problem(
            server
                .post(
                    &server.admin,
                    "/api/v1/mailings",
                    json!({"subject": "Тема", "segment": segment["id"],
                           "body": "Привет, {{phone}}"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_placeholder",
        );
        assert_eq!(bad["field"], "body", "{bad}");
        let unknown = expect_problem(
            server
                .post(
                    &server.admin,
                    "/api/v1/mailings",
                    json!({"subject": "Тема", "segment": uuid::Uuid::now_v7(), "body": "Текст"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_segment",
        );
        assert_eq!(unknown["field"], "segment");
        let empty = created(
            server
                .post(
                    &server.admin,
                    "/api/v1/mailings",
                    json!({"subject": "Тема", "segment": segment["id"], "body": "Текст"}),
                )
                .await,
        )
        .await;
        expect_problem(
            server
                .post(
                    &server.admin,
                    &format!("/api/v1/mailings/{}/send", empty["id"].as_str().unwrap()),
                    json!({}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_recipients",
        );
        let garbage = server
            .client
            .get(format!("{}/unsubscribe/<script>", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(garbage.status(), StatusCode::NOT_FOUND);
        assert!(server.mail.received().is_empty());
    }
);
