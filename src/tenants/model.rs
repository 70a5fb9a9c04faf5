//! What Settings > Tenants shows, shared by the server and the client.
use serde::{Deserialize, Serialize};

use crate::licenses::domain::Expiry;
use crate::licenses::format::{Binding, LicenseType};

pub const TENANT_NAME_MAX: usize = 64;
/// The longest heartbeat silence a tenant may allow before its floating licenses are released.
pub const RELEASE_AFTER_MAX_MINUTES: u32 = 7 * 24 * 60;

/// One tenant at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    /// Until when its platform is licensed; `None` when it never was.
    pub platform: Option<Expiry>,
    /// The first valid day of a platform license assigned to it and waiting for that day (the
    /// earliest, when several wait); shown while its platform is not licensed.
    pub platform_activates_on: Option<i64>,
    pub unlimited_agents: Option<Expiry>,
    pub enrollment_key: String,
    /// Minutes without a heartbeat after which a floating license is released; `None`: never.
    pub release_after_minutes: Option<u32>,
    /// The most agents it may register; `None`: no limit.
    pub max_agents: Option<u32>,
    /// How long its agents' leases last.
    pub lease_seconds: u32,
    /// The longest borrow of a floating license, in hours; `None`: borrowing is off.
    pub max_borrow_hours: Option<u32>,
    /// How many of its pool's licenses its agents may not borrow.
    pub keep_unborrowed: u32,
    pub agents: u32,
    /// Agents that hold a license of their own.
    pub agents_with_license: u32,
    pub users: u32,
    /// Agent licenses in this tenant's own pool, not yet bound.
    pub pool_free: u32,
    /// The first few of its agents, by machine id.
    pub agent_glance: Vec<AgentGlance>,
}

/// How many agents a tenant's card names.
pub const GLANCE_AGENTS: usize = 6;

/// An agent as its tenant's card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentGlance {
    pub id: String,
    pub machine_id: String,
    pub has_license: bool,
    pub running: bool,
}

/// A license that can be assigned to a tenant: an unused platform license, or an agent license
/// not yet bound to an agent (to put it in a tenant's pool, or back in the shared one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignableLicense {
    pub id: String,
    pub product_name: String,
    pub license_type: LicenseType,
    pub binding: Option<Binding>,
    /// `None`: permanent.
    pub validity_days: Option<u32>,
    pub assigned_tenant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantsListing {
    pub tenants: Vec<TenantRow>,
    pub assignable: Vec<AssignableLicense>,
}

/// A tenant name, trimmed: 1 to 64 characters, no control characters.
pub fn validate_tenant_name(raw: &str) -> Result<String, crate::error::AppError> {
    use crate::error::{AppError, Field, Problem};
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::invalid(Field::TenantName, Problem::Required));
    }
    if name.chars().count() > TENANT_NAME_MAX {
        return Err(AppError::invalid(
            Field::TenantName,
            Problem::TooLong {
                max: TENANT_NAME_MAX as u32,
            },
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::invalid(Field::TenantName, Problem::BadCharacters));
    }
    Ok(name.to_string())
}

/// The largest agent limit a tenant can be given.
pub const MAX_AGENTS_MAX: u32 = 1_000_000;

/// The agent limit as typed in the form: empty is no limit, else 0 to a million.
pub fn parse_max_agents(raw: &str) -> Result<Option<u32>, crate::error::AppError> {
    use crate::error::{AppError, Field, Problem};
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<u32>() {
        Ok(n) if n <= MAX_AGENTS_MAX => Ok(Some(n)),
        _ => Err(AppError::invalid(
            Field::MaxAgents,
            Problem::OutOfRange {
                min: 0,
                max: MAX_AGENTS_MAX,
            },
        )),
    }
}

/// The lease time as typed in the form: seconds, from [`LEASE_SECONDS_MIN`] to a day; empty is
/// the default, [`LEASE_SECONDS_DEFAULT`].
///
/// [`LEASE_SECONDS_MIN`]: crate::agents::model::LEASE_SECONDS_MIN
/// [`LEASE_SECONDS_DEFAULT`]: crate::agents::model::LEASE_SECONDS_DEFAULT
pub fn parse_lease_seconds(raw: &str) -> Result<u32, crate::error::AppError> {
    use crate::agents::model::{LEASE_SECONDS_DEFAULT, LEASE_SECONDS_MAX, LEASE_SECONDS_MIN};
    use crate::error::{AppError, Field, Problem};
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(LEASE_SECONDS_DEFAULT.unsigned_abs());
    }
    match raw.parse::<i32>() {
        Ok(n) if (LEASE_SECONDS_MIN..=LEASE_SECONDS_MAX).contains(&n) => Ok(n.unsigned_abs()),
        _ => Err(AppError::invalid(
            Field::LeaseTime,
            Problem::OutOfRange {
                min: LEASE_SECONDS_MIN.unsigned_abs(),
                max: LEASE_SECONDS_MAX.unsigned_abs(),
            },
        )),
    }
}

/// The longest borrow as typed in the form: empty (or 0) is off, else 1 to
/// [`BORROW_HOURS_MAX`](crate::agents::model::BORROW_HOURS_MAX) hours.
pub fn parse_max_borrow_hours(raw: &str) -> Result<Option<u32>, crate::error::AppError> {
    use crate::agents::model::BORROW_HOURS_MAX;
    use crate::error::{AppError, Field, Problem};
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<u32>() {
        Ok(0) => Ok(None),
        Ok(h) if h <= BORROW_HOURS_MAX => Ok(Some(h)),
        _ => Err(AppError::invalid(
            Field::MaxBorrowHours,
            Problem::OutOfRange {
                min: 0,
                max: BORROW_HOURS_MAX,
            },
        )),
    }
}

/// How many pool licenses are kept from borrowing, as typed in the form: empty is none.
pub fn parse_keep_unborrowed(raw: &str) -> Result<u32, crate::error::AppError> {
    use crate::error::{AppError, Field, Problem};
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(0);
    }
    match raw.parse::<u32>() {
        Ok(n) if n <= MAX_AGENTS_MAX => Ok(n),
        _ => Err(AppError::invalid(
            Field::KeepUnborrowed,
            Problem::OutOfRange {
                min: 0,
                max: MAX_AGENTS_MAX,
            },
        )),
    }
}

/// The release setting as typed in the form: empty (or 0) is off, else 1 to a week in minutes.
pub fn parse_release_after(raw: &str) -> Result<Option<u32>, crate::error::AppError> {
    use crate::error::{AppError, Field, Problem};
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let out_of_range = || {
        AppError::invalid(
            Field::ReleaseAfter,
            Problem::OutOfRange {
                min: 0,
                max: RELEASE_AFTER_MAX_MINUTES,
            },
        )
    };
    match raw.parse::<u32>() {
        Ok(0) => Ok(None),
        Ok(m) if m <= RELEASE_AFTER_MAX_MINUTES => Ok(Some(m)),
        _ => Err(out_of_range()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_trimmed_and_bounded() {
        assert_eq!(validate_tenant_name("  Acme  ").unwrap(), "Acme");
        assert!(validate_tenant_name("   ").is_err());
        assert!(validate_tenant_name(&"x".repeat(65)).is_err());
        assert!(validate_tenant_name("a\u{7}b").is_err());
        assert_eq!(
            validate_tenant_name("Отдел продаж").unwrap(),
            "Отдел продаж"
        );
    }

    #[test]
    fn the_agent_limit_is_off_or_a_count() {
        assert_eq!(parse_max_agents(" ").unwrap(), None);
        assert_eq!(parse_max_agents("0").unwrap(), Some(0));
        assert_eq!(parse_max_agents(" 25 ").unwrap(), Some(25));
        assert!(parse_max_agents("1000001").is_err());
        assert!(parse_max_agents("-1").is_err());
        assert!(parse_max_agents("many").is_err());
    }

    #[test]
    fn lease_time_is_seconds_from_two_to_a_day_and_empty_is_five_minutes() {
        assert_eq!(parse_lease_seconds("").unwrap(), 300);
        assert_eq!(parse_lease_seconds(" 2 ").unwrap(), 2);
        assert_eq!(parse_lease_seconds("86400").unwrap(), 86_400);
        assert!(parse_lease_seconds("1").is_err());
        assert!(parse_lease_seconds("86401").is_err());
        assert!(parse_lease_seconds("-5").is_err());
        assert!(parse_lease_seconds("soon").is_err());
    }

    #[test]
    fn borrowing_is_off_or_up_to_ninety_days_and_keeps_a_count() {
        assert_eq!(parse_max_borrow_hours("").unwrap(), None);
        assert_eq!(parse_max_borrow_hours("0").unwrap(), None);
        assert_eq!(parse_max_borrow_hours(" 168 ").unwrap(), Some(168));
        assert_eq!(parse_max_borrow_hours("2160").unwrap(), Some(2160));
        assert!(parse_max_borrow_hours("2161").is_err());
        assert!(parse_max_borrow_hours("-1").is_err());
        assert!(parse_max_borrow_hours("a week").is_err());
        assert_eq!(parse_keep_unborrowed("").unwrap(), 0);
        assert_eq!(parse_keep_unborrowed(" 3 ").unwrap(), 3);
        assert!(parse_keep_unborrowed("-3").is_err());
        assert!(parse_keep_unborrowed("1000001").is_err());
    }

    #[test]
    fn release_after_is_off_or_within_a_week() {
        assert_eq!(parse_release_after("").unwrap(), None);
        assert_eq!(parse_release_after("0").unwrap(), None);
        assert_eq!(parse_release_after(" 15 ").unwrap(), Some(15));
        assert_eq!(parse_release_after("10080").unwrap(), Some(10080));
        assert!(parse_release_after("10081").is_err());
        assert!(parse_release_after("-1").is_err());
        assert!(parse_release_after("ten").is_err());
    }
}
