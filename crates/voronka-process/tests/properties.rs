//! Property tests. Random command sequences run against a small process, and
//! an independent checker written here from the process's rules (not from the
//! engine's code) says what each move or document creation should need:
//! - no accepted move ever enters a stage whose requirements were unmet;
//! - every rejection lists exactly the unmet requirements, in order.
//!
//! Plus: validation never panics on arbitrary or mutated input.

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::HashMap;
use voronka_core::{Money, Role};
use voronka_process::*;

const PROCESS: &str = r#"
process: prop
version: 1
title: { ru: Проверка, en: Property }
dictionaries:
  reason: [price, competitor, other]
  rival: [acme, globex]
  call_outcome: [reached, no_answer]
fields:
  reason: { type: dictionary, dictionary: reason, title: { ru: Причина, en: Reason } }
  rival: { type: dictionary, dictionary: rival, title: { ru: Конкурент, en: Rival } }
  budget: { type: money, title: { ru: Бюджет, en: Budget } }
  vip: { type: bool, title: { ru: VIP, en: VIP } }
activity_outcomes: { call: call_outcome }
stages:
  - { id: new, title: { ru: Н, en: N }, probability: 5 }
  - id: qualified
    title: { ru: К, en: Q }
    probability: 20
    requires:
      fields: [company]
      activities: [{ type: call, status: done, outcome: reached }]
  - id: proposal
    title: { ru: П, en: P }
    probability: 50
    requires:
      conditions: [{ field: budget, op: gt, value: 0 }]
      documents: [{ type: proposal, status: sent }]
      when:
        - if: { vip: true }
          requires: { roles: [head_of_sales] }
  - id: won
    title: { ru: В, en: W }
    probability: 100
    terminal: true
    requires:
      documents: [{ type: invoice, status: paid }]
  - id: lost
    title: { ru: Пр, en: L }
    probability: 0
    terminal: true
    requires:
      fields: [reason]
      when:
        - if: { reason: competitor }
          requires: { fields: [rival] }
transitions:
  - { from: new, to: [qualified, lost] }
  - { from: qualified, to: [proposal, new, lost] }
  - { from: proposal, to: [won, qualified, lost] }
permissions:
  - { from: proposal, to: won, roles: [head_of_sales] }
documents:
  invoice:
    allowed_from: proposal
    requires:
      documents: [{ type: proposal, status: sent }]
"#;

const STAGES: [&str; 5] = ["new", "qualified", "proposal", "won", "lost"];

/// The test's own picture of a deal, in plain data.
#[derive(Debug, Default, Clone)]
struct Model {
    stage: usize,
    company: bool,
    budget: Option<i64>,
    vip: Option<bool>,
    reason: Option<&'static str>,
    rival: bool,
    /// activity id -> (done, outcome)
    calls: HashMap<u8, (bool, Option<&'static str>)>,
    /// document id -> (kind, status)
    documents: HashMap<u8, (DocumentKind, DocumentStatus)>,
}

fn at_least(status: DocumentStatus, required: DocumentStatus) -> bool {
    use DocumentStatus::*;
    let rank = |s| match s {
        Draft => 0,
        Sent => 1,
        Accepted => 2,
        Signed => 3,
        Paid => 4,
        Cancelled => 100,
    };
    status != Cancelled && rank(status) >= rank(required)
}

impl Model {
    fn has_document(&self, kind: DocumentKind, status: DocumentStatus) -> bool {
        self.documents
            .values()
            .any(|(k, s)| *k == kind && at_least(*s, status))
    }

    /// (code, entry requirement index) of everything blocking a move.
    fn expected_for_move(&self, to: usize, head: bool) -> Vec<(&'static str, Option<u16>)> {
        let allowed: &[usize] = match self.stage {
            0 => &[1, 4],
            1 => &[2, 0, 4],
            2 => &[3, 1, 4],
            _ => &[],
        };
        let mut out = Vec::new();
        if !allowed.contains(&to) {
            out.push(("transition_not_allowed", None));
        } else if self.stage == 2 && to == 3 && !head {
            out.push(("role_required", None));
        }
        match to {
            1 => {
                if !self.company {
                    out.push(("field_missing", Some(0)));
                }
                if !self
                    .calls
                    .values()
                    .any(|(done, outcome)| *done && *outcome == Some("reached"))
                {
                    out.push(("activity_missing", Some(1)));
                }
            }
            2 => {
                match self.budget {
                    None => out.push(("field_missing", Some(0))),
                    Some(b) if b <= 0 => out.push(("comparison_failed", Some(0))),
                    Some(_) => {}
                }
                if !self.has_document(DocumentKind::Proposal, DocumentStatus::Sent) {
                    out.push(("document_missing", Some(1)));
                }
                if self.vip == Some(true) && !head {
                    out.push(("role_required", Some(2)));
                }
            }
            3 if !self.has_document(DocumentKind::Invoice, DocumentStatus::Paid) => {
                out.push(("document_missing", Some(0)));
            }
            4 => {
                if self.reason.is_none() {
                    out.push(("field_missing", Some(0)));
                }
                if self.reason == Some("competitor") && !self.rival {
                    out.push(("field_missing", Some(1)));
                }
            }
            _ => {}
        }
        out
    }

    fn expected_for_new_document(&self, kind: DocumentKind) -> Vec<(&'static str, Option<u16>)> {
        let mut out = Vec::new();
        if kind == DocumentKind::Invoice {
            if self.stage != 2 {
                out.push(("document_not_allowed_in_stage", None));
            }
            if !self.has_document(DocumentKind::Proposal, DocumentStatus::Sent) {
                out.push(("document_missing", Some(0)));
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
enum Step {
    Move(usize),
    Company(bool),
    Budget(Option<i64>),
    Vip(Option<bool>),
    Reason(Option<&'static str>),
    Rival(bool),
    Call {
        id: u8,
        done: bool,
        outcome: Option<&'static str>,
    },
    Document {
        id: u8,
        kind: DocumentKind,
        status: DocumentStatus,
    },
    Head(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..5usize).prop_map(Step::Move),
        1 => any::<bool>().prop_map(Step::Company),
        1 => prop::option::of(prop_oneof![Just(0i64), Just(-5), Just(10_000)]).prop_map(Step::Budget),
        1 => prop::option::of(any::<bool>()).prop_map(Step::Vip),
        1 => prop::option::of(prop::sample::select(vec!["price", "competitor", "other"])).prop_map(Step::Reason),
        1 => any::<bool>().prop_map(Step::Rival),
        2 => (0..3u8, any::<bool>(), prop::option::of(prop::sample::select(vec!["reached", "no_answer"])))
            .prop_map(|(id, done, outcome)| Step::Call { id, done, outcome }),
        2 => (
            0..4u8,
            prop::sample::select(vec![DocumentKind::Proposal, DocumentKind::Invoice]),
            prop::sample::select(DocumentStatus::ALL.to_vec()),
        )
            .prop_map(|(id, kind, status)| Step::Document { id, kind, status }),
        1 => any::<bool>().prop_map(Step::Head),
    ]
}

fn observed(rejection: &Rejection) -> Vec<(&'static str, Option<u16>)> {
    rejection
        .unmet()
        .iter()
        .map(|u| {
            let index = match u.requirement {
                RequirementRef::StageEntry { index }
                | RequirementRef::DocumentRequirement { index, .. } => Some(index),
                _ => None,
            };
            (u.code.as_str(), index)
        })
        .collect()
}

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let (process, _) = validate_source("prop.yaml", PROCESS)
        .map_err(|d| TestCaseError::fail(render_diagnostics(&d)))?;
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let field = |name: &str| process.field_id(name).unwrap();
    let dictionary_value = |dictionary: &str, value: &str| {
        FieldValue::Dictionary(
            process
                .value_id(process.dictionary_id(dictionary).unwrap(), value)
                .unwrap(),
        )
    };
    let outcomes = process.outcome_dictionary(ActivityKind::Call).unwrap();
    let manager: RoleSet = [Role::Manager].into_iter().collect();
    let head: RoleSet = [Role::HeadOfSales].into_iter().collect();

    let mut model = Model::default();
    let mut is_head = false;
    let actor = |is_head: bool| {
        ActorContext::user(
            UserId::from_parts(1, [1; 10]),
            if is_head { head } else { manager },
        )
    };
    let start = decide(
        &process,
        &DealState::default(),
        &DealCommand::Start {
            deal: DealId::from_parts(1, [0; 10]),
        },
        &actor(false),
        now,
    )
    .unwrap();
    let mut state = DealState::from_events(&start.events);

    for (i, step) in steps.iter().enumerate() {
        let now = now + Duration::minutes(i as i64);
        let command = match step {
            Step::Head(h) => {
                is_head = *h;
                continue;
            }
            Step::Move(to) => DealCommand::MoveToStage {
                to: process.stage_id(STAGES[*to]).unwrap(),
            },
            Step::Company(present) => DealCommand::SetField {
                field: field("company"),
                value: present.then_some(FieldValue::Reference(uuid::Uuid::nil())),
            },
            Step::Budget(b) => DealCommand::SetField {
                field: field("budget"),
                value: b.map(|m| FieldValue::Money(Money::rub(m))),
            },
            Step::Vip(v) => DealCommand::SetField {
                field: field("vip"),
                value: v.map(FieldValue::Bool),
            },
            Step::Reason(r) => DealCommand::SetField {
                field: field("reason"),
                value: r.map(|r| dictionary_value("reason", r)),
            },
            Step::Rival(present) => DealCommand::SetField {
                field: field("rival"),
                value: present.then(|| dictionary_value("rival", "acme")),
            },
            Step::Call { id, done, outcome } => DealCommand::RecordActivity(ActivityFact {
                id: ActivityId::from_parts(2, [*id; 10]),
                kind: ActivityKind::Call,
                status: if *done {
                    ActivityStatus::Done
                } else {
                    ActivityStatus::Planned
                },
                outcome: outcome.map(|o| process.value_id(outcomes, o).unwrap()),
                at: now,
            }),
            Step::Document { id, kind, status } => DealCommand::RecordDocument(DocumentFact {
                id: DocumentId::from_parts(3, [*id; 10]),
                kind: *kind,
                status: *status,
            }),
        };
        let expected = match step {
            Step::Move(to) => model.expected_for_move(*to, is_head),
            Step::Document { id, kind, .. } if !model.documents.contains_key(id) => {
                model.expected_for_new_document(*kind)
            }
            _ => Vec::new(),
        };
        let result = decide(&process, &state, &command, &actor(is_head), now);
        match &result {
            Ok(decision) => {
                prop_assert!(
                    expected.is_empty(),
                    "step {i} {step:?} accepted, but the checker expected {expected:?}"
                );
                for event in &decision.events {
                    apply(&mut state, event);
                }
                match step {
                    Step::Move(to) => model.stage = *to,
                    Step::Company(p) => model.company = *p,
                    Step::Budget(b) => model.budget = *b,
                    Step::Vip(v) => model.vip = *v,
                    Step::Reason(r) => model.reason = *r,
                    Step::Rival(p) => model.rival = *p,
                    Step::Call { id, done, outcome } => {
                        model.calls.insert(*id, (*done, *outcome));
                    }
                    Step::Document { id, kind, status } => {
                        // A document keeps its kind; the engine replaces the fact by id.
                        model.documents.insert(*id, (*kind, *status));
                    }
                    Step::Head(_) => {}
                }
            }
            Err(rejection) => {
                prop_assert_eq!(observed(rejection), expected, "step {} {:?}", i, step);
            }
        }
        let engine_stage = state.deal.as_ref().unwrap().stage;
        prop_assert_eq!(
            process.stage(engine_stage).name.as_str(),
            STAGES[model.stage]
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_match_the_independent_checker(steps in prop::collection::vec(step(), 1..60)) {
        run(&steps)?;
    }

    #[test]
    fn validation_never_panics_on_arbitrary_text(source in "\\PC{0,400}") {
        let _ = validate_source("random.yaml", &source);
    }

    #[test]
    fn validation_never_panics_on_mutated_definitions(
        cuts in prop::collection::vec((0..4000usize, 0..40usize, "[\\[\\]{}:,\\-&*!|> \n a-z0-9\"']{0,6}"), 1..6)
    ) {
        let mut source = PROCESS.to_string();
        for (at, len, insert) in cuts {
            let start = source.floor_char_boundary(at.min(source.len()));
            let end = source.floor_char_boundary((start + len).min(source.len()));
            source.replace_range(start..end, &insert);
        }
        if let Err(diagnostics) = validate_source("mutated.yaml", &source) {
            prop_assert!(has_errors(&diagnostics));
            prop_assert!(render_diagnostics(&diagnostics).starts_with("mutated.yaml:"));
        }
    }
}
