//! Plans: the targets a head sets for a manager or a department, for one
//! month or one ISO week, per process metric (calls made, meetings held,
//! revenue won...). One stream per (scope, period), `plan-<id>`, whose id
//! the application derives from that key, so setting the same plan twice
//! lands on the same stream and a concurrent set is a version conflict.
//!
//! Why events: a plan changes during its period, and plan-vs-fact "as of"
//! a past moment must compare with the plan as it stood then.
//!
//! `decide` holds every rule; `apply` only folds what `decide` allowed.
//! Who may set a plan is the application's decision.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::{Aggregate, Context, CrmError, FieldError, UserId};

voronka_core::uuid_id!(
    /// Identifies a plan (its stream is `plan-<id>`), derived from its key.
    PlanId
);

/// The largest target (revenue in kopecks included).
pub const MAX_TARGET: i64 = 1_000_000_000_000_000;

/// What a plan can set a target for. Facts come from the `work` projection
/// (activities, documents, contacts) and the `deals` projection (won stages).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PlanMetric {
    /// Outgoing calls completed.
    CallsMade,
    /// Outgoing calls completed with an outcome that reached the client.
    CallsReached,
    /// Meetings completed (held).
    MeetingsHeld,
    /// Proposals sent to the client.
    ProposalsSent,
    /// Invoices issued.
    InvoicesIssued,
    /// Deals that entered a won stage.
    DealsWon,
    /// Their amount, in minor units (kopecks).
    RevenueWon,
    /// Contacts created.
    NewContacts,
}

impl PlanMetric {
    pub const ALL: [PlanMetric; 8] = [
        PlanMetric::CallsMade,
        PlanMetric::CallsReached,
        PlanMetric::MeetingsHeld,
        PlanMetric::ProposalsSent,
        PlanMetric::InvoicesIssued,
        PlanMetric::DealsWon,
        PlanMetric::RevenueWon,
        PlanMetric::NewContacts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanMetric::CallsMade => "calls_made",
            PlanMetric::CallsReached => "calls_reached",
            PlanMetric::MeetingsHeld => "meetings_held",
            PlanMetric::ProposalsSent => "proposals_sent",
            PlanMetric::InvoicesIssued => "invoices_issued",
            PlanMetric::DealsWon => "deals_won",
            PlanMetric::RevenueWon => "revenue_won",
            PlanMetric::NewContacts => "new_contacts",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Whether the figure is money (minor units) rather than a count.
    pub fn is_money(self) -> bool {
        self == PlanMetric::RevenueWon
    }
}

/// Whose plan it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum PlanScope {
    /// One manager (a user id).
    Manager(uuid::Uuid),
    /// A department: the sum of its members' (and sub-departments') facts.
    Department(uuid::Uuid),
}

impl PlanScope {
    pub fn kind(&self) -> &'static str {
        match self {
            PlanScope::Manager(_) => "manager",
            PlanScope::Department(_) => "department",
        }
    }

    pub fn id(&self) -> uuid::Uuid {
        match self {
            PlanScope::Manager(id) | PlanScope::Department(id) => *id,
        }
    }
}

/// How long a plan's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Month,
    /// An ISO week, Monday to Sunday.
    Week,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Week => "week",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "month" => Some(PeriodKind::Month),
            "week" => Some(PeriodKind::Week),
            _ => None,
        }
    }
}

/// A month or a week, named by its first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlanPeriod {
    pub kind: PeriodKind,
    pub start: NaiveDate,
}

impl PlanPeriod {
    /// The period of `kind` that contains `day`.
    pub fn containing(kind: PeriodKind, day: NaiveDate) -> Self {
        let start = match kind {
            PeriodKind::Month => day.with_day(1).unwrap_or(day),
            PeriodKind::Week => {
                day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))
            }
        };
        Self { kind, start }
    }

    /// Whether `start` is where a period of its kind begins.
    pub fn is_aligned(&self) -> bool {
        match self.kind {
            PeriodKind::Month => self.start.day() == 1,
            PeriodKind::Week => self.start.weekday() == Weekday::Mon,
        }
    }

    /// The last day (inclusive).
    pub fn end(&self) -> NaiveDate {
        let next = match self.kind {
            PeriodKind::Month => self.start.checked_add_months(Months::new(1)),
            PeriodKind::Week => self.start.checked_add_days(chrono::Days::new(7)),
        };
        next.and_then(|d| d.pred_opt()).unwrap_or(self.start)
    }
}

/// A plan as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanRecord {
    pub scope: PlanScope,
    pub period: PlanPeriod,
    pub targets: BTreeMap<PlanMetric, i64>,
    pub set_by: UserId,
}

#[derive(Debug, Clone)]
pub enum PlanCommand {
    /// Sets targets: a number sets one, `None` removes it; metrics not
    /// named keep their target.
    SetTargets {
        scope: PlanScope,
        period: PlanPeriod,
        /// Metric name (as the client sent it) -> target.
        targets: BTreeMap<String, Option<i64>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PlanEvent {
    /// The plan's whole set of targets after the change.
    PlanTargetsSet {
        scope: PlanScope,
        period: PlanPeriod,
        targets: BTreeMap<PlanMetric, i64>,
        set_by: UserId,
    },
}

/// The plan aggregate. Its state is `None` until a target is first set.
pub struct Plan;

impl Aggregate for Plan {
    const CATEGORY: &'static str = "plan";
    type State = Option<PlanRecord>;
    type Event = PlanEvent;
    type Command = PlanCommand;

    fn event_type(event: &PlanEvent) -> &'static str {
        match event {
            PlanEvent::PlanTargetsSet { .. } => "plan_targets_set",
        }
    }

    fn apply(state: &mut Option<PlanRecord>, event: &PlanEvent) {
        match event {
            PlanEvent::PlanTargetsSet {
                scope,
                period,
                targets,
                set_by,
            } => {
                *state = Some(PlanRecord {
                    scope: *scope,
                    period: *period,
                    targets: targets.clone(),
                    set_by: *set_by,
                });
            }
        }
    }

    fn decide(
        state: &Option<PlanRecord>,
        command: &PlanCommand,
        context: &Context<'_>,
    ) -> Result<Vec<PlanEvent>, CrmError> {
        let PlanCommand::SetTargets {
            scope,
            period,
            targets,
        } = command;
        let mut errors = Vec::new();
        if !period.is_aligned() {
            errors.push(FieldError::new(
                "start",
                "period_not_aligned",
                match period.kind {
                    PeriodKind::Month => "a month plan starts on the 1st",
                    PeriodKind::Week => "a week plan starts on a Monday",
                },
            ));
        }
        if targets.is_empty() {
            errors.push(FieldError::new(
                "targets",
                "required",
                "name at least one metric's target",
            ));
        }
        if let Some(record) = state {
            if record.scope != *scope || record.period != *period {
                return Err(CrmError::not_allowed(
                    "plan_key_mismatch",
                    "this plan belongs to another scope or period",
                ));
            }
        }
        let mut next = state
            .as_ref()
            .map(|r| r.targets.clone())
            .unwrap_or_default();
        for (name, target) in targets {
            let field = format!("targets.{name}");
            let Some(metric) = PlanMetric::parse(name) else {
                let known: Vec<&str> = PlanMetric::ALL.iter().map(|m| m.as_str()).collect();
                errors.push(FieldError::new(
                    field,
                    "unknown_metric",
                    format!("unknown metric; one of: {}", known.join(", ")),
                ));
                continue;
            };
            match target {
                None => {
                    next.remove(&metric);
                }
                Some(value) if (0..=MAX_TARGET).contains(value) => {
                    next.insert(metric, *value);
                }
                Some(_) => errors.push(FieldError::new(
                    field,
                    "out_of_range",
                    format!("a target is a whole number from 0 to {MAX_TARGET}"),
                )),
            }
        }
        CrmError::check(errors)?;
        if state.as_ref().is_some_and(|r| r.targets == next) {
            return Ok(Vec::new());
        }
        Ok(vec![PlanEvent::PlanTargetsSet {
            scope: *scope,
            period: *period,
            targets: next,
            set_by: context.actor,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dictionaries;

    fn context(dictionaries: &Dictionaries) -> Context<'_> {
        Context {
            now: voronka_core::time::timestamp_from_micros(0),
            actor: UserId::from_uuid(uuid::Uuid::from_u128(7)),
            dictionaries,
        }
    }

    fn month(y: i32, m: u32, d: u32) -> PlanPeriod {
        PlanPeriod {
            kind: PeriodKind::Month,
            start: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
        }
    }

    fn set(period: PlanPeriod, targets: &[(&str, Option<i64>)]) -> PlanCommand {
        PlanCommand::SetTargets {
            scope: PlanScope::Manager(uuid::Uuid::from_u128(1)),
            period,
            targets: targets.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn it_should_keep_unnamed_targets_and_remove_null_ones() {
        let dictionaries = Dictionaries::standard();
        let context = context(&dictionaries);
        let mut state = None;
        let events = Plan::decide(
            &state,
            &set(
                month(2026, 3, 1),
                &[("calls_made", Some(100)), ("deals_won", Some(5))],
            ),
            &context,
        )
        .unwrap();
        for event in &events {
            Plan::apply(&mut state, event);
        }
        let events = Plan::decide(
            &state,
            &set(
                month(2026, 3, 1),
                &[("deals_won", None), ("revenue_won", Some(1))],
            ),
            &context,
        )
        .unwrap();
        Plan::apply(&mut state, &events[0]);
        let targets = &state.as_ref().unwrap().targets;
        assert_eq!(targets.get(&PlanMetric::CallsMade), Some(&100));
        assert_eq!(targets.get(&PlanMetric::DealsWon), None);
        assert_eq!(targets.get(&PlanMetric::RevenueWon), Some(&1));
        // The same again changes nothing.
        let again = Plan::decide(
            &state,
            &set(month(2026, 3, 1), &[("revenue_won", Some(1))]),
            &context,
        )
        .unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn it_should_name_every_bad_value_at_once() {
        let dictionaries = Dictionaries::standard();
        let error = Plan::decide(
            &None,
            &set(
                month(2026, 3, 2),
                &[("calls", Some(1)), ("calls_made", Some(-1))],
            ),
            &context(&dictionaries),
        )
        .unwrap_err();
        let CrmError::Invalid(errors) = error else {
            panic!("{error:?}")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["start", "targets.calls", "targets.calls_made"]);
    }

    #[test]
    fn periods_contain_their_days_and_end_where_the_next_begins() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 18).unwrap();
        let m = PlanPeriod::containing(PeriodKind::Month, day);
        assert_eq!(m.start, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        assert_eq!(m.end(), NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        let w = PlanPeriod::containing(PeriodKind::Week, day);
        assert_eq!(w.start, NaiveDate::from_ymd_opt(2026, 2, 16).unwrap());
        assert_eq!(w.end(), NaiveDate::from_ymd_opt(2026, 2, 22).unwrap());
        assert!(m.is_aligned() && w.is_aligned());
    }
}
