//! Settings > Licenses.
use leptos::prelude::*;

use super::api::licenses_overview;
use crate::i18n::*;
use crate::ui::errors::ErrorMessage;

#[component]
pub fn LicensesPage() -> impl IntoView {
    let i18n = use_i18n();
    let overview = Resource::new(|| (), |_| licenses_overview());
    view! {
        <div class="page">
            <nav class="breadcrumbs" aria-label="breadcrumbs">
                <span>{t!(i18n, nav.settings)}</span>
                " › "
                <span>{t!(i18n, nav.licenses)}</span>
            </nav>
            <h1>{t!(i18n, licenses.title)}</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match overview.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(o) => {
                            view! {
                                <dl class="facts">
                                    <dt>{t!(i18n, licenses.installation_id)}</dt>
                                    <dd>
                                        <code data-testid="installation-id">{o.installation_id}</code>
                                    </dd>
                                    <dt>{t!(i18n, licenses.tenants)}</dt>
                                    <dd>
                                        <ul class="plain">
                                            {o
                                                .tenants
                                                .into_iter()
                                                .map(|t| {
                                                    view! {
                                                        <li>
                                                            {t.name}
                                                            {t.is_default.then(|| view! {
                                                                " "
                                                                <span class="tag">{t!(i18n, licenses.default_tenant)}</span>
                                                            })}
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ul>
                                    </dd>
                                </dl>
                                <div class="empty">
                                    <p>{t!(i18n, licenses.none_installed)}</p>
                                </div>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}
