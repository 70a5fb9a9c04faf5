//! Searching the Licenses list by text (product name, product code, certificate id, feature)
//! through an index, so a search costs the rows it finds rather than every installed license.
//!
//! - **SQLite**: the FTS5 table `certificates_search` (trigram tokenizer: any substring of three
//!   characters or more, case folded for every alphabet), filled by a trigger on each insert into
//!   `certificates` (migration 24) and emptied with them ([`clear`]).
//! - **PostgreSQL**: trigram GIN indexes (`pg_trgm`) on the lower-cased columns, which serve the
//!   very `LIKE` that is written. They are made at start ([`prepare`], concurrently), since the extension may be
//!   missing (Debian's `postgresql-contrib`) or not permitted: then the search reads every row, as
//!   before, and the log says so.
//!
//! A search shorter than three characters is shorter than a trigram: no index of substrings can
//! serve it, and as a `LIKE` it read every license (2.3 s at 500,000). It searches product names,
//! product codes and features only ([`short`]): each column's distinct values, few however many
//! licenses there are, are read from its index by a loose index scan and matched here (case
//! folded in every alphabet), and the licenses are those with a value that matched. A piece of
//! one or two characters of a certificate id names no license worth finding.
//!
//! On SQLite a search in ASCII that the index finds in more than [`SELECTIVE_MAX`] licenses is
//! a `LIKE` over every row: reading most licenses is cheaper than looking each one up.
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, IdenStatic, Statement,
};

use super::entity::certificate;
use crate::error::AppError;

/// The shortest search an index serves: a trigram's length.
pub const MIN_INDEXED_CHARS: usize = 3;

/// The columns searched, each under its PostgreSQL index.
const INDEXED: [(&str, &str); 4] = [
    ("idx_certificates_search_product_name", "product_name"),
    ("idx_certificates_search_product", "product"),
    ("idx_certificates_search_id", "id"),
    ("idx_certificates_search_feature", "feature"),
];

/// The most licenses a search reads through SQLite's index. A word most licenses share
/// ("agent" in 50,000) is found faster by reading the licenses themselves than by looking each
/// one up from the index (measured: 428 ms against about 25 ms); so the index is asked for one
/// more than this, and only a search it answers within the limit is read through it.
pub const SELECTIVE_MAX: u64 = 1000;

/// The question asked of SQLite's index first: the ids of the licenses a phrase is in, up to a
/// limit.
pub const PROBE: &str = "SELECT certificate_id FROM certificates_search \
                         WHERE certificates_search MATCH ? LIMIT ?";

/// The condition a certificate meets when `text` (already trimmed, not empty) is in one of its
/// searched columns, whatever its case. On SQLite a search of three characters or more first asks
/// the index: the ids it finds, when they are at most [`SELECTIVE_MAX`]; otherwise, and for a
/// shorter search, a `LIKE` over every license. PostgreSQL's planner makes that choice itself,
/// from the trigram index's statistics.
pub async fn condition(db: &impl ConnectionTrait, text: &str) -> Result<Condition, AppError> {
    let backend = db.get_database_backend();
    if text.chars().count() < MIN_INDEXED_CHARS {
        return short(db, text).await;
    }
    if backend == DbBackend::Sqlite {
        // A phrase: the text as it is, its double quotes doubled (FTS5's only escape in one).
        let phrase = format!("\"{}\"", text.replace('"', "\"\""));
        let found = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                PROBE,
                [phrase.clone().into(), (SELECTIVE_MAX + 1).into()],
            ))
            .await?;
        if found.len() as u64 <= SELECTIVE_MAX {
            let ids = found
                .iter()
                .map(|row| row.try_get_by_index::<String>(0))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Condition::all().add(certificate::Column::Id.is_in(ids)));
        }
        // SQLite's `lower()` folds ASCII letters only: a search in another alphabet is read
        // through the index however many it finds, so that its case never matters.
        if !text.is_ascii() {
            return Ok(Condition::all().add(Expr::cust_with_values(
                "\"certificates\".\"id\" IN (SELECT certificate_id FROM certificates_search \
                 WHERE certificates_search MATCH ?)",
                [phrase],
            )));
        }
    }
    Ok(scan(backend, text))
}

/// The columns a search shorter than a trigram reads, each with an index that starts with it
/// (for the feature, migration 29's partial one).
pub const SHORT: [certificate::Column; 3] = [
    certificate::Column::ProductName,
    certificate::Column::Product,
    certificate::Column::Feature,
];

/// The condition for a search shorter than a trigram: a product name, product code or feature
/// with `text` in it, whatever its case. Each column's distinct values are read by a loose index
/// scan (one seek per value: an installation has tens of products, not thousands) and matched
/// here, with Rust's case folding of every alphabet (SQLite's `lower()` folds ASCII only).
async fn short(db: &impl ConnectionTrait, text: &str) -> Result<Condition, AppError> {
    let folded = text.to_lowercase();
    let mut any = Condition::any();
    for column in SHORT {
        let values = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                distinct_values(column),
            ))
            .await?;
        let mut matched = Vec::new();
        for row in values {
            let value: String = row.try_get_by_index(0)?;
            if value.to_lowercase().contains(&folded) {
                matched.push(value);
            }
        }
        if !matched.is_empty() {
            any = any.add(column.is_in(matched));
        }
    }
    // Nothing matched: a condition no license meets (an empty `any` would be none at all).
    if any.is_empty() {
        any = any.add(certificate::Column::Id.is_in(Vec::<String>::new()));
    }
    Ok(any)
}

/// The question for a column's distinct values, in order. The recursive step asks the index for
/// the next value after the last: a skip through the index, where `DISTINCT` would read every
/// entry. The same SQL on both databases.
pub fn distinct_values(column: certificate::Column) -> String {
    let name = column.as_str();
    format!(
        "WITH RECURSIVE v(x) AS (\
         SELECT MIN({name}) FROM certificates WHERE {name} IS NOT NULL \
         UNION ALL \
         SELECT (SELECT MIN({name}) FROM certificates WHERE {name} > v.x) \
         FROM v WHERE v.x IS NOT NULL) \
         SELECT x FROM v WHERE x IS NOT NULL"
    )
}

/// The condition as a `LIKE` of each searched column, which PostgreSQL's trigram indexes serve
/// and SQLite reads row by row.
fn scan(backend: DbBackend, text: &str) -> Condition {
    // Folded as the database's `lower()` folds the column: SQLite's folds ASCII letters only (it
    // scans for a search in ASCII only), PostgreSQL's every letter.
    let folded = if backend == DbBackend::Sqlite {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    };
    // `%`, `_` and the escape itself are taken literally.
    let escaped = folded
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = format!("%{escaped}%");
    use certificate::Column as C;
    [C::ProductName, C::Product, C::Id, C::Feature]
        .into_iter()
        .fold(Condition::any(), |any, column| {
            any.add(
                Expr::expr(Func::lower(Expr::col(column)))
                    .like(LikeExpr::new(pattern.clone()).escape('\\')),
            )
        })
}

/// Makes PostgreSQL's trigram indexes if they are missing or a failed build left one invalid (on
/// SQLite, migration 24 made the index). `Ok(false)` when they cannot be made: the extension is
/// not installed or not permitted.
///
/// Each index is built `CONCURRENTLY`: instances already serving (a rolling upgrade) keep writing
/// certificates while it builds. Such a build cannot run in a transaction, so it runs on a
/// connection of its own, holding a session advisory lock: instances starting at once build one
/// after the other, and an index found invalid under the lock is the leftover of a build that
/// failed or was killed (never one another instance is still making), so it is dropped and made
/// again. The connection is closed at the end, and the lock with it, whatever happens.
pub async fn prepare(db: &DatabaseConnection) -> Result<bool, AppError> {
    use sea_orm::sqlx::{AssertSqlSafe, Connection, postgres::PgConnection};
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(true);
    }
    if valid(db).await?.len() == INDEXED.len() {
        return Ok(true);
    }
    let options = db.get_postgres_connection_pool().connect_options();
    let mut own = PgConnection::connect_with(&options)
        .await
        .map_err(database)?;
    // Tried, not waited for: a statement waiting on the lock keeps its snapshot, and the
    // holder's `CREATE INDEX CONCURRENTLY` waits for every older snapshot to go, a deadlock
    // PostgreSQL ends by failing the waiter. Each try ends at once, so the build never waits
    // on it.
    while !sea_orm::sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(BUILD_LOCK)
        .fetch_one(&mut own)
        .await
        .map_err(database)?
    {
        tokio::time::sleep(BUILD_LOCK_RETRY).await;
    }
    if let Err(e) = sea_orm::sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .execute(&mut own)
        .await
    {
        tracing::warn!(error = %e, "the pg_trgm extension cannot be created");
        return Ok(false);
    }
    let made = valid(db).await?;
    for (index, column) in INDEXED {
        if made.iter().any(|v| v == index) {
            continue;
        }
        tracing::info!(index, "making a search index (concurrently: writes go on)");
        let remade = async {
            // An invalid leftover would make `IF NOT EXISTS` skip the build.
            // The names and columns are this module's constants.
            sea_orm::sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {index}"
            )))
            .execute(&mut own)
            .await?;
            sea_orm::sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON certificates \
                 USING gin (lower({column}) gin_trgm_ops)"
            )))
            .execute(&mut own)
            .await
        };
        if let Err(e) = remade.await {
            tracing::warn!(error = %e, index, "a search index cannot be made");
        }
    }
    // Closing the connection ends its session, and the advisory lock with it.
    if let Err(e) = own.close().await {
        tracing::debug!(error = %e, "closing the index builder's connection");
    }
    Ok(valid(db).await?.len() == INDEXED.len())
}

/// The session advisory lock held while the search indexes are built: a constant all instances
/// share (the ASCII of "trgm").
const BUILD_LOCK: i64 = 0x7472_676d;

/// How long an instance waiting for another's index build sleeps between tries of the lock.
const BUILD_LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

fn database(e: sea_orm::sqlx::Error) -> AppError {
    crate::error::internal(format_args!("database: {e}"))
}

/// The names of PostgreSQL's search indexes that exist and are valid (a concurrent build that
/// failed leaves its index present but invalid: the planner never reads it).
pub async fn valid(db: &impl ConnectionTrait) -> Result<Vec<String>, AppError> {
    let names: Vec<sea_orm::Value> = INDEXED.iter().map(|(i, _)| (*i).into()).collect();
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE i.indrelid = to_regclass('certificates') AND i.indisvalid \
                 AND c.relname IN ({})",
                placeholders.join(", ")
            ),
            names,
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "name").map_err(AppError::from))
        .collect()
}

/// Empties SQLite's search table when every certificate is deleted (in the same transaction). A
/// row left behind could match nothing (the search reads certificates whose id it finds), but
/// would take room.
pub async fn clear(db: &impl ConnectionTrait) -> Result<(), AppError> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("DELETE FROM certificates_search")
            .await?;
    }
    Ok(())
}
