//! The customer base through the CRM: companies and contacts (create with a
//! duplicate check, read, list, change, merge two cards of one client,
//! timeline) and handing everything of a leaving manager to another.
//!
//! Who sees what: a company is a sales record (`SeeSalesRecord`: managers
//! their own, heads the subtree, directors all). A contact is personal data
//! (`SeeContactPersonalData`: the same, and operators every contact). The
//! customer base is shared for references and duplicate checks: a contact
//! may name any existing company, and a duplicate warning names records the
//! caller may not open (ids only), so that nobody creates a second card of a
//! client another manager already has.
//!
//! Who changes what: companies need `EditSalesRecord` over their responsible
//! (and over a new responsible). Contacts need `EditSalesRecord` over their
//! responsible or `EditContactPersonalData` (operators); a change of the
//! personal data itself (names, phones, e-mails, birthday) needs
//! `EditContactPersonalData`, whoever is responsible.
//!
//! A change of the responsible user is a `*_reassigned` event of its own,
//! appended after the field changes; history keeps both owners.

use crate::crm::records::field_errors;
use serde::Serialize;
use sha2::{Digest, Sha256};
use voronka_core::{CommandId, Position, StreamVersion};
use voronka_crm::company::{
    Company, CompanyChanges, CompanyCommand, CompanyInput, CompanyState, Patch,
};
use voronka_crm::contact::{Contact, ContactChanges, ContactCommand, ContactInput, ContactState};
use voronka_crm::customer_index::{CompanyFilter, CompanyRow, ContactFilter, ContactRow};
use voronka_crm::page::{Cursor, Page};
use voronka_crm::{CompanyId, ContactId, EntityRef, FieldError, TimelineEntry};

use super::deals::DealChanges;
use super::records::{execute, load, RecordOutcome};
use super::{written, AppError, Caller, Crm, Indexes, Reach, Written};
use crate::access::{Action, RecordKind, UserId};

/// What a create answers: the new record's id, version and position, and
/// the open records that look like the same client (same INN, phone or
/// e-mail), as a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Created {
    #[serde(flatten)]
    pub written: Written,
    /// Ids of possible duplicates (empty when none).
    #[schema(value_type = Vec<String>)]
    pub duplicates: Vec<uuid::Uuid>,
}

/// A change of a company: the field patch, the responsible user and the
/// version the client saw.
#[derive(Debug, Clone, Default)]
pub struct CompanyUpdate {
    /// Another current version is 409 and nothing is written.
    pub expected_version: Option<u64>,
    /// Hands the company to this user (an active user within the caller's
    /// reach).
    pub responsible: Option<UserId>,
    pub changes: CompanyChanges,
}

/// A change of a contact (see [`CompanyUpdate`]).
#[derive(Debug, Clone, Default)]
pub struct ContactUpdate {
    pub expected_version: Option<u64>,
    pub responsible: Option<UserId>,
    pub changes: ContactChanges,
}

/// What a merge wrote: the closed duplicate and the surviving card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Merged {
    /// The card merged away (now closed, with `merged_into`).
    pub source: Written,
    /// The surviving card (its `absorbed` names the source).
    pub target: Written,
}

/// A record a reassignment could not move, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReassignFailure {
    /// `company`, `contact` or `deal`.
    pub kind: &'static str,
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    /// The refusal's code, e.g. `merged`.
    pub code: String,
}

/// How many records a reassignment moved, per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reassigned {
    #[schema(value_type = String, format = Uuid)]
    pub from: UserId,
    #[schema(value_type = String, format = Uuid)]
    pub to: UserId,
    pub companies: usize,
    pub contacts: usize,
    pub deals: usize,
    /// Planned activities (done and cancelled ones keep their owner).
    pub activities: usize,
    /// Records left with `from` (refused by their own rules); empty when
    /// everything moved.
    pub failed: Vec<ReassignFailure>,
}

/// The command id of one step of a request that writes several records
/// (or one record twice): derived from the request's command id, so a
/// retried request repeats no step.
fn step_command(base: Option<CommandId>, step: &str, record: uuid::Uuid) -> Option<CommandId> {
    let base = base?;
    let mut hash = Sha256::new();
    hash.update(base.as_uuid().as_bytes());
    hash.update(step.as_bytes());
    hash.update([0u8]);
    hash.update(record.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Some(CommandId::from_uuid(
        uuid::Builder::from_custom_bytes(bytes).into_uuid(),
    ))
}

/// The right to change a contact's business side (position, company,
/// consent, custom fields) or to create one: `EditSalesRecord` over its
/// responsible, or `EditContactPersonalData` (operators).
fn may_edit_contact(caller: &Caller, responsible: UserId) -> Result<(), AppError> {
    match caller.may(Action::EditSalesRecord, responsible) {
        Ok(()) => Ok(()),
        Err(sales) => caller
            .may_at_all(Action::EditContactPersonalData)
            .map_err(|_| sales),
    }
}

fn company_unknown(field: &str) -> FieldError {
    FieldError::new(field, "company_unknown", "no such company")
}

fn contact_unknown(field: &str) -> FieldError {
    FieldError::new(field, "contact_unknown", "no such contact")
}

fn target_merged(kind: &str) -> AppError {
    AppError::NotAllowed {
        code: "target_merged",
        message: format!(
            "the target {kind} was itself merged into another one; merge into that one"
        ),
    }
}

fn merge_into_itself(kind: &str) -> AppError {
    AppError::NotAllowed {
        code: "merge_into_itself",
        message: format!("a {kind} cannot be merged into itself"),
    }
}

/// Whether the caller sees the record a timeline entry is about; an entry
/// of a record they do not see keeps its line but loses its data.
fn sees_subject(caller: &Caller, indexes: &Indexes, subject: EntityRef) -> bool {
    let sales = |responsible: UserId| caller.sees(RecordKind::SalesRecord, responsible);
    match subject {
        EntityRef::Company(id) => indexes
            .customers
            .company(id)
            .is_some_and(|row| sales(row.record.responsible)),
        EntityRef::Contact(id) => indexes.customers.contact(id).is_some_and(|row| {
            caller.sees(RecordKind::ContactPersonalData, row.record.responsible)
        }),
        EntityRef::Deal(id) => indexes
            .deals
            .deal(id)
            .is_some_and(|row| match row.responsible {
                Some(responsible) => sales(responsible),
                None => matches!(caller.reach(Action::SeeSalesRecord), Reach::All),
            }),
        EntityRef::Activity(id) => indexes
            .work
            .activity(id)
            .is_some_and(|row| sales(row.record.responsible)),
        EntityRef::Document(id) => indexes
            .work
            .document(id)
            .is_some_and(|row| sales(row.record.responsible)),
        EntityRef::Product(_) => true,
    }
}

fn timeline_page(
    caller: &Caller,
    indexes: &Indexes,
    entity: EntityRef,
    after: Option<Cursor>,
    limit: usize,
) -> Page<TimelineEntry> {
    let mut page = indexes.timelines.page(entity, after, limit);
    for entry in &mut page.items {
        if entry.subject != entity && !sees_subject(caller, indexes, entry.subject) {
            entry.data = serde_json::Value::Null;
        }
    }
    page
}

impl Crm {
    // -- companies ---------------------------------------------------------

    /// Creates a company. Open companies with the same INN are returned as
    /// `duplicates`; with `strict` they refuse the create (409) and nothing
    /// is written. The responsible user is the caller unless named.
    pub async fn create_company(
        &self,
        caller: &Caller,
        id: CompanyId,
        input: CompanyInput,
        strict: bool,
        command_id: Option<CommandId>,
    ) -> Result<Created, AppError> {
        let responsible = input.responsible.unwrap_or(caller.user.id);
        caller.active_user("responsible", responsible)?;
        caller.may(Action::EditSalesRecord, responsible)?;
        let duplicates: Vec<uuid::Uuid> = {
            let indexes = self.indexes(None).await?;
            indexes
                .customers
                .duplicate_candidates_for_company_input(&input)
                .into_iter()
                .filter(|candidate| *candidate != id)
                .map(|candidate| *candidate.as_uuid())
                .collect()
        };
        let command = CompanyCommand::Create {
            id,
            input,
            default_responsible: caller.user.id,
        };
        let context = self.context(caller);
        if strict && !duplicates.is_empty() {
            // Invalid fields are reported before duplicates.
            let errors = field_errors::<Company>(&CompanyState::default(), &command, &context)?;
            if !errors.is_empty() {
                return Err(AppError::Invalid(errors));
            }
            return Err(AppError::Duplicates {
                candidates: duplicates,
            });
        }
        let (_, outcome) = execute::<Company>(
            &self.store,
            *id.as_uuid(),
            &command,
            &context,
            &caller.actor(),
            None,
            command_id,
        )
        .await?;
        Ok(Created {
            written: written(*id.as_uuid(), outcome),
            duplicates,
        })
    }

    /// A company card (merged ones too, with `merged_into`); 404 when it
    /// does not exist or the caller may not see it.
    pub async fn company(
        &self,
        caller: &Caller,
        id: CompanyId,
        min_position: Option<Position>,
    ) -> Result<CompanyRow, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.customers.company(id).ok_or(AppError::NotFound)?;
        if !caller.sees(RecordKind::SalesRecord, row.record.responsible) {
            return Err(AppError::NotFound);
        }
        Ok(row.clone())
    }

    /// A page of the open companies the caller sees, newest first.
    pub async fn companies(
        &self,
        caller: &Caller,
        filter: &CompanyFilter,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<CompanyRow>, AppError> {
        let reach = caller.reach(Action::SeeSalesRecord);
        let indexes = self.indexes(min_position).await?;
        let page = indexes.customers.companies(
            filter,
            &|responsible| reach.includes(responsible),
            after,
            limit,
        );
        Ok(page)
    }

    /// Changes a company's fields and, when `responsible` names another
    /// user, hands it over (the caller needs the right over both users).
    pub async fn update_company(
        &self,
        caller: &Caller,
        id: CompanyId,
        update: CompanyUpdate,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let current = {
            let indexes = self.indexes(None).await?;
            let row = indexes.customers.company(id).ok_or(AppError::NotFound)?;
            row.record.responsible
        };
        caller.authorize(RecordKind::SalesRecord, Action::EditSalesRecord, current)?;
        let reassign_to = match update.responsible {
            Some(new) if new != current => {
                caller.active_user("responsible", new)?;
                caller.may(Action::EditSalesRecord, new)?;
                Some(new)
            }
            _ => None,
        };
        let context = self.context(caller);
        let (_, mut outcome) = execute::<Company>(
            &self.store,
            *id.as_uuid(),
            &CompanyCommand::Update {
                changes: update.changes,
            },
            &context,
            &caller.actor(),
            update.expected_version.map(StreamVersion),
            command_id,
        )
        .await?;
        if let Some(to) = reassign_to {
            (_, outcome) = execute::<Company>(
                &self.store,
                *id.as_uuid(),
                &CompanyCommand::Reassign { to },
                &context,
                &caller.actor(),
                None,
                step_command(command_id, "reassign", *id.as_uuid()),
            )
            .await?;
        }
        Ok(written(*id.as_uuid(), outcome))
    }

    /// Merges company `source` (a duplicate) into `target`: the source is
    /// closed with `merged_into`, the target records `absorbed`, and the
    /// target's timeline shows both histories. Repeating a merge that
    /// already happened writes nothing.
    pub async fn merge_company(
        &self,
        caller: &Caller,
        source: CompanyId,
        target: CompanyId,
        command_id: Option<CommandId>,
    ) -> Result<Merged, AppError> {
        let (already_merged, target_responsible) = {
            let indexes = self.indexes(None).await?;
            let source_row = indexes
                .customers
                .company(source)
                .ok_or(AppError::NotFound)?;
            caller.authorize(
                RecordKind::SalesRecord,
                Action::EditSalesRecord,
                source_row.record.responsible,
            )?;
            if source == target {
                return Err(merge_into_itself("company"));
            }
            let target_row = indexes
                .customers
                .company(target)
                .filter(|row| caller.sees(RecordKind::SalesRecord, row.record.responsible))
                .ok_or_else(|| AppError::Invalid(vec![company_unknown("into")]))?;
            if target_row.record.merged_into.is_some() {
                return Err(target_merged("company"));
            }
            (
                source_row.record.merged_into == Some(target),
                target_row.record.responsible,
            )
        };
        caller.may(Action::EditSalesRecord, target_responsible)?;
        let context = self.context(caller);
        let source_outcome = if already_merged {
            let loaded = load::<Company>(&self.store, *source.as_uuid()).await?;
            RecordOutcome {
                version: loaded.version,
                position: loaded.position,
                changed: false,
            }
        } else {
            execute::<Company>(
                &self.store,
                *source.as_uuid(),
                &CompanyCommand::MergeInto { target },
                &context,
                &caller.actor(),
                None,
                command_id,
            )
            .await?
            .1
        };
        let (_, target_outcome) = execute::<Company>(
            &self.store,
            *target.as_uuid(),
            &CompanyCommand::Absorb { source },
            &context,
            &caller.actor(),
            None,
            step_command(command_id, "absorb", *source.as_uuid()),
        )
        .await?;
        Ok(Merged {
            source: written(*source.as_uuid(), source_outcome),
            target: written(*target.as_uuid(), target_outcome),
        })
    }

    /// A page of a company's timeline, newest first: its own events, its
    /// contacts', deals', activities' and documents', and those of the
    /// companies merged into it. Entries about records the caller does not
    /// see are kept without their data.
    pub async fn company_timeline(
        &self,
        caller: &Caller,
        id: CompanyId,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<TimelineEntry>, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.customers.company(id).ok_or(AppError::NotFound)?;
        if !caller.sees(RecordKind::SalesRecord, row.record.responsible) {
            return Err(AppError::NotFound);
        }
        Ok(timeline_page(
            caller,
            &indexes,
            EntityRef::Company(id),
            after,
            limit,
        ))
    }

    // -- contacts ----------------------------------------------------------

    /// Creates a contact. Its `company` must exist; open contacts sharing a
    /// phone or an e-mail are returned as `duplicates` (with `strict`, they
    /// refuse the create with 409 and nothing is written).
    pub async fn create_contact(
        &self,
        caller: &Caller,
        id: ContactId,
        input: ContactInput,
        strict: bool,
        command_id: Option<CommandId>,
    ) -> Result<Created, AppError> {
        let responsible = input.responsible.unwrap_or(caller.user.id);
        caller.active_user("responsible", responsible)?;
        may_edit_contact(caller, responsible)?;
        let (duplicates, company_known) = {
            let indexes = self.indexes(None).await?;
            let duplicates: Vec<uuid::Uuid> = indexes
                .customers
                .duplicate_candidates_for_contact_input(&input)
                .into_iter()
                .filter(|candidate| *candidate != id)
                .map(|candidate| *candidate.as_uuid())
                .collect();
            let company_known = input
                .company
                .is_none_or(|company| indexes.customers.company(company).is_some());
            (duplicates, company_known)
        };
        let command = ContactCommand::Create {
            id,
            input,
            default_responsible: caller.user.id,
        };
        let context = self.context(caller);
        let mut errors = field_errors::<Contact>(&ContactState::default(), &command, &context)?;
        if !company_known {
            errors.push(company_unknown("company"));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        if strict && !duplicates.is_empty() {
            return Err(AppError::Duplicates {
                candidates: duplicates,
            });
        }
        let (_, outcome) = execute::<Contact>(
            &self.store,
            *id.as_uuid(),
            &command,
            &context,
            &caller.actor(),
            None,
            command_id,
        )
        .await?;
        Ok(Created {
            written: written(*id.as_uuid(), outcome),
            duplicates,
        })
    }

    /// A contact card (merged ones too); 404 when it does not exist or the
    /// caller may not see its personal data.
    pub async fn contact(
        &self,
        caller: &Caller,
        id: ContactId,
        min_position: Option<Position>,
    ) -> Result<ContactRow, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.customers.contact(id).ok_or(AppError::NotFound)?;
        if !caller.sees(RecordKind::ContactPersonalData, row.record.responsible) {
            return Err(AppError::NotFound);
        }
        Ok(row.clone())
    }

    /// A page of the open contacts the caller sees, newest first.
    pub async fn contacts(
        &self,
        caller: &Caller,
        filter: &ContactFilter,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<ContactRow>, AppError> {
        let reach = caller.reach(Action::SeeContactPersonalData);
        let indexes = self.indexes(min_position).await?;
        let page = indexes.customers.contacts(
            filter,
            &|responsible| reach.includes(responsible),
            after,
            limit,
        );
        Ok(page)
    }

    /// Changes a contact. Personal data (names, phones, e-mails, birthday)
    /// needs `EditContactPersonalData` when it really changes; the rest
    /// `EditSalesRecord` over the responsible or `EditContactPersonalData`;
    /// a new responsible `EditSalesRecord` over the current and the new one.
    pub async fn update_contact(
        &self,
        caller: &Caller,
        id: ContactId,
        update: ContactUpdate,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let (record, company_known) = {
            let indexes = self.indexes(None).await?;
            let row = indexes.customers.contact(id).ok_or(AppError::NotFound)?;
            let company_known = match &update.changes.company {
                Patch::Set(company) => indexes.customers.company(*company).is_some(),
                Patch::Unchanged | Patch::Clear => true,
            };
            (row.record.clone(), company_known)
        };
        let current = record.responsible;
        if !caller.sees(RecordKind::ContactPersonalData, current) {
            return Err(AppError::NotFound);
        }
        may_edit_contact(caller, current)?;
        if update.changes.changes_personal_data_of(&record) {
            caller.may(Action::EditContactPersonalData, current)?;
        }
        let reassign_to = match update.responsible {
            Some(new) if new != current => {
                caller.may(Action::EditSalesRecord, current)?;
                caller.active_user("responsible", new)?;
                caller.may(Action::EditSalesRecord, new)?;
                Some(new)
            }
            _ => None,
        };
        let context = self.context(caller);
        let command = ContactCommand::Update {
            changes: update.changes,
        };
        if !company_known {
            // Every invalid field at once, the unknown company among them.
            let mut errors =
                field_errors::<Contact>(&ContactState(Some(record)), &command, &context)?;
            errors.push(company_unknown("company"));
            return Err(AppError::Invalid(errors));
        }
        let (_, mut outcome) = execute::<Contact>(
            &self.store,
            *id.as_uuid(),
            &command,
            &context,
            &caller.actor(),
            update.expected_version.map(StreamVersion),
            command_id,
        )
        .await?;
        if let Some(to) = reassign_to {
            (_, outcome) = execute::<Contact>(
                &self.store,
                *id.as_uuid(),
                &ContactCommand::Reassign { to },
                &context,
                &caller.actor(),
                None,
                step_command(command_id, "reassign", *id.as_uuid()),
            )
            .await?;
        }
        Ok(written(*id.as_uuid(), outcome))
    }

    /// Merges contact `source` into `target` (see [`Crm::merge_company`]).
    /// Operators may merge any contacts, others those they may edit.
    pub async fn merge_contact(
        &self,
        caller: &Caller,
        source: ContactId,
        target: ContactId,
        command_id: Option<CommandId>,
    ) -> Result<Merged, AppError> {
        let (already_merged, source_responsible, target_responsible) = {
            let indexes = self.indexes(None).await?;
            let source_row = indexes
                .customers
                .contact(source)
                .ok_or(AppError::NotFound)?;
            if !caller.sees(
                RecordKind::ContactPersonalData,
                source_row.record.responsible,
            ) {
                return Err(AppError::NotFound);
            }
            if source == target {
                return Err(merge_into_itself("contact"));
            }
            let target_row = indexes
                .customers
                .contact(target)
                .filter(|row| caller.sees(RecordKind::ContactPersonalData, row.record.responsible))
                .ok_or_else(|| AppError::Invalid(vec![contact_unknown("into")]))?;
            if target_row.record.merged_into.is_some() {
                return Err(target_merged("contact"));
            }
            (
                source_row.record.merged_into == Some(target),
                source_row.record.responsible,
                target_row.record.responsible,
            )
        };
        may_edit_contact(caller, source_responsible)?;
        may_edit_contact(caller, target_responsible)?;
        let context = self.context(caller);
        let source_outcome = if already_merged {
            let loaded = load::<Contact>(&self.store, *source.as_uuid()).await?;
            RecordOutcome {
                version: loaded.version,
                position: loaded.position,
                changed: false,
            }
        } else {
            execute::<Contact>(
                &self.store,
                *source.as_uuid(),
                &ContactCommand::MergeInto { target },
                &context,
                &caller.actor(),
                None,
                command_id,
            )
            .await?
            .1
        };
        let (_, target_outcome) = execute::<Contact>(
            &self.store,
            *target.as_uuid(),
            &ContactCommand::Absorb { source },
            &context,
            &caller.actor(),
            None,
            step_command(command_id, "absorb", *source.as_uuid()),
        )
        .await?;
        Ok(Merged {
            source: written(*source.as_uuid(), source_outcome),
            target: written(*target.as_uuid(), target_outcome),
        })
    }

    /// A page of a contact's timeline, newest first (with the contacts
    /// merged into it). Entries about records the caller does not see are
    /// kept without their data.
    pub async fn contact_timeline(
        &self,
        caller: &Caller,
        id: ContactId,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<TimelineEntry>, AppError> {
        let indexes = self.indexes(min_position).await?;
        let row = indexes.customers.contact(id).ok_or(AppError::NotFound)?;
        if !caller.sees(RecordKind::ContactPersonalData, row.record.responsible) {
            return Err(AppError::NotFound);
        }
        Ok(timeline_page(
            caller,
            &indexes,
            EntityRef::Contact(id),
            after,
            limit,
        ))
    }

    // -- a leaving manager -------------------------------------------------

    /// Hands every open company, contact and deal and every planned
    /// activity of `from` to `to`. The
    /// caller needs `EditSalesRecord` over both users (an administrator, a
    /// director, the head of a subtree holding both). Each record gets a
    /// `*_reassigned` change of its own; a record that refuses (merged
    /// meanwhile) is listed in `failed` and the others still move. A retry
    /// moves what is left.
    pub async fn reassign_all(
        &self,
        caller: &Caller,
        from: UserId,
        to: UserId,
        command_id: Option<CommandId>,
    ) -> Result<Reassigned, AppError> {
        if !caller.access.users.contains_key(&from) {
            return Err(AppError::NotFound);
        }
        caller.may(Action::EditSalesRecord, from)?;
        if from == to {
            return Err(AppError::invalid(
                "to",
                "same_user",
                "`to` must be another user than the one whose records are handed over",
            ));
        }
        caller.active_user("to", to)?;
        caller.may(Action::EditSalesRecord, to)?;
        let (companies, contacts, deals) = {
            let indexes = self.indexes(None).await?;
            (
                indexes.customers.companies_responsible_of(from),
                indexes.customers.contacts_responsible_of(from),
                indexes.deals.deals_responsible_of(from),
            )
        };
        let mut result = Reassigned {
            from,
            to,
            companies: 0,
            contacts: 0,
            deals: 0,
            activities: 0,
            failed: Vec::new(),
        };
        let context = self.context(caller);
        for id in companies {
            let outcome = execute::<Company>(
                &self.store,
                *id.as_uuid(),
                &CompanyCommand::Reassign { to },
                &context,
                &caller.actor(),
                None,
                step_command(command_id, "company", *id.as_uuid()),
            )
            .await;
            match outcome {
                Ok(_) => result.companies += 1,
                Err(error) => result
                    .failed
                    .push(refused("company", *id.as_uuid(), error)?),
            }
        }
        for id in contacts {
            let outcome = execute::<Contact>(
                &self.store,
                *id.as_uuid(),
                &ContactCommand::Reassign { to },
                &context,
                &caller.actor(),
                None,
                step_command(command_id, "contact", *id.as_uuid()),
            )
            .await;
            match outcome {
                Ok(_) => result.contacts += 1,
                Err(error) => result
                    .failed
                    .push(refused("contact", *id.as_uuid(), error)?),
            }
        }
        for id in deals {
            let outcome = self
                .update_deal(
                    caller,
                    id,
                    DealChanges {
                        responsible: Some(to),
                        ..DealChanges::default()
                    },
                    step_command(command_id, "deal", *id.as_uuid()),
                )
                .await;
            match outcome {
                Ok(_) => result.deals += 1,
                Err(error) => result.failed.push(refused("deal", *id.as_uuid(), error)?),
            }
        }
        result.activities = self.reassign_work(caller, from, to).await?;
        Ok(result)
    }
}

/// A record's refusal during a reassignment as a failure entry; an error of
/// the store or a bug stops the whole request instead.
fn refused(
    kind: &'static str,
    id: uuid::Uuid,
    error: AppError,
) -> Result<ReassignFailure, AppError> {
    let code = match &error {
        AppError::Store(_) | AppError::Internal(_) | AppError::Unavailable { .. } => {
            return Err(error)
        }
        AppError::NotFound => "not_found".to_owned(),
        AppError::Forbidden(denied) => denied.reason_code.to_owned(),
        AppError::Invalid(errors) => errors.first().map_or("invalid", |e| e.code).to_owned(),
        AppError::NotAllowed { code, .. } | AppError::Rejected { code, .. } => (*code).to_owned(),
        AppError::Conflict { .. } => "version_conflict".to_owned(),
        AppError::AlreadyExists => "already_exists".to_owned(),
        AppError::Duplicates { .. } => "duplicates_found".to_owned(),
    };
    tracing::warn!(kind, %id, code, "record not reassigned");
    Ok(ReassignFailure { kind, id, code })
}
