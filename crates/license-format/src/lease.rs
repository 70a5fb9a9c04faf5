//! Leases: what an installation signs for each granted checkout, so that an agent can go on
//! working, for a bounded time, when Tessera cannot be reached (docs/agent-api.md, "Leases").
//!
//! A lease is the certificate's envelope again (`alg`, `kid`, `payload`, `sig`): `payload` is
//! base64url (no padding) of the lease's JSON, exactly the bytes signed; `sig` the 64-byte
//! Ed25519 signature over them by the installation's own key (not the vendor's), and `kid` that
//! key's id ([`key_id`]). Anyone holding the installation's public key (PEM SubjectPublicKeyInfo,
//! given at registration) checks one with any Ed25519 library, or with OpenSSL:
//! `openssl pkeyutl -verify -pubin -inkey lease.pub -rawin -in payload -sigfile sig`.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::format::Envelope;
use crate::json::strict_object;
use crate::keys::key_id;

/// The version of the lease's JSON this crate writes and reads.
pub const LEASE_VERSION: u32 = 1;

/// What a lease says, as signed. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseClaims {
    /// [`LEASE_VERSION`].
    pub lease: u32,
    pub installation_id: String,
    pub agent_id: String,
    pub machine_id: String,
    pub tenant_id: String,
    /// The certificate held; `None` when the tenant's platform license covers unlimited agents.
    pub license_id: Option<String>,
    /// Why the agent is licensed: `unlimited_agents`, `fixed` or `floating`.
    pub basis: String,
    pub issued_at: i64,
    /// The agent may work until then without asking again; never past the license's own expiry.
    pub valid_until: i64,
}

impl LeaseClaims {
    /// Whether the lease covers `now`: issued no later than now (a clock a little behind the
    /// installation's is forgiven by `skew_ms`) and not yet ended.
    pub fn covers(&self, now: i64, skew_ms: i64) -> bool {
        self.issued_at - skew_ms <= now && now < self.valid_until
    }
}

/// Why a lease does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("the lease is not signed with ed25519 but {0:?}")]
    Algorithm(String),
    #[error("the lease is signed by key {found}, not by this installation's key {expected}")]
    OtherKey { expected: String, found: String },
    #[error("the lease is malformed: {0}")]
    Malformed(String),
    #[error("the lease's signature does not verify")]
    BadSignature,
    #[error("the lease is of version {0}, not {LEASE_VERSION}")]
    Version(u32),
}

/// Signs a lease with the installation's key.
pub fn sign_lease(key: &SigningKey, claims: &LeaseClaims) -> Envelope {
    // Serialising a struct of strings and numbers cannot fail.
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    Envelope {
        alg: "ed25519".into(),
        kid: key_id(key.verifying_key().as_bytes()),
        payload: URL_SAFE_NO_PAD.encode(&payload),
        sig: URL_SAFE_NO_PAD.encode(key.sign(&payload).to_bytes()),
    }
}

/// Checks a lease against the installation's public key and reads what it says. Whether it
/// covers the present is the caller's question ([`LeaseClaims::covers`]).
pub fn verify_lease(key: &VerifyingKey, lease: &Envelope) -> Result<LeaseClaims, LeaseError> {
    if lease.alg != "ed25519" {
        return Err(LeaseError::Algorithm(lease.alg.clone()));
    }
    let expected = key_id(key.as_bytes());
    if lease.kid != expected {
        return Err(LeaseError::OtherKey {
            expected,
            found: lease.kid.clone(),
        });
    }
    let malformed =
        |what: &str, e: &dyn std::fmt::Display| LeaseError::Malformed(format!("{what}: {e}"));
    let payload = URL_SAFE_NO_PAD
        .decode(lease.payload.trim_end_matches('='))
        .map_err(|e| malformed("`payload` is not base64url", &e))?;
    let sig = URL_SAFE_NO_PAD
        .decode(lease.sig.trim_end_matches('='))
        .map_err(|e| malformed("`sig` is not base64url", &e))?;
    // `verify_strict`, as for certificates: no weak keys, no non-canonical signatures.
    let verifies = Signature::from_slice(&sig)
        .is_ok_and(|signature| key.verify_strict(&payload, &signature).is_ok());
    if !verifies {
        return Err(LeaseError::BadSignature);
    }
    let fields = strict_object(&payload).map_err(|e| malformed("payload", &e))?;
    let version = fields
        .get("lease")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| LeaseError::Malformed("missing field `lease`".into()))?;
    if version != u64::from(LEASE_VERSION) {
        return Err(LeaseError::Version(
            u32::try_from(version).unwrap_or(u32::MAX),
        ));
    }
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| malformed("payload", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims() -> LeaseClaims {
        LeaseClaims {
            lease: LEASE_VERSION,
            installation_id: "inst".into(),
            agent_id: "agent".into(),
            machine_id: "m-1".into(),
            tenant_id: "tenant".into(),
            license_id: Some("lic".into()),
            basis: "floating".into(),
            issued_at: 1_000,
            valid_until: 301_000,
        }
    }

    #[test]
    fn a_lease_verifies_with_its_installations_key_and_says_what_was_signed() {
        let lease = sign_lease(&key(1), &claims());
        assert_eq!(verify_lease(&key(1).verifying_key(), &lease), Ok(claims()));
    }

    #[test]
    fn another_key_is_refused_even_when_the_lease_names_it() {
        let lease = sign_lease(&key(1), &claims());
        assert!(matches!(
            verify_lease(&key(2).verifying_key(), &lease),
            Err(LeaseError::OtherKey { .. })
        ));
        // A lease whose `kid` is changed to the other key's still fails: on the signature.
        let forged = Envelope {
            kid: key_id(key(2).verifying_key().as_bytes()),
            ..lease
        };
        assert_eq!(
            verify_lease(&key(2).verifying_key(), &forged),
            Err(LeaseError::BadSignature)
        );
    }

    #[test]
    fn a_changed_payload_is_refused() {
        let lease = sign_lease(&key(1), &claims());
        let longer = LeaseClaims {
            valid_until: 9_999_999,
            ..claims()
        };
        let forged = Envelope {
            payload: URL_SAFE_NO_PAD.encode(serde_json::to_vec(&longer).unwrap_or_default()),
            ..lease
        };
        assert_eq!(
            verify_lease(&key(1).verifying_key(), &forged),
            Err(LeaseError::BadSignature)
        );
    }

    #[test]
    fn another_algorithm_or_version_is_refused() {
        let lease = sign_lease(&key(1), &claims());
        let other = Envelope {
            alg: "none".into(),
            ..lease.clone()
        };
        assert_eq!(
            verify_lease(&key(1).verifying_key(), &other),
            Err(LeaseError::Algorithm("none".into()))
        );
        let future = sign_lease(
            &key(1),
            &LeaseClaims {
                lease: 2,
                ..claims()
            },
        );
        assert_eq!(
            verify_lease(&key(1).verifying_key(), &future),
            Err(LeaseError::Version(2))
        );
    }

    #[test]
    fn a_lease_covers_from_its_issue_to_its_end() {
        let c = claims();
        assert!(!c.covers(999, 0));
        assert!(c.covers(999, 5));
        assert!(c.covers(1_000, 0));
        assert!(c.covers(300_999, 0));
        assert!(!c.covers(301_000, 0));
    }
}
