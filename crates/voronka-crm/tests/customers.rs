//! Companies, contacts and their index: given/when/then on `decide`, and the
//! index fed with the events those decisions produce, as the log would
//! deliver them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Value};
use voronka_core::time::timestamp_from_micros;
use voronka_core::{
    Actor, EventMetadata, Payload, Position, RecordedEvent, StreamId, StreamVersion, Timestamp,
};
use voronka_crm::company::{
    Company, CompanyChanges, CompanyCommand, CompanyEvent, CompanyInput, CompanyState,
};
use voronka_crm::contact::{
    Contact, ContactChanges, ContactCommand, ContactEvent, ContactInput, ContactState,
};
use voronka_crm::customer_index::{CompanyFilter, ContactFilter, CustomerIndex};
use voronka_crm::{
    encode_event, Aggregate, CompanyId, ContactId, Context, CrmError, Cursor, Dictionaries,
    EntityRef, Timelines, UserId,
};

const LEGAL_INN: &str = "7707083893";
const PERSON_INN: &str = "500100732259";

fn user(n: u128) -> UserId {
    UserId::from_uuid(uuid::Uuid::from_u128(n))
}

fn company_id(n: u128) -> CompanyId {
    CompanyId::from_uuid(uuid::Uuid::from_u128(0xC0_0000 + n))
}

fn contact_id(n: u128) -> ContactId {
    ContactId::from_uuid(uuid::Uuid::from_u128(0xD0_0000 + n))
}

/// 2024-06-01T00:00:00Z.
fn now() -> Timestamp {
    timestamp_from_micros(1_717_200_000_000_000)
}

fn company_input(value: Value) -> CompanyInput {
    serde_json::from_value(value).expect("a company input")
}

fn contact_input(value: Value) -> ContactInput {
    serde_json::from_value(value).expect("a contact input")
}

fn company_changes(value: Value) -> CompanyChanges {
    serde_json::from_value(value).expect("company changes")
}

fn contact_changes(value: Value) -> ContactChanges {
    serde_json::from_value(value).expect("contact changes")
}

/// `(field, code)` of every reported error.
fn invalid_fields(error: CrmError) -> Vec<(String, &'static str)> {
    match error {
        CrmError::Invalid(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn pairs(expected: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    expected.iter().map(|(f, c)| (f.to_string(), *c)).collect()
}

/// Decides commands, folds the events into per-stream states and feeds them
/// to the index as recorded events with increasing positions.
struct World {
    dictionaries: Dictionaries,
    position: u64,
    companies: HashMap<CompanyId, (CompanyState, u64)>,
    contacts: HashMap<ContactId, (ContactState, u64)>,
    index: CustomerIndex,
    timelines: Timelines,
}

impl World {
    fn new() -> Self {
        Self {
            dictionaries: Dictionaries::standard(),
            position: 0,
            companies: HashMap::new(),
            contacts: HashMap::new(),
            index: CustomerIndex::new(),
            timelines: Timelines::new(),
        }
    }

    fn context(&self) -> Context<'_> {
        Context {
            now: now(),
            actor: user(1),
            dictionaries: &self.dictionaries,
        }
    }

    fn company(
        &mut self,
        id: CompanyId,
        command: CompanyCommand,
    ) -> Result<Vec<CompanyEvent>, CrmError> {
        let (mut state, mut version) = self.companies.get(&id).cloned().unwrap_or_default();
        let events = Company::decide(&state, &command, &self.context())?;
        for event in &events {
            Company::apply(&mut state, event);
            version += 1;
            let data = encode_event::<Company>(event).expect("encodes");
            let stream = StreamId::for_entity(Company::CATEGORY, id).expect("stream id");
            self.feed(stream, version, &data.event_type, data.payload);
        }
        self.companies.insert(id, (state, version));
        Ok(events)
    }

    fn contact(
        &mut self,
        id: ContactId,
        command: ContactCommand,
    ) -> Result<Vec<ContactEvent>, CrmError> {
        let (mut state, mut version) = self.contacts.get(&id).cloned().unwrap_or_default();
        let events = Contact::decide(&state, &command, &self.context())?;
        for event in &events {
            Contact::apply(&mut state, event);
            version += 1;
            let data = encode_event::<Contact>(event).expect("encodes");
            let stream = StreamId::for_entity(Contact::CATEGORY, id).expect("stream id");
            self.feed(stream, version, &data.event_type, data.payload);
        }
        self.contacts.insert(id, (state, version));
        Ok(events)
    }

    fn feed(&mut self, stream: StreamId, version: u64, event_type: &str, payload: Payload) {
        self.position += 1;
        let event = RecordedEvent {
            position: Position(self.position),
            stream_id: stream,
            stream_version: StreamVersion(version),
            event_type: event_type.to_owned(),
            schema_version: 1,
            payload,
            metadata: EventMetadata::by(Actor::user(user(1).to_string())),
            recorded_at: now() + chrono::Duration::seconds(self.position as i64),
            occurred_at: None,
        };
        self.index.apply(&event, &mut self.timelines);
    }

    fn create_company(&mut self, n: u128, input: Value) -> CompanyId {
        let id = company_id(n);
        self.company(
            id,
            CompanyCommand::Create {
                id,
                input: company_input(input),
                default_responsible: user(1),
            },
        )
        .expect("company created");
        id
    }

    fn create_contact(&mut self, n: u128, input: Value) -> ContactId {
        let id = contact_id(n);
        self.contact(
            id,
            ContactCommand::Create {
                id,
                input: contact_input(input),
                default_responsible: user(1),
            },
        )
        .expect("contact created");
        id
    }

    fn company_state(&self, id: CompanyId) -> &CompanyState {
        &self.companies[&id].0
    }

    fn contact_state(&self, id: ContactId) -> &ContactState {
        &self.contacts[&id].0
    }

    fn find_companies(&self, filter: CompanyFilter) -> Vec<CompanyId> {
        self.index
            .companies(&filter, &|_| true, None, 200)
            .items
            .iter()
            .map(|row| row.record.id)
            .collect()
    }

    fn find_contacts(&self, filter: ContactFilter) -> Vec<ContactId> {
        self.index
            .contacts(&filter, &|_| true, None, 200)
            .items
            .iter()
            .map(|row| row.record.id)
            .collect()
    }

    fn timeline_types(&self, entity: EntityRef) -> Vec<String> {
        self.timelines
            .page(entity, None, 200)
            .items
            .iter()
            .map(|entry| entry.event_type.clone())
            .collect()
    }
}

fn search(q: &str) -> ContactFilter {
    ContactFilter {
        q: Some(q.to_owned()),
        ..ContactFilter::default()
    }
}

fn search_companies(q: &str) -> CompanyFilter {
    CompanyFilter {
        q: Some(q.to_owned()),
        ..CompanyFilter::default()
    }
}

fn decide_company(
    state: &CompanyState,
    command: CompanyCommand,
) -> Result<Vec<CompanyEvent>, CrmError> {
    let dictionaries = Dictionaries::standard();
    let context = Context {
        now: now(),
        actor: user(1),
        dictionaries: &dictionaries,
    };
    Company::decide(state, &command, &context)
}

fn decide_contact(
    state: &ContactState,
    command: ContactCommand,
) -> Result<Vec<ContactEvent>, CrmError> {
    let dictionaries = Dictionaries::standard();
    let context = Context {
        now: now(),
        actor: user(1),
        dictionaries: &dictionaries,
    };
    Contact::decide(state, &command, &context)
}

fn create_company_command(input: Value) -> CompanyCommand {
    CompanyCommand::Create {
        id: company_id(1),
        input: company_input(input),
        default_responsible: user(1),
    }
}

fn create_contact_command(input: Value) -> ContactCommand {
    ContactCommand::Create {
        id: contact_id(1),
        input: contact_input(input),
        default_responsible: user(1),
    }
}

// ---------------------------------------------------------------------------
// Decisions: companies.
// ---------------------------------------------------------------------------

#[test]
fn it_should_create_a_company_with_normalized_values_and_the_actor_as_default_responsible() {
    let events = decide_company(
        &CompanyState::default(),
        create_company_command(json!({
            "name": "  ООО   «Ромашка» ", "legal_form": " ooo ", "inn": " 7707083893 ",
            "kpp": "773601001", "industry": "it", "segment": "small",
            "address": "  Москва,\nул. Тверская, 1 ", "website": " https://romashka.ru ",
            "custom": {"tariff": "pro", "dropped": null}
        })),
    )
    .expect("created");
    assert_eq!(
        serde_json::to_value(&events).unwrap(),
        json!([{
            "type": "company_created", "id": company_id(1), "name": "ООО «Ромашка»",
            "legal_form": "ooo", "inn": LEGAL_INN, "kpp": "773601001", "industry": "it",
            "segment": "small", "address": "Москва,\nул. Тверская, 1",
            "website": "https://romashka.ru", "responsible": user(1), "custom": {"tariff": "pro"}
        }])
    );
    let events = decide_company(
        &CompanyState::default(),
        create_company_command(
            json!({"name": "ИП Петров", "responsible": user(7), "legal_form": ""}),
        ),
    )
    .unwrap();
    let CompanyEvent::CompanyCreated {
        responsible,
        legal_form,
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*responsible, user(7));
    assert_eq!(*legal_form, None);
}

#[test]
fn it_should_not_create_a_company_when_the_inn_checksum_is_wrong() {
    let error = decide_company(
        &CompanyState::default(),
        create_company_command(json!({"name": "Ромашка", "inn": "7707083894"})),
    )
    .unwrap_err();
    assert_eq!(invalid_fields(error), pairs(&[("inn", "inn_checksum")]));
    for (inn, code) in [("77070838", "inn_length"), ("77070838 93", "inn_non_digit")] {
        let error = decide_company(
            &CompanyState::default(),
            create_company_command(json!({"name": "Ромашка", "inn": inn})),
        )
        .unwrap_err();
        assert_eq!(invalid_fields(error), pairs(&[("inn", code)]), "{inn}");
    }
}

#[test]
fn it_should_report_every_bad_company_field_at_once() {
    let error = decide_company(
        &CompanyState::default(),
        create_company_command(json!({
            "name": "   ", "legal_form": "llc", "inn": "7707083894", "kpp": "12345",
            "industry": "space", "segment": "huge", "address": "a\u{0}b",
            "website": "not a site", "custom": {"Bad Key": 1}
        })),
    )
    .unwrap_err();
    assert_eq!(
        invalid_fields(error),
        pairs(&[
            ("name", "required"),
            ("legal_form", "not_in_dictionary"),
            ("inn", "inn_checksum"),
            ("kpp", "kpp_length"),
            ("industry", "not_in_dictionary"),
            ("segment", "not_in_dictionary"),
            ("address", "control_characters"),
            ("website", "website_invalid"),
            ("custom.Bad Key", "custom_field_name"),
        ])
    );
    let long_name = "я".repeat(301);
    let error = decide_company(
        &CompanyState::default(),
        create_company_command(json!({"name": long_name})),
    )
    .unwrap_err();
    assert_eq!(invalid_fields(error), pairs(&[("name", "too_long")]));
}

#[test]
fn it_should_not_accept_a_kpp_without_a_legal_entity_inn() {
    for input in [
        json!({"name": "ИП Петров", "inn": PERSON_INN, "kpp": "773601001"}),
        json!({"name": "Без ИНН", "kpp": "773601001"}),
    ] {
        let error =
            decide_company(&CompanyState::default(), create_company_command(input)).unwrap_err();
        assert_eq!(
            invalid_fields(error),
            pairs(&[("kpp", "kpp_without_legal_inn")])
        );
    }
    assert!(decide_company(
        &CompanyState::default(),
        create_company_command(json!({"name": "ИП Петров", "inn": PERSON_INN})),
    )
    .is_ok());
}

#[test]
fn it_should_record_only_changed_fields_with_old_and_new_values() {
    let mut world = World::new();
    let id = world.create_company(1, json!({"name": "Ромашка", "industry": "it"}));
    let events = world
        .company(
            id,
            CompanyCommand::Update {
                changes: company_changes(json!({
                    "name": "Ромашка ", "industry": "retail", "inn": LEGAL_INN, "website": null
                })),
            },
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(&events).unwrap(),
        json!([{
            "type": "company_updated",
            "changes": {
                "industry": {"old": "it", "new": "retail"},
                "inn": {"old": null, "new": LEGAL_INN}
            }
        }])
    );
    let record = world.company_state(id).record().unwrap();
    assert_eq!(record.industry.as_deref(), Some("retail"));
    assert_eq!(record.inn.as_deref(), Some(LEGAL_INN));
}

#[test]
fn it_should_produce_no_events_when_an_update_changes_nothing() {
    let mut world = World::new();
    let company = world.create_company(
        1,
        json!({"name": "Ромашка", "inn": LEGAL_INN, "custom": {"a": 1}}),
    );
    for changes in [
        json!({}),
        json!({"name": " Ромашка", "inn": " 7707083893", "custom": {"a": 1}}),
        json!({"website": null, "custom": {"b": null}}),
    ] {
        let events = world
            .company(
                company,
                CompanyCommand::Update {
                    changes: company_changes(changes.clone()),
                },
            )
            .unwrap();
        assert!(events.is_empty(), "{changes}");
    }
    let contact = world.create_contact(
        1,
        json!({"surname": "Иванов", "name": "Пётр", "phones": ["89123456789"]}),
    );
    let events = world
        .contact(
            contact,
            ContactCommand::Update {
                changes: contact_changes(
                    json!({"phones": ["+7 (912) 345-67-89"], "surname": "Иванов"}),
                ),
            },
        )
        .unwrap();
    assert!(events.is_empty());
    assert_eq!(world.companies[&company].1, 1);
    assert_eq!(world.contacts[&contact].1, 1);
}

#[test]
fn it_should_check_an_update_like_a_creation() {
    let mut world = World::new();
    let id = world.create_company(
        1,
        json!({"name": "Ромашка", "inn": LEGAL_INN, "kpp": "773601001"}),
    );
    let error = world
        .company(
            id,
            CompanyCommand::Update {
                changes: company_changes(json!({"name": "", "inn": PERSON_INN, "website": "ftp://x.ru", "segment": "huge"})),
            },
        )
        .unwrap_err();
    assert_eq!(
        invalid_fields(error),
        pairs(&[
            ("name", "required"),
            ("segment", "not_in_dictionary"),
            ("website", "website_invalid"),
            ("kpp", "kpp_without_legal_inn"),
        ])
    );
    // Clearing the KPP along with moving to a person's INN is fine.
    let events = world
        .company(
            id,
            CompanyCommand::Update {
                changes: company_changes(json!({"inn": PERSON_INN, "kpp": null})),
            },
        )
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn it_should_reassign_a_company_and_do_nothing_when_it_is_already_theirs() {
    let mut world = World::new();
    let id = world.create_company(1, json!({"name": "Ромашка"}));
    let events = world
        .company(id, CompanyCommand::Reassign { to: user(2) })
        .unwrap();
    assert_eq!(
        events,
        [CompanyEvent::CompanyReassigned {
            from: user(1),
            to: user(2)
        }]
    );
    assert!(world
        .company(id, CompanyCommand::Reassign { to: user(2) })
        .unwrap()
        .is_empty());
    assert_eq!(
        world.company_state(id).record().unwrap().responsible,
        user(2)
    );
}

#[test]
fn it_should_refuse_every_command_on_a_merged_company_or_contact() {
    let mut world = World::new();
    let source = world.create_company(1, json!({"name": "Ромашка (дубль)"}));
    let target = world.create_company(2, json!({"name": "Ромашка"}));
    world
        .company(source, CompanyCommand::MergeInto { target })
        .unwrap();
    world
        .company(target, CompanyCommand::Absorb { source })
        .unwrap();
    for command in [
        CompanyCommand::Update {
            changes: company_changes(json!({"name": "Новое"})),
        },
        CompanyCommand::Reassign { to: user(2) },
        CompanyCommand::MergeInto { target },
        CompanyCommand::Absorb {
            source: company_id(9),
        },
    ] {
        let error = world.company(source, command).unwrap_err();
        assert_eq!(error.code(), "merged");
        assert!(matches!(error, CrmError::NotAllowed { .. }));
    }
    let source = world.create_contact(1, json!({"surname": "Иванов", "name": "Пётр"}));
    let target = world.create_contact(2, json!({"surname": "Иванов", "name": "Пётр"}));
    world
        .contact(source, ContactCommand::MergeInto { target })
        .unwrap();
    for command in [
        ContactCommand::Update {
            changes: contact_changes(json!({"position": "CEO"})),
        },
        ContactCommand::Reassign { to: user(2) },
        ContactCommand::MergeInto { target },
        ContactCommand::Absorb {
            source: contact_id(9),
        },
    ] {
        assert_eq!(world.contact(source, command).unwrap_err().code(), "merged");
    }
}

#[test]
fn it_should_refuse_commands_on_missing_records_and_a_second_creation() {
    let missing = decide_company(
        &CompanyState::default(),
        CompanyCommand::Reassign { to: user(2) },
    );
    assert_eq!(missing.unwrap_err(), CrmError::NotFound);
    let missing = decide_contact(
        &ContactState::default(),
        ContactCommand::MergeInto {
            target: contact_id(2),
        },
    );
    assert_eq!(missing.unwrap_err(), CrmError::NotFound);
    let mut world = World::new();
    world.create_company(1, json!({"name": "Ромашка"}));
    let again = world.company(
        company_id(1),
        create_company_command(json!({"name": "Ромашка"})),
    );
    assert_eq!(again.unwrap_err(), CrmError::AlreadyExists);
    world.create_contact(1, json!({"surname": "И", "name": "П"}));
    let again = world.contact(
        contact_id(1),
        create_contact_command(json!({"surname": "И", "name": "П"})),
    );
    assert_eq!(again.unwrap_err(), CrmError::AlreadyExists);
}

#[test]
fn every_event_type_is_its_serde_tag() {
    let company_events = [
        CompanyEvent::CompanyCreated {
            id: company_id(1),
            name: "x".into(),
            legal_form: None,
            inn: None,
            kpp: None,
            industry: None,
            segment: None,
            address: None,
            website: None,
            responsible: user(1),
            custom: Default::default(),
        },
        CompanyEvent::CompanyUpdated {
            changes: Default::default(),
        },
        CompanyEvent::CompanyReassigned {
            from: user(1),
            to: user(2),
        },
        CompanyEvent::CompanyMergedInto {
            target: company_id(2),
        },
        CompanyEvent::CompanyAbsorbed {
            source: company_id(2),
        },
    ];
    for event in &company_events {
        let tag = serde_json::to_value(event).unwrap()["type"].clone();
        assert_eq!(tag, json!(Company::event_type(event)));
        assert!(Company::event_type(event).starts_with("company_"));
        let back: CompanyEvent =
            serde_json::from_value(serde_json::to_value(event).unwrap()).unwrap();
        assert_eq!(&back, event);
    }
    let contact_events = [
        ContactEvent::ContactCreated {
            id: contact_id(1),
            surname: "x".into(),
            name: "y".into(),
            patronymic: None,
            phones: vec!["+79123456789".into()],
            emails: vec![],
            position: None,
            company: Some(company_id(1)),
            birthday: chrono::NaiveDate::from_ymd_opt(1990, 1, 2),
            consent_to_mailings: true,
            responsible: user(1),
            custom: Default::default(),
        },
        ContactEvent::ContactUpdated {
            changes: Default::default(),
        },
        ContactEvent::ContactReassigned {
            from: user(1),
            to: user(2),
        },
        ContactEvent::ContactMergedInto {
            target: contact_id(2),
        },
        ContactEvent::ContactAbsorbed {
            source: contact_id(2),
        },
    ];
    for event in &contact_events {
        let tag = serde_json::to_value(event).unwrap()["type"].clone();
        assert_eq!(tag, json!(Contact::event_type(event)));
        assert!(Contact::event_type(event).starts_with("contact_"));
        let back: ContactEvent =
            serde_json::from_value(serde_json::to_value(event).unwrap()).unwrap();
        assert_eq!(&back, event);
    }
}

// ---------------------------------------------------------------------------
// Decisions: contacts.
// ---------------------------------------------------------------------------

#[test]
fn phones_typed_in_different_formats_are_stored_as_one_e164_number() {
    let phones = |raw: &[&str]| {
        let events = decide_contact(
            &ContactState::default(),
            create_contact_command(json!({"surname": "Иванов", "name": "Пётр", "phones": raw})),
        )
        .unwrap();
        match &events[0] {
            ContactEvent::ContactCreated { phones, .. } => phones.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        phones(&["8 (912) 345-67-89"]),
        phones(&["+7 912 345 67 89"])
    );
    assert_eq!(phones(&["8 (912) 345-67-89"]), ["+79123456789"]);
    assert_eq!(
        phones(&[
            "8 (912) 345-67-89",
            "+7 912 345 67 89",
            "",
            "89123456789 доб. 12"
        ]),
        ["+79123456789", "+79123456789;ext=12"]
    );
}

#[test]
fn it_should_report_every_bad_contact_field_at_once() {
    let error = decide_contact(
        &ContactState::default(),
        create_contact_command(json!({
            "surname": "", "name": "Пётр",
            "phones": ["+7 912 345 67 89", "12", "abc"],
            "emails": ["ivan@", "Ivan@Example.ru"],
            "birthday": "2030-01-01", "position": "x".repeat(301),
            "custom": {"list": [1]}
        })),
    )
    .unwrap_err();
    assert_eq!(
        invalid_fields(error),
        pairs(&[
            ("surname", "required"),
            ("phones[1]", "phone_too_short"),
            ("phones[2]", "phone_letters"),
            ("emails[0]", "email_empty_domain"),
            ("position", "too_long"),
            ("birthday", "birthday_in_future"),
            ("custom.list", "custom_field_type"),
        ])
    );
}

#[test]
fn it_should_normalize_contact_values_and_update_them_with_old_and_new() {
    let mut world = World::new();
    let company = world.create_company(1, json!({"name": "Ромашка"}));
    let events = world
        .contact(
            contact_id(1),
            create_contact_command(json!({
                "surname": " Иванов ", "name": "Пётр", "patronymic": "  ",
                "emails": ["Ivan@Example.RU", "ivan@example.ru"], "company": company,
                "birthday": "1985-03-08", "consent_to_mailings": true
            })),
        )
        .unwrap();
    let ContactEvent::ContactCreated {
        surname,
        patronymic,
        emails,
        birthday,
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(surname, "Иванов");
    assert_eq!(*patronymic, None);
    assert_eq!(emails, &["ivan@example.ru"]);
    assert_eq!(
        birthday.map(|d| d.to_string()).as_deref(),
        Some("1985-03-08")
    );
    let events = world
        .contact(
            contact_id(1),
            ContactCommand::Update {
                changes: contact_changes(json!({
                    "patronymic": "Сергеевич", "emails": null, "consent_to_mailings": false,
                    "company": null, "birthday": "1985-03-08"
                })),
            },
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(&events).unwrap(),
        json!([{
            "type": "contact_updated",
            "changes": {
                "patronymic": {"old": null, "new": "Сергеевич"},
                "emails": {"old": ["ivan@example.ru"], "new": []},
                "company": {"old": company, "new": null},
                "consent_to_mailings": {"old": true, "new": false}
            }
        }])
    );
    let record = world.contact_state(contact_id(1)).record().unwrap();
    assert_eq!(record.full_name(), "Иванов Пётр Сергеевич");
    assert!(record.emails.is_empty());
    assert!(!record.consent_to_mailings);
}

#[test]
fn it_should_not_let_a_contact_update_clear_the_name() {
    let mut world = World::new();
    let id = world.create_contact(1, json!({"surname": "Иванов", "name": "Пётр"}));
    let error = world
        .contact(
            id,
            ContactCommand::Update {
                changes: contact_changes(json!({"surname": null, "name": " ", "phones": ["1"]})),
            },
        )
        .unwrap_err();
    assert_eq!(
        invalid_fields(error),
        pairs(&[
            ("surname", "required"),
            ("name", "required"),
            ("phones[0]", "phone_too_short")
        ])
    );
}

// ---------------------------------------------------------------------------
// The index.
// ---------------------------------------------------------------------------

#[test]
fn search_finds_cyrillic_names_whatever_their_case_and_yo() {
    let mut world = World::new();
    let a = world.create_contact(1, json!({"surname": "Иванов", "name": "Пётр"}));
    let b = world.create_contact(2, json!({"surname": "ИВАНОВ", "name": "Сергей"}));
    let c = world.create_contact(3, json!({"surname": "Петров", "name": "Иван"}));
    let mut found = world.find_contacts(search("иванов"));
    found.sort();
    assert_eq!(found, [a, b]);
    assert_eq!(world.find_contacts(search("ИВАНОВ петр")), [a]);
    assert_eq!(world.find_contacts(search("пётр иванов")), [a]);
    assert_eq!(world.find_contacts(search("петров")), [c]);
    assert!(world.find_contacts(search("сидоров")).is_empty());
    assert_eq!(world.find_contacts(search("  ")).len(), 3);

    let romashka = world.create_company(
        1,
        json!({"name": "ООО «Ромашка»", "website": "romashka.ru"}),
    );
    world.create_company(2, json!({"name": "Лютик"}));
    assert_eq!(
        world.find_companies(search_companies("РОМАШКА")),
        [romashka]
    );
    assert_eq!(
        world.find_companies(search_companies("romashka.RU")),
        [romashka]
    );
}

#[test]
fn a_phone_in_any_format_finds_its_contact() {
    let mut world = World::new();
    let ivanov = world.create_contact(
        1,
        json!({"surname": "Иванов", "name": "Пётр", "phones": ["+79123456789"]}),
    );
    world.create_contact(
        2,
        json!({"surname": "Петров", "name": "Иван", "phones": ["+74951234567"]}),
    );
    for query in [
        "89123456789",
        "+7 (912) 345-67-89",
        "912 345 67 89",
        "345-67-89",
        "+79123456789",
    ] {
        assert_eq!(world.find_contacts(search(query)), [ivanov], "{query}");
    }
    let email = world.create_contact(
        3,
        json!({"surname": "С", "name": "А", "emails": ["Sales@Romashka.ru"]}),
    );
    assert_eq!(world.find_contacts(search("sales@romashka")), [email]);
}

#[test]
fn an_inn_query_finds_the_company() {
    let mut world = World::new();
    let legal = world.create_company(1, json!({"name": "Ромашка", "inn": LEGAL_INN}));
    let person = world.create_company(2, json!({"name": "ИП Петров", "inn": PERSON_INN}));
    assert_eq!(world.find_companies(search_companies(LEGAL_INN)), [legal]);
    assert_eq!(world.find_companies(search_companies(PERSON_INN)), [person]);
    assert_eq!(world.find_companies(search_companies("7707")), [legal]);
}

#[test]
fn duplicates_are_found_by_inn_phone_and_email_but_not_on_merged_cards() {
    let mut world = World::new();
    let first = world.create_company(1, json!({"name": "Ромашка", "inn": LEGAL_INN}));
    let second = world.create_company(2, json!({"name": "Ромашка 2", "inn": LEGAL_INN}));
    world.create_company(3, json!({"name": "Лютик", "inn": PERSON_INN}));
    assert_eq!(world.index.company_duplicates(LEGAL_INN), [first, second]);
    assert_eq!(
        world
            .index
            .duplicate_candidates_for_company_input(&company_input(
                json!({"name": "x", "inn": " 7707083893 "})
            )),
        [first, second]
    );
    assert!(world
        .index
        .duplicate_candidates_for_company_input(&company_input(
            json!({"name": "x", "inn": "7707083894"})
        ))
        .is_empty());
    world
        .company(second, CompanyCommand::MergeInto { target: first })
        .unwrap();
    assert_eq!(world.index.company_duplicates(LEGAL_INN), [first]);
    world
        .company(
            first,
            CompanyCommand::Update {
                changes: company_changes(json!({"inn": null})),
            },
        )
        .unwrap();
    assert!(world.index.company_duplicates(LEGAL_INN).is_empty());

    let by_phone = world.create_contact(
        1,
        json!({"surname": "И", "name": "П", "phones": ["8 912 345-67-89 доб. 5"]}),
    );
    let by_email = world.create_contact(
        2,
        json!({"surname": "С", "name": "А", "emails": ["a@romashka.ru"]}),
    );
    world.create_contact(
        3,
        json!({"surname": "Н", "name": "Б", "phones": ["+74951234567"]}),
    );
    assert_eq!(
        world
            .index
            .contact_duplicates(&["+79123456789".into()], &["a@romashka.ru".into()]),
        [by_phone, by_email]
    );
    let candidates = world.index.duplicate_candidates_for_contact_input(&contact_input(json!({
        "surname": "x", "name": "y", "phones": ["+7 (912) 345 67 89", "garbage"], "emails": ["A@Romashka.RU", "@"]
    })));
    assert_eq!(candidates, [by_phone, by_email]);
    world
        .contact(
            by_phone,
            ContactCommand::Update {
                changes: contact_changes(json!({"phones": ["+74990000000"]})),
            },
        )
        .unwrap();
    assert!(world
        .index
        .contact_duplicates(&["+79123456789".into()], &[])
        .is_empty());
    assert_eq!(
        world
            .index
            .contact_duplicates(&["+74990000000".into()], &[]),
        [by_phone]
    );
    world
        .contact(by_email, ContactCommand::MergeInto { target: by_phone })
        .unwrap();
    assert!(world
        .index
        .contact_duplicates(&[], &["a@romashka.ru".into()])
        .is_empty());
}

#[test]
fn pages_walk_every_row_once_newest_first() {
    let mut world = World::new();
    let mut created = Vec::new();
    for n in 0..25 {
        created.push(world.create_company(n, json!({"name": format!("Компания {n}"), "segment": if n % 2 == 0 { "small" } else { "medium" }})));
        world.create_contact(n, json!({"surname": format!("Фамилия{n}"), "name": "Имя"}));
    }
    created.reverse();
    for (filter, expected) in [
        (CompanyFilter::default(), created.clone()),
        (
            CompanyFilter {
                segment: Some("small".into()),
                ..Default::default()
            },
            created
                .iter()
                .copied()
                .filter(|id| {
                    world
                        .company_state(*id)
                        .record()
                        .unwrap()
                        .segment
                        .as_deref()
                        == Some("small")
                })
                .collect(),
        ),
        (search_companies("компания"), created.clone()),
    ] {
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = world.index.companies(&filter, &|_| true, after, 7);
            assert!(page.items.len() <= 7);
            pages += 1;
            seen.extend(page.items.iter().map(|row| row.record.id));
            match page.next_cursor {
                Some(cursor) => after = Some(Cursor::parse(&cursor).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{filter:?}");
        assert_eq!(pages, expected.len().div_ceil(7).max(1));
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = world
            .index
            .contacts(&ContactFilter::default(), &|_| true, after, 4);
        seen.extend(page.items.iter().map(|row| row.record.id));
        match page.next_cursor {
            Some(cursor) => after = Some(Cursor::parse(&cursor).unwrap()),
            None => break,
        }
    }
    let mut expected: Vec<ContactId> = (0..25).map(contact_id).collect();
    expected.reverse();
    assert_eq!(seen, expected);
}

#[test]
fn filters_and_visibility_narrow_the_lists() {
    let mut world = World::new();
    let it = world.create_company(
        1,
        json!({"name": "А", "industry": "it", "responsible": user(2)}),
    );
    let retail = world.create_company(
        2,
        json!({"name": "Б", "industry": "retail", "segment": "enterprise"}),
    );
    let other = world.create_company(
        3,
        json!({"name": "В", "industry": "it", "segment": "enterprise"}),
    );
    let filter = |value: Value| -> CompanyFilter { serde_json::from_value(value).unwrap() };
    assert_eq!(
        world.find_companies(filter(json!({"industry": "it"}))),
        [other, it]
    );
    assert_eq!(
        world.find_companies(filter(json!({"segment": "enterprise"}))),
        [other, retail]
    );
    assert_eq!(
        world.find_companies(filter(json!({"industry": "it", "segment": "enterprise"}))),
        [other]
    );
    assert_eq!(
        world.find_companies(filter(json!({"responsible": user(2)}))),
        [it]
    );
    assert!(world
        .find_companies(filter(json!({"responsible": user(9)})))
        .is_empty());
    assert!(world
        .find_companies(filter(json!({"industry": "space"})))
        .is_empty());
    let only_user_2 = world
        .index
        .companies(&CompanyFilter::default(), &|u| u == user(2), None, 50);
    assert_eq!(
        only_user_2
            .items
            .iter()
            .map(|r| r.record.id)
            .collect::<Vec<_>>(),
        [it]
    );

    let a = world.create_contact(
        1,
        json!({"surname": "А", "name": "А", "company": it, "consent_to_mailings": true}),
    );
    let b = world.create_contact(
        2,
        json!({"surname": "Б", "name": "Б", "company": it, "responsible": user(3)}),
    );
    let c = world.create_contact(
        3,
        json!({"surname": "В", "name": "В", "company": retail, "consent_to_mailings": true}),
    );
    let filter = |value: Value| -> ContactFilter { serde_json::from_value(value).unwrap() };
    assert_eq!(world.find_contacts(filter(json!({"company": it}))), [b, a]);
    assert_eq!(
        world.find_contacts(filter(json!({"has_consent": true}))),
        [c, a]
    );
    assert_eq!(
        world.find_contacts(filter(json!({"has_consent": false}))),
        [b]
    );
    assert_eq!(
        world.find_contacts(filter(json!({"company": it, "has_consent": true}))),
        [a]
    );
    assert_eq!(
        world.find_contacts(filter(json!({"responsible": user(3)}))),
        [b]
    );
    let hidden = world
        .index
        .contacts(&ContactFilter::default(), &|u| u != user(3), None, 50);
    assert_eq!(
        hidden.items.iter().map(|r| r.record.id).collect::<Vec<_>>(),
        [c, a]
    );
    // A reassignment moves the row between the responsible users' lists.
    world
        .contact(b, ContactCommand::Reassign { to: user(1) })
        .unwrap();
    assert!(world
        .find_contacts(filter(json!({"responsible": user(3)})))
        .is_empty());
    assert_eq!(
        world.find_contacts(filter(json!({"responsible": user(1)}))),
        [c, b, a]
    );
}

#[test]
fn rows_carry_version_and_times_for_the_api() {
    let mut world = World::new();
    let id = world.create_company(1, json!({"name": "Ромашка"}));
    world.create_company(2, json!({"name": "Лютик"}));
    world
        .company(
            id,
            CompanyCommand::Update {
                changes: company_changes(json!({"name": "Ромашка+"})),
            },
        )
        .unwrap();
    let row = world.index.company(id).unwrap();
    assert_eq!(row.version, 2);
    assert_eq!(row.created_position, Position(1));
    assert_eq!(row.created_at, now() + chrono::Duration::seconds(1));
    assert_eq!(row.updated_at, now() + chrono::Duration::seconds(3));
    assert_eq!(row.record.name, "Ромашка+");
    let json = serde_json::to_value(row).unwrap();
    assert_eq!(json["name"], "Ромашка+");
    assert_eq!(json["version"], 2);
    assert!(world.index.company(company_id(99)).is_none());
}

#[test]
fn a_company_timeline_shows_its_contacts_creation_and_changes() {
    let mut world = World::new();
    let first = world.create_company(1, json!({"name": "Ромашка"}));
    let second = world.create_company(2, json!({"name": "Лютик"}));
    let contact = world.create_contact(
        1,
        json!({"surname": "Иванов", "name": "Пётр", "company": first}),
    );
    world
        .contact(
            contact,
            ContactCommand::Update {
                changes: contact_changes(json!({"position": "Директор"})),
            },
        )
        .unwrap();
    assert_eq!(
        world.timeline_types(EntityRef::Company(first)),
        ["contact_updated", "contact_created", "company_created"]
    );
    let entry = &world
        .timelines
        .page(EntityRef::Company(first), None, 10)
        .items[1];
    assert_eq!(entry.subject, EntityRef::Contact(contact));
    assert_eq!(entry.data["surname"], "Иванов");
    assert_eq!(entry.actor, Actor::user(user(1).to_string()));
    // Moving to another company shows on both.
    world
        .contact(
            contact,
            ContactCommand::Update {
                changes: contact_changes(json!({"company": second})),
            },
        )
        .unwrap();
    assert_eq!(
        world.timeline_types(EntityRef::Company(first))[0],
        "contact_updated"
    );
    assert_eq!(
        world.timeline_types(EntityRef::Company(second)),
        ["contact_updated", "company_created"]
    );
    assert_eq!(world.timelines.len(EntityRef::Contact(contact)), 3);
}

#[test]
fn a_merge_keeps_both_histories_on_the_survivor_and_hides_the_duplicate() {
    let mut world = World::new();
    let target = world.create_company(1, json!({"name": "Ромашка", "inn": LEGAL_INN}));
    let source = world.create_company(
        2,
        json!({"name": "Ромашка (дубль)", "inn": LEGAL_INN, "responsible": user(2)}),
    );
    let contact = world.create_contact(
        1,
        json!({"surname": "Иванов", "name": "Пётр", "company": source}),
    );
    world
        .company(
            target,
            CompanyCommand::Update {
                changes: company_changes(json!({"website": "romashka.ru"})),
            },
        )
        .unwrap();
    world
        .company(source, CompanyCommand::MergeInto { target })
        .unwrap();
    world
        .company(target, CompanyCommand::Absorb { source })
        .unwrap();

    assert_eq!(
        world.timeline_types(EntityRef::Company(target)),
        [
            "company_absorbed",
            "company_merged_into",
            "company_updated",
            "contact_created",
            "company_created",
            "company_created",
        ]
    );
    assert_eq!(world.find_companies(CompanyFilter::default()), [target]);
    assert_eq!(
        world.index.company(source).unwrap().record.merged_into,
        Some(target)
    );
    assert_eq!(
        world.index.company(target).unwrap().record.absorbed,
        [source]
    );
    assert!(world.index.companies_responsible_of(user(2)).is_empty());
    // The source's contacts are listed under the survivor, and their later
    // changes reach its timeline.
    let filter = ContactFilter {
        company: Some(target),
        ..Default::default()
    };
    assert_eq!(world.find_contacts(filter), [contact]);
    world
        .contact(
            contact,
            ContactCommand::Update {
                changes: contact_changes(json!({"position": "CEO"})),
            },
        )
        .unwrap();
    assert_eq!(
        world.timeline_types(EntityRef::Company(target))[0],
        "contact_updated"
    );

    let duplicate = world.create_contact(
        2,
        json!({"surname": "Иванов", "name": "Пётр", "phones": ["89123456789"]}),
    );
    world
        .contact(
            duplicate,
            ContactCommand::Update {
                changes: contact_changes(json!({"position": "Директор"})),
            },
        )
        .unwrap();
    world
        .contact(duplicate, ContactCommand::MergeInto { target: contact })
        .unwrap();
    world
        .contact(contact, ContactCommand::Absorb { source: duplicate })
        .unwrap();
    let types = world.timeline_types(EntityRef::Contact(contact));
    assert_eq!(
        types,
        [
            "contact_absorbed",
            "contact_merged_into",
            "contact_updated",
            "contact_created",
            "contact_updated",
            "contact_created",
        ]
    );
    assert_eq!(world.find_contacts(search("иванов")), [contact]);
    assert_eq!(
        world.index.contact(duplicate).unwrap().record.merged_into,
        Some(contact)
    );
}

#[test]
fn everything_of_a_leaving_manager_is_found() {
    let mut world = World::new();
    let a = world.create_company(1, json!({"name": "А", "responsible": user(5)}));
    world.create_company(2, json!({"name": "Б"}));
    let c = world.create_company(3, json!({"name": "В", "responsible": user(5)}));
    let contact = world.create_contact(
        1,
        json!({"surname": "И", "name": "П", "responsible": user(5)}),
    );
    assert_eq!(world.index.companies_responsible_of(user(5)), [a, c]);
    assert_eq!(world.index.contacts_responsible_of(user(5)), [contact]);
    for id in world.index.companies_responsible_of(user(5)) {
        world
            .company(id, CompanyCommand::Reassign { to: user(6) })
            .unwrap();
    }
    assert!(world.index.companies_responsible_of(user(5)).is_empty());
    assert_eq!(world.index.companies_responsible_of(user(6)), [a, c]);
}

#[test]
fn the_index_skips_what_it_cannot_read_and_ignores_other_categories() {
    let mut world = World::new();
    let stream = |name: &str| StreamId::new(name).unwrap();
    world.feed(
        stream("deal-00000000-0000-0000-0000-000000000001"),
        1,
        "deal_started",
        Payload::from_json_text("{}").unwrap(),
    );
    world.feed(
        stream("companies-x"),
        1,
        "x",
        Payload::from_json_text("{}").unwrap(),
    );
    assert_eq!(world.index.skipped(), 0);
    let company = format!("company-{}", company_id(1));
    world.feed(
        stream(&company),
        1,
        "company_created",
        Payload::from_json_text(r#"{"type":"company_created"}"#).unwrap(),
    );
    world.feed(
        stream(&company),
        2,
        "company_renamed",
        Payload::from_json_text(r#"{"type":"company_renamed"}"#).unwrap(),
    );
    world.feed(
        stream("company-not-a-uuid"),
        1,
        "company_created",
        Payload::from_json_text("[]").unwrap(),
    );
    let update = r#"{"type":"contact_updated","changes":{}}"#;
    world.feed(
        stream(&format!("contact-{}", contact_id(1))),
        2,
        "contact_updated",
        Payload::from_json_text(update).unwrap(),
    );
    assert_eq!(world.index.skipped(), 4);
    assert!(world.index.company(company_id(1)).is_none());
}

#[test]
fn a_page_of_ten_thousand_companies_is_answered_quickly() {
    let mut world = World::new();
    for n in 0..10_000u128 {
        let responsible = user(1 + n % 50);
        let industry = ["it", "retail", "services", "manufacturing"][(n % 4) as usize];
        world.create_company(n, json!({"name": format!("Компания {n}"), "responsible": responsible, "industry": industry}));
    }
    let filters = [
        CompanyFilter::default(),
        CompanyFilter {
            responsible: Some(user(7)),
            ..Default::default()
        },
        CompanyFilter {
            industry: Some("it".into()),
            responsible: Some(user(3)),
            ..Default::default()
        },
    ];
    for filter in &filters {
        let start = Instant::now();
        let mut after = None;
        let mut total = 0;
        let mut pages = 0;
        loop {
            let page = world.index.companies(filter, &|_| true, after, 50);
            total += page.items.len();
            pages += 1;
            match page.next_cursor {
                Some(cursor) => after = Some(Cursor::parse(&cursor).unwrap()),
                None => break,
            }
        }
        let per_page = start.elapsed() / pages;
        assert!(total > 0);
        // Generous for an unoptimized build on a busy machine; a release
        // build answers in a few microseconds.
        assert!(
            per_page < Duration::from_millis(20),
            "{filter:?}: {per_page:?} per page"
        );
    }
}

// ---------------------------------------------------------------------------
// Nothing panics.
// ---------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 +()-]{0,20}",
        "[а-яёА-ЯЁa-z@. \t\n]{0,30}",
        Just("7707083893".to_string()),
        Just("773601001".to_string()),
        Just("1985-03-08".to_string()),
    ]
}

fn optional_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn patch_json(value: Option<Option<String>>) -> Option<Value> {
    value.map(|inner| inner.map_or(Value::Null, Value::String))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_company_inputs_never_panic(
        name in text(), legal_form in optional_text(), inn in optional_text(), kpp in optional_text(),
        industry in optional_text(), segment in optional_text(), address in optional_text(),
        website in optional_text(), key in text(), value in text(),
        changes in proptest::collection::vec(proptest::option::of(optional_text()), 9),
    ) {
        let input = CompanyInput {
            name, legal_form, inn, kpp, industry, segment, address, website,
            responsible: None,
            custom: [(key.clone(), Value::String(value.clone()))].into_iter().collect(),
        };
        let mut world = World::new();
        let id = company_id(1);
        let _ = world.index.duplicate_candidates_for_company_input(&input);
        let created = world.company(id, CompanyCommand::Create { id, input, default_responsible: user(1) });
        if created.is_err() {
            world.create_company(1, json!({"name": "Ромашка", "inn": LEGAL_INN, "kpp": "773601001"}));
        }
        let fields = ["name", "legal_form", "inn", "kpp", "industry", "segment", "address", "website"];
        let mut patch = serde_json::Map::new();
        for (field, change) in fields.iter().zip(&changes) {
            if let Some(value) = patch_json(change.clone()) {
                patch.insert((*field).to_string(), value);
            }
        }
        patch.insert("custom".into(), json!({ key: value }));
        let changes: CompanyChanges = serde_json::from_value(Value::Object(patch)).unwrap();
        let _ = world.company(id, CompanyCommand::Update { changes });
        let _ = world.index.companies(&search_companies(&format!("{:?}", world.index.company(id).map(|r| &r.record.name))), &|_| true, None, 10);
        prop_assert!(world.index.company(id).is_some());
    }

    #[test]
    fn arbitrary_contact_inputs_never_panic(
        surname in text(), name in text(), patronymic in optional_text(),
        phones in proptest::collection::vec(text(), 0..14), emails in proptest::collection::vec(text(), 0..14),
        position in optional_text(), birthday in optional_text(), query in text(),
        changes in proptest::collection::vec(proptest::option::of(optional_text()), 6),
        new_phones in proptest::option::of(proptest::collection::vec(text(), 0..4)),
    ) {
        let input = ContactInput {
            surname, name, patronymic, phones, emails, position, birthday,
            company: None, consent_to_mailings: false, responsible: None, custom: Default::default(),
        };
        let mut world = World::new();
        let id = contact_id(1);
        let _ = world.index.duplicate_candidates_for_contact_input(&input);
        if world.contact(id, ContactCommand::Create { id, input, default_responsible: user(1) }).is_err() {
            world.create_contact(1, json!({"surname": "Иванов", "name": "Пётр"}));
        }
        let fields = ["surname", "name", "patronymic", "position", "birthday"];
        let mut patch = serde_json::Map::new();
        for (field, change) in fields.iter().zip(&changes) {
            if let Some(value) = patch_json(change.clone()) {
                patch.insert((*field).to_string(), value);
            }
        }
        if let Some(phones) = new_phones {
            patch.insert("phones".into(), json!(phones));
        }
        let changes: ContactChanges = serde_json::from_value(Value::Object(patch)).unwrap();
        let record = world.contact_state(id).record().cloned();
        if let Some(record) = &record {
            let _ = changes.changes_personal_data_of(record);
        }
        let _ = world.contact(id, ContactCommand::Update { changes });
        let _ = world.index.contacts(&search(&query), &|_| true, None, 10);
        prop_assert!(world.index.contact(id).is_some());
    }
}

#[test]
fn inputs_and_rows_have_openapi_schemas() {
    use utoipa::PartialSchema;
    use voronka_crm::customer_index::{CompanyRow, ContactRow};
    let schemas = [
        (
            "CompanyInput",
            serde_json::to_value(CompanyInput::schema()).unwrap(),
        ),
        (
            "CompanyChanges",
            serde_json::to_value(CompanyChanges::schema()).unwrap(),
        ),
        (
            "ContactInput",
            serde_json::to_value(ContactInput::schema()).unwrap(),
        ),
        (
            "ContactChanges",
            serde_json::to_value(ContactChanges::schema()).unwrap(),
        ),
        (
            "CompanyRow",
            serde_json::to_value(CompanyRow::schema()).unwrap(),
        ),
        (
            "ContactRow",
            serde_json::to_value(ContactRow::schema()).unwrap(),
        ),
    ];
    for (name, schema) in schemas {
        let text = schema.to_string();
        if let Some(record) = name.strip_suffix("Row") {
            // Rows flatten their record: the gateway registers `<Kind>Record`.
            assert!(
                text.contains(&format!("#/components/schemas/{record}Record")),
                "{name}: {text}"
            );
            assert!(text.contains("\"version\""), "{name}: {text}");
        } else {
            assert!(text.contains("\"name\""), "{name}: {text}");
            assert!(
                text.contains("\"responsible\"") != name.ends_with("Changes"),
                "{name}: {text}"
            );
        }
    }
}
