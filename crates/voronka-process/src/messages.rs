//! Human messages for unmet requirements, in Russian and English. Built only
//! when a command is rejected or a checklist is asked for, never on the
//! accepting path.

use crate::decide::UnmetCode;
use crate::model::*;

fn stage_title(definition: &CompiledProcess, stage: StageId) -> (String, String) {
    let title = &definition.stage(stage).title;
    (title.ru.clone(), title.en.clone())
}

fn field_title(definition: &CompiledProcess, field: FieldId) -> (String, String) {
    let title = &definition.field(field).title;
    (title.ru.clone(), title.en.clone())
}

fn value_names(definition: &CompiledProcess, values: &[ValueId]) -> String {
    values
        .iter()
        .map(|v| definition.value(*v).name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn transition_not_allowed(
    definition: &CompiledProcess,
    from: StageId,
    to: StageId,
) -> Titles {
    let (from_ru, from_en) = stage_title(definition, from);
    let (to_ru, to_en) = stage_title(definition, to);
    Titles::new(
        format!("Переход из этапа «{from_ru}» в этап «{to_ru}» не предусмотрен процессом"),
        format!("The process does not allow moving from “{from_en}” to “{to_en}”"),
    )
}

pub(crate) fn role_required(roles: RoleSet) -> Titles {
    let names = roles
        .roles()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Titles::new(
        format!("Нужна одна из ролей: {names}"),
        format!("Requires one of the roles: {names}"),
    )
}

pub(crate) fn document_not_allowed(
    definition: &CompiledProcess,
    kind: DocumentKind,
    from: StageId,
) -> Titles {
    let (ru, en) = stage_title(definition, from);
    Titles::new(
        format!(
            "Документ «{}» можно создать не раньше этапа «{ru}» и не в закрытой сделке",
            document_ru(kind)
        ),
        format!(
            "A {} can be created only from the stage “{en}” on, and not in a closed deal",
            kind.as_str()
        ),
    )
}

fn document_ru(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Proposal => "коммерческое предложение",
        DocumentKind::Contract => "договор",
        DocumentKind::Invoice => "счёт",
        DocumentKind::Act => "акт",
    }
}

fn document_status_ru(status: DocumentStatus) -> &'static str {
    match status {
        DocumentStatus::Draft => "черновик",
        DocumentStatus::Sent => "отправлен",
        DocumentStatus::Accepted => "принят",
        DocumentStatus::Signed => "подписан",
        DocumentStatus::Paid => "оплачен",
        DocumentStatus::Cancelled => "отменён",
    }
}

fn activity_ru(kind: ActivityKind) -> &'static str {
    match kind {
        ActivityKind::Call => "звонок",
        ActivityKind::Meeting => "встреча",
        ActivityKind::Email => "письмо",
        ActivityKind::Task => "задача",
        ActivityKind::Message => "сообщение",
    }
}

fn activity_status_ru(status: ActivityStatus) -> &'static str {
    match status {
        ActivityStatus::Planned => "запланирован(а)",
        ActivityStatus::Done => "выполнен(а)",
        ActivityStatus::Cancelled => "отменён(а)",
    }
}

fn duration_text(duration: chrono::Duration) -> (String, String) {
    let minutes = duration.num_minutes();
    if minutes % (24 * 60) == 0 {
        let days = minutes / (24 * 60);
        (format!("{days} дн."), format!("{days} day(s)"))
    } else if minutes % 60 == 0 {
        let hours = minutes / 60;
        (format!("{hours} ч"), format!("{hours} hour(s)"))
    } else {
        (format!("{minutes} мин"), format!("{minutes} minute(s)"))
    }
}

pub(crate) fn requirement(
    definition: &CompiledProcess,
    requirement: &Requirement,
    code: UnmetCode,
) -> Titles {
    match (&requirement.check, code) {
        (Check::FieldPresent(field), _)
        | (Check::FieldIn { field, .. }, UnmetCode::FieldMissing)
        | (Check::Compare { field, .. }, UnmetCode::FieldMissing) => {
            let (ru, en) = field_title(definition, *field);
            Titles::new(format!("Заполните поле «{ru}»"), format!("Fill in “{en}”"))
        }
        (Check::FieldIn { field, values }, _) => {
            let (ru, en) = field_title(definition, *field);
            let names = value_names(definition, values);
            Titles::new(
                format!("Поле «{ru}» должно иметь одно из значений: {names}"),
                format!("“{en}” must be one of: {names}"),
            )
        }
        (Check::Compare { field, op, operand }, _) => {
            let (ru, en) = field_title(definition, *field);
            match operand {
                Operand::Today if *op == CompareOp::Greater => Titles::new(
                    format!("Дата в поле «{ru}» должна быть в будущем"),
                    format!("“{en}” must be a date in the future"),
                ),
                Operand::Today => Titles::new(
                    format!("Дата в поле «{ru}» должна быть в прошлом"),
                    format!("“{en}” must be a date in the past"),
                ),
                Operand::Integer(n) => {
                    let shown = if matches!(definition.field(*field).field_type, FieldType::Money) {
                        format!("{}.{:02}", n / 100, (n % 100).abs())
                    } else {
                        n.to_string()
                    };
                    Titles::new(
                        format!("Нужно: «{ru}» {} {shown}", op.symbol()),
                        format!("Requires “{en}” {} {shown}", op.symbol()),
                    )
                }
                Operand::Bool(b) => Titles::new(
                    format!(
                        "Нужно: «{ru}» {} {}",
                        op.symbol(),
                        if *b { "да" } else { "нет" }
                    ),
                    format!("Requires “{en}” {} {b}", op.symbol()),
                ),
                Operand::Date(date) => Titles::new(
                    format!("Нужно: «{ru}» {} {date}", op.symbol()),
                    format!("Requires “{en}” {} {date}", op.symbol()),
                ),
            }
        }
        (Check::Activity(rule), _) => {
            let mut ru = format!("Нужно: {}", activity_ru(rule.kind));
            let mut en = format!("Requires a {}", rule.kind.as_str());
            if let Some(status) = rule.status {
                ru.push_str(&format!(" ({})", activity_status_ru(status)));
                en.push_str(&format!(" ({})", status.as_str()));
            }
            if let Some(outcome) = rule.outcome {
                let name = &definition.value(outcome).name;
                ru.push_str(&format!(" с результатом «{name}»"));
                en.push_str(&format!(" with outcome “{name}”"));
            }
            if rule.min_count > 1 {
                ru.push_str(&format!(", не менее {}", rule.min_count));
                en.push_str(&format!(", at least {}", rule.min_count));
            }
            if let Some(within) = rule.within {
                let (d_ru, d_en) = duration_text(within);
                ru.push_str(&format!(" за последние {d_ru}"));
                en.push_str(&format!(" within the last {d_en}"));
            }
            Titles::new(ru, en)
        }
        (Check::Document(rule), _) => {
            let mut ru = format!("Нужен документ: {}", document_ru(rule.kind));
            let mut en = format!("Requires a {}", rule.kind.as_str());
            if let Some(status) = rule.status {
                ru.push_str(&format!(
                    " (статус не ниже «{}»)",
                    document_status_ru(status)
                ));
                en.push_str(&format!(" with status {} or later", status.as_str()));
            }
            Titles::new(ru, en)
        }
        (Check::Role(roles), _) => role_required(*roles),
    }
}
