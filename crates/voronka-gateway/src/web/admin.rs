//! Administration pages: users (list, add, change roles, deactivate), the
//! rights of each role, departments (tree, add), dictionaries (view: the
//! CRM's standard ones are built in and a process's own are edited in its
//! definition) and plans (targets per manager or department and month or
//! week).
//!
//! Every change goes through the same services as the API with the same
//! caller: the directory decides `ManageUsers` and the reports service
//! `SetPlans`, so a page without the right is the 403 page. A form either
//! redirects (303) to the page showing the result or comes back with its
//! values and the reason (422, or 409 for a name already taken).

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{Datelike, NaiveDate};
use maud::{html, Markup};
use voronka_app::access::rights::{Grant, RIGHTS};
use voronka_app::access::{Action, Department, DepartmentId, User, UserId};
use voronka_app::directory::{DirectoryError, NewUser};
use voronka_app::reports::plans::PlanInput;
use voronka_core::Role;
use voronka_crm::plan::{PeriodKind, PlanMetric, PlanScope};
use voronka_store::StoreError;

use super::forms::Form;
use super::i18n::{self, Lang};
use super::layout::{self, csrf, t, ta, Nav};
use super::session::Signed;
use super::{html_response, page_result, path_uuid, see_other, Refusal, WebError};
use crate::Gateway;

/// The routes of these pages.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/users", get(users).post(add_user))
        .route("/admin/users/{id}/roles", post(change_roles))
        .route("/admin/users/{id}/deactivate", post(deactivate))
        .route("/admin/roles", get(roles))
        .route("/admin/departments", get(departments).post(add_department))
        .route("/admin/dictionaries", get(dictionaries))
        .route("/admin/plans", get(plans).post(set_plan))
}

fn may(signed: &Signed, action: Action) -> bool {
    signed.caller.may_at_all(action).is_ok()
}

fn require(signed: &Signed, action: Action) -> Result<(), WebError> {
    signed.caller.may_at_all(action).map_err(WebError::from)
}

fn role_title(lang: Lang, role: Role) -> String {
    t(
        lang,
        &format!("adm-role-{}", role.as_str().replace('_', "-")),
    )
}

/// A refused directory command: a message to show beside the form with its
/// status, or the error page for what is not the form's fault.
fn directory_refusal(lang: Lang, error: DirectoryError) -> Result<Refusal, WebError> {
    let status = match &error {
        DirectoryError::Forbidden { .. } => return Err(WebError::Forbidden),
        DirectoryError::UnknownUser(_) => return Err(WebError::NotFound),
        DirectoryError::Store(StoreError::Unavailable(_) | StoreError::Closed) => {
            return Err(WebError::Unavailable)
        }
        DirectoryError::Store(_)
        | DirectoryError::Corrupt(_)
        | DirectoryError::Internal(_)
        | DirectoryError::InvalidCredentials
        | DirectoryError::TokenInvalid
        | DirectoryError::TokenExpired => {
            tracing::error!(%error, "an administration command failed");
            return Err(WebError::Internal);
        }
        DirectoryError::EmailTaken
        | DirectoryError::DepartmentNameTaken(_)
        | DirectoryError::Conflict { .. } => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let key = format!("adm-error-{}", error.code().replace('_', "-"));
    let message = if i18n::has_message(lang, &key) {
        t(lang, &key)
    } else {
        error.to_string()
    };
    Ok(Refusal::message(status, message))
}

fn notice(lang: Lang, key: Option<&str>) -> Markup {
    html! {
        @if let Some(key) = key {
            @let key = format!("adm-done-{key}");
            @if i18n::has_message(lang, &key) {
                p.ok role="status" { (t(lang, &key)) }
            }
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    /// What was just done (`added`, `roles`, `deactivated`, `saved`).
    pub done: Option<String>,
}

// ------------------------------------------------------------------ index

async fn index(signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    let users = may(&signed, Action::ManageUsers);
    let plans = may(&signed, Action::SetPlans);
    if !users && !plans {
        return WebError::Forbidden.render(lang);
    }
    let mut links: Vec<(&str, &str, &str)> = Vec::new();
    if users {
        links.extend([
            ("/admin/users", "adm-users", "adm-users-hint"),
            ("/admin/roles", "adm-roles", "adm-roles-hint"),
            (
                "/admin/departments",
                "adm-departments",
                "adm-departments-hint",
            ),
            (
                "/admin/dictionaries",
                "adm-dictionaries",
                "adm-dictionaries-hint",
            ),
        ]);
    }
    if plans {
        links.push(("/admin/plans", "adm-plans", "adm-plans-hint"));
    }
    if may(&signed, Action::PublishProcess) {
        links.push(("/processes", "nav-processes", "adm-processes-hint"));
    }
    let body = html! {
        ul.list.adm-links {
            @for (href, key, hint) in &links {
                li { a href=(href) { (t(lang, key)) } p.muted { (t(lang, hint)) } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&signed, &t(lang, "nav-admin"), Nav::Admin, body),
    )
}

// ------------------------------------------------------------------ users

async fn users(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<DoneQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        require(&signed, Action::ManageUsers)?;
        let markup = users_page(
            &gateway,
            &signed,
            &Form::default(),
            None,
            query.done.as_deref(),
        )
        .await?;
        Ok(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

async fn users_page(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    refusal: Option<&Refusal>,
    done: Option<&str>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let directory = &gateway.directory;
    let users = directory.users().await.map_err(directory_error)?;
    let departments = directory.department_list().await.map_err(directory_error)?;
    let department_names: BTreeMap<DepartmentId, String> =
        departments.iter().map(|d| (d.id, d.name.clone())).collect();
    let department_options = department_options(&departments);
    let chosen_roles: BTreeSet<String> = form
        .with_prefix("role.")
        .into_iter()
        .map(|(role, _)| role)
        .collect();
    let body = html! {
        (notice(lang, done))
        section {
            h2 { (t(lang, "adm-user-add")) }
            @if let Some(refusal) = refusal { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
            form.card.grid method="post" action="/admin/users" {
                (csrf(viewer))
                (layout::text_input("u-name", "display_name", &t(lang, "adm-user-name"), &form.echo("display_name"), true))
                div.field {
                    label for="u-email" { (t(lang, "adm-user-login")) " *" }
                    input #u-email type="email" name="email" autocomplete="off" required value=(form.echo("email"));
                }
                div.field {
                    label for="u-password" { (t(lang, "adm-user-password")) " *" }
                    input #u-password type="password" name="password" autocomplete="new-password" required minlength="8";
                }
                (layout::select("u-department", "department", &t(lang, "adm-user-department"), &department_options, form.text("department").as_deref(), true))
                (role_checkboxes(lang, "u-role", &chosen_roles))
                div.actions { button.primary type="submit" { (t(lang, "adm-user-add-submit")) } }
            }
        }
        section {
            h2 { (ta(lang, "adm-user-count", &[("count", users.len().to_string())])) }
            ul.list.adm-users {
                @for user in &users {
                    (user_item(signed, user, &department_names))
                }
            }
        }
    };
    Ok(layout::page(
        signed,
        &t(lang, "adm-users"),
        Nav::Admin,
        body,
    ))
}

fn role_checkboxes(lang: Lang, id_prefix: &str, chosen: &BTreeSet<String>) -> Markup {
    html! {
        fieldset.adm-roles {
            legend { (t(lang, "adm-user-roles")) " *" }
            @for role in Role::ALL {
                @let id = format!("{id_prefix}-{}", role.as_str());
                label.adm-check for=(id) {
                    input id=(id) type="checkbox" name={ "role." (role.as_str()) } value="on" checked[chosen.contains(role.as_str())];
                    " " (role_title(lang, role))
                }
            }
        }
    }
}

fn user_item(signed: &Signed, user: &User, departments: &BTreeMap<DepartmentId, String>) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let chosen: BTreeSet<String> = user.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let id = user.id.to_string();
    html! {
        li.adm-user data-email=(user.email) {
            div.adm-user-head {
                strong { (user.display_name) }
                " " span.muted { (user.email) }
                @if !user.active { " " span.badge { (t(lang, "adm-user-inactive")) } }
            }
            div.muted {
                (departments.get(&user.department).cloned().unwrap_or_default())
                " · "
                (user.roles.iter().map(|r| role_title(lang, *r)).collect::<Vec<_>>().join(", "))
            }
            @if user.active {
                details.adm-user-edit {
                    summary { (t(lang, "adm-user-change-roles")) }
                    form.card method="post" action={ "/admin/users/" (id) "/roles" } {
                        (csrf(viewer))
                        (role_checkboxes(lang, &format!("r-{id}"), &chosen))
                        div.actions { button type="submit" { (t(lang, "adm-user-save-roles")) } }
                    }
                }
                @if user.id != signed.caller.user.id {
                    form.inline method="post" action={ "/admin/users/" (id) "/deactivate" } {
                        (csrf(viewer))
                        button.danger type="submit" aria-label=(ta(lang, "adm-user-deactivate-label", &[("name", user.display_name.clone())])) {
                            (t(lang, "adm-user-deactivate"))
                        }
                    }
                }
            }
        }
    }
}

pub fn directory_error(error: DirectoryError) -> WebError {
    match error {
        DirectoryError::Forbidden { .. } => WebError::Forbidden,
        DirectoryError::UnknownUser(_) => WebError::NotFound,
        DirectoryError::Store(StoreError::Unavailable(_) | StoreError::Closed) => {
            WebError::Unavailable
        }
        other => {
            tracing::error!(error = %other, "an administration page failed");
            WebError::Internal
        }
    }
}

/// `(id, "Parent / Child")` for every department, in tree order.
pub fn department_options(departments: &[Department]) -> Vec<(String, String)> {
    let mut options = Vec::new();
    fn walk(
        departments: &[Department],
        parent: Option<DepartmentId>,
        prefix: &str,
        options: &mut Vec<(String, String)>,
        depth: usize,
    ) {
        if depth > 32 {
            return;
        }
        for department in departments.iter().filter(|d| d.parent == parent) {
            let path = if prefix.is_empty() {
                department.name.clone()
            } else {
                format!("{prefix} / {}", department.name)
            };
            options.push((department.id.to_string(), path.clone()));
            walk(departments, Some(department.id), &path, options, depth + 1);
        }
    }
    walk(departments, None, "", &mut options, 0);
    options
}

fn roles_of(form: &Form) -> BTreeSet<Role> {
    form.with_prefix("role.")
        .into_iter()
        .filter_map(|(role, _)| Role::parse(&role))
        .collect()
}

async fn add_user(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        require(&signed, Action::ManageUsers)?;
        let department = form
            .text("department")
            .and_then(|d| uuid::Uuid::parse_str(&d).ok())
            .map(DepartmentId::from_uuid);
        let outcome = match department {
            None => Err(Refusal::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                t(lang, "adm-error-department-unknown"),
            )),
            Some(department) => {
                let new = NewUser {
                    email: form.text("email").unwrap_or_default(),
                    display_name: form.text("display_name").unwrap_or_default(),
                    password: form.raw("password").unwrap_or_default(),
                    roles: roles_of(&form),
                    department,
                };
                match gateway
                    .directory
                    .add_user(new, &signed.caller.actor())
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(error) => Err(directory_refusal(lang, error)?),
                }
            }
        };
        match outcome {
            Ok(()) => Ok(see_other("/admin/users?done=added")),
            Err(refusal) => {
                let markup = users_page(&gateway, &signed, &form, Some(&refusal), None).await?;
                Ok(html_response(refusal.status_code(), markup))
            }
        }
    }
    .await;
    page_result(lang, result)
}

async fn change_roles(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let user = UserId::from_uuid(path_uuid(&id)?);
        require(&signed, Action::ManageUsers)?;
        match gateway
            .directory
            .change_roles(user, roles_of(&form), &signed.caller.actor())
            .await
        {
            Ok(()) => Ok(see_other("/admin/users?done=roles")),
            Err(error) => {
                let refusal = directory_refusal(lang, error)?;
                let markup =
                    users_page(&gateway, &signed, &Form::default(), Some(&refusal), None).await?;
                Ok(html_response(refusal.status_code(), markup))
            }
        }
    }
    .await;
    page_result(lang, result)
}

async fn deactivate(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        Form::read(&signed.viewer, body).await?;
        let user = UserId::from_uuid(path_uuid(&id)?);
        require(&signed, Action::ManageUsers)?;
        match gateway
            .directory
            .deactivate_user(user, &signed.caller.actor())
            .await
        {
            Ok(()) => Ok(see_other("/admin/users?done=deactivated")),
            Err(error) => {
                let refusal = directory_refusal(lang, error)?;
                let markup =
                    users_page(&gateway, &signed, &Form::default(), Some(&refusal), None).await?;
                Ok(html_response(refusal.status_code(), markup))
            }
        }
    }
    .await;
    page_result(lang, result)
}

// ------------------------------------------------------------------ roles

async fn roles(signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    if let Err(error) = require(&signed, Action::ManageUsers) {
        return error.render(lang);
    }
    let grant = |action: Action, role: Role| {
        RIGHTS
            .iter()
            .filter(|(a, r, _)| *a == action && *r == role)
            .map(|(_, _, g)| *g)
            .max()
    };
    let body = html! {
        p.muted { (t(lang, "adm-roles-intro")) }
        div.adm-table-wrap {
            table.adm-rights {
                caption { (t(lang, "adm-roles")) }
                thead { tr {
                    th scope="col" { (t(lang, "adm-right")) }
                    @for role in Role::ALL { th scope="col" { (role_title(lang, role)) } }
                } }
                tbody {
                    @for action in Action::ALL {
                        tr {
                            th scope="row" { (t(lang, &format!("adm-action-{}", action.as_str().replace('_', "-")))) }
                            @for role in Role::ALL {
                                td {
                                    @match grant(action, role) {
                                        Some(Grant::All) => { (t(lang, "adm-grant-all")) }
                                        Some(Grant::DepartmentSubtree) => { (t(lang, "adm-grant-department")) }
                                        Some(Grant::Own) => { (t(lang, "adm-grant-own")) }
                                        None => { span.muted aria-label=(t(lang, "adm-grant-none")) { "—" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&signed, &t(lang, "adm-roles"), Nav::Admin, body),
    )
}

// ------------------------------------------------------------ departments

async fn departments(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<DoneQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        require(&signed, Action::ManageUsers)?;
        let markup = departments_page(
            &gateway,
            &signed,
            &Form::default(),
            None,
            query.done.as_deref(),
        )
        .await?;
        Ok(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

async fn departments_page(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    refusal: Option<&Refusal>,
    done: Option<&str>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let list = gateway
        .directory
        .department_list()
        .await
        .map_err(directory_error)?;
    let users = gateway.directory.users().await.map_err(directory_error)?;
    let mut members: BTreeMap<DepartmentId, usize> = BTreeMap::new();
    for user in users.iter().filter(|u| u.active) {
        *members.entry(user.department).or_default() += 1;
    }
    let body = html! {
        (notice(lang, done))
        section {
            h2 { (t(lang, "adm-department-tree")) }
            @if list.is_empty() { p.muted { (t(lang, "list-empty")) } }
            (department_tree(lang, &list, None, &members, 0))
        }
        section {
            h2 { (t(lang, "adm-department-add")) }
            @if let Some(refusal) = refusal { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
            form.card.grid method="post" action="/admin/departments" {
                (csrf(viewer))
                (layout::text_input("d-name", "name", &t(lang, "adm-department-name"), &form.echo("name"), true))
                (layout::select("d-parent", "parent", &t(lang, "adm-department-parent"), &department_options(&list), form.text("parent").as_deref(), false))
                div.actions { button.primary type="submit" { (t(lang, "adm-department-add-submit")) } }
            }
        }
    };
    Ok(layout::page(
        signed,
        &t(lang, "adm-departments"),
        Nav::Admin,
        body,
    ))
}

fn department_tree(
    lang: Lang,
    list: &[Department],
    parent: Option<DepartmentId>,
    members: &BTreeMap<DepartmentId, usize>,
    depth: usize,
) -> Markup {
    let children: Vec<&Department> = list.iter().filter(|d| d.parent == parent).collect();
    html! {
        @if !children.is_empty() && depth <= 32 {
            ul.adm-tree {
                @for department in children {
                    li {
                        span.adm-department { (department.name) }
                        " " span.count { (ta(lang, "adm-members", &[("count", members.get(&department.id).copied().unwrap_or(0).to_string())])) }
                        (department_tree(lang, list, Some(department.id), members, depth + 1))
                    }
                }
            }
        }
    }
}

async fn add_department(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        require(&signed, Action::ManageUsers)?;
        let parent = match form.text("parent") {
            None => Ok(None),
            Some(text) => uuid::Uuid::parse_str(&text)
                .map(|id| Some(DepartmentId::from_uuid(id)))
                .map_err(|_| {
                    Refusal::message(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        t(lang, "adm-error-department-unknown"),
                    )
                }),
        };
        let outcome = match parent {
            Err(refusal) => Err(refusal),
            Ok(parent) => match gateway
                .directory
                .add_department(
                    &form.text("name").unwrap_or_default(),
                    parent,
                    &signed.caller.actor(),
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => Err(directory_refusal(lang, error)?),
            },
        };
        match outcome {
            Ok(()) => Ok(see_other("/admin/departments?done=department")),
            Err(refusal) => {
                let markup =
                    departments_page(&gateway, &signed, &form, Some(&refusal), None).await?;
                Ok(html_response(refusal.status_code(), markup))
            }
        }
    }
    .await;
    page_result(lang, result)
}

// ----------------------------------------------------------- dictionaries

async fn dictionaries(State(gateway): State<Gateway>, signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    if let Err(error) = require(&signed, Action::ManageUsers) {
        return error.render(lang);
    }
    let standard = gateway.crm.dictionaries();
    let registry = gateway.crm.deal_service().registry();
    let names: BTreeSet<String> = registry.published().into_iter().map(|p| p.name).collect();
    let processes: Vec<_> = names.iter().filter_map(|n| registry.latest(n)).collect();
    let body = html! {
        p.muted { (t(lang, "adm-dictionaries-intro")) }
        section {
            h2 { (t(lang, "adm-dictionaries-standard")) }
            @for name in standard.names() {
                details.adm-dictionary {
                    summary { code { (name) } " " span.count { (standard.get(name).map_or(0, <[_]>::len)) } }
                    div.adm-table-wrap {
                        table {
                            thead { tr {
                                th scope="col" { (t(lang, "adm-dictionary-value")) }
                                th scope="col" { "Русский" }
                                th scope="col" { "English" }
                            } }
                            tbody {
                                @for entry in standard.get(name).unwrap_or_default() {
                                    tr { td { code { (entry.value) } } td { (entry.title_ru) } td { (entry.title_en) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @for process in &processes {
            section {
                h2 { (ta(lang, "adm-dictionaries-of", &[("process", lang.title(&process.title).to_owned())])) }
                p.muted { code { (process.identity.name) } " v" (process.identity.version) }
                @for dictionary in &process.dictionaries {
                    details.adm-dictionary {
                        summary { code { (dictionary.name) } " " span.count { (dictionary.values.len()) } }
                        ul.adm-values {
                            @for value in &dictionary.values {
                                @let value = process.value(*value);
                                li {
                                    code { (value.name) }
                                    @if let Some(title) = &value.title { " — " (lang.title(title)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&signed, &t(lang, "adm-dictionaries"), Nav::Admin, body),
    )
}

// ------------------------------------------------------------------ plans

/// The plan metrics in the form's order.
const METRICS: [PlanMetric; 8] = PlanMetric::ALL;

fn metric_title(lang: Lang, metric: PlanMetric) -> String {
    t(
        lang,
        &format!("adm-metric-{}", metric.as_str().replace('_', "-")),
    )
}

async fn plans(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<DoneQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        require(&signed, Action::SetPlans)?;
        let markup = plans_page(
            &gateway,
            &signed,
            &Form::default(),
            None,
            query.done.as_deref(),
        )
        .await?;
        Ok(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

async fn plans_page(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    refusal: Option<&Refusal>,
    done: Option<&str>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let reach = signed.caller.reach(Action::SetPlans);
    let mut managers: Vec<&User> = signed
        .caller
        .access
        .users
        .values()
        .filter(|u| u.active && reach.includes(u.id))
        .collect();
    managers.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    let departments = gateway
        .directory
        .department_list()
        .await
        .map_err(directory_error)?;
    let today = chrono::Utc::now().with_timezone(&viewer.zone).date_naive();
    let first_of_month = today.with_day(1).unwrap_or(today);
    let start = form
        .text("start")
        .unwrap_or_else(|| first_of_month.format("%Y-%m-%d").to_string());
    let scope = form.text("scope").unwrap_or_default();
    let period = form.text("period").unwrap_or_else(|| "month".to_owned());
    let body = html! {
        (notice(lang, done))
        p.muted { (t(lang, "adm-plans-intro")) }
        @if let Some(refusal) = refusal { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
        form.card.grid method="post" action="/admin/plans" {
            (csrf(viewer))
            div.field {
                label for="p-scope" { (t(lang, "adm-plan-scope")) " *" }
                select #p-scope name="scope" required {
                    option value="" { "—" }
                    optgroup label=(t(lang, "adm-plan-managers")) {
                        @for user in &managers {
                            @let value = format!("manager:{}", user.id);
                            option value=(value) selected[scope == value] { (user.display_name) }
                        }
                    }
                    optgroup label=(t(lang, "adm-plan-departments")) {
                        @for (id, name) in department_options(&departments) {
                            @let value = format!("department:{id}");
                            option value=(value) selected[scope == value] { (name) }
                        }
                    }
                }
            }
            div.field {
                label for="p-period" { (t(lang, "adm-plan-period")) " *" }
                select #p-period name="period" required {
                    option value="month" selected[period == "month"] { (t(lang, "adm-plan-month")) }
                    option value="week" selected[period == "week"] { (t(lang, "adm-plan-week")) }
                }
            }
            div.field {
                label for="p-start" { (t(lang, "adm-plan-start")) " *" }
                input #p-start type="date" name="start" required value=(start) aria-describedby="p-start-hint";
                span.muted #p-start-hint { (t(lang, "adm-plan-start-hint")) }
            }
            fieldset.adm-targets {
                legend { (t(lang, "adm-plan-targets")) }
                @for metric in METRICS {
                    @let id = format!("p-{}", metric.as_str());
                    div.field {
                        label for=(id) { (metric_title(lang, metric)) }
                        input id=(id) type="number" min="0" step="1" inputmode="numeric" name={ "target." (metric.as_str()) } value=(form.echo(&format!("target.{}", metric.as_str())));
                    }
                }
            }
            div.actions { button.primary type="submit" { (t(lang, "adm-plan-save")) } }
        }
    };
    Ok(layout::page(
        signed,
        &t(lang, "adm-plans"),
        Nav::Admin,
        body,
    ))
}

/// The plan a form describes, or what is wrong with it.
fn plan_input(lang: Lang, form: &Form) -> Result<PlanInput, Vec<String>> {
    let mut problems = Vec::new();
    let scope = form.text("scope").and_then(|text| {
        let (kind, id) = text.split_once(':')?;
        let id = uuid::Uuid::parse_str(id).ok()?;
        match kind {
            "manager" => Some(PlanScope::Manager(id)),
            "department" => Some(PlanScope::Department(id)),
            _ => None,
        }
    });
    if scope.is_none() {
        problems.push(t(lang, "adm-plan-error-scope"));
    }
    let period = match form.text("period").as_deref() {
        Some("month") => Some(PeriodKind::Month),
        Some("week") => Some(PeriodKind::Week),
        _ => {
            problems.push(t(lang, "adm-plan-error-period"));
            None
        }
    };
    let start = form
        .text("start")
        .and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok());
    if start.is_none() {
        problems.push(t(lang, "adm-plan-error-start"));
    }
    let mut targets = BTreeMap::new();
    for metric in METRICS {
        let Some(text) = form.text(&format!("target.{}", metric.as_str())) else {
            continue;
        };
        match text.replace([' ', '\u{a0}'], "").parse::<i64>() {
            Ok(value) if value >= 0 => {
                // Revenue is typed in roubles and kept in kopecks.
                let value = if metric == PlanMetric::RevenueWon {
                    value.checked_mul(100)
                } else {
                    Some(value)
                };
                match value {
                    Some(value) => {
                        targets.insert(metric.as_str().to_owned(), Some(value));
                    }
                    None => problems.push(ta(
                        lang,
                        "adm-plan-error-target",
                        &[("metric", metric_title(lang, metric))],
                    )),
                }
            }
            _ => problems.push(ta(
                lang,
                "adm-plan-error-target",
                &[("metric", metric_title(lang, metric))],
            )),
        }
    }
    if targets.is_empty() && problems.is_empty() {
        problems.push(t(lang, "adm-plan-error-no-targets"));
    }
    match (scope, period, start) {
        (Some(scope), Some(period), Some(start)) if problems.is_empty() => {
            // A week starts on its Monday, a month on its first day.
            let start = match period {
                PeriodKind::Month => start.with_day(1).unwrap_or(start),
                PeriodKind::Week => {
                    start
                        - chrono::Duration::days(i64::from(start.weekday().num_days_from_monday()))
                }
            };
            Ok(PlanInput {
                scope,
                period,
                start,
                targets,
            })
        }
        _ => Err(problems),
    }
}

async fn set_plan(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        require(&signed, Action::SetPlans)?;
        let refusal = match plan_input(lang, &form) {
            Err(messages) => Refusal {
                status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
                messages,
                unmet: Vec::new(),
            },
            Ok(input) => match gateway.reports.set_plan(&signed.caller, input).await {
                Ok(_) => return Ok(see_other("/admin/plans?done=saved")),
                Err(error) => Refusal::from_app(lang, error)?,
            },
        };
        let markup = plans_page(&gateway, &signed, &form, Some(&refusal), None).await?;
        Ok(html_response(refusal.status_code(), markup))
    }
    .await;
    page_result(lang, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_form_is_read_into_a_plan_or_every_problem() {
        let manager = uuid::Uuid::now_v7();
        let form = Form::parse(
            format!(
                "scope=manager%3A{manager}&period=week&start=2026-03-05&target.calls_made=40&target.revenue_won=1500&target.deals_won="
            )
            .as_bytes(),
        );
        let input = plan_input(Lang::En, &form).expect("a plan");
        assert_eq!(input.scope, PlanScope::Manager(manager));
        assert_eq!(
            input.start,
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            "the Monday"
        );
        assert_eq!(input.targets.get("calls_made"), Some(&Some(40)));
        assert_eq!(
            input.targets.get("revenue_won"),
            Some(&Some(150_000)),
            "kopecks"
        );
        assert!(!input.targets.contains_key("deals_won"));

        let bad = Form::parse(b"scope=nobody&period=year&start=soon&target.calls_made=-1");
        let problems = plan_input(Lang::En, &bad).expect_err("refused");
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
