//! Usage history: what was in use, owned and refused, per minute, hour and day, from the ledger's
//! usage record; how many licenses an installation really needs.
//!
//! The ledger writes the record (`ledger::usage`) in the transaction of each change; `rollup`
//! turns it into buckets (pure), `store` runs the rollups, keeps them for as long as configured,
//! and reads them back.
pub mod rollup;

#[cfg(feature = "ssr")]
pub mod entity;
#[cfg(feature = "ssr")]
pub mod store;

/// How long each span of usage history is kept (`TESSERA_USAGE_*_DAYS`): minutes (and the usage
/// record they come from) 14 days, hours 400, days for ever unless a number is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRetention {
    pub minutes_days: i64,
    pub hours_days: i64,
    pub days_days: Option<i64>,
}
