//! Vendor keys (LICENSE-FORMAT.md, "Keys"): key ids, the trusted public keys read from PEM, and
//! a key pair in the PEM forms OpenSSL writes.
use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Lowercase hex of the first 8 bytes of SHA-256 over the raw public key.
pub fn key_id(public: &[u8; 32]) -> String {
    hex(&Sha256::digest(public)[..8])
}

/// Lowercase hex of the SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the file holds no \"-----BEGIN PUBLIC KEY-----\" block")]
    NoKey,
    #[error("public key {0} of the file is not an Ed25519 SubjectPublicKeyInfo: {1}")]
    Unreadable(usize, String),
    #[error("the private key is not an Ed25519 PKCS#8 key: {0}")]
    BadPrivateKey(String),
}

/// The vendor public keys this installation trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl TrustedKeys {
    /// Every `PUBLIC KEY` block of a PEM text (key rotation: one or more). A file with none, or
    /// with one that is not an Ed25519 key, is an error: an installation must not start trusting
    /// fewer keys than its administrator meant it to.
    pub fn from_pem(pem: &str) -> Result<TrustedKeys, KeyError> {
        const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
        const END: &str = "-----END PUBLIC KEY-----";
        let mut keys = BTreeMap::new();
        let mut rest = pem;
        let mut n = 0;
        while let Some(start) = rest.find(BEGIN) {
            n += 1;
            let tail = &rest[start..];
            let Some(end) = tail.find(END) else {
                return Err(KeyError::Unreadable(n, "no END line".into()));
            };
            let block = &tail[..end + END.len()];
            let key = VerifyingKey::from_public_key_pem(block)
                .map_err(|e| KeyError::Unreadable(n, e.to_string()))?;
            keys.insert(key_id(key.as_bytes()), key);
            rest = &tail[block.len()..];
        }
        if keys.is_empty() {
            return Err(KeyError::NoKey);
        }
        Ok(TrustedKeys { keys })
    }

    /// The key ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }
}

/// A vendor key pair in the PEM forms `openssl genpkey -algorithm ed25519` and
/// `openssl pkey -pubout` write: PKCS#8 v1 private (the seed only), SPKI public.
pub fn key_pair_pem(key: &SigningKey) -> Result<(String, String), KeyError> {
    // PKCS#8 v1 for Ed25519 (RFC 8410): a fixed 16-byte header, then the 32-byte seed. Older
    // OpenSSL releases refuse the v2 form that also carries the public key.
    const HEADER: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = HEADER.to_vec();
    der.extend_from_slice(key.as_bytes());
    let private = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    );
    let mut public = key
        .verifying_key()
        .to_public_key_pem(Default::default())
        .map_err(|e| KeyError::BadPrivateKey(e.to_string()))?;
    if !public.ends_with('\n') {
        public.push('\n');
    }
    Ok((private, public))
}
