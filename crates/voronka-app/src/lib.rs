//! Voronka's application layer. Every write is a command: authorize, load
//! the stream, gather facts, `decide` (pure, in `voronka-process`), append
//! with the expected version, run the returned effects. Every read is a query
//! authorized here too: HTTP handlers never decide access.
//!
//! Invariant: this crate names no storage backend; it works on any
//! [`voronka_store::EventStore`].

pub mod access;
pub mod crm;
pub mod deals;
pub mod designer;
pub mod directory;
pub mod export;
pub mod mail;
pub mod mailings;
pub mod reports;
pub mod timers;
pub mod webhooks;
