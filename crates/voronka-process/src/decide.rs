//! The decision: `decide(definition, state, command, actor, now)` either
//! returns the events to append and the effects for the application layer to
//! run, or a rejection that names every unmet requirement.
//!
//! Pure and synchronous: time comes in as `now`, facts about activities and
//! documents are already in the state. Stage, field and value references are
//! compiled ids, so a decision compares integers, never names.

use crate::deal::*;
use crate::model::*;
use crate::version::ProcessIdentity;
use serde::Serialize;
use voronka_core::{Actor, Timestamp};

/// Who is asking, with the roles the application layer resolved for them.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorContext {
    pub actor: Actor,
    pub user: Option<UserId>,
    pub roles: RoleSet,
}

impl ActorContext {
    pub fn user(user: UserId, roles: RoleSet) -> Self {
        Self {
            actor: Actor::user(user.to_string()),
            user: Some(user),
            roles,
        }
    }

    /// Voronka itself (timers, automations, simulation): holds every role.
    pub fn system(name: &str) -> Self {
        Self {
            actor: Actor::system(name),
            user: None,
            roles: RoleSet::all(),
        }
    }
}

/// What someone asks to do with a deal.
#[derive(Debug, Clone, PartialEq)]
pub enum DealCommand {
    /// Opens the deal in the process's initial stage.
    Start {
        deal: DealId,
    },
    /// Opens the deal where it stood in another system, with its original
    /// dates (see [`DealImport`]); no transition rule applies to the past.
    Import(DealImport),
    MoveToStage {
        to: StageId,
    },
    /// Sets (or with `None` clears) a field.
    SetField {
        field: FieldId,
        value: Option<FieldValue>,
    },
    /// Mirrors an activity linked to the deal (new or changed).
    RecordActivity(ActivityFact),
    /// Creates a document or changes its status. Creation is checked against
    /// the document policy.
    RecordDocument(DocumentFact),
    /// Time passed: SLA breaches, idle and date automations. The application
    /// sends it at [`next_wakeup`].
    Tick,
}

/// Work for the application layer, returned by `decide` and never done here.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Effect {
    CreateTask {
        automation: AutomationId,
        kind: ActivityKind,
        title: Titles,
        due_at: Timestamp,
        assignee: Assignee,
    },
    Assign {
        automation: AutomationId,
        assignee: Assignee,
    },
    Notify {
        automation: AutomationId,
        recipient: Assignee,
        message: Titles,
    },
}

/// An accepted command: events to append, effects to run after the append.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub events: Vec<DealEvent>,
    pub effects: Vec<Effect>,
}

/// The stable machine code of an unmet requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmetCode {
    TransitionNotAllowed,
    RoleRequired,
    FieldMissing,
    FieldValueNotAllowed,
    ComparisonFailed,
    ActivityMissing,
    DocumentMissing,
    DocumentNotAllowedInStage,
}

impl UnmetCode {
    pub fn as_str(self) -> &'static str {
        match self {
            UnmetCode::TransitionNotAllowed => "transition_not_allowed",
            UnmetCode::RoleRequired => "role_required",
            UnmetCode::FieldMissing => "field_missing",
            UnmetCode::FieldValueNotAllowed => "field_value_not_allowed",
            UnmetCode::ComparisonFailed => "comparison_failed",
            UnmetCode::ActivityMissing => "activity_missing",
            UnmetCode::DocumentMissing => "document_missing",
            UnmetCode::DocumentNotAllowedInStage => "document_not_allowed_in_stage",
        }
    }
}

/// Which rule of the definition an unmet requirement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RequirementRef {
    /// The move is not a declared transition.
    Transition,
    /// The transition's role permission.
    TransitionRoles,
    /// The n-th entry requirement of the target stage.
    StageEntry { index: u16 },
    /// The document policy's `allowed_from` stage.
    DocumentStage { document: DocumentKind },
    /// The document policy's roles.
    DocumentRoles { document: DocumentKind },
    /// The n-th requirement of the document policy.
    DocumentRequirement { document: DocumentKind, index: u16 },
}

/// One thing standing between the deal and what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmetRequirement {
    pub code: UnmetCode,
    /// The stage the move targets (for documents: the deal's current stage).
    pub stage: StageId,
    pub requirement: RequirementRef,
    pub message: Titles,
}

/// The deal's version and the definition it was decided against.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionMismatch {
    pub deal: ProcessIdentity,
    pub definition: ProcessIdentity,
}

impl UnmetRequirement {
    /// The requirement as an API error body item, with the stage by name:
    /// `{"code", "stage", "requirement", "message": {"ru", "en"}}`.
    pub fn to_json(&self, definition: &CompiledProcess) -> serde_json::Value {
        serde_json::json!({
            "code": self.code.as_str(),
            "stage": definition.stages.get(self.stage.index()).map(|s| s.name.as_str()),
            "requirement": self.requirement,
            "message": self.message,
        })
    }
}

/// Why a command was refused. Every variant maps to HTTP 422 except
/// `WrongVersion` (409: reload and retry).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("the deal has not been started")]
    NotStarted,
    #[error("the deal has already been started")]
    AlreadyStarted,
    #[error("the deal runs on {}, not on {}", .0.deal, .0.definition)]
    WrongVersion(Box<VersionMismatch>),
    #[error("stage #{0:?} does not exist in this process version")]
    UnknownStage(StageId),
    #[error("field `{field}` takes a value of type {expected}")]
    InvalidFieldValue {
        field: String,
        expected: &'static str,
    },
    #[error("`{outcome}` is not an outcome of a {kind:?}")]
    InvalidOutcome { kind: ActivityKind, outcome: String },
    #[error("the imported history is impossible: {0}")]
    ImpossibleHistory(HistoryProblem),
    #[error("{} requirement(s) unmet", unmet.len())]
    Unmet { unmet: Vec<UnmetRequirement> },
}

impl Rejection {
    /// A stable machine code for the whole rejection.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotStarted => "deal_not_started",
            Rejection::AlreadyStarted => "deal_already_started",
            Rejection::WrongVersion(_) => "wrong_process_version",
            Rejection::UnknownStage(_) => "unknown_stage",
            Rejection::InvalidFieldValue { .. } => "invalid_field_value",
            Rejection::InvalidOutcome { .. } => "invalid_outcome",
            Rejection::ImpossibleHistory(problem) => problem.code(),
            Rejection::Unmet { .. } => "requirements_unmet",
        }
    }

    pub fn unmet(&self) -> &[UnmetRequirement] {
        match self {
            Rejection::Unmet { unmet } => unmet,
            _ => &[],
        }
    }
}

/// Why an imported deal's dates cannot be its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HistoryProblem {
    #[error("it entered its stage before it was created")]
    StageEnteredBeforeCreated,
    #[error("it was closed before it entered its stage")]
    ClosedBeforeStageEntered,
    #[error("a date is in the future")]
    InTheFuture,
    #[error("only a deal in a terminal stage has a closing date")]
    ClosedButOpenStage,
}

impl HistoryProblem {
    pub fn code(self) -> &'static str {
        match self {
            HistoryProblem::StageEnteredBeforeCreated => "stage_entered_before_created",
            HistoryProblem::ClosedBeforeStageEntered => "closed_before_stage_entered",
            HistoryProblem::InTheFuture => "date_in_future",
            HistoryProblem::ClosedButOpenStage => "closed_at_on_open_stage",
        }
    }
}

/// Decides a command. See the module doc.
pub fn decide(
    definition: &CompiledProcess,
    state: &DealState,
    command: &DealCommand,
    actor: &ActorContext,
    now: Timestamp,
) -> Result<Decision, Rejection> {
    let deal = match (&state.deal, command) {
        (None, DealCommand::Start { deal }) => {
            let mut decision = start(definition, *deal, now);
            decision.effects = decision
                .events
                .iter()
                .flat_map(|event| effects_of(definition, event))
                .collect();
            return Ok(decision);
        }
        (None, DealCommand::Import(import)) => return import_deal(definition, import, now),
        (Some(_), DealCommand::Start { .. } | DealCommand::Import(_)) => {
            return Err(Rejection::AlreadyStarted)
        }
        (None, _) => return Err(Rejection::NotStarted),
        (Some(deal), _) => deal,
    };
    if deal.process.hash != definition.identity.hash
        || deal.stage.index() >= definition.stages.len()
    {
        return Err(Rejection::WrongVersion(Box::new(VersionMismatch {
            deal: deal.process.clone(),
            definition: definition.identity.clone(),
        })));
    }
    let mut decision = decide_events(definition, deal, command, actor, now)?;
    decision.effects = decision
        .events
        .iter()
        .flat_map(|event| effects_of(definition, event))
        .collect();
    Ok(decision)
}

fn decide_events(
    definition: &CompiledProcess,
    deal: &StartedDeal,
    command: &DealCommand,
    actor: &ActorContext,
    now: Timestamp,
) -> Result<Decision, Rejection> {
    match command {
        DealCommand::Start { .. } | DealCommand::Import(_) => Err(Rejection::AlreadyStarted),
        DealCommand::MoveToStage { to } => move_to_stage(definition, deal, *to, actor, now),
        DealCommand::SetField { field, value } => set_field(definition, *field, value, now),
        DealCommand::RecordActivity(activity) => record_activity(definition, activity, now),
        DealCommand::RecordDocument(document) => {
            record_document(definition, deal, *document, actor, now)
        }
        DealCommand::Tick => Ok(tick(definition, deal, now)),
    }
}

fn start(definition: &CompiledProcess, deal: DealId, now: Timestamp) -> Decision {
    let mut decision = Decision {
        events: vec![DealEvent::Started {
            deal,
            process: definition.identity.clone(),
            stage: definition.initial_stage,
            at: now,
        }],
        effects: Vec::new(),
    };
    for automation in &definition.automations {
        if automation.trigger == Trigger::EnterStage(definition.initial_stage) {
            run_actions(automation, now, &mut decision);
        }
    }
    decision
}

/// An imported deal: its dates must be a possible past; its stage is taken
/// as it is (no transition or entry requirement, no automation fires: they
/// were the other system's business).
fn import_deal(
    definition: &CompiledProcess,
    import: &DealImport,
    now: Timestamp,
) -> Result<Decision, Rejection> {
    if import.stage.index() >= definition.stages.len() {
        return Err(Rejection::UnknownStage(import.stage));
    }
    let problem = if import.stage_entered_at < import.created_at {
        Some(HistoryProblem::StageEnteredBeforeCreated)
    } else if import.closed_at.is_some() && !definition.stage(import.stage).terminal {
        Some(HistoryProblem::ClosedButOpenStage)
    } else if import
        .closed_at
        .is_some_and(|closed| closed < import.stage_entered_at)
    {
        Some(HistoryProblem::ClosedBeforeStageEntered)
    } else if import.stage_entered_at > now || import.closed_at.is_some_and(|c| c > now) {
        Some(HistoryProblem::InTheFuture)
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(Rejection::ImpossibleHistory(problem));
    }
    Ok(Decision {
        events: vec![DealEvent::Imported {
            import: import.clone(),
            process: definition.identity.clone(),
            at: now,
        }],
        effects: Vec::new(),
    })
}

fn move_to_stage(
    definition: &CompiledProcess,
    deal: &StartedDeal,
    to: StageId,
    actor: &ActorContext,
    now: Timestamp,
) -> Result<Decision, Rejection> {
    if to.index() >= definition.stages.len() {
        return Err(Rejection::UnknownStage(to));
    }
    let mut unmet = Vec::new();
    collect_unmet_for_move(definition, deal, to, actor, now, &mut unmet);
    if !unmet.is_empty() {
        return Err(Rejection::Unmet { unmet });
    }
    let from = deal.stage;
    let mut decision = Decision {
        events: Vec::with_capacity(1),
        effects: Vec::new(),
    };
    decision
        .events
        .push(DealEvent::StageChanged { from, to, at: now });
    for automation in &definition.automations {
        let fires = match automation.trigger {
            Trigger::LeaveStage(stage) => stage == from,
            Trigger::EnterStage(stage) => stage == to,
            _ => false,
        };
        if fires {
            run_actions(automation, now, &mut decision);
        }
    }
    Ok(decision)
}

/// Everything that blocks a move to `to`, in a fixed order: the transition,
/// its roles, then each entry requirement of `to` in declaration order.
fn collect_unmet_for_move(
    definition: &CompiledProcess,
    deal: &StartedDeal,
    to: StageId,
    actor: &ActorContext,
    now: Timestamp,
    unmet: &mut Vec<UnmetRequirement>,
) {
    let from_stage = definition.stage(deal.stage);
    match from_stage.exits.iter().find(|e| e.to == to) {
        None => unmet.push(UnmetRequirement {
            code: UnmetCode::TransitionNotAllowed,
            stage: to,
            requirement: RequirementRef::Transition,
            message: crate::messages::transition_not_allowed(definition, deal.stage, to),
        }),
        Some(Exit {
            roles: Some(roles), ..
        }) if !roles.intersects(actor.roles) => unmet.push(UnmetRequirement {
            code: UnmetCode::RoleRequired,
            stage: to,
            requirement: RequirementRef::TransitionRoles,
            message: crate::messages::role_required(*roles),
        }),
        Some(_) => {}
    }
    for requirement in &definition.stage(to).entry {
        if let Some(code) = unmet_code(deal, requirement, actor, now) {
            unmet.push(UnmetRequirement {
                code,
                stage: to,
                requirement: RequirementRef::StageEntry {
                    index: requirement.index,
                },
                message: crate::messages::requirement(definition, requirement, code),
            });
        }
    }
}

/// `None` when the requirement holds (or does not apply), else why not.
pub(crate) fn unmet_code(
    deal: &StartedDeal,
    requirement: &Requirement,
    actor: &ActorContext,
    now: Timestamp,
) -> Option<UnmetCode> {
    if !requirement.when.iter().all(|c| condition_holds(deal, c)) {
        return None;
    }
    match &requirement.check {
        Check::FieldPresent(field) => deal
            .field(*field)
            .is_none()
            .then_some(UnmetCode::FieldMissing),
        Check::FieldIn { field, values } => match deal.field(*field) {
            None => Some(UnmetCode::FieldMissing),
            Some(FieldValue::Dictionary(v)) if values.contains(v) => None,
            Some(_) => Some(UnmetCode::FieldValueNotAllowed),
        },
        Check::Compare { field, op, operand } => match deal.field(*field) {
            None => Some(UnmetCode::FieldMissing),
            Some(value) => {
                (!compare(value, *op, *operand, now)).then_some(UnmetCode::ComparisonFailed)
            }
        },
        Check::Activity(rule) => {
            let since = rule.within.map(|w| now - w);
            let count = deal
                .activities
                .iter()
                .filter(|a| {
                    a.kind == rule.kind
                        && match rule.status {
                            Some(status) => a.status == status,
                            None => a.status != ActivityStatus::Cancelled,
                        }
                        && (rule.outcome.is_none() || a.outcome == rule.outcome)
                        && since.is_none_or(|since| a.at >= since && a.at <= now)
                })
                .count();
            (count < usize::from(rule.min_count)).then_some(UnmetCode::ActivityMissing)
        }
        Check::Document(rule) => {
            let found = deal.documents.iter().any(|d| {
                d.kind == rule.kind
                    && match rule.status {
                        Some(status) => d.status.satisfies(status),
                        None => d.status != DocumentStatus::Cancelled,
                    }
            });
            (!found).then_some(UnmetCode::DocumentMissing)
        }
        Check::Role(roles) => (!roles.intersects(actor.roles)).then_some(UnmetCode::RoleRequired),
    }
}

fn condition_holds(deal: &StartedDeal, condition: &Condition) -> bool {
    match condition {
        Condition::ValueIn { field, values } => {
            matches!(deal.field(*field), Some(FieldValue::Dictionary(v)) if values.contains(v))
        }
        Condition::BoolIs { field, value } => {
            matches!(deal.field(*field), Some(FieldValue::Bool(b)) if b == value)
        }
    }
}

fn compare(value: &FieldValue, op: CompareOp, operand: Operand, now: Timestamp) -> bool {
    match (value, operand) {
        (FieldValue::Number(n), Operand::Integer(right)) => op.holds(*n, right),
        (FieldValue::Money(m), Operand::Integer(right)) => op.holds(m.minor, right),
        (FieldValue::Date(d), Operand::Date(right)) => op.holds(*d, right),
        (FieldValue::Bool(b), Operand::Bool(right)) => op.holds(*b, right),
        (FieldValue::Date(d), Operand::Today) => op.holds(*d, now.date_naive()),
        _ => false,
    }
}

fn set_field(
    definition: &CompiledProcess,
    field: FieldId,
    value: &Option<FieldValue>,
    now: Timestamp,
) -> Result<Decision, Rejection> {
    let Some(definition_field) = definition.fields.get(field.index()) else {
        return Err(Rejection::InvalidFieldValue {
            field: format!("#{}", field.0),
            expected: "a declared field",
        });
    };
    if let Some(value) = value {
        if !value.fits(definition_field.field_type, definition) {
            return Err(Rejection::InvalidFieldValue {
                field: definition_field.name.clone(),
                expected: definition_field.field_type.name(),
            });
        }
    }
    Ok(Decision {
        events: vec![DealEvent::FieldSet {
            field,
            value: value.clone(),
            at: now,
        }],
        effects: Vec::new(),
    })
}

fn record_activity(
    definition: &CompiledProcess,
    activity: &ActivityFact,
    now: Timestamp,
) -> Result<Decision, Rejection> {
    if let Some(outcome) = activity.outcome {
        let fits = definition
            .outcome_dictionary(activity.kind)
            .is_some_and(|d| {
                definition
                    .values
                    .get(outcome.index())
                    .is_some_and(|v| v.dictionary == d)
            });
        if !fits {
            return Err(Rejection::InvalidOutcome {
                kind: activity.kind,
                outcome: definition
                    .values
                    .get(outcome.index())
                    .map(|v| v.name.clone())
                    .unwrap_or_else(|| format!("#{}", outcome.0)),
            });
        }
    }
    let mut decision = Decision {
        events: vec![DealEvent::ActivityRecorded {
            activity: activity.clone(),
            at: now,
        }],
        effects: Vec::new(),
    };
    for automation in &definition.automations {
        if let Trigger::Activity {
            kind,
            status,
            outcome,
        } = automation.trigger
        {
            if kind == activity.kind
                && status.is_none_or(|s| s == activity.status)
                && (outcome.is_none() || outcome == activity.outcome)
            {
                run_actions(automation, now, &mut decision);
            }
        }
    }
    Ok(decision)
}

fn record_document(
    definition: &CompiledProcess,
    deal: &StartedDeal,
    document: DocumentFact,
    actor: &ActorContext,
    now: Timestamp,
) -> Result<Decision, Rejection> {
    let is_new = !deal.documents.iter().any(|d| d.id == document.id);
    if is_new {
        let mut unmet = Vec::new();
        collect_unmet_for_document(definition, deal, document.kind, actor, now, &mut unmet);
        if !unmet.is_empty() {
            return Err(Rejection::Unmet { unmet });
        }
    }
    let mut decision = Decision {
        events: vec![DealEvent::DocumentRecorded { document, at: now }],
        effects: Vec::new(),
    };
    for automation in &definition.automations {
        if let Trigger::Document { kind, status } = automation.trigger {
            if kind == document.kind && status.is_none_or(|s| s == document.status) {
                run_actions(automation, now, &mut decision);
            }
        }
    }
    Ok(decision)
}

/// What blocks creating a document of `kind` now: the stage rule, the roles,
/// then each requirement of the document policy.
pub fn document_checklist(
    definition: &CompiledProcess,
    state: &DealState,
    kind: DocumentKind,
    actor: &ActorContext,
    now: Timestamp,
) -> Vec<UnmetRequirement> {
    let mut unmet = Vec::new();
    if let Some(deal) = &state.deal {
        if deal.process.hash == definition.identity.hash {
            collect_unmet_for_document(definition, deal, kind, actor, now, &mut unmet);
        }
    }
    unmet
}

fn collect_unmet_for_document(
    definition: &CompiledProcess,
    deal: &StartedDeal,
    kind: DocumentKind,
    actor: &ActorContext,
    now: Timestamp,
    unmet: &mut Vec<UnmetRequirement>,
) {
    let policy = definition.document_policy(kind);
    let stage = deal.stage;
    if let Some(from) = policy.allowed_from {
        if stage < from || definition.stage(stage).terminal {
            unmet.push(UnmetRequirement {
                code: UnmetCode::DocumentNotAllowedInStage,
                stage,
                requirement: RequirementRef::DocumentStage { document: kind },
                message: crate::messages::document_not_allowed(definition, kind, from),
            });
        }
    }
    if let Some(roles) = policy.roles {
        if !roles.intersects(actor.roles) {
            unmet.push(UnmetRequirement {
                code: UnmetCode::RoleRequired,
                stage,
                requirement: RequirementRef::DocumentRoles { document: kind },
                message: crate::messages::role_required(roles),
            });
        }
    }
    for requirement in &policy.requires {
        if let Some(code) = unmet_code(deal, requirement, actor, now) {
            unmet.push(UnmetRequirement {
                code,
                stage,
                requirement: RequirementRef::DocumentRequirement {
                    document: kind,
                    index: requirement.index,
                },
                message: crate::messages::requirement(definition, requirement, code),
            });
        }
    }
}

/// For every stage the deal may move to next, what is still missing (an
/// empty list means the move would be accepted). For a UI checklist.
pub fn checklist(
    definition: &CompiledProcess,
    state: &DealState,
    actor: &ActorContext,
    now: Timestamp,
) -> Vec<(StageId, Vec<UnmetRequirement>)> {
    let Some(deal) = &state.deal else {
        return Vec::new();
    };
    if deal.process.hash != definition.identity.hash
        || deal.stage.index() >= definition.stages.len()
    {
        return Vec::new();
    }
    definition
        .exits(deal.stage)
        .iter()
        .map(|exit| {
            let mut unmet = Vec::new();
            collect_unmet_for_move(definition, deal, exit.to, actor, now, &mut unmet);
            (exit.to, unmet)
        })
        .collect()
}

/// The events an automation's actions add to the decision itself (field
/// values); its effects are derived from the events by [`effects_of`].
fn run_actions(automation: &Automation, now: Timestamp, decision: &mut Decision) {
    for action in &automation.actions {
        if let Action::SetField { field, value } = action {
            decision.events.push(DealEvent::FieldSet {
                field: *field,
                value: Some(value.clone()),
                at: now,
            });
        }
    }
}

/// The automations a recorded deal event triggers, in declaration order.
fn triggered_by<'a>(
    definition: &'a CompiledProcess,
    event: &'a DealEvent,
) -> impl Iterator<Item = &'a Automation> + 'a {
    definition
        .automations
        .iter()
        .filter(move |automation| match (event, &automation.trigger) {
            (DealEvent::Started { stage, .. }, Trigger::EnterStage(entered)) => entered == stage,
            (DealEvent::StageChanged { from, .. }, Trigger::LeaveStage(left)) => left == from,
            (DealEvent::StageChanged { to, .. }, Trigger::EnterStage(entered)) => entered == to,
            (
                DealEvent::ActivityRecorded { activity, .. },
                Trigger::Activity {
                    kind,
                    status,
                    outcome,
                },
            ) => {
                *kind == activity.kind
                    && status.is_none_or(|s| s == activity.status)
                    && (outcome.is_none() || *outcome == activity.outcome)
            }
            (DealEvent::DocumentRecorded { document, .. }, Trigger::Document { kind, status }) => {
                *kind == document.kind && status.is_none_or(|s| s == document.status)
            }
            (DealEvent::SlaBreached { stage, .. }, Trigger::SlaBreached(of)) => {
                of.is_none_or(|s| s == *stage)
            }
            (DealEvent::AutomationFired { automation: id, .. }, _) => *id == automation.id,
            _ => false,
        })
}

/// The effects a recorded deal event calls for: the one place that says
/// which automation an event triggers, used by `decide` and by the runner
/// that carries effects out from the log (so a crash between the append and
/// the effects loses nothing: they are recomputed from the event).
pub fn effects_of(definition: &CompiledProcess, event: &DealEvent) -> Vec<Effect> {
    let at = match event {
        DealEvent::Started { at, .. }
        | DealEvent::StageChanged { at, .. }
        | DealEvent::ActivityRecorded { at, .. }
        | DealEvent::DocumentRecorded { at, .. }
        | DealEvent::SlaBreached { at, .. }
        | DealEvent::AutomationFired { at, .. } => *at,
        // An imported deal's past fires no automations: its tasks and
        // notifications were due then, not now.
        DealEvent::FieldSet { .. } | DealEvent::Migrated { .. } | DealEvent::Imported { .. } => {
            return Vec::new()
        }
    };
    let mut effects = Vec::new();
    for automation in triggered_by(definition, event) {
        for action in &automation.actions {
            match action {
                Action::CreateTask {
                    kind,
                    title,
                    due_in,
                    assignee,
                } => effects.push(Effect::CreateTask {
                    automation: automation.id,
                    kind: *kind,
                    title: title.clone(),
                    due_at: at + *due_in,
                    assignee: *assignee,
                }),
                Action::Assign(assignee) => effects.push(Effect::Assign {
                    automation: automation.id,
                    assignee: *assignee,
                }),
                Action::Notify { recipient, message } => effects.push(Effect::Notify {
                    automation: automation.id,
                    recipient: *recipient,
                    message: message.clone(),
                }),
                Action::SetField { .. } => {}
            }
        }
    }
    effects
}

/// The moment a timed automation of `automation` falls due for this deal,
/// and the anchor it is recorded under; `None` if it cannot fire.
fn timed_due(
    definition: &CompiledProcess,
    deal: &StartedDeal,
    trigger: &Trigger,
) -> Option<(Timestamp, Timestamp)> {
    if definition.stage(deal.stage).terminal {
        return None;
    }
    match trigger {
        Trigger::Idle(idle) => Some((deal.last_touched_at + *idle, deal.last_touched_at)),
        Trigger::BeforeDate { field, offset } | Trigger::AfterDate { field, offset } => {
            let Some(FieldValue::Date(date)) = deal.field(*field) else {
                return None;
            };
            let anchor = date.and_hms_opt(0, 0, 0)?.and_utc();
            let due = if matches!(trigger, Trigger::BeforeDate { .. }) {
                anchor - *offset
            } else {
                anchor + *offset
            };
            Some((due, anchor))
        }
        _ => None,
    }
}

fn sla_due(definition: &CompiledProcess, deal: &StartedDeal) -> Option<Timestamp> {
    if deal.sla_breached {
        return None;
    }
    let stage = definition.stage(deal.stage);
    if stage.terminal {
        return None;
    }
    stage.sla.map(|sla| deal.stage_entered_at + sla)
}

fn tick(definition: &CompiledProcess, deal: &StartedDeal, now: Timestamp) -> Decision {
    let mut decision = Decision::default();
    if sla_due(definition, deal).is_some_and(|due| due <= now) {
        decision.events.push(DealEvent::SlaBreached {
            stage: deal.stage,
            at: now,
        });
        for automation in &definition.automations {
            if let Trigger::SlaBreached(stage) = automation.trigger {
                if stage.is_none_or(|s| s == deal.stage) {
                    run_actions(automation, now, &mut decision);
                }
            }
        }
    }
    for automation in &definition.automations {
        let Some((due, anchor)) = timed_due(definition, deal, &automation.trigger) else {
            continue;
        };
        let fired = deal
            .fired
            .iter()
            .any(|(a, at)| *a == automation.id && *at == anchor);
        if due <= now && !fired {
            decision.events.push(DealEvent::AutomationFired {
                automation: automation.id,
                anchor,
                at: now,
            });
            run_actions(automation, now, &mut decision);
        }
    }
    decision
}

/// When the application should next send [`DealCommand::Tick`] for this deal
/// (the earliest SLA breach or timed automation still to come), if ever.
pub fn next_wakeup(definition: &CompiledProcess, state: &DealState) -> Option<Timestamp> {
    let deal = state.deal.as_ref()?;
    if deal.process.hash != definition.identity.hash
        || deal.stage.index() >= definition.stages.len()
    {
        return None;
    }
    let timed = definition.automations.iter().filter_map(|automation| {
        let (due, anchor) = timed_due(definition, deal, &automation.trigger)?;
        let fired = deal
            .fired
            .iter()
            .any(|(a, at)| *a == automation.id && *at == anchor);
        (!fired).then_some(due)
    });
    timed.chain(sla_due(definition, deal)).min()
}
