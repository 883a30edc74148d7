//! Given/when/then tests for rules the shipped processes do not exercise,
//! each on a small process written inline.

mod support;

use chrono::Duration;
use serde_json::json;
use support::*;
use voronka_core::Role;
use voronka_process::*;

const SMALL: &str = r#"
process: small
version: 1
title: { ru: Малый, en: Small }
initial: draft
dictionaries:
  channel: [website, call, partner]
  priority: [low, high]
fields:
  channel: { type: dictionary, dictionary: channel, title: { ru: Канал, en: Channel } }
  priority: { type: dictionary, dictionary: priority, title: { ru: Приоритет, en: Priority } }
  seats: { type: number, title: { ru: Места, en: Seats } }
  deadline: { type: date, title: { ru: Срок, en: Deadline } }
stages:
  - { id: draft, title: { ru: Черновик, en: Draft }, probability: 0 }
  - id: active
    title: { ru: Активна, en: Active }
    probability: 50
    requires:
      values: { channel: [website, call] }
      conditions:
        - { field: seats, op: ge, value: 5 }
        - { field: seats, op: lt, value: 100 }
        - { field: deadline, op: le, value: "2027-01-01" }
  - { id: done, title: { ru: Готово, en: Done }, probability: 100, terminal: true }
transitions:
  - { from: draft, to: active }
  - { from: active, to: [done, draft] }
permissions:
  - { to: done, roles: [director, head_of_sales] }
  - { from: active, to: done, roles: [director] }
automations:
  - on: { leave: active }
    notify: { to: director, message: { ru: Ушла из активных, en: Left active } }
  - on: { enter: active }
    set_field: { field: priority, value: high }
  - on: { document: { type: contract, status: signed } }
    assign: head_of_sales
  - on: { after: { field: deadline, offset: 1d } }
    notify: { to: responsible, message: { ru: Срок прошёл, en: Deadline passed } }
"#;

fn small() -> Scenario {
    Scenario::started("small.yaml", SMALL)
}

#[test]
fn it_should_start_in_the_declared_initial_stage() {
    let given = small();
    assert_eq!(given.state().deal.unwrap().stage, given.stage("draft"));
}

#[test]
fn it_should_reject_a_dictionary_value_outside_the_allowed_ones() {
    let given = small()
        .with_field("channel", json!("partner"))
        .with_field("seats", json!(10))
        .with_field("deadline", json!("2026-12-31"));
    assert_eq!(
        codes(&given.when_moving_to("active")),
        ["field_value_not_allowed"]
    );
    let website = given.with_field("channel", json!("website"));
    accepted(&website.when_moving_to("active"));
}

#[test]
fn it_should_check_every_comparison_and_report_each_failure() {
    let given = small()
        .with_field("channel", json!("call"))
        .with_field("seats", json!(500))
        .with_field("deadline", json!("2027-06-01"));
    let result = given.when_moving_to("active");
    assert_eq!(codes(&result), ["comparison_failed", "comparison_failed"]);
    let indexes: Vec<RequirementRef> = result
        .unwrap_err()
        .unmet()
        .iter()
        .map(|u| u.requirement)
        .collect();
    assert_eq!(
        indexes,
        [
            RequirementRef::StageEntry { index: 2 },
            RequirementRef::StageEntry { index: 3 }
        ]
    );
}

#[test]
fn it_should_set_a_field_when_entering_a_stage_by_automation() {
    let given = small()
        .with_field("channel", json!("call"))
        .with_field("seats", json!(5))
        .with_field("deadline", json!("2026-12-31"));
    let result = given.when_moving_to("active");
    let decision = accepted(&result);
    let priority = given.process.field_id("priority").unwrap();
    assert!(
        matches!(decision.events.as_slice(), [DealEvent::StageChanged { .. }, DealEvent::FieldSet { field, value: Some(_), .. }] if *field == priority)
    );
}

#[test]
fn it_should_notify_when_leaving_a_stage() {
    let given = small().in_stage("active");
    let result = given.when_moving_to("draft");
    assert!(matches!(
        accepted(&result).effects.as_slice(),
        [Effect::Notify {
            recipient: Assignee::Role(Role::Director),
            ..
        }]
    ));
}

#[test]
fn it_should_require_the_roles_of_every_permission_that_applies() {
    let head = small().in_stage("active").acting_as(&[Role::HeadOfSales]);
    assert_eq!(codes(&head.when_moving_to("done")), ["role_required"]);
    let director = small().in_stage("active").acting_as(&[Role::Director]);
    accepted(&director.when_moving_to("done"));
}

#[test]
fn it_should_assign_when_a_contract_is_signed() {
    let given = small();
    let contract = DocumentFact {
        id: DocumentId::from_parts(4, [4; 10]),
        kind: DocumentKind::Contract,
        status: DocumentStatus::Signed,
    };
    let result = given.when(DealCommand::RecordDocument(contract));
    assert!(matches!(
        accepted(&result).effects.as_slice(),
        [Effect::Assign {
            assignee: Assignee::Role(Role::HeadOfSales),
            ..
        }]
    ));
}

#[test]
fn it_should_fire_a_date_automation_once_after_the_date() {
    let given = small().with_field("deadline", json!("2026-11-20"));
    let wake = next_wakeup(&given.process, &given.state()).unwrap();
    assert_eq!(wake.date_naive().to_string(), "2026-11-21");
    let result = given.when(DealCommand::Tick);
    let decision = accepted(&result);
    assert!(decision
        .events
        .iter()
        .any(|e| matches!(e, DealEvent::AutomationFired { .. })));
    let mut later = given;
    later.events.extend(decision.events.clone());
    later.now += Duration::days(3);
    assert!(accepted(&later.when(DealCommand::Tick)).effects.is_empty());
}

#[test]
fn it_should_refuse_a_move_to_a_stage_that_does_not_exist() {
    let given = small();
    assert_eq!(
        given.when(DealCommand::MoveToStage { to: StageId(99) }),
        Err(Rejection::UnknownStage(StageId(99)))
    );
}

#[test]
fn it_should_refuse_mappings_that_name_unknown_or_repeated_stages() {
    let old = compile("small.yaml", SMALL);
    let new = compile("small.yaml", &SMALL.replace("version: 1", "version: 2"));
    let errors = plan_migration(
        &old,
        &new,
        &[("nowhere", "draft"), ("draft", "active"), ("draft", "done")],
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            MigrationError::UnknownOldStage("nowhere".into()),
            MigrationError::MappedTwice("draft".into())
        ]
    );
    let other = compile("b2b-sale.yaml", B2B_SALE);
    assert!(plan_migration(&old, &other, &[])
        .unwrap_err()
        .iter()
        .any(|e| matches!(e, MigrationError::DifferentProcess { .. })));
}

#[test]
fn it_should_simulate_nothing_without_histories() {
    let report = simulate(&compile("small.yaml", SMALL), &[]);
    assert_eq!(report.deals, 0);
    assert!(report.blocked.is_empty());
    assert!(report
        .funnel
        .iter()
        .all(|row| row.entered_before == 0 && row.conversion_after_permille == 0));
}

#[test]
fn it_should_print_diagnostics_like_a_compiler() {
    let diagnostics = validate_source(
        "b2b-sale.yaml",
        "process: x\nversion: 1\ntitle: { ru: a, en: b }\nstages: []\ntransitions: []\nstagez: 1\n",
    )
    .unwrap_err();
    let rendered = render_diagnostics(&diagnostics);
    assert!(has_errors(&diagnostics));
    assert!(rendered.contains("b2b-sale.yaml:6:1: error: unknown key `stagez` in the process definition; did you mean `stages`? [unknown_key]"), "{rendered}");
}
