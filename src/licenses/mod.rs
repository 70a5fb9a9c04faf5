//! Licenses: the formats, the pure rules, requests, uploads with preview, and the Licenses list.
pub mod api;
pub mod domain;
#[cfg(feature = "ssr")]
pub mod entity;
pub mod format;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod plan;
#[cfg(feature = "ssr")]
pub mod search;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod upload;
#[cfg(feature = "ssr")]
pub mod verify;
