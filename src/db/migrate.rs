//! Embedded migrations, run at start-up and by `catalog-cache migrate`.

use anyhow::Context;
use diesel::{sql_query, RunQueryDsl};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// Migrations from `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Any fixed number will do: it only has to be the same on every instance.
const MIGRATION_LOCK_ID: i64 = 0x0063_6174_616c_6f67;

/// Runs pending migrations under a PostgreSQL advisory lock, so instances starting
/// together do not race. Diesel's harness is synchronous, hence the blocking thread.
pub async fn run_migrations(url: &str) -> anyhow::Result<()> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection as _;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to run migrations")?;
        sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
            .execute(&mut conn)
            .context("taking the migration lock")?;
        let result = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"));
        sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
            .execute(&mut conn)
            .context("releasing the migration lock")?;
        let applied = result?;
        if applied > 0 {
            tracing::info!(applied, "applied migrations");
        }
        Ok(())
    })
    .await
    .context("migration task panicked")?
}
