//! CSV import of activities: kind, subject, links (company by INN, contact
//! by phone or e-mail, deal by title within the company), responsible by
//! e-mail, planned and done dates, outcome. A row with `done_at` is recorded
//! done at that moment (`ActivityCommand::ImportDone`); one without is
//! planned. Each row is one record created by one append (and mirrored onto
//! its deal with a derived command id), its ids derived from (file, line),
//! so a re-run skips what was written.

use voronka_core::customer::{Country, Email, Phone};
use voronka_core::CommandId;
use voronka_crm::activity::{ActivityCommand, ActivityInput};
use voronka_crm::deal_index::DealFilter;
use voronka_crm::import::{parse_activities, parse_moment, ActivityImportRow, ImportKind, Mapping};
use voronka_crm::{ActivityId, FieldError};

use super::import::{company_by_inn, derived, file_refused, row_errors, ImportReport};
use super::import_deals::user_by_email;
use super::view::Indexes;
use super::{AppError, Caller, Crm};

impl Crm {
    pub(super) async fn import_activities(
        &self,
        caller: &Caller,
        file: &[u8; 32],
        bytes: &[u8],
        mapping: &Mapping,
        dry_run: bool,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<ImportReport, AppError> {
        let kind = ImportKind::Activities;
        let parsed = parse_activities(bytes, mapping).map_err(file_refused)?;
        let mut report = ImportReport::new(kind, dry_run, parsed.encoding, parsed.delimiter);
        report.rows = parsed.total();
        report.invalid = parsed.errors;
        let mut planned = Vec::new();
        {
            let indexes = self.indexes(None).await?;
            for row in parsed.rows {
                let id = ActivityId::from_uuid(derived(file, kind, row.line, "record"));
                if indexes.work.activity(id).is_some() {
                    report.already_imported += 1;
                    continue;
                }
                match activity_command(caller, &indexes, id, row.input) {
                    Ok(command) => planned.push((row.line, id, command)),
                    Err(errors) => report.invalid.extend(row_errors(row.line, errors)),
                }
            }
        }
        let total = planned.len();
        for (done, (line, id, command)) in planned.into_iter().enumerate() {
            let outcome = if dry_run {
                self.check_activity(caller, &command).await.map(|()| false)
            } else {
                let command_id = Some(CommandId::from_uuid(derived(file, kind, line, "command")));
                match command {
                    ActivityCommand::ImportDone {
                        input,
                        outcome,
                        result,
                        done_at,
                        ..
                    } => self
                        .import_done_activity(
                            caller,
                            id,
                            input,
                            (outcome, result),
                            done_at,
                            command_id,
                        )
                        .await
                        .map(|_| true),
                    ActivityCommand::Plan { input, .. } => self
                        .plan_activity(caller, id, input, command_id)
                        .await
                        .map(|_| true),
                    _ => Err(AppError::Internal("not a creating command".into())),
                }
            };
            match outcome {
                Ok(created) => {
                    report.would_create += 1;
                    report.created += usize::from(created);
                }
                Err(AppError::Invalid(errors)) => report.invalid.extend(row_errors(line, errors)),
                Err(other) => return Err(other),
            }
            progress(done + 1, total);
        }
        report.invalid.sort_by_key(|error| error.line);
        Ok(report)
    }
}

/// The row as a creating command, with its links looked up; every problem
/// of the row at once.
fn activity_command(
    caller: &Caller,
    indexes: &Indexes,
    id: ActivityId,
    row: ActivityImportRow,
) -> Result<ActivityCommand, Vec<FieldError>> {
    let mut errors = Vec::new();
    let company = row
        .company_inn
        .as_deref()
        .and_then(|raw| company_by_inn(indexes, raw, &mut errors));
    let phones: Vec<String> = match row
        .contact_phone
        .as_deref()
        .map(|raw| Phone::parse(raw, Country::Ru))
    {
        Some(Ok(phone)) => vec![phone.e164().to_owned()],
        Some(Err(error)) => {
            errors.push(FieldError::new(
                "contact_phone",
                error.code(),
                error.to_string(),
            ));
            Vec::new()
        }
        None => Vec::new(),
    };
    let emails: Vec<String> = match row.contact_email.as_deref().map(Email::parse) {
        Some(Ok(email)) => vec![email.as_str().to_owned()],
        Some(Err(error)) => {
            errors.push(FieldError::new(
                "contact_email",
                error.code(),
                error.to_string(),
            ));
            Vec::new()
        }
        None => Vec::new(),
    };
    let contact = if phones.is_empty() && emails.is_empty() {
        None
    } else {
        let found = indexes
            .customers
            .contact_duplicates(&phones, &emails)
            .first()
            .copied();
        if found.is_none() {
            errors.push(FieldError::new(
                if phones.is_empty() {
                    "contact_email"
                } else {
                    "contact_phone"
                },
                "contact_unknown",
                "no open contact has this phone or e-mail",
            ));
        }
        found
    };
    let deal = row.deal_title.as_deref().and_then(|title| {
        let wanted = title.trim().to_lowercase();
        let filter = DealFilter {
            q: Some(title.trim().to_owned()),
            company,
            ..DealFilter::default()
        };
        let found: Vec<_> = indexes
            .deals
            .deals(&filter, &|_| true, None, 100)
            .items
            .into_iter()
            .filter(|deal| {
                deal.title.as_deref().map(|t| t.trim().to_lowercase()) == Some(wanted.clone())
            })
            .map(|deal| deal.id)
            .collect();
        match found.as_slice() {
            [one] => Some(*one),
            [] => {
                errors.push(FieldError::new(
                    "deal_title",
                    "deal_unknown",
                    "no deal has this title (with this company)",
                ));
                None
            }
            _ => {
                errors.push(FieldError::new(
                    "deal_title",
                    "deal_ambiguous",
                    "several deals have this title: name the company too",
                ));
                None
            }
        }
    });
    let responsible = row.responsible_email.as_deref().and_then(|email| {
        let found = user_by_email(caller, email);
        if found.is_none() {
            errors.push(FieldError::new(
                "responsible_email",
                "user_unknown",
                "no active user has this e-mail",
            ));
        }
        found
    });
    let mut moment = |column: &'static str, text: Option<&str>| {
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
    let planned_at = moment("planned_at", row.planned_at.as_deref());
    let done_at = moment("done_at", row.done_at.as_deref());
    if done_at.is_none() && (row.outcome.is_some() || row.result.is_some()) && errors.is_empty() {
        errors.push(FieldError::new(
            "done_at",
            "required",
            "an outcome belongs to an activity done: give when",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let input = ActivityInput {
        kind: row.kind.unwrap_or_default(),
        direction: row.direction,
        channel: row.channel,
        subject: row.subject,
        planned_start: planned_at.or(done_at).map(|at| at.to_rfc3339()),
        due_at: None,
        responsible: responsible.map(|user| user.to_string()),
        deal: deal.map(|deal| deal.to_string()),
        contact: contact.map(|contact| contact.to_string()),
        company: company.map(|company| company.to_string()),
    };
    Ok(match done_at {
        Some(done_at) => ActivityCommand::ImportDone {
            id,
            input,
            outcome: row.outcome,
            result: row.result,
            done_at,
            default_responsible: caller.user.id,
        },
        None => ActivityCommand::Plan {
            id,
            input,
            default_responsible: caller.user.id,
        },
    })
}
