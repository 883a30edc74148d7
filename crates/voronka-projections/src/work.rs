//! The `work` projection: what managers did — activities, documents,
//! payments, new contacts — and the plans heads set for them. The tables
//! plan-vs-fact, my-counters, control and the rating read.
//!
//! Tables:
//! - `rm_activities`: one row per activity as it stands (control reports:
//!   overdue, today and tomorrow, workload).
//! - `rm_activities_history`: every version of every activity's row with
//!   the recorded-time interval `[valid_from, valid_to)` it was current in
//!   (`valid_to` = [`OPEN_END`] for the current one): the control reports as
//!   of a past moment read it with an interval condition.
//! - `rm_documents`, `rm_payments`: documents as they stand, payments once each.
//! - `rm_counters_journal`: one row per counted fact (a call made, a
//!   proposal sent...), with when it happened (`at`) and when it was
//!   recorded (`rec_at`); `rm_counters_daily`: the journal summed per
//!   metric, user, day and recorded day. A count over a period as of a past
//!   moment sums whole recorded days from the daily table and that
//!   moment's own day from the journal, as the `deals` projection does.
//!   `rm_counters_monthly`: the facts as recorded so far summed per
//!   calendar month they happened in, user and metric — what a current
//!   count over whole months reads (a month of 100 managers is 300 rows
//!   instead of 6,600 daily ones).
//! - `rm_plans`: every change of a plan's target, so the plan as of a past
//!   moment is the newest change recorded by then.
//!
//! A fact belongs to whoever was responsible when it happened: reassigning
//! a completed call later does not move it.
//! Deals won and revenue won are not counted here: they are the entries
//! into won stages in the `deals` projection's flow tables, read at query
//! time with the stage kinds of the process definitions.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sqlx::{Any, Row, Transaction};
use voronka_core::RecordedEvent;
use voronka_crm::activity::{Activity, ActivityEvent, Direction};
use voronka_crm::contact::{Contact, ContactEvent};
use voronka_crm::document::{Document, DocumentEvent, DocumentStatus};
use voronka_crm::plan::{Plan, PlanEvent, PlanMetric};
use voronka_crm::{decode_event, Aggregate};
use voronka_process::{ActivityKind, ActivityStatus, DocumentKind};

use crate::db::{insert_rows, Dialect};
use crate::time::{day_number, micros};
use crate::{Projection, ProjectionError, ReadDb, Table};

pub const NAME: &str = "work";

/// Call outcomes (of the `call_outcome` dictionary) that mean the client
/// was on the line: `reached`, and also `callback` and `not_interested`,
/// since both are said by the client.
pub const REACHED_OUTCOMES: &[&str] = &["reached", "callback", "not_interested"];

/// Counter metrics besides the plan metrics counted here.
pub mod metric {
    /// Times a planned activity was moved.
    pub const RESCHEDULES: &str = "reschedules";
    /// Payments registered on invoices (count and sum).
    pub const PAYMENTS_RECEIVED: &str = "payments_received";
}

/// The plan metrics this projection counts (the other two come from deals).
pub const COUNTED_METRICS: [PlanMetric; 6] = [
    PlanMetric::CallsMade,
    PlanMetric::CallsReached,
    PlanMetric::MeetingsHeld,
    PlanMetric::ProposalsSent,
    PlanMetric::InvoicesIssued,
    PlanMetric::NewContacts,
];

/// A removed target in `rm_plans`.
pub const REMOVED_TARGET: i64 = -1;

/// `valid_to` of a version that is still current.
pub const OPEN_END: i64 = i64::MAX;

/// The columns `rm_activities` and `rm_activities_history` share after
/// `activity_id`, written once for both CREATE TABLEs.
macro_rules! activity_row_columns {
    () => {
        "kind TEXT NOT NULL, direction TEXT NOT NULL, status TEXT NOT NULL, \
         outcome TEXT NOT NULL, subject TEXT NOT NULL, responsible TEXT NOT NULL, \
         deal_id TEXT NOT NULL, due_at BIGINT, planned_start BIGINT, \
         completed_at BIGINT, closed_rec BIGINT, reschedule_count BIGINT NOT NULL, \
         created_at BIGINT NOT NULL, created_rec BIGINT NOT NULL, \
         version BIGINT NOT NULL, valid_from BIGINT NOT NULL"
    };
}

const TABLES: &[Table] = &[
    Table {
        name: "rm_activities",
        create: &[
            concat!(
                "CREATE TABLE IF NOT EXISTS rm_activities (activity_id TEXT PRIMARY KEY, ",
                activity_row_columns!(),
                ")"
            ),
            "CREATE INDEX IF NOT EXISTS rm_activities_due ON rm_activities (status, due_at)",
            "CREATE INDEX IF NOT EXISTS rm_activities_responsible ON rm_activities (responsible, status, due_at)",
        ],
    },
    Table {
        name: "rm_activities_history",
        create: &[
            concat!(
                "CREATE TABLE IF NOT EXISTS rm_activities_history (activity_id TEXT NOT NULL, ",
                activity_row_columns!(),
                ", valid_to BIGINT NOT NULL, PRIMARY KEY (activity_id, valid_from))"
            ),
            // Planned as of T: the versions of that status still current
            // after T are one range, whatever happened long before.
            "CREATE INDEX IF NOT EXISTS rm_activities_history_as_of ON rm_activities_history \
             (status, valid_to, due_at, valid_from, responsible)",
        ],
    },
    Table {
        name: "rm_documents",
        create: &[
            "CREATE TABLE IF NOT EXISTS rm_documents (
                document_id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                deal_id TEXT NOT NULL,
                number TEXT NOT NULL,
                status TEXT NOT NULL,
                responsible TEXT NOT NULL,
                currency TEXT NOT NULL,
                gross BIGINT NOT NULL,
                paid BIGINT NOT NULL,
                sent_at BIGINT,
                created_at BIGINT NOT NULL,
                created_rec BIGINT NOT NULL,
                version BIGINT NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS rm_documents_deal ON rm_documents (deal_id)",
        ],
    },
    Table {
        name: "rm_payments",
        create: &["CREATE TABLE IF NOT EXISTS rm_payments (
                document_id TEXT NOT NULL,
                payment_id TEXT NOT NULL,
                deal_id TEXT NOT NULL,
                responsible TEXT NOT NULL,
                currency TEXT NOT NULL,
                amount BIGINT NOT NULL,
                paid_day BIGINT NOT NULL,
                at BIGINT NOT NULL,
                rec_at BIGINT NOT NULL,
                PRIMARY KEY (document_id, payment_id)
            )"],
    },
    Table {
        name: "rm_counters_journal",
        create: &[
            "CREATE TABLE IF NOT EXISTS rm_counters_journal (
                position BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                metric TEXT NOT NULL,
                user_id TEXT NOT NULL,
                at BIGINT NOT NULL,
                rec_at BIGINT NOT NULL,
                count BIGINT NOT NULL,
                total BIGINT NOT NULL,
                PRIMARY KEY (position, seq)
            )",
            "CREATE INDEX IF NOT EXISTS rm_counters_journal_rec ON rm_counters_journal (rec_at)",
        ],
    },
    Table {
        name: "rm_counters_daily",
        create: &[
            "CREATE TABLE IF NOT EXISTS rm_counters_daily (
                metric TEXT NOT NULL,
                user_id TEXT NOT NULL,
                day BIGINT NOT NULL,
                rec_day BIGINT NOT NULL,
                count BIGINT NOT NULL,
                total BIGINT NOT NULL,
                PRIMARY KEY (metric, user_id, day, rec_day)
            )",
            // Plan-vs-fact sums a period for many users at once: a covering
            // range over the period's days, not a scan of the whole year.
            "CREATE INDEX IF NOT EXISTS rm_counters_daily_day ON rm_counters_daily \
             (day, user_id, metric, rec_day, count, total)",
        ],
    },
    Table {
        name: "rm_counters_monthly",
        // Keyed month first: a month's facts for every user are one range,
        // in the order plan-vs-fact groups them.
        create: &["CREATE TABLE IF NOT EXISTS rm_counters_monthly (
                month BIGINT NOT NULL,
                user_id TEXT NOT NULL,
                metric TEXT NOT NULL,
                count BIGINT NOT NULL,
                total BIGINT NOT NULL,
                PRIMARY KEY (month, user_id, metric)
            )"],
    },
    Table {
        name: "rm_plans",
        create: &[
            "CREATE TABLE IF NOT EXISTS rm_plans (
                position BIGINT NOT NULL,
                metric TEXT NOT NULL,
                plan_id TEXT NOT NULL,
                scope_kind TEXT NOT NULL,
                scope_id TEXT NOT NULL,
                period_kind TEXT NOT NULL,
                period_start BIGINT NOT NULL,
                period_end BIGINT NOT NULL,
                target BIGINT NOT NULL,
                set_by TEXT NOT NULL,
                rec_at BIGINT NOT NULL,
                PRIMARY KEY (position, metric)
            )",
            "CREATE INDEX IF NOT EXISTS rm_plans_period ON rm_plans (period_kind, period_start)",
            // The newest change of each plan's metric as of a moment.
            "CREATE INDEX IF NOT EXISTS rm_plans_latest ON rm_plans (plan_id, metric, position, rec_at)",
        ],
    },
];

/// An activity as `rm_activities` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityNow {
    pub activity_id: String,
    pub kind: String,
    /// `incoming`, `outgoing` or empty.
    pub direction: String,
    pub status: String,
    /// Empty when none.
    pub outcome: String,
    pub subject: String,
    pub responsible: String,
    /// Empty when not linked to a deal.
    pub deal_id: String,
    pub due_at: Option<i64>,
    pub planned_start: Option<i64>,
    pub completed_at: Option<i64>,
    /// When it was recorded done or cancelled.
    pub closed_rec: Option<i64>,
    pub reschedule_count: i64,
    pub created_at: i64,
    pub created_rec: i64,
    pub version: i64,
    /// When this version became current (recorded time).
    pub valid_from: i64,
}

/// A document as `rm_documents` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentNow {
    pub document_id: String,
    pub kind: String,
    pub deal_id: String,
    pub number: String,
    pub status: String,
    pub responsible: String,
    pub currency: String,
    pub gross: i64,
    pub paid: i64,
    /// When it was sent (issued, for an invoice).
    pub sent_at: Option<i64>,
    pub created_at: i64,
    pub created_rec: i64,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub document_id: String,
    pub payment_id: String,
    pub deal_id: String,
    pub responsible: String,
    pub currency: String,
    pub amount: i64,
    pub paid_day: i64,
    pub at: i64,
    pub rec_at: i64,
}

/// One counted fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRow {
    pub position: i64,
    pub seq: i64,
    pub metric: String,
    pub user_id: String,
    pub at: i64,
    pub rec_at: i64,
    pub count: i64,
    /// Money counted with it (a proposal's gross), minor units; else 0.
    pub total: i64,
}

/// One change of one target of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    pub position: i64,
    pub metric: String,
    pub plan_id: String,
    pub scope_kind: String,
    pub scope_id: String,
    pub period_kind: String,
    pub period_start: i64,
    pub period_end: i64,
    /// [`REMOVED_TARGET`] when the target was removed.
    pub target: i64,
    pub set_by: String,
    pub rec_at: i64,
}

/// What one batch changed.
#[derive(Debug, Default)]
pub struct WorkChanges {
    pub activities: Vec<String>,
    pub documents: Vec<String>,
    pub payments: Vec<PaymentRow>,
    pub counters: Vec<CounterRow>,
    pub plans: Vec<PlanRow>,
}

/// The pure fold, kept apart from the SQL so tests can run it over
/// generated histories.
#[derive(Debug, Default)]
pub struct WorkFold {
    pub activities: HashMap<String, ActivityNow>,
    pub documents: HashMap<String, DocumentNow>,
    /// Every plan's current targets by metric name.
    pub plans: HashMap<String, BTreeMap<String, i64>>,
    /// Events of our categories that could not be read.
    pub skipped: u64,
    /// Whether to keep the versions activities leave behind in
    /// [`WorkFold::closed_activities`].
    pub keep_history: bool,
    /// Activity versions that stopped being current, each with the moment
    /// it stopped (its `valid_to`).
    pub closed_activities: Vec<(ActivityNow, i64)>,
}

impl WorkFold {
    /// Folds one event (events of other categories are ignored).
    pub fn apply(&mut self, event: &RecordedEvent, changes: &mut WorkChanges) {
        let Some((category, id)) = event.stream_id.as_str().split_once('-') else {
            return;
        };
        let ok = match category {
            Activity::CATEGORY => self.apply_activity(id, event, changes),
            Document::CATEGORY => self.apply_document(id, event, changes),
            Contact::CATEGORY => self.apply_contact(event, changes),
            Plan::CATEGORY => self.apply_plan(id, event, changes),
            _ => true,
        };
        if !ok {
            self.skipped += 1;
        }
    }

    fn apply_activity(
        &mut self,
        id: &str,
        event: &RecordedEvent,
        changes: &mut WorkChanges,
    ) -> bool {
        let Ok(decoded) = decode_event::<Activity>(event.payload.as_str()) else {
            return false;
        };
        let at = micros(event.effective_time());
        let rec_at = micros(event.recorded_at);
        let mut count = Counting::new(event, changes);
        let version = event.stream_version.0 as i64;
        match decoded {
            ActivityEvent::ActivityPlanned { data }
            | ActivityEvent::ActivityLogged { data, .. }
                if self.activities.contains_key(id) =>
            {
                let _ = data;
                return false;
            }
            ActivityEvent::ActivityPlanned { data } => {
                let row = new_activity(id, &data, at, rec_at, version);
                self.activities.insert(id.to_owned(), row);
            }
            ActivityEvent::ActivityLogged {
                data,
                outcome,
                completed_at,
                ..
            } => {
                let mut row = new_activity(id, &data, at, rec_at, version);
                row.status = ActivityStatus::Done.as_str().to_owned();
                row.outcome = outcome.unwrap_or_default();
                row.completed_at = Some(micros(completed_at));
                row.closed_rec = Some(rec_at);
                count.completion(&row);
                self.activities.insert(id.to_owned(), row);
            }
            other => {
                let Some(row) = self.activities.get_mut(id) else {
                    return false;
                };
                let known = rec_at.max(row.valid_from);
                if known > row.valid_from {
                    if self.keep_history {
                        self.closed_activities.push((row.clone(), known));
                    }
                    row.valid_from = known;
                }
                row.version = version;
                match other {
                    ActivityEvent::ActivityPlanned { .. }
                    | ActivityEvent::ActivityLogged { .. } => {}
                    ActivityEvent::ActivityCompleted {
                        outcome,
                        completed_at,
                        ..
                    } => {
                        row.status = ActivityStatus::Done.as_str().to_owned();
                        row.outcome = outcome.unwrap_or_default();
                        row.completed_at = Some(micros(completed_at));
                        row.closed_rec = Some(rec_at);
                        count.completion(row);
                    }
                    ActivityEvent::ActivityCancelled { .. } => {
                        row.status = ActivityStatus::Cancelled.as_str().to_owned();
                        row.closed_rec = Some(rec_at);
                    }
                    ActivityEvent::ActivityRescheduled {
                        to_due,
                        to_start,
                        reschedule_count,
                        ..
                    } => {
                        row.due_at = Some(micros(to_due));
                        row.planned_start = to_start.map(micros);
                        row.reschedule_count = i64::from(reschedule_count);
                        count.add(metric::RESCHEDULES, &row.responsible, 0);
                    }
                    ActivityEvent::ActivityReassigned { to, .. } => {
                        row.responsible = to.to_string();
                    }
                    ActivityEvent::ActivityRelinked { deal, .. } => {
                        row.deal_id = deal.map(|d| d.to_string()).unwrap_or_default();
                    }
                    ActivityEvent::ActivityReminded { .. } => {}
                }
            }
        }
        changes.activities.push(id.to_owned());
        true
    }

    fn apply_document(
        &mut self,
        id: &str,
        event: &RecordedEvent,
        changes: &mut WorkChanges,
    ) -> bool {
        let Ok(decoded) = decode_event::<Document>(event.payload.as_str()) else {
            return false;
        };
        let at = micros(event.effective_time());
        let rec_at = micros(event.recorded_at);
        let version = event.stream_version.0 as i64;
        if let DocumentEvent::DocumentCreated {
            kind,
            deal,
            number,
            currency,
            totals,
            responsible,
            ..
        } = &decoded
        {
            if self.documents.contains_key(id) {
                return false;
            }
            self.documents.insert(
                id.to_owned(),
                DocumentNow {
                    document_id: id.to_owned(),
                    kind: kind.as_str().to_owned(),
                    deal_id: deal.to_string(),
                    number: number.clone(),
                    status: DocumentStatus::Draft.as_str().to_owned(),
                    responsible: responsible.to_string(),
                    currency: currency.to_string(),
                    gross: totals.gross.minor,
                    paid: 0,
                    sent_at: None,
                    created_at: at,
                    created_rec: rec_at,
                    version,
                },
            );
            changes.documents.push(id.to_owned());
            return true;
        }
        let mut count = Counting::new(event, changes);
        let Some(row) = self.documents.get_mut(id) else {
            return false;
        };
        row.version = version;
        match decoded {
            DocumentEvent::DocumentCreated { .. } => {}
            DocumentEvent::DocumentLinesReplaced { totals, .. } => row.gross = totals.gross.minor,
            DocumentEvent::DocumentStatusChanged { to, .. } => {
                row.status = to.as_str().to_owned();
                let counted = match (row.kind.as_str(), to) {
                    (k, DocumentStatus::Sent) if k == DocumentKind::Proposal.as_str() => {
                        Some(PlanMetric::ProposalsSent)
                    }
                    (k, DocumentStatus::Issued) if k == DocumentKind::Invoice.as_str() => {
                        Some(PlanMetric::InvoicesIssued)
                    }
                    _ => None,
                };
                if matches!(to, DocumentStatus::Sent | DocumentStatus::Issued) {
                    row.sent_at = Some(at);
                }
                if let Some(metric) = counted {
                    count.add(metric.as_str(), &row.responsible, row.gross);
                }
            }
            DocumentEvent::DocumentPaymentRegistered {
                payment_id,
                amount,
                paid_on,
                paid_total,
                ..
            } => {
                row.paid = paid_total.minor;
                count.add(metric::PAYMENTS_RECEIVED, &row.responsible, amount.minor);
                let payment = PaymentRow {
                    document_id: id.to_owned(),
                    payment_id: payment_id.to_string(),
                    deal_id: row.deal_id.clone(),
                    responsible: row.responsible.clone(),
                    currency: amount.currency.to_string(),
                    amount: amount.minor,
                    paid_day: day_number(paid_on),
                    at,
                    rec_at,
                };
                count.changes.payments.push(payment);
            }
            DocumentEvent::DocumentReassigned { to, .. } => row.responsible = to.to_string(),
        }
        changes.documents.push(id.to_owned());
        true
    }

    fn apply_contact(&mut self, event: &RecordedEvent, changes: &mut WorkChanges) -> bool {
        if event.event_type != "contact_created" {
            return true;
        }
        let Ok(ContactEvent::ContactCreated { responsible, .. }) =
            decode_event::<Contact>(event.payload.as_str())
        else {
            return false;
        };
        Counting::new(event, changes).add(
            PlanMetric::NewContacts.as_str(),
            &responsible.to_string(),
            0,
        );
        true
    }

    fn apply_plan(&mut self, id: &str, event: &RecordedEvent, changes: &mut WorkChanges) -> bool {
        let Ok(PlanEvent::PlanTargetsSet {
            scope,
            period,
            targets,
            set_by,
        }) = decode_event::<Plan>(event.payload.as_str())
        else {
            return false;
        };
        let new: BTreeMap<String, i64> = targets
            .iter()
            .map(|(m, t)| (m.as_str().to_owned(), *t))
            .collect();
        let old = self.plans.remove(id).unwrap_or_default();
        let metrics: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for metric in metrics {
            let target = new.get(metric).copied().unwrap_or(REMOVED_TARGET);
            if old.get(metric) == Some(&target)
                || (target == REMOVED_TARGET && !old.contains_key(metric))
            {
                continue;
            }
            changes.plans.push(PlanRow {
                position: event.position.0 as i64,
                metric: metric.clone(),
                plan_id: id.to_owned(),
                scope_kind: scope.kind().to_owned(),
                scope_id: scope.id().to_string(),
                period_kind: period.kind.as_str().to_owned(),
                period_start: day_number(period.start),
                period_end: day_number(period.end()),
                target,
                set_by: set_by.to_string(),
                rec_at: micros(event.recorded_at),
            });
        }
        self.plans.insert(id.to_owned(), new);
        true
    }
}

fn new_activity(
    id: &str,
    data: &voronka_crm::activity::ActivityData,
    at: i64,
    rec_at: i64,
    version: i64,
) -> ActivityNow {
    ActivityNow {
        activity_id: id.to_owned(),
        kind: data.kind.as_str().to_owned(),
        direction: data
            .direction
            .map(Direction::as_str)
            .unwrap_or_default()
            .to_owned(),
        status: ActivityStatus::Planned.as_str().to_owned(),
        outcome: String::new(),
        subject: data.subject.clone().unwrap_or_default(),
        responsible: data.responsible.to_string(),
        deal_id: data.deal.map(|d| d.to_string()).unwrap_or_default(),
        due_at: data.due_at.map(micros),
        planned_start: data.planned_start.map(micros),
        completed_at: None,
        closed_rec: None,
        reschedule_count: 0,
        created_at: at,
        created_rec: rec_at,
        version,
        valid_from: rec_at,
    }
}

/// Adds counter rows for one event.
struct Counting<'a> {
    changes: &'a mut WorkChanges,
    position: i64,
    at: i64,
    rec_at: i64,
    seq: i64,
}

impl<'a> Counting<'a> {
    fn new(event: &RecordedEvent, changes: &'a mut WorkChanges) -> Self {
        Self {
            changes,
            position: event.position.0 as i64,
            at: micros(event.effective_time()),
            rec_at: micros(event.recorded_at),
            seq: 0,
        }
    }

    fn add(&mut self, metric: &str, user: &str, total: i64) {
        self.seq += 1;
        self.changes.counters.push(CounterRow {
            position: self.position,
            seq: self.seq,
            metric: metric.to_owned(),
            user_id: user.to_owned(),
            at: self.at,
            rec_at: self.rec_at,
            count: 1,
            total,
        });
    }

    /// What completing (or logging done) an activity counts.
    fn completion(&mut self, row: &ActivityNow) {
        if row.kind == ActivityKind::Call.as_str() && row.direction == Direction::Outgoing.as_str()
        {
            self.add(PlanMetric::CallsMade.as_str(), &row.responsible, 0);
            if REACHED_OUTCOMES.contains(&row.outcome.as_str()) {
                self.add(PlanMetric::CallsReached.as_str(), &row.responsible, 0);
            }
        } else if row.kind == ActivityKind::Meeting.as_str() {
            self.add(PlanMetric::MeetingsHeld.as_str(), &row.responsible, 0);
        }
    }
}

/// The `work` projection.
#[derive(Debug)]
pub struct WorkProjection {
    fold: WorkFold,
}

impl Default for WorkProjection {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkProjection {
    pub fn new() -> Self {
        Self {
            fold: Self::fresh_fold(),
        }
    }

    fn fresh_fold() -> WorkFold {
        // The projection keeps every activity version; the pure fold alone does not.
        WorkFold {
            keep_history: true,
            ..WorkFold::default()
        }
    }
}

#[async_trait]
impl Projection for WorkProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        // 2: rm_activities_history.
        // 3: rm_counters_monthly.
        3
    }

    fn tables(&self) -> &'static [Table] {
        TABLES
    }

    fn reset(&mut self) {
        self.fold = Self::fresh_fold();
    }

    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        let rows = sqlx::query(
            "SELECT activity_id, kind, direction, status, outcome, subject, responsible, deal_id, \
             due_at, planned_start, completed_at, closed_rec, reschedule_count, created_at, \
             created_rec, version, valid_from FROM rm_activities",
        )
        .fetch_all(db.pool())
        .await?;
        for row in rows {
            let activity = ActivityNow {
                activity_id: row.try_get(0)?,
                kind: row.try_get(1)?,
                direction: row.try_get(2)?,
                status: row.try_get(3)?,
                outcome: row.try_get(4)?,
                subject: row.try_get(5)?,
                responsible: row.try_get(6)?,
                deal_id: row.try_get(7)?,
                due_at: row.try_get(8)?,
                planned_start: row.try_get(9)?,
                completed_at: row.try_get(10)?,
                closed_rec: row.try_get(11)?,
                reschedule_count: row.try_get(12)?,
                created_at: row.try_get(13)?,
                created_rec: row.try_get(14)?,
                version: row.try_get(15)?,
                valid_from: row.try_get(16)?,
            };
            self.fold
                .activities
                .insert(activity.activity_id.clone(), activity);
        }
        let rows = sqlx::query(
            "SELECT document_id, kind, deal_id, number, status, responsible, currency, gross, \
             paid, sent_at, created_at, created_rec, version FROM rm_documents",
        )
        .fetch_all(db.pool())
        .await?;
        for row in rows {
            let document = DocumentNow {
                document_id: row.try_get(0)?,
                kind: row.try_get(1)?,
                deal_id: row.try_get(2)?,
                number: row.try_get(3)?,
                status: row.try_get(4)?,
                responsible: row.try_get(5)?,
                currency: row.try_get(6)?,
                gross: row.try_get(7)?,
                paid: row.try_get(8)?,
                sent_at: row.try_get(9)?,
                created_at: row.try_get(10)?,
                created_rec: row.try_get(11)?,
                version: row.try_get(12)?,
            };
            self.fold
                .documents
                .insert(document.document_id.clone(), document);
        }
        let rows = sqlx::query("SELECT plan_id, metric, target FROM rm_plans ORDER BY position")
            .fetch_all(db.pool())
            .await?;
        for row in rows {
            let plan: String = row.try_get(0)?;
            let metric: String = row.try_get(1)?;
            let target: i64 = row.try_get(2)?;
            let targets = self.fold.plans.entry(plan).or_default();
            if target == REMOVED_TARGET {
                targets.remove(&metric);
            } else {
                targets.insert(metric, target);
            }
        }
        Ok(())
    }

    async fn apply(
        &mut self,
        db: &ReadDb,
        events: &[RecordedEvent],
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), ProjectionError> {
        let mut changes = WorkChanges::default();
        for event in events {
            self.fold.apply(event, &mut changes);
        }
        changes.activities.sort_unstable();
        changes.activities.dedup();
        changes.documents.sort_unstable();
        changes.documents.dedup();
        write_activities(db.dialect(), tx, &self.fold.activities, &changes.activities).await?;
        let closed = std::mem::take(&mut self.fold.closed_activities);
        let versions: Vec<(&ActivityNow, i64)> = closed
            .iter()
            .map(|(row, valid_to)| (row, *valid_to))
            .chain(
                changes
                    .activities
                    .iter()
                    .filter_map(|id| self.fold.activities.get(id))
                    .map(|row| (row, OPEN_END)),
            )
            .collect();
        write_activity_history(db.dialect(), tx, &versions).await?;
        write_documents(db.dialect(), tx, &self.fold.documents, &changes.documents).await?;
        write_payments(db.dialect(), tx, &changes.payments).await?;
        write_counters(db.dialect(), tx, &changes.counters).await?;
        write_plans(db.dialect(), tx, &changes.plans).await?;
        Ok(())
    }
}

const ACTIVITY_COLUMNS: [&str; 17] = [
    "activity_id",
    "kind",
    "direction",
    "status",
    "outcome",
    "subject",
    "responsible",
    "deal_id",
    "due_at",
    "planned_start",
    "completed_at",
    "closed_rec",
    "reschedule_count",
    "created_at",
    "created_rec",
    "version",
    "valid_from",
];

/// The columns an activity's later events change.
const ACTIVITY_UPDATES: &str = "status = excluded.status, \
     outcome = excluded.outcome, responsible = excluded.responsible, \
     deal_id = excluded.deal_id, due_at = excluded.due_at, \
     planned_start = excluded.planned_start, completed_at = excluded.completed_at, \
     closed_rec = excluded.closed_rec, reschedule_count = excluded.reschedule_count, \
     version = excluded.version";

/// Binds an activity's row, its text borrowed from `a` (no copies).
fn bind_activity<'q>(
    query: crate::db::AnyQuery<'q>,
    a: &'q ActivityNow,
) -> crate::db::AnyQuery<'q> {
    query
        .bind(a.activity_id.as_str())
        .bind(a.kind.as_str())
        .bind(a.direction.as_str())
        .bind(a.status.as_str())
        .bind(a.outcome.as_str())
        .bind(a.subject.as_str())
        .bind(a.responsible.as_str())
        .bind(a.deal_id.as_str())
        .bind(a.due_at)
        .bind(a.planned_start)
        .bind(a.completed_at)
        .bind(a.closed_rec)
        .bind(a.reschedule_count)
        .bind(a.created_at)
        .bind(a.created_rec)
        .bind(a.version)
        .bind(a.valid_from)
}

async fn write_activities(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    activities: &HashMap<String, ActivityNow>,
    touched: &[String],
) -> Result<(), ProjectionError> {
    let rows: Vec<&ActivityNow> = touched.iter().filter_map(|id| activities.get(id)).collect();
    let tail =
        format!("ON CONFLICT (activity_id) DO UPDATE SET {ACTIVITY_UPDATES}, valid_from = excluded.valid_from");
    insert_rows(
        tx,
        dialect,
        "rm_activities",
        &ACTIVITY_COLUMNS,
        &tail,
        &rows,
        |query, a| bind_activity(query, a),
    )
    .await?;
    Ok(())
}

/// Writes activity versions with their `valid_to`: a version an earlier
/// batch wrote open is closed, or grows by events recorded at the same moment.
async fn write_activity_history(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    rows: &[(&ActivityNow, i64)],
) -> Result<(), ProjectionError> {
    let columns: Vec<&str> = ACTIVITY_COLUMNS
        .iter()
        .copied()
        .chain(["valid_to"])
        .collect();
    let tail = format!(
        "ON CONFLICT (activity_id, valid_from) DO UPDATE SET {ACTIVITY_UPDATES}, \
         valid_to = excluded.valid_to"
    );
    insert_rows(
        tx,
        dialect,
        "rm_activities_history",
        &columns,
        &tail,
        rows,
        |query, (a, valid_to)| bind_activity(query, a).bind(*valid_to),
    )
    .await?;
    Ok(())
}

async fn write_documents(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    documents: &HashMap<String, DocumentNow>,
    touched: &[String],
) -> Result<(), ProjectionError> {
    let rows: Vec<&DocumentNow> = touched.iter().filter_map(|id| documents.get(id)).collect();
    insert_rows(
        tx,
        dialect,
        "rm_documents",
        &[
            "document_id",
            "kind",
            "deal_id",
            "number",
            "status",
            "responsible",
            "currency",
            "gross",
            "paid",
            "sent_at",
            "created_at",
            "created_rec",
            "version",
        ],
        "ON CONFLICT (document_id) DO UPDATE SET status = excluded.status, \
         responsible = excluded.responsible, gross = excluded.gross, paid = excluded.paid, \
         sent_at = excluded.sent_at, version = excluded.version",
        &rows,
        |query, d| {
            query
                .bind(d.document_id.clone())
                .bind(d.kind.clone())
                .bind(d.deal_id.clone())
                .bind(d.number.clone())
                .bind(d.status.clone())
                .bind(d.responsible.clone())
                .bind(d.currency.clone())
                .bind(d.gross)
                .bind(d.paid)
                .bind(d.sent_at)
                .bind(d.created_at)
                .bind(d.created_rec)
                .bind(d.version)
        },
    )
    .await?;
    Ok(())
}

async fn write_payments(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    payments: &[PaymentRow],
) -> Result<(), ProjectionError> {
    insert_rows(
        tx,
        dialect,
        "rm_payments",
        &[
            "document_id",
            "payment_id",
            "deal_id",
            "responsible",
            "currency",
            "amount",
            "paid_day",
            "at",
            "rec_at",
        ],
        "ON CONFLICT (document_id, payment_id) DO NOTHING",
        payments,
        |query, p| {
            query
                .bind(p.document_id.clone())
                .bind(p.payment_id.clone())
                .bind(p.deal_id.clone())
                .bind(p.responsible.clone())
                .bind(p.currency.clone())
                .bind(p.amount)
                .bind(p.paid_day)
                .bind(p.at)
                .bind(p.rec_at)
        },
    )
    .await?;
    Ok(())
}

async fn write_counters(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    counters: &[CounterRow],
) -> Result<(), ProjectionError> {
    insert_rows(
        tx,
        dialect,
        "rm_counters_journal",
        &[
            "position", "seq", "metric", "user_id", "at", "rec_at", "count", "total",
        ],
        "",
        counters,
        |query, c| {
            query
                .bind(c.position)
                .bind(c.seq)
                .bind(c.metric.clone())
                .bind(c.user_id.clone())
                .bind(c.at)
                .bind(c.rec_at)
                .bind(c.count)
                .bind(c.total)
        },
    )
    .await?;
    let mut daily: BTreeMap<(&str, &str, i64, i64), (i64, i64)> = BTreeMap::new();
    for c in counters {
        let sums = daily
            .entry((
                &c.metric,
                &c.user_id,
                crate::time::day_of(c.at),
                crate::time::day_of(c.rec_at),
            ))
            .or_default();
        sums.0 += c.count;
        sums.1 += c.total;
    }
    let daily: Vec<_> = daily.into_iter().collect();
    insert_rows(
        tx,
        dialect,
        "rm_counters_daily",
        &["metric", "user_id", "day", "rec_day", "count", "total"],
        "ON CONFLICT (metric, user_id, day, rec_day) DO UPDATE SET \
         count = rm_counters_daily.count + excluded.count, \
         total = rm_counters_daily.total + excluded.total",
        &daily,
        |query, ((metric, user, day, rec_day), (count, total))| {
            query
                .bind(*metric)
                .bind(*user)
                .bind(*day)
                .bind(*rec_day)
                .bind(*count)
                .bind(*total)
        },
    )
    .await?;
    let mut monthly: BTreeMap<(i64, &str, &str), (i64, i64)> = BTreeMap::new();
    for ((metric, user, day, _), (count, total)) in &daily {
        let sums = monthly
            .entry((crate::time::month_start(*day), *user, *metric))
            .or_default();
        sums.0 += count;
        sums.1 += total;
    }
    let monthly: Vec<_> = monthly.into_iter().collect();
    insert_rows(
        tx,
        dialect,
        "rm_counters_monthly",
        &["month", "user_id", "metric", "count", "total"],
        "ON CONFLICT (month, user_id, metric) DO UPDATE SET \
         count = rm_counters_monthly.count + excluded.count, \
         total = rm_counters_monthly.total + excluded.total",
        &monthly,
        |query, ((month, user, metric), (count, total))| {
            query
                .bind(*month)
                .bind(*user)
                .bind(*metric)
                .bind(*count)
                .bind(*total)
        },
    )
    .await?;
    Ok(())
}

async fn write_plans(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    plans: &[PlanRow],
) -> Result<(), ProjectionError> {
    insert_rows(
        tx,
        dialect,
        "rm_plans",
        &[
            "position",
            "metric",
            "plan_id",
            "scope_kind",
            "scope_id",
            "period_kind",
            "period_start",
            "period_end",
            "target",
            "set_by",
            "rec_at",
        ],
        "",
        plans,
        |query, p| {
            query
                .bind(p.position)
                .bind(p.metric.clone())
                .bind(p.plan_id.clone())
                .bind(p.scope_kind.clone())
                .bind(p.scope_id.clone())
                .bind(p.period_kind.clone())
                .bind(p.period_start)
                .bind(p.period_end)
                .bind(p.target)
                .bind(p.set_by.clone())
                .bind(p.rec_at)
        },
    )
    .await?;
    Ok(())
}
