//! What the Licenses pages show, as plain types shared by the server and the client.
use serde::{Deserialize, Serialize};

use super::domain::{Expiry, Status};
use super::format::{Binding, LicenseType, Mode, PackageRefusal};
use crate::tenants::Tenant;

/// A tenant and until when its platform is licensed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLicense {
    pub tenant: Tenant,
    pub platform: Option<Expiry>,
}

/// Where license requests go, as configured (`TESSERA_VENDOR_EMAIL`, `TESSERA_VENDOR_URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorContact {
    pub email: Option<String>,
    pub url: Option<String>,
}

impl VendorContact {
    pub fn is_set(&self) -> bool {
        self.email.is_some() || self.url.is_some()
    }

    /// The address and the portal, as the request file's comment names them.
    pub fn send_to(&self) -> Vec<&str> {
        self.email
            .iter()
            .chain(&self.url)
            .map(String::as_str)
            .collect()
    }
}

/// The head of Settings > Licenses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicensesSummary {
    pub installation_id: String,
    pub tenants: Vec<TenantLicense>,
    pub licenses_installed: u64,
    /// Ids of the trusted vendor keys; empty when none are configured.
    pub vendor_keys: Vec<String>,
    pub vendor_contact: VendorContact,
    /// The installation's own key, which signs agents' leases: its id and its public key (PEM).
    pub lease_key_id: String,
    pub lease_public_key: String,
    pub can_upload: bool,
    pub can_delete: bool,
    pub can_request: bool,
    /// The system clock was set back more than a day behind the latest time seen.
    pub clock_warning: Option<crate::expiry::model::ClockWarning>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortColumn {
    Type,
    Product,
    Mode,
    Start,
    Due,
    Status,
    Installed,
}

impl SortColumn {
    pub const ALL: [SortColumn; 7] = [
        SortColumn::Type,
        SortColumn::Product,
        SortColumn::Mode,
        SortColumn::Start,
        SortColumn::Due,
        SortColumn::Status,
        SortColumn::Installed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SortColumn::Type => "type",
            SortColumn::Product => "product",
            SortColumn::Mode => "mode",
            SortColumn::Start => "start",
            SortColumn::Due => "due",
            SortColumn::Status => "status",
            SortColumn::Installed => "installed",
        }
    }

    pub fn parse(s: &str) -> Option<SortColumn> {
        SortColumn::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

pub const PAGE_SIZE: u64 = 50;

/// A view of the Licenses list, as it stands in the URL so that it can be linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    pub q: String,
    pub status: Option<Status>,
    pub license_type: Option<LicenseType>,
    pub sort: SortColumn,
    pub descending: bool,
    /// From 1.
    pub page: u64,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            q: String::new(),
            status: None,
            license_type: None,
            sort: SortColumn::Installed,
            descending: true,
            page: 1,
        }
    }
}

impl ListQuery {
    /// Reads the URL's query parameters; anything unknown falls back to the default.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> ListQuery {
        let d = ListQuery::default();
        let sort = get("sort").and_then(|s| SortColumn::parse(&s));
        ListQuery {
            q: get("q")
                .map(|s| s.trim().chars().take(200).collect())
                .unwrap_or_default(),
            status: get("status").and_then(|s| Status::parse(&s)),
            license_type: get("type").and_then(|s| LicenseType::parse(&s)),
            descending: match get("dir").as_deref() {
                Some("asc") => false,
                Some("desc") => true,
                _ => sort.is_none() && d.descending,
            },
            sort: sort.unwrap_or(d.sort),
            page: get("page")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p >= 1)
                .unwrap_or(1),
        }
    }

    /// The query string (without `?`) for this view.
    pub fn to_params(&self) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", crate::ui::url::encode_component(&self.q)));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={}", s.as_str()));
        }
        if let Some(t) = self.license_type {
            parts.push(format!("type={}", t.as_str()));
        }
        parts.push(format!("sort={}", self.sort.as_str()));
        parts.push(format!(
            "dir={}",
            if self.descending { "desc" } else { "asc" }
        ));
        if self.page > 1 {
            parts.push(format!("page={}", self.page));
        }
        parts.join("&")
    }

    /// This view sorted by `column`: the other direction if it already is.
    pub fn sorted_by(&self, column: SortColumn) -> ListQuery {
        ListQuery {
            descending: if self.sort == column {
                !self.descending
            } else {
                false
            },
            sort: column,
            page: 1,
            ..self.clone()
        }
    }

    pub fn at_page(&self, page: u64) -> ListQuery {
        ListQuery {
            page,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseRow {
    pub id: String,
    pub license_type: LicenseType,
    pub product: String,
    pub product_name: String,
    pub mode: Mode,
    pub binding: Option<Binding>,
    pub feature: Option<String>,
    /// When it was activated.
    pub start: Option<i64>,
    /// Not activated, the first day it may be, while that lies ahead (its `not_before`).
    pub waits_until: Option<i64>,
    /// When it stops licensing: its expiry once activated, else its `not_after`.
    pub due: Option<Expiry>,
    pub status: Status,
    pub tenant_name: Option<String>,
    pub agent: Option<String>,
    pub seats_used: u32,
    pub seats_total: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicensePage {
    pub rows: Vec<LicenseRow>,
    /// The licenses that match; with `more`, those counted, and more match.
    pub total: u64,
    /// A search matched more than it counts: [`SEARCH_COUNTED`] past the page's start.
    pub more: bool,
    pub query: ListQuery,
}

/// How many matches of a search a page counts past its own start. A search most licenses
/// match ("agent" in 500,000) is not counted to its end (130 ms, every row read): the page says
/// "more than" what was counted, and the count goes on as the reader pages on.
pub const SEARCH_COUNTED: u64 = 1000;

impl LicensePage {
    /// The pages counted (with `more`, more follow).
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(PAGE_SIZE).max(1)
    }
}

/// What confirming a package will do with one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Effect {
    AlreadyInstalled,
    /// Withdrawn by a certificate installed before it (or in the same package): it is kept,
    /// revoked, and licenses nothing.
    ArrivesRevoked,
    /// A platform license that activates on confirmation.
    ExtendsTenant {
        tenant: String,
        until: Expiry,
        unlimited_agents: bool,
    },
    /// A platform license for a tenant that cannot be activated before `from` (its `not_before`):
    /// assigned now, it activates by itself then.
    ExtendsTenantFrom {
        tenant: String,
        from: i64,
        unlimited_agents: bool,
    },
    /// A platform license that waits to be assigned to a tenant.
    AwaitsTenant {
        unlimited_agents: bool,
    },
    AddsAgentLicense {
        binding: Binding,
    },
    AddsSeats {
        seats: u32,
    },
    UnlocksFeature {
        feature: String,
        until: Expiry,
    },
    /// A server license that cannot be activated before `from`: it activates by itself then.
    UnlocksFeatureFrom {
        feature: String,
        from: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewItem {
    pub block: usize,
    pub id: String,
    pub license_type: LicenseType,
    pub product_name: String,
    pub mode: Mode,
    pub effect: Effect,
    /// Ids of installed certificates this one withdraws.
    pub revokes: usize,
}

/// One line of the preview's summary: how many certificates do the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryLine {
    pub count: usize,
    pub product_name: String,
    pub effect: Effect,
}

/// The most certificates listed one by one in a preview; the summary counts them all.
pub const PREVIEW_ITEMS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub file_name: String,
    pub total: usize,
    pub new: usize,
    pub summary: Vec<SummaryLine>,
    pub items: Vec<PreviewItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum UploadOutcome {
    Preview(Preview),
    Refused {
        file_name: String,
        refusal: PackageRefusal,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    pub installed: usize,
    pub already_installed: usize,
}

/// A license request, ready to download or copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFile {
    pub file_name: String,
    pub text: String,
    /// Where to send it, when configured.
    pub vendor: VendorContact,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> ListQuery {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        ListQuery::from_params(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn a_view_round_trips_through_its_url() {
        let q = parse(&[
            ("q", "crm suite"),
            ("status", "activated"),
            ("type", "personal"),
            ("sort", "due"),
            ("dir", "asc"),
            ("page", "3"),
        ]);
        assert_eq!(q.q, "crm suite");
        assert_eq!(q.status, Some(Status::Activated));
        assert_eq!(q.license_type, Some(LicenseType::Personal));
        assert_eq!((q.sort, q.descending, q.page), (SortColumn::Due, false, 3));
        let params = q.to_params();
        let pairs: Vec<(String, String)> = params
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("%20", " ")))
            .collect();
        let map: HashMap<String, String> = pairs.into_iter().collect();
        assert_eq!(ListQuery::from_params(|k| map.get(k).cloned()), q);
    }

    #[test]
    fn nonsense_falls_back_to_the_default_view() {
        let q = parse(&[("status", "bogus"), ("sort", "x"), ("page", "-2")]);
        assert_eq!(q, ListQuery::default());
    }

    #[test]
    fn sorting_by_the_same_column_flips_direction() {
        let q = ListQuery::default().sorted_by(SortColumn::Product);
        assert!(!q.descending);
        assert!(q.sorted_by(SortColumn::Product).descending);
    }
}
