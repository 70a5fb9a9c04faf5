//! Server functions of Settings > Tenants. Each checks its caller first; a form post returns to
//! the page with what was done in its address.
use leptos::prelude::*;

use super::Tenant;
use super::model::TenantsListing;
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::{
    audit::{model::AuditKind, store::audited},
    auth::server::{cap::ManageTenants, require},
};

#[cfg(feature = "ssr")]
fn done(what: &str) {
    leptos_axum::redirect(&format!("/settings/tenants?done={what}"));
}

#[server(endpoint = "tenants/list")]
pub async fn list_tenants() -> Result<TenantsListing, AppError> {
    let who = require::<ManageTenants>()?;
    super::store::listing(who.db(), &who, who.now()).await
}

#[server(endpoint = "tenants/create")]
pub async fn create_tenant(name: String) -> Result<Tenant, AppError> {
    audited(AuditKind::TenantCreate, name.clone(), async move {
        let who = require::<ManageTenants>()?;
        let t = super::store::create(who.ledger(), &who, &name, who.now()).await?;
        tracing::info!(by = %who.viewer().name, tenant = %t.name, "tenant created");
        done("created");
        Ok(t)
    })
    .await
}

#[server(endpoint = "tenants/rename")]
pub async fn rename_tenant(tenant_id: String, name: String) -> Result<(), AppError> {
    audited(AuditKind::TenantRename, tenant_id.clone(), async move {
        let who = require::<ManageTenants>()?;
        let now = who.now();
        super::store::rename(who.ledger(), &who, &tenant_id, &name, now).await?;
        tracing::info!(by = %who.viewer().name, tenant = %tenant_id, "tenant renamed");
        done("renamed");
        Ok(())
    })
    .await
}

#[server(endpoint = "tenants/delete")]
pub async fn delete_tenant(tenant_id: String) -> Result<(), AppError> {
    audited(AuditKind::TenantDelete, tenant_id.clone(), async move {
        let who = require::<ManageTenants>()?;
        super::store::delete(who.ledger(), &who, &tenant_id, who.now()).await?;
        tracing::info!(by = %who.viewer().name, tenant = %tenant_id, "tenant deleted");
        done("deleted");
        Ok(())
    })
    .await
}

/// A new enrollment key; agents must register with it from now on.
#[server(endpoint = "tenants/rotate_key")]
pub async fn rotate_enrollment_key(tenant_id: String) -> Result<String, AppError> {
    audited(AuditKind::TenantRotateKey, tenant_id.clone(), async move {
        let who = require::<ManageTenants>()?;
        let key = super::store::rotate_key(who.db(), &who, &tenant_id, who.now()).await?;
        tracing::info!(by = %who.viewer().name, tenant = %tenant_id, "enrollment key rotated");
        done("rotated");
        Ok(key)
    })
    .await
}

/// Minutes without a heartbeat after which the tenant's agents lose their floating license;
/// empty or 0 turns it off.
#[server(endpoint = "tenants/set_release")]
pub async fn set_release_after(tenant_id: String, minutes: String) -> Result<(), AppError> {
    audited(AuditKind::TenantSetRelease, tenant_id.clone(), async move {
        let who = require::<ManageTenants>()?;
        let minutes = super::model::parse_release_after(&minutes)?;
        let now = who.now();
        super::store::set_release_after(who.db(), &who, &tenant_id, minutes, now).await?;
        done("saved");
        Ok(())
    })
    .await
}

/// The most agents the tenant may register; empty turns the cap off.
#[server(endpoint = "tenants/set_max_agents")]
pub async fn set_max_agents(tenant_id: String, max: String) -> Result<(), AppError> {
    audited(
        AuditKind::TenantSetAgentLimit,
        tenant_id.clone(),
        async move {
            let who = require::<ManageTenants>()?;
            let max = super::model::parse_max_agents(&max)?;
            super::store::set_max_agents(who.db(), &who, &tenant_id, max, who.now()).await?;
            done("saved");
            Ok(())
        },
    )
    .await
}

/// How long the tenant's agents' signed leases last, in seconds; empty is the default.
#[server(endpoint = "tenants/set_lease_time")]
pub async fn set_lease_time(tenant_id: String, seconds: String) -> Result<(), AppError> {
    audited(
        AuditKind::TenantSetLeaseTime,
        tenant_id.clone(),
        async move {
            let who = require::<ManageTenants>()?;
            let seconds = super::model::parse_lease_seconds(&seconds)?;
            super::store::set_lease_seconds(who.ledger(), &who, &tenant_id, seconds, who.now())
                .await?;
            done("saved");
            Ok(())
        },
    )
    .await
}

/// Borrowing for the tenant's agents: the longest borrow in hours (empty or 0 turns borrowing
/// off) and how many of its pool's licenses are never borrowed (empty: none).
#[server(endpoint = "tenants/set_borrowing")]
pub async fn set_borrowing(
    tenant_id: String,
    max_hours: String,
    keep: String,
) -> Result<(), AppError> {
    audited(
        AuditKind::TenantSetBorrowing,
        tenant_id.clone(),
        async move {
            let who = require::<ManageTenants>()?;
            let max_hours = super::model::parse_max_borrow_hours(&max_hours)?;
            let keep = super::model::parse_keep_unborrowed(&keep)?;
            super::store::set_borrowing(who.db(), &who, &tenant_id, max_hours, keep, who.now())
                .await?;
            done("saved");
            Ok(())
        },
    )
    .await
}

/// Assigns a platform license to a tenant (it activates, and the tenant's platform is extended),
/// or an agent license to a tenant's pool (`tenant_id` empty: the shared pool).
#[server(endpoint = "tenants/assign")]
pub async fn assign_license(tenant_id: String, license_id: String) -> Result<(), AppError> {
    let subject = format!("{} <- {}", tenant_id.trim(), license_id.trim());
    audited(
        AuditKind::TenantAssign,
        subject,
        assign(tenant_id, license_id),
    )
    .await
}

#[cfg(feature = "ssr")]
async fn assign(tenant_id: String, license_id: String) -> Result<(), AppError> {
    let who = require::<ManageTenants>()?;
    let tenant = Some(tenant_id.trim()).filter(|t| !t.is_empty());
    let kind =
        crate::ledger::platform::assign(who.ledger(), &who, tenant, license_id.trim(), who.now())
            .await?;
    tracing::info!(
        by = %who.viewer().name, license = %license_id, tenant = ?tenant, ?kind,
        "license assigned"
    );
    done(match kind {
        crate::ledger::platform::Assigned::Scheduled { .. } => "scheduled",
        _ => "assigned",
    });
    Ok(())
}
