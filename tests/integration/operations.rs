//! Operating Tessera: request ids in answers and logs, JSON logs, metrics, and the command line
//! (`--help`, `--version`, `migrate status`, `backup` and `restore`, `user reset-password`), each
//! run as an operator runs it: the binary, against a real database.
use std::process::{Command, Stdio};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::agents::{enrollment_key, install_floating};
use crate::support::{ADMIN_PASSWORD, Backend, Process, TestApp, Vendor};

/// `tessera ARGS` with `vars` (and `stdin`): its exit code, standard output and error.
async fn run(args: &[&str], vars: &[(&str, &str)], stdin: Option<&str>) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(&args)
            .env("TESSERA_LOG", "warn")
            .envs(vars)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera runs");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("its input")
                .write_all(text.as_bytes())
                .expect("written");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("tessera ends");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("the command ran")
}

/// Signs in at `base` as `name`; answers the client holding the session, or the refusal.
async fn sign_in(base: &str, name: &str, password: &str) -> Result<Client, (StatusCode, String)> {
    let client = Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let r = client
        .post(format!("{base}/api/login"))
        .header("origin", base)
        .form(&[("user_name", name), ("password", password)])
        .send()
        .await
        .expect("an answer");
    match r.status() {
        StatusCode::OK => Ok(client),
        status => Err((status, r.text().await.unwrap_or_default())),
    }
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tessera-{name}-{}", uuid::Uuid::new_v4().simple()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_carries_its_id_in_its_answer_its_log_lines_and_an_internal_error() {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Sqlite, &vendor, &[]).await;
    // No proxy is trusted here: an id a client sends is not taken.
    let r = Client::new()
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "chosen-by-client")
        .send()
        .await
        .expect("an answer");
    let given = r.headers().get("x-request-id").cloned();
    assert!(given.is_some(), "every answer names its request");
    assert_ne!(
        given.as_ref().map(|v| v.as_bytes()),
        Some(&b"chosen-by-client"[..])
    );

    // Behind a trusted proxy (this machine), logging JSON.
    let log_path = temp_path("log.json");
    let log = std::fs::File::create(&log_path).expect("log file");
    let process = Process::start_with(
        &app.database_url,
        &[
            ("TESSERA_LOG", "info"),
            ("TESSERA_LOG_FORMAT", "json"),
            ("TESSERA_TRUSTED_PROXIES", "127.0.0.1"),
        ],
        Some(log),
    )
    .await;
    let base = process.base.clone();
    let r = Client::new()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "probe-1")
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.headers()["x-request-id"], "probe-1", "the proxy's id");
    // An id that could break a log line is replaced.
    let r = Client::new()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "a\"b")
        .send()
        .await
        .expect("an answer");
    assert_ne!(r.headers()["x-request-id"], "a\"b");
    // A refusal logged while serving carries the id.
    let r = Client::new()
        .post(format!("{base}/api/login"))
        .header("origin", "https://elsewhere.example")
        .header("x-request-id", "cross-7")
        .form(&[("user_name", "admin"), ("password", "whatever")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // An internal error's body names the request, as its log line does.
    let admin = sign_in(&base, "admin", ADMIN_PASSWORD)
        .await
        .expect("signed in");
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared("ALTER TABLE audit_log RENAME TO audit_log_away")
        .await
        .expect("the table moved away");
    let r = admin
        .post(format!("{base}/api/audit/list"))
        .header("origin", &base)
        .header("x-request-id", "broken-9")
        .form(&[("filter[page]", "1")])
        .send()
        .await
        .expect("an answer");
    let status = r.status();
    let body: Value = r.json().await.expect("a JSON error");
    app.db
        .execute_unprepared("ALTER TABLE audit_log_away RENAME TO audit_log")
        .await
        .expect("the table back");
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body, json!({"error": "internal", "request_id": "broken-9"}));
    process.terminate();
    drop(process);

    let text = std::fs::read_to_string(&log_path).expect("the log");
    let _ = std::fs::remove_file(&log_path);
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{e}: a line not JSON, {line:?}, in the log:\n{text}"))
        })
        .collect();
    assert!(lines.len() >= 3, "{text}");
    let of = |id: &str| -> Vec<&Value> { lines.iter().filter(|l| l["span"]["id"] == id).collect() };
    let cross = of("cross-7");
    assert!(
        cross
            .iter()
            .any(|l| l["fields"]["message"] == "refused a cross-site request"),
        "{cross:?}"
    );
    let broken = of("broken-9");
    assert!(
        broken.iter().any(|l| l["level"] == "ERROR"
            && l["fields"]["request_id"] == "broken-9"
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("internal error"))),
        "{broken:?}"
    );
    app.stop().await;
}

/// The value of the metric line `name{labels}` in `text`, if present.
fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_checkouts_and_refusals_behind_their_token() {
    const TOKEN: &str = "scrape-me-please-0123";
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Sqlite, &vendor, &[]).await;
    // Off unless enabled.
    let r = Client::new()
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    install_floating(&app, &vendor, 2).await;
    let key = enrollment_key(&app).await;
    let process = Process::start_with(
        &app.database_url,
        &[
            ("TESSERA_METRICS", "true"),
            ("TESSERA_METRICS_TOKEN", TOKEN),
        ],
        None,
    )
    .await;
    let base = process.base.clone();
    let scrape = async |token: Option<&str>| {
        let mut r = Client::new().get(format!("{base}/metrics"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.expect("an answer");
        (r.status(), r.text().await.unwrap_or_default())
    };
    assert_eq!(scrape(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(Some("scrape-me-please-0124")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let agent = async |machine: &str, path: &str, token: Option<&str>| {
        let mut r = Client::new().post(format!("{base}/api/v1/agents/{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        } else {
            r = r.json(&json!({ "enrollment_key": key, "machine_id": machine }));
        }
        let r = r.send().await.expect("an answer");
        let status = r.status();
        (status, r.json::<Value>().await.unwrap_or_default())
    };
    let mut tokens = Vec::new();
    for machine in ["a", "b", "c"] {
        let (status, body) = agent(machine, "register", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.push(body["token"].as_str().expect("a token").to_string());
    }
    for token in &tokens {
        agent("", "checkout", Some(token)).await;
    }
    // Asked again: answered from the grants remembered.
    for token in &tokens {
        agent("", "checkout", Some(token)).await;
    }
    let (status, text) = scrape(Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        metric(&text, "tessera_checkouts_total{result=\"licensed\"}"),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "tessera_checkouts_total{result=\"no_license_free\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "tessera_grant_cache_total{result=\"hit\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "tessera_license_changes_total{kind=\"claim\",reason=\"\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("tessera_refusals_total{")
                && l.contains("reason=\"no_license_free\"")
                && l.ends_with(" 2")),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "tessera_licenses_owned{pool=\"\",product=\"ai-server\",kind=\"floating\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "tessera_licenses_in_use{pool=\"\",product=\"ai-server\",kind=\"floating\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        text.contains("tessera_http_request_duration_seconds_bucket{route=\"/api/v1/agents/checkout\",method=\"POST\",status=\"2xx\""),
        "{text}"
    );
    assert!(
        text.contains("tessera_db_connections{state=\"idle\"}"),
        "{text}"
    );
    drop(process);
    app.stop().await;
}

/// Every variable README's table of settings names.
fn documented_settings() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let mut names: Vec<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("TESSERA_") || n.starts_with("LEPTOS_"))
        .map(str::to_string)
        .collect();
    names.dedup();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_documents_every_setting_and_refuses_what_it_does_not_know() {
    let (code, help, _) = run(&["--help"], &[], None).await;
    assert_eq!(code, 0);
    let settings = documented_settings();
    assert!(settings.len() >= 20, "{settings:?}");
    for name in settings.iter().filter(|n| *n != "TESSERA_TEST_CLOCK") {
        assert!(help.contains(name.as_str()), "--help names {name}:\n{help}");
        let flag = format!(
            "--{}",
            name.trim_start_matches("TESSERA_")
                .trim_start_matches("LEPTOS_")
                .to_lowercase()
                .replace('_', "-")
        );
        assert!(help.contains(&flag), "--help has {flag}:\n{help}");
    }
    assert!(help.contains("[default: 12]"), "{help}");
    for command in [
        "serve",
        "migrate",
        "backup",
        "restore",
        "request",
        "usage",
        "healthcheck",
        "user",
    ] {
        assert!(help.contains(command), "{command}:\n{help}");
    }
    let (code, version, _) = run(&["--version"], &[], None).await;
    assert_eq!(code, 0);
    assert!(
        version.starts_with(&format!("tessera {} (", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let (code, _, error) = run(&["--no-such-flag"], &[], None).await;
    assert_eq!(code, 2, "{error}");
    assert!(error.contains("--no-such-flag"), "{error}");
    let (code, _, error) = run(&["migrate", "sideways"], &[], None).await;
    assert_eq!(code, 2, "{error}");
    // A bad setting names itself; a flag wins over its variable.
    let (code, _, error) = run(
        &["migrate", "status", "--session-hours", "0"],
        &[("TESSERA_SESSION_HOURS", "12")],
        None,
    )
    .await;
    assert_eq!(code, 1, "{error}");
    assert!(error.contains("TESSERA_SESSION_HOURS"), "{error}");
    let (code, _, error) = run(&["--log-format", "xml", "migrate", "status"], &[], None).await;
    assert_eq!(code, 1, "{error}");
    assert!(error.contains("TESSERA_LOG_FORMAT"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_status_says_what_is_pending_and_migrate_applies_it() {
    let file = temp_path("migrate.db");
    let url = format!("sqlite://{}", file.display());
    let vars = [("TESSERA_DATABASE_URL", url.as_str())];
    let (code, status, error) = run(&["migrate", "status"], &vars, None).await;
    assert_eq!(code, 0, "{error}");
    assert!(
        status.contains("pending m20261122_000001_foundation"),
        "{status}"
    );
    assert!(
        status.contains("migration(s) pending: run `tessera migrate`"),
        "{status}"
    );
    assert!(!file.exists(), "asking made no database file");
    let (code, done, error) = run(&["migrate"], &vars, None).await;
    assert_eq!(code, 0, "{error}");
    assert!(done.contains("up to date"), "{done}");
    let (code, status, _) = run(&["migrate", "status"], &vars, None).await;
    assert_eq!(code, 0);
    assert!(!status.contains("pending"), "{status}");
    assert!(
        status.contains("applied m20261204_000017_usage_lapses"),
        "{status}"
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_administrator_password_is_reset_from_the_machine() {
    let app = TestApp::start(Backend::Sqlite).await;
    let vars = [("TESSERA_DATABASE_URL", app.database_url.as_str())];
    let before = sign_in(&app.base, "admin", ADMIN_PASSWORD)
        .await
        .expect("signed in");
    // Ten wrong passwords lock the name out for a while.
    for _ in 0..10 {
        let _ = sign_in(&app.base, "admin", "not-the-password-1").await;
    }
    let locked = sign_in(&app.base, "admin", ADMIN_PASSWORD).await.err();
    assert_eq!(locked.map(|(s, _)| s), Some(StatusCode::TOO_MANY_REQUESTS));

    let (code, out, error) = run(
        &["user", "reset-password", "admin", "--password-stdin"],
        &vars,
        Some("a-brand-new-password-42\n"),
    )
    .await;
    assert_eq!(code, 0, "{error}");
    assert!(out.contains("changed"), "{out}");
    assert!(
        sign_in(&app.base, "admin", "a-brand-new-password-42")
            .await
            .is_ok(),
        "the new password works, the throttle forgot the name"
    );
    let r = before
        .post(format!("{}/api/whoami", app.base))
        .header("origin", &app.base)
        .send()
        .await
        .expect("an answer");
    let me: Value = r.json().await.unwrap_or_default();
    assert!(me.is_null(), "the old session ended: {me}");
    // A password made here is printed once.
    let (code, out, _) = run(&["user", "reset-password", "admin"], &vars, None).await;
    assert_eq!(code, 0);
    let made = out
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(made.len() >= 16, "{out}");
    assert!(sign_in(&app.base, "admin", &made).await.is_ok());
    // Refusals name what is wrong and change nothing.
    let (code, _, error) = run(&["user", "reset-password", "nobody"], &vars, None).await;
    assert_eq!(code, 1);
    assert!(error.contains("user"), "{error}");
    let (code, _, error) = run(
        &["user", "reset-password", "admin", "--password-stdin"],
        &vars,
        Some("short\n"),
    )
    .await;
    assert_eq!(code, 1);
    assert!(error.contains("password"), "{error}");
    assert!(sign_in(&app.base, "admin", &made).await.is_ok());
    let audit: Vec<String> = {
        use sea_orm::EntityTrait;
        tessera::audit::entity::Entity::find()
            .all(&app.db)
            .await
            .expect("the audit log")
            .into_iter()
            .filter(|e| e.actor_name == "command line")
            .map(|e| e.kind)
            .collect()
    };
    assert_eq!(audit, ["user_reset_password", "user_reset_password"]);
    app.stop().await;
}

/// Whether the usage record sums to what the database holds (every holding whole).
async fn holdings_whole(db: &sea_orm::DatabaseConnection) -> bool {
    let state = tessera::ledger::usage::state(db).await.expect("the state");
    let record = tessera::ledger::usage::recorded(db)
        .await
        .expect("the record");
    state == record
}

/// The certificates bound to an agent, by agent.
async fn holdings(db: &sea_orm::DatabaseConnection) -> Vec<(String, String)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use tessera::licenses::entity::certificate;
    let mut held: Vec<(String, String)> = certificate::Entity::find()
        .filter(certificate::Column::BoundAgentId.is_not_null())
        .all(db)
        .await
        .expect("the licenses")
        .into_iter()
        .filter_map(|c| Some((c.bound_agent_id?, c.id)))
        .collect();
    held.sort();
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_confirmed_package_and_holding() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::sync::Mutex;
    let vendor = Vendor::new(1);
    let app = Arc::new(TestApp::start_with_vendor(Backend::Sqlite, &vendor, &[]).await);
    install_floating(&app, &vendor, 12).await;
    let key = enrollment_key(&app).await;
    let mut agents = Vec::new();
    for i in 0..16 {
        agents.push(crate::agents::register(&app, &key, &format!("m{i}")).await);
    }
    let tokens: Vec<String> = agents.iter().map(|(_, token)| token.clone()).collect();
    // Load while the backup is taken: agents take and give back licenses (four are always
    // refused: 16 for 12), and packages are uploaded and confirmed one after another.
    let stop = Arc::new(AtomicBool::new(false));
    let confirmed: Arc<Mutex<Vec<String>>> = Arc::default();
    let churn = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for token in &tokens {
                    crate::agents::post(&app, "checkout", Some(token), None).await;
                }
                for token in tokens.iter().step_by(3) {
                    crate::agents::post(&app, "release", Some(token), None).await;
                }
                rounds += 1;
            }
            rounds
        })
    };
    let uploads = {
        let (app, stop, confirmed) = (app.clone(), stop.clone(), confirmed.clone());
        let vendor = Vendor::new(1);
        tokio::spawn(async move {
            let admin = app.admin().await;
            let inst = app.state.installation_id.to_string();
            while !stop.load(Ordering::Relaxed) {
                let cert = vendor.certificate(&inst, "agent");
                let (id, _) = app
                    .upload_outcome(&admin, &vendor.package(std::slice::from_ref(&cert)))
                    .await;
                let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
                assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
                let cert_id = cert["id"].as_str().expect("an id").to_string();
                confirmed.lock().await.push(cert_id);
            }
        })
    };
    // Once the load is seen at work: what was confirmed before the backup began.
    while confirmed.lock().await.len() < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before: Vec<String> = confirmed.lock().await.clone();
    let folder = temp_path("backups");
    std::fs::create_dir_all(&folder).expect("a folder");
    let folder_text = folder.display().to_string();
    let vars = [("TESSERA_DATABASE_URL", app.database_url.as_str())];
    let (code, written, error) = run(&["backup", "--out", &folder_text], &vars, None).await;
    assert_eq!(code, 0, "{error}");
    // More is confirmed while the backup is written or after: the load went on.
    while confirmed.lock().await.len() < before.len() + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = churn.await.expect("the agents' load");
    uploads.await.expect("the uploads");
    assert!(rounds > 0);
    let backup = std::path::PathBuf::from(written.trim());
    let name = backup
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a file name")
        .to_string();
    let schema = {
        use migration::MigratorTrait;
        migration::Migrator::migrations().len()
    };
    assert!(
        name.starts_with(&format!(
            "tessera-{}-schema{schema}-",
            app.state.installation_id
        )) && name.ends_with(".db"),
        "{name}"
    );
    assert!(
        std::fs::read_dir(&folder)
            .expect("the folder")
            .all(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().ends_with(".partial"))),
        "no partial file is left"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("the backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "for its owner only: {mode:o}");
    }

    // Restoring over the database a running Tessera serves is refused, changing nothing.
    let serving = Process::start(&app.database_url).await;
    let backup_text = backup.display().to_string();
    let (code, _, error) = run(&["restore", &backup_text], &vars, None).await;
    assert_eq!(code, 1, "{error}");
    assert!(error.contains("stop it first"), "{error}");
    drop(serving);
    // A damaged or foreign file is refused before anything is replaced.
    let restored_file = temp_path("restored.db");
    let restored_url = format!("sqlite://{}", restored_file.display());
    let to = [("TESSERA_DATABASE_URL", restored_url.as_str())];
    let garbage = temp_path("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a database at all, whatever its name says",
    )
    .expect("written");
    let (code, _, error) = run(&["restore", &garbage.display().to_string()], &to, None).await;
    assert_eq!(code, 1);
    assert!(
        error.contains("not a SQLite database") || error.contains("damaged"),
        "{error}"
    );
    let bytes = std::fs::read(&backup).expect("the backup");
    let torn = temp_path("torn.db");
    std::fs::write(&torn, &bytes[..bytes.len() / 2]).expect("written");
    let (code, _, error) = run(&["restore", &torn.display().to_string()], &to, None).await;
    assert_eq!(code, 1, "a torn copy is refused");
    assert!(
        error.contains("damaged") || error.contains("not a SQLite"),
        "{error}"
    );
    assert!(!restored_file.exists(), "nothing was put in place");

    let (code, said, error) = run(&["restore", &backup_text], &to, None).await;
    assert_eq!(code, 0, "{error}");
    assert!(said.contains(&*app.state.installation_id), "{said}");
    let restored = sea_orm::Database::connect(&restored_url)
        .await
        .expect("the restored database");
    let ids: Vec<String> = {
        use sea_orm::EntityTrait;
        tessera::licenses::entity::certificate::Entity::find()
            .all(&restored)
            .await
            .expect("its licenses")
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    for id in &before {
        assert!(ids.contains(id), "confirmed before the backup: {id}");
    }
    assert!(holdings_whole(&restored).await, "every holding whole");
    let held = holdings(&restored).await;
    assert!(!held.is_empty());
    restored.close().await.ok();
    // The restored installation serves each holder its own license.
    let process = Process::start(&restored_url).await;
    for (agent, license) in &held {
        let token = agents
            .iter()
            .find(|(id, _)| id == agent)
            .map(|(_, token)| token)
            .expect("an agent of the test");
        let r = process.checkout(token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["license_id"].as_str(), Some(license.as_str()));
    }
    drop(process);
    for path in [&backup, &garbage, &torn] {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_dir_all(&folder);
    for suffix in ["", "-wal", "-shm", ".serving"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", restored_file.display()));
    }
    if let Ok(app) = Arc::try_unwrap(app) {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_installation_is_backed_up_with_pg_dump_and_restored_with_pg_restore() {
    use sea_orm::ConnectionTrait;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Postgres, &vendor, &[]).await;
    install_floating(&app, &vendor, 3).await;
    let key = enrollment_key(&app).await;
    let mut tokens = Vec::new();
    for machine in ["a", "b"] {
        let token = crate::agents::register(&app, &key, machine).await.1;
        let r = crate::agents::post(&app, "checkout", Some(&token), None).await;
        assert_eq!(r.status, StatusCode::OK);
        tokens.push((token, r.body["license_id"].clone()));
    }
    // As docs/operations.md says: a dump while Tessera serves, restored into a new database.
    let dump = temp_path("pg.dump");
    let dump_text = dump.display().to_string();
    let status = Command::new("pg_dump")
        .args(["-Fc", "-f", &dump_text, &app.database_url])
        .status()
        .expect("pg_dump runs");
    assert!(status.success());
    let name = format!("tessera_restored_{}", uuid::Uuid::new_v4().simple());
    let base = crate::support::postgres_base();
    let admin = sea_orm::Database::connect(format!("{base}/postgres"))
        .await
        .expect("PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("a new database");
    let restored_url = format!("{base}/{name}");
    let status = Command::new("pg_restore")
        .args([
            "--clean",
            "--if-exists",
            "--no-owner",
            "-d",
            &restored_url,
            &dump_text,
        ])
        .status()
        .expect("pg_restore runs");
    assert!(status.success());
    let process = Process::start(&restored_url).await;
    for (token, license) in &tokens {
        let r = process.checkout(token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(&r.body["license_id"], license, "the license it held");
    }
    let db = sea_orm::Database::connect(&restored_url)
        .await
        .expect("the restored database");
    assert!(holdings_whole(&db).await);
    db.close().await.ok();
    drop(process);
    let _ = std::fs::remove_file(&dump);
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .expect("dropped");
    app.stop().await;
}
