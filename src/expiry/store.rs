//! Persistence of reminders, and whether a tenant's platform has lapsed. A reminder is made once
//! for all instances: the unique index on (subject, expiry, threshold) lets one insert win.
use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TryInsertResult,
};

use super::entity::{delivery, read, reminder};
use super::model::{Alerts, NOTIFICATIONS_MAX, Notifications, Reminder, SubjectKind};
use super::schedule::{DAYS_BEFORE, due_now};
use crate::error::AppError;
use crate::licenses::domain::{DAY_MS, Expiry};
use crate::licenses::entity::certificate;
use crate::licenses::format::LicenseType;
use crate::tenants::entity as tenant;

/// Something that expires and is reminded of.
struct Subject {
    kind: SubjectKind,
    id: String,
    name: String,
    license_type: LicenseType,
    tenant_id: Option<String>,
    expires_at: i64,
}

/// Everything expiring within the longest reminder horizon.
async fn subjects(db: &impl ConnectionTrait, now: i64) -> Result<Vec<Subject>, AppError> {
    let horizon = now + (i64::from(DAYS_BEFORE[0]) + 1) * DAY_MS;
    let soon = |e: Option<Expiry>| match e {
        Some(Expiry::At(t)) if t > now && t <= horizon => Some(t),
        _ => None,
    };
    let mut out = Vec::new();
    for t in tenant::Entity::find().all(db).await? {
        for (kind, license_type, expiry) in [
            (
                SubjectKind::TenantPlatform,
                LicenseType::Platform,
                Expiry::from_parts(t.platform_until, t.platform_permanent),
            ),
            (
                SubjectKind::TenantUnlimitedAgents,
                LicenseType::PlatformUnlimitedAgents,
                Expiry::from_parts(t.unlimited_agents_until, t.unlimited_agents_permanent),
            ),
        ] {
            if let Some(expires_at) = soon(expiry) {
                out.push(Subject {
                    kind,
                    id: t.id.clone(),
                    name: t.name.clone(),
                    license_type,
                    tenant_id: Some(t.id.clone()),
                    expires_at,
                });
            }
        }
    }
    let certs = certificate::Entity::find()
        .filter(certificate::Column::ActivatedAt.is_not_null())
        .filter(certificate::Column::RevokedBy.is_null())
        .filter(certificate::Column::EndedReason.is_null())
        .filter(certificate::Column::Permanent.eq(false))
        .filter(certificate::Column::ExpiresAt.gt(now))
        .filter(certificate::Column::ExpiresAt.lte(horizon))
        .filter(certificate::Column::LicenseType.is_in([
            LicenseType::Agent.as_str(),
            LicenseType::Personal.as_str(),
            LicenseType::Server.as_str(),
        ]))
        .all(db)
        .await?;
    for c in certs {
        let (Some(license_type), Some(expires_at)) =
            (LicenseType::parse(&c.license_type), c.expires_at)
        else {
            continue;
        };
        out.push(Subject {
            kind: SubjectKind::Certificate,
            id: c.id,
            name: c.product_name,
            license_type,
            // The tenant it serves: its pool's, or the one it was issued for.
            tenant_id: c.assigned_tenant_id.or(c.tenant_id),
            expires_at,
        });
    }
    Ok(out)
}

/// Makes the reminders that have fallen due, each once (also those that fell due while no
/// instance ran); with a webhook, queues its delivery in the same transaction. Answers how many
/// were made.
pub async fn sweep(db: &DatabaseConnection, now: i64, webhook: bool) -> Result<usize, AppError> {
    let subjects = subjects(db, now).await?;
    if subjects.is_empty() {
        return Ok(0);
    }
    let mut made: HashMap<(String, String, i64), Vec<u32>> = HashMap::new();
    for (kind, id, expires_at, days) in reminder::Entity::find()
        .select_only()
        .column(reminder::Column::SubjectKind)
        .column(reminder::Column::SubjectId)
        .column(reminder::Column::ExpiresAt)
        .column(reminder::Column::DaysBefore)
        .filter(reminder::Column::ExpiresAt.gt(now))
        .into_tuple::<(String, String, i64, i32)>()
        .all(db)
        .await?
    {
        made.entry((kind, id, expires_at))
            .or_default()
            .push(u32::try_from(days).unwrap_or_default());
    }
    let mut count = 0;
    for s in subjects {
        let key = (s.kind.as_str().to_string(), s.id.clone(), s.expires_at);
        let done = made.get(&key).map(Vec::as_slice).unwrap_or_default();
        let Some(days) = due_now(Expiry::At(s.expires_at), done, now) else {
            continue;
        };
        let id = uuid::Uuid::new_v4().to_string();
        let txn = crate::server::db::begin_write(db).await?;
        let inserted = reminder::Entity::insert(reminder::ActiveModel {
            id: Set(id.clone()),
            subject_kind: Set(s.kind.as_str().to_string()),
            subject_id: Set(s.id.clone()),
            subject_name: Set(s.name.clone()),
            license_type: Set(s.license_type.as_str().to_string()),
            tenant_id: Set(s.tenant_id.clone()),
            expires_at: Set(s.expires_at),
            days_before: Set(days as i32),
            due_at: Set(super::schedule::due_at(s.expires_at, days)),
            made_at: Set(now),
            read_at: Set(None),
            refusals: Set(None),
        })
        .on_conflict_do_nothing_on([
            reminder::Column::SubjectKind,
            reminder::Column::SubjectId,
            reminder::Column::ExpiresAt,
            reminder::Column::DaysBefore,
        ])
        .exec_without_returning(&txn)
        .await?;
        if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            // Another instance made it first.
            txn.rollback().await?;
            continue;
        }
        if webhook {
            let body = super::webhook::body(
                &id,
                s.kind,
                &s.name,
                s.license_type,
                s.expires_at,
                days,
                now,
            );
            queue_delivery(&txn, &id, body, now).await?;
        }
        txn.commit().await?;
        tracing::info!(
            subject = %s.name,
            license_type = s.license_type.as_str(),
            days_before = days,
            "expiry reminder made"
        );
        count += 1;
    }
    Ok(count)
}

/// Makes a shortage alert for each tenant whose agents were refused more than `threshold`
/// checkouts for want of a free license in the hour so far, once per tenant and hour (for all
/// instances: the unique index lets one insert win); with a webhook, queues its
/// `license.shortage` delivery in the same transaction. Answers how many were made.
pub async fn shortages(
    db: &DatabaseConnection,
    now: i64,
    threshold: u64,
    webhook: bool,
) -> Result<usize, AppError> {
    use crate::usage::entity::refused;
    use crate::usage::rollup::{HOUR_MS, bucket_of};
    let hour = bucket_of(now, HOUR_MS);
    let counts: Vec<(String, i64, i64)> = refused::Entity::find()
        .select_only()
        .column(refused::Column::TenantId)
        .column_as(Expr::cust("CAST(SUM(refusals) AS BIGINT)"), "refusals")
        .column_as(Expr::cust("COUNT(DISTINCT agent_id)"), "agents")
        .filter(refused::Column::Start.gte(hour))
        .filter(refused::Column::Reason.eq(crate::ledger::refusals::NO_LICENSE_FREE))
        .group_by(refused::Column::TenantId)
        .into_tuple()
        .all(db)
        .await?;
    let mut made = 0;
    for (tenant_id, refusals, agents) in counts {
        if u64::try_from(refusals).unwrap_or(0) <= threshold {
            continue;
        }
        let already = reminder::Entity::find()
            .filter(reminder::Column::SubjectKind.eq(SubjectKind::Shortage.as_str()))
            .filter(reminder::Column::SubjectId.eq(tenant_id.clone()))
            .filter(reminder::Column::ExpiresAt.eq(hour))
            .count(db)
            .await?;
        if already > 0 {
            continue;
        }
        let name = tenant::Entity::find_by_id(tenant_id.clone())
            .one(db)
            .await?
            .map_or_else(|| tenant_id.clone(), |t| t.name);
        let id = uuid::Uuid::new_v4().to_string();
        let txn = crate::server::db::begin_write(db).await?;
        let inserted = reminder::Entity::insert(reminder::ActiveModel {
            id: Set(id.clone()),
            subject_kind: Set(SubjectKind::Shortage.as_str().to_string()),
            subject_id: Set(tenant_id.clone()),
            subject_name: Set(name.clone()),
            license_type: Set(LicenseType::Agent.as_str().to_string()),
            tenant_id: Set(Some(tenant_id.clone())),
            expires_at: Set(hour),
            days_before: Set(0),
            due_at: Set(hour),
            made_at: Set(now),
            read_at: Set(None),
            refusals: Set(Some(refusals)),
        })
        .on_conflict_do_nothing_on([
            reminder::Column::SubjectKind,
            reminder::Column::SubjectId,
            reminder::Column::ExpiresAt,
            reminder::Column::DaysBefore,
        ])
        .exec_without_returning(&txn)
        .await?;
        if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            txn.rollback().await?;
            continue;
        }
        if webhook {
            let body =
                super::webhook::shortage_body(&id, &tenant_id, &name, hour, refusals, agents, now);
            queue_delivery(&txn, &id, body, now).await?;
        }
        txn.commit().await?;
        tracing::warn!(tenant = %name, refusals, agents, "shortage: agents refused for want of a free license");
        made += 1;
    }
    Ok(made)
}

/// Queues the webhook delivery of reminder `reminder_id`, due at once, in the reminder's own
/// transaction.
async fn queue_delivery(
    txn: &impl ConnectionTrait,
    reminder_id: &str,
    body: String,
    now: i64,
) -> Result<(), AppError> {
    delivery::Entity::insert(delivery::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        reminder_id: Set(reminder_id.to_string()),
        body: Set(body),
        attempts: Set(0),
        next_attempt_at: Set(now),
        delivered_at: Set(None),
        last_error: Set(None),
        gave_up: Set(false),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

fn to_reminder(m: reminder::Model, read: &HashSet<String>) -> Option<Reminder> {
    Some(Reminder {
        subject_kind: SubjectKind::parse(&m.subject_kind)?,
        license_type: LicenseType::parse(&m.license_type)?,
        days_before: u32::try_from(m.days_before).ok()?,
        read: read.contains(&m.id),
        id: m.id,
        subject_name: m.subject_name,
        expires_at: m.expires_at,
        made_at: m.made_at,
        refusals: m.refusals.and_then(|n| u64::try_from(n).ok()),
    })
}

/// The reminders a caller acting within `scope` sees: with a tenant (a License manager's), those
/// of that tenant and those of the installation's shared things (server licenses, the shared
/// agent pool), never another tenant's; without one (an Administrator), all.
fn in_scope(scope: Option<&str>) -> Condition {
    match scope {
        None => Condition::all(),
        Some(tenant) => Condition::any()
            .add(reminder::Column::TenantId.eq(tenant))
            .add(reminder::Column::TenantId.is_null()),
    }
}

/// The reminders `user_id` has not read: each user reads their own notifications.
fn unread_by(user_id: &str) -> Condition {
    Condition::all().add(
        reminder::Column::Id.not_in_subquery(
            Query::select()
                .column(read::Column::ReminderId)
                .from(read::Entity)
                .and_where(read::Column::UserId.eq(user_id))
                .to_owned(),
        ),
    )
}

/// The bell's count, and for Administrators the banner: the latest reminder of each thing that
/// `user_id` has not read, soonest expiry first.
pub async fn alerts(
    db: &impl ConnectionTrait,
    scope: Option<&str>,
    user_id: &str,
    banner: bool,
    now: i64,
) -> Result<Alerts, AppError> {
    let unread = reminder::Entity::find()
        .filter(in_scope(scope))
        .filter(unread_by(user_id))
        .count(db)
        .await?;
    if unread == 0 || !banner {
        return Ok(Alerts {
            unread,
            banner: Vec::new(),
        });
    }
    let rows = reminder::Entity::find()
        .filter(in_scope(scope))
        .filter(unread_by(user_id))
        .filter(reminder::Column::ExpiresAt.gt(now))
        .order_by_desc(reminder::Column::MadeAt)
        .limit(100)
        .all(db)
        .await?;
    let mut seen = HashSet::new();
    let none_read = HashSet::new();
    let mut banner: Vec<Reminder> = rows
        .into_iter()
        .filter(|r| seen.insert((r.subject_kind.clone(), r.subject_id.clone())))
        .filter_map(|r| to_reminder(r, &none_read))
        .collect();
    banner.sort_by_key(|r| r.expires_at);
    banner.truncate(5);
    Ok(Alerts { unread, banner })
}

/// The notifications page: the latest reminders the caller sees, newest first, each read or not
/// by `user_id`.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: Option<&str>,
    user_id: &str,
) -> Result<Notifications, AppError> {
    let unread = reminder::Entity::find()
        .filter(in_scope(scope))
        .filter(unread_by(user_id))
        .count(db)
        .await?;
    let rows = reminder::Entity::find()
        .filter(in_scope(scope))
        .order_by_desc(reminder::Column::MadeAt)
        .order_by_asc(reminder::Column::ExpiresAt)
        .limit(NOTIFICATIONS_MAX)
        .all(db)
        .await?;
    let read: HashSet<String> = read::Entity::find()
        .select_only()
        .column(read::Column::ReminderId)
        .filter(read::Column::UserId.eq(user_id))
        .filter(read::Column::ReminderId.is_in(rows.iter().map(|r| r.id.clone())))
        .into_tuple()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let reminders = rows
        .into_iter()
        .filter_map(|r| to_reminder(r, &read))
        .collect();
    Ok(Notifications { reminders, unread })
}

/// Marks one reminder read by `user_id`, or all of them when `id` is `None`, of those the caller
/// sees; other users' notifications stay as they were. Answers how many changed.
pub async fn mark_read(
    db: &impl ConnectionTrait,
    scope: Option<&str>,
    user_id: &str,
    id: Option<&str>,
    now: i64,
) -> Result<u64, AppError> {
    let mut unread = Query::select()
        .expr(Expr::val(user_id))
        .column(reminder::Column::Id)
        .expr(Expr::val(now))
        .from(reminder::Entity)
        .cond_where(in_scope(scope))
        .cond_where(unread_by(user_id))
        .to_owned();
    if let Some(id) = id {
        unread.and_where(reminder::Column::Id.eq(id));
    }
    let insert = Query::insert()
        .into_table(read::Entity)
        .columns([
            read::Column::UserId,
            read::Column::ReminderId,
            read::Column::ReadAt,
        ])
        .select_from(unread)
        .map_err(|e| crate::error::internal(e.to_string()))?
        // The same user marking in two tabs at once: one row each, the other insert skips it.
        .on_conflict(
            OnConflict::columns([read::Column::UserId, read::Column::ReminderId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected())
}

/// Remembers the latest time seen, for instances and restarts to come (it never goes back).
pub async fn keep_clock(db: &impl ConnectionTrait, seen_ms: i64) -> Result<(), AppError> {
    use crate::installation::entity as installation;
    installation::Entity::update_many()
        .col_expr(installation::Column::ClockSeenAt, Expr::value(seen_ms))
        .filter(installation::Column::Id.eq(1))
        .filter(
            sea_orm::Condition::any()
                .add(installation::Column::ClockSeenAt.is_null())
                .add(installation::Column::ClockSeenAt.lt(seen_ms)),
        )
        .exec(db)
        .await?;
    Ok(())
}
