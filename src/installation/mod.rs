//! The installation: its id, made at first start and never changed, and what first start creates.
#[cfg(feature = "ssr")]
pub mod entity;
#[cfg(feature = "ssr")]
pub mod first_start;
