//! Plans (set by heads, stored as events on `plan-<id>` streams) and the
//! reports that measure against them: plan-vs-fact, a manager's own
//! counters ("5 of 10") and the manager rating.
//!
//! Who may set a plan: `SetPlans` — administrators and directors for
//! anyone, heads of sales for their department subtree. A manager's plan
//! is read by whoever reaches the manager for reports; a department's by
//! whoever reaches all of its members.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};
use voronka_core::{Position, Timestamp};
use voronka_crm::plan::{PeriodKind, Plan, PlanCommand, PlanId, PlanMetric, PlanPeriod, PlanScope};
use voronka_crm::{Context, Dictionaries};
use voronka_projections::funnel::{Responsibles, StageKind};
use voronka_projections::plan_vs_fact::{self, FactScope, PlanLine};
use voronka_projections::rating::{self, RatingLine, Weights};
use voronka_projections::time::{date_of_day, day_number};

use super::{projection_error, stage_kind, ReportFilter, Reports};
use crate::access::{AccessDenied, Action, DepartmentId, Scope, UserId};
use crate::crm::records;
use crate::crm::{AppError, Caller, Reach};

/// What `PUT /api/v1/plans` sets.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub scope: PlanScope,
    pub period: PeriodKind,
    pub start: NaiveDate,
    /// Metric name -> target (`None` removes it).
    pub targets: BTreeMap<String, Option<i64>>,
}

/// A plan as stored and returned.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    #[schema(value_type = String, format = Uuid)]
    pub id: PlanId,
    /// `manager` or `department`.
    pub scope: String,
    pub scope_id: String,
    #[schema(value_type = String)]
    pub period: PeriodKind,
    #[schema(value_type = String, format = Date)]
    pub start: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub end: NaiveDate,
    /// Metric -> target (revenue in minor units).
    pub targets: BTreeMap<String, i64>,
    pub version: u64,
    pub position: u64,
}

/// Plan-vs-fact as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanVsFactReport {
    #[schema(value_type = String)]
    pub period: PeriodKind,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// The day the run-rate counts up to (today, or the `as_of` day).
    #[schema(value_type = String, format = Date)]
    pub today: NaiveDate,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<Timestamp>,
    pub lines: Vec<PlanLine>,
}

/// One of a manager's own counters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Counter {
    #[schema(value_type = String)]
    pub metric: PlanMetric,
    /// Done in the period so far.
    pub fact: i64,
    pub plan: Option<i64>,
    /// Done today.
    pub today: i64,
    /// "5 of 10", or just "5" without a plan.
    pub text: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MyCounters {
    pub manager: String,
    #[schema(value_type = String)]
    pub period: PeriodKind,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub counters: Vec<Counter>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RatingReport {
    #[schema(value_type = String)]
    pub period: PeriodKind,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub plan_weight: f64,
    pub conversion_weight: f64,
    pub managers: Vec<RatingLine>,
}

/// The stream id of the plan with this key: the same key, the same stream.
pub fn plan_id(scope: &PlanScope, period: &PlanPeriod) -> PlanId {
    let mut hash = Sha256::new();
    hash.update(b"voronka/plan\0");
    hash.update(scope.kind().as_bytes());
    hash.update(scope.id().as_bytes());
    hash.update(period.kind.as_str().as_bytes());
    hash.update(period.start.to_string().as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    PlanId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

fn forbidden(reason_code: &'static str) -> AppError {
    AppError::Forbidden(AccessDenied {
        action: Action::SetPlans,
        reason_code,
    })
}

impl Reports {
    /// Sets (part of) a plan. Only what changes is written.
    pub async fn set_plan(&self, caller: &Caller, input: PlanInput) -> Result<PlanView, AppError> {
        caller.may_at_all(Action::SetPlans)?;
        match input.scope {
            PlanScope::Manager(id) => {
                let user = UserId::from_uuid(id);
                if !caller.access.users.contains_key(&user) {
                    return Err(AppError::invalid("manager", "user_unknown", "no such user"));
                }
                caller.may(Action::SetPlans, user)?;
            }
            PlanScope::Department(id) => {
                let department = DepartmentId::from_uuid(id);
                if !caller.access.tree.contains(department) {
                    return Err(AppError::invalid(
                        "department",
                        "department_unknown",
                        "no such department",
                    ));
                }
                match Scope::for_action(&caller.user, Action::SetPlans) {
                    Scope::All => {}
                    Scope::DepartmentSubtree(root)
                        if caller.access.tree.is_within(department, root) => {}
                    _ => return Err(forbidden(crate::access::rights::reason::OUTSIDE_DEPARTMENT)),
                }
            }
        }
        let period = PlanPeriod {
            kind: input.period,
            start: input.start,
        };
        let id = plan_id(&input.scope, &period);
        let dictionaries = Dictionaries::standard();
        let context = Context {
            now: self.clock.now(),
            actor: caller.user.id,
            dictionaries: &dictionaries,
        };
        let command = PlanCommand::SetTargets {
            scope: input.scope,
            period,
            targets: input.targets,
        };
        let (state, outcome) = records::execute::<Plan>(
            &self.store,
            *id.as_uuid(),
            &command,
            &context,
            &caller.actor(),
            None,
            None,
        )
        .await?;
        let record = state.ok_or(AppError::NotFound)?;
        Ok(PlanView {
            id,
            scope: record.scope.kind().to_owned(),
            scope_id: record.scope.id().to_string(),
            period: record.period.kind,
            start: record.period.start,
            end: record.period.end(),
            targets: record
                .targets
                .iter()
                .map(|(m, t)| (m.as_str().to_owned(), *t))
                .collect(),
            version: outcome.version.0,
            position: outcome.position.0,
        })
    }

    /// The day a period report is about: `date`, else the `as_of` day, else today.
    fn report_day(&self, date: Option<NaiveDate>, as_of: Option<i64>) -> NaiveDate {
        date.or_else(|| as_of.map(|m| date_of_day(voronka_projections::time::day_of(m))))
            .unwrap_or_else(|| self.clock.now().date_naive())
    }

    /// Every (process, stage) of the given kind across published processes.
    fn stages_of_kind(&self, kind: StageKind) -> Vec<(String, String)> {
        let mut stages = Vec::new();
        let registry = self.deals.registry();
        let names: BTreeSet<String> = registry.published().into_iter().map(|p| p.name).collect();
        for name in names {
            if let Some(process) = registry.latest(&name) {
                for stage in &process.stages {
                    if stage_kind(stage) == kind {
                        stages.push((name.clone(), stage.name.clone()));
                    }
                }
            }
        }
        stages
    }

    /// Whose plans and facts the caller reads: the users in the report's
    /// reach, as ids.
    fn plan_users(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
    ) -> Result<(Responsibles, Vec<String>), AppError> {
        let responsibles = self.responsibles(caller, filter)?;
        let users: Vec<String> = match &responsibles {
            Responsibles::All => caller.access.users.keys().map(|u| u.to_string()).collect(),
            Responsibles::Only(list) => list.clone(),
        };
        Ok((responsibles, users))
    }

    /// Of the departments named by plans, those the caller reaches whole
    /// (every member) within the filter, with their members' ids.
    fn visible_departments<'a>(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
        candidates: impl Iterator<Item = &'a str>,
    ) -> HashMap<String, Vec<String>> {
        let mut departments = HashMap::new();
        if filter.manager.is_some() {
            return departments;
        }
        let reach = caller.reach(Action::ReadReports);
        for candidate in candidates {
            let Ok(department) = candidate.parse::<uuid::Uuid>().map(DepartmentId::from_uuid)
            else {
                continue;
            };
            if !caller.access.tree.contains(department) {
                continue;
            }
            if let Some(asked) = filter.department {
                if !caller.access.tree.is_within(department, asked) {
                    continue;
                }
            }
            let subtree = caller.access.tree.subtree(department);
            let members: Vec<UserId> = caller
                .access
                .users
                .values()
                .filter(|u| subtree.contains(&u.department))
                .map(|u| u.id)
                .collect();
            let reached = match &reach {
                Reach::All => true,
                Reach::Users(users) => {
                    !members.is_empty() && members.iter().all(|m| users.contains(m))
                }
            };
            if reached {
                departments.insert(
                    candidate.to_owned(),
                    members.iter().map(|m| m.to_string()).collect(),
                );
            }
        }
        departments
    }

    /// Plan against fact for the month or week containing `date`.
    pub async fn plan_vs_fact(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
        period: PeriodKind,
        date: Option<NaiveDate>,
    ) -> Result<PlanVsFactReport, AppError> {
        let scope = self
            .scope(
                caller,
                filter,
                &[
                    voronka_projections::work::NAME,
                    voronka_projections::deals::NAME,
                ],
            )
            .await?;
        let (_, users) = self.plan_users(caller, filter)?;
        let day = self.report_day(date.or(filter.from), scope.as_of);
        let plan_period = PlanPeriod::containing(period, day);
        let (from, to) = (day_number(plan_period.start), day_number(plan_period.end()));
        let today = scope
            .as_of
            .map(voronka_projections::time::day_of)
            .unwrap_or_else(|| day_number(self.clock.now().date_naive()));
        let targets = plan_vs_fact::plans(&self.db, period.as_str(), from, scope.as_of)
            .await
            .map_err(projection_error)?;
        let departments = self.visible_departments(
            caller,
            filter,
            targets
                .iter()
                .filter(|t| t.scope_kind == "department")
                .map(|t| t.scope_id.as_str()),
        );
        let user_set: BTreeSet<&String> = users.iter().collect();
        let targets: Vec<_> = targets
            .into_iter()
            .filter(|t| match t.scope_kind.as_str() {
                "manager" => user_set.contains(&t.scope_id),
                _ => departments.contains_key(&t.scope_id),
            })
            .collect();
        let mut everyone: BTreeSet<String> = users.iter().cloned().collect();
        for t in &targets {
            if let Some(members) = departments.get(&t.scope_id) {
                everyone.extend(members.iter().cloned());
            }
        }
        let fact_scope = FactScope {
            responsibles: Responsibles::Only(everyone.into_iter().collect()),
            from_day: from,
            to_day: to,
            as_of: scope.as_of,
        };
        let facts =
            plan_vs_fact::metric_facts(&self.db, &fact_scope, &self.stages_of_kind(StageKind::Won))
                .await
                .map_err(projection_error)?;
        let lines = plan_vs_fact::compose(&targets, &facts, &departments, &users, from, to, today);
        Ok(PlanVsFactReport {
            period,
            from: plan_period.start,
            to: plan_period.end(),
            today: date_of_day(today),
            as_of: filter.as_of,
            lines,
        })
    }

    /// The caller's own counters for the current month (or week): fact,
    /// plan and today's count per metric.
    pub async fn my_counters(
        &self,
        caller: &Caller,
        period: PeriodKind,
        min_position: Option<Position>,
    ) -> Result<MyCounters, AppError> {
        caller.may_at_all(Action::ReadReports)?;
        if let Some(position) = min_position {
            self.wait_for(
                &[
                    voronka_projections::work::NAME,
                    voronka_projections::deals::NAME,
                ],
                position,
            )
            .await?;
        }
        let now = self.clock.now();
        let plan_period = PlanPeriod::containing(period, now.date_naive());
        let (from, to) = (day_number(plan_period.start), day_number(plan_period.end()));
        let today = day_number(now.date_naive());
        let me = caller.user.id.to_string();
        let won = self.stages_of_kind(StageKind::Won);
        let scope = |from_day, to_day| FactScope {
            responsibles: Responsibles::Only(vec![me.clone()]),
            from_day,
            to_day,
            as_of: None,
        };
        let facts = plan_vs_fact::metric_facts(&self.db, &scope(from, to), &won)
            .await
            .map_err(projection_error)?;
        let today_facts = plan_vs_fact::metric_facts(&self.db, &scope(today, today), &won)
            .await
            .map_err(projection_error)?;
        let targets = plan_vs_fact::plans(&self.db, period.as_str(), from, None)
            .await
            .map_err(projection_error)?;
        let counters = PlanMetric::ALL
            .into_iter()
            .map(|metric| {
                let fact = facts.get(&(me.clone(), metric)).copied().unwrap_or(0);
                let plan = targets
                    .iter()
                    .find(|t| t.scope_kind == "manager" && t.scope_id == me && t.metric == metric)
                    .map(|t| t.target);
                Counter {
                    metric,
                    fact,
                    plan,
                    today: today_facts.get(&(me.clone(), metric)).copied().unwrap_or(0),
                    text: match plan {
                        Some(plan) => format!("{fact} of {plan}"),
                        None => fact.to_string(),
                    },
                }
            })
            .collect();
        Ok(MyCounters {
            manager: me,
            period,
            from: plan_period.start,
            to: plan_period.end(),
            counters,
        })
    }

    /// Managers ranked by plan fulfilment and conversion over the month or
    /// week containing `date`, with the reader's weights.
    pub async fn rating(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
        period: PeriodKind,
        date: Option<NaiveDate>,
        weights: Weights,
    ) -> Result<RatingReport, AppError> {
        let valid = weights.plan.is_finite()
            && weights.conversion.is_finite()
            && weights.plan >= 0.0
            && weights.conversion >= 0.0
            && weights.plan + weights.conversion > 0.0;
        if !valid {
            return Err(AppError::invalid(
                "plan_weight",
                "weights_invalid",
                "weights are numbers >= 0 and not both 0",
            ));
        }
        let scope = self
            .scope(
                caller,
                filter,
                &[
                    voronka_projections::work::NAME,
                    voronka_projections::deals::NAME,
                ],
            )
            .await?;
        let (responsibles, users) = self.plan_users(caller, filter)?;
        let day = self.report_day(date.or(filter.from), scope.as_of);
        let plan_period = PlanPeriod::containing(period, day);
        let (from, to) = (day_number(plan_period.start), day_number(plan_period.end()));
        let targets = plan_vs_fact::plans(&self.db, period.as_str(), from, scope.as_of)
            .await
            .map_err(projection_error)?;
        let fact_scope = FactScope {
            responsibles,
            from_day: from,
            to_day: to,
            as_of: scope.as_of,
        };
        let inputs = rating::inputs(
            &self.db,
            &fact_scope,
            targets,
            &self.stages_of_kind(StageKind::Won),
            &self.stages_of_kind(StageKind::Lost),
        )
        .await
        .map_err(projection_error)?;
        // Managers: the users in scope who hold the manager role or have
        // anything to rank by.
        let managers: Vec<String> = users
            .into_iter()
            .filter(|u| {
                let user = u.parse::<UserId>().ok();
                let is_manager = user
                    .and_then(|id| caller.access.users.get(&id))
                    .is_some_and(|u| u.active && u.has_role(voronka_core::Role::Manager));
                is_manager
                    || inputs.won.contains_key(u)
                    || inputs.lost.contains_key(u)
                    || inputs.targets.iter().any(|t| &t.scope_id == u)
            })
            .collect();
        Ok(RatingReport {
            period,
            from: plan_period.start,
            to: plan_period.end(),
            plan_weight: weights.plan,
            conversion_weight: weights.conversion,
            managers: rating::rank(&inputs, &managers, weights),
        })
    }
}
