//! The `tessera-agent` command line, as a person or a script calls it: `status` answers from the
//! lease in the state file alone (exit 0 when it licenses this machine now, 1 when not), and a
//! command that needs Tessera says so when it cannot be reached (exit 2). The kit against a real
//! Tessera is tested in the server's integration tests (`tests/integration/kit.rs`).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tessera_agent::{State, now_ms};
use tessera_license::ed25519_dalek::SigningKey;
use tessera_license::ed25519_dalek::pkcs8::EncodePublicKey;
use tessera_license::{LEASE_VERSION, LeaseClaims, sign_lease};

/// A directory of the test's own (`name`: the tests run at once, in one process).
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tessera-agent-cli-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&d).expect("a directory");
    d
}

/// A state file whose lease runs from `issued_at` to `valid_until`, signed by the installation.
fn write_state(path: &Path, issued_at: i64, valid_until: i64) {
    let key = SigningKey::from_bytes(&[5; 32]);
    let claims = LeaseClaims {
        lease: LEASE_VERSION,
        installation_id: "inst".into(),
        agent_id: "agent-1".into(),
        machine_id: "machine-1".into(),
        tenant_id: "tenant-1".into(),
        license_id: Some("license-1".into()),
        basis: "floating".into(),
        issued_at,
        valid_until,
    };
    State {
        // Nothing listens on port 9 (discard) here: Tessera cannot be reached.
        server: "http://127.0.0.1:9".into(),
        machine_id: "machine-1".into(),
        agent_id: "agent-1".into(),
        tenant_id: "tenant-1".into(),
        token: "secret".into(),
        lease_public_key: key
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("PEM"),
        lease: Some(sign_lease(&key, &claims)),
        renew_after: Some(issued_at + (valid_until - issued_at) / 2),
    }
    .save(path)
    .expect("the state file");
}

fn agent(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera-agent"))
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .expect("tessera-agent runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn status_answers_from_the_lease_alone() {
    let d = dir("status");
    let live = d.join("live.json");
    let now = now_ms();
    write_state(&live, now - 1_000, now + 3_600_000);
    let out = agent(&live, &["status"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("license   license-1 (floating)"), "{said}");
    assert!(said.contains("licensed  yes"), "{said}");

    let ended = d.join("ended.json");
    write_state(&ended, now - 600_000, now - 300_000);
    let out = agent(&ended, &["status"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("licensed  no: the lease has ended"), "{said}");

    let out = agent(&d.join("none.json"), &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("holds no registration"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn commands_that_need_tessera_say_when_it_cannot_be_reached_and_keep_the_lease() {
    let d = dir("unreachable");
    let state = d.join("state.json");
    let now = now_ms();
    write_state(&state, now - 1_000, now + 3_600_000);
    let before = std::fs::read(&state).expect("the state file");
    for args in [
        &["borrow", "--hours", "8"][..],
        &["return"][..],
        &["release"][..],
    ] {
        let out = agent(&state, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("Tessera cannot be reached"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read(&state).expect("the state file"),
            before,
            "{args:?} changed the state file"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
