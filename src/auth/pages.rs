//! The sign-in page and the signed-in user's own account: plain forms, with or without
//! JavaScript.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::api::{ChangePassword, Login, SetTimeZone};
use crate::i18n::*;
use crate::ui::errors::ErrorMessage;
use crate::ui::names::RoleName;

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    // Made here, inside the routes, so that the post's error (in the URL it returns to) reaches
    // it. A successful sign-in redirects, and the next page is rendered in the user's language.
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || login.value().get().and_then(|r| r.err());
    view! {
        <div class="login">
            <div class="login-card">
                <h1>{t!(i18n, login.title)}</h1>
                <p class="muted">{t!(i18n, login.subtitle)}</p>
                <ActionForm action=login attr:class="stack">
                    <input type="hidden" name="next" value=next />
                    <label for="login-user-name">{t!(i18n, login.user_name)}</label>
                    <input
                        id="login-user-name"
                        name="user_name"
                        type="text"
                        autocomplete="username"
                        autocapitalize="none"
                        spellcheck="false"
                        required
                        autofocus
                    />
                    <label for="login-password">{t!(i18n, login.password)}</label>
                    <input
                        id="login-password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                    />
                    {move || error().map(|err| view! { <ErrorMessage err /> })}
                    <button type="submit" class="button-primary">
                        {t!(i18n, login.sign_in)}
                    </button>
                </ActionForm>
            </div>
        </div>
    }
}

/// The signed-in user's own account: who they are, and changing their password (the current one
/// required). A plain form, with or without JavaScript: the change returns here with `?changed`.
#[component]
pub fn AccountPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = crate::ui::session::use_session();
    let change = ServerAction::<ChangePassword>::new();
    let query = use_query_map();
    let changed = move || query.read().get("changed").is_some();
    let error = move || change.value().get().and_then(|r| r.err());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match session.viewer.await {
                    Ok(Some(viewer)) => {
                        view! {
                            <div class="page narrow">
                                <h1>{t!(i18n, account.title)}</h1>
                                <dl class="facts">
                                    <dt>{t!(i18n, account.name)}</dt>
                                    <dd>{viewer.name.clone()}</dd>
                                    <dt>{t!(i18n, account.role)}</dt>
                                    <dd>
                                        <RoleName role=viewer.role />
                                    </dd>
                                </dl>
                                <TimeZoneForm chosen=viewer.time_zone.clone() />
                                <section class="card" aria-labelledby="change-password">
                                    <h2 id="change-password">{t!(i18n, account.change_password)}</h2>
                                    <Show when=changed>
                                        <p class="notice" role="status">
                                            {t!(i18n, account.changed)}
                                        </p>
                                    </Show>
                                    <ActionForm action=change attr:class="stack">
                                        // For password managers: whose password this is.
                                        <input
                                            type="text"
                                            autocomplete="username"
                                            value=viewer.name.clone()
                                            hidden
                                        />
                                        <label for="current-password">
                                            {t!(i18n, account.current_password)}
                                        </label>
                                        <input
                                            id="current-password"
                                            name="current_password"
                                            type="password"
                                            autocomplete="current-password"
                                            required
                                        />
                                        <label for="new-password">
                                            {t!(i18n, account.new_password)}
                                        </label>
                                        <input
                                            id="new-password"
                                            name="new_password"
                                            type="password"
                                            autocomplete="new-password"
                                            minlength="8"
                                            aria-describedby="new-password-hint"
                                            required
                                        />
                                        <p id="new-password-hint" class="muted small">
                                            {t!(i18n, account.hint)}
                                        </p>
                                        <label for="password-repeat">
                                            {t!(i18n, account.password_repeat)}
                                        </label>
                                        <input
                                            id="password-repeat"
                                            name="password_repeat"
                                            type="password"
                                            autocomplete="new-password"
                                            minlength="8"
                                            required
                                        />
                                        {move || error().map(|err| view! { <ErrorMessage err /> })}
                                        <button type="submit" class="button-primary">
                                            {t!(i18n, account.submit)}
                                        </button>
                                    </ActionForm>
                                </section>
                            </div>
                        }
                            .into_any()
                    }
                    _ => {
                        view! { <leptos_router::components::Redirect path="/login?next=/account" /> }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Your account's time zone: the times on every page are shown in it (UTC when none is chosen).
#[component]
fn TimeZoneForm(chosen: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    let set = ServerAction::<SetTimeZone>::new();
    let query = use_query_map();
    let saved = move || query.read().get("zone").is_some();
    let error = move || set.value().get().and_then(|r| r.err());
    let chosen = chosen.unwrap_or_default();
    let options = crate::ui::dates::time_zone_names()
        .into_iter()
        .map(|name| view! { <option value=name selected=name == chosen>{name}</option> })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="time-zone">
            <h2 id="time-zone">{t!(i18n, account.time_zone)}</h2>
            <Show when=saved>
                <p class="notice" role="status">{t!(i18n, account.time_zone_saved)}</p>
            </Show>
            <ActionForm action=set attr:class="stack">
                <label for="time-zone-name">{t!(i18n, account.time_zone_label)}</label>
                <select id="time-zone-name" name="time_zone" aria-describedby="time-zone-hint">
                    <option value="">{t!(i18n, account.time_zone_utc)}</option>
                    {options}
                </select>
                <p id="time-zone-hint" class="muted small">{t!(i18n, account.time_zone_hint)}</p>
                {move || error().map(|err| view! { <ErrorMessage err /> })}
                <button type="submit" class="button-quiet">{t!(i18n, account.time_zone_save)}</button>
            </ActionForm>
        </section>
    }
}
