//! How the console names things the same way on every page: license types, statuses, expiry
//! dates and roles, in the reader's language.
use leptos::prelude::*;

use crate::auth::model::Role;
use crate::i18n::*;
use crate::licenses::domain::{Expiry, Status};
use crate::licenses::format::LicenseType;
use crate::ui::dates::format_date_ms;

/// A date, or "permanent", in the reader's language.
#[component]
pub fn ExpiryText(expiry: Option<Expiry>) -> impl IntoView {
    let i18n = use_i18n();
    match expiry {
        None => view! { <span class="muted">"—"</span> }.into_any(),
        Some(Expiry::Never) => t!(i18n, licenses.permanent).into_any(),
        Some(Expiry::At(ms)) => (move || format_date_ms(i18n.get_locale(), ms)).into_any(),
    }
}

#[component]
pub fn LicenseTypeName(license_type: LicenseType) -> impl IntoView {
    let i18n = use_i18n();
    match license_type {
        LicenseType::Platform => t!(i18n, license_types.platform).into_any(),
        LicenseType::PlatformUnlimitedAgents => {
            t!(i18n, license_types.platform_unlimited_agents).into_any()
        }
        LicenseType::Agent => t!(i18n, license_types.agent).into_any(),
        LicenseType::Personal => t!(i18n, license_types.personal).into_any(),
        LicenseType::Server => t!(i18n, license_types.server).into_any(),
    }
}

#[component]
pub fn StatusBadge(status: Status) -> impl IntoView {
    let class = format!("status status-{}", status.as_str());
    view! {
        <span class=class>
            <StatusName status />
        </span>
    }
}

#[component]
pub fn StatusName(status: Status) -> impl IntoView {
    let i18n = use_i18n();
    match status {
        Status::Unused => t!(i18n, statuses.unused).into_any(),
        Status::Activated => t!(i18n, statuses.activated).into_any(),
        Status::Expired => t!(i18n, statuses.expired).into_any(),
        Status::Revoked => t!(i18n, statuses.revoked).into_any(),
    }
}

#[component]
pub fn RoleName(role: Role) -> impl IntoView {
    let i18n = use_i18n();
    match role {
        Role::Administrator => t!(i18n, roles.administrator).into_any(),
        Role::LicenseManager => t!(i18n, roles.license_manager).into_any(),
        Role::User => t!(i18n, roles.user).into_any(),
    }
}
