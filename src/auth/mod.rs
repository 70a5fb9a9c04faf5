//! Signing in and out, sessions, and who may do what.
pub mod api;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server;
