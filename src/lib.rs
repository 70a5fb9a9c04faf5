//! Tessera: a self-hosted license manager. One crate, two builds: `ssr` is the server (axum,
//! sea-orm, sign-in, the agent API), `hydrate` the WASM client. Pages are server-rendered and
//! work as plain forms and links; the client hydrates only the `#[island]` components.
#![recursion_limit = "256"]

pub mod agents;
pub mod app;
pub mod audit;
pub mod auth;
pub mod error;
pub mod expiry;
pub mod installation;
#[cfg(test)]
mod layers;
pub mod licenses;
pub mod seats;
pub mod tenants;
pub mod ui;
pub mod usage;
pub mod users;

#[cfg(feature = "ssr")]
pub mod ledger;
#[cfg(feature = "ssr")]
pub mod server;

include!(concat!(env!("OUT_DIR"), "/i18n/mod.rs"));

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
