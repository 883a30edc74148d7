//! What-if: replay recorded deal histories under a draft definition before it
//! is published, and report which recorded moves the draft would have
//! refused, which deals sit in stages the draft removes, and how the funnel
//! would have looked.
//!
//! The replay applies every recorded fact (fields, activities, documents) and
//! checks every recorded stage change with `decide` under the draft, as a
//! system actor holding every role (who held which role back then is not in
//! the deal's history, so role rules are not simulated). Once a move is
//! refused the deal stays where it was for the rest of the replay.

use crate::deal::*;
use crate::decide::{decide, ActorContext, DealCommand, Rejection, UnmetRequirement};
use crate::model::*;
use crate::stored::StoredDealEvent;
use serde::Serialize;
use std::collections::HashMap;
use voronka_core::Timestamp;

/// One deal's recorded events, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct DealHistory {
    pub deal: DealId,
    pub events: Vec<StoredDealEvent>,
}

/// A recorded move the draft would have refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockedTransition {
    pub deal: DealId,
    pub from: String,
    pub to: String,
    pub at: Timestamp,
    /// The draft has no stage named `to`.
    pub target_removed: bool,
    /// What the draft would have required (empty when `target_removed`).
    pub unmet: Vec<UnmetRequirement>,
}

/// A deal whose current stage the draft no longer has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DealInRemovedStage {
    pub deal: DealId,
    pub stage: String,
}

/// How many deals entered a stage, as recorded and as under the draft;
/// conversions are per mille of all simulated deals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunnelRow {
    pub stage: String,
    pub in_draft: bool,
    pub entered_before: u32,
    pub entered_after: u32,
    pub conversion_before_permille: u32,
    pub conversion_after_permille: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SimulationReport {
    pub deals: u32,
    pub blocked: Vec<BlockedTransition>,
    pub in_removed_stages: Vec<DealInRemovedStage>,
    pub funnel: Vec<FunnelRow>,
    /// Recorded facts the draft cannot read (a removed field, an unknown
    /// outcome), skipped during the replay: (deal, problem).
    pub skipped_facts: Vec<(DealId, String)>,
}

/// Replays every history under `draft`. See the module doc.
pub fn simulate(draft: &CompiledProcess, histories: &[DealHistory]) -> SimulationReport {
    let mut report = SimulationReport::default();
    let mut entered_before: HashMap<String, u32> = HashMap::new();
    let mut entered_after: Vec<u32> = vec![0; draft.stages.len()];
    let actor = ActorContext::system("simulation");
    for history in histories {
        report.deals += 1;
        let mut recorded_stage: Option<String> = None;
        let mut entered_recorded: Vec<&str> = Vec::new();
        let mut entered_draft: Vec<bool> = vec![false; draft.stages.len()];
        let mut state = DealState::default();
        let mut blocked = false;
        for event in &history.events {
            match event {
                StoredDealEvent::DealStarted {
                    deal, stage, at, ..
                } => {
                    recorded_stage = Some(stage.clone());
                    entered_recorded.push(stage);
                    if state.deal.is_none() {
                        let start = draft.stage_id(stage).unwrap_or(draft.initial_stage);
                        apply(
                            &mut state,
                            &DealEvent::Started {
                                deal: *deal,
                                process: draft.identity.clone(),
                                stage: start,
                                at: *at,
                            },
                        );
                        entered_draft[start.index()] = true;
                    }
                }
                StoredDealEvent::DealImported {
                    deal,
                    stage,
                    stage_entered_at,
                    ..
                } => {
                    // The past as it was imported: it stands where it stood.
                    recorded_stage = Some(stage.clone());
                    entered_recorded.push(stage);
                    if state.deal.is_none() {
                        let start = draft.stage_id(stage).unwrap_or(draft.initial_stage);
                        apply(
                            &mut state,
                            &DealEvent::Started {
                                deal: *deal,
                                process: draft.identity.clone(),
                                stage: start,
                                at: *stage_entered_at,
                            },
                        );
                        entered_draft[start.index()] = true;
                    }
                }
                StoredDealEvent::DealStageChanged { from, to, at } => {
                    recorded_stage = Some(to.clone());
                    entered_recorded.push(to);
                    if blocked || state.deal.is_none() {
                        continue;
                    }
                    let Some(target) = draft.stage_id(to) else {
                        report.blocked.push(BlockedTransition {
                            deal: history.deal,
                            from: from.clone(),
                            to: to.clone(),
                            at: *at,
                            target_removed: true,
                            unmet: Vec::new(),
                        });
                        blocked = true;
                        continue;
                    };
                    match decide(
                        draft,
                        &state,
                        &DealCommand::MoveToStage { to: target },
                        &actor,
                        *at,
                    ) {
                        Ok(decision) => {
                            for e in &decision.events {
                                apply(&mut state, e);
                            }
                            entered_draft[target.index()] = true;
                        }
                        Err(rejection) => {
                            report.blocked.push(BlockedTransition {
                                deal: history.deal,
                                from: from.clone(),
                                to: to.clone(),
                                at: *at,
                                target_removed: false,
                                unmet: match rejection {
                                    Rejection::Unmet { unmet } => unmet,
                                    _ => Vec::new(),
                                },
                            });
                            blocked = true;
                        }
                    }
                }
                StoredDealEvent::DealMigrated { stage, .. } => {
                    recorded_stage = Some(stage.clone());
                }
                StoredDealEvent::DealFieldSet { .. }
                | StoredDealEvent::DealActivityRecorded { .. }
                | StoredDealEvent::DealDocumentRecorded { .. } => {
                    if state.deal.is_none() {
                        continue;
                    }
                    match draft.decode_event(event) {
                        Ok(decoded) => apply(&mut state, &decoded),
                        Err(error) => report.skipped_facts.push((history.deal, error.to_string())),
                    }
                }
                StoredDealEvent::DealSlaBreached { .. }
                | StoredDealEvent::DealAutomationFired { .. } => {}
            }
        }
        if let Some(stage) = recorded_stage {
            if draft.stage_id(&stage).is_none() {
                report.in_removed_stages.push(DealInRemovedStage {
                    deal: history.deal,
                    stage,
                });
            }
        }
        entered_recorded.sort_unstable();
        entered_recorded.dedup();
        for stage in entered_recorded {
            *entered_before.entry(stage.to_string()).or_default() += 1;
        }
        for (i, entered) in entered_draft.iter().enumerate() {
            if *entered {
                entered_after[i] += 1;
            }
        }
    }
    let permille = |n: u32| {
        if report.deals == 0 {
            0
        } else {
            (u64::from(n) * 1000 / u64::from(report.deals)) as u32
        }
    };
    for stage in &draft.stages {
        let before = entered_before.remove(&stage.name).unwrap_or(0);
        let after = entered_after[stage.id.index()];
        report.funnel.push(FunnelRow {
            stage: stage.name.clone(),
            in_draft: true,
            entered_before: before,
            entered_after: after,
            conversion_before_permille: permille(before),
            conversion_after_permille: permille(after),
        });
    }
    let mut removed: Vec<(String, u32)> = entered_before.into_iter().collect();
    removed.sort();
    for (stage, before) in removed {
        report.funnel.push(FunnelRow {
            stage,
            in_draft: false,
            entered_before: before,
            entered_after: 0,
            conversion_before_permille: permille(before),
            conversion_after_permille: 0,
        });
    }
    report
}
