//! Deals through the CRM: create with their data in one append, read the
//! card with its allowed transitions, list, change fields, move between
//! stages. The process engine decides every change ([`DealService`]); this
//! module authorizes, turns names into the definition's ids and checks the
//! references (company, contact, responsible) against the customer base.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use voronka_core::{CommandId, Position, StreamVersion};
use voronka_crm::deal_index::{DealFilter, DealRow};
use voronka_crm::dictionaries::names;
use voronka_crm::page::{Cursor, Page};
use voronka_crm::{CompanyId, ContactId, DealId, FieldError, MoneyInput};
use voronka_process::{CompiledProcess, DealCommand, FieldValue, Titles};

use super::{AppError, Caller, Crm, Reach, Written};
use crate::access::{Action, RecordKind, UserId};
use crate::deals::LoadedDeal;

/// The longest deal title.
pub const MAX_TITLE_CHARS: usize = 300;

/// A new deal. Built-in fields are properties; the process's own fields go
/// in `fields` by name.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    /// The process's name, e.g. `b2b-sale`; the latest published version.
    pub process: String,
    pub title: String,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub company: Option<CompanyId>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub contact: Option<ContactId>,
    #[serde(default)]
    pub amount: Option<MoneyInput>,
    /// The caller when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub responsible: Option<UserId>,
    /// A value of the `deal_source` dictionary.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub expected_close_date: Option<NaiveDate>,
    /// The process's fields by name (dictionary values by name, money as
    /// `{minor, currency}` or `"1500.00 RUB"`, dates `YYYY-MM-DD`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
}

/// Where an imported deal stood and since when (see [`Crm::import_deal`]).
#[derive(Debug, Clone)]
pub struct ImportedHistory {
    /// The stage's id in the process, e.g. `proposal`.
    pub stage: String,
    pub created_at: voronka_core::Timestamp,
    /// When it entered its stage: the closing date for a closed deal, else
    /// its creation, when not given.
    pub stage_entered_at: Option<voronka_core::Timestamp>,
    /// Only for a deal in a terminal stage.
    pub closed_at: Option<voronka_core::Timestamp>,
    pub source: voronka_process::ImportSource,
}

/// Changes to a deal's data; absent properties stay as they are, `null`
/// in `fields` clears a field.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealChanges {
    /// The version the client saw; another current version is 409.
    #[serde(default)]
    pub expected_version: Option<u64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub company: Option<CompanyId>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub contact: Option<ContactId>,
    #[serde(default)]
    pub amount: Option<MoneyInput>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub responsible: Option<UserId>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub expected_close_date: Option<NaiveDate>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
}

/// A move to another stage, with field values set in the same change.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageMove {
    /// The target stage's id, e.g. `proposal`.
    pub to: String,
    /// The version the client saw; another current version is 409.
    #[serde(default)]
    pub expected_version: Option<u64>,
    /// Fields to set before the move (a loss reason, a contract number).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
}

/// A stage of the deal's process.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageView {
    pub id: String,
    #[schema(value_type = Object)]
    pub title: Titles,
    pub probability: u8,
    pub terminal: bool,
}

/// A stage the deal may move to next and what still blocks it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransitionOption {
    pub stage: String,
    #[schema(value_type = Object)]
    pub title: Titles,
    /// Nothing blocks the move now.
    pub allowed: bool,
    /// Every unmet requirement: `{code, stage, requirement, message}`.
    #[schema(value_type = Vec<Object>)]
    pub unmet: Vec<Value>,
}

/// A deal card: the row, the stage path and the allowed transitions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DealCard {
    #[serde(flatten)]
    pub deal: DealRow,
    pub stage_title: StageView,
    /// Every stage of the process in funnel order.
    pub stages: Vec<StageView>,
    pub allowed_transitions: Vec<TransitionOption>,
}

fn stage_view(definition: &CompiledProcess, index: usize) -> Option<StageView> {
    definition.stages.get(index).map(|stage| StageView {
        id: stage.name.clone(),
        title: stage.title.clone(),
        probability: stage.probability,
        terminal: stage.terminal,
    })
}

/// Either side of a checked deal command's failure.
enum CheckedError {
    App(AppError),
    Deal(crate::deals::DealError),
}

impl From<crate::deals::DealError> for CheckedError {
    fn from(error: crate::deals::DealError) -> Self {
        CheckedError::Deal(error)
    }
}

/// The responsible of a loaded deal (nobody, if unassigned).
pub(crate) fn responsible_of(loaded: &LoadedDeal) -> UserId {
    let nobody = UserId::from_uuid(uuid::Uuid::nil());
    let Some(deal) = &loaded.state.deal else {
        return nobody;
    };
    match loaded
        .definition
        .field_id("responsible")
        .and_then(|field| deal.field(field))
    {
        Some(FieldValue::Reference(id)) => UserId::from_uuid(*id),
        _ => nobody,
    }
}

/// The contact of a loaded deal, if set.
pub(crate) fn contact_of(loaded: &LoadedDeal) -> Option<uuid::Uuid> {
    let deal = loaded.state.deal.as_ref()?;
    match loaded
        .definition
        .field_id("contact")
        .and_then(|field| deal.field(field))
    {
        Some(FieldValue::Reference(id)) => Some(*id),
        _ => None,
    }
}

/// What a deal row's owner is for access checks (nobody, if unassigned).
fn deal_owner(row: &DealRow) -> UserId {
    row.responsible
        .unwrap_or(UserId::from_uuid(uuid::Uuid::nil()))
}

impl Crm {
    /// Creates a deal on the latest version of its process, with every
    /// given field, in one append.
    pub async fn create_deal(
        &self,
        caller: &Caller,
        id: DealId,
        input: NewDeal,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let definition = self
            .deals
            .registry()
            .latest(input.process.trim())
            .ok_or_else(|| {
                AppError::invalid(
                    "process",
                    "unknown_process",
                    format!("no process named `{}` is published", input.process.trim()),
                )
            })?;
        let responsible = input.responsible.unwrap_or(caller.user.id);
        caller.active_user("responsible", responsible)?;
        caller.may(Action::EditSalesRecord, responsible)?;
        let changes = DealChanges {
            expected_version: None,
            title: Some(input.title),
            company: input.company,
            contact: input.contact,
            amount: input.amount,
            responsible: Some(responsible),
            source: input.source,
            expected_close_date: input.expected_close_date,
            fields: input.fields,
        };
        let commands = self.field_commands(&definition, &changes, true).await?;
        let outcome = self
            .deals
            .start_deal_with(
                definition,
                id,
                &commands,
                &caller.process_actor(),
                command_id,
            )
            .await
            .map_err(|error| self.rejection(error, None))?;
        let written = Written {
            id: *id.as_uuid(),
            version: outcome.stream_version.0,
            position: outcome.position.0,
        };
        self.run_outcome_effects(caller, id, &outcome).await?;
        Ok(written)
    }

    /// Creates a deal as imported from another system: standing in
    /// `history.stage` since its original dates, with every given field, in
    /// one append (`deal_imported`, then the fields). The stage is taken
    /// without the transition rules; every later move is checked as usual.
    pub async fn import_deal(
        &self,
        caller: &Caller,
        id: DealId,
        input: NewDeal,
        history: ImportedHistory,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let (definition, commands, import) =
            self.prepare_import(caller, id, input, history).await?;
        let outcome = self
            .deals
            .import_deal(
                definition.clone(),
                import,
                &commands,
                &caller.process_actor(),
                command_id,
            )
            .await
            .map_err(|error| self.rejection(error, Some(&definition)))?;
        let written = Written {
            id: *id.as_uuid(),
            version: outcome.stream_version.0,
            position: outcome.position.0,
        };
        self.run_effects(caller, id, outcome.position, outcome.effects)
            .await?;
        Ok(written)
    }

    /// Everything [`Crm::import_deal`] checks before writing: the process,
    /// the responsible and the caller's right, the fields, the stage and
    /// (through the process's `decide` on an empty deal) the dates. A dry run
    /// stops here.
    pub async fn check_deal_import(
        &self,
        caller: &Caller,
        id: DealId,
        input: NewDeal,
        history: ImportedHistory,
    ) -> Result<(), AppError> {
        let (definition, commands, import) =
            self.prepare_import(caller, id, input, history).await?;
        let actor = caller.process_actor();
        let now = self.clock.now();
        let mut state = voronka_process::DealState::default();
        for command in std::iter::once(DealCommand::Import(import)).chain(commands) {
            let decision = voronka_process::decide(&definition, &state, &command, &actor, now)
                .map_err(|rejection| {
                    self.rejection(
                        crate::deals::DealError::Rejected(rejection),
                        Some(&definition),
                    )
                })?;
            for event in &decision.events {
                voronka_process::apply(&mut state, event);
            }
        }
        Ok(())
    }

    async fn prepare_import(
        &self,
        caller: &Caller,
        id: DealId,
        input: NewDeal,
        history: ImportedHistory,
    ) -> Result<
        (
            Arc<CompiledProcess>,
            Vec<DealCommand>,
            voronka_process::DealImport,
        ),
        AppError,
    > {
        let definition = self
            .deals
            .registry()
            .latest(input.process.trim())
            .ok_or_else(|| {
                AppError::invalid(
                    "process",
                    "unknown_process",
                    format!("no process named `{}` is published", input.process.trim()),
                )
            })?;
        let responsible = input.responsible.unwrap_or(caller.user.id);
        caller.active_user("responsible", responsible)?;
        caller.may(Action::EditSalesRecord, responsible)?;
        let stage = definition.stage_id(history.stage.trim()).ok_or_else(|| {
            AppError::invalid(
                "stage",
                "unknown_stage",
                format!(
                    "the process `{}` has no stage `{}`",
                    definition.identity.name,
                    history.stage.trim()
                ),
            )
        })?;
        let changes = DealChanges {
            expected_version: None,
            title: Some(input.title),
            company: input.company,
            contact: input.contact,
            amount: input.amount,
            responsible: Some(responsible),
            source: input.source,
            expected_close_date: input.expected_close_date,
            fields: input.fields,
        };
        let commands = self.field_commands(&definition, &changes, true).await?;
        let stage_entered_at = history.stage_entered_at.unwrap_or_else(|| {
            match (history.closed_at, definition.stage(stage).terminal) {
                (Some(closed), true) => closed,
                _ => history.created_at,
            }
        });
        let import = voronka_process::DealImport {
            deal: id,
            stage,
            created_at: history.created_at,
            stage_entered_at,
            closed_at: history.closed_at,
            responsible: Some(responsible),
            imported_by: caller.user.id,
            source: history.source,
        };
        Ok((definition, commands, import))
    }

    /// The deal card, or 404 when it does not exist or the caller may not
    /// see it.
    pub async fn deal(
        &self,
        caller: &Caller,
        id: DealId,
        min_position: Option<Position>,
    ) -> Result<DealCard, AppError> {
        let row = {
            let indexes = self.indexes(min_position).await?;
            indexes.deals.deal(id).cloned().ok_or(AppError::NotFound)?
        };
        if !caller.sees(RecordKind::SalesRecord, deal_owner(&row)) {
            return Err(AppError::NotFound);
        }
        let loaded = self.deals.load(id).await?.ok_or(AppError::NotFound)?;
        let definition = loaded.definition.clone();
        let transitions = self.deals.transitions_of(&loaded, &caller.process_actor());
        let current = loaded
            .state
            .deal
            .as_ref()
            .map(|deal| deal.stage.index())
            .unwrap_or_default();
        Ok(DealCard {
            deal: row,
            stage_title: stage_view(&definition, current).ok_or_else(|| {
                AppError::Internal(format!("deal {id} is in a stage its process lacks"))
            })?,
            stages: (0..definition.stages.len())
                .filter_map(|index| stage_view(&definition, index))
                .collect(),
            allowed_transitions: transitions
                .into_iter()
                .map(|transition| TransitionOption {
                    stage: transition.stage_name,
                    title: definition.stage(transition.stage).title.clone(),
                    allowed: transition.unmet.is_empty(),
                    unmet: transition
                        .unmet
                        .iter()
                        .map(|unmet| unmet.to_json(&definition))
                        .collect(),
                })
                .collect(),
        })
    }

    /// A page of the deals the caller sees.
    pub async fn deals(
        &self,
        caller: &Caller,
        filter: &DealFilter,
        after: Option<Cursor>,
        limit: usize,
        min_position: Option<Position>,
    ) -> Result<Page<DealRow>, AppError> {
        let reach = caller.reach(Action::SeeSalesRecord);
        let indexes = self.indexes(min_position).await?;
        Ok(indexes.deals.deals(
            filter,
            &|responsible| match &reach {
                Reach::All => true,
                Reach::Users(users) => responsible.is_some_and(|r| users.contains(&r)),
            },
            after,
            limit,
        ))
    }

    /// Changes a deal's data (not its stage). A new responsible must be
    /// within the caller's reach too.
    pub async fn update_deal(
        &self,
        caller: &Caller,
        id: DealId,
        changes: DealChanges,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        if let Some(new) = changes.responsible {
            caller.active_user("responsible", new)?;
            caller.may(Action::EditSalesRecord, new)?;
        }
        let known = self.known_references(&changes).await?;
        let expected = changes.expected_version.map(StreamVersion);
        self.checked_deal_command(caller, id, command_id, |loaded| {
            caller.authorize(
                RecordKind::SalesRecord,
                Action::EditSalesRecord,
                responsible_of(loaded),
            )?;
            let commands = field_commands(
                &self.dictionaries,
                &loaded.definition,
                &changes,
                false,
                known,
            )?;
            Ok((commands, expected))
        })
        .await
    }

    /// Sets the given fields and moves the deal to `to`, atomically; the
    /// process refuses with every unmet requirement (422).
    pub async fn move_deal(
        &self,
        caller: &Caller,
        id: DealId,
        request: StageMove,
        command_id: Option<CommandId>,
    ) -> Result<Written, AppError> {
        let expected = request.expected_version.map(StreamVersion);
        let changes = DealChanges {
            fields: request.fields,
            ..DealChanges::default()
        };
        self.checked_deal_command(caller, id, command_id, |loaded| {
            caller.authorize(
                RecordKind::SalesRecord,
                Action::StepDeal,
                responsible_of(loaded),
            )?;
            let definition = &loaded.definition;
            let to = definition.stage_id(request.to.trim()).ok_or_else(|| {
                AppError::invalid(
                    "to",
                    "unknown_stage",
                    format!(
                        "the process `{}` has no stage `{}`",
                        definition.identity.name,
                        request.to.trim()
                    ),
                )
            })?;
            let mut commands = field_commands(
                &self.dictionaries,
                definition,
                &changes,
                false,
                (true, true),
            )?;
            commands.push(DealCommand::MoveToStage { to });
            Ok((commands, expected))
        })
        .await
    }

    /// Loads the deal, lets `prepare` authorize and build the commands, runs
    /// them: one lock and one read of the deal per request. A refusal is
    /// rendered with the deal's definition.
    async fn checked_deal_command(
        &self,
        caller: &Caller,
        id: DealId,
        command_id: Option<CommandId>,
        mut prepare: impl FnMut(
            &LoadedDeal,
        ) -> Result<(Vec<DealCommand>, Option<StreamVersion>), AppError>,
    ) -> Result<Written, AppError> {
        let mut definition = None;
        let outcome = self
            .deals
            .execute_checked(id, &caller.process_actor(), command_id, |loaded| {
                definition = Some(loaded.definition.clone());
                prepare(loaded).map_err(CheckedError::App)
            })
            .await;
        match outcome {
            Ok(outcome) => {
                let written = Written {
                    id: *id.as_uuid(),
                    version: outcome.stream_version.0,
                    position: outcome.position.0,
                };
                self.run_outcome_effects(caller, id, &outcome).await?;
                Ok(written)
            }
            Err(CheckedError::App(error)) => Err(error),
            Err(CheckedError::Deal(error)) => Err(self.rejection(error, definition.as_deref())),
        }
    }

    /// A deal error as an [`AppError`], with unmet requirements rendered.
    pub(crate) fn rejection(
        &self,
        error: crate::deals::DealError,
        definition: Option<&CompiledProcess>,
    ) -> AppError {
        match error {
            crate::deals::DealError::Rejected(rejection) => AppError::Rejected {
                code: rejection.code(),
                message: rejection.to_string(),
                unmet: definition
                    .map(|definition| {
                        rejection
                            .unmet()
                            .iter()
                            .map(|unmet| unmet.to_json(definition))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            other => other.into(),
        }
    }

    /// Turns built-in properties and named fields into `SetField` commands,
    /// checking every value; all problems are reported together.
    async fn field_commands(
        &self,
        definition: &CompiledProcess,
        changes: &DealChanges,
        creating: bool,
    ) -> Result<Vec<DealCommand>, AppError> {
        let known = self.known_references(changes).await?;
        field_commands(&self.dictionaries, definition, changes, creating, known)
    }

    /// Which of the company and contact named in `changes` exist (the
    /// customer base is shared: a deal may name any existing one).
    async fn known_references(&self, changes: &DealChanges) -> Result<(bool, bool), AppError> {
        if changes.company.is_none() && changes.contact.is_none() {
            return Ok((true, true));
        }
        let indexes = self.indexes(None).await?;
        Ok((
            changes
                .company
                .is_none_or(|c| indexes.customers.company(c).is_some()),
            changes
                .contact
                .is_none_or(|c| indexes.customers.contact(c).is_some()),
        ))
    }
}

/// Turns built-in properties and named fields into `SetField` commands,
/// checking every value; all problems are reported together. `known` says
/// whether the named company and contact exist.
fn field_commands(
    dictionaries: &voronka_crm::Dictionaries,
    definition: &CompiledProcess,
    changes: &DealChanges,
    creating: bool,
    known: (bool, bool),
) -> Result<Vec<DealCommand>, AppError> {
    {
        let mut errors = Vec::new();
        let mut values: Vec<(&str, Option<FieldValue>)> = Vec::new();
        if let Some(title) = &changes.title {
            let title = title.trim();
            if title.is_empty() {
                errors.push(FieldError::required("title"));
            } else if title.chars().count() > MAX_TITLE_CHARS || title.chars().any(char::is_control)
            {
                errors.push(FieldError::new(
                    "title",
                    "title_invalid",
                    format!(
                        "the title has 1 to {MAX_TITLE_CHARS} characters and no control characters"
                    ),
                ));
            } else {
                values.push(("title", Some(FieldValue::Text(title.to_string()))));
            }
        } else if creating {
            errors.push(FieldError::required("title"));
        }
        if let Some(company) = changes.company {
            match known.0 {
                true => values.push(("company", Some(FieldValue::Reference(*company.as_uuid())))),
                false => errors.push(FieldError::new(
                    "company",
                    "company_unknown",
                    "no such company",
                )),
            }
        }
        if let Some(contact) = changes.contact {
            match known.1 {
                true => values.push(("contact", Some(FieldValue::Reference(*contact.as_uuid())))),
                false => errors.push(FieldError::new(
                    "contact",
                    "contact_unknown",
                    "no such contact",
                )),
            }
        }
        if let Some(amount) = &changes.amount {
            match amount.parse("amount") {
                Ok(money) if money.minor < 0 => errors.push(FieldError::new(
                    "amount",
                    "amount_negative",
                    "the amount cannot be negative",
                )),
                Ok(money) => values.push(("amount", Some(FieldValue::Money(money)))),
                Err(error) => errors.push(error),
            }
        }
        if let Some(responsible) = changes.responsible {
            values.push((
                "responsible",
                Some(FieldValue::Reference(*responsible.as_uuid())),
            ));
        }
        if let Some(source) = &changes.source {
            match dictionaries.check(names::DEAL_SOURCE, source.trim(), "source") {
                Ok(()) => {
                    values.push(("source", Some(FieldValue::Text(source.trim().to_string()))))
                }
                Err(error) => errors.push(error),
            }
        }
        if let Some(date) = changes.expected_close_date {
            values.push(("expected_close_date", Some(FieldValue::Date(date))));
        }
        let mut commands = Vec::new();
        for (name, value) in values {
            match definition.field_id(name) {
                Some(field) => commands.push(DealCommand::SetField { field, value }),
                None => errors.push(FieldError::new(
                    name,
                    "unknown_field",
                    format!("the process has no field `{name}`"),
                )),
            }
        }
        for (name, value) in &changes.fields {
            let path = format!("fields.{name}");
            let Some(field) = definition.field_id(name) else {
                errors.push(FieldError::new(
                    path,
                    "unknown_field",
                    format!(
                        "the process `{}` has no field `{name}`",
                        definition.identity.name
                    ),
                ));
                continue;
            };
            if definition.field(field).builtin {
                errors.push(FieldError::new(
                    path,
                    "builtin_field",
                    format!("`{name}` is set as a property of its own, not in `fields`"),
                ));
                continue;
            }
            if value.is_null() {
                commands.push(DealCommand::SetField { field, value: None });
                continue;
            }
            match definition.field_value_from_json(field, value) {
                Ok(value) => commands.push(DealCommand::SetField {
                    field,
                    value: Some(value),
                }),
                Err(error) => errors.push(FieldError::new(
                    path,
                    "invalid_field_value",
                    error.to_string(),
                )),
            }
        }
        if errors.is_empty() {
            Ok(commands)
        } else {
            Err(AppError::Invalid(errors))
        }
    }
}

impl Crm {
    /// Publishes a new version of a process definition (process designers
    /// and administrators); every diagnostic of an invalid one is returned.
    pub async fn publish_process(
        &self,
        caller: &Caller,
        source_name: &str,
        text: &str,
    ) -> Result<voronka_process::ProcessIdentity, PublishFailure> {
        caller
            .may_at_all(Action::PublishProcess)
            .map_err(PublishFailure::App)?;
        crate::deals::publications::publish_definition(
            &self.store,
            self.deals.registry(),
            source_name,
            text,
            &caller.actor(),
        )
        .await
        .map_err(PublishFailure::Publication)
    }
}

/// Why publishing a definition failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishFailure {
    #[error(transparent)]
    App(AppError),
    #[error(transparent)]
    Publication(crate::deals::publications::PublicationError),
}

/// The published processes, for the API's `processes` list.
pub fn process_summary(definition: &Arc<CompiledProcess>) -> Value {
    serde_json::json!({
        "name": definition.identity.name,
        "version": definition.identity.version,
        "title": definition.title,
        "stages": (0..definition.stages.len()).filter_map(|i| stage_view(definition, i)).collect::<Vec<_>>(),
        "fields": definition.fields.iter().map(|f| serde_json::json!({
            "name": f.name, "type": f.field_type.name(), "title": f.title, "builtin": f.builtin,
        })).collect::<Vec<_>>(),
    })
}
