//! The clock behind every time-dependent decision. Production reads the system clock; tests move
//! it (in-process, or through `TESSERA_TEST_CLOCK`'s route in a test build of the browser tests).
//!
//! The clock never goes back: it answers the latest time it has seen (kept in the database, so
//! shared by instances and restarts) whenever the system clock is behind it. An expiry therefore
//! cannot be undone by setting the clock back; a system clock more than a day behind is reported
//! as tampering on Settings > Licenses and in the log.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::licenses::domain::DAY_MS;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    /// The latest time seen; `now_ms` never answers less.
    seen_ms: Arc<AtomicI64>,
}

/// The system clock is behind the latest time seen by more than a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tampering {
    pub system_ms: i64,
    pub seen_ms: i64,
}

impl Clock {
    /// The system clock (moved by tests), which may lie.
    fn system_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Unix milliseconds, now: never earlier than a time already seen.
    pub fn now_ms(&self) -> i64 {
        let system = self.system_ms();
        let seen = self.seen_ms.fetch_max(system, Ordering::Relaxed);
        seen.max(system)
    }

    /// Remembers a time another instance (or an earlier run) has seen.
    pub fn observe(&self, seen_ms: i64) {
        self.seen_ms.fetch_max(seen_ms, Ordering::Relaxed);
    }

    /// Whether the system clock has been set back more than a day behind the latest time seen.
    pub fn tampering(&self) -> Option<Tampering> {
        let system = self.system_ms();
        let seen = self.seen_ms.load(Ordering::Relaxed);
        (seen - system > DAY_MS).then_some(Tampering {
            system_ms: system,
            seen_ms: seen,
        })
    }

    /// Moves the system clock forward (or back) by `ms`; only tests reach it.
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_back_and_reports_a_clock_set_back_over_a_day() {
        let clock = Clock::default();
        let t0 = clock.now_ms();
        clock.advance(10 * DAY_MS);
        let later = clock.now_ms();
        assert!(later >= t0 + 10 * DAY_MS);
        clock.advance(-10 * DAY_MS);
        assert!(clock.now_ms() >= later, "the clock does not go back");
        assert!(clock.tampering().is_some());
    }

    #[test]
    fn an_hour_back_is_not_tampering() {
        let clock = Clock::default();
        clock.now_ms();
        clock.advance(-3_600_000);
        assert_eq!(clock.tampering(), None);
    }

    #[test]
    fn a_time_seen_elsewhere_holds() {
        let clock = Clock::default();
        let ahead = clock.now_ms() + 3 * DAY_MS;
        clock.observe(ahead);
        assert!(clock.now_ms() >= ahead);
        assert!(clock.tampering().is_some());
    }
}
