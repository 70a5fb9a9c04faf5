//! Personal seats: giving and recalling them, all or none. Changes are serialised (the
//! installation row), so two administrators applying at once are serialised on every instance:
//! the second sees the seats the first took, and is refused whole if too few are left. The
//! arithmetic is `seats::arith`'s.
use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::Ledger;
use super::usage::{self, Happened};
use crate::audit::model::AuditKind;
use crate::audit::store::Entry;
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::licenses::domain::{Status, status, waits_until};
use crate::licenses::entity::certificate;
use crate::licenses::format::LicenseType;
use crate::seats::arith::{Pool, allocate_for, totals};
use crate::seats::entity as seat;
use crate::seats::model::{APPLY_MAX, SeatCount};
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
pub async fn pools(
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
    let held = held_by_certificate(conn, Some(product)).await?;
    let pools = certs.iter().map(|c| pool_of(c, &held, now)).collect();
    Ok((certs, pools))
}

/// How many seats are held from each certificate (of one product, or of all).
pub async fn held_by_certificate(
    conn: &impl ConnectionTrait,
    product: Option<&str>,
) -> Result<HashMap<String, i64>, AppError> {
    let mut find = seat::Entity::find()
        .select_only()
        .column(seat::Column::CertificateId)
        .column_as(Expr::cust("COUNT(*)"), "n");
    if let Some(product) = product {
        find = find.filter(seat::Column::Product.eq(product));
    }
    Ok(find
        .group_by(seat::Column::CertificateId)
        .into_tuple::<(String, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

pub fn pool_of(c: &certificate::Model, held: &HashMap<String, i64>, now: i64) -> Pool {
    Pool {
        certificate_id: c.id.clone(),
        seats: c.seats.and_then(|s| u32::try_from(s).ok()).unwrap_or(0),
        held: held
            .get(&c.id)
            .and_then(|n| u32::try_from(*n).ok())
            .unwrap_or(0),
        valid: matches!(status(&c.state(), now), Status::Unused | Status::Activated)
            && waits_until(&c.state(), now).is_none(),
        tenant: c.tenant_id.clone(),
    }
}

/// A product's seat totals, as answered.
pub fn count(pools: &[Pool]) -> SeatCount {
    let t = totals(pools);
    SeatCount {
        total: t.total,
        used: t.used,
        free: t.free,
    }
}

/// The users an entry names: how many, and who (the entry clips a long list).
fn names(users: &[user::Model]) -> String {
    let mut names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    names.sort_unstable();
    format!("{} users: {}", users.len(), names.join(", "))
}

/// The users of `ids` that exist, read in chunks (databases bound the parameters of a query).
async fn users_by_id(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<user::Model>, AppError> {
    let mut users = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        users.extend(
            user::Entity::find()
                .filter(user::Column::Id.is_in(chunk.to_vec()))
                .all(conn)
                .await?,
        );
    }
    Ok(users)
}

/// Gives each user a seat of `product`, all or none. A personal license is activated by its first
/// seat: its validity runs from then.
pub async fn apply(
    ledger: &Ledger,
    who: &Granted<cap::ManageSeats>,
    product: &str,
    raw_user_ids: &[String],
    now: i64,
) -> Result<SeatCount, AppError> {
    let ids = user_ids(raw_user_ids)?;
    let mut txn = ledger.begin().await?;
    // Seats are people's licenses: no agent's grant depends on them.
    txn.reaches(None);
    let users = users_by_id(&txn, &ids).await?;
    // Another tenant's user is as unknown to a License manager as a missing one.
    if users.len() != ids.len() || !users.iter().all(|u| who.reaches_tenant(&u.tenant_id)) {
        return Err(AppError::invalid(Field::User, Problem::Unknown));
    }
    if users.iter().any(|u| u.disabled) {
        return Err(AppError::conflict(ConflictKind::UserDisabled));
    }
    let (certs, mut pools) = pools(&txn, product, now).await?;
    let granting: Vec<String> = pools
        .iter()
        .filter(|p| p.valid)
        .map(|p| p.certificate_id.clone())
        .collect();
    for chunk in ids.chunks(500) {
        let holding = seat::Entity::find()
            .filter(seat::Column::Product.eq(product))
            .filter(seat::Column::UserId.is_in(chunk.to_vec()))
            .filter(seat::Column::CertificateId.is_in(granting.clone()))
            .one(&txn)
            .await?;
        if holding.is_some() {
            return Err(AppError::conflict(ConflictKind::AlreadyHolds));
        }
    }
    let tenant_of: HashMap<&str, &str> = users
        .iter()
        .map(|u| (u.id.as_str(), u.tenant_id.as_str()))
        .collect();
    // A seat left from a license that expired or was revoked grants nothing: replaced.
    delete_seats(&txn, product, &ids, &tenant_of, now).await?;
    // Each tenant's users take seats of the licenses that serve their tenant (a license issued
    // for a tenant serves its users alone), tenant by tenant, all or none.
    let mut tenants: Vec<&str> = tenant_of.values().copied().collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut from_of: HashMap<&str, String> = HashMap::new();
    for tenant in tenants {
        let group: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| tenant_of.get(id) == Some(&tenant))
            .collect();
        let chosen = allocate_for(&pools, tenant, group.len() as u32)
            .map_err(|free| AppError::NotEnoughSeats { free })?;
        for (user_id, cert) in group.into_iter().zip(chosen) {
            if let Some(p) = pools.iter_mut().find(|p| p.certificate_id == cert) {
                p.held += 1;
            }
            from_of.insert(user_id, cert);
        }
    }
    let from: Vec<String> = ids
        .iter()
        .map(|id| from_of.get(id.as_str()).cloned())
        .collect::<Option<_>>()
        .ok_or_else(|| crate::error::internal("a user was given no seat"))?;
    for c in certs
        .iter()
        .filter(|c| c.activated_at.is_none() && from.contains(&c.id))
    {
        certificate::activate(&c.id, now, c.activation_until(None, now))
            .exec(&txn)
            .await?;
        usage::activated(&txn, now, c, None, "").await?;
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
    for (user_id, cert) in ids.iter().zip(&from) {
        let tenant = tenant_of.get(user_id.as_str()).copied().unwrap_or_default();
        let key = usage::seat_key(product, tenant);
        usage::record(&txn, now, Happened::SeatGiven, &key, user_id, Some(cert)).await?;
    }
    txn.commit(Entry::by(who.viewer(), now, AuditKind::SeatsApply, product).detail(names(&users)))
        .await?;
    Ok(count(&pools))
}

/// Deletes the seats of `product` the users (of the tenants given) hold, recording each.
async fn delete_seats(
    txn: &impl ConnectionTrait,
    product: &str,
    user_ids: &[String],
    tenant_of: &HashMap<&str, &str>,
    now: i64,
) -> Result<(), AppError> {
    for chunk in user_ids.chunks(500) {
        let held = seat::Entity::find()
            .filter(seat::Column::Product.eq(product))
            .filter(seat::Column::UserId.is_in(chunk.to_vec()))
            .all(txn)
            .await?;
        seat::Entity::delete_many()
            .filter(seat::Column::Product.eq(product))
            .filter(seat::Column::UserId.is_in(chunk.to_vec()))
            .exec(txn)
            .await?;
        for s in held {
            let tenant = tenant_of
                .get(s.user_id.as_str())
                .copied()
                .unwrap_or_default();
            let key = usage::seat_key(product, tenant);
            let cert = Some(s.certificate_id.as_str());
            usage::record(txn, now, Happened::SeatRecalled, &key, &s.user_id, cert).await?;
        }
    }
    Ok(())
}

/// Takes the seats of `product` back from each user, all or none; they are free at once.
pub async fn recall(
    ledger: &Ledger,
    who: &Granted<cap::ManageSeats>,
    product: &str,
    raw_user_ids: &[String],
    now: i64,
) -> Result<SeatCount, AppError> {
    let ids = user_ids(raw_user_ids)?;
    let mut txn = ledger.begin().await?;
    // Seats are people's licenses: no agent's grant depends on them.
    txn.reaches(None);
    let users = users_by_id(&txn, &ids).await?;
    if users.len() != ids.len() || !users.iter().all(|u| who.reaches_tenant(&u.tenant_id)) {
        return Err(AppError::invalid(Field::User, Problem::Unknown));
    }
    let mut held = 0;
    for chunk in ids.chunks(500) {
        held += seat::Entity::find()
            .filter(seat::Column::Product.eq(product))
            .filter(seat::Column::UserId.is_in(chunk.to_vec()))
            .count(&txn)
            .await?;
    }
    if held != ids.len() as u64 {
        return Err(AppError::conflict(ConflictKind::NotHeld));
    }
    let tenant_of: HashMap<&str, &str> = users
        .iter()
        .map(|u| (u.id.as_str(), u.tenant_id.as_str()))
        .collect();
    delete_seats(&txn, product, &ids, &tenant_of, now).await?;
    let (_, pools) = pools(&txn, product, now).await?;
    txn.commit(Entry::by(who.viewer(), now, AuditKind::SeatsRecall, product).detail(names(&users)))
        .await?;
    Ok(count(&pools))
}
