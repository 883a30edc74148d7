//! Voronka's process engine: the sales process is enforced, not suggested.
//!
//! - [`validate_source`] parses, validates and compiles a YAML definition,
//!   reporting every problem with its position ([`render_diagnostics`] prints
//!   them like a compiler);
//! - [`decide`] answers a command on a deal with events and effects, or with a
//!   [`Rejection`] naming every unmet requirement; [`evolve`] folds events into
//!   [`DealState`]; [`checklist`] tells what each next stage still needs;
//! - [`plan_migration`]/[`migrate`] move deals between versions;
//! - [`simulate`] replays recorded histories under a draft.
//!
//! Invariant: this crate is pure. No I/O (callers read files and pass text),
//! no clock (`now` is an argument), no randomness, no async.
//!
//! Facts about activities and documents reach the guards as events on the
//! deal's own stream (see [`deal`]), so a deal's stream alone decides it.

pub mod compile;
pub mod deal;
pub mod decide;
pub mod diagnostic;
mod messages;
pub mod migrate;
pub mod model;
pub mod simulate;
pub mod stored;
pub mod version;
pub mod yaml_tree;

pub use compile::{parse_duration, validate_source};
pub use deal::{
    apply, evolve, ActivityFact, ActivityId, DealEvent, DealId, DealImport, DealState,
    DocumentFact, DocumentId, ImportSource, StartedDeal, UserId,
};
pub use decide::{
    checklist, decide, document_checklist, effects_of, next_wakeup, ActorContext, DealCommand,
    Decision, Effect, HistoryProblem, Rejection, RequirementRef, UnmetCode, UnmetRequirement,
    VersionMismatch,
};
pub use diagnostic::{has_errors, render_diagnostics, Diagnostic, Location, Severity};
pub use migrate::{migrate, plan_migration, MigrationError, MigrationPlan};
pub use model::*;
pub use simulate::{simulate, DealHistory, SimulationReport};
pub use stored::{DecodeError, StoredActivity, StoredDealEvent};
pub use version::{ContentHash, ProcessIdentity};
