//! What the agent API says, as plain types shared by the server and its clients.
use serde::{Deserialize, Serialize};

use crate::licenses::domain::Expiry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Running,
    ShutDown,
}

impl AgentState {
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentState::Running => "running",
            AgentState::ShutDown => "shut_down",
        }
    }

    pub fn parse(s: &str) -> Option<AgentState> {
        [AgentState::Running, AgentState::ShutDown]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// The longest machine id, in characters (Unicode scalar values), surrounding spaces included.
pub const MACHINE_ID_MAX: usize = 200;

/// What an agent registers with. The server enforces exactly the constraints stated here, as
/// the OpenAPI document says them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// The tenant's enrollment key, as Settings > Tenants shows it.
    pub enrollment_key: String,
    /// What identifies the machine, unique within the tenant: at most 200 characters, not only
    /// spaces (surrounding spaces are not part of it).
    #[cfg_attr(
        feature = "ssr",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub machine_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Registered {
    pub agent_id: String,
    pub tenant_id: String,
    /// The bearer token for checkout and heartbeat. Registering again issues a new one.
    pub token: String,
    /// The installation's public key (PEM SubjectPublicKeyInfo, Ed25519), which every lease is
    /// signed with: keep it to check leases offline.
    pub lease_public_key: String,
}

/// What an agent borrows its floating license with (docs/agent-api.md, "Borrowing").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BorrowRequest {
    /// For how many hours: from 1 to the tenant's longest borrow (at most 2160). A whole
    /// number, which JSON may write as `8` or `8.0`.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 2160))]
    #[serde(deserialize_with = "whole_number")]
    pub hours: u32,
}

/// A whole number as JSON writes it, `8` or `8.0` alike (JSON Schema's `integer` allows both).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error;
    let n = f64::deserialize(d)?;
    if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
        // Whole and in range: the conversion is exact.
        Ok(n as u32)
    } else {
        Err(D::Error::custom(format!(
            "{n} is not a whole number of hours"
        )))
    }
}

/// The longest borrow a tenant may allow, in hours (90 days).
pub const BORROW_HOURS_MAX: u32 = 90 * 24;

/// Hours to borrow for, as typed in the agent page's form: a whole number from 1 (the tenant's
/// maximum is checked with the tenant).
pub fn parse_borrow_hours(raw: &str) -> Result<u32, crate::error::AppError> {
    use crate::error::{AppError, Field, Problem};
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(AppError::invalid(Field::BorrowHours, Problem::Required));
    }
    match raw.parse::<u32>() {
        Ok(h) if (1..=BORROW_HOURS_MAX).contains(&h) => Ok(h),
        _ => Err(AppError::invalid(
            Field::BorrowHours,
            Problem::OutOfRange {
                min: 1,
                max: BORROW_HOURS_MAX,
            },
        )),
    }
}

/// A tenant's lease time unless its administrator sets another.
pub const LEASE_SECONDS_DEFAULT: i32 = 300;
/// The shortest and longest lease time a tenant may set.
pub const LEASE_SECONDS_MIN: i32 = 2;
pub const LEASE_SECONDS_MAX: i32 = 24 * 60 * 60;

/// A signed lease: the agent may work until its `valid_until` without asking again
/// (docs/agent-api.md, "Leases"). `payload` is base64url (no padding) of the lease's JSON,
/// exactly the bytes signed; `sig` the Ed25519 signature over them, by the key `kid` names: the
/// installation's (`lease_public_key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Lease {
    /// Always `ed25519`.
    pub alg: String,
    /// The signing key's id: the first 8 bytes of SHA-256 over the raw public key, in hex.
    pub kid: String,
    pub payload: String,
    pub sig: String,
}

impl From<tessera_license::Envelope> for Lease {
    fn from(e: tessera_license::Envelope) -> Lease {
        Lease {
            alg: e.alg,
            kid: e.kid,
            payload: e.payload,
            sig: e.sig,
        }
    }
}

impl From<Lease> for tessera_license::Envelope {
    fn from(l: Lease) -> tessera_license::Envelope {
        tessera_license::Envelope {
            alg: l.alg,
            kid: l.kid,
            payload: l.payload,
            sig: l.sig,
        }
    }
}

/// Why an agent is licensed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Its tenant's platform license covers unlimited agents.
    UnlimitedAgents,
    Fixed,
    Floating,
}

/// A checkout that is licensed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CheckedOut {
    /// Always true: a checkout that is not licensed is answered with an error.
    pub licensed: bool,
    pub basis: Basis,
    /// The certificate it holds (none under unlimited agents).
    pub license_id: Option<String>,
    /// Until when, in Unix milliseconds; null when permanent.
    pub expires_at: Option<i64>,
    /// The lease signed for this grant (always present in the API's answer).
    pub lease: Option<Lease>,
    /// When to check out again for a new lease (half the lease's time has passed), Unix ms.
    pub renew_after: Option<i64>,
    /// Until when the agent borrows this license (Unix ms): its lease runs as long; null when it
    /// does not borrow.
    #[serde(default)]
    pub borrowed_until: Option<i64>,
}

/// What heartbeat and release answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Done {
    /// Always true.
    pub ok: bool,
}

impl CheckedOut {
    pub fn new(basis: Basis, license_id: Option<String>, until: Expiry) -> CheckedOut {
        CheckedOut {
            licensed: true,
            basis,
            license_id,
            expires_at: match until {
                Expiry::Never => None,
                Expiry::At(t) => Some(t),
            },
            lease: None,
            renew_after: None,
            borrowed_until: None,
        }
    }

    /// Until when this answer may be given again as it is: not past the license's expiry, nor
    /// past the time its lease is to be renewed.
    pub fn good_until(&self) -> Option<i64> {
        match (self.expires_at, self.renew_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The license an agent holds, as Settings > Agents shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldLicense {
    pub id: String,
    pub product_name: String,
    pub binding: crate::licenses::format::Binding,
    pub status: crate::licenses::domain::Status,
}

/// One agent in Settings > Agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    pub id: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub machine_id: String,
    pub state: AgentState,
    pub license: Option<HeldLicense>,
    /// Why it is licensed now, if it is.
    pub basis: Option<Basis>,
    /// Until when it is licensed; `None` when it is not.
    pub licensed_until: Option<Expiry>,
    pub last_seen_at: i64,
    pub refused_count: u64,
}

/// A fixed agent license not yet bound, offered for binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedLicense {
    pub id: String,
    pub product_name: String,
    /// `None`: permanent.
    pub validity_days: Option<u32>,
    /// The tenant whose pool it is in; `None`: the shared pool.
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentsListing {
    /// One page of the agents, by machine id.
    pub agents: Vec<AgentRow>,
    /// Agents in all (of the tenant, when filtered), over every page.
    pub total: u64,
    /// From 1.
    pub page: u64,
    /// The tenant the list is filtered to, if it is.
    pub tenant: Option<crate::tenants::Tenant>,
    /// How many fixed licenses are free to bind.
    pub fixed_free: u32,
    /// Floating licenses that can still be used, and how many of them agents hold.
    pub floating_total: u32,
    pub floating_held: u32,
}

/// How many agents a page of Settings > Agents lists.
pub const AGENTS_PAGE: u64 = 50;

/// One agent's own page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentDetail {
    pub agent: AgentRow,
    /// Fixed licenses it could be bound to (its tenant's pool and the shared one).
    pub fixed_free: Vec<FixedLicense>,
    pub can_delete: bool,
    /// Until when it borrows its floating license (Unix ms), while it does.
    pub borrowed_until: Option<i64>,
    /// Shut down: until when the floating license taken from it stays held for its last lease or
    /// borrow (Unix ms), while it does.
    pub license_held_until: Option<i64>,
    /// Its tenant's longest borrow, in hours; `None`: its tenant does not allow borrowing.
    pub max_borrow_hours: Option<u32>,
}

#[cfg(test)]
mod borrow_request_tests {
    use super::BorrowRequest;

    #[test]
    fn hours_are_a_whole_number_however_json_writes_it() {
        let read = |s: &str| serde_json::from_str::<BorrowRequest>(s).map(|r| r.hours);
        assert_eq!(read(r#"{"hours": 8}"#).ok(), Some(8));
        assert_eq!(read(r#"{"hours": 8.0}"#).ok(), Some(8));
        for bad in [
            r#"{"hours": 1.5}"#,
            r#"{"hours": -1}"#,
            r#"{"hours": 1e20}"#,
            r#"{}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
