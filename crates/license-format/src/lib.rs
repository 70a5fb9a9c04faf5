//! Tessera's license formats (LICENSE-FORMAT.md): the license request (.tlr) and the license
//! package (.lcs), their types, armor, keys, strict JSON, package verification and requests; and
//! the leases an installation signs for its agents' checkouts.
//! Pure functions: no I/O, no clock but the `now` they are given. The server, the vendor tool
//! (`tessera-vendor`) and the fuzz targets all run this same code.
//!
//! Feature `verify` (default) is everything but the types: base64, Ed25519 and SHA-256. The WASM
//! client only shows licenses and refusals, so it takes the types alone
//! (`default-features = false`): no signature code and none of its dependencies reach the
//! browser, whatever the linker would have stripped.
pub mod format;

#[cfg(feature = "verify")]
pub mod armor;
#[cfg(feature = "verify")]
pub mod dates;
#[cfg(feature = "verify")]
mod json;
#[cfg(feature = "verify")]
pub mod keys;
#[cfg(feature = "verify")]
pub mod lease;
#[cfg(feature = "verify")]
pub mod package;
#[cfg(feature = "verify")]
pub mod request;

pub use format::{
    Binding, BlockRefusal, CERTIFICATE_BLOCK, Certificate, Envelope, FORMAT_VERSION,
    LicenseRequest, LicenseType, Mode, PackageRefusal, ProductUsage, REQUEST_BLOCK, Refusal,
    RequestTenant, Usage, UsagePeriod, certificate_id,
};

#[cfg(feature = "verify")]
pub use armor::{armor, armored_blocks};
#[cfg(feature = "verify")]
pub use dates::{parse_date_end, parse_date_start};
#[cfg(feature = "verify")]
pub use keys::{KeyError, TrustedKeys, key_id, key_pair_pem, sha256_hex};
#[cfg(feature = "verify")]
pub use lease::{LEASE_VERSION, LeaseClaims, LeaseError, sign_lease, verify_lease};
#[cfg(feature = "verify")]
pub use package::{
    Checks, Limits, MAX_SEATS, MAX_VALIDITY_DAYS, VerifiedCertificate, sign_certificate,
    verify_package,
};
#[cfg(feature = "verify")]
pub use request::{decode_request, encode_request, encode_request_to};

/// The Ed25519 implementation of the keys this crate takes and gives ([`SigningKey`] in
/// [`sign_certificate`] and [`key_pair_pem`]), so that callers name the same version.
///
/// [`SigningKey`]: ed25519_dalek::SigningKey
#[cfg(feature = "verify")]
pub use ed25519_dalek;

#[cfg(all(test, feature = "verify"))]
mod tests;
