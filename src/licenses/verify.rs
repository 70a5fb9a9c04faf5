//! Reading and checking the formats of LICENSE-FORMAT.md: armored blocks, key ids, trusted keys,
//! and the verification of a package, certificate by certificate, with the reasons of the format
//! as a typed enum. Pure functions: no I/O, no clock but the `now` they are given. Signatures are
//! checked with `verify_strict` over the exact payload bytes received, never re-serialised.
use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::format::{
    BlockRefusal, CERTIFICATE_BLOCK, Certificate, Envelope, FORMAT_VERSION, LicenseRequest,
    PackageRefusal, REQUEST_BLOCK, Refusal,
};

/// Lowercase hex of the first 8 bytes of SHA-256 over the raw public key.
pub fn key_id(public: &[u8; 32]) -> String {
    Sha256::digest(public)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn begin_line(kind: &str) -> String {
    format!("-----BEGIN TESSERA {kind}-----")
}

fn end_line(kind: &str) -> String {
    format!("-----END TESSERA {kind}-----")
}

/// The base64 body (white space removed) of every block of `kind`, in order. LF or CRLF; text
/// outside blocks is ignored. A block without its END line is still returned, so that it is
/// refused as malformed rather than silently skipped.
pub fn armored_blocks(text: &str, kind: &str) -> Vec<String> {
    let (begin, end) = (begin_line(kind), end_line(kind));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == begin {
            if let Some(open) = current.take() {
                blocks.push(open);
            }
            current = Some(String::new());
        } else if line == end {
            if let Some(body) = current.take() {
                blocks.push(body);
            }
        } else if let Some(body) = current.as_mut() {
            body.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
    }
    if let Some(open) = current {
        blocks.push(open);
    }
    blocks
}

/// One armored block: standard base64 wrapped at 64 columns.
pub fn armor(kind: &str, json: &[u8]) -> String {
    let b64 = STANDARD.encode(json);
    let mut out = begin_line(kind);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&end_line(kind));
    out.push('\n');
    out
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the file holds no \"-----BEGIN PUBLIC KEY-----\" block")]
    NoKey,
    #[error("public key {0} is not an Ed25519 SubjectPublicKeyInfo: {1}")]
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
    /// Every `PUBLIC KEY` block of a PEM text (key rotation: one or more).
    pub fn from_pem(pem: &str) -> Result<TrustedKeys, KeyError> {
        let mut keys = BTreeMap::new();
        let mut rest = pem;
        let mut n = 0;
        while let Some(start) = rest.find("-----BEGIN PUBLIC KEY-----") {
            let tail = &rest[start..];
            let Some(end) = tail.find("-----END PUBLIC KEY-----") else {
                return Err(KeyError::Unreadable(n + 1, "no END line".into()));
            };
            let block = &tail[..end + "-----END PUBLIC KEY-----".len()];
            n += 1;
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

    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn get(&self, kid: &str) -> Option<&VerifyingKey> {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_certificates: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 8 * 1024 * 1024,
            max_certificates: 20_000,
        }
    }
}

/// A certificate that passed every check, with what was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCertificate {
    /// Its block number in the package, from 1.
    pub block: usize,
    pub certificate: Certificate,
    /// The signed payload, exactly as received.
    pub payload_json: String,
    pub kid: String,
    /// The signature, base64url as received.
    pub sig: String,
}

/// `not_after`: an RFC 3339 time, or a bare date meaning the end of that day (UTC).
pub fn parse_date_end(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(day.and_hms_milli_opt(23, 59, 59, 999)?.and_utc())
}

/// `not_before`: an RFC 3339 time, or a bare date meaning the start of that day (UTC).
pub fn parse_date_start(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// A JSON object that refuses duplicate keys (serde_json would silently keep the last).
struct StrictObject(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictObject, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    let value: serde_json::Value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(StrictObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn strict_object(bytes: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    serde_json::from_slice::<StrictObject>(bytes)
        .map(|o| o.0)
        .map_err(|e| e.to_string())
}

/// The fields and types every certificate needs (reason 1, *malformed*), then what each type
/// needs and the values the format allows (reason 7, *invalid certificate*).
fn check_fields(c: &serde_json::Map<String, serde_json::Value>) -> Result<(), Refusal> {
    use serde_json::Value;
    let malformed = |detail: String| Refusal::Malformed { detail };
    let invalid = |detail: String| Refusal::InvalidCertificate { detail };
    for k in [
        "id",
        "company_id",
        "product",
        "product_name",
        "type",
        "mode",
        "issued_at",
    ] {
        match c.get(k) {
            None => return Err(malformed(format!("missing field `{k}`"))),
            Some(Value::String(_)) => {}
            Some(_) => return Err(malformed(format!("`{k}` must be a string"))),
        }
    }
    for k in ["not_before", "not_after", "tenant_id", "binding", "feature"] {
        if !matches!(c.get(k), None | Some(Value::Null | Value::String(_))) {
            return Err(malformed(format!("`{k}` must be a string or null")));
        }
    }
    match c.get("validity_days") {
        None => return Err(malformed("missing field `validity_days`".into())),
        Some(Value::Null) => {}
        Some(Value::Number(n)) => match n.as_u64() {
            Some(d) if d > 0 && d <= 100_000 => {}
            _ => {
                return Err(invalid(
                    "`validity_days` must be a positive whole number".into(),
                ));
            }
        },
        Some(_) => return Err(malformed("`validity_days` must be a number or null".into())),
    }
    if let Some(seats) = c.get("seats")
        && !matches!(seats, Value::Null | Value::Number(_))
    {
        return Err(malformed("`seats` must be a number".into()));
    }
    if !matches!(c.get("revokes"), None | Some(Value::Null | Value::Array(_))) {
        return Err(malformed("`revokes` must be an array of ids".into()));
    }
    let s = |k: &str| c.get(k).and_then(|v| v.as_str());
    let t = s("type").unwrap_or_default();
    if !matches!(
        t,
        "platform" | "platform_unlimited_agents" | "agent" | "personal" | "server"
    ) {
        return Err(invalid(format!("unknown type {t:?}")));
    }
    let mode = s("mode").unwrap_or_default();
    if !matches!(mode, "subscription" | "buyout" | "test") {
        return Err(invalid(format!("unknown mode {mode:?}")));
    }
    match t {
        "personal" => match c.get("seats").and_then(|v| v.as_u64()) {
            Some(n) if n > 0 && n <= u64::from(u32::MAX) => {}
            Some(_) => return Err(invalid("`seats` must be a positive whole number".into())),
            None => return Err(invalid("a personal license needs `seats`".into())),
        },
        "agent" => match s("binding") {
            Some("fixed" | "floating") => {}
            Some(b) => return Err(invalid(format!("unknown binding {b:?}"))),
            None => return Err(invalid("an agent license needs `binding`".into())),
        },
        "server" => match s("feature") {
            Some(f) if !f.trim().is_empty() => {}
            _ => return Err(invalid("a server license needs `feature`".into())),
        },
        _ => {}
    }
    for field in ["not_before", "not_after"] {
        if let Some(v) = s(field)
            && parse_date_end(v).is_none()
        {
            return Err(invalid(format!("`{field}` is not an RFC 3339 date")));
        }
    }
    Ok(())
}

/// Why a block is refused, with its id if it could be read.
type Refused = (Option<String>, Refusal);

/// Checks one block; the certificate and what was signed, or why it is refused.
fn verify_block(
    block: usize,
    body: &str,
    keys: &TrustedKeys,
    installation_id: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedCertificate, Refused> {
    let malformed = |detail: String| (None, Refusal::Malformed { detail });
    let raw = STANDARD
        .decode(body)
        .map_err(|e| malformed(format!("the block is not base64: {e}")))?;
    let envelope_map = strict_object(&raw).map_err(|e| malformed(format!("envelope: {e}")))?;
    let envelope: Envelope = serde_json::from_value(serde_json::Value::Object(envelope_map))
        .map_err(|e| malformed(format!("envelope: {e}")))?;
    let payload = URL_SAFE_NO_PAD
        .decode(envelope.payload.trim_end_matches('='))
        .map_err(|e| malformed(format!("`payload` is not base64url: {e}")))?;
    let sig_bytes = URL_SAFE_NO_PAD
        .decode(envelope.sig.trim_end_matches('='))
        .map_err(|e| malformed(format!("`sig` is not base64url: {e}")))?;
    // The id, if the payload is readable JSON, so that refusals can name it.
    let fields = strict_object(&payload);
    let id = fields
        .as_ref()
        .ok()
        .and_then(|m| m.get("id"))
        .and_then(|v| v.as_str())
        .map(String::from);
    let refuse = |r: Refusal| (id.clone(), r);

    if envelope.alg != "ed25519" {
        return Err(refuse(Refusal::UnsupportedAlgorithm { alg: envelope.alg }));
    }
    let Some(key) = keys.get(&envelope.kid) else {
        return Err(refuse(Refusal::UnknownKey { kid: envelope.kid }));
    };
    let signature = Signature::from_slice(&sig_bytes).map_err(|_| refuse(Refusal::BadSignature))?;
    key.verify_strict(&payload, &signature)
        .map_err(|_| refuse(Refusal::BadSignature))?;

    let fields = fields.map_err(|e| {
        refuse(Refusal::Malformed {
            detail: format!("certificate: {e}"),
        })
    })?;
    match fields.get("format").and_then(|v| v.as_u64()) {
        Some(f) if f == u64::from(FORMAT_VERSION) => {}
        Some(f) => return Err(refuse(Refusal::UnsupportedFormat { format: f })),
        None => {
            return Err(refuse(Refusal::Malformed {
                detail: "`format` is missing or not a number".into(),
            }));
        }
    }
    if fields.get("installation_id").and_then(|v| v.as_str()) != Some(installation_id) {
        if fields.get("installation_id").is_some_and(|v| v.is_string()) {
            return Err(refuse(Refusal::OtherInstallation));
        }
        return Err(refuse(Refusal::Malformed {
            detail: "`installation_id` is missing or not a string".into(),
        }));
    }
    check_fields(&fields).map_err(refuse)?;
    let certificate: Certificate = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| {
            refuse(Refusal::Malformed {
                detail: format!("certificate: {e}"),
            })
        })?;
    if let Some(na) = certificate.not_after.as_deref()
        && parse_date_end(na).is_some_and(|t| t < now)
    {
        return Err(refuse(Refusal::AlreadyExpired {
            not_after: na.to_string(),
        }));
    }
    let payload_json = String::from_utf8(payload).map_err(|_| {
        refuse(Refusal::Malformed {
            detail: "the payload is not UTF-8".into(),
        })
    })?;
    Ok(VerifiedCertificate {
        block,
        certificate,
        payload_json,
        kid: envelope.kid,
        sig: envelope.sig,
    })
}

/// Verifies a whole package: accepted whole or refused whole, every refused certificate named.
pub fn verify_package(
    bytes: &[u8],
    keys: &TrustedKeys,
    installation_id: &str,
    now: DateTime<Utc>,
    limits: &Limits,
) -> Result<Vec<VerifiedCertificate>, PackageRefusal> {
    if bytes.is_empty() {
        return Err(PackageRefusal::Empty);
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(PackageRefusal::TooLarge {
            limit_bytes: limits.max_bytes,
        });
    }
    // Count before decoding anything.
    let begin = begin_line(CERTIFICATE_BLOCK);
    let count = bytes
        .windows(begin.len())
        .filter(|w| *w == begin.as_bytes())
        .count() as u64;
    if count > limits.max_certificates {
        return Err(PackageRefusal::TooManyCertificates {
            limit: limits.max_certificates,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| PackageRefusal::NotText)?;
    let blocks = armored_blocks(text, CERTIFICATE_BLOCK);
    if blocks.is_empty() {
        return Err(PackageRefusal::NoCertificates);
    }
    if keys.is_empty() {
        return Err(PackageRefusal::NoTrustedKeys);
    }
    let mut good = Vec::with_capacity(blocks.len());
    let mut bad = Vec::new();
    let mut seen = HashSet::with_capacity(blocks.len());
    for (i, body) in blocks.iter().enumerate() {
        let block = i + 1;
        match verify_block(block, body, keys, installation_id, now) {
            Ok(verified) => {
                if !seen.insert(verified.certificate.id.clone()) {
                    bad.push(BlockRefusal {
                        block,
                        id: Some(verified.certificate.id),
                        refusal: Refusal::DuplicateInPackage,
                    });
                    continue;
                }
                good.push(verified);
            }
            Err((id, refusal)) => bad.push(BlockRefusal { block, id, refusal }),
        }
    }
    if bad.is_empty() {
        Ok(good)
    } else {
        Err(PackageRefusal::BadCertificates { blocks: bad })
    }
}

/// Signs a certificate's JSON into one armored CERTIFICATE block.
pub fn sign_certificate(key: &SigningKey, cert_json: &[u8]) -> String {
    let signature = key.sign(cert_json);
    let envelope = Envelope {
        alg: "ed25519".into(),
        kid: key_id(key.verifying_key().as_bytes()),
        payload: URL_SAFE_NO_PAD.encode(cert_json),
        sig: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    };
    // Serialising a struct of strings cannot fail.
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    armor(CERTIFICATE_BLOCK, &json)
}

#[derive(Serialize)]
struct RequestOut<'a>(&'a LicenseRequest);

/// A license request file: a comment line, then one LICENSE REQUEST block.
pub fn encode_request(request: &LicenseRequest) -> String {
    let json = serde_json::to_vec_pretty(&RequestOut(request)).unwrap_or_default();
    format!(
        "Tessera license request for installation {}.\nSend this file to your vendor.\n\n{}",
        request.installation_id,
        armor(REQUEST_BLOCK, &json)
    )
}

pub fn decode_request(text: &str) -> Result<LicenseRequest, String> {
    let blocks = armored_blocks(text, REQUEST_BLOCK);
    let body = blocks
        .first()
        .ok_or("no \"-----BEGIN TESSERA LICENSE REQUEST-----\" block")?;
    let raw = STANDARD
        .decode(body)
        .map_err(|e| format!("the block is not base64: {e}"))?;
    let request: LicenseRequest =
        serde_json::from_slice(&raw).map_err(|e| format!("the request is malformed: {e}"))?;
    if request.format != FORMAT_VERSION {
        return Err(format!("unsupported format version {}", request.format));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INSTALLATION: &str = "5f0c8f4e-1111-4222-8333-444455556666";

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn trusted(key: &SigningKey) -> TrustedKeys {
        let (_, public) = key_pair_pem(key).unwrap();
        TrustedKeys::from_pem(&public).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn cert_json(id: &str) -> serde_json::Value {
        serde_json::json!({
            "format": 1, "id": id, "installation_id": INSTALLATION, "company_id": "acme",
            "product": "ai-server", "product_name": "AI Server", "type": "agent",
            "mode": "subscription", "validity_days": 365, "not_before": null,
            "not_after": null, "binding": "floating", "tenant_id": null,
            "issued_at": "2026-11-22T00:00:00Z"
        })
    }

    fn package(key: &SigningKey, certs: &[serde_json::Value]) -> String {
        certs
            .iter()
            .map(|c| sign_certificate(key, &serde_json::to_vec(c).unwrap()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn verify(text: &str, keys: &TrustedKeys) -> Result<Vec<VerifiedCertificate>, PackageRefusal> {
        verify_package(
            text.as_bytes(),
            keys,
            INSTALLATION,
            now(),
            &Limits::default(),
        )
    }

    fn only_refusal(r: Result<Vec<VerifiedCertificate>, PackageRefusal>) -> Refusal {
        match r {
            Err(PackageRefusal::BadCertificates { blocks }) => {
                assert_eq!(blocks.len(), 1, "{blocks:?}");
                blocks[0].refusal.clone()
            }
            other => panic!("expected one refused block, got {other:?}"),
        }
    }

    #[test]
    fn the_key_id_is_the_first_eight_bytes_of_sha256() {
        let key = signing_key(7);
        let id = key_id(key.verifying_key().as_bytes());
        assert_eq!(id.len(), 16);
        assert_eq!(id, sha256_hex(key.verifying_key().as_bytes())[..16]);
        assert_eq!(trusted(&key).ids(), vec![id]);
    }

    #[test]
    fn a_good_package_verifies_with_text_around_and_crlf() {
        let key = signing_key(1);
        let text = format!(
            "Licenses for ACME\r\n{}\r\nthanks\r\n",
            package(&key, &[cert_json("a"), cert_json("b")]).replace('\n', "\r\n")
        );
        let good = verify(&text, &trusted(&key)).unwrap();
        assert_eq!(good.len(), 2);
        assert_eq!((good[0].block, good[1].block), (1, 2));
        assert_eq!(good[1].certificate.id, "b");
    }

    #[test]
    fn whole_package_refusals_come_first() {
        let key = signing_key(1);
        let keys = trusted(&key);
        assert_eq!(verify("", &keys), Err(PackageRefusal::Empty));
        assert_eq!(verify("hello", &keys), Err(PackageRefusal::NoCertificates));
        let bad_utf8 = [b'-', 0xff, 0xfe];
        assert_eq!(
            verify_package(&bad_utf8, &keys, INSTALLATION, now(), &Limits::default()),
            Err(PackageRefusal::NotText)
        );
        let limits = Limits {
            max_bytes: 10,
            max_certificates: 1,
        };
        let text = package(&key, &[cert_json("a"), cert_json("b")]);
        assert_eq!(
            verify_package(text.as_bytes(), &keys, INSTALLATION, now(), &limits),
            Err(PackageRefusal::TooLarge { limit_bytes: 10 })
        );
        let limits = Limits {
            max_bytes: 1 << 20,
            max_certificates: 1,
        };
        assert_eq!(
            verify_package(text.as_bytes(), &keys, INSTALLATION, now(), &limits),
            Err(PackageRefusal::TooManyCertificates { limit: 1 })
        );
        assert_eq!(
            verify(&text, &TrustedKeys::default()),
            Err(PackageRefusal::NoTrustedKeys)
        );
        // A byte-order mark is allowed.
        assert!(verify(&format!("\u{feff}{text}"), &keys).is_ok());
    }

    #[test]
    fn each_reason_of_the_format() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let block = |v: serde_json::Value| package(&key, &[v]);

        let not_b64 = format!(
            "{}\n!!!\n{}\n",
            begin_line(CERTIFICATE_BLOCK),
            end_line(CERTIFICATE_BLOCK)
        );
        assert!(matches!(
            only_refusal(verify(&not_b64, &keys)),
            Refusal::Malformed { .. }
        ));

        let mut missing = cert_json("m");
        missing.as_object_mut().unwrap().remove("product");
        assert!(matches!(
            only_refusal(verify(&block(missing), &keys)),
            Refusal::Malformed { .. }
        ));

        let mut mistyped = cert_json("t");
        mistyped["validity_days"] = serde_json::json!("365");
        assert!(matches!(
            only_refusal(verify(&block(mistyped), &keys)),
            Refusal::InvalidCertificate { .. } | Refusal::Malformed { .. }
        ));

        let other = signing_key(2);
        assert!(matches!(
            only_refusal(verify(&package(&other, &[cert_json("u")]), &keys)),
            Refusal::UnknownKey { .. }
        ));

        let mut v2 = cert_json("f");
        v2["format"] = serde_json::json!(2);
        assert_eq!(
            only_refusal(verify(&block(v2), &keys)),
            Refusal::UnsupportedFormat { format: 2 }
        );

        let mut foreign = cert_json("o");
        foreign["installation_id"] = serde_json::json!("another");
        assert_eq!(
            only_refusal(verify(&block(foreign), &keys)),
            Refusal::OtherInstallation
        );

        let mut bad_type = cert_json("y");
        bad_type["type"] = serde_json::json!("galaxy");
        assert!(matches!(
            only_refusal(verify(&block(bad_type), &keys)),
            Refusal::InvalidCertificate { .. }
        ));

        let mut no_seats = cert_json("s");
        no_seats["type"] = serde_json::json!("personal");
        assert!(matches!(
            only_refusal(verify(&block(no_seats), &keys)),
            Refusal::InvalidCertificate { .. }
        ));

        let mut expired = cert_json("e");
        expired["not_after"] = serde_json::json!("2026-11-21");
        assert!(matches!(
            only_refusal(verify(&block(expired), &keys)),
            Refusal::AlreadyExpired { .. }
        ));
        let mut today = cert_json("today");
        today["not_after"] = serde_json::json!("2026-11-22");
        assert!(
            verify(&block(today), &keys).is_ok(),
            "a bare date lasts to the end of its day"
        );

        let dup = package(&key, &[cert_json("d"), cert_json("d")]);
        match verify(&dup, &keys) {
            Err(PackageRefusal::BadCertificates { blocks }) => {
                assert_eq!(
                    blocks,
                    vec![BlockRefusal {
                        block: 2,
                        id: Some("d".into()),
                        refusal: Refusal::DuplicateInPackage
                    }]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsupported_algorithm_and_a_changed_payload() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let payload = serde_json::to_vec(&cert_json("x")).unwrap();
        let sig = key.sign(&payload);
        let envelope = |alg: &str, payload: &[u8]| {
            armor(
                CERTIFICATE_BLOCK,
                &serde_json::to_vec(&serde_json::json!({
                    "alg": alg, "kid": key_id(key.verifying_key().as_bytes()),
                    "payload": URL_SAFE_NO_PAD.encode(payload),
                    "sig": URL_SAFE_NO_PAD.encode(sig.to_bytes()),
                }))
                .unwrap(),
            )
        };
        assert_eq!(
            only_refusal(verify(&envelope("rs256", &payload), &keys)),
            Refusal::UnsupportedAlgorithm {
                alg: "rs256".into()
            }
        );
        let mut changed = payload.clone();
        let at = changed.len() - 3;
        changed[at] ^= 1;
        assert!(matches!(
            only_refusal(verify(&envelope("ed25519", &changed), &keys)),
            Refusal::BadSignature | Refusal::Malformed { .. }
        ));
        // Re-serialising would accept other bytes; exact bytes must be what was signed.
        let spaced = String::from_utf8(payload.clone())
            .unwrap()
            .replace(',', ", ");
        assert_eq!(
            only_refusal(verify(&envelope("ed25519", spaced.as_bytes()), &keys)),
            Refusal::BadSignature
        );
    }

    #[test]
    fn duplicate_json_keys_are_malformed() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let json = serde_json::to_string(&cert_json("k")).unwrap();
        let doubled = json.replacen(
            "\"mode\":\"subscription\"",
            "\"mode\":\"test\",\"mode\":\"subscription\"",
            1,
        );
        assert_ne!(json, doubled);
        let text = sign_certificate(&key, doubled.as_bytes());
        assert!(matches!(
            only_refusal(verify(&text, &keys)),
            Refusal::Malformed { .. }
        ));
    }

    #[test]
    fn unknown_fields_are_kept_and_ignored() {
        let key = signing_key(1);
        let mut c = cert_json("extra");
        c["vendor_note"] = serde_json::json!({"any": ["thing"]});
        let good = verify(&package(&key, &[c]), &trusted(&key)).unwrap();
        assert!(good[0].payload_json.contains("vendor_note"));
    }

    #[test]
    fn requests_round_trip() {
        let r = LicenseRequest {
            format: 1,
            installation_id: INSTALLATION.into(),
            company_id: "acme".into(),
            target_version: "8.1".into(),
            created_at: "2026-11-22T12:00:00Z".into(),
            tenants: vec![],
            usage: Default::default(),
            installed: vec!["a".into()],
        };
        assert_eq!(decode_request(&encode_request(&r)), Ok(r));
        assert!(decode_request("nothing here").is_err());
    }

    #[test]
    fn several_public_keys_in_one_file() {
        let (a, b) = (signing_key(1), signing_key(2));
        let pem = format!(
            "{}\n{}",
            key_pair_pem(&a).unwrap().1,
            key_pair_pem(&b).unwrap().1
        );
        let keys = TrustedKeys::from_pem(&pem).unwrap();
        assert_eq!(keys.ids().len(), 2);
        assert!(verify(&package(&b, &[cert_json("r")]), &keys).is_ok());
        assert_eq!(
            TrustedKeys::from_pem("nothing").unwrap_err(),
            KeyError::NoKey
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_changed_payload_byte_is_refused(at in 0usize..10_000, bit in 0u8..8) {
            let key = signing_key(3);
            let payload = serde_json::to_vec(&cert_json("p")).unwrap();
            let at = at % payload.len();
            let mut changed = payload.clone();
            changed[at] ^= 1 << bit;
            let sig = key.sign(&payload);
            let text = armor(CERTIFICATE_BLOCK, &serde_json::to_vec(&serde_json::json!({
                "alg": "ed25519", "kid": key_id(key.verifying_key().as_bytes()),
                "payload": URL_SAFE_NO_PAD.encode(&changed),
                "sig": URL_SAFE_NO_PAD.encode(sig.to_bytes()),
            })).unwrap());
            prop_assert!(verify(&text, &trusted(&key)).is_err());
        }

        #[test]
        fn any_changed_byte_of_a_signed_block_is_refused(at in 0usize..10_000) {
            let key = signing_key(4);
            let text = package(&key, &[cert_json("q")]);
            let body_start = text.find('\n').unwrap() + 1;
            let body_end = text.rfind("-----END").unwrap();
            let body: Vec<char> = text[body_start..body_end].chars().collect();
            let at = at % body.len();
            prop_assume!(!body[at].is_whitespace());
            let mut changed = body.clone();
            changed[at] = if body[at] == 'A' { 'B' } else { 'A' };
            let changed: String = changed.into_iter().collect();
            let text = format!("{}{}{}", &text[..body_start], changed, &text[body_end..]);
            prop_assert!(verify(&text, &trusted(&key)).is_err());
        }

        #[test]
        fn any_valid_certificate_round_trips(
            days in proptest::option::of(1u32..5000),
            seats in 1u32..100_000,
            t in 0usize..5,
            name in "[A-Za-z0-9 ]{1,40}",
        ) {
            let key = signing_key(5);
            let types = ["platform", "platform_unlimited_agents", "agent", "personal", "server"];
            let mut c = cert_json("rt");
            c["type"] = serde_json::json!(types[t]);
            c["validity_days"] = serde_json::json!(days);
            c["product_name"] = serde_json::json!(name);
            c["seats"] = serde_json::json!(seats);
            c["feature"] = serde_json::json!("telephony");
            let good = verify(&package(&key, &[c.clone()]), &trusted(&key)).unwrap();
            let back = serde_json::to_value(&good[0].certificate).unwrap();
            for k in ["id", "type", "validity_days", "product_name"] {
                prop_assert_eq!(&back[k], &c[k]);
            }
        }
    }
}
