//! The customer base and the sales records around deals, as pure aggregates:
//! companies, contacts, activities (calls, meetings, messages, tasks),
//! documents (proposals, contracts, invoices, acts) with payments, and the
//! product catalog. Plus the in-memory indexes that answer lists, search,
//! duplicate checks and timelines from the event log.
//!
//! Why pure: like `voronka-process`, every rule here is `decide(state,
//! command, context) -> events` and `apply(state, event)`; the application
//! layer (`voronka-app`) does the I/O (load the stream, append with the
//! expected version) and the authorization. Nothing here reads a clock, a
//! database or a random source; time and ids come in as arguments.
//!
//! Deals themselves are the process engine's (`voronka-process`); what is
//! here about deals is only their list index ([`deal_index`]).

pub mod aggregate;
pub mod custom_fields;
pub mod dictionaries;
pub mod errors;
pub mod money_input;
pub mod page;
pub mod timeline;

pub mod company;
pub mod contact;
pub mod customer_index;
pub mod import;
pub mod import_mapping;

pub mod activity;
pub mod document;
pub mod product;
pub mod work_index;

pub mod mailing;
pub mod notification;
pub mod plan;
pub mod saved_report;
pub mod webhook;

pub mod lead_form;
pub mod phone_call;

pub mod deal_index;

pub use aggregate::{decode_event, encode_event, Aggregate, Context};
pub use dictionaries::{Dictionaries, DictionaryEntry};
pub use errors::{CrmError, FieldError};
pub use money_input::MoneyInput;
pub use page::{Cursor, Page, MAX_PAGE_SIZE};
pub use timeline::{EntityRef, TimelineEntry, Timelines};

voronka_core::uuid_id!(
    /// Identifies a company (its stream is `company-<id>`).
    CompanyId
);
voronka_core::uuid_id!(
    /// Identifies a contact person (its stream is `contact-<id>`).
    ContactId
);
voronka_core::uuid_id!(
    /// Identifies a product of the catalog (its stream is `product-<id>`).
    ProductId
);

/// Ids shared with the process engine, so the two layers agree on them.
pub use voronka_process::{ActivityId, DealId, DocumentId, UserId};
