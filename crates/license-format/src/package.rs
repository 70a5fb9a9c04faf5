//! License packages (LICENSE-FORMAT.md, "License package" and "Checks on upload"): signing a
//! certificate into a block, and verifying a whole package, certificate by certificate, with the
//! reasons of the format as a typed enum. No clock but the `now` it is given. Signatures are
//! checked with `verify_strict` over the exact payload bytes received, never re-serialised.
use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde_json::{Map, Value};

use crate::armor::{UTF8_BOM, armor, armored_blocks, count_begin_lines};
use crate::dates::{parse_date_end, parse_date_start};
use crate::format::{
    BlockRefusal, CERTIFICATE_BLOCK, Certificate, Envelope, FORMAT_VERSION, PackageRefusal,
    Refusal, certificate_id,
};
use crate::json::strict_object;
use crate::keys::{TrustedKeys, key_id};

/// The largest `validity_days` accepted: about 270 years. Longer is what `null` (permanent) is
/// for, and a bound keeps every computed expiry a date people and databases can show.
pub const MAX_VALIDITY_DAYS: u64 = 100_000;

/// The largest `seats` accepted: what the database column (a signed 32-bit integer) holds.
pub const MAX_SEATS: u64 = i32::MAX as u64;

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
    if let Some(id) = c.get("id").and_then(Value::as_str)
        && certificate_id(id).is_none()
    {
        return Err(if id.is_empty() {
            "`id` is empty".into()
        } else {
            "`id` is not a UUID".into()
        });
    }
    if let Some(revokes) = c.get("revokes").and_then(Value::as_array)
        && revokes
            .iter()
            .any(|r| r.as_str().and_then(certificate_id).is_none())
    {
        return Err("`revokes` must hold certificate ids (UUIDs)".into());
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
    // In lower case when it is a UUID, so that duplicates are found in any case; as written
    // otherwise, to name the refusal.
    let id = fields
        .get("id")
        .and_then(Value::as_str)
        .map(|id| certificate_id(id).unwrap_or_else(|| id.to_string()));
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
    // Ids compare case-insensitively: the typed certificate holds them in lower case (the
    // payload kept beside it stays exactly as signed).
    if let Some(id) = &id {
        typed.insert("id".into(), Value::String(id.clone()));
    }
    if let Some(Value::Array(revokes)) = typed.get_mut("revokes") {
        for r in revokes.iter_mut() {
            if let Some(lower) = r.as_str().and_then(certificate_id) {
                *r = Value::String(lower);
            }
        }
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
