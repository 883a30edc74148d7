//! The filter of a report page: read from the query string (a blank field
//! is an absent one), checked for form (a date that is not a date is a 400
//! naming the field), and drawn as a GET form whose pickers offer only the
//! managers and departments the viewer's report right reaches.

use std::collections::BTreeSet;

use axum::extract::RawQuery;
use axum::http::StatusCode;
use chrono::NaiveDate;
use maud::{html, Markup};
use voronka_app::access::{Action, DepartmentId, UserId};
use voronka_app::crm::{Caller, Reach};
use voronka_app::reports::ReportFilter;
use voronka_core::Timestamp;

use super::super::forms::{local_to_rfc3339, Form};
use super::super::i18n::Lang;
use super::super::layout::{self, t};
use super::super::session::{Signed, Viewer};
use super::Trouble;
use crate::Gateway;

/// A report page's query string, read like a form.
pub fn query_form(raw: &RawQuery) -> Form {
    Form::parse(raw.0.as_deref().unwrap_or("").as_bytes())
}

/// Whether the page was asked for its CSV.
pub fn wants_csv(query: &Form) -> bool {
    query.text("format").as_deref() == Some("csv")
}

/// The page's own address with `format=csv` (the filter kept).
pub fn csv_href(path: &str, query: &Form) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in query.with_prefix("") {
        if name != "format" {
            serializer.append_pair(&name, &value);
        }
    }
    serializer.append_pair("format", "csv");
    format!("{path}?{}", serializer.finish())
}

/// The common filter of `query`; a value that does not parse is a 400 with
/// every such field named.
pub fn parse_filter(viewer: &Viewer, query: &Form) -> Result<ReportFilter, Trouble> {
    let lang = viewer.lang;
    let mut errors = Vec::new();
    let mut bad = |field: &str| {
        errors.push(super::field_message(
            lang,
            field,
            "malformed",
            &t(lang, "rep-error-malformed"),
        ));
    };
    let date = |name: &str| {
        query
            .text(name)
            .map(|v| NaiveDate::parse_from_str(&v, "%Y-%m-%d"))
    };
    let from = match date("from") {
        Some(Ok(day)) => Some(day),
        Some(Err(_)) => {
            bad("from");
            None
        }
        None => None,
    };
    let to = match date("to") {
        Some(Ok(day)) => Some(day),
        Some(Err(_)) => {
            bad("to");
            None
        }
        None => None,
    };
    let id = |name: &str| query.text(name).map(|v| uuid::Uuid::parse_str(&v));
    let department = match id("department") {
        Some(Ok(id)) => Some(DepartmentId::from_uuid(id)),
        Some(Err(_)) => {
            bad("department");
            None
        }
        None => None,
    };
    let manager = match id("manager") {
        Some(Ok(id)) => Some(UserId::from_uuid(id)),
        Some(Err(_)) => {
            bad("manager");
            None
        }
        None => None,
    };
    let as_of = match query.text("as_of") {
        Some(text) => match parse_moment(viewer, &text) {
            Some(moment) => Some(moment),
            None => {
                bad("as_of");
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(Trouble::new(StatusCode::BAD_REQUEST, errors));
    }
    Ok(ReportFilter {
        process: query.text("process"),
        from,
        to,
        department,
        manager,
        as_of,
        min_position: None,
    })
}

/// A moment from a `datetime-local` input (the viewer's zone) or RFC 3339.
pub fn parse_moment(viewer: &Viewer, text: &str) -> Option<Timestamp> {
    let rfc3339 = local_to_rfc3339(viewer, text).unwrap_or_else(|| text.trim().to_owned());
    chrono::DateTime::parse_from_rfc3339(&rfc3339)
        .ok()
        .map(|moment| moment.with_timezone(&chrono::Utc))
}

/// Which inputs a report's form has besides `as_of`.
#[derive(Debug, Clone, Copy)]
pub struct Inputs {
    pub process: bool,
    pub period: bool,
    pub people: bool,
}

impl Inputs {
    pub const ALL: Inputs = Inputs {
        process: true,
        period: true,
        people: true,
    };
}

/// The filter form of a report page (GET to `action`): `extra` holds the
/// report's own inputs.
pub fn filter_form(
    gateway: &Gateway,
    signed: &Signed,
    action: &str,
    query: &Form,
    inputs: Inputs,
    extra: Markup,
) -> Markup {
    let lang = signed.viewer.lang;
    let caller = &signed.caller;
    html! {
        form.card.grid.report-filter method="get" action=(action) aria-label=(t(lang, "rep-filter")) {
            @if inputs.process {
                (layout::select("rep-process", "process", &t(lang, "rep-field-process"), &process_options(gateway, lang), query.text("process").as_deref(), false))
            }
            @if inputs.period {
                div.field {
                    label for="rep-from" { (t(lang, "rep-field-from")) }
                    input #rep-from type="date" name="from" value=(query.echo("from"));
                }
                div.field {
                    label for="rep-to" { (t(lang, "rep-field-to")) }
                    input #rep-to type="date" name="to" value=(query.echo("to"));
                }
            }
            @if inputs.people {
                @let departments = department_options(caller);
                @if !departments.is_empty() {
                    (layout::select("rep-department", "department", &t(lang, "rep-field-department"), &departments, query.text("department").as_deref(), false))
                }
                (layout::select("rep-manager", "manager", &t(lang, "rep-field-manager"), &manager_options(caller), query.text("manager").as_deref(), false))
            }
            (extra)
            div.field {
                label for="rep-as-of" { (t(lang, "rep-field-as-of")) }
                input #rep-as-of type="datetime-local" name="as_of" value=(query.echo("as_of")) aria-describedby="rep-as-of-hint";
                small #rep-as-of-hint .muted { (t(lang, "rep-as-of-hint")) }
            }
            div.actions { button.primary type="submit" { (t(lang, "rep-show")) } }
        }
    }
}

/// The published processes, titled in the viewer's language.
pub fn process_options(gateway: &Gateway, lang: Lang) -> Vec<(String, String)> {
    let registry = gateway.crm.deal_service().registry();
    registry
        .published()
        .into_iter()
        .map(|identity| {
            let title = registry.latest(&identity.name).map_or_else(
                || identity.name.clone(),
                |d| lang.title(&d.title).to_owned(),
            );
            (identity.name, title)
        })
        .collect()
}

/// The users the viewer's report right reaches, by name.
pub fn manager_options(caller: &Caller) -> Vec<(String, String)> {
    let reach = caller.reach(Action::ReadReports);
    let mut users: Vec<(String, String)> = caller
        .access
        .users
        .values()
        .filter(|u| reach.includes(u.id))
        .map(|u| (u.id.to_string(), u.display_name.clone()))
        .collect();
    users.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    users
}

/// The departments whose every member the viewer's report right reaches.
pub fn department_options(caller: &Caller) -> Vec<(String, String)> {
    let tree = &caller.access.tree;
    let mut known = BTreeSet::new();
    for user in caller.access.users.values() {
        let mut next = Some(user.department);
        while let Some(department) = next {
            if !known.insert(department) {
                break;
            }
            next = tree.get(department).and_then(|d| d.parent);
        }
    }
    let reach = caller.reach(Action::ReadReports);
    let mut options: Vec<(String, String)> = known
        .into_iter()
        .filter(|department| match &reach {
            Reach::All => true,
            Reach::Users(users) => {
                let subtree = tree.subtree(*department);
                let members: Vec<UserId> = caller
                    .access
                    .users
                    .values()
                    .filter(|u| subtree.contains(&u.department))
                    .map(|u| u.id)
                    .collect();
                !members.is_empty() && members.iter().all(|m| users.contains(m))
            }
        })
        .filter_map(|id| tree.get(id).map(|d| (id.to_string(), d.name.clone())))
        .collect();
    options.sort_by(|a, b| a.1.cmp(&b.1));
    options
}

/// The period picker of plan-vs-fact and the rating: month or week, and a
/// day in it.
pub fn period_inputs(lang: Lang, query: &Form) -> Markup {
    let kinds = vec![
        ("month".to_owned(), t(lang, "rep-period-month")),
        ("week".to_owned(), t(lang, "rep-period-week")),
    ];
    html! {
        (layout::select("rep-period", "period", &t(lang, "rep-field-period"), &kinds, Some(query.text("period").as_deref().unwrap_or("month")), true))
        div.field {
            label for="rep-date" { (t(lang, "rep-field-date")) }
            input #rep-date type="date" name="date" value=(query.echo("date"));
        }
    }
}
