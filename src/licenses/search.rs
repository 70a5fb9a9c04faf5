//! Searching the Licenses list by text (product name, product code, certificate id, feature)
//! through an index, so a search costs the rows it finds rather than every installed license.
//!
//! - **SQLite**: the FTS5 table `certificates_search` (trigram tokenizer: any substring of three
//!   characters or more, case folded for every alphabet), filled by a trigger on each insert into
//!   `certificates` (migration 24) and emptied with them ([`clear`]).
//! - **PostgreSQL**: trigram GIN indexes (`pg_trgm`) on the lower-cased columns, which serve the
//!   very `LIKE` that is written. They are made at start ([`prepare`]), since the extension may be
//!   missing (Debian's `postgresql-contrib`) or not permitted: then the search reads every row, as
//!   before, and the log says so.
//!
//! A search shorter than three characters matches too much for an index to help: it is a `LIKE`
//! over every row on both databases (the page is still bounded: 50 rows), and on SQLite it folds
//! the case of ASCII letters only. So is, on SQLite, a search in ASCII that the index finds in more
//! than [`SELECTIVE_MAX`] licenses: reading most licenses is cheaper than looking each one up.
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend, Statement};

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
    if backend == DbBackend::Sqlite && text.chars().count() >= MIN_INDEXED_CHARS {
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

/// The condition as a `LIKE` of each searched column, which PostgreSQL's trigram indexes serve
/// and SQLite reads row by row.
fn scan(backend: DbBackend, text: &str) -> Condition {
    // Folded as the database's `lower()` folds the column: SQLite's folds ASCII letters only
    // (so a short search in another alphabet matches its own case), PostgreSQL's every letter.
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

/// Makes PostgreSQL's trigram indexes if they are missing (on SQLite, migration 24 made the
/// index). `Ok(false)` when they cannot be made: the extension is not installed or not permitted.
/// Several instances starting at once may race to make them: one wins, the others' errors are
/// only "already exists", and every later start finds them.
pub async fn prepare(db: &impl ConnectionTrait) -> Result<bool, AppError> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(true);
    }
    if present(db).await? {
        return Ok(true);
    }
    if let Err(e) = db
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .await
    {
        tracing::warn!(error = %e, "the pg_trgm extension cannot be created");
        return Ok(false);
    }
    for (index, column) in INDEXED {
        let made = db
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {index} ON certificates \
                 USING gin (lower({column}) gin_trgm_ops)"
            ))
            .await;
        if let Err(e) = made {
            tracing::warn!(error = %e, index, "a search index cannot be made");
        }
    }
    present(db).await
}

/// Whether all of PostgreSQL's search indexes exist.
async fn present(db: &impl ConnectionTrait) -> Result<bool, AppError> {
    let names: Vec<sea_orm::Value> = INDEXED.iter().map(|(i, _)| (*i).into()).collect();
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'certificates' \
                 AND indexname IN ({})",
                placeholders.join(", ")
            ),
            names,
        ))
        .await?;
    let found: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(found == INDEXED.len() as i64)
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
