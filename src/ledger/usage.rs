//! The usage record: every change of what is in use, written in the same transaction as the
//! change itself, so the record and the state never disagree after a crash.
//!
//! In use means held: a floating or fixed agent license bound to an agent (until its agent lets
//! it go, or is deleted: an expired or revoked floating license is let go at the agent's next
//! checkout; one taken from an agent shut down until its last lease or borrow ends, the time its
//! release is recorded at), and a personal seat held by a user. Agents registered and removed are recorded the
//! same way, under their tenant (kind [`REGISTERED_AGENTS`]), so a chart of agents licensed
//! against registered is read from the record too. [`in_use`] reads what is in use from the
//! state, [`state`] that and the agents registered: what the rollups walk back from.
use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};

use crate::agents::entity as agent;
use crate::error::AppError;
use crate::licenses::entity::certificate;
use crate::licenses::format::{Binding, LicenseType};
use crate::seats::entity as seat;
use crate::usage::entity::event;
use crate::usage::rollup::{Key, REGISTERED_AGENTS};
use crate::users::entity as user;

/// What happened to a license in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happened {
    /// A floating license taken at checkout.
    Claim,
    /// A fixed license bound by an administrator.
    Bind,
    /// A license let go, and why.
    Release(Why),
    SeatGiven,
    SeatRecalled,
    /// An agent registered (its first registration; registering again changes nothing).
    Registered,
    /// An agent deleted.
    Removed,
    /// A license came into force: its first activation (it counts in no one's use).
    Activated,
    /// A license stopped licensing anything, and why (it counts in no one's use).
    Lapsed(Ended),
}

/// Why a license lapsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Its validity ran out (recorded at that time by the roll-up: `usage::store::roll_up`).
    Expired,
    /// A newer certificate withdrew it.
    Withdrawn,
    /// It was bound to an agent that was deleted.
    AgentDeleted,
}

/// Why a license stopped being in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The agent gave it back.
    Agent,
    /// Replaced at checkout: it had expired or been revoked.
    Lapsed,
    ShutDown,
    /// Silent for longer than its tenant allows.
    Silent,
    /// Its tenant's unlimited-agents license licenses the agent now.
    Unlimited,
    /// A fixed license was bound to the agent instead.
    Fixed,
    /// The agent was deleted.
    Deleted,
    /// Every license was deleted (back to demo mode).
    Reset,
}

impl Happened {
    pub fn kind(self) -> &'static str {
        match self {
            Happened::Claim => "claim",
            Happened::Bind => "bind",
            Happened::Release(_) => "release",
            Happened::SeatGiven => "seat_given",
            Happened::SeatRecalled => "seat_recalled",
            Happened::Registered => "registered",
            Happened::Removed => "removed",
            Happened::Activated => "activated",
            Happened::Lapsed(_) => "lapsed",
        }
    }

    pub fn reason(self) -> Option<&'static str> {
        match self {
            Happened::Release(why) => Some(match why {
                Why::Agent => "agent",
                Why::Lapsed => "lapsed",
                Why::ShutDown => "shut_down",
                Why::Silent => "silent",
                Why::Unlimited => "unlimited",
                Why::Fixed => "fixed",
                Why::Deleted => "deleted",
                Why::Reset => "reset",
            }),
            Happened::Lapsed(ended) => Some(match ended {
                Ended::Expired => "expired",
                Ended::Withdrawn => "withdrawn",
                Ended::AgentDeleted => "agent_deleted",
            }),
            _ => None,
        }
    }

    fn delta(self) -> i32 {
        match self {
            Happened::Claim | Happened::Bind | Happened::SeatGiven | Happened::Registered => 1,
            Happened::Release(_) | Happened::SeatRecalled | Happened::Removed => -1,
            Happened::Activated | Happened::Lapsed(_) => 0,
        }
    }
}

/// The key a license's activation or lapse is recorded under: its pool, the tenant it serves
/// (`tenant`, else its pool's), its product and kind (an agent license's binding, else its type).
pub fn license_key(c: &certificate::Model, tenant: Option<&str>) -> Key {
    let kind = if c.license_type == LicenseType::Agent.as_str() {
        c.binding
            .clone()
            .unwrap_or_else(|| Binding::Floating.as_str().into())
    } else {
        c.license_type.clone()
    };
    Key {
        pool: c.assigned_tenant_id.clone().unwrap_or_default(),
        tenant: tenant
            .or(c.assigned_tenant_id.as_deref())
            .unwrap_or_default()
            .to_string(),
        product: c.product.clone(),
        kind,
    }
}

/// Records that `c` came into force at `at`, serving `tenant` (its pool's when `None`) and
/// `subject` (the agent, tenant or user it was activated for; empty for a server license).
pub async fn activated(
    txn: &impl ConnectionTrait,
    at: i64,
    c: &certificate::Model,
    tenant: Option<&str>,
    subject: &str,
) -> Result<(), AppError> {
    let key = license_key(c, tenant);
    record(txn, at, Happened::Activated, &key, subject, Some(&c.id)).await
}

/// Records that `c` lapsed at `at`, and why.
pub async fn lapsed(
    txn: &impl ConnectionTrait,
    at: i64,
    c: &certificate::Model,
    why: Ended,
) -> Result<(), AppError> {
    let key = license_key(c, None);
    let subject = c.bound_agent_id.as_deref().unwrap_or_default();
    record(txn, at, Happened::Lapsed(why), &key, subject, Some(&c.id)).await
}

/// Records the lapses by time in `[from, until)`: licenses in force whose validity ended then
/// (at its end), and licenses never activated whose last valid day passed. Withdrawn and ended
/// licenses lapsed when that happened. Answers how many.
pub async fn record_lapses(
    txn: &impl ConnectionTrait,
    from: i64,
    until: i64,
) -> Result<usize, AppError> {
    use certificate::Column as C;
    use sea_orm::Condition;
    let lapsed_then = certificate::Entity::find()
        .filter(C::RevokedBy.is_null())
        .filter(C::EndedReason.is_null())
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(C::ActivatedAt.is_not_null())
                        .add(C::Permanent.eq(false))
                        .add(C::ExpiresAt.gte(from))
                        .add(C::ExpiresAt.lt(until)),
                )
                .add(
                    Condition::all()
                        .add(C::ActivatedAt.is_null())
                        .add(C::NotAfterAt.gte(from))
                        .add(C::NotAfterAt.lt(until)),
                ),
        )
        .all(txn)
        .await?;
    for c in &lapsed_then {
        let at = match c.activated_at {
            Some(_) => c.expires_at.unwrap_or(from),
            None => c.not_after_at.unwrap_or(from),
        };
        lapsed(txn, at, c, Ended::Expired).await?;
    }
    Ok(lapsed_then.len())
}

/// The key an agent license held by an agent of `tenant_id` counts under.
pub fn agent_key(c: &certificate::Model, tenant_id: &str) -> Key {
    Key {
        pool: c.assigned_tenant_id.clone().unwrap_or_default(),
        tenant: tenant_id.to_string(),
        product: c.product.clone(),
        kind: c
            .binding
            .clone()
            .unwrap_or_else(|| Binding::Floating.as_str().into()),
    }
}

/// The key an agent of `tenant_id` is counted under while it is registered.
pub fn agents_key(tenant_id: &str) -> Key {
    Key {
        pool: String::new(),
        tenant: tenant_id.to_string(),
        product: String::new(),
        kind: REGISTERED_AGENTS.to_string(),
    }
}

/// The key a personal seat of `product` held by a user of `tenant_id` counts under.
pub fn seat_key(product: &str, tenant_id: &str) -> Key {
    Key {
        pool: String::new(),
        tenant: tenant_id.to_string(),
        product: product.to_string(),
        kind: LicenseType::Personal.as_str().to_string(),
    }
}

/// Records one change of what is in use, inside the change's transaction.
pub async fn record(
    txn: &impl ConnectionTrait,
    at: i64,
    happened: Happened,
    key: &Key,
    subject: &str,
    certificate_id: Option<&str>,
) -> Result<(), AppError> {
    record_many(txn, at, happened, key, subject, certificate_id, 1).await
}

/// Records `n` of the same change at once (a deletion of everything).
pub async fn record_many(
    txn: &impl ConnectionTrait,
    at: i64,
    happened: Happened,
    key: &Key,
    subject: &str,
    certificate_id: Option<&str>,
    n: i32,
) -> Result<(), AppError> {
    metrics::counter!(
        "tessera_license_changes_total",
        "kind" => happened.kind(),
        "reason" => happened.reason().unwrap_or(""),
    )
    .increment(u64::from(n.unsigned_abs()));
    event::Entity::insert(event::ActiveModel {
        at: Set(at),
        kind: Set(happened.kind().to_string()),
        reason: Set(happened.reason().map(str::to_string)),
        pool: Set(key.pool.clone()),
        tenant_id: Set(key.tenant.clone()),
        product: Set(key.product.clone()),
        license_kind: Set(key.kind.clone()),
        subject: Set(subject.to_string()),
        certificate_id: Set(certificate_id.map(str::to_string)),
        delta: Set(happened.delta() * n),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// What is in use now, per key, as the state holds it (the agent licenses bound to an agent and
/// not ended with it; the seats held).
pub async fn in_use(db: &impl ConnectionTrait) -> Result<HashMap<Key, i64>, AppError> {
    use certificate::Column as C;
    let held: Vec<(String, Option<String>, String, Option<String>)> = certificate::Entity::find()
        .select_only()
        .column(C::BoundAgentId)
        .column(C::AssignedTenantId)
        .column(C::Product)
        .column(C::Binding)
        .filter(C::BoundAgentId.is_not_null())
        .filter(C::EndedReason.is_null())
        .into_tuple::<(Option<String>, Option<String>, String, Option<String>)>()
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(a, pool, product, binding)| Some((a?, pool, product, binding)))
        .collect();
    let tenant_of: HashMap<String, String> = agent::Entity::find()
        .select_only()
        .column(agent::Column::Id)
        .column(agent::Column::TenantId)
        .filter(agent::Column::LicenseId.is_not_null())
        .into_tuple::<(String, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut levels: HashMap<Key, i64> = HashMap::new();
    for (agent_id, pool, product, binding) in held {
        let key = Key {
            pool: pool.unwrap_or_default(),
            tenant: tenant_of.get(&agent_id).cloned().unwrap_or_default(),
            product,
            kind: binding.unwrap_or_else(|| Binding::Floating.as_str().into()),
        };
        *levels.entry(key).or_default() += 1;
    }
    let tenant_of_user: HashMap<String, String> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::TenantId)
        .into_tuple::<(String, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let seats: Vec<(String, String)> = seat::Entity::find()
        .select_only()
        .column(seat::Column::UserId)
        .column(seat::Column::Product)
        .into_tuple()
        .all(db)
        .await?;
    for (user_id, product) in seats {
        let tenant = tenant_of_user.get(&user_id).map_or("", String::as_str);
        *levels.entry(seat_key(&product, tenant)).or_default() += 1;
    }
    levels.retain(|_, n| *n != 0);
    Ok(levels)
}

/// Per pool, product and kind (every tenant's key): the floating licenses bound to no agent but
/// held at `now` for the last lease or borrow of an agent shut down. They are in use; the record
/// already holds their release, dated when the hold ends.
pub async fn held_for_leases(
    db: &impl ConnectionTrait,
    now: i64,
) -> Result<HashMap<Key, i64>, AppError> {
    use certificate::Column as C;
    let held: Vec<(Option<String>, String, Option<String>, i64)> = certificate::Entity::find()
        .select_only()
        .column(C::AssignedTenantId)
        .column(C::Product)
        .column(C::Binding)
        .column_as(C::Id.count(), "n")
        .filter(C::BoundAgentId.is_null())
        .filter(C::EndedReason.is_null())
        .filter(C::LeaseHeldUntil.gt(now))
        .group_by(C::AssignedTenantId)
        .group_by(C::Product)
        .group_by(C::Binding)
        .into_tuple()
        .all(db)
        .await?;
    Ok(held
        .into_iter()
        .map(|(pool, product, binding, n)| {
            let key = Key {
                pool: pool.unwrap_or_default(),
                tenant: String::new(),
                product,
                kind: binding.unwrap_or_else(|| Binding::Floating.as_str().into()),
            };
            (key.every_tenant(), n)
        })
        .collect())
}

/// What the state holds per key: what is in use ([`in_use`]) and the agents registered, per
/// tenant. The record, summed, says the same ([`recorded`]).
pub async fn state(db: &impl ConnectionTrait) -> Result<HashMap<Key, i64>, AppError> {
    let mut levels = in_use(db).await?;
    let registered: Vec<(String, i64)> = agent::Entity::find()
        .select_only()
        .column(agent::Column::TenantId)
        .column_as(agent::Column::Id.count(), "n")
        .group_by(agent::Column::TenantId)
        .into_tuple()
        .all(db)
        .await?;
    levels.extend(
        registered
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|(tenant, n)| (agents_key(&tenant), n)),
    );
    Ok(levels)
}

/// Every change recorded, summed per key: what the record says is in use.
pub async fn recorded(db: &impl ConnectionTrait) -> Result<HashMap<Key, i64>, AppError> {
    use event::Column as E;
    let sums: Vec<(String, String, String, String, i64)> = event::Entity::find()
        .select_only()
        .column(E::Pool)
        .column(E::TenantId)
        .column(E::Product)
        .column(E::LicenseKind)
        .column_as(E::Delta.sum(), "n")
        .group_by(E::Pool)
        .group_by(E::TenantId)
        .group_by(E::Product)
        .group_by(E::LicenseKind)
        .into_tuple()
        .all(db)
        .await?;
    Ok(sums
        .into_iter()
        .filter(|s| s.4 != 0)
        .map(|(pool, tenant, product, kind, n)| {
            (
                Key {
                    pool,
                    tenant,
                    product,
                    kind,
                },
                n,
            )
        })
        .collect())
}
