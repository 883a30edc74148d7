//! `voronka serve`: migrate, open the store, serve HTTP until a signal.

use crate::database::{self, DbArgs};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use voronka_app::crm::Crm;
use voronka_app::deals::{publications, DealService};
use voronka_app::directory::Directory;
use voronka_app::reports::Reports;
use voronka_core::SystemClock;
use voronka_projections::ProjectionMetrics;
use voronka_store::StoreMetrics;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VORONKA_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    /// Seed a demo sales department (users, customers, deals in every
    /// stage) into a database that has no users yet.
    #[arg(long)]
    pub demo: bool,
    /// SMTP relay for outgoing e-mail (`smtp://host:port`, plain; a local
    /// relay does the onward TLS). Without it e-mail is off.
    #[arg(long, env = "VORONKA_SMTP")]
    pub smtp: Option<String>,
    /// The sender of outgoing e-mail.
    #[arg(
        long,
        env = "VORONKA_MAIL_FROM",
        default_value = "Voronka <voronka@localhost>"
    )]
    pub mail_from: String,
    /// The address people reach this server at, for links in e-mails and
    /// the lead forms' submit URL (default: the listening address in
    /// e-mails, the request's Host on pages).
    #[arg(long, env = "VORONKA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Minutes before a planned call or meeting its reminder goes out.
    #[arg(long, env = "VORONKA_REMINDER_LEAD_MINUTES", default_value_t = 15)]
    pub reminder_lead_minutes: u32,
    /// A reverse proxy in front of Voronka (repeat, or separate with
    /// commas): its `X-Forwarded-For` names the client, so website forms
    /// limit each visitor rather than the proxy.
    #[arg(
        long = "trusted-proxy",
        env = "VORONKA_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let metrics = StoreMetrics::register(&registry).context("cannot register metrics")?;
    let store = database::open(&args.db.url, metrics, true).await?;
    let clock: Arc<dyn voronka_core::Clock> = Arc::new(SystemClock);
    let directory = Arc::new(
        Directory::open(store.clone(), clock.clone())
            .await
            .context("cannot read the users")?,
    );
    let processes = Arc::new(
        publications::open_registry(&store)
            .await
            .context("cannot read the published process definitions")?,
    );
    let deals = Arc::new(DealService::new(store.clone(), processes, clock.clone()));
    let reports = Arc::new(
        Reports::start(
            store.clone(),
            &voronka_projections::db::read_db_url_for(&args.db.url),
            deals.clone(),
            clock.clone(),
            ProjectionMetrics::register(&registry).context("cannot register metrics")?,
        )
        .await
        .context("cannot start the report projections")?,
    );
    let deliverer = voronka_webhooks::Deliverer::start(
        store.clone(),
        reports.db().clone(),
        clock.clone(),
        voronka_webhooks::DelivererConfig {
            metrics: voronka_webhooks::WebhookMetrics::register(&registry)
                .context("cannot register metrics")?,
            ..Default::default()
        },
    )
    .await
    .context("cannot start the webhook deliverer")?;
    let webhooks = Arc::new(voronka_app::webhooks::Webhooks::new(
        store.clone(),
        clock.clone(),
        reports.db().clone(),
    ));
    let crm = Arc::new(
        Crm::open(store.clone(), clock, directory.clone(), deals)
            .await
            .context("cannot read the event log")?,
    );
    // One transport for notification e-mail and mailings; a bad --smtp is
    // refused before anything is seeded.
    let transport: Arc<dyn voronka_mail::MailTransport> = match &args.smtp {
        Some(url) => Arc::new(
            voronka_mail::SmtpMailer::new(url, &args.mail_from)
                .map_err(|error| anyhow::anyhow!("--smtp / --mail-from: {error}"))?,
        ),
        None => Arc::new(voronka_mail::NoMail),
    };
    if args.demo {
        crate::demo::seed(&crm).await?;
    }
    let timers = voronka_app::timers::Timers::start(
        crm.clone(),
        reports.db().clone(),
        voronka_app::timers::TimersConfig {
            reminder_lead: chrono::Duration::minutes(i64::from(args.reminder_lead_minutes)),
            ..Default::default()
        },
    )
    .await
    .context("cannot start the timers")?;
    let mailer = voronka_app::mail::Mailer::start(
        crm.clone(),
        reports.db().clone(),
        transport.clone(),
        voronka_app::mail::MailConfig::default(),
    )
    .await
    .context("cannot start the notification mailer")?;
    if directory
        .is_empty()
        .await
        .context("cannot read the users")?
    {
        tracing::warn!(
            "no users yet: create the first with `voronka user add --role administrator`"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let bound = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let mailings = voronka_app::mailings::Mailings::new(crm.clone(), transport, public_url);
    let resumed = mailings
        .resume()
        .await
        .context("cannot read the mailings")?;
    if resumed > 0 {
        tracing::info!(resumed, "unfinished mailings resumed");
    }
    tracing::info!(addr = %bound, db = %database::redact(&args.db.url), "voronka is serving");
    println!("voronka listening on http://{bound}");
    let router = voronka_gateway::router(voronka_gateway::Gateway {
        store: store.clone(),
        registry,
        directory,
        crm,
        reports,
        webhooks,
        mailings,
        login_throttle: Default::default(),
        trusted_proxies: Arc::new(voronka_gateway::client_address::TrustedProxies::new(
            args.trusted_proxies.clone(),
        )),
        public_url: args.public_url.clone(),
    });
    voronka_gateway::serve(listener, router, shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    deliverer.stop().await;
    timers.stop().await;
    mailer.stop().await;
    store.close().await;
    tracing::info!("voronka stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
