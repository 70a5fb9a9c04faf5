//! Agents: registration with a tenant's enrollment key, and the checkout that runs on every
//! inference request.
pub mod console;
pub mod decide;
pub mod model;
pub mod pages;
pub mod reference;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod entity;
#[cfg(feature = "ssr")]
pub mod manage;
#[cfg(feature = "ssr")]
pub mod store;
