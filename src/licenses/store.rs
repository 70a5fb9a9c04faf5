//! What Settings > Licenses reads and stages: the list, staging an upload with its preview, and
//! the data of a license request. Confirming a package and deleting everything change license
//! state: they are the ledger's (`ledger::packages`).
use std::collections::HashSet;

use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};

use super::domain::{Expiry, status, waits_until};
use super::entity::{certificate, pending_upload};
use super::format::{Binding, LicenseRequest, LicenseType, Mode, RequestTenant, Usage};
use super::model::{
    LicensePage, LicenseRow, ListQuery, PAGE_SIZE, SEARCH_COUNTED, SortColumn, TenantLicense,
    UploadOutcome,
};
use super::plan;
use super::verify::Checks;
use crate::audit::model::{AuditKind, Detail};
use crate::audit::store::Entry;
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, internal};
use crate::ledger::packages::{installed_among, revocations, verify_blocking, with_window};
use crate::ledger::platform::tenant_states;
use crate::ledger::status::{RANK_COLUMN, status_condition};
use crate::tenants::{Tenant, entity as tenant};
use crate::users::entity as user;

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

pub async fn list(
    db: &impl ConnectionTrait,
    _who: &Granted<cap::ViewLicenses>,
    query: &ListQuery,
    now: i64,
) -> Result<LicensePage, AppError> {
    use certificate::Column as C;
    let q = crate::ui::listing::search(&query.q)?;
    let offset = crate::ui::listing::offset(query.page, PAGE_SIZE)?;
    let mut select = certificate::Entity::find();
    if !q.is_empty() {
        select = select.filter(super::search::condition(db, q).await?);
    }
    if let Some(s) = query.status {
        select = select.filter(status_condition(s, now));
    }
    if let Some(t) = query.license_type {
        select = select.filter(C::LicenseType.eq(t.as_str()));
    }
    // A search is counted up to `SEARCH_COUNTED` past the page's start (a limit inside the
    // count): the list itself stops at the page, wherever the matches lie.
    let counted = select.clone().select_only().column(C::Id);
    let (total, more) = if q.is_empty() {
        (counted.count(db).await?, false)
    } else {
        let enough = offset + SEARCH_COUNTED;
        // Not `PaginatorTrait::count`: it drops the limit.
        let limited = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(
                counted.limit(enough + 1).into_query(),
                Alias::new("matched"),
            )
            .to_owned();
        let n = match db.query_one(&limited).await? {
            Some(row) => u64::try_from(row.try_get_by_index::<i64>(0)?).unwrap_or(0),
            None => 0,
        };
        (n.min(enough), n > enough)
    };
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
        // The stored rank (migration 25), read in its index's order.
        SortColumn::Status => select.order_by(
            Expr::col((certificate::Entity, Alias::new(RANK_COLUMN))),
            order.clone(),
        ),
        SortColumn::Installed => select.order_by(C::InstalledAt, order.clone()),
    };
    // Sort and page the ids alone (a narrow sort: rows carry the signed payload), with a stable
    // order within equal keys so pages do not overlap: the id, in the sort's direction, as the
    // indexes of the status rank, the product name and the installation time hold it (migration
    // 26), so a page of 50,000 licenses that share a product is read from the index either way.
    // Then read the page's rows.
    let ids: Vec<String> = select
        .order_by(C::Id, order)
        .select_only()
        .column(C::Id)
        .offset(offset)
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
        more,
        query: query.clone(),
    })
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
    let result = if keep { "verified" } else { "refused" };
    metrics::counter!("tessera_uploads_total", "result" => result).increment(1);
    let refusal = match &outcome {
        UploadOutcome::Refused { refusal, .. } => Some(refusal.clone()),
        UploadOutcome::Preview(_) => None,
    };
    let (file_name_for_audit, detail, refused) = match &outcome {
        UploadOutcome::Preview(p) => (
            p.file_name.clone(),
            Detail::PackageChecked {
                certificates: p.total as u64,
                new: p.new as u64,
            },
            false,
        ),
        UploadOutcome::Refused { file_name, refusal } => {
            (file_name.clone(), Detail::package_refused(refusal), true)
        }
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
        if refused {
            entry.said(detail).outcome("invalid")
        } else {
            entry.said(detail)
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

/// The license request of this installation, as of `now`.
pub async fn license_request(
    db: &impl ConnectionTrait,
    installation_id: &str,
    lease_public_key: &str,
    company_id: &str,
    target_version: &str,
    keep: crate::usage::UsageRetention,
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
        usage_summary: crate::usage::store::summary(db, keep, now).await?,
        lease_public_key: Some(lease_public_key.to_string()),
    })
}
