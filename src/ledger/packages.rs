//! Installing a confirmed package (its certificates, their activations and revocations, the
//! tenants' new expiries) in one change, and deleting every license. What confirming does is
//! decided by `licenses::plan::plan`, the same plan the preview showed.
use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::Ledger;
use super::holdings::unexpired_condition;
use super::platform::{PLATFORM_TYPES, restack_platform, tenant_states, write_tenant_expiry};
use super::usage;
use crate::agents::entity as agent;
use crate::audit::model::{AuditKind, Detail};
use crate::audit::store::Entry;
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, internal};
use crate::licenses::domain::Expiry;
use crate::licenses::entity::{certificate, package, pending_upload};
use crate::licenses::format::{Certificate, PackageRefusal};
use crate::licenses::model::Confirmed;
use crate::licenses::plan;
use crate::licenses::verify::{self, Checks, VerifiedCertificate};
use crate::seats::entity as seat;
use crate::tenants::entity as tenant;

/// Every installed certificate in force that withdraws others: its id and `revokes`. A withdrawn
/// one withdraws nothing more (what it withdrew while in force stays withdrawn). The condition is
/// written literally so that the partial index `idx_certificates_revokers` serves it.
pub fn revokers() -> sea_orm::Select<certificate::Entity> {
    certificate::Entity::find()
        .select_only()
        .column(certificate::Column::Id)
        .column(certificate::Column::Revokes)
        .filter(Expr::cust("revokes <> '[]'"))
        .filter(certificate::Column::RevokedBy.is_null())
}

/// Which certificates of a package arrive withdrawn, and by which certificate (see
/// [`plan::revocations`]). Few certificates revoke others, so all that do are read, through the
/// partial index `idx_certificates_revokers` (whose condition the filter repeats literally: a
/// bound parameter would not match it).
pub async fn revocations(
    db: &impl ConnectionTrait,
    certs: &[(Certificate, plan::Window)],
) -> Result<HashMap<String, String>, AppError> {
    let revokers: Vec<(String, String)> = revokers().into_tuple().all(db).await?;
    let installed_revokers = revokers.into_iter().map(|(id, revokes)| {
        // Written by `confirm` from a verified certificate: a JSON array of ids.
        let ids: Vec<String> = serde_json::from_str(&revokes).unwrap_or_default();
        (id, ids)
    });
    Ok(plan::revocations(certs, installed_revokers))
}

/// Which of `ids` are installed already.
pub async fn installed_among(
    db: &impl ConnectionTrait,
    ids: impl Iterator<Item = String>,
) -> Result<HashSet<String>, AppError> {
    let ids: Vec<String> = ids.collect();
    let mut found = HashSet::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<String> = certificate::Entity::find()
            .select_only()
            .column(certificate::Column::Id)
            .filter(certificate::Column::Id.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Each certificate with its dates read as times.
pub fn with_window(certs: &[VerifiedCertificate]) -> Vec<(Certificate, plan::Window)> {
    certs
        .iter()
        .map(|v| {
            let c = &v.certificate;
            let at =
                |date: &Option<String>, read: fn(&str) -> Option<chrono::DateTime<chrono::Utc>>| {
                    date.as_deref().and_then(read).map(|t| t.timestamp_millis())
                };
            let window = plan::Window {
                not_before: at(&c.not_before, verify::parse_date_start),
                not_after: at(&c.not_after, verify::parse_date_end),
            };
            (c.clone(), window)
        })
        .collect()
}

/// Verifies a package off the async runtime (signatures are CPU work).
pub async fn verify_blocking(
    checks: &Checks<'_>,
    bytes: Vec<u8>,
    now: i64,
) -> Result<Result<Vec<VerifiedCertificate>, PackageRefusal>, AppError> {
    let keys = checks.keys.clone();
    let installation_id = checks.installation_id.to_string();
    let limits = checks.limits.clone();
    let now = chrono::DateTime::from_timestamp_millis(now)
        .ok_or_else(|| internal("clock out of range"))?;
    let started = std::time::Instant::now();
    let verified = tokio::task::spawn_blocking(move || {
        verify::verify_package(&bytes, &keys, &installation_id, now, &limits)
    })
    .await
    .map_err(internal)?;
    metrics::histogram!("tessera_upload_verification_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(verified)
}

/// Stores a staged package in one transaction: new certificates, their activations, the tenants'
/// new expiries and revocations. Certificates already installed (by an earlier or a racing upload)
/// change nothing.
pub async fn confirm(
    ledger: &Ledger,
    who: &Granted<cap::UploadLicenses>,
    checks: &Checks<'_>,
    id: &str,
    now: i64,
) -> Result<Confirmed, AppError> {
    let txn = ledger.begin().await?;
    let row = pending_upload::Entity::find_by_id(id.to_string())
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound)?;
    let certs = match verify_blocking(checks, row.content.clone().into_bytes(), now).await? {
        Ok(certs) => certs,
        // It verified when staged: keys or time changed since. Refuse, changing nothing.
        Err(_) => return Err(AppError::NotFound),
    };
    let paired = with_window(&certs);
    let installed = installed_among(&txn, certs.iter().map(|c| c.certificate.id.clone())).await?;
    let revoked = revocations(&txn, &paired).await?;
    let mut tenants = tenant_states(&txn).await?;
    let before = tenants.clone();
    let steps = plan::plan(&paired, &installed, &revoked, &mut tenants, now);

    let fresh: Vec<(&VerifiedCertificate, &plan::Step, plan::Window)> = certs
        .iter()
        .zip(&steps)
        .zip(&paired)
        .filter(|((c, _), _)| !installed.contains(&c.certificate.id))
        .map(|((c, s), (_, window))| (c, s, *window))
        .collect();
    let result = Confirmed {
        installed: fresh.len(),
        already_installed: certs.len() - fresh.len(),
    };
    if !fresh.is_empty() {
        let package_id = uuid::Uuid::new_v4().to_string();
        package::ActiveModel {
            id: Set(package_id.clone()),
            file_name: Set(row.file_name.clone()),
            sha256: Set(verify::sha256_hex(row.content.as_bytes())),
            uploaded_by: Set(who.viewer().name.clone()),
            uploaded_at: Set(now),
            certificate_count: Set(fresh.len() as i32),
        }
        .insert(&txn)
        .await?;
        let models: Vec<certificate::ActiveModel> = fresh
            .iter()
            .map(|(v, step, window)| {
                let c = &v.certificate;
                let (expires_at, permanent) = step
                    .activation
                    .map(Expiry::to_parts)
                    .unwrap_or((None, false));
                Ok(certificate::ActiveModel {
                    id: Set(c.id.clone()),
                    package_id: Set(package_id.clone()),
                    block: Set(v.block as i32),
                    kid: Set(v.kid.clone()),
                    payload: Set(v.payload_json.clone()),
                    sig: Set(v.sig.clone()),
                    product: Set(c.product.clone()),
                    product_name: Set(c.product_name.clone()),
                    license_type: Set(c.license_type.as_str().to_string()),
                    mode: Set(c.mode.as_str().to_string()),
                    validity_days: Set(c.validity_days.map(|d| d as i32)),
                    not_before: Set(c.not_before.clone()),
                    not_after: Set(c.not_after.clone()),
                    not_before_at: Set(window.not_before),
                    not_after_at: Set(window.not_after),
                    seats: Set(c.seats.map(|s| s as i32)),
                    binding: Set(c.binding.map(|b| b.as_str().to_string())),
                    feature: Set(c.feature.clone()),
                    tenant_id: Set(c.tenant_id.clone()),
                    company_id: Set(c.company_id.clone()),
                    issued_at: Set(c.issued_at.clone()),
                    revokes: Set(serde_json::to_string(&c.revokes).map_err(internal)?),
                    installed_at: Set(now),
                    activated_at: Set(step.activation.map(|_| now)),
                    expires_at: Set(expires_at),
                    permanent: Set(permanent),
                    assigned_tenant_id: Set(step.tenant_id.clone()),
                    bound_agent_id: Set(None),
                    revoked_by: Set(revoked.get(&c.id).cloned()),
                    ended_reason: Set(None),
                    lease_held_until: Set(None),
                })
            })
            .collect::<Result<_, AppError>>()?;
        for chunk in models.chunks(200) {
            certificate::Entity::insert_many(chunk.to_vec())
                .exec(&txn)
                .await?;
        }
        // Those in force from their upload (a platform license on the only tenant, say).
        let in_force: Vec<String> = fresh
            .iter()
            .filter(|(_, step, _)| step.activation.is_some())
            .map(|(v, _, _)| v.certificate.id.clone())
            .collect();
        for chunk in in_force.chunks(200) {
            let activated = certificate::Entity::find()
                .filter(certificate::Column::Id.is_in(chunk.to_vec()))
                .all(&txn)
                .await?;
            for c in &activated {
                let tenant = c.assigned_tenant_id.as_deref();
                usage::activated(&txn, now, c, tenant, tenant.unwrap_or_default()).await?;
            }
        }
        for (t, old) in tenants.iter().zip(&before) {
            if t != old {
                write_tenant_expiry(&txn, t, now).await?;
            }
        }
        // Tenants whose platform licenses in force this package withdraws: restacked below.
        let mut restack: Vec<String> = Vec::new();
        for (v, _, _) in &fresh {
            // One that arrives withdrawn withdraws nothing itself.
            if !v.certificate.revokes.is_empty() && !revoked.contains_key(&v.certificate.id) {
                let withdrawn: Vec<Option<String>> = certificate::Entity::find()
                    .select_only()
                    .column(certificate::Column::AssignedTenantId)
                    .filter(certificate::Column::Id.is_in(v.certificate.revokes.clone()))
                    .filter(certificate::Column::RevokedBy.is_null())
                    .filter(certificate::Column::ActivatedAt.is_not_null())
                    .filter(certificate::Column::LicenseType.is_in(PLATFORM_TYPES))
                    .into_tuple()
                    .all(&txn)
                    .await?;
                restack.extend(withdrawn.into_iter().flatten());
                let lapsing = certificate::Entity::find()
                    .filter(certificate::Column::Id.is_in(v.certificate.revokes.clone()))
                    .filter(unexpired_condition(now))
                    .all(&txn)
                    .await?;
                for c in &lapsing {
                    usage::lapsed(&txn, now, c, usage::Ended::Withdrawn).await?;
                }
                certificate::Entity::update_many()
                    .col_expr(
                        certificate::Column::RevokedBy,
                        Expr::value(v.certificate.id.clone()),
                    )
                    .filter(certificate::Column::Id.is_in(v.certificate.revokes.clone()))
                    .filter(certificate::Column::RevokedBy.is_null())
                    .exec(&txn)
                    .await?;
            }
        }
        restack.sort();
        restack.dedup();
        for tenant_id in &restack {
            restack_platform(&txn, tenant_id, now).await?;
        }
    }
    pending_upload::Entity::delete_by_id(id.to_string())
        .exec(&txn)
        .await?;
    txn.commit(
        Entry::by(who.viewer(), now, AuditKind::LicenseConfirm, &row.file_name).said(
            Detail::Installed {
                installed: result.installed as u64,
                already: result.already_installed as u64,
            },
        ),
    )
    .await?;
    if result.installed > 0 {
        refresh_statistics(&ledger.db).await;
    }
    Ok(result)
}

/// Tells PostgreSQL's planner how many certificates there are now, after a package installed
/// some. Autovacuum does it in its own time, and until then the planner reads a table that was
/// empty: a Monday morning of 20,000 agents right after the upload found each free license by
/// sorting every free license (600 ms a claim, 573 s in all), where the index in the claim's
/// order answers in 1 ms. `ANALYZE` reads a sample (at most 30,000 rows), whatever the table's
/// size. SQLite's planner needs no statistics for these questions. A failure costs only speed:
/// the package is installed.
async fn refresh_statistics(db: &sea_orm::DatabaseConnection) {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    if let Err(e) = db.execute_unprepared("ANALYZE certificates").await {
        tracing::warn!(error = %e, "refreshing the certificates' statistics failed");
    }
}

/// Deletes every license and package: back to demo mode. The audit log stays (it is not
/// licenses, and the database refuses to delete it anyway).
pub async fn delete_all(
    ledger: &Ledger,
    who: &Granted<cap::DeleteLicenses>,
    now: i64,
) -> Result<u64, AppError> {
    let txn = ledger.begin().await?;
    // Whatever was in use stops being so.
    let held: std::collections::BTreeMap<_, _> =
        super::usage::in_use(&txn).await?.into_iter().collect();
    for (key, n) in held {
        let reset = super::usage::Happened::Release(super::usage::Why::Reset);
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        super::usage::record_many(&txn, now, reset, &key, super::SYSTEM_ACTOR, None, n).await?;
    }
    crate::licenses::search::clear(&txn).await?;
    let deleted = certificate::Entity::delete_many()
        .exec(&txn)
        .await?
        .rows_affected;
    package::Entity::delete_many().exec(&txn).await?;
    pending_upload::Entity::delete_many().exec(&txn).await?;
    seat::Entity::delete_many().exec(&txn).await?;
    agent::Entity::update_many()
        .col_expr(
            agent::Column::LicenseId,
            Expr::value(Option::<String>::None),
        )
        .exec(&txn)
        .await?;
    tenant::Entity::update_many()
        .col_expr(
            tenant::Column::PlatformUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(tenant::Column::PlatformPermanent, Expr::value(false))
        .col_expr(
            tenant::Column::UnlimitedAgentsUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(tenant::Column::UnlimitedAgentsPermanent, Expr::value(false))
        .exec(&txn)
        .await?;
    txn.commit(Entry::by(
        who.viewer(),
        now,
        AuditKind::LicensesDeleteAll,
        format!("{deleted} certificates"),
    ))
    .await?;
    Ok(deleted)
}
