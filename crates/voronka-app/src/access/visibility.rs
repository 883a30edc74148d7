//! Which records a user sees at all. A manager sees records where they are
//! responsible, a head the department subtree, a director everything; an
//! operator sees every contact's personal data and nothing else of sales.
//!
//! The answer is a [`Scope`], computed from the user's roles through the same
//! rights table as every other right ([`super::rights::RIGHTS`]), so a query can
//! turn it into a filter and a single-record read can ask [`can_see`]. A
//! record outside the scope is answered as 404, never 403.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use voronka_core::Role;

use super::departments::{DepartmentId, DepartmentTree};
use super::rights::{grant_for, Action, Grant};
use super::UserId;

/// A person who signs in. Ready to be the payload of a `user_registered`
/// event; the password hash travels beside it, not inside, so that a user can
/// be shown (to an administrator, in a list) without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub roles: BTreeSet<Role>,
    pub department: DepartmentId,
    /// A deactivated user keeps their history but sees and may do nothing.
    pub active: bool,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Who owns a record, as far as access is concerned: the responsible user
/// and the department the record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordOwnership {
    pub responsible: UserId,
    pub department: DepartmentId,
}

/// The kinds of records that differ in who sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Deals, activities, documents, companies and the business side of
    /// contacts: seen by responsible, heads and directors.
    SalesRecord,
    /// A contact's personal data (phones, e-mail, passport, address): also
    /// seen, in full, by operators, who keep it clean.
    ContactPersonalData,
}

impl RecordKind {
    /// The right that governs seeing this kind of record.
    pub fn see_action(self) -> Action {
        match self {
            RecordKind::SalesRecord => Action::SeeSalesRecord,
            RecordKind::ContactPersonalData => Action::SeeContactPersonalData,
        }
    }
}

/// The set of records a user may reach for one right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "department")]
pub enum Scope {
    /// No records at all: an inactive user, or no role grants the right.
    Nothing,
    /// Records where the user is responsible.
    Own,
    /// Records of this department and every department below it, plus the
    /// user's own.
    DepartmentSubtree(DepartmentId),
    /// Every record.
    All,
}

impl Scope {
    /// The scope the user's roles give for seeing `kind` records.
    pub fn of(user: &User, kind: RecordKind) -> Scope {
        Scope::for_action(user, kind.see_action())
    }

    /// The scope the user's roles give for `action`; the widest role wins.
    pub fn for_action(user: &User, action: Action) -> Scope {
        match grant_for(user, action) {
            None => Scope::Nothing,
            Some(Grant::Own) => Scope::Own,
            Some(Grant::DepartmentSubtree) => Scope::DepartmentSubtree(user.department),
            Some(Grant::All) => Scope::All,
        }
    }

    /// Whether the record falls within this scope for `user`.
    pub fn includes(&self, user: UserId, tree: &DepartmentTree, record: RecordOwnership) -> bool {
        match self {
            Scope::Nothing => false,
            Scope::Own => record.responsible == user,
            Scope::DepartmentSubtree(department) => {
                record.responsible == user || tree.is_within(record.department, *department)
            }
            Scope::All => true,
        }
    }
}

/// Whether `user` sees the sales record (deal, activity, document, company).
pub fn can_see(user: &User, tree: &DepartmentTree, record: RecordOwnership) -> bool {
    Scope::of(user, RecordKind::SalesRecord).includes(user.id, tree, record)
}

/// Whether `user` sees the personal data of a contact owned as `record`.
pub fn can_see_contact_personal_data(
    user: &User,
    tree: &DepartmentTree,
    record: RecordOwnership,
) -> bool {
    Scope::of(user, RecordKind::ContactPersonalData).includes(user.id, tree, record)
}
