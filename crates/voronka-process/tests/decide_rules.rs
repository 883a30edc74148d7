//! Given/when/then tests, one per rule of the engine, on the shipped
//! `b2b-sale` process.

mod support;

use chrono::Duration;
use serde_json::json;
use support::*;
use voronka_core::Role;
use voronka_process::*;

#[test]
fn it_should_start_a_deal_in_the_initial_stage_and_ask_for_a_first_call() {
    let process = compile("b2b-sale.yaml", B2B_SALE);
    let actor = ActorContext::system("test");
    let decision = decide(
        &process,
        &DealState::not_started(),
        &DealCommand::Start { deal: deal_id() },
        &actor,
        t0(),
    )
    .unwrap();
    let state = DealState::from_events(&decision.events);
    assert_eq!(state.deal.unwrap().stage, process.stage_id("new").unwrap());
    assert!(matches!(
        decision.effects.as_slice(),
        [Effect::CreateTask { kind: ActivityKind::Call, due_at, .. }] if *due_at == t0() + Duration::hours(2)
    ));
}

#[test]
fn it_should_not_start_a_deal_twice() {
    let given = Scenario::b2b();
    assert_eq!(
        given.when(DealCommand::Start { deal: deal_id() }),
        Err(Rejection::AlreadyStarted)
    );
}

#[test]
fn it_should_reject_commands_on_a_deal_that_was_not_started() {
    let process = compile("b2b-sale.yaml", B2B_SALE);
    let result = decide(
        &process,
        &DealState::not_started(),
        &DealCommand::Tick,
        &ActorContext::system("t"),
        t0(),
    );
    assert_eq!(result, Err(Rejection::NotStarted));
}

#[test]
fn it_should_list_every_missing_field_when_qualifying_an_empty_deal() {
    let given = Scenario::b2b();
    let result = given.when_moving_to("qualifying");
    assert_eq!(
        codes(&result),
        ["field_missing", "field_missing", "field_missing"]
    );
    let unmet = result.unwrap_err();
    let first = &unmet.unmet()[0];
    assert_eq!(first.stage, given.stage("qualifying"));
    assert_eq!(first.requirement, RequirementRef::StageEntry { index: 0 });
    assert_eq!(first.message.ru, "Заполните поле «Компания»");
    assert_eq!(first.message.en, "Fill in “Company”");
}

#[test]
fn it_should_not_allow_skipping_stages() {
    let given = Scenario::b2b().ready_for_proposal().in_stage("new");
    let result = given.when_moving_to("proposal");
    assert_eq!(codes(&result)[0], "transition_not_allowed");
}

#[test]
fn it_should_move_to_proposal_when_the_meeting_was_held_and_the_amount_is_positive() {
    let given = Scenario::b2b().ready_for_proposal();
    let result = given.when_moving_to("proposal");
    let decision = accepted(&result);
    assert!(matches!(
        decision.events.as_slice(),
        [DealEvent::StageChanged { .. }]
    ));
}

#[test]
fn it_should_reject_proposal_when_the_amount_is_zero() {
    let given = Scenario::b2b()
        .ready_for_proposal()
        .with_field("amount", json!("0 RUB"));
    assert_eq!(
        codes(&given.when_moving_to("proposal")),
        ["comparison_failed"]
    );
}

#[test]
fn it_should_reject_proposal_when_the_meeting_was_only_planned() {
    let given = Scenario::b2b().ready_for_proposal();
    let mut given = given;
    // Replace the held meeting by a planned one with the same id.
    let DealEvent::ActivityRecorded { activity, .. } = given.events.iter().rev().find(|e| matches!(e, DealEvent::ActivityRecorded { activity, .. } if activity.kind == ActivityKind::Meeting)).cloned().unwrap() else {
        unreachable!()
    };
    given.events.push(DealEvent::ActivityRecorded {
        activity: ActivityFact {
            status: ActivityStatus::Planned,
            ..activity
        },
        at: t0(),
    });
    assert_eq!(
        codes(&given.when_moving_to("proposal")),
        ["activity_missing"]
    );
}

#[test]
fn it_should_reject_needs_when_the_call_did_not_reach_the_client() {
    let given = Scenario::b2b()
        .with_field("company", json!("0190a0b0-0000-7000-8000-000000000001"))
        .with_field("industry", json!("retail"))
        .with_activity(
            ActivityKind::Call,
            ActivityStatus::Done,
            Some("no_answer"),
            t0(),
        )
        .in_stage("qualifying");
    assert_eq!(codes(&given.when_moving_to("needs")), ["activity_missing"]);
}

#[test]
fn it_should_require_the_close_date_to_be_in_the_future_for_negotiation() {
    let given = Scenario::b2b()
        .ready_for_proposal()
        .in_stage("proposal")
        .with_field(
            "decision_maker",
            json!("0190a0b0-0000-7000-8000-000000000009"),
        )
        .with_field("expected_close_date", json!("2026-11-01"))
        .with_document(DocumentKind::Proposal, DocumentStatus::Sent);
    assert_eq!(
        codes(&given.when_moving_to("negotiation")),
        ["comparison_failed"]
    );
    let later = given.with_field("expected_close_date", json!("2026-12-20"));
    accepted(&later.when_moving_to("negotiation"));
}

#[test]
fn it_should_reject_invoice_when_no_proposal_was_sent() {
    let given = Scenario::b2b().ready_for_proposal().in_stage("contract");
    let invoice = DocumentFact {
        id: DocumentId::from_parts(9, [9; 10]),
        kind: DocumentKind::Invoice,
        status: DocumentStatus::Draft,
    };
    let result = given.when(DealCommand::RecordDocument(invoice));
    assert_eq!(codes(&result), ["document_missing", "document_missing"]);
    let unmet = result.unwrap_err();
    assert_eq!(
        unmet.unmet()[0].requirement,
        RequirementRef::DocumentRequirement {
            document: DocumentKind::Invoice,
            index: 0
        }
    );
    assert!(unmet.unmet()[0].message.en.contains("proposal"));
}

#[test]
fn it_should_reject_an_invoice_before_the_contract_stage() {
    let given = Scenario::b2b()
        .ready_for_proposal()
        .with_document(DocumentKind::Proposal, DocumentStatus::Sent)
        .with_document(DocumentKind::Contract, DocumentStatus::Signed);
    let invoice = DocumentFact {
        id: DocumentId::from_parts(9, [9; 10]),
        kind: DocumentKind::Invoice,
        status: DocumentStatus::Draft,
    };
    assert_eq!(
        codes(&given.when(DealCommand::RecordDocument(invoice))),
        ["document_not_allowed_in_stage"]
    );
    let in_contract = given.in_stage("contract");
    accepted(&in_contract.when(DealCommand::RecordDocument(invoice)));
}

#[test]
fn it_should_count_a_paid_invoice_as_sent() {
    assert!(DocumentStatus::Paid.satisfies(DocumentStatus::Sent));
    assert!(!DocumentStatus::Draft.satisfies(DocumentStatus::Sent));
    assert!(!DocumentStatus::Cancelled.satisfies(DocumentStatus::Draft));
}

#[test]
fn it_should_require_a_loss_reason_to_lose_a_deal() {
    let given = Scenario::b2b().in_stage("qualifying");
    assert_eq!(codes(&given.when_moving_to("lost")), ["field_missing"]);
}

#[test]
fn it_should_require_the_competitor_when_lost_to_a_competitor() {
    let given = Scenario::b2b()
        .in_stage("qualifying")
        .with_field("loss_reason", json!("competitor"));
    let result = given.when_moving_to("lost");
    assert_eq!(codes(&result), ["field_missing"]);
    assert!(result.unwrap_err().unmet()[0]
        .message
        .en
        .contains("Competitor"));
    let with_competitor = given.with_field("competitor", json!("amocrm"));
    accepted(&with_competitor.when_moving_to("lost"));
}

#[test]
fn it_should_not_require_the_competitor_for_other_loss_reasons() {
    let given = Scenario::b2b()
        .in_stage("proposal")
        .with_field("loss_reason", json!("price"));
    accepted(&given.when_moving_to("lost"));
}

#[test]
fn it_should_let_only_heads_lose_a_deal_with_an_invoice() {
    let given = Scenario::b2b()
        .in_stage("invoice")
        .with_field("loss_reason", json!("no_budget"));
    assert_eq!(codes(&given.when_moving_to("lost")), ["role_required"]);
    let head = given.acting_as(&[Role::HeadOfSales]);
    accepted(&head.when_moving_to("lost"));
}

#[test]
fn it_should_never_leave_a_terminal_stage() {
    let given = Scenario::b2b()
        .in_stage("qualifying")
        .with_field("loss_reason", json!("price"))
        .in_stage("lost");
    assert_eq!(
        codes(&given.when_moving_to("qualifying"))[0],
        "transition_not_allowed"
    );
}

#[test]
fn it_should_refuse_a_field_value_of_the_wrong_type() {
    let given = Scenario::b2b();
    let field = given.process.field_id("amount").unwrap();
    let result = given.when(DealCommand::SetField {
        field,
        value: Some(FieldValue::Text("many".into())),
    });
    assert!(matches!(result, Err(Rejection::InvalidFieldValue { .. })));
}

#[test]
fn it_should_refuse_a_value_of_another_dictionary() {
    let given = Scenario::b2b();
    let competitor = given.process.field_id("competitor").unwrap();
    let loss_reasons = given.process.dictionary_id("loss_reason").unwrap();
    let price = given.process.value_id(loss_reasons, "price").unwrap();
    let result = given.when(DealCommand::SetField {
        field: competitor,
        value: Some(FieldValue::Dictionary(price)),
    });
    assert!(matches!(result, Err(Rejection::InvalidFieldValue { .. })));
}

#[test]
fn it_should_refuse_an_outcome_from_another_activity_kind() {
    let given = Scenario::b2b();
    let meeting_outcomes = given.process.dictionary_id("meeting_outcome").unwrap();
    let outcome = given.process.value_id(meeting_outcomes, "not_a_fit");
    let call = ActivityFact {
        id: ActivityId::from_parts(5, [5; 10]),
        kind: ActivityKind::Call,
        status: ActivityStatus::Done,
        outcome,
        at: t0(),
    };
    assert!(matches!(
        given.when(DealCommand::RecordActivity(call)),
        Err(Rejection::InvalidOutcome { .. })
    ));
}

#[test]
fn it_should_ask_for_a_callback_task_when_the_client_asks_to_call_back() {
    let given = Scenario::b2b();
    let outcomes = given.process.dictionary_id("call_outcome").unwrap();
    let call = ActivityFact {
        id: ActivityId::from_parts(5, [5; 10]),
        kind: ActivityKind::Call,
        status: ActivityStatus::Done,
        outcome: given.process.value_id(outcomes, "callback"),
        at: t0(),
    };
    let result = given.when(DealCommand::RecordActivity(call));
    let decision = accepted(&result);
    assert!(matches!(
        decision.effects.as_slice(),
        [Effect::CreateTask {
            kind: ActivityKind::Call,
            ..
        }]
    ));
}

#[test]
fn it_should_notify_the_head_about_a_forgotten_deal_once() {
    let given = Scenario::b2b()
        .in_stage("qualifying")
        .at(t0() + Duration::days(8));
    let result = given.when(DealCommand::Tick);
    let decision = accepted(&result);
    let notified = decision
        .effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Notify {
                    recipient: Assignee::ResponsibleHead,
                    ..
                }
            )
        })
        .count();
    assert_eq!(notified, 1);
    let mut later = given;
    later.events.extend(decision.events.clone());
    let again = later.when(DealCommand::Tick);
    assert!(accepted(&again).effects.iter().all(|e| !matches!(
        e,
        Effect::Notify {
            recipient: Assignee::ResponsibleHead,
            ..
        }
    )));
}

#[test]
fn it_should_report_an_sla_breach_once_per_stage_entry() {
    let given = Scenario::b2b().at(t0() + Duration::days(2));
    let result = given.when(DealCommand::Tick);
    let decision = accepted(&result);
    assert!(decision
        .events
        .iter()
        .any(|e| matches!(e, DealEvent::SlaBreached { .. })));
    let mut later = given;
    later.events.extend(decision.events.clone());
    assert!(accepted(&later.when(DealCommand::Tick))
        .events
        .iter()
        .all(|e| !matches!(e, DealEvent::SlaBreached { .. })));
}

#[test]
fn it_should_tell_when_to_wake_up_next() {
    let given = Scenario::b2b();
    assert_eq!(
        next_wakeup(&given.process, &given.state()),
        Some(t0() + Duration::days(1))
    );
}

#[test]
fn it_should_remind_before_the_expected_close_date() {
    let given = Scenario::b2b()
        .in_stage("qualifying")
        .with_field("expected_close_date", json!("2026-12-10"))
        .at(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 7, 0, 0, 0).unwrap());
    let result = given.when(DealCommand::Tick);
    let decision = accepted(&result);
    assert!(decision.effects.iter().any(
        |e| matches!(e, Effect::CreateTask { title, .. } if title.en.starts_with("Close date"))
    ));
}

#[test]
fn it_should_list_the_checklist_for_every_allowed_next_stage() {
    let given = Scenario::b2b().ready_for_proposal();
    let list = checklist(&given.process, &given.state(), &given.actor, given.now);
    let stages: Vec<&str> = list
        .iter()
        .map(|(s, _)| given.process.stage(*s).name.as_str())
        .collect();
    assert_eq!(stages, ["proposal", "qualifying", "lost"]);
    assert!(list[0].1.is_empty());
    assert_eq!(
        list[2]
            .1
            .iter()
            .map(|u| u.code.as_str())
            .collect::<Vec<_>>(),
        ["field_missing"]
    );
}

#[test]
fn it_should_reject_a_deal_of_another_version() {
    let given = Scenario::b2b();
    let other = compile(
        "b2b-sale.yaml",
        &B2B_SALE.replace("version: 1", "version: 2"),
    );
    let result = decide(
        &other,
        &given.state(),
        &DealCommand::Tick,
        &given.actor,
        given.now,
    );
    assert!(matches!(result, Err(Rejection::WrongVersion(_))));
}

#[test]
fn it_should_qualify_an_inbound_lead_only_after_a_reached_call_within_a_day() {
    let given = Scenario::started("lead-qualification.yaml", LEAD_QUALIFICATION)
        .with_field("channel", json!("website"))
        .with_field("contact", json!("0190a0b0-0000-7000-8000-000000000002"))
        .with_activity(
            ActivityKind::Call,
            ActivityStatus::Done,
            Some("reached"),
            t0() - Duration::days(3),
        );
    assert_eq!(
        codes(&given.when_moving_to("contacted")),
        ["activity_missing"]
    );
    let fresh = given.with_activity(
        ActivityKind::Call,
        ActivityStatus::Done,
        Some("reached"),
        t0(),
    );
    accepted(&fresh.when_moving_to("contacted"));
}

#[test]
fn it_should_require_three_unanswered_calls_to_reject_a_lead_for_no_contact() {
    let given = Scenario::started("lead-qualification.yaml", LEAD_QUALIFICATION)
        .with_field("rejection_reason", json!("no_contact"));
    let mut given = given;
    for _ in 0..2 {
        given = given.with_activity(
            ActivityKind::Call,
            ActivityStatus::Done,
            Some("no_answer"),
            t0(),
        );
    }
    assert_eq!(
        codes(&given.when_moving_to("rejected")),
        ["activity_missing"]
    );
    let third = given.with_activity(
        ActivityKind::Call,
        ActivityStatus::Done,
        Some("no_answer"),
        t0(),
    );
    accepted(&third.when_moving_to("rejected"));
}

#[test]
fn it_should_close_a_ticket_only_when_the_client_confirmed() {
    let given = Scenario::started("service-ticket.yaml", SERVICE_TICKET)
        .with_field("kind", json!("wish"))
        .with_field("resolution", json!("planned"))
        .with_field("resolution_note", json!("in the next release"))
        .in_stage("in_work")
        .in_stage("resolved");
    assert_eq!(codes(&given.when_moving_to("confirmed")), ["field_missing"]);
    let declined = given.with_field("client_confirmed", json!(false));
    assert_eq!(
        codes(&declined.when_moving_to("confirmed")),
        ["comparison_failed"]
    );
    let confirmed = declined.with_field("client_confirmed", json!(true));
    accepted(&confirmed.when_moving_to("confirmed"));
    assert_eq!(
        codes(&confirmed.when_moving_to("closed_unconfirmed")),
        ["role_required"]
    );
}

#[test]
fn it_should_round_trip_events_through_their_stored_form() {
    let given = Scenario::b2b()
        .ready_for_proposal()
        .with_document(DocumentKind::Proposal, DocumentStatus::Sent);
    for event in &given.events {
        let stored = given.process.encode_event(event);
        let json = serde_json::to_string(&stored).unwrap();
        let back: StoredDealEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(&given.process.decode_event(&back).unwrap(), event);
        assert_eq!(
            stored.to_event_data().unwrap().event_type,
            event.event_type()
        );
    }
}

#[test]
fn it_should_describe_an_unmet_requirement_for_the_api_with_the_stage_name() {
    let given = Scenario::b2b();
    let result = given.when_moving_to("qualifying");
    let json = result.unwrap_err().unmet()[0].to_json(&given.process);
    assert_eq!(json["code"], "field_missing");
    assert_eq!(json["stage"], "qualifying");
    assert_eq!(json["requirement"]["kind"], "stage_entry");
    assert_eq!(json["message"]["ru"], "Заполните поле «Компания»");
}
