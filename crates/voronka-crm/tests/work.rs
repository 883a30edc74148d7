//! Activities, documents, products and their index: given/when/then on
//! `decide`, an in-memory log feeding `WorkIndex`, and properties that no
//! input makes a decision panic.

use std::collections::HashMap;

use chrono::NaiveDate;
use proptest::prelude::*;
use voronka_core::time::timestamp_from_micros;
use voronka_core::{
    Actor, Currency, EventMetadata, Money, Payload, Position, RecordedEvent, StreamId,
    StreamVersion, Timestamp,
};
use voronka_crm::activity::{
    Activity, ActivityCommand, ActivityEvent, ActivityInput, ActivityRecord, Channel, Direction,
};
use voronka_crm::document::{
    Document, DocumentCommand, DocumentEvent, DocumentInput, DocumentLineInput, DocumentRecord,
    DocumentStatus,
};
use voronka_crm::product::{
    Patch, Product, ProductCommand, ProductEvent, ProductInput, ProductPatch,
};
use voronka_crm::work_index::{ActivityFilter, DocumentFilter, ProductFilter, WorkIndex};
use voronka_crm::{
    decode_event, encode_event, ActivityId, Aggregate, CompanyId, ContactId, Context, CrmError,
    Cursor, DealId, Dictionaries, DocumentId, EntityRef, MoneyInput, ProductId, Timelines, UserId,
};
use voronka_process::{ActivityKind, ActivityStatus, DocumentKind};

// ---------------------------------------------------------------- support

fn at(seconds: i64) -> Timestamp {
    timestamp_from_micros(seconds * 1_000_000)
}

/// 2026-03-01T00:00:00Z plus `hours`.
fn march(hours: i64) -> Timestamp {
    at(1_772_323_200 + hours * 3600)
}

fn rfc(t: Timestamp) -> String {
    t.to_rfc3339()
}

fn uuid(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

fn user(n: u128) -> UserId {
    UserId::from_uuid(uuid(0x1000 + n))
}

fn deal(n: u128) -> DealId {
    DealId::from_uuid(uuid(0x2000 + n))
}

fn contact(n: u128) -> ContactId {
    ContactId::from_uuid(uuid(0x3000 + n))
}

fn company(n: u128) -> CompanyId {
    CompanyId::from_uuid(uuid(0x4000 + n))
}

fn activity_id(n: u128) -> ActivityId {
    ActivityId::from_uuid(uuid(0x5000 + n))
}

fn document_id(n: u128) -> DocumentId {
    DocumentId::from_uuid(uuid(0x6000 + n))
}

fn product_id(n: u128) -> ProductId {
    ProductId::from_uuid(uuid(0x7000 + n))
}

fn dictionaries() -> &'static Dictionaries {
    static DICTIONARIES: std::sync::OnceLock<Dictionaries> = std::sync::OnceLock::new();
    DICTIONARIES.get_or_init(Dictionaries::standard)
}

fn context(now: Timestamp) -> Context<'static> {
    Context {
        now,
        actor: user(0),
        dictionaries: dictionaries(),
    }
}

/// The state after `events`.
fn given<A: Aggregate>(events: &[A::Event]) -> A::State {
    let mut state = A::State::default();
    for event in events {
        A::apply(&mut state, event);
    }
    state
}

/// `decide` on the state after `history`, at `march(0)`.
fn when<A: Aggregate>(
    history: &[A::Event],
    command: A::Command,
) -> Result<Vec<A::Event>, CrmError> {
    A::decide(&given::<A>(history), &command, &context(march(0)))
}

/// The fields and codes of an `Invalid` error, in order.
fn invalid_fields<T: std::fmt::Debug>(result: Result<T, CrmError>) -> Vec<(String, &'static str)> {
    match result {
        Err(CrmError::Invalid(errors)) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

fn not_allowed_code<T: std::fmt::Debug>(result: Result<T, CrmError>) -> (&'static str, String) {
    match result {
        Err(CrmError::NotAllowed { code, message }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn pairs(list: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    list.iter().map(|(f, c)| (f.to_string(), *c)).collect()
}

/// An in-memory log: runs commands through `decide`, stores the events as
/// JSON, reloads state from the stored payloads, and feeds the index.
struct World {
    now: Timestamp,
    position: u64,
    streams: HashMap<String, Vec<RecordedEvent>>,
    index: WorkIndex,
    timelines: Timelines,
}

impl World {
    fn new() -> Self {
        Self {
            now: march(0),
            position: 0,
            streams: HashMap::new(),
            index: WorkIndex::new(),
            timelines: Timelines::new(),
        }
    }

    fn state<A: Aggregate>(&self, id: uuid::Uuid) -> A::State {
        let stream = format!("{}-{id}", A::CATEGORY);
        let mut state = A::State::default();
        for event in self.streams.get(&stream).into_iter().flatten() {
            let decoded = decode_event::<A>(event.payload.as_str()).expect("stored events decode");
            A::apply(&mut state, &decoded);
        }
        state
    }

    fn run<A: Aggregate>(
        &mut self,
        id: uuid::Uuid,
        command: A::Command,
    ) -> Result<Vec<A::Event>, CrmError> {
        let state = self.state::<A>(id);
        let events = A::decide(&state, &command, &context(self.now))?;
        for event in &events {
            let data = encode_event::<A>(event).expect("events encode");
            self.push(A::CATEGORY, id, &data.event_type, data.payload);
        }
        Ok(events)
    }

    fn push(&mut self, category: &str, id: uuid::Uuid, event_type: &str, payload: Payload) {
        let stream = format!("{category}-{id}");
        let version = self.streams.get(&stream).map_or(0, Vec::len) as u64 + 1;
        self.position += 1;
        let recorded = RecordedEvent {
            position: Position(self.position),
            stream_id: StreamId::new(stream.clone()).unwrap(),
            stream_version: StreamVersion(version),
            event_type: event_type.to_string(),
            schema_version: 1,
            payload,
            metadata: EventMetadata::by(Actor::user(user(0).to_string())),
            recorded_at: self.now,
            occurred_at: None,
        };
        self.index.apply(&recorded, &mut self.timelines);
        self.streams.entry(stream).or_default().push(recorded);
    }

    fn activity(&mut self, id: ActivityId, command: ActivityCommand) -> Vec<ActivityEvent> {
        self.run::<Activity>(id.0, command)
            .expect("the activity command is accepted")
    }

    fn document(&mut self, id: DocumentId, command: DocumentCommand) -> Vec<DocumentEvent> {
        self.run::<Document>(id.0, command)
            .expect("the document command is accepted")
    }

    fn product(&mut self, id: ProductId, command: ProductCommand) -> Vec<ProductEvent> {
        self.run::<Product>(id.0, command)
            .expect("the product command is accepted")
    }

    fn timeline_types(&self, entity: EntityRef) -> Vec<String> {
        let page = self.timelines.page(entity, None, 200);
        page.items
            .iter()
            .rev()
            .map(|e| e.event_type.clone())
            .collect()
    }
}

fn plan(id: ActivityId, input: ActivityInput) -> ActivityCommand {
    ActivityCommand::Plan {
        id,
        input,
        default_responsible: user(1),
    }
}

fn call_input() -> ActivityInput {
    ActivityInput {
        kind: "call".into(),
        direction: Some("outgoing".into()),
        due_at: Some(rfc(march(10))),
        ..ActivityInput::default()
    }
}

fn meeting_input() -> ActivityInput {
    ActivityInput {
        kind: "meeting".into(),
        subject: Some("Demo".into()),
        planned_start: Some(rfc(march(24))),
        contact: Some(contact(1).to_string()),
        deal: Some(deal(1).to_string()),
        ..ActivityInput::default()
    }
}

fn planned(input: ActivityInput) -> Vec<ActivityEvent> {
    when::<Activity>(&[], plan(activity_id(1), input)).expect("planned")
}

fn record_after(history: &[ActivityEvent]) -> ActivityRecord {
    given::<Activity>(history).expect("the activity exists")
}

fn complete(outcome: Option<&str>, result: Option<&str>) -> ActivityCommand {
    ActivityCommand::Complete {
        outcome: outcome.map(str::to_string),
        result: result.map(str::to_string),
    }
}

// ------------------------------------------------------------- activities

#[test]
fn a_meeting_without_date_contact_and_subject_reports_all_three_together() {
    let input = ActivityInput {
        kind: "meeting".into(),
        ..ActivityInput::default()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(
        fields,
        pairs(&[
            ("planned_start", "required"),
            ("contact", "required"),
            ("subject", "required"),
        ])
    );
}

#[test]
fn a_meeting_with_its_minimum_is_planned_with_the_due_time_at_its_start() {
    let events = planned(meeting_input());
    let record = record_after(&events);
    assert!(matches!(
        events[..],
        [ActivityEvent::ActivityPlanned { .. }]
    ));
    assert_eq!(record.kind, ActivityKind::Meeting);
    assert_eq!(record.status, ActivityStatus::Planned);
    assert_eq!(record.planned_start, Some(march(24)));
    assert_eq!(record.due_at, Some(march(24)));
    assert_eq!(record.contact, Some(contact(1)));
    assert_eq!(record.deal, Some(deal(1)));
    assert_eq!(record.responsible, user(1), "the default responsible");
    assert_eq!(record.created_by, user(0), "the actor");
    assert_eq!(record.reschedule_count, 0);
}

#[test]
fn a_blank_subject_counts_as_missing() {
    let input = ActivityInput {
        subject: Some("   ".into()),
        ..meeting_input()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(fields, pairs(&[("subject", "required")]));
}

#[test]
fn completing_a_meeting_needs_a_result_and_its_outcome_is_from_the_dictionary() {
    let history = planned(meeting_input());
    let fields = invalid_fields(when::<Activity>(
        &history,
        complete(Some("needs_identified"), None),
    ));
    assert_eq!(fields, pairs(&[("result", "required")]));
    let fields = invalid_fields(when::<Activity>(
        &history,
        complete(Some("reached"), Some("ok")),
    ));
    assert_eq!(fields, pairs(&[("outcome", "not_in_dictionary")]));

    let events = when::<Activity>(&history, complete(None, Some(" Budget agreed "))).unwrap();
    let record = record_after(&[history.clone(), events].concat());
    assert_eq!(record.status, ActivityStatus::Done);
    assert_eq!(record.result.as_deref(), Some("Budget agreed"));
    assert_eq!(record.outcome, None);
    assert_eq!(record.completed_at, Some(march(0)));
}

#[test]
fn a_call_needs_a_direction() {
    let input = ActivityInput {
        direction: None,
        ..call_input()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(fields, pairs(&[("direction", "required")]));
    let input = ActivityInput {
        direction: Some("sideways".into()),
        ..call_input()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(fields, pairs(&[("direction", "unknown_direction")]));
}

#[test]
fn a_call_is_completed_only_with_an_outcome_and_wrong_number_needs_nothing_else() {
    let history = planned(call_input());
    let fields = invalid_fields(when::<Activity>(&history, complete(None, Some("talked"))));
    assert_eq!(fields, pairs(&[("outcome", "required")]));
    let fields = invalid_fields(when::<Activity>(&history, complete(Some("maybe"), None)));
    assert_eq!(fields, pairs(&[("outcome", "not_in_dictionary")]));

    let events = when::<Activity>(&history, complete(Some("wrong_number"), None)).unwrap();
    let record = record_after(&[history.clone(), events].concat());
    assert_eq!(record.status, ActivityStatus::Done);
    assert_eq!(record.outcome.as_deref(), Some("wrong_number"));
    assert_eq!(record.result, None);

    // Other outcomes take an optional result.
    assert!(when::<Activity>(&history, complete(Some("reached"), None)).is_ok());
    let events = when::<Activity>(&history, complete(Some("callback"), Some("Tomorrow"))).unwrap();
    assert!(matches!(
        &events[..],
        [ActivityEvent::ActivityCompleted { outcome: Some(o), result: Some(r), .. }]
            if o == "callback" && r == "Tomorrow"
    ));
}

#[test]
fn a_call_logged_after_the_fact_is_created_done_with_its_outcome() {
    let command = ActivityCommand::Log {
        id: activity_id(1),
        input: call_input(),
        outcome: Some("wrong_number".into()),
        result: None,
        default_responsible: user(2),
    };
    let events = when::<Activity>(&[], command).unwrap();
    assert!(matches!(events[..], [ActivityEvent::ActivityLogged { .. }]));
    let record = record_after(&events);
    assert_eq!(record.status, ActivityStatus::Done);
    assert_eq!(record.outcome.as_deref(), Some("wrong_number"));
    assert_eq!(record.direction, Some(Direction::Outgoing));
    assert_eq!(record.responsible, user(2));
    assert_eq!(record.completed_at, Some(march(0)));

    // Logging checks both the activity and its closing, all at once.
    let command = ActivityCommand::Log {
        id: activity_id(1),
        input: ActivityInput {
            direction: None,
            ..call_input()
        },
        outcome: None,
        result: None,
        default_responsible: user(2),
    };
    let fields = invalid_fields(when::<Activity>(&[], command));
    assert_eq!(
        fields,
        pairs(&[("direction", "required"), ("outcome", "required")])
    );
}

#[test]
fn a_task_needs_a_subject_and_a_due_time() {
    let input = ActivityInput {
        kind: "task".into(),
        ..ActivityInput::default()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(
        fields,
        pairs(&[("subject", "required"), ("due_at", "required")])
    );
    let input = ActivityInput {
        kind: "task".into(),
        subject: Some("Send the contract".into()),
        due_at: Some(rfc(march(5))),
        ..ActivityInput::default()
    };
    let record = record_after(&planned(input));
    assert_eq!(record.due_at, Some(march(5)));
    // Completing a task needs nothing; an outcome must be a task outcome.
    let history = planned(ActivityInput {
        kind: "task".into(),
        subject: Some("x".into()),
        due_at: Some(rfc(march(5))),
        ..ActivityInput::default()
    });
    assert!(when::<Activity>(&history, complete(None, None)).is_ok());
    assert!(when::<Activity>(&history, complete(Some("done"), None)).is_ok());
    let fields = invalid_fields(when::<Activity>(
        &history,
        complete(Some("wrong_number"), None),
    ));
    assert_eq!(fields, pairs(&[("outcome", "not_in_dictionary")]));
}

#[test]
fn a_message_needs_a_channel_and_a_contact_and_an_email_implies_its_channel() {
    let input = ActivityInput {
        kind: "message".into(),
        ..ActivityInput::default()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(
        fields,
        pairs(&[("contact", "required"), ("channel", "required")])
    );

    let input = ActivityInput {
        kind: "message".into(),
        channel: Some("telegraph".into()),
        contact: Some(contact(1).to_string()),
        ..ActivityInput::default()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(fields, pairs(&[("channel", "unknown_channel")]));

    let input = ActivityInput {
        kind: "message".into(),
        channel: Some("sms".into()),
        contact: Some(contact(1).to_string()),
        ..ActivityInput::default()
    };
    assert_eq!(record_after(&planned(input)).channel, Some(Channel::Sms));

    let input = ActivityInput {
        kind: "email".into(),
        contact: Some(contact(1).to_string()),
        direction: Some("incoming".into()),
        ..ActivityInput::default()
    };
    let record = record_after(&planned(input));
    assert_eq!(record.channel, Some(Channel::Email));
    assert_eq!(record.direction, Some(Direction::Incoming));

    let input = ActivityInput {
        kind: "email".into(),
        channel: Some("sms".into()),
        ..ActivityInput::default()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(
        fields,
        pairs(&[("contact", "required"), ("channel", "channel_not_allowed")])
    );

    let input = ActivityInput {
        channel: Some("email".into()),
        ..call_input()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(fields, pairs(&[("channel", "channel_not_allowed")]));
}

#[test]
fn malformed_values_are_each_named() {
    let input = ActivityInput {
        kind: "visit".into(),
        subject: Some("я".repeat(301)),
        planned_start: Some("tomorrow".into()),
        due_at: Some("2026-13-01T00:00:00Z".into()),
        responsible: Some("boss".into()),
        deal: Some("42".into()),
        contact: Some("x".into()),
        company: Some("y".into()),
        ..ActivityInput::default()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(
        fields,
        pairs(&[
            ("kind", "unknown_kind"),
            ("subject", "too_long"),
            ("planned_start", "invalid_datetime"),
            ("due_at", "invalid_datetime"),
            ("responsible", "invalid_id"),
            ("deal", "invalid_id"),
            ("contact", "invalid_id"),
            ("company", "invalid_id"),
        ])
    );
    let fields = invalid_fields(when::<Activity>(
        &[],
        plan(activity_id(1), ActivityInput::default()),
    ));
    assert_eq!(fields, pairs(&[("kind", "required")]));

    let input = ActivityInput {
        planned_start: Some(rfc(march(10))),
        due_at: Some(rfc(march(9))),
        ..call_input()
    };
    let fields = invalid_fields(when::<Activity>(&[], plan(activity_id(1), input)));
    assert_eq!(fields, pairs(&[("due_at", "due_before_start")]));
}

#[test]
fn an_activity_is_created_once_and_changed_only_when_it_exists() {
    let history = planned(call_input());
    assert_eq!(
        when::<Activity>(&history, plan(activity_id(1), call_input())),
        Err(CrmError::AlreadyExists)
    );
    assert_eq!(
        when::<Activity>(&[], complete(Some("reached"), None)),
        Err(CrmError::NotFound)
    );
    assert_eq!(
        when::<Activity>(&[], ActivityCommand::Reassign { to: user(2) }),
        Err(CrmError::NotFound)
    );
}

#[test]
fn rescheduling_counts_and_records_the_old_and_new_times() {
    let input = ActivityInput {
        planned_start: Some(rfc(march(24))),
        due_at: Some(rfc(march(25))),
        ..meeting_input()
    };
    let mut history = planned(input);
    // Without a new start, the start moves with the due time.
    let events = when::<Activity>(
        &history,
        ActivityCommand::Reschedule {
            due_at: march(49),
            planned_start: None,
        },
    )
    .unwrap();
    assert_eq!(
        events,
        [ActivityEvent::ActivityRescheduled {
            from_due: Some(march(25)),
            to_due: march(49),
            from_start: Some(march(24)),
            to_start: Some(march(48)),
            reschedule_count: 1,
        }]
    );
    history.extend(events);
    let events = when::<Activity>(
        &history,
        ActivityCommand::Reschedule {
            due_at: march(80),
            planned_start: Some(march(72)),
        },
    )
    .unwrap();
    assert_eq!(
        events,
        [ActivityEvent::ActivityRescheduled {
            from_due: Some(march(49)),
            to_due: march(80),
            from_start: Some(march(48)),
            to_start: Some(march(72)),
            reschedule_count: 2,
        }]
    );
    history.extend(events);
    let record = record_after(&history);
    assert_eq!(record.reschedule_count, 2);
    assert_eq!(record.planned_start, Some(march(72)));
    assert_eq!(record.due_at, Some(march(80)));

    // The same times again change nothing.
    let same = ActivityCommand::Reschedule {
        due_at: march(80),
        planned_start: Some(march(72)),
    };
    assert_eq!(when::<Activity>(&history, same), Ok(vec![]));
    // A due time before the start is refused.
    let backwards = ActivityCommand::Reschedule {
        due_at: march(70),
        planned_start: Some(march(72)),
    };
    assert_eq!(
        invalid_fields(when::<Activity>(&history, backwards)),
        pairs(&[("due_at", "due_before_start")])
    );
}

#[test]
fn a_closed_activity_refuses_completion_cancellation_and_rescheduling() {
    let open = planned(call_input());
    let done = [
        open.clone(),
        when::<Activity>(&open, complete(Some("reached"), None)).unwrap(),
    ]
    .concat();
    let cancelled = [
        open.clone(),
        when::<Activity>(
            &open,
            ActivityCommand::Cancel {
                reason: Some(" Client asked ".into()),
            },
        )
        .unwrap(),
    ]
    .concat();
    let record = record_after(&cancelled);
    assert_eq!(record.status, ActivityStatus::Cancelled);
    assert_eq!(record.cancel_reason.as_deref(), Some("Client asked"));
    for history in [&done, &cancelled] {
        let (code, message) =
            not_allowed_code(when::<Activity>(history, complete(Some("reached"), None)));
        assert_eq!(code, "activity_closed");
        assert!(message.contains("cannot be completed"), "{message}");
        let (code, _) = not_allowed_code(when::<Activity>(
            history,
            ActivityCommand::Cancel { reason: None },
        ));
        assert_eq!(code, "activity_closed");
        let (code, _) = not_allowed_code(when::<Activity>(
            history,
            ActivityCommand::Reschedule {
                due_at: march(99),
                planned_start: None,
            },
        ));
        assert_eq!(code, "activity_closed");
    }
    // Corrections stay possible on a closed activity.
    assert!(when::<Activity>(&done, ActivityCommand::Reassign { to: user(5) }).is_ok());
}

#[test]
fn reassigning_records_from_and_to_and_the_same_user_is_a_no_op() {
    let history = planned(call_input());
    let events = when::<Activity>(&history, ActivityCommand::Reassign { to: user(2) }).unwrap();
    assert_eq!(
        events,
        [ActivityEvent::ActivityReassigned {
            from: user(1),
            to: user(2),
        }]
    );
    assert_eq!(
        record_after(&[history.clone(), events].concat()).responsible,
        user(2)
    );
    assert_eq!(
        when::<Activity>(&history, ActivityCommand::Reassign { to: user(1) }),
        Ok(vec![])
    );
}

#[test]
fn relinking_sets_the_links_and_a_meeting_keeps_its_contact() {
    let history = planned(meeting_input());
    let events = when::<Activity>(
        &history,
        ActivityCommand::Relink {
            deal: Some(deal(2)),
            contact: Some(contact(2)),
            company: Some(company(1)),
        },
    )
    .unwrap();
    assert_eq!(
        events,
        [ActivityEvent::ActivityRelinked {
            from_deal: Some(deal(1)),
            from_contact: Some(contact(1)),
            from_company: None,
            deal: Some(deal(2)),
            contact: Some(contact(2)),
            company: Some(company(1)),
        }]
    );
    let record = record_after(&[history.clone(), events].concat());
    assert_eq!(
        (record.deal, record.contact, record.company),
        (Some(deal(2)), Some(contact(2)), Some(company(1)))
    );
    let fields = invalid_fields(when::<Activity>(
        &history,
        ActivityCommand::Relink {
            deal: None,
            contact: None,
            company: None,
        },
    ));
    assert_eq!(fields, pairs(&[("contact", "required")]));
    let unchanged = ActivityCommand::Relink {
        deal: Some(deal(1)),
        contact: Some(contact(1)),
        company: None,
    };
    assert_eq!(when::<Activity>(&history, unchanged), Ok(vec![]));
}

// -------------------------------------------------------------- documents

fn line(name: &str, quantity: &str, price_minor: i64, vat_rate: i64) -> DocumentLineInput {
    DocumentLineInput {
        product: None,
        name: name.into(),
        quantity: quantity.into(),
        unit: None,
        price: MoneyInput::rub_minor(price_minor),
        vat_rate: Some(vat_rate),
        discount_percent: None,
    }
}

fn create_document(kind: DocumentKind, lines: Vec<DocumentLineInput>) -> DocumentCommand {
    DocumentCommand::Create {
        id: document_id(1),
        kind,
        deal: deal(1),
        number: "INV-2026-000001".into(),
        input: DocumentInput {
            title: Some("Licences".into()),
            currency: None,
            lines,
        },
        responsible: user(1),
    }
}

fn created(kind: DocumentKind, lines: Vec<DocumentLineInput>) -> Vec<DocumentEvent> {
    when::<Document>(&[], create_document(kind, lines)).expect("created")
}

fn document_after(history: &[DocumentEvent]) -> DocumentRecord {
    given::<Document>(history).expect("the document exists")
}

/// The lines of the worked example: VAT 20% and 0%, a discount, and a
/// half-kopeck.
fn example_lines() -> Vec<DocumentLineInput> {
    vec![
        // 1 x 333.33, VAT 20%: net 333.33, VAT 66.666 -> 66.67
        line("Licence", "1", 33_333, 20),
        // 3 x 10.00, VAT 0%: net 30.00
        DocumentLineInput {
            unit: Some("hour".into()),
            ..line("Training", "3", 1_000, 0)
        },
        // 2 x 99.99 - 15%: net 169.983 -> 169.98, VAT 33.996 -> 34.00
        DocumentLineInput {
            discount_percent: Some(15),
            ..line("Support", "2,000", 9_999, 20)
        },
        // 0.5 x 0.01: net 0.005 -> 0.01 (half up), VAT 0.002 -> 0.00
        line("Rounding", "0.5", 1, 20),
    ]
}

#[test]
fn invoice_totals_are_exact_kopecks_rounded_half_up_per_line() {
    let events = created(DocumentKind::Invoice, example_lines());
    let record = document_after(&events);
    let nets: Vec<i64> = record.lines.iter().map(|l| l.net.minor).collect();
    let vats: Vec<i64> = record.lines.iter().map(|l| l.vat.minor).collect();
    let grosses: Vec<i64> = record.lines.iter().map(|l| l.gross.minor).collect();
    assert_eq!(nets, [33_333, 3_000, 16_998, 1]);
    assert_eq!(vats, [6_667, 0, 3_400, 0]);
    assert_eq!(grosses, [40_000, 3_000, 20_398, 1]);
    assert_eq!(record.totals.net, Money::rub(53_332));
    assert_eq!(record.totals.vat, Money::rub(10_067));
    assert_eq!(record.totals.gross, Money::rub(63_399));
    assert_eq!(record.lines[2].quantity_milli, 2_000);
    assert_eq!(record.lines[2].discount_percent, 15);
    assert_eq!(record.lines[1].unit.as_deref(), Some("hour"));
    assert_eq!(record.status, DocumentStatus::Draft);
    assert_eq!(record.number, "INV-2026-000001");
    assert_eq!(record.currency, Currency::RUB);
    assert_eq!(record.paid, Money::rub(0));
    // The stored event carries the totals.
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["type"], "document_created");
    assert_eq!(json["totals"]["gross"]["minor"], 63_399);
}

#[test]
fn every_bad_line_value_is_named_by_its_path() {
    let lines = vec![
        DocumentLineInput {
            unit: Some("kg".into()),
            discount_percent: Some(101),
            ..line(" ", "1.2345", 100, 18)
        },
        DocumentLineInput {
            price: MoneyInput {
                amount: Some("10.00".into()),
                minor: None,
                currency: Some("USD".into()),
            },
            ..line("Dollar line", "0", 100, 20)
        },
        DocumentLineInput {
            price: MoneyInput {
                amount: Some("ten".into()),
                minor: None,
                currency: None,
            },
            vat_rate: None,
            ..line("Bad price", "", 100, 20)
        },
        line("Negative", "-1", -5, 10),
    ];
    let fields = invalid_fields(when::<Document>(
        &[],
        create_document(DocumentKind::Invoice, lines),
    ));
    assert_eq!(
        fields,
        pairs(&[
            ("lines[0].name", "required"),
            ("lines[0].quantity", "invalid_quantity"),
            ("lines[0].unit", "not_in_dictionary"),
            ("lines[0].vat_rate", "vat_rate_not_allowed"),
            ("lines[0].discount_percent", "discount_out_of_range"),
            ("lines[1].quantity", "quantity_not_positive"),
            ("lines[1].price.currency", "currency_mismatch"),
            ("lines[2].quantity", "required"),
            ("lines[2].price.amount", "invalid_amount"),
            ("lines[2].vat_rate", "required"),
            ("lines[3].quantity", "quantity_not_positive"),
            ("lines[3].price", "negative_price"),
        ])
    );
}

#[test]
fn a_document_in_another_currency_takes_lines_in_that_currency_only() {
    let usd = |minor| MoneyInput {
        amount: None,
        minor: Some(minor),
        currency: Some("USD".into()),
    };
    let lines = vec![
        DocumentLineInput {
            price: usd(1_000),
            ..line("A", "1", 0, 0)
        },
        line("B in roubles", "1", 1_000, 0),
    ];
    let fields = invalid_fields(when::<Document>(
        &[],
        create_document(DocumentKind::Proposal, lines),
    ));
    assert_eq!(
        fields,
        pairs(&[("lines[1].price.currency", "currency_mismatch")])
    );
    let events = created(
        DocumentKind::Proposal,
        vec![DocumentLineInput {
            price: usd(1_000),
            ..line("A", "1", 0, 0)
        }],
    );
    let record = document_after(&events);
    assert_eq!(record.currency, Currency::USD);
    assert_eq!(record.totals.gross, Money::new(1_000, Currency::USD));
}

#[test]
fn too_many_lines_too_large_amounts_and_a_blank_number_are_refused_without_panicking() {
    let lines = vec![line("x", "1", 1, 0); 501];
    let fields = invalid_fields(when::<Document>(
        &[],
        create_document(DocumentKind::Invoice, lines),
    ));
    assert_eq!(fields, pairs(&[("lines", "too_many_lines")]));
    assert!(when::<Document>(
        &[],
        create_document(DocumentKind::Invoice, vec![line("x", "1", 1, 0); 500])
    )
    .is_ok());

    let lines = vec![line("huge", "1000000000", i64::MAX, 20)];
    let fields = invalid_fields(when::<Document>(
        &[],
        create_document(DocumentKind::Invoice, lines),
    ));
    assert_eq!(fields, pairs(&[("lines[0]", "amount_overflow")]));

    // Each line fits, their sum does not.
    let lines = vec![line("big", "1", i64::MAX / 2, 0); 3];
    let fields = invalid_fields(when::<Document>(
        &[],
        create_document(DocumentKind::Invoice, lines),
    ));
    assert_eq!(fields, pairs(&[("lines", "amount_overflow")]));

    let command = DocumentCommand::Create {
        id: document_id(1),
        kind: DocumentKind::Act,
        deal: deal(1),
        number: "  ".into(),
        input: DocumentInput::default(),
        responsible: user(1),
    };
    assert_eq!(
        invalid_fields(when::<Document>(&[], command)),
        pairs(&[("number", "required")])
    );
}

/// The state of a document of `kind` brought to `status` by the allowed path.
fn document_in(kind: DocumentKind, status: DocumentStatus) -> Vec<DocumentEvent> {
    use DocumentStatus::*;
    let mut history = created(kind, vec![line("x", "1", 100, 0)]);
    let path: &[DocumentStatus] = match (kind, status) {
        (_, Draft) => &[],
        (DocumentKind::Invoice, Issued) => &[Issued],
        (DocumentKind::Invoice, Paid) => &[Issued, Paid],
        (DocumentKind::Invoice, Cancelled) => &[Issued, Cancelled],
        (_, Sent) => &[Sent],
        (_, Signed) => &[Sent, Signed],
        (_, Cancelled) => &[Sent, Cancelled],
        _ => panic!("{kind:?} never is {status:?}"),
    };
    let mut from = Draft;
    for to in path {
        history.push(DocumentEvent::DocumentStatusChanged { from, to: *to });
        from = *to;
    }
    history
}

#[test]
fn the_status_transition_table() {
    use DocumentKind::*;
    use DocumentStatus::*;
    // Every allowed move by `ChangeStatus`, written out.
    let allowed: &[(DocumentKind, DocumentStatus, DocumentStatus)] = &[
        (Proposal, Draft, Sent),
        (Proposal, Sent, Signed),
        (Proposal, Draft, Cancelled),
        (Proposal, Sent, Cancelled),
        (Proposal, Signed, Cancelled),
        (Contract, Draft, Sent),
        (Contract, Sent, Signed),
        (Contract, Draft, Cancelled),
        (Contract, Sent, Cancelled),
        (Contract, Signed, Cancelled),
        (Act, Draft, Sent),
        (Act, Sent, Signed),
        (Act, Draft, Cancelled),
        (Act, Sent, Cancelled),
        (Act, Signed, Cancelled),
        (Invoice, Draft, Issued),
        (Invoice, Draft, Cancelled),
        (Invoice, Issued, Cancelled),
    ];
    let reachable = |kind| match kind {
        Invoice => vec![Draft, Issued, Paid, Cancelled],
        _ => vec![Draft, Sent, Signed, Cancelled],
    };
    let mut checked = 0;
    for kind in DocumentKind::ALL {
        for from in reachable(kind) {
            let history = document_in(kind, from);
            assert_eq!(document_after(&history).status, from);
            for to in DocumentStatus::ALL {
                // An invoice reads `sent` as `issued`.
                let stored = if kind == Invoice && to == Sent {
                    Issued
                } else {
                    to
                };
                let result = when::<Document>(&history, DocumentCommand::ChangeStatus { to });
                if stored == from {
                    assert_eq!(result, Ok(vec![]), "{kind:?} {from:?} -> {to:?}");
                } else if allowed.contains(&(kind, from, stored)) {
                    assert_eq!(
                        result,
                        Ok(vec![DocumentEvent::DocumentStatusChanged {
                            from,
                            to: stored
                        }]),
                        "{kind:?} {from:?} -> {to:?}"
                    );
                } else {
                    let (code, message) = not_allowed_code(result);
                    assert_eq!(
                        code, "status_transition_not_allowed",
                        "{kind:?} {from:?} -> {to:?}"
                    );
                    assert!(
                        message.contains(from.as_str()) && message.contains(stored.as_str()),
                        "{message}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 4 * 6);
}

#[test]
fn an_invoice_sent_is_stored_as_issued_and_becomes_paid_only_by_payments() {
    let history = created(DocumentKind::Invoice, example_lines());
    let events = when::<Document>(
        &history,
        DocumentCommand::ChangeStatus {
            to: DocumentStatus::Sent,
        },
    )
    .unwrap();
    let history = [history, events].concat();
    assert_eq!(document_after(&history).status, DocumentStatus::Issued);
    assert_eq!(
        DocumentStatus::Issued.to_process(),
        voronka_process::DocumentStatus::Sent
    );
    let (code, message) = not_allowed_code(when::<Document>(
        &history,
        DocumentCommand::ChangeStatus {
            to: DocumentStatus::Paid,
        },
    ));
    assert_eq!(code, "status_transition_not_allowed");
    assert!(message.contains("payments"), "{message}");
}

#[test]
fn lines_are_replaced_only_in_draft_and_totals_follow() {
    let history = created(DocumentKind::Proposal, example_lines());
    let events = when::<Document>(
        &history,
        DocumentCommand::ReplaceLines {
            lines: vec![line("Only", "2", 5_000, 10)],
        },
    )
    .unwrap();
    let replaced = [history.clone(), events].concat();
    let record = document_after(&replaced);
    assert_eq!(record.lines.len(), 1);
    assert_eq!(record.totals.net, Money::rub(10_000));
    assert_eq!(record.totals.vat, Money::rub(1_000));
    assert_eq!(record.totals.gross, Money::rub(11_000));

    let fields = invalid_fields(when::<Document>(
        &history,
        DocumentCommand::ReplaceLines {
            lines: vec![line("Bad", "1", 100, 12)],
        },
    ));
    assert_eq!(
        fields,
        pairs(&[("lines[0].vat_rate", "vat_rate_not_allowed")])
    );

    let sent = document_in(DocumentKind::Proposal, DocumentStatus::Sent);
    let (code, _) = not_allowed_code(when::<Document>(
        &sent,
        DocumentCommand::ReplaceLines { lines: vec![] },
    ));
    assert_eq!(code, "document_not_draft");
}

fn pay(payment: u128, minor: i64) -> DocumentCommand {
    DocumentCommand::RegisterPayment {
        payment_id: uuid(payment),
        amount: MoneyInput::rub_minor(minor),
        paid_on: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        reference: Some("п/п 123".into()),
    }
}

fn issued_invoice() -> Vec<DocumentEvent> {
    let history = created(DocumentKind::Invoice, example_lines());
    let events = when::<Document>(
        &history,
        DocumentCommand::ChangeStatus {
            to: DocumentStatus::Issued,
        },
    )
    .unwrap();
    [history, events].concat()
}

#[test]
fn a_partial_then_a_full_payment_makes_the_invoice_paid() {
    let mut history = issued_invoice();
    let events = when::<Document>(&history, pay(1, 30_000)).unwrap();
    assert_eq!(
        events.len(),
        1,
        "a partial payment does not change the status"
    );
    assert!(matches!(
        &events[0],
        DocumentEvent::DocumentPaymentRegistered { paid_total, reference: Some(r), .. }
            if *paid_total == Money::rub(30_000) && r == "п/п 123"
    ));
    history.extend(events);
    assert_eq!(document_after(&history).status, DocumentStatus::Issued);

    let events = when::<Document>(&history, pay(2, 33_399)).unwrap();
    assert_eq!(
        events[1],
        DocumentEvent::DocumentStatusChanged {
            from: DocumentStatus::Issued,
            to: DocumentStatus::Paid,
        }
    );
    history.extend(events);
    let record = document_after(&history);
    assert_eq!(record.status, DocumentStatus::Paid);
    assert_eq!(record.paid, Money::rub(63_399));
    assert_eq!(record.overpaid, Money::rub(0));
    assert_eq!(record.payments.len(), 2);

    // A paid invoice takes no new payment, but a retried one is a no-op.
    assert_eq!(when::<Document>(&history, pay(2, 33_399)), Ok(vec![]));
    assert_eq!(when::<Document>(&history, pay(1, 1)), Ok(vec![]));
    let (code, _) = not_allowed_code(when::<Document>(&history, pay(3, 1)));
    assert_eq!(code, "payment_not_allowed");
}

#[test]
fn a_repeated_payment_id_is_registered_once() {
    let mut history = issued_invoice();
    history.extend(when::<Document>(&history, pay(1, 10_000)).unwrap());
    assert_eq!(when::<Document>(&history, pay(1, 10_000)), Ok(vec![]));
    assert_eq!(when::<Document>(&history, pay(1, 99_999)), Ok(vec![]));
    assert_eq!(document_after(&history).paid, Money::rub(10_000));
}

#[test]
fn an_overpayment_is_accepted_and_recorded() {
    let mut history = issued_invoice();
    history.extend(when::<Document>(&history, pay(1, 70_000)).unwrap());
    let record = document_after(&history);
    assert_eq!(record.status, DocumentStatus::Paid);
    assert_eq!(record.paid, Money::rub(70_000));
    assert_eq!(record.overpaid, Money::rub(70_000 - 63_399));
}

#[test]
fn payments_are_refused_off_issued_invoices_in_other_currencies_and_when_not_positive() {
    let draft = created(DocumentKind::Invoice, example_lines());
    let (code, message) = not_allowed_code(when::<Document>(&draft, pay(1, 100)));
    assert_eq!(code, "payment_not_allowed");
    assert!(message.contains("draft"), "{message}");
    let proposal = document_in(DocumentKind::Proposal, DocumentStatus::Sent);
    let (code, _) = not_allowed_code(when::<Document>(&proposal, pay(1, 100)));
    assert_eq!(code, "payment_not_allowed");
    let cancelled = document_in(DocumentKind::Invoice, DocumentStatus::Cancelled);
    let (code, _) = not_allowed_code(when::<Document>(&cancelled, pay(1, 100)));
    assert_eq!(code, "payment_not_allowed");

    let issued = issued_invoice();
    let in_dollars = DocumentCommand::RegisterPayment {
        payment_id: uuid(1),
        amount: MoneyInput {
            amount: Some("10".into()),
            minor: None,
            currency: Some("USD".into()),
        },
        paid_on: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        reference: None,
    };
    assert_eq!(
        invalid_fields(when::<Document>(&issued, in_dollars)),
        pairs(&[("amount.currency", "currency_mismatch")])
    );
    assert_eq!(
        invalid_fields(when::<Document>(&issued, pay(1, 0))),
        pairs(&[("amount", "amount_not_positive")])
    );
    assert_eq!(
        invalid_fields(when::<Document>(&issued, pay(1, -5))),
        pairs(&[("amount", "amount_not_positive")])
    );
    let mut history = issued.clone();
    history.extend(when::<Document>(&history, pay(1, 1)).unwrap());
    assert_eq!(
        invalid_fields(when::<Document>(&history, pay(2, i64::MAX))),
        pairs(&[("amount", "amount_overflow")])
    );
}

#[test]
fn a_document_is_reassigned_with_from_and_to() {
    let history = created(DocumentKind::Contract, vec![]);
    assert_eq!(
        when::<Document>(&history, DocumentCommand::Reassign { to: user(3) }),
        Ok(vec![DocumentEvent::DocumentReassigned {
            from: user(1),
            to: user(3),
        }])
    );
    assert_eq!(
        when::<Document>(&history, DocumentCommand::Reassign { to: user(1) }),
        Ok(vec![])
    );
    assert_eq!(
        when::<Document>(&history, create_document(DocumentKind::Contract, vec![])),
        Err(CrmError::AlreadyExists)
    );
    assert_eq!(
        when::<Document>(
            &[],
            DocumentCommand::ChangeStatus {
                to: DocumentStatus::Sent
            }
        ),
        Err(CrmError::NotFound)
    );
}

// --------------------------------------------------------------- products

fn product_input(name: &str, sku: Option<&str>) -> ProductInput {
    ProductInput {
        name: name.into(),
        sku: sku.map(str::to_string),
        description: None,
        unit: Some("licence".into()),
        price: MoneyInput::rub_minor(150_000),
        vat_rate: Some(20),
    }
}

#[test]
fn a_product_needs_a_name_a_price_and_a_vat_rate() {
    let input = ProductInput {
        name: " ".into(),
        sku: Some("x".repeat(65)),
        description: None,
        unit: Some("kg".into()),
        price: MoneyInput::rub_minor(-1),
        vat_rate: None,
    };
    let fields = invalid_fields(when::<Product>(
        &[],
        ProductCommand::Create {
            id: product_id(1),
            input,
        },
    ));
    assert_eq!(
        fields,
        pairs(&[
            ("name", "required"),
            ("sku", "too_long"),
            ("unit", "not_in_dictionary"),
            ("price", "negative_price"),
            ("vat_rate", "required"),
        ])
    );
}

#[test]
fn an_update_changes_only_what_it_names_and_records_old_and_new() {
    let history = when::<Product>(
        &[],
        ProductCommand::Create {
            id: product_id(1),
            input: product_input("Лицензия", Some("LIC-1")),
        },
    )
    .unwrap();
    let patch: ProductPatch = serde_json::from_str(
        r#"{"sku": null, "price": {"amount": "1600.00"}, "name": "Лицензия"}"#,
    )
    .unwrap();
    let events = when::<Product>(&history, ProductCommand::Update { patch }).unwrap();
    let json = serde_json::to_value(&events).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "type": "product_updated",
            "changes": {
                "sku": {"old": "LIC-1", "new": null},
                "price": {"old": {"minor": 150000, "currency": "RUB"},
                          "new": {"minor": 160000, "currency": "RUB"}},
            }
        }])
    );
    let record = given::<Product>(&[history.clone(), events].concat()).unwrap();
    assert_eq!(record.sku, None);
    assert_eq!(record.price, Money::rub(160_000));
    assert_eq!(record.unit.as_deref(), Some("licence"), "absent stays");

    assert_eq!(
        when::<Product>(
            &history,
            ProductCommand::Update {
                patch: ProductPatch::default()
            }
        ),
        Ok(vec![])
    );
    let patch = ProductPatch {
        name: Patch::Clear,
        price: Patch::Clear,
        vat_rate: Patch::Set(18),
        unit: Patch::Set("kg".into()),
        ..ProductPatch::default()
    };
    assert_eq!(
        invalid_fields(when::<Product>(&history, ProductCommand::Update { patch })),
        pairs(&[
            ("name", "required"),
            ("unit", "not_in_dictionary"),
            ("price", "required"),
            ("vat_rate", "vat_rate_not_allowed"),
        ])
    );
}

#[test]
fn archiving_and_restoring_are_idempotent() {
    let mut history = when::<Product>(
        &[],
        ProductCommand::Create {
            id: product_id(1),
            input: product_input("A", None),
        },
    )
    .unwrap();
    assert_eq!(
        when::<Product>(&history, ProductCommand::Restore),
        Ok(vec![])
    );
    history.extend(when::<Product>(&history, ProductCommand::Archive).unwrap());
    assert!(!given::<Product>(&history).unwrap().active);
    assert_eq!(
        when::<Product>(&history, ProductCommand::Archive),
        Ok(vec![])
    );
    history.extend(when::<Product>(&history, ProductCommand::Restore).unwrap());
    assert!(given::<Product>(&history).unwrap().active);
    assert_eq!(
        when::<Product>(&[], ProductCommand::Archive),
        Err(CrmError::NotFound)
    );
}

// ------------------------------------------------------------------ index

fn ids<T>(page: &voronka_crm::Page<T>, id: impl Fn(&T) -> uuid::Uuid) -> Vec<uuid::Uuid> {
    page.items.iter().map(id).collect()
}

/// Five activities: calls, a meeting and a task over two users, deals and
/// contacts, at known due times.
fn world_with_activities() -> World {
    let mut world = World::new();
    // 1: a call by user 1 on deal 1, due at +10h.
    world.activity(
        activity_id(1),
        plan(
            activity_id(1),
            ActivityInput {
                deal: Some(deal(1).to_string()),
                contact: Some(contact(1).to_string()),
                company: Some(company(1).to_string()),
                ..call_input()
            },
        ),
    );
    // 2: a meeting by user 1 on deal 1 with contact 1, at +24h.
    world.activity(activity_id(2), plan(activity_id(2), meeting_input()));
    // 3: a task by user 2 on deal 2, due at +2h.
    world.activity(
        activity_id(3),
        plan(
            activity_id(3),
            ActivityInput {
                kind: "task".into(),
                subject: Some("Prepare".into()),
                due_at: Some(rfc(march(2))),
                responsible: Some(user(2).to_string()),
                deal: Some(deal(2).to_string()),
                ..ActivityInput::default()
            },
        ),
    );
    // 4: a call by user 2, done.
    world.activity(
        activity_id(4),
        ActivityCommand::Log {
            id: activity_id(4),
            input: ActivityInput {
                responsible: Some(user(2).to_string()),
                contact: Some(contact(2).to_string()),
                due_at: Some(rfc(march(1))),
                ..call_input()
            },
            outcome: Some("reached".into()),
            result: None,
            default_responsible: user(1),
        },
    );
    // 5: a call by user 1 with no links, due at +30h.
    world.activity(
        activity_id(5),
        plan(
            activity_id(5),
            ActivityInput {
                due_at: Some(rfc(march(30))),
                ..call_input()
            },
        ),
    );
    world
}

fn activity_ids(world: &World, filter: &ActivityFilter) -> Vec<uuid::Uuid> {
    let page = world.index.activities(filter, &|_| true, None, 50);
    ids(&page, |row| row.record.id.0)
}

fn a(ns: &[u128]) -> Vec<uuid::Uuid> {
    ns.iter().map(|n| activity_id(*n).0).collect()
}

#[test]
fn activity_lists_filter_by_every_field_newest_first() {
    let world = world_with_activities();
    let all = ActivityFilter::default();
    assert_eq!(activity_ids(&world, &all), a(&[5, 4, 3, 2, 1]));
    let check = |filter: ActivityFilter, expected: &[u128]| {
        assert_eq!(activity_ids(&world, &filter), a(expected), "{filter:?}");
    };
    check(
        ActivityFilter {
            responsible: Some(user(1)),
            ..all.clone()
        },
        &[5, 2, 1],
    );
    check(
        ActivityFilter {
            deal: Some(deal(1)),
            ..all.clone()
        },
        &[2, 1],
    );
    check(
        ActivityFilter {
            contact: Some(contact(1)),
            ..all.clone()
        },
        &[2, 1],
    );
    check(
        ActivityFilter {
            company: Some(company(1)),
            ..all.clone()
        },
        &[1],
    );
    check(
        ActivityFilter {
            kind: Some(ActivityKind::Call),
            ..all.clone()
        },
        &[5, 4, 1],
    );
    check(
        ActivityFilter {
            status: Some(ActivityStatus::Done),
            ..all.clone()
        },
        &[4],
    );
    check(
        ActivityFilter {
            due_before: Some(march(10)),
            ..all.clone()
        },
        &[4, 3],
    );
    check(
        ActivityFilter {
            due_after: Some(march(10)),
            ..all.clone()
        },
        &[5, 2, 1],
    );
    check(
        ActivityFilter {
            due_after: Some(march(2)),
            due_before: Some(march(24)),
            ..all.clone()
        },
        &[3, 1],
    );
    // Overdue: planned and due before the moment (the done call is not).
    check(
        ActivityFilter {
            overdue_at: Some(march(11)),
            ..all.clone()
        },
        &[3, 1],
    );
    check(
        ActivityFilter {
            overdue_at: Some(march(2)),
            ..all.clone()
        },
        &[],
    );
    check(
        ActivityFilter {
            overdue_at: Some(march(100)),
            responsible: Some(user(1)),
            ..all.clone()
        },
        &[5, 2, 1],
    );
    // Visibility is the caller's predicate on the responsible.
    let page = world.index.activities(&all, &|u| u == user(2), None, 50);
    assert_eq!(ids(&page, |row| row.record.id.0), a(&[4, 3]));
}

#[test]
fn activity_pages_walk_the_list_once() {
    let world = world_with_activities();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = world
            .index
            .activities(&ActivityFilter::default(), &|_| true, after, 2);
        seen.extend(ids(&page, |row| row.record.id.0));
        pages += 1;
        match page.next_cursor {
            Some(cursor) => after = Some(Cursor::parse(&cursor).unwrap()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, a(&[5, 4, 3, 2, 1]));
}

#[test]
fn rows_follow_the_stream_and_open_work_is_listed_per_user() {
    let mut world = world_with_activities();
    world.now = march(5);
    world.activity(activity_id(1), complete(Some("reached"), None));
    let row = world.index.activity(activity_id(1)).unwrap();
    assert_eq!(row.record.status, ActivityStatus::Done);
    assert_eq!(row.version, 2);
    assert_eq!(row.created_at, march(0));
    assert_eq!(row.updated_at, march(5));
    assert_eq!(
        world.index.open_activities_responsible_of(user(1)),
        [activity_id(2), activity_id(5)]
    );
    assert_eq!(
        world.index.open_activities_responsible_of(user(2)),
        [activity_id(3)]
    );
    world.activity(activity_id(3), ActivityCommand::Reassign { to: user(1) });
    assert_eq!(
        world.index.open_activities_responsible_of(user(1)),
        [activity_id(2), activity_id(3), activity_id(5)]
    );
    assert!(world
        .index
        .open_activities_responsible_of(user(2))
        .is_empty());
    // A row serializes flat, with its version.
    let json = serde_json::to_value(world.index.activity(activity_id(3)).unwrap()).unwrap();
    assert_eq!(json["kind"], "task");
    assert_eq!(json["version"], 2);
    assert!(json.get("created_position").is_none());
}

#[test]
fn activity_events_reach_the_deal_contact_and_company_timelines() {
    let mut world = world_with_activities();
    world.activity(activity_id(1), complete(Some("reached"), Some("ok")));
    let planned_and_done = ["activity_planned", "activity_completed"];
    assert_eq!(
        world.timeline_types(EntityRef::Activity(activity_id(1))),
        planned_and_done
    );
    assert_eq!(
        world.timeline_types(EntityRef::Company(company(1))),
        planned_and_done
    );
    assert_eq!(
        world.timeline_types(EntityRef::Deal(deal(1))),
        ["activity_planned", "activity_planned", "activity_completed"]
    );
    assert_eq!(
        world.timeline_types(EntityRef::Contact(contact(2))),
        ["activity_logged"]
    );

    // A relink is on the old and the new deal's timelines; later events only
    // on the new one's.
    world.activity(
        activity_id(2),
        ActivityCommand::Relink {
            deal: Some(deal(3)),
            contact: Some(contact(1)),
            company: None,
        },
    );
    world.activity(activity_id(2), complete(None, Some("Held")));
    assert_eq!(
        world.timeline_types(EntityRef::Deal(deal(1))),
        [
            "activity_planned",
            "activity_planned",
            "activity_completed",
            "activity_relinked"
        ]
    );
    assert_eq!(
        world.timeline_types(EntityRef::Deal(deal(3))),
        ["activity_relinked", "activity_completed"]
    );
    let entry = &world
        .timelines
        .page(EntityRef::Deal(deal(3)), None, 1)
        .items[0];
    assert_eq!(entry.subject, EntityRef::Activity(activity_id(2)));
    assert_eq!(entry.data["result"], "Held");
    assert_eq!(entry.at, march(0));
}

fn world_with_documents() -> World {
    let mut world = World::new();
    let create =
        |world: &mut World, n: u128, kind: DocumentKind, on_deal: DealId, responsible: UserId| {
            let number = world.index.next_document_number(kind, 2026);
            world.document(
                document_id(n),
                DocumentCommand::Create {
                    id: document_id(n),
                    kind,
                    deal: on_deal,
                    number,
                    input: DocumentInput {
                        title: None,
                        currency: None,
                        lines: example_lines(),
                    },
                    responsible,
                },
            );
        };
    create(&mut world, 1, DocumentKind::Proposal, deal(1), user(1));
    create(&mut world, 2, DocumentKind::Invoice, deal(1), user(1));
    create(&mut world, 3, DocumentKind::Invoice, deal(2), user(2));
    create(&mut world, 4, DocumentKind::Contract, deal(1), user(2));
    world
}

#[test]
fn documents_are_numbered_per_kind_and_listed_by_deal_kind_and_status() {
    let mut world = world_with_documents();
    let number = |world: &World, n| {
        world
            .index
            .document(document_id(n))
            .unwrap()
            .record
            .number
            .clone()
    };
    assert_eq!(number(&world, 1), "PRO-2026-000001");
    assert_eq!(number(&world, 2), "INV-2026-000001");
    assert_eq!(number(&world, 3), "INV-2026-000002");
    assert_eq!(number(&world, 4), "CON-2026-000001");
    assert_eq!(
        world
            .index
            .next_document_number(DocumentKind::Invoice, 2026),
        "INV-2026-000003"
    );
    assert_eq!(
        world.index.next_document_number(DocumentKind::Act, 2026),
        "ACT-2026-000001"
    );
    assert_eq!(
        world.index.documents_of_deal(deal(1)),
        [document_id(1), document_id(2), document_id(4)]
    );
    assert!(world.index.documents_of_deal(deal(9)).is_empty());

    world.document(
        document_id(2),
        DocumentCommand::ChangeStatus {
            to: DocumentStatus::Sent,
        },
    );
    world.document(document_id(2), pay(1, 63_399));
    let list = |world: &World, filter: DocumentFilter| {
        let page = world.index.documents(&filter, &|_| true, None, 50);
        ids(&page, |row| row.record.id.0)
    };
    let d = |ns: &[u128]| ns.iter().map(|n| document_id(*n).0).collect::<Vec<_>>();
    assert_eq!(list(&world, DocumentFilter::default()), d(&[4, 3, 2, 1]));
    assert_eq!(
        list(
            &world,
            DocumentFilter {
                deal: Some(deal(1)),
                ..Default::default()
            }
        ),
        d(&[4, 2, 1])
    );
    assert_eq!(
        list(
            &world,
            DocumentFilter {
                kind: Some(DocumentKind::Invoice),
                ..Default::default()
            }
        ),
        d(&[3, 2])
    );
    assert_eq!(
        list(
            &world,
            DocumentFilter {
                status: Some(DocumentStatus::Paid),
                ..Default::default()
            }
        ),
        d(&[2])
    );
    let page = world
        .index
        .documents(&DocumentFilter::default(), &|u| u == user(2), None, 1);
    assert_eq!(ids(&page, |row| row.record.id.0), d(&[4]));
    let after = Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap();
    let page = world.index.documents(
        &DocumentFilter::default(),
        &|u| u == user(2),
        Some(after),
        1,
    );
    assert_eq!(ids(&page, |row| row.record.id.0), d(&[3]));
    assert_eq!(page.next_cursor, None);

    let row = world.index.document(document_id(2)).unwrap();
    assert_eq!(row.record.status, DocumentStatus::Paid);
    assert_eq!(row.version, 4, "created, issued, payment, paid");
    assert_eq!(
        world.timeline_types(EntityRef::Deal(deal(1))),
        [
            "document_created",
            "document_created",
            "document_created",
            "document_status_changed",
            "document_payment_registered",
            "document_status_changed",
        ]
    );
    assert_eq!(
        world.timeline_types(EntityRef::Document(document_id(3))),
        ["document_created"]
    );
}

#[test]
fn the_catalog_is_searched_by_folded_name_and_sku_and_skus_are_found_case_insensitively() {
    let mut world = World::new();
    let create = |world: &mut World, n, name: &str, sku: Option<&str>| {
        world.product(
            product_id(n),
            ProductCommand::Create {
                id: product_id(n),
                input: product_input(name, sku),
            },
        );
    };
    create(&mut world, 1, "Лицензия ЁЛКА", Some("LIC-1"));
    create(&mut world, 2, "Внедрение", Some("IMPL-7"));
    create(&mut world, 3, "Поддержка", None);
    world.product(product_id(3), ProductCommand::Archive);

    let search = |world: &World, q: Option<&str>, active: Option<bool>| {
        let filter = ProductFilter {
            q: q.map(str::to_string),
            active,
        };
        let page = world.index.products(&filter, None, 50);
        ids(&page, |row| row.record.id.0)
    };
    let p = |ns: &[u128]| ns.iter().map(|n| product_id(*n).0).collect::<Vec<_>>();
    assert_eq!(search(&world, None, None), p(&[3, 2, 1]));
    assert_eq!(search(&world, Some("елка"), None), p(&[1]));
    assert_eq!(search(&world, Some("impl"), None), p(&[2]));
    assert_eq!(search(&world, Some("  "), None), p(&[3, 2, 1]));
    assert_eq!(search(&world, Some("поддерж"), Some(true)), p(&[]));
    assert_eq!(search(&world, None, Some(false)), p(&[3]));

    assert_eq!(world.index.product_by_sku("lic-1"), Some(product_id(1)));
    assert_eq!(world.index.product_by_sku("NOPE"), None);
    let patch = ProductPatch {
        sku: Patch::Set("LIC-2".into()),
        ..ProductPatch::default()
    };
    world.product(product_id(1), ProductCommand::Update { patch });
    assert_eq!(world.index.product_by_sku("LIC-1"), None);
    assert_eq!(world.index.product_by_sku("lic-2"), Some(product_id(1)));
    assert_eq!(search(&world, Some("lic-2"), None), p(&[1]));
    let row = world.index.product(product_id(1)).unwrap();
    assert_eq!(row.version, 2);
    assert_eq!(
        world.timeline_types(EntityRef::Product(product_id(1))),
        ["product_created", "product_updated"]
    );
    assert_eq!(
        world.timeline_types(EntityRef::Product(product_id(3))),
        ["product_created", "product_archived"]
    );
}

#[test]
fn unreadable_events_are_skipped_and_counted_and_other_categories_ignored() {
    let mut world = World::new();
    world.push(
        "company",
        uuid(1),
        "company_created",
        Payload::from_json_text("{}").unwrap(),
    );
    world.push(
        "deal",
        uuid(1),
        "whatever",
        Payload::from_json_text("{}").unwrap(),
    );
    assert_eq!(world.index.skipped(), 0);
    world.push(
        "activity",
        uuid(1),
        "activity_exploded",
        Payload::from_json_text(r#"{"type": "activity_exploded"}"#).unwrap(),
    );
    world.push(
        "document",
        uuid(1),
        "x",
        Payload::from_stored_text("not json"),
    );
    // A change to a record never created.
    world.push(
        "product",
        uuid(1),
        "product_archived",
        Payload::from_json_text(r#"{"type": "product_archived"}"#).unwrap(),
    );
    assert_eq!(world.index.skipped(), 3);
    assert!(world.index.product(ProductId::from_uuid(uuid(1))).is_none());
    assert_eq!(
        world
            .timelines
            .len(EntityRef::Product(ProductId::from_uuid(uuid(1)))),
        0
    );
    // A stream name that is not `<category>-<uuid>`.
    let event = RecordedEvent {
        position: Position(99),
        stream_id: StreamId::new("activity-not-a-uuid").unwrap(),
        stream_version: StreamVersion(1),
        event_type: "activity_planned".into(),
        schema_version: 1,
        payload: Payload::from_json_text("{}").unwrap(),
        metadata: EventMetadata::by(Actor::system("test")),
        recorded_at: march(0),
        occurred_at: None,
    };
    world.index.apply(&event, &mut world.timelines);
    assert_eq!(world.index.skipped(), 4);
}

// ------------------------------------------------------------- properties

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("call".to_string()),
        Just("meeting".to_string()),
        Just("message".to_string()),
        Just("email".to_string()),
        Just("task".to_string()),
        Just("outgoing".to_string()),
        Just("sms".to_string()),
        Just("wrong_number".to_string()),
        Just("2026-03-01T10:00:00+03:00".to_string()),
        Just("9999-12-31T23:59:59Z".to_string()),
        Just("0000-01-01T00:00:00Z".to_string()),
        Just(contact(1).to_string()),
        Just("-0.001".to_string()),
        Just("1000000000.999".to_string()),
        Just("1 000,5".to_string()),
        Just("hour".to_string()),
        ".{0,12}",
        any::<String>(),
    ]
}

fn maybe_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn activity_input() -> impl Strategy<Value = ActivityInput> {
    (
        text(),
        maybe_text(),
        maybe_text(),
        maybe_text(),
        maybe_text(),
        maybe_text(),
        maybe_text(),
        maybe_text(),
        maybe_text(),
        maybe_text(),
    )
        .prop_map(
            |(
                kind,
                direction,
                channel,
                subject,
                planned_start,
                due_at,
                responsible,
                deal,
                contact,
                company,
            )| {
                ActivityInput {
                    kind,
                    direction,
                    channel,
                    subject,
                    planned_start,
                    due_at,
                    responsible,
                    deal,
                    contact,
                    company,
                }
            },
        )
}

fn money_input() -> impl Strategy<Value = MoneyInput> {
    (
        maybe_text(),
        proptest::option::of(prop_oneof![
            Just(i64::MAX),
            Just(i64::MIN),
            Just(0_i64),
            any::<i64>()
        ]),
        proptest::option::of(prop_oneof![
            Just("RUB".to_string()),
            Just("USD".to_string()),
            text()
        ]),
    )
        .prop_map(|(amount, minor, currency)| MoneyInput {
            amount,
            minor,
            currency,
        })
}

fn small_or_any() -> impl Strategy<Value = i64> {
    prop_oneof![-1_i64..=101, Just(i64::MIN), Just(i64::MAX), any::<i64>()]
}

fn line_input() -> impl Strategy<Value = DocumentLineInput> {
    (
        text(),
        text(),
        maybe_text(),
        money_input(),
        proptest::option::of(small_or_any()),
        proptest::option::of(small_or_any()),
    )
        .prop_map(
            |(name, quantity, unit, price, vat_rate, discount_percent)| DocumentLineInput {
                product: None,
                name,
                quantity,
                unit,
                price,
                vat_rate,
                discount_percent,
            },
        )
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        Just(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        Just(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        any::<i64>().prop_map(timestamp_from_micros),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_activity_input_makes_decide_panic(
        input in activity_input(),
        outcome in maybe_text(),
        result in maybe_text(),
        due in timestamp(),
        start in proptest::option::of(timestamp()),
        now in timestamp(),
    ) {
        let context = Context { now, actor: user(0), dictionaries: dictionaries() };
        let planned = Activity::decide(&None, &plan(activity_id(1), input.clone()), &context);
        let _ = Activity::decide(&None, &ActivityCommand::Log {
            id: activity_id(1),
            input: input.clone(),
            outcome: outcome.clone(),
            result: result.clone(),
            default_responsible: user(1),
        }, &context);
        if let Ok(events) = planned {
            prop_assert_eq!(events.len(), 1);
            let state = given::<Activity>(&events);
            for command in [
                ActivityCommand::Complete { outcome: outcome.clone(), result: result.clone() },
                ActivityCommand::Reschedule { due_at: due, planned_start: start },
                ActivityCommand::Reschedule { due_at: due, planned_start: None },
                ActivityCommand::Cancel { reason: result.clone() },
            ] {
                let _ = Activity::decide(&state, &command, &context);
            }
        }
    }

    #[test]
    fn no_document_input_makes_decide_panic(
        lines in proptest::collection::vec(line_input(), 0..6),
        currency in maybe_text(),
        number in text(),
        amount in money_input(),
    ) {
        let context = context(march(0));
        let create = DocumentCommand::Create {
            id: document_id(1),
            kind: DocumentKind::Invoice,
            deal: deal(1),
            number,
            input: DocumentInput { title: None, currency, lines: lines.clone() },
            responsible: user(1),
        };
        let decided = Document::decide(&None, &create, &context);
        if let Ok(events) = &decided {
            let record = given::<Document>(events).unwrap();
            let net: i64 = record.lines.iter().map(|l| l.net.minor).sum();
            prop_assert_eq!(record.totals.net.minor, net);
            prop_assert_eq!(record.totals.gross.minor, record.totals.net.minor + record.totals.vat.minor);
        }
        let issued = issued_invoice();
        let state = given::<Document>(&issued);
        let _ = Document::decide(&state, &DocumentCommand::RegisterPayment {
            payment_id: uuid(1),
            amount,
            paid_on: NaiveDate::MAX,
            reference: None,
        }, &context);
        let draft = given::<Document>(&created(DocumentKind::Act, vec![]));
        let _ = Document::decide(&draft, &DocumentCommand::ReplaceLines { lines }, &context);
    }

    #[test]
    fn no_product_input_makes_decide_panic(
        name in text(),
        sku in maybe_text(),
        description in maybe_text(),
        unit in maybe_text(),
        price in money_input(),
        vat_rate in proptest::option::of(small_or_any()),
    ) {
        let context = context(march(0));
        let input = ProductInput { name: name.clone(), sku: sku.clone(), description, unit: unit.clone(), price: price.clone(), vat_rate };
        let created = Product::decide(&None, &ProductCommand::Create { id: product_id(1), input }, &context);
        let base = given::<Product>(
            &when::<Product>(&[], ProductCommand::Create { id: product_id(1), input: product_input("A", None) }).unwrap(),
        );
        let to_patch = |value: Option<String>| value.map_or(Patch::Clear, Patch::Set);
        let patch = ProductPatch {
            name: Patch::Set(name),
            sku: to_patch(sku),
            description: Patch::Absent,
            unit: to_patch(unit),
            price: Patch::Set(price),
            vat_rate: vat_rate.map_or(Patch::Absent, Patch::Set),
        };
        let _ = Product::decide(&base, &ProductCommand::Update { patch }, &context);
        if let Ok(events) = created {
            prop_assert!(given::<Product>(&events).is_some());
        }
    }
}

#[test]
fn api_types_describe_themselves_for_openapi() {
    use utoipa::PartialSchema;
    let schema = |value| serde_json::to_value(value).unwrap();
    let record = schema(ActivityRecord::schema());
    assert_eq!(record["properties"]["kind"]["type"], "string");
    assert_eq!(record["properties"]["due_at"]["format"], "date-time");
    assert_eq!(record["properties"]["deal"]["format"], "uuid");
    let row = schema(voronka_crm::work_index::ActivityRow::schema());
    assert_eq!(
        row["allOf"][0]["$ref"],
        "#/components/schemas/ActivityRecord"
    );
    assert!(row.to_string().contains("\"version\""));
    let document = schema(DocumentRecord::schema());
    assert_eq!(
        document["properties"]["status"]["$ref"],
        "#/components/schemas/DocumentStatus"
    );
    for input in [
        schema(ActivityInput::schema()),
        schema(DocumentInput::schema()),
        schema(DocumentLineInput::schema()),
        schema(ProductInput::schema()),
        schema(ProductPatch::schema()),
    ] {
        assert_eq!(input["additionalProperties"], false, "{input}");
    }
    let patch = schema(ProductPatch::schema());
    assert!(
        patch["required"].is_null(),
        "every patch field is optional: {patch}"
    );
}
