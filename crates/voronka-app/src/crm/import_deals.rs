//! CSV import of deals with their history, through the same checks as
//! `Crm::create_deal`: each row names its process (or the only published
//! one), title, company (by INN), contact (by phone or e-mail), responsible
//! (by e-mail), amount, fields, and optionally its stage and dates. A row
//! with a stage or a date becomes a `deal_imported` event (see
//! [`Crm::import_deal`]); one without is created like any new deal.
//!
//! Every row is one append (the deal and its fields), so never half a row;
//! its deal id and command id are derived from (file, kind, line), so a
//! re-run skips what was written and completes what was not.

use std::collections::BTreeMap;

use serde_json::Value;
use voronka_core::customer::{Country, Email, Phone};
use voronka_core::{CommandId, Timestamp};
use voronka_crm::import::{parse_deals, parse_moment, DealImportRow, ImportKind, Mapping};
use voronka_crm::{DealId, FieldError, MoneyInput};
use voronka_process::ImportSource;

use super::deals::{ImportedHistory, NewDeal};
use super::import::{company_by_inn, derived, file_refused, row_errors, ImportReport};
use super::view::Indexes;
use super::{AppError, Caller, Crm};
use crate::access::UserId;

/// A deal row resolved against the base: ready for `import_deal` or
/// `create_deal`.
struct DealRowPlan {
    line: u64,
    id: DealId,
    input: NewDeal,
    history: Option<ImportedHistory>,
}

impl Crm {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn import_deals(
        &self,
        caller: &Caller,
        file: &[u8; 32],
        file_name: &str,
        bytes: &[u8],
        mapping: &Mapping,
        dry_run: bool,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<ImportReport, AppError> {
        let kind = ImportKind::Deals;
        let parsed = parse_deals(bytes, mapping).map_err(file_refused)?;
        let mut report = ImportReport::new(kind, dry_run, parsed.encoding, parsed.delimiter);
        report.rows = parsed.total();
        report.invalid = parsed.errors;
        let source = ImportSource {
            file: file_name.to_owned(),
            sha256: file.iter().map(|b| format!("{b:02x}")).collect(),
        };
        let default_process = {
            let published = self.deals.registry().published();
            let mut names: Vec<String> = published.into_iter().map(|p| p.name).collect();
            names.sort();
            names.dedup();
            (names.len() == 1).then(|| names.remove(0))
        };
        let mut planned = Vec::new();
        {
            let indexes = self.indexes(None).await?;
            for row in parsed.rows {
                let id = DealId::from_uuid(derived(file, kind, row.line, "record"));
                if indexes.deals.deal(id).is_some() {
                    report.already_imported += 1;
                    continue;
                }
                match resolve_deal_row(
                    caller,
                    &indexes,
                    row.input,
                    default_process.as_deref(),
                    &source,
                ) {
                    Ok((input, history)) => planned.push(DealRowPlan {
                        line: row.line,
                        id,
                        input,
                        history,
                    }),
                    Err(errors) => report.invalid.extend(row_errors(row.line, errors)),
                }
            }
        }
        let total = planned.len();
        for (done, step) in planned.into_iter().enumerate() {
            let command_id = CommandId::from_uuid(derived(file, kind, step.line, "command"));
            let outcome = match (dry_run, step.history) {
                (true, Some(history)) => self
                    .check_deal_import(caller, step.id, step.input, history)
                    .await
                    .map(|()| false),
                (true, None) => Ok(false),
                (false, Some(history)) => self
                    .import_deal(caller, step.id, step.input, history, Some(command_id))
                    .await
                    .map(|_| true),
                (false, None) => self
                    .create_deal(caller, step.id, step.input, Some(command_id))
                    .await
                    .map(|_| true),
            };
            match outcome {
                Ok(created) => {
                    report.would_create += 1;
                    report.created += usize::from(created);
                }
                Err(AppError::Invalid(errors)) => {
                    report.invalid.extend(row_errors(step.line, errors))
                }
                Err(AppError::Rejected { code, message, .. }) => report.invalid.extend(row_errors(
                    step.line,
                    vec![FieldError::new(history_column(code), code, message)],
                )),
                Err(other) => return Err(other),
            }
            progress(done + 1, total);
        }
        report.invalid.sort_by_key(|error| error.line);
        Ok(report)
    }
}

/// The column a refusal of the process is about.
fn history_column(code: &str) -> &'static str {
    match code {
        "stage_entered_before_created" => "stage_entered_at",
        "closed_before_stage_entered" | "closed_at_on_open_stage" => "closed_at",
        "date_in_future" => "stage_entered_at",
        "unknown_stage" => "stage",
        _ => "stage",
    }
}

/// Looks up what the row names (process, company, contact, responsible) and
/// parses its dates; every problem of the row at once.
fn resolve_deal_row(
    caller: &Caller,
    indexes: &Indexes,
    row: DealImportRow,
    default_process: Option<&str>,
    source: &ImportSource,
) -> Result<(NewDeal, Option<ImportedHistory>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let process = match row.process.or_else(|| default_process.map(str::to_owned)) {
        Some(process) => process,
        None => {
            errors.push(FieldError::new(
                "process",
                "required",
                "name the process: more than one is published",
            ));
            String::new()
        }
    };
    let company = row
        .company_inn
        .as_deref()
        .and_then(|raw| company_by_inn(indexes, raw, &mut errors));
    let mut phones = Vec::new();
    if let Some(raw) = row.contact_phone.as_deref() {
        match Phone::parse(raw, Country::Ru) {
            Ok(phone) => phones.push(phone.e164().to_owned()),
            Err(error) => errors.push(FieldError::new(
                "contact_phone",
                error.code(),
                error.to_string(),
            )),
        }
    }
    let mut emails = Vec::new();
    if let Some(raw) = row.contact_email.as_deref() {
        match Email::parse(raw) {
            Ok(email) => emails.push(email.as_str().to_owned()),
            Err(error) => errors.push(FieldError::new(
                "contact_email",
                error.code(),
                error.to_string(),
            )),
        }
    }
    let contact = if phones.is_empty() && emails.is_empty() {
        None
    } else {
        let found = indexes
            .customers
            .contact_duplicates(&phones, &emails)
            .first()
            .copied();
        if found.is_none() && errors.is_empty() {
            let column = if phones.is_empty() {
                "contact_email"
            } else {
                "contact_phone"
            };
            errors.push(FieldError::new(
                column,
                "contact_unknown",
                "no open contact has this phone or e-mail",
            ));
        }
        found
    };
    let responsible =
        row.responsible_email
            .as_deref()
            .and_then(|email| match user_by_email(caller, email) {
                Some(user) => Some(user),
                None => {
                    errors.push(FieldError::new(
                        "responsible_email",
                        "user_unknown",
                        "no active user has this e-mail",
                    ));
                    None
                }
            });
    let mut moment = |column: &'static str, text: Option<&str>| -> Option<Timestamp> {
        let text = text?;
        let parsed = parse_moment(text);
        if parsed.is_none() {
            errors.push(FieldError::new(
                column,
                "date_invalid",
                "a date is YYYY-MM-DD or DD.MM.YYYY, optionally with HH:MM",
            ));
        }
        parsed
    };
    let dates_given =
        row.created_at.is_some() || row.stage_entered_at.is_some() || row.closed_at.is_some();
    let created_at = moment("created_at", row.created_at.as_deref());
    let stage_entered_at = moment("stage_entered_at", row.stage_entered_at.as_deref());
    let closed_at = moment("closed_at", row.closed_at.as_deref());
    let expected_close_date = row.expected_close_date.as_deref().and_then(|text| {
        let day = parse_moment(text).map(|moment| moment.date_naive());
        if day.is_none() {
            errors.push(FieldError::new(
                "expected_close_date",
                "date_invalid",
                "a date is YYYY-MM-DD or DD.MM.YYYY",
            ));
        }
        day
    });
    let has_history = row.stage.is_some()
        || created_at.is_some()
        || stage_entered_at.is_some()
        || closed_at.is_some();
    let history = if has_history {
        match (row.stage, created_at.or(stage_entered_at).or(closed_at)) {
            (Some(stage), Some(created_at)) => Some(ImportedHistory {
                stage,
                created_at,
                stage_entered_at,
                closed_at,
                source: source.clone(),
            }),
            (None, _) => {
                errors.push(FieldError::new(
                    "stage",
                    "required",
                    "a deal with dates names the stage it stands in",
                ));
                None
            }
            (Some(_), None) if dates_given => None,
            (Some(_), None) => {
                errors.push(FieldError::new(
                    "created_at",
                    "required",
                    "a deal imported at a stage needs at least one of its dates",
                ));
                None
            }
        }
    } else {
        None
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let input = NewDeal {
        process,
        title: row.title.unwrap_or_default(),
        company,
        contact,
        amount: row.amount.map(|amount| MoneyInput {
            amount: Some(amount.replace([' ', '\u{a0}'], "").replace(',', ".")),
            minor: None,
            currency: None,
        }),
        responsible,
        source: row.source,
        expected_close_date,
        fields: row
            .fields
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect::<BTreeMap<_, _>>(),
    };
    Ok((input, history))
}

/// The active user with this e-mail (case-insensitive).
pub(super) fn user_by_email(caller: &Caller, email: &str) -> Option<UserId> {
    let wanted = email.trim().to_lowercase();
    caller
        .access
        .users
        .values()
        .find(|user| user.active && user.email.trim().to_lowercase() == wanted)
        .map(|user| user.id)
}
