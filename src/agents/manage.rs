//! What administrators see of agents: the listing and an agent's page. What they do to agents'
//! licenses (bind, shut down, delete) is the ledger's (`ledger::holdings`).
use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::decide::{Held, licensed_until};
use super::entity as agent;
use super::model::{
    AGENTS_PAGE, AgentDetail, AgentRow, AgentState, AgentsListing, FixedLicense, HeldLicense,
};
use crate::auth::server::{Granted, cap};
use crate::error::AppError;
use crate::ledger::holdings::{Pool, free_condition, free_fixed_in, held, held_of};
use crate::ledger::status::live_count;
use crate::licenses::domain::{Expiry, Status, status};
use crate::licenses::entity::certificate;
use crate::licenses::format::{Binding, LicenseType};
use crate::tenants::{Tenant, entity as tenant};

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

/// The most fixed licenses an agent's page offers to bind (the oldest), where an installation may
/// hold thousands unbound.
const FIXED_FREE_MAX: u64 = 500;

/// The fixed licenses an agent of `tenant_id` may be bound to: its tenant's and those assigned to
/// none, each pool read through its index, by product then age.
async fn fixed_free(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    now: i64,
) -> Result<Vec<FixedLicense>, AppError> {
    let mut free = Vec::new();
    for pool in [Pool::Tenant, Pool::Shared] {
        free.extend(
            free_fixed_in(pool, tenant_id, now)
                .limit(FIXED_FREE_MAX)
                .all(db)
                .await?,
        );
    }
    free.sort_by(|a, b| {
        (&a.product_name, a.installed_at, &a.id).cmp(&(&b.product_name, b.installed_at, &b.id))
    });
    free.truncate(FIXED_FREE_MAX as usize);
    Ok(free
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
    who: &Granted<cap::BindAgents>,
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
    // A License manager sees their own tenant's agents only.
    if let Some(own) = who.tenant_scope() {
        find = find.filter(agent::Column::TenantId.eq(own));
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
        use crate::ledger::status::status_condition;
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
        // Kept by the database for each pool: counting 500,000 licenses took 57 ms.
        floating_total: count(
            live_count(db, LicenseType::Agent, Some(Binding::Floating), now).await?,
        ),
        // Held by an agent (counted in the database), or for the lease of one shut down (the few
        // such, read through their own index): an `OR` of the two read every license.
        floating_held: count(
            floating()
                .filter(certificate::Column::BoundAgentId.is_not_null())
                .count(db)
                .await?
                + crate::ledger::holdings::held_for_lease(db, now)
                    .await?
                    .iter()
                    .filter(|c| {
                        c.license_type == LicenseType::Agent.as_str()
                            && c.binding.as_deref() == Some(Binding::Floating.as_str())
                            && c.bound_agent_id.is_none()
                            && matches!(status(&c.state(), now), Status::Unused | Status::Activated)
                    })
                    .count() as u64,
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
        .filter(|a| who.reaches_tenant(&a.tenant_id))
        .ok_or(AppError::NotFound)?;
    let tenants = tenants_by_id(db).await?;
    let h = held(db, &a).await?;
    let fixed = fixed_free(db, &a.tenant_id, now).await?;
    let max_borrow_hours = tenants
        .get(&a.tenant_id)
        .and_then(|t| t.max_borrow_hours)
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 0);
    let borrowed_until = a
        .borrowed_until
        .filter(|until| *until > now && a.license_id.is_some());
    let license_held_until = a
        .license_held_until
        .filter(|until| *until > now && a.state == AgentState::ShutDown.as_str());
    Ok(AgentDetail {
        borrowed_until,
        license_held_until,
        max_borrow_hours,
        agent: row(a, &tenants, h.as_ref(), now),
        fixed_free: fixed,
        can_delete: who
            .viewer()
            .role
            .allows(crate::auth::model::Permission::DeleteAgents),
    })
}
