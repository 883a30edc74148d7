//! Given/when/then helpers shared by the integration tests: a deal is built
//! from events (given), a command is decided (when), and the outcome is
//! checked (then).
#![allow(dead_code)]

use chrono::{Duration, TimeZone, Utc};
use voronka_core::{Role, Timestamp};
use voronka_process::*;

pub const B2B_SALE: &str = include_str!("../../../../process-definitions/b2b-sale.yaml");
pub const LEAD_QUALIFICATION: &str =
    include_str!("../../../../process-definitions/lead-qualification.yaml");
pub const SERVICE_TICKET: &str =
    include_str!("../../../../process-definitions/service-ticket.yaml");

pub fn compile(name: &str, source: &str) -> CompiledProcess {
    match validate_source(name, source) {
        Ok((process, _)) => process,
        Err(diagnostics) => panic!("{}", render_diagnostics(&diagnostics)),
    }
}

pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
}

pub fn deal_id() -> DealId {
    DealId::from_parts(1_700_000_000_000, [1; 10])
}

pub struct Scenario {
    pub process: CompiledProcess,
    pub events: Vec<DealEvent>,
    pub actor: ActorContext,
    pub now: Timestamp,
    next_id: u8,
}

impl Scenario {
    /// A deal just started on `source`'s process, decided by a manager.
    pub fn started(name: &str, source: &str) -> Self {
        let process = compile(name, source);
        let events = vec![DealEvent::Started {
            deal: deal_id(),
            process: process.identity.clone(),
            stage: process.initial_stage,
            at: t0(),
        }];
        Self {
            process,
            events,
            actor: ActorContext::user(
                UserId::from_parts(1, [2; 10]),
                [Role::Manager].into_iter().collect(),
            ),
            now: t0() + Duration::hours(1),
            next_id: 0,
        }
    }

    pub fn b2b() -> Self {
        Self::started("b2b-sale.yaml", B2B_SALE)
    }

    pub fn stage(&self, name: &str) -> StageId {
        self.process
            .stage_id(name)
            .unwrap_or_else(|| panic!("no stage {name}"))
    }

    pub fn state(&self) -> DealState {
        DealState::from_events(&self.events)
    }

    pub fn in_stage(mut self, name: &str) -> Self {
        let from = self.state().deal.unwrap().stage;
        let to = self.stage(name);
        self.events
            .push(DealEvent::StageChanged { from, to, at: t0() });
        self
    }

    pub fn with_field(mut self, name: &str, value: serde_json::Value) -> Self {
        let field = self
            .process
            .field_id(name)
            .unwrap_or_else(|| panic!("no field {name}"));
        let value = self.process.field_value_from_json(field, &value).unwrap();
        self.events.push(DealEvent::FieldSet {
            field,
            value: Some(value),
            at: t0(),
        });
        self
    }

    pub fn with_activity(
        mut self,
        kind: ActivityKind,
        status: ActivityStatus,
        outcome: Option<&str>,
        at: Timestamp,
    ) -> Self {
        let outcome = outcome.map(|name| {
            let dictionary = self.process.outcome_dictionary(kind).unwrap();
            self.process.value_id(dictionary, name).unwrap()
        });
        self.next_id += 1;
        let activity = ActivityFact {
            id: ActivityId::from_parts(2, [self.next_id; 10]),
            kind,
            status,
            outcome,
            at,
        };
        self.events
            .push(DealEvent::ActivityRecorded { activity, at });
        self
    }

    pub fn with_document(mut self, kind: DocumentKind, status: DocumentStatus) -> Self {
        self.next_id += 1;
        let document = DocumentFact {
            id: DocumentId::from_parts(3, [self.next_id; 10]),
            kind,
            status,
        };
        self.events
            .push(DealEvent::DocumentRecorded { document, at: t0() });
        self
    }

    pub fn acting_as(mut self, roles: &[Role]) -> Self {
        self.actor.roles = roles.iter().copied().collect();
        self
    }

    pub fn at(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    pub fn when(&self, command: DealCommand) -> Result<Decision, Rejection> {
        decide(
            &self.process,
            &self.state(),
            &command,
            &self.actor,
            self.now,
        )
    }

    pub fn when_moving_to(&self, stage: &str) -> Result<Decision, Rejection> {
        self.when(DealCommand::MoveToStage {
            to: self.stage(stage),
        })
    }

    /// Everything needed to enter `proposal`, already in place.
    pub fn ready_for_proposal(self) -> Self {
        let at = t0();
        self.with_field(
            "company",
            serde_json::json!("0190a0b0-0000-7000-8000-000000000001"),
        )
        .with_field(
            "contact",
            serde_json::json!("0190a0b0-0000-7000-8000-000000000002"),
        )
        .with_field(
            "responsible",
            serde_json::json!("0190a0b0-0000-7000-8000-000000000003"),
        )
        .with_field("industry", serde_json::json!("it"))
        .with_activity(
            ActivityKind::Call,
            ActivityStatus::Done,
            Some("reached"),
            at,
        )
        .with_field(
            "needs_summary",
            serde_json::json!("CRM for 40 sales people"),
        )
        .with_field(
            "amount",
            serde_json::json!({ "minor": 150_000_000, "currency": "RUB" }),
        )
        .with_activity(
            ActivityKind::Meeting,
            ActivityStatus::Done,
            Some("needs_identified"),
            at,
        )
        .in_stage("qualifying")
        .in_stage("needs")
    }
}

/// The machine codes of a rejection's unmet requirements, in order.
pub fn codes(result: &Result<Decision, Rejection>) -> Vec<&'static str> {
    match result {
        Err(rejection) => rejection.unmet().iter().map(|u| u.code.as_str()).collect(),
        Ok(_) => panic!("expected a rejection, got {result:?}"),
    }
}

pub fn accepted(result: &Result<Decision, Rejection>) -> &Decision {
    match result {
        Ok(decision) => decision,
        Err(rejection) => panic!("expected acceptance, got {rejection:?}"),
    }
}
