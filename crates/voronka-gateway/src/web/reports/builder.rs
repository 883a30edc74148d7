//! `/reports/builder`: the report builder as a form (source, filter rows of
//! field, operator and value, group-by, measures, sort, limit, `as_of`),
//! run through `Reports::run_spec`, saved under a name and shared with
//! roles; `/reports/saved/{id}` runs a saved report with the *viewer's*
//! reach.
//!
//! A spec the builder refuses (422) names the spec path of the offending
//! part (`filters[1].value`); the page maps it back to the form row and
//! shows the message beside that input.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;
use voronka_app::crm::AppError;
use voronka_app::reports::builder::{NewSavedReport, RunOptions};
use voronka_core::Role;
use voronka_crm::saved_report::{SavedReport, SavedReportId};
use voronka_projections::builder::{
    fields_of, DimensionSpec, FieldInfo, FieldType, FilterSpec, MeasureSpec, ReportSpec,
    ReportTable, SortSpec, Source,
};

use super::super::forms::Form;
use super::super::i18n::{self, Lang};
use super::super::layout::{self, csrf, t, ta};
use super::super::session::{Signed, Viewer};
use super::super::{page_result, path_uuid, see_other, WebError};
use super::filter::{self, parse_moment};
use super::{department_title, field_message, percent, report_page, rub, user_title, Trouble};
use crate::report_csv as csv;
use crate::Gateway;

/// Rows of each part the form offers.
const FILTER_ROWS: usize = 3;
const GROUP_ROWS: usize = 2;
const MEASURE_ROWS: usize = 3;

const OPERATORS: [&str; 9] = [
    "eq", "ne", "in", "gt", "gte", "lt", "lte", "between", "is_null",
];
const FUNCTIONS: [&str; 6] = ["count", "sum", "avg", "median", "min", "max"];
const BUCKETS: [&str; 3] = ["day", "week", "month"];
/// The roles a report may be shared with: those that read reports.
const SHARE_ROLES: [Role; 6] = [
    Role::Director,
    Role::HeadOfSales,
    Role::HeadOfDepartment,
    Role::Manager,
    Role::Analyst,
    Role::Administrator,
];

/// Messages beside the inputs, by form row (`f0`, `g1`, `m2`, `source`,
/// `sort`, `limit`, `name`, `share`, `as_of`).
type FieldErrors = HashMap<String, Vec<String>>;

/// A spec read from the form, with the form row of each spec item.
struct ReadSpec {
    spec: ReportSpec,
    /// `filters[k]` -> `f<i>`, `group_by[k]` -> `g<i>`, `measures[k]` -> `m<i>`.
    rows: HashMap<String, String>,
}

fn source_of(form: &Form) -> Source {
    form.text("source")
        .as_deref()
        .and_then(Source::parse)
        .unwrap_or(Source::Deals)
}

fn field_info(source: Source, name: &str) -> Option<&'static FieldInfo> {
    fields_of(source).iter().find(|f| f.name == name)
}

/// A value typed into a filter row, as the spec wants it for the field:
/// numbers for counts, minor units for money (typed in roubles), RFC 3339
/// for times (a date is midnight in the viewer's zone); a list for `in`
/// and `between`; a yes/no for `is_null`.
fn filter_value(viewer: &Viewer, kind: Option<FieldType>, op: &str, text: &str) -> Value {
    let scalar = |text: &str| -> Value {
        let text = text.trim();
        match kind {
            Some(FieldType::Integer) => text
                .parse::<i64>()
                .map_or_else(|_| Value::String(text.to_owned()), Value::from),
            Some(FieldType::Money) => {
                money_minor(text).map_or_else(|| Value::String(text.to_owned()), Value::from)
            }
            Some(FieldType::Time) => {
                let moment = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|day| {
                        parse_moment(viewer, &format!("{}T00:00", day.format("%Y-%m-%d")))
                    })
                    .or_else(|| parse_moment(viewer, text));
                moment.map_or_else(
                    || Value::String(text.to_owned()),
                    |m| Value::String(m.to_rfc3339()),
                )
            }
            _ => Value::String(text.to_owned()),
        }
    };
    match op {
        "is_null" => Value::Bool(!matches!(
            text.trim().to_lowercase().as_str(),
            "false" | "no" | "нет" | "0"
        )),
        "in" | "between" => Value::Array(
            text.split(';')
                .flat_map(|part| part.split(','))
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(scalar)
                .collect(),
        ),
        _ => scalar(text),
    }
}

/// Roubles as typed (`1500`, `1 500,50`) in kopecks.
fn money_minor(text: &str) -> Option<i64> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    let (whole, cents) = match cleaned.split_once('.') {
        Some((whole, cents)) if cents.len() <= 2 => (whole, format!("{cents:0<2}")),
        Some(_) => return None,
        None => (cleaned.as_str(), "00".to_owned()),
    };
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = cents.parse().ok()?;
    let sign = if whole < 0 || cleaned.starts_with('-') {
        -1
    } else {
        1
    };
    whole
        .checked_abs()?
        .checked_mul(100)?
        .checked_add(cents)
        .map(|v| v * sign)
}

/// The spec the form describes (blank rows left out).
fn read_spec(viewer: &Viewer, form: &Form) -> Result<ReadSpec, FieldErrors> {
    let lang = viewer.lang;
    let source = source_of(form);
    let mut rows = HashMap::new();
    let mut errors = FieldErrors::new();
    let mut filters = Vec::new();
    for i in 0..FILTER_ROWS {
        let Some(field) = form.text(&format!("f{i}.field")) else {
            continue;
        };
        let op = form
            .text(&format!("f{i}.op"))
            .unwrap_or_else(|| "eq".into());
        let text = form.echo(&format!("f{i}.value"));
        let kind = field_info(source, &field).map(|f| f.kind);
        rows.insert(format!("filters[{}]", filters.len()), format!("f{i}"));
        filters.push(FilterSpec {
            value: filter_value(viewer, kind, &op, &text),
            field,
            op,
        });
    }
    let mut group_by = Vec::new();
    for i in 0..GROUP_ROWS {
        let Some(field) = form.text(&format!("g{i}.field")) else {
            continue;
        };
        rows.insert(format!("group_by[{}]", group_by.len()), format!("g{i}"));
        group_by.push(DimensionSpec {
            field,
            bucket: form.text(&format!("g{i}.bucket")),
        });
    }
    let mut measures = Vec::new();
    for i in 0..MEASURE_ROWS {
        let Some(function) = form.text(&format!("m{i}.fn")) else {
            continue;
        };
        rows.insert(format!("measures[{}]", measures.len()), format!("m{i}"));
        measures.push(MeasureSpec {
            function,
            field: form.text(&format!("m{i}.field")),
            condition: Vec::new(),
            alias: None,
        });
    }
    let sort = form
        .text("sort")
        .map(|by| {
            vec![SortSpec {
                by,
                desc: form.text("desc").is_some(),
            }]
        })
        .unwrap_or_default();
    let limit = match form.text("limit").map(|l| l.parse::<i64>()) {
        None => None,
        Some(Ok(limit)) => Some(limit),
        Some(Err(_)) => {
            errors
                .entry("limit".into())
                .or_default()
                .push(field_message(
                    lang,
                    "limit",
                    "malformed",
                    &t(lang, "rep-error-malformed"),
                ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ReadSpec {
        spec: ReportSpec {
            source: source.as_str().to_owned(),
            filters,
            group_by,
            measures,
            sort,
            limit,
        },
        rows,
    })
}

/// Field errors of the app placed by form row: spec paths to their row,
/// the rest to the top.
fn place_errors(
    lang: Lang,
    error: AppError,
    rows: &HashMap<String, String>,
) -> Result<(Trouble, FieldErrors), WebError> {
    let AppError::Invalid(list) = error else {
        return Trouble::from_app(lang, error).map(|t| (t, FieldErrors::new()));
    };
    let mut placed = FieldErrors::new();
    let mut messages = Vec::new();
    for e in &list {
        let path = e.field.strip_prefix("spec.").unwrap_or(&e.field);
        let head = path.split('.').next().unwrap_or(path);
        let row = rows.get(head).cloned().or_else(|| {
            let part = head.split('[').next().unwrap_or(head);
            match part {
                "source" | "limit" | "name" | "as_of" => Some(part.to_owned()),
                "sort" => Some("sort".into()),
                "shared_with" => Some("share".into()),
                _ => None,
            }
        });
        let message = if e.code == "malformed" || e.field.starts_with("spec") || path.contains('[')
        {
            // Spec messages name the path themselves.
            localized_spec(lang, e.code, &e.message)
        } else {
            field_message(lang, path, e.code, &e.message)
        };
        messages.push(message.clone());
        if let Some(row) = row {
            placed.entry(row).or_default().push(message);
        }
    }
    Ok((
        Trouble::new(StatusCode::UNPROCESSABLE_ENTITY, messages),
        placed,
    ))
}

/// A spec error in the viewer's language when its code is known.
fn localized_spec(lang: Lang, code: &str, message: &str) -> String {
    let key = format!("rep-spec-{}", code.replace('_', "-"));
    if i18n::has_message(lang, &key) {
        format!("{} ({message})", t(lang, &key))
    } else {
        message.to_owned()
    }
}

// ------------------------------------------------------------------ pages

/// `GET /reports/builder`: the empty form (or one prefilled from the
/// query: `source`, `saved` to start from a saved report).
pub async fn page(State(gateway): State<Gateway>, signed: Signed, raw: RawQuery) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let mut form = filter::query_form(&raw);
        if let Some(id) = form.text("saved") {
            let id = SavedReportId::from_uuid(path_uuid(&id)?);
            match gateway.reports.saved_report(&signed.caller, id).await {
                Ok(report) => form = spec_form(&report),
                Err(error) => {
                    let trouble = Trouble::from_app(lang, error)?;
                    return Ok(builder_page(
                        &signed,
                        &form,
                        &FieldErrors::new(),
                        Some(&trouble),
                        None,
                    ));
                }
            }
        }
        Ok(builder_page(
            &signed,
            &form,
            &FieldErrors::new(),
            None,
            None,
        ))
    }
    .await;
    page_result(lang, result)
}

/// A saved report's spec as the builder form's fields.
fn spec_form(report: &SavedReport) -> Form {
    let Ok(spec) = serde_json::from_value::<ReportSpec>(report.spec.clone()) else {
        return Form::default();
    };
    let text = |value: &Value| match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer.append_pair("source", &spec.source);
    for (i, f) in spec.filters.iter().take(FILTER_ROWS).enumerate() {
        serializer.append_pair(&format!("f{i}.field"), &f.field);
        serializer.append_pair(&format!("f{i}.op"), &f.op);
        serializer.append_pair(&format!("f{i}.value"), &text(&f.value));
    }
    for (i, g) in spec.group_by.iter().take(GROUP_ROWS).enumerate() {
        serializer.append_pair(&format!("g{i}.field"), &g.field);
        serializer.append_pair(&format!("g{i}.bucket"), g.bucket.as_deref().unwrap_or(""));
    }
    for (i, m) in spec.measures.iter().take(MEASURE_ROWS).enumerate() {
        serializer.append_pair(&format!("m{i}.fn"), &m.function);
        serializer.append_pair(&format!("m{i}.field"), m.field.as_deref().unwrap_or(""));
    }
    if let Some(sort) = spec.sort.first() {
        serializer.append_pair("sort", &sort.by);
        if sort.desc {
            serializer.append_pair("desc", "1");
        }
    }
    if let Some(limit) = spec.limit {
        serializer.append_pair("limit", &limit.to_string());
    }
    Form::parse(serializer.finish().as_bytes())
}

/// `POST /reports/builder`: `action=run` shows the result under the form,
/// `csv` downloads it, `save` saves it and goes to the saved report,
/// `source` only redraws the form for another source.
pub async fn submit(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let action = form.text("action").unwrap_or_else(|| "run".into());
        if action == "source" {
            return Ok(builder_page(
                &signed,
                &form,
                &FieldErrors::new(),
                None,
                None,
            ));
        }
        let read = match read_spec(&signed.viewer, &form) {
            Ok(read) => read,
            Err(errors) => {
                let messages = errors.values().flatten().cloned().collect();
                let trouble = Trouble::new(StatusCode::BAD_REQUEST, messages);
                return Ok(builder_page(&signed, &form, &errors, Some(&trouble), None));
            }
        };
        let as_of = match form.text("as_of") {
            None => None,
            Some(text) => match parse_moment(&signed.viewer, &text) {
                Some(moment) => Some(moment),
                None => {
                    let message =
                        field_message(lang, "as_of", "malformed", &t(lang, "rep-error-malformed"));
                    let errors = FieldErrors::from([("as_of".to_owned(), vec![message.clone()])]);
                    let trouble = Trouble::new(StatusCode::BAD_REQUEST, vec![message]);
                    return Ok(builder_page(&signed, &form, &errors, Some(&trouble), None));
                }
            },
        };
        if action == "save" {
            return save(&gateway, &signed, &form, read).await;
        }
        let options = RunOptions {
            as_of,
            min_position: None,
        };
        match gateway
            .reports
            .run_spec(&signed.caller, &read.spec, options)
            .await
        {
            Ok(table) if action == "csv" => Ok(csv::table("report", &table)),
            Ok(table) => {
                let result = result_table(&signed, &read.spec, &table);
                Ok(builder_page(
                    &signed,
                    &form,
                    &FieldErrors::new(),
                    None,
                    Some(result),
                ))
            }
            Err(error) => {
                let (trouble, errors) = place_errors(lang, error, &read.rows)?;
                Ok(builder_page(&signed, &form, &errors, Some(&trouble), None))
            }
        }
    }
    .await;
    page_result(lang, result)
}

async fn save(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    read: ReadSpec,
) -> Result<Response, WebError> {
    let lang = signed.viewer.lang;
    let shared_with: Vec<String> = form
        .with_prefix("share.")
        .into_iter()
        .map(|(role, _)| role)
        .collect();
    let id = form
        .text("nonce")
        .and_then(|n| uuid::Uuid::parse_str(&n).ok())
        .unwrap_or_else(uuid::Uuid::now_v7);
    let id = SavedReportId::from_uuid(id);
    let input = NewSavedReport {
        name: form.text("name").unwrap_or_default(),
        spec: read.spec,
        shared_with,
    };
    match gateway
        .reports
        .save_report(&signed.caller, id, input, None)
        .await
    {
        Ok(_) | Err(AppError::AlreadyExists) => Ok(see_other(&format!("/reports/saved/{id}"))),
        Err(error) => {
            let (trouble, errors) = place_errors(lang, error, &read.rows)?;
            Ok(builder_page(signed, form, &errors, Some(&trouble), None))
        }
    }
}

/// `GET /reports/saved/{id}`: the saved report run now (or `as_of`), its
/// CSV with `format=csv`.
pub async fn saved(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = SavedReportId::from_uuid(path_uuid(&id)?);
        let query = filter::query_form(&raw);
        let path = format!("/reports/saved/{id}");
        let report = gateway.reports.saved_report(&signed.caller, id).await?;
        let controls = saved_controls(&signed, &path, &report, &query);
        let as_of = match query.text("as_of") {
            None => None,
            Some(text) => match parse_moment(&signed.viewer, &text) {
                Some(moment) => Some(moment),
                None => {
                    let trouble = Trouble::new(
                        StatusCode::BAD_REQUEST,
                        vec![field_message(
                            lang,
                            "as_of",
                            "malformed",
                            &t(lang, "rep-error-malformed"),
                        )],
                    );
                    return Ok(report_page(
                        &signed,
                        "builder",
                        controls,
                        Some(&trouble),
                        None,
                        None,
                    ));
                }
            },
        };
        let options = RunOptions {
            as_of,
            min_position: None,
        };
        match gateway
            .reports
            .run_saved_report(&signed.caller, id, options)
            .await
        {
            Ok((_, table)) if filter::wants_csv(&query) => Ok(csv::table("saved-report", &table)),
            Ok((report, table)) => {
                let spec: Option<ReportSpec> = serde_json::from_value(report.spec.clone()).ok();
                let markup = match &spec {
                    Some(spec) => result_table(&signed, spec, &table),
                    None => html! {},
                };
                Ok(report_page(
                    &signed,
                    "builder",
                    controls,
                    None,
                    Some(markup),
                    Some(filter::csv_href(&path, &query)),
                ))
            }
            Err(error) => {
                let trouble = Trouble::from_app(lang, error)?;
                Ok(report_page(
                    &signed,
                    "builder",
                    controls,
                    Some(&trouble),
                    None,
                    None,
                ))
            }
        }
    }
    .await;
    page_result(lang, result)
}

/// `POST /reports/saved/{id}/delete` (its owner or an administrator).
pub async fn delete(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = SavedReportId::from_uuid(path_uuid(&id)?);
        Form::read(&signed.viewer, body).await?;
        gateway
            .reports
            .delete_saved_report(&signed.caller, id, None)
            .await?;
        Ok(see_other("/reports#saved-reports"))
    }
    .await;
    page_result(lang, result)
}

/// The head of a saved report's page: its name, owner and roles, the
/// `as_of` picker, and a way into the builder with its spec.
fn saved_controls(signed: &Signed, path: &str, report: &SavedReport, query: &Form) -> Markup {
    let lang = signed.viewer.lang;
    html! {
        section.saved-head aria-labelledby="saved-name" {
            h2 #saved-name { (report.name) }
            p.muted {
                (ta(lang, "rep-saved-owner", &[("owner", user_title(&signed.caller, &report.owner.to_string()))]))
                @if !report.shared_with.is_empty() {
                    " · " (t(lang, "rep-shared-with")) ": " (roles_text(lang, &report.shared_with))
                }
            }
            p { a.button href={ "/reports/builder?saved=" (report.id) } { (t(lang, "rep-open-in-builder")) } }
        }
        form.card.grid.report-filter method="get" action=(path) aria-label=(t(lang, "rep-filter")) {
            div.field {
                label for="rep-as-of" { (t(lang, "rep-field-as-of")) }
                input #rep-as-of type="datetime-local" name="as_of" value=(query.echo("as_of"));
            }
            div.actions { button.primary type="submit" { (t(lang, "rep-show")) } }
        }
    }
}

fn roles_text(lang: Lang, roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| t(lang, &format!("rep-role-{}", r.as_str().replace('_', "-"))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The saved reports list of the index page.
pub fn saved_list(signed: &Signed, saved: &[SavedReport]) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let caller = &signed.caller;
    html! {
        @if saved.is_empty() {
            p.muted { (t(lang, "rep-saved-none")) }
        } @else {
            ul.list.saved {
                @for report in saved {
                    li.card data-id=(report.id) {
                        a.saved-name href={ "/reports/saved/" (report.id) } { (report.name) }
                        p.muted {
                            (ta(lang, "rep-saved-owner", &[("owner", user_title(caller, &report.owner.to_string()))]))
                            @if !report.shared_with.is_empty() {
                                " · " (t(lang, "rep-shared-with")) ": " (roles_text(lang, &report.shared_with))
                            }
                        }
                        @if report.owner == caller.user.id || caller.user.has_role(Role::Administrator) {
                            form.inline method="post" action={ "/reports/saved/" (report.id) "/delete" } {
                                (csrf(viewer))
                                button.link type="submit" aria-label=(ta(lang, "rep-delete-named", &[("name", report.name.clone())])) { (t(lang, "rep-delete")) }
                            }
                        }
                    }
                }
            }
        }
        p { a.button href="/reports/builder" { (t(lang, "rep-builder-new")) } }
    }
}

// ------------------------------------------------------------------ markup

fn field_title(lang: Lang, name: &str) -> String {
    let key = format!("rep-bf-{}", name.replace('_', "-"));
    if i18n::has_message(lang, &key) {
        t(lang, &key)
    } else {
        name.to_owned()
    }
}

/// The errors beside an input, and the id that describes it.
fn errors_beside(id: &str, errors: &FieldErrors) -> Markup {
    html! {
        @if let Some(list) = errors.get(id) {
            p.field-error id={ (id) "-error" } {
                @for message in list { (message) " " }
            }
        }
    }
}

fn builder_page(
    signed: &Signed,
    form: &Form,
    errors: &FieldErrors,
    trouble: Option<&Trouble>,
    result: Option<Markup>,
) -> Response {
    let controls = builder_form(signed, form, errors);
    report_page(signed, "builder", controls, trouble, result, None)
}

fn builder_form(signed: &Signed, form: &Form, errors: &FieldErrors) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let source = source_of(form);
    let fields = fields_of(source);
    let all_fields: Vec<(String, String)> = fields
        .iter()
        .map(|f| (f.name.to_owned(), field_title(lang, f.name)))
        .collect();
    let groupable: Vec<(String, String)> = fields
        .iter()
        .filter(|f| f.groupable)
        .map(|f| (f.name.to_owned(), field_title(lang, f.name)))
        .collect();
    let numeric: Vec<(String, String)> = fields
        .iter()
        .filter(|f| matches!(f.kind, FieldType::Integer | FieldType::Money))
        .map(|f| (f.name.to_owned(), field_title(lang, f.name)))
        .collect();
    let sources: Vec<(String, String)> = Source::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().to_owned(),
                t(
                    lang,
                    &format!("rep-source-{}", s.as_str().replace('_', "-")),
                ),
            )
        })
        .collect();
    let operators: Vec<(String, String)> = OPERATORS
        .iter()
        .map(|op| {
            (
                op.to_string(),
                t(lang, &format!("rep-op-{}", op.replace('_', "-"))),
            )
        })
        .collect();
    let functions: Vec<(String, String)> = FUNCTIONS
        .iter()
        .map(|f| (f.to_string(), t(lang, &format!("rep-fn-{f}"))))
        .collect();
    let buckets: Vec<(String, String)> = BUCKETS
        .iter()
        .map(|b| (b.to_string(), t(lang, &format!("rep-bucket-{b}"))))
        .collect();
    let invalid = |id: &str| errors.contains_key(id);
    let described = |id: &str| errors.contains_key(id).then(|| format!("{id}-error"));
    let select = |id: &str, name: &str, label: &str, options: &[(String, String)], row: &str| {
        let selected = form.text(name);
        html! {
            div.field {
                label for=(id) { (label) }
                select id=(id) name=(name) aria-invalid=[invalid(row).then_some("true")] aria-describedby=[described(row)] {
                    option value="" { "—" }
                    @for (value, title) in options {
                        option value=(value) selected[selected.as_deref() == Some(value.as_str())] { (title) }
                    }
                }
            }
        }
    };
    html! {
        form.card.builder method="post" action="/reports/builder" aria-label=(t(lang, "rep-builder")) {
            (csrf(viewer))
            input type="hidden" name="nonce" value=(form.text("nonce").unwrap_or_else(|| uuid::Uuid::new_v4().to_string()));
            fieldset.source {
                legend { (t(lang, "rep-builder-source")) }
                div.row {
                    div.field {
                        label for="b-source" { (t(lang, "rep-field-source")) }
                        select #b-source name="source" aria-describedby=[described("source")] {
                            @for (value, title) in &sources {
                                option value=(value) selected[value == source.as_str()] { (title) }
                            }
                        }
                    }
                    button.secondary type="submit" name="action" value="source" formnovalidate { (t(lang, "rep-builder-apply-source")) }
                }
                (errors_beside("source", errors))
            }
            fieldset.filters {
                legend { (t(lang, "rep-builder-filters")) }
                @for i in 0..FILTER_ROWS {
                    @let row = format!("f{i}");
                    div.row.filter-row id={ "row-" (row) } {
                        (select(&format!("b-{row}-field"), &format!("{row}.field"), &ta(lang, "rep-builder-filter-field", &[("n", (i + 1).to_string())]), &all_fields, &row))
                        div.field {
                            label for={ "b-" (row) "-op" } { (ta(lang, "rep-builder-filter-op", &[("n", (i + 1).to_string())])) }
                            select id={ "b-" (row) "-op" } name={ (row) ".op" } {
                                @for (value, title) in &operators {
                                    option value=(value) selected[form.text(&format!("{row}.op")).as_deref().unwrap_or("eq") == value] { (title) }
                                }
                            }
                        }
                        div.field {
                            label for={ "b-" (row) "-value" } { (ta(lang, "rep-builder-filter-value", &[("n", (i + 1).to_string())])) }
                            input id={ "b-" (row) "-value" } type="text" name={ (row) ".value" } value=(form.echo(&format!("{row}.value"))) aria-invalid=[invalid(&row).then_some("true")] aria-describedby=[described(&row)];
                        }
                    }
                    (errors_beside(&row, errors))
                }
                p.muted.hint { (t(lang, "rep-builder-value-hint")) }
            }
            fieldset.group {
                legend { (t(lang, "rep-builder-group")) }
                @for i in 0..GROUP_ROWS {
                    @let row = format!("g{i}");
                    div.row id={ "row-" (row) } {
                        (select(&format!("b-{row}-field"), &format!("{row}.field"), &ta(lang, "rep-builder-group-field", &[("n", (i + 1).to_string())]), &groupable, &row))
                        (select(&format!("b-{row}-bucket"), &format!("{row}.bucket"), &ta(lang, "rep-builder-group-bucket", &[("n", (i + 1).to_string())]), &buckets, &row))
                    }
                    (errors_beside(&row, errors))
                }
            }
            fieldset.measures {
                legend { (t(lang, "rep-builder-measures")) }
                @for i in 0..MEASURE_ROWS {
                    @let row = format!("m{i}");
                    div.row id={ "row-" (row) } {
                        (select(&format!("b-{row}-fn"), &format!("{row}.fn"), &ta(lang, "rep-builder-measure-fn", &[("n", (i + 1).to_string())]), &functions, &row))
                        (select(&format!("b-{row}-field"), &format!("{row}.field"), &ta(lang, "rep-builder-measure-field", &[("n", (i + 1).to_string())]), &numeric, &row))
                    }
                    (errors_beside(&row, errors))
                }
            }
            fieldset.sort {
                legend { (t(lang, "rep-builder-sort")) }
                div.row {
                    div.field {
                        label for="b-sort" { (t(lang, "rep-field-sort")) }
                        input #b-sort type="text" name="sort" value=(form.echo("sort")) aria-describedby="b-sort-hint";
                        small #b-sort-hint .muted { (t(lang, "rep-builder-sort-hint")) }
                    }
                    div.field.check {
                        input #b-desc type="checkbox" name="desc" value="1" checked[form.text("desc").is_some()];
                        label for="b-desc" { (t(lang, "rep-field-desc")) }
                    }
                    div.field {
                        label for="b-limit" { (t(lang, "rep-field-limit")) }
                        input #b-limit type="number" min="1" max="10000" name="limit" value=(form.echo("limit"));
                    }
                    div.field {
                        label for="b-as-of" { (t(lang, "rep-field-as-of")) }
                        input #b-as-of type="datetime-local" name="as_of" value=(form.echo("as_of"));
                    }
                }
                (errors_beside("sort", errors))
                (errors_beside("limit", errors))
                (errors_beside("as_of", errors))
            }
            div.actions {
                button.primary type="submit" name="action" value="run" { (t(lang, "rep-run")) }
                button type="submit" name="action" value="csv" { (t(lang, "rep-csv")) }
            }
            fieldset.save {
                legend { (t(lang, "rep-builder-save")) }
                (layout::text_input("b-name", "name", &t(lang, "rep-field-name"), &form.echo("name"), false))
                (errors_beside("name", errors))
                fieldset.roles {
                    legend { (t(lang, "rep-shared-with")) }
                    @for role in SHARE_ROLES {
                        @let id = format!("b-share-{}", role.as_str());
                        div.field.check {
                            input id=(id) type="checkbox" name={ "share." (role.as_str()) } value="1" checked[form.text(&format!("share.{}", role.as_str())).is_some()];
                            label for=(id) { (t(lang, &format!("rep-role-{}", role.as_str().replace('_', "-")))) }
                        }
                    }
                }
                (errors_beside("share", errors))
                div.actions { button type="submit" name="action" value="save" { (t(lang, "rep-save")) } }
            }
        }
    }
}

/// The builder's answer as a table: users and departments by name, money
/// per locale, ratios as percents.
fn result_table(signed: &Signed, spec: &ReportSpec, table: &ReportTable) -> Markup {
    let lang = signed.viewer.lang;
    let caller = &signed.caller;
    let source = Source::parse(&spec.source).unwrap_or(Source::Deals);
    // Measures over money fields whose column the builder types as a
    // plain number (averages): shown as money too.
    let money_columns: Vec<String> = spec
        .measures
        .iter()
        .filter(|m| {
            m.field
                .as_deref()
                .and_then(|f| field_info(source, f))
                .is_some_and(|f| f.kind == FieldType::Money)
        })
        .map(|m| {
            m.alias.clone().unwrap_or_else(|| {
                format!("{}_{}", m.function, m.field.as_deref().unwrap_or_default())
            })
        })
        .collect();
    let cell = |kind: &str, name: &str, value: &Value| -> String {
        if value.is_null() {
            return "—".to_owned();
        }
        let money = kind == "money" || money_columns.iter().any(|c| c == name);
        match (kind, value) {
            (_, Value::Number(n)) if money => rub(lang, n.as_f64().unwrap_or(0.0).round() as i64),
            ("user", Value::String(id)) => user_title(caller, id),
            ("department", Value::String(id)) => department_title(caller, id),
            ("ratio", Value::Number(n)) => percent(lang, n.as_f64().unwrap_or(0.0)),
            (_, Value::Number(n)) => match n.as_i64() {
                Some(whole) => i18n::number(lang, whole),
                None => {
                    let text = format!("{:.2}", n.as_f64().unwrap_or(0.0));
                    match lang {
                        Lang::Ru => text.replace('.', ","),
                        Lang::En => text,
                    }
                }
            },
            (_, Value::String(text)) => text.clone(),
            (_, other) => other.to_string(),
        }
    };
    html! {
        section #builder-result aria-labelledby="builder-result-h" {
            h2 #builder-result-h {
                (t(lang, "rep-result"))
                " " span.count { (ta(lang, "rep-rows", &[("count", table.rows.len().to_string())])) }
            }
            @if table.truncated { p.alert.warning { (t(lang, "rep-truncated")) } }
            @if table.rows.is_empty() {
                p.muted { (t(lang, "rep-nothing")) }
            } @else {
                div.table-scroll tabindex="0" role="region" aria-labelledby="builder-result-h" {
                    table.report #result-table {
                        thead { tr {
                            @for column in &table.columns {
                                th scope="col" .num[matches!(column.kind.as_str(), "integer" | "money" | "number" | "ratio")] { (field_title(lang, &column.name)) }
                            }
                        } }
                        tbody {
                            @for row in &table.rows {
                                tr {
                                    @for (column, value) in table.columns.iter().zip(row) {
                                        td .num[matches!(column.kind.as_str(), "integer" | "money" | "number" | "ratio")] { (cell(&column.kind, &column.name, value)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roubles_typed_in_any_form_become_kopecks() {
        let cases = [
            ("1500", Some(150_000)),
            ("1 500,5", Some(150_050)),
            ("1500.05", Some(150_005)),
            ("-2", Some(-200)),
            ("1.234", None),
            ("abc", None),
        ];
        for (text, expected) in cases {
            assert_eq!(money_minor(text), expected, "{text}");
        }
    }

    #[test]
    fn form_rows_become_a_spec_with_typed_values() {
        let viewer_form = Form::parse(
            "source=deals&f0.field=amount&f0.op=gte&f0.value=1000&f1.field=&f2.field=stage&f2.op=in&f2.value=new,+won&g0.field=manager&m0.fn=sum&m0.field=amount&sort=sum_amount&desc=1&limit=5"
                .as_bytes(),
        );
        let viewer = test_viewer();
        let read = read_spec(&viewer, &viewer_form).expect("a spec");
        assert_eq!(read.spec.filters.len(), 2);
        assert_eq!(read.spec.filters[0].value, serde_json::json!(100_000));
        assert_eq!(
            read.spec.filters[1].value,
            serde_json::json!(["new", "won"])
        );
        assert_eq!(read.rows.get("filters[1]").map(String::as_str), Some("f2"));
        assert_eq!(read.spec.group_by[0].field, "manager");
        assert_eq!(read.spec.sort[0].by, "sum_amount");
        assert!(read.spec.sort[0].desc);
        assert_eq!(read.spec.limit, Some(5));
    }

    fn test_viewer() -> Viewer {
        Viewer {
            lang: Lang::En,
            zone: chrono::FixedOffset::east_opt(3 * 3600).unwrap(),
            secure: false,
            csrf: String::new(),
            new_pre_session: None,
            session_token: None,
            path: "/".into(),
        }
    }
}
