//! The process designer: the published processes with their versions, a
//! YAML editor (a textarea with line numbers) checked by the server, which
//! lists every problem as `line:column message` beside the text and keeps
//! the text; for a draft that validates, a diagram of its stages and
//! transitions drawn here as SVG and a what-if replay of the real history
//! (which deals the draft would have blocked); and publishing as a new
//! version.
//!
//! One form, two buttons: "check" re-renders the page (422 with the
//! problems, or 200 with the diagram and the simulation), "publish" goes
//! back to the list (303) or re-renders with why it did not (422, or 409
//! when someone published another version since the editor was opened).
//! Everything goes through the `Crm` with the caller: `PublishProcess`
//! decides who may design (others get the 403 page).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use voronka_app::access::Action;
use voronka_app::crm::deals::PublishFailure;
use voronka_app::deals::publications::PublicationError;
use voronka_app::deals::PublishError;
use voronka_app::designer::{DraftError, DraftSimulation};
use voronka_process::{CompiledProcess, Diagnostic, Severity};

use super::forms::Form;
use super::i18n::{self, Lang};
use super::layout::{self, csrf, t, ta, Nav};
use super::session::Signed;
use super::{html_response, page_result, see_other, WebError};
use crate::Gateway;

/// The routes of these pages.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/processes", get(list))
        .route("/processes/new", get(new_draft))
        .route("/processes/{name}/edit", get(edit))
        .route("/processes/{name}/check", post(check))
        .route("/processes/{name}/publish", post(publish))
}

/// The name a new draft's forms post under (the YAML's `process:` key
/// decides the real name).
const NEW_DRAFT: &str = "new";

/// What a new draft starts from: the smallest valid process.
const NEW_DRAFT_TEXT: &str = "process: my-process
version: 1
title: { ru: Мой процесс, en: My process }

stages:
  - id: new
    title: { ru: Новая, en: New }
    probability: 10
  - id: won
    title: { ru: Выиграна, en: Won }
    probability: 100
    terminal: true
  - id: lost
    title: { ru: Проиграна, en: Lost }
    probability: 0
    terminal: true

transitions:
  - { from: new, to: [won, lost] }
";

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    pub published: Option<String>,
    pub version: Option<u32>,
}

fn may_design(signed: &Signed) -> Result<(), WebError> {
    signed
        .caller
        .may_at_all(Action::PublishProcess)
        .map_err(WebError::from)
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `GET /processes`: every published process with its versions.
async fn list(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = (|| -> Result<Response, WebError> {
        may_design(&signed)?;
        let registry = gateway.crm.deal_service().registry();
        let mut versions: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for identity in registry.published() {
            versions
                .entry(identity.name)
                .or_default()
                .push(identity.version);
        }
        let body = html! {
            @if let (Some(name), Some(version)) = (&query.published, query.version) {
                p.ok role="status" { (ta(lang, "des-published", &[("name", name.clone()), ("version", version.to_string())])) }
            }
            div.toolbar {
                p.muted { (t(lang, "des-intro")) }
                a.button href="/processes/new" { (t(lang, "des-new-draft")) }
            }
            @if versions.is_empty() { p.muted { (t(lang, "des-none")) } }
            ul.list.des-processes {
                @for (name, numbers) in &versions {
                    @let latest = registry.latest(name);
                    li {
                        div {
                            strong { @if let Some(latest) = &latest { (lang.title(&latest.title)) } @else { (name) } }
                            " " code { (name) }
                        }
                        div.muted {
                            (t(lang, "des-versions")) ": "
                            @for (i, number) in numbers.iter().enumerate() {
                                @if i > 0 { ", " }
                                @if Some(*number) == latest.as_ref().map(|l| l.identity.version) {
                                    strong.des-latest { (number) }
                                } @else { (number) }
                            }
                            @if let Some(latest) = &latest {
                                " · " (ta(lang, "des-stage-count", &[("count", latest.stages.len().to_string())]))
                            }
                        }
                        a.button href={ "/processes/" (encode(name)) "/edit" } { (t(lang, "des-edit")) }
                    }
                }
            }
        };
        Ok(html_response(
            StatusCode::OK,
            layout::page(&signed, &t(lang, "des-title"), Nav::Processes, body),
        ))
    })();
    page_result(lang, result)
}

/// `GET /processes/new`: the editor with a small valid process.
async fn new_draft(signed: Signed) -> Response {
    let lang = signed.viewer.lang;
    let result = (|| -> Result<Response, WebError> {
        may_design(&signed)?;
        let editor = Editor {
            name: NEW_DRAFT.to_owned(),
            text: NEW_DRAFT_TEXT.to_owned(),
            source_name: "definition.yaml".to_owned(),
            base: None,
            ..Editor::default()
        };
        Ok(html_response(StatusCode::OK, editor_page(&signed, &editor)))
    })();
    page_result(lang, result)
}

/// `GET /processes/{name}/edit`: the editor with the newest published text.
async fn edit(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(name): Path<String>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let source = gateway
            .crm
            .process_source(&signed.caller, &name)
            .await?
            .ok_or(WebError::NotFound)?;
        let editor = Editor {
            name: source.name,
            text: source.text,
            source_name: source.source_name,
            base: Some(source.version),
            ..Editor::default()
        };
        Ok(html_response(StatusCode::OK, editor_page(&signed, &editor)))
    }
    .await;
    page_result(lang, result)
}

/// What the editor page shows.
#[derive(Default)]
struct Editor {
    /// The path segment the forms post to.
    name: String,
    text: String,
    source_name: String,
    /// The newest published version when the editor was opened.
    base: Option<u32>,
    /// Errors and warnings, each at its line and column.
    diagnostics: Vec<Diagnostic>,
    /// Messages not tied to a position (a refused publication).
    messages: Vec<String>,
    /// The checked draft, for the diagram.
    compiled: Option<CompiledProcess>,
    simulation: Option<DraftSimulation>,
}

/// The editor's fields from a posted form.
fn editor_from(name: &str, form: &Form) -> Editor {
    Editor {
        name: name.to_owned(),
        // As typed: no trimming, or line numbers would shift.
        text: form.raw("yaml").unwrap_or_default().replace("\r\n", "\n"),
        source_name: form
            .text("source_name")
            .filter(|s| s.len() <= 200)
            .unwrap_or_else(|| "definition.yaml".to_owned()),
        base: form.text("base").and_then(|b| b.parse().ok()),
        ..Editor::default()
    }
}

/// `POST /processes/{name}/check`: validates; a valid draft is drawn and
/// replayed over the history.
async fn check(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(name): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let mut editor = editor_from(&name, &form);
        let crm = &gateway.crm;
        match crm
            .simulate_draft(&signed.caller, &editor.source_name, &editor.text)
            .await
        {
            Ok(simulation) => {
                let checked = crm
                    .check_draft(&signed.caller, &editor.source_name, &editor.text)
                    .map_err(draft_error)?;
                editor.diagnostics = checked.warnings;
                editor.compiled = Some(checked.compiled);
                editor.simulation = Some(simulation);
                Ok(html_response(StatusCode::OK, editor_page(&signed, &editor)))
            }
            Err(DraftError::Invalid { diagnostics }) => {
                editor.diagnostics = diagnostics;
                Ok(html_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    editor_page(&signed, &editor),
                ))
            }
            Err(other) => Err(draft_error(other)),
        }
    }
    .await;
    page_result(lang, result)
}

fn draft_error(error: DraftError) -> WebError {
    match error {
        DraftError::App(app) => app.into(),
        DraftError::Invalid { .. } => WebError::BadRequest("the draft is invalid".into()),
    }
}

/// `POST /processes/{name}/publish`: a new version, then the list.
async fn publish(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(name): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        may_design(&signed)?;
        let mut editor = editor_from(&name, &form);
        let registry = gateway.crm.deal_service().registry().clone();
        // Someone published since this editor was opened: say so rather
        // than silently stacking a version on one the designer never saw.
        if let (Some(base), Ok(checked)) = (
            editor.base,
            voronka_app::designer::check_draft(&editor.source_name, &editor.text),
        ) {
            let draft_name = checked.compiled.identity.name.clone();
            if let Some(latest) = registry.latest(&draft_name) {
                if latest.identity.version != base && draft_name == editor.name {
                    editor.messages.push(ta(
                        lang,
                        "des-changed-under-you",
                        &[
                            ("base", base.to_string()),
                            ("latest", latest.identity.version.to_string()),
                        ],
                    ));
                    return Ok(html_response(
                        StatusCode::CONFLICT,
                        editor_page(&signed, &editor),
                    ));
                }
            }
        }
        match gateway
            .crm
            .publish_process(&signed.caller, &editor.source_name, &editor.text)
            .await
        {
            Ok(identity) => Ok(see_other(&format!(
                "/processes?published={}&version={}",
                encode(&identity.name),
                identity.version
            ))),
            Err(PublishFailure::App(error)) => Err(error.into()),
            Err(PublishFailure::Publication(PublicationError::Publish(
                PublishError::Invalid { diagnostics },
            ))) => {
                editor.diagnostics = diagnostics;
                Ok(html_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    editor_page(&signed, &editor),
                ))
            }
            Err(PublishFailure::Publication(PublicationError::Publish(
                PublishError::VersionTaken { latest_version, .. }
                | PublishError::VersionNotNewer { latest_version, .. },
            ))) => {
                editor.messages.push(ta(
                    lang,
                    "des-version-not-newer",
                    &[("latest", latest_version.to_string())],
                ));
                Ok(html_response(
                    StatusCode::CONFLICT,
                    editor_page(&signed, &editor),
                ))
            }
            Err(PublishFailure::Publication(PublicationError::Store(error))) => {
                Err(voronka_app::crm::AppError::Store(error).into())
            }
            Err(PublishFailure::Publication(error)) => {
                tracing::error!(%error, "publishing a process failed");
                Err(WebError::Internal)
            }
        }
    }
    .await;
    page_result(lang, result)
}

// ------------------------------------------------------------------ page

fn editor_page(signed: &Signed, editor: &Editor) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let errors: Vec<&Diagnostic> = editor
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let warnings: Vec<&Diagnostic> = editor
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    let error_lines: std::collections::BTreeSet<u32> =
        errors.iter().map(|d| d.location.line).collect();
    let line_count = editor.text.split('\n').count().max(1);
    let path = format!("/processes/{}", encode(&editor.name));
    let title = if editor.name == NEW_DRAFT {
        t(lang, "des-new-draft")
    } else {
        ta(lang, "des-edit-title", &[("name", editor.name.clone())])
    };
    let body = html! {
        p { a href="/processes" { "← " (t(lang, "des-back")) } }
        @if !editor.messages.is_empty() {
            div #refusal tabindex="-1" { (layout::alert(&editor.messages)) }
        }
        form #designer.des-form method="post" action={ (path) "/check" } {
            (csrf(viewer))
            input type="hidden" name="source_name" value=(editor.source_name);
            @if let Some(base) = editor.base {
                input type="hidden" name="base" value=(base);
            }
            div.des-grid {
                div.des-editor {
                    label for="yaml" { (t(lang, "des-yaml")) }
                    p.muted #yaml-hint { (t(lang, "des-yaml-hint")) }
                    div.des-code {
                        pre.des-gutter aria-hidden="true" {
                            @for n in 1..=line_count {
                                @let n32 = u32::try_from(n).unwrap_or(u32::MAX);
                                @if error_lines.contains(&n32) {
                                    span.des-bad { (n) } "\n"
                                } @else {
                                    (n) "\n"
                                }
                            }
                        }
                        textarea #yaml name="yaml" rows="28" wrap="off" spellcheck="false"
                            autocapitalize="off" autocomplete="off"
                            aria-describedby="yaml-hint diagnostics" { (editor.text) }
                    }
                }
                aside #diagnostics.des-diagnostics aria-live="polite" {
                    h2 { (t(lang, "des-problems")) }
                    @if errors.is_empty() && warnings.is_empty() {
                        @if editor.compiled.is_some() {
                            p.ok { (t(lang, "des-valid")) }
                        } @else {
                            p.muted { (t(lang, "des-not-checked")) }
                        }
                    }
                    @if !errors.is_empty() {
                        p.alert role="alert" { (ta(lang, "des-error-count", &[("count", errors.len().to_string())])) }
                    }
                    ol.des-problems {
                        @for d in errors.iter().chain(warnings.iter()) {
                            li class=(if d.severity == Severity::Error { "des-error" } else { "des-warning" }) {
                                a.des-pos href="#yaml" data-line=(d.location.line) data-column=(d.location.column) {
                                    (d.location.line) ":" (d.location.column)
                                }
                                " "
                                @if d.severity == Severity::Warning { span.badge.des-warn-badge { (t(lang, "des-warning")) } " " }
                                span.des-message { (d.message) }
                                " " code.muted { (d.code) }
                            }
                        }
                    }
                }
            }
            div.actions {
                button type="submit" { (t(lang, "des-check")) }
                button.primary type="submit" formaction={ (path) "/publish" } { (t(lang, "des-publish")) }
            }
        }
        @if let Some(compiled) = &editor.compiled {
            section #diagram {
                h2 { (t(lang, "des-diagram")) }
                (diagram(compiled, lang))
            }
        }
        @if let Some(simulation) = &editor.simulation {
            (simulation_section(simulation, editor.compiled.as_ref(), signed))
        }
    };
    layout::page(signed, &title, Nav::Processes, body)
}

fn stage_title(compiled: Option<&CompiledProcess>, name: &str, lang: Lang) -> String {
    compiled
        .and_then(|c| c.stage_id(name).map(|id| c.stage(id)))
        .map_or_else(
            || name.to_owned(),
            |stage| lang.title(&stage.title).to_owned(),
        )
}

/// How many blocked deals the page lists (the API returns all).
const SHOWN_BLOCKED: usize = 50;

fn simulation_section(
    simulation: &DraftSimulation,
    compiled: Option<&CompiledProcess>,
    signed: &Signed,
) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let deal_label = |id: &String, title: &Option<String>| {
        title.clone().unwrap_or_else(|| {
            ta(
                lang,
                "des-sim-deal",
                &[("id", id.chars().take(8).collect())],
            )
        })
    };
    html! {
        section #simulation {
            h2 { (t(lang, "des-sim-title")) }
            p { (ta(lang, "des-sim-summary", &[
                ("deals", simulation.deals.to_string()),
                ("blocked", simulation.blocked.len().to_string()),
                ("process", simulation.process.clone()),
            ])) }
            @if !simulation.funnel.is_empty() {
                div.des-table-wrap {
                    table.des-funnel {
                        caption { (t(lang, "des-sim-funnel")) }
                        thead { tr {
                            th scope="col" { (t(lang, "des-stage")) }
                            th scope="col" { (t(lang, "des-sim-before")) }
                            th scope="col" { (t(lang, "des-sim-after")) }
                        } }
                        tbody {
                            @for row in &simulation.funnel {
                                tr class=(if row.entered_after < row.entered_before { "des-fewer" } else { "" }) {
                                    th scope="row" {
                                        (stage_title(compiled, &row.stage, lang))
                                        @if !row.in_draft { " " span.muted { (t(lang, "des-sim-removed")) } }
                                    }
                                    td { (i18n::number(lang, i64::from(row.entered_before))) }
                                    td { (i18n::number(lang, i64::from(row.entered_after))) }
                                }
                            }
                        }
                    }
                }
            }
            h3 { (t(lang, "des-sim-blocked")) }
            @if simulation.blocked.is_empty() {
                p.ok { (t(lang, "des-sim-none")) }
            } @else {
                ul.list.des-blocked {
                    @for blocked in simulation.blocked.iter().take(SHOWN_BLOCKED) {
                        @let id = blocked.deal.to_string();
                        li {
                            a href={ "/deals/" (id) } { (deal_label(&id, &blocked.title)) }
                            div.muted {
                                (stage_title(compiled, &blocked.from, lang)) " → " (stage_title(compiled, &blocked.to, lang))
                                " · " (i18n::moment(lang, viewer.zone, blocked.at))
                            }
                            @if blocked.target_removed {
                                p.des-unmet { (t(lang, "des-sim-removed-target")) }
                            } @else {
                                ul.checklist {
                                    @for message in &blocked.unmet { li { (lang.title(message)) } }
                                }
                            }
                        }
                    }
                }
            }
            @if simulation.blocked.len() > SHOWN_BLOCKED {
                p.muted { (ta(lang, "des-sim-more", &[("count", (simulation.blocked.len() - SHOWN_BLOCKED).to_string())])) }
            }
            @if !simulation.in_removed_stages.is_empty() {
                h3 { (t(lang, "des-sim-stranded")) }
                ul.list {
                    @for stranded in simulation.in_removed_stages.iter().take(SHOWN_BLOCKED) {
                        @let id = stranded.deal.to_string();
                        li {
                            a href={ "/deals/" (id) } { (deal_label(&id, &stranded.title)) }
                            " " span.muted { (stranded.stage) }
                        }
                    }
                }
            }
            @if simulation.skipped_facts > 0 {
                p.muted { (ta(lang, "des-sim-skipped", &[("count", simulation.skipped_facts.to_string())])) }
            }
        }
    }
}

// --------------------------------------------------------------- diagram

const BOX_WIDTH: u32 = 220;
const BOX_HEIGHT: u32 = 44;
const ROW: u32 = 72;
const LANE: u32 = 12;
const TOP: u32 = 12;

/// The longest stage title drawn in a box (longer ones end in `…`).
const MAX_BOX_TITLE: usize = 26;

/// One arrow of the diagram: from stage index to stage index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edge {
    from: usize,
    to: usize,
}

/// Lanes beside the boxes for arrows that skip stages: arrows into the
/// same stage share a lane (a bus into it); overlapping ones get the
/// next lane. Returns (target stage, lane) for one side.
fn lanes(edges: &[Edge]) -> BTreeMap<usize, u32> {
    let mut spans: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for edge in edges {
        let (low, high) = (edge.from.min(edge.to), edge.from.max(edge.to));
        let span = spans.entry(edge.to).or_insert((low, high));
        span.0 = span.0.min(low);
        span.1 = span.1.max(high);
    }
    let mut ordered: Vec<(usize, (usize, usize))> = spans.into_iter().collect();
    ordered.sort_by_key(|(_, (low, high))| (high - low, *low));
    let mut taken: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut assigned = BTreeMap::new();
    for (target, (low, high)) in ordered {
        let lane = taken
            .iter()
            .position(|spans| spans.iter().all(|(l, h)| high < *l || low > *h))
            .unwrap_or_else(|| {
                taken.push(Vec::new());
                taken.len() - 1
            });
        taken[lane].push((low, high));
        assigned.insert(target, u32::try_from(lane).unwrap_or(0) + 1);
    }
    assigned
}

fn shortened(text: &str) -> String {
    if text.chars().count() <= MAX_BOX_TITLE {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_BOX_TITLE - 1).collect();
    short.push('…');
    short
}

/// The stages as boxes in declaration order (the funnel order), the next
/// stage by a straight arrow, other forward moves on the right and moves
/// back on the left. Every title is escaped by maud.
pub fn diagram(process: &CompiledProcess, lang: Lang) -> Markup {
    let mut edges = Vec::new();
    for stage in &process.stages {
        for exit in &stage.exits {
            let (from, to) = (stage.id.index(), exit.to.index());
            if from != to && !edges.contains(&Edge { from, to }) {
                edges.push(Edge { from, to });
            }
        }
    }
    let (straight, rest): (Vec<Edge>, Vec<Edge>) = edges.iter().partition(|e| e.to == e.from + 1);
    let (forward, backward): (Vec<Edge>, Vec<Edge>) = rest.iter().partition(|e| e.to > e.from);
    let right = lanes(&forward);
    let left = lanes(&backward);
    let left_width = left.values().max().copied().unwrap_or(0) * LANE + 16;
    let right_width = right.values().max().copied().unwrap_or(0) * LANE + 16;
    let x = left_width;
    let count = u32::try_from(process.stages.len()).unwrap_or(0);
    let width = left_width + BOX_WIDTH + right_width;
    let height = TOP * 2 + count.saturating_sub(1) * ROW + BOX_HEIGHT;
    let index = |i: usize| u32::try_from(i).unwrap_or(0);
    let top_of = |i: usize| TOP + index(i) * ROW;
    let middle = |i: usize| top_of(i) + BOX_HEIGHT / 2;
    let name = lang.title(&process.title).to_owned();
    let transitions: Vec<(String, String)> = edges
        .iter()
        .map(|e| {
            (
                lang.title(&process.stages[e.from].title).to_owned(),
                lang.title(&process.stages[e.to].title).to_owned(),
            )
        })
        .collect();
    html! {
        figure.des-figure {
            svg.des-diagram xmlns="http://www.w3.org/2000/svg" role="img"
                viewBox={ "0 0 " (width) " " (height) }
                width=(width) height=(height)
                aria-labelledby="des-diagram-title" {
                title #des-diagram-title { (ta(lang, "des-diagram-label", &[("name", name.clone())])) }
                defs {
                    marker #des-arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                        path d="M0,0 L10,5 L0,10 z" fill="#4f5a66" {}
                    }
                }
                @for edge in &straight {
                    line.des-edge x1=(x + BOX_WIDTH / 2) y1=(top_of(edge.from) + BOX_HEIGHT)
                        x2=(x + BOX_WIDTH / 2) y2=(top_of(edge.to))
                        stroke="#4f5a66" stroke-width="1.5" marker-end="url(#des-arrow)" {}
                }
                @for edge in &forward {
                    @let lane_x = x + BOX_WIDTH + right.get(&edge.to).copied().unwrap_or(1) * LANE;
                    path.des-edge d={ "M" (x + BOX_WIDTH) "," (middle(edge.from) - 6) " H" (lane_x) " V" (middle(edge.to) + 6) " H" (x + BOX_WIDTH) }
                        fill="none" stroke="#4f5a66" stroke-width="1.5" marker-end="url(#des-arrow)" {}
                }
                @for edge in &backward {
                    @let lane_x = x - left.get(&edge.to).copied().unwrap_or(1) * LANE;
                    path.des-edge.des-back d={ "M" (x) "," (middle(edge.from) + 6) " H" (lane_x) " V" (middle(edge.to) - 6) " H" (x) }
                        fill="none" stroke="#0b5cad" stroke-width="1.5" stroke-dasharray="4 3" marker-end="url(#des-arrow)" {}
                }
                @for stage in &process.stages {
                    @let i = stage.id.index();
                    @let title = lang.title(&stage.title).to_owned();
                    g.des-node data-stage=(stage.name) {
                        title { (title) " (" (stage.name) ")" }
                        rect x=(x) y=(top_of(i)) width=(BOX_WIDTH) height=(BOX_HEIGHT) rx="6"
                            fill=(if stage.terminal { "#e9edf1" } else { "#ffffff" })
                            stroke=(if stage.id == process.initial_stage { "#0b5cad" } else { "#6b7785" })
                            stroke-width=(if stage.id == process.initial_stage { "2.5" } else { "1.2" }) {}
                        text x=(x + 10) y=(top_of(i) + 19) font-size="13" font-weight="600" fill="#1b1f24" { (shortened(&title)) }
                        text x=(x + 10) y=(top_of(i) + 35) font-size="11" fill="#4f5a66" {
                            (stage.name) " · " (stage.probability) "%"
                            @if stage.terminal { " · " (t(lang, "des-terminal")) }
                        }
                    }
                }
            }
            figcaption {
                details {
                    summary { (ta(lang, "des-transitions", &[("count", transitions.len().to_string())])) }
                    ul.des-transitions {
                        @for (from, to) in &transitions { li { (from) " → " (to) } }
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
    fn arrows_into_one_stage_share_a_lane_and_overlapping_ones_do_not() {
        let edges = [
            Edge { from: 0, to: 4 },
            Edge { from: 1, to: 4 },
            Edge { from: 0, to: 2 },
            Edge { from: 5, to: 7 },
        ];
        let lanes = lanes(&edges);
        assert_eq!(lanes[&2], 1, "the shortest span goes nearest");
        assert_eq!(lanes[&7], 1, "a span that overlaps nothing reuses lane 1");
        assert_eq!(lanes[&4], 2, "0..4 overlaps 0..2");
    }

    #[test]
    fn every_stage_is_a_node_and_titles_are_escaped() {
        let yaml = "process: x\nversion: 1\ntitle: { ru: X, en: X }\nstages:\n  - { id: a, title: { ru: \"<script>\", en: \"<script>\" }, probability: 1 }\n  - { id: b, title: { ru: B, en: B }, probability: 50 }\n  - { id: c, title: { ru: C, en: C }, probability: 100, terminal: true }\ntransitions:\n  - { from: a, to: [b, c] }\n  - { from: b, to: [a, c] }\n";
        let checked = voronka_app::designer::check_draft("x.yaml", yaml).expect("valid");
        let svg = diagram(&checked.compiled, Lang::En).into_string();
        assert_eq!(svg.matches("class=\"des-node\"").count(), 3);
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script>"));
        assert_eq!(svg.matches("class=\"des-edge\"").count(), 3, "{svg}");
        assert_eq!(svg.matches("des-edge des-back").count(), 1);
    }
}
