//! Persistence of agents: registration and the bearer token. Enrollment keys are the tenants'
//! (`tenants::store`), checking a token is the auth module's (`auth::server::agent`), and what
//! agents hold (checkout's claim, releases) is the ledger's (`ledger::holdings`).
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};

use super::entity as agent;
use super::model::{AgentState, MACHINE_ID_MAX, Registered};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::ledger::Ledger;
use crate::ledger::grants::Scope;
use crate::licenses::verify::sha256_hex;
use crate::tenants::entity as tenant;

/// Registers the agent of a machine in the tenant whose enrollment key it presents. A machine
/// registered already registers again only with its agent's own token (`presented`, the hash of
/// the bearer token sent; the agent keeps its state, a shut down included), or once after an
/// administrator reset its registration; anyone else holding the enrollment key gets
/// `MachineRegistered`, and nothing changes. A new machine is refused `AgentLimit` when the tenant
/// has as many agents as it allows. A ledger change: a new token makes the old one's grants stale.
pub async fn register(
    db: &DatabaseConnection,
    ledger: &Ledger,
    enrollment_key: &str,
    machine_id: &str,
    presented: Option<&str>,
    now: i64,
) -> Result<Registered, AppError> {
    // As the OpenAPI document states it: at most 200 characters as sent, not only spaces.
    if machine_id.chars().count() > MACHINE_ID_MAX {
        return Err(AppError::invalid(
            Field::MachineId,
            Problem::TooLong {
                max: MACHINE_ID_MAX as u32,
            },
        ));
    }
    let machine_id = machine_id.trim();
    if machine_id.is_empty() {
        return Err(AppError::invalid(Field::MachineId, Problem::Required));
    }
    let tenant_of_key =
        || tenant::Entity::find().filter(tenant::Column::EnrollmentKey.eq(enrollment_key));
    // A wrong key is refused before any write.
    if tenant_of_key().one(db).await?.is_none() {
        return Err(AppError::BadAgentCredentials);
    }
    let mut txn = ledger.begin().await?;
    let Some(t) = tenant_of_key().one(&txn).await? else {
        return Err(AppError::BadAgentCredentials);
    };
    // Registering is managing the platform: refused while the tenant's platform has lapsed.
    // Agents already registered go on checking out under their own licenses.
    if let Some(on) = crate::ledger::platform::platform_expired_at(&txn, &t.id, now).await? {
        return Err(AppError::PlatformExpired { on });
    }
    let token = crate::auth::server::tokens::random_token()?;
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
            let own_token = presented.is_some_and(|hash| hash == a.token_hash);
            if !own_token && !a.registration_open {
                return Err(AppError::conflict(ConflictKind::MachineRegistered));
            }
            let id = a.id.clone();
            // Its old token's grant goes; no other agent's can.
            txn.reaches(Some(Scope::Agent(id.clone())));
            let reopened = a.registration_open;
            let mut m: agent::ActiveModel = a.into();
            m.token_hash = Set(sha256_hex(token.as_bytes()));
            m.registration_open = Set(false);
            if reopened {
                // An administrator reopened the machine: it starts again, running.
                m.state = Set(AgentState::Running.as_str().to_string());
            }
            m.last_seen_at = Set(now);
            m.update(&txn).await?;
            id
        }
        None => {
            if let Some(max) = t.max_agents {
                let agents = agent::Entity::find()
                    .filter(agent::Column::TenantId.eq(t.id.clone()))
                    .count(&txn)
                    .await?;
                if agents >= u64::try_from(max).unwrap_or(0) {
                    return Err(AppError::conflict(ConflictKind::AgentLimit));
                }
            }
            // A new agent: nobody's grant depends on it.
            txn.reaches(None);
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
                registration_open: Set(false),
                borrowed_until: Set(None),
                license_held_until: Set(None),
            }
            .insert(&txn)
            .await?;
            let key = crate::ledger::usage::agents_key(&t.id);
            let happened = crate::ledger::usage::Happened::Registered;
            crate::ledger::usage::record(&txn, now, happened, &key, &id, None).await?;
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
        .said(crate::audit::model::Detail::AgentRegistered {
            tenant: t.name.clone(),
            again,
        }),
    )
    .await?;
    Ok(Registered {
        agent_id: id,
        tenant_id: t.id,
        token,
        lease_public_key: ledger.leases().public_key_pem().to_string(),
    })
}
