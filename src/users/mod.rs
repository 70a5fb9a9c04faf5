//! Users of the console: the list, creating them, roles, disabling, password resets.
pub mod api;
#[cfg(feature = "ssr")]
pub mod entity;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod store;
