//! Persistence of licenses: the list, staging an upload with its preview, confirming it in one
//! transaction, deleting everything, and the data of a license request.
use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};

use super::domain::{Expiry, Status, status, waits_until};
use super::entity::{certificate, package, pending_upload};
use super::format::{
    Binding, Certificate, LicenseRequest, LicenseType, Mode, RequestTenant, Usage,
};
use super::model::{
    Confirmed, LicensePage, LicenseRow, ListQuery, PAGE_SIZE, SortColumn, TenantLicense,
    UploadOutcome,
};
use super::plan::{self, TenantState};
use super::verify::{self, Checks, VerifiedCertificate};
use crate::audit::model::AuditKind;
use crate::audit::store::Entry;
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, internal};
use crate::installation::entity as installation;
use crate::tenants::{Tenant, entity as tenant};
use crate::users::entity as user;

/// Begins a transaction that changes licenses. Its first statement writes the installation row,
/// so license writes are serialised: SQLite takes its write lock at once (no upgrade deadlock),
/// and PostgreSQL holds the row lock until commit, across every instance sharing the database.
pub async fn begin_license_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, AppError> {
    let txn = db.begin().await?;
    installation::Entity::update_many()
        .col_expr(
            installation::Column::CreatedAt,
            Expr::col(installation::Column::CreatedAt),
        )
        .filter(installation::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    Ok(txn)
}

pub async fn tenant_licenses(db: &impl ConnectionTrait) -> Result<Vec<TenantLicense>, AppError> {
    let rows = tenant::Entity::find()
        .order_by_desc(tenant::Column::IsDefault)
        .order_by_asc(tenant::Column::Name)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|t| TenantLicense {
            platform: Expiry::from_parts(t.platform_until, t.platform_permanent),
            tenant: Tenant::from(t),
        })
        .collect())
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, AppError> {
    Ok(certificate::Entity::find().count(db).await?)
}

/// The SQL condition for "has this status at `now`", mirroring [`super::domain::status`].
pub(crate) fn status_condition(s: Status, now: i64) -> Condition {
    use certificate::Column as C;
    let not_revoked = C::RevokedBy.is_null();
    let within_not_after = Condition::any()
        .add(C::NotAfterAt.is_null())
        .add(C::NotAfterAt.gt(now));
    let still_valid = Condition::any()
        .add(C::Permanent.eq(true))
        .add(C::ExpiresAt.is_null())
        .add(C::ExpiresAt.gt(now));
    let live = Condition::all()
        .add(not_revoked.clone())
        .add(C::EndedReason.is_null())
        .add(within_not_after.clone());
    match s {
        Status::Revoked => Condition::all().add(C::RevokedBy.is_not_null()),
        Status::Unused => live.add(C::ActivatedAt.is_null()),
        Status::Activated => live.add(C::ActivatedAt.is_not_null()).add(still_valid),
        Status::Expired => Condition::all().add(not_revoked).add(
            Condition::any()
                .add(C::EndedReason.is_not_null())
                .add(C::NotAfterAt.lte(now))
                .add(
                    Condition::all()
                        .add(C::ActivatedAt.is_not_null())
                        .add(C::Permanent.eq(false))
                        .add(C::ExpiresAt.lte(now)),
                ),
        ),
    }
}

/// A sortable rank of the status at `now` (Unused, Activated, Expired, Revoked), built from the
/// same conditions as the status filter.
fn status_rank(now: i64) -> SimpleExpr {
    Expr::case(status_condition(Status::Revoked, now), 3)
        .case(status_condition(Status::Expired, now), 2)
        .case(status_condition(Status::Activated, now), 1)
        .finally(0)
        .into()
}

pub async fn list(
    db: &impl ConnectionTrait,
    _who: &Granted<cap::ViewLicenses>,
    query: &ListQuery,
    now: i64,
) -> Result<LicensePage, AppError> {
    use certificate::Column as C;
    let mut select = certificate::Entity::find();
    if !query.q.is_empty() {
        let needle = format!("%{}%", query.q.to_lowercase().replace(['%', '_'], ""));
        select = select.filter(
            Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(C::ProductName))).like(&needle))
                .add(Expr::expr(Func::lower(Expr::col(C::Product))).like(&needle))
                .add(Expr::expr(Func::lower(Expr::col(C::Id))).like(&needle))
                .add(Expr::expr(Func::lower(Expr::col(C::Feature))).like(&needle)),
        );
    }
    if let Some(s) = query.status {
        select = select.filter(status_condition(s, now));
    }
    if let Some(t) = query.license_type {
        select = select.filter(C::LicenseType.eq(t.as_str()));
    }
    let total = select.clone().select_only().column(C::Id).count(db).await?;
    let order = if query.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    select = match query.sort {
        SortColumn::Type => select.order_by(C::LicenseType, order.clone()),
        SortColumn::Product => select.order_by(C::ProductName, order.clone()),
        SortColumn::Mode => select.order_by(C::Mode, order.clone()),
        SortColumn::Start => select.order_by(C::ActivatedAt, order.clone()),
        SortColumn::Due => select.order_by(C::Permanent, order.clone()).order_by(
            Expr::expr(Func::coalesce([
                Expr::col(C::ExpiresAt),
                Expr::col(C::NotAfterAt),
            ])),
            order.clone(),
        ),
        SortColumn::Status => select.order_by(status_rank(now), order.clone()),
        SortColumn::Installed => select.order_by(C::InstalledAt, order.clone()),
    };
    // Sort and page the ids alone (a narrow sort: rows carry the signed payload), with a stable
    // order within equal keys so pages do not overlap; then read the page's rows.
    let ids: Vec<String> = select
        .order_by(C::Id, Order::Asc)
        .select_only()
        .column(C::Id)
        .offset((query.page.saturating_sub(1)) * PAGE_SIZE)
        .limit(PAGE_SIZE)
        .into_tuple()
        .all(db)
        .await?;
    let mut rows = if ids.is_empty() {
        Vec::new()
    } else {
        certificate::Entity::find()
            .filter(C::Id.is_in(ids.clone()))
            .all(db)
            .await?
    };
    rows.sort_by_key(|r| ids.iter().position(|id| id == &r.id));

    let tenant_ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.assigned_tenant_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let tenants = if tenant_ids.is_empty() {
        Vec::new()
    } else {
        tenant::Entity::find()
            .filter(tenant::Column::Id.is_in(tenant_ids))
            .all(db)
            .await?
    };
    let seats_held: std::collections::HashMap<String, i64> = if ids.is_empty() {
        Default::default()
    } else {
        crate::seats::entity::Entity::find()
            .select_only()
            .column(crate::seats::entity::Column::CertificateId)
            .column_as(Expr::cust("COUNT(*)"), "n")
            .filter(crate::seats::entity::Column::CertificateId.is_in(ids.clone()))
            .group_by(crate::seats::entity::Column::CertificateId)
            .into_tuple::<(String, i64)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    let rows =
        rows.into_iter()
            .map(|r| {
                let state = r.state();
                LicenseRow {
                    status: status(&state, now),
                    license_type: LicenseType::parse(&r.license_type).unwrap_or(LicenseType::Agent),
                    mode: Mode::parse(&r.mode).unwrap_or(Mode::Subscription),
                    binding: r.binding.as_deref().and_then(Binding::parse),
                    start: r.activated_at,
                    waits_until: waits_until(&state, now),
                    due: if r.activated_at.is_some() {
                        state.expires
                    } else {
                        r.not_after_at.map(Expiry::At)
                    },
                    tenant_name: r.assigned_tenant_id.as_ref().and_then(|id| {
                        tenants.iter().find(|t| &t.id == id).map(|t| t.name.clone())
                    }),
                    agent: r.bound_agent_id.clone(),
                    seats_used: seats_held
                        .get(&r.id)
                        .and_then(|n| u32::try_from(*n).ok())
                        .unwrap_or(0),
                    seats_total: r.seats.and_then(|s| u32::try_from(s).ok()),
                    feature: r.feature,
                    product: r.product,
                    product_name: r.product_name,
                    id: r.id,
                }
            })
            .collect();
    Ok(LicensePage {
        rows,
        total,
        query: query.clone(),
    })
}

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
        crate::agents::manage::release_floating_of_tenant(txn, &t.id).await?;
    }
    Ok(())
}

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

async fn tenant_states(db: &impl ConnectionTrait) -> Result<Vec<TenantState>, AppError> {
    Ok(tenant::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(tenant_state)
        .collect())
}

/// Every installed certificate that withdraws others: its id and `revokes`. The condition is
/// written literally so that the partial index `idx_certificates_revokers` serves it.
pub fn revokers() -> sea_orm::Select<certificate::Entity> {
    certificate::Entity::find()
        .select_only()
        .column(certificate::Column::Id)
        .column(certificate::Column::Revokes)
        .filter(Expr::cust("revokes <> '[]'"))
}

/// Which certificates of a package arrive withdrawn, and by which certificate (see
/// [`plan::revocations`]). Few certificates revoke others, so all that do are read, through the
/// partial index `idx_certificates_revokers` (whose condition the filter repeats literally: a
/// bound parameter would not match it).
async fn revocations(
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
async fn installed_among(
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
fn with_window(certs: &[VerifiedCertificate]) -> Vec<(Certificate, plan::Window)> {
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

/// Verifies an upload and keeps it, with its preview or refusal, for the administrator to look at
/// and confirm. Nothing about licenses changes here.
pub async fn stage_upload(
    db: &impl ConnectionTrait,
    who: &Granted<cap::UploadLicenses>,
    checks: &Checks<'_>,
    file_name: &str,
    bytes: Vec<u8>,
    now: i64,
) -> Result<Staged, AppError> {
    let file_name: String = sanitize_file_name(file_name);
    let outcome = match verify_blocking(checks, bytes.clone(), now).await? {
        Err(refusal) => UploadOutcome::Refused {
            file_name: file_name.clone(),
            refusal,
        },
        Ok(certs) => {
            let paired = with_window(&certs);
            let installed =
                installed_among(db, certs.iter().map(|c| c.certificate.id.clone())).await?;
            let revoked_ids: HashSet<String> = installed_among(
                db,
                certs
                    .iter()
                    .flat_map(|c| c.certificate.revokes.iter().cloned()),
            )
            .await?;
            let revoked = revocations(db, &paired).await?;
            let mut tenants = tenant_states(db).await?;
            let steps = plan::plan(&paired, &installed, &revoked, &mut tenants, now);
            let blocks: Vec<usize> = certs.iter().map(|c| c.block).collect();
            UploadOutcome::Preview(plan::preview(
                &file_name,
                &paired,
                &blocks,
                &steps,
                &revoked_ids,
            ))
        }
    };
    let keep = matches!(outcome, UploadOutcome::Preview(_));
    let refusal = match &outcome {
        UploadOutcome::Refused { refusal, .. } => Some(refusal.clone()),
        UploadOutcome::Preview(_) => None,
    };
    let (file_name_for_audit, certificates, refusal_for_audit) = match &outcome {
        UploadOutcome::Preview(p) => (
            p.file_name.clone(),
            format!("{} certificates, {} new", p.total, p.new),
            None,
        ),
        UploadOutcome::Refused { file_name, refusal } => (
            file_name.clone(),
            String::new(),
            Some(format!("{refusal:?}")),
        ),
    };
    let id = uuid::Uuid::new_v4().to_string();
    pending_upload::ActiveModel {
        id: Set(id.clone()),
        uploaded_by: Set(who.viewer().id.clone()),
        file_name: Set(file_name),
        // A refused package is not kept: only its refusal is shown.
        content: Set(if keep {
            String::from_utf8(bytes).unwrap_or_default()
        } else {
            String::new()
        }),
        outcome: Set(serde_json::to_string(&outcome).map_err(internal)?),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    // A refused package is recorded as such: nothing was staged for confirmation.
    let entry = Entry::by(
        who.viewer(),
        now,
        AuditKind::LicenseUpload,
        &file_name_for_audit,
    );
    crate::audit::store::record(
        db,
        match refusal_for_audit {
            None => entry.detail(certificates),
            Some(refusal) => entry.detail(refusal).outcome("invalid"),
        },
    )
    .await?;
    // Stale uploads nobody confirmed are of no further use.
    pending_upload::Entity::delete_many()
        .filter(pending_upload::Column::CreatedAt.lt(now - 24 * 3600 * 1000))
        .exec(db)
        .await?;
    Ok(Staged { id, refusal })
}

/// An upload, staged for its preview page: ready to confirm, or refused whole.
pub struct Staged {
    pub id: String,
    pub refusal: Option<crate::licenses::format::PackageRefusal>,
}

/// Only the base name, printable, at most 255 characters: a name like `../../x.lcs` is just `x.lcs`.
pub fn sanitize_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        "package.lcs".to_string()
    } else {
        clean
    }
}

async fn verify_blocking(
    checks: &Checks<'_>,
    bytes: Vec<u8>,
    now: i64,
) -> Result<Result<Vec<VerifiedCertificate>, super::format::PackageRefusal>, AppError> {
    let keys = checks.keys.clone();
    let installation_id = checks.installation_id.to_string();
    let limits = checks.limits.clone();
    let now = chrono::DateTime::from_timestamp_millis(now)
        .ok_or_else(|| internal("clock out of range"))?;
    tokio::task::spawn_blocking(move || {
        verify::verify_package(&bytes, &keys, &installation_id, now, &limits)
    })
    .await
    .map_err(internal)
}

pub async fn upload_outcome(
    db: &impl ConnectionTrait,
    _who: &Granted<cap::UploadLicenses>,
    id: &str,
) -> Result<UploadOutcome, AppError> {
    let row = pending_upload::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    serde_json::from_str(&row.outcome).map_err(internal)
}

/// Stores a staged package in one transaction: new certificates, their activations, the tenants'
/// new expiries and revocations. Certificates already installed (by an earlier or a racing upload)
/// change nothing.
pub async fn confirm(
    db: &DatabaseConnection,
    who: &Granted<cap::UploadLicenses>,
    checks: &Checks<'_>,
    id: &str,
    now: i64,
) -> Result<Confirmed, AppError> {
    let txn = begin_license_write(db).await?;
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
                })
            })
            .collect::<Result<_, AppError>>()?;
        for chunk in models.chunks(200) {
            certificate::Entity::insert_many(chunk.to_vec())
                .exec(&txn)
                .await?;
        }
        for (t, old) in tenants.iter().zip(&before) {
            if t != old {
                write_tenant_expiry(&txn, t, now).await?;
            }
        }
        // Tenants whose platform licenses in force this package withdraws: restacked below.
        let mut restack: Vec<String> = Vec::new();
        for (v, _, _) in &fresh {
            if !v.certificate.revokes.is_empty() {
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
    crate::audit::store::record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::LicenseConfirm, &row.file_name).detail(format!(
            "{} installed, {} already installed",
            result.installed, result.already_installed
        )),
    )
    .await?;
    txn.commit().await?;
    Ok(result)
}

/// The two platform license types, as stored.
const PLATFORM_TYPES: [&str; 2] = [
    LicenseType::Platform.as_str(),
    LicenseType::PlatformUnlimitedAgents.as_str(),
];

/// Sets a tenant's platform (and unlimited agents) to what its platform licenses still in force
/// make it: each activated one that is not revoked, stacked again at the time and in the order it
/// was activated. Without a revocation that is exactly what the activations did, so this takes
/// out only what a withdrawn license added. Each license's own expiry follows.
async fn restack_platform(
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
    let before = tenant_state(t);
    let mut state = TenantState {
        platform: None,
        unlimited_agents: None,
        ..before.clone()
    };
    for c in &in_force {
        let at = c.activated_at.unwrap_or(now);
        let until = state.extend(
            c.validity_days.and_then(|d| u32::try_from(d).ok()),
            c.not_after_at,
            c.license_type == LicenseType::PlatformUnlimitedAgents.as_str(),
            at,
        );
        if c.state().expires != Some(until) {
            certificate::activate(&c.id, at, until).exec(txn).await?;
        }
    }
    // Left with none in force, the tenant has lapsed (now, or when it ran out): withdrawing its
    // licenses does not put it back in demo mode.
    let lapsed = |had: Option<Expiry>| {
        had.map(|e| match e {
            Expiry::At(t) if t < now => Expiry::At(t),
            _ => Expiry::At(now),
        })
    };
    state.platform = state.platform.or(lapsed(before.platform));
    state.unlimited_agents = state.unlimited_agents.or(lapsed(before.unlimited_agents));
    write_tenant_expiry(txn, &state, now).await
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
pub async fn activate_due(db: &DatabaseConnection, now: i64) -> Result<usize, AppError> {
    use certificate::Column as C;
    let due = || certificate::Entity::find().filter(due_condition(now));
    // Every sweep asks; a write transaction only when something is due.
    if due().count(db).await? == 0 {
        return Ok(0);
    }
    let txn = begin_license_write(db).await?;
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
            Some(kind @ (LicenseType::Platform | LicenseType::PlatformUnlimitedAgents)) => {
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
                let until = t.extend(
                    c.validity_days.and_then(|d| u32::try_from(d).ok()),
                    c.not_after_at,
                    kind == LicenseType::PlatformUnlimitedAgents,
                    at,
                );
                certificate::activate(&c.id, at, until).exec(&txn).await?;
                t.name.clone()
            }
            _ => {
                certificate::activate(&c.id, at, c.activation_until(None, at))
                    .exec(&txn)
                    .await?;
                c.feature.clone().unwrap_or_default()
            }
        };
        crate::audit::store::record(
            &txn,
            Entry::named(SYSTEM_ACTOR, now, AuditKind::LicenseActivate, &subject)
                .detail(format!("license {} ({})", c.id, c.product_name)),
        )
        .await?;
        activated += 1;
    }
    for (t, old) in tenants.iter().zip(&before) {
        if t != old {
            write_tenant_expiry(&txn, t, now).await?;
        }
    }
    txn.commit().await?;
    Ok(activated)
}

/// Who the audit log names for what Tessera does by itself.
pub const SYSTEM_ACTOR: &str = "tessera";

/// Deletes every license and package: back to demo mode. The audit log stays (it is not
/// licenses, and the database refuses to delete it anyway).
pub async fn delete_all(
    db: &DatabaseConnection,
    who: &Granted<cap::DeleteLicenses>,
    now: i64,
) -> Result<u64, AppError> {
    let txn = begin_license_write(db).await?;
    let deleted = certificate::Entity::delete_many()
        .exec(&txn)
        .await?
        .rows_affected;
    package::Entity::delete_many().exec(&txn).await?;
    pending_upload::Entity::delete_many().exec(&txn).await?;
    crate::seats::entity::Entity::delete_many()
        .exec(&txn)
        .await?;
    crate::agents::entity::Entity::update_many()
        .col_expr(
            crate::agents::entity::Column::LicenseId,
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
    crate::audit::store::record(
        &txn,
        Entry::by(
            who.viewer(),
            now,
            AuditKind::LicensesDeleteAll,
            format!("{deleted} certificates"),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(deleted)
}

/// The license request of this installation, as of `now`.
pub async fn license_request(
    db: &impl ConnectionTrait,
    installation_id: &str,
    company_id: &str,
    target_version: &str,
    now: i64,
) -> Result<LicenseRequest, AppError> {
    let tenants = tenant_licenses(db).await?;
    let installed: Vec<String> = certificate::Entity::find()
        .select_only()
        .column(certificate::Column::Id)
        .filter(certificate::Column::RevokedBy.is_null())
        .order_by_asc(certificate::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let users_total = user::Entity::find().count(db).await?;
    use crate::agents::entity as agent;
    use crate::seats::entity as seat;
    let agents_registered = agent::Entity::find().count(db).await?;
    // Agents holding an agent license of their own (those licensed by an unlimited-agents
    // platform hold none, and the tenants' platform expiry above covers them).
    let agents_licensed = agent::Entity::find()
        .filter(agent::Column::LicenseId.is_not_null())
        .count(db)
        .await?;
    let users_licensed = seat::Entity::find()
        .select_only()
        .column(seat::Column::UserId)
        .distinct()
        .count(db)
        .await?;
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    Ok(LicenseRequest {
        format: super::format::FORMAT_VERSION,
        installation_id: installation_id.to_string(),
        company_id: company_id.to_string(),
        target_version: target_version.to_string(),
        created_at: iso(now),
        tenants: tenants
            .into_iter()
            .map(|t| RequestTenant {
                id: t.tenant.id,
                name: t.tenant.name,
                platform_expires: match t.platform {
                    Some(Expiry::At(ms)) => Some(iso(ms)),
                    _ => None,
                },
            })
            .collect(),
        usage: Usage {
            agents_registered,
            agents_licensed,
            users_total,
            users_licensed,
        },
        installed,
    })
}
