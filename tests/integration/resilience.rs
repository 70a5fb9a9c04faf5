//! Tessera as a process: a stop signal lets the requests in flight finish (none gets a 5xx) and
//! exits 0; no password, hash, token or key reaches the log or an error body.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::{Client, StatusCode};

use crate::agents::{enrollment_key, install_floating, register};
use crate::on_both_databases;
use crate::support::{ADMIN_PASSWORD, Backend, Process, TestApp, Vendor};

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
    let part = reqwest::multipart::Part::bytes(b"not a package".to_vec()).file_name("x.lcs");
    let r = admin
        .post(format!("{base}/licenses/upload"))
        .header("origin", &base)
        .multipart(reqwest::multipart::Form::new().part("package", part))
        .send()
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
    let db = &app.state.db;
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
