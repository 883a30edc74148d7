//! `voronka user add`: create a user from the command line, in particular
//! the first administrator, before anyone can sign in to create others.
//!
//! The password comes from the `VORONKA_PASSWORD` environment variable or,
//! when it is unset, one line of standard input; never from a flag, because
//! flags show in `ps` and shell history. The command acts as the system
//! actor `voronka-cli`: whoever runs it already holds the database.

use crate::database::{self, DbArgs};
use anyhow::{bail, Context};
use std::collections::BTreeSet;
use std::io::BufRead;
use std::sync::Arc;
use voronka_app::access::check_password_policy;
use voronka_app::directory::{Directory, NewUser};
use voronka_core::{Actor, Role, SystemClock};
use voronka_store::StoreMetrics;

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from VORONKA_PASSWORD or one line of stdin.
    Add(AddArgs),
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// The user's e-mail, used to log in (unique, ignoring case).
    #[arg(long)]
    email: String,
    /// A role (administrator, director, head_of_department, manager, operator, ...); repeatable.
    #[arg(long = "role", required = true, value_parser = parse_role)]
    roles: Vec<Role>,
    /// The department's name; created as a top-level department if none has it.
    #[arg(long)]
    department: String,
    /// The name shown to others; the e-mail when omitted.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    db: DbArgs,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role `{text}`; known: {}", known.join(", "))
    })
}

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => add(args).await,
    }
}

async fn add(args: AddArgs) -> anyhow::Result<()> {
    let password = read_password()?;
    // Checked before the database is touched, so a refused password
    // leaves nothing behind (the directory checks it again when adding).
    check_password_policy(&password, &args.email)
        .with_context(|| format!("cannot add user {}", args.email.trim()))?;
    let store = database::open(&args.db.url, StoreMetrics::unregistered(), true).await?;
    let outcome = add_with(&store, args, password).await;
    store.close().await;
    let (id, email) = outcome?;
    println!("user {email} added with id {id}");
    Ok(())
}

async fn add_with(
    store: &Arc<dyn voronka_store::EventStore>,
    args: AddArgs,
    password: String,
) -> anyhow::Result<(voronka_app::access::UserId, String)> {
    let directory = Directory::open(store.clone(), Arc::new(SystemClock))
        .await
        .context("cannot read the users")?;
    let by = Actor::system("voronka-cli");
    let department = match directory
        .department_named(&args.department, None)
        .await
        .context("cannot read the departments")?
    {
        Some(existing) => existing.id,
        None => directory
            .add_department(&args.department, None, &by)
            .await
            .with_context(|| format!("cannot create department `{}`", args.department))?,
    };
    let new = NewUser {
        display_name: args.name.unwrap_or_else(|| args.email.clone()),
        email: args.email.clone(),
        password,
        roles: args.roles.into_iter().collect::<BTreeSet<_>>(),
        department,
    };
    let id = directory
        .add_user(new, &by)
        .await
        .with_context(|| format!("cannot add user {}", args.email.trim()))?;
    Ok((id, args.email.trim().to_owned()))
}

/// `VORONKA_PASSWORD`, else one line of standard input (without its line
/// ending). The value is never printed.
fn read_password() -> anyhow::Result<String> {
    if let Some(value) = std::env::var_os("VORONKA_PASSWORD") {
        return value
            .into_string()
            .map_err(|_| anyhow::anyhow!("VORONKA_PASSWORD is not valid UTF-8"));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("no password: set VORONKA_PASSWORD or write it as one line on standard input");
    }
    Ok(password.to_owned())
}
