//! The command line: `serve` (default), `migrate`, `seed --products N`,
//! `create-admin --email E` (password on stdin).

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
            let url = settings.database.url.expose_secret();
            db::pool::create_database_if_missing(url).await?;
            db::migrate::run_migrations(url).await?;
            let pool = db::pool::build_pool(&settings.database)?;
            let mut conn = db::pool::connection(&pool).await?;
            let added = db::seed::seed(&mut conn, products).await?;
            println!("seeded: {added} added, {products} demo products present");
        }
        Command::CreateAdmin { email } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let url = settings.database.url.expose_secret();
            db::pool::create_database_if_missing(url).await?;
            db::migrate::run_migrations(url).await?;
            let pool = db::pool::build_pool(&settings.database)?;
            let mut conn = db::pool::connection(&pool).await?;
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
    }
    Ok(())
}
