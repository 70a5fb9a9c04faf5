//! What happens when time runs out: reminders before a license expires (in the console, as a
//! banner, and by webhook), and enforcement once a tenant's platform license has lapsed.
pub mod api;
pub mod model;
pub mod pages;
pub mod schedule;

#[cfg(feature = "ssr")]
pub mod entity;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod webhook;

use crate::licenses::domain::Expiry;

/// When a tenant's platform lapsed, if it has: it had a platform license (plain or with
/// unlimited agents) and neither is valid now. A tenant that never had one is in demo mode and
/// is not locked.
pub fn platform_lapse(
    platform: Option<Expiry>,
    unlimited_agents: Option<Expiry>,
    now: i64,
) -> Option<i64> {
    let licenses = [platform, unlimited_agents];
    if licenses.iter().flatten().any(|e| e.is_valid_at(now)) {
        return None;
    }
    licenses
        .into_iter()
        .flatten()
        .filter_map(|e| match e {
            Expiry::At(t) => Some(t),
            Expiry::Never => None,
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_tenant_without_a_platform_license_is_not_locked() {
        assert_eq!(platform_lapse(None, None, NOW), None);
    }

    #[test]
    fn locked_from_the_millisecond_it_lapses() {
        let p = Some(Expiry::At(NOW));
        assert_eq!(platform_lapse(p, None, NOW - 1), None);
        assert_eq!(platform_lapse(p, None, NOW), Some(NOW));
    }

    #[test]
    fn either_platform_license_keeps_it_open() {
        let past = Some(Expiry::At(NOW - 10));
        assert_eq!(platform_lapse(past, Some(Expiry::At(NOW + 10)), NOW), None);
        assert_eq!(platform_lapse(past, Some(Expiry::Never), NOW), None);
        assert_eq!(
            platform_lapse(past, Some(Expiry::At(NOW - 5)), NOW),
            Some(NOW - 5)
        );
    }
}
