//! Server functions of Settings > Users. Each one starts by checking that its caller may manage
//! users; the operations themselves demand the proof.
use leptos::prelude::*;

use super::model::{UserRow, UsersListing};
use crate::auth::model::Role;
use crate::error::AppError;

/// A page of users with their seats. Administrators see it to manage users; License managers to
/// give and recall seats (the changes to users themselves stay the Administrators').
#[server(endpoint = "users/list")]
pub async fn list_users(q: Option<String>, page: Option<u64>) -> Result<UsersListing, AppError> {
    use crate::auth::model::Permission;
    use crate::auth::server::{cap::ManageSeats, require};
    let who = require::<ManageSeats>()?;
    let page = crate::ui::listing::page(page.map(|p| p.max(1)))?;
    let q = crate::ui::listing::search(q.as_deref().unwrap_or_default())?;
    let tenants = crate::tenants::store::all(who.db()).await?;
    let products =
        crate::seats::store::seat_products(who.db(), who.tenant_scope(), who.now()).await?;
    let (users, total) = super::store::list(who.db(), &who, &tenants, &products, q, page).await?;
    let role = who.viewer().role;
    Ok(UsersListing {
        users,
        tenants,
        products,
        total,
        page,
        can_manage_users: role.can_manage_users(),
        can_request: role.allows(Permission::RequestLicenses),
        can_upload: role.can_upload(),
    })
}

#[server(endpoint = "users/create")]
pub async fn create_user(
    user_name: String,
    password: String,
    role: Role,
    tenant_id: String,
) -> Result<UserRow, AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    let subject = user_name.trim().to_string();
    audited(
        AuditKind::UserCreate,
        subject,
        create(user_name, password, role, tenant_id),
    )
    .await
}

#[cfg(feature = "ssr")]
async fn create(
    user_name: String,
    password: String,
    role: Role,
    tenant_id: String,
) -> Result<UserRow, AppError> {
    use crate::auth::server::{cap::ManageUsers, require};
    let who = require::<ManageUsers>()?;
    let new = super::store::NewUser {
        name: user_name,
        password,
        role,
        tenant_id,
    };
    let row = super::store::create(who.db(), &who.state().passwords, &who, new, who.now()).await?;
    tracing::info!(by = %who.viewer().name, user = %row.name, "user created");
    // A form post returns to the list, which says what was made.
    leptos_axum::redirect(&format!(
        "/settings/users?created={}",
        crate::ui::url::encode_component(&row.name)
    ));
    Ok(row)
}

#[server(endpoint = "users/set_role")]
pub async fn set_user_role(user_id: String, role: Role) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::ManageUsers, require};
    audited(AuditKind::UserSetRole, user_id.clone(), async move {
        let who = require::<ManageUsers>()?;
        super::store::set_role(who.db(), &who, &user_id, role, who.now()).await
    })
    .await
}

#[server(endpoint = "users/set_disabled")]
pub async fn set_user_disabled(user_id: String, disabled: bool) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::ManageUsers, require};
    let kind = if disabled {
        AuditKind::UserDisable
    } else {
        AuditKind::UserEnable
    };
    audited(kind, user_id.clone(), async move {
        let who = require::<ManageUsers>()?;
        let now = who.now();
        super::store::set_disabled(who.db(), &who, &user_id, disabled, now).await
    })
    .await
}

#[server(endpoint = "users/reset_password")]
pub async fn reset_user_password(user_id: String, password: String) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::ManageUsers, require};
    audited(AuditKind::UserResetPassword, user_id.clone(), async move {
        let who = require::<ManageUsers>()?;
        let now = who.now();
        super::store::reset_password(
            who.db(),
            &who.state().passwords,
            &who,
            &user_id,
            password,
            now,
        )
        .await
    })
    .await
}
