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
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::format::{
    BlockRefusal, CERTIFICATE_BLOCK, Certificate, Envelope, FORMAT_VERSION, LicenseRequest,
    PackageRefusal, REQUEST_BLOCK, Refusal,
};

/// The largest `validity_days` accepted: about 270 years. Longer is what `null` (permanent) is
/// for, and a bound keeps every computed expiry a date people and databases can show.
pub const MAX_VALIDITY_DAYS: u64 = 100_000;

/// The largest `seats` accepted: what the database column (a signed 32-bit integer) holds.
pub const MAX_SEATS: u64 = i32::MAX as u64;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

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

fn begin_line(kind: &str) -> String {
    format!("-----BEGIN TESSERA {kind}-----")
}

fn end_line(kind: &str) -> String {
    format!("-----END TESSERA {kind}-----")
}

/// The base64 body (white space removed) of every block of `kind`, in order. LF or CRLF; text
/// outside blocks is ignored; a leading byte-order mark is skipped. A block without its END line
/// is still returned, so that it is refused as malformed rather than silently skipped.
///
/// Lines are trimmed of ASCII white space only, exactly as [`verify_package`] counts BEGIN lines
/// before decoding, so that the count limit cannot be slipped past with exotic spaces.
pub fn armored_blocks(text: &str, kind: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (begin, end) = (begin_line(kind), end_line(kind));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_ascii();
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

/// How many BEGIN lines of `kind` the raw bytes hold, counted without decoding anything (the
/// same lines [`armored_blocks`] would open a block at).
fn count_begin_lines(bytes: &[u8], kind: &str) -> u64 {
    let begin = begin_line(kind);
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| line.trim_ascii() == begin.as_bytes())
        .count() as u64
}

/// One armored block: standard base64 wrapped at 64 columns.
pub fn armor(kind: &str, json: &[u8]) -> String {
    let b64 = STANDARD.encode(json);
    let mut out = begin_line(kind);
    out.push('\n');
    // Base64 is ASCII, so cutting it at any byte keeps whole characters.
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&end_line(kind));
    out.push('\n');
    out
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

/// How much one package may hold; over either, it is refused before any parsing.
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
    /// The signature, base64url as received, kept so that the certificate can be re-verified.
    pub sig: String,
}

/// `not_after`: an RFC 3339 time, or a bare date (`YYYY-MM-DD`) meaning the end of that day, UTC.
pub fn parse_date_end(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    Some(
        bare_date(s)?
            .and_hms_nano_opt(23, 59, 59, 999_999_999)?
            .and_utc(),
    )
}

/// `not_before`: an RFC 3339 time, or a bare date (`YYYY-MM-DD`) meaning the start of that day,
/// UTC.
pub fn parse_date_start(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    Some(bare_date(s)?.and_hms_opt(0, 0, 0)?.and_utc())
}

/// RFC 3339's full-date: exactly four, two and two digits (chrono alone would take `2027-1-5`).
fn bare_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A JSON value that refuses duplicate object keys at any depth: serde_json would silently keep
/// the last, so two readers of the same signed bytes could disagree about what they say.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so this never turns into null.
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate field `{key}`")));
            }
            let StrictValue(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A JSON object without duplicate keys at any depth.
fn strict_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Ok(map),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A field's name, the test of its type, and that type in words.
type FieldRule = (&'static str, fn(&Value) -> bool, &'static str);

fn string_or_null(v: &Value) -> bool {
    v.is_string() || v.is_null()
}

fn number_or_null(v: &Value) -> bool {
    v.is_number() || v.is_null()
}

/// Reason 1, *malformed*, for a format 1 certificate: every field it needs is there with its
/// type (`format` itself is checked by the caller). Values are judged later (reason 7), so that
/// a certificate is refused for the first reason of the format's list that applies to it.
fn check_shape(c: &Map<String, Value>) -> Result<(), String> {
    // Required fields (those the format gives no default), with the type each must have.
    let required: [FieldRule; 11] = [
        ("id", Value::is_string, "a string"),
        ("installation_id", Value::is_string, "a string"),
        ("company_id", Value::is_string, "a string"),
        ("product", Value::is_string, "a string"),
        ("product_name", Value::is_string, "a string"),
        ("type", Value::is_string, "a string"),
        ("mode", Value::is_string, "a string"),
        ("validity_days", number_or_null, "a number or null"),
        ("not_before", string_or_null, "a date or null"),
        ("not_after", string_or_null, "a date or null"),
        ("issued_at", Value::is_string, "an RFC 3339 time"),
    ];
    for (name, fits, what) in required {
        match c.get(name) {
            None => return Err(format!("missing field `{name}`")),
            Some(v) if !fits(v) => return Err(format!("`{name}` must be {what}")),
            Some(_) => {}
        }
    }
    // Fields that may be absent: tenant_id, revokes, and those only some types need.
    let optional: [FieldRule; 5] = [
        ("seats", number_or_null, "a number"),
        ("binding", string_or_null, "a string"),
        ("feature", string_or_null, "a string"),
        ("tenant_id", string_or_null, "a string or null"),
        (
            "revokes",
            |v| v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "an array of certificate ids",
        ),
    ];
    for (name, fits, what) in optional {
        if let Some(v) = c.get(name)
            && !fits(v)
        {
            return Err(format!("`{name}` must be {what}"));
        }
    }
    if c.get("id")
        .and_then(Value::as_str)
        .is_some_and(str::is_empty)
    {
        return Err("`id` is empty".into());
    }
    let text = |k: &str| c.get(k).and_then(Value::as_str);
    if let Some(v) = text("not_before")
        && parse_date_start(v).is_none()
    {
        return Err(format!("`not_before` is not an RFC 3339 date: {v:?}"));
    }
    if let Some(v) = text("not_after")
        && parse_date_end(v).is_none()
    {
        return Err(format!("`not_after` is not an RFC 3339 date: {v:?}"));
    }
    if let Some(v) = text("issued_at")
        && DateTime::parse_from_rfc3339(v).is_err()
    {
        return Err(format!("`issued_at` is not an RFC 3339 time: {v:?}"));
    }
    Ok(())
}

/// A positive whole number no larger than `max`.
fn positive(v: &Value, max: u64) -> bool {
    v.as_u64().is_some_and(|n| (1..=max).contains(&n))
}

/// Reason 7, *invalid certificate*: the values the format allows, and what each type needs.
fn check_values(c: &Map<String, Value>) -> Result<(), String> {
    let text = |k: &str| c.get(k).and_then(Value::as_str);
    let present = |k: &str| c.get(k).filter(|v| !v.is_null());
    let license_type = text("type").unwrap_or_default();
    if !matches!(
        license_type,
        "platform" | "platform_unlimited_agents" | "agent" | "personal" | "server"
    ) {
        return Err(format!("unknown type {license_type:?}"));
    }
    let mode = text("mode").unwrap_or_default();
    if !matches!(mode, "subscription" | "buyout" | "test") {
        return Err(format!("unknown mode {mode:?}"));
    }
    if let Some(b) = text("binding")
        && !matches!(b, "fixed" | "floating")
    {
        return Err(format!("unknown binding {b:?}"));
    }
    if let Some(days) = present("validity_days")
        && !positive(days, MAX_VALIDITY_DAYS)
    {
        return Err(format!(
            "`validity_days` must be a whole number from 1 to {MAX_VALIDITY_DAYS}, or null \
             for permanent, not {days}"
        ));
    }
    if let Some(seats) = present("seats")
        && !positive(seats, MAX_SEATS)
    {
        return Err(format!(
            "`seats` must be a whole number from 1 to {MAX_SEATS}, not {seats}"
        ));
    }
    match license_type {
        "personal" if present("seats").is_none() => Err("a personal license needs `seats`".into()),
        "agent" if present("binding").is_none() => {
            Err("an agent license needs `binding` (fixed or floating)".into())
        }
        "server" if text("feature").is_none_or(|f| f.trim().is_empty()) => {
            Err("a server license needs `feature`".into())
        }
        _ => Ok(()),
    }
}

/// What one block was found to be before the package-wide duplicate check.
struct Checked {
    certificate: Certificate,
    payload_json: String,
    kid: String,
    sig: String,
}

/// Checks one block against reasons 1 to 8, in the format's order: the certificate and what was
/// signed, or why it is refused. The id comes along whenever the payload could be read, so that
/// refusals can name it and duplicates can be found among refused blocks too.
fn check_block(
    body: &str,
    keys: &TrustedKeys,
    installation_id: &str,
    now: DateTime<Utc>,
) -> (Option<String>, Result<Checked, Refusal>) {
    let malformed = |detail: String| Refusal::Malformed { detail };

    // 1. Malformed: the block, the envelope, then the certificate's fields and their types.
    let raw = match STANDARD.decode(body) {
        Ok(raw) => raw,
        Err(e) => {
            return (
                None,
                Err(malformed(format!("the block is not base64: {e}"))),
            );
        }
    };
    let envelope = match strict_object(&raw).and_then(|m| {
        serde_json::from_value::<Envelope>(Value::Object(m)).map_err(|e| e.to_string())
    }) {
        Ok(envelope) => envelope,
        Err(e) => return (None, Err(malformed(format!("envelope: {e}")))),
    };
    // Padding is not written by the format, but is tolerated: the bytes are the same.
    let payload = match URL_SAFE_NO_PAD.decode(envelope.payload.trim_end_matches('=')) {
        Ok(p) => p,
        Err(e) => {
            return (
                None,
                Err(malformed(format!("`payload` is not base64url: {e}"))),
            );
        }
    };
    let fields = match strict_object(&payload) {
        Ok(fields) => fields,
        Err(e) => return (None, Err(malformed(format!("certificate: {e}")))),
    };
    let id = fields.get("id").and_then(Value::as_str).map(String::from);
    let refuse = |r: Refusal| (id.clone(), Err(r));
    let sig_bytes = match URL_SAFE_NO_PAD.decode(envelope.sig.trim_end_matches('=')) {
        Ok(s) => s,
        Err(e) => return refuse(malformed(format!("`sig` is not base64url: {e}"))),
    };
    // The field table is format 1's: a certificate of another format is refused for that
    // (reason 5) once its signature verifies, not for lacking format 1's fields.
    let format = match fields.get("format") {
        None => return refuse(malformed("missing field `format`".into())),
        Some(v) => match v.as_u64() {
            Some(format) => format,
            None => return refuse(malformed("`format` must be a whole number".into())),
        },
    };
    if format == u64::from(FORMAT_VERSION)
        && let Err(detail) = check_shape(&fields)
    {
        return refuse(malformed(detail));
    }

    // 2. The algorithm.
    if envelope.alg != "ed25519" {
        return refuse(Refusal::UnsupportedAlgorithm { alg: envelope.alg });
    }
    // 3. The key.
    let Some(key) = keys.get(&envelope.kid) else {
        return refuse(Refusal::UnknownKey { kid: envelope.kid });
    };
    // 4. The signature, over exactly the bytes received. `verify_strict` also refuses weak keys
    // and non-canonical signatures, which plain `verify` lets through.
    let verifies = Signature::from_slice(&sig_bytes)
        .is_ok_and(|signature| key.verify_strict(&payload, &signature).is_ok());
    if !verifies {
        return refuse(Refusal::BadSignature);
    }
    // 5. The format version.
    if format != u64::from(FORMAT_VERSION) {
        return refuse(Refusal::UnsupportedFormat { format });
    }
    // 6. The installation.
    if fields.get("installation_id").and_then(Value::as_str) != Some(installation_id) {
        return refuse(Refusal::OtherInstallation);
    }
    // 7. The values and what the type needs.
    if let Err(detail) = check_values(&fields) {
        return refuse(Refusal::InvalidCertificate { detail });
    }
    // Every field was checked above, so this only fails on a bug; still no panic on input.
    let mut typed = fields;
    if typed.get("revokes").is_some_and(Value::is_null) {
        typed.remove("revokes");
    }
    let certificate: Certificate = match serde_json::from_value(Value::Object(typed)) {
        Ok(c) => c,
        Err(e) => return refuse(malformed(format!("certificate: {e}"))),
    };
    // 8. Expiry.
    if let Some(not_after) = certificate.not_after.as_deref()
        && parse_date_end(not_after).is_some_and(|t| t < now)
    {
        return refuse(Refusal::AlreadyExpired {
            not_after: not_after.to_string(),
        });
    }
    let payload_json = match String::from_utf8(payload) {
        Ok(s) => s,
        Err(_) => return refuse(malformed("the certificate is not UTF-8".into())),
    };
    (
        id,
        Ok(Checked {
            certificate,
            payload_json,
            kid: envelope.kid,
            sig: envelope.sig,
        }),
    )
}

/// Everything a package is checked against: the installation's trusted keys, its id and limits.
pub struct Checks<'a> {
    pub keys: &'a TrustedKeys,
    pub installation_id: &'a str,
    pub limits: &'a Limits,
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
    // The limits come before any parsing, so that an oversized upload costs nothing to refuse.
    if bytes.len() as u64 > limits.max_bytes {
        return Err(PackageRefusal::TooLarge {
            limit_bytes: limits.max_bytes,
        });
    }
    // The BOM first, so that the count sees exactly the text the blocks are read from (which
    // strips a BOM of its own: two BOMs once hid the first BEGIN line from the count).
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if count_begin_lines(bytes, CERTIFICATE_BLOCK) > limits.max_certificates {
        return Err(PackageRefusal::TooManyCertificates {
            limit: limits.max_certificates,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PackageRefusal::NotText)?;
    if text.trim().is_empty() {
        return Err(PackageRefusal::Empty);
    }
    let blocks = armored_blocks(text, CERTIFICATE_BLOCK);
    if blocks.is_empty() {
        return Err(PackageRefusal::NoCertificates);
    }
    if keys.is_empty() {
        return Err(PackageRefusal::NoTrustedKeys);
    }
    let mut good = Vec::with_capacity(blocks.len());
    let mut bad = Vec::new();
    // Ids of every earlier block whose payload could be read, refused or not: the same id twice
    // is a duplicate whatever else is wrong with the first.
    let mut seen = HashSet::with_capacity(blocks.len());
    for (i, body) in blocks.iter().enumerate() {
        let block = i + 1;
        let (id, checked) = check_block(body, keys, installation_id, now);
        let repeated = id.as_ref().is_some_and(|id| !seen.insert(id.clone()));
        match checked {
            // 9. The same id twice in one package: the second and later are refused.
            Ok(_) if repeated => bad.push(BlockRefusal {
                block,
                id,
                refusal: Refusal::DuplicateInPackage,
            }),
            Ok(c) => good.push(VerifiedCertificate {
                block,
                certificate: c.certificate,
                payload_json: c.payload_json,
                kid: c.kid,
                sig: c.sig,
            }),
            Err(refusal) => bad.push(BlockRefusal { block, id, refusal }),
        }
    }
    if bad.is_empty() {
        Ok(good)
    } else {
        Err(PackageRefusal::BadCertificates { blocks: bad })
    }
}

/// Signs a certificate's JSON into one armored CERTIFICATE block (envelope `{alg, kid, payload,
/// sig}`, base64url without padding). The bytes given are the bytes signed.
pub fn sign_certificate(signing_key: &SigningKey, cert_json: &[u8]) -> String {
    let signature = signing_key.sign(cert_json);
    let envelope = Envelope {
        alg: "ed25519".into(),
        kid: key_id(signing_key.verifying_key().as_bytes()),
        payload: URL_SAFE_NO_PAD.encode(cert_json),
        sig: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    };
    // Serialising a struct of strings cannot fail.
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    armor(CERTIFICATE_BLOCK, &json)
}

/// A license request file: comment lines saying what it is, then one LICENSE REQUEST block.
pub fn encode_request(request: &LicenseRequest) -> String {
    // Serialising plain strings and numbers cannot fail.
    let json = serde_json::to_vec_pretty(request).unwrap_or_default();
    format!(
        "Tessera license request for installation {}.\nSend this file to your vendor.\n\n{}",
        request.installation_id,
        armor(REQUEST_BLOCK, &json)
    )
}

/// The request of a .tlr file (its first LICENSE REQUEST block), or why it cannot be read.
pub fn decode_request(text: &str) -> Result<LicenseRequest, String> {
    let blocks = armored_blocks(text, REQUEST_BLOCK);
    let body = blocks
        .first()
        .ok_or("no \"-----BEGIN TESSERA LICENSE REQUEST-----\" block")?;
    let raw = STANDARD
        .decode(body)
        .map_err(|e| format!("the request block is not base64: {e}"))?;
    let fields = strict_object(&raw).map_err(|e| format!("the request is malformed: {e}"))?;
    let request: LicenseRequest = serde_json::from_value(Value::Object(fields))
        .map_err(|e| format!("the request is malformed: {e}"))?;
    if request.format != FORMAT_VERSION {
        return Err(format!(
            "unsupported request format version {}",
            request.format
        ));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licenses::format::{Binding, LicenseType, Mode};
    use proptest::prelude::*;
    use serde_json::json;

    const INSTALLATION: &str = "5f0c8f4e-1111-4222-8333-444455556666";

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn trusted(key: &SigningKey) -> TrustedKeys {
        let (_, public) = key_pair_pem(key).unwrap();
        TrustedKeys::from_pem(&public).unwrap()
    }

    fn kid(key: &SigningKey) -> String {
        key_id(key.verifying_key().as_bytes())
    }

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    /// A good agent certificate for [`INSTALLATION`].
    fn cert_json(id: &str) -> Value {
        json!({
            "format": 1, "id": id, "installation_id": INSTALLATION, "company_id": "acme",
            "product": "ai-server", "product_name": "AI Server", "type": "agent",
            "mode": "subscription", "validity_days": 365, "not_before": null,
            "not_after": null, "binding": "floating", "tenant_id": null,
            "issued_at": "2026-11-22T00:00:00Z"
        })
    }

    fn with(id: &str, change: impl FnOnce(&mut Map<String, Value>)) -> Value {
        let mut c = cert_json(id);
        if let Some(m) = c.as_object_mut() {
            change(m);
        }
        c
    }

    fn package(key: &SigningKey, certs: &[Value]) -> String {
        certs
            .iter()
            .map(|c| sign_certificate(key, &serde_json::to_vec(c).unwrap()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A block built by hand, so that any part of the envelope can be wrong.
    fn block_by_hand(alg: &str, kid: &str, payload: &[u8], sig: &[u8]) -> String {
        let envelope = json!({
            "alg": alg, "kid": kid,
            "payload": URL_SAFE_NO_PAD.encode(payload),
            "sig": URL_SAFE_NO_PAD.encode(sig),
        });
        armor(CERTIFICATE_BLOCK, &serde_json::to_vec(&envelope).unwrap())
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

    fn refused_blocks(r: Result<Vec<VerifiedCertificate>, PackageRefusal>) -> Vec<BlockRefusal> {
        match r {
            Err(PackageRefusal::BadCertificates { blocks }) => blocks,
            other => panic!("expected refused blocks, got {other:?}"),
        }
    }

    fn only_refusal(r: Result<Vec<VerifiedCertificate>, PackageRefusal>) -> Refusal {
        let blocks = refused_blocks(r);
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        blocks[0].refusal.clone()
    }

    /// The refusal of one certificate signed by the trusted key.
    fn refusal_of(c: Value) -> Refusal {
        let key = signing_key(1);
        only_refusal(verify(&package(&key, &[c]), &trusted(&key)))
    }

    fn is_malformed(r: &Refusal) -> bool {
        matches!(r, Refusal::Malformed { .. })
    }

    fn is_invalid(r: &Refusal) -> bool {
        matches!(r, Refusal::InvalidCertificate { .. })
    }

    // Keys.

    #[test]
    fn the_key_id_is_the_first_eight_bytes_of_sha256() {
        let key = signing_key(7);
        let id = kid(&key);
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(id, sha256_hex(key.verifying_key().as_bytes())[..16]);
        assert_eq!(trusted(&key).ids(), vec![id]);
        // SHA-256 of the empty string, a known value, proves the hex is the digest's.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn several_public_keys_in_one_file() {
        let (a, b) = (signing_key(1), signing_key(2));
        let pem = format!(
            "vendor keys, old and new\n{}\n{}",
            key_pair_pem(&a).unwrap().1,
            key_pair_pem(&b).unwrap().1
        );
        let keys = TrustedKeys::from_pem(&pem).unwrap();
        let mut ids = vec![kid(&a), kid(&b)];
        ids.sort();
        assert_eq!(keys.ids(), ids);
        assert!(!keys.is_empty());
        assert!(verify(&package(&a, &[cert_json("ra")]), &keys).is_ok());
        assert!(verify(&package(&b, &[cert_json("rb")]), &keys).is_ok());
    }

    #[test]
    fn a_key_file_without_a_readable_key_is_an_error() {
        assert_eq!(TrustedKeys::from_pem("").unwrap_err(), KeyError::NoKey);
        // A private key is not a public one.
        let (private, public) = key_pair_pem(&signing_key(1)).unwrap();
        assert_eq!(
            TrustedKeys::from_pem(&private).unwrap_err(),
            KeyError::NoKey
        );
        let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(
            TrustedKeys::from_pem(&format!("{public}{garbage}")),
            Err(KeyError::Unreadable(2, _))
        ));
        assert!(matches!(
            TrustedKeys::from_pem("-----BEGIN PUBLIC KEY-----\nMCow"),
            Err(KeyError::Unreadable(1, _))
        ));
        assert!(TrustedKeys::default().is_empty());
    }

    #[test]
    fn the_key_pair_is_pkcs8_and_spki() {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let key = signing_key(9);
        let (private, public) = key_pair_pem(&key).unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let back = SigningKey::from_pkcs8_pem(&private).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        assert_eq!(
            TrustedKeys::from_pem(&public).unwrap().ids(),
            vec![kid(&key)]
        );
    }

    // Armor.

    #[test]
    fn armored_blocks_take_lf_crlf_spaces_and_ignore_the_rest() {
        let text = "comment\r\n-----BEGIN TESSERA CERTIFICATE-----\r\n  QUJD\r\nREVG \r\n\
                    -----END TESSERA CERTIFICATE-----\r\nbetween\n\
                    -----BEGIN TESSERA LICENSE REQUEST-----\nWFla\n\
                    -----END TESSERA LICENSE REQUEST-----\n\
                    -----BEGIN TESSERA CERTIFICATE-----\nR0hJ\n-----END TESSERA CERTIFICATE-----";
        assert_eq!(
            armored_blocks(text, CERTIFICATE_BLOCK),
            vec!["QUJDREVG", "R0hJ"]
        );
        assert_eq!(armored_blocks(text, REQUEST_BLOCK), vec!["WFla"]);
        // An unterminated block is still a block, to be refused rather than skipped.
        assert_eq!(
            armored_blocks(
                "\u{feff}-----BEGIN TESSERA CERTIFICATE-----\nQUJD",
                CERTIFICATE_BLOCK
            ),
            vec!["QUJD"]
        );
        assert!(armored_blocks("no blocks", CERTIFICATE_BLOCK).is_empty());
    }

    #[test]
    fn armor_wraps_at_64_columns_and_reads_back() {
        let json = vec![b'x'; 200];
        let text = armor(CERTIFICATE_BLOCK, &json);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN TESSERA CERTIFICATE-----");
        assert_eq!(lines[lines.len() - 1], "-----END TESSERA CERTIFICATE-----");
        assert!(lines[1..lines.len() - 1].iter().all(|l| l.len() <= 64));
        assert_eq!(lines[1].len(), 64);
        let body = &armored_blocks(&text, CERTIFICATE_BLOCK)[0];
        assert_eq!(STANDARD.decode(body).unwrap(), json);
    }

    // Whole packages.

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
        assert_eq!(good[1].certificate.binding, Some(Binding::Floating));
        assert_eq!(good[0].kid, kid(&key));
        assert_eq!(
            good[0].payload_json.as_bytes(),
            serde_json::to_vec(&cert_json("a")).unwrap()
        );
    }

    #[test]
    fn whole_package_refusals_come_first_in_order() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let text = package(&key, &[cert_json("a"), cert_json("b")]);
        let check = |bytes: &[u8], keys: &TrustedKeys, limits: &Limits| {
            verify_package(bytes, keys, INSTALLATION, now(), limits)
        };
        let limits = Limits::default();
        assert_eq!(check(b"", &keys, &limits), Err(PackageRefusal::Empty));
        assert_eq!(
            check(b" \r\n\t", &keys, &limits),
            Err(PackageRefusal::Empty)
        );
        assert_eq!(check(UTF8_BOM, &keys, &limits), Err(PackageRefusal::Empty));
        assert_eq!(
            check(b"hello", &keys, &limits),
            Err(PackageRefusal::NoCertificates)
        );
        assert_eq!(
            check(&[b'-', 0xff, 0xfe], &keys, &limits),
            Err(PackageRefusal::NotText)
        );
        // Too large before anything else, even before a file that is not text is noticed.
        let small = Limits {
            max_bytes: 10,
            max_certificates: 1,
        };
        assert_eq!(
            check(&[0xff; 11], &keys, &small),
            Err(PackageRefusal::TooLarge { limit_bytes: 10 })
        );
        assert_eq!(
            check(&[0xff; 10], &keys, &small),
            Err(PackageRefusal::NotText)
        );
        // Too many counted from the BEGIN lines alone, before decoding: bodies may be anything,
        // the rest of the file need not even be text.
        let one = Limits {
            max_bytes: 1 << 20,
            max_certificates: 1,
        };
        assert_eq!(
            check(text.as_bytes(), &keys, &one),
            Err(PackageRefusal::TooManyCertificates { limit: 1 })
        );
        // Two BOMs (the fuzzer's find): every BEGIN line after them is counted.
        let mut two_boms = [UTF8_BOM, UTF8_BOM].concat();
        two_boms.extend_from_slice(text.as_bytes());
        assert_eq!(
            check(&two_boms, &keys, &one),
            Err(PackageRefusal::TooManyCertificates { limit: 1 })
        );
        let mut junk = b"-----BEGIN TESSERA CERTIFICATE-----\r\n\xff\n  -----BEGIN TESSERA CERTIFICATE-----  \n".to_vec();
        junk.push(0xfe);
        assert_eq!(
            check(&junk, &keys, &one),
            Err(PackageRefusal::TooManyCertificates { limit: 1 })
        );
        // Exactly at the limits is fine.
        let exact = Limits {
            max_bytes: text.len() as u64,
            max_certificates: 2,
        };
        assert!(check(text.as_bytes(), &keys, &exact).is_ok());
        assert_eq!(
            check(text.as_bytes(), &TrustedKeys::default(), &limits),
            Err(PackageRefusal::NoTrustedKeys)
        );
        // A byte-order mark is allowed.
        assert!(verify(&format!("\u{feff}{text}"), &keys).is_ok());
    }

    #[test]
    fn every_refused_block_is_named_with_its_id() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let text = [
            package(&key, &[cert_json("good-1")]),
            package(
                &key,
                &[with("mode-x", |c| {
                    c.insert("mode".into(), json!("forever"));
                })],
            ),
            "-----BEGIN TESSERA CERTIFICATE-----\n%%%\n-----END TESSERA CERTIFICATE-----\n"
                .to_string(),
            package(&key, &[cert_json("good-2")]),
            package(&signing_key(2), &[cert_json("stranger")]),
        ]
        .join("\n");
        let blocks = refused_blocks(verify(&text, &keys));
        let named: Vec<(usize, Option<&str>)> =
            blocks.iter().map(|b| (b.block, b.id.as_deref())).collect();
        assert_eq!(
            named,
            vec![(2, Some("mode-x")), (3, None), (5, Some("stranger"))]
        );
        assert!(is_invalid(&blocks[0].refusal));
        assert!(is_malformed(&blocks[1].refusal));
        assert_eq!(
            blocks[2].refusal,
            Refusal::UnknownKey {
                kid: kid(&signing_key(2))
            }
        );
    }

    // Reason 1: malformed.

    #[test]
    fn malformed_blocks_and_envelopes() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let payload = serde_json::to_vec(&cert_json("m")).unwrap();
        let sig = key.sign(&payload).to_bytes();
        let armored = |json: &str| armor(CERTIFICATE_BLOCK, json.as_bytes());
        let cases = [
            "-----BEGIN TESSERA CERTIFICATE-----\n!!!\n-----END TESSERA CERTIFICATE-----\n"
                .to_string(),
            // Standard base64 without its padding is not standard base64.
            "-----BEGIN TESSERA CERTIFICATE-----\nQUI\n-----END TESSERA CERTIFICATE-----\n"
                .to_string(),
            armored("not json"),
            armored("[1, 2]"),
            armored(r#"{"alg": "ed25519", "kid": "x", "payload": "e30"}"#),
            armored(r#"{"alg": "ed25519", "kid": 7, "payload": "e30", "sig": "AA"}"#),
            armored(&format!(
                r#"{{"alg":"ed25519","kid":"{}","payload":"not base64url!","sig":"AA"}}"#,
                kid(&key)
            )),
            armored(&format!(
                r#"{{"alg":"ed25519","kid":"{}","payload":"{}","sig":"***"}}"#,
                kid(&key),
                URL_SAFE_NO_PAD.encode(&payload)
            )),
            // The same envelope field twice.
            armored(&format!(
                r#"{{"alg":"ed25519","alg":"ed25519","kid":"{}","payload":"{}","sig":"{}"}}"#,
                kid(&key),
                URL_SAFE_NO_PAD.encode(&payload),
                URL_SAFE_NO_PAD.encode(sig)
            )),
            block_by_hand("ed25519", &kid(&key), b"not json", &sig),
            block_by_hand("ed25519", &kid(&key), b"[\"an\", \"array\"]", &sig),
            block_by_hand(
                "ed25519",
                &kid(&key),
                &[&payload[..], b" trailing"].concat(),
                &sig,
            ),
        ];
        for (i, text) in cases.iter().enumerate() {
            let r = only_refusal(verify(text, &keys));
            assert!(is_malformed(&r), "case {i}: {r:?}");
        }
    }

    #[test]
    fn a_missing_or_mistyped_field_is_malformed() {
        let required = [
            "format",
            "id",
            "installation_id",
            "company_id",
            "product",
            "product_name",
            "type",
            "mode",
            "validity_days",
            "not_before",
            "not_after",
            "issued_at",
        ];
        for field in required {
            let r = refusal_of(with("m", |c| {
                c.remove(field);
            }));
            assert!(is_malformed(&r), "without {field}: {r:?}");
        }
        let mistyped = [
            ("format", json!("1")),
            ("format", json!(1.5)),
            ("id", json!(42)),
            ("id", json!("")),
            ("installation_id", json!(null)),
            ("company_id", json!(["acme"])),
            ("product", json!(null)),
            ("product_name", json!(true)),
            ("type", json!(1)),
            ("mode", json!(null)),
            ("validity_days", json!("365")),
            ("not_before", json!(20270101)),
            ("not_before", json!("next monday")),
            ("not_after", json!("2027-1-5")),
            ("issued_at", json!("yesterday")),
            ("issued_at", json!(null)),
            ("seats", json!("5")),
            ("binding", json!(1)),
            ("feature", json!(["telephony"])),
            ("tenant_id", json!(5)),
            ("revokes", json!("abc")),
            ("revokes", json!([1, 2])),
        ];
        for (field, value) in mistyped {
            let r = refusal_of(with("m", |c| {
                c.insert(field.into(), value.clone());
            }));
            assert!(is_malformed(&r), "{field} = {value}: {r:?}");
        }
    }

    #[test]
    fn duplicate_json_keys_are_malformed_at_any_depth() {
        let json = serde_json::to_string(&cert_json("k")).unwrap();
        for doubled in [
            json.replacen(
                "\"mode\":\"subscription\"",
                "\"mode\":\"test\",\"mode\":\"subscription\"",
                1,
            ),
            json.replacen("{", "{\"note\":{\"a\":1,\"a\":2},", 1),
            json.replacen("{", "{\"notes\":[{\"b\":1,\"b\":1}],", 1),
        ] {
            assert_ne!(json, doubled);
            let key = signing_key(1);
            let r = only_refusal(verify(
                &sign_certificate(&key, doubled.as_bytes()),
                &trusted(&key),
            ));
            assert!(is_malformed(&r), "{doubled}: {r:?}");
        }
    }

    // Reasons 2 to 4: algorithm, key, signature.

    #[test]
    fn an_unsupported_algorithm_is_refused() {
        let key = signing_key(1);
        let payload = serde_json::to_vec(&cert_json("x")).unwrap();
        let sig = key.sign(&payload).to_bytes();
        for alg in ["rs256", "Ed25519", "none", ""] {
            assert_eq!(
                only_refusal(verify(
                    &block_by_hand(alg, &kid(&key), &payload, &sig),
                    &trusted(&key)
                )),
                Refusal::UnsupportedAlgorithm { alg: alg.into() }
            );
        }
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let (trusted_key, other) = (signing_key(1), signing_key(2));
        assert_eq!(
            only_refusal(verify(
                &package(&other, &[cert_json("u")]),
                &trusted(&trusted_key)
            )),
            Refusal::UnknownKey { kid: kid(&other) }
        );
        // A trusted key's id on another key's signature verifies nothing either.
        let payload = serde_json::to_vec(&cert_json("u")).unwrap();
        let forged = block_by_hand(
            "ed25519",
            &kid(&trusted_key),
            &payload,
            &other.sign(&payload).to_bytes(),
        );
        assert_eq!(
            only_refusal(verify(&forged, &trusted(&trusted_key))),
            Refusal::BadSignature
        );
    }

    #[test]
    fn a_signature_over_other_bytes_is_refused() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let payload = serde_json::to_vec(&cert_json("x")).unwrap();
        let sig = key.sign(&payload).to_bytes();
        let id = kid(&key);
        // Re-serialising would accept other bytes; the exact bytes must be what was signed.
        let spaced = String::from_utf8(payload.clone())
            .unwrap()
            .replace(',', ", ");
        assert_eq!(
            only_refusal(verify(
                &block_by_hand("ed25519", &id, spaced.as_bytes(), &sig),
                &keys
            )),
            Refusal::BadSignature
        );
        let other = serde_json::to_vec(&cert_json("y")).unwrap();
        assert_eq!(
            only_refusal(verify(&block_by_hand("ed25519", &id, &other, &sig), &keys)),
            Refusal::BadSignature
        );
        for short in [&sig[..63], &[][..], &[sig.as_slice(), &[0]].concat()[..]] {
            assert_eq!(
                only_refusal(verify(
                    &block_by_hand("ed25519", &id, &payload, short),
                    &keys
                )),
                Refusal::BadSignature
            );
        }
        // Padding on the base64url fields is tolerated: the bytes are the same.
        let padded = armor(
            CERTIFICATE_BLOCK,
            &serde_json::to_vec(&json!({
                "alg": "ed25519", "kid": id,
                "payload": base64::engine::general_purpose::URL_SAFE.encode(&payload),
                "sig": base64::engine::general_purpose::URL_SAFE.encode(sig),
            }))
            .unwrap(),
        );
        assert!(verify(&padded, &keys).is_ok());
    }

    // Reasons 5 to 9.

    #[test]
    fn another_format_version_is_refused_as_such() {
        assert_eq!(
            refusal_of(with("f", |c| {
                c.insert("format".into(), json!(2));
            })),
            Refusal::UnsupportedFormat { format: 2 }
        );
        // Format 1's field table does not apply to another format.
        assert_eq!(
            refusal_of(json!({"format": 2, "id": "f2", "whatever": true})),
            Refusal::UnsupportedFormat { format: 2 }
        );
        assert_eq!(
            refusal_of(with("f", |c| {
                c.insert("format".into(), json!(0));
            })),
            Refusal::UnsupportedFormat { format: 0 }
        );
    }

    #[test]
    fn a_certificate_for_another_installation_is_refused() {
        assert_eq!(
            refusal_of(with("o", |c| {
                c.insert("installation_id".into(), json!("another"));
            })),
            Refusal::OtherInstallation
        );
    }

    #[test]
    fn invalid_values_and_missing_type_fields() {
        let cases: Vec<(&str, Value)> = vec![
            (
                "unknown type",
                with("i", |c| {
                    c.insert("type".into(), json!("galaxy"));
                }),
            ),
            (
                "unknown mode",
                with("i", |c| {
                    c.insert("mode".into(), json!("forever"));
                }),
            ),
            (
                "unknown binding",
                with("i", |c| {
                    c.insert("binding".into(), json!("sideways"));
                }),
            ),
            (
                "unknown binding on a platform",
                with("i", |c| {
                    c.insert("type".into(), json!("platform"));
                    c.insert("binding".into(), json!("sideways"));
                }),
            ),
            (
                "agent without binding",
                with("i", |c| {
                    c.remove("binding");
                }),
            ),
            (
                "agent with a null binding",
                with("i", |c| {
                    c.insert("binding".into(), Value::Null);
                }),
            ),
            (
                "personal without seats",
                with("i", |c| {
                    c.insert("type".into(), json!("personal"));
                }),
            ),
            (
                "personal with no seats",
                with("i", |c| {
                    c.insert("type".into(), json!("personal"));
                    c.insert("seats".into(), json!(0));
                }),
            ),
            (
                "personal with negative seats",
                with("i", |c| {
                    c.insert("type".into(), json!("personal"));
                    c.insert("seats".into(), json!(-3));
                }),
            ),
            (
                "personal with too many seats",
                with("i", |c| {
                    c.insert("type".into(), json!("personal"));
                    c.insert("seats".into(), json!(MAX_SEATS + 1));
                }),
            ),
            (
                "seats 0 on an agent",
                with("i", |c| {
                    c.insert("seats".into(), json!(0));
                }),
            ),
            (
                "server without feature",
                with("i", |c| {
                    c.insert("type".into(), json!("server"));
                }),
            ),
            (
                "server with an empty feature",
                with("i", |c| {
                    c.insert("type".into(), json!("server"));
                    c.insert("feature".into(), json!("  "));
                }),
            ),
            (
                "no days",
                with("i", |c| {
                    c.insert("validity_days".into(), json!(0));
                }),
            ),
            (
                "negative days",
                with("i", |c| {
                    c.insert("validity_days".into(), json!(-30));
                }),
            ),
            (
                "fractional days",
                with("i", |c| {
                    c.insert("validity_days".into(), json!(1.5));
                }),
            ),
            (
                "too many days",
                with("i", |c| {
                    c.insert("validity_days".into(), json!(MAX_VALIDITY_DAYS + 1));
                }),
            ),
        ];
        for (what, c) in cases {
            let r = refusal_of(c);
            assert!(is_invalid(&r), "{what}: {r:?}");
        }
    }

    #[test]
    fn each_type_with_what_it_needs_is_accepted() {
        let key = signing_key(1);
        let certs = vec![
            with("platform", |c| {
                c.insert("type".into(), json!("platform"));
                c.remove("binding");
                c.insert("tenant_id".into(), json!("t-1"));
            }),
            with("unlimited", |c| {
                c.insert("type".into(), json!("platform_unlimited_agents"));
                c.insert("mode".into(), json!("buyout"));
                c.insert("validity_days".into(), Value::Null);
            }),
            with("agent", |c| {
                c.insert("binding".into(), json!("fixed"));
                c.insert("mode".into(), json!("test"));
            }),
            with("personal", |c| {
                c.insert("type".into(), json!("personal"));
                c.insert("seats".into(), json!(25));
                c.insert("validity_days".into(), json!(MAX_VALIDITY_DAYS));
            }),
            with("server", |c| {
                c.insert("type".into(), json!("server"));
                c.insert("feature".into(), json!("telephony"));
                c.insert("not_before".into(), json!("2027-01-01"));
                c.insert("not_after".into(), json!("2028-01-01T00:00:00+03:00"));
                c.insert("revokes".into(), json!(["old-1", "old-2"]));
            }),
            // `revokes: null` and an absent `tenant_id` are the same as their absence.
            with("nulls", |c| {
                c.insert("revokes".into(), Value::Null);
                c.remove("tenant_id");
            }),
        ];
        let good = verify(&package(&key, &certs), &trusted(&key)).unwrap();
        let types: Vec<LicenseType> = good.iter().map(|v| v.certificate.license_type).collect();
        assert_eq!(
            types,
            vec![
                LicenseType::Platform,
                LicenseType::PlatformUnlimitedAgents,
                LicenseType::Agent,
                LicenseType::Personal,
                LicenseType::Server,
                LicenseType::Agent
            ]
        );
        assert_eq!(good[0].certificate.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(good[1].certificate.validity_days, None);
        assert_eq!(good[1].certificate.mode, Mode::Buyout);
        assert_eq!(good[3].certificate.seats, Some(25));
        assert_eq!(good[4].certificate.feature.as_deref(), Some("telephony"));
        assert_eq!(good[4].certificate.revokes, vec!["old-1", "old-2"]);
        assert!(good[5].certificate.revokes.is_empty());
    }

    #[test]
    fn a_past_not_after_is_already_expired() {
        for past in [
            "2026-11-21",
            "2026-11-22T11:59:59Z",
            "2026-11-22T13:00:00+02:00",
        ] {
            assert_eq!(
                refusal_of(with("e", |c| {
                    c.insert("not_after".into(), json!(past));
                })),
                Refusal::AlreadyExpired {
                    not_after: past.into()
                },
                "{past}"
            );
        }
        let key = signing_key(1);
        for still in ["2026-11-22", "2026-11-22T12:00:00Z", "2099-01-01"] {
            let c = with("today", |c| {
                c.insert("not_after".into(), json!(still));
            });
            assert!(
                verify(&package(&key, &[c]), &trusted(&key)).is_ok(),
                "{still}: a bare date lasts to the end of its day"
            );
        }
    }

    #[test]
    fn the_same_id_twice_is_a_duplicate_from_the_second_on() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let d = cert_json("d");
        let text = package(&key, &[d.clone(), cert_json("e"), d.clone(), d]);
        let blocks = refused_blocks(verify(&text, &keys));
        assert_eq!(
            blocks,
            [3, 4]
                .map(|block| BlockRefusal {
                    block,
                    id: Some("d".into()),
                    refusal: Refusal::DuplicateInPackage
                })
                .to_vec()
        );
        // The first of the two refused for something else: the second is still a duplicate.
        let text = [
            package(
                &key,
                &[with("d", |c| {
                    c.insert("installation_id".into(), json!("another"));
                })],
            ),
            package(&key, &[cert_json("d")]),
        ]
        .join("\n");
        let reasons: Vec<Refusal> = refused_blocks(verify(&text, &keys))
            .into_iter()
            .map(|b| b.refusal)
            .collect();
        assert_eq!(
            reasons,
            vec![Refusal::OtherInstallation, Refusal::DuplicateInPackage]
        );
    }

    /// What a refusal must be.
    type Expected = fn(&Refusal) -> bool;

    #[test]
    fn the_first_reason_of_the_format_list_wins() {
        let key = signing_key(1);
        let keys = trusted(&key);
        let c = cert_json("w");
        let payload = serde_json::to_vec(&c).unwrap();
        let sig = key.sign(&payload).to_bytes();
        let bad_sig = [0u8; 64];
        let foreign_expired = with("w", |c| {
            c.insert("installation_id".into(), json!("another"));
            c.insert("not_after".into(), json!("2020-01-01"));
            c.insert("type".into(), json!("galaxy"));
        });
        let cases: Vec<(String, Expected)> = vec![
            // 1 before 2: a missing field with a foreign algorithm.
            (
                block_by_hand(
                    "rs256",
                    &kid(&key),
                    &serde_json::to_vec(&with("w", |c| {
                        c.remove("product");
                    }))
                    .unwrap(),
                    &sig,
                ),
                is_malformed,
            ),
            // 2 before 3.
            (block_by_hand("rs256", "0000", &payload, &sig), |r| {
                matches!(r, Refusal::UnsupportedAlgorithm { .. })
            }),
            // 3 before 4.
            (block_by_hand("ed25519", "0000", &payload, &bad_sig), |r| {
                matches!(r, Refusal::UnknownKey { .. })
            }),
            // 4 before 5.
            (
                block_by_hand(
                    "ed25519",
                    &kid(&key),
                    &serde_json::to_vec(&with("w", |c| {
                        c.insert("format".into(), json!(2));
                    }))
                    .unwrap(),
                    &sig,
                ),
                |r| *r == Refusal::BadSignature,
            ),
            // 5 before 6.
            (
                package(
                    &key,
                    &[with("w", |c| {
                        c.insert("format".into(), json!(2));
                        c.insert("installation_id".into(), json!("another"));
                    })],
                ),
                |r| *r == Refusal::UnsupportedFormat { format: 2 },
            ),
            // 6 before 7 and 8.
            (package(&key, &[foreign_expired]), |r| {
                *r == Refusal::OtherInstallation
            }),
            // 7 before 8.
            (
                package(
                    &key,
                    &[with("w", |c| {
                        c.insert("not_after".into(), json!("2020-01-01"));
                        c.insert("mode".into(), json!("forever"));
                    })],
                ),
                is_invalid,
            ),
        ];
        for (i, (text, expected)) in cases.into_iter().enumerate() {
            let r = only_refusal(verify(&text, &keys));
            assert!(expected(&r), "case {i}: {r:?}");
        }
        // 8 before 9: an expired second copy is refused as expired.
        let expired = with("w", |c| {
            c.insert("not_after".into(), json!("2020-01-01"));
        });
        let reasons: Vec<Refusal> =
            refused_blocks(verify(&package(&key, &[expired.clone(), expired]), &keys))
                .into_iter()
                .map(|b| b.refusal)
                .collect();
        assert!(
            reasons
                .iter()
                .all(|r| matches!(r, Refusal::AlreadyExpired { .. })),
            "{reasons:?}"
        );
    }

    #[test]
    fn unknown_fields_are_kept_and_ignored() {
        let key = signing_key(1);
        let c = with("extra", |c| {
            c.insert("vendor_note".into(), json!({"any": ["thing"]}));
        });
        let good = verify(&package(&key, &[c]), &trusted(&key)).unwrap();
        assert!(good[0].payload_json.contains("vendor_note"));
        assert_eq!(good[0].certificate.id, "extra");
    }

    // Dates and requests.

    #[test]
    fn bare_dates_are_whole_days_in_utc() {
        let end = parse_date_end("2027-11-23").unwrap();
        assert_eq!(
            end.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2027-11-23T23:59:59.999999999Z"
        );
        let start = parse_date_start("2027-11-23").unwrap();
        assert_eq!(start.to_rfc3339(), "2027-11-23T00:00:00+00:00");
        let t = "2027-11-23T10:00:00+02:00";
        assert_eq!(parse_date_end(t), parse_date_start(t));
        assert_eq!(
            parse_date_end(t).unwrap().to_rfc3339(),
            "2027-11-23T08:00:00+00:00"
        );
        for bad in [
            "2027-1-5",
            "2027-02-30",
            "27-11-23",
            "tomorrow",
            "",
            "2027-11-23 ",
        ] {
            assert_eq!(parse_date_end(bad), None, "{bad:?}");
            assert_eq!(parse_date_start(bad), None, "{bad:?}");
        }
    }

    fn request() -> LicenseRequest {
        LicenseRequest {
            format: 1,
            installation_id: INSTALLATION.into(),
            company_id: "acme".into(),
            target_version: "8.1".into(),
            created_at: "2026-11-22T12:00:00Z".into(),
            tenants: vec![crate::licenses::format::RequestTenant {
                id: "t-1".into(),
                name: "Tenant «one»".into(),
                platform_expires: Some("2027-01-01".into()),
            }],
            usage: crate::licenses::format::Usage {
                agents_registered: 3,
                agents_licensed: 2,
                users_total: 10,
                users_licensed: 5,
            },
            installed: vec!["a".into()],
        }
    }

    #[test]
    fn requests_round_trip() {
        let r = request();
        let text = encode_request(&r);
        assert!(text.starts_with("Tessera license request for installation "));
        assert_eq!(armored_blocks(&text, REQUEST_BLOCK).len(), 1);
        assert_eq!(decode_request(&text), Ok(r.clone()));
        assert_eq!(
            decode_request(&format!("\u{feff}{}", text.replace('\n', "\r\n"))),
            Ok(r)
        );
    }

    #[test]
    fn unreadable_requests_say_why() {
        assert!(
            decode_request("nothing here")
                .unwrap_err()
                .contains("no \"")
        );
        let armored = |json: &str| armor(REQUEST_BLOCK, json.as_bytes());
        assert!(
            decode_request(&armored("{}"))
                .unwrap_err()
                .contains("malformed")
        );
        let mut v = serde_json::to_value(request()).unwrap();
        v["format"] = json!(2);
        assert!(
            decode_request(&armored(&v.to_string()))
                .unwrap_err()
                .contains("version 2")
        );
        let json = serde_json::to_string(&request()).unwrap();
        let doubled = json.replacen("{", "{\"company_id\":\"evil\",", 1);
        assert!(
            decode_request(&armored(&doubled))
                .unwrap_err()
                .contains("duplicate")
        );
    }

    // Properties.

    fn date() -> impl Strategy<Value = String> {
        (2027i32..2100, 1u32..=12, 1u32..=28, any::<bool>()).prop_map(|(y, m, d, bare)| {
            if bare {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02}T10:20:30+02:00")
            }
        })
    }

    prop_compose! {
        fn certificate()(
            id in "[0-9a-f]{8}-[0-9a-f]{4}",
            company_id in "\\PC{0,20}",
            product in "[a-z-]{1,16}",
            product_name in "\\PC{0,40}",
            license_type in proptest::sample::select(LicenseType::ALL.to_vec()),
            mode in proptest::sample::select(Mode::ALL.to_vec()),
            validity_days in proptest::option::of(1u32..=MAX_VALIDITY_DAYS as u32),
            not_before in proptest::option::of(date()),
            not_after in proptest::option::of(date()),
            seats in 1u32..=i32::MAX as u32,
            fixed in any::<bool>(),
            feature in "[a-z]{1,12}",
            tenant_id in proptest::option::of("[a-z0-9-]{1,12}"),
            revokes in proptest::collection::vec("[0-9a-f]{8}", 0..3),
        ) -> Certificate {
            Certificate {
                format: 1,
                id,
                installation_id: INSTALLATION.into(),
                company_id,
                product,
                product_name,
                license_type,
                mode,
                validity_days,
                not_before,
                not_after,
                seats: (license_type == LicenseType::Personal).then_some(seats),
                binding: (license_type == LicenseType::Agent)
                    .then_some(if fixed { Binding::Fixed } else { Binding::Floating }),
                feature: (license_type == LicenseType::Server).then_some(feature),
                tenant_id,
                issued_at: "2026-11-22T10:00:00Z".into(),
                revokes,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_valid_certificate_round_trips(cert in certificate()) {
            let key = signing_key(5);
            let json = serde_json::to_vec(&cert).unwrap();
            let good = verify(&sign_certificate(&key, &json), &trusted(&key)).unwrap();
            prop_assert_eq!(good.len(), 1);
            prop_assert_eq!(&good[0].certificate, &cert);
            prop_assert_eq!(good[0].payload_json.as_bytes(), &json[..]);
        }

        #[test]
        fn any_changed_payload_byte_is_refused(at in any::<prop::sample::Index>(), new in any::<u8>()) {
            let key = signing_key(3);
            let payload = serde_json::to_vec(&cert_json("p")).unwrap();
            let sig = key.sign(&payload).to_bytes();
            let at = at.index(payload.len());
            prop_assume!(payload[at] != new);
            let mut changed = payload.clone();
            changed[at] = new;
            let r = only_refusal(verify(
                &block_by_hand("ed25519", &kid(&key), &changed, &sig),
                &trusted(&key),
            ));
            prop_assert!(r == Refusal::BadSignature || is_malformed(&r), "{:?}", r);
        }

        #[test]
        fn any_changed_character_of_a_signed_block_is_refused(at in any::<prop::sample::Index>()) {
            let key = signing_key(4);
            let text = package(&key, &[cert_json("q")]);
            let body_start = text.find('\n').unwrap() + 1;
            let body_end = text.rfind("-----END").unwrap();
            let mut body: Vec<char> = text[body_start..body_end].chars().collect();
            let at = at.index(body.len());
            prop_assume!(!body[at].is_whitespace());
            body[at] = if body[at] == 'A' { 'B' } else { 'A' };
            let body: String = body.into_iter().collect();
            let text = format!("{}{}{}", &text[..body_start], body, &text[body_end..]);
            prop_assert!(verify(&text, &trusted(&key)).is_err());
        }

        #[test]
        fn no_input_makes_verification_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let key = signing_key(6);
            let mut text = b"-----BEGIN TESSERA CERTIFICATE-----\n".to_vec();
            text.extend_from_slice(&bytes);
            let _ = verify_package(&bytes, &trusted(&key), INSTALLATION, now(), &Limits::default());
            let _ = verify_package(&text, &trusted(&key), INSTALLATION, now(), &Limits::default());
            let _ = decode_request(&String::from_utf8_lossy(&bytes));
        }
    }
}
