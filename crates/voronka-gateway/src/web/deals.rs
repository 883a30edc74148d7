//! The pipeline board and the deal card: stages with counts and amounts,
//! moves offered only to the process's next stages, and on the card every
//! possible move with the checklist of what still blocks it, each item
//! linked to the form that satisfies it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use maud::{html, Markup};
use serde_json::Value;
use voronka_app::access::RecordKind;
use voronka_app::crm::deals::{DealCard, DealChanges, NewDeal, StageMove};
use voronka_app::crm::work::{ActivityQuery, DocumentQuery, NewDocument, NewPayment};
use voronka_app::crm::{Caller, Crm};
use voronka_core::{Money, Position};
use voronka_crm::customer_index::{CompanyFilter, ContactFilter};
use voronka_crm::deal_index::{DealFilter, DealRow};
use voronka_crm::dictionaries::names;
use voronka_crm::document::{DocumentLineInput, DocumentStatus};
use voronka_crm::{CompanyId, ContactId, DealId, DocumentId, MoneyInput, MAX_PAGE_SIZE};
use voronka_process::{CompiledProcess, DocumentKind, FieldType, ReferenceKind};

use super::forms::Form;
use super::i18n::{self, Lang};
use super::layout::{self, csrf, t, ta, Nav};
use super::session::{safe_next, Signed};
use super::{html_response, page_result, path_uuid, see_other, timeline, Refusal, WebError};
use crate::Gateway;

/// `?at=<position>`: show the page only once it includes this write (set
/// by the redirect after a form), `?after=<cursor>` for older timeline.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    pub at: Option<u64>,
    pub after: Option<String>,
}

/// How many timeline entries a card shows per page.
pub const TIMELINE_PAGE: usize = 50;

/// The definition a deal runs on.
pub fn definition_of(crm: &Crm, row: &DealRow) -> Option<Arc<CompiledProcess>> {
    crm.deal_service()
        .registry()
        .version(&row.process, row.process_version)
}

/// Every deal the caller sees that matches `filter` (all pages).
pub async fn all_deals(
    crm: &Crm,
    caller: &Caller,
    filter: &DealFilter,
    at: Option<Position>,
) -> Result<Vec<DealRow>, WebError> {
    let mut rows = Vec::new();
    let mut cursor = None;
    loop {
        let page = crm.deals(caller, filter, cursor, MAX_PAGE_SIZE, at).await?;
        rows.extend(page.items);
        match page.next_cursor {
            Some(next) => {
                cursor = Some(voronka_crm::Cursor::parse(&next).map_err(|_| WebError::Internal)?)
            }
            None => return Ok(rows),
        }
    }
}

/// Names of the companies and contacts rows refer to, and of users.
#[derive(Default)]
pub struct Names {
    companies: HashMap<CompanyId, String>,
    contacts: HashMap<ContactId, String>,
}

impl Names {
    /// Reads the names the rows need in one look at the indexes.
    pub async fn of_deals(
        crm: &Crm,
        caller: &Caller,
        rows: &[&DealRow],
    ) -> Result<Names, WebError> {
        let indexes = crm.indexes(None).await?;
        let mut names = Names::default();
        for row in rows {
            if let Some(id) = row.company {
                if let Some(company) = indexes.customers.company(id) {
                    if caller.sees(RecordKind::SalesRecord, company.record.responsible) {
                        names.companies.insert(id, company.record.name.clone());
                    }
                }
            }
            if let Some(id) = row.contact {
                if let Some(contact) = indexes.customers.contact(id) {
                    if caller.sees(RecordKind::SalesRecord, contact.record.responsible) {
                        names.contacts.insert(id, contact.full_name.clone());
                    }
                }
            }
        }
        Ok(names)
    }

    pub fn company(&self, id: Option<CompanyId>) -> Option<&str> {
        id.and_then(|id| self.companies.get(&id))
            .map(String::as_str)
    }

    pub fn contact(&self, id: Option<ContactId>) -> Option<&str> {
        id.and_then(|id| self.contacts.get(&id)).map(String::as_str)
    }
}

/// A user's display name.
pub fn user_name(caller: &Caller, id: Option<voronka_crm::UserId>) -> String {
    id.and_then(|id| caller.access.users.get(&id))
        .map_or_else(|| "—".to_owned(), |u| u.display_name.clone())
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The amounts of deals added up per currency.
fn column_sums(deals: &[&DealRow]) -> BTreeMap<String, Money> {
    let mut sums = BTreeMap::<String, Money>::new();
    for amount in deals.iter().filter_map(|deal| deal.amount) {
        let sum = sums
            .entry(amount.currency.as_str().to_owned())
            .or_insert(Money::new(0, amount.currency));
        sum.minor = sum.minor.saturating_add(amount.minor);
    }
    sums
}

/// Sums of amounts per currency, formatted.
fn sums(lang: Lang, amounts: &BTreeMap<String, Money>) -> String {
    if amounts.is_empty() {
        return i18n::money(lang, &Money::rub(0));
    }
    amounts
        .values()
        .map(|m| i18n::money(lang, m))
        .collect::<Vec<_>>()
        .join(" + ")
}

// ------------------------------------------------------------------ board

pub async fn first_board(State(gateway): State<Gateway>, signed: Signed) -> Response {
    let published = gateway.crm.deal_service().registry().published();
    match published.first() {
        Some(identity) => see_other(&format!("/board/{}", encode(&identity.name))),
        None => WebError::NotFound.render(signed.viewer.lang),
    }
}

pub async fn board(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(process): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    page_result(
        lang,
        render_board(&gateway.crm, &signed, &process, query.at.map(Position))
            .await
            .map(|markup| html_response(StatusCode::OK, markup)),
    )
}

/// The board of `process`: a column per stage with its count and amount.
pub async fn render_board(
    crm: &Crm,
    signed: &Signed,
    process: &str,
    at: Option<Position>,
) -> Result<Markup, WebError> {
    let lang = signed.viewer.lang;
    let registry = crm.deal_service().registry();
    let definition = registry.latest(process).ok_or(WebError::NotFound)?;
    let filter = DealFilter {
        process: Some(process.to_owned()),
        ..DealFilter::default()
    };
    let rows = all_deals(crm, &signed.caller, &filter, at).await?;
    let mut by_stage: HashMap<&str, Vec<&DealRow>> = HashMap::new();
    for row in &rows {
        by_stage.entry(row.stage.as_str()).or_default().push(row);
    }
    let all: Vec<&DealRow> = rows.iter().collect();
    let names = Names::of_deals(crm, &signed.caller, &all).await?;
    let back = format!("/board/{}", encode(process));
    let processes = registry.published();
    let title = ta(
        lang,
        "board-title",
        &[("process", lang.title(&definition.title).to_owned())],
    );
    let body = html! {
        @if processes.len() > 1 {
            nav.tabs aria-label=(t(lang, "board-processes")) {
                @for identity in &processes {
                    @let href = format!("/board/{}", encode(&identity.name));
                    @if identity.name == process {
                        a href=(href) aria-current="page" { (identity.name) }
                    } @else {
                        a href=(href) { (identity.name) }
                    }
                }
            }
        }
        p { a.button href="/deals/new" { (t(lang, "deal-new")) } }
        div.board {
            @for stage in &definition.stages {
                @let deals = by_stage.get(stage.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                @let amounts = column_sums(deals);
                section.column aria-label=(lang.title(&stage.title)) data-stage=(stage.name) {
                    h2 {
                        (lang.title(&stage.title))
                        span.count { (ta(lang, "board-count", &[("count", deals.len().to_string())])) }
                        span.sum { (sums(lang, &amounts)) }
                    }
                    ul.cards {
                        @for deal in deals {
                            li { (board_card(signed, &definition, deal, &names, &back)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(signed, &title, Nav::Board, body))
}

fn board_card(
    signed: &Signed,
    definition: &CompiledProcess,
    deal: &DealRow,
    names: &Names,
    back: &str,
) -> Markup {
    let lang = signed.viewer.lang;
    let id = deal.id.to_string();
    let next: Vec<(String, String)> = definition
        .stage_id(&deal.stage)
        .map(|stage| {
            definition
                .stage(stage)
                .exits
                .iter()
                .map(|exit| definition.stage(exit.to))
                .filter(|target| target.name != "lost")
                .map(|target| (target.name.clone(), lang.title(&target.title).to_owned()))
                .collect()
        })
        .unwrap_or_default();
    html! {
        article.deal-card {
            a.title href={ "/deals/" (id) } { (deal.title.as_deref().unwrap_or("—")) }
            @if let Some(company) = names.company(deal.company) { div.muted { (company) } }
            div.meta {
                @if let Some(amount) = &deal.amount { span.amount { (i18n::money(lang, amount)) } }
                span.muted { (user_name(&signed.caller, deal.responsible)) }
            }
            @if !next.is_empty() {
                form.move method="post" action={ "/deals/" (id) "/move" } {
                    (csrf(&signed.viewer))
                    input type="hidden" name="back" value=(back);
                    input type="hidden" name="expected_version" value=(deal.version);
                    label.visually-hidden for={ "move-" (id) } { (t(lang, "board-move-to")) }
                    select id={ "move-" (id) } name="to" {
                        @for (name, title) in &next { option value=(name) { (title) } }
                    }
                    button type="submit" { (t(lang, "board-move")) }
                }
            }
        }
    }
}

// --------------------------------------------------------------- the card

pub async fn card(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = DealId::from_uuid(path_uuid(&id)?);
        render_card(
            &gateway.crm,
            &signed,
            id,
            query.at.map(Position),
            query.after.as_deref(),
            None,
        )
        .await
    }
    .await;
    page_result(lang, result)
}

/// What the card shows besides the deal: a refusal of the last form and
/// the stage it was about.
#[derive(Debug, Clone, Default)]
pub struct CardNotice {
    pub refusal: Refusal,
    pub stage: Option<String>,
}

/// The deal card page (status 200, or the refusal's status with it shown).
pub async fn render_card(
    crm: &Crm,
    signed: &Signed,
    id: DealId,
    at: Option<Position>,
    after: Option<&str>,
    notice: Option<CardNotice>,
) -> Result<Response, WebError> {
    let markup = card_markup(crm, signed, id, at, after, notice.as_ref()).await?;
    let status = notice.map_or(StatusCode::OK, |n| n.refusal.status_code());
    Ok(html_response(status, markup))
}

pub async fn card_markup(
    crm: &Crm,
    signed: &Signed,
    id: DealId,
    at: Option<Position>,
    after: Option<&str>,
    notice: Option<&CardNotice>,
) -> Result<Markup, WebError> {
    let caller = &signed.caller;
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let card = crm.deal(caller, id, at).await?;
    let definition = definition_of(crm, &card.deal).ok_or(WebError::Internal)?;
    let after = after
        .map(voronka_crm::Cursor::parse)
        .transpose()
        .map_err(|_| WebError::BadRequest("after".into()))?;
    let timeline = crm
        .deal_timeline(caller, id, after, TIMELINE_PAGE, at)
        .await?;
    let activities = crm
        .activities(
            caller,
            &ActivityQuery {
                deal: Some(id),
                ..ActivityQuery::default()
            },
            None,
            MAX_PAGE_SIZE,
            at,
        )
        .await?;
    let documents = crm
        .deal_documents(
            caller,
            id,
            &DocumentQuery::default(),
            None,
            MAX_PAGE_SIZE,
            at,
        )
        .await?;
    let companies = crm
        .companies(caller, &CompanyFilter::default(), None, MAX_PAGE_SIZE, at)
        .await?;
    let contacts = crm
        .contacts(
            caller,
            &ContactFilter {
                company: card.deal.company,
                ..ContactFilter::default()
            },
            None,
            MAX_PAGE_SIZE,
            at,
        )
        .await
        .map(|page| page.items)
        .unwrap_or_default();
    let names = Names::of_deals(crm, caller, &[&card.deal]).await?;
    let deal = &card.deal;
    let deal_path = format!("/deals/{id}");
    let dictionaries = crm.dictionaries();
    let title = deal.title.clone().unwrap_or_else(|| "—".to_owned());
    let current = definition.stage_id(&deal.stage);
    let mut company_options: Vec<(String, String)> = companies
        .items
        .iter()
        .map(|c| (c.record.id.to_string(), c.record.name.clone()))
        .collect();
    if let (Some(id), Some(name)) = (deal.company, names.company(deal.company)) {
        if !company_options.iter().any(|(v, _)| *v == id.to_string()) {
            company_options.push((id.to_string(), name.to_owned()));
        }
    }
    let mut contact_options: Vec<(String, String)> = contacts
        .iter()
        .map(|c| (c.record.id.to_string(), c.full_name.clone()))
        .collect();
    if let (Some(id), Some(name)) = (deal.contact, names.contact(deal.contact)) {
        if !contact_options.iter().any(|(v, _)| *v == id.to_string()) {
            contact_options.push((id.to_string(), name.to_owned()));
        }
    }
    let lost = card.allowed_transitions.iter().find(|t| t.stage == "lost");
    let body = html! {
        @if let Some(notice) = notice {
            div.alert #refusal role="alert" tabindex="-1" {
                @for message in &notice.refusal.messages { p { (message) } }
                @if !notice.refusal.unmet.is_empty() {
                    (checklist(lang, &notice.refusal.unmet))
                }
            }
        }
        section.summary aria-label=(t(lang, "deal-summary")) {
            dl.facts {
                dt { (t(lang, "deal-stage")) }
                dd.stage-now { (lang.title(&card.stage_title.title)) }
                dt { (t(lang, "field-amount")) }
                dd { (deal.amount.as_ref().map_or_else(|| "—".to_owned(), |a| i18n::money(lang, a))) }
                dt { (t(lang, "field-company")) }
                dd {
                    @if let (Some(company), Some(name)) = (deal.company, names.company(deal.company)) {
                        a href={ "/companies/" (company) } { (name) }
                    } @else { "—" }
                }
                dt { (t(lang, "field-contact")) }
                dd {
                    @if let (Some(contact), Some(name)) = (deal.contact, names.contact(deal.contact)) {
                        a href={ "/contacts/" (contact) } { (name) }
                    } @else { "—" }
                }
                dt { (t(lang, "field-responsible")) }
                dd { (user_name(caller, deal.responsible)) }
                dt { (t(lang, "field-expected-close-date")) }
                dd { (deal.expected_close_date.map_or_else(|| "—".to_owned(), |d| i18n::date(lang, d))) }
            }
        }
        section aria-labelledby="path-h" {
            h2 #path-h { (t(lang, "deal-path")) }
            ol.path {
                @for stage in definition.stages.iter().filter(|s| !s.terminal || Some(s.id) == current) {
                    @if Some(stage.id) == current {
                        li.current aria-current="step" { (lang.title(&stage.title)) }
                    } @else if current.is_some_and(|c| stage.id.index() < c.index()) {
                        li.done { (lang.title(&stage.title)) }
                    } @else {
                        li { (lang.title(&stage.title)) }
                    }
                }
            }
        }
        section aria-labelledby="next-h" {
            h2 #next-h { (t(lang, "deal-next")) }
            @let moves: Vec<_> = card.allowed_transitions.iter().filter(|t| t.stage != "lost").collect();
            @if moves.is_empty() {
                p.muted { (t(lang, "deal-no-moves")) }
            }
            ul.moves {
                @for option in moves {
                    li {
                        form method="post" action={ (deal_path) "/move" } {
                            (csrf(viewer))
                            input type="hidden" name="to" value=(option.stage);
                            input type="hidden" name="expected_version" value=(deal.version);
                            @if option.allowed {
                                button.primary type="submit" data-stage=(option.stage) { "→ " (lang.title(&option.title)) }
                            } @else {
                                button.blocked type="submit" data-stage=(option.stage) { "→ " (lang.title(&option.title)) }
                            }
                        }
                        @if option.allowed {
                            p.ok { (t(lang, "deal-move-ready")) }
                        } @else {
                            (checklist(lang, &option.unmet))
                        }
                    }
                }
            }
        }
        (fields_form(crm, signed, &definition, &card, &company_options, &contact_options))
        section #log-activity aria-labelledby="act-h" {
            h2 #act-h { (t(lang, "deal-activities")) }
            (super::day::log_form(signed, dictionaries, Some(deal), &[], &deal_path))
            ul.activities {
                @for activity in &activities.items {
                    li { (super::day::activity_item(signed, dictionaries, activity, &deal_path)) }
                }
            }
        }
        (documents_section(signed, &deal_path, &documents.items))
        @if let Some(lost) = lost {
            section #lose aria-labelledby="lose-h" {
                h2 #lose-h { (t(lang, "deal-lose")) }
                form.card method="post" action={ (deal_path) "/move" } {
                    (csrf(viewer))
                    input type="hidden" name="to" value="lost";
                    input type="hidden" name="expected_version" value=(deal.version);
                    (process_dictionary_select(lang, dictionaries, &definition, "loss_reason", "f.loss_reason", "lose-reason", None))
                    (process_dictionary_select(lang, dictionaries, &definition, "competitor", "f.competitor", "lose-competitor", None))
                    button.danger type="submit" { (t(lang, "deal-lose-submit")) }
                    @if !lost.allowed { (checklist(lang, &lost.unmet)) }
                }
            }
        }
        section aria-labelledby="tl-h" {
            h2 #tl-h { (t(lang, "timeline")) }
            (timeline::render(viewer, caller, Some(&definition), &timeline.items))
            @if let Some(next) = &timeline.next_cursor {
                p { a href={ (deal_path) "?after=" (encode(next)) } { (t(lang, "timeline-older")) } }
            }
        }
    };
    Ok(layout::page(signed, &title, Nav::Board, body))
}

/// The unmet requirements, each linked to where it is satisfied.
pub fn checklist(lang: Lang, unmet: &[Value]) -> Markup {
    html! {
        ul.checklist {
            @for item in unmet {
                @let code = item.get("code").and_then(Value::as_str).unwrap_or("");
                @let message = item.get("message").and_then(|m| m.get(lang.code())).and_then(Value::as_str).unwrap_or(code);
                @let fix = match code {
                    "field_missing" | "comparison_failed" | "field_value_not_allowed" => Some(("#fields", "fix-fields")),
                    "activity_missing" => Some(("#log-activity", "fix-activity")),
                    "document_missing" | "document_not_allowed_in_stage" => Some(("#documents", "fix-document")),
                    _ => None,
                };
                li data-code=(code) {
                    span.unmet { (message) }
                    @if let Some((href, key)) = fix { " " a href=(href) { (t(lang, key)) } }
                }
            }
        }
    }
}

/// The options of a process dictionary (titles from the definition, else
/// the standard dictionary of that name, else the value).
pub fn process_dictionary_options(
    lang: Lang,
    dictionaries: &voronka_crm::Dictionaries,
    definition: &CompiledProcess,
    dictionary: voronka_process::DictionaryId,
) -> Vec<(String, String)> {
    let Some(dict) = definition.dictionaries.get(dictionary.index()) else {
        return Vec::new();
    };
    dict.values
        .iter()
        .map(|value| {
            let value = definition.value(*value);
            let title = value.title.as_ref().map_or_else(
                || layout::dictionary_title(dictionaries, &dict.name, &value.name, lang),
                |titles| lang.title(titles).to_owned(),
            );
            (value.name.clone(), title)
        })
        .collect()
}

fn process_dictionary_select(
    lang: Lang,
    dictionaries: &voronka_crm::Dictionaries,
    definition: &CompiledProcess,
    field: &str,
    name: &str,
    id: &str,
    selected: Option<&str>,
) -> Markup {
    let Some(field_id) = definition.field_id(field) else {
        return html! {};
    };
    let field = definition.field(field_id);
    let FieldType::Dictionary(dictionary) = field.field_type else {
        return html! {};
    };
    let options = process_dictionary_options(lang, dictionaries, definition, dictionary);
    layout::select(
        id,
        name,
        lang.title(&field.title),
        &options,
        selected,
        false,
    )
}

/// A stored field value as an input shows it.
fn input_value(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other @ Value::Object(_)) => serde_json::from_value::<Money>(other.clone())
            .map(|m| i18n::money_input(&m))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// Fields the lose form sets; the data form leaves them out.
const LOSS_FIELDS: [&str; 2] = ["loss_reason", "competitor"];

fn fields_form(
    crm: &Crm,
    signed: &Signed,
    definition: &CompiledProcess,
    card: &DealCard,
    companies: &[(String, String)],
    contacts: &[(String, String)],
) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let deal = &card.deal;
    let dictionaries = crm.dictionaries();
    let label = |name: &str| {
        definition.field_id(name).map_or_else(
            || name.to_owned(),
            |id| lang.title(&definition.field(id).title).to_owned(),
        )
    };
    html! {
        section #fields aria-labelledby="fields-h" {
            h2 #fields-h { (t(lang, "deal-fields")) }
            form.card.grid method="post" action={ "/deals/" (deal.id) "/fields" } {
                (csrf(viewer))
                input type="hidden" name="expected_version" value=(deal.version);
                (layout::text_input("f-title", "title", &label("title"), deal.title.as_deref().unwrap_or(""), true))
                div.field {
                    label for="f-amount" { (label("amount")) }
                    input #f-amount type="text" inputmode="decimal" name="amount" value=(deal.amount.as_ref().map(i18n::money_input).unwrap_or_default());
                }
                (layout::select("f-company", "company", &label("company"), companies, deal.company.map(|c| c.to_string()).as_deref(), false))
                (layout::select("f-contact", "contact", &label("contact"), contacts, deal.contact.map(|c| c.to_string()).as_deref(), false))
                (layout::select("f-source", "source", &label("source"), &layout::dictionary_options(dictionaries, names::DEAL_SOURCE, lang), deal.source.as_deref(), false))
                div.field {
                    label for="f-close" { (label("expected_close_date")) }
                    input #f-close type="date" name="expected_close_date" value=(deal.expected_close_date.map(|d| d.to_string()).unwrap_or_default());
                }
                @for field in definition.fields.iter().filter(|f| !f.builtin && !LOSS_FIELDS.contains(&f.name.as_str())) {
                    @let id = format!("f-{}", field.name);
                    @let name = format!("f.{}", field.name);
                    @let value = input_value(deal.fields.get(&field.name));
                    @match field.field_type {
                        FieldType::Dictionary(dictionary) => {
                            (layout::select(&id, &name, lang.title(&field.title), &process_dictionary_options(lang, dictionaries, definition, dictionary), Some(value.as_str()).filter(|v| !v.is_empty()), false))
                        }
                        FieldType::Reference(ReferenceKind::Contact) => {
                            (layout::select(&id, &name, lang.title(&field.title), contacts, Some(value.as_str()).filter(|v| !v.is_empty()), false))
                        }
                        FieldType::Date => {
                            div.field {
                                label for=(id) { (lang.title(&field.title)) }
                                input id=(id) type="date" name=(name) value=(value);
                            }
                        }
                        FieldType::Money | FieldType::Number => {
                            div.field {
                                label for=(id) { (lang.title(&field.title)) }
                                input id=(id) type="text" inputmode="decimal" name=(name) value=(value);
                            }
                        }
                        _ => {
                            (layout::text_input(&id, &name, lang.title(&field.title), &value, false))
                        }
                    }
                }
                div.actions { button.primary type="submit" { (t(lang, "save")) } }
            }
        }
    }
}

fn documents_section(
    signed: &Signed,
    deal_path: &str,
    documents: &[voronka_crm::work_index::DocumentRow],
) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let kinds = ["proposal", "contract", "invoice", "act"];
    let today = chrono::Utc::now().with_timezone(&viewer.zone).date_naive();
    html! {
        section #documents aria-labelledby="docs-h" {
            h2 #docs-h { (t(lang, "deal-documents")) }
            @if documents.is_empty() { p.muted { (t(lang, "documents-none")) } }
            ul.documents {
                @for document in documents {
                    @let record = &document.record;
                    @let kind = record.kind.as_str();
                    li data-kind=(kind) data-status=(record.status.as_str()) {
                        strong { (t(lang, &format!("doc-{kind}"))) " " (record.number) }
                        @if let Some(title) = &record.title { " · " (title) }
                        " · " span.status { (t(lang, &format!("status-{}", record.status.as_str()))) }
                        " · " (i18n::money(lang, &record.totals.gross))
                        div.actions {
                            @for (to, key) in document_actions(record.kind, record.status) {
                                form.inline method="post" action={ "/documents/" (record.id) "/status" } {
                                    (csrf(viewer))
                                    input type="hidden" name="to" value=(to);
                                    input type="hidden" name="expected_version" value=(document.version);
                                    input type="hidden" name="back" value=(deal_path);
                                    button type="submit" data-action=(to) { (t(lang, key)) }
                                }
                            }
                            @if record.kind == DocumentKind::Invoice && record.status == DocumentStatus::Issued {
                                @let due = Money::new((record.totals.gross.minor - record.paid.minor).max(0), record.currency);
                                form.inline method="post" action={ "/documents/" (record.id) "/payments" } {
                                    (csrf(viewer))
                                    input type="hidden" name="back" value=(deal_path);
                                    input type="hidden" name="payment" value=(uuid::Uuid::new_v4());
                                    label for={ "pay-" (record.id) } { (t(lang, "payment-amount")) }
                                    input id={ "pay-" (record.id) } type="text" inputmode="decimal" name="amount" value=(i18n::money_input(&due)) required;
                                    label for={ "paid-on-" (record.id) } { (t(lang, "payment-date")) }
                                    input id={ "paid-on-" (record.id) } type="date" name="paid_on" value=(today.to_string()) required;
                                    button type="submit" data-action="pay" { (t(lang, "payment-register")) }
                                }
                            }
                        }
                    }
                }
            }
            form.card.grid method="post" action={ (deal_path) "/documents" } {
                (csrf(viewer))
                input type="hidden" name="nonce" value=(uuid::Uuid::new_v4());
                (layout::select("doc-kind", "kind", &t(lang, "document-kind"), &kinds.iter().map(|k| (k.to_string(), t(lang, &format!("doc-{k}")))).collect::<Vec<_>>(), None, true))
                (layout::text_input("doc-title", "title", &t(lang, "document-title"), "", false))
                (layout::text_input("doc-line", "line_name", &t(lang, "document-line"), "", true))
                div.field {
                    label for="doc-qty" { (t(lang, "document-quantity")) " *" }
                    input #doc-qty type="text" inputmode="decimal" name="quantity" value="1" required;
                }
                div.field {
                    label for="doc-price" { (t(lang, "document-price")) " *" }
                    input #doc-price type="text" inputmode="decimal" name="price" required;
                }
                (layout::select("doc-vat", "vat", &t(lang, "document-vat"), &[("20".into(), "20 %".into()), ("10".into(), "10 %".into()), ("0".into(), "0 %".into())], Some("20"), true))
                div.actions { button.primary type="submit" { (t(lang, "document-create")) } }
            }
        }
    }
}

/// The status changes a document offers now, with their button labels.
fn document_actions(
    kind: DocumentKind,
    status: DocumentStatus,
) -> Vec<(&'static str, &'static str)> {
    match (kind, status) {
        (DocumentKind::Invoice, DocumentStatus::Draft) => {
            vec![("issued", "doc-issue"), ("cancelled", "doc-cancel")]
        }
        (_, DocumentStatus::Draft) => vec![("sent", "doc-send"), ("cancelled", "doc-cancel")],
        (DocumentKind::Contract, DocumentStatus::Sent) => {
            vec![("signed", "doc-sign"), ("cancelled", "doc-cancel")]
        }
        _ => Vec::new(),
    }
}

// ------------------------------------------------------------------ forms

/// Reads the process fields of a form (`f.<name>`) as the API's JSON.
fn process_fields(
    definition: &CompiledProcess,
    form: &Form,
) -> Result<BTreeMap<String, Value>, Vec<String>> {
    let mut fields = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, text) in form.with_prefix("f.") {
        let value = match definition
            .field_id(&name)
            .map(|id| definition.field(id).field_type)
        {
            Some(FieldType::Money) => {
                match Money::parse_decimal(&text, voronka_core::Currency::RUB) {
                    Ok(money) => serde_json::to_value(money).unwrap_or(Value::Null),
                    Err(_) => {
                        errors.push(format!("{name}: {text}"));
                        continue;
                    }
                }
            }
            Some(FieldType::Number) => match text.parse::<i64>() {
                Ok(number) => Value::from(number),
                Err(_) => {
                    errors.push(format!("{name}: {text}"));
                    continue;
                }
            },
            Some(FieldType::Bool) => Value::Bool(matches!(text.as_str(), "true" | "on" | "1")),
            _ => Value::String(text),
        };
        fields.insert(name, value);
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(errors)
    }
}

fn parse_optional_uuid(form: &Form, name: &str) -> Result<Option<uuid::Uuid>, String> {
    form.text(name)
        .map(|text| uuid::Uuid::parse_str(&text).map_err(|_| name.to_owned()))
        .transpose()
}

fn money_input(text: String) -> MoneyInput {
    MoneyInput {
        amount: Some(text.replace([' ', '\u{a0}'], "")),
        minor: None,
        currency: None,
    }
}

/// Answers a refused deal form: the card again with what is wrong.
async fn refuse_on_card(
    crm: &Crm,
    signed: &Signed,
    id: DealId,
    refusal: Refusal,
    stage: Option<String>,
) -> Result<Response, WebError> {
    render_card(
        crm,
        signed,
        id,
        None,
        None,
        Some(CardNotice { refusal, stage }),
    )
    .await
}

pub async fn move_deal(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = DealId::from_uuid(path_uuid(&id)?);
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let to = form.text("to").unwrap_or_default();
        let card = crm.deal(&signed.caller, id, None).await?;
        let definition = definition_of(crm, &card.deal).ok_or(WebError::Internal)?;
        let fields = match process_fields(&definition, &form) {
            Ok(fields) => fields,
            Err(errors) => {
                let refusal = Refusal {
                    status: 422,
                    messages: errors,
                    unmet: Vec::new(),
                };
                return refuse_on_card(crm, &signed, id, refusal, Some(to)).await;
            }
        };
        let request = StageMove {
            to: to.clone(),
            expected_version: form.text("expected_version").and_then(|v| v.parse().ok()),
            fields,
        };
        match crm.move_deal(&signed.caller, id, request, None).await {
            Ok(written) => {
                let back = form
                    .text("back")
                    .map(|b| safe_next(Some(&b)))
                    .unwrap_or_else(|| format!("/deals/{id}"));
                Ok(see_other(&with_position(&back, written.position)))
            }
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                refuse_on_card(crm, &signed, id, refusal, Some(to)).await
            }
        }
    }
    .await;
    page_result(lang, result)
}

/// `path` with `at=<position>` added, so the next page shows the write.
pub fn with_position(path: &str, position: u64) -> String {
    let (path, fragment) = match path.split_once('#') {
        Some((path, fragment)) => (path, format!("#{fragment}")),
        None => (path, String::new()),
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}at={position}{fragment}")
}

pub async fn update_fields(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = DealId::from_uuid(path_uuid(&id)?);
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let card = crm.deal(&signed.caller, id, None).await?;
        let deal = &card.deal;
        let definition = definition_of(crm, deal).ok_or(WebError::Internal)?;
        let mut errors = Vec::new();
        let mut changes = DealChanges {
            expected_version: form.text("expected_version").and_then(|v| v.parse().ok()),
            ..DealChanges::default()
        };
        // Only what differs from the deal is sent: an unchanged field
        // writes nothing and stays off the timeline.
        if let Some(title) = form
            .text("title")
            .filter(|t| Some(t) != deal.title.as_ref())
        {
            changes.title = Some(title);
        }
        if let Some(amount) = form.text("amount") {
            let input = money_input(amount.clone());
            match input.parse("amount") {
                Ok(money) if Some(money) == deal.amount => {}
                _ => changes.amount = Some(input),
            }
        }
        match parse_optional_uuid(&form, "company") {
            Ok(company) => {
                changes.company = company
                    .map(CompanyId::from_uuid)
                    .filter(|c| Some(*c) != deal.company)
            }
            Err(field) => errors.push(field),
        }
        match parse_optional_uuid(&form, "contact") {
            Ok(contact) => {
                changes.contact = contact
                    .map(ContactId::from_uuid)
                    .filter(|c| Some(*c) != deal.contact)
            }
            Err(field) => errors.push(field),
        }
        changes.source = form
            .text("source")
            .filter(|s| Some(s) != deal.source.as_ref());
        if let Some(date) = form.text("expected_close_date") {
            match NaiveDate::parse_from_str(&date, "%Y-%m-%d") {
                Ok(date) if Some(date) != deal.expected_close_date => {
                    changes.expected_close_date = Some(date)
                }
                Ok(_) => {}
                Err(_) => errors.push(t(lang, "field-expected-close-date")),
            }
        }
        match process_fields(&definition, &form) {
            Ok(fields) => {
                changes.fields = fields
                    .into_iter()
                    .filter(|(name, value)| deal.fields.get(name) != Some(value))
                    .collect()
            }
            Err(more) => errors.extend(more),
        }
        if !errors.is_empty() {
            let refusal = Refusal {
                status: 422,
                messages: errors,
                unmet: Vec::new(),
            };
            return refuse_on_card(crm, &signed, id, refusal, None).await;
        }
        match crm.update_deal(&signed.caller, id, changes, None).await {
            Ok(written) => Ok(see_other(&with_position(
                &format!("/deals/{id}"),
                written.position,
            ))),
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                refuse_on_card(crm, &signed, id, refusal, None).await
            }
        }
    }
    .await;
    page_result(lang, result)
}

pub async fn add_document(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = DealId::from_uuid(path_uuid(&id)?);
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let vat = form.text("vat").and_then(|v| v.parse::<i64>().ok());
        let line = DocumentLineInput {
            product: None,
            name: form.text("line_name").unwrap_or_default(),
            quantity: form.text("quantity").unwrap_or_default(),
            unit: None,
            price: money_input(form.text("price").unwrap_or_default()),
            vat_rate: vat,
            discount_percent: None,
        };
        let input = NewDocument {
            kind: form.text("kind").unwrap_or_default(),
            title: form.text("title"),
            currency: None,
            lines: vec![line],
        };
        // The form's nonce is the document id: a resubmitted form creates
        // nothing new.
        let document = form
            .text("nonce")
            .and_then(|n| uuid::Uuid::parse_str(&n).ok())
            .unwrap_or_else(uuid::Uuid::now_v7);
        match crm
            .create_document(&signed.caller, id, DocumentId::from_uuid(document), input)
            .await
        {
            Ok(written) => Ok(see_other(&with_position(
                &format!("/deals/{id}#documents"),
                written.position,
            ))),
            Err(voronka_app::crm::AppError::AlreadyExists) => {
                Ok(see_other(&format!("/deals/{id}#documents")))
            }
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                refuse_on_card(crm, &signed, id, refusal, None).await
            }
        }
    }
    .await;
    page_result(lang, result)
}

/// The deal a document belongs to, for answering on its card.
async fn document_deal(crm: &Crm, caller: &Caller, id: DocumentId) -> Result<DealId, WebError> {
    Ok(crm.document(caller, id, None).await?.record.deal)
}

pub async fn document_status(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = DocumentId::from_uuid(path_uuid(&id)?);
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let deal = document_deal(crm, &signed.caller, id).await?;
        let change = voronka_app::crm::work::DocumentStatusChange {
            to: form.text("to").unwrap_or_default(),
            expected_version: form.text("expected_version").and_then(|v| v.parse().ok()),
        };
        match crm
            .change_document_status(&signed.caller, id, change, None)
            .await
        {
            Ok(written) => Ok(see_other(&with_position(
                &format!("/deals/{deal}#documents"),
                written.position,
            ))),
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                refuse_on_card(crm, &signed, deal, refusal, None).await
            }
        }
    }
    .await;
    page_result(lang, result)
}

pub async fn payment(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = DocumentId::from_uuid(path_uuid(&id)?);
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let deal = document_deal(crm, &signed.caller, id).await?;
        let Some(paid_on) = form
            .text("paid_on")
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        else {
            let refusal =
                Refusal::message(StatusCode::UNPROCESSABLE_ENTITY, t(lang, "payment-date"));
            return refuse_on_card(crm, &signed, deal, refusal, None).await;
        };
        // The form's own id is the payment's: a resubmission pays nothing twice.
        let payment_id = form
            .text("payment")
            .and_then(|n| uuid::Uuid::parse_str(&n).ok())
            .unwrap_or_else(uuid::Uuid::now_v7);
        let payment = NewPayment {
            payment_id: Some(payment_id),
            amount: money_input(form.text("amount").unwrap_or_default()),
            paid_on,
            reference: None,
        };
        match crm
            .register_payment(&signed.caller, id, payment, payment_id, None)
            .await
        {
            Ok(written) => Ok(see_other(&with_position(
                &format!("/deals/{deal}#documents"),
                written.position,
            ))),
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                refuse_on_card(crm, &signed, deal, refusal, None).await
            }
        }
    }
    .await;
    page_result(lang, result)
}

// -------------------------------------------------------------- new deal

#[derive(Debug, Default, serde::Deserialize)]
pub struct NewDealQuery {
    pub company: Option<String>,
    pub contact: Option<String>,
}

pub async fn new_deal_page(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<NewDealQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let mut form = Form::default();
    let mut prefill = String::new();
    for (name, value) in [("company", &query.company), ("contact", &query.contact)] {
        if let Some(value) = value {
            prefill.push_str(&format!("{name}={}&", encode(value)));
        }
    }
    if !prefill.is_empty() {
        form = Form::parse(prefill.as_bytes());
    }
    page_result(
        lang,
        new_deal_markup(&gateway.crm, &signed, &form, None)
            .await
            .map(|markup| html_response(StatusCode::OK, markup)),
    )
}

async fn new_deal_markup(
    crm: &Crm,
    signed: &Signed,
    form: &Form,
    refusal: Option<&Refusal>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let caller = &signed.caller;
    let processes: Vec<(String, String)> = crm
        .deal_service()
        .registry()
        .published()
        .into_iter()
        .map(|identity| {
            let title = crm
                .deal_service()
                .registry()
                .latest(&identity.name)
                .map_or_else(
                    || identity.name.clone(),
                    |d| lang.title(&d.title).to_owned(),
                );
            (identity.name, title)
        })
        .collect();
    let companies = crm
        .companies(caller, &CompanyFilter::default(), None, MAX_PAGE_SIZE, None)
        .await?;
    let company = form
        .text("company")
        .and_then(|c| uuid::Uuid::parse_str(&c).ok())
        .map(CompanyId::from_uuid);
    let contacts = crm
        .contacts(
            caller,
            &ContactFilter {
                company,
                ..ContactFilter::default()
            },
            None,
            MAX_PAGE_SIZE,
            None,
        )
        .await?;
    let mut company_options: Vec<(String, String)> = companies
        .items
        .iter()
        .map(|c| (c.record.id.to_string(), c.record.name.clone()))
        .collect();
    if let Some(id) = company {
        if !company_options.iter().any(|(v, _)| *v == id.to_string()) {
            if let Ok(row) = crm.company(caller, id, None).await {
                company_options.insert(0, (id.to_string(), row.record.name));
            }
        }
    }
    let contact_options: Vec<(String, String)> = contacts
        .items
        .iter()
        .map(|c| (c.record.id.to_string(), c.full_name.clone()))
        .collect();
    let nonce = form
        .text("nonce")
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = html! {
        @if let Some(refusal) = refusal { (layout::alert(&refusal.messages)) }
        form.card.grid method="post" action="/deals" {
            (csrf(viewer))
            input type="hidden" name="nonce" value=(nonce);
            (layout::select("d-process", "process", &t(lang, "field-process"), &processes, form.text("process").as_deref().or(processes.first().map(|p| p.0.as_str())), true))
            (layout::text_input("d-title", "title", &t(lang, "field-title"), &form.echo("title"), true))
            (layout::select("d-company", "company", &t(lang, "field-company"), &company_options, form.text("company").as_deref(), false))
            (layout::select("d-contact", "contact", &t(lang, "field-contact"), &contact_options, form.text("contact").as_deref(), false))
            div.field {
                label for="d-amount" { (t(lang, "field-amount")) }
                input #d-amount type="text" inputmode="decimal" name="amount" value=(form.echo("amount"));
            }
            (layout::select("d-source", "source", &t(lang, "field-source"), &layout::dictionary_options(crm.dictionaries(), names::DEAL_SOURCE, lang), form.text("source").as_deref(), false))
            div.actions { button.primary type="submit" { (t(lang, "deal-create")) } }
        }
    };
    Ok(layout::page(signed, &t(lang, "deal-new"), Nav::Board, body))
}

pub async fn create_deal(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let crm = &gateway.crm;
        let (form_ref, signed_ref) = (&form, &signed);
        let refuse = |refusal: Refusal| async move {
            let markup = new_deal_markup(crm, signed_ref, form_ref, Some(&refusal)).await?;
            Ok::<Response, WebError>(html_response(refusal.status_code(), markup))
        };
        let (company, contact) = match (
            parse_optional_uuid(&form, "company"),
            parse_optional_uuid(&form, "contact"),
        ) {
            (Ok(company), Ok(contact)) => (company, contact),
            (Err(field), _) | (_, Err(field)) => {
                return refuse(Refusal::message(StatusCode::UNPROCESSABLE_ENTITY, field)).await
            }
        };
        let input = NewDeal {
            process: form.text("process").unwrap_or_default(),
            title: form.text("title").unwrap_or_default(),
            company: company.map(CompanyId::from_uuid),
            contact: contact.map(ContactId::from_uuid),
            amount: form.text("amount").map(money_input),
            responsible: None,
            source: form.text("source"),
            expected_close_date: None,
            fields: BTreeMap::new(),
        };
        let id = form
            .text("nonce")
            .and_then(|n| uuid::Uuid::parse_str(&n).ok())
            .unwrap_or_else(uuid::Uuid::now_v7);
        match crm
            .create_deal(&signed.caller, DealId::from_uuid(id), input, None)
            .await
        {
            Ok(written) => Ok(see_other(&with_position(
                &format!("/deals/{id}"),
                written.position,
            ))),
            Err(voronka_app::crm::AppError::AlreadyExists) => {
                Ok(see_other(&format!("/deals/{id}")))
            }
            Err(error) => refuse(Refusal::from_app(lang, error)?).await,
        }
    }
    .await;
    page_result(lang, result)
}
