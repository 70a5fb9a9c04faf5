//! Tessera as a process: a stop signal lets the requests in flight finish (none gets a 5xx) and
//! exits 0; no password, hash, token or key reaches the log or an error body.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::{Client, StatusCode};

use crate::agents::{enrollment_key, install_floating, register};
use crate::on_both_databases;
use crate::support::{ADMIN_PASSWORD, Backend, Process, TestApp, Vendor, post_package, staged_id};

async fn sigterm_finishes_the_requests_in_flight_and_exits_0(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    install_floating(&app, &vendor, 8).await;
    let key = enrollment_key(&app).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(register(&app, &key, &format!("machine-{i}")).await.1);
    }
    let mut process = Process::start(&app.database_url).await;
    let base = process.base.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (base, stop) = (base.clone(), stop.clone());
            tokio::spawn(async move {
                let client = Client::new();
                let mut answers: Vec<u16> = Vec::new();
                let mut refused = 0;
                while !stop.load(Ordering::Relaxed) {
                    let checkout = client
                        .post(format!("{base}/api/v1/agents/checkout"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    let page = client.get(format!("{base}/login")).send().await;
                    for r in [checkout, page] {
                        match r {
                            Ok(r) => answers.push(r.status().as_u16()),
                            // Once it stops accepting, new connections are refused: expected.
                            Err(_) => refused += 1,
                        }
                    }
                }
                (answers, refused)
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    process.terminate();
    let status = process
        .exit_status(std::time::Duration::from_secs(15))
        .await;
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    let mut refused = 0;
    for w in workers {
        let (a, r) = w.await.expect("worker");
        answers.extend(a);
        refused += r;
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "exits 0 after SIGTERM, within the deadline: {status:?}"
    );
    assert!(
        answers.len() > 20,
        "it was under load: {} answers",
        answers.len()
    );
    let server_errors: Vec<_> = answers.iter().filter(|s| **s >= 500).collect();
    assert!(server_errors.is_empty(), "no 5xx: {server_errors:?}");
    assert!(
        answers.iter().all(|s| [200, 402].contains(s)),
        "every answer a page or a checkout decision"
    );
    assert!(refused > 0, "new requests were refused once it stopped");
    app.stop().await;
}

async fn post_form(
    client: &Client,
    base: &str,
    endpoint: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = client
        .post(format!("{base}/api/{endpoint}"))
        .header("origin", base)
        .form(form)
        .send()
        .await
        .expect("request");
    (r.status(), r.text().await.unwrap_or_default())
}

async fn no_secret_reaches_the_log_or_an_error_body(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};
    const WRONG: &str = "Wrong-Secret-Password-91";
    const NEW_PASSWORD: &str = "new-user-secret-password-77";
    const RESET_PASSWORD: &str = "reset-secret-password-55";
    const FORGED: &str = "forged-secret-agent-token-13";
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let log_path =
        std::env::temp_dir().join(format!("tessera-log-{}.txt", uuid::Uuid::new_v4().simple()));
    let log = std::fs::File::create(&log_path).expect("log file");
    let keys = vendor.public_pem_path.display().to_string();
    let mut process = Process::start_with(
        &app.database_url,
        &[
            ("TESSERA_LOG", "debug"),
            ("TESSERA_VENDOR_KEYS", keys.as_str()),
        ],
        Some(log),
    )
    .await;
    let base = process.base.clone();
    let mut bodies = Vec::new();

    let stranger = Client::new();
    bodies.push(
        post_form(
            &stranger,
            &base,
            "login",
            &[("user_name", "admin"), ("password", WRONG)],
        )
        .await,
    );
    bodies.push(
        post_form(
            &stranger,
            &base,
            "login",
            &[("user_name", "nobody"), ("password", WRONG)],
        )
        .await,
    );
    let admin = Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let (status, _) = post_form(
        &admin,
        &base,
        "login",
        &[("user_name", "admin"), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let tenant = app.default_tenant(&app.admin().await).await;
    let (status, created) = post_form(
        &admin,
        &base,
        "users/create",
        &[
            ("user_name", "secretive"),
            ("password", NEW_PASSWORD),
            ("role", "user"),
            ("tenant_id", &tenant),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    bodies.push((status, created.clone()));
    let id = serde_json::from_str::<serde_json::Value>(&created)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap_or_default();
    bodies.push(
        post_form(
            &admin,
            &base,
            "users/reset_password",
            &[("user_id", &id), ("password", RESET_PASSWORD)],
        )
        .await,
    );
    // Refusals: a short password, a cross-site post, a forged agent token, a garbage upload.
    bodies.push(
        post_form(
            &admin,
            &base,
            "users/reset_password",
            &[("user_id", &id), ("password", "short")],
        )
        .await,
    );
    let r = admin
        .post(format!("{base}/api/users/reset_password"))
        .header("origin", "https://evil.example")
        .form(&[("user_id", id.as_str()), ("password", RESET_PASSWORD)])
        .send()
        .await
        .expect("request");
    bodies.push((r.status(), r.text().await.unwrap_or_default()));
    let r = stranger
        .post(format!("{base}/api/v1/agents/checkout"))
        .bearer_auth(FORGED)
        .send()
        .await
        .expect("request");
    bodies.push((r.status(), r.text().await.unwrap_or_default()));
    let key = enrollment_key(&app).await;
    let r = stranger
        .post(format!("{base}/api/v1/agents/register"))
        .json(&serde_json::json!({ "enrollment_key": key, "machine_id": "m-secret" }))
        .send()
        .await
        .expect("request");
    let token = r
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert!(!token.is_empty());
    let r = stranger
        .post(format!("{base}/api/v1/agents/checkout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    bodies.push((r.status(), r.text().await.unwrap_or_default()));
    let r = post_package(&admin, &base, &base, "x.lcs", b"not a package".to_vec())
        .await
        .expect("request");
    bodies.push((r.status(), r.text().await.unwrap_or_default()));

    process.terminate();
    process
        .exit_status(std::time::Duration::from_secs(15))
        .await;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    assert!(log.contains("signed in"), "the log was captured: {log}");

    // Every secret the installation holds.
    let db = &app.db;
    let backend_kind = db.get_database_backend();
    let column = |sql: &str| {
        let sql = sql.to_string();
        async move {
            db.query_all_raw(Statement::from_string(backend_kind, sql))
                .await
                .expect("query")
                .into_iter()
                .filter_map(|row| row.try_get_by_index::<String>(0).ok())
                .collect::<Vec<String>>()
        }
    };
    let mut secrets: Vec<String> = vec![
        ADMIN_PASSWORD.into(),
        WRONG.into(),
        NEW_PASSWORD.into(),
        RESET_PASSWORD.into(),
        FORGED.into(),
        token.clone(),
    ];
    secrets.extend(column("SELECT password_hash FROM users").await);
    secrets.extend(column("SELECT token_secret FROM installation").await);
    secrets.extend(column("SELECT token_hash FROM agents").await);
    secrets.extend(
        column("SELECT enrollment_key FROM tenants WHERE enrollment_key IS NOT NULL").await,
    );
    assert!(secrets.len() >= 10, "{secrets:?}");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log holds a secret");
        for (status, body) in &bodies {
            assert!(
                !body.contains(secret.as_str()),
                "a {status} body holds a secret: {body}"
            );
        }
    }
    app.stop().await;
}

on_both_databases!(
    sigterm_finishes_the_requests_in_flight_and_exits_0,
    no_secret_reaches_the_log_or_an_error_body,
);

/// One value of a single-column query, as i64.
async fn number(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .expect("query")
    .and_then(|row| row.try_get_by_index::<i64>(0).ok())
    .unwrap_or(-1)
}

/// SIGKILL in the middle of package confirmations, seat applications and agent checkouts, five
/// times over: after each kill every operation is whole or absent, and SQLite is intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_write_it_keeps_every_operation_whole() {
    use sea_orm::{ConnectionTrait, Statement};
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Sqlite, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    // Five seats for twelve users; ten floating licenses for twenty agents.
    let mut personal = vendor.certificate(&inst, "personal");
    personal["product"] = "crm".into();
    let (id, _) = app
        .upload_outcome(&admin, &vendor.package(&[personal]))
        .await;
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    install_floating(&app, &vendor, 10).await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(app.create_user(&admin, &format!("crash{i}"), "user").await);
    }
    let key = enrollment_key(&app).await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(register(&app, &key, &format!("crash-machine-{i}")).await.1);
    }
    let keys = vendor.public_pem_path.display().to_string();
    let vars = [
        ("TESSERA_VENDOR_KEYS", keys.as_str()),
        ("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    for round in 0..5u64 {
        let mut process = Process::start_with(&app.database_url, &vars, None).await;
        let base = process.base.clone();
        let client = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let (status, _) = post_form(
            &client,
            &base,
            "login",
            &[("user_name", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let stop = Arc::new(AtomicBool::new(false));
        // What this round saw done: packages confirmed, seats given (answers 200).
        let confirmed = Arc::new(AtomicUsize::new(0));
        let applied = Arc::new(AtomicUsize::new(0));
        // Packages of 30 new certificates, uploaded and confirmed one after another.
        let packages = {
            let (client, base, stop, confirmed) = (
                client.clone(),
                base.clone(),
                stop.clone(),
                confirmed.clone(),
            );
            let texts: Vec<String> = (0..30)
                .map(|_| {
                    let certs: Vec<_> = (0..30)
                        .map(|_| vendor.certificate(&inst, "agent"))
                        .collect();
                    vendor.package(&certs)
                })
                .collect();
            tokio::spawn(async move {
                for text in texts {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(r) =
                        post_package(&client, &base, &base, "p.lcs", text.into_bytes()).await
                    else {
                        break;
                    };
                    let staged = staged_id(&r).unwrap_or_default();
                    match post_form_ok(&client, &base, "licenses/confirm", &[("id", &staged)]).await
                    {
                        None => break,
                        Some(StatusCode::OK) => {
                            confirmed.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(_) => {}
                    }
                }
            })
        };
        // Seats given and recalled in groups of three.
        let seats = {
            let (client, base, stop, users, applied) = (
                client.clone(),
                base.clone(),
                stop.clone(),
                users.clone(),
                applied.clone(),
            );
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Each group of three is given its seats, then recalled: whatever a kill left held is
                    // recalled within one cycle, so seats are given again in every round.
                    let group: Vec<&String> = users.iter().skip(i / 2 % 4 * 3).take(3).collect();
                    let mut form = vec![("product", "crm".to_string())];
                    for (n, u) in group.iter().enumerate() {
                        form.push((
                            ["user_ids[0]", "user_ids[1]", "user_ids[2]"][n],
                            u.to_string(),
                        ));
                    }
                    let form: Vec<(&str, &str)> =
                        form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let endpoint = if i % 2 == 0 {
                        "seats/apply"
                    } else {
                        "seats/recall"
                    };
                    match post_form_ok(&client, &base, endpoint, &form).await {
                        None => break,
                        Some(StatusCode::OK) if endpoint == "seats/apply" => {
                            applied.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(_) => {}
                    }
                    i += 1;
                }
            })
        };
        // Agents checking out.
        let checkouts: Vec<_> = tokens
            .iter()
            .cloned()
            .map(|token| {
                let (base, stop) = (base.clone(), stop.clone());
                tokio::spawn(async move {
                    let client = Client::new();
                    while !stop.load(Ordering::Relaxed) {
                        if client
                            .post(format!("{base}/api/v1/agents/checkout"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                })
            })
            .collect();
        // Killed only once this round has seen a package confirmed and seats given, so a busy
        // machine cannot kill it before any work is done; then at a point that moves from round
        // to round, with more confirmations and applications on their way.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while confirmed.load(Ordering::Relaxed) == 0 || applied.load(Ordering::Relaxed) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: no package confirmed or no seats given in five minutes"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(37 * round)).await;
        let _ = process.child.kill();
        let _ = process.child.wait();
        stop.store(true, Ordering::Relaxed);
        let _ = packages.await;
        let _ = seats.await;
        for c in checkouts {
            let _ = c.await;
        }

        // Checked on a connection of its own, opened after the kill: SQLite 3.51's
        // `PRAGMA integrity_check` on a connection that read the FTS5 search table before another
        // process wrote to it compares against its stale copy of the index's structure and
        // answers "fts5: checksum mismatch" for an intact file (reproduced outside Tessera with
        // two connections and the C API; any query of the table first refreshes it).
        let fresh = sea_orm::Database::connect(format!("{}?mode=ro", app.database_url))
            .await
            .expect("the file opens");
        let check = fresh
            .query_one_raw(Statement::from_string(
                fresh.get_database_backend(),
                "PRAGMA integrity_check".to_string(),
            ))
            .await
            .expect("integrity check")
            .and_then(|row| row.try_get_by_index::<String>(0).ok());
        fresh.close().await.expect("closed");
        assert_eq!(check.as_deref(), Some("ok"), "round {round}");
        let db = &app.db;
        assert_eq!(
            number(db, "SELECT COUNT(*) FROM packages p WHERE p.certificate_count <> (SELECT COUNT(*) FROM certificates c WHERE c.package_id = p.id)").await,
            0,
            "round {round}: a package is stored whole or not at all"
        );
        assert_eq!(
            number(db, "SELECT COUNT(*) FROM certificates c WHERE c.package_id NOT IN (SELECT id FROM packages)").await,
            0,
            "round {round}: no certificate without its package"
        );
        assert_eq!(
            number(db, "SELECT COUNT(*) FROM certificates c WHERE (SELECT COUNT(*) FROM seats s WHERE s.certificate_id = c.id) > COALESCE(c.seats, 0) AND c.license_type = 'personal'").await,
            0,
            "round {round}: never more holders than seats"
        );
        assert_eq!(
            number(db, "SELECT COUNT(*) FROM (SELECT license_id FROM agents WHERE license_id IS NOT NULL GROUP BY license_id HAVING COUNT(*) > 1) t").await,
            0,
            "round {round}: no license held by two agents"
        );
        assert!(
            number(db, "SELECT COUNT(*) FROM seats").await % 3 == 0,
            "round {round}: seats go in whole groups of three"
        );
    }
    // Work was being done when it was killed: packages confirmed and seats given by the process,
    // in every round (two packages were confirmed before the first).
    let db = &app.db;
    assert!(number(db, "SELECT COUNT(*) FROM packages").await >= 2 + 5);
    assert!(
        number(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE kind = 'seats_apply' AND outcome = 'ok'"
        )
        .await
            > 0
    );
    // After the last kill it starts again and serves.
    let process = Process::start_with(&app.database_url, &vars, None).await;
    assert_eq!(process.checkout(&tokens[0]).await.status, StatusCode::OK);
    drop(process);
    app.stop().await;
}

/// Posts a form; `None` when the server could not be reached (it was killed).
async fn post_form_ok(
    client: &Client,
    base: &str,
    endpoint: &str,
    form: &[(&str, &str)],
) -> Option<StatusCode> {
    client
        .post(format!("{base}/api/{endpoint}"))
        .header("origin", base)
        .form(form)
        .send()
        .await
        .ok()
        .map(|r| r.status())
}
