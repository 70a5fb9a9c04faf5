//! What administrators do to agents, persisted: the listing, binding a fixed license, shutting an
//! agent down, deleting it, and releasing floating licenses of agents gone silent.
//!
//! Lock order, the same as checkout's: the agent's row first, then certificates. Binding also
//! takes the license-write lock (the installation row) before both.
use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::decide::{Held, licensed_until};
use super::entity as agent;
use super::model::{
    AGENTS_PAGE, AgentDetail, AgentRow, AgentState, AgentsListing, FixedLicense, HeldLicense,
};
use super::store::held_of;
use crate::audit::model::AuditKind;
use crate::audit::store::{Entry, record};
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::licenses::domain::{Expiry, Status, status, waits_until};
use crate::licenses::entity::certificate;
use crate::licenses::format::{Binding, LicenseType};
use crate::licenses::store::begin_license_write;
use crate::tenants::{Tenant, entity as tenant};

/// Why a certificate ended other than by time.
pub const ENDED_AGENT_DELETED: &str = "agent_deleted";

fn row(
    a: agent::Model,
    tenants: &HashMap<String, tenant::Model>,
    held: Option<&certificate::Model>,
    now: i64,
) -> AgentRow {
    let t = tenants.get(&a.tenant_id);
    let unlimited =
        t.and_then(|t| Expiry::from_parts(t.unlimited_agents_until, t.unlimited_agents_permanent));
    let held_state: Option<Held> = held.map(held_of);
    let licensed = licensed_until(held_state.as_ref(), unlimited, now);
    AgentRow {
        tenant_name: t.map(|t| t.name.clone()).unwrap_or_default(),
        license: held.map(|c| HeldLicense {
            id: c.id.clone(),
            product_name: c.product_name.clone(),
            binding: c
                .binding
                .as_deref()
                .and_then(Binding::parse)
                .unwrap_or(Binding::Floating),
            status: status(&c.state(), now),
        }),
        basis: licensed.map(|(b, _)| b),
        licensed_until: licensed.map(|(_, e)| e),
        state: AgentState::parse(&a.state).unwrap_or(AgentState::ShutDown),
        refused_count: u64::try_from(a.refused_count).unwrap_or(0),
        last_seen_at: a.last_seen_at,
        id: a.id,
        tenant_id: a.tenant_id,
        machine_id: a.machine_id,
    }
}

async fn tenants_by_id(
    db: &impl ConnectionTrait,
) -> Result<HashMap<String, tenant::Model>, AppError> {
    Ok(tenant::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect())
}

/// Usable, unbound licenses of one binding, optionally only those a tenant's agents may take.
pub fn free_condition(binding: Binding, now: i64) -> sea_orm::Condition {
    use certificate::Column as C;
    sea_orm::Condition::all()
        .add(C::LicenseType.eq(LicenseType::Agent.as_str()))
        .add(C::Binding.eq(binding.as_str()))
        .add(C::BoundAgentId.is_null())
        .add(C::RevokedBy.is_null())
        .add(C::EndedReason.is_null())
        .add(
            sea_orm::Condition::any()
                .add(C::NotAfterAt.is_null())
                .add(C::NotAfterAt.gt(now)),
        )
        .add(
            sea_orm::Condition::any()
                .add(C::ActivatedAt.is_null())
                .add(C::Permanent.eq(true))
                .add(C::ExpiresAt.gt(now)),
        )
        // Not before its first valid day (one activated already was past it).
        .add(
            sea_orm::Condition::any()
                .add(C::NotBeforeAt.is_null())
                .add(C::NotBeforeAt.lte(now))
                .add(C::ActivatedAt.is_not_null()),
        )
}

async fn fixed_free(
    db: &impl ConnectionTrait,
    tenant_id: Option<&str>,
    now: i64,
) -> Result<Vec<FixedLicense>, AppError> {
    let mut cond = free_condition(Binding::Fixed, now);
    if let Some(t) = tenant_id {
        cond = cond.add(
            sea_orm::Condition::any()
                .add(certificate::Column::AssignedTenantId.eq(t))
                .add(certificate::Column::AssignedTenantId.is_null()),
        );
    }
    Ok(certificate::Entity::find()
        .filter(cond)
        .order_by_asc(certificate::Column::ProductName)
        .order_by_asc(certificate::Column::InstalledAt)
        .order_by_asc(certificate::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|c| FixedLicense {
            validity_days: c.validity_days.and_then(|d| u32::try_from(d).ok()),
            tenant_id: c.assigned_tenant_id,
            id: c.id,
            product_name: c.product_name,
        })
        .collect())
}

/// Settings > Agents: every agent, the fixed licenses free to bind, and floating usage.
pub async fn listing(
    db: &impl ConnectionTrait,
    _who: &Granted<cap::BindAgents>,
    tenant_id: Option<&str>,
    page: u64,
    now: i64,
) -> Result<AgentsListing, AppError> {
    let tenants = tenants_by_id(db).await?;
    // One page of agents, by machine: an installation may run thousands.
    let mut find = agent::Entity::find();
    if let Some(t) = tenant_id {
        find = find.filter(agent::Column::TenantId.eq(t));
    }
    let total = find.clone().count(db).await?;
    let page = Ord::clamp(page, 1, Ord::max(total.div_ceil(AGENTS_PAGE), 1));
    let agents = find
        .order_by_asc(agent::Column::MachineId)
        .order_by_asc(agent::Column::Id)
        .offset((page - 1) * AGENTS_PAGE)
        .limit(AGENTS_PAGE)
        .all(db)
        .await?;
    let held: HashMap<String, certificate::Model> = certificate::Entity::find()
        .filter(certificate::Column::Id.is_in(agents.iter().filter_map(|a| a.license_id.clone())))
        .filter(certificate::Column::EndedReason.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    // Counted in the database: an installation holds tens of thousands of agent licenses.
    let floating = || {
        use crate::licenses::store::status_condition;
        certificate::Entity::find()
            .filter(certificate::Column::LicenseType.eq(LicenseType::Agent.as_str()))
            .filter(certificate::Column::Binding.eq(Binding::Floating.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(status_condition(Status::Unused, now))
                    .add(status_condition(Status::Activated, now)),
            )
    };
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(AgentsListing {
        floating_total: count(floating().count(db).await?),
        floating_held: count(
            floating()
                .filter(certificate::Column::BoundAgentId.is_not_null())
                .count(db)
                .await?,
        ),
        agents: agents
            .into_iter()
            .map(|a| {
                let h = a.license_id.as_ref().and_then(|id| held.get(id));
                row(a, &tenants, h, now)
            })
            .collect(),
        total,
        page,
        tenant: tenant_id
            .and_then(|t| tenants.get(t))
            .map(|t| Tenant::from(t.clone())),
        fixed_free: count(
            certificate::Entity::find()
                .filter(free_condition(Binding::Fixed, now))
                .count(db)
                .await?,
        ),
    })
}

async fn find(db: &impl ConnectionTrait, id: &str) -> Result<agent::Model, AppError> {
    agent::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or(AppError::invalid(Field::Agent, Problem::Unknown))
}

pub(super) async fn held(
    db: &impl ConnectionTrait,
    a: &agent::Model,
) -> Result<Option<certificate::Model>, AppError> {
    Ok(match &a.license_id {
        Some(id) => certificate::Entity::find_by_id(id.clone()).one(db).await?,
        None => None,
    })
}

/// One agent's own page.
pub async fn detail(
    db: &impl ConnectionTrait,
    who: &Granted<cap::BindAgents>,
    id: &str,
    now: i64,
) -> Result<AgentDetail, AppError> {
    let a = agent::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let tenants = tenants_by_id(db).await?;
    let h = held(db, &a).await?;
    let fixed = fixed_free(db, Some(&a.tenant_id), now).await?;
    Ok(AgentDetail {
        agent: row(a, &tenants, h.as_ref(), now),
        fixed_free: fixed,
        can_delete: who
            .viewer()
            .role
            .allows(crate::auth::model::Permission::DeleteAgents),
    })
}

/// Releases the floating license an agent holds, if any. The agent's row is written first.
pub(super) async fn release_floating(
    txn: &impl ConnectionTrait,
    a: &agent::Model,
    h: Option<&certificate::Model>,
) -> Result<(), AppError> {
    let Some(c) = h.filter(|c| c.binding.as_deref() == Some(Binding::Floating.as_str())) else {
        return Ok(());
    };
    agent::Entity::update_many()
        .col_expr(
            agent::Column::LicenseId,
            Expr::value(Option::<String>::None),
        )
        .filter(agent::Column::Id.eq(a.id.clone()))
        .filter(agent::Column::LicenseId.eq(c.id.clone()))
        .exec(txn)
        .await?;
    certificate::Entity::update_many()
        .col_expr(
            certificate::Column::BoundAgentId,
            Expr::value(Option::<String>::None),
        )
        .filter(certificate::Column::Id.eq(c.id.clone()))
        .filter(certificate::Column::BoundAgentId.eq(a.id.clone()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Releases the floating licenses the agents of a tenant hold (its unlimited-agents license
/// licenses them all now).
pub async fn release_floating_of_tenant(
    txn: &impl ConnectionTrait,
    tenant_id: &str,
) -> Result<(), AppError> {
    let holders = agent::Entity::find()
        .filter(agent::Column::TenantId.eq(tenant_id))
        .filter(agent::Column::LicenseId.is_not_null())
        .all(txn)
        .await?;
    for a in holders {
        let h = held(txn, &a).await?;
        release_floating(txn, &a, h.as_ref()).await?;
    }
    Ok(())
}

/// Binds a fixed agent license to an agent, for good. The agent's licensed time stacks: the new
/// license counts from the end of the fixed license it holds, if still valid. A floating license
/// it held goes back to the pool.
pub async fn bind(
    db: &DatabaseConnection,
    who: &Granted<cap::BindAgents>,
    agent_id: &str,
    license_id: &str,
    now: i64,
) -> Result<Expiry, AppError> {
    let txn = begin_license_write(db).await?;
    let a = find(&txn, agent_id).await?;
    let c = certificate::Entity::find_by_id(license_id.to_string())
        .one(&txn)
        .await?
        .ok_or(AppError::invalid(Field::License, Problem::Unknown))?;
    if c.license_type != LicenseType::Agent.as_str()
        || c.binding.as_deref() != Some(Binding::Fixed.as_str())
    {
        return Err(AppError::invalid(Field::License, Problem::WrongType));
    }
    if c.bound_agent_id.is_some() {
        return Err(AppError::conflict(ConflictKind::AlreadyBound));
    }
    if !matches!(status(&c.state(), now), Status::Unused) {
        return Err(AppError::conflict(ConflictKind::LicenseUnusable));
    }
    if let Some(from) = waits_until(&c.state(), now) {
        return Err(AppError::NotYetValid { from });
    }
    if c.assigned_tenant_id
        .as_ref()
        .is_some_and(|t| t != &a.tenant_id)
    {
        return Err(AppError::conflict(ConflictKind::OtherTenant));
    }
    let h = held(&txn, &a).await?;
    let current = h
        .as_ref()
        .filter(|h| h.binding.as_deref() == Some(Binding::Fixed.as_str()))
        .filter(|h| status(&h.state(), now) == Status::Activated)
        .and_then(|h| h.state().expires);
    release_floating(&txn, &a, h.as_ref()).await?;
    let until = c.activation_until(current, now);
    agent::Entity::update_many()
        .col_expr(agent::Column::LicenseId, Expr::value(c.id.clone()))
        .filter(agent::Column::Id.eq(a.id.clone()))
        .exec(&txn)
        .await?;
    let bound = certificate::activate(&c.id, now, until)
        .col_expr(certificate::Column::BoundAgentId, Expr::value(a.id.clone()))
        .filter(certificate::Column::BoundAgentId.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if bound != 1 {
        return Err(AppError::conflict(ConflictKind::AlreadyBound));
    }
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::AgentBind, &a.machine_id)
            .detail(format!("license {} ({})", c.id, c.product_name)),
    )
    .await?;
    txn.commit().await?;
    Ok(until)
}

/// Shuts an agent's machine down: checkout refuses it until it registers again, and its
/// floating license goes back to the pool. A fixed license stays bound.
pub async fn shut_down(
    db: &DatabaseConnection,
    who: &Granted<cap::BindAgents>,
    agent_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let txn = begin_license_write(db).await?;
    agent::Entity::update_many()
        .col_expr(
            agent::Column::State,
            Expr::value(AgentState::ShutDown.as_str()),
        )
        .filter(agent::Column::Id.eq(agent_id))
        .exec(&txn)
        .await?;
    let a = find(&txn, agent_id).await?;
    let h = held(&txn, &a).await?;
    release_floating(&txn, &a, h.as_ref()).await?;
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::AgentShutDown, &a.machine_id),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// An agent giving its floating license back (it stops serving); it stays registered.
pub async fn release(db: &DatabaseConnection, a: &agent::Model) -> Result<(), AppError> {
    let txn = begin_license_write(db).await?;
    let a = find(&txn, &a.id).await?;
    let h = held(&txn, &a).await?;
    release_floating(&txn, &a, h.as_ref()).await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes an agent. Every license bound to it ends (Expired); its token stops working.
pub async fn delete(
    db: &DatabaseConnection,
    who: &Granted<cap::DeleteAgents>,
    agent_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let txn = begin_license_write(db).await?;
    let a = find(&txn, agent_id).await?;
    agent::Entity::delete_by_id(agent_id.to_string())
        .exec(&txn)
        .await?;
    certificate::Entity::update_many()
        .col_expr(
            certificate::Column::EndedReason,
            Expr::value(ENDED_AGENT_DELETED),
        )
        .filter(certificate::Column::BoundAgentId.eq(agent_id))
        .filter(certificate::Column::EndedReason.is_null())
        .exec(&txn)
        .await?;
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::AgentDelete, &a.machine_id),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Releases the floating licenses of agents silent for longer than their tenant allows (only in
/// tenants that set a limit). Returns how many were released.
pub async fn release_silent(db: &DatabaseConnection, now: i64) -> Result<u64, AppError> {
    let limits: Vec<(String, i64)> = tenant::Entity::find()
        .filter(tenant::Column::ReleaseAfterMinutes.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|t| Some((t.id, i64::from(t.release_after_minutes?) * 60_000)))
        .collect();
    let mut released = 0;
    for (tenant_id, after_ms) in limits {
        let cutoff = now - after_ms;
        let silent = agent::Entity::find()
            .filter(agent::Column::TenantId.eq(tenant_id))
            .filter(agent::Column::LicenseId.is_not_null())
            .filter(agent::Column::LastSeenAt.lt(cutoff))
            .all(db)
            .await?;
        for a in silent {
            let txn = begin_license_write(db).await?;
            // Still silent, and still holding it, now that the lock is ours.
            let Some(a) = agent::Entity::find_by_id(a.id)
                .filter(agent::Column::LastSeenAt.lt(cutoff))
                .one(&txn)
                .await?
            else {
                continue;
            };
            let h = held(&txn, &a).await?;
            if h.as_ref().and_then(|c| c.binding.as_deref()) == Some(Binding::Floating.as_str()) {
                release_floating(&txn, &a, h.as_ref()).await?;
                released += 1;
            }
            txn.commit().await?;
        }
    }
    Ok(released)
}
