//! The `deals` projection: every deal's current row, and the flow of deals
//! through stages — the tables the funnel, the forecast, forgotten deals and
//! the report builder's `deals` and `stage_changes` sources are read from.
//!
//! Tables:
//! - `rm_deals`: one row per deal as it stands now.
//! - `rm_flow_journal`: one row per change to a stage's figures (a deal
//!   entered, left for another stage, changed hands, changed amount), with
//!   both its time (`at`, what reports count by) and the time it was
//!   recorded (`rec_at`, what `as_of` cuts by).
//! - `rm_flow_daily`: the journal summed per stage, responsible, next stage,
//!   day it happened and day it was recorded — what a report over a period
//!   or as of a past day sums.
//! - `rm_flow_totals`: the journal summed per stage, responsible and next
//!   stage over all time — the current funnel in a few thousand rows.
//!
//! The fold keeps every deal's current row in memory (loaded from `rm_deals`
//! on start), so a batch reads nothing from the database.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
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

const TABLES: &[Table] = &[
    Table {
        name: "rm_deals",
        create: &[
            "CREATE TABLE IF NOT EXISTS rm_deals (
                deal_id TEXT PRIMARY KEY,
                process TEXT NOT NULL,
                process_version BIGINT NOT NULL,
                stage TEXT NOT NULL,
                previous_stage TEXT,
                responsible TEXT NOT NULL,
                title TEXT,
                company TEXT,
                contact TEXT,
                amount BIGINT,
                currency TEXT,
                source TEXT,
                expected_close_day BIGINT,
                loss_reason TEXT,
                competitor TEXT,
                created_at BIGINT NOT NULL,
                created_rec BIGINT NOT NULL,
                created_position BIGINT NOT NULL,
                stage_entered_at BIGINT NOT NULL,
                stage_entered_rec BIGINT NOT NULL,
                last_touch_at BIGINT NOT NULL,
                version BIGINT NOT NULL,
                fields TEXT NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS rm_deals_stage ON rm_deals (process, stage)",
            "CREATE INDEX IF NOT EXISTS rm_deals_responsible ON rm_deals (responsible, process)",
            "CREATE INDEX IF NOT EXISTS rm_deals_touch ON rm_deals (process, last_touch_at)",
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
            "CREATE INDEX IF NOT EXISTS rm_flow_journal_exits ON rm_flow_journal (process, stage, exited, seconds)",
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
                PRIMARY KEY (process, rec_day, day, stage, responsible, next_stage)
            )",
        ],
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
}

impl DealNow {
    fn text(&self, name: &str) -> Option<String> {
        self.fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn money(&self) -> Option<Money> {
        self.fields
            .get("amount")
            .and_then(|v| serde_json::from_value::<Money>(v.clone()).ok())
    }

    /// The amount in minor units (0 when none is set).
    pub fn amount_minor(&self) -> i64 {
        self.money().map_or(0, |m| m.minor)
    }

    fn expected_close_day(&self) -> Option<i64> {
        self.text("expected_close_date")
            .and_then(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
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
    pub fn add_row(&mut self, row: &FlowRow) {
        self.entered += row.entered;
        self.exited += row.exited;
        self.seconds += row.seconds;
        self.held += row.held;
        self.amount += row.amount;
        self.entered_amount += row.entered_amount;
    }
}

/// The pure fold: deal rows and the flow rows each event produces. Kept
/// apart from the SQL so tests can run it over generated histories.
#[derive(Debug, Default)]
pub struct DealFold {
    pub deals: HashMap<String, DealNow>,
    /// Events that could not be read (a newer writer or a bug).
    pub skipped: u64,
}

impl DealFold {
    /// Folds one event; returns the deal it touched, if any.
    pub fn apply(&mut self, event: &RecordedEvent, flow: &mut Vec<FlowRow>) -> Option<String> {
        let id = deal_id_of_stream(event.stream_id.as_str())?;
        let Ok(stored) = event.payload.parse::<StoredDealEvent>() else {
            self.skipped += 1;
            return None;
        };
        let deal_id = id.to_string();
        let at = micros(event.effective_time());
        let rec_at = micros(event.recorded_at);
        let position = event.position.0 as i64;
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
            };
            flow.push(row(
                &deal,
                stage,
                "",
                FlowSums {
                    entered: 1,
                    held: 1,
                    ..FlowSums::default()
                },
            ));
            self.deals.insert(deal_id.clone(), deal);
            return Some(deal_id);
        }
        let Some(deal) = self.deals.get_mut(&deal_id) else {
            self.skipped += 1;
            return None;
        };
        deal.version = event.stream_version.0 as i64;
        match stored {
            StoredDealEvent::DealStarted { .. } => {}
            StoredDealEvent::DealStageChanged { from: _, to, .. } => {
                let amount = deal.amount_minor();
                let from = deal.stage.clone();
                flow.push(row(
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
                ));
                flow.push(row(
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
                ));
                deal.previous_stage = Some(from);
                deal.stage = to;
                deal.stage_entered_at = at;
                deal.stage_entered_rec = rec_at;
                deal.last_touch_at = deal.last_touch_at.max(at);
            }
            StoredDealEvent::DealFieldSet { field, value, .. } => {
                let before_amount = deal.amount_minor();
                let before_responsible = deal.responsible.clone();
                match value {
                    Some(value) if !value.is_null() => {
                        deal.fields.insert(field.clone(), value);
                    }
                    _ => {
                        deal.fields.remove(&field);
                    }
                }
                let responsible = deal.text("responsible").unwrap_or_default();
                let amount = deal.amount_minor();
                let stage = deal.stage.clone();
                if responsible != before_responsible {
                    // Hand the deal over: it leaves the old responsible's
                    // figures and joins the new one's, counted neither as an
                    // exit nor as an entry — except that a new deal's entry
                    // into its first stage belongs to its first responsible
                    // (a deal is started, then its fields are set).
                    let first_assignment =
                        before_responsible == NOBODY && deal.previous_stage.is_none();
                    let entry = i64::from(first_assignment);
                    let mut old = deal.clone();
                    old.responsible = before_responsible;
                    flow.push(row(
                        &old,
                        &stage,
                        "",
                        FlowSums {
                            entered: -entry,
                            held: -1,
                            amount: -before_amount,
                            entered_amount: -entry * before_amount,
                            ..FlowSums::default()
                        },
                    ));
                    deal.responsible = responsible;
                    flow.push(row(
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
                    ));
                } else if amount != before_amount {
                    flow.push(row(
                        deal,
                        &stage,
                        "",
                        FlowSums {
                            amount: amount - before_amount,
                            ..FlowSums::default()
                        },
                    ));
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
                flow.push(row(
                    deal,
                    &old_stage,
                    "",
                    FlowSums {
                        held: -1,
                        amount: -amount,
                        ..FlowSums::default()
                    },
                ));
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
                flow.push(row(
                    deal,
                    &stage,
                    "",
                    FlowSums {
                        held: 1,
                        amount: deal.amount_minor(),
                        ..FlowSums::default()
                    },
                ));
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
#[derive(Debug, Default)]
pub struct DealsProjection {
    fold: DealFold,
}

impl DealsProjection {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Projection for DealsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    fn tables(&self) -> &'static [Table] {
        TABLES
    }

    fn reset(&mut self) {
        self.fold = DealFold::default();
    }

    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        let rows = sqlx::query(
            "SELECT deal_id, process, process_version, stage, previous_stage, responsible, \
             created_at, created_rec, created_position, stage_entered_at, stage_entered_rec, \
             last_touch_at, version, fields FROM rm_deals",
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
        let mut touched = Vec::new();
        for event in events {
            if let Some(deal) = self.fold.apply(event, &mut flow) {
                touched.push(deal);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let dialect = db.dialect();
        write_deals(dialect, tx, &self.fold.deals, &touched).await?;
        write_journal(dialect, tx, &flow).await?;
        write_sums(dialect, tx, &flow).await?;
        Ok(())
    }
}

async fn write_deals(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    deals: &HashMap<String, DealNow>,
    touched: &[String],
) -> Result<(), ProjectionError> {
    let rows: Vec<&DealNow> = touched.iter().filter_map(|id| deals.get(id)).collect();
    insert_rows(
        tx,
        dialect,
        "rm_deals",
        &[
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
        ],
        "ON CONFLICT (deal_id) DO UPDATE SET process = excluded.process, \
         process_version = excluded.process_version, stage = excluded.stage, \
         previous_stage = excluded.previous_stage, responsible = excluded.responsible, \
         title = excluded.title, company = excluded.company, contact = excluded.contact, \
         amount = excluded.amount, currency = excluded.currency, source = excluded.source, \
         expected_close_day = excluded.expected_close_day, loss_reason = excluded.loss_reason, \
         competitor = excluded.competitor, stage_entered_at = excluded.stage_entered_at, \
         stage_entered_rec = excluded.stage_entered_rec, last_touch_at = excluded.last_touch_at, \
         version = excluded.version, fields = excluded.fields",
        &rows,
        |query, deal| {
            let money = deal.money();
            query
                .bind(deal.deal_id.clone())
                .bind(deal.process.clone())
                .bind(deal.process_version)
                .bind(deal.stage.clone())
                .bind(deal.previous_stage.clone())
                .bind(deal.responsible.clone())
                .bind(deal.text("title"))
                .bind(deal.text("company"))
                .bind(deal.text("contact"))
                .bind(money.map(|m| m.minor))
                .bind(money.map(|m| m.currency.to_string()))
                .bind(deal.text("source"))
                .bind(deal.expected_close_day())
                .bind(deal.text("loss_reason"))
                .bind(deal.text("competitor"))
                .bind(deal.created_at)
                .bind(deal.created_rec)
                .bind(deal.created_position)
                .bind(deal.stage_entered_at)
                .bind(deal.stage_entered_rec)
                .bind(deal.last_touch_at)
                .bind(deal.version)
                .bind(serde_json::to_string(&deal.fields).unwrap_or_else(|_| "{}".into()))
        },
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
                .bind(row.deal_id.clone())
                .bind(row.process.clone())
                .bind(row.stage.clone())
                .bind(row.responsible.clone())
                .bind(row.next_stage.clone())
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

/// Adds the batch's flow to the daily buckets (keyed also by the day it
/// happened and the day it was recorded) and to the all-time totals.
async fn write_sums(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    flow: &[FlowRow],
) -> Result<(), ProjectionError> {
    let mut daily: BTreeMap<(&str, &str, &str, &str, i64, i64), FlowSums> = BTreeMap::new();
    let mut totals: BTreeMap<(&str, &str, &str, &str), FlowSums> = BTreeMap::new();
    for row in flow {
        let key = (
            row.process.as_str(),
            row.stage.as_str(),
            row.responsible.as_str(),
            row.next_stage.as_str(),
        );
        daily
            .entry((
                key.0,
                key.1,
                key.2,
                key.3,
                day_of(row.at),
                day_of(row.rec_at),
            ))
            .or_default()
            .add_row(row);
        totals.entry(key).or_default().add_row(row);
    }
    let key_columns = ["process", "stage", "responsible", "next_stage"];
    let daily: Vec<_> = daily.into_iter().collect();
    let columns: Vec<&str> = key_columns
        .iter()
        .chain(&["day", "rec_day"])
        .chain(&FLOW_FIGURES)
        .copied()
        .collect();
    insert_rows(
        tx,
        dialect,
        "rm_flow_daily",
        &columns,
        &add_figures(
            "rm_flow_daily",
            "process, rec_day, day, stage, responsible, next_stage",
        ),
        &daily,
        |query, ((process, stage, responsible, next, day, rec_day), sums)| {
            let query = query
                .bind((*process).to_owned())
                .bind((*stage).to_owned())
                .bind((*responsible).to_owned())
                .bind((*next).to_owned())
                .bind(*day)
                .bind(*rec_day);
            bind_figures(query, sums)
        },
    )
    .await?;
    let totals: Vec<_> = totals.into_iter().collect();
    let columns: Vec<&str> = key_columns.iter().chain(&FLOW_FIGURES).copied().collect();
    insert_rows(
        tx,
        dialect,
        "rm_flow_totals",
        &columns,
        &add_figures("rm_flow_totals", "process, stage, responsible, next_stage"),
        &totals,
        |query, ((process, stage, responsible, next), sums)| {
            let query = query
                .bind((*process).to_owned())
                .bind((*stage).to_owned())
                .bind((*responsible).to_owned())
                .bind((*next).to_owned());
            bind_figures(query, sums)
        },
    )
    .await?;
    Ok(())
}
