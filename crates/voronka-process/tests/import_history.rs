//! Given/when/then tests of `DealCommand::Import`: a deal brought in with its
//! past stands where it stood, with its original dates, without the
//! transition rules; impossible pasts are refused; every later move is
//! decided by the process as usual.

mod support;

use chrono::Duration;
use support::*;
use voronka_core::Role;
use voronka_process::*;

fn import_at(process: &CompiledProcess, stage: &str) -> DealImport {
    DealImport {
        deal: deal_id(),
        stage: process.stage_id(stage).unwrap(),
        created_at: t0() - Duration::days(60),
        stage_entered_at: t0() - Duration::days(30),
        closed_at: None,
        responsible: Some(UserId::from_parts(1, [3; 10])),
        imported_by: UserId::from_parts(1, [2; 10]),
        source: ImportSource {
            file: "deals-2025.csv".into(),
            sha256: "ab".repeat(32),
        },
    }
}

fn manager() -> ActorContext {
    ActorContext::user(
        UserId::from_parts(1, [2; 10]),
        [Role::Manager].into_iter().collect(),
    )
}

fn when_importing(process: &CompiledProcess, import: DealImport) -> Result<Decision, Rejection> {
    decide(
        process,
        &DealState::not_started(),
        &DealCommand::Import(import),
        &manager(),
        t0(),
    )
}

#[test]
fn it_should_import_a_deal_at_proposal_with_its_original_dates_and_no_rules() {
    let process = compile("b2b-sale.yaml", B2B_SALE);
    let import = import_at(&process, "proposal");
    let decision = when_importing(&process, import.clone()).unwrap();
    assert_eq!(
        decision.events,
        vec![DealEvent::Imported {
            import: import.clone(),
            process: process.identity.clone(),
            at: t0(),
        }]
    );
    // No automation fires for the past.
    assert!(decision.effects.is_empty());
    assert_eq!(
        decision.events[0].occurred_at(),
        Some(import.stage_entered_at)
    );
    let deal = DealState::from_events(&decision.events).deal.unwrap();
    assert_eq!(deal.stage, process.stage_id("proposal").unwrap());
    assert_eq!(deal.stage_entered_at, t0() - Duration::days(30));
}

#[test]
fn it_should_check_every_move_after_the_import() {
    let process = compile("b2b-sale.yaml", B2B_SALE);
    let decision = when_importing(&process, import_at(&process, "proposal")).unwrap();
    let state = DealState::from_events(&decision.events);
    let skipping = decide(
        &process,
        &state,
        &DealCommand::MoveToStage {
            to: process.stage_id("contract").unwrap(),
        },
        &manager(),
        t0(),
    );
    assert_eq!(
        skipping.unwrap_err().unmet()[0].code,
        UnmetCode::TransitionNotAllowed
    );
    let back = decide(
        &process,
        &state,
        &DealCommand::MoveToStage {
            to: process.stage_id("needs").unwrap(),
        },
        &manager(),
        t0(),
    );
    // A declared transition, but the stage's entry requirements apply too.
    let codes: Vec<UnmetCode> = back.unwrap_err().unmet().iter().map(|u| u.code).collect();
    assert_eq!(codes, [UnmetCode::FieldMissing, UnmetCode::ActivityMissing]);
}

#[test]
fn it_should_not_import_a_deal_twice_nor_over_a_started_one() {
    let given = Scenario::b2b();
    let import = import_at(&given.process, "proposal");
    assert_eq!(
        given.when(DealCommand::Import(import)),
        Err(Rejection::AlreadyStarted)
    );
}

#[test]
fn it_should_refuse_impossible_pasts() {
    let process = compile("b2b-sale.yaml", B2B_SALE);
    let check = |change: &dyn Fn(&mut DealImport), stage: &str, expected: HistoryProblem| {
        let mut import = import_at(&process, stage);
        change(&mut import);
        assert_eq!(
            when_importing(&process, import),
            Err(Rejection::ImpossibleHistory(expected)),
            "{expected:?}"
        );
    };
    check(
        &|i| i.stage_entered_at = i.created_at - Duration::days(1),
        "proposal",
        HistoryProblem::StageEnteredBeforeCreated,
    );
    check(
        &|i| i.closed_at = Some(i.stage_entered_at),
        "proposal",
        HistoryProblem::ClosedButOpenStage,
    );
    check(
        &|i| i.closed_at = Some(i.stage_entered_at - Duration::days(1)),
        "won",
        HistoryProblem::ClosedBeforeStageEntered,
    );
    check(
        &|i| i.stage_entered_at = t0() + Duration::days(1),
        "proposal",
        HistoryProblem::InTheFuture,
    );
    let mut won = import_at(&process, "won");
    won.closed_at = Some(won.stage_entered_at);
    assert!(when_importing(&process, won).is_ok());
}

#[test]
fn it_should_store_and_read_back_an_imported_deal_by_names() {
    let process = compile("b2b-sale.yaml", B2B_SALE);
    let decision = when_importing(&process, import_at(&process, "proposal")).unwrap();
    let stored = process.encode_event(&decision.events[0]);
    assert_eq!(stored.event_type(), "deal_imported");
    let json = serde_json::to_value(&stored).unwrap();
    assert_eq!(json["stage"], "proposal");
    assert_eq!(json["source"]["file"], "deals-2025.csv");
    let read: StoredDealEvent = serde_json::from_value(json).unwrap();
    assert_eq!(process.decode_event(&read).unwrap(), decision.events[0]);
}
