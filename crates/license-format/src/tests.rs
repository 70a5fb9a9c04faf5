//! The format's tests, one suite: most of them check a whole package, whatever the module.
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::armor::UTF8_BOM;
use crate::*;

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

/// The certificate id the tests call `name`: a UUID made from it, the same every time.
fn id_of(name: &str) -> String {
    let hex = sha256_hex(name.as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A good agent certificate for [`INSTALLATION`], its id made from `name` ([`id_of`]).
fn cert_json(name: &str) -> Value {
    json!({
        "format": 1, "id": id_of(name), "installation_id": INSTALLATION, "company_id": "acme",
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
    assert_eq!(good[1].certificate.id, id_of("b"));
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
    let mut junk =
        b"-----BEGIN TESSERA CERTIFICATE-----\r\n\xff\n  -----BEGIN TESSERA CERTIFICATE-----  \n"
            .to_vec();
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
        "-----BEGIN TESSERA CERTIFICATE-----\n%%%\n-----END TESSERA CERTIFICATE-----\n".to_string(),
        package(&key, &[cert_json("good-2")]),
        package(&signing_key(2), &[cert_json("stranger")]),
    ]
    .join("\n");
    let blocks = refused_blocks(verify(&text, &keys));
    let named: Vec<(usize, Option<&str>)> =
        blocks.iter().map(|b| (b.block, b.id.as_deref())).collect();
    assert_eq!(
        named,
        vec![
            (2, Some(id_of("mode-x").as_str())),
            (3, None),
            (5, Some(id_of("stranger").as_str()))
        ]
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
        "-----BEGIN TESSERA CERTIFICATE-----\n!!!\n-----END TESSERA CERTIFICATE-----\n".to_string(),
        // Standard base64 without its padding is not standard base64.
        "-----BEGIN TESSERA CERTIFICATE-----\nQUI\n-----END TESSERA CERTIFICATE-----\n".to_string(),
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
        // Ids are UUIDs (8-4-4-4-12 hexadecimal digits), nothing else.
        ("id", json!("m")),
        ("id", json!("x".repeat(4096))),
        ("id", json!("0f8fad5b-d9cb-469f-a165-70867728950")),
        ("id", json!("0f8fad5b-d9cb-469f-a165-70867728950ee")),
        ("id", json!("0f8fad5bd9cb469fa16570867728950e")),
        ("id", json!("{0f8fad5b-d9cb-469f-a165-70867728950e}")),
        ("id", json!("urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("id", json!("0f8fad5b-d9cb-469f-a165-70867728950g")),
        ("id", json!(" 0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("id", json!("0f8fad5b_d9cb_469f_a165_70867728950e")),
        ("revokes", json!(["not-an-id"])),
        ("revokes", json!([id_of("r"), "x".repeat(100)])),
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
            c.insert("revokes".into(), json!([id_of("old-1"), id_of("old-2")]));
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
    assert_eq!(
        good[4].certificate.revokes,
        vec![id_of("old-1"), id_of("old-2")]
    );
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
                id: Some(id_of("d")),
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
fn ids_are_uuids_in_any_case_kept_in_lower_case() {
    let key = signing_key(1);
    let upper = id_of("upper").to_ascii_uppercase();
    let revoked = id_of("revoked").to_ascii_uppercase();
    let c = with("upper", |c| {
        c.insert("id".into(), json!(upper));
        c.insert("revokes".into(), json!([revoked]));
    });
    let good = verify(&package(&key, &[c]), &trusted(&key)).unwrap();
    assert_eq!(good[0].certificate.id, id_of("upper"));
    assert_eq!(good[0].certificate.revokes, vec![id_of("revoked")]);
    // What was signed is kept as it was signed.
    assert!(good[0].payload_json.contains(&upper));

    // The same id in two cases is one id: the second block is a duplicate.
    let mixed = with("twice", |c| {
        c.insert("id".into(), json!(id_of("twice").to_ascii_uppercase()));
    });
    let r = verify(&package(&key, &[cert_json("twice"), mixed]), &trusted(&key));
    match r {
        Err(PackageRefusal::BadCertificates { blocks }) => {
            assert_eq!(blocks.len(), 1);
            assert_eq!(blocks[0].block, 2);
            assert_eq!(blocks[0].refusal, Refusal::DuplicateInPackage);
            assert_eq!(blocks[0].id.as_deref(), Some(id_of("twice").as_str()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(certificate_id(&upper), Some(id_of("upper")));
    assert_eq!(certificate_id("m"), None);
}

#[test]
fn unknown_fields_are_kept_and_ignored() {
    let key = signing_key(1);
    let c = with("extra", |c| {
        c.insert("vendor_note".into(), json!({"any": ["thing"]}));
    });
    let good = verify(&package(&key, &[c]), &trusted(&key)).unwrap();
    assert!(good[0].payload_json.contains("vendor_note"));
    assert_eq!(good[0].certificate.id, id_of("extra"));
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
        tenants: vec![crate::format::RequestTenant {
            id: "t-1".into(),
            name: "Tenant «one»".into(),
            platform_expires: Some("2027-01-01".into()),
        }],
        usage: crate::format::Usage {
            agents_registered: 3,
            agents_licensed: 2,
            users_total: 10,
            users_licensed: 5,
        },
        installed: vec!["a".into()],
        usage_summary: vec![crate::format::ProductUsage {
            product: "ai-server".into(),
            license_kind: "floating".into(),
            owned: 10,
            periods: [30, 90, 365]
                .into_iter()
                .map(|days| crate::format::UsagePeriod {
                    days,
                    peak: 9,
                    p95: 7,
                    bucket: "hour".into(),
                    refusals: 12,
                    complete: days < 365,
                })
                .collect(),
        }],
        lease_public_key: Some("-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n".into()),
    }
}

#[test]
fn a_request_without_a_usage_summary_or_with_fields_unknown_here_is_read() {
    let armored = |v: &serde_json::Value| armor(REQUEST_BLOCK, v.to_string().as_bytes());
    // An older installation's request: no usage summary, no lease key.
    let mut older = serde_json::to_value(request()).unwrap();
    older.as_object_mut().unwrap().remove("usage_summary");
    older.as_object_mut().unwrap().remove("lease_public_key");
    let read = decode_request(&armored(&older)).unwrap();
    assert!(read.usage_summary.is_empty());
    assert!(read.lease_public_key.is_none());
    assert_eq!(read.installed, vec!["a".to_string()]);
    // A newer installation's request: fields this version does not know are ignored.
    let mut newer = serde_json::to_value(request()).unwrap();
    newer["installation_key"] = json!("-----BEGIN PUBLIC KEY-----");
    newer["usage_summary"][0]["mean"] = json!(3);
    assert_eq!(decode_request(&armored(&newer)), Ok(request()));
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
fn a_request_names_where_to_send_it_outside_its_block() {
    let r = request();
    let text = encode_request_to(
        &r,
        &[
            "licensing@vendor.example",
            "https://portal.vendor.example/\nlicenses",
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1],
        "Send this file to your vendor: licensing@vendor.example or \
         https://portal.vendor.example/licenses."
    );
    assert_eq!(decode_request(&text), Ok(r.clone()));
    assert!(encode_request_to(&r, &[" "]).contains("\nSend this file to your vendor.\n"));
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
        id in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
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
        revokes in proptest::collection::vec(
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            0..3
        ),
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

/// The worked example of docs/license-format.md, signed with OpenSSL by the commands written
/// there (docs/examples/sign-with-openssl.sh): an installation accepts it as the document says.
#[test]
fn the_documented_openssl_example_is_accepted() {
    let package = include_str!("../../../docs/examples/example.lcs");
    let public = include_str!("../../../docs/examples/EXAMPLE-DO-NOT-USE-vendor.pub");
    let keys = TrustedKeys::from_pem(public).unwrap();
    let when: DateTime<Utc> = "2026-12-04T00:00:00Z".parse().unwrap();
    let installation = "313593c5-9c97-4fb9-9163-4656bed5865b";
    let certs = verify_package(
        package.as_bytes(),
        &keys,
        installation,
        when,
        &Limits::default(),
    )
    .unwrap_or_else(|refusal| panic!("the documented example is refused: {refusal}"));
    assert_eq!(certs.len(), 1);
    let c = &certs[0].certificate;
    assert_eq!(c.id, "92c42850-4417-43ac-af12-70ebb5f43570");
    assert_eq!(
        (c.license_type, c.binding),
        (LicenseType::Agent, Some(Binding::Floating))
    );
    assert_eq!(certs[0].kid, "12a01cbe1eece088");
    // Issued for another installation, it is refused as such.
    assert!(
        verify_package(
            package.as_bytes(),
            &keys,
            INSTALLATION,
            when,
            &Limits::default()
        )
        .is_err()
    );
}
