//! Server functions of reminders: the header's alerts, the notifications page, mark as read.
use leptos::prelude::*;

use super::model::{Alerts, Notifications};
use crate::error::AppError;

/// The bell's count and, for Administrators, the banner. Anyone may ask; only those who see
/// licenses get anything but zero.
#[server(endpoint = "notifications/alerts")]
pub async fn get_alerts() -> Result<Alerts, AppError> {
    use crate::auth::model::Role;
    let Ok(who) = crate::auth::server::signed_in() else {
        return Ok(Alerts::default());
    };
    let viewer = who.viewer();
    if !viewer.role.can_view_licenses() {
        return Ok(Alerts::default());
    }
    // A License manager's bell rings for their own tenant (and the installation's shared things).
    let admin = viewer.role == Role::Administrator;
    let scope = (!admin).then_some(viewer.tenant_id.as_str());
    super::store::alerts(who.db(), scope, &viewer.id, admin, who.now()).await
}

/// Every recent reminder, newest first.
#[server(endpoint = "notifications/list")]
pub async fn list_notifications() -> Result<Notifications, AppError> {
    use crate::auth::server::{cap::ViewLicenses, require};
    let who = require::<ViewLicenses>()?;
    super::store::list(who.db(), who.tenant_scope(), &who.viewer().id).await
}

/// Marks one reminder read, or all of them without an `id`; returns to the notifications.
#[server(endpoint = "notifications/mark_read")]
pub async fn mark_read(id: Option<String>) -> Result<u64, AppError> {
    use crate::auth::server::{cap::ViewLicenses, require};
    let who = require::<ViewLicenses>()?;
    let n = super::store::mark_read(
        who.db(),
        who.tenant_scope(),
        &who.viewer().id,
        id.as_deref().filter(|s| !s.is_empty()),
        who.now(),
    )
    .await?;
    leptos_axum::redirect("/settings/notifications");
    Ok(n)
}
