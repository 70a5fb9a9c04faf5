//! Reminders as the console shows them, shared by the server and the client.
use serde::{Deserialize, Serialize};

use crate::licenses::format::LicenseType;

/// What a reminder is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A tenant's platform license.
    TenantPlatform,
    /// A tenant's platform license with unlimited agents.
    TenantUnlimitedAgents,
    /// One agent, personal or server license.
    Certificate,
    /// A tenant's agents were refused checkouts for want of a free license (a shortage alert:
    /// `expires_at` is the hour's start).
    Shortage,
}

impl SubjectKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SubjectKind::TenantPlatform => "tenant_platform",
            SubjectKind::TenantUnlimitedAgents => "tenant_unlimited_agents",
            SubjectKind::Certificate => "certificate",
            SubjectKind::Shortage => "shortage",
        }
    }

    pub fn parse(s: &str) -> Option<SubjectKind> {
        [
            SubjectKind::TenantPlatform,
            SubjectKind::TenantUnlimitedAgents,
            SubjectKind::Certificate,
            SubjectKind::Shortage,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One reminder: `subject_name`'s license of `license_type` expires at `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub id: String,
    pub subject_kind: SubjectKind,
    /// A tenant's name for a platform license, a product's name otherwise.
    pub subject_name: String,
    pub license_type: LicenseType,
    pub expires_at: i64,
    pub days_before: u32,
    pub made_at: i64,
    pub read: bool,
    /// A shortage alert's refused checkouts in its hour.
    pub refusals: Option<u64>,
}

/// What every page's header needs: the bell's count, and the banner (Administrators).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alerts {
    pub unread: u64,
    /// The latest unread reminder of each thing about to expire, soonest first; empty for all
    /// but Administrators.
    pub banner: Vec<Reminder>,
}

/// The notifications page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    pub reminders: Vec<Reminder>,
    pub unread: u64,
}

/// How many reminders the notifications page lists, newest first.
pub const NOTIFICATIONS_MAX: u64 = 200;

/// The system clock is behind the latest time Tessera has seen by more than a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockWarning {
    pub system_ms: i64,
    pub seen_ms: i64,
}
