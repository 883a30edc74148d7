//! Reports for a caller: every report reads the projections' tables
//! (`voronka-projections`) through one [`Reports`] service, which decides
//! here — never in SQL built from the request — whose records the caller
//! reaches, turns the period and `as_of` into checked bounds, waits for the
//! caller's own writes (`min_position`) and supplies what the process
//! definitions say about stages (kind, probability, order).
//!
//! Report families add `impl Reports` blocks in the submodules.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::access::{DepartmentId, UserId};
use chrono::NaiveDate;
use serde::Serialize;
use tokio::sync::OnceCell;
use voronka_core::{Clock, Position, Timestamp};
use voronka_process::CompiledProcess;
use voronka_projections::funnel::{
    FlowScope, FunnelStage, Period, Responsibles, StageInfo, StageKind,
};
use voronka_projections::{ProjectionError, ProjectionMetrics, Projections, ReadDb};
use voronka_store::EventStore;

use crate::access::{AccessDenied, Action};
use crate::crm::{AppError, Caller, Reach};
use crate::deals::DealService;

pub mod builder;
pub mod control;
pub mod plans;

/// How long a report waits for the projections to reach `min_position`.
pub const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(5);

/// The longest period a report covers (a guard against runaway scans).
pub const MAX_PERIOD_DAYS: i64 = 3660;

/// The filters every report accepts.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub process: Option<String>,
    /// First day of the period (inclusive).
    pub from: Option<NaiveDate>,
    /// Last day of the period (inclusive).
    pub to: Option<NaiveDate>,
    pub department: Option<DepartmentId>,
    pub manager: Option<UserId>,
    /// Answer as the data stood at this moment (as recorded up to then).
    pub as_of: Option<Timestamp>,
    /// Answer only once the reports include this position (a command's).
    pub min_position: Option<Position>,
}

/// A filter checked against the caller and the data: what the SQL gets.
#[derive(Debug, Clone)]
pub struct ReportScope {
    pub responsibles: Responsibles,
    pub period: Option<Period>,
    /// Microseconds since the epoch.
    pub as_of: Option<i64>,
}

impl ReportScope {
    pub fn flow(&self, process: &str) -> FlowScope {
        FlowScope {
            process: process.to_owned(),
            responsibles: self.responsibles.clone(),
            period: self.period,
            as_of: self.as_of,
        }
    }
}

/// Every report query, for callers.
pub struct Reports {
    pub(crate) db: ReadDb,
    pub(crate) projections: Arc<Projections>,
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) deals: Arc<DealService>,
    pub(crate) clock: Arc<dyn Clock>,
    first_event: OnceCell<Option<Timestamp>>,
}

impl Reports {
    pub fn new(
        db: ReadDb,
        projections: Arc<Projections>,
        store: Arc<dyn EventStore>,
        deals: Arc<DealService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            projections,
            store,
            deals,
            clock,
            first_event: OnceCell::new(),
        }
    }

    /// Opens the read-model database at `read_db_url`, starts every
    /// projection following `store`, and serves reports from them.
    pub async fn start(
        store: Arc<dyn EventStore>,
        read_db_url: &str,
        deals: Arc<DealService>,
        clock: Arc<dyn Clock>,
        metrics: ProjectionMetrics,
    ) -> Result<Self, ProjectionError> {
        let db = ReadDb::open(read_db_url).await?;
        let projections = Projections::start(
            store.clone(),
            db.clone(),
            voronka_projections::all(),
            metrics,
        )
        .await?;
        Ok(Self::new(db, Arc::new(projections), store, deals, clock))
    }

    /// The running projections (positions, read-your-writes).
    pub fn projections(&self) -> &Projections {
        &self.projections
    }

    pub fn db(&self) -> &ReadDb {
        &self.db
    }

    /// Checks `filter` for `caller` and waits for `projections` to include
    /// the caller's `min_position`.
    pub async fn scope(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
        projections: &[&str],
    ) -> Result<ReportScope, AppError> {
        let responsibles = self.responsibles(caller, filter)?;
        let period = period(filter)?;
        let as_of = self.as_of(filter.as_of).await?;
        if let Some(position) = filter.min_position {
            self.wait_for(projections, position).await?;
        }
        Ok(ReportScope {
            responsibles,
            period,
            as_of,
        })
    }

    /// Whose records the report covers: what the caller reaches for
    /// reports, narrowed to the manager or department asked for. A manager
    /// or department outside the caller's reach is a 403, not an empty
    /// report that would look like "nothing happened".
    pub fn responsibles(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
    ) -> Result<Responsibles, AppError> {
        caller.may_at_all(Action::ReadReports)?;
        let reach = caller.reach(Action::ReadReports);
        let outside = |reason_code| {
            AppError::Forbidden(AccessDenied {
                action: Action::ReadReports,
                reason_code,
            })
        };
        let mut users: Option<BTreeSet<UserId>> = None;
        if let Some(department) = filter.department {
            if !caller.access.tree.contains(department) {
                return Err(AppError::invalid(
                    "department",
                    "department_unknown",
                    "no such department",
                ));
            }
            let subtree = caller.access.tree.subtree(department);
            let members: BTreeSet<UserId> = caller
                .access
                .users
                .values()
                .filter(|u| subtree.contains(&u.department))
                .map(|u| u.id)
                .collect();
            if let Reach::Users(reached) = &reach {
                if !members.iter().all(|u| reached.contains(u)) {
                    return Err(outside(crate::access::rights::reason::OUTSIDE_DEPARTMENT));
                }
            }
            users = Some(members);
        }
        if let Some(manager) = filter.manager {
            if !caller.access.users.contains_key(&manager) {
                return Err(AppError::invalid("manager", "user_unknown", "no such user"));
            }
            if !reach.includes(manager) {
                return Err(outside(crate::access::rights::reason::NOT_RESPONSIBLE));
            }
            users = Some(match users {
                Some(members) if !members.contains(&manager) => BTreeSet::new(),
                _ => BTreeSet::from([manager]),
            });
        }
        Ok(match (users, reach) {
            (Some(users), _) => {
                Responsibles::Only(users.into_iter().map(|u| u.to_string()).collect())
            }
            (None, Reach::All) => Responsibles::All,
            (None, Reach::Users(users)) => Responsibles::Only(sorted_ids(&users)),
        })
    }

    /// Checks an `as_of` moment: not in the future, not before the log.
    pub async fn as_of(&self, as_of: Option<Timestamp>) -> Result<Option<i64>, AppError> {
        let Some(as_of) = as_of else { return Ok(None) };
        if as_of > self.clock.now() {
            return Err(AppError::invalid(
                "as_of",
                "as_of_in_future",
                "`as_of` is in the future: reports know only what has been recorded",
            ));
        }
        let first = self
            .first_event
            .get_or_try_init(|| async {
                let first = self.store.read_all(Position::START, 1).await?;
                Ok::<_, AppError>(first.first().map(|e| e.recorded_at))
            })
            .await?;
        let moment = voronka_projections::time::micros(as_of);
        if first.is_some_and(|first| as_of >= first) {
            return Ok(Some(moment));
        }
        // Imported history is known from its original dates, before the
        // log began.
        let earliest = voronka_projections::deals::earliest_known(&self.db)
            .await
            .map_err(projection_error)?;
        if earliest.is_some_and(|earliest| moment >= earliest) {
            return Ok(Some(moment));
        }
        Err(AppError::invalid(
            "as_of",
            "as_of_before_history",
            "`as_of` is before the first recorded event and any imported history",
        ))
    }

    /// Waits until `projections` include `position`.
    pub async fn wait_for(&self, projections: &[&str], position: Position) -> Result<(), AppError> {
        self.projections
            .wait_for(projections, position, READ_YOUR_WRITES_WAIT)
            .await
            .map_err(projection_error)
    }

    /// The latest published version of `process`, or a 422 naming it.
    pub fn process(&self, name: &str) -> Result<Arc<CompiledProcess>, AppError> {
        self.deals.registry().latest(name).ok_or_else(|| {
            AppError::invalid(
                "process",
                "unknown_process",
                format!("no process named `{name}` is published"),
            )
        })
    }

    /// The process a report is about (`b2b-sale` when none is named).
    pub fn process_of(&self, filter: &ReportFilter) -> Result<Arc<CompiledProcess>, AppError> {
        self.process(filter.process.as_deref().unwrap_or(DEFAULT_PROCESS))
    }

    /// Funnel of one process.
    pub async fn funnel(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
    ) -> Result<FunnelReport, AppError> {
        let process = self.process_of(filter)?;
        let scope = self
            .scope(caller, filter, &[voronka_projections::deals::NAME])
            .await?;
        let stages = stage_infos(&process);
        let stages = voronka_projections::funnel::funnel(
            &self.db,
            &scope.flow(&process.identity.name),
            &stages,
        )
        .await
        .map_err(projection_error)?;
        Ok(FunnelReport {
            process: process.identity.name.clone(),
            from: filter.from,
            to: filter.to,
            as_of: filter.as_of,
            stages,
        })
    }
}

/// The process reports default to.
pub const DEFAULT_PROCESS: &str = "b2b-sale";

/// The funnel as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FunnelReport {
    pub process: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<Timestamp>,
    pub stages: Vec<FunnelStage>,
}

/// Stages in definition order with their kind: a terminal stage with
/// probability 100 is a win, any other terminal stage a loss.
pub fn stage_infos(process: &CompiledProcess) -> Vec<StageInfo> {
    process
        .stages
        .iter()
        .map(|stage| StageInfo {
            name: stage.name.clone(),
            kind: stage_kind(stage),
        })
        .collect()
}

pub fn stage_kind(stage: &voronka_process::Stage) -> StageKind {
    match (stage.terminal, stage.probability) {
        (false, _) => StageKind::Open,
        (true, 100) => StageKind::Won,
        (true, _) => StageKind::Lost,
    }
}

fn sorted_ids(users: &HashSet<UserId>) -> Vec<String> {
    let mut ids: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    ids.sort();
    ids
}

/// Checks the period; one end alone leaves the other side open.
fn period(filter: &ReportFilter) -> Result<Option<Period>, AppError> {
    use voronka_projections::time::day_number;
    let (from, to) = match (filter.from, filter.to) {
        (None, None) => return Ok(None),
        (from, to) => (
            from.map(day_number).unwrap_or(i64::MIN / 4),
            to.map(day_number).unwrap_or(i64::MAX / 4),
        ),
    };
    if to < from {
        return Err(AppError::invalid(
            "to",
            "period_reversed",
            "the period ends before it starts",
        ));
    }
    if filter.from.is_some() && filter.to.is_some() && to - from > MAX_PERIOD_DAYS {
        return Err(AppError::invalid(
            "to",
            "period_too_long",
            format!("a period may cover at most {MAX_PERIOD_DAYS} days"),
        ));
    }
    Ok(Some(Period {
        from_day: from,
        to_day: to,
    }))
}

/// Maps what the read models report into the application's errors.
pub fn projection_error(error: ProjectionError) -> AppError {
    match error {
        ProjectionError::Lagging { wanted, reached } => AppError::Unavailable {
            code: "reports_behind",
            message: format!(
                "the reports have reached position {}, not yet {}; retry shortly",
                reached.0, wanted.0
            ),
        },
        ProjectionError::Stopped => AppError::Unavailable {
            code: "reports_stopped",
            message: "the report projections are not running".into(),
        },
        other => AppError::Internal(other.to_string()),
    }
}
