//! Persistence of seats. Applying and recalling run under the license-write lock (the
//! installation row), so two administrators applying at once are serialised on every instance:
//! the second sees the seats the first took, and is refused whole if too few are left.
use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::arith::{Pool, allocate, totals};
use super::entity as seat;
use super::model::{APPLY_MAX, SeatCount};
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::licenses::domain::{Status, stack_validity, status};
use crate::licenses::entity::certificate;
use crate::licenses::format::LicenseType;
use crate::licenses::store::begin_license_write;
use crate::users::entity as user;

/// The user ids of a request: at least one, at most [`APPLY_MAX`], each once.
fn user_ids(raw: &[String]) -> Result<Vec<String>, AppError> {
    let mut seen = HashSet::new();
    let ids: Vec<String> = raw
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect();
    if ids.is_empty() {
        return Err(AppError::invalid(Field::User, Problem::Required));
    }
    if ids.len() > APPLY_MAX {
        return Err(AppError::invalid(
            Field::User,
            Problem::TooLong {
                max: APPLY_MAX as u32,
            },
        ));
    }
    Ok(ids)
}

/// The personal licenses of a product with the seats held from each, oldest first.
async fn pools(
    conn: &impl ConnectionTrait,
    product: &str,
    now: i64,
) -> Result<(Vec<certificate::Model>, Vec<Pool>), AppError> {
    let certs = certificate::Entity::find()
        .filter(certificate::Column::Product.eq(product))
        .filter(certificate::Column::LicenseType.eq(LicenseType::Personal.as_str()))
        .order_by_asc(certificate::Column::InstalledAt)
        .order_by_asc(certificate::Column::Id)
        .all(conn)
        .await?;
    if certs.is_empty() {
        return Err(AppError::invalid(Field::Product, Problem::Unknown));
    }
    let held: HashMap<String, i64> = seat::Entity::find()
        .select_only()
        .column(seat::Column::CertificateId)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(seat::Column::Product.eq(product))
        .group_by(seat::Column::CertificateId)
        .into_tuple::<(String, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let pools = certs
        .iter()
        .map(|c| Pool {
            certificate_id: c.id.clone(),
            seats: c.seats.and_then(|s| u32::try_from(s).ok()).unwrap_or(0),
            held: held
                .get(&c.id)
                .and_then(|n| u32::try_from(*n).ok())
                .unwrap_or(0),
            valid: matches!(status(&c.state(), now), Status::Unused | Status::Activated),
        })
        .collect();
    Ok((certs, pools))
}

fn count(pools: &[Pool]) -> SeatCount {
    let t = totals(pools);
    SeatCount {
        total: t.total,
        used: t.used,
        free: t.free,
    }
}

/// Gives each user a seat of `product`, all or none. A personal license is activated by its first
/// seat: its validity runs from then.
pub async fn apply(
    db: &DatabaseConnection,
    who: &Granted<cap::ManageSeats>,
    product: &str,
    raw_user_ids: &[String],
    now: i64,
) -> Result<SeatCount, AppError> {
    let ids = user_ids(raw_user_ids)?;
    let txn = begin_license_write(db).await?;
    let mut users = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        users.extend(
            user::Entity::find()
                .filter(user::Column::Id.is_in(chunk.to_vec()))
                .all(&txn)
                .await?,
        );
    }
    if users.len() != ids.len() {
        return Err(AppError::invalid(Field::User, Problem::Unknown));
    }
    if users.iter().any(|u| u.disabled) {
        return Err(AppError::conflict(ConflictKind::UserDisabled));
    }
    for chunk in ids.chunks(500) {
        let holding = seat::Entity::find()
            .filter(seat::Column::Product.eq(product))
            .filter(seat::Column::UserId.is_in(chunk.to_vec()))
            .one(&txn)
            .await?;
        if holding.is_some() {
            return Err(AppError::conflict(ConflictKind::AlreadyHolds));
        }
    }
    let (certs, mut pools) = pools(&txn, product, now).await?;
    let from: Vec<String> = allocate(&pools, ids.len() as u32)
        .map_err(|free| AppError::NotEnoughSeats { free })?
        .into_iter()
        .map(str::to_string)
        .collect();
    for c in certs
        .iter()
        .filter(|c| c.activated_at.is_none() && from.contains(&c.id))
    {
        let until = stack_validity(
            None,
            now,
            c.validity_days.and_then(|d| u32::try_from(d).ok()),
            c.not_after_at,
        );
        let (expires_at, permanent) = until.to_parts();
        certificate::Entity::update_many()
            .col_expr(certificate::Column::ActivatedAt, Expr::value(now))
            .col_expr(certificate::Column::ExpiresAt, Expr::value(expires_at))
            .col_expr(certificate::Column::Permanent, Expr::value(permanent))
            .filter(certificate::Column::Id.eq(c.id.clone()))
            .exec(&txn)
            .await?;
    }
    let by = who.viewer().id.clone();
    let rows: Vec<seat::ActiveModel> = ids
        .iter()
        .zip(&from)
        .map(|(user_id, cert)| seat::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            product: Set(product.to_string()),
            certificate_id: Set(cert.clone()),
            user_id: Set(user_id.clone()),
            granted_at: Set(now),
            granted_by: Set(by.clone()),
        })
        .collect();
    for chunk in rows.chunks(500) {
        seat::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
    }
    txn.commit().await?;
    for (pool, n) in pools.iter_mut().map(|p| {
        let n = from.iter().filter(|c| **c == p.certificate_id).count() as u32;
        (p, n)
    }) {
        pool.held += n;
    }
    Ok(count(&pools))
}

/// Takes the seats of `product` back from each user, all or none; they are free at once.
pub async fn recall(
    db: &DatabaseConnection,
    _who: &Granted<cap::ManageSeats>,
    product: &str,
    raw_user_ids: &[String],
    now: i64,
) -> Result<SeatCount, AppError> {
    let ids = user_ids(raw_user_ids)?;
    let txn = begin_license_write(db).await?;
    let mut held = 0;
    for chunk in ids.chunks(500) {
        held += seat::Entity::find()
            .filter(seat::Column::Product.eq(product))
            .filter(seat::Column::UserId.is_in(chunk.to_vec()))
            .all(&txn)
            .await?
            .len();
    }
    if held != ids.len() {
        return Err(AppError::conflict(ConflictKind::NotHeld));
    }
    for chunk in ids.chunks(500) {
        seat::Entity::delete_many()
            .filter(seat::Column::Product.eq(product))
            .filter(seat::Column::UserId.is_in(chunk.to_vec()))
            .exec(&txn)
            .await?;
    }
    let (_, pools) = pools(&txn, product, now).await?;
    txn.commit().await?;
    Ok(count(&pools))
}
