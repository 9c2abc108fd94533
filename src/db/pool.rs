//! The connection pool, database creation and embedded migrations.

use std::time::Duration;

use anyhow::Context;
use deadpool::Runtime;
use diesel::{sql_query, sql_types::Text, ConnectionError, ConnectionResult, QueryableByName};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use secrecy::ExposeSecret;

use super::DbError;
use crate::configuration::DatabaseSettings;

pub type DbPool = Pool<AsyncPgConnection>;
pub type PooledConn = Object<AsyncPgConnection>;

/// Builds the pool. Connections open lazily, so this succeeds while PostgreSQL is down.
/// Each connection gets `statement_timeout` as it opens, so a hung query (a lock wait
/// included) ends with an error instead of holding its connection and its caller.
pub fn build_pool(settings: &DatabaseSettings) -> anyhow::Result<DbPool> {
    let statement_timeout_ms = settings.statement_timeout_ms;
    let drivers = super::drivers::handle()?;
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.custom_setup = Box::new(move |url| {
        // Opened on the driver runtime, so the connection's I/O task outlives any worker.
        let open = drivers.spawn(open(url.to_string(), statement_timeout_ms));
        Box::pin(async move {
            open.await
                .map_err(|e| ConnectionError::BadConnection(e.to_string()))?
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        settings.url.expose_secret(),
        config,
    );
    let timeout = Some(Duration::from_millis(settings.pool_timeout_ms));
    Pool::builder(manager)
        .max_size(settings.pool_max_size)
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .runtime(Runtime::Tokio1)
        .build()
        .context("building the PostgreSQL connection pool")
}

/// One pooled connection, with its `statement_timeout`.
async fn open(url: String, statement_timeout_ms: u64) -> ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(&url).await?;
    conn.batch_execute(&format!("SET statement_timeout = {statement_timeout_ms}"))
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Takes a connection from the pool, mapping every pool failure to `Unavailable`.
pub async fn connection(pool: &DbPool) -> Result<PooledConn, DbError> {
    pool.get()
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))
}

#[derive(QueryableByName)]
struct DatabaseName {
    #[diesel(sql_type = Text)]
    datname: String,
}

/// Creates the configured database when it does not exist, by connecting to the
/// server's `postgres` database. Safe to race with another instance doing the same.
pub async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let mut parsed = url::Url::parse(url).context("parsing DATABASE_URL")?;
    let name = parsed.path().trim_start_matches('/').to_string();
    parsed.set_path("/postgres");
    let mut conn = AsyncPgConnection::establish(parsed.as_str())
        .await
        .context("connecting to the PostgreSQL server's `postgres` database")?;
    if database_exists(&mut conn, &name).await? {
        return Ok(());
    }
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    if let Err(e) = sql_query(create).execute(&mut conn).await {
        // Another instance may have created it between our check and our CREATE.
        if !database_exists(&mut conn, &name).await? {
            return Err(e).context("creating the database");
        }
    }
    tracing::info!(database = %name, "created database");
    Ok(())
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> anyhow::Result<bool> {
    let rows: Vec<DatabaseName> = sql_query("SELECT datname FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .load(conn)
        .await
        .context("looking up the database")?;
    Ok(rows.iter().any(|r| r.datname == name))
}
