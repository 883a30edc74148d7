//! Companies and contacts: lists with search (Cyrillic folded, phones in
//! any format), cards with their deals and timelines, create forms that
//! warn about possible duplicates (same INN, phone or e-mail).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use voronka_app::crm::Crm;
use voronka_core::Position;
use voronka_crm::company::CompanyInput;
use voronka_crm::contact::ContactInput;
use voronka_crm::customer_index::{CompanyFilter, ContactFilter};
use voronka_crm::deal_index::DealFilter;
use voronka_crm::dictionaries::names;
use voronka_crm::{CompanyId, ContactId, Cursor, MAX_PAGE_SIZE};

use super::deals::{all_deals, definition_of, with_position, TIMELINE_PAGE};
use super::forms::Form;
use super::i18n;
use super::layout::{self, csrf, t, ta, Nav};
use super::session::Signed;
use super::{html_response, page_result, path_uuid, see_other, timeline, Refusal, WebError};
use crate::Gateway;

/// List and card parameters: search, paging, read-your-writes, and the
/// possible duplicates a create found.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub at: Option<u64>,
    pub dup: Option<String>,
}

/// How many rows a list page shows.
const LIST_PAGE: usize = 50;

fn cursor(text: Option<&str>) -> Result<Option<Cursor>, WebError> {
    text.filter(|c| !c.is_empty())
        .map(Cursor::parse)
        .transpose()
        .map_err(|_| WebError::BadRequest("cursor".into()))
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn search_form(lang: i18n::Lang, action: &str, q: &str, hint: &str) -> Markup {
    html! {
        form.search role="search" method="get" action=(action) {
            label for="q" { (t(lang, "search")) }
            input #q type="search" name="q" value=(q) placeholder=(hint);
            button type="submit" { (t(lang, "search-submit")) }
        }
    }
}

// -------------------------------------------------------------- companies

pub async fn companies(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let filter = CompanyFilter {
            q: query.q.clone().filter(|q| !q.trim().is_empty()),
            ..CompanyFilter::default()
        };
        let page = gateway
            .crm
            .companies(
                &signed.caller,
                &filter,
                cursor(query.cursor.as_deref())?,
                LIST_PAGE,
                query.at.map(Position),
            )
            .await?;
        let q = query.q.clone().unwrap_or_default();
        let body = html! {
            div.toolbar {
                (search_form(lang, "/companies", &q, &t(lang, "companies-search-hint")))
                a.button href="/companies/new" { (t(lang, "company-new")) }
            }
            @if page.items.is_empty() { p.muted { (t(lang, "list-empty")) } }
            ul.list {
                @for row in &page.items {
                    li {
                        a href={ "/companies/" (row.record.id) } { (row.record.name) }
                        @if let Some(inn) = &row.record.inn { " " span.muted { (t(lang, "field-inn")) " " (inn) } }
                    }
                }
            }
            @if let Some(next) = &page.next_cursor {
                p { a href={ "/companies?q=" (encode(&q)) "&cursor=" (encode(next)) } { (t(lang, "list-more")) } }
            }
        };
        Ok(html_response(
            StatusCode::OK,
            layout::page(&signed, &t(lang, "nav-companies"), Nav::Companies, body),
        ))
    }
    .await;
    page_result(lang, result)
}

pub async fn new_company(State(gateway): State<Gateway>, signed: Signed) -> Response {
    let markup = company_form(&gateway.crm, &signed, &Form::default(), None);
    html_response(StatusCode::OK, markup)
}

fn company_form(crm: &Crm, signed: &Signed, form: &Form, refusal: Option<&Refusal>) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let dictionaries = crm.dictionaries();
    let nonce = form
        .text("nonce")
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = html! {
        @if let Some(refusal) = refusal { (layout::alert(&refusal.messages)) }
        form.card.grid method="post" action="/companies" {
            (csrf(viewer))
            input type="hidden" name="nonce" value=(nonce);
            (layout::text_input("c-name", "name", &t(lang, "field-name"), &form.echo("name"), true))
            (layout::select("c-legal-form", "legal_form", &t(lang, "field-legal-form"), &layout::dictionary_options(dictionaries, names::LEGAL_FORM, lang), form.text("legal_form").as_deref(), false))
            div.field {
                label for="c-inn" { (t(lang, "field-inn")) }
                input #c-inn type="text" inputmode="numeric" name="inn" value=(form.echo("inn"));
            }
            (layout::select("c-industry", "industry", &t(lang, "field-industry"), &layout::dictionary_options(dictionaries, names::INDUSTRY, lang), form.text("industry").as_deref(), false))
            (layout::select("c-segment", "segment", &t(lang, "field-segment"), &layout::dictionary_options(dictionaries, names::SEGMENT, lang), form.text("segment").as_deref(), false))
            (layout::text_input("c-website", "website", &t(lang, "field-website"), &form.echo("website"), false))
            (layout::text_input("c-address", "address", &t(lang, "field-address"), &form.echo("address"), false))
            div.actions { button.primary type="submit" { (t(lang, "company-create")) } }
        }
    };
    layout::page(signed, &t(lang, "company-new"), Nav::Companies, body)
}

pub async fn create_company(
    State(gateway): State<Gateway>,
    signed: Signed,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let input = CompanyInput {
            name: form.text("name").unwrap_or_default(),
            legal_form: form.text("legal_form"),
            inn: form.text("inn"),
            kpp: None,
            industry: form.text("industry"),
            segment: form.text("segment"),
            address: form.text("address"),
            website: form.text("website"),
            responsible: None,
            custom: Default::default(),
        };
        let id = form
            .text("nonce")
            .and_then(|n| uuid::Uuid::parse_str(&n).ok())
            .unwrap_or_else(uuid::Uuid::now_v7);
        match crm
            .create_company(&signed.caller, CompanyId::from_uuid(id), input, false, None)
            .await
        {
            Ok(created) => Ok(see_other(&with_duplicates(
                &with_position(&format!("/companies/{id}"), created.written.position),
                &created.duplicates,
            ))),
            Err(voronka_app::crm::AppError::AlreadyExists) => {
                Ok(see_other(&format!("/companies/{id}")))
            }
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                Ok(html_response(
                    refusal.status_code(),
                    company_form(crm, &signed, &form, Some(&refusal)),
                ))
            }
        }
    }
    .await;
    page_result(lang, result)
}

fn with_duplicates(path: &str, duplicates: &[uuid::Uuid]) -> String {
    if duplicates.is_empty() {
        return path.to_owned();
    }
    let list: Vec<String> = duplicates.iter().take(10).map(|d| d.to_string()).collect();
    format!("{path}&dup={}", list.join(","))
}

fn duplicate_ids(query: &ListQuery) -> Vec<uuid::Uuid> {
    query
        .dup
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter_map(|id| uuid::Uuid::parse_str(id.trim()).ok())
        .take(10)
        .collect()
}

pub async fn company(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let crm = &gateway.crm;
        let caller = &signed.caller;
        let viewer = &signed.viewer;
        let id = CompanyId::from_uuid(path_uuid(&id)?);
        let at = query.at.map(Position);
        let row = crm.company(caller, id, at).await?;
        let timeline = crm
            .company_timeline(caller, id, cursor(query.cursor.as_deref())?, TIMELINE_PAGE, at)
            .await?;
        let contacts = crm
            .contacts(
                caller,
                &ContactFilter {
                    company: Some(id),
                    ..ContactFilter::default()
                },
                None,
                MAX_PAGE_SIZE,
                at,
            )
            .await
            .map(|page| page.items)
            .unwrap_or_default();
        let deals = all_deals(
            crm,
            caller,
            &DealFilter {
                company: Some(id),
                ..DealFilter::default()
            },
            at,
        )
        .await?;
        let mut duplicates = Vec::new();
        for candidate in duplicate_ids(&query) {
            if let Ok(other) = crm.company(caller, CompanyId::from_uuid(candidate), None).await {
                duplicates.push((candidate, other.record.name));
            }
        }
        let record = &row.record;
        let dictionaries = crm.dictionaries();
        let body = html! {
            @if !duplicates.is_empty() {
                div.alert.warning role="status" {
                    p { (t(lang, "duplicates-warning")) }
                    ul { @for (other, name) in &duplicates { li { a href={ "/companies/" (other) } { (name) } } } }
                }
            }
            dl.facts {
                @if let Some(form) = &record.legal_form {
                    dt { (t(lang, "field-legal-form")) } dd { (layout::dictionary_title(dictionaries, names::LEGAL_FORM, form, lang)) }
                }
                @if let Some(inn) = &record.inn { dt { (t(lang, "field-inn")) } dd { (inn) } }
                @if let Some(industry) = &record.industry {
                    dt { (t(lang, "field-industry")) } dd { (layout::dictionary_title(dictionaries, names::INDUSTRY, industry, lang)) }
                }
                @if let Some(website) = &record.website { dt { (t(lang, "field-website")) } dd { (website) } }
                @if let Some(address) = &record.address { dt { (t(lang, "field-address")) } dd { (address) } }
                dt { (t(lang, "field-responsible")) }
                dd { (super::deals::user_name(caller, Some(record.responsible))) }
            }
            p.actions {
                a.button href={ "/contacts/new?company=" (id) } { (t(lang, "contact-new")) }
                " "
                a.button href={ "/deals/new?company=" (id) } { (t(lang, "deal-new")) }
            }
            section aria-labelledby="contacts-h" {
                h2 #contacts-h { (t(lang, "nav-contacts")) }
                @if contacts.is_empty() { p.muted { (t(lang, "list-empty")) } }
                ul.list { @for contact in &contacts { li { a href={ "/contacts/" (contact.record.id) } { (contact.full_name) } } } }
            }
            section aria-labelledby="deals-h" {
                h2 #deals-h { (t(lang, "deals")) }
                (deal_list(crm, lang, &deals))
            }
            section aria-labelledby="tl-h" {
                h2 #tl-h { (t(lang, "timeline")) }
                (timeline::render(viewer, caller, None, &timeline.items))
                @if let Some(next) = &timeline.next_cursor {
                    p { a href={ "/companies/" (id) "?cursor=" (encode(next)) } { (t(lang, "timeline-older")) } }
                }
            }
        };
        Ok(html_response(
            StatusCode::OK,
            layout::page(&signed, &record.name, Nav::Companies, body),
        ))
    }
    .await;
    page_result(lang, result)
}

fn deal_list(crm: &Crm, lang: i18n::Lang, deals: &[voronka_crm::deal_index::DealRow]) -> Markup {
    html! {
        @if deals.is_empty() { p.muted { (t(lang, "list-empty")) } }
        ul.list {
            @for deal in deals {
                @let stage = definition_of(crm, deal)
                    .and_then(|d| d.stage_id(&deal.stage).map(|s| lang.title(&d.stage(s).title).to_owned()))
                    .unwrap_or_else(|| deal.stage.clone());
                li {
                    a href={ "/deals/" (deal.id) } { (deal.title.as_deref().unwrap_or("—")) }
                    " · " span.muted { (stage) }
                    @if let Some(amount) = &deal.amount { " · " (i18n::money(lang, amount)) }
                }
            }
        }
    }
}

// --------------------------------------------------------------- contacts

pub async fn contacts(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let filter = ContactFilter {
            q: query.q.clone().filter(|q| !q.trim().is_empty()),
            ..ContactFilter::default()
        };
        let page = gateway
            .crm
            .contacts(
                &signed.caller,
                &filter,
                cursor(query.cursor.as_deref())?,
                LIST_PAGE,
                query.at.map(Position),
            )
            .await?;
        let q = query.q.clone().unwrap_or_default();
        let body = html! {
            div.toolbar {
                (search_form(lang, "/contacts", &q, &t(lang, "contacts-search-hint")))
                a.button href="/contacts/new" { (t(lang, "contact-new")) }
            }
            @if page.items.is_empty() { p.muted { (t(lang, "list-empty")) } }
            ul.list {
                @for row in &page.items {
                    li {
                        a href={ "/contacts/" (row.record.id) } { (row.full_name) }
                        @for phone in &row.record.phones { " " span.muted { (phone) } }
                    }
                }
            }
            @if let Some(next) = &page.next_cursor {
                p { a href={ "/contacts?q=" (encode(&q)) "&cursor=" (encode(next)) } { (t(lang, "list-more")) } }
            }
        };
        Ok(html_response(
            StatusCode::OK,
            layout::page(&signed, &t(lang, "nav-contacts"), Nav::Contacts, body),
        ))
    }
    .await;
    page_result(lang, result)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct NewContactQuery {
    pub company: Option<String>,
}

pub async fn new_contact(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<NewContactQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let form = match &query.company {
        Some(company) => Form::parse(format!("company={}", encode(company)).as_bytes()),
        None => Form::default(),
    };
    page_result(
        lang,
        contact_form(&gateway.crm, &signed, &form, None)
            .await
            .map(|markup| html_response(StatusCode::OK, markup)),
    )
}

async fn contact_form(
    crm: &Crm,
    signed: &Signed,
    form: &Form,
    refusal: Option<&Refusal>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let companies = crm
        .companies(
            &signed.caller,
            &CompanyFilter::default(),
            None,
            MAX_PAGE_SIZE,
            None,
        )
        .await?;
    let mut options: Vec<(String, String)> = companies
        .items
        .iter()
        .map(|c| (c.record.id.to_string(), c.record.name.clone()))
        .collect();
    if let Some(company) = form
        .text("company")
        .and_then(|c| uuid::Uuid::parse_str(&c).ok())
    {
        if !options.iter().any(|(v, _)| *v == company.to_string()) {
            if let Ok(row) = crm
                .company(&signed.caller, CompanyId::from_uuid(company), None)
                .await
            {
                options.insert(0, (company.to_string(), row.record.name));
            }
        }
    }
    let nonce = form
        .text("nonce")
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = html! {
        @if let Some(refusal) = refusal { (layout::alert(&refusal.messages)) }
        form.card.grid method="post" action="/contacts" {
            (csrf(viewer))
            input type="hidden" name="nonce" value=(nonce);
            (layout::text_input("p-surname", "surname", &t(lang, "field-surname"), &form.echo("surname"), true))
            (layout::text_input("p-name", "name", &t(lang, "field-first-name"), &form.echo("name"), true))
            (layout::text_input("p-patronymic", "patronymic", &t(lang, "field-patronymic"), &form.echo("patronymic"), false))
            div.field {
                label for="p-phone" { (t(lang, "field-phone")) }
                input #p-phone type="tel" name="phone" value=(form.echo("phone")) autocomplete="off";
            }
            div.field {
                label for="p-email" { (t(lang, "field-email")) }
                input #p-email type="email" name="email" value=(form.echo("email")) autocomplete="off";
            }
            (layout::text_input("p-position", "position", &t(lang, "field-position"), &form.echo("position"), false))
            (layout::select("p-company", "company", &t(lang, "field-company"), &options, form.text("company").as_deref(), false))
            div.actions { button.primary type="submit" { (t(lang, "contact-create")) } }
        }
    };
    Ok(layout::page(
        signed,
        &t(lang, "contact-new"),
        Nav::Contacts,
        body,
    ))
}

pub async fn create_contact(
    State(gateway): State<Gateway>,
    signed: Signed,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let company = match form.text("company").map(|c| uuid::Uuid::parse_str(&c)) {
            None => None,
            Some(Ok(company)) => Some(CompanyId::from_uuid(company)),
            Some(Err(_)) => {
                let refusal =
                    Refusal::message(StatusCode::UNPROCESSABLE_ENTITY, t(lang, "field-company"));
                let markup = contact_form(crm, &signed, &form, Some(&refusal)).await?;
                return Ok(html_response(refusal.status_code(), markup));
            }
        };
        let input = ContactInput {
            surname: form.text("surname").unwrap_or_default(),
            name: form.text("name").unwrap_or_default(),
            patronymic: form.text("patronymic"),
            phones: form.text("phone").into_iter().collect(),
            emails: form.text("email").into_iter().collect(),
            position: form.text("position"),
            company,
            birthday: None,
            consent_to_mailings: false,
            responsible: None,
            custom: Default::default(),
        };
        let id = form
            .text("nonce")
            .and_then(|n| uuid::Uuid::parse_str(&n).ok())
            .unwrap_or_else(uuid::Uuid::now_v7);
        match crm
            .create_contact(&signed.caller, ContactId::from_uuid(id), input, false, None)
            .await
        {
            Ok(created) => Ok(see_other(&with_duplicates(
                &with_position(&format!("/contacts/{id}"), created.written.position),
                &created.duplicates,
            ))),
            Err(voronka_app::crm::AppError::AlreadyExists) => {
                Ok(see_other(&format!("/contacts/{id}")))
            }
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                let markup = contact_form(crm, &signed, &form, Some(&refusal)).await?;
                Ok(html_response(refusal.status_code(), markup))
            }
        }
    }
    .await;
    page_result(lang, result)
}

pub async fn contact(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let crm = &gateway.crm;
        let caller = &signed.caller;
        let viewer = &signed.viewer;
        let id = ContactId::from_uuid(path_uuid(&id)?);
        let at = query.at.map(Position);
        let row = crm.contact(caller, id, at).await?;
        let timeline = crm
            .contact_timeline(caller, id, cursor(query.cursor.as_deref())?, TIMELINE_PAGE, at)
            .await?;
        let deals = all_deals(
            crm,
            caller,
            &DealFilter {
                contact: Some(id),
                ..DealFilter::default()
            },
            at,
        )
        .await?;
        let company = match row.record.company {
            Some(company) => crm.company(caller, company, at).await.ok(),
            None => None,
        };
        let mut duplicates = Vec::new();
        for candidate in duplicate_ids(&query) {
            if let Ok(other) = crm.contact(caller, ContactId::from_uuid(candidate), None).await {
                duplicates.push((candidate, other.full_name));
            }
        }
        let record = &row.record;
        let body = html! {
            @if !duplicates.is_empty() {
                div.alert.warning role="status" {
                    p { (t(lang, "duplicates-warning")) }
                    ul { @for (other, name) in &duplicates { li { a href={ "/contacts/" (other) } { (name) } } } }
                }
            }
            dl.facts {
                @if let Some(company) = &company {
                    dt { (t(lang, "field-company")) }
                    dd { a href={ "/companies/" (company.record.id) } { (company.record.name) } }
                }
                @if let Some(position) = &record.position { dt { (t(lang, "field-position")) } dd { (position) } }
                @if !record.phones.is_empty() {
                    dt { (t(lang, "field-phone")) }
                    dd { @for phone in &record.phones { a href={ "tel:" (phone) } { (phone) } " " } }
                }
                @if !record.emails.is_empty() {
                    dt { (t(lang, "field-email")) }
                    dd { @for email in &record.emails { a href={ "mailto:" (email) } { (email) } " " } }
                }
                dt { (t(lang, "field-responsible")) }
                dd { (super::deals::user_name(caller, Some(record.responsible))) }
            }
            p.actions {
                @let company_part = record.company.map(|c| format!("&company={c}")).unwrap_or_default();
                a.button href={ "/deals/new?contact=" (id) (company_part) } { (t(lang, "deal-new")) }
            }
            section aria-labelledby="deals-h" {
                h2 #deals-h { (t(lang, "deals")) }
                (deal_list(crm, lang, &deals))
            }
            section aria-labelledby="tl-h" {
                h2 #tl-h { (t(lang, "timeline")) }
                (timeline::render(viewer, caller, None, &timeline.items))
                @if let Some(next) = &timeline.next_cursor {
                    p { a href={ "/contacts/" (id) "?cursor=" (encode(next)) } { (t(lang, "timeline-older")) } }
                }
            }
        };
        let title = ta(lang, "contact-title", &[("name", row.full_name.clone())]);
        Ok(html_response(
            StatusCode::OK,
            layout::page(&signed, &title, Nav::Contacts, body),
        ))
    }
    .await;
    page_result(lang, result)
}
