//! Pages that belong to no capability: home, 403 and 404.
use leptos::prelude::*;
use leptos_router::components::{A, Redirect};

use crate::auth::model::Viewer;
use crate::i18n::*;
use crate::ui::session::use_session;

#[component]
pub fn HomePage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match session.viewer.await {
                    Ok(Some(Viewer { platform_expired_at: Some(expired_at), role, .. })) => {
                        view! {
                            <crate::expiry::pages::RenewalPage
                                expired_at
                                can_upload=role.can_upload()
                            />
                        }
                            .into_any()
                    }
                    Ok(Some(v)) => {
                        let sees_settings = v.role.sees_settings();
                        view! {
                            <div class="page narrow">
                                <h1>{t!(i18n, home.title)}</h1>
                                <p>{t!(i18n, home.signed_in_as, name = move || v.name.clone())}</p>
                                <crate::seats::pages::MyLicenses />
                                <Show when=move || sees_settings>
                                    <p>
                                        <A href="/settings/licenses">{t!(i18n, home.open_settings)}</A>
                                    </p>
                                </Show>
                            </div>
                        }
                            .into_any()
                    }
                    _ => view! { <Redirect path="/login" /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn ForbiddenPage() -> impl IntoView {
    let i18n = use_i18n();
    crate::ui::set_status(403);
    view! {
        <div class="page narrow status-page">
            <p class="status-code">"403"</p>
            <h1>{t!(i18n, forbidden.title)}</h1>
            <p>{t!(i18n, forbidden.body)}</p>
            <p>
                <A href="/">{t!(i18n, forbidden.home)}</A>
            </p>
        </div>
    }
}

#[component]
pub fn NotFoundPage() -> impl IntoView {
    let i18n = use_i18n();
    crate::ui::set_status(404);
    view! {
        <div class="page narrow status-page">
            <p class="status-code">"404"</p>
            <h1>{t!(i18n, not_found.title)}</h1>
            <p>
                <A href="/">{t!(i18n, forbidden.home)}</A>
            </p>
        </div>
    }
}
