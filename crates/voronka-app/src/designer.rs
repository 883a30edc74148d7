//! The process designer's application side: the text of a published
//! definition to start editing from, checking a draft (every diagnostic with
//! its line and column), and the what-if simulation of a draft over the
//! real history of the process's deals, before anything is published.
//!
//! Why here and not in the gateway: the simulation reads the event log and
//! decides who may run it (`PublishProcess`, the right publishing needs),
//! and both the pages and the API call the same functions.
//!
//! The history is read in one pass over the log (`read_all` in batches up
//! to the head seen at the start), never a read per deal: each `deal-<id>`
//! stream whose first event starts a deal of the draft's process becomes a
//! [`DealHistory`]; other streams are skipped as they come.

use std::collections::HashMap;

use serde::Serialize;
use voronka_core::{Position, StreamId, StreamVersion, Timestamp};
use voronka_crm::deal_index::deal_id_of_stream;
use voronka_process::{
    simulate, validate_source, CompiledProcess, DealHistory, DealId, Diagnostic, StoredDealEvent,
    Titles,
};
use voronka_store::MAX_READ_BATCH;

use crate::access::{Action, RecordKind};
use crate::crm::{AppError, Caller, Crm};
use crate::deals::publications::PUBLICATIONS_STREAM;

/// The published text of one version of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefinitionSource {
    pub name: String,
    pub version: u32,
    /// The file name it was published under (shown in diagnostics).
    pub source_name: String,
    pub text: String,
}

/// A draft that validates: the compiled definition and its warnings.
#[derive(Debug)]
pub struct CheckedDraft {
    pub compiled: CompiledProcess,
    pub warnings: Vec<Diagnostic>,
}

/// Why a draft could not be checked or simulated.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// The caller may not design processes (403) or the store failed.
    #[error(transparent)]
    App(#[from] AppError),
    /// The draft does not validate: every diagnostic, with positions. 422.
    #[error("the draft is invalid ({} problem(s))", diagnostics.len())]
    Invalid { diagnostics: Vec<Diagnostic> },
}

/// One recorded move the draft would have refused, for a person to read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockedDeal {
    #[serde(serialize_with = "serialize_display")]
    pub deal: DealId,
    /// The deal's title, when the caller may see the deal.
    pub title: Option<String>,
    pub from: String,
    pub to: String,
    pub at: Timestamp,
    /// The draft has no stage `to`.
    pub target_removed: bool,
    /// What the draft would have required, in both languages.
    pub unmet: Vec<Titles>,
}

/// A deal now in a stage the draft removes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrandedDeal {
    #[serde(serialize_with = "serialize_display")]
    pub deal: DealId,
    pub title: Option<String>,
    pub stage: String,
}

/// What the draft would have done to the recorded deals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftSimulation {
    /// The process the draft defines (its `process:` key).
    pub process: String,
    pub draft_version: u32,
    /// How many deals of the process were replayed.
    pub deals: u32,
    /// The log position the replay read up to.
    pub read_to: u64,
    pub blocked: Vec<BlockedDeal>,
    pub in_removed_stages: Vec<StrandedDeal>,
    /// Entered before / after per stage, as `simulate` counts them.
    pub funnel: Vec<voronka_process::simulate::FunnelRow>,
    /// Recorded facts the draft could not read (removed fields, outcomes).
    pub skipped_facts: usize,
}

fn serialize_display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Validates a draft; pure (no store, no caller).
pub fn check_draft(source_name: &str, text: &str) -> Result<CheckedDraft, Vec<Diagnostic>> {
    validate_source(source_name, text)
        .map(|(compiled, warnings)| CheckedDraft { compiled, warnings })
}

impl Crm {
    /// The newest published text of process `name` (`None`: never
    /// published). Process designers and administrators only.
    pub async fn process_source(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Option<DefinitionSource>, AppError> {
        caller.may_at_all(Action::PublishProcess)?;
        let stream = StreamId::new(PUBLICATIONS_STREAM)
            .map_err(|error| AppError::Internal(error.to_string()))?;
        let mut found: Option<DefinitionSource> = None;
        let mut next = StreamVersion::NONE.next();
        loop {
            let batch = self
                .store
                .read_stream(&stream, next, MAX_READ_BATCH)
                .await?;
            for event in &batch {
                next = event.stream_version.next();
                let Ok(value) = event.payload.parse::<serde_json::Value>() else {
                    continue;
                };
                let identity = &value["identity"];
                if identity["name"].as_str() != Some(name) {
                    continue;
                }
                let version = identity["version"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0);
                let newer = found.as_ref().is_none_or(|f| version >= f.version);
                if let (true, Some(text)) = (newer, value["text"].as_str()) {
                    found = Some(DefinitionSource {
                        name: name.to_owned(),
                        version,
                        source_name: value["source_name"]
                            .as_str()
                            .unwrap_or("definition.yaml")
                            .to_owned(),
                        text: text.to_owned(),
                    });
                }
            }
            if batch.len() < MAX_READ_BATCH {
                break;
            }
        }
        Ok(found)
    }

    /// Checks a draft for a caller who may design processes.
    pub fn check_draft(
        &self,
        caller: &Caller,
        source_name: &str,
        text: &str,
    ) -> Result<CheckedDraft, DraftError> {
        caller.may_at_all(Action::PublishProcess)?;
        check_draft(source_name, text).map_err(|diagnostics| DraftError::Invalid { diagnostics })
    }

    /// Replays every recorded deal of the draft's process under the draft:
    /// which recorded moves it would have refused and why, which deals sit
    /// in stages it removes, and the funnel before and after.
    pub async fn simulate_draft(
        &self,
        caller: &Caller,
        source_name: &str,
        text: &str,
    ) -> Result<DraftSimulation, DraftError> {
        let checked = self.check_draft(caller, source_name, text)?;
        let draft = checked.compiled;
        let (histories, read_to) = self.histories_of(&draft.identity.name).await?;
        let report = simulate(&draft, &histories);
        let indexes = self.indexes(None).await?;
        let title_of = |deal: DealId| {
            indexes.deals.deal(deal).and_then(|row| {
                let responsible = row.responsible?;
                caller
                    .sees(RecordKind::SalesRecord, responsible)
                    .then(|| row.title.clone())
                    .flatten()
            })
        };
        let blocked = report
            .blocked
            .iter()
            .map(|b| BlockedDeal {
                deal: b.deal,
                title: title_of(b.deal),
                from: b.from.clone(),
                to: b.to.clone(),
                at: b.at,
                target_removed: b.target_removed,
                unmet: b.unmet.iter().map(|u| u.message.clone()).collect(),
            })
            .collect();
        let in_removed_stages = report
            .in_removed_stages
            .iter()
            .map(|s| StrandedDeal {
                deal: s.deal,
                title: title_of(s.deal),
                stage: s.stage.clone(),
            })
            .collect();
        Ok(DraftSimulation {
            process: draft.identity.name.clone(),
            draft_version: draft.identity.version,
            deals: report.deals,
            read_to: read_to.0,
            blocked,
            in_removed_stages,
            funnel: report.funnel,
            skipped_facts: report.skipped_facts.len(),
        })
    }

    /// Every deal of process `name` as a history, oldest event first, from
    /// one pass over the log up to the head seen now.
    async fn histories_of(&self, name: &str) -> Result<(Vec<DealHistory>, Position), AppError> {
        let head = *self.store.commit_notifications().borrow();
        let mut after = Position(0);
        let mut order: Vec<DealId> = Vec::new();
        let mut histories: HashMap<DealId, Vec<StoredDealEvent>> = HashMap::new();
        // Deal streams seen that belong to another process (or are unreadable).
        let mut skipped: std::collections::HashSet<DealId> = std::collections::HashSet::new();
        while after < head {
            let batch = self.store.read_all(after, MAX_READ_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.position;
            for event in &batch {
                if event.position > head {
                    break;
                }
                let Some(deal) = deal_id_of_stream(event.stream_id.as_str()) else {
                    continue;
                };
                if skipped.contains(&deal) {
                    continue;
                }
                let Ok(stored) = event.payload.parse::<StoredDealEvent>() else {
                    tracing::warn!(%deal, position = event.position.0, "simulation: an unreadable deal event was skipped");
                    continue;
                };
                match histories.get_mut(&deal) {
                    Some(events) => events.push(stored),
                    None => match &stored {
                        StoredDealEvent::DealStarted { process, .. }
                        | StoredDealEvent::DealImported { process, .. }
                            if process.name == name =>
                        {
                            order.push(deal);
                            histories.insert(deal, vec![stored]);
                        }
                        _ => {
                            skipped.insert(deal);
                        }
                    },
                }
            }
        }
        let histories = order
            .into_iter()
            .filter_map(|deal| {
                histories
                    .remove(&deal)
                    .map(|events| DealHistory { deal, events })
            })
            .collect();
        Ok((histories, head.min(after)))
    }
}
