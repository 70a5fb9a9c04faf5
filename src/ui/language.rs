//! The language of the console: a switch in the header, remembered per user (and in a cookie for
//! visitors), else the browser's `Accept-Language`, else English. Pages are rendered on the server
//! in that language.
use leptos::prelude::*;

use crate::error::AppError;
use crate::i18n::*;

/// The cookie leptos_i18n reads on the server and the client.
pub const LOCALE_COOKIE: &str = "i18n_pref_locale";

pub fn parse_locale(s: &str) -> Option<Locale> {
    Locale::get_all().iter().copied().find(|l| l.as_str() == s)
}

/// The `Set-Cookie` value that makes `locale` the console's language in this browser.
pub fn locale_cookie(locale: &str) -> String {
    format!("{LOCALE_COOKIE}={locale}; Path=/; SameSite=Lax; Max-Age=31536000")
}

/// Sets the language of this browser, and of the signed-in user's account. Anyone may call it.
#[server(endpoint = "language")]
pub async fn set_language(locale: String) -> Result<String, AppError> {
    use crate::error::{Field, Problem};
    let Some(locale) = parse_locale(&locale) else {
        return Err(AppError::invalid(Field::Language, Problem::Unknown));
    };
    if let Ok(who) = crate::auth::server::signed_in() {
        crate::auth::server::sessions::remember_locale(who.db(), &who.viewer().id, locale.as_str())
            .await?;
    }
    crate::server::respond::append_set_cookie(&locale_cookie(locale.as_str()))?;
    Ok(locale.as_str().to_string())
}

#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    // The server stores the choice and sends the browser back to the page, now in that language.
    let action = ServerAction::<SetLanguage>::new();
    let other = move || match i18n.get_locale() {
        Locale::en => Locale::ru,
        Locale::ru => Locale::en,
    };
    view! {
        <ActionForm action attr:class="language">
            <input type="hidden" name="locale" value=move || other().as_str() />
            <button
                type="submit"
                class="button-quiet"
                lang=move || other().as_str()
                title=move || t_string!(i18n, nav.language).to_string()
            >
                {move || match other() {
                    Locale::en => t!(i18n, languages.en).into_any(),
                    Locale::ru => t!(i18n, languages.ru).into_any(),
                }}
            </button>
        </ActionForm>
    }
}
