//! Tenants: isolated parts of the installation, each with its own platform license and agents.
//! A default one always exists.
use serde::{Deserialize, Serialize};

pub mod api;
pub mod model;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod entity;
#[cfg(feature = "ssr")]
pub mod store;

pub const DEFAULT_TENANT_NAME: &str = "Default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}
