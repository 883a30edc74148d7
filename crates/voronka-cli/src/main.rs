//! `voronka`: the one binary. It is the only place that names a storage
//! backend: the `--db` URL's scheme picks SQLite or PostgreSQL.

mod bench;
mod bench_import;
mod database;
mod debug;
mod demo;
mod export;
mod import;
mod rebuild;
mod serve;
mod user;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the projections' bulk rebuild
/// and the import allocate text on one thread and free it on another
/// (SQLite's writer), where glibc's malloc and free took about a third of
/// the writer thread's samples.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Voronka, the process CRM.
#[derive(Parser)]
#[command(name = "voronka", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and pages (migrates the database first).
    Serve(serve::ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: database::DbArgs,
    },
    /// Manage users (`voronka user add` creates the first administrator).
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Import companies, contacts, deals (with their history) or activities
    /// from a CSV file, acting as a user.
    Import(import::ImportArgs),
    /// Export a list (deals, companies, contacts, activities) as CSV or XLSX,
    /// as a user sees it.
    Export(export::ExportArgs),
    /// Rebuild report projections from the start of the event log.
    Rebuild(rebuild::RebuildArgs),
    /// Check process definition files; prints every error with its line and column.
    Validate {
        /// YAML process definitions.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Measure the event store.
    Bench {
        #[command(subcommand)]
        target: bench::BenchTarget,
    },
    /// Tools for Voronka's own tests.
    #[command(hide = true)]
    Debug {
        #[command(subcommand)]
        command: debug::DebugCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Migrate { db } => database::migrate(&db).await,
            Command::User { command } => user::run(command).await,
            Command::Import(args) => import::run(args).await,
            Command::Export(args) => export::run(args).await,
            Command::Rebuild(args) => rebuild::run(args).await,
            Command::Validate { files } => validate::run(&files),
            Command::Bench { target } => bench::run(target).await,
            Command::Debug { command } => debug::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One clear line, never a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VORONKA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
