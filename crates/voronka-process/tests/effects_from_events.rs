//! `effects_of`: the effects a recorded event calls for are the ones
//! `decide` returned when it decided that event, so the runner that carries
//! effects out from the log after a crash does exactly what the inline run
//! would have done.

mod support;

use chrono::Duration;
use support::*;
use voronka_core::Role;
use voronka_process::*;

/// Each event's effects, concatenated in order, are the decision's.
fn check(definition: &CompiledProcess, decision: &Decision) {
    let recomputed: Vec<Effect> = decision
        .events
        .iter()
        .flat_map(|event| effects_of(definition, event))
        .collect();
    assert_eq!(recomputed, decision.effects);
}

#[test]
fn it_should_recompute_the_task_of_a_lead_received() {
    let process = compile("lead-qualification.yaml", LEAD_QUALIFICATION);
    let decision = decide(
        &process,
        &DealState::not_started(),
        &DealCommand::Start { deal: deal_id() },
        &ActorContext::system("test"),
        t0(),
    )
    .unwrap();
    check(&process, &decision);
    let [DealEvent::Started { .. }] = decision.events.as_slice() else {
        panic!("one started event: {:?}", decision.events);
    };
    assert!(matches!(
        effects_of(&process, &decision.events[0]).as_slice(),
        [Effect::CreateTask { kind: ActivityKind::Call, due_at, .. }] if *due_at == t0() + Duration::minutes(15)
    ));
}

#[test]
fn it_should_recompute_the_escalation_of_a_breached_sla() {
    let given = Scenario::started("lead-qualification.yaml", LEAD_QUALIFICATION)
        .at(t0() + Duration::minutes(16));
    let decision = accepted(&given.when(DealCommand::Tick)).clone();
    check(&given.process, &decision);
    assert!(matches!(
        decision.effects.as_slice(),
        [Effect::Notify {
            recipient: Assignee::Role(Role::HeadOfSales),
            ..
        }]
    ));
    // A field set or a migration calls for nothing.
    let field_set = DealEvent::FieldSet {
        field: given.process.field_id("responsible").unwrap(),
        value: None,
        at: t0(),
    };
    assert!(effects_of(&given.process, &field_set).is_empty());
}

#[test]
fn it_should_recompute_stage_and_idle_automations_of_a_sale() {
    let given = Scenario::b2b().ready_for_proposal();
    let moved = accepted(&given.when_moving_to("proposal")).clone();
    check(&given.process, &moved);
    let idle = Scenario::b2b().at(t0() + Duration::days(8));
    let fired = accepted(&idle.when(DealCommand::Tick)).clone();
    check(&idle.process, &fired);
    assert!(fired
        .events
        .iter()
        .any(|e| matches!(e, DealEvent::AutomationFired { .. })));
    assert!(fired.effects.iter().any(|e| matches!(
        e,
        Effect::Notify {
            recipient: Assignee::ResponsibleHead,
            ..
        }
    )));
}
