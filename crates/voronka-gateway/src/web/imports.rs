//! The import page: upload a CSV, choose its kind and a mapping (a saved
//! one, or header = field pairs saved under a name), check it (a dry run)
//! or import it; the job's page shows the progress (polled by
//! `integrations.js`, or refreshed by hand) and then the report: what
//! would be or was created, duplicates and invalid rows by line and
//! column. A checked file is run for real from its report, with the same
//! columns, without uploading it again.
//!
//! Every action calls what `/api/v1/imports` calls (`Crm::start_import`,
//! `Crm::save_import_mapping`, ...), so the rights are the same: the kinds
//! a caller may import are the only ones offered, and any other is refused
//! by the application.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use voronka_app::crm::import::ImportReport;
use voronka_app::crm::import_jobs::{ImportJob, JobStatus};
use voronka_crm::import::{ImportKind, Mapping};
use voronka_crm::import_mapping::SavedMapping;

use super::forms::Form;
use super::layout::{self, csrf, t, ta, Nav};
use super::session::Signed;
use super::upload::Upload;
use super::{html_response, page_result, path_uuid, see_other, Refusal, WebError};
use crate::imports_api::MAX_IMPORT_BYTES;
use crate::Gateway;

/// The routes of these pages.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/imports", get(page).post(start))
        .route("/imports/jobs/{id}", get(job_page))
        .route("/imports/jobs/{id}/run", post(run))
        .route("/imports/mappings/delete", post(delete_mapping))
}

const KINDS: [ImportKind; 4] = [
    ImportKind::Companies,
    ImportKind::Contacts,
    ImportKind::Deals,
    ImportKind::Activities,
];

/// The kinds the caller may import (the application decides).
pub fn allowed_kinds(gateway: &Gateway, signed: &Signed) -> Vec<ImportKind> {
    KINDS
        .into_iter()
        .filter(|kind| gateway.crm.may_import(&signed.caller, *kind).is_ok())
        .collect()
}

fn kind_title(lang: super::i18n::Lang, kind: ImportKind) -> String {
    t(lang, &format!("imp-kind-{}", kind.as_str()))
}

#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    /// A saved mapping to load into the editor.
    edit: Option<String>,
    /// What was just done (`deleted`).
    done: Option<String>,
}

async fn page(
    State(gateway): State<Gateway>,
    signed: Signed,
    Query(query): Query<PageQuery>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let mut form = Form::default();
        if let Some(name) = query.edit.as_deref() {
            let saved = gateway.crm.import_mapping(&signed.caller, name).await?;
            form = Form::parse(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("kind", saved.kind.as_str())
                    .append_pair("new_name", &saved.name)
                    .append_pair("pairs", &pairs_text(&saved.columns))
                    .finish()
                    .as_bytes(),
            );
        }
        let markup = import_page(&gateway, &signed, &form, None, query.done.as_deref()).await?;
        Ok(html_response(StatusCode::OK, markup))
    }
    .await;
    page_result(lang, result)
}

/// A mapping as editable text: one `Header = field` a line.
fn pairs_text(columns: &Mapping) -> String {
    columns
        .0
        .iter()
        .map(|(header, field)| format!("{header} = {field}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Header = field` lines into a mapping; the lines that are not pairs.
fn parse_pairs(text: &str) -> (Mapping, Vec<usize>) {
    let mut mapping = Mapping::default();
    let mut bad = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.rsplit_once('=') {
            Some((header, field)) if !header.trim().is_empty() && !field.trim().is_empty() => {
                mapping
                    .0
                    .insert(header.trim().to_owned(), field.trim().to_owned());
            }
            _ => bad.push(number + 1),
        }
    }
    (mapping, bad)
}

async fn import_page(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    refusal: Option<&Refusal>,
    done: Option<&str>,
) -> Result<Markup, WebError> {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let kinds = allowed_kinds(gateway, signed);
    if kinds.is_empty() {
        return Err(WebError::Forbidden);
    }
    let mappings = gateway.crm.import_mappings(&signed.caller).await?;
    let kind_options: Vec<(String, String)> = kinds
        .iter()
        .map(|kind| (kind.as_str().to_owned(), kind_title(lang, *kind)))
        .collect();
    let mapping_options: Vec<(String, String)> = mappings
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                format!("{} — {}", m.name, kind_title(lang, m.kind)),
            )
        })
        .collect();
    let chosen_kind = form.text("kind");
    let body = html! {
        @if done == Some("deleted") { p.ok role="status" { (t(lang, "imp-mapping-deleted")) } }
        p.muted { (t(lang, "imp-intro")) }
        @if let Some(refusal) = refusal { div #refusal tabindex="-1" { (layout::alert(&refusal.messages)) } }
        form.card.grid #import-form method="post" action="/imports" enctype="multipart/form-data" {
            (csrf(viewer))
            div.field {
                label for="i-file" { (t(lang, "imp-file")) " *" }
                input #i-file type="file" name="file" accept=".csv,text/csv,text/plain" required aria-describedby="i-file-hint";
                span.muted #i-file-hint { (t(lang, "imp-file-hint")) }
            }
            (layout::select("i-kind", "kind", &t(lang, "imp-kind"), &kind_options, chosen_kind.as_deref(), true))
            (layout::select("i-mapping", "mapping", &t(lang, "imp-mapping"), &mapping_options, form.text("mapping").as_deref(), false))
            fieldset.int-mapping {
                legend { (t(lang, "imp-new-mapping")) }
                p.muted { (t(lang, "imp-new-mapping-hint")) }
                div.field {
                    label for="i-new-name" { (t(lang, "imp-mapping-name")) }
                    input #i-new-name type="text" name="new_name" maxlength="100" pattern="[\\p{L}\\p{N}._\\-]+" value=(form.echo("new_name"));
                }
                div.field {
                    label for="i-pairs" { (t(lang, "imp-pairs")) }
                    textarea #i-pairs name="pairs" rows="6" spellcheck="false" aria-describedby="i-fields" { (form.echo("pairs")) }
                }
                details #i-fields {
                    summary { (t(lang, "imp-fields")) }
                    dl.facts {
                        @for kind in &kinds {
                            dt { (kind_title(lang, *kind)) }
                            dd { code { (kind.fields().join(", ")) } }
                        }
                    }
                }
            }
            div.actions {
                button type="submit" name="action" value="check" { (t(lang, "imp-check")) }
                button.primary type="submit" name="action" value="run" { (t(lang, "imp-run")) }
            }
        }
        section {
            h2 { (t(lang, "imp-saved")) span.count { (mappings.len()) } }
            @if mappings.is_empty() {
                p.muted { (t(lang, "imp-saved-none")) }
            } @else {
                ul.list.int-mappings {
                    @for mapping in &mappings {
                        (mapping_item(signed, mapping))
                    }
                }
            }
        }
    };
    Ok(layout::page(
        signed,
        &t(lang, "imp-title"),
        Nav::Integrations,
        body,
    ))
}

fn mapping_item(signed: &Signed, mapping: &SavedMapping) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let edit: String = form_urlencoded::Serializer::new(String::from("/imports?"))
        .append_pair("edit", &mapping.name)
        .finish();
    html! {
        li data-mapping=(mapping.name) {
            strong { (mapping.name) } " " span.muted { (kind_title(lang, mapping.kind)) }
            div.int-table-wrap {
                table.int-table {
                    thead { tr { th scope="col" { (t(lang, "imp-header")) } th scope="col" { (t(lang, "imp-field")) } } }
                    tbody {
                        @for (header, field) in &mapping.columns.0 {
                            tr { td { (header) } td { code { (field) } } }
                        }
                    }
                }
            }
            div.actions {
                a.button href=(edit) { (t(lang, "imp-mapping-edit")) }
                form.inline method="post" action="/imports/mappings/delete" {
                    (csrf(viewer))
                    input type="hidden" name="name" value=(mapping.name);
                    button.danger type="submit" aria-label=(ta(lang, "imp-mapping-delete-label", &[("name", mapping.name.clone())])) {
                        (t(lang, "imp-mapping-delete"))
                    }
                }
            }
        }
    }
}

fn refused(messages: Vec<String>) -> Refusal {
    Refusal {
        status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
        messages,
        unmet: Vec::new(),
    }
}

async fn start(
    State(gateway): State<Gateway>,
    signed: Signed,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let upload =
            Upload::read(&signed.viewer, &headers, body, MAX_IMPORT_BYTES + 64 * 1024).await?;
        let mut files = upload.files;
        let form = upload.form;
        let outcome = start_job(&gateway, &signed, &form, files.remove("file")).await?;
        match outcome {
            Ok(id) => Ok(see_other(&format!("/imports/jobs/{id}"))),
            Err(refusal) => {
                let markup = import_page(&gateway, &signed, &form, Some(&refusal), None).await?;
                Ok(html_response(refusal.status_code(), markup))
            }
        }
    }
    .await;
    page_result(lang, result)
}

/// Saves the typed mapping (if any) and starts the job; a refusal to show
/// beside the form, or the error page.
async fn start_job(
    gateway: &Gateway,
    signed: &Signed,
    form: &Form,
    file: Option<super::upload::UploadedFile>,
) -> Result<Result<uuid::Uuid, Refusal>, WebError> {
    let lang = signed.viewer.lang;
    let mut problems = Vec::new();
    let kind = form.text("kind").as_deref().and_then(ImportKind::parse);
    if kind.is_none() {
        problems.push(t(lang, "imp-error-kind"));
    }
    let file = file.filter(|file| !file.bytes.is_empty());
    if file.is_none() {
        problems.push(t(lang, "imp-error-file"));
    }
    let pairs = form.text("pairs");
    let (columns, bad_lines) = parse_pairs(pairs.as_deref().unwrap_or(""));
    for line in bad_lines {
        problems.push(ta(lang, "imp-error-pair", &[("line", line.to_string())]));
    }
    let mapping_name = match (&pairs, form.text("new_name"), form.text("mapping")) {
        (Some(_), Some(name), _) => Some(name),
        (Some(_), None, _) => {
            problems.push(t(lang, "imp-error-new-name"));
            None
        }
        (None, _, Some(name)) => Some(name),
        (None, _, None) => {
            problems.push(t(lang, "imp-error-mapping"));
            None
        }
    };
    let (Some(kind), Some(file), Some(mapping_name), true) =
        (kind, file, mapping_name, problems.is_empty())
    else {
        return Ok(Err(refused(problems)));
    };
    if pairs.is_some() {
        if let Err(error) = gateway
            .crm
            .save_import_mapping(&signed.caller, mapping_name.clone(), kind, columns)
            .await
        {
            return Refusal::from_app(lang, error).map(Err);
        }
    }
    let dry_run = form.text("action").as_deref() != Some("run");
    let file_name = if file.name.is_empty() {
        "upload.csv".to_owned()
    } else {
        file.name
    };
    match gateway
        .crm
        .start_import(
            signed.caller.clone(),
            kind,
            &mapping_name,
            file_name,
            file.bytes,
            dry_run,
        )
        .await
    {
        Ok(id) => Ok(Ok(id)),
        Err(error) => Refusal::from_app(lang, error).map(Err),
    }
}

async fn job_page(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let id = path_uuid(&id)?;
        let job = gateway.crm.import_job(&signed.caller, id)?;
        Ok(html_response(
            StatusCode::OK,
            job_markup(&signed, &job, None),
        ))
    }
    .await;
    page_result(lang, result)
}

fn job_markup(signed: &Signed, job: &ImportJob, refusal: Option<&Refusal>) -> Markup {
    let viewer = &signed.viewer;
    let lang = viewer.lang;
    let title = if job.dry_run {
        ta(lang, "imp-job-check-title", &[("file", job.file.clone())])
    } else {
        ta(lang, "imp-job-run-title", &[("file", job.file.clone())])
    };
    let status_key = match job.status {
        JobStatus::Running => "imp-status-running",
        JobStatus::Finished => "imp-status-finished",
        JobStatus::Failed => "imp-status-failed",
    };
    let running = job.status == JobStatus::Running;
    let body = html! {
        p { a href="/imports" { (t(lang, "imp-back")) } }
        @if let Some(refusal) = refusal { (layout::alert(&refusal.messages)) }
        div #job data-poll=[running.then_some("700")] data-status=(format!("{:?}", job.status).to_lowercase()) {
            dl.facts {
                dt { (t(lang, "imp-kind")) } dd { (kind_title(lang, job.kind)) }
                dt { (t(lang, "imp-mapping")) } dd { (job.mapping) }
                dt { (t(lang, "imp-status")) } dd.int-status role="status" aria-live="polite" { (t(lang, status_key)) }
            }
            @if running {
                div.int-progress {
                    progress max=(job.rows_planned.max(1)) value=(job.rows_done) aria-label=(t(lang, "imp-progress")) {}
                    " "
                    span { (ta(lang, "imp-progress-rows", &[("done", job.rows_done.to_string()), ("total", job.rows_planned.to_string())])) }
                }
                noscript { p { a href=(viewer.path) { (t(lang, "imp-refresh")) } } }
            }
            @if !job.errors.is_empty() {
                div.alert role="alert" {
                    p { (t(lang, "imp-file-refused")) }
                    ul { @for error in &job.errors {
                        li { @if let Some(column) = &error.column { code { (column) } ": " } (error.message) }
                    } }
                }
            }
            @if let Some(report) = &job.report {
                (report_markup(lang, report))
                @if job.can_run() {
                    form.card method="post" action={ "/imports/jobs/" (job.id) "/run" } {
                        (csrf(viewer))
                        p { (ta(lang, "imp-run-checked-hint", &[("count", report.would_create.to_string())])) }
                        div.actions { button.primary type="submit" { (t(lang, "imp-run-checked")) } }
                    }
                }
                @if let Some(run) = job.run {
                    p { a href={ "/imports/jobs/" (run) } { (t(lang, "imp-see-run")) } }
                }
            }
        }
    };
    layout::page(signed, &title, Nav::Integrations, body)
}

fn report_markup(lang: super::i18n::Lang, report: &ImportReport) -> Markup {
    let count = |n: usize| n.to_string();
    html! {
        dl.facts.int-summary {
            dt { (t(lang, "imp-rows")) } dd data-count="rows" { (count(report.rows)) }
            @if report.dry_run {
                dt { (t(lang, "imp-would-create")) } dd data-count="would_create" { (count(report.would_create)) }
            } @else {
                dt { (t(lang, "imp-created")) } dd data-count="created" { (count(report.created)) }
            }
            dt { (t(lang, "imp-already")) } dd data-count="already_imported" { (count(report.already_imported)) }
            dt { (t(lang, "imp-duplicates")) } dd data-count="duplicates" { (count(report.duplicates.len())) }
            dt { (t(lang, "imp-invalid")) } dd data-count="invalid" { (count(report.invalid.len())) }
            dt { (t(lang, "imp-encoding")) } dd { (report.encoding) " · " code { (report.delimiter) } }
        }
        @if !report.invalid.is_empty() {
            h2 { (t(lang, "imp-invalid")) }
            div.int-table-wrap {
                table.int-table #invalid-rows {
                    thead { tr {
                        th scope="col" { (t(lang, "imp-line")) }
                        th scope="col" { (t(lang, "imp-column")) }
                        th scope="col" { (t(lang, "imp-reason")) }
                    } }
                    tbody {
                        @for error in &report.invalid {
                            tr data-line=(error.line) {
                                td { (error.line) }
                                td { @if let Some(column) = &error.column { code { (column) } } }
                                td { (error.message) }
                            }
                        }
                    }
                }
            }
        }
        @if !report.duplicates.is_empty() {
            h2 { (t(lang, "imp-duplicates")) }
            div.int-table-wrap {
                table.int-table #duplicate-rows {
                    thead { tr {
                        th scope="col" { (t(lang, "imp-line")) }
                        th scope="col" { (t(lang, "imp-duplicate-of")) }
                    } }
                    tbody {
                        @for duplicate in &report.duplicates {
                            tr data-line=(duplicate.line) {
                                td { (duplicate.line) }
                                td {
                                    @if let Some(line) = duplicate.same_as_line {
                                        (ta(lang, "imp-same-as-line", &[("line", line.to_string())]))
                                    }
                                    @for candidate in &duplicate.candidates {
                                        " "
                                        @match report.kind {
                                            ImportKind::Companies => a href={ "/companies/" (candidate) } { (t(lang, "imp-existing")) },
                                            ImportKind::Contacts => a href={ "/contacts/" (candidate) } { (t(lang, "imp-existing")) },
                                            _ => code { (candidate) },
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
}

async fn run(
    State(gateway): State<Gateway>,
    signed: Signed,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        Form::read(&signed.viewer, body).await?;
        let id = path_uuid(&id)?;
        match gateway.crm.run_checked_import(signed.caller.clone(), id) {
            Ok(run) => Ok(see_other(&format!("/imports/jobs/{run}"))),
            Err(error) => {
                let refusal = Refusal::from_app(lang, error)?;
                let job = gateway.crm.import_job(&signed.caller, id)?;
                Ok(html_response(
                    refusal.status_code(),
                    job_markup(&signed, &job, Some(&refusal)),
                ))
            }
        }
    }
    .await;
    page_result(lang, result)
}

async fn delete_mapping(State(gateway): State<Gateway>, signed: Signed, body: Body) -> Response {
    let lang = signed.viewer.lang;
    let result = async {
        let form = Form::read(&signed.viewer, body).await?;
        let name = form.text("name").unwrap_or_default();
        gateway
            .crm
            .delete_import_mapping(&signed.caller, &name)
            .await?;
        Ok(see_other("/imports?done=deleted"))
    }
    .await;
    page_result(lang, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_read_by_their_last_equals_sign_and_bad_lines_named() {
        let (mapping, bad) = parse_pairs("ИНН = inn\n\nA=B = name\nno pair here\n = x\n");
        assert_eq!(mapping.0.get("ИНН").map(String::as_str), Some("inn"));
        assert_eq!(mapping.0.get("A=B").map(String::as_str), Some("name"));
        assert_eq!(bad, vec![4, 5]);
        assert_eq!(parse_pairs(&pairs_text(&mapping)).0, mapping);
    }
}
