//! The audit log as the page, the CSV and the server functions see it: the kinds of entry, a
//! row, and the filter (read from the address, checked before any query).
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Field, Problem};

/// Entries on one page of the log.
pub const PAGE_SIZE: u64 = 50;

/// What was done. The snake_case names are stored, so they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    LicenseRequest,
    LicenseUpload,
    LicenseConfirm,
    LicensesDeleteAll,
    /// A license activated by itself on its first valid day (its `not_before`).
    LicenseActivate,
    TenantCreate,
    TenantRename,
    TenantDelete,
    /// A platform license assigned to a tenant (or a refused assignment).
    TenantAssign,
    /// An agent license put in a tenant's pool or the shared one.
    TenantPool,
    TenantRotateKey,
    TenantSetRelease,
    /// The most agents a tenant may register.
    TenantSetAgentLimit,
    /// How long a tenant's agents' leases last.
    TenantSetLeaseTime,
    /// How long a tenant's agents may borrow, and how many licenses it keeps unborrowed.
    TenantSetBorrowing,
    AgentRegister,
    AgentBind,
    AgentShutDown,
    AgentDelete,
    /// An agent's token revoked and its machine reopened for one registration.
    AgentResetRegistration,
    /// A floating license borrowed (by an administrator or the agent itself).
    AgentBorrow,
    /// A borrow given back early by its agent.
    AgentReturnBorrow,
    SeatsApply,
    SeatsRecall,
    SignIn,
    SignInFailed,
    SignOut,
    UserCreate,
    UserSetRole,
    UserDisable,
    UserEnable,
    UserResetPassword,
    /// A user changed their own password (giving the current one).
    PasswordChange,
}

impl AuditKind {
    pub const ALL: [AuditKind; 33] = [
        AuditKind::LicenseRequest,
        AuditKind::LicenseUpload,
        AuditKind::LicenseConfirm,
        AuditKind::LicensesDeleteAll,
        AuditKind::LicenseActivate,
        AuditKind::TenantCreate,
        AuditKind::TenantRename,
        AuditKind::TenantDelete,
        AuditKind::TenantAssign,
        AuditKind::TenantPool,
        AuditKind::TenantRotateKey,
        AuditKind::TenantSetRelease,
        AuditKind::TenantSetAgentLimit,
        AuditKind::TenantSetLeaseTime,
        AuditKind::TenantSetBorrowing,
        AuditKind::AgentRegister,
        AuditKind::AgentBind,
        AuditKind::AgentShutDown,
        AuditKind::AgentDelete,
        AuditKind::AgentResetRegistration,
        AuditKind::AgentBorrow,
        AuditKind::AgentReturnBorrow,
        AuditKind::SeatsApply,
        AuditKind::SeatsRecall,
        AuditKind::SignIn,
        AuditKind::SignInFailed,
        AuditKind::SignOut,
        AuditKind::UserCreate,
        AuditKind::UserSetRole,
        AuditKind::UserDisable,
        AuditKind::UserEnable,
        AuditKind::UserResetPassword,
        AuditKind::PasswordChange,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::LicenseRequest => "license_request",
            AuditKind::LicenseUpload => "license_upload",
            AuditKind::LicenseConfirm => "license_confirm",
            AuditKind::LicensesDeleteAll => "licenses_delete_all",
            AuditKind::LicenseActivate => "license_activate",
            AuditKind::TenantCreate => "tenant_create",
            AuditKind::TenantRename => "tenant_rename",
            AuditKind::TenantDelete => "tenant_delete",
            AuditKind::TenantAssign => "tenant_assign",
            AuditKind::TenantPool => "tenant_pool",
            AuditKind::TenantRotateKey => "tenant_rotate_key",
            AuditKind::TenantSetRelease => "tenant_set_release",
            AuditKind::TenantSetAgentLimit => "tenant_set_agent_limit",
            AuditKind::TenantSetLeaseTime => "tenant_set_lease_time",
            AuditKind::TenantSetBorrowing => "tenant_set_borrowing",
            AuditKind::AgentBorrow => "agent_borrow",
            AuditKind::AgentReturnBorrow => "agent_return_borrow",
            AuditKind::AgentRegister => "agent_register",
            AuditKind::AgentBind => "agent_bind",
            AuditKind::AgentShutDown => "agent_shut_down",
            AuditKind::AgentResetRegistration => "agent_reset_registration",
            AuditKind::AgentDelete => "agent_delete",
            AuditKind::SeatsApply => "seats_apply",
            AuditKind::SeatsRecall => "seats_recall",
            AuditKind::SignIn => "sign_in",
            AuditKind::SignInFailed => "sign_in_failed",
            AuditKind::SignOut => "sign_out",
            AuditKind::UserCreate => "user_create",
            AuditKind::UserSetRole => "user_set_role",
            AuditKind::UserDisable => "user_disable",
            AuditKind::UserEnable => "user_enable",
            AuditKind::UserResetPassword => "user_reset_password",
            AuditKind::PasswordChange => "password_change",
        }
    }

    pub fn parse(s: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The outcome of an operation that was carried out.
pub const OUTCOME_OK: &str = "ok";

/// What an entry's detail says, stored as a code with its parameters (`audit_log.detail_data`,
/// migration 21) so that each reader reads it in their own language. Its English words are also
/// stored as the entry's `detail` text, which the search and the CSV read. The codes are stored:
/// they never change; new ones may come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Detail {
    UserCreated {
        role: String,
        tenant: String,
    },
    RoleChanged {
        from: String,
        to: String,
    },
    AgentRegistered {
        tenant: String,
        again: bool,
    },
    /// Refused sign-ins of one name from one address, counted over a window (Unix ms).
    SignInsRefused {
        total: u64,
        from: i64,
        to: i64,
        failed: u64,
        throttled: u64,
        other: u64,
    },
    PackageChecked {
        certificates: u64,
        new: u64,
    },
    PackageRefused {
        refusal: crate::licenses::format::PackageRefusal,
    },
    Requested {
        target_version: String,
    },
    License {
        id: String,
        product: String,
    },
    /// Assigned, and waiting for its first valid day (Unix ms).
    LicenseWaits {
        id: String,
        product: String,
        from: i64,
    },
    Installed {
        installed: u64,
        already: u64,
    },
    Borrowed {
        license: String,
        hours: u32,
    },
    Renamed {
        from: String,
        to: String,
    },
    ReleaseAfter {
        minutes: Option<u32>,
    },
    AgentLimit {
        max: Option<u32>,
    },
    LeaseTime {
        seconds: u32,
    },
    Borrowing {
        max_hours: Option<u32>,
        kept: u32,
    },
}

/// The most refused blocks of a package an entry keeps (the upload's page names them all).
pub const REFUSED_BLOCKS_KEPT: usize = 10;

impl Detail {
    /// The detail of a package refused, keeping its first [`REFUSED_BLOCKS_KEPT`] bad blocks.
    pub fn package_refused(refusal: &crate::licenses::format::PackageRefusal) -> Detail {
        use crate::licenses::format::PackageRefusal;
        let refusal = match refusal {
            PackageRefusal::BadCertificates { blocks } => PackageRefusal::BadCertificates {
                blocks: blocks.iter().take(REFUSED_BLOCKS_KEPT).cloned().collect(),
            },
            other => other.clone(),
        };
        Detail::PackageRefused { refusal }
    }
}

/// The English words of a detail: the stored `detail` text.
impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let utc = |ms: &i64| {
            chrono::DateTime::from_timestamp_millis(*ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
        };
        match self {
            Detail::UserCreated { role, tenant } => write!(f, "{role}, tenant {tenant}"),
            Detail::RoleChanged { from, to } | Detail::Renamed { from, to } => {
                write!(f, "{from} -> {to}")
            }
            Detail::AgentRegistered { tenant, again } => write!(
                f,
                "tenant {tenant}{}",
                if *again { ", registered again" } else { "" }
            ),
            Detail::SignInsRefused {
                total,
                from,
                to,
                failed,
                throttled,
                other,
            } => write!(
                f,
                "{total} refused sign-ins from {} to {} UTC: {failed} wrong user name or \
                 password, {throttled} too many attempts, {other} other",
                utc(from),
                utc(to)
            ),
            Detail::PackageChecked { certificates, new } => {
                write!(f, "{certificates} certificates, {new} new")
            }
            Detail::PackageRefused { refusal } => write!(f, "{refusal}"),
            Detail::Requested { target_version } => write!(f, "target version {target_version}"),
            Detail::License { id, product } => write!(f, "license {id} ({product})"),
            Detail::LicenseWaits { id, product, from } => write!(
                f,
                "license {id} ({product}), activates on {}",
                utc(from).get(..10).unwrap_or_default()
            ),
            Detail::Installed { installed, already } => {
                write!(f, "{installed} installed, {already} already installed")
            }
            Detail::Borrowed { license, hours } => write!(f, "license {license}, {hours} h"),
            Detail::ReleaseAfter { minutes: Some(m) } => write!(f, "{m} minutes"),
            Detail::ReleaseAfter { minutes: None }
            | Detail::Borrowing {
                max_hours: None, ..
            } => f.write_str("off"),
            Detail::AgentLimit { max: Some(m) } => write!(f, "{m} agents"),
            Detail::AgentLimit { max: None } => f.write_str("no limit"),
            Detail::LeaseTime { seconds } => write!(f, "{seconds} s"),
            Detail::Borrowing {
                max_hours: Some(h),
                kept,
            } => write!(f, "up to {h} h, {kept} kept"),
        }
    }
}

/// An entry's detail as codes: what was done, and why it was refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub said: Option<Detail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<AppError>,
}

/// One entry, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor_name: String,
    /// The stored kind; [`AuditKind::parse`] reads it.
    pub kind: String,
    pub subject: String,
    /// As stored: English words (or, before migration 21, the only words there were).
    pub detail: String,
    /// The detail as codes, which the page says in its language; `None` for entries older than
    /// migration 21, shown as stored.
    pub data: Option<DetailData>,
    /// `ok`, or the refusal's error kind (`forbidden`, `conflict`, `invalid`...).
    pub outcome: String,
}

/// The filter as typed in the address: every field may be empty. [`AuditFilter::check`] turns
/// it into a [`CheckedFilter`] or says which field is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    pub kind: Option<String>,
    /// A part of the user name, any case.
    #[serde(default)]
    pub user: Option<String>,
    /// The first day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// The last day, `YYYY-MM-DD` (UTC), included.
    #[serde(default)]
    pub to: Option<String>,
    /// From 1.
    #[serde(default)]
    pub page: Option<u64>,
}

/// A filter whose every part was understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFilter {
    pub kind: Option<AuditKind>,
    /// Lower case, without the `LIKE` wildcards.
    pub user: Option<String>,
    /// Unix milliseconds, included.
    pub from_ms: Option<i64>,
    /// Unix milliseconds, excluded (the start of the day after `to`).
    pub until_ms: Option<i64>,
    pub page: u64,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The first millisecond of a day typed as `YYYY-MM-DD` or `DD.MM.YYYY`, in UTC.
pub fn parse_day(field: Field, raw: &str) -> Result<i64, AppError> {
    crate::ui::dates::parse_typed_day(raw)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or(AppError::invalid(field, Problem::NotADate))
}

impl AuditFilter {
    /// Reads the address's query parameters as typed; [`AuditFilter::check`] judges them.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> AuditFilter {
        AuditFilter {
            kind: get("kind"),
            user: get("user"),
            from: get("from"),
            to: get("to"),
            page: get("page").and_then(|p| p.trim().parse().ok()),
        }
    }

    /// Checks every part: an unknown kind or a date that does not parse is refused, naming it.
    pub fn check(&self) -> Result<CheckedFilter, AppError> {
        let kind = match non_empty(&self.kind) {
            None => None,
            Some(k) => Some(
                AuditKind::parse(k).ok_or(AppError::invalid(Field::AuditKind, Problem::Unknown))?,
            ),
        };
        let user = non_empty(&self.user)
            .map(|u| {
                u.to_lowercase()
                    .replace(['%', '_', '\\'], "")
                    .chars()
                    .take(64)
                    .collect::<String>()
            })
            .filter(|u| !u.is_empty());
        let from_ms = non_empty(&self.from)
            .map(|d| parse_day(Field::DateFrom, d))
            .transpose()?;
        let until_ms = non_empty(&self.to)
            .map(|d| parse_day(Field::DateTo, d).map(|t| t + DAY_MS))
            .transpose()?;
        Ok(CheckedFilter {
            kind,
            user,
            from_ms,
            until_ms,
            page: crate::ui::listing::page(self.page.filter(|p| *p >= 1))?,
        })
    }

    /// The query string (without `?`) of this filter, at `page` (no page for the CSV).
    pub fn to_params(&self, page: Option<u64>) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("kind", &self.kind),
            ("user", &self.user),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = non_empty(value) {
                parts.push(format!("{name}={}", crate::ui::url::encode_component(v)));
            }
        }
        if let Some(p) = page.filter(|p| *p > 1) {
            parts.push(format!("page={p}"));
        }
        parts.join("&")
    }
}

/// One page of the log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    pub total: u64,
    pub page: u64,
}

impl AuditPage {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(PAGE_SIZE).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(kind: &str, user: &str, from: &str, to: &str) -> AuditFilter {
        let s = |v: &str| Some(v.to_string());
        AuditFilter {
            kind: s(kind),
            user: s(user),
            from: s(from),
            to: s(to),
            page: None,
        }
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(k));
            // The stored name is the serde name.
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert_eq!(AuditKind::parse("drop_table"), None);
    }

    #[test]
    fn an_empty_filter_takes_everything_from_page_one() {
        let f = filter("", " ", "", "").check().unwrap();
        assert_eq!(
            f,
            CheckedFilter {
                kind: None,
                user: None,
                from_ms: None,
                until_ms: None,
                page: 1
            }
        );
        assert_eq!(AuditFilter::default().check().unwrap().page, 1);
    }

    #[test]
    fn dates_are_whole_utc_days_and_to_is_included() {
        let f = filter("sign_in", "Ad%mi_N", "2026-11-30", "2026-11-30")
            .check()
            .unwrap();
        assert_eq!(f.kind, Some(AuditKind::SignIn));
        assert_eq!(f.user.as_deref(), Some("admin"));
        assert_eq!(f.from_ms, Some(1_795_996_800_000));
        assert_eq!(f.until_ms, Some(1_795_996_800_000 + DAY_MS));
    }

    #[test]
    fn bad_input_is_refused_naming_the_field() {
        for (f, field) in [
            (filter("", "", "2026-13-01", ""), Field::DateFrom),
            (filter("", "", "yesterday", ""), Field::DateFrom),
            (filter("", "", "", "2026-2-3"), Field::DateTo),
            (filter("", "", "", "2026-02-30"), Field::DateTo),
            (filter("nuke", "", "", ""), Field::AuditKind),
        ] {
            match f.check() {
                Err(AppError::Invalid { field: got, .. }) => assert_eq!(got, field, "{f:?}"),
                other => panic!("{f:?}: {other:?}"),
            }
        }
        assert_eq!(filter("", "", "x", "").check().unwrap_err().status(), 400);
    }

    #[test]
    fn the_filter_survives_the_address() {
        let f = AuditFilter {
            page: Some(3),
            ..filter("seats_apply", "ivan petrov", "2026-01-01", "")
        };
        let params = f.to_params(f.page);
        assert_eq!(
            params,
            "kind=seats_apply&user=ivan%20petrov&from=2026-01-01&page=3"
        );
        let back = AuditFilter::from_params(|k| {
            params.split('&').find_map(|p| {
                let (name, value) = p.split_once('=')?;
                (name == k).then(|| value.replace("%20", " "))
            })
        });
        assert_eq!(back.check().unwrap(), f.check().unwrap());
        assert_eq!(
            f.to_params(None),
            "kind=seats_apply&user=ivan%20petrov&from=2026-01-01"
        );
    }
}
