//! Holdings that break tenant isolation: an agent holding a license issued for (or pooled in)
//! another tenant, a user holding a seat of a license issued for another tenant. Tessera makes
//! none; holdings made before the rule existed are kept, and listed once at each start so that an
//! administrator can recall them (PRODUCT.md: nobody loses a license by an upgrade).
use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::agents::entity as agent;
use crate::error::AppError;
use crate::licenses::entity::certificate;
use crate::seats::entity as seat;
use crate::users::entity as user;

/// One holding outside its tenant, as the start-up log line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// `agent <machine id>` or `user <name>`.
    pub holder: String,
    pub holder_tenant: String,
    pub license_id: String,
    pub license_tenant: String,
}

impl std::fmt::Display for Outside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of tenant {} holds license {} of tenant {}",
            self.holder, self.holder_tenant, self.license_id, self.license_tenant
        )
    }
}

/// Every holding outside its tenant. Reads only the licenses tied to a tenant and their holders.
pub async fn outside_their_tenant(db: &impl ConnectionTrait) -> Result<Vec<Outside>, AppError> {
    let tied: HashMap<String, String> = certificate::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(certificate::Column::TenantId.is_not_null())
                .add(certificate::Column::AssignedTenantId.is_not_null()),
        )
        .all(db)
        .await?
        .into_iter()
        .filter_map(|c| {
            let tenant = c.tenant_id.or(c.assigned_tenant_id)?;
            Some((c.id, tenant))
        })
        .collect();
    if tied.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for a in agent::Entity::find()
        .filter(agent::Column::LicenseId.is_not_null())
        .all(db)
        .await?
    {
        let Some(license_id) = a.license_id else {
            continue;
        };
        if let Some(tenant) = tied.get(&license_id).filter(|t| **t != a.tenant_id) {
            out.push(Outside {
                holder: format!("agent {}", a.machine_id),
                holder_tenant: a.tenant_id,
                license_tenant: tenant.clone(),
                license_id,
            });
        }
    }
    let users: HashMap<String, user::Model> = user::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    for s in seat::Entity::find().all(db).await? {
        let (Some(tenant), Some(u)) = (tied.get(&s.certificate_id), users.get(&s.user_id)) else {
            continue;
        };
        if *tenant != u.tenant_id {
            out.push(Outside {
                holder: format!("user {}", u.name),
                holder_tenant: u.tenant_id.clone(),
                license_id: s.certificate_id,
                license_tenant: tenant.clone(),
            });
        }
    }
    Ok(out)
}
