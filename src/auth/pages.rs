//! The sign-in page: a plain form, with or without JavaScript.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::api::Login;
use crate::i18n::*;
use crate::ui::errors::ErrorMessage;

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
