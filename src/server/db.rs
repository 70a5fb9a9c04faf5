//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use super::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum DbStartError {
    #[error("TESSERA_DATABASE_URL: cannot create the folder {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("TESSERA_DATABASE_URL: cannot connect to the database: {0}")]
    Connect(sea_orm::DbErr),
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(sea_orm::DbErr),
}

/// Opens the pool. SQLite runs in WAL mode with `synchronous=FULL`, so a confirmed write survives
/// power loss, and waits for a busy database instead of failing.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbStartError> {
    let mut url = config.database_url.clone();
    if let Some(dir) = config.sqlite_dir() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| DbStartError::Folder(dir.display().to_string(), e))?;
    }
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        url.push_str(if url.contains('?') {
            "&mode=rwc"
        } else {
            "?mode=rwc"
        });
    }
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        // Short, so that while the database is down a request is answered 503 within about
        // two seconds rather than held; a healthy pool hands out a connection in microseconds.
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(2))
        .max_connections(if sqlite { 8 } else { 16 })
        .min_connections(1)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options)
        .await
        .map_err(DbStartError::Connect)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbStartError> {
    Migrator::up(db, None).await.map_err(DbStartError::Migrate)
}
