//! The server function of Settings > Audit log. Administrators only.
use leptos::prelude::*;

use super::model::{AuditFilter, AuditPage};
use crate::error::AppError;

/// One page of the log, newest first, filtered by kind, user and days; a filter that cannot be
/// read is refused (400) naming the field.
#[server(endpoint = "audit/list")]
pub async fn list_audit(filter: AuditFilter) -> Result<AuditPage, AppError> {
    use crate::auth::server::{cap::ViewAudit, require};
    let who = require::<ViewAudit>()?;
    let filter = filter.check()?;
    super::store::list(who.db(), &who, &filter).await
}
