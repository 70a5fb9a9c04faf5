//! Usage history: what was in use, owned and refused, per minute, hour and day, from the ledger's
//! usage record; how many licenses an installation really needs.
//!
//! The ledger writes the record (`ledger::usage`) in the transaction of each change; `rollup`
//! turns it into buckets (pure), `store` runs the rollups, keeps them for as long as configured,
//! and reads them back.
pub mod api;
pub mod model;
pub mod pages;
pub mod rollup;

#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod entity;
#[cfg(feature = "ssr")]
pub mod export;
#[cfg(feature = "ssr")]
pub mod report;
#[cfg(feature = "ssr")]
pub mod store;

/// How long usage history is kept (`TESSERA_USAGE_*_DAYS`): the usage record's changes 90 days,
/// minutes (and the refusals per agent) 14, hours 400, days for ever unless a number is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRetention {
    pub events_days: i64,
    pub minutes_days: i64,
    pub hours_days: i64,
    pub days_days: Option<i64>,
}
