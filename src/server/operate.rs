//! The operator's commands that work on the database itself, from the machine Tessera runs on:
//! where the schema stands, a consistent backup of a SQLite database while Tessera serves, its
//! restore (never over a database a running Tessera holds), and a user's new password when the
//! administrator's is lost. Whoever runs the binary against the database holds the installation
//! already: these take no sign-in.
use std::fs::File;
use std::path::{Path, PathBuf};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement};

use super::config::Config;
use super::db;

/// The lock file beside a SQLite database: every serving Tessera holds it shared, so a restore
/// (which takes it exclusively) knows the database is in use.
pub fn serving_lock(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".serving");
    PathBuf::from(name)
}

/// Held while Tessera serves a SQLite database (the file's lock is released when the process
/// ends, however it ends).
pub struct Serving(#[allow(dead_code)] File);

/// Marks the SQLite database of `config` as served by this process; `None` for PostgreSQL (whose
/// restores `pg_restore` does, in the operator's hands).
pub fn hold_serving(config: &Config) -> Result<Option<Serving>, String> {
    let Some(database) = config.sqlite_file() else {
        return Ok(None);
    };
    let path = serving_lock(&database);
    let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.lock_shared()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(Some(Serving(file)))
}

/// The migrations, each applied or pending, one a line; and whether the schema is current. A
/// SQLite file that does not exist yet is not made to say so: every migration is pending.
pub async fn migration_status(config: &Config) -> Result<String, String> {
    let all: Vec<(bool, String)> = if config.sqlite_file().is_some_and(|f| !f.exists()) {
        Migrator::migrations()
            .iter()
            .map(|m| (false, m.name().to_string()))
            .collect()
    } else {
        let db = db::connect(config).await.map_err(|e| e.to_string())?;
        Migrator::get_migration_with_status_read_only(&db)
            .await
            .map_err(|e| format!("cannot read the schema's migrations: {e}"))?
            .iter()
            .map(|m| {
                let applied = matches!(m.status(), migration::MigrationStatus::Applied);
                (applied, m.name().to_string())
            })
            .collect()
    };
    let mut text = String::new();
    let mut pending = 0;
    for (applied, name) in &all {
        pending += usize::from(!applied);
        text.push_str(&format!(
            "{} {name}\n",
            if *applied { "applied" } else { "pending" },
        ));
    }
    text.push_str(&match pending {
        0 => "the database schema is up to date\n".to_string(),
        n => format!("{n} migration(s) pending: run `tessera migrate`\n"),
    });
    Ok(text)
}

/// The number of the newest migration applied (`m20261204_000017_…` is 17).
async fn schema_version(db: &DatabaseConnection) -> Result<u32, String> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version DESC LIMIT 1",
        ))
        .await
        .map_err(|e| format!("cannot read the schema's version: {e}"))?
        .ok_or("the database has no schema: it is not a Tessera database")?;
    let name: String = row
        .try_get("", "version")
        .map_err(|e| format!("cannot read the schema's version: {e}"))?;
    name.split('_')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unknown migration {name:?}"))
}

async fn installation_id(db: &DatabaseConnection) -> Result<String, String> {
    crate::installation::entity::Entity::find()
        .one(db)
        .await
        .map_err(|e| format!("cannot read the installation: {e}"))?
        .map(|i| i.installation_id)
        .ok_or_else(|| "the database holds no installation yet: start Tessera once".to_string())
}

/// Writes a consistent copy of the SQLite database (SQLite's `VACUUM INTO`, which reads one
/// snapshot while Tessera goes on writing) to `out`: a file, or a folder to name it in
/// (`tessera-INSTALLATION-schemaN-YYYYMMDDTHHMMSSZ.db`). The copy is written beside its name
/// first, checked (`PRAGMA integrity_check`), then renamed: a crash leaves no half backup under
/// the name. Readable by its owner only, like the database. Answers the file written.
pub async fn backup(config: &Config, out: &Path) -> Result<PathBuf, String> {
    if config.sqlite_file().is_none() {
        return Err(
            "this database is PostgreSQL: back it up with pg_dump -Fc (docs/operations.md)"
                .to_string(),
        );
    }
    let db = db::connect(config).await.map_err(|e| e.to_string())?;
    let target = if out.is_dir() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        out.join(format!(
            "tessera-{}-schema{}-{stamp}.db",
            installation_id(&db).await?,
            schema_version(&db).await?
        ))
    } else {
        out.to_path_buf()
    };
    if target.exists() {
        return Err(format!(
            "{} exists: name a new file, or a folder",
            target.display()
        ));
    }
    let mut partial = target.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    // VACUUM INTO writes into an empty file: made first, for the owner only.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let written = async {
        let path = partial
            .to_str()
            .ok_or("the backup's path is not UTF-8")?
            .replace('\'', "''");
        db.execute_unprepared(&format!("VACUUM INTO '{path}'"))
            .await
            .map_err(|e| format!("the backup failed: {e}"))?;
        check_sqlite_file(&partial).await?;
        std::fs::rename(&partial, &target)
            .map_err(|e| format!("cannot name the backup {}: {e}", target.display()))
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.map(|()| target)
}

/// Opens `file` read-only and checks it is a whole SQLite database holding a Tessera schema
/// this build knows; answers its installation and schema version.
async fn check_sqlite_file(file: &Path) -> Result<(String, u32), String> {
    let path = file.to_str().ok_or("the file's path is not UTF-8")?;
    let db = sea_orm::Database::connect(format!("sqlite://{path}?mode=ro"))
        .await
        .map_err(|e| format!("{path} is not a SQLite database, or is damaged: {e}"))?;
    let checked = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA integrity_check",
        ))
        .await
        .map_err(|e| format!("{path} is not a SQLite database, or is damaged: {e}"))?;
    let verdict: Vec<String> = checked
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect();
    if verdict != ["ok"] {
        return Err(format!(
            "{path} is damaged: {}",
            verdict.join("; ").chars().take(300).collect::<String>()
        ));
    }
    let version = schema_version(&db).await?;
    let newest = Migrator::migrations()
        .last()
        .map(|m| m.name().to_string())
        .unwrap_or_default();
    let known: u32 = newest
        .split('_')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if version > known {
        return Err(format!(
            "{path} holds schema {version}, newer than this build's {known}: restore it with the Tessera that made it"
        ));
    }
    let installation = installation_id(&db).await?;
    db.close().await.map_err(|e| e.to_string())?;
    Ok((installation, version))
}

/// Puts the backup `file` in place of the SQLite database, once it is checked, and while no
/// Tessera serves the database (refused otherwise). The database it replaces is kept beside it
/// (`….replaced-TIME`). Answers what was done, in a sentence.
pub async fn restore(config: &Config, file: &Path) -> Result<String, String> {
    let Some(database) = config.sqlite_file() else {
        return Err(
            "this database is PostgreSQL: restore it with pg_restore (docs/operations.md)"
                .to_string(),
        );
    };
    let (installation, version) = check_sqlite_file(file).await?;
    // No Tessera may hold it meanwhile: the lock is kept until the new file is in place.
    let lock_path = serving_lock(&database);
    let lock = File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(format!(
                "Tessera is serving {}: stop it first (a restore never replaces a database in use)",
                database.display()
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", lock_path.display()));
        }
    }
    let mut incoming = database.as_os_str().to_owned();
    incoming.push(".restoring");
    let incoming = PathBuf::from(incoming);
    std::fs::copy(file, &incoming).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            file.display(),
            incoming.display()
        )
    })?;
    File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", incoming.display()))?;
    let kept = if database.exists() {
        let mut kept = database.as_os_str().to_owned();
        kept.push(format!(
            ".replaced-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        let kept = PathBuf::from(kept);
        std::fs::rename(&database, &kept)
            .map_err(|e| format!("cannot move {} aside: {e}", database.display()))?;
        // The old database's write-ahead log belongs to it, not to the one restored.
        for suffix in ["-wal", "-shm"] {
            let mut from = database.as_os_str().to_owned();
            from.push(suffix);
            let mut to = kept.as_os_str().to_owned();
            to.push(suffix);
            let from = PathBuf::from(from);
            if from.exists() {
                std::fs::rename(&from, PathBuf::from(to))
                    .map_err(|e| format!("cannot move {} aside: {e}", from.display()))?;
            }
        }
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&incoming, &database)
        .map_err(|e| format!("cannot put the backup in place: {e}"))?;
    drop(lock);
    Ok(format!(
        "restored installation {installation} (schema {version}) to {}{}",
        database.display(),
        kept.map(|k| format!("; the database it replaced is kept as {}", k.display()))
            .unwrap_or_default()
    ))
}

/// Gives the user named `name` a new password (`given`, or one made here, which is answered):
/// their sessions end, the sign-in throttle forgets their name, and the audit log records it.
pub async fn reset_password(
    config: &Config,
    name: &str,
    given: Option<String>,
) -> Result<String, String> {
    let db = db::connect(config).await.map_err(|e| e.to_string())?;
    db::readiness(&db).await?;
    let password = match given {
        Some(p) => p,
        None => crate::installation::first_start::random_password().map_err(|e| e.to_string())?,
    };
    let now = super::clock::Clock::default().now_ms();
    crate::users::store::reset_password_from_the_machine(
        &db,
        &crate::auth::server::passwords::PasswordHasher::default(),
        name,
        password.clone(),
        now,
    )
    .await
    .map_err(|e| match e {
        crate::error::AppError::Invalid {
            field: crate::error::Field::User,
            ..
        } => format!("there is no user named {name:?}"),
        crate::error::AppError::Invalid {
            field: crate::error::Field::Password,
            problem: crate::error::Problem::TooShort { min },
        } => format!("the new password is too short: use at least {min} characters"),
        crate::error::AppError::Invalid {
            field: crate::error::Field::Password,
            problem,
        } => format!("the new password is refused: {problem:?}"),
        other => other.to_string(),
    })?;
    Ok(password)
}
