//! Persistence of seats. Applying and recalling run under the license-write lock (the
//! installation row), so two administrators applying at once are serialised on every instance:
//! the second sees the seats the first took, and is refused whole if too few are left.
use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::arith::{Pool, allocate, totals};
use super::entity as seat;
use super::model::{
    APPLY_MAX, CANDIDATES_MAX, Candidate, HOLDERS_PAGE, Holder, MyLicense, ProductLicense,
    ProductSeats, SeatCount,
};
use crate::audit::model::AuditKind;
use crate::audit::store::{Entry, record};
use crate::auth::model::Role;
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::licenses::domain::{Status, status, waits_until};
use crate::licenses::entity::certificate;
use crate::licenses::format::LicenseType;
use crate::licenses::store::begin_license_write;
use crate::users::entity as user;
use crate::users::model::SeatProduct;

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
    let held = held_by_certificate(conn, Some(product)).await?;
    let pools = certs.iter().map(|c| pool_of(c, &held, now)).collect();
    Ok((certs, pools))
}

/// How many seats are held from each certificate (of one product, or of all).
async fn held_by_certificate(
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

fn pool_of(c: &certificate::Model, held: &HashMap<String, i64>, now: i64) -> Pool {
    Pool {
        certificate_id: c.id.clone(),
        seats: c.seats.and_then(|s| u32::try_from(s).ok()).unwrap_or(0),
        held: held
            .get(&c.id)
            .and_then(|n| u32::try_from(*n).ok())
            .unwrap_or(0),
        valid: matches!(status(&c.state(), now), Status::Unused | Status::Activated)
            && waits_until(&c.state(), now).is_none(),
    }
}

/// Every product with personal licenses and its free seats, by name: what Settings > Users
/// offers to give.
pub async fn seat_products(
    conn: &impl ConnectionTrait,
    now: i64,
) -> Result<Vec<SeatProduct>, AppError> {
    let certs = certificate::Entity::find()
        .filter(certificate::Column::LicenseType.eq(LicenseType::Personal.as_str()))
        .order_by_asc(certificate::Column::Product)
        .all(conn)
        .await?;
    let held = held_by_certificate(conn, None).await?;
    let mut out: Vec<SeatProduct> = Vec::new();
    let mut pools: Vec<Pool> = Vec::new();
    for (i, c) in certs.iter().enumerate() {
        pools.push(pool_of(c, &held, now));
        if certs
            .get(i + 1)
            .is_none_or(|next| next.product != c.product)
        {
            out.push(SeatProduct {
                product: c.product.clone(),
                product_name: c.product_name.clone(),
                free: totals(&pools).free,
            });
            pools.clear();
        }
    }
    out.sort_by(|a, b| a.product_name.cmp(&b.product_name));
    Ok(out)
}

fn count(pools: &[Pool]) -> SeatCount {
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
    db: &DatabaseConnection,
    who: &Granted<cap::ManageSeats>,
    product: &str,
    raw_user_ids: &[String],
    now: i64,
) -> Result<SeatCount, AppError> {
    let ids = user_ids(raw_user_ids)?;
    let txn = begin_license_write(db).await?;
    let users = users_by_id(&txn, &ids).await?;
    if users.len() != ids.len() {
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
    // A seat left from a license that expired or was revoked grants nothing: replaced.
    delete_seats(&txn, product, &ids).await?;
    let from: Vec<String> = allocate(&pools, ids.len() as u32)
        .map_err(|free| AppError::NotEnoughSeats { free })?
        .into_iter()
        .map(str::to_string)
        .collect();
    for c in certs
        .iter()
        .filter(|c| c.activated_at.is_none() && from.contains(&c.id))
    {
        certificate::activate(&c.id, now, c.activation_until(None, now))
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
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::SeatsApply, product).detail(names(&users)),
    )
    .await?;
    txn.commit().await?;
    for (pool, n) in pools.iter_mut().map(|p| {
        let n = from.iter().filter(|c| **c == p.certificate_id).count() as u32;
        (p, n)
    }) {
        pool.held += n;
    }
    Ok(count(&pools))
}

/// Deletes the seats of `product` the users hold.
async fn delete_seats(
    txn: &impl ConnectionTrait,
    product: &str,
    user_ids: &[String],
) -> Result<(), AppError> {
    for chunk in user_ids.chunks(500) {
        seat::Entity::delete_many()
            .filter(seat::Column::Product.eq(product))
            .filter(seat::Column::UserId.is_in(chunk.to_vec()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Takes the seats of `product` back from each user, all or none; they are free at once.
pub async fn recall(
    db: &DatabaseConnection,
    who: &Granted<cap::ManageSeats>,
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
            .count(&txn)
            .await?;
    }
    if held != ids.len() as u64 {
        return Err(AppError::conflict(ConflictKind::NotHeld));
    }
    let users = users_by_id(&txn, &ids).await?;
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::SeatsRecall, product).detail(names(&users)),
    )
    .await?;
    delete_seats(&txn, product, &ids).await?;
    let (_, pools) = pools(&txn, product, now).await?;
    txn.commit().await?;
    Ok(count(&pools))
}

/// A product's page.
pub async fn product(
    db: &impl ConnectionTrait,
    who: &Granted<cap::ViewLicenses>,
    product: &str,
    holders_page: u64,
    now: i64,
) -> Result<ProductSeats, AppError> {
    use crate::licenses::domain::Expiry;
    let certs = certificate::Entity::find()
        .filter(certificate::Column::Product.eq(product))
        .order_by_asc(certificate::Column::InstalledAt)
        .order_by_asc(certificate::Column::Id)
        .all(db)
        .await?;
    let Some(first) = certs.first() else {
        return Err(AppError::NotFound);
    };
    let product_name = first.product_name.clone();
    let has_personal = certs
        .iter()
        .any(|c| c.license_type == LicenseType::Personal.as_str());
    let count = if has_personal {
        count(&pools(db, product, now).await?.1)
    } else {
        SeatCount {
            total: 0,
            used: 0,
            free: 0,
        }
    };
    let licenses = certs
        .iter()
        .filter_map(|c| {
            let state = c.state();
            Some(ProductLicense {
                id: c.id.clone(),
                license_type: LicenseType::parse(&c.license_type)?,
                seats: c.seats.and_then(|s| u32::try_from(s).ok()),
                feature: c.feature.clone(),
                start: c.activated_at,
                due: state
                    .expires
                    .or(c.not_after_at.map(Expiry::At))
                    .or(c.validity_days.is_none().then_some(Expiry::Never)),
                status: status(&state, now),
            })
        })
        .collect();
    // One page of the holders, by name: a product may have thousands.
    let holding = user::Entity::find().filter(
        Expr::col((user::Entity, user::Column::Id)).in_subquery(
            Query::select()
                .column(seat::Column::UserId)
                .from(seat::Entity)
                .and_where(Expr::col(seat::Column::Product).eq(product))
                .to_owned(),
        ),
    );
    let holders_total = holding.clone().count(db).await?;
    let last_page = Ord::max(holders_total.div_ceil(HOLDERS_PAGE), 1);
    let holders_page = Ord::clamp(holders_page, 1, last_page);
    let people = holding
        .order_by_asc(user::Column::Name)
        .offset((holders_page - 1) * HOLDERS_PAGE)
        .limit(HOLDERS_PAGE)
        .all(db)
        .await?;
    let since: HashMap<String, i64> = seat::Entity::find()
        .select_only()
        .column(seat::Column::UserId)
        .column(seat::Column::GrantedAt)
        .filter(seat::Column::Product.eq(product))
        .filter(seat::Column::UserId.is_in(people.iter().map(|u| u.id.clone())))
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let tenants = tenant_names(db).await?;
    let holders: Vec<Holder> = people
        .into_iter()
        .filter_map(|u| {
            Some(Holder {
                since: since.get(&u.id).copied().unwrap_or_default(),
                tenant_name: tenants.get(&u.tenant_id).cloned().unwrap_or_default(),
                role: Role::parse(&u.role)?,
                user_id: u.id,
                name: u.name,
            })
        })
        .collect();
    Ok(ProductSeats {
        product: product.to_string(),
        product_name,
        licenses,
        count,
        holders,
        holders_total,
        holders_page,
        can_manage: who
            .viewer()
            .role
            .allows(crate::auth::model::Permission::ManageSeats),
    })
}

async fn tenant_names(db: &impl ConnectionTrait) -> Result<HashMap<String, String>, AppError> {
    Ok(crate::tenants::entity::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect())
}

/// Enabled users without a seat of `product` whose name, tenant or role contains `q`.
pub async fn candidates(
    db: &impl ConnectionTrait,
    _who: &Granted<cap::ManageSeats>,
    product: &str,
    q: &str,
) -> Result<Vec<Candidate>, AppError> {
    let q = q.trim().to_lowercase();
    let tenants = tenant_names(db).await?;
    // Filtered, ordered and cut in the database: an installation may have tens of thousands of
    // users.
    let mut find = user::Entity::find()
        .filter(user::Column::Disabled.eq(false))
        .filter(
            Expr::col((user::Entity, user::Column::Id)).not_in_subquery(
                Query::select()
                    .column(seat::Column::UserId)
                    .from(seat::Entity)
                    .and_where(Expr::col(seat::Column::Product).eq(product))
                    .to_owned(),
            ),
        );
    if !q.is_empty() {
        let pattern = format!("%{}%", q.replace(['%', '_'], ""));
        let in_tenants: Vec<String> = tenants
            .iter()
            .filter(|(_, name)| name.to_lowercase().contains(&q))
            .map(|(id, _)| id.clone())
            .collect();
        let with_roles: Vec<&str> = Role::ALL
            .into_iter()
            .filter(|r| r.as_str().replace('_', " ").contains(&q))
            .map(Role::as_str)
            .collect();
        find = find.filter(
            sea_orm::Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(user::Column::Name))).like(&pattern))
                .add(user::Column::TenantId.is_in(in_tenants))
                .add(user::Column::Role.is_in(with_roles)),
        );
    }
    Ok(find
        .order_by_asc(user::Column::Name)
        .limit(CANDIDATES_MAX as u64)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|u| {
            Some(Candidate {
                tenant_name: tenants.get(&u.tenant_id).cloned().unwrap_or_default(),
                role: Role::parse(&u.role)?,
                user_id: u.id,
                name: u.name,
            })
        })
        .collect())
}

/// The signed-in user's own licenses: the seats they hold, then the server licenses in force.
pub async fn mine(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
) -> Result<Vec<MyLicense>, AppError> {
    let held: Vec<String> = seat::Entity::find()
        .select_only()
        .column(seat::Column::CertificateId)
        .filter(seat::Column::UserId.eq(user_id))
        .into_tuple::<String>()
        .all(db)
        .await?;
    let mut certs = if held.is_empty() {
        Vec::new()
    } else {
        certificate::Entity::find()
            .filter(certificate::Column::Id.is_in(held))
            .order_by_asc(certificate::Column::ProductName)
            .all(db)
            .await?
    };
    certs.extend(
        certificate::Entity::find()
            .filter(certificate::Column::LicenseType.eq(LicenseType::Server.as_str()))
            .order_by_asc(certificate::Column::ProductName)
            .all(db)
            .await?
            .into_iter()
            .filter(|c| status(&c.state(), now) == Status::Activated),
    );
    Ok(certs
        .into_iter()
        .map(|c| {
            let state = c.state();
            MyLicense {
                product_name: c.product_name,
                feature: c.feature,
                status: status(&state, now),
                due: state.expires,
            }
        })
        .collect())
}
