//! Writes the seed corpus of both fuzz targets (fuzz/corpus/<target>/seed-*), signed with the
//! fixed test keys of `tessera_fuzz`. Signing is deterministic, so running it again writes the
//! same bytes:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
use std::path::Path;

use serde_json::{Value, json};
use tessera_fuzz::{
    INSTALLATION, SMALL_LIMITS, checks, rotated_key, stranger_key, vendor_key, verify,
};
use tessera_license::{Limits, PackageRefusal, sign_certificate};

fn cert(id: &str, license_type: &str) -> Value {
    let mut c = json!({
        "format": 1, "id": id, "installation_id": INSTALLATION, "company_id": "acme",
        "product": "ai-server", "product_name": "AI Server", "type": license_type,
        "mode": "subscription", "validity_days": 365, "not_before": null, "not_after": null,
        "tenant_id": null, "issued_at": "2026-11-22T00:00:00Z"
    });
    match license_type {
        "agent" => c["binding"] = "floating".into(),
        "personal" => c["seats"] = 5.into(),
        "server" => c["feature"] = "telephony".into(),
        _ => {}
    }
    c
}

fn bytes(c: &Value) -> Vec<u8> {
    serde_json::to_vec(c).expect("json")
}

fn write(dir: &Path, name: &str, content: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus folder");
    std::fs::write(dir.join(name), content).expect("seed file");
    println!("{} ({} bytes)", dir.join(name).display(), content.len());
}

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let (vendor, rotated, stranger) = (vendor_key(), rotated_key(), stranger_key());

    // Certificates of every type, with the optional fields the format has.
    let agent = cert("0b0e6a4c-0001-4000-8000-000000000001", "agent");
    let mut platform = cert(
        "0b0e6a4c-0002-4000-8000-000000000002",
        "platform_unlimited_agents",
    );
    platform["mode"] = "buyout".into();
    platform["validity_days"] = Value::Null;
    platform["tenant_id"] = "t-1".into();
    platform["not_before"] = "2026-12-01".into();
    platform["revokes"] = json!(["0b0e6a4c-0009-4000-8000-000000000009"]);
    platform["comment"] = "kept and ignored".into();
    let mut personal = cert("0b0e6a4c-0003-4000-8000-000000000003", "personal");
    personal["mode"] = "test".into();
    personal["not_after"] = "2027-11-23T00:00:00Z".into();
    let server = cert("0b0e6a4c-0004-4000-8000-000000000004", "server");
    let mut expired = cert("0b0e6a4c-0005-4000-8000-000000000005", "platform");
    expired["not_after"] = "2026-01-01".into();

    // package: whole files as uploaded.
    let dir = corpus.join("package");
    let one = sign_certificate(&vendor, &bytes(&agent));
    write(&dir, "seed-agent.lcs", one.as_bytes());
    let three = format!(
        "Tessera license package for {INSTALLATION}\r\n\r\n{}{}{}",
        sign_certificate(&vendor, &bytes(&platform)),
        sign_certificate(&rotated, &bytes(&personal)),
        sign_certificate(&vendor, &bytes(&server)),
    )
    .replace('\n', "\r\n")
    .replace("\r\r\n", "\r\n");
    write(&dir, "seed-three-crlf.lcs", three.as_bytes());
    let refused = [
        sign_certificate(&vendor, &bytes(&agent)),
        sign_certificate(&stranger, &bytes(&server)),
        sign_certificate(&vendor, &bytes(&expired)),
        sign_certificate(&vendor, &bytes(&agent)),
    ]
    .concat();
    write(&dir, "seed-refused.lcs", refused.as_bytes());
    // Two byte-order marks, then one BEGIN line more than `SMALL_LIMITS` allows: the known bug of
    // `tessera_fuzz::ALLOW_DOUBLE_BOM_BUG`, replayed by every run.
    let mut double_bom = b"\xEF\xBB\xBF\xEF\xBB\xBF".to_vec();
    for _ in 0..=SMALL_LIMITS.max_certificates {
        double_bom.extend_from_slice(b"-----BEGIN TESSERA CERTIFICATE-----\n");
    }
    write(&dir, "seed-double-bom.lcs", &double_bom);

    // payload: certificate JSON, several separated by 0xFF.
    let dir = corpus.join("payload");
    write(&dir, "seed-agent.json", &bytes(&agent));
    write(&dir, "seed-platform.json", &bytes(&platform));
    write(&dir, "seed-personal.json", &bytes(&personal));
    let mut two = bytes(&server);
    two.push(0xFF);
    two.extend(bytes(&expired));
    write(&dir, "seed-server-expired.bin", &two);

    // The seeds say what they are meant to: the good ones pass, the refused one is refused.
    let ok = |s: &str| verify(&checks(&SMALL_LIMITS), s.as_bytes());
    assert_eq!(ok(&one).map(|c| c.len()), Ok(1));
    assert_eq!(ok(&three).map(|c| c.len()), Ok(3));
    match verify(&checks(&Limits::default()), refused.as_bytes()) {
        Err(PackageRefusal::BadCertificates { blocks }) => assert_eq!(blocks.len(), 3),
        other => panic!("the refused seed: {other:?}"),
    }
}
