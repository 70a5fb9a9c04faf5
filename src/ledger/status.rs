//! License status in SQL: the pure status of `licenses::domain`, as a condition a query can
//! filter and sort by (a test checks the two agree on every combination of a certificate's fields).
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr};

use crate::licenses::domain::Status;
use crate::licenses::entity::certificate;

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
/// sweep) such a license sorts among its former status, while its row and the status filter
/// already say Expired. Answers how many changed.
pub async fn expire_ranks(db: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    let until = Alias::new(RANK_UNTIL_COLUMN);
    let lapse = Query::update()
        .table(certificate::Entity)
        .value(Alias::new(RANK_COLUMN), EXPIRED_RANK)
        .value(until.clone(), Option::<i64>::None)
        .and_where(Expr::col(until).lte(now))
        .to_owned();
    Ok(db.execute(&lapse).await?.rows_affected())
}
