//! Settings > Usage as files: `GET /settings/usage.csv` (the charts' buckets),
//! `/settings/usage-pools.csv` (the right-sizing table) and `/settings/usage.json` (all of it),
//! each for the page's filter in the address: exactly what the page shows.
use std::collections::HashMap;

use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};

use super::model::{UsageFilter, UsageReport};
use crate::auth::server::Granted;
use crate::auth::server::cap::ViewUsage;
use crate::error::AppError;
use crate::server::caller::Caller;
use crate::server::csv::record;
use crate::server::respond::error_response;

pub const BUCKETS_HEADER: [&str; 9] = [
    "start_utc",
    "floating_in_use_peak",
    "floating_owned",
    "refused_checkouts",
    "agents_refused",
    "seats_held_peak",
    "seats_owned",
    "agents_licensed_peak",
    "agents_registered",
];

pub const POOLS_HEADER: [&str; 13] = [
    "pool",
    "product",
    "kind",
    "owned",
    "peak_in_use",
    "p95_in_use",
    "never_in_use",
    "at_capacity_percent",
    "refused_checkouts",
    "most_agents_refused_at_once",
    "needed_for_peak_demand",
    "needed_for_p95_demand",
    "span",
];

fn time_utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

pub fn buckets_csv(r: &UsageReport) -> String {
    let mut out = record(BUCKETS_HEADER);
    for p in &r.points {
        let cells = [
            time_utc(p.start),
            p.floating_peak.to_string(),
            p.floating_owned.to_string(),
            p.refused.to_string(),
            p.refused_agents.to_string(),
            p.seats_peak.to_string(),
            p.seats_owned.to_string(),
            p.agents_licensed.to_string(),
            p.agents_registered.to_string(),
        ];
        out.push_str(&record(cells.iter().map(String::as_str)));
    }
    out
}

pub fn pools_csv(r: &UsageReport) -> String {
    let mut out = record(POOLS_HEADER);
    for p in &r.pools {
        let cells = [
            p.pool
                .as_ref()
                .map_or("shared", |c| c.name.as_str())
                .to_string(),
            p.product.name.clone(),
            p.kind.clone(),
            p.owned.to_string(),
            p.peak.to_string(),
            p.p95.to_string(),
            p.never_used().to_string(),
            p.at_capacity_pct.to_string(),
            p.refused.to_string(),
            p.agents_refused.to_string(),
            p.needed_peak.to_string(),
            p.needed_p95.to_string(),
            r.span.clone(),
        ];
        out.push_str(&record(cells.iter().map(String::as_str)));
    }
    out
}

async fn report(
    who: &Caller<Granted<ViewUsage>>,
    params: &HashMap<String, String>,
) -> Result<UsageReport, AppError> {
    let now = who.now();
    let filter = UsageFilter::from_params(|k| params.get(k).cloned()).check(now)?;
    let keep = who.state().config.usage_retention;
    let reports = &who.state().usage_reports;
    super::store::report(who.db(), reports, who.tenant_scope(), &filter, keep, now).await
}

fn file(content_type: &'static str, name: &'static str, body: String) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_DISPOSITION, name),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub async fn csv(
    who: Caller<Granted<ViewUsage>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match report(&who, &params).await {
        Ok(r) => file(
            "text/csv; charset=utf-8",
            "attachment; filename=\"tessera-usage.csv\"",
            buckets_csv(&r),
        ),
        Err(e) => error_response(&e),
    }
}

pub async fn pools(
    who: Caller<Granted<ViewUsage>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match report(&who, &params).await {
        Ok(r) => file(
            "text/csv; charset=utf-8",
            "attachment; filename=\"tessera-usage-pools.csv\"",
            pools_csv(&r),
        ),
        Err(e) => error_response(&e),
    }
}

pub async fn json(
    who: Caller<Granted<ViewUsage>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match report(&who, &params).await {
        Ok(r) => match serde_json::to_string_pretty(&r) {
            Ok(body) => file(
                "application/json",
                "attachment; filename=\"tessera-usage.json\"",
                body,
            ),
            Err(e) => error_response(&crate::error::internal(e.to_string())),
        },
        Err(e) => error_response(&e),
    }
}
