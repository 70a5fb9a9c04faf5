//! Proof that the format, not just our tool, is implemented: a package signed with OpenSSL alone
//! is accepted, and what `tessera-vendor` signs verifies with OpenSSL alone; and the vendor tool
//! works end to end as a vendor would use it.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use tessera_license::{
    LicenseRequest, LicenseType, Limits, PackageRefusal, ProductUsage, Refusal, TrustedKeys, Usage,
    UsagePeriod, VerifiedCertificate, armor, armored_blocks, decode_request, encode_request,
    verify_package,
};

const INSTALLATION: &str = "8d1b5a0e-2f47-4c1a-9e3b-0c6f4f1e2a77";

/// A fresh directory of its own for each test, removed when the test passes.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("tessera-{what}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    run(Command::new("openssl").current_dir(dir).args(args))
}

/// The key id as the format defines it, computed with OpenSSL alone: the first 8 bytes of
/// SHA-256 over the 32 raw key bytes, which end the DER SubjectPublicKeyInfo.
fn openssl_key_id(dir: &Path, public_pem: &str) -> String {
    let der = openssl(
        dir,
        &["pkey", "-pubin", "-in", public_pem, "-outform", "DER"],
    )
    .stdout;
    assert_eq!(der.len(), 44, "an Ed25519 SPKI is 44 bytes");
    std::fs::write(dir.join("raw.bin"), &der[12..]).unwrap();
    let digest =
        String::from_utf8(openssl(dir, &["dgst", "-sha256", "-hex", "raw.bin"]).stdout).unwrap();
    digest.trim().rsplit(' ').next().unwrap()[..16].to_string()
}

fn verify(package: &[u8], keys: &TrustedKeys) -> Result<Vec<VerifiedCertificate>, PackageRefusal> {
    verify_package(
        package,
        keys,
        INSTALLATION,
        chrono::Utc::now(),
        &Limits::default(),
    )
}

/// The envelope of one certificate made with OpenSSL and this test alone: `payload` is signed by
/// `openssl pkeyutl`, and the envelope's JSON is written here by hand.
fn openssl_envelope(dir: &Path, key_pem: &str, kid: &str, payload: &str) -> String {
    std::fs::write(dir.join("payload.json"), payload).unwrap();
    openssl(
        dir,
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-inkey",
            key_pem,
            "-in",
            "payload.json",
            "-out",
            "sig.bin",
        ],
    );
    let sig = std::fs::read(dir.join("sig.bin")).unwrap();
    assert_eq!(sig.len(), 64);
    format!(
        r#"{{ "alg": "ed25519", "kid": "{kid}", "payload": "{}", "sig": "{}" }}"#,
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(&sig)
    )
}

/// One armored CERTIFICATE block, armored here too.
fn openssl_block(dir: &Path, key_pem: &str, kid: &str, payload: &str) -> String {
    armor(
        "CERTIFICATE",
        openssl_envelope(dir, key_pem, kid, payload).as_bytes(),
    )
}

#[test]
fn a_package_signed_with_openssl_alone_is_accepted() {
    let dir = TempDir::new("openssl");
    let d = &dir.0;
    for name in ["old", "new"] {
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "ed25519",
                "-out",
                &format!("{name}.pem"),
            ],
        );
        openssl(
            d,
            &[
                "pkey",
                "-in",
                &format!("{name}.pem"),
                "-pubout",
                "-out",
                &format!("{name}.pub"),
            ],
        );
    }
    let (old_kid, new_kid) = (openssl_key_id(d, "old.pub"), openssl_key_id(d, "new.pub"));

    // Certificates written by hand, in an order and spacing of their own: these exact bytes are
    // what gets signed, so nothing may re-serialise them.
    let platform = format!(
        r#"{{"format":1,"id":"0b8f7f0e-8d0c-4a53-a3a1-6f1f9b1c2d3e","installation_id":"{INSTALLATION}","company_id":"acme","product":"chatbot","product_name":"Chatbot platform","type":"platform_unlimited_agents","mode":"buyout","validity_days":null,"not_before":null,"not_after":null,"tenant_id":null,"issued_at":"2026-11-22T10:00:00Z","note":"signed with openssl"}}"#
    );
    let personal = format!(
        "{{\n  \"issued_at\": \"2026-11-22T10:00:00+01:00\",\n  \"type\": \"personal\", \"seats\": 25,\n  \"id\": \"c4d1a3a9-6c55-4f0e-9a44-1d2b3c4d5e6f\", \"format\": 1,\n  \"installation_id\": \"{INSTALLATION}\", \"company_id\": \"acme\",\n  \"product\": \"crm\", \"product_name\": \"CRM «Pro»\", \"mode\": \"subscription\",\n  \"validity_days\": 365, \"not_before\": \"2026-01-01\", \"not_after\": \"2099-12-31\",\n  \"tenant_id\": \"t-1\", \"revokes\": [\"0b8f7f0e-0000-4000-8000-000000000000\"]\n}}\n"
    );
    let package = format!(
        "Issued by hand with OpenSSL\r\n{}\r\nand a second one, with the new key:\r\n{}",
        openssl_block(d, "old.pem", &old_kid, &platform).replace('\n', "\r\n"),
        openssl_block(d, "new.pem", &new_kid, &personal)
    );

    // Both keys trusted (rotation): one PEM file holding both, as OpenSSL wrote them.
    let pem = format!("{}{}", dir.read("old.pub"), dir.read("new.pub"));
    let keys = TrustedKeys::from_pem(&pem).unwrap();
    let mut kids = vec![old_kid.clone(), new_kid.clone()];
    kids.sort();
    assert_eq!(keys.ids(), kids, "our key ids are the format's");

    let good = verify(package.as_bytes(), &keys).expect("accepted");
    assert_eq!(good.len(), 2);
    assert_eq!(good[0].payload_json, platform);
    assert_eq!(good[0].kid, old_kid);
    assert_eq!(good[0].certificate.validity_days, None);
    assert_eq!(
        good[0].certificate.license_type,
        LicenseType::PlatformUnlimitedAgents
    );
    assert_eq!(good[1].payload_json, personal);
    assert_eq!(good[1].certificate.seats, Some(25));
    assert_eq!(good[1].certificate.product_name, "CRM «Pro»");

    // Only the old key trusted: the new key's certificate is refused, and names its key.
    let only_old = TrustedKeys::from_pem(&dir.read("old.pub")).unwrap();
    match verify(package.as_bytes(), &only_old) {
        Err(PackageRefusal::BadCertificates { blocks }) => {
            assert_eq!(blocks.len(), 1);
            assert_eq!(blocks[0].block, 2);
            assert_eq!(blocks[0].refusal, Refusal::UnknownKey { kid: new_kid });
        }
        other => panic!("{other:?}"),
    }
    // For another installation, as the format says.
    assert!(
        verify_package(
            package.as_bytes(),
            &keys,
            "another",
            chrono::Utc::now(),
            &Limits::default()
        )
        .is_err()
    );
    // OpenSSL's signature over one payload does not carry over to another.
    let envelope = openssl_envelope(d, "old.pem", &old_kid, &platform);
    let other_payload = URL_SAFE_NO_PAD.encode(platform.replace("buyout", "test").as_bytes());
    let swapped_envelope =
        envelope.replace(&URL_SAFE_NO_PAD.encode(platform.as_bytes()), &other_payload);
    assert_ne!(envelope, swapped_envelope);
    let swapped = armor("CERTIFICATE", swapped_envelope.as_bytes());
    match verify(swapped.as_bytes(), &keys) {
        Err(PackageRefusal::BadCertificates { blocks }) => {
            assert_eq!(blocks[0].refusal, Refusal::BadSignature);
        }
        other => panic!("{other:?}"),
    }
}

fn vendor(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera-vendor"));
    c.current_dir(dir);
    c
}

/// The payload bytes and signature of one block of a package, decoded by hand.
fn payload_and_sig(block: &str) -> (Vec<u8>, Vec<u8>) {
    let envelope: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(block).unwrap()).unwrap();
    let field = |k: &str| {
        URL_SAFE_NO_PAD
            .decode(envelope[k].as_str().unwrap())
            .unwrap()
    };
    (field("payload"), field("sig"))
}

#[test]
fn the_vendor_tool_end_to_end() {
    let dir = TempDir::new("vendor");
    let d = &dir.0;
    let out = run(vendor(d).args(["keygen", "--out", "acme"]));
    let kid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(kid.len(), 16);
    assert_eq!(kid, openssl_key_id(d, "acme.pub"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path("acme.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is the owner's alone");
    }
    // OpenSSL reads the private key and derives the same public key, byte for byte.
    let public = openssl(d, &["pkey", "-in", "acme.key", "-pubout"]).stdout;
    assert_eq!(public, std::fs::read(dir.path("acme.pub")).unwrap());
    // A second keygen does not overwrite the key.
    let again = vendor(d)
        .args(["keygen", "--out", "acme"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(public, std::fs::read(dir.path("acme.pub")).unwrap());

    let request = LicenseRequest {
        format: 1,
        installation_id: INSTALLATION.into(),
        company_id: "acme".into(),
        target_version: "8.1".into(),
        created_at: "2026-11-22T10:00:00Z".into(),
        tenants: vec![],
        usage: Usage::default(),
        installed: vec![],
        usage_summary: vec![ProductUsage {
            product: "ai-server".into(),
            license_kind: "floating".into(),
            owned: 20,
            periods: [(30, 18, 15), (90, 20, 16), (365, 20, 12)]
                .into_iter()
                .map(|(days, peak, p95)| UsagePeriod {
                    days,
                    peak,
                    p95,
                    bucket: "hour".into(),
                    refusals: days.into(),
                    complete: days < 365,
                })
                .collect(),
        }],
        lease_public_key: None,
    };
    std::fs::write(dir.path("req.tlr"), encode_request(&request)).unwrap();
    assert_eq!(decode_request(&dir.read("req.tlr")), Ok(request));
    // The vendor reads what the installation used before sizing the renewal.
    let shown = String::from_utf8(run(vendor(d).args(["inspect", "req.tlr"])).stdout).unwrap();
    assert!(shown.contains("company acme"), "{shown}");
    assert!(
        shown.contains("usage of ai-server (floating): owned 20"),
        "{shown}"
    );
    assert!(
        shown.contains("last 90 days: peak 20, 95th percentile 16 (per hour), refusals 90\n"),
        "{shown}"
    );
    assert!(
        shown.contains("last 365 days: peak 20, 95th percentile 12 (per hour), refusals 365 (the record covers only part of it)"),
        "{shown}"
    );
    std::fs::write(
        dir.path("spec.json"),
        r#"[{"type":"platform","product":"ai-server","product_name":"AI Server","mode":"subscription","days":365,"tenant":"t-1"},
            {"type":"agent","product":"ai-server","product_name":"Agent","mode":"test","days":30,"binding":"fixed","count":3},
            {"type":"personal","product":"crm","product_name":"CRM","mode":"buyout","permanent":true,"seats":25},
            {"type":"server","product":"crm","product_name":"Telephony","mode":"subscription","days":90,"feature":"telephony","not_after":"2099-01-01"},
            {"type":"platform_unlimited_agents","product":"chatbot","product_name":"Chatbot","mode":"buyout","permanent":true,"not_before":"2026-01-01","revokes":["0b8f7f0e-0000-4000-8000-000000000000"]}]"#,
    )
    .unwrap();
    let out = run(vendor(d).args([
        "issue",
        "--key",
        "acme.key",
        "--request",
        "req.tlr",
        "--spec",
        "spec.json",
        "--out",
        "acme.lcs",
    ]));
    let summary = String::from_utf8(out.stdout).unwrap();
    assert_eq!(summary.lines().count(), 5, "one line a group: {summary}");
    assert!(summary.contains("3 × agent ai-server (Agent) test, 30 days, binding fixed"));

    let package = std::fs::read(dir.path("acme.lcs")).unwrap();
    let keys = TrustedKeys::from_pem(&dir.read("acme.pub")).unwrap();
    let good = verify(&package, &keys).expect("our own package verifies");
    assert_eq!(good.len(), 7);
    assert_eq!(good[0].certificate.tenant_id.as_deref(), Some("t-1"));
    assert_eq!(good[4].certificate.seats, Some(25));
    assert_eq!(good[5].certificate.feature.as_deref(), Some("telephony"));
    assert_eq!(good[6].certificate.revokes.len(), 1);
    let ids: std::collections::HashSet<&str> =
        good.iter().map(|v| v.certificate.id.as_str()).collect();
    assert_eq!(ids.len(), 7, "fresh ids for every certificate");
    assert!(good.iter().all(|v| v.certificate.company_id == "acme"));

    // Each signature verifies with OpenSSL alone, over the payload bytes.
    let text = String::from_utf8(package).unwrap();
    for block in armored_blocks(&text, "CERTIFICATE") {
        let (payload, sig) = payload_and_sig(&block);
        std::fs::write(dir.path("p.json"), payload).unwrap();
        std::fs::write(dir.path("p.sig"), sig).unwrap();
        openssl(
            d,
            &[
                "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", "acme.pub", "-in", "p.json",
                "-sigfile", "p.sig",
            ],
        );
    }

    // Options instead of a spec; the package goes beside the request by default.
    run(vendor(d).args([
        "issue",
        "--key",
        "acme.key",
        "--request",
        "req.tlr",
        "--type",
        "agent",
        "--product",
        "ai-server",
        "--product-name",
        "Agent",
        "--mode",
        "subscription",
        "--days",
        "365",
        "--binding",
        "floating",
        "--count",
        "2",
    ]));
    let out = run(vendor(d).args(["inspect", "req.lcs", "--keys", "acme.pub"]));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("block {}: ", i + 1)), "{line}");
        for part in [
            "agent ai-server (Agent) subscription, 365 days, binding floating",
            &format!("key {kid}"),
        ] {
            assert!(line.contains(part), "{line} lacks {part}");
        }
        assert!(line.ends_with(": verifies"), "{line}");
    }
    // Without keys it says the signature was not checked; with another key, why it is refused.
    let out = run(vendor(d).args(["inspect", "req.lcs"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().all(|l| l.contains("signature not checked")),
        "{text}"
    );
    run(vendor(d).args(["keygen", "--out", "other"]));
    let out = vendor(d)
        .args(["inspect", "req.lcs", "--keys", "other.pub"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .all(|l| l.ends_with(&format!("REFUSED: signed by an unknown key ({kid})"))),
        "{text}"
    );
}

#[test]
fn the_vendor_tool_errors_are_one_line_with_exit_code_2() {
    let dir = TempDir::new("vendor-errors");
    let d = &dir.0;
    run(vendor(d).args(["keygen", "--out", "acme"]));
    std::fs::write(
        dir.path("req.tlr"),
        encode_request(&LicenseRequest {
            format: 1,
            installation_id: INSTALLATION.into(),
            company_id: "acme".into(),
            target_version: "8.1".into(),
            created_at: "2026-11-22T10:00:00Z".into(),
            tenants: vec![],
            usage: Usage::default(),
            installed: vec![],
            usage_summary: vec![],
            lease_public_key: None,
        }),
    )
    .unwrap();
    std::fs::write(
        dir.path("spec.json"),
        r#"[{"type":"platform","product":"p","product_name":"P","mode":"test","days":1}]"#,
    )
    .unwrap();
    let issue = |key: &str, request: &str| -> Vec<String> {
        [
            "issue",
            "--key",
            key,
            "--request",
            request,
            "--spec",
            "spec.json",
        ]
        .map(String::from)
        .to_vec()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (issue("missing.key", "req.tlr"), "cannot read missing.key"),
        (
            issue("acme.pub", "req.tlr"),
            "acme.pub is not an Ed25519 PKCS#8 private key",
        ),
        (issue("acme.key", "spec.json"), "spec.json: no \"-----BEGIN"),
        (issue("acme.key", "missing.tlr"), "cannot read missing.tlr"),
        (
            [
                issue("acme.key", "req.tlr"),
                vec!["--colour".into(), "red".into()],
            ]
            .concat(),
            "unexpected argument '--colour'",
        ),
        (
            [
                issue("acme.key", "req.tlr"),
                vec!["--type".into(), "agent".into()],
            ]
            .concat(),
            "cannot be used with",
        ),
        (
            ["inspect", "missing.lcs"].map(String::from).to_vec(),
            "cannot read missing.lcs",
        ),
        (
            ["inspect", "req.tlr", "--keys", "acme.key"]
                .map(String::from)
                .to_vec(),
            "no \"-----BEGIN PUBLIC KEY-----\"",
        ),
        (
            ["frobnicate"].map(String::from).to_vec(),
            "unrecognized subcommand 'frobnicate'",
        ),
    ];
    for (args, expected) in cases {
        let out = vendor(d).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("tessera-vendor: "), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(!dir.path("req.lcs").exists(), "nothing written on error");
}
