//! Who did something. Every event records its actor: the event log is the
//! audit trail.

use serde::{Deserialize, Serialize};

/// What kind of party acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person signed in to Voronka.
    User,
    /// An external system using an API token (telephony, website forms, ...).
    Integration,
    /// Voronka itself: automations, timers, migrations.
    System,
}

/// The party behind an event: its kind and a stable identifier (a user id, an
/// integration name, or the name of the automation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
}

impl Actor {
    pub fn user(id: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::User,
            id: id.into(),
        }
    }

    pub fn integration(name: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Integration,
            id: name.into(),
        }
    }

    pub fn system(name: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::System,
            id: name.into(),
        }
    }

    /// A compact text form, `kind:id`, used as the stored column value.
    pub fn to_stored(&self) -> String {
        let kind = match self.kind {
            ActorKind::User => "user",
            ActorKind::Integration => "integration",
            ActorKind::System => "system",
        };
        format!("{kind}:{}", self.id)
    }

    /// Parses the stored form; anything unrecognised is kept as a system actor
    /// rather than lost, since the log must always be readable.
    pub fn from_stored(stored: &str) -> Self {
        match stored.split_once(':') {
            Some(("user", id)) => Self::user(id),
            Some(("integration", id)) => Self::integration(id),
            Some(("system", id)) => Self::system(id),
            _ => Self::system(stored),
        }
    }
}

/// The roles of Voronka's users. Rights are decided from these in the
/// application layer; process definitions refer to them by their snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Administrator,
    Director,
    HeadOfSales,
    HeadOfDepartment,
    Manager,
    Operator,
    ProcessDesigner,
    Analyst,
    Integrator,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Administrator,
        Role::Director,
        Role::HeadOfSales,
        Role::HeadOfDepartment,
        Role::Manager,
        Role::Operator,
        Role::ProcessDesigner,
        Role::Analyst,
        Role::Integrator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Director => "director",
            Role::HeadOfSales => "head_of_sales",
            Role::HeadOfDepartment => "head_of_department",
            Role::Manager => "manager",
            Role::Operator => "operator",
            Role::ProcessDesigner => "process_designer",
            Role::Analyst => "analyst",
            Role::Integrator => "integrator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_through_their_stored_form() {
        for actor in [
            Actor::user("u1"),
            Actor::integration("site:form"),
            Actor::system("timer"),
        ] {
            assert_eq!(Actor::from_stored(&actor.to_stored()), actor);
        }
    }

    #[test]
    fn roles_parse_from_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("king"), None);
    }
}
