//! The directory: users, departments and sessions, kept as events.
//!
//! Why a service of its own: sign-in and "who is this request" are needed
//! by every handler, and the answer must survive restarts and agree between
//! processes sharing a database. So every change is an event (see
//! [`events`]) and [`Directory`] keeps a view rebuilt at [`Directory::open`]
//! from the directory's two streams only (never a scan of the whole log), and
//! caught up with just the newer events before every command and query.
//!
//! Commands on users and departments: lock the view -> catch up -> decide
//! (validation, uniqueness, rights) -> append with `ExpectedVersion::Exact`
//! -> on a conflict (another process wrote first) catch up, decide again and
//! append once more; a second conflict is [`DirectoryError::Conflict`]. A
//! stale view therefore never overwrites, and two administrators adding
//! the same e-mail at once get one user and one `email_taken`.
//!
//! Secrets: passwords are hashed with Argon2id (on a blocking thread, before
//! the view is locked, so a slow hash does not hold up other requests);
//! tokens are stored as SHA-256 hashes and shown once. Login verifies an
//! unknown e-mail against a dummy hash, so the answer takes as long as for a
//! wrong password and both are the same `invalid_credentials`.
//!
//! Who may change the directory: a user actor needs the `manage_users`
//! right; a system actor is trusted (it is the `voronka user add` command,
//! run by someone who already holds the database); integrations may not.

mod error;
pub mod events;
mod view;

use std::collections::BTreeSet;
use std::sync::Arc;

use voronka_core::{
    Actor, ActorKind, Clock, EventMetadata, ExpectedVersion, Position, Role, StreamId, Timestamp,
};
use voronka_store::{EventStore, StoreError, MAX_READ_BATCH};

use crate::access::{
    fresh_token_bytes, hash_new_password, hash_password, may_manage_users, verify_password,
    Department, DepartmentId, DepartmentTree, PasswordError, PasswordHash, Token, TokenError,
    TokenHash, TokenKind, TokenSecret, User, UserId,
};

pub use error::DirectoryError;
use events::{DirectoryEvent, DIRECTORY_STREAM, SESSIONS_STREAM};
pub use view::AccessSnapshot;
use view::View;

/// The longest e-mail accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest display or department name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// A user to register. `Debug` leaves the password out.
#[derive(Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub roles: BTreeSet<Role>,
    pub department: DepartmentId,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("password", &"<redacted>")
            .field("roles", &self.roles)
            .field("department", &self.department)
            .finish()
    }
}

/// What a successful login returns. The token is the only copy of the
/// secret: show it to the client once (its `Debug` is redacted).
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: TokenSecret,
    pub user: User,
    pub expires_at: Timestamp,
}

/// Users, departments and sessions over an [`EventStore`].
pub struct Directory {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    directory_stream: StreamId,
    sessions_stream: StreamId,
    /// Verified against when the e-mail is unknown, so timing tells nothing.
    dummy_hash: PasswordHash,
    view: tokio::sync::Mutex<View>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

impl Directory {
    /// Reads the directory's streams and builds the view.
    pub async fn open(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DirectoryError> {
        let stream = |name: &str| {
            StreamId::new(name).map_err(|error| DirectoryError::Internal(error.to_string()))
        };
        let dummy_hash = run_blocking(|| hash_password("voronka: no such user, never matches"))
            .await?
            .map_err(|error| DirectoryError::Internal(error.to_string()))?;
        let directory = Self {
            store,
            clock,
            directory_stream: stream(DIRECTORY_STREAM)?,
            sessions_stream: stream(SESSIONS_STREAM)?,
            dummy_hash,
            view: tokio::sync::Mutex::new(View::new()),
        };
        {
            let mut view = directory.view.lock().await;
            directory.catch_up_if_moved(&mut view, true).await?;
        }
        Ok(directory)
    }

    /// Creates a department, top-level with `parent: None`. Sibling names are
    /// unique ignoring case.
    pub async fn add_department(
        &self,
        name: &str,
        parent: Option<DepartmentId>,
        by: &Actor,
    ) -> Result<DepartmentId, DirectoryError> {
        let name = checked_name(name).ok_or(DirectoryError::InvalidDepartmentName {
            max: MAX_NAME_CHARS,
        })?;
        let id = DepartmentId::from_parts(self.now_millis(), random_id_bytes()?);
        self.command(by, |view| {
            if let Some(parent) = parent {
                if !view.tree.contains(parent) {
                    return Err(DirectoryError::UnknownDepartment(parent));
                }
            }
            if view.department_named(&name, parent).is_some() {
                return Err(DirectoryError::DepartmentNameTaken(name.clone()));
            }
            Ok(vec![DirectoryEvent::DepartmentCreated {
                department: Department {
                    id,
                    name: name.clone(),
                    parent,
                },
            }])
        })
        .await?;
        Ok(id)
    }

    /// Registers a user. The e-mail must be unique ignoring case; the
    /// password must pass the policy of [`crate::access::passwords`].
    pub async fn add_user(&self, new: NewUser, by: &Actor) -> Result<UserId, DirectoryError> {
        let email = checked_email(&new.email)?;
        let display_name =
            checked_name(&new.display_name).ok_or(DirectoryError::InvalidDisplayName {
                max: MAX_NAME_CHARS,
            })?;
        if new.roles.is_empty() {
            return Err(DirectoryError::NoRoles);
        }
        let password_hash = {
            let (password, email) = (new.password, email.clone());
            run_blocking(move || hash_new_password(&password, &email))
                .await?
                .map_err(|error| match error {
                    PasswordError::Policy(policy) => DirectoryError::PasswordPolicy(policy),
                    other => DirectoryError::Internal(other.to_string()),
                })?
        };
        let user = User {
            id: UserId::from_parts(self.now_millis(), random_id_bytes()?),
            email,
            display_name,
            roles: new.roles,
            department: new.department,
            active: true,
        };
        let id = user.id;
        self.command(by, |view| {
            if view.account_by_email(&user.email).is_some() {
                return Err(DirectoryError::EmailTaken);
            }
            if !view.tree.contains(user.department) {
                return Err(DirectoryError::UnknownDepartment(user.department));
            }
            Ok(vec![DirectoryEvent::UserRegistered {
                user: user.clone(),
                password_hash: password_hash.clone(),
            }])
        })
        .await?;
        Ok(id)
    }

    /// Replaces a user's roles.
    pub async fn change_roles(
        &self,
        user: UserId,
        roles: BTreeSet<Role>,
        by: &Actor,
    ) -> Result<(), DirectoryError> {
        if roles.is_empty() {
            return Err(DirectoryError::NoRoles);
        }
        self.command(by, |view| {
            let account = view
                .accounts
                .get(&user)
                .ok_or(DirectoryError::UnknownUser(user))?;
            if account.user.roles == roles {
                return Ok(vec![]);
            }
            Ok(vec![DirectoryEvent::UserRolesChanged {
                user,
                roles: roles.clone(),
            }])
        })
        .await
    }

    /// Deactivates a user: their history stays, their sessions stop working
    /// and they can no longer log in.
    pub async fn deactivate_user(&self, user: UserId, by: &Actor) -> Result<(), DirectoryError> {
        self.command(by, |view| {
            let account = view
                .accounts
                .get(&user)
                .ok_or(DirectoryError::UnknownUser(user))?;
            if !account.user.active {
                return Ok(vec![]);
            }
            Ok(vec![DirectoryEvent::UserDeactivated { user }])
        })
        .await
    }

    /// Checks the credentials and starts a session.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
    ) -> Result<IssuedSession, DirectoryError> {
        let found = {
            let mut view = self.view.lock().await;
            self.catch_up(&mut view).await?;
            view.account_by_email(email).cloned()
        };
        let hash = found
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |a| a.password_hash.clone());
        let presented = password.to_owned();
        let verified = run_blocking(move || verify_password(&presented, &hash)).await?;
        let user = match (found, verified) {
            (Some(account), Ok(())) if account.user.active => account.user,
            (_, Ok(()) | Err(PasswordError::Mismatch)) => {
                return Err(DirectoryError::InvalidCredentials)
            }
            (_, Err(other)) => return Err(DirectoryError::Internal(other.to_string())),
        };
        let random =
            fresh_token_bytes().map_err(|error| DirectoryError::Internal(error.to_string()))?;
        let issued = Token::issue(
            user.id,
            TokenKind::Session,
            random,
            self.clock.now(),
            TokenKind::Session.default_lifetime(),
        );
        let expires_at = issued.token.expires_at;
        self.append_session(
            DirectoryEvent::SessionStarted {
                token: issued.token,
            },
            Actor::user(user.id.to_string()),
        )
        .await?;
        Ok(IssuedSession {
            token: issued.secret,
            user,
            expires_at,
        })
    }

    /// Issues a long-lived API token for `user` (an integration's account):
    /// administrators only. The secret is shown once; it stops working when
    /// it expires, when presented to logout, or when the user is deactivated.
    pub async fn issue_api_token(
        &self,
        user: UserId,
        lifetime: Option<chrono::Duration>,
        by: &Actor,
    ) -> Result<IssuedSession, DirectoryError> {
        let account = {
            let mut view = self.view.lock().await;
            self.catch_up(&mut view).await?;
            authorize_manage(&view, by)?;
            view.accounts
                .get(&user)
                .filter(|account| account.user.active)
                .map(|account| account.user.clone())
                .ok_or(DirectoryError::UnknownUser(user))?
        };
        let random =
            fresh_token_bytes().map_err(|error| DirectoryError::Internal(error.to_string()))?;
        let issued = Token::issue(
            user,
            TokenKind::Api,
            random,
            self.clock.now(),
            lifetime.unwrap_or_else(|| TokenKind::Api.default_lifetime()),
        );
        let expires_at = issued.token.expires_at;
        self.append_session(
            DirectoryEvent::SessionStarted {
                token: issued.token,
            },
            by.clone(),
        )
        .await?;
        Ok(IssuedSession {
            token: issued.secret,
            user: account,
            expires_at,
        })
    }

    /// The active user a presented token belongs to.
    pub async fn authenticate(&self, presented: &str) -> Result<User, DirectoryError> {
        Ok(self.authenticate_with_access(presented).await?.0)
    }

    /// [`Directory::authenticate`] and [`Directory::access_snapshot`] from one
    /// look at the directory (one catch-up per request, not two).
    pub async fn authenticate_with_access(
        &self,
        presented: &str,
    ) -> Result<(User, Arc<AccessSnapshot>), DirectoryError> {
        let hash = TokenHash::of_presented(presented).map_err(|_| DirectoryError::TokenInvalid)?;
        let mut view = self.current().await?;
        let user = Token::verify(presented, view.sessions.get(&hash), self.clock.now()).map_err(
            |error| match error {
                TokenError::Expired => DirectoryError::TokenExpired,
                TokenError::Unknown | TokenError::Malformed => DirectoryError::TokenInvalid,
            },
        )?;
        let user = match view.accounts.get(&user) {
            Some(account) if account.user.active => account.user.clone(),
            _ => return Err(DirectoryError::TokenInvalid),
        };
        Ok((user, view.snapshot()))
    }

    /// Ends the session of a presented token (expired ones too).
    pub async fn logout(&self, presented: &str) -> Result<(), DirectoryError> {
        let hash = TokenHash::of_presented(presented).map_err(|_| DirectoryError::TokenInvalid)?;
        let user = {
            let mut view = self.view.lock().await;
            self.catch_up(&mut view).await?;
            match view.sessions.get(&hash) {
                Some(token) if token.hash.constant_time_eq(&hash) => token.user,
                _ => return Err(DirectoryError::TokenInvalid),
            }
        };
        self.append_session(
            DirectoryEvent::SessionEnded { token_hash: hash },
            Actor::user(user.to_string()),
        )
        .await
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, DirectoryError> {
        let view = self.current().await?;
        Ok(view.accounts.get(&id).map(|a| a.user.clone()))
    }

    /// Every user, active or not, in id (creation) order.
    pub async fn users(&self) -> Result<Vec<User>, DirectoryError> {
        let view = self.current().await?;
        Ok(view.accounts.values().map(|a| a.user.clone()).collect())
    }

    pub async fn departments(&self) -> Result<DepartmentTree, DirectoryError> {
        Ok(self.current().await?.tree.clone())
    }

    /// Every department, in id (creation) order.
    pub async fn department_list(&self) -> Result<Vec<Department>, DirectoryError> {
        Ok(self
            .current()
            .await?
            .departments
            .values()
            .cloned()
            .collect())
    }

    /// The department with this name (ignoring case) under `parent`.
    pub async fn department_named(
        &self,
        name: &str,
        parent: Option<DepartmentId>,
    ) -> Result<Option<Department>, DirectoryError> {
        Ok(self
            .current()
            .await?
            .department_named(name, parent)
            .cloned())
    }

    /// True when no user exists yet (the first administrator is still to be
    /// created with `voronka user add`).
    pub async fn is_empty(&self) -> Result<bool, DirectoryError> {
        Ok(self.current().await?.accounts.is_empty())
    }

    /// Users and departments as they are now, for access checks.
    pub async fn access_snapshot(&self) -> Result<Arc<AccessSnapshot>, DirectoryError> {
        Ok(self.current().await?.snapshot())
    }

    async fn current(&self) -> Result<tokio::sync::MutexGuard<'_, View>, DirectoryError> {
        let mut view = self.view.lock().await;
        self.catch_up_if_moved(&mut view, false).await?;
        Ok(view)
    }

    /// Catches up only if the store's head moved since the last time: reads
    /// and sign-ins on a quiet log then cost no query. Any commit moves the
    /// head, so under load this reads the two streams per request; that keeps
    /// a logout or a deactivation by another process effective at once.
    /// (`force` reads even when the head did not move.)
    async fn catch_up_if_moved(&self, view: &mut View, force: bool) -> Result<(), DirectoryError> {
        let head = *self.store.commit_notifications().borrow();
        if !force && head == view.seen_head && head != Position(0) {
            return Ok(());
        }
        self.catch_up(view).await?;
        view.seen_head = head;
        Ok(())
    }

    /// Reads the events after the view's versions on both streams.
    async fn catch_up(&self, view: &mut View) -> Result<(), DirectoryError> {
        // Both streams at once (one round trip of latency); users before
        // sessions, as they were written.
        let (users, sessions) = tokio::join!(
            self.store.read_stream(
                &self.directory_stream,
                view.directory_version.next(),
                MAX_READ_BATCH
            ),
            self.store.read_stream(
                &self.sessions_stream,
                view.sessions_version.next(),
                MAX_READ_BATCH
            ),
        );
        let (users, sessions) = (users?, sessions?);
        for recorded in &users {
            view.apply(DirectoryEvent::from_recorded(recorded)?)?;
            view.directory_version = recorded.stream_version;
        }
        for recorded in &sessions {
            view.apply(DirectoryEvent::from_recorded(recorded)?)?;
            view.sessions_version = recorded.stream_version;
        }
        if users.len() < MAX_READ_BATCH && sessions.len() < MAX_READ_BATCH {
            return Ok(());
        }
        // Long streams (the first read of a big directory): the rest in turn.
        for sessions in [false, true] {
            let stream = if sessions {
                &self.sessions_stream
            } else {
                &self.directory_stream
            };
            loop {
                let known = if sessions {
                    view.sessions_version
                } else {
                    view.directory_version
                };
                let batch = self
                    .store
                    .read_stream(stream, known.next(), MAX_READ_BATCH)
                    .await?;
                for recorded in &batch {
                    view.apply(DirectoryEvent::from_recorded(recorded)?)?;
                    if sessions {
                        view.sessions_version = recorded.stream_version;
                    } else {
                        view.directory_version = recorded.stream_version;
                    }
                }
                if batch.len() < MAX_READ_BATCH {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Lock, catch up, authorize and decide, append at the expected version;
    /// on a conflict catch up and decide once more.
    async fn command(
        &self,
        by: &Actor,
        decide: impl Fn(&View) -> Result<Vec<DirectoryEvent>, DirectoryError>,
    ) -> Result<(), DirectoryError> {
        let mut view = self.view.lock().await;
        self.catch_up(&mut view).await?;
        let mut retried = false;
        loop {
            authorize_manage(&view, by)?;
            let events = decide(&view)?;
            if events.is_empty() {
                return Ok(());
            }
            let data = events
                .iter()
                .map(DirectoryEvent::to_event_data)
                .collect::<Result<Vec<_>, _>>()?;
            let appended = self
                .store
                .append(
                    &self.directory_stream,
                    ExpectedVersion::Exact(view.directory_version),
                    data,
                    EventMetadata::by(by.clone()),
                )
                .await;
            match appended {
                Ok(_) => return self.catch_up(&mut view).await,
                Err(StoreError::Conflict { actual, .. }) => {
                    if retried {
                        return Err(DirectoryError::Conflict { actual });
                    }
                    retried = true;
                    self.catch_up(&mut view).await?;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Sessions are independent of each other: appended without an expected
    /// version, then read back into the view like any other event.
    async fn append_session(&self, event: DirectoryEvent, by: Actor) -> Result<(), DirectoryError> {
        let data = event.to_event_data()?;
        self.store
            .append(
                &self.sessions_stream,
                ExpectedVersion::Any,
                vec![data],
                EventMetadata::by(by),
            )
            .await?;
        let mut view = self.view.lock().await;
        self.catch_up(&mut view).await
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(self.clock.now().timestamp_millis()).unwrap_or(0)
    }
}

fn authorize_manage(view: &View, by: &Actor) -> Result<(), DirectoryError> {
    match by.kind {
        ActorKind::System => Ok(()),
        ActorKind::Integration => Err(DirectoryError::Forbidden {
            reason_code: "integration_may_not_manage_users",
        }),
        ActorKind::User => {
            let account = by
                .id
                .parse::<UserId>()
                .ok()
                .and_then(|id| view.accounts.get(&id))
                .ok_or(DirectoryError::Forbidden {
                    reason_code: "unknown_user",
                })?;
            may_manage_users(&account.user).map_err(|denied| DirectoryError::Forbidden {
                reason_code: denied.reason_code,
            })
        }
    }
}

/// Trims; refuses empty, over-long and control characters.
fn checked_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return None;
    }
    Some(name.to_owned())
}

/// A plausible address: `local@domain`, one `@`, no spaces or control
/// characters, at most [`MAX_EMAIL_CHARS`]. Kept as typed (trimmed);
/// compared lower-cased.
fn checked_email(raw: &str) -> Result<String, DirectoryError> {
    let email = raw.trim();
    let invalid = || DirectoryError::InvalidEmail(email.chars().take(64).collect());
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || email.chars().count() > MAX_EMAIL_CHARS
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    Ok(email.to_owned())
}

fn random_id_bytes() -> Result<[u8; 10], DirectoryError> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|error| DirectoryError::Internal(error.to_string()))?;
    Ok(bytes)
}

/// Runs CPU-heavy work (Argon2) off the async worker threads.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DirectoryError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| DirectoryError::Internal(format!("a worker thread failed: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_for_shape_only() {
        for good in ["a@b", "Anna.Ivanova@Example.RU", "  x@y.z  "] {
            assert!(checked_email(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a", "@b", "a@", "a@@b", "a b@c", "a@.b", "a@b.", "a@b\tc",
        ] {
            assert!(checked_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(checked_name("  Продажи "), Some("Продажи".to_owned()));
        assert_eq!(checked_name("   "), None);
        assert_eq!(checked_name(&"я".repeat(MAX_NAME_CHARS + 1)), None);
        assert_eq!(checked_name("a\u{7}b"), None);
    }
}
