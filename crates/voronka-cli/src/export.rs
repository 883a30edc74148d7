//! `voronka export --kind deals|companies|contacts|activities --format csv|xlsx
//! --out FILE --as EMAIL [--q TEXT] [--process NAME] [--stage NAME]`: a list
//! as the user sees it (their visibility, the list's filters), written by
//! the same writers as the API's exports.

use crate::database::{self, DbArgs};
use crate::import::{explain, open_as};
use anyhow::Context;
use std::path::PathBuf;
use voronka_app::export::{ExportFormat, ListExport};
use voronka_crm::customer_index::{CompanyFilter, ContactFilter};
use voronka_crm::deal_index::DealFilter;
use voronka_store::StoreMetrics;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Which list: deals, companies, contacts or activities.
    #[arg(long)]
    kind: String,
    /// csv or xlsx.
    #[arg(long, default_value = "csv", value_parser = parse_format)]
    format: ExportFormat,
    /// Where to write the file.
    #[arg(long)]
    out: PathBuf,
    /// The e-mail of the user whose view is exported.
    #[arg(long = "as")]
    as_user: String,
    /// Search text, as the list's `q`.
    #[arg(long)]
    q: Option<String>,
    /// Deals of this process only.
    #[arg(long)]
    process: Option<String>,
    /// Deals in this stage only.
    #[arg(long)]
    stage: Option<String>,
    #[command(flatten)]
    db: DbArgs,
}

fn parse_format(text: &str) -> Result<ExportFormat, String> {
    ExportFormat::parse(text).ok_or_else(|| format!("unknown format `{text}`: csv or xlsx"))
}

fn list_of(args: &ExportArgs) -> anyhow::Result<ListExport> {
    Ok(match args.kind.trim() {
        "deals" => ListExport::Deals(DealFilter {
            q: args.q.clone(),
            process: args.process.clone(),
            stage: args.stage.clone(),
            ..DealFilter::default()
        }),
        "companies" => ListExport::Companies(CompanyFilter {
            q: args.q.clone(),
            ..CompanyFilter::default()
        }),
        "contacts" => ListExport::Contacts(ContactFilter {
            q: args.q.clone(),
            ..ContactFilter::default()
        }),
        "activities" => ListExport::Activities(Default::default()),
        other => anyhow::bail!("unknown kind `{other}`: deals, companies, contacts or activities"),
    })
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let list = list_of(&args)?;
    let store = database::open(&args.db.url, StoreMetrics::unregistered(), true).await?;
    let outcome = async {
        let (crm, caller) = open_as(&store, &args.as_user).await?;
        crm.export_list(&caller, &list).await.map_err(explain)
    }
    .await;
    store.close().await;
    let table = outcome?;
    let bytes = table.write(args.format)?;
    std::fs::write(&args.out, bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "{}: {} rows written to {}",
        list.name(),
        table.rows.len(),
        args.out.display()
    );
    Ok(())
}
