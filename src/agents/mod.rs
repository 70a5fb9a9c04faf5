//! Agents: registration with a tenant's enrollment key, and the checkout that runs on every
//! inference request.
pub mod decide;
pub mod model;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod entity;
#[cfg(feature = "ssr")]
pub mod store;
