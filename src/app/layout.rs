//! The frame every page sits in: the header, the Settings navigation, and the permission gate.
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;

use super::pages::ForbiddenPage;
use crate::auth::model::{Permission, Viewer};
use crate::expiry::pages::RenewalPage;
use crate::i18n::*;
use crate::ui::errors::ErrorMessage;
use crate::ui::language::LanguageSwitch;
use crate::ui::session::use_session;

#[component]
pub fn Header() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"▦"</span>
                {t!(i18n, app.name)}
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match session.viewer.await {
                        Ok(Some(viewer)) => view! { <SignedInMenu viewer /> }.into_any(),
                        _ => view! { <div class="topnav"></div> }.into_any(),
                    }
                })}
            </Transition>
            <LanguageSwitch />
        </header>
    }
}

#[component]
fn SignedInMenu(viewer: Viewer) -> impl IntoView {
    let i18n = use_i18n();
    let logout = use_session().logout;
    view! {
        <nav class="topnav" aria-label=move || t_string!(i18n, nav.main).to_string()>
            <Show when=move || viewer.role.sees_settings()>
                <A href="/settings">{t!(i18n, nav.settings)}</A>
            </Show>
        </nav>
        <div class="account">
            <Show when=move || viewer.role.can_view_licenses()>
                <crate::expiry::pages::Bell />
            </Show>
            <A
                href="/account"
                attr:class="account-name"
                attr:title=move || t_string!(i18n, nav.account).to_string()
            >
                {viewer.name.clone()}
            </A>
            <ActionForm action=logout>
                <button type="submit" class="button-quiet">
                    {t!(i18n, nav.sign_out)}
                </button>
            </ActionForm>
        </div>
    }
}

#[component]
pub fn SettingsLayout() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let can = move |p: Permission| {
        session
            .viewer
            .get()
            .and_then(|r| r.ok())
            .flatten()
            .is_some_and(|v| v.role.allows(p))
    };
    view! {
        <div class="settings">
            <aside class="settings-nav">
                <h2>{t!(i18n, nav.settings)}</h2>
                <Transition fallback=|| ()>
                    <ul>
                        <Show when=move || can(Permission::ViewLicenses)>
                            <li>
                                <A href="/settings/licenses">{t!(i18n, nav.licenses)}</A>
                            </li>
                        </Show>
                        <Show when=move || can(Permission::ManageTenants)>
                            <li>
                                <A href="/settings/tenants">{t!(i18n, nav.tenants)}</A>
                            </li>
                        </Show>
                        <Show when=move || can(Permission::BindAgents)>
                            <li>
                                <A href="/settings/agents">{t!(i18n, nav.agents)}</A>
                            </li>
                        </Show>
                        <Show when=move || can(Permission::ManageSeats)>
                            <li>
                                <A href="/settings/users">{t!(i18n, nav.users)}</A>
                            </li>
                        </Show>
                        <Show when=move || can(Permission::ViewLicenses)>
                            <li>
                                <A href="/settings/notifications">{t!(i18n, nav.notifications)}</A>
                            </li>
                        </Show>
                        <Show when=move || can(Permission::ViewUsage)>
                            <li>
                                <A href="/settings/usage">{t!(i18n, nav.usage)}</A>
                            </li>
                        </Show>
                        <Show when=move || can(Permission::ViewAudit)>
                            <li>
                                <A href="/settings/audit">{t!(i18n, nav.audit)}</A>
                            </li>
                        </Show>
                    </ul>
                </Transition>
            </aside>
            <section class="settings-body">
                <Outlet />
            </section>
        </div>
    }
}

/// Shows `children` to a caller with `permission`; sends an anonymous visitor to sign in (and
/// back here afterwards); shows everyone else the 403 page. The server functions behind the
/// page check again: this is a courtesy, not the rule.
#[component]
pub fn RequirePermission(permission: Permission, children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let location = use_location();
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match session.viewer.await {
                        Ok(Some(v)) if v.role.allows(permission) => {
                            match v.platform_expired_at {
                                Some(expired_at) if !permission.works_while_platform_expired() => {
                                    view! {
                                        <RenewalPage
                                            expired_at
                                            can_upload=v.role.can_upload()
                                        />
                                    }
                                        .into_any()
                                }
                                _ => children().into_any(),
                            }
                        }
                        Ok(Some(_)) => view! { <ForbiddenPage /> }.into_any(),
                        Ok(None) => {
                            let here = format!(
                                "{}{}",
                                location.pathname.get_untracked(),
                                location.search.get_untracked(),
                            );
                            let to = format!("/login?next={}", crate::ui::url::encode_component(&here));
                            view! { <Redirect path=to /> }.into_any()
                        }
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}
