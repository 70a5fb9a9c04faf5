//! Platform and server licenses coming into force: a tenant's platform extended by a license
//! assigned to it (on upload, by an administrator, or on the license's first valid day),
//! restacked when one is withdrawn; agent licenses put in a tenant's pool. The stacking and
//! restacking rules are `licenses::plan`'s; this applies them.
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

use super::grants::Scope;
use super::{Change, Ledger, SYSTEM_ACTOR};
use crate::audit::model::{AuditKind, Detail};
use crate::audit::store::Entry;
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::licenses::domain::{Expiry, Status, status, waits_until};
use crate::licenses::entity::certificate;
use crate::licenses::format::LicenseType;
use crate::licenses::plan::{self, TenantState};
use crate::tenants::entity as tenant;

/// Stores a tenant's platform and unlimited-agents expiry. While the unlimited-agents license is
/// valid every agent of the tenant is licensed by it, so the floating licenses they hold go back
/// to the pool, for other tenants' agents.
pub async fn write_tenant_expiry(
    txn: &impl ConnectionTrait,
    t: &TenantState,
    now: i64,
) -> Result<(), AppError> {
    let (platform_until, platform_permanent) =
        t.platform.map(Expiry::to_parts).unwrap_or((None, false));
    let (unlimited_until, unlimited_permanent) = t
        .unlimited_agents
        .map(Expiry::to_parts)
        .unwrap_or((None, false));
    tenant::Entity::update_many()
        .col_expr(tenant::Column::PlatformUntil, Expr::value(platform_until))
        .col_expr(
            tenant::Column::PlatformPermanent,
            Expr::value(platform_permanent),
        )
        .col_expr(
            tenant::Column::UnlimitedAgentsUntil,
            Expr::value(unlimited_until),
        )
        .col_expr(
            tenant::Column::UnlimitedAgentsPermanent,
            Expr::value(unlimited_permanent),
        )
        .filter(tenant::Column::Id.eq(t.id.clone()))
        .exec(txn)
        .await?;
    if t.unlimited_agents.is_some_and(|e| e.is_valid_at(now)) {
        super::holdings::release_floating_of_tenant(txn, &t.id, now).await?;
    }
    Ok(())
}

/// A tenant's licensed state as stored.
pub fn tenant_state(t: tenant::Model) -> TenantState {
    TenantState {
        platform: Expiry::from_parts(t.platform_until, t.platform_permanent),
        unlimited_agents: Expiry::from_parts(
            t.unlimited_agents_until,
            t.unlimited_agents_permanent,
        ),
        id: t.id,
        name: t.name,
    }
}

pub async fn tenant_states(db: &impl ConnectionTrait) -> Result<Vec<TenantState>, AppError> {
    Ok(tenant::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(tenant_state)
        .collect())
}

/// The two platform license types, as stored.
pub const PLATFORM_TYPES: [&str; 2] = [
    LicenseType::Platform.as_str(),
    LicenseType::PlatformUnlimitedAgents.as_str(),
];

/// Sets a tenant's platform (and unlimited agents) to what its platform licenses still in force
/// make it ([`plan::restack`]); each license's own expiry follows.
pub(crate) async fn restack_platform(
    txn: &impl ConnectionTrait,
    tenant_id: &str,
    now: i64,
) -> Result<(), AppError> {
    use certificate::Column as C;
    let Some(t) = tenant::Entity::find_by_id(tenant_id.to_string())
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    let in_force = certificate::Entity::find()
        .filter(C::AssignedTenantId.eq(tenant_id))
        .filter(C::LicenseType.is_in(PLATFORM_TYPES))
        .filter(C::ActivatedAt.is_not_null())
        .filter(C::RevokedBy.is_null())
        .order_by_asc(C::ActivatedAt)
        .order_by_asc(C::InstalledAt)
        .order_by_asc(C::Block)
        .order_by_asc(C::Id)
        .all(txn)
        .await?;
    let stack: Vec<plan::InForce> = in_force
        .iter()
        .map(|c| plan::InForce {
            activated_at: c.activated_at.unwrap_or(now),
            validity_days: c.validity_days.and_then(|d| u32::try_from(d).ok()),
            not_after: c.not_after_at,
            unlimited_agents: c.license_type == LicenseType::PlatformUnlimitedAgents.as_str(),
        })
        .collect();
    let (state, untils) = plan::restack(&tenant_state(t), &stack, now);
    for ((c, at), until) in in_force.iter().zip(&stack).zip(untils) {
        if c.state().expires != Some(until) {
            certificate::activate(&c.id, at.activated_at, until)
                .exec(txn)
                .await?;
        }
    }
    write_tenant_expiry(txn, &state, now).await
}

/// Activates a platform license on a tenant at `at`: the tenant's platform (and unlimited
/// agents) is extended as validity stacks, and the license is activated until the new expiry and
/// assigned to the tenant. The tenant's expiry is written by the caller, once for all licenses.
async fn activate_on_tenant(
    txn: &impl ConnectionTrait,
    t: &mut TenantState,
    c: &certificate::Model,
    at: i64,
) -> Result<Expiry, AppError> {
    let until = t.extend(
        c.validity_days.and_then(|d| u32::try_from(d).ok()),
        c.not_after_at,
        c.license_type == LicenseType::PlatformUnlimitedAgents.as_str(),
        at,
    );
    certificate::activate(&c.id, at, until)
        .col_expr(
            certificate::Column::AssignedTenantId,
            Expr::value(t.id.clone()),
        )
        .exec(txn)
        .await?;
    let assigned = certificate::Model {
        assigned_tenant_id: Some(t.id.clone()),
        ..c.clone()
    };
    super::usage::activated(txn, at, &assigned, Some(&t.id), &t.id).await?;
    Ok(until)
}

/// The certificates [`activate_due`] activates at `now`: not activated, not withdrawn or ended,
/// their `not_before` reached, and either a server license or a platform license assigned to its
/// tenant. The partial index `idx_certificates_waiting` serves it (its condition is implied).
pub fn due_condition(now: i64) -> Condition {
    use certificate::Column as C;
    Condition::all()
        .add(C::ActivatedAt.is_null())
        .add(C::RevokedBy.is_null())
        .add(C::EndedReason.is_null())
        .add(C::NotBeforeAt.lte(now))
        .add(
            Condition::any()
                .add(C::NotAfterAt.is_null())
                .add(C::NotAfterAt.gt(now)),
        )
        .add(
            Condition::any()
                .add(C::LicenseType.eq(LicenseType::Server.as_str()))
                .add(
                    Condition::all()
                        .add(C::LicenseType.is_in(PLATFORM_TYPES))
                        .add(C::AssignedTenantId.is_not_null()),
                ),
        )
}

/// Activates the licenses whose first valid day (`not_before`) has come and that activate by
/// themselves: a platform license assigned to its tenant before that day (on upload, or by an
/// administrator) and a server license. Each activates as of its `not_before`, so a sweep that
/// runs late (Tessera was stopped) neither adds nor loses days. Returns how many it activated.
pub async fn activate_due(ledger: &Ledger, now: i64) -> Result<usize, AppError> {
    let db = &ledger.db;
    use certificate::Column as C;
    let due = || certificate::Entity::find().filter(due_condition(now));
    // Every sweep asks; a write transaction only when something is due.
    if due().count(db).await? == 0 {
        return Ok(0);
    }
    let txn = ledger.begin().await?;
    let certs = due()
        .order_by_asc(C::NotBeforeAt)
        .order_by_asc(C::InstalledAt)
        .order_by_asc(C::Id)
        .all(&txn)
        .await?;
    let mut tenants = tenant_states(&txn).await?;
    let before = tenants.clone();
    let mut activated = 0;
    for c in &certs {
        let at = std::cmp::Ord::min(c.not_before_at.unwrap_or(now), now);
        let kind = LicenseType::parse(&c.license_type);
        let subject = match kind {
            Some(LicenseType::Platform | LicenseType::PlatformUnlimitedAgents) => {
                let tenant = c
                    .assigned_tenant_id
                    .as_ref()
                    .and_then(|id| tenants.iter_mut().find(|t| &t.id == id));
                let Some(t) = tenant else {
                    // Its tenant was deleted meanwhile: it waits to be assigned again.
                    certificate::Entity::update_many()
                        .col_expr(C::AssignedTenantId, Expr::value(Option::<String>::None))
                        .filter(C::Id.eq(c.id.clone()))
                        .exec(&txn)
                        .await?;
                    continue;
                };
                activate_on_tenant(&txn, t, c, at).await?;
                t.name.clone()
            }
            _ => {
                certificate::activate(&c.id, at, c.activation_until(None, at))
                    .exec(&txn)
                    .await?;
                super::usage::activated(&txn, at, c, None, "").await?;
                c.feature.clone().unwrap_or_default()
            }
        };
        crate::audit::store::record(
            &txn,
            Entry::named(SYSTEM_ACTOR, now, AuditKind::LicenseActivate, &subject).said(
                Detail::License {
                    id: c.id.clone(),
                    product: c.product_name.clone(),
                },
            ),
        )
        .await?;
        activated += 1;
    }
    for (t, old) in tenants.iter().zip(&before) {
        if t != old {
            write_tenant_expiry(&txn, t, now).await?;
        }
    }
    txn.commit_unaudited().await?;
    Ok(activated)
}

/// What [`assign`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assigned {
    /// A platform license activated on the tenant.
    Platform,
    /// A platform license assigned before its first valid day (`not_before`, Unix ms): the
    /// sweeper activates it on the tenant then.
    Scheduled { from: i64 },
    /// An agent license put in a tenant's pool (or the shared one).
    AgentPool,
}

/// Assigns a license to a tenant: an unused platform license activates on it, extending its
/// platform as validity stacks; an unbound agent license joins its pool (`tenant_id` `None`: the
/// shared pool, which serves every tenant).
pub async fn assign(
    ledger: &Ledger,
    who: &Granted<cap::ManageTenants>,
    tenant_id: Option<&str>,
    license_id: &str,
    now: i64,
) -> Result<Assigned, AppError> {
    let mut txn = ledger.begin().await?;
    let c = certificate::Entity::find_by_id(license_id.to_string())
        .one(&txn)
        .await?
        .ok_or(AppError::invalid(Field::License, Problem::Unknown))?;
    let tenant = match tenant_id {
        Some(id) => Some(
            tenant::Entity::find_by_id(id.to_string())
                .one(&txn)
                .await?
                .ok_or(AppError::invalid(Field::Tenant, Problem::Unknown))?,
        ),
        None => None,
    };
    let tenant_name = tenant.as_ref().map(|t| t.name.clone());
    let kind = LicenseType::parse(&c.license_type);
    if matches!(status(&c.state(), now), Status::Expired | Status::Revoked) {
        return Err(AppError::conflict(ConflictKind::LicenseUnusable));
    }
    let done = match kind {
        Some(LicenseType::Platform | LicenseType::PlatformUnlimitedAgents) => {
            if c.activated_at.is_some() || c.assigned_tenant_id.is_some() {
                return Err(AppError::conflict(ConflictKind::AlreadyAssigned));
            }
            let t = tenant.ok_or(AppError::invalid(Field::Tenant, Problem::Required))?;
            // The tenant's platform changes: its agents' grants, no one else's.
            txn.reaches(Some(Scope::Tenant(t.id.clone())));
            if let Some(from) = waits_until(&c.state(), now) {
                certificate::Entity::update_many()
                    .col_expr(certificate::Column::AssignedTenantId, Expr::value(t.id))
                    .filter(certificate::Column::Id.eq(c.id.clone()))
                    .exec(&txn)
                    .await?;
                return finish(txn, who, now, &c, tenant_name, Assigned::Scheduled { from }).await;
            }
            let mut state = tenant_state(t);
            activate_on_tenant(&txn, &mut state, &c, now).await?;
            write_tenant_expiry(&txn, &state, now).await?;
            Assigned::Platform
        }
        Some(LicenseType::Agent) => {
            if c.bound_agent_id.is_some() {
                return Err(AppError::conflict(ConflictKind::AlreadyBound));
            }
            // A license no agent holds moves between pools: no grant rests on it.
            txn.reaches(None);
            certificate::Entity::update_many()
                .col_expr(
                    certificate::Column::AssignedTenantId,
                    Expr::value(tenant.map(|t| t.id)),
                )
                .filter(certificate::Column::Id.eq(c.id.clone()))
                .filter(certificate::Column::BoundAgentId.is_null())
                .exec(&txn)
                .await?;
            Assigned::AgentPool
        }
        _ => return Err(AppError::invalid(Field::License, Problem::WrongType)),
    };
    finish(txn, who, now, &c, tenant_name, done).await
}

/// Records what [`assign`] did and commits it.
async fn finish(
    txn: Change,
    who: &Granted<cap::ManageTenants>,
    now: i64,
    c: &certificate::Model,
    tenant_name: Option<String>,
    done: Assigned,
) -> Result<Assigned, AppError> {
    let kind = match done {
        Assigned::Platform | Assigned::Scheduled { .. } => AuditKind::TenantAssign,
        Assigned::AgentPool => AuditKind::TenantPool,
    };
    let detail = match done {
        Assigned::Scheduled { from } => Detail::LicenseWaits {
            id: c.id.clone(),
            product: c.product_name.clone(),
            from,
        },
        _ => Detail::License {
            id: c.id.clone(),
            product: c.product_name.clone(),
        },
    };
    txn.commit(
        Entry::by(
            who.viewer(),
            now,
            kind,
            tenant_name.as_deref().unwrap_or("shared pool"),
        )
        .said(detail),
    )
    .await?;
    Ok(done)
}

/// A deleted tenant's agent licenses not bound to an agent go back to the shared pool.
pub(crate) async fn return_pool_to_shared(txn: &Change, tenant_id: &str) -> Result<(), AppError> {
    certificate::Entity::update_many()
        .col_expr(
            certificate::Column::AssignedTenantId,
            Expr::value(Option::<String>::None),
        )
        .filter(certificate::Column::AssignedTenantId.eq(tenant_id))
        .filter(certificate::Column::LicenseType.eq(LicenseType::Agent.as_str()))
        .filter(certificate::Column::BoundAgentId.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// When the platform of `tenant_id` lapsed, if it has (see [`crate::expiry::platform_lapse`]).
pub async fn platform_expired_at(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    now: i64,
) -> Result<Option<i64>, AppError> {
    Ok(tenant::Entity::find_by_id(tenant_id.to_string())
        .one(db)
        .await?
        .and_then(|t| lapse_of(&t, now)))
}

fn lapse_of(t: &tenant::Model, now: i64) -> Option<i64> {
    crate::expiry::platform_lapse(
        Expiry::from_parts(t.platform_until, t.platform_permanent),
        Expiry::from_parts(t.unlimited_agents_until, t.unlimited_agents_permanent),
        now,
    )
}

/// Whether anything licensed has expired and not been renewed: a tenant's platform, or an
/// activated agent, personal or server license. An Administrator or License manager who signs
/// in then lands on Settings > Licenses.
pub async fn anything_expired(db: &impl ConnectionTrait, now: i64) -> Result<bool, AppError> {
    if tenant::Entity::find()
        .all(db)
        .await?
        .iter()
        .any(|t| lapse_of(t, now).is_some())
    {
        return Ok(true);
    }
    let expired = certificate::Entity::find()
        .filter(certificate::Column::ActivatedAt.is_not_null())
        .filter(certificate::Column::RevokedBy.is_null())
        .filter(certificate::Column::LicenseType.is_in([
            LicenseType::Agent.as_str(),
            LicenseType::Personal.as_str(),
            LicenseType::Server.as_str(),
        ]))
        .filter(certificate::Column::Permanent.eq(false))
        .filter(certificate::Column::ExpiresAt.lte(now))
        .filter(certificate::Column::EndedReason.is_null())
        .count(db)
        .await?;
    Ok(expired > 0)
}
