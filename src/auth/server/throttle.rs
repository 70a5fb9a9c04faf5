//! Sign-in throttling: after 10 failed attempts for one user name within 15 minutes, further
//! attempts are refused until the window passes. Failures are kept in the database, so every
//! instance sharing it sees them.
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entity::login_failure;
use crate::error::AppError;

pub const MAX_FAILURES: usize = 10;
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// How long, in milliseconds, attempts stay refused, given the failures' times (any order) within
/// the window; `None` when an attempt may be made now.
pub fn lockout_remaining_ms(failures: &[i64], now: i64) -> Option<i64> {
    let mut recent: Vec<i64> = failures
        .iter()
        .copied()
        .filter(|at| *at > now - WINDOW_MS)
        .collect();
    if recent.len() < MAX_FAILURES {
        return None;
    }
    recent.sort_unstable();
    // Attempts resume once fewer than MAX_FAILURES remain in the window: when the failure that
    // would leave MAX_FAILURES - 1 behind it falls out.
    let lifts_at = recent[recent.len() - MAX_FAILURES] + WINDOW_MS;
    Some((lifts_at - now).max(1))
}

/// Minutes, rounded up, for the message "try again in N minutes".
pub fn minutes(ms: i64) -> u32 {
    ((ms + 59_999) / 60_000).max(1) as u32
}

pub fn key(user_name: &str) -> String {
    user_name.trim().to_lowercase().chars().take(64).collect()
}

pub async fn check(db: &impl ConnectionTrait, user_name: &str, now: i64) -> Result<(), AppError> {
    let failures: Vec<i64> = login_failure::Entity::find()
        .select_only()
        .column(login_failure::Column::At)
        .filter(login_failure::Column::UserName.eq(key(user_name)))
        .filter(login_failure::Column::At.gt(now - WINDOW_MS))
        .order_by_desc(login_failure::Column::At)
        .limit(MAX_FAILURES as u64)
        .into_tuple()
        .all(db)
        .await?;
    match lockout_remaining_ms(&failures, now) {
        Some(ms) => Err(AppError::TooManyAttempts {
            minutes: minutes(ms),
        }),
        None => Ok(()),
    }
}

pub async fn record_failure(
    db: &impl ConnectionTrait,
    user_name: &str,
    now: i64,
) -> Result<(), AppError> {
    login_failure::ActiveModel {
        user_name: Set(key(user_name)),
        at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // Old failures are of no further use.
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::At.lt(now - WINDOW_MS))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn clear(db: &impl ConnectionTrait, user_name: &str) -> Result<(), AppError> {
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::UserName.eq(key(user_name)))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn nine_failures_do_not_lock() {
        let now = 100 * MIN;
        let f: Vec<i64> = (0..9).map(|i| now - i * MIN).collect();
        assert_eq!(lockout_remaining_ms(&f, now), None);
    }

    #[test]
    fn the_tenth_failure_locks_until_the_oldest_leaves_the_window() {
        let now = 100 * MIN;
        // Failures 1..=10 minutes ago: the oldest (10 min ago) leaves in 5 minutes.
        let f: Vec<i64> = (1..=10).map(|i| now - i * MIN).collect();
        let ms = lockout_remaining_ms(&f, now).unwrap();
        assert_eq!(ms, 5 * MIN);
        assert_eq!(minutes(ms), 5);
        assert_eq!(lockout_remaining_ms(&f, now + 5 * MIN), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let now = 100 * MIN;
        let f: Vec<i64> = (0..10).map(|i| now - 16 * MIN - i).collect();
        assert_eq!(lockout_remaining_ms(&f, now), None);
    }

    #[test]
    fn with_more_than_ten_the_lock_lasts_until_only_nine_remain() {
        let now = 100 * MIN;
        let f: Vec<i64> = (0..12).map(|i| now - i * MIN).collect();
        // Oldest 11 and 10 minutes ago leave first; the one 9 minutes ago leaves the tenth behind.
        assert_eq!(lockout_remaining_ms(&f, now), Some(6 * MIN));
    }

    #[test]
    fn minutes_round_up_and_never_say_zero() {
        assert_eq!(minutes(1), 1);
        assert_eq!(minutes(60_000), 1);
        assert_eq!(minutes(60_001), 2);
        assert_eq!(minutes(15 * MIN), 15);
    }

    #[test]
    fn names_are_keyed_case_insensitively() {
        assert_eq!(key(" Admin "), "admin");
    }
}
