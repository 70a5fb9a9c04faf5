//! The license request (.tlr) and package (.lcs) formats of LICENSE-FORMAT.md, as plain types
//! shared by the server, the WASM client and the vendor tool. Reading, checking and writing them
//! live in the other modules (feature `verify`); these types only describe.
use serde::{Deserialize, Serialize};

/// Version of both formats.
pub const FORMAT_VERSION: u32 = 1;

pub const REQUEST_BLOCK: &str = "LICENSE REQUEST";
pub const CERTIFICATE_BLOCK: &str = "CERTIFICATE";

/// A certificate id as the format writes it, a UUID (`8-4-4-4-12` hexadecimal digits, any
/// case), in lower case; `None` for anything else. Ids compare case-insensitively, so every id
/// is kept and compared in this form.
pub fn certificate_id(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let well_formed = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    well_formed.then(|| text.to_ascii_lowercase())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseType {
    Platform,
    PlatformUnlimitedAgents,
    Agent,
    Personal,
    Server,
}

impl LicenseType {
    pub const ALL: [LicenseType; 5] = [
        LicenseType::Platform,
        LicenseType::PlatformUnlimitedAgents,
        LicenseType::Agent,
        LicenseType::Personal,
        LicenseType::Server,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LicenseType::Platform => "platform",
            LicenseType::PlatformUnlimitedAgents => "platform_unlimited_agents",
            LicenseType::Agent => "agent",
            LicenseType::Personal => "personal",
            LicenseType::Server => "server",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Platform licenses of either kind: they license a tenant.
    pub const fn is_platform(self) -> bool {
        matches!(
            self,
            LicenseType::Platform | LicenseType::PlatformUnlimitedAgents
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Subscription,
    Buyout,
    Test,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Subscription, Mode::Buyout, Mode::Test];

    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Subscription => "subscription",
            Mode::Buyout => "buyout",
            Mode::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    Fixed,
    Floating,
}

impl Binding {
    pub const fn as_str(self) -> &'static str {
        match self {
            Binding::Fixed => "fixed",
            Binding::Floating => "floating",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Binding::Fixed, Binding::Floating]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// One license, as the vendor signed it (the decoded payload of a CERTIFICATE block), after its
/// fields were checked. Dates are RFC 3339 strings as written by the vendor; `not_before` and
/// `not_after` may be full timestamps or bare dates (`2027-11-23`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub format: u32,
    pub id: String,
    pub installation_id: String,
    pub company_id: String,
    pub product: String,
    pub product_name: String,
    #[serde(rename = "type")]
    pub license_type: LicenseType,
    pub mode: Mode,
    /// Days of validity once activated; `None` is permanent.
    pub validity_days: Option<u32>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    /// `personal` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u32>,
    /// `agent` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
    /// `server` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    pub issued_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revokes: Vec<String>,
}

/// The JSON of a CERTIFICATE block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub alg: String,
    pub kid: String,
    /// base64url without padding: exactly the bytes that were signed.
    pub payload: String,
    /// base64url without padding: the 64-byte Ed25519 signature over the payload bytes.
    pub sig: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestTenant {
    pub id: String,
    pub name: String,
    pub platform_expires: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub agents_registered: u64,
    pub agents_licensed: u64,
    pub users_total: u64,
    pub users_licensed: u64,
}

/// The JSON of a LICENSE REQUEST block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseRequest {
    pub format: u32,
    pub installation_id: String,
    pub company_id: String,
    pub target_version: String,
    pub created_at: String,
    pub tenants: Vec<RequestTenant>,
    pub usage: Usage,
    pub installed: Vec<String>,
    /// What was used of each product over the last 30, 90 and 365 days, to size the renewal.
    /// Optional in the format: a request from an older installation has none, and a vendor tool
    /// that does not know the field ignores it (unknown fields are ignored).
    #[serde(default)]
    pub usage_summary: Vec<ProductUsage>,
    /// The installation's own public key (PEM), which signs its agents' leases: optional and
    /// ignored by vendor tools that do not know it, like `usage_summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_public_key: Option<String>,
}

/// One product's licenses of one kind in a license request's `usage_summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUsage {
    /// The product code, as in its certificates.
    pub product: String,
    /// `floating` or `fixed` (agent licenses), or `personal` (seats of personal licenses).
    pub license_kind: String,
    /// Licenses (seats for `personal`) that license something at the request's creation.
    pub owned: u64,
    /// The last 30, 90 and 365 days, in that order.
    pub periods: Vec<UsagePeriod>,
}

/// Use over one period ending at the request's creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePeriod {
    pub days: u32,
    /// The most in use at once.
    pub peak: u64,
    /// The 95th percentile of the peak per bucket (minutes where the installation keeps them
    /// for the whole period, hours beyond).
    pub p95: u64,
    /// `minute` or `hour` (or `day`): the buckets `p95` is taken over.
    pub bucket: String,
    /// Agents' checkouts refused for want of a free agent license (every agent product counts
    /// the installation's refusals: an agent can be licensed by any of them); 0 for `personal`.
    pub refusals: u64,
    /// Whether the installation's usage record covers the whole period (false: it started
    /// later, and the figures cover only what it saw).
    pub complete: bool,
}

/// Why a certificate of a package is refused (LICENSE-FORMAT.md, "Checks on upload").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Refusal {
    /// Not base64, not JSON, a field missing or of the wrong type.
    Malformed {
        detail: String,
    },
    UnsupportedAlgorithm {
        alg: String,
    },
    UnknownKey {
        kid: String,
    },
    BadSignature,
    UnsupportedFormat {
        format: u64,
    },
    OtherInstallation,
    /// An unknown type, mode or binding, or a field its type needs is missing.
    InvalidCertificate {
        detail: String,
    },
    AlreadyExpired {
        not_after: String,
    },
    DuplicateInPackage,
}

/// One refused certificate: its block number (from 1) and, where readable, its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRefusal {
    pub block: usize,
    pub id: Option<String>,
    pub refusal: Refusal,
}

/// Why a whole package is refused before its certificates are looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum PackageRefusal {
    Empty,
    TooLarge {
        limit_bytes: u64,
    },
    TooManyCertificates {
        limit: u64,
    },
    NotText,
    NoCertificates,
    NoTrustedKeys,
    /// Some certificates are bad: the package is refused whole, each bad one named.
    BadCertificates {
        blocks: Vec<BlockRefusal>,
    },
}

/// The reasons in the words of LICENSE-FORMAT.md, for logs and the vendor tool (the UI has its
/// own translated texts).
impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed { detail } => write!(f, "malformed: {detail}"),
            Refusal::UnsupportedAlgorithm { alg } => write!(f, "unsupported algorithm {alg:?}"),
            Refusal::UnknownKey { kid } => write!(f, "signed by an unknown key ({kid})"),
            Refusal::BadSignature => f.write_str("signature does not verify"),
            Refusal::UnsupportedFormat { format } => {
                write!(f, "unsupported format version {format}")
            }
            Refusal::OtherInstallation => f.write_str("issued to another installation"),
            Refusal::InvalidCertificate { detail } => write!(f, "invalid certificate: {detail}"),
            Refusal::AlreadyExpired { not_after } => {
                write!(f, "already expired (not_after {not_after})")
            }
            Refusal::DuplicateInPackage => f.write_str("duplicate in package"),
        }
    }
}

impl std::fmt::Display for BlockRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "block {} ({id}): {}", self.block, self.refusal),
            None => write!(f, "block {}: {}", self.block, self.refusal),
        }
    }
}

impl std::fmt::Display for PackageRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackageRefusal::Empty => f.write_str("the file is empty"),
            PackageRefusal::TooLarge { limit_bytes } => {
                write!(
                    f,
                    "the package is larger than the limit of {limit_bytes} bytes"
                )
            }
            PackageRefusal::TooManyCertificates { limit } => {
                write!(
                    f,
                    "the package holds more than the limit of {limit} certificates"
                )
            }
            PackageRefusal::NotText => f.write_str("the file is not UTF-8 text"),
            PackageRefusal::NoCertificates => {
                f.write_str("the file holds no TESSERA CERTIFICATE block")
            }
            PackageRefusal::NoTrustedKeys => f.write_str("no vendor public key is trusted"),
            PackageRefusal::BadCertificates { blocks } => {
                write!(f, "{} certificate(s) refused", blocks.len())?;
                for (i, b) in blocks.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { "; " })?;
                    write!(f, "{b}")?;
                }
                Ok(())
            }
        }
    }
}
