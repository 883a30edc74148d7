//! `voronka rebuild [NAME]`: folds the whole event log into the report
//! tables again, now, and prints how fast it went. A running server keeps
//! answering from the old tables until the rebuild's transaction for each
//! batch commits; rebuild while it is stopped for a clean cut-over.

use crate::database::{self, DbArgs};
use anyhow::{bail, Context};
use voronka_projections::db::read_db_url_for;
use voronka_projections::{runner, ReadDb};
use voronka_store::StoreMetrics;

#[derive(clap::Args)]
pub struct RebuildArgs {
    /// The projection to rebuild (all when omitted): deals, work, ...
    pub name: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

pub async fn run(args: RebuildArgs) -> anyhow::Result<()> {
    let mut projections = voronka_projections::all();
    if let Some(name) = &args.name {
        projections.retain(|p| p.name() == name);
        if projections.is_empty() {
            let known: Vec<&str> = voronka_projections::all()
                .iter()
                .map(|p| p.name())
                .collect();
            bail!("no projection named `{name}` (known: {})", known.join(", "));
        }
    }
    let store = database::open(&args.db.url, StoreMetrics::unregistered(), true).await?;
    let db = ReadDb::open(&read_db_url_for(&args.db.url))
        .await
        .context("cannot open the report database")?;
    for mut projection in projections {
        let report = runner::rebuild(store.as_ref(), &db, projection.as_mut())
            .await
            .with_context(|| format!("rebuilding `{}` failed", projection.name()))?;
        let seconds = report.elapsed.as_secs_f64();
        println!(
            "{}: {} events up to position {} in {:.2} s ({:.0} events/s)",
            projection.name(),
            report.events,
            report.position.0,
            seconds,
            report.events as f64 / seconds.max(1e-9)
        );
    }
    db.close().await;
    store.close().await;
    Ok(())
}
