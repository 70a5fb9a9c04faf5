//! Reading and checking the formats of LICENSE-FORMAT.md: armored blocks, key ids, trusted keys,
//! the verification of a package, and requests. They live in the format crate
//! (crates/license-format, feature `verify`); re-exported here so that `crate::licenses::verify`
//! paths stay.
pub use tessera_license::{
    Checks, KeyError, Limits, MAX_SEATS, MAX_VALIDITY_DAYS, TrustedKeys, VerifiedCertificate,
    armor, armored_blocks, decode_request, encode_request, encode_request_to, key_id, key_pair_pem,
    parse_date_end, parse_date_start, sha256_hex, sign_certificate, verify_package,
};
