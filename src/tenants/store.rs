//! Persistence of tenants: the listing with each tenant's licenses at a glance, create, rename,
//! delete, the enrollment key, and assigning licenses to a tenant.
use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::model::{
    AgentGlance, AssignableLicense, GLANCE_AGENTS, TenantRow, TenantsListing, validate_tenant_name,
};
use super::{Tenant, entity};
use crate::agents::entity as agent;
use crate::audit::model::{AuditKind, Detail};
use crate::audit::store::{Entry, record};
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::ledger::Ledger;
use crate::ledger::platform::tenant_state;
use crate::licenses::domain::{Status, status};
use crate::licenses::entity::certificate;
use crate::licenses::format::{Binding, LicenseType};
use crate::users::entity as user;

/// All tenants, the default first, then by name.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Tenant>, AppError> {
    let rows = entity::Entity::find()
        .order_by_desc(entity::Column::IsDefault)
        .order_by_asc(entity::Column::Name)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(Tenant::from).collect())
}

async fn find(db: &impl ConnectionTrait, id: &str) -> Result<entity::Model, AppError> {
    entity::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or(AppError::invalid(Field::Tenant, Problem::Unknown))
}

/// The most licenses Settings > Tenants offers to assign.
const ASSIGNABLE_MAX: u64 = 500;

/// Counts per tenant of a column grouped by tenant id.
async fn count_by_tenant<E, C>(
    db: &impl ConnectionTrait,
    tenant_column: C,
    filter: sea_orm::Condition,
) -> Result<HashMap<String, u32>, AppError>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let rows: Vec<(Option<String>, i64)> = E::find()
        .select_only()
        .column(tenant_column)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(filter)
        .group_by(tenant_column)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(t, n)| Some((t?, u32::try_from(n).unwrap_or(u32::MAX))))
        .collect())
}

/// Settings > Tenants: every tenant with its licenses at a glance, and the licenses that can be
/// assigned to one.
pub async fn listing(
    db: &impl ConnectionTrait,
    _who: &Granted<cap::ManageTenants>,
    now: i64,
) -> Result<TenantsListing, AppError> {
    use sea_orm::Condition;
    let agents =
        count_by_tenant::<agent::Entity, _>(db, agent::Column::TenantId, Condition::all()).await?;
    let licensed = count_by_tenant::<agent::Entity, _>(
        db,
        agent::Column::TenantId,
        Condition::all().add(agent::Column::LicenseId.is_not_null()),
    )
    .await?;
    let users =
        count_by_tenant::<user::Entity, _>(db, user::Column::TenantId, Condition::all()).await?;
    // Each tenant's free pool: agent licenses assigned to it and bound to no agent, less the few
    // held for a shut-down agent's last lease (read apart, through their own index: "not held"
    // in the count read every license). Asked with the free floating index's columns in its
    // order, both bindings named (every agent license has one), so only licenses assigned to a
    // tenant are read, never the shared pool (480,000 at 500,000 licenses: 186 ms).
    let unbound = || {
        Condition::all()
            .add(certificate::Column::LicenseType.eq(LicenseType::Agent.as_str()))
            .add(
                certificate::Column::Binding
                    .is_in([Binding::Fixed.as_str(), Binding::Floating.as_str()]),
            )
            .add(certificate::Column::BoundAgentId.is_null())
            .add(certificate::Column::RevokedBy.is_null())
            .add(certificate::Column::EndedReason.is_null())
            .add(certificate::Column::AssignedTenantId.is_not_null())
    };
    let mut pool = count_by_tenant::<certificate::Entity, _>(
        db,
        certificate::Column::AssignedTenantId,
        unbound(),
    )
    .await?;
    for c in crate::ledger::holdings::held_for_lease(db, now).await? {
        let counted = c.license_type == LicenseType::Agent.as_str()
            && c.bound_agent_id.is_none()
            && c.revoked_by.is_none()
            && c.ended_reason.is_none();
        if let (true, Some(tenant)) = (counted, c.assigned_tenant_id) {
            pool.entry(tenant)
                .and_modify(|free| *free = free.saturating_sub(1));
        }
    }
    // Platform licenses assigned and waiting for their first valid day: the earliest, per tenant.
    let waiting: HashMap<String, i64> = certificate::Entity::find()
        .select_only()
        .column(certificate::Column::AssignedTenantId)
        .column_as(certificate::Column::NotBeforeAt.min(), "from")
        .filter(certificate::Column::LicenseType.is_in(crate::ledger::platform::PLATFORM_TYPES))
        .filter(certificate::Column::ActivatedAt.is_null())
        .filter(certificate::Column::NotBeforeAt.gt(now))
        .filter(crate::ledger::holdings::unexpired_condition(now))
        .group_by(certificate::Column::AssignedTenantId)
        .into_tuple::<(Option<String>, Option<i64>)>()
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(t, from)| Some((t?, from?)))
        .collect();
    let rows = entity::Entity::find()
        .order_by_desc(entity::Column::IsDefault)
        .order_by_asc(entity::Column::Name)
        .all(db)
        .await?;
    let names: HashMap<String, String> = rows
        .iter()
        .map(|t| (t.id.clone(), t.name.clone()))
        .collect();
    // A few agents of each tenant, by machine: each tenant's first rows of its (tenant, machine)
    // index, where one question over every agent read them all (20,000 at 500,000 licenses).
    let mut glance: HashMap<String, Vec<AgentGlance>> = HashMap::new();
    for t in &rows {
        let first: Vec<(String, String, Option<String>, String)> = agent::Entity::find()
            .select_only()
            .columns([
                agent::Column::Id,
                agent::Column::MachineId,
                agent::Column::LicenseId,
                agent::Column::State,
            ])
            .filter(agent::Column::TenantId.eq(t.id.clone()))
            .order_by_asc(agent::Column::MachineId)
            .limit(GLANCE_AGENTS as u64)
            .into_tuple()
            .all(db)
            .await?;
        let shown = first
            .into_iter()
            .map(|(id, machine_id, license_id, state)| AgentGlance {
                id,
                machine_id,
                has_license: license_id.is_some(),
                running: state == crate::agents::model::AgentState::Running.as_str(),
            })
            .collect();
        glance.insert(t.id.clone(), shown);
    }
    let tenants = rows
        .into_iter()
        .map(|t| {
            let n = |m: &HashMap<String, u32>| m.get(&t.id).copied().unwrap_or(0);
            let state = tenant_state(t.clone());
            TenantRow {
                agents: n(&agents),
                agents_with_license: n(&licensed),
                users: n(&users),
                pool_free: n(&pool),
                agent_glance: glance.remove(&t.id).unwrap_or_default(),
                platform: state.platform,
                platform_activates_on: waiting.get(&t.id).copied(),
                unlimited_agents: state.unlimited_agents,
                enrollment_key: t.enrollment_key.unwrap_or_default(),
                release_after_minutes: t.release_after_minutes.and_then(|m| u32::try_from(m).ok()),
                max_agents: t.max_agents.and_then(|m| u32::try_from(m).ok()),
                lease_seconds: t.lease_seconds.unsigned_abs(),
                max_borrow_hours: t.max_borrow_hours.and_then(|m| u32::try_from(m).ok()),
                keep_unborrowed: t.keep_unborrowed.unsigned_abs(),
                id: t.id,
                name: t.name,
                is_default: t.is_default,
            }
        })
        .collect();
    // Two questions, each answered from an index in the list's order (one with an `OR` sorted
    // every unbound license with its payload): unactivated platform licenses assigned to no
    // tenant (one assigned before its first valid day waits for it), and agent licenses bound to
    // no agent. The list: both, by type, product and id, the first `ASSIGNABLE_MAX`.
    use certificate::Column as C;
    let live = || {
        certificate::Entity::find()
            .filter(C::RevokedBy.is_null())
            .filter(C::EndedReason.is_null())
    };
    let platforms = live()
        .filter(C::LicenseType.is_in([
            LicenseType::Platform.as_str(),
            LicenseType::PlatformUnlimitedAgents.as_str(),
        ]))
        // Never bound to an agent, said so that the assignable index answers: SQLite's planner
        // otherwise reads every license assigned to no tenant from the pools' index (339 ms at
        // 500,000).
        .filter(C::BoundAgentId.is_null())
        .filter(C::ActivatedAt.is_null())
        .filter(C::AssignedTenantId.is_null())
        .order_by_asc(C::LicenseType)
        .order_by_asc(C::ProductName)
        .order_by_asc(C::Id)
        .limit(ASSIGNABLE_MAX)
        .all(db)
        .await?;
    let agents = live()
        .filter(C::LicenseType.eq(LicenseType::Agent.as_str()))
        .filter(C::BoundAgentId.is_null())
        // The index's columns before the order, one value each here (PostgreSQL's planner
        // does not take `IS NULL` for a constant).
        .order_by_asc(C::BoundAgentId)
        .order_by_asc(C::RevokedBy)
        .order_by_asc(C::EndedReason)
        .order_by_asc(C::ProductName)
        .order_by_asc(C::Id)
        .limit(ASSIGNABLE_MAX)
        .all(db)
        .await?;
    let mut candidates: Vec<certificate::Model> = agents.into_iter().chain(platforms).collect();
    candidates.sort_by(|a, b| {
        (&a.license_type, &a.product_name, &a.id).cmp(&(&b.license_type, &b.product_name, &b.id))
    });
    candidates.truncate(ASSIGNABLE_MAX as usize);
    let assignable = candidates
        .into_iter()
        .filter(|c| status(&c.state(), now) != Status::Expired)
        .filter_map(|c| {
            Some(AssignableLicense {
                license_type: LicenseType::parse(&c.license_type)?,
                binding: c.binding.as_deref().and_then(Binding::parse),
                validity_days: c.validity_days.and_then(|d| u32::try_from(d).ok()),
                assigned_tenant: c
                    .assigned_tenant_id
                    .as_ref()
                    .and_then(|id| names.get(id).cloned()),
                id: c.id,
                product_name: c.product_name,
            })
        })
        .collect();
    Ok(TenantsListing {
        tenants,
        assignable,
    })
}

async fn name_taken(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<&str>,
) -> Result<bool, AppError> {
    let folded = name.to_lowercase();
    Ok(entity::Entity::find()
        .all(db)
        .await?
        .iter()
        .any(|t| t.name.to_lowercase() == folded && Some(t.id.as_str()) != except))
}

pub async fn create(
    ledger: &Ledger,
    who: &Granted<cap::ManageTenants>,
    name: &str,
    now: i64,
) -> Result<Tenant, AppError> {
    let name = validate_tenant_name(name)?;
    let mut txn = ledger.begin().await?;
    // No agent's grant depends on a tenant's name, nor on a tenant without agents.
    txn.reaches(None);
    if name_taken(&txn, &name, None).await? {
        return Err(AppError::invalid(Field::TenantName, Problem::Taken));
    }
    let model = entity::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(name),
        is_default: Set(false),
        created_at: Set(now),
        platform_until: Set(None),
        platform_permanent: Set(false),
        unlimited_agents_until: Set(None),
        unlimited_agents_permanent: Set(false),
        enrollment_key: Set(Some(new_enrollment_key()?)),
        release_after_minutes: Set(None),
        max_agents: Set(None),
        lease_seconds: Set(crate::agents::model::LEASE_SECONDS_DEFAULT),
        longer_leases_until: Set(None),
        max_borrow_hours: Set(None),
        keep_unborrowed: Set(0),
    }
    .insert(&txn)
    .await?;
    txn.commit(Entry::by(
        who.viewer(),
        now,
        AuditKind::TenantCreate,
        &model.name,
    ))
    .await?;
    Ok(model.into())
}

pub async fn rename(
    ledger: &Ledger,
    who: &Granted<cap::ManageTenants>,
    id: &str,
    name: &str,
    now: i64,
) -> Result<(), AppError> {
    let name = validate_tenant_name(name)?;
    let mut txn = ledger.begin().await?;
    // No agent's grant depends on a tenant's name, nor on a tenant without agents.
    txn.reaches(None);
    let old = find(&txn, id).await?;
    if name_taken(&txn, &name, Some(id)).await? {
        return Err(AppError::invalid(Field::TenantName, Problem::Taken));
    }
    let entry =
        Entry::by(who.viewer(), now, AuditKind::TenantRename, &old.name).said(Detail::Renamed {
            from: old.name.clone(),
            to: name.to_string(),
        });
    entity::Entity::update_many()
        .col_expr(entity::Column::Name, Expr::value(name))
        .filter(entity::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit(entry).await?;
    Ok(())
}

/// Deletes a tenant that is not the default and has no agents or users. Its agent licenses go
/// back to the shared pool; platform licenses activated on it stay, as history.
pub async fn delete(
    ledger: &Ledger,
    who: &Granted<cap::ManageTenants>,
    id: &str,
    now: i64,
) -> Result<(), AppError> {
    let mut txn = ledger.begin().await?;
    // No agent's grant depends on a tenant's name, nor on a tenant without agents.
    txn.reaches(None);
    let t = find(&txn, id).await?;
    if t.is_default {
        return Err(AppError::conflict(ConflictKind::DefaultTenant));
    }
    let agents = agent::Entity::find()
        .filter(agent::Column::TenantId.eq(id))
        .count(&txn)
        .await?;
    let users = user::Entity::find()
        .filter(user::Column::TenantId.eq(id))
        .count(&txn)
        .await?;
    if agents + users > 0 {
        return Err(AppError::conflict(ConflictKind::TenantInUse));
    }
    crate::ledger::platform::return_pool_to_shared(&txn, id).await?;
    entity::Entity::delete_by_id(id.to_string())
        .exec(&txn)
        .await?;
    txn.commit(Entry::by(
        who.viewer(),
        now,
        AuditKind::TenantDelete,
        &t.name,
    ))
    .await?;
    Ok(())
}

/// A new enrollment key for the tenant; the old one stops working at once (agents registered
/// with it keep their tokens).
pub async fn rotate_key(
    db: &DatabaseConnection,
    who: &Granted<cap::ManageTenants>,
    id: &str,
    now: i64,
) -> Result<String, AppError> {
    let txn = crate::server::db::begin_write(db).await?;
    let t = find(&txn, id).await?;
    let key = new_enrollment_key()?;
    entity::Entity::update_many()
        .col_expr(entity::Column::EnrollmentKey, Expr::value(key.clone()))
        .filter(entity::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    // The key itself is a secret: it is not written to the log.
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::TenantRotateKey, &t.name),
    )
    .await?;
    txn.commit().await?;
    Ok(key)
}

pub async fn set_release_after(
    db: &DatabaseConnection,
    who: &Granted<cap::ManageTenants>,
    id: &str,
    minutes: Option<u32>,
    now: i64,
) -> Result<(), AppError> {
    let txn = crate::server::db::begin_write(db).await?;
    let t = find(&txn, id).await?;
    entity::Entity::update_many()
        .col_expr(
            entity::Column::ReleaseAfterMinutes,
            Expr::value(minutes.map(|m| m as i32)),
        )
        .filter(entity::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::TenantSetRelease, &t.name)
            .said(Detail::ReleaseAfter { minutes }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The most agents a tenant may register (`None`: no cap). Agents it has beyond a new cap stay;
/// only new machines are refused.
pub async fn set_max_agents(
    db: &DatabaseConnection,
    who: &Granted<cap::ManageTenants>,
    id: &str,
    max: Option<u32>,
    now: i64,
) -> Result<(), AppError> {
    let txn = crate::server::db::begin_write(db).await?;
    let t = find(&txn, id).await?;
    entity::Entity::update_many()
        .col_expr(
            entity::Column::MaxAgents,
            Expr::value(max.map(|m| i32::try_from(m).unwrap_or(i32::MAX))),
        )
        .filter(entity::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::TenantSetAgentLimit, &t.name)
            .said(Detail::AgentLimit { max }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// How long the tenant's agents' leases last, in seconds (checked by
/// [`super::model::parse_lease_seconds`]). A lease signed before keeps its end; the next one is
/// signed with the new time. A shorter time remembers until when the longer leases may run, so
/// that a license taken from a shut-down agent stays held that long
/// (`ledger::holdings::shut_down`). The tenant's agents' remembered grants are forgotten, so
/// their next checkout is signed with the new time.
pub async fn set_lease_seconds(
    ledger: &Ledger,
    who: &Granted<cap::ManageTenants>,
    id: &str,
    seconds: u32,
    now: i64,
) -> Result<(), AppError> {
    let mut txn = ledger.begin().await?;
    txn.reaches(Some(crate::ledger::grants::Scope::Tenant(id.to_string())));
    let t = find(&txn, id).await?;
    let seconds_i32 = i32::try_from(seconds).unwrap_or(i32::MAX);
    // A lease is signed at a checkout, which is seen (the last-seen time lags by at most
    // SEEN_EVERY_MS): only an agent seen within the old lease time may hold one still running.
    let old_ms = i64::from(t.lease_seconds) * 1_000;
    let may_hold_one = agent::Entity::find()
        .filter(agent::Column::TenantId.eq(id))
        .filter(agent::Column::LastSeenAt.gt(now - old_ms - crate::ledger::grants::SEEN_EVERY_MS))
        .count(&txn)
        .await?
        > 0;
    let longer_until = if seconds_i32 < t.lease_seconds && may_hold_one {
        Some(std::cmp::max(
            t.longer_leases_until.unwrap_or(0),
            now + old_ms,
        ))
    } else {
        t.longer_leases_until
    };
    entity::Entity::update_many()
        .col_expr(entity::Column::LeaseSeconds, Expr::value(seconds_i32))
        .col_expr(entity::Column::LongerLeasesUntil, Expr::value(longer_until))
        .filter(entity::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit(
        Entry::by(who.viewer(), now, AuditKind::TenantSetLeaseTime, &t.name)
            .said(Detail::LeaseTime { seconds }),
    )
    .await
}

/// Borrowing for the tenant's agents (checked by [`super::model::parse_max_borrow_hours`] and
/// [`super::model::parse_keep_unborrowed`]). Borrows already made run to their end: their leases
/// are signed.
pub async fn set_borrowing(
    db: &DatabaseConnection,
    who: &Granted<cap::ManageTenants>,
    id: &str,
    max_hours: Option<u32>,
    keep: u32,
    now: i64,
) -> Result<(), AppError> {
    let txn = crate::server::db::begin_write(db).await?;
    let t = find(&txn, id).await?;
    let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    entity::Entity::update_many()
        .col_expr(
            entity::Column::MaxBorrowHours,
            Expr::value(max_hours.map(to_i32)),
        )
        .col_expr(entity::Column::KeepUnborrowed, Expr::value(to_i32(keep)))
        .filter(entity::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let detail = Detail::Borrowing {
        max_hours,
        kept: keep,
    };
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::TenantSetBorrowing, &t.name).said(detail),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// A new enrollment key for a tenant.
pub(crate) fn new_enrollment_key() -> Result<String, AppError> {
    Ok(format!(
        "tek_{}",
        crate::auth::server::tokens::random_token()?
    ))
}

/// Gives every tenant without one an enrollment key (first start, and tenants older than keys).
pub async fn ensure_enrollment_keys(db: &impl ConnectionTrait) -> Result<(), AppError> {
    let missing = entity::Entity::find()
        .filter(entity::Column::EnrollmentKey.is_null())
        .all(db)
        .await?;
    for t in missing {
        entity::Entity::update_many()
            .col_expr(
                entity::Column::EnrollmentKey,
                Expr::value(new_enrollment_key()?),
            )
            .filter(entity::Column::Id.eq(t.id))
            .filter(entity::Column::EnrollmentKey.is_null())
            .exec(db)
            .await?;
    }
    Ok(())
}
