//! Website lead form pages (right `manage_integrations`): the list with
//! each form's accepted leads, creating one (department, website field =
//! target pairs, honeypot), its public submit URL and an HTML snippet to
//! paste into the website, pause/resume and delete.
//!
//! Everything goes through the `Crm` functions `/api/v1/forms` calls. A
//! form is not edited in place (the API has no such command): a changed
//! mapping is a new form, and the old one is paused or deleted.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use voronka_app::crm::forms::LeadFormView;
use voronka_crm::lead_form::{LeadFormId, LeadFormInput};

use super::admin::{department_options, directory_error};
use super::forms::Form;
use super::layout::{self, csrf, t, ta, Nav};
use super::session::Signed;
use super::{html_response, page_result, path_uuid, see_other, Refusal, WebError};
use crate::Gateway;

/// The routes of these pages.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/integrations/forms", get(index).post(create))
        .route("/integrations/forms/{id}", get(form_page))
        .route("/integrations/forms/{id}/active", post(set_active))
        .route("/integrations/forms/{id}/delete", post(delete))
}

/// Where the absolute submit URL starts: the server's `--public-url` when
/// it was given one (behind a proxy the Host header names the proxy's
/// upstream, not the site), else `scheme://host` of the request.
fn origin(public_url: Option<&str>, headers: &HeaderMap, secure: bool) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|host| {
            host.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    format!("{}://{host}", if secure { "https" } else { "http" })
}

async fn index(State(gateway): State<Gateway>, signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let markup = index_page(&gateway, &signed, &Form::default(), None).await?;
        Ok(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

async fn index_page(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    refusal: Option<&Refusal>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let forms = gateway.crm.forms(&signed.caller).await?;
    let departments = gateway
        .directory
        .department_list()
        .await
        .map_err(directory_error)?;
    let department_names: BTreeMap<String, String> =
        department_options(&departments).into_iter().collect();
    let department_choices: Vec<(String, String)> = department_options(&departments);
    let body = html! {
        section {
            h2 { (t(lang, "lf-list")) span.count { (forms.len()) } }
            @if forms.is_empty() {
                p.muted { (t(lang, "lf-none")) }
            } @else {
                ul.list.int-forms {
                    @for lead_form in &forms {
                        li data-form=(lead_form.id) {
                            a href={ "/integrations/forms/" (lead_form.id) } { (lead_form.name) }
                            " " span.muted { (department_names.get(&lead_form.department.to_string()).cloned().unwrap_or_default()) }
                            " · " (ta(lang, "lf-accepted", &[("count", lead_form.accepted.to_string())]))
                            @if !lead_form.active { " " span.badge { (t(lang, "lf-paused")) } }
                        }
                    }
                }
            }
        }
        section {
            h2 { (t(lang, "lf-new")) }
            @if let Some(refusal) = refusal { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
            form.card.grid #lead-form-form method="post" action="/integrations/forms" {
                (csrf(viewer))
                (layout::text_input("f-name", "name", &t(lang, "lf-name"), &form.echo("name"), true))
                (layout::select("f-department", "department", &t(lang, "lf-department"), &department_choices, form.text("department").as_deref(), true))
                div.field {
                    label for="f-fields" { (t(lang, "lf-fields")) " *" }
                    textarea #f-fields name="fields" rows="5" spellcheck="false" aria-describedby="f-fields-hint" { (form.echo("fields")) }
                    span.muted #f-fields-hint { (t(lang, "lf-fields-hint")) }
                }
                (layout::text_input("f-honeypot", "honeypot", &t(lang, "lf-honeypot"), &form.echo("honeypot"), false))
                div.actions { button.primary type="submit" { (t(lang, "lf-create")) } }
            }
        }
    };
    Ok(layout::page(
        signed,
        &t(lang, "lf-title"),
        Nav::Integrations,
        body,
    ))
}

/// `website field = target` lines; the numbers of lines that are not pairs.
fn parse_fields(text: &str) -> (BTreeMap<String, String>, Vec<usize>) {
    let mut fields = BTreeMap::new();
    let mut bad = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((field, target)) if !field.trim().is_empty() && !target.trim().is_empty() => {
                fields.insert(field.trim().to_owned(), target.trim().to_owned());
            }
            _ => bad.push(number + 1),
        }
    }
    (fields, bad)
}

async fn create(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let (fields, bad) = parse_fields(&form.raw("fields").unwrap_or_default());
        let refusal = if bad.is_empty() {
            let input = LeadFormInput {
                name: form.text("name").unwrap_or_default(),
                department: form
                    .text("department")
                    .and_then(|text| uuid::Uuid::parse_str(&text).ok()),
                fields,
                honeypot: form.text("honeypot"),
                rate_limit: None,
            };
            match gateway.crm.create_form(&signed.caller, input).await {
                Ok(view) => return Ok(see_other(&format!("/integrations/forms/{}", view.id))),
                Err(error) => Refusal::from_app(lang, error)?,
            }
        } else {
            Refusal {
                status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
                messages: bad
                    .into_iter()
                    .map(|line| ta(lang, "lf-error-pair", &[("line", line.to_string())]))
                    .collect(),
                unmet: Vec::new(),
            }
        };
        let markup = index_page(&gateway, &signed, &form, Some(&refusal)).await?;
        Ok(html_response(refusal.status_code(), markup))
    }
    .await;
    page_result(lang, result)
}

/// The HTML a website pastes: a plain form posting to the submit URL, an
/// input per mapped field and the honeypot hidden from people.
fn embed_snippet(view: &LeadFormView, action: &str) -> String {
    let attribute = |text: &str| {
        text.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut snippet = format!("<form method=\"post\" action=\"{}\">\n", attribute(action));
    for (field, target) in &view.fields {
        let kind = match target.as_str() {
            "email" => "email",
            "phone" => "tel",
            _ => "text",
        };
        snippet.push_str(&format!(
            "  <label>{0} <input type=\"{kind}\" name=\"{0}\"></label>\n",
            attribute(field)
        ));
    }
    if let Some(honeypot) = &view.honeypot {
        snippet.push_str(&format!(
            "  <input type=\"text\" name=\"{}\" tabindex=\"-1\" autocomplete=\"off\" style=\"display:none\">\n",
            attribute(honeypot)
        ));
    }
    snippet.push_str("  <button type=\"submit\">Send</button>\n</form>");
    snippet
}

async fn form_page(
    State(gateway): State<Gateway>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let lang = signed.viewer.lang;
    let viewer = &signed.viewer;
    let result = async {
        let id = LeadFormId::from_uuid(path_uuid(&id)?);
        let view = gateway.crm.form(&signed.caller, id).await?;
        let action = format!("{}{}", origin(gateway.public_url.as_deref(), &headers, viewer.secure), view.submit_path);
        let body = html! {
            p { a href="/integrations/forms" { (t(lang, "lf-back")) } }
            dl.facts {
                dt { (t(lang, "lf-status")) }
                dd data-active=(view.active) { @if view.active { (t(lang, "lf-active")) } @else { (t(lang, "lf-paused")) } }
                dt { (t(lang, "lf-accepted-title")) } dd { (view.accepted) }
                dt { (t(lang, "lf-submit-url")) } dd { code #submit-url { (action) } }
                dt { (t(lang, "lf-fields")) }
                dd { ul { @for (field, target) in &view.fields { li { code { (field) } " → " code { (target) } } } } }
            }
            h2 { (t(lang, "lf-embed")) }
            p.muted { (t(lang, "lf-embed-hint")) }
            pre.int-body { code #embed { (embed_snippet(&view, &action)) } }
            div.actions {
                form.inline method="post" action={ "/integrations/forms/" (view.id) "/active" } {
                    (csrf(viewer))
                    @if view.active {
                        input type="hidden" name="active" value="false";
                        button type="submit" { (t(lang, "lf-pause")) }
                    } @else {
                        input type="hidden" name="active" value="true";
                        button.primary type="submit" { (t(lang, "lf-resume")) }
                    }
                }
                form.inline method="post" action={ "/integrations/forms/" (view.id) "/delete" } {
                    (csrf(viewer))
                    button.danger type="submit" { (t(lang, "lf-delete")) }
                }
            }
        };
        let title = ta(lang, "lf-form-title", &[("name", view.name.clone())]);
        Ok(html_response(
            StatusCode::OK,
            layout::page(&signed, &title, Nav::Integrations, body),
        ))
    }
    .await;
    page_result(lang, result)
}

async fn set_active(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let id = LeadFormId::from_uuid(path_uuid(&id)?);
        let active = form.text("active").as_deref() == Some("true");
        gateway
            .crm
            .set_form_active(&signed.caller, id, active)
            .await?;
        Ok(see_other(&format!("/integrations/forms/{id}")))
    }
    .await;
    page_result(lang, result)
}

async fn delete(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        Form::read(&signed.viewer, body).await?;
        let id = LeadFormId::from_uuid(path_uuid(&id)?);
        gateway.crm.delete_form(&signed.caller, id).await?;
        Ok(see_other("/integrations/forms"))
    }
    .await;
    page_result(lang, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snippet_escapes_field_names_and_hides_the_honeypot() {
        let (fields, bad) =
            parse_fields("your-name = name\nphone=phone\n\"><x = comment\nnot a pair");
        assert_eq!(bad, vec![4]);
        let view = LeadFormView {
            id: LeadFormId::from_uuid(uuid::Uuid::nil()),
            name: "Site".into(),
            department: uuid::Uuid::nil(),
            fields,
            honeypot: Some("website".into()),
            rate_limit: Default::default(),
            token: "t".into(),
            submit_path: "/api/v1/forms/t/submit".into(),
            active: true,
            accepted: 0,
            created_by: voronka_app::access::UserId::from_uuid(uuid::Uuid::nil()),
            created_at: chrono::Utc::now(),
        };
        let snippet = embed_snippet(&view, "https://crm.example/api/v1/forms/t/submit");
        assert!(snippet.contains("name=\"&quot;&gt;&lt;x\""), "{snippet}");
        assert!(snippet.contains("type=\"tel\" name=\"phone\""));
        assert!(snippet.contains("name=\"website\" tabindex=\"-1\""));
        assert!(snippet.starts_with("<form method=\"post\" action=\"https://crm.example/"));
    }

    #[test]
    fn the_submit_url_starts_at_the_public_url_when_there_is_one() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "10.0.0.5:8080".parse().unwrap());
        assert_eq!(
            origin(Some("https://crm.example.com/"), &headers, false),
            "https://crm.example.com"
        );
        assert_eq!(origin(None, &headers, false), "http://10.0.0.5:8080");
        assert_eq!(origin(None, &headers, true), "https://10.0.0.5:8080");
        // A Host header that is not a host name is not echoed.
        headers.insert(header::HOST, "evil\"><script>".parse().unwrap());
        assert_eq!(origin(None, &headers, false), "http://localhost");
    }
}
