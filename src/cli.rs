//! The command line: `serve` (default), `migrate`, `seed --products N`,
//! `create-admin --email E` (password on stdin), `set-role --email E --role user|admin`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::configuration::Settings;
use crate::startup::Application;
use crate::{auth, db, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "catalog-cache",
    version,
    about = "A product catalogue API behind a two-level cache"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Insert deterministic demo products 1..=N (idempotent).
    Seed {
        /// How many products should exist.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        products: u32,
    },
    /// Create an admin account (or make an existing one admin); reads the password from
    /// the first line of standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
    },
    /// Give an existing account the role `user` or `admin`; its signed-in sessions follow
    /// within `session.account_cache_ms` (at most a second) on every instance.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["user", "admin"])]
        role: String,
    },
}

/// Loads settings, sets up logging and runs the chosen command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await.context("serving")?;
        }
        Command::Migrate => {
            let url = settings.database.url.expose_secret();
            db::pool::create_database_if_missing(url).await?;
            db::migrate::run_migrations(url).await?;
            println!("migrations applied");
        }
        Command::Seed { products } => {
            let mut conn = migrated_connection(&settings).await?;
            let added = db::seed::seed(&mut conn, products).await?;
            println!("seeded: {added} added, {products} demo products present");
        }
        Command::CreateAdmin { email } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let mut conn = migrated_connection(&settings).await?;
            let admin = auth::accounts::ensure_admin(
                &mut conn,
                &auth::password::Hasher::new(&settings.auth),
                &email,
                password,
            )
            .await
            .map_err(|e| match e {
                auth::AuthError::Invalid(fields) => {
                    let why: Vec<String> = fields
                        .iter()
                        .map(|f| format!("{} {}", f.field, f.message))
                        .collect();
                    anyhow::anyhow!("invalid: {}", why.join("; "))
                }
                other => anyhow::anyhow!(other),
            })?;
            println!("admin {} (id {}) ready", admin.email, admin.id);
        }
        Command::SetRole { email, role } => {
            let role = auth::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role must be user or admin"))?;
            let mut conn = migrated_connection(&settings).await?;
            let account = auth::accounts::set_role(&mut conn, &email, role)
                .await
                .map_err(|e| match e {
                    auth::AuthError::UnknownAccount => {
                        anyhow::anyhow!("no account has the email {email}")
                    }
                    other => anyhow::anyhow!(other),
                })?;
            println!(
                "{} (id {}) is now {}; signed-in sessions follow within {} ms",
                account.email,
                account.id,
                account.role.as_str(),
                settings.session.account_cache_ms
            );
        }
    }
    Ok(())
}

/// A connection to the configured database, created and migrated first if need be.
async fn migrated_connection(settings: &Settings) -> anyhow::Result<db::PooledConn> {
    let url = settings.database.url.expose_secret();
    db::pool::create_database_if_missing(url).await?;
    db::migrate::run_migrations(url).await?;
    let pool = db::pool::build_pool(&settings.database)?;
    Ok(db::pool::connection(&pool).await?)
}
