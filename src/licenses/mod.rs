//! Licenses: Settings > Licenses, and (in later issues) packages, certificates and seats.
pub mod api;
pub mod format;
pub mod model;
pub mod pages;
