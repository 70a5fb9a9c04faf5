//! Proof that the format, not just our tool, is implemented: a package signed with OpenSSL alone
//! is accepted; and `tessera-vendor` works end to end as a vendor would use it.
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera::licenses::format::{LicenseRequest, Usage};
use tessera::licenses::verify::{
    Limits, TrustedKeys, armor, decode_request, encode_request, verify_package,
};

const INSTALLATION: &str = "8d1b5a0e-2f47-4c1a-9e3b-0c6f4f1e2a77";

fn temp_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("tessera-openssl-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

#[test]
fn a_package_signed_with_openssl_alone_is_accepted() {
    let dir = temp_dir();
    openssl(&dir, &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"]);
    openssl(&dir, &["pkey", "-in", "k.pem", "-pubout", "-out", "k.pub"]);

    // The certificate, written by hand: these bytes are what gets signed.
    let payload = format!(
        r#"{{"format":1,"id":"0b8f7f0e-8d0c-4a53-a3a1-6f1f9b1c2d3e","installation_id":"{INSTALLATION}","company_id":"acme","product":"chatbot","product_name":"Chatbot platform","type":"platform_unlimited_agents","mode":"buyout","validity_days":null,"not_before":null,"not_after":null,"tenant_id":null,"issued_at":"2026-11-22T10:00:00Z","note":"signed with openssl"}}"#
    );
    std::fs::write(dir.join("payload.json"), &payload).unwrap();
    openssl(
        &dir,
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-inkey",
            "k.pem",
            "-in",
            "payload.json",
            "-out",
            "sig.bin",
        ],
    );
    let sig = std::fs::read(dir.join("sig.bin")).unwrap();
    assert_eq!(sig.len(), 64);

    // The key id from the raw public key, as the format defines it, computed with openssl too.
    let der = run(Command::new("openssl")
        .current_dir(&dir)
        .args(["pkey", "-pubin", "-in", "k.pub", "-outform", "DER"]))
    .stdout;
    let raw_key = &der[der.len() - 32..];
    std::fs::write(dir.join("raw.bin"), raw_key).unwrap();
    let digest = run(Command::new("openssl")
        .current_dir(&dir)
        .args(["dgst", "-sha256", "-hex", "raw.bin"]))
    .stdout;
    let hex = String::from_utf8(digest).unwrap();
    let kid = hex.trim().rsplit(' ').next().unwrap()[..16].to_string();

    let envelope = format!(
        r#"{{"alg":"ed25519","kid":"{kid}","payload":"{}","sig":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(&sig)
    );
    let package = format!(
        "Issued by hand with OpenSSL\r\n{}",
        armor("CERTIFICATE", envelope.as_bytes()).replace('\n', "\r\n")
    );

    let keys = TrustedKeys::from_pem(&std::fs::read_to_string(dir.join("k.pub")).unwrap()).unwrap();
    assert_eq!(keys.ids(), vec![kid]);
    let good = verify_package(
        package.as_bytes(),
        &keys,
        INSTALLATION,
        chrono::Utc::now(),
        &Limits::default(),
    )
    .expect("accepted");
    assert_eq!(good.len(), 1);
    assert_eq!(good[0].payload_json, payload);
    assert_eq!(good[0].certificate.validity_days, None);

    // And refused for another installation, as the format says.
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
    let _ = std::fs::remove_dir_all(dir);
}

fn vendor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera-vendor"))
}

#[test]
fn the_vendor_tool_round_trip() {
    let dir = temp_dir();
    let out = run(vendor().current_dir(&dir).args(["keygen", "--out", "acme"]));
    let kid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(kid.len(), 16);
    // OpenSSL reads the private key and derives the same public key.
    let public = run(Command::new("openssl")
        .current_dir(&dir)
        .args(["pkey", "-in", "acme.key", "-pubout"]))
    .stdout;
    assert_eq!(public, std::fs::read(dir.join("acme.pub")).unwrap());

    let request = LicenseRequest {
        format: 1,
        installation_id: INSTALLATION.into(),
        company_id: "acme".into(),
        target_version: "8.1".into(),
        created_at: "2026-11-22T10:00:00Z".into(),
        tenants: vec![],
        usage: Usage::default(),
        installed: vec![],
    };
    std::fs::write(dir.join("req.tlr"), encode_request(&request)).unwrap();
    assert_eq!(
        decode_request(&std::fs::read_to_string(dir.join("req.tlr")).unwrap()),
        Ok(request)
    );
    std::fs::write(
        dir.join("spec.json"),
        r#"[{"type":"platform","product":"ai-server","product_name":"AI Server","mode":"subscription","days":365},
            {"type":"agent","product":"ai-server","product_name":"Agent","mode":"test","days":30,"binding":"fixed","count":3},
            {"type":"personal","product":"crm","product_name":"CRM","mode":"buyout","permanent":true,"seats":25},
            {"type":"server","product":"crm","product_name":"Telephony","mode":"subscription","days":90,"feature":"telephony","not_after":"2099-01-01"}]"#,
    )
    .unwrap();
    run(vendor().current_dir(&dir).args([
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
    let package = std::fs::read(dir.join("acme.lcs")).unwrap();
    let keys =
        TrustedKeys::from_pem(&std::fs::read_to_string(dir.join("acme.pub")).unwrap()).unwrap();
    let good = verify_package(
        &package,
        &keys,
        INSTALLATION,
        chrono::Utc::now(),
        &Limits::default(),
    )
    .expect("our own package verifies");
    assert_eq!(good.len(), 6);
    assert_eq!(good[4].certificate.seats, Some(25));

    // Options instead of a spec.
    run(vendor().current_dir(&dir).args([
        "issue",
        "--key",
        "acme.key",
        "--request",
        "req.tlr",
        "--out",
        "one.lcs",
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
    let out = run(vendor()
        .current_dir(&dir)
        .args(["inspect", "one.lcs", "--keys", "acme.pub"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().all(|l| l.ends_with(": verifies")), "{text}");

    // Clear one-line errors, exit code 2.
    for args in [
        vec![
            "issue",
            "--key",
            "missing.key",
            "--request",
            "req.tlr",
            "--spec",
            "spec.json",
        ],
        vec![
            "issue",
            "--key",
            "acme.pub",
            "--request",
            "req.tlr",
            "--spec",
            "spec.json",
        ],
        vec![
            "issue",
            "--key",
            "acme.key",
            "--request",
            "spec.json",
            "--spec",
            "spec.json",
        ],
        vec!["inspect", "missing.lcs"],
        vec!["frobnicate"],
    ] {
        let out = vendor().current_dir(&dir).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("tessera-vendor: "), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
