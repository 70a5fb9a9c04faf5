//! The audit log: every license, tenant, agent and user operation and every sign-in, with who,
//! when, what and the result. Append-only: Tessera offers no way to edit or delete an entry, and
//! the database refuses it too (a trigger, see the `m20261130_000006_audit` migration).
pub mod api;
#[cfg(feature = "ssr")]
pub mod csv;
#[cfg(feature = "ssr")]
pub mod entity;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod store;
