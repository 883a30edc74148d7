//! The CRM's application layer: every command and query on companies,
//! contacts, deals, activities, documents and products, authorized here.
//!
//! A command: the caller (an authenticated [`User`] with a snapshot of the
//! directory) -> visibility (an invisible record is 404) -> the right for the
//! action (403) -> the record's pure `decide` (`voronka-crm`, or the process
//! engine for deals) -> append with the expected version -> mirror what a
//! deal's process must know (an activity's or document's state) onto the
//! deal -> the new version and position. A query: caller -> the view caught
//! up ([`view::CrmView`]) -> rows filtered by the caller's scope.
//!
//! HTTP handlers only parse and map; none decides access.

pub mod automations;
pub mod customers;
pub mod deals;
pub mod forms;
pub mod import;
mod import_activities;
mod import_deals;
pub mod import_jobs;
pub mod notifications;
pub mod records;
pub mod telephony;
pub mod view;
pub mod work;

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use voronka_core::{Actor, Clock, Position, StreamVersion};
use voronka_crm::{Dictionaries, FieldError};
use voronka_process::{ActorContext, RoleSet};
use voronka_store::{EventStore, StoreError};

use crate::access::{
    rights::check, Action, DepartmentId, RecordKind, RecordOwnership, Scope, User, UserId,
};
use crate::deals::{DealError, DealService};
use crate::directory::{AccessSnapshot, Directory, DirectoryError};

pub use records::RecordOutcome;
pub use view::{CrmView, Indexes};

/// Why a CRM command or query failed. The gateway maps each variant to one
/// status, in one place.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such record, or the caller may not see it. 404.
    #[error("not found")]
    NotFound,
    /// The caller sees the record (or none is involved) but may not do this.
    /// 403 with the reason code.
    #[error("forbidden: {0}")]
    Forbidden(#[from] crate::access::AccessDenied),
    /// Input values are invalid, each named. 422.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The record's state forbids the command. 422 with `code`.
    #[error("{message}")]
    NotAllowed { code: &'static str, message: String },
    /// The process refused: every unmet requirement, rendered with stage
    /// names and messages. 422.
    #[error("{message}")]
    Rejected {
        code: &'static str,
        message: String,
        unmet: Vec<serde_json::Value>,
    },
    /// The record changed since the version the client saw, or concurrently
    /// twice. 409; nothing was written.
    #[error("the record changed concurrently (now at version {actual})")]
    Conflict { actual: StreamVersion },
    /// Creating a record whose id is taken. 409.
    #[error("the record already exists")]
    AlreadyExists,
    /// Strict mode found records with the same INN, phone or e-mail. 409
    /// with the candidates.
    #[error("possible duplicates exist")]
    Duplicates { candidates: Vec<uuid::Uuid> },
    /// The store failed. 503 when transient, else 500.
    #[error(transparent)]
    Store(StoreError),
    /// A dependency is behind or down (the report projections, say); the
    /// client may retry. 503 with `code`.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// A bug or corrupt data; the detail goes to the log. 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        AppError::Invalid(vec![FieldError::new(field, code, message)])
    }
}

impl From<DirectoryError> for AppError {
    fn from(error: DirectoryError) -> Self {
        match error {
            DirectoryError::Store(store) => AppError::Store(store),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError::Store(error)
    }
}

impl From<DealError> for AppError {
    fn from(error: DealError) -> Self {
        match error {
            DealError::NotFound(_) => AppError::NotFound,
            DealError::Rejected(rejection) => AppError::Rejected {
                code: rejection.code(),
                message: rejection.to_string(),
                unmet: Vec::new(),
            },
            DealError::Conflict { actual, .. } => AppError::Conflict { actual },
            DealError::UnknownProcess { name } => AppError::invalid(
                "process",
                "unknown_process",
                format!("no process named `{name}` is published"),
            ),
            DealError::Store(store) => AppError::Store(store),
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// Who is asking, with the directory as it stood when the request began.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub access: Arc<AccessSnapshot>,
    /// Set when Voronka itself acts for an integration (a website form, the
    /// phone system): events record this actor instead of a signed-in user.
    pub acting_as: Option<Actor>,
}

/// Which responsible users' records a caller reaches for one right.
#[derive(Debug, Clone)]
pub enum Reach {
    All,
    Users(HashSet<UserId>),
}

impl Reach {
    pub fn includes(&self, responsible: UserId) -> bool {
        match self {
            Reach::All => true,
            Reach::Users(users) => users.contains(&responsible),
        }
    }
}

impl Caller {
    /// A signed-in user.
    pub fn new(user: User, access: Arc<AccessSnapshot>) -> Self {
        Self {
            user,
            access,
            acting_as: None,
        }
    }

    pub fn actor(&self) -> Actor {
        match &self.acting_as {
            Some(actor) => actor.clone(),
            None => Actor::user(self.user.id.to_string()),
        }
    }

    /// The caller as the process engine sees them (for its permissions).
    pub fn process_actor(&self) -> ActorContext {
        let mut context = ActorContext::user(
            self.user.id,
            self.user.roles.iter().copied().collect::<RoleSet>(),
        );
        if let Some(actor) = &self.acting_as {
            context.actor = actor.clone();
        }
        context
    }

    /// Who owns a record whose responsible is `responsible`: that user and
    /// their department.
    pub fn ownership(&self, responsible: UserId) -> RecordOwnership {
        RecordOwnership {
            responsible,
            department: self
                .access
                .department_of(responsible)
                .unwrap_or(DepartmentId::from_uuid(uuid::Uuid::nil())),
        }
    }

    /// The responsible users whose records the caller reaches for `action`.
    pub fn reach(&self, action: Action) -> Reach {
        match Scope::for_action(&self.user, action) {
            Scope::All => Reach::All,
            Scope::Nothing => Reach::Users(HashSet::new()),
            scope => Reach::Users(
                self.access
                    .users
                    .keys()
                    .copied()
                    .filter(|user| {
                        scope.includes(self.user.id, &self.access.tree, self.ownership(*user))
                    })
                    .collect(),
            ),
        }
    }

    /// Visibility first (404), then the right (403), on a record owned by
    /// `responsible`.
    pub fn authorize(
        &self,
        kind: RecordKind,
        action: Action,
        responsible: UserId,
    ) -> Result<(), AppError> {
        match crate::access::authorize_on_record(
            &self.user,
            &self.access.tree,
            kind,
            action,
            self.ownership(responsible),
        ) {
            Ok(()) => Ok(()),
            Err(crate::access::RecordAccessError::NotFound) => Err(AppError::NotFound),
            Err(crate::access::RecordAccessError::Forbidden(denied)) => {
                Err(AppError::Forbidden(denied))
            }
        }
    }

    /// Whether the caller sees a `kind` record owned by `responsible`.
    pub fn sees(&self, kind: RecordKind, responsible: UserId) -> bool {
        Scope::of(&self.user, kind).includes(
            self.user.id,
            &self.access.tree,
            self.ownership(responsible),
        )
    }

    /// The right for `action` on a record owned by `responsible` (403 only:
    /// for creating records and for naming a new responsible).
    pub fn may(&self, action: Action, responsible: UserId) -> Result<(), AppError> {
        check(
            &self.user,
            &self.access.tree,
            action,
            Some(self.ownership(responsible)),
        )
        .map_err(AppError::Forbidden)
    }

    /// The right for an action tied to no record.
    pub fn may_at_all(&self, action: Action) -> Result<(), AppError> {
        check(&self.user, &self.access.tree, action, None).map_err(AppError::Forbidden)
    }

    /// `user` is an active user (a valid responsible).
    pub fn active_user(&self, field: &str, user: UserId) -> Result<(), AppError> {
        match self.access.users.get(&user) {
            Some(u) if u.active => Ok(()),
            _ => Err(AppError::invalid(
                field,
                "user_unknown",
                format!("`{field}` must be an active user"),
            )),
        }
    }
}

/// The id, version and position of a record a command created or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Written {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    /// The record's version now (send it back as `expected_version`).
    pub version: u64,
    /// The global position of the change (pass as `min_position` to read it).
    pub position: u64,
}

/// Every CRM command and query. One per process, shared behind an `Arc`.
pub struct Crm {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) deals: Arc<DealService>,
    pub(crate) view: CrmView,
    pub(crate) dictionaries: Dictionaries,
    /// Website lead forms' rate limits and list.
    pub(crate) forms: forms::FormsState,
    /// Import jobs started through the API (in memory: a restart forgets
    /// them; what they wrote stays, and a re-run completes it).
    pub(crate) import_jobs: import_jobs::ImportJobs,
}

impl Crm {
    /// Builds the view from the whole log.
    pub async fn open(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        directory: Arc<Directory>,
        deals: Arc<DealService>,
    ) -> Result<Self, AppError> {
        let view = CrmView::open(store.clone()).await?;
        Ok(Self {
            store,
            clock,
            directory,
            deals,
            view,
            dictionaries: Dictionaries::standard(),
            forms: forms::FormsState::default(),
            import_jobs: Default::default(),
        })
    }

    pub fn dictionaries(&self) -> &Dictionaries {
        &self.dictionaries
    }

    pub fn deal_service(&self) -> &Arc<DealService> {
        &self.deals
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// The caller for an authenticated user.
    pub async fn caller(&self, user: User) -> Result<Caller, AppError> {
        Ok(Caller::new(user, self.directory.access_snapshot().await?))
    }

    /// The view caught up, at least to `min_position` when given.
    pub async fn indexes(
        &self,
        min_position: Option<Position>,
    ) -> Result<tokio::sync::RwLockReadGuard<'_, Indexes>, AppError> {
        Ok(match min_position {
            Some(position) => self.view.read_at_least(position).await?,
            None => self.view.read().await?,
        })
    }

    pub(crate) fn context<'a>(&'a self, caller: &Caller) -> voronka_crm::Context<'a> {
        voronka_crm::Context {
            now: self.clock.now(),
            actor: caller.user.id,
            dictionaries: &self.dictionaries,
        }
    }
}

/// A `Written` from a record command's outcome.
pub(crate) fn written(id: uuid::Uuid, outcome: RecordOutcome) -> Written {
    Written {
        id,
        version: outcome.version.0,
        position: outcome.position.0,
    }
}
