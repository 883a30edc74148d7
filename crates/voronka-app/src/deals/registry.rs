//! The published process definitions, by name and version.
//!
//! Why a registry: a deal keeps the exact definition it started on (its
//! [`ProcessIdentity`]), so reading any deal needs that version at hand, while
//! a new deal starts on the newest one. Published versions are immutable: the
//! same `(name, version)` always means the same content hash.
//!
//! Versions follow the definition's own `version:` key (the contract stated on
//! [`ProcessIdentity`]): publishing the same content again is a no-op that
//! returns the same identity; new content must carry a higher `version:` than
//! the latest one, and a changed file under an already published number is
//! refused, so a designer never silently rewrites what running deals obey.
//!
//! For now the registry lives in memory only: the application publishes the
//! definitions it ships (or is given) at start-up. Persisting publications
//! (so a deal started on a version that is no longer in the files can still be
//! read after a restart) comes later, with the process admin API.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use voronka_process::{
    render_diagnostics, validate_source, CompiledProcess, ContentHash, Diagnostic, ProcessIdentity,
};

/// Why a definition was not published.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PublishError {
    /// The definition does not validate; every diagnostic, with positions. 422.
    #[error("the definition is invalid:\n{}", render_diagnostics(.diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },

    /// This name and version are already published with other content;
    /// published versions are immutable. 409.
    #[error("{published} is already published with different content; raise `version:` above {latest_version} to publish a change")]
    VersionTaken {
        published: ProcessIdentity,
        attempted: ContentHash,
        latest_version: u32,
    },

    /// New content must carry a version above the latest published one. 409.
    #[error("version {attempted} of `{name}` is not above the latest published version {latest_version}")]
    VersionNotNewer {
        name: String,
        attempted: u32,
        latest_version: u32,
    },
}

/// Compiled definitions by name, each with its versions in order.
#[derive(Default)]
pub struct ProcessRegistry {
    processes: RwLock<HashMap<String, BTreeMap<u32, Arc<CompiledProcess>>>>,
}

/// The process definitions Voronka ships, embedded in the binary:
/// (file name, YAML text).
pub const SHIPPED_DEFINITIONS: [(&str, &str); 3] = [
    (
        "b2b-sale.yaml",
        include_str!("../../../../process-definitions/b2b-sale.yaml"),
    ),
    (
        "lead-qualification.yaml",
        include_str!("../../../../process-definitions/lead-qualification.yaml"),
    ),
    (
        "service-ticket.yaml",
        include_str!("../../../../process-definitions/service-ticket.yaml"),
    ),
];

impl ProcessRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with every shipped definition published.
    pub fn with_shipped() -> Result<Self, PublishError> {
        let registry = Self::new();
        for (name, text) in SHIPPED_DEFINITIONS {
            registry.publish(name, text)?;
        }
        Ok(registry)
    }

    /// Validates `text` (named `source_name` in diagnostics) and publishes it.
    /// Publishing identical content again returns the existing identity.
    pub fn publish(&self, source_name: &str, text: &str) -> Result<ProcessIdentity, PublishError> {
        let (compiled, _warnings) = validate_source(source_name, text)
            .map_err(|diagnostics| PublishError::Invalid { diagnostics })?;
        let identity = compiled.identity.clone();
        let mut processes = self.write();
        let versions = processes.entry(identity.name.clone()).or_default();
        let latest_version = versions.keys().next_back().copied().unwrap_or(0);
        if let Some(published) = versions.get(&identity.version) {
            if published.identity.hash == identity.hash {
                return Ok(published.identity.clone());
            }
            return Err(PublishError::VersionTaken {
                published: published.identity.clone(),
                attempted: identity.hash,
                latest_version,
            });
        }
        if identity.version <= latest_version {
            return Err(PublishError::VersionNotNewer {
                name: identity.name,
                attempted: identity.version,
                latest_version,
            });
        }
        versions.insert(identity.version, Arc::new(compiled));
        tracing::info!(process = %identity, "process definition published");
        Ok(identity)
    }

    /// The newest published version of `name`, which new deals start on.
    pub fn latest(&self, name: &str) -> Option<Arc<CompiledProcess>> {
        self.read()
            .get(name)
            .and_then(|versions| versions.values().next_back().cloned())
    }

    /// One published version of `name`.
    pub fn version(&self, name: &str, version: u32) -> Option<Arc<CompiledProcess>> {
        self.read()
            .get(name)
            .and_then(|versions| versions.get(&version).cloned())
    }

    /// The exact definition a deal runs on: name, version and content hash
    /// must all match, so a deal is never read against other rules.
    pub fn get(&self, identity: &ProcessIdentity) -> Option<Arc<CompiledProcess>> {
        self.version(&identity.name, identity.version)
            .filter(|definition| definition.identity.hash == identity.hash)
    }

    /// Every published identity, by name then version.
    pub fn published(&self) -> Vec<ProcessIdentity> {
        let processes = self.read();
        let mut identities: Vec<ProcessIdentity> = processes
            .values()
            .flat_map(|versions| versions.values().map(|d| d.identity.clone()))
            .collect();
        identities.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
        identities
    }

    // A poisoned lock means a panic elsewhere; the map is only changed by a
    // single insert after every check, so it is still consistent.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, BTreeMap<u32, Arc<CompiledProcess>>>> {
        self.processes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, BTreeMap<u32, Arc<CompiledProcess>>>> {
        self.processes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
