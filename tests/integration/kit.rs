//! The agent kit (`crates/agent`) against a real Tessera process: the command it wraps keeps
//! running through an outage its lease covers, and is stopped when the lease ends; a borrowed
//! license keeps it running with Tessera stopped.
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tessera_agent::supervise::{self, Ended};

use crate::agents::{enrollment_key, install_floating};
use crate::support::{Backend, Process, TestApp, Vendor, free_port};

/// The lease time the test's tenant sets: renewed at half of it, 10 s.
const LEASE_SECONDS: i64 = 20;

fn status(path: &Path) -> Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// Waits until the status file says what `reached` looks for; answers it. The kit writes it at
/// every checkout, so this waits for the kit's next one, however long a busy machine takes (the
/// bound only turns a kit that stopped writing into a failure that names what was awaited).
async fn status_until(path: &Path, what: &str, reached: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..3_000 {
        let s = status(path);
        if reached(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the kit's status never showed {what}: {}", status(path));
}

fn alive(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kit_keeps_its_command_running_through_an_outage_its_lease_covers() {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Sqlite, &vendor, &[]).await;
    let admin = app.admin().await;
    install_floating(&app, &vendor, 1).await;
    let tenant = app.default_tenant(&admin).await;
    let r = app
        .call(
            &admin,
            "tenants/set_lease_time",
            &[
                ("tenant_id", &tenant),
                ("seconds", &LEASE_SECONDS.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The Tessera the kit talks to: a process of its own on the same database, stopped and
    // started again on the same port.
    let port = free_port();
    let mut tessera = Some(Process::start_on(port, &app.database_url, &[], None).await);
    let dir = std::env::temp_dir().join(format!("tessera-kit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (state, status_file, pid_file): (PathBuf, PathBuf, PathBuf) = (
        dir.join("agent.json"),
        dir.join("status.json"),
        dir.join("command.pid"),
    );
    let run = tokio::spawn(supervise::run(supervise::Options {
        server: format!("http://127.0.0.1:{port}"),
        enrollment_key: enrollment_key(&app).await,
        machine_id: "kit-machine".into(),
        state: state.clone(),
        status: Some(status_file.clone()),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!("echo $$ > {}; exec sleep 600", pid_file.display()),
        ],
        retry: Duration::from_millis(500),
        timeout: Duration::from_secs(2),
        grace: Duration::from_secs(5),
    }));

    // Licensed, the command starts.
    let first = status_until(&status_file, "licensed", |s| s["licensed"] == true).await;
    let pid: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(alive(pid));
    // The lease is renewed at half of it (a new lease, ending later).
    let renewed = status_until(&status_file, "a renewed lease", |s| {
        s["valid_until"].as_i64() > first["valid_until"].as_i64()
    })
    .await;
    let lease_end = renewed["valid_until"].as_i64().unwrap();
    assert_eq!(
        renewed["renew_after"].as_i64(),
        Some(lease_end - LEASE_SECONDS * 500),
        "{renewed}"
    );

    // Tessera stops. The kit's renewal and two more attempts fail; the command runs on.
    if let Some(t) = tessera.take() {
        t.terminate();
        let mut t = t;
        assert!(t.exit_status(Duration::from_secs(60)).await.is_some());
    }
    let out = status_until(&status_file, "three failed renewals", |s| {
        s["failures"].as_u64() >= Some(3)
    })
    .await;
    assert_eq!(out["last_answer"], "unreachable");
    assert_eq!(out["licensed"], true, "still within its lease: {out}");
    assert!(alive(pid), "the command runs on through the outage");

    // Tessera returns: the lease is renewed, the same command still running.
    tessera = Some(Process::start_on(port, &app.database_url, &[], None).await);
    let back = status_until(&status_file, "a lease renewed after the outage", |s| {
        s["last_answer"] == "licensed" && s["valid_until"].as_i64() > Some(lease_end)
    })
    .await;
    assert!(alive(pid), "never stopped");
    let last_end = back["valid_until"].as_i64().unwrap();

    // Tessera stops for longer than the lease: the command is stopped when the lease ends, not
    // before.
    if let Some(t) = tessera.take() {
        t.terminate();
        let mut t = t;
        assert!(t.exit_status(Duration::from_secs(60)).await.is_some());
    }
    let ended = run.await.expect("the kit's task").expect("the kit ran");
    assert_eq!(ended, Ended::LicenseLost);
    assert!(
        tessera_agent::now_ms() >= last_end,
        "stopped before its lease ended"
    );
    assert!(!alive(pid), "the command was stopped");

    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}

/// A borrowed license keeps the command running with Tessera stopped, long past the tenant's
/// lease time: the kit borrowed it (as `tessera-agent borrow` does, into the state file) and its
/// `run` took the borrowed lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrowed_license_keeps_the_command_running_with_tessera_stopped() {
    const SHORT_LEASE_MS: i64 = 2_000;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Sqlite, &vendor, &[]).await;
    let admin = app.admin().await;
    install_floating(&app, &vendor, 1).await;
    let tenant = app.default_tenant(&admin).await;
    for (function, args) in [
        ("tenants/set_lease_time", [("seconds", "2"), ("", "")]),
        (
            "tenants/set_borrowing",
            [("max_hours", "24"), ("keep", "0")],
        ),
    ] {
        let mut form = vec![("tenant_id", tenant.as_str())];
        form.extend(args.iter().filter(|(k, _)| !k.is_empty()).copied());
        let r = app.call(&admin, function, &form).await;
        assert_eq!(r.status, StatusCode::OK, "{function}: {:?}", r.body);
    }

    let port = free_port();
    let mut tessera = Some(Process::start_on(port, &app.database_url, &[], None).await);
    let server = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("tessera-kit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (state, status_file, pid_file): (PathBuf, PathBuf, PathBuf) = (
        dir.join("agent.json"),
        dir.join("status.json"),
        dir.join("command.pid"),
    );
    let run = tokio::spawn(supervise::run(supervise::Options {
        server: server.clone(),
        enrollment_key: enrollment_key(&app).await,
        machine_id: "kit-borrower".into(),
        state: state.clone(),
        status: Some(status_file.clone()),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!("echo $$ > {}; exec sleep 600", pid_file.display()),
        ],
        retry: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
        grace: Duration::from_secs(5),
    }));
    status_until(&status_file, "licensed", |s| s["licensed"] == true).await;

    // Borrowed for 24 hours, as `tessera-agent borrow --hours 24` does.
    let client = tessera_agent::Client::new(&server, Duration::from_secs(5)).unwrap();
    let mut saved = tessera_agent::State::load(&state)
        .unwrap()
        .expect("registered");
    let borrowed = client.borrow(&mut saved, 24).await.expect("borrowed");
    saved.save(&state).unwrap();
    assert!(borrowed.valid_until >= tessera_agent::now_ms() + 23 * 3_600_000);
    status_until(&status_file, "the borrowed lease", |s| {
        s["valid_until"].as_i64() == Some(borrowed.valid_until)
    })
    .await;
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .expect("the command started");

    // Tessera stops, for longer than the tenant's lease time: the command runs on, and the kit
    // does not even ask (its borrowed lease is renewed at half the borrow).
    if let Some(t) = tessera.take() {
        t.terminate();
        let mut t = t;
        assert!(t.exit_status(Duration::from_secs(60)).await.is_some());
    }
    // Time itself is what this waits for: past any lease of the tenant's lease time.
    tokio::time::sleep(Duration::from_millis(3 * SHORT_LEASE_MS as u64)).await;
    let held = tessera_agent::State::load(&state)
        .unwrap()
        .expect("the state file");
    let now = tessera_agent::now_ms();
    assert_eq!(
        held.licensed_at(now).map(|c| c.valid_until),
        Some(borrowed.valid_until)
    );
    assert!(alive(pid), "the borrowed lease keeps the command running");
    assert!(!run.is_finished());

    run.abort();
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}
