//! Field and action rights, as data. Every right is a row of [`RIGHTS`]:
//! (action, role, how far the grant reaches). A user's reach for an action is
//! the widest grant among their roles; no row means no right (deny by
//! default). Changing who may do what is an edit of that table, not of code
//! paths, and the table is what the authorization matrix tests read.
//!
//! Checks return `Result<(), AccessDenied>`; the HTTP layer maps
//! [`AccessDenied`] to 403 with its stable [`AccessDenied::reason_code`].
//!
//! **404 before 403.** A record the user may not *see* must be answered as
//! 404 (as if it did not exist), never 403, or a manager could probe which
//! deal ids exist in another department. So for a record: first ask
//! visibility, then the right; [`authorize_on_record`] does both in that
//! order and says which status applies.
//!
//! Process permissions (who may move a deal to `won`) are not here: they
//! come from the process definition and are checked by `decide`.

use serde::{Deserialize, Serialize};
use voronka_core::Role;

use super::departments::DepartmentTree;
use super::visibility::{RecordKind, RecordOwnership, Scope, User};

/// Something a user may or may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read deals, activities, documents, companies.
    SeeSalesRecord,
    /// Read a contact's personal data.
    SeeContactPersonalData,
    /// Change a contact's personal data.
    EditContactPersonalData,
    /// Log (create, complete) an activity whose responsible is the record's.
    LogActivity,
    /// Step a deal through its stages (the process decides which steps).
    StepDeal,
    /// Create and change sales records: companies, the business side of
    /// contacts, deals' own data, documents; reassign them.
    EditSalesRecord,
    /// Change the product catalog.
    ManageCatalog,
    /// Read the raw event feed (integrations).
    ReadEventLog,
    /// Publish new versions of process definitions.
    PublishProcess,
    /// Create, change and deactivate users, roles and departments.
    ManageUsers,
    /// Read reports (funnel, plan-vs-fact, ...) over the records reached.
    ReadReports,
    /// Set plans (targets per metric) for managers and departments reached.
    SetPlans,
    /// Set up outgoing webhooks (subscriptions to the event log).
    ManageWebhooks,
    /// Save segments and send mailings to contacts with consent.
    SendMailings,
    /// Set up incoming integrations: website lead forms, the phone system.
    ManageIntegrations,
    /// Read and mark one's own notifications, choose which go by e-mail
    /// (every role: anyone may be notified; nobody reads another's).
    ReadOwnNotifications,
}

impl Action {
    pub const ALL: [Action; 16] = [
        Action::SeeSalesRecord,
        Action::SeeContactPersonalData,
        Action::EditContactPersonalData,
        Action::LogActivity,
        Action::StepDeal,
        Action::EditSalesRecord,
        Action::ManageCatalog,
        Action::ReadEventLog,
        Action::PublishProcess,
        Action::ManageUsers,
        Action::ReadReports,
        Action::SetPlans,
        Action::ManageWebhooks,
        Action::SendMailings,
        Action::ManageIntegrations,
        Action::ReadOwnNotifications,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::SeeSalesRecord => "see_sales_record",
            Action::SeeContactPersonalData => "see_contact_personal_data",
            Action::EditContactPersonalData => "edit_contact_personal_data",
            Action::LogActivity => "log_activity",
            Action::StepDeal => "step_deal",
            Action::EditSalesRecord => "edit_sales_record",
            Action::ManageCatalog => "manage_catalog",
            Action::ReadEventLog => "read_event_log",
            Action::PublishProcess => "publish_process",
            Action::ManageUsers => "manage_users",
            Action::ReadReports => "read_reports",
            Action::SetPlans => "set_plans",
            Action::ManageWebhooks => "manage_webhooks",
            Action::SendMailings => "send_mailings",
            Action::ManageIntegrations => "manage_integrations",
            Action::ReadOwnNotifications => "read_own_notifications",
        }
    }
}

/// How far a role's right reaches, narrowest first (the order matters: the
/// widest grant among a user's roles wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Records where the user is responsible.
    Own,
    /// Records in the user's department subtree (and their own).
    DepartmentSubtree,
    /// Every record, or an action not tied to a record.
    All,
}

/// The rights table. Roles not named for an action have no right to it:
/// process designers, analysts and integrators get theirs with the commands
/// and queries they use (definitions, projections, API tokens).
pub const RIGHTS: &[(Action, Role, Grant)] = {
    use Action::*;
    use Grant::*;
    use Role::*;
    &[
        (SeeSalesRecord, Administrator, All),
        (SeeSalesRecord, Director, All),
        (SeeSalesRecord, HeadOfSales, DepartmentSubtree),
        (SeeSalesRecord, HeadOfDepartment, DepartmentSubtree),
        (SeeSalesRecord, Manager, Own),
        (SeeContactPersonalData, Administrator, All),
        (SeeContactPersonalData, Director, All),
        (SeeContactPersonalData, HeadOfSales, DepartmentSubtree),
        (SeeContactPersonalData, HeadOfDepartment, DepartmentSubtree),
        (SeeContactPersonalData, Manager, Own),
        (SeeContactPersonalData, Operator, All),
        (EditContactPersonalData, Administrator, All),
        (EditContactPersonalData, Operator, All),
        (LogActivity, Administrator, All),
        (LogActivity, Director, All),
        (LogActivity, HeadOfSales, DepartmentSubtree),
        (LogActivity, HeadOfDepartment, DepartmentSubtree),
        (LogActivity, Manager, Own),
        (StepDeal, Administrator, All),
        (StepDeal, Director, All),
        (StepDeal, HeadOfSales, DepartmentSubtree),
        (StepDeal, HeadOfDepartment, DepartmentSubtree),
        (StepDeal, Manager, Own),
        (EditSalesRecord, Administrator, All),
        (EditSalesRecord, Director, All),
        (EditSalesRecord, HeadOfSales, DepartmentSubtree),
        (EditSalesRecord, HeadOfDepartment, DepartmentSubtree),
        (EditSalesRecord, Manager, Own),
        (ManageCatalog, Administrator, All),
        (ManageCatalog, Director, All),
        (ManageCatalog, HeadOfSales, All),
        (ReadEventLog, Administrator, All),
        (ReadEventLog, Integrator, All),
        (PublishProcess, Administrator, All),
        (PublishProcess, ProcessDesigner, All),
        (ManageUsers, Administrator, All),
        (ReadReports, Administrator, All),
        (ReadReports, Director, All),
        (ReadReports, Analyst, All),
        (ReadReports, HeadOfSales, DepartmentSubtree),
        (ReadReports, HeadOfDepartment, DepartmentSubtree),
        (ReadReports, Manager, Own),
        (SetPlans, Administrator, All),
        (SetPlans, Director, All),
        (SetPlans, HeadOfSales, DepartmentSubtree),
        (ManageWebhooks, Administrator, All),
        (SendMailings, Administrator, All),
        (SendMailings, Director, All),
        (SendMailings, HeadOfSales, DepartmentSubtree),
        (ManageIntegrations, Administrator, All),
        (ReadOwnNotifications, Administrator, Own),
        (ReadOwnNotifications, Director, Own),
        (ReadOwnNotifications, HeadOfSales, Own),
        (ReadOwnNotifications, HeadOfDepartment, Own),
        (ReadOwnNotifications, Manager, Own),
        (ReadOwnNotifications, Operator, Own),
        (ReadOwnNotifications, ProcessDesigner, Own),
        (ReadOwnNotifications, Analyst, Own),
        (ReadOwnNotifications, Integrator, Own),
    ]
};

/// The widest grant the user's roles give for `action`; `None` for an
/// inactive user or when no role grants it.
pub fn grant_for(user: &User, action: Action) -> Option<Grant> {
    if !user.active {
        return None;
    }
    RIGHTS
        .iter()
        .filter(|(row_action, role, _)| *row_action == action && user.has_role(*role))
        .map(|(_, _, grant)| *grant)
        .max()
}

/// The reason codes of [`AccessDenied`]; stable, clients may match on them.
pub mod reason {
    /// The user is deactivated.
    pub const USER_INACTIVE: &str = "user_inactive";
    /// None of the user's roles grants the action.
    pub const ROLE_LACKS_RIGHT: &str = "role_lacks_right";
    /// The right covers only the user's own records, and this is not one.
    pub const NOT_RESPONSIBLE: &str = "not_responsible";
    /// The right covers the user's department subtree; the record is outside.
    pub const OUTSIDE_DEPARTMENT: &str = "outside_department";
}

/// The user may not do this. HTTP: 403 with `reason_code` as the problem
/// `code` (only for records the user sees; otherwise 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("may not {}: {reason_code}", action.as_str())]
pub struct AccessDenied {
    pub action: Action,
    pub reason_code: &'static str,
}

/// Checks `action` for a user on a record; with `None` (actions not tied to
/// a record, such as managing users) any grant for the action suffices.
pub fn check(
    user: &User,
    tree: &DepartmentTree,
    action: Action,
    record: Option<RecordOwnership>,
) -> Result<(), AccessDenied> {
    let denied = |reason_code| {
        Err(AccessDenied {
            action,
            reason_code,
        })
    };
    if !user.active {
        return denied(reason::USER_INACTIVE);
    }
    let scope = Scope::for_action(user, action);
    let Some(record) = record else {
        return match scope {
            Scope::Nothing => denied(reason::ROLE_LACKS_RIGHT),
            _ => Ok(()),
        };
    };
    if scope.includes(user.id, tree, record) {
        return Ok(());
    }
    match scope {
        Scope::Own => denied(reason::NOT_RESPONSIBLE),
        Scope::DepartmentSubtree(_) => denied(reason::OUTSIDE_DEPARTMENT),
        Scope::Nothing | Scope::All => denied(reason::ROLE_LACKS_RIGHT),
    }
}

/// Only operators and administrators change contacts' personal data.
pub fn may_edit_contact_personal_data(user: &User) -> Result<(), AccessDenied> {
    check(
        user,
        &DepartmentTree::new(),
        Action::EditContactPersonalData,
        None,
    )
}

/// Managers log only their own activities; heads those of their subtree;
/// directors and administrators any.
pub fn may_log_activity_for(
    user: &User,
    tree: &DepartmentTree,
    activity: RecordOwnership,
) -> Result<(), AccessDenied> {
    check(user, tree, Action::LogActivity, Some(activity))
}

/// Managers step their own deals; heads those of their subtree; directors
/// and administrators any. Which steps are allowed is the process's call.
pub fn may_step_deal(
    user: &User,
    tree: &DepartmentTree,
    deal: RecordOwnership,
) -> Result<(), AccessDenied> {
    check(user, tree, Action::StepDeal, Some(deal))
}

/// Only administrators manage users, roles and departments.
pub fn may_manage_users(user: &User) -> Result<(), AccessDenied> {
    check(user, &DepartmentTree::new(), Action::ManageUsers, None)
}

/// Why an action on a record was refused, with the status it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordAccessError {
    /// The user does not see the record. HTTP: 404, indistinguishable from
    /// a record that does not exist.
    #[error("not found")]
    NotFound,
    /// The user sees the record but may not do this. HTTP: 403.
    #[error(transparent)]
    Forbidden(#[from] AccessDenied),
}

/// Visibility first (404), then the right (403): the order every command
/// on an existing record uses.
pub fn authorize_on_record(
    user: &User,
    tree: &DepartmentTree,
    kind: RecordKind,
    action: Action,
    record: RecordOwnership,
) -> Result<(), RecordAccessError> {
    if !Scope::of(user, kind).includes(user.id, tree, record) {
        return Err(RecordAccessError::NotFound);
    }
    check(user, tree, action, Some(record))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_administrators_manage_webhooks() {
        let roles: Vec<(Role, Grant)> = RIGHTS
            .iter()
            .filter(|(action, _, _)| *action == Action::ManageWebhooks)
            .map(|(_, role, grant)| (*role, *grant))
            .collect();
        assert_eq!(roles, vec![(Role::Administrator, Grant::All)]);
        assert!(Action::ALL.contains(&Action::ManageWebhooks));
        assert_eq!(Action::ManageWebhooks.as_str(), "manage_webhooks");
    }
}
