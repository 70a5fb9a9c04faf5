//! License status in SQL: the pure status of `licenses::domain`, as a condition a query can
//! filter and sort by (a test checks the two agree on every combination of a certificate's fields).
use sea_orm::{ColumnTrait, Condition};

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
