//! Voronka's domain vocabulary: typed ids, time, money, actors and the shape of
//! stored events.
//!
//! Invariant: this crate does no I/O, reads no clock and draws no randomness on
//! its own. Time comes in through [`Clock`], ids through their constructors, so
//! every rule built on these types is a plain unit test.

pub mod actor;
pub mod customer;
pub mod event;
pub mod ids;
pub mod money;
pub mod time;

pub use actor::{Actor, ActorKind, Role};
pub use event::{
    AppendOutcome, EventData, EventMetadata, ExpectedVersion, Payload, PayloadError, Position,
    RecordedEvent, StreamId, StreamIdError, StreamVersion,
};
pub use ids::{CommandId, CorrelationId, IdParseError};
pub use money::{Currency, Money, MoneyError};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
