//! License status in SQL: the pure status of `licenses::domain`, as a condition a query can
//! filter and sort by (a test checks the two agree on every combination of a certificate's fields).
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::Ledger;
use crate::error::AppError;
use crate::licenses::domain::Status;
use crate::licenses::entity::certificate;
use crate::licenses::format::{Binding, LicenseType};

/// The SQL condition for "has this status at `now`", mirroring [`crate::licenses::domain::status`].
pub fn status_condition(s: Status, now: i64) -> Condition {
    use certificate::Column as C;
    let not_revoked = C::RevokedBy.is_null();
    let within_not_after = Condition::any()
        .add(C::NotAfterAt.is_null())
        .add(C::NotAfterAt.gt(now));
    let still_valid = Condition::any()
        .add(C::Permanent.eq(true))
        .add(C::ExpiresAt.is_null())
        .add(C::ExpiresAt.gt(now));
    let live = Condition::all()
        .add(not_revoked.clone())
        .add(C::EndedReason.is_null())
        .add(within_not_after.clone());
    match s {
        Status::Revoked => Condition::all().add(C::RevokedBy.is_not_null()),
        Status::Unused => live.add(C::ActivatedAt.is_null()),
        Status::Activated => live.add(C::ActivatedAt.is_not_null()).add(still_valid),
        Status::Expired => Condition::all().add(not_revoked).add(
            Condition::any()
                .add(C::EndedReason.is_not_null())
                .add(C::NotAfterAt.lte(now))
                .add(
                    Condition::all()
                        .add(C::ActivatedAt.is_not_null())
                        .add(C::Permanent.eq(false))
                        .add(C::ExpiresAt.lte(now)),
                ),
        ),
    }
}

/// The stored rank's column (migration 25): the status's place in the Licenses list's sort
/// (Unused 0, Activated 1, Expired 2, Revoked 3). The database keeps it from the certificate's
/// own columns; time's part is [`expire_ranks`]'. Not in the entity: no code writes it.
pub const RANK_COLUMN: &str = "status_rank";

/// When the stored rank lapses to Expired (null when it cannot).
const RANK_UNTIL_COLUMN: &str = "status_rank_until";

/// Expired's place in the sort.
const EXPIRED_RANK: i16 = 2;

/// Gives the stored rank of Expired to each certificate whose rank lapsed by `now` (its
/// `not_after`, or an activated license's expiry, has passed), through the index of the time it
/// lapses: the cost is the licenses that lapsed. The sweeper runs it; until then (at most one
/// sweep) such a license sorts among its former status, while its row, the status filter and
/// [`live_count`] already say Expired. Answers how many changed.
///
/// A lapse moves licenses out of their pool's live count (migration 28): it is a change of the
/// ledger, holding the installation row as every administrative change does (on PostgreSQL, the
/// lock that orders the counters' row locks). Nothing lapsed, nothing is written.
pub async fn expire_ranks(ledger: &Ledger, now: i64) -> Result<u64, AppError> {
    let until = Alias::new(RANK_UNTIL_COLUMN);
    let due = Query::select()
        .expr(Expr::val(1))
        .from(certificate::Entity)
        .and_where(Expr::col(until.clone()).lte(now))
        .limit(1)
        .to_owned();
    if ledger.db.query_one(&due).await?.is_none() {
        return Ok(0);
    }
    let mut change = ledger.begin().await?;
    // No grant rests on the stored rank: checkout reads the certificate's own columns.
    change.reaches(None);
    let lapse = Query::update()
        .table(certificate::Entity)
        .value(Alias::new(RANK_COLUMN), EXPIRED_RANK)
        .value(until.clone(), Option::<i64>::None)
        .and_where(Expr::col(until).lte(now))
        .to_owned();
    let lapsed = change.execute(&lapse).await?.rows_affected();
    change.commit_unaudited().await?;
    Ok(lapsed)
}

/// How many licenses of a type and binding (`None`: licenses without one) are Unused or
/// Activated at `now`, in every pool: the counts the database keeps by pool (migration 28), less
/// the licenses among them whose rank lapsed and that the sweeper has not marked yet, read
/// through the index of the time ranks lapse and nothing else (few: those of one sweep's time).
/// Its cost is the installation's tenants, not its licenses.
pub async fn live_count(
    db: &impl ConnectionTrait,
    license_type: LicenseType,
    binding: Option<Binding>,
    now: i64,
) -> Result<u64, AppError> {
    let binding = binding.map_or("", Binding::as_str);
    let counted = Query::select()
        // PostgreSQL sums a bigint to a numeric: cast back.
        .expr(Expr::cust("CAST(COALESCE(SUM(live), 0) AS BIGINT)"))
        .from(Alias::new(COUNTS_TABLE))
        .and_where(Expr::col(Alias::new("license_type")).eq(license_type.as_str()))
        .and_where(Expr::col(Alias::new("binding")).eq(binding))
        .to_owned();
    let counted: i64 = match db.query_one(&counted).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    use certificate::Column as C;
    let lapsed: Vec<(String, Option<String>, i16)> = certificate::Entity::find()
        .select_only()
        .column(C::LicenseType)
        .column(C::Binding)
        .column_as(Expr::col(Alias::new(RANK_COLUMN)), "rank")
        .filter(Expr::col(Alias::new(RANK_UNTIL_COLUMN)).lte(now))
        .into_tuple()
        .all(db)
        .await?;
    let lapsed = lapsed
        .iter()
        .filter(|(t, b, rank)| {
            t == license_type.as_str()
                && b.as_deref().unwrap_or("") == binding
                && *rank < EXPIRED_RANK
        })
        .count();
    Ok(u64::try_from(counted)
        .unwrap_or(0)
        .saturating_sub(lapsed as u64))
}

/// The table of each pool's live count (migration 28).
const COUNTS_TABLE: &str = "certificate_counts";
