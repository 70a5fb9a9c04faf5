//! Persistence of agents: registration, the bearer token, checkout and heartbeat.
//!
//! Never more than bought: a floating license is claimed with a compare-and-set
//! (`... WHERE bound_agent_id IS NULL`) inside a transaction that first writes the agent's own
//! row, so one agent cannot claim twice and no license is held by two agents, whatever the number
//! of racing agents or Tessera instances sharing the database.
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    Order, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};

use super::decide::{Decision, Held, decide};
use super::entity as agent;
use super::grants::SEEN_EVERY_MS;
use super::manage::{self, free_condition};
use super::model::{AgentState, Basis, CheckedOut, Registered};
use crate::error::{AppError, Field, Problem, internal};
use crate::licenses::domain::Expiry;
use crate::licenses::entity::certificate;
use crate::licenses::format::Binding;
use crate::licenses::verify::sha256_hex;
use crate::tenants::entity as tenant;

fn random_token() -> Result<String, AppError> {
    use base64::Engine;
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| internal(format_args!("getrandom: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// A new enrollment key for a tenant.
pub fn new_enrollment_key() -> Result<String, AppError> {
    Ok(format!("tek_{}", random_token()?))
}

/// Gives every tenant without one an enrollment key (first start, and tenants older than keys).
pub async fn ensure_enrollment_keys(db: &impl ConnectionTrait) -> Result<(), AppError> {
    let missing = tenant::Entity::find()
        .filter(tenant::Column::EnrollmentKey.is_null())
        .all(db)
        .await?;
    for t in missing {
        tenant::Entity::update_many()
            .col_expr(
                tenant::Column::EnrollmentKey,
                Expr::value(new_enrollment_key()?),
            )
            .filter(tenant::Column::Id.eq(t.id))
            .filter(tenant::Column::EnrollmentKey.is_null())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Registers the agent of a machine in the tenant whose enrollment key it presents; registering
/// again returns the same agent, running, with a new token.
pub async fn register(
    db: &DatabaseConnection,
    enrollment_key: &str,
    machine_id: &str,
    now: i64,
) -> Result<Registered, AppError> {
    let machine_id = machine_id.trim();
    if machine_id.is_empty() {
        return Err(AppError::invalid(Field::MachineId, Problem::Required));
    }
    if machine_id.chars().count() > 200 {
        return Err(AppError::invalid(
            Field::MachineId,
            Problem::TooLong { max: 200 },
        ));
    }
    let Some(t) = tenant::Entity::find()
        .filter(tenant::Column::EnrollmentKey.eq(enrollment_key))
        .one(db)
        .await?
    else {
        return Err(AppError::BadAgentCredentials);
    };
    // Registering is managing the platform: refused while the tenant's platform has lapsed.
    // Agents already registered go on checking out under their own licenses.
    if let Some(on) = crate::expiry::store::platform_expired_at(db, &t.id, now).await? {
        return Err(AppError::PlatformExpired { on });
    }
    let token = random_token()?;
    let existing = agent::Entity::find()
        .filter(agent::Column::TenantId.eq(t.id.clone()))
        .filter(agent::Column::MachineId.eq(machine_id))
        .one(db)
        .await?;
    let again = existing.is_some();
    let id = match existing {
        Some(a) => {
            let id = a.id.clone();
            let mut m: agent::ActiveModel = a.into();
            m.token_hash = Set(sha256_hex(token.as_bytes()));
            m.state = Set(AgentState::Running.as_str().to_string());
            m.last_seen_at = Set(now);
            m.update(db).await?;
            id
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            let inserted = agent::ActiveModel {
                id: Set(id.clone()),
                tenant_id: Set(t.id.clone()),
                machine_id: Set(machine_id.to_string()),
                token_hash: Set(sha256_hex(token.as_bytes())),
                state: Set(AgentState::Running.as_str().to_string()),
                license_id: Set(None),
                refused_count: Set(0),
                last_seen_at: Set(now),
                created_at: Set(now),
            }
            .insert(db)
            .await;
            match inserted {
                Ok(_) => id,
                // Two registrations of one machine raced: the other one made the agent.
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    return Box::pin(register(db, enrollment_key, machine_id, now)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    // The agent acts for itself: it is named by its machine.
    crate::audit::store::record(
        db,
        crate::audit::store::Entry::named(
            &format!("agent {machine_id}"),
            now,
            crate::audit::model::AuditKind::AgentRegister,
            machine_id,
        )
        .detail(format!(
            "tenant {}{}",
            t.name,
            if again { ", registered again" } else { "" }
        )),
    )
    .await?;
    Ok(Registered {
        agent_id: id,
        tenant_id: t.id,
        token,
    })
}

/// The SHA-256 of a bearer token as stored, if the token is plausible at all.
pub fn token_hash(token: Option<&str>) -> Result<String, AppError> {
    let token = token
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or(AppError::BadAgentCredentials)?;
    Ok(sha256_hex(token.as_bytes()))
}

/// The agent whose bearer token hashes to `hash`.
pub async fn authenticate(db: &impl ConnectionTrait, hash: &str) -> Result<agent::Model, AppError> {
    agent::Entity::find()
        .filter(agent::Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .ok_or(AppError::BadAgentCredentials)
}

pub fn held_of(c: &certificate::Model) -> Held {
    Held {
        id: c.id.clone(),
        binding: c
            .binding
            .as_deref()
            .and_then(Binding::parse)
            .unwrap_or(Binding::Floating),
        state: c.state(),
    }
}

/// What checkout decides for an agent as stored in `conn` now.
async fn decision_for(
    conn: &impl ConnectionTrait,
    a: &agent::Model,
    now: i64,
) -> Result<Decision, AppError> {
    let state = AgentState::parse(&a.state).unwrap_or(AgentState::ShutDown);
    let t = tenant::Entity::find_by_id(a.tenant_id.clone())
        .one(conn)
        .await?
        .ok_or_else(|| internal("an agent's tenant is missing"))?;
    let unlimited = Expiry::from_parts(t.unlimited_agents_until, t.unlimited_agents_permanent);
    let held = match &a.license_id {
        Some(id) => {
            certificate::Entity::find_by_id(id.clone())
                .one(conn)
                .await?
        }
        None => None,
    };
    Ok(decide(
        state,
        held.as_ref().map(held_of).as_ref(),
        unlimited,
        now,
    ))
}

/// Checks an agent out for one inference request.
///
/// Most checkouts change nothing: an agent that is licensed is answered from reads alone (its
/// last-seen time is written at most every [`SEEN_EVERY_MS`], off the request's path). Anything else (taking a floating
/// license, a refusal to count) is decided again inside a transaction that first writes the
/// agent's row, which takes its lock (PostgreSQL) or the write lock (SQLite): one such checkout
/// of an agent at a time, and no read-then-write upgrade to deadlock on.
pub async fn check_out(
    db: &DatabaseConnection,
    a: &agent::Model,
    now: i64,
) -> Result<CheckedOut, AppError> {
    if let Decision::Licensed(out) = decision_for(db, a, now).await? {
        if now - a.last_seen_at >= SEEN_EVERY_MS {
            // Not on the request's time: the answer does not depend on it.
            let (db, id) = (db.clone(), a.id.clone());
            tokio::spawn(async move {
                if let Err(e) = heartbeat(&db, &id, now).await {
                    tracing::warn!(error = %e, "recording an agent's last-seen time failed");
                }
            });
        }
        return Ok(out);
    }
    let txn = db.begin().await?;
    agent::Entity::update_many()
        .col_expr(agent::Column::LastSeenAt, Expr::value(now))
        .filter(agent::Column::Id.eq(a.id.clone()))
        .exec(&txn)
        .await?;
    let a = agent::Entity::find_by_id(a.id.clone())
        .one(&txn)
        .await?
        .ok_or(AppError::BadAgentCredentials)?;
    let outcome = match decision_for(&txn, &a, now).await? {
        Decision::Licensed(out) => Ok(out),
        Decision::ShutDown => Err(AppError::AgentShutDown),
        Decision::Expired => Err(AppError::LicenseExpired),
        Decision::Revoked => Err(AppError::LicenseRevoked),
        Decision::TakeFloating => claim_floating(&txn, &a, now)
            .await?
            .ok_or(AppError::NoLicenseFree),
        Decision::ReplaceFloating => {
            let held = manage::held(&txn, &a).await?;
            manage::release_floating(&txn, &a, held.as_ref()).await?;
            claim_floating(&txn, &a, now)
                .await?
                .ok_or(AppError::NoLicenseFree)
        }
    };
    if outcome.is_err() {
        agent::Entity::update_many()
            .col_expr(
                agent::Column::RefusedCount,
                Expr::col(agent::Column::RefusedCount).add(1),
            )
            .filter(agent::Column::Id.eq(a.id.clone()))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    outcome
}

/// Binds the first free floating license (the tenant's pool first, then unassigned ones) to the
/// agent; `None` when none is free.
async fn claim_floating(
    txn: &impl ConnectionTrait,
    a: &agent::Model,
    now: i64,
) -> Result<Option<CheckedOut>, AppError> {
    use certificate::Column as C;
    let free = || {
        free_condition(Binding::Floating, now).add(
            Condition::any()
                .add(C::AssignedTenantId.eq(a.tenant_id.clone()))
                .add(C::AssignedTenantId.is_null()),
        )
    };
    // A few tries: another agent may take the candidate between the look and the claim.
    for _ in 0..16 {
        let Some(c) = certificate::Entity::find()
            .filter(free())
            .order_by(Expr::col(C::AssignedTenantId).is_null(), Order::Asc)
            .order_by(C::InstalledAt, Order::Asc)
            .order_by(C::Id, Order::Asc)
            .limit(1)
            .one(txn)
            .await?
        else {
            return Ok(None);
        };
        // Its validity runs from its first activation: a license released and taken again
        // keeps the expiry it had.
        let (activated_at, until) = match c.state().expires {
            Some(until) => (c.activated_at.unwrap_or(now), until),
            None => (now, c.activation_until(None, now)),
        };
        let claimed = certificate::activate(&c.id, activated_at, until)
            .col_expr(C::BoundAgentId, Expr::value(a.id.clone()))
            .filter(C::BoundAgentId.is_null())
            .exec(txn)
            .await?
            .rows_affected;
        if claimed == 1 {
            agent::Entity::update_many()
                .col_expr(agent::Column::LicenseId, Expr::value(c.id.clone()))
                .filter(agent::Column::Id.eq(a.id.clone()))
                .exec(txn)
                .await?;
            return Ok(Some(CheckedOut::new(Basis::Floating, Some(c.id), until)));
        }
    }
    Ok(None)
}

pub async fn heartbeat(
    db: &impl ConnectionTrait,
    agent_id: &str,
    now: i64,
) -> Result<(), AppError> {
    agent::Entity::update_many()
        .col_expr(agent::Column::LastSeenAt, Expr::value(now))
        .filter(agent::Column::Id.eq(agent_id))
        .exec(db)
        .await?;
    Ok(())
}
