//! Server functions of Settings > Licenses. Each starts by checking its caller's permission; the
//! store's operations demand the proof.
use leptos::prelude::*;

use super::model::{
    Confirmed, LicensePage, LicensesSummary, ListQuery, RequestFile, UploadOutcome,
};
use crate::error::AppError;

#[server(endpoint = "licenses/summary")]
pub async fn get_licenses_summary() -> Result<LicensesSummary, AppError> {
    use crate::auth::server::{cap::ViewLicenses, require};
    let who = require::<ViewLicenses>()?;
    let role = who.viewer().role;
    Ok(LicensesSummary {
        installation_id: who.state().installation_id.to_string(),
        tenants: super::store::tenant_licenses(who.db()).await?,
        licenses_installed: super::store::count(who.db()).await?,
        vendor_keys: who.state().vendor_keys.ids(),
        vendor_contact: who.state().config.vendor_contact.clone(),
        lease_key_id: who.ledger().leases().key_id().to_string(),
        lease_public_key: who.ledger().leases().public_key_pem().to_string(),
        can_upload: role.can_upload(),
        can_delete: role.allows(crate::auth::model::Permission::DeleteLicenses),
        can_request: role.allows(crate::auth::model::Permission::RequestLicenses),
        clock_warning: who
            .state()
            .clock
            .tampering()
            .map(|t| crate::expiry::model::ClockWarning {
                system_ms: t.system_ms,
                seen_ms: t.seen_ms,
            }),
    })
}

#[server(endpoint = "licenses/list")]
pub async fn list_licenses(query: ListQuery) -> Result<LicensePage, AppError> {
    use crate::auth::server::{cap::ViewLicenses, require};
    let who = require::<ViewLicenses>()?;
    super::store::list(who.db(), &who, &query, who.now()).await
}

/// A license request for the vendor: the `.tlr` text and its file name.
#[server(endpoint = "licenses/request")]
pub async fn request_licenses(
    company_id: String,
    target_version: String,
) -> Result<RequestFile, AppError> {
    use crate::audit::{model::AuditKind, store};
    let subject = company_id.trim().to_string();
    store::audited(
        AuditKind::LicenseRequest,
        subject,
        request(company_id, target_version),
    )
    .await
}

#[cfg(feature = "ssr")]
async fn request(company_id: String, target_version: String) -> Result<RequestFile, AppError> {
    use crate::audit::{model::AuditKind, store};
    use crate::auth::server::{cap::RequestLicenses, require};
    use crate::error::{Field, Problem};
    let who = require::<RequestLicenses>()?;
    let company_id = company_id.trim();
    let target_version = target_version.trim();
    for (field, value) in [
        (Field::CompanyId, company_id),
        (Field::TargetVersion, target_version),
    ] {
        if value.is_empty() {
            return Err(AppError::invalid(field, Problem::Required));
        }
        if value.chars().count() > 100 {
            return Err(AppError::invalid(field, Problem::TooLong { max: 100 }));
        }
    }
    let request = super::store::license_request(
        who.db(),
        &who.state().installation_id,
        who.ledger().leases().public_key_pem(),
        company_id,
        target_version,
        who.state().config.usage_retention,
        who.now(),
    )
    .await?;
    // Nothing changes: the entry is all that is written.
    store::record(
        who.db(),
        store::Entry::by(
            who.viewer(),
            who.now(),
            AuditKind::LicenseRequest,
            company_id,
        )
        .said(crate::audit::model::Detail::Requested {
            target_version: target_version.to_string(),
        }),
    )
    .await?;
    let day = request
        .created_at
        .get(..10)
        .unwrap_or("request")
        .to_string();
    let vendor = who.state().config.vendor_contact.clone();
    Ok(RequestFile {
        file_name: format!("tessera-{}-{day}.tlr", &who.state().installation_id[..8]),
        text: super::verify::encode_request_to(&request, &vendor.send_to()),
        vendor,
    })
}

/// The preview (or refusal) of a staged upload.
#[server(endpoint = "licenses/upload_outcome")]
pub async fn get_upload_outcome(id: String) -> Result<UploadOutcome, AppError> {
    use crate::auth::server::{cap::UploadLicenses, require};
    let who = require::<UploadLicenses>()?;
    super::store::upload_outcome(who.db(), &who, &id).await
}

/// Stores a staged package, then goes back to the list.
#[server(endpoint = "licenses/confirm")]
pub async fn confirm_upload(id: String) -> Result<Confirmed, AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    audited(AuditKind::LicenseConfirm, id.clone(), confirm(id)).await
}

#[cfg(feature = "ssr")]
async fn confirm(id: String) -> Result<Confirmed, AppError> {
    use crate::auth::server::{cap::UploadLicenses, require};
    let who = require::<UploadLicenses>()?;
    let done = crate::ledger::packages::confirm(
        who.ledger(),
        &who,
        &who.state().package_checks(),
        &id,
        who.now(),
    )
    .await?;
    tracing::info!(
        by = %who.viewer().name,
        installed = done.installed,
        already_installed = done.already_installed,
        "license package confirmed"
    );
    metrics::counter!("tessera_uploads_total", "result" => "confirmed").increment(1);
    leptos_axum::redirect(&format!(
        "/settings/licenses?installed={}&already={}",
        done.installed, done.already_installed
    ));
    Ok(done)
}

/// Deletes every license after the word DELETE is typed: back to demo mode.
#[server(endpoint = "licenses/delete_all")]
pub async fn delete_all_licenses(confirmation: String) -> Result<u64, AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    audited(AuditKind::LicensesDeleteAll, "", delete_all(confirmation)).await
}

#[cfg(feature = "ssr")]
async fn delete_all(confirmation: String) -> Result<u64, AppError> {
    use crate::auth::server::{cap::DeleteLicenses, require};
    use crate::error::{Field, Problem};
    let who = require::<DeleteLicenses>()?;
    if confirmation.trim() != "DELETE" {
        return Err(AppError::invalid(Field::Confirmation, Problem::Mismatch));
    }
    let deleted = crate::ledger::packages::delete_all(who.ledger(), &who, who.now()).await?;
    tracing::warn!(by = %who.viewer().name, deleted, "all licenses deleted");
    leptos_axum::redirect("/settings/licenses");
    Ok(deleted)
}
