//! Targets from issue 3: `decide` on b2b-sale at >= 1,000,000 decisions/s on
//! one core, and validating + compiling a 200-stage definition in < 10 ms.
//! Run: `cargo bench -p voronka-process --bench decide -- --warm-up-time 1 --measurement-time 3`.

use chrono::{TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use voronka_core::{Money, Role};
use voronka_process::*;

#[path = "../tests/support/generated.rs"]
mod generated;
use generated::generated_definition;

const B2B_SALE: &str = include_str!("../../../process-definitions/b2b-sale.yaml");

/// A deal in `needs` with everything required to enter `proposal`.
fn deal_ready_for_proposal(process: &CompiledProcess) -> DealState {
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let field = |name: &str| process.field_id(name).unwrap();
    let outcome = |kind, name| process.value_id(process.outcome_dictionary(kind).unwrap(), name);
    let industry = process
        .value_id(process.dictionary_id("industry").unwrap(), "it")
        .unwrap();
    let stage = |name| process.stage_id(name).unwrap();
    let events = vec![
        DealEvent::Started {
            deal: DealId::from_parts(1, [1; 10]),
            process: process.identity.clone(),
            stage: stage("new"),
            at,
        },
        DealEvent::FieldSet {
            field: field("company"),
            value: Some(FieldValue::Reference(uuid::Uuid::nil())),
            at,
        },
        DealEvent::FieldSet {
            field: field("industry"),
            value: Some(FieldValue::Dictionary(industry)),
            at,
        },
        DealEvent::FieldSet {
            field: field("needs_summary"),
            value: Some(FieldValue::Text("CRM".into())),
            at,
        },
        DealEvent::FieldSet {
            field: field("amount"),
            value: Some(FieldValue::Money(Money::rub(1_000_000))),
            at,
        },
        DealEvent::ActivityRecorded {
            activity: ActivityFact {
                id: ActivityId::from_parts(2, [1; 10]),
                kind: ActivityKind::Call,
                status: ActivityStatus::Done,
                outcome: outcome(ActivityKind::Call, "reached"),
                at,
            },
            at,
        },
        DealEvent::ActivityRecorded {
            activity: ActivityFact {
                id: ActivityId::from_parts(2, [2; 10]),
                kind: ActivityKind::Meeting,
                status: ActivityStatus::Done,
                outcome: outcome(ActivityKind::Meeting, "needs_identified"),
                at,
            },
            at,
        },
        DealEvent::StageChanged {
            from: stage("new"),
            to: stage("needs"),
            at,
        },
    ];
    DealState::from_events(&events)
}

fn bench_decide(c: &mut Criterion) {
    let (process, _) = validate_source("b2b-sale.yaml", B2B_SALE).unwrap();
    let state = deal_ready_for_proposal(&process);
    let actor = ActorContext::user(
        UserId::from_parts(1, [3; 10]),
        [Role::Manager].into_iter().collect(),
    );
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let to_proposal = DealCommand::MoveToStage {
        to: process.stage_id("proposal").unwrap(),
    };
    let to_negotiation = DealCommand::MoveToStage {
        to: process.stage_id("negotiation").unwrap(),
    };
    let set_budget = DealCommand::SetField {
        field: process.field_id("budget").unwrap(),
        value: Some(FieldValue::Money(Money::rub(5_000_000))),
    };

    let mut group = c.benchmark_group("decide_b2b_sale");
    group.throughput(Throughput::Elements(1));
    group.bench_function("accepted_move_needs_to_proposal", |b| {
        b.iter(|| {
            decide(
                black_box(&process),
                black_box(&state),
                black_box(&to_proposal),
                &actor,
                now,
            )
        })
    });
    group.bench_function("set_field", |b| {
        b.iter(|| {
            decide(
                black_box(&process),
                black_box(&state),
                black_box(&set_budget),
                &actor,
                now,
            )
        })
    });
    group.bench_function("rejected_move_with_messages", |b| {
        b.iter(|| {
            decide(
                black_box(&process),
                black_box(&state),
                black_box(&to_negotiation),
                &actor,
                now,
            )
        })
    });
    group.bench_function("checklist", |b| {
        b.iter(|| checklist(black_box(&process), black_box(&state), &actor, now))
    });
    group.finish();
}

fn bench_validate(c: &mut Criterion) {
    let source = generated_definition(200);
    assert!(validate_source("generated.yaml", &source).is_ok());
    let mut group = c.benchmark_group("validate");
    group.bench_function("compile_200_stages", |b| {
        b.iter(|| validate_source("generated.yaml", black_box(&source)))
    });
    group.bench_function("compile_b2b_sale", |b| {
        b.iter(|| validate_source("b2b-sale.yaml", black_box(B2B_SALE)))
    });
    group.finish();
}

criterion_group!(benches, bench_decide, bench_validate);
criterion_main!(benches);
