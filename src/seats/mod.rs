//! Personal seats: a personal license holds N seats for named users; no more users hold a seat of
//! a product than its valid licenses have seats.
pub mod arith;
pub mod model;
pub mod pages;

pub mod api;
#[cfg(feature = "ssr")]
pub mod entity;
#[cfg(feature = "ssr")]
pub mod store;
