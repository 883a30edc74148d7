//! Versions, migration between them, and what-if simulation of a draft.

mod support;

use chrono::Duration;
use serde_json::json;
use support::*;
use voronka_process::*;

/// `b2b-sale` version 2 with the stage `needs` renamed to `discovery`.
fn renamed_needs_stage() -> String {
    B2B_SALE
        .replace("version: 1", "version: 2")
        .replace("id: needs\n", "id: discovery\n")
        .replace("from: needs,", "from: discovery,")
        .replace(", needs]", ", discovery]")
        .replace("allowed_from: needs\n", "allowed_from: discovery\n")
        .replace("enter: needs }", "enter: discovery }")
        .replace("to: [needs]", "to: [discovery]")
}

fn history_of(given: &Scenario) -> DealHistory {
    DealHistory {
        deal: deal_id(),
        events: given
            .events
            .iter()
            .map(|e| given.process.encode_event(e))
            .collect(),
    }
}

#[test]
fn it_should_identify_a_version_by_name_number_and_content() {
    let first = compile("b2b-sale.yaml", B2B_SALE);
    let edited = compile("b2b-sale.yaml", &format!("{B2B_SALE}\n# a comment\n"));
    assert_eq!(first.identity.name, "b2b-sale");
    assert_eq!(first.identity.version, 1);
    assert_ne!(first.identity.hash, edited.identity.hash);
}

#[test]
fn it_should_refuse_a_migration_that_leaves_a_removed_stage_unmapped() {
    let old = compile("b2b-sale.yaml", B2B_SALE);
    let new = compile("b2b-sale.yaml", &renamed_needs_stage());
    let errors = plan_migration(&old, &new, &[]).unwrap_err();
    assert_eq!(errors, [MigrationError::Unmapped("needs".into())]);
    let errors = plan_migration(&old, &new, &[("needs", "discovry")]).unwrap_err();
    assert_eq!(errors, [MigrationError::UnknownNewStage("discovry".into())]);
}

#[test]
fn it_should_migrate_a_deal_along_the_stage_mapping_keeping_its_facts() {
    let given = Scenario::b2b().ready_for_proposal();
    let new = compile("b2b-sale.yaml", &renamed_needs_stage());
    let plan = plan_migration(&given.process, &new, &[("needs", "discovery")]).unwrap();
    let decision = migrate(&plan, &given.state(), given.now).unwrap();
    let mut state = given.state();
    for event in &decision.events {
        apply(&mut state, event);
    }
    let deal = state.deal.as_ref().unwrap();
    assert_eq!(deal.process, new.identity);
    assert_eq!(new.stage(deal.stage).name, "discovery");
    let industry = new.field_id("industry").unwrap();
    assert!(
        matches!(deal.field(industry), Some(FieldValue::Dictionary(v)) if new.value(*v).name == "it")
    );
    // The migrated deal is decided by the new version.
    let result = decide(
        &new,
        &state,
        &DealCommand::MoveToStage {
            to: new.stage_id("proposal").unwrap(),
        },
        &given.actor,
        given.now,
    );
    assert!(result.is_ok(), "{result:?}");
    // And the migration event survives the stored form.
    let stored = new.encode_event(&decision.events[0]);
    assert_eq!(new.decode_event(&stored).unwrap(), decision.events[0]);
}

#[test]
fn it_should_report_transitions_a_stricter_draft_would_have_blocked() {
    let recorded = Scenario::b2b().ready_for_proposal().in_stage("proposal");
    let history = history_of(&recorded);
    let stricter = B2B_SALE.replace(
        "      fields: [needs_summary, amount]",
        "      fields: [needs_summary, amount, expected_close_date]",
    );
    let draft = compile("draft.yaml", &stricter);
    let report = simulate(&draft, std::slice::from_ref(&history));
    assert_eq!(report.deals, 1);
    assert_eq!(report.blocked.len(), 1);
    let blocked = &report.blocked[0];
    assert_eq!(
        (blocked.from.as_str(), blocked.to.as_str()),
        ("needs", "proposal")
    );
    assert_eq!(
        blocked
            .unmet
            .iter()
            .map(|u| u.code.as_str())
            .collect::<Vec<_>>(),
        ["field_missing"]
    );
    let proposal = report
        .funnel
        .iter()
        .find(|row| row.stage == "proposal")
        .unwrap();
    assert_eq!((proposal.entered_before, proposal.entered_after), (1, 0));
    assert_eq!(
        (
            proposal.conversion_before_permille,
            proposal.conversion_after_permille
        ),
        (1000, 0)
    );

    let same = simulate(&compile("b2b-sale.yaml", B2B_SALE), &[history]);
    assert!(same.blocked.is_empty());
}

#[test]
fn it_should_report_deals_sitting_in_stages_the_draft_removes() {
    let recorded = Scenario::b2b()
        .ready_for_proposal()
        .in_stage("proposal")
        .with_field("loss_reason", json!("price"));
    let mut recorded = recorded;
    recorded.now = t0() + Duration::days(1);
    let history = history_of(&recorded);
    let without_proposal = B2B_SALE.replace(
        "needs, to: [proposal, qualifying]",
        "needs, to: [negotiation, qualifying]",
    );
    let without_proposal = without_proposal
        .replace("  - { from: proposal, to: [negotiation, needs] }\n", "")
        .replace("to: [contract, proposal]", "to: [contract, needs]");
    let start = without_proposal.find("  - id: proposal\n").unwrap();
    let end = without_proposal.find("  - id: negotiation\n").unwrap();
    let draft_source = format!("{}{}", &without_proposal[..start], &without_proposal[end..]);
    let draft = compile("draft.yaml", &draft_source);
    let report = simulate(&draft, &[history]);
    assert_eq!(report.in_removed_stages.len(), 1);
    assert_eq!(report.in_removed_stages[0].stage, "proposal");
    assert!(report.blocked[0].target_removed);
    assert!(report
        .funnel
        .iter()
        .any(|row| row.stage == "proposal" && !row.in_draft));
}
