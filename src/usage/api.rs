//! The server function of Settings > Usage, and its CSV and JSON exports. Administrators see
//! every tenant; a License manager their own tenant's pool and its agents' use of the shared one.
use leptos::prelude::*;

use super::model::{UsageFilter, UsageReport};
use crate::error::AppError;

/// The usage report for a filter; a filter that cannot be read is refused (400) naming the field.
#[server(endpoint = "usage/report")]
pub async fn get_usage(filter: UsageFilter) -> Result<UsageReport, AppError> {
    use crate::auth::server::{cap::ViewUsage, require};
    let who = require::<ViewUsage>()?;
    let now = who.now();
    let checked = filter.check(now)?;
    let keep = who.state().config.usage_retention;
    let reports = &who.state().usage_reports;
    super::store::report(who.db(), reports, who.tenant_scope(), &checked, keep, now).await
}
