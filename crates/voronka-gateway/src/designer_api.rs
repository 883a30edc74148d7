//! `POST /api/v1/processes/{name}/simulate`: the what-if replay of a draft
//! definition over the recorded deals of its process, before publishing
//! (process designers and administrators). The same application call the
//! designer page makes.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use voronka_app::designer::DraftError;
use voronka_process::Diagnostic;

use crate::api::{app_problem, ok, read_json, Auth};
use crate::{Gateway, Problem};

pub(crate) fn routes() -> Router<Gateway> {
    Router::new().route("/api/v1/processes/{name}/simulate", post(simulate))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DraftBody {
    /// Shown in diagnostics, e.g. `b2b-sale.yaml`.
    #[serde(default)]
    source_name: Option<String>,
    /// The draft's YAML text; its `process:` must be `{name}`.
    yaml: String,
}

/// The diagnostics of an invalid draft, as the publish endpoint renders them.
pub(crate) fn invalid_definition(diagnostics: &[Diagnostic]) -> Problem {
    let rendered: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            serde_json::json!({
                "file": d.file, "line": d.location.line, "column": d.location.column,
                "severity": format!("{:?}", d.severity).to_lowercase(), "code": d.code, "message": d.message,
            })
        })
        .collect();
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "definition_invalid",
        "Invalid definition",
    )
    .detail(format!("{} problem(s) in the definition", rendered.len()))
    .field("yaml")
    .with("diagnostics", rendered)
}

/// Replays the recorded deals of process `name` under a draft: which
/// recorded moves it would have refused (with what it would have
/// required), which deals sit in stages it removes, the funnel before and
/// after. Nothing is published. 422 with every diagnostic for an invalid
/// draft or one defining another process; 403 without the right to publish.
#[utoipa::path(post, path = "/api/v1/processes/{name}/simulate", tag = "processes",
    params(("name" = String, Path)), request_body = DraftBody,
    responses((status = 200, description = "process, draft_version, deals, blocked, in_removed_stages, funnel"),
        (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn simulate(
    State(gateway): State<Gateway>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    body: Body,
) -> Response {
    let body: DraftBody = match read_json(body).await {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    let source_name = body.source_name.unwrap_or_else(|| format!("{name}.yaml"));
    match gateway
        .crm
        .simulate_draft(&caller, &source_name, &body.yaml)
        .await
    {
        Ok(simulation) if simulation.process != name => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "process_name_mismatch",
            "Invalid definition",
        )
        .detail(format!(
            "the draft defines `{}`, not `{name}`",
            simulation.process
        ))
        .field("yaml")
        .into_response(),
        Ok(simulation) => ok(simulation),
        Err(DraftError::Invalid { diagnostics }) => {
            invalid_definition(&diagnostics).into_response()
        }
        Err(DraftError::App(error)) => app_problem(error).into_response(),
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(simulate), components(schemas(DraftBody)))]
pub(crate) struct DesignerApi;
