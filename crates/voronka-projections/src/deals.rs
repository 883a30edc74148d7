//! The `deals` projection: every deal's current row, and the flow of deals
//! through stages — the tables the funnel, the forecast, forgotten deals and
//! the report builder's `deals` and `stage_changes` sources are read from.
//!
//! Tables:
//! - `rm_deals`: one row per deal as it stands now.
//! - `rm_deals_history`: every version of every deal's row, with the
//!   recorded-time interval `[valid_from, valid_to)` during which it was
//!   current (`valid_to` = [`OPEN_END`] for the current one) — what a deal
//!   list or sum as of a past moment reads with an interval condition
//!   instead of replaying the log. A version starts when its event was
//!   recorded (an imported deal's first version when its stage was entered,
//!   as the funnel counts it); events recorded at the same moment make one
//!   version.
//! - `rm_flow_journal`: one row per change to a stage's figures (a deal
//!   entered, left for another stage, changed hands, changed amount), with
//!   both its time (`at`, what reports count by) and the time it was
//!   recorded (`rec_at`, what `as_of` cuts by).
//! - `rm_flow_daily`: the journal summed per stage, responsible, next stage,
//!   day it happened and day it was recorded — what a report over a period
//!   or as of a past day sums for some responsibles (keyed responsible
//!   first: a manager's rows are one range).
//! - `rm_flow_daily_all`: the same without the responsible — a year is a
//!   few thousand rows, what a report for everyone sums.
//! - `rm_deal_counts`: deals now per stage, previous stage, loss reason and
//!   responsible — the current losses by reason without reading `rm_deals`.
//! - `rm_exit_buckets`: exits per stage by time spent (minute, hour, then
//!   day wide buckets) — where the median of all exits lies, so finding it
//!   walks one bucket of the exits index instead of half of it.
//! - `rm_flow_totals`: the journal summed per stage, responsible and next
//!   stage over all time — the current funnel in a few thousand rows.
//!
//! The fold keeps every deal's current row in memory (loaded from `rm_deals`
//! on start), so a batch reads nothing from the database.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sqlx::{Any, Row, Transaction};
use voronka_core::{Money, RecordedEvent};
use voronka_crm::deal_index::deal_id_of_stream;
use voronka_process::StoredDealEvent;

use crate::db::{insert_rows, AnyQuery, Dialect};
use crate::time::{day_of, micros};
use crate::{Projection, ProjectionError, ReadDb, Table};

pub const NAME: &str = "deals";

/// "Nobody" in key columns: PostgreSQL treats NULLs in a unique key as
/// distinct, so keys use the empty string instead.
pub const NOBODY: &str = "";

/// `valid_to` of a version that is still current.
pub const OPEN_END: i64 = i64::MAX;

/// The columns `rm_deals` and `rm_deals_history` share after `deal_id`
/// (in the order of [`DEAL_COLUMNS`]), written once for both CREATE TABLEs.
macro_rules! deal_row_columns {
    () => {
        "process TEXT NOT NULL, process_version BIGINT NOT NULL, stage TEXT NOT NULL, \
         previous_stage TEXT, responsible TEXT NOT NULL, title TEXT, company TEXT, \
         contact TEXT, amount BIGINT, currency TEXT, source TEXT, \
         expected_close_day BIGINT, loss_reason TEXT, competitor TEXT, \
         created_at BIGINT NOT NULL, created_rec BIGINT NOT NULL, \
         created_position BIGINT NOT NULL, stage_entered_at BIGINT NOT NULL, \
         stage_entered_rec BIGINT NOT NULL, last_touch_at BIGINT NOT NULL, \
         version BIGINT NOT NULL, fields TEXT NOT NULL, valid_from BIGINT NOT NULL"
    };
}

const TABLES: &[Table] = &[
    Table {
        name: "rm_deals",
        create: &[
            concat!(
                "CREATE TABLE IF NOT EXISTS rm_deals (deal_id TEXT PRIMARY KEY, ",
                deal_row_columns!(),
                ")"
            ),
            // Covers the forecast (open deals per close day, closed ones by
            // day entered: no row is read); lost deals of a period are a range.
            "CREATE INDEX IF NOT EXISTS rm_deals_stage ON rm_deals \
             (process, stage, stage_entered_at, expected_close_day, amount, responsible)",
            // Forgotten deals: per open stage, the idle ones are one range.
            "CREATE INDEX IF NOT EXISTS rm_deals_idle ON rm_deals \
             (process, stage, last_touch_at, responsible)",
            "CREATE INDEX IF NOT EXISTS rm_deals_responsible ON rm_deals (responsible, process)",
            "CREATE INDEX IF NOT EXISTS rm_deals_touch ON rm_deals (process, last_touch_at)",
        ],
    },
    Table {
        name: "rm_deals_history",
        // No primary key: a bulk rebuild appends rows in time order and
        // builds the unique key at the end.
        create: &[
            concat!(
                "CREATE TABLE IF NOT EXISTS rm_deals_history (deal_id TEXT NOT NULL, ",
                deal_row_columns!(),
                ", valid_to BIGINT NOT NULL)"
            ),
            "CREATE UNIQUE INDEX IF NOT EXISTS rm_deals_history_key ON rm_deals_history \
             (deal_id, valid_from)",
            // As of T, per stage asked: `valid_to > T` is a range,
            // `valid_from <= T` read from the index, and so is what the
            // forecast, forgotten deals and the funnel's losses by reason
            // filter, sum and group by: no row is read.
            "CREATE INDEX IF NOT EXISTS rm_deals_history_as_of ON rm_deals_history \
             (process, stage, valid_to, valid_from, last_touch_at, stage_entered_at, \
             expected_close_day, amount, responsible, previous_stage, loss_reason)",
        ],
    },
    Table {
        name: "rm_flow_journal",
        create: &[
            "CREATE TABLE IF NOT EXISTS rm_flow_journal (
                position BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                deal_id TEXT NOT NULL,
                process TEXT NOT NULL,
                stage TEXT NOT NULL,
                responsible TEXT NOT NULL,
                next_stage TEXT NOT NULL,
                at BIGINT NOT NULL,
                rec_at BIGINT NOT NULL,
                entered BIGINT NOT NULL,
                exited BIGINT NOT NULL,
                seconds BIGINT NOT NULL,
                held BIGINT NOT NULL,
                amount BIGINT NOT NULL,
                entered_amount BIGINT NOT NULL,
                PRIMARY KEY (position, seq)
            )",
            "CREATE INDEX IF NOT EXISTS rm_flow_journal_rec ON rm_flow_journal (rec_at)",
            "CREATE INDEX IF NOT EXISTS rm_flow_journal_exits ON rm_flow_journal \
             (process, stage, seconds, at, rec_at, responsible) WHERE exited = 1",
            "CREATE INDEX IF NOT EXISTS rm_flow_journal_exits_by ON rm_flow_journal \
             (process, stage, responsible, seconds, at, rec_at) WHERE exited = 1",
        ],
    },
    Table {
        name: "rm_flow_daily",
        create: &[
            "CREATE TABLE IF NOT EXISTS rm_flow_daily (
                process TEXT NOT NULL,
                stage TEXT NOT NULL,
                responsible TEXT NOT NULL,
                next_stage TEXT NOT NULL,
                day BIGINT NOT NULL,
                rec_day BIGINT NOT NULL,
                entered BIGINT NOT NULL,
                exited BIGINT NOT NULL,
                seconds BIGINT NOT NULL,
                held BIGINT NOT NULL,
                amount BIGINT NOT NULL,
                entered_amount BIGINT NOT NULL,
                PRIMARY KEY (process, responsible, rec_day, day, stage, next_stage)
            )",
            // Entries into a stage over a period, per responsible (deals and
            // revenue won in plan-vs-fact), read from the index alone.
            "CREATE INDEX IF NOT EXISTS rm_flow_daily_stage_day ON rm_flow_daily \
             (process, stage, day, responsible, rec_day, entered, entered_amount)",
        ],
    },
    Table {
        name: "rm_deal_counts",
        create: &["CREATE TABLE IF NOT EXISTS rm_deal_counts (
                process TEXT NOT NULL,
                stage TEXT NOT NULL,
                previous_stage TEXT NOT NULL,
                loss_reason TEXT NOT NULL,
                responsible TEXT NOT NULL,
                deals BIGINT NOT NULL,
                PRIMARY KEY (process, stage, previous_stage, loss_reason, responsible)
            )"],
    },
    Table {
        name: "rm_exit_buckets",
        create: &["CREATE TABLE IF NOT EXISTS rm_exit_buckets (
                process TEXT NOT NULL,
                stage TEXT NOT NULL,
                bucket BIGINT NOT NULL,
                exits BIGINT NOT NULL,
                PRIMARY KEY (process, stage, bucket)
            )"],
    },
    Table {
        name: "rm_flow_daily_all",
        create: &["CREATE TABLE IF NOT EXISTS rm_flow_daily_all (
                process TEXT NOT NULL,
                stage TEXT NOT NULL,
                next_stage TEXT NOT NULL,
                day BIGINT NOT NULL,
                rec_day BIGINT NOT NULL,
                entered BIGINT NOT NULL,
                exited BIGINT NOT NULL,
                seconds BIGINT NOT NULL,
                held BIGINT NOT NULL,
                amount BIGINT NOT NULL,
                entered_amount BIGINT NOT NULL,
                PRIMARY KEY (process, rec_day, day, stage, next_stage)
            )"],
    },
    Table {
        name: "rm_flow_totals",
        create: &["CREATE TABLE IF NOT EXISTS rm_flow_totals (
                process TEXT NOT NULL,
                stage TEXT NOT NULL,
                responsible TEXT NOT NULL,
                next_stage TEXT NOT NULL,
                entered BIGINT NOT NULL,
                exited BIGINT NOT NULL,
                seconds BIGINT NOT NULL,
                held BIGINT NOT NULL,
                amount BIGINT NOT NULL,
                entered_amount BIGINT NOT NULL,
                PRIMARY KEY (process, stage, responsible, next_stage)
            )"],
    },
];

/// A deal as `rm_deals` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct DealNow {
    pub deal_id: String,
    pub process: String,
    pub process_version: i64,
    pub stage: String,
    pub previous_stage: Option<String>,
    pub responsible: String,
    pub fields: BTreeMap<String, Value>,
    pub created_at: i64,
    pub created_rec: i64,
    pub created_position: i64,
    pub stage_entered_at: i64,
    pub stage_entered_rec: i64,
    pub last_touch_at: i64,
    pub version: i64,
    /// When this version became current (recorded time; see the module docs).
    pub valid_from: i64,
}

/// Where a deal stands, as `rm_deal_counts` counts it: process, stage,
/// previous stage, loss reason, responsible (empty text for none).
pub type CountKey = (String, String, String, String, String);

impl DealNow {
    fn count_key(&self) -> CountKey {
        (
            self.process.clone(),
            self.stage.clone(),
            self.previous_stage.clone().unwrap_or_default(),
            self.text("loss_reason").unwrap_or_default(),
            self.responsible.clone(),
        )
    }

    /// Sets a field; `None` or JSON null removes it.
    fn set_field(&mut self, field: String, value: Option<Value>) {
        match value {
            Some(value) if !value.is_null() => {
                self.fields.insert(field, value);
            }
            _ => {
                self.fields.remove(&field);
            }
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        self.text_ref(name).map(str::to_owned)
    }

    fn text_ref(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// Read from the field in place (the fold asks for the amount at every
    /// stage change and every row written).
    fn money(&self) -> Option<Money> {
        self.fields
            .get("amount")
            .and_then(|v| Money::deserialize(v).ok())
    }

    /// The amount in minor units (0 when none is set).
    pub fn amount_minor(&self) -> i64 {
        self.money().map_or(0, |m| m.minor)
    }

    fn expected_close_day(&self) -> Option<i64> {
        self.text_ref("expected_close_date")
            .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .map(crate::time::day_number)
    }
}

/// One change to a stage's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    pub position: i64,
    pub seq: i64,
    pub deal_id: String,
    pub process: String,
    pub stage: String,
    pub responsible: String,
    /// For an exit, where the deal went; else empty.
    pub next_stage: String,
    pub at: i64,
    pub rec_at: i64,
    pub entered: i64,
    pub exited: i64,
    /// Seconds spent in the stage (exits only).
    pub seconds: i64,
    /// +1 when a deal comes to be in the stage (or to this responsible),
    /// -1 when it stops.
    pub held: i64,
    /// Change of the amount of deals in the stage, minor units.
    pub amount: i64,
    /// The deal's amount when it entered (entries only): revenue won is the
    /// entered amount of a won stage.
    pub entered_amount: i64,
}

/// The figures a flow key accumulates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowSums {
    pub entered: i64,
    pub exited: i64,
    pub seconds: i64,
    pub held: i64,
    pub amount: i64,
    pub entered_amount: i64,
}

impl FlowSums {
    pub fn is_zero(&self) -> bool {
        *self == FlowSums::default()
    }

    pub fn add(&mut self, other: &FlowSums) {
        self.entered += other.entered;
        self.exited += other.exited;
        self.seconds += other.seconds;
        self.held += other.held;
        self.amount += other.amount;
        self.entered_amount += other.entered_amount;
    }

    pub fn add_row(&mut self, row: &FlowRow) {
        self.entered += row.entered;
        self.exited += row.exited;
        self.seconds += row.seconds;
        self.held += row.held;
        self.amount += row.amount;
        self.entered_amount += row.entered_amount;
    }
}

impl FlowRow {
    fn figures(&self) -> FlowSums {
        FlowSums {
            entered: self.entered,
            exited: self.exited,
            seconds: self.seconds,
            held: self.held,
            amount: self.amount,
            entered_amount: self.entered_amount,
        }
    }

    /// Whether `other` changes the same figures at the same moment, so the
    /// two can be one row: a deal is started, handed to its first
    /// responsible and given its amount in one append, which is one entry.
    /// Exits are never merged (each is one deal's time in the stage).
    fn same_change(&self, other: &FlowRow) -> bool {
        self.next_stage.is_empty()
            && other.next_stage.is_empty()
            && self.deal_id == other.deal_id
            && self.stage == other.stage
            && self.responsible == other.responsible
            && self.process == other.process
            && self.at == other.at
            && self.rec_at == other.rec_at
    }
}

/// Appends `row` to `flow`, merged into the previous row when both change
/// the same figures at the same moment; a merge that cancels out (a deal's
/// entry moved from nobody to its first responsible) leaves no row.
fn push_flow(flow: &mut Vec<FlowRow>, row: FlowRow) {
    if let Some(last) = flow.last_mut() {
        if last.same_change(&row) {
            let mut sums = last.figures();
            sums.add(&row.figures());
            if sums.is_zero() {
                flow.pop();
            } else {
                last.entered = sums.entered;
                last.exited = sums.exited;
                last.seconds = sums.seconds;
                last.held = sums.held;
                last.amount = sums.amount;
                last.entered_amount = sums.entered_amount;
            }
            return;
        }
    }
    if !row.figures().is_zero() {
        flow.push(row);
    }
}

/// The pure fold: deal rows and the flow rows each event produces. Kept
/// apart from the SQL so tests can run it over generated histories.
#[derive(Debug, Default)]
pub struct DealFold {
    pub deals: HashMap<String, DealNow>,
    /// Events that could not be read (a newer writer or a bug).
    pub skipped: u64,
    /// Whether to keep the versions deals leave behind in [`DealFold::closed`].
    pub keep_history: bool,
    /// Versions that stopped being current, each with the moment it
    /// stopped (its `valid_to`), in the order they closed.
    pub closed: Vec<(DealNow, i64)>,
    /// While an import's append is folded: the deal, the append's recorded
    /// moment and the last position folded of it.
    pub importing: Option<(String, i64, i64)>,
}

impl DealFold {
    /// Folds one event; returns the deal it touched, if any.
    /// Folds one event: its flow rows into `flow`, and a change of where
    /// the deal stands into `counts` (when given: a bulk rebuild counts at
    /// the end instead). Returns the deal it touched, if any.
    pub fn apply(
        &mut self,
        event: &RecordedEvent,
        flow: &mut Vec<FlowRow>,
        counts: Option<&mut HashMap<CountKey, i64>>,
    ) -> Option<String> {
        let Some(counts) = counts else {
            return self.apply_flow(event, flow);
        };
        let id = deal_id_of_stream(event.stream_id.as_str())?.to_string();
        let before = self.deals.get(&id).map(DealNow::count_key);
        let touched = self.apply_flow(event, flow)?;
        let after = self.deals.get(&touched).map(DealNow::count_key);
        if before != after {
            if let Some(key) = before {
                *counts.entry(key).or_default() -= 1;
            }
            if let Some(key) = after {
                *counts.entry(key).or_default() += 1;
            }
        }
        Some(touched)
    }

    fn apply_flow(&mut self, event: &RecordedEvent, flow: &mut Vec<FlowRow>) -> Option<String> {
        let id = deal_id_of_stream(event.stream_id.as_str())?;
        let Ok(stored) = event.payload.parse::<StoredDealEvent>() else {
            self.skipped += 1;
            return None;
        };
        let deal_id = id.to_string();
        let at = micros(event.effective_time());
        let recorded = micros(event.recorded_at);
        let position = event.position.0 as i64;
        // The events appended with an import (its fields) count as known at
        // the original date, like the import itself, so `as_of` a day after
        // it sees the deal whole. An append's events have consecutive
        // positions and one recorded moment in both stores.
        let rec_at = match self.importing.take() {
            Some((deal, when, last))
                if deal == deal_id && when == recorded && position == last + 1 =>
            {
                self.importing = Some((deal, when, position));
                at
            }
            _ => recorded,
        };
        let mut seq = 0;
        let mut row = |deal: &DealNow, stage: &str, next: &str, figures: FlowSums| {
            seq += 1;
            FlowRow {
                position,
                seq,
                deal_id: deal.deal_id.clone(),
                process: deal.process.clone(),
                stage: stage.to_owned(),
                responsible: deal.responsible.clone(),
                next_stage: next.to_owned(),
                at,
                rec_at,
                entered: figures.entered,
                exited: figures.exited,
                seconds: figures.seconds,
                held: figures.held,
                amount: figures.amount,
                entered_amount: figures.entered_amount,
            }
        };
        if let StoredDealEvent::DealStarted { process, stage, .. } = &stored {
            if self.deals.contains_key(&deal_id) {
                self.skipped += 1;
                return None;
            }
            let deal = DealNow {
                deal_id: deal_id.clone(),
                process: process.name.clone(),
                process_version: i64::from(process.version),
                stage: stage.clone(),
                previous_stage: None,
                responsible: NOBODY.to_owned(),
                fields: BTreeMap::new(),
                created_at: at,
                created_rec: rec_at,
                created_position: position,
                stage_entered_at: at,
                stage_entered_rec: rec_at,
                last_touch_at: at,
                version: event.stream_version.0 as i64,
                valid_from: rec_at,
            };
            push_flow(
                flow,
                row(
                    &deal,
                    stage,
                    "",
                    FlowSums {
                        entered: 1,
                        held: 1,
                        ..FlowSums::default()
                    },
                ),
            );
            self.deals.insert(deal_id.clone(), deal);
            return Some(deal_id);
        }
        if let StoredDealEvent::DealImported {
            process,
            stage,
            created_at,
            stage_entered_at,
            closed_at,
            responsible,
            ..
        } = &stored
        {
            // An imported deal counts by its original dates, both when it
            // happened and when it was known (`as_of` a past day sees it).
            if self.deals.contains_key(&deal_id) {
                self.skipped += 1;
                return None;
            }
            let (created, entered) = (micros(*created_at), micros(*stage_entered_at));
            let deal = DealNow {
                deal_id: deal_id.clone(),
                process: process.name.clone(),
                process_version: i64::from(process.version),
                stage: stage.clone(),
                previous_stage: None,
                responsible: responsible.map_or_else(|| NOBODY.to_owned(), |r| r.to_string()),
                // The field too, so the fields set in the same append (the
                // amount before the responsible) hand nothing over.
                fields: responsible
                    .iter()
                    .map(|r| ("responsible".to_owned(), Value::String(r.to_string())))
                    .collect(),
                created_at: created,
                created_rec: created,
                created_position: position,
                stage_entered_at: entered,
                stage_entered_rec: entered,
                last_touch_at: closed_at.map_or(entered, micros),
                version: event.stream_version.0 as i64,
                valid_from: entered,
            };
            let mut entry = row(
                &deal,
                stage,
                "",
                FlowSums {
                    entered: 1,
                    held: 1,
                    ..FlowSums::default()
                },
            );
            (entry.at, entry.rec_at) = (entered, entered);
            push_flow(flow, entry);
            self.importing = Some((deal_id.clone(), recorded, position));
            self.deals.insert(deal_id.clone(), deal);
            return Some(deal_id);
        }
        let Some(deal) = self.deals.get_mut(&deal_id) else {
            self.skipped += 1;
            return None;
        };
        // A later recorded moment starts a new version; the clamp keeps a
        // deal's versions in order should the recording clock step back.
        let known = rec_at.max(deal.valid_from);
        if known > deal.valid_from {
            if self.keep_history {
                self.closed.push((deal.clone(), known));
            }
            deal.valid_from = known;
        }
        deal.version = event.stream_version.0 as i64;
        match stored {
            StoredDealEvent::DealStarted { .. } | StoredDealEvent::DealImported { .. } => {}
            StoredDealEvent::DealStageChanged { from: _, to, .. } => {
                let amount = deal.amount_minor();
                let from = deal.stage.clone();
                push_flow(
                    flow,
                    row(
                        deal,
                        &from,
                        &to,
                        FlowSums {
                            exited: 1,
                            seconds: (at - deal.stage_entered_at).max(0) / 1_000_000,
                            held: -1,
                            amount: -amount,
                            ..FlowSums::default()
                        },
                    ),
                );
                push_flow(
                    flow,
                    row(
                        deal,
                        &to,
                        "",
                        FlowSums {
                            entered: 1,
                            held: 1,
                            amount,
                            entered_amount: amount,
                            ..FlowSums::default()
                        },
                    ),
                );
                deal.previous_stage = Some(from);
                deal.stage = to;
                deal.stage_entered_at = at;
                deal.stage_entered_rec = rec_at;
                deal.last_touch_at = deal.last_touch_at.max(at);
            }
            StoredDealEvent::DealFieldSet { field, value, .. }
                if field != "amount" && field != "responsible" =>
            {
                // Neither figures nor ownership change: no flow rows.
                deal.set_field(field, value);
                deal.last_touch_at = deal.last_touch_at.max(at);
            }
            StoredDealEvent::DealFieldSet { field, value, .. } => {
                let before_amount = deal.amount_minor();
                deal.set_field(field, value);
                let responsible = deal.text("responsible").unwrap_or_default();
                let amount = deal.amount_minor();
                let stage = deal.stage.clone();
                if responsible != deal.responsible {
                    // Hand the deal over: it leaves the old responsible's
                    // figures and joins the new one's, counted neither as an
                    // exit nor as an entry — except that a new deal's entry
                    // into its first stage belongs to its first responsible
                    // (a deal is started, then its fields are set).
                    let first_assignment =
                        deal.responsible == NOBODY && deal.previous_stage.is_none();
                    let entry = i64::from(first_assignment);
                    push_flow(
                        flow,
                        row(
                            deal,
                            &stage,
                            "",
                            FlowSums {
                                entered: -entry,
                                held: -1,
                                amount: -before_amount,
                                entered_amount: -entry * before_amount,
                                ..FlowSums::default()
                            },
                        ),
                    );
                    deal.responsible = responsible;
                    push_flow(
                        flow,
                        row(
                            deal,
                            &stage,
                            "",
                            FlowSums {
                                entered: entry,
                                held: 1,
                                amount,
                                entered_amount: entry * amount,
                                ..FlowSums::default()
                            },
                        ),
                    );
                } else if amount != before_amount {
                    push_flow(
                        flow,
                        row(
                            deal,
                            &stage,
                            "",
                            FlowSums {
                                amount: amount - before_amount,
                                ..FlowSums::default()
                            },
                        ),
                    );
                }
                deal.last_touch_at = deal.last_touch_at.max(at);
            }
            StoredDealEvent::DealMigrated {
                to, stage, fields, ..
            } => {
                // Moved to another process version (or process): the deal
                // leaves the old stage's holdings and joins the new one's.
                let amount = deal.amount_minor();
                let old_stage = deal.stage.clone();
                push_flow(
                    flow,
                    row(
                        deal,
                        &old_stage,
                        "",
                        FlowSums {
                            held: -1,
                            amount: -amount,
                            ..FlowSums::default()
                        },
                    ),
                );
                deal.process = to.name.clone();
                deal.process_version = i64::from(to.version);
                deal.fields = fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
                deal.responsible = deal.text("responsible").unwrap_or_default();
                if deal.stage != stage {
                    deal.previous_stage = Some(std::mem::replace(&mut deal.stage, stage));
                    deal.stage_entered_at = at;
                    deal.stage_entered_rec = rec_at;
                }
                let stage = deal.stage.clone();
                push_flow(
                    flow,
                    row(
                        deal,
                        &stage,
                        "",
                        FlowSums {
                            held: 1,
                            amount: deal.amount_minor(),
                            ..FlowSums::default()
                        },
                    ),
                );
                deal.last_touch_at = deal.last_touch_at.max(at);
            }
            StoredDealEvent::DealActivityRecorded { .. }
            | StoredDealEvent::DealDocumentRecorded { .. } => {
                deal.last_touch_at = deal.last_touch_at.max(at);
            }
            StoredDealEvent::DealSlaBreached { .. }
            | StoredDealEvent::DealAutomationFired { .. } => {}
        }
        Some(deal_id)
    }
}

/// The `deals` projection.
#[derive(Debug)]
pub struct DealsProjection {
    fold: DealFold,
    /// During a bulk rebuild: the sums, written once at the end.
    bulk: Option<BulkSums>,
    /// During a bulk rebuild: the last folded batch's rows, written while
    /// the next batch folds.
    pending: Option<BulkRows>,
}

/// What a folded batch leaves to write during a bulk rebuild: its journal
/// rows and the versions it closed (with their `valid_to`).
#[derive(Debug, Default)]
struct BulkRows {
    flow: Vec<FlowRow>,
    closed: Vec<(DealNow, i64)>,
}

/// Writes a folded batch's rows into fresh tables (nothing to upsert).
async fn write_bulk_rows(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    rows: Option<BulkRows>,
) -> Result<(), ProjectionError> {
    let Some(rows) = rows else { return Ok(()) };
    write_journal(dialect, tx, &rows.flow).await?;
    let versions: Vec<(&DealNow, i64)> = rows
        .closed
        .iter()
        .map(|(deal, valid_to)| (deal, *valid_to))
        .collect();
    write_history(dialect, tx, &versions, "").await
}

type DailyKey<S> = (S, S, S, S, i64, i64);
type TotalsKey<S> = (S, S, S, S);
type DailyAllKey<S> = (S, S, S, i64, i64);

/// The daily and all-time sums of a bulk rebuild so far, keyed by numbers
/// of names (processes, stages, responsibles: a few hundred), so adding a
/// flow row hashes integers instead of comparing and copying text.
#[derive(Debug, Default)]
struct BulkSums {
    names: Names,
    daily: HashMap<DailyKey<u32>, FlowSums>,
    daily_all: HashMap<DailyAllKey<u32>, FlowSums>,
    exit_buckets: HashMap<(u32, u32, i64), i64>,
    totals: HashMap<TotalsKey<u32>, FlowSums>,
}

impl BulkSums {
    /// Adds `row` to every sum table's key (as [`sum_flow`] does per batch).
    fn add_row(&mut self, row: &FlowRow) {
        let process = self.names.number(&row.process);
        let stage = self.names.number(&row.stage);
        let responsible = self.names.number(&row.responsible);
        let next = self.names.number(&row.next_stage);
        let (day, rec_day) = (day_of(row.at), day_of(row.rec_at));
        self.daily
            .entry((process, stage, responsible, next, day, rec_day))
            .or_default()
            .add_row(row);
        self.daily_all
            .entry((process, stage, next, day, rec_day))
            .or_default()
            .add_row(row);
        self.totals
            .entry((process, stage, responsible, next))
            .or_default()
            .add_row(row);
        if row.exited != 0 {
            *self
                .exit_buckets
                .entry((process, stage, exit_bucket(row.seconds)))
                .or_default() += row.exited;
        }
    }
}

/// Names numbered in the order first seen.
#[derive(Debug, Default)]
struct Names {
    numbers: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn number(&mut self, name: &str) -> u32 {
        if let Some(number) = self.numbers.get(name) {
            return *number;
        }
        let number = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.numbers.insert(name.to_owned(), number);
        number
    }

    fn name(&self, number: u32) -> &str {
        &self.names[number as usize]
    }
}

impl Default for DealsProjection {
    fn default() -> Self {
        Self::new()
    }
}

impl DealsProjection {
    pub fn new() -> Self {
        Self {
            fold: Self::fresh_fold(),
            bulk: None,
            pending: None,
        }
    }

    fn fresh_fold() -> DealFold {
        // The projection keeps every version; the pure fold alone does not.
        DealFold {
            keep_history: true,
            ..DealFold::default()
        }
    }
}

#[async_trait]
impl Projection for DealsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        // 2: rm_flow_daily_all, rm_flow_daily keyed responsible first,
        // journal rows of one change merged, exit indexes.
        // 3: rm_deals_history (every version with its valid interval).
        // 4: covering indexes for the forecast and forgotten deals.
        // 5: the fields set with an import known since its original date.
        // 6: losses by reason as of a moment read from the as_of index.
        6
    }

    fn tables(&self) -> &'static [Table] {
        TABLES
    }

    fn reset(&mut self) {
        self.fold = Self::fresh_fold();
        self.bulk = None;
        self.pending = None;
    }

    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        let rows = sqlx::query(
            "SELECT deal_id, process, process_version, stage, previous_stage, responsible, \
             created_at, created_rec, created_position, stage_entered_at, stage_entered_rec, \
             last_touch_at, version, fields, valid_from FROM rm_deals",
        )
        .fetch_all(db.pool())
        .await?;
        for row in rows {
            let fields: String = row.try_get(13)?;
            let deal = DealNow {
                deal_id: row.try_get(0)?,
                process: row.try_get(1)?,
                process_version: row.try_get(2)?,
                stage: row.try_get(3)?,
                previous_stage: row.try_get(4)?,
                responsible: row.try_get(5)?,
                created_at: row.try_get(6)?,
                created_rec: row.try_get(7)?,
                created_position: row.try_get(8)?,
                stage_entered_at: row.try_get(9)?,
                stage_entered_rec: row.try_get(10)?,
                last_touch_at: row.try_get(11)?,
                version: row.try_get(12)?,
                fields: serde_json::from_str(&fields).unwrap_or_default(),
                valid_from: row.try_get(14)?,
            };
            self.fold.deals.insert(deal.deal_id.clone(), deal);
        }
        Ok(())
    }

    async fn apply(
        &mut self,
        db: &ReadDb,
        events: &[RecordedEvent],
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), ProjectionError> {
        let mut flow = Vec::new();
        let mut counts = HashMap::new();
        let mut touched = Vec::new();
        for event in events {
            if let Some(deal) = self.fold.apply(event, &mut flow, Some(&mut counts)) {
                touched.push(deal);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let dialect = db.dialect();
        let rows: Vec<&DealNow> = touched
            .iter()
            .filter_map(|id| self.fold.deals.get(id))
            .collect();
        write_deals(dialect, tx, &rows, UPSERT_DEAL).await?;
        let closed = std::mem::take(&mut self.fold.closed);
        let versions: Vec<(&DealNow, i64)> = closed
            .iter()
            .map(|(deal, valid_to)| (deal, *valid_to))
            .chain(rows.iter().map(|deal| (*deal, OPEN_END)))
            .collect();
        write_history(dialect, tx, &versions, UPSERT_VERSION).await?;
        write_journal(dialect, tx, &flow).await?;
        let sums = sum_flow(&flow);
        let daily: Vec<_> = sums.daily.into_iter().collect();
        let daily_all: Vec<_> = sums.daily_all.into_iter().collect();
        let totals: Vec<_> = sums.totals.into_iter().collect();
        write_sums(dialect, tx, &daily, &daily_all, &totals, true).await?;
        let counts: Vec<_> = counts.iter().filter(|(_, n)| **n != 0).collect();
        write_counts(dialect, tx, &counts, true).await?;
        let buckets: Vec<_> = sums.exit_buckets.into_iter().collect();
        write_exit_buckets(dialect, tx, &buckets, true).await?;
        Ok(())
    }

    /// Journal rows and closed versions as they come; deals and sums in
    /// memory until the end (a deal touched in a thousand batches is written
    /// once). The batch is folded on a blocking thread while the rows of the
    /// batch before are written, so folding and writing share the cores.
    async fn apply_bulk(
        &mut self,
        db: &ReadDb,
        events: Vec<RecordedEvent>,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), ProjectionError> {
        let mut fold = std::mem::take(&mut self.fold);
        let mut bulk = self.bulk.take().unwrap_or_default();
        let folding = tokio::task::spawn_blocking(move || {
            let mut flow = Vec::new();
            for event in &events {
                // Where deals stand is counted once, at the end.
                fold.apply(event, &mut flow, None);
            }
            for row in &flow {
                bulk.add_row(row);
            }
            // Closed versions never change again: written as they close.
            let closed = std::mem::take(&mut fold.closed);
            (fold, bulk, BulkRows { flow, closed })
        });
        let written = write_bulk_rows(db.dialect(), tx, self.pending.take()).await;
        let (fold, bulk, rows) = folding
            .await
            .map_err(|error| ProjectionError::FoldPanicked(error.to_string()))?;
        self.fold = fold;
        self.bulk = Some(bulk);
        self.pending = Some(rows);
        written
    }

    async fn finish_bulk(
        &mut self,
        db: &ReadDb,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), ProjectionError> {
        write_bulk_rows(db.dialect(), tx, self.pending.take()).await?;
        let dialect = db.dialect();
        let mut deals: Vec<&DealNow> = self.fold.deals.values().collect();
        deals.sort_unstable_by(|a, b| a.deal_id.cmp(&b.deal_id));
        write_deals(dialect, tx, &deals, "").await?;
        let open: Vec<(&DealNow, i64)> = deals.iter().map(|deal| (*deal, OPEN_END)).collect();
        write_history(dialect, tx, &open, "").await?;
        let bulk = self.bulk.take().unwrap_or_default();
        let name = |number: &u32| bulk.names.name(*number);
        // Rows go in in primary-key order: SQLite appends to the end of
        // the tree instead of splitting pages all over it.
        let mut daily: Vec<_> = bulk
            .daily
            .iter()
            .filter(|(_, sums)| !sums.is_zero())
            .map(|((a, b, c, d, day, rec_day), sums)| {
                ((name(a), name(b), name(c), name(d), *day, *rec_day), *sums)
            })
            .collect();
        daily.sort_unstable_by_key(|((process, stage, responsible, next, day, rec_day), _)| {
            (*process, *responsible, *rec_day, *day, *stage, *next)
        });
        let mut daily_all: Vec<_> = bulk
            .daily_all
            .iter()
            .filter(|(_, sums)| !sums.is_zero())
            .map(|((a, b, c, day, rec_day), sums)| {
                ((name(a), name(b), name(c), *day, *rec_day), *sums)
            })
            .collect();
        daily_all.sort_unstable_by_key(|((process, stage, next, day, rec_day), _)| {
            (*process, *rec_day, *day, *stage, *next)
        });
        let totals: Vec<_> = bulk
            .totals
            .iter()
            .filter(|(_, sums)| !sums.is_zero())
            .map(|((a, b, c, d), sums)| ((name(a), name(b), name(c), name(d)), *sums))
            .collect();
        write_sums(dialect, tx, &daily, &daily_all, &totals, false).await?;
        let mut counts: HashMap<CountKey, i64> = HashMap::new();
        for deal in self.fold.deals.values() {
            *counts.entry(deal.count_key()).or_default() += 1;
        }
        let counts: Vec<_> = counts.iter().collect();
        write_counts(dialect, tx, &counts, false).await?;
        let buckets: Vec<_> = bulk
            .exit_buckets
            .iter()
            .filter(|(_, exits)| **exits != 0)
            .map(|((process, stage, bucket), exits)| {
                ((name(process), name(stage), *bucket), *exits)
            })
            .collect();
        write_exit_buckets(dialect, tx, &buckets, false).await?;
        Ok(())
    }
}

/// The earliest recorded moment the deal reports know of: before the log
/// began when imported history reaches back further (imports count as known
/// at their original dates). `None` while no deal is known. One look at the
/// journal's `rec_at` index.
pub async fn earliest_known(db: &ReadDb) -> Result<Option<i64>, ProjectionError> {
    let row = sqlx::query("SELECT CAST(MIN(rec_at) AS BIGINT) FROM rm_flow_journal")
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?)
}

/// Replaces a deal's row with its new state.
const UPSERT_DEAL: &str = "ON CONFLICT (deal_id) DO UPDATE SET process = excluded.process, \
     process_version = excluded.process_version, stage = excluded.stage, \
     previous_stage = excluded.previous_stage, responsible = excluded.responsible, \
     title = excluded.title, company = excluded.company, contact = excluded.contact, \
     amount = excluded.amount, currency = excluded.currency, source = excluded.source, \
     expected_close_day = excluded.expected_close_day, loss_reason = excluded.loss_reason, \
     competitor = excluded.competitor, stage_entered_at = excluded.stage_entered_at, \
     stage_entered_rec = excluded.stage_entered_rec, last_touch_at = excluded.last_touch_at, \
     version = excluded.version, fields = excluded.fields, valid_from = excluded.valid_from";

/// The columns of `rm_deals`, which `rm_deals_history` shares (and adds
/// `valid_to`).
const DEAL_COLUMNS: [&str; 24] = [
    "deal_id",
    "process",
    "process_version",
    "stage",
    "previous_stage",
    "responsible",
    "title",
    "company",
    "contact",
    "amount",
    "currency",
    "source",
    "expected_close_day",
    "loss_reason",
    "competitor",
    "created_at",
    "created_rec",
    "created_position",
    "stage_entered_at",
    "stage_entered_rec",
    "last_touch_at",
    "version",
    "fields",
    "valid_from",
];

/// Binds a deal's row, its text borrowed from `deal` (no copies).
fn bind_deal<'q>(query: AnyQuery<'q>, deal: &'q DealNow) -> AnyQuery<'q> {
    let money = deal.money();
    query
        .bind(deal.deal_id.as_str())
        .bind(deal.process.as_str())
        .bind(deal.process_version)
        .bind(deal.stage.as_str())
        .bind(deal.previous_stage.as_deref())
        .bind(deal.responsible.as_str())
        .bind(deal.text_ref("title"))
        .bind(deal.text_ref("company"))
        .bind(deal.text_ref("contact"))
        .bind(money.map(|m| m.minor))
        .bind(money.map(|m| m.currency.to_string()))
        .bind(deal.text_ref("source"))
        .bind(deal.expected_close_day())
        .bind(deal.text_ref("loss_reason"))
        .bind(deal.text_ref("competitor"))
        .bind(deal.created_at)
        .bind(deal.created_rec)
        .bind(deal.created_position)
        .bind(deal.stage_entered_at)
        .bind(deal.stage_entered_rec)
        .bind(deal.last_touch_at)
        .bind(deal.version)
        .bind(serde_json::to_string(&deal.fields).unwrap_or_else(|_| "{}".into()))
        .bind(deal.valid_from)
}

/// Writes deal rows; `tail` is [`UPSERT_DEAL`], or empty into a fresh table.
async fn write_deals(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    rows: &[&DealNow],
    tail: &str,
) -> Result<(), ProjectionError> {
    insert_rows(
        tx,
        dialect,
        "rm_deals",
        &DEAL_COLUMNS,
        tail,
        rows,
        |query, deal| bind_deal(query, deal),
    )
    .await?;
    Ok(())
}

/// Replaces a version (the same deal and `valid_from`): a version written
/// open by an earlier batch is closed, or grows by events recorded at the
/// same moment.
const UPSERT_VERSION: &str = "ON CONFLICT (deal_id, valid_from) DO UPDATE SET \
     process = excluded.process, process_version = excluded.process_version, \
     stage = excluded.stage, previous_stage = excluded.previous_stage, \
     responsible = excluded.responsible, title = excluded.title, company = excluded.company, \
     contact = excluded.contact, amount = excluded.amount, currency = excluded.currency, \
     source = excluded.source, expected_close_day = excluded.expected_close_day, \
     loss_reason = excluded.loss_reason, competitor = excluded.competitor, \
     stage_entered_at = excluded.stage_entered_at, \
     stage_entered_rec = excluded.stage_entered_rec, last_touch_at = excluded.last_touch_at, \
     version = excluded.version, fields = excluded.fields, valid_to = excluded.valid_to";

/// Writes versions with their `valid_to`; `tail` is [`UPSERT_VERSION`], or
/// empty into a fresh table.
async fn write_history(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    rows: &[(&DealNow, i64)],
    tail: &str,
) -> Result<(), ProjectionError> {
    let columns: Vec<&str> = DEAL_COLUMNS.iter().copied().chain(["valid_to"]).collect();
    insert_rows(
        tx,
        dialect,
        "rm_deals_history",
        &columns,
        tail,
        rows,
        |query, (deal, valid_to)| bind_deal(query, deal).bind(*valid_to),
    )
    .await?;
    Ok(())
}

async fn write_journal(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    flow: &[FlowRow],
) -> Result<(), ProjectionError> {
    insert_rows(
        tx,
        dialect,
        "rm_flow_journal",
        &[
            "position",
            "seq",
            "deal_id",
            "process",
            "stage",
            "responsible",
            "next_stage",
            "at",
            "rec_at",
            "entered",
            "exited",
            "seconds",
            "held",
            "amount",
            "entered_amount",
        ],
        "",
        flow,
        |query, row| {
            query
                .bind(row.position)
                .bind(row.seq)
                .bind(row.deal_id.as_str())
                .bind(row.process.as_str())
                .bind(row.stage.as_str())
                .bind(row.responsible.as_str())
                .bind(row.next_stage.as_str())
                .bind(row.at)
                .bind(row.rec_at)
                .bind(row.entered)
                .bind(row.exited)
                .bind(row.seconds)
                .bind(row.held)
                .bind(row.amount)
                .bind(row.entered_amount)
        },
    )
    .await?;
    Ok(())
}

/// The figure columns every flow table sums, in `FlowSums` order.
const FLOW_FIGURES: [&str; 6] = [
    "entered",
    "exited",
    "seconds",
    "held",
    "amount",
    "entered_amount",
];

/// `figure = table.figure + excluded.figure` for every figure: an upsert that
/// adds a batch's sums to what the table holds.
fn add_figures(table: &str, key: &str) -> String {
    let sets: Vec<String> = FLOW_FIGURES
        .iter()
        .map(|f| format!("{f} = {table}.{f} + excluded.{f}"))
        .collect();
    format!("ON CONFLICT ({key}) DO UPDATE SET {}", sets.join(", "))
}

fn bind_figures<'q>(query: AnyQuery<'q>, s: &FlowSums) -> AnyQuery<'q> {
    query
        .bind(s.entered)
        .bind(s.exited)
        .bind(s.seconds)
        .bind(s.held)
        .bind(s.amount)
        .bind(s.entered_amount)
}

/// Adds to (or, into a fresh table, writes) deals per place they stand.
async fn write_counts(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    counts: &[(&CountKey, &i64)],
    add: bool,
) -> Result<(), ProjectionError> {
    let tail = if add {
        "ON CONFLICT (process, stage, previous_stage, loss_reason, responsible) \
         DO UPDATE SET deals = rm_deal_counts.deals + excluded.deals"
    } else {
        ""
    };
    insert_rows(
        tx,
        dialect,
        "rm_deal_counts",
        &[
            "process",
            "stage",
            "previous_stage",
            "loss_reason",
            "responsible",
            "deals",
        ],
        tail,
        counts,
        |query, ((process, stage, previous, reason, responsible), deals)| {
            query
                .bind(process.as_str())
                .bind(stage.as_str())
                .bind(previous.as_str())
                .bind(reason.as_str())
                .bind(responsible.as_str())
                .bind(**deals)
        },
    )
    .await?;
    Ok(())
}

/// Adds to (or, into a fresh table, writes) exits per time bucket.
async fn write_exit_buckets(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    buckets: &[((&str, &str, i64), i64)],
    add: bool,
) -> Result<(), ProjectionError> {
    let tail = if add {
        "ON CONFLICT (process, stage, bucket) DO UPDATE SET exits = rm_exit_buckets.exits + excluded.exits"
    } else {
        ""
    };
    insert_rows(
        tx,
        dialect,
        "rm_exit_buckets",
        &["process", "stage", "bucket", "exits"],
        tail,
        buckets,
        |query, ((process, stage, bucket), exits)| {
            query.bind(*process).bind(*stage).bind(*bucket).bind(*exits)
        },
    )
    .await?;
    Ok(())
}

/// A batch's flow summed per key of each sum table.
#[derive(Debug, Default)]
struct BatchSums<'a> {
    daily: BTreeMap<DailyKey<&'a str>, FlowSums>,
    daily_all: BTreeMap<DailyAllKey<&'a str>, FlowSums>,
    totals: BTreeMap<TotalsKey<&'a str>, FlowSums>,
    exit_buckets: BTreeMap<(&'a str, &'a str, i64), i64>,
}

fn sum_flow(flow: &[FlowRow]) -> BatchSums<'_> {
    let mut sums = BatchSums::default();
    for row in flow {
        let (process, stage, responsible, next) = (
            row.process.as_str(),
            row.stage.as_str(),
            row.responsible.as_str(),
            row.next_stage.as_str(),
        );
        let (day, rec_day) = (day_of(row.at), day_of(row.rec_at));
        sums.daily
            .entry((process, stage, responsible, next, day, rec_day))
            .or_default()
            .add_row(row);
        sums.daily_all
            .entry((process, stage, next, day, rec_day))
            .or_default()
            .add_row(row);
        sums.totals
            .entry((process, stage, responsible, next))
            .or_default()
            .add_row(row);
        if row.exited != 0 {
            *sums
                .exit_buckets
                .entry((process, stage, exit_bucket(row.seconds)))
                .or_default() += row.exited;
        }
    }
    sums
}

/// The bucket of `rm_exit_buckets` a time in stage falls in: minutes below
/// an hour, hours below a week, then days — a few hundred buckets, ordered
/// as the seconds are.
pub fn exit_bucket(seconds: i64) -> i64 {
    let seconds = seconds.max(0);
    if seconds < 3_600 {
        seconds / 60
    } else if seconds < 7 * 86_400 {
        60 + seconds / 3_600
    } else {
        228 + seconds / 86_400
    }
}

/// The fewest seconds a time in `bucket` can be ([`exit_bucket`] reversed).
pub fn exit_bucket_floor(bucket: i64) -> i64 {
    if bucket < 60 {
        bucket * 60
    } else if bucket < 228 {
        (bucket - 60) * 3_600
    } else {
        (bucket - 228) * 86_400
    }
}

/// Writes sums to the daily and all-time tables: added to what they hold
/// (`add`), or as new rows into fresh tables.
async fn write_sums(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    daily: &[(DailyKey<&str>, FlowSums)],
    daily_all: &[(DailyAllKey<&str>, FlowSums)],
    totals: &[(TotalsKey<&str>, FlowSums)],
    add: bool,
) -> Result<(), ProjectionError> {
    let key_columns = ["process", "stage", "responsible", "next_stage"];
    let columns: Vec<&str> = key_columns
        .iter()
        .chain(&["day", "rec_day"])
        .chain(&FLOW_FIGURES)
        .copied()
        .collect();
    let tail = if add {
        add_figures(
            "rm_flow_daily",
            "process, rec_day, day, stage, responsible, next_stage",
        )
    } else {
        String::new()
    };
    insert_rows(
        tx,
        dialect,
        "rm_flow_daily",
        &columns,
        &tail,
        daily,
        |query, ((process, stage, responsible, next, day, rec_day), sums)| {
            let query = query
                .bind(*process)
                .bind(*stage)
                .bind(*responsible)
                .bind(*next)
                .bind(*day)
                .bind(*rec_day);
            bind_figures(query, sums)
        },
    )
    .await?;
    let columns: Vec<&str> = ["process", "stage", "next_stage", "day", "rec_day"]
        .iter()
        .chain(&FLOW_FIGURES)
        .copied()
        .collect();
    let tail = if add {
        add_figures(
            "rm_flow_daily_all",
            "process, rec_day, day, stage, next_stage",
        )
    } else {
        String::new()
    };
    insert_rows(
        tx,
        dialect,
        "rm_flow_daily_all",
        &columns,
        &tail,
        daily_all,
        |query, ((process, stage, next, day, rec_day), sums)| {
            let query = query
                .bind(*process)
                .bind(*stage)
                .bind(*next)
                .bind(*day)
                .bind(*rec_day);
            bind_figures(query, sums)
        },
    )
    .await?;
    let columns: Vec<&str> = key_columns.iter().chain(&FLOW_FIGURES).copied().collect();
    let tail = if add {
        add_figures("rm_flow_totals", "process, stage, responsible, next_stage")
    } else {
        String::new()
    };
    insert_rows(
        tx,
        dialect,
        "rm_flow_totals",
        &columns,
        &tail,
        totals,
        |query, ((process, stage, responsible, next), sums)| {
            let query = query
                .bind(*process)
                .bind(*stage)
                .bind(*responsible)
                .bind(*next);
            bind_figures(query, sums)
        },
    )
    .await?;
    Ok(())
}
