//! Prometheus metrics at `/metrics` (`TESSERA_METRICS=1`; off by default), behind a bearer token
//! when `TESSERA_METRICS_TOKEN` is set. Counters and histograms are recorded where things happen
//! (the `metrics` crate's macros, which cost nothing while no recorder is installed); the gauges
//! of licenses per pool, the database pool and the sweeper's lag are read when scraped.
//!
//! What is recorded (every name starts `tessera_`): `checkouts_total{result}` (`licensed` or the
//! refusal's code), `grant_cache_total{result=hit|miss}`, `license_changes_total{kind,reason}`
//! (claims, bindings, releases and why, seats given and recalled, activations, lapses, as the
//! usage record writes them), `refusals_total{tenant,reason}`, `sign_ins_total{result}`,
//! `uploads_total{result}` and `upload_verification_seconds`, `webhook_deliveries_total{result}`,
//! `http_request_duration_seconds{route,method,status}`; gauges `licenses_owned`,
//! `licenses_in_use`, `licenses_expiring_15d` (per `pool`, `product`, `kind`),
//! `db_connections{state}`, `sweeper_lag_seconds`, `ready` (1 when `/readyz` would say so).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::caller::Caller;
use crate::auth::server::Scraper;
use crate::error::AppError;
use crate::licenses::entity::certificate;
use crate::usage::rollup::{EVERY_TENANT, Key};

/// The recorder of the process: installed once, by the first instance that enables metrics.
static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Seconds: the histograms' buckets (requests answered in a fraction of a millisecond to a few
/// seconds).
const BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How often the gauges of licenses are read again, at most (a scrape in between is answered
/// with the last reading).
const LICENSES_EVERY_MS: i64 = 10_000;

/// Installs the process's recorder (once) and keeps its histograms drained; answers the handle
/// that renders what is recorded.
pub fn install() -> Result<PrometheusHandle, String> {
    let mut kept = HANDLE
        .lock()
        .map_err(|_| "the metrics recorder's lock is poisoned".to_string())?;
    if let Some(handle) = kept.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
        .map_err(|e| e.to_string())?
        // A pool that is gone stops being reported.
        .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(120)))
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    *kept = Some(handle.clone());
    Ok(handle)
}

/// Times every request, labelled by its route (the pattern it matched, never the path a client
/// chose), method and status class.
pub async fn time_requests(req: Request, next: Next) -> Response {
    let route = match req.extensions().get::<MatchedPath>() {
        // Server functions share one pattern: their names are a fixed set.
        Some(m) if m.as_str() == "/api/{*fn_name}" => server_fn_route(req.uri().path()),
        Some(m) => m.as_str().to_string(),
        None => "other".to_string(),
    };
    let method = req.method().as_str().to_string();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = match res.status().as_u16() {
        s @ 100..=599 => ["1xx", "2xx", "3xx", "4xx", "5xx"][usize::from(s / 100 - 1)],
        _ => "other",
    };
    metrics::histogram!(
        "tessera_http_request_duration_seconds",
        "route" => route,
        "method" => method,
        "status" => status,
    )
    .record(started.elapsed().as_secs_f64());
    res
}

/// A server function's path as a route label when it names one, `/api/{unknown}` otherwise.
fn server_fn_route(path: &str) -> String {
    static KNOWN: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path.to_string())
            .collect()
    });
    if known.contains(path) {
        path.to_string()
    } else {
        "/api/{unknown}".to_string()
    }
}

/// `GET /metrics`: what is recorded, in Prometheus' text format, with the gauges read now.
pub async fn scrape(who: Caller<Scraper>) -> Response {
    let Some(handle) = who.state().metrics.clone() else {
        return super::respond::error_response(&AppError::NotFound);
    };
    let state = who.state();
    let now = who.now();
    pool_gauges(who.db());
    let ready = super::db::readiness(who.db()).await.is_ok();
    metrics::gauge!("tessera_ready").set(if ready { 1.0 } else { 0.0 });
    let last = state.sweeps.last_ms();
    if last > 0 {
        metrics::gauge!("tessera_sweeper_lag_seconds").set((now - last).max(0) as f64 / 1000.0);
    }
    if state.sweeps.claim_license_reading(now, LICENSES_EVERY_MS)
        && let Err(e) = license_gauges(who.db(), now).await
    {
        tracing::warn!(error = %e, "could not read the licenses for the metrics");
    }
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// The database pool's connections, idle and in use.
fn pool_gauges(db: &sea_orm::DatabaseConnection) {
    let (size, idle) = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX);
    metrics::gauge!("tessera_db_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("tessera_db_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
}

/// Per pool, product and kind: the licenses owned (seats, for personal licenses), in use, and
/// ending within 15 days.
async fn license_gauges(db: &sea_orm::DatabaseConnection, now: i64) -> Result<(), AppError> {
    const DAY_MS: i64 = 86_400_000;
    let labels = |k: &Key| {
        [
            ("pool", k.pool.clone()),
            ("product", k.product.clone()),
            ("kind", k.kind.clone()),
        ]
    };
    for (key, n) in crate::usage::store::owned(db, now).await? {
        metrics::gauge!("tessera_licenses_owned", &labels(&key)[..]).set(n as f64);
    }
    let mut in_use: HashMap<Key, i64> = HashMap::new();
    for (key, n) in crate::ledger::usage::in_use(db).await? {
        *in_use.entry(key.every_tenant()).or_default() += n;
    }
    for (key, n) in crate::ledger::usage::held_for_leases(db, now).await? {
        *in_use.entry(key).or_default() += n;
    }
    for (key, n) in in_use {
        metrics::gauge!("tessera_licenses_in_use", &labels(&key)[..]).set(n as f64);
    }
    use certificate::Column as C;
    // Pool, product, type, binding, how many.
    type Ending = (Option<String>, String, String, Option<String>, i64);
    let ending: Vec<Ending> = certificate::Entity::find()
        .select_only()
        .column(C::AssignedTenantId)
        .column(C::Product)
        .column(C::LicenseType)
        .column(C::Binding)
        .column_as(C::Id.count(), "n")
        .filter(crate::ledger::holdings::usable_condition(now))
        .filter(
            sea_orm::Condition::any()
                .add(
                    sea_orm::Condition::all()
                        .add(C::Permanent.eq(false))
                        .add(C::ExpiresAt.lt(now + 15 * DAY_MS)),
                )
                .add(C::NotAfterAt.lt(now + 15 * DAY_MS)),
        )
        .group_by(C::AssignedTenantId)
        .group_by(C::Product)
        .group_by(C::LicenseType)
        .group_by(C::Binding)
        .into_tuple()
        .all(db)
        .await?;
    for (pool, product, license_type, binding, n) in ending {
        let key = Key {
            pool: pool.unwrap_or_default(),
            tenant: EVERY_TENANT.to_string(),
            product,
            kind: binding.unwrap_or(license_type),
        };
        metrics::gauge!("tessera_licenses_expiring_15d", &labels(&key)[..]).set(n as f64);
    }
    Ok(())
}
