//! Rolling the usage record up into minutes, hours and days, keeping each for as long as
//! configured, and reading them back.
//!
//! The sweeper rolls up every minute that ended more than [`SETTLE_MS`] ago (a change whose
//! transaction took longer than that to commit would miss its minute; none takes near it). The
//! minutes are computed from the state now and the record's changes since (`rollup::buckets`),
//! read in one snapshot; hours from whole minutes, days from whole hours. Distinct agents refused
//! are counted from the per-agent minutes, so they stay distinct over an hour or a day.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use super::UsageRetention;
use super::cache::{Mark, Reports, Shape, Wanted, Window, Windows};
use super::entity::{event, progress, refusal, refused, rollup as stored};
use super::model::{CheckedUsage, Choice, PoolUse, UsageReport};
use super::report::{Built, Keys, Row};
use super::rollup::{self, DAY_MS, EVERY_TENANT, HOUR_MS, Key, Level, MINUTE_MS, bucket_of};
use crate::error::AppError;
use crate::error::{Field, Problem};
use crate::ledger::holdings::usable_condition;
use crate::licenses::entity::certificate;
use crate::licenses::format::{LicenseType, ProductUsage, UsagePeriod};

/// How long after a minute ends it is rolled up.
pub const SETTLE_MS: i64 = 5_000;

/// The spans of the rollups, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    Minute,
    Hour,
    Day,
}

impl Span {
    pub fn as_str(self) -> &'static str {
        match self {
            Span::Minute => "minute",
            Span::Hour => "hour",
            Span::Day => "day",
        }
    }

    pub fn ms(self) -> i64 {
        match self {
            Span::Minute => MINUTE_MS,
            Span::Hour => HOUR_MS,
            Span::Day => DAY_MS,
        }
    }
}

/// What one round of rolling up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rolled {
    pub minutes: i64,
    pub hours: i64,
    pub days: i64,
}

/// What is owned now per pool, product and kind, keyed as every tenant together: agent licenses
/// that license something now, and the seats of personal licenses that do.
pub async fn owned(db: &impl ConnectionTrait, now: i64) -> Result<HashMap<Key, i64>, AppError> {
    use certificate::Column as C;
    let agents: Vec<(Option<String>, String, Option<String>, i64)> = certificate::Entity::find()
        .select_only()
        .column(C::AssignedTenantId)
        .column(C::Product)
        .column(C::Binding)
        .column_as(C::Id.count(), "n")
        .filter(usable_condition(now).add(C::LicenseType.eq(LicenseType::Agent.as_str())))
        .group_by(C::AssignedTenantId)
        .group_by(C::Product)
        .group_by(C::Binding)
        .into_tuple()
        .all(db)
        .await?;
    let personal: Vec<(String, Option<i32>)> = certificate::Entity::find()
        .select_only()
        .column(C::Product)
        .column(C::Seats)
        .filter(usable_condition(now).add(C::LicenseType.eq(LicenseType::Personal.as_str())))
        .into_tuple()
        .all(db)
        .await?;
    let mut owned: HashMap<Key, i64> = HashMap::new();
    for (pool, product, binding, n) in agents {
        let key = Key {
            pool: pool.unwrap_or_default(),
            tenant: EVERY_TENANT.to_string(),
            product,
            kind: binding.unwrap_or_default(),
        };
        *owned.entry(key).or_default() += n;
    }
    for (product, seats) in personal {
        let key = Key {
            pool: String::new(),
            tenant: EVERY_TENANT.to_string(),
            product,
            kind: LicenseType::Personal.as_str().to_string(),
        };
        *owned.entry(key).or_default() += i64::from(seats.unwrap_or(0));
    }
    owned.retain(|_, n| *n > 0);
    Ok(owned)
}

fn clamp(n: i64) -> i32 {
    i32::try_from(n.max(0)).unwrap_or(i32::MAX)
}

/// Rolls up what ended: minutes up to `now - SETTLE_MS`, the hours and days they complete. One
/// instance at a time: the others skip the round.
pub async fn roll_up(
    db: &DatabaseConnection,
    now: i64,
    keep: UsageRetention,
) -> Result<Rolled, AppError> {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let txn = if postgres {
        // One snapshot for the state and the record, and one roller at a time.
        let txn = db
            .begin_with_config(Some(sea_orm::IsolationLevel::RepeatableRead), None)
            .await?;
        let locked = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock(7461626) AS locked",
            ))
            .await?
            .map(|r| r.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if !locked {
            return Ok(Rolled::default());
        }
        txn
    } else {
        crate::server::db::begin_write(db).await?
    };
    // SQLite holds the write lock from `BEGIN`, so the reads below are one snapshot.
    progress::Entity::update_many()
        .col_expr(
            progress::Column::MinutesUntil,
            Expr::col(progress::Column::MinutesUntil),
        )
        .filter(progress::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    let mark = progress::Entity::find_by_id(1)
        .one(&txn)
        .await?
        .ok_or_else(|| crate::error::internal("the usage progress row is missing"))?;
    let to = bucket_of(now - SETTLE_MS, MINUTE_MS);
    // Licenses that lapsed by time since the last look, recorded at their time (nothing older
    // than the record keeps).
    let lapses_from = mark.lapses_until.max(now - keep.events_days * DAY_MS);
    if lapses_from < to {
        crate::ledger::usage::record_lapses(&txn, lapses_from, to).await?;
    }
    // Nothing older than what is kept is worth rolling up (after a long stop, say).
    let oldest = bucket_of(now - keep.minutes_days * DAY_MS, MINUTE_MS);
    let from = if mark.minutes_until > 0 {
        mark.minutes_until.max(oldest)
    } else {
        first_recorded(&txn).await?.unwrap_or(to).max(oldest)
    };
    let mut rolled = Rolled::default();
    if from < to {
        rolled.minutes = roll_minutes(&txn, from, to, now).await?;
    }
    let minutes_until = to.max(mark.minutes_until);
    let hours_from = if mark.hours_until > 0 {
        mark.hours_until
    } else {
        bucket_of(from, HOUR_MS)
    };
    let hours_to = bucket_of(minutes_until, HOUR_MS);
    if hours_from < hours_to {
        rolled.hours = combine(&txn, Span::Minute, Span::Hour, hours_from, hours_to).await?;
    }
    let hours_until = hours_to.max(mark.hours_until);
    let days_from = if mark.days_until > 0 {
        mark.days_until
    } else {
        bucket_of(hours_from, DAY_MS)
    };
    let days_to = bucket_of(hours_until, DAY_MS);
    if days_from < days_to {
        rolled.days = combine(&txn, Span::Hour, Span::Day, days_from, days_to).await?;
    }
    let days_until = days_to.max(mark.days_until);
    progress::Entity::update_many()
        .col_expr(progress::Column::MinutesUntil, Expr::value(minutes_until))
        .col_expr(progress::Column::HoursUntil, Expr::value(hours_until))
        .col_expr(progress::Column::DaysUntil, Expr::value(days_until))
        .col_expr(
            progress::Column::LapsesUntil,
            Expr::value(to.max(mark.lapses_until)),
        )
        .filter(progress::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(rolled)
}

/// The minute of the oldest change or refusal recorded, if any.
async fn first_recorded(db: &impl ConnectionTrait) -> Result<Option<i64>, AppError> {
    let change: Option<i64> = event::Entity::find()
        .select_only()
        .column(event::Column::At)
        .filter(event::Column::Delta.ne(0))
        .order_by_asc(event::Column::At)
        .into_tuple()
        .one(db)
        .await?;
    let refusal: Option<i64> = refused::Entity::find()
        .select_only()
        .column(refused::Column::Start)
        .order_by_asc(refused::Column::Start)
        .into_tuple()
        .one(db)
        .await?;
    Ok(change
        .into_iter()
        .chain(refusal)
        .min()
        .map(|at| bucket_of(at, MINUTE_MS)))
}

/// Rolls up the minutes in `[from, to)`; answers the rows written.
async fn roll_minutes(
    txn: &impl ConnectionTrait,
    from: i64,
    to: i64,
    now: i64,
) -> Result<i64, AppError> {
    let in_use = crate::ledger::usage::state(txn).await?;
    let changes: Vec<rollup::Change> = event::Entity::find()
        .filter(event::Column::At.gte(from))
        // Activations and lapses change no one's use.
        .filter(event::Column::Delta.ne(0))
        .order_by_asc(event::Column::At)
        .order_by_asc(event::Column::Id)
        .all(txn)
        .await?
        .into_iter()
        .map(|e| rollup::Change {
            at: e.at,
            delta: i64::from(e.delta),
            key: Key {
                pool: e.pool,
                tenant: e.tenant_id,
                product: e.product,
                kind: e.license_kind,
            },
        })
        .collect();
    let mut levels: BTreeMap<(i64, Key), (Level, i64)> =
        rollup::buckets(&in_use, &changes, from, to, MINUTE_MS)
            .into_iter()
            .map(|(k, l)| (k, (l, 0)))
            .collect();
    // What is owned, read now, stands for the minutes rolled now (a minute ago, normally).
    let owned = owned(txn, now).await?;
    let mut start = from;
    while start < to {
        for (key, n) in &owned {
            let idle = Level {
                peak: 0,
                low: 0,
                used_ms: 0,
            };
            levels.entry((start, key.clone())).or_insert((idle, 0)).1 = *n;
        }
        start += MINUTE_MS;
    }
    let rows: Vec<stored::ActiveModel> = levels
        .into_iter()
        .map(|((start, key), (l, owned))| stored::ActiveModel {
            span: Set(Span::Minute.as_str().to_string()),
            start: Set(start),
            pool: Set(key.pool),
            tenant_id: Set(key.tenant),
            product: Set(key.product),
            license_kind: Set(key.kind),
            peak: Set(clamp(l.peak)),
            low: Set(clamp(l.low)),
            used_ms: Set(l.used_ms.max(0)),
            owned: Set(clamp(owned)),
        })
        .collect();
    let written = rows.len() as i64;
    insert_rollups(txn, rows).await?;
    // Refusals per minute, tenant and reason, with the agents refused.
    let refusals: Vec<(i64, String, String, i64, i64)> = refused::Entity::find()
        .select_only()
        .column(refused::Column::Start)
        .column(refused::Column::TenantId)
        .column(refused::Column::Reason)
        .column_as(Expr::cust("CAST(SUM(refusals) AS BIGINT)"), "refusals")
        .column_as(refused::Column::AgentId.count(), "agents")
        .filter(refused::Column::Start.gte(from))
        .filter(refused::Column::Start.lt(to))
        .group_by(refused::Column::Start)
        .group_by(refused::Column::TenantId)
        .group_by(refused::Column::Reason)
        .into_tuple()
        .all(txn)
        .await?;
    insert_refusals(txn, Span::Minute, refusals).await?;
    Ok(written)
}

async fn insert_rollups(
    txn: &impl ConnectionTrait,
    rows: Vec<stored::ActiveModel>,
) -> Result<(), AppError> {
    use stored::Column as C;
    for chunk in rows.chunks(500) {
        stored::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    C::Span,
                    C::Start,
                    C::Pool,
                    C::TenantId,
                    C::Product,
                    C::LicenseKind,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

async fn insert_refusals(
    txn: &impl ConnectionTrait,
    span: Span,
    rows: Vec<(i64, String, String, i64, i64)>,
) -> Result<(), AppError> {
    use refusal::Column as C;
    let rows: Vec<refusal::ActiveModel> = rows
        .into_iter()
        .map(
            |(start, tenant_id, reason, n, agents)| refusal::ActiveModel {
                span: Set(span.as_str().to_string()),
                start: Set(start),
                tenant_id: Set(tenant_id),
                reason: Set(reason),
                refusals: Set(n),
                agents: Set(clamp(agents)),
            },
        )
        .collect();
    for chunk in rows.chunks(500) {
        refusal::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([C::Span, C::Start, C::TenantId, C::Reason])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Rolls the buckets of `part` in `[from, to)` up into buckets of `whole`; answers the rows
/// written. Distinct agents refused are counted again from the per-agent minutes.
async fn combine(
    txn: &impl ConnectionTrait,
    part: Span,
    whole: Span,
    from: i64,
    to: i64,
) -> Result<i64, AppError> {
    use stored::Column as C;
    let parts = stored::Entity::find()
        .filter(C::Span.eq(part.as_str()))
        .filter(C::Start.gte(from))
        .filter(C::Start.lt(to))
        .all(txn)
        .await?;
    let mut grouped: BTreeMap<(i64, Key), (Vec<Level>, i32)> = BTreeMap::new();
    for p in parts {
        let key = Key {
            pool: p.pool,
            tenant: p.tenant_id,
            product: p.product,
            kind: p.license_kind,
        };
        let entry = grouped
            .entry((bucket_of(p.start, whole.ms()), key))
            .or_default();
        entry.0.push(Level {
            peak: i64::from(p.peak),
            low: i64::from(p.low),
            used_ms: p.used_ms,
        });
        entry.1 = entry.1.max(p.owned);
    }
    let expected = usize::try_from(whole.ms() / part.ms()).unwrap_or(usize::MAX);
    let rows: Vec<stored::ActiveModel> = grouped
        .into_iter()
        .map(|((start, key), (levels, owned))| {
            let l = rollup::combine(&levels, expected);
            stored::ActiveModel {
                span: Set(whole.as_str().to_string()),
                start: Set(start),
                pool: Set(key.pool),
                tenant_id: Set(key.tenant),
                product: Set(key.product),
                license_kind: Set(key.kind),
                peak: Set(clamp(l.peak)),
                low: Set(clamp(l.low)),
                used_ms: Set(l.used_ms),
                owned: Set(owned),
            }
        })
        .collect();
    let written = rows.len() as i64;
    insert_rollups(txn, rows).await?;
    let mut refusals = Vec::new();
    let mut start = from;
    while start < to {
        let end = start + whole.ms();
        let rows: Vec<(String, String, i64, i64)> = refused::Entity::find()
            .select_only()
            .column(refused::Column::TenantId)
            .column(refused::Column::Reason)
            .column_as(Expr::cust("CAST(SUM(refusals) AS BIGINT)"), "refusals")
            .column_as(Expr::cust("COUNT(DISTINCT agent_id)"), "agents")
            .filter(refused::Column::Start.gte(start))
            .filter(refused::Column::Start.lt(end))
            .group_by(refused::Column::TenantId)
            .group_by(refused::Column::Reason)
            .into_tuple()
            .all(txn)
            .await?;
        refusals.extend(
            rows.into_iter()
                .map(|(tenant, reason, n, agents)| (start, tenant, reason, n, agents)),
        );
        start = end;
    }
    insert_refusals(txn, whole, refusals).await?;
    Ok(written)
}

/// Deletes what is older than kept: the record's changes, minutes (with the per-agent refusals),
/// hours, and days when a limit is set. Answers the rows deleted.
pub async fn prune(
    db: &DatabaseConnection,
    now: i64,
    keep: UsageRetention,
) -> Result<u64, AppError> {
    let minutes_before = now - keep.minutes_days * DAY_MS;
    let mut deleted = event::Entity::delete_many()
        .filter(event::Column::At.lt(now - keep.events_days * DAY_MS))
        .exec(db)
        .await?
        .rows_affected;
    deleted += refused::Entity::delete_many()
        .filter(refused::Column::Start.lt(minutes_before))
        .exec(db)
        .await?
        .rows_affected;
    let mut spans = vec![
        (Span::Minute, minutes_before),
        (Span::Hour, now - keep.hours_days * DAY_MS),
    ];
    if let Some(days) = keep.days_days {
        spans.push((Span::Day, now - days * DAY_MS));
    }
    for (span, before) in spans {
        deleted += stored::Entity::delete_many()
            .filter(stored::Column::Span.eq(span.as_str()))
            .filter(stored::Column::Start.lt(before))
            .exec(db)
            .await?
            .rows_affected;
        deleted += refusal::Entity::delete_many()
            .filter(refusal::Column::Span.eq(span.as_str()))
            .filter(refusal::Column::Start.lt(before))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(deleted)
}

/// The span a period is shown in: the finest kept for all of it, with at most about two
/// thousand buckets (minutes up to two days, hours up to 62 days, days beyond).
pub fn span_for(from: i64, until: i64, now: i64, keep: UsageRetention) -> Span {
    let length = until - from;
    if length <= 2 * DAY_MS && from >= now - keep.minutes_days * DAY_MS {
        Span::Minute
    } else if length <= 62 * DAY_MS && from >= now - keep.hours_days * DAY_MS {
        Span::Hour
    } else {
        Span::Day
    }
}

/// What Settings > Usage shows for `filter`, within the caller's tenant `scope` (`None`: every
/// tenant). Another tenant than the caller's own, or one or a product that does not exist, is
/// refused (400) naming it.
///
/// The figures and the products offered are kept per roll-up ([`super::cache`]); the tenants
/// are read each time.
pub async fn report(
    db: &impl ConnectionTrait,
    reports: &Reports,
    scope: Option<&str>,
    filter: &CheckedUsage,
    keep: UsageRetention,
    now: i64,
) -> Result<UsageReport, AppError> {
    use crate::tenants::entity as tenant;
    let asked_scope = scope;
    let mut tenants_q = tenant::Entity::find().order_by_asc(tenant::Column::Name);
    if let Some(own) = scope {
        tenants_q = tenants_q.filter(tenant::Column::Id.eq(own));
    }
    let tenants: Vec<Choice> = tenants_q
        .all(db)
        .await?
        .into_iter()
        .map(|t| Choice {
            id: t.id,
            name: t.name,
        })
        .collect();
    let chosen_tenant = match (&filter.tenant, scope) {
        (Some(t), _) if !tenants.iter().any(|c| &c.id == t) => {
            return Err(AppError::invalid(Field::Tenant, Problem::Unknown));
        }
        (Some(t), _) => Some(t.clone()),
        (None, Some(own)) => Some(own.to_string()),
        (None, None) => None,
    };
    let mark = progress::Entity::find_by_id(1)
        .one(db)
        .await?
        .map(|m| (m.minutes_until, m.hours_until, m.days_until));
    // The products to choose from, as of the last roll-up like the figures (reading them scans
    // every certificate).
    let products = match mark.and_then(|m| reports.products(m)) {
        Some(kept) => kept,
        None => {
            let read = Arc::new(products(db).await?);
            if let Some(m) = mark {
                reports.put_products(m, read.clone());
            }
            read
        }
    };
    if let Some(p) = &filter.product
        && !products.iter().any(|c| &c.id == p)
    {
        return Err(AppError::invalid(Field::Product, Problem::Unknown));
    }
    let span = span_for(filter.from_ms, filter.until_ms, now, keep);
    let from = bucket_of(filter.from_ms, span.ms());
    let until = bucket_of(filter.until_ms - 1, span.ms()) + span.ms();
    let scope = Scope {
        tenant: chosen_tenant.as_deref(),
        product: filter.product.as_deref(),
    };
    let wanted = Wanted {
        tenant: chosen_tenant.clone(),
        product: filter.product.clone(),
        span_ms: span.ms(),
        from,
        until,
    };
    let built = match mark.and_then(|m| reports.get(m, &wanted)) {
        Some(built) => built,
        None => {
            let _one_at_a_time = reports.building.lock().await;
            // Built meanwhile, by the request this one waited for?
            match mark.and_then(|m| reports.get(m, &wanted)) {
                Some(built) => built,
                None => {
                    let built = Arc::new(
                        scope
                            .build(db, &reports.windows, span, from, until, mark)
                            .await?,
                    );
                    if let Some(m) = mark {
                        reports.put(m, wanted, built.clone());
                    }
                    built
                }
            }
        }
    };
    let name_of = |list: &[Choice], id: &str| {
        list.iter()
            .find(|c| c.id == id)
            .cloned()
            .unwrap_or_else(|| Choice {
                id: id.to_string(),
                name: id.to_string(),
            })
    };
    let pools = built
        .pools
        .iter()
        .map(|p| PoolUse {
            pool: (!p.key.pool.is_empty()).then(|| name_of(&tenants, &p.key.pool)),
            product: name_of(&products, &p.key.product),
            kind: p.key.kind.clone(),
            owned: p.owned,
            peak: p.peak,
            p95: p.p95,
            at_capacity_pct: p.at_capacity_pct,
            needed_peak: p.needed_peak,
            needed_p95: p.needed_p95,
            refused: p.refused,
            agents_refused: p.agents_refused,
        })
        .collect();
    reports.asked_for(asked_scope, filter);
    Ok(UsageReport {
        period: filter.period,
        from_ms: from,
        until_ms: until,
        span: span.as_str().to_string(),
        span_ms: span.ms(),
        tenants,
        tenant: chosen_tenant,
        products: products.to_vec(),
        product: filter.product.clone(),
        points: built.points.clone(),
        pools,
    })
}

/// Builds the views an administrator opens first (every tenant: the last day, 7, 30 and 365
/// days), so their rollup rows are read before anyone asks: at start, in the background. Each
/// roll-up then only adds its new rows.
pub async fn warm(
    db: &impl ConnectionTrait,
    reports: &Reports,
    keep: UsageRetention,
    now: i64,
) -> Result<(), AppError> {
    for period in ["day", "7d", "30d", "365d"] {
        let filter = super::model::UsageFilter {
            period: Some(period.to_string()),
            ..Default::default()
        }
        .check(now)?;
        report(db, reports, None, &filter, keep, now).await?;
    }
    Ok(())
}

/// Builds again, under the mark a roll-up has just moved, the views asked last (at most a few),
/// so that the first request after a roll-up finds its view built rather than building it. A
/// view that can no longer be built (its tenant deleted) is skipped.
pub async fn refresh(
    db: &impl ConnectionTrait,
    reports: &Reports,
    keep: UsageRetention,
    now: i64,
) -> usize {
    let mut built = 0;
    for (scope, filter) in reports.asked() {
        match report(db, reports, scope.as_deref(), &filter.at(now), keep, now).await {
            Ok(_) => built += 1,
            Err(e) => tracing::debug!(error = %e, "a usage view was not built ahead"),
        }
    }
    built
}

/// The tenant and product a report is narrowed to.
struct Scope<'a> {
    tenant: Option<&'a str>,
    product: Option<&'a str>,
}

/// How far back a window of each span is kept: the longest period shown in it, and a day.
fn window_length(span: Span) -> i64 {
    match span {
        Span::Minute => 3 * DAY_MS,
        Span::Hour => 63 * DAY_MS,
        Span::Day => i64::MAX,
    }
}

impl Scope<'_> {
    /// The figures of the buckets of `span` in `[from, until)`, as rolled up until `mark`: the
    /// buckets not yet rolled up at this span (the current hour or day) folded from the finer
    /// ones, so the latest use shows at once.
    async fn build(
        &self,
        db: &impl ConnectionTrait,
        windows: &Windows,
        span: Span,
        from: i64,
        until: i64,
        mark: Option<Mark>,
    ) -> Result<Built, AppError> {
        let Some((minutes_until, hours_until, days_until)) = mark else {
            // Nothing rolled up yet: nothing final to keep.
            let read = self.read(db, span, from, until).await?;
            return Ok(super::report::build(
                &read.rows,
                &read.refusals,
                self.tenant,
                from,
                until,
                span.ms(),
            ));
        };
        let (done, finer) = match span {
            Span::Minute => (minutes_until, vec![]),
            Span::Hour => (hours_until, vec![(Span::Minute, hours_until, until)]),
            Span::Day => (
                days_until,
                vec![
                    (Span::Hour, days_until, hours_until),
                    (Span::Minute, hours_until.max(days_until), until),
                ],
            ),
        };
        let done = done.clamp(from, until);
        let whole = self.window(db, windows, span, from, done).await?;
        let mut folded = Vec::new();
        let mut refusals = Vec::new();
        if done < until {
            for (part, start, end) in finer {
                let (start, end) = (start.max(done), end.min(until));
                if start < end {
                    let window = self.window(db, windows, part, start, end).await?;
                    folded.extend(super::report::fold(window.rows_in(start, end), span.ms()));
                }
            }
            // Refusals as far as minutes are rolled up, like the rows.
            let mut start = done;
            while start < until.min(minutes_until) {
                let end = (start + span.ms()).min(minutes_until);
                refusals.extend(self.distinct_refused(db, span, start, end).await?);
                start += span.ms();
            }
        }
        Ok(super::report::build(
            whole.rows_in(from, done).iter().chain(&folded),
            whole.refusals_in(from, done).iter().chain(&refusals),
            self.tenant,
            from,
            until,
            span.ms(),
        ))
    }

    /// The final rows of `span` in `[from, until)` (all rolled up), from the window kept for
    /// this scope and span: extended by what was rolled up since it was read, or read and kept.
    async fn window(
        &self,
        db: &impl ConnectionTrait,
        windows: &Windows,
        span: Span,
        from: i64,
        until: i64,
    ) -> Result<Arc<Window>, AppError> {
        let shape = Shape {
            span,
            tenant: self.tenant.map(str::to_string),
            product: self.product.map(str::to_string),
        };
        let kept = windows.get(&shape);
        if let Some(w) = &kept
            && w.covers(from, until)
        {
            return Ok(w.clone());
        }
        let window = match kept {
            // Adjoining or overlapping what is kept: read the rest, keep at most the span's
            // length (and what was asked).
            Some(w) if from <= w.until && w.from <= until => {
                let keep_from = until
                    .max(w.until)
                    .saturating_sub(window_length(span))
                    .min(from);
                let mut joined = None;
                if from < w.from {
                    let before = self.read(db, span, from, w.from).await?;
                    joined = Some(w.joined(before, keep_from));
                }
                if until > w.until {
                    let after = self.read(db, span, w.until, until).await?;
                    joined = Some(joined.as_ref().unwrap_or(&*w).joined(after, keep_from));
                }
                match joined {
                    Some(joined) => joined,
                    None => return Ok(w),
                }
            }
            _ => self.read(db, span, from, until).await?,
        };
        let window = Arc::new(window);
        windows.put(shape, window.clone());
        Ok(window)
    }

    /// Reads the rollup rows of `span` in `[from, until)` (the chosen tenant's and every
    /// tenant's, or every tenant's alone; of the chosen product and the registered agents) and
    /// its refusal rows (of the chosen tenant or all).
    async fn read(
        &self,
        db: &impl ConnectionTrait,
        span: Span,
        from: i64,
        until: i64,
    ) -> Result<Window, AppError> {
        use stored::Column as C;
        let mut rows = stored::Entity::find()
            .filter(C::Span.eq(span.as_str()))
            .filter(C::Start.gte(from))
            .filter(C::Start.lt(until))
            .order_by_asc(C::Start);
        rows = match self.tenant {
            Some(t) => rows.filter(C::TenantId.is_in([t, EVERY_TENANT])),
            None => rows.filter(C::TenantId.eq(EVERY_TENANT)),
        };
        if let Some(p) = self.product {
            // Registered agents are no product's: shown whatever the product.
            rows = rows.filter(
                sea_orm::Condition::any()
                    .add(C::Product.eq(p))
                    .add(C::LicenseKind.eq(rollup::REGISTERED_AGENTS)),
            );
        }
        let rows = read_rows(db, rows).await?;
        let mut refusals = refusal::Entity::find()
            .filter(refusal::Column::Span.eq(span.as_str()))
            .filter(refusal::Column::Start.gte(from))
            .filter(refusal::Column::Start.lt(until))
            .order_by_asc(refusal::Column::Start);
        if let Some(t) = self.tenant {
            refusals = refusals.filter(refusal::Column::TenantId.eq(t));
        }
        Ok(Window {
            from,
            until,
            rows,
            refusals: refusals.all(db).await?,
        })
    }

    /// The refusals of the bucket of `span` at `start`, not yet rolled up, from the per-agent
    /// minutes before `end` (distinct agents counted exactly).
    async fn distinct_refused(
        &self,
        db: &impl ConnectionTrait,
        span: Span,
        start: i64,
        end: i64,
    ) -> Result<Vec<refusal::Model>, AppError> {
        let mut q = refused::Entity::find()
            .select_only()
            .column(refused::Column::TenantId)
            .column(refused::Column::Reason)
            .column_as(Expr::cust("CAST(SUM(refusals) AS BIGINT)"), "refusals")
            .column_as(Expr::cust("COUNT(DISTINCT agent_id)"), "agents")
            .filter(refused::Column::Start.gte(start))
            .filter(refused::Column::Start.lt(end))
            .group_by(refused::Column::TenantId)
            .group_by(refused::Column::Reason);
        if let Some(t) = self.tenant {
            q = q.filter(refused::Column::TenantId.eq(t));
        }
        let found: Vec<(String, String, i64, i64)> = q.into_tuple().all(db).await?;
        Ok(found
            .into_iter()
            .map(|(tenant_id, reason, refusals, agents)| refusal::Model {
                span: span.as_str().to_string(),
                start,
                tenant_id,
                reason,
                refusals,
                agents: clamp(agents),
            })
            .collect())
    }
}

/// The rollup rows `query` finds, as a report reads them (each key held once).
async fn read_rows(
    db: &impl ConnectionTrait,
    query: sea_orm::Select<stored::Entity>,
) -> Result<Vec<Row>, AppError> {
    use stored::Column as C;
    let found: Vec<(i64, String, String, String, String, i32, i32)> = query
        .select_only()
        .columns([
            C::Start,
            C::Pool,
            C::TenantId,
            C::Product,
            C::LicenseKind,
            C::Peak,
            C::Owned,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let mut keys = Keys::default();
    Ok(found
        .into_iter()
        .map(|(start, pool, tenant, product, kind, peak, owned)| Row {
            start,
            key: keys.get(Key {
                pool,
                tenant,
                product,
                kind,
            }),
            peak,
            owned,
        })
        .collect())
}

/// The periods of a license request's usage summary, in days.
pub const SUMMARY_DAYS: [u32; 3] = [30, 90, 365];

/// The span a request's figures over `days` are taken in: the finest kept for all of them.
pub fn summary_span(days: i64, keep: UsageRetention) -> Span {
    if keep.minutes_days >= days {
        Span::Minute
    } else if keep.hours_days >= days {
        Span::Hour
    } else {
        Span::Day
    }
}

/// The usage summary of a license request (LICENSE-FORMAT.md `usage_summary`): per product and
/// kind, what licenses something now and, over the last 30, 90 and 365 days, the peak and 95th
/// percentile in use and the checkouts refused for want of a free agent license.
pub async fn summary(
    db: &impl ConnectionTrait,
    keep: UsageRetention,
    now: i64,
) -> Result<Vec<ProductUsage>, AppError> {
    let mut owned_now: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (key, n) in owned(db, now).await? {
        *owned_now.entry((key.product, key.kind)).or_default() += n;
    }
    // Where the record begins: a period reaching before it is reported as incomplete.
    let first: Option<i64> = stored::Entity::find()
        .select_only()
        .column_as(stored::Column::Start.min(), "first")
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    let mut periods: BTreeMap<(String, String), Vec<UsagePeriod>> = BTreeMap::new();
    for days in SUMMARY_DAYS {
        let span = summary_span(i64::from(days), keep);
        let from = bucket_of(now - i64::from(days) * DAY_MS, span.ms());
        let until = bucket_of(now, span.ms()) + span.ms();
        use stored::Column as C;
        let rows = read_rows(
            db,
            stored::Entity::find()
                .filter(C::Span.eq(span.as_str()))
                .filter(C::TenantId.eq(EVERY_TENANT))
                .filter(C::Start.gte(from)),
        )
        .await?;
        let refused: Option<i64> = refusal::Entity::find()
            .select_only()
            // PostgreSQL's SUM of BIGINT is NUMERIC.
            .column_as(Expr::cust("CAST(SUM(refusals) AS BIGINT)"), "refused")
            .filter(refusal::Column::Span.eq(span.as_str()))
            .filter(refusal::Column::Reason.eq(crate::ledger::refusals::NO_LICENSE_FREE))
            .filter(refusal::Column::Start.gte(from))
            .into_tuple()
            .one(db)
            .await?
            .flatten();
        let figures = super::report::peaks_by_product(&rows, from, until, span.ms());
        let keys: std::collections::BTreeSet<&(String, String)> =
            figures.keys().chain(owned_now.keys()).collect();
        for key in keys {
            let (peak, p95) = figures.get(key).copied().unwrap_or((0, 0));
            let agent = key.1 != LicenseType::Personal.as_str();
            periods.entry(key.clone()).or_default().push(UsagePeriod {
                days,
                peak: u64::try_from(peak).unwrap_or(0),
                p95: u64::try_from(p95).unwrap_or(0),
                bucket: span.as_str().to_string(),
                refusals: if agent {
                    u64::try_from(refused.unwrap_or(0)).unwrap_or(0)
                } else {
                    0
                },
                complete: first.is_some_and(|f| f <= from),
            });
        }
    }
    Ok(periods
        .into_iter()
        .map(|((product, license_kind), mut periods)| {
            // A product seen in some periods only: the others had none of it in use.
            for days in SUMMARY_DAYS {
                if !periods.iter().any(|p| p.days == days) {
                    let span = summary_span(i64::from(days), keep);
                    periods.push(UsagePeriod {
                        days,
                        peak: 0,
                        p95: 0,
                        bucket: span.as_str().to_string(),
                        refusals: 0,
                        complete: false,
                    });
                }
            }
            periods.sort_by_key(|p| p.days);
            ProductUsage {
                owned: owned_now
                    .get(&(product.clone(), license_kind.clone()))
                    .map_or(0, |n| u64::try_from(*n).unwrap_or(0)),
                product,
                license_kind,
                periods,
            }
        })
        .collect())
}

/// The products licenses were installed for, by name.
async fn products(db: &impl ConnectionTrait) -> Result<Vec<Choice>, AppError> {
    use certificate::Column as C;
    let mut found: Vec<(String, String)> = certificate::Entity::find()
        .select_only()
        .column(C::Product)
        .column(C::ProductName)
        .filter(C::LicenseType.is_in([LicenseType::Agent.as_str(), LicenseType::Personal.as_str()]))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    found.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found
        .into_iter()
        .map(|(id, name)| Choice { id, name })
        .collect())
}
