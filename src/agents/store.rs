//! Persistence of agents: enrollment keys, registration and the bearer token. What agents hold
//! (checkout's claim, releases) is the ledger's (`ledger::holdings`).
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};

use super::entity as agent;
use super::model::{AgentState, Registered};
use crate::error::{AppError, Field, Problem, internal};
use crate::ledger::Ledger;
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
/// again returns the same agent, running, with a new token. A ledger change: it makes the agent's
/// remembered grants stale (its old token, a shut-down state).
pub async fn register(
    db: &DatabaseConnection,
    ledger: &Ledger,
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
    let tenant_of_key =
        || tenant::Entity::find().filter(tenant::Column::EnrollmentKey.eq(enrollment_key));
    // A wrong key is refused before any write.
    if tenant_of_key().one(db).await?.is_none() {
        return Err(AppError::BadAgentCredentials);
    }
    let txn = ledger.begin().await?;
    let Some(t) = tenant_of_key().one(&txn).await? else {
        return Err(AppError::BadAgentCredentials);
    };
    // Registering is managing the platform: refused while the tenant's platform has lapsed.
    // Agents already registered go on checking out under their own licenses.
    if let Some(on) = crate::expiry::store::platform_expired_at(&txn, &t.id, now).await? {
        return Err(AppError::PlatformExpired { on });
    }
    let token = random_token()?;
    // Changes are serialised (the installation row): no other registration of this machine can
    // come between this look and the write.
    let existing = agent::Entity::find()
        .filter(agent::Column::TenantId.eq(t.id.clone()))
        .filter(agent::Column::MachineId.eq(machine_id))
        .one(&txn)
        .await?;
    let again = existing.is_some();
    let id = match existing {
        Some(a) => {
            let id = a.id.clone();
            let mut m: agent::ActiveModel = a.into();
            m.token_hash = Set(sha256_hex(token.as_bytes()));
            m.state = Set(AgentState::Running.as_str().to_string());
            m.last_seen_at = Set(now);
            m.update(&txn).await?;
            id
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            agent::ActiveModel {
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
            .insert(&txn)
            .await?;
            id
        }
    };
    // The agent acts for itself: it is named by its machine.
    txn.commit(
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
