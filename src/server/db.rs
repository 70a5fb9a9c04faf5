//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::{SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use super::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum DbStartError {
    #[error("TESSERA_DATABASE_URL: cannot create {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("TESSERA_DATABASE_URL: cannot connect to the database: {0}")]
    Connect(sea_orm::DbErr),
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(sea_orm::DbErr),
}

/// Opens the pool. SQLite runs in WAL mode with `synchronous=FULL`, so a confirmed write survives
/// power loss, waits for a busy database instead of failing, and plans each statement once
/// ([`plan_once`]).
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbStartError> {
    let mut url = config.database_url.clone();
    if let Some(dir) = config.sqlite_dir() {
        create_private_dir(&dir).map_err(|e| DbStartError::Folder(dir.display().to_string(), e))?;
    }
    // Unless the address asks for a mode of its own (read-only, in memory), the file is made
    // here rather than by SQLite's `mode=rwc`.
    if let Some(file) = config.sqlite_file().filter(|_| !url.contains("mode=")) {
        create_private_file(&file)
            .map_err(|e| DbStartError::Folder(file.display().to_string(), e))?;
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
        })
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(async move { plan_once(conn).await }))
        });
    Database::connect(options)
        .await
        .map_err(DbStartError::Connect)
}

/// Begins a transaction that writes: every one of Tessera's transactions does. On SQLite it takes
/// the write lock at `BEGIN` (`BEGIN IMMEDIATE`), waiting for it as long as the busy timeout
/// allows. A transaction begun the default way takes the lock at its first write, and if it read
/// before that while another connection committed a write, SQLite cannot let it write on its
/// stale snapshot and fails it at once ("database is locked", no waiting): an administrator's
/// save of a tenant's borrowing failed so while agents' last-seen times were written. PostgreSQL
/// ignores the mode. `TransactionTrait::begin` is disallowed in `clippy.toml` for this reason.
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    // The one place a transaction is begun.
    #[allow(clippy::disallowed_methods)]
    db.begin_with_options(options).await
}

/// Turns on SQLite's query planner stability guarantee for a new connection, so that a statement
/// is planned once for any values bound to it.
///
/// Without it, SQLite plans for the values bound where one could change the plan: a `LIMIT ?`
/// (sea-orm binds every limit, and `.one()` is `LIMIT ?`), a `LIKE ?`, a parameter matched
/// against a partial index's condition. Such a statement is marked to be prepared again whenever
/// that parameter is bound, which sqlx does on every execution of the statement it keeps
/// prepared: in a storm of first checkouts, 18 % of the server's CPU went to parsing and planning
/// the same statements again (BENCHMARKS.md, session 30). Tessera's questions need none of those
/// plans: its limits are small and their indexes give the order, its searches begin with `%`, and
/// the one partial index with a value in its condition is asked with that value as text
/// (`revokes <> '[]'`). The pages benchmark at 50,000 licenses measured nearly every page faster
/// with it, none slower beyond its run-to-run noise.
///
/// sqlx has no option for it, so the one call is made through the SQLite it links.
async fn plan_once(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    use libsqlite3_sys::{SQLITE_DBCONFIG_ENABLE_QPSG, SQLITE_OK, sqlite3_db_config};
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    let (on, mut now_on): (std::ffi::c_int, std::ffi::c_int) = (1, 0);
    // SAFETY: `db` is this connection's open handle, locked for this call (sqlx's worker does
    // not use it meanwhile). This option takes an int (1: on) and a pointer to an int where SQLite
    // writes the setting it now has; both are what SQLite's documentation of the option says.
    let rc = unsafe {
        sqlite3_db_config(
            db.as_ptr(),
            SQLITE_DBCONFIG_ENABLE_QPSG,
            on,
            &mut now_on as *mut std::ffi::c_int,
        )
    };
    if rc != SQLITE_OK || now_on != 1 {
        return Err(sqlx::Error::Configuration(
            format!("SQLite did not take the planner's stability guarantee (code {rc})").into(),
        ));
    }
    Ok(())
}

/// Creates the database's folder, and any folder above it that is missing, readable by the
/// owner only (0700): the file holds password hashes, session ids and agent token hashes. A
/// folder that exists already is left as it is.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the SQLite file, if missing, readable and writable by the owner only (0600), before
/// SQLite opens it (which would create it as the umask allows); SQLite gives its `-wal` and
/// `-shm` files the main file's permissions.
fn create_private_file(file: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbStartError> {
    Migrator::up(db, None).await.map_err(DbStartError::Migrate)
}

/// Whether this instance can serve: the database answers and holds exactly the schema this build
/// migrates to. `Err` says what is not so, in words for an operator (the details go to the log).
pub async fn readiness(db: &DatabaseConnection) -> Result<(), String> {
    if let Err(e) = db.ping().await {
        tracing::warn!(error = %e, "not ready: the database does not answer");
        return Err("the database does not answer".to_string());
    }
    // Fails too when the database holds a migration this build does not know (a newer one).
    let pending = Migrator::get_pending_migrations(db).await.map_err(|e| {
        tracing::warn!(error = %e, "not ready: the schema cannot be read");
        "the database schema cannot be read, or is newer than this build".to_string()
    })?;
    if pending.is_empty() {
        Ok(())
    } else {
        let names: Vec<&str> = pending.iter().map(|m| m.name()).collect();
        Err(format!(
            "the database schema is not current: {} migration(s) pending ({}); run `tessera migrate`",
            names.len(),
            names.join(", ")
        ))
    }
}
