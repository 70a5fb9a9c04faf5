//! Sign-in throttling, and the refused sign-ins it counts for the audit log.
//!
//! Every attempt is *reserved* (a row in `login_failures`) before its password is checked, inside
//! a transaction that first takes a lock (the database's write lock on SQLite, advisory locks on
//! the name and the address on PostgreSQL) and then counts: however many arrive at once, on however
//! many instances, at most the limit are checked. A failed attempt's row stays; a successful one
//! deletes its own. Within [`WINDOW_MS`], attempts are refused while there were
//! - [`PAIR_MAX`] for this name from this address (so one address cannot keep the owner, who signs
//!   in from another, out),
//! - [`NAME_MAX`] for this name from anywhere (so many addresses cannot guess without bound),
//! - [`ADDRESS_MAX`] from this address for any name (password spraying).
//!
//! Refused sign-ins (wrong password, throttled, disabled...) are counted in `sign_in_refusals`
//! per name, address and window; when a window closes, the sweeper appends one audit entry per
//! row with its counts ([`close_windows`]). Past [`NAMES_PER_ADDRESS`] names in a window, an
//! address's further refusals are counted under "any name" (`*`), so made-up names cannot add
//! audit entries without bound either.
use std::net::IpAddr;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use sha2::{Digest, Sha256};

use super::entity::{login_failure, sign_in_refusal};
use crate::error::AppError;

/// The window every limit counts in, and the length of an audit window.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Attempts for one name from one address.
pub const PAIR_MAX: usize = 10;
/// Attempts for one name from any address.
pub const NAME_MAX: usize = 50;
/// Attempts from one address for any name.
pub const ADDRESS_MAX: usize = 50;
/// Names one address's refusals are counted under, in one window, before "any name".
pub const NAMES_PER_ADDRESS: u64 = 20;
/// The name refusals are counted under past [`NAMES_PER_ADDRESS`]; no user can be called so.
pub const ANY_NAME: &str = "*";

/// How long, in milliseconds, attempts stay refused given the earlier attempts' times (any order)
/// and the most allowed within the window; `None` when an attempt may be made now.
pub fn lockout_remaining_ms(attempts: &[i64], max: usize, now: i64) -> Option<i64> {
    let mut recent: Vec<i64> = attempts
        .iter()
        .copied()
        .filter(|at| *at > now - WINDOW_MS)
        .collect();
    if max == 0 || recent.len() < max {
        return None;
    }
    recent.sort_unstable();
    // Attempts resume once fewer than `max` remain in the window: when the attempt that would
    // leave `max - 1` behind it falls out.
    let lifts_at = recent[recent.len() - max] + WINDOW_MS;
    Some((lifts_at - now).max(1))
}

/// The earlier attempts an attempt is judged by: of its name from its address, of its name, and
/// from its address.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub pair: Vec<i64>,
    pub name: Vec<i64>,
    pub address: Vec<i64>,
}

/// How long an attempt must wait, by the strictest of the three limits; `None`: it may be made.
pub fn refusal_ms(earlier: &Earlier, now: i64) -> Option<i64> {
    [
        lockout_remaining_ms(&earlier.pair, PAIR_MAX, now),
        lockout_remaining_ms(&earlier.name, NAME_MAX, now),
        lockout_remaining_ms(&earlier.address, ADDRESS_MAX, now),
    ]
    .into_iter()
    .flatten()
    .max()
}

/// Minutes, rounded up, for the message "try again in N minutes".
pub fn minutes(ms: i64) -> u32 {
    ((ms + 59_999) / 60_000).clamp(1, u32::MAX as i64) as u32
}

pub fn key(user_name: &str) -> String {
    user_name.trim().to_lowercase().chars().take(64).collect()
}

/// Forgets the failed sign-ins counted against `user_name` (from every address), as a new
/// password set from the machine itself does.
pub async fn forget_name(db: &impl ConnectionTrait, user_name: &str) -> Result<(), AppError> {
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::UserName.eq(key(user_name)))
        .exec(db)
        .await?;
    Ok(())
}

/// The first millisecond of the audit window `at` falls in.
pub fn window_start(at: i64) -> i64 {
    at - at.rem_euclid(WINDOW_MS)
}

/// One sign-in attempt: the name typed (as the throttle keys it) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub name: String,
    pub address: String,
}

impl Attempt {
    pub fn new(user_name: &str, client: Option<IpAddr>) -> Attempt {
        Attempt {
            name: key(user_name),
            // Only a server not served with connection info has no address (see server::serve).
            address: client.map_or_else(
                || "unknown".to_string(),
                crate::server::client::throttle_key,
            ),
        }
    }
}

/// An attempt counted before its password is checked; [`release`]d when it succeeds.
#[derive(Debug)]
pub struct Reservation {
    id: i64,
}

/// A lock id for PostgreSQL's advisory locks: the first 8 bytes of a SHA-256, so every instance
/// derives the same one.
fn lock_id(kind: &str, value: &str) -> i64 {
    let digest = Sha256::digest(format!("tessera sign-in {kind}: {value}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Reserves `attempt` at `now`, or refuses it with how long to wait.
pub async fn reserve(
    db: &DatabaseConnection,
    attempt: &Attempt,
    now: i64,
) -> Result<Reservation, AppError> {
    let txn = crate::server::db::begin_write(db).await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // Held to the commit: reservations of one name, or from one address, are made one at a
        // time across instances. Taken in one order, so two never wait for each other.
        let mut ids = [
            lock_id("name", &attempt.name),
            lock_id("address", &attempt.address),
        ];
        ids.sort_unstable();
        for id in ids {
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [id.into()],
            ))
            .await?;
        }
    }
    // On SQLite this insert, the transaction's first statement, takes the database's write lock,
    // so the counts below cannot change until the commit.
    let row = login_failure::ActiveModel {
        user_name: Set(attempt.name.clone()),
        address: Set(attempt.address.clone()),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    use login_failure::Column as C;
    let by_name = C::UserName.eq(&attempt.name);
    let by_address = C::Address.eq(&attempt.address);
    let earlier = Earlier {
        pair: recent(
            &txn,
            Condition::all()
                .add(by_name.clone())
                .add(by_address.clone()),
            row.id,
            PAIR_MAX,
            now,
        )
        .await?,
        name: recent(&txn, Condition::all().add(by_name), row.id, NAME_MAX, now).await?,
        address: recent(
            &txn,
            Condition::all().add(by_address),
            row.id,
            ADDRESS_MAX,
            now,
        )
        .await?,
    };
    match refusal_ms(&earlier, now) {
        Some(ms) => {
            txn.rollback().await?;
            Err(AppError::TooManyAttempts {
                minutes: minutes(ms),
            })
        }
        None => {
            txn.commit().await?;
            Ok(Reservation { id: row.id })
        }
    }
}

/// The times of the latest `max` attempts matching `which` within the window, but `own`.
async fn recent(
    db: &impl ConnectionTrait,
    which: Condition,
    own: i64,
    max: usize,
    now: i64,
) -> Result<Vec<i64>, AppError> {
    use login_failure::Column as C;
    Ok(login_failure::Entity::find()
        .select_only()
        .column(C::At)
        .filter(which)
        .filter(C::Id.ne(own))
        .filter(C::At.gt(now - WINDOW_MS))
        .order_by_desc(C::At)
        .limit(max as u64)
        .into_tuple()
        .all(db)
        .await?)
}

/// A successful sign-in: its own reservation no longer counts (earlier failures still do).
pub async fn release(db: &impl ConnectionTrait, reservation: Reservation) -> Result<(), AppError> {
    login_failure::Entity::delete_by_id(reservation.id)
        .exec(db)
        .await?;
    Ok(())
}

/// How a refusal is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong user name or password.
    Failed,
    /// Refused before the password was checked: too many attempts, or too many in line.
    Throttled,
    /// Anything else a person could act on: a disabled account, a password too long.
    Other,
}

impl Refusal {
    /// `None` for what is not a refusal but a failure of the server (it is logged, not counted).
    pub fn of(err: &AppError) -> Option<Refusal> {
        match err {
            AppError::BadCredentials => Some(Refusal::Failed),
            AppError::TooManyAttempts { .. } | AppError::Busy { .. } => Some(Refusal::Throttled),
            AppError::Internal { .. }
            | AppError::Unavailable
            | AppError::Contended
            | AppError::Transport { .. } => None,
            _ => Some(Refusal::Other),
        }
    }
}

/// Counts a refused sign-in of `typed` from the attempt's address at `now`, in its window's row:
/// the name's own while the address has tried fewer than [`NAMES_PER_ADDRESS`] names in the
/// window, else the address's "any name" row. Decided under the same locks as [`reserve`]'s, so
/// racing refusals never make more rows than that.
pub async fn count_refusal(
    db: &DatabaseConnection,
    typed: &str,
    attempt: &Attempt,
    now: i64,
    refusal: Refusal,
) -> Result<(), AppError> {
    use sign_in_refusal::Column as C;
    let window = window_start(now);
    let shown: String = typed
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let txn = crate::server::db::begin_write(db).await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [lock_id("refusals", &attempt.address).into()],
        ))
        .await?;
    }
    // First counted under the name: on SQLite this write takes the database's write lock.
    add_refusal(
        &txn,
        &attempt.name,
        &shown,
        &attempt.address,
        window,
        now,
        refusal,
    )
    .await?;
    let names = sign_in_refusal::Entity::find()
        .filter(C::Address.eq(&attempt.address))
        .filter(C::WindowStart.eq(window))
        .filter(C::UserName.ne(""))
        .count(&txn)
        .await?;
    if names > NAMES_PER_ADDRESS {
        // The name's row is the one too many only if this refusal made it.
        let row = sign_in_refusal::Entity::find()
            .filter(C::Address.eq(&attempt.address))
            .filter(C::WindowStart.eq(window))
            .filter(C::UserName.eq(&attempt.name))
            .one(&txn)
            .await?;
        if let Some(row) = row.filter(|r| r.failed + r.throttled + r.other == 1) {
            sign_in_refusal::Entity::delete_by_id(row.id)
                .exec(&txn)
                .await?;
            add_refusal(&txn, "", ANY_NAME, &attempt.address, window, now, refusal).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Adds one refusal to the row of `name`, `address` and `window`, making it if need be.
async fn add_refusal(
    db: &impl ConnectionTrait,
    name: &str,
    shown: &str,
    address: &str,
    window: i64,
    now: i64,
    refusal: Refusal,
) -> Result<(), AppError> {
    use sea_orm::sea_query::ExprTrait as _;
    use sign_in_refusal::Column as C;
    let one = |r: Refusal| i64::from(r == refusal);
    let row = sign_in_refusal::ActiveModel {
        user_name: Set(name.to_string()),
        address: Set(address.to_string()),
        window_start: Set(window),
        shown_name: Set(shown.to_string()),
        first_at: Set(now),
        last_at: Set(now),
        failed: Set(one(Refusal::Failed)),
        throttled: Set(one(Refusal::Throttled)),
        other: Set(one(Refusal::Other)),
        ..Default::default()
    };
    let add = |c: C| Expr::col((sign_in_refusal::Entity, c)).add(Expr::col(("excluded", c)));
    sign_in_refusal::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([C::UserName, C::Address, C::WindowStart])
                .value(C::LastAt, Expr::col(("excluded", C::LastAt)))
                .value(C::Failed, add(C::Failed))
                .value(C::Throttled, add(C::Throttled))
                .value(C::Other, add(C::Other))
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The audit entry a closed window's count becomes.
pub fn audit_entry(row: &sign_in_refusal::Model) -> crate::audit::store::Entry {
    use crate::audit::{
        model::{AuditKind, Detail},
        store::Entry,
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let total = count(row.failed + row.throttled + row.other);
    let outcome = if row.failed > 0 {
        "bad_credentials"
    } else if row.throttled > 0 {
        "too_many_attempts"
    } else {
        "refused"
    };
    Entry::named(
        &row.shown_name,
        row.last_at,
        AuditKind::SignInFailed,
        &row.address,
    )
    .said(Detail::SignInsRefused {
        total,
        from: row.first_at,
        to: row.last_at,
        failed: count(row.failed),
        throttled: count(row.throttled),
        other: count(row.other),
    })
    .outcome(outcome)
}

/// Appends one audit entry for each count whose window closed by `now`, and forgets attempts
/// older than the window; answers the entries appended. Every instance's sweeper runs it: each
/// count is deleted in the transaction that appends its entry, and only the one delete that
/// found the row appends.
pub async fn close_windows(db: &DatabaseConnection, now: i64) -> Result<u64, AppError> {
    use sign_in_refusal::Column as C;
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::At.lte(now - WINDOW_MS))
        .exec(db)
        .await?;
    let mut appended = 0;
    loop {
        let closed = sign_in_refusal::Entity::find()
            .filter(C::WindowStart.lte(now - WINDOW_MS))
            .order_by_asc(C::Id)
            .limit(500)
            .all(db)
            .await?;
        if closed.is_empty() {
            return Ok(appended);
        }
        for row in closed {
            let txn = crate::server::db::begin_write(db).await?;
            let gone = sign_in_refusal::Entity::delete_by_id(row.id)
                .exec(&txn)
                .await?
                .rows_affected;
            if gone == 1 {
                crate::audit::store::record(&txn, audit_entry(&row)).await?;
                txn.commit().await?;
                appended += 1;
            } else {
                txn.rollback().await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn nine_failures_do_not_lock() {
        let now = 100 * MIN;
        let f: Vec<i64> = (0..9).map(|i| now - i * MIN).collect();
        assert_eq!(lockout_remaining_ms(&f, PAIR_MAX, now), None);
    }

    #[test]
    fn the_tenth_failure_locks_until_the_oldest_leaves_the_window() {
        let now = 100 * MIN;
        // Failures 1..=10 minutes ago: the oldest (10 min ago) leaves in 5 minutes.
        let f: Vec<i64> = (1..=10).map(|i| now - i * MIN).collect();
        let ms = lockout_remaining_ms(&f, PAIR_MAX, now).unwrap();
        assert_eq!(ms, 5 * MIN);
        assert_eq!(minutes(ms), 5);
        assert_eq!(lockout_remaining_ms(&f, PAIR_MAX, now + 5 * MIN), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let now = 100 * MIN;
        let f: Vec<i64> = (0..10).map(|i| now - 16 * MIN - i).collect();
        assert_eq!(lockout_remaining_ms(&f, PAIR_MAX, now), None);
    }

    #[test]
    fn with_more_than_ten_the_lock_lasts_until_only_nine_remain() {
        let now = 100 * MIN;
        let f: Vec<i64> = (0..12).map(|i| now - i * MIN).collect();
        // Oldest 11 and 10 minutes ago leave first; the one 9 minutes ago leaves the tenth behind.
        assert_eq!(lockout_remaining_ms(&f, PAIR_MAX, now), Some(6 * MIN));
    }

    #[test]
    fn attempts_made_at_the_same_moment_count_each() {
        // A burst: all reserved in the same millisecond still count one by one.
        let now = 100 * MIN;
        assert_eq!(lockout_remaining_ms(&[now; 9], PAIR_MAX, now), None);
        assert_eq!(
            lockout_remaining_ms(&[now; 10], PAIR_MAX, now),
            Some(WINDOW_MS)
        );
    }

    #[test]
    fn an_attacker_s_address_does_not_lock_the_owner_s() {
        let now = 100 * MIN;
        let attacker = Earlier {
            pair: vec![now - MIN; PAIR_MAX],
            name: vec![now - MIN; PAIR_MAX],
            address: vec![now - MIN; PAIR_MAX],
        };
        assert_eq!(refusal_ms(&attacker, now), Some(14 * MIN));
        // The owner, from another address: only the name's failures are theirs to share.
        let owner = Earlier {
            name: attacker.name.clone(),
            ..Earlier::default()
        };
        assert_eq!(refusal_ms(&owner, now), None);
    }

    #[test]
    fn a_name_tried_from_many_addresses_is_capped() {
        let now = 100 * MIN;
        let many = Earlier {
            name: vec![now - 2 * MIN; NAME_MAX],
            ..Earlier::default()
        };
        assert_eq!(refusal_ms(&many, now), Some(13 * MIN));
        let fewer = Earlier {
            name: vec![now - 2 * MIN; NAME_MAX - 1],
            ..Earlier::default()
        };
        assert_eq!(refusal_ms(&fewer, now), None);
    }

    #[test]
    fn an_address_spraying_many_names_is_capped() {
        let now = 100 * MIN;
        let spray = Earlier {
            address: vec![now - 3 * MIN; ADDRESS_MAX],
            ..Earlier::default()
        };
        assert_eq!(refusal_ms(&spray, now), Some(12 * MIN));
    }

    #[test]
    fn the_strictest_limit_decides_how_long() {
        let now = 100 * MIN;
        let both = Earlier {
            pair: vec![now - 10 * MIN; PAIR_MAX],
            name: vec![now - MIN; NAME_MAX],
            address: Vec::new(),
        };
        assert_eq!(refusal_ms(&both, now), Some(14 * MIN));
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

    #[test]
    fn windows_are_aligned_to_their_length() {
        assert_eq!(window_start(0), 0);
        assert_eq!(window_start(WINDOW_MS - 1), 0);
        assert_eq!(window_start(WINDOW_MS), WINDOW_MS);
        assert_eq!(window_start(3 * WINDOW_MS + 7), 3 * WINDOW_MS);
    }

    #[test]
    fn refusals_are_told_apart_and_server_failures_are_not_counted() {
        assert_eq!(
            Refusal::of(&AppError::BadCredentials),
            Some(Refusal::Failed)
        );
        assert_eq!(
            Refusal::of(&AppError::TooManyAttempts { minutes: 1 }),
            Some(Refusal::Throttled)
        );
        assert_eq!(
            Refusal::of(&AppError::Busy { seconds: 1 }),
            Some(Refusal::Throttled)
        );
        assert_eq!(
            Refusal::of(&AppError::AccountDisabled),
            Some(Refusal::Other)
        );
        assert_eq!(Refusal::of(&AppError::Unavailable), None);
    }

    #[test]
    fn a_closed_window_is_one_entry_with_its_counts() {
        let row = sign_in_refusal::Model {
            id: 1,
            user_name: "admin".into(),
            address: "203.0.113.9".into(),
            window_start: 0,
            shown_name: "Admin".into(),
            first_at: 1_795_996_800_000,
            last_at: 1_795_997_100_000,
            failed: 10,
            throttled: 290,
            other: 0,
        };
        let e = audit_entry(&row);
        assert_eq!(e.actor_name, "Admin");
        assert_eq!(e.subject, "203.0.113.9");
        assert_eq!(e.outcome, "bad_credentials");
        assert_eq!(e.at, row.last_at);
        assert!(
            e.detail.starts_with(
                "300 refused sign-ins from 2026-11-30 00:00:00 to 2026-11-30 00:05:00 UTC: 10 wrong"
            ),
            "{}",
            e.detail
        );
        assert_eq!(lock_id("name", "admin"), lock_id("name", "admin"));
        assert_ne!(lock_id("name", "admin"), lock_id("address", "admin"));
    }
}
