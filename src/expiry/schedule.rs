//! When reminders of an expiry fall due: 45, 30 and 15 days before it, and on each of its last
//! seven days. Pure: the sweeper and the tests give it the expiry, what was made, and now.
use crate::licenses::domain::{DAY_MS, Expiry};

/// Days before an expiry at which a reminder falls due, earliest first.
pub const DAYS_BEFORE: [u32; 10] = [45, 30, 15, 7, 6, 5, 4, 3, 2, 1];

/// The moment the reminder `days` before `expires_at` falls due.
pub fn due_at(expires_at: i64, days: u32) -> i64 {
    expires_at.saturating_sub(i64::from(days).saturating_mul(DAY_MS))
}

/// The reminder to make now for something expiring at `expires_at`, given the thresholds already
/// made for this expiry (a permanent license has none): the latest threshold that has fallen due, if it was not made. Earlier
/// thresholds missed while Tessera was down are not made late: the latest says more, and one
/// reminder a day is enough. Nothing is due once the expiry has passed.
pub fn due_now(expiry: Expiry, made: &[u32], now: i64) -> Option<u32> {
    let Expiry::At(expires_at) = expiry else {
        return None;
    };
    if now >= expires_at {
        return None;
    }
    let latest = DAYS_BEFORE
        .iter()
        .rev()
        .copied()
        .find(|d| due_at(expires_at, *d) <= now)?;
    (!made.contains(&latest) && !made.iter().any(|m| *m < latest)).then_some(latest)
}

/// Whole days left until `expires_at`, rounded up (a reminder made 29.5 days before says 30).
pub fn days_left(expires_at: i64, now: i64) -> i64 {
    (expires_at - now + DAY_MS - 1).div_euclid(DAY_MS).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(y: i32, m: u32, d: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
            .single()
            .map(|t| t.timestamp_millis())
            .unwrap_or_default()
    }

    #[test]
    fn nothing_is_due_before_45_days() {
        let exp = at(2027, 6, 1);
        assert_eq!(due_now(Expiry::At(exp), &[], exp - 46 * DAY_MS), None);
        assert_eq!(due_now(Expiry::At(exp), &[], exp - 45 * DAY_MS - 1), None);
    }

    #[test]
    fn every_threshold_falls_due_once() {
        let exp = at(2027, 6, 1);
        let mut made = Vec::new();
        let mut t = exp - 50 * DAY_MS;
        // An hourly sweep from 50 days before to the expiry.
        while t < exp + DAY_MS {
            if let Some(d) = due_now(Expiry::At(exp), &made, t) {
                assert!(t - due_at(exp, d) < 3_600_000, "made within the hour");
                made.push(d);
            }
            t += 3_600_000;
        }
        assert_eq!(made, DAYS_BEFORE.to_vec());
    }

    #[test]
    fn each_is_made_exactly_once() {
        let exp = at(2027, 6, 1);
        let t = exp - 30 * DAY_MS;
        assert_eq!(due_now(Expiry::At(exp), &[45], t), Some(30));
        assert_eq!(due_now(Expiry::At(exp), &[45, 30], t), None);
        assert_eq!(due_now(Expiry::At(exp), &[45, 30], t + DAY_MS), None);
    }

    #[test]
    fn missed_while_down_only_the_latest_is_made() {
        let exp = at(2027, 6, 1);
        // Down from 46 days before until 10 days before: 45, 30 and 15 fell due meanwhile.
        let t = exp - 10 * DAY_MS;
        assert_eq!(due_now(Expiry::At(exp), &[], t), Some(15));
        // And never an earlier one after a later was made.
        assert_eq!(due_now(Expiry::At(exp), &[15], t + 3 * DAY_MS), Some(7));
        assert_eq!(due_now(Expiry::At(exp), &[7], exp - 20 * DAY_MS), None);
    }

    #[test]
    fn nothing_after_the_expiry() {
        let exp = at(2027, 6, 1);
        assert_eq!(due_now(Expiry::At(exp), &[], exp), None);
        assert_eq!(due_now(Expiry::At(exp), &[], exp + 5 * DAY_MS), None);
    }

    #[test]
    fn leap_years_count_february_29() {
        // 2028 is a leap year: one day before March 1 is February 29, seven before is Feb 23.
        let exp = at(2028, 3, 1);
        assert_eq!(due_at(exp, 1), at(2028, 2, 29));
        assert_eq!(due_at(exp, 7), at(2028, 2, 23));
        assert_eq!(due_at(exp, 30), at(2028, 1, 31));
        // 2027 is not: 30 days before March 1 is January 30.
        assert_eq!(due_at(at(2027, 3, 1), 30), at(2027, 1, 30));
    }

    #[test]
    fn a_renewal_between_two_reminders_starts_a_new_schedule() {
        // Reminded at 30 days; renewed by a year before the 15-day one: the new expiry has
        // made nothing yet, and its first reminder comes 45 days before it.
        let old = at(2027, 6, 1);
        let t = old - 20 * DAY_MS;
        assert_eq!(due_now(Expiry::At(old), &[45, 30], t), None);
        let new = old + 365 * DAY_MS;
        assert_eq!(due_now(Expiry::At(new), &[], t), None);
        assert_eq!(due_now(Expiry::At(new), &[], new - 45 * DAY_MS), Some(45));
    }

    #[test]
    fn a_permanent_license_is_never_reminded() {
        assert_eq!(due_now(Expiry::Never, &[], at(2027, 6, 1)), None);
    }

    #[test]
    fn days_left_rounds_up() {
        let exp = at(2027, 6, 1);
        assert_eq!(days_left(exp, exp - 30 * DAY_MS), 30);
        assert_eq!(days_left(exp, exp - 29 * DAY_MS - 1), 30);
        assert_eq!(days_left(exp, exp - 1), 1);
        assert_eq!(days_left(exp, exp + 1), 0);
    }
}
