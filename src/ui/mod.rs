//! Pieces of the console shared by every capability's pages.
pub mod copy;
pub mod dates;
pub mod errors;
#[cfg(test)]
mod i18n_check;
pub mod language;
pub mod listing;
pub mod names;
pub mod pager;
pub mod session;
pub mod url;

/// Sets the HTTP status of the page being rendered on the server; nothing in the browser.
pub fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = http::StatusCode::from_u16(code)
    {
        res.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}
