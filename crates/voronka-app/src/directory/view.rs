//! The in-memory view of the directory: what the events say now. `apply`
//! holds no business rule (those are in the commands, which decide before
//! appending); it only folds events, so replaying the streams at open and
//! catching up before a command give the same view.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use voronka_core::{Position, StreamVersion};

use crate::access::{
    Department, DepartmentId, DepartmentTree, PasswordHash, Token, TokenHash, User, UserId,
};

use super::events::DirectoryEvent;
use super::DirectoryError;

/// A user and their password hash (the hash never leaves this module tree).
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub user: User,
    pub password_hash: PasswordHash,
}

#[derive(Debug)]
pub(crate) struct View {
    pub directory_version: StreamVersion,
    pub sessions_version: StreamVersion,
    pub tree: DepartmentTree,
    pub departments: BTreeMap<DepartmentId, Department>,
    pub accounts: BTreeMap<UserId, Account>,
    /// Lower-cased, trimmed e-mail -> user.
    pub by_email: HashMap<String, UserId>,
    /// Token hash -> session; ended sessions are removed, expired ones are
    /// kept so that a client can be told `token_expired`.
    pub sessions: HashMap<TokenHash, Token>,
    /// The store's head when the view last caught up; while the head has
    /// not moved there is nothing new to read.
    pub seen_head: Position,
    /// Users and departments for access checks, built on first use after a
    /// change of either.
    pub snapshot: Option<Arc<AccessSnapshot>>,
}

/// Who is where, for authorizing queries and commands: the department tree
/// and every user. Shared, immutable; rebuilt after a directory change.
#[derive(Debug, Clone, Default)]
pub struct AccessSnapshot {
    pub tree: DepartmentTree,
    pub users: BTreeMap<UserId, User>,
}

impl AccessSnapshot {
    /// The department of a user (unknown users are in none).
    pub fn department_of(&self, user: UserId) -> Option<DepartmentId> {
        self.users.get(&user).map(|u| u.department)
    }
}

impl View {
    pub fn new() -> Self {
        Self {
            directory_version: StreamVersion::NONE,
            sessions_version: StreamVersion::NONE,
            tree: DepartmentTree::new(),
            departments: BTreeMap::new(),
            accounts: BTreeMap::new(),
            by_email: HashMap::new(),
            sessions: HashMap::new(),
            seen_head: Position(0),
            snapshot: None,
        }
    }

    /// The access snapshot, built if a change invalidated it.
    pub fn snapshot(&mut self) -> Arc<AccessSnapshot> {
        if let Some(snapshot) = &self.snapshot {
            return snapshot.clone();
        }
        let snapshot = Arc::new(AccessSnapshot {
            tree: self.tree.clone(),
            users: self
                .accounts
                .iter()
                .map(|(id, account)| (*id, account.user.clone()))
                .collect(),
        });
        self.snapshot = Some(snapshot.clone());
        snapshot
    }

    pub fn apply(&mut self, event: DirectoryEvent) -> Result<(), DirectoryError> {
        if !matches!(
            event,
            DirectoryEvent::SessionStarted { .. } | DirectoryEvent::SessionEnded { .. }
        ) {
            self.snapshot = None;
        }
        match event {
            DirectoryEvent::DepartmentCreated { department } => {
                self.tree
                    .add(department.clone())
                    .map_err(|error| DirectoryError::Corrupt(error.to_string()))?;
                self.departments.insert(department.id, department);
            }
            DirectoryEvent::UserRegistered {
                user,
                password_hash,
            } => {
                self.by_email.insert(email_key(&user.email), user.id);
                self.accounts.insert(
                    user.id,
                    Account {
                        user,
                        password_hash,
                    },
                );
            }
            DirectoryEvent::UserRolesChanged { user, roles } => {
                self.account_mut(user)?.user.roles = roles;
            }
            DirectoryEvent::UserDeactivated { user } => {
                self.account_mut(user)?.user.active = false;
            }
            DirectoryEvent::SessionStarted { token } => {
                self.sessions.insert(token.hash, token);
            }
            DirectoryEvent::SessionEnded { token_hash } => {
                self.sessions.remove(&token_hash);
            }
        }
        Ok(())
    }

    fn account_mut(&mut self, user: UserId) -> Result<&mut Account, DirectoryError> {
        self.accounts
            .get_mut(&user)
            .ok_or_else(|| DirectoryError::Corrupt(format!("an event names unknown user {user}")))
    }

    pub fn account_by_email(&self, email: &str) -> Option<&Account> {
        self.by_email
            .get(&email_key(email))
            .and_then(|id| self.accounts.get(id))
    }

    /// A department with this name (ignoring case) directly under `parent`.
    pub fn department_named(
        &self,
        name: &str,
        parent: Option<DepartmentId>,
    ) -> Option<&Department> {
        let wanted = name.trim().to_lowercase();
        self.departments
            .values()
            .find(|d| d.parent == parent && d.name.to_lowercase() == wanted)
    }
}

/// How e-mails are compared: trimmed and lower-cased.
pub(crate) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}
