//! What people see of seats: a product's page, the users to pick from, one's own licenses. Giving
//! and recalling seats is the ledger's (`ledger::seats`).
use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::arith::{Pool, totals};
use super::entity as seat;
use super::model::{
    CANDIDATES_LOOKED_AT, CANDIDATES_MAX, Candidate, Candidates, HOLDERS_PAGE, Holder, MyLicense,
    ProductLicense, ProductSeats, SeatCount,
};
use crate::auth::model::Role;
use crate::auth::server::{Granted, cap};
use crate::error::AppError;
use crate::ledger::seats::{count, held_by_certificate, pool_of, pools};
use crate::licenses::domain::{Status, status};
use crate::licenses::entity::certificate;
use crate::licenses::format::LicenseType;
use crate::users::entity as user;
use crate::users::model::SeatProduct;

/// Every product with personal licenses and its free seats, by name: what Settings > Users
/// offers to give. Within a tenant (`scope`, a License manager's), the seats of licenses that
/// serve it.
pub async fn seat_products(
    conn: &impl ConnectionTrait,
    scope: Option<&str>,
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
        let pool = pool_of(c, &held, now);
        if scope.is_none_or(|t| pool.serves(t)) {
            pools.push(pool);
        }
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
    let scope = who.tenant_scope();
    let count = if has_personal {
        // Within a tenant, the seats of the licenses that serve it.
        let (_, pools) = pools(db, product, now).await?;
        let serving: Vec<Pool> = pools
            .into_iter()
            .filter(|p| scope.is_none_or(|t| p.serves(t)))
            .collect();
        count(&serving)
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
    // One page of the holders, by name: a product may have thousands. A License manager sees
    // their own tenant's.
    let mut holding = user::Entity::find();
    if let Some(own) = scope {
        holding = holding.filter(user::Column::TenantId.eq(own));
    }
    let among_holders = Expr::col((user::Entity, user::Column::Id)).in_subquery(
        Query::select()
            .column(seat::Column::UserId)
            .from(seat::Entity)
            .and_where(Expr::col(seat::Column::Product).eq(product))
            .to_owned(),
    );
    let holding_by_id = holding.clone().filter(among_holders);
    // Unscoped, counted from the seats alone (one per user and product: a unique index).
    let holders_total = match scope {
        None => {
            seat::Entity::find()
                .filter(seat::Column::Product.eq(product))
                .count(db)
                .await?
        }
        Some(_) => holding_by_id.clone().count(db).await?,
    };
    // Few holders are read and sorted by name; many are found by asking each user in name order
    // whether they hold one (the first page of 50,000 holders: 92 ms sorted, 4 ms asked).
    let holding = if holders_total <= HOLDERS_SORTED_MAX {
        holding_by_id
    } else {
        holding.filter(Expr::exists(seat_of(product)))
    };
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

/// The most holders a product's page reads and sorts by name; past it, it asks each user in name
/// order whether they hold a seat.
const HOLDERS_SORTED_MAX: u64 = 1000;

/// The question whether the user of the outer query holds a seat of `product`: one look into the
/// seats' (product, user) index.
fn seat_of(product: &str) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(seat::Entity)
        .and_where(Expr::col((seat::Entity, seat::Column::Product)).eq(product))
        .and_where(
            Expr::col((seat::Entity, seat::Column::UserId))
                .equals((user::Entity, user::Column::Id)),
        )
        .to_owned()
}

async fn tenant_names(db: &impl ConnectionTrait) -> Result<HashMap<String, String>, AppError> {
    Ok(crate::tenants::entity::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect())
}

/// Enabled users without a seat of `product` whose name, tenant or role contains `q`, by name.
///
/// It looks through the first [`CANDIDATES_LOOKED_AT`] users who match, in name order, and
/// offers those without a seat (at most [`CANDIDATES_MAX`]): a bounded read however many users
/// there are and however many of the first by name hold one. `more` says that it stopped before
/// the end, so the picker asks for a narrower search.
pub async fn candidates(
    db: &impl ConnectionTrait,
    who: &Granted<cap::ManageSeats>,
    product: &str,
    q: &str,
) -> Result<Candidates, AppError> {
    let q = q.trim().to_lowercase();
    let tenants = tenant_names(db).await?;
    let mut find = user::Entity::find().filter(user::Column::Disabled.eq(false));
    // A License manager gives seats to their own tenant's users only.
    if let Some(own) = who.tenant_scope() {
        find = find.filter(user::Column::TenantId.eq(own));
    }
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
    // Only what the picker shows, and whether each holds a seat: one look each into the seats'
    // (product, user) index, in the same statement.
    let looked_at: Vec<(String, String, String, String, bool)> = find
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Name)
        .column(user::Column::TenantId)
        .column(user::Column::Role)
        .expr(Expr::exists(seat_of(product)))
        .order_by_asc(user::Column::Name)
        .order_by_asc(user::Column::Id)
        .limit(CANDIDATES_LOOKED_AT)
        .into_tuple()
        .all(db)
        .await?;
    let window_full = looked_at.len() as u64 == CANDIDATES_LOOKED_AT;
    let mut without = looked_at
        .into_iter()
        .filter(|(.., holds)| !holds)
        .peekable();
    let users: Vec<Candidate> = without
        .by_ref()
        .take(CANDIDATES_MAX)
        .filter_map(|(user_id, name, tenant_id, role, _)| {
            Some(Candidate {
                tenant_name: tenants.get(&tenant_id).cloned().unwrap_or_default(),
                role: Role::parse(&role)?,
                user_id,
                name,
            })
        })
        .collect();
    let more = window_full || without.peek().is_some();
    Ok(Candidates { users, more })
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
