//! Database faults: PostgreSQL stopped and started again under load. While it is down Tessera
//! answers 503 with a clear message (never a 500, never "signed out"); it recovers by itself
//! within seconds; and no write it confirmed is lost, nor any package half stored.
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::support::{ADMIN_PASSWORD, Process, Vendor, post_package, staged_id};

/// A PostgreSQL cluster of this test's own, on a free port, so that stopping it disturbs no other
/// test. Removed when dropped.
struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's programs under /usr/lib/postgresql (see README)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let dir =
            std::env::temp_dir().join(format!("tessera-pg-{}", uuid::Uuid::new_v4().simple()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = OwnPostgres { bin, dir, port };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.dir.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        pg.server_start();
        pg
    }

    /// Runs one of PostgreSQL's programs, as the `postgres` user when this test runs as root
    /// (PostgreSQL refuses to run as root).
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
        let status = if root {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        } else {
            Command::new(&path)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        };
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "{program} {args:?}"
        );
    }

    fn server_start(&self) {
        let dir = self.dir.display().to_string();
        let options = format!(
            "-p {} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &dir,
                "-o",
                &options,
                "-l",
                &format!("{dir}/log"),
                "-w",
                "start",
            ],
        );
    }

    /// Stops it as an administrator restarting the database does: open sessions are ended.
    fn server_stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.dir.display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                &self.dir.display().to_string(),
                "-m",
                "immediate",
                "stop",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the load saw, by status, and the packages whose confirmation was answered 200.
#[derive(Default)]
struct Seen {
    statuses: Vec<(StatusCode, Value)>,
    confirmed: Vec<Vec<String>>,
    attempted: Vec<Vec<String>>,
}

async fn post(
    client: &Client,
    base: &str,
    endpoint: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    match client
        .post(format!("{base}/api/{endpoint}"))
        .header("origin", base)
        .form(form)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("{endpoint}: Tessera itself must keep answering: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_answers_503_then_recovers_losing_nothing() {
    let pg = OwnPostgres::start();
    let admin_db = Database::connect(pg.url("postgres"))
        .await
        .expect("the test's own PostgreSQL");
    admin_db
        .execute_unprepared("CREATE DATABASE tessera")
        .await
        .expect("create the database");
    admin_db.close().await.ok();
    let url = pg.url("tessera");
    let vendor = Vendor::new(1);
    let keys = vendor.public_pem_path.display().to_string();
    let process = Process::start_with(
        &url,
        &[
            ("TESSERA_VENDOR_KEYS", keys.as_str()),
            ("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
        None,
    )
    .await;
    let base = process.base.clone();
    let client = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let (status, body) = post(
        &client,
        &base,
        "login",
        &[("user_name", "admin"), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, who) = post(&client, &base, "whoami", &[]).await;
    let installation = {
        let db = Database::connect(&url).await.expect("connect");
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT installation_id FROM installation",
            ))
            .await
            .expect("query")
            .expect("the installation");
        let id: String = row.try_get_by_index(0).expect("its id");
        db.close().await.ok();
        id
    };
    assert_eq!(who["name"], "admin");

    // The load: uploads confirmed one after another, and reads of the licenses page's data.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, base, seen, stop) = (client.clone(), base.clone(), seen.clone(), stop.clone());
        let texts: Vec<(Vec<String>, String)> = (0..400)
            .map(|_| {
                let certs: Vec<Value> = (0..5)
                    .map(|_| vendor.certificate(&installation, "agent"))
                    .collect();
                let ids = certs
                    .iter()
                    .map(|c| c["id"].as_str().unwrap_or_default().to_string())
                    .collect();
                (ids, vendor.package(&certs))
            })
            .collect();
        tokio::spawn(async move {
            for (ids, text) in texts {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = post_package(&client, &base, &base, "p.lcs", text.into_bytes())
                    .await
                    .expect("Tessera answers uploads");
                let Some(staged) = staged_id(&r) else {
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    seen.lock().await.statuses.push((status, body));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let (status, body) =
                    post(&client, &base, "licenses/confirm", &[("id", &staged)]).await;
                let mut seen = seen.lock().await;
                seen.attempted.push(ids.clone());
                if status == StatusCode::OK {
                    seen.confirmed.push(ids);
                }
                seen.statuses.push((status, body));
                drop(seen);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let reader = {
        let (client, base, seen, stop) = (client.clone(), base.clone(), seen.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = post(&client, &base, "licenses/summary", &[]).await;
                seen.lock().await.statuses.push(r);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.server_stop();
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // While it is down: a page says so in plain words, and calls get the 503 error.
    let page = client
        .get(format!("{base}/settings/licenses"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.headers()["retry-after"], "5");
    let text = page.text().await.unwrap_or_default();
    assert!(text.contains("cannot reach its database"), "{text}");
    let asked = Instant::now();
    let (status, body) = post(&client, &base, "licenses/summary", &[]).await;
    let answered_in = asked.elapsed();
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    // The health check answers for the process, with or without the admin's session cookie.
    for caller in [&Client::new(), &client] {
        let health = caller
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(health.status(), StatusCode::OK, "Tessera itself stays up");
        // Ready it is not, and it says why.
        let ready = caller
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        let why = ready.text().await.unwrap_or_default();
        assert!(why.contains("database does not answer"), "{why}");
    }

    pg.server_start();
    let up_at = Instant::now();
    // It recovers by itself: no restart of Tessera.
    let recovered = loop {
        let (status, _) = post(&client, &base, "licenses/summary", &[]).await;
        if status == StatusCode::OK {
            break up_at.elapsed();
        }
        assert!(
            up_at.elapsed() < Duration::from_secs(15),
            "not recovered 15 s after"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ready = Client::new()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK, "ready again, by itself");
    // Some writes after recovery too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("the writer");
    reader.await.expect("the reader");
    eprintln!(
        "database down for {:.1} s; a call during the outage answered 503 in {} ms; \
         Tessera answering again {} ms after it came back",
        (up_at - down_at).as_secs_f64(),
        answered_in.as_millis(),
        recovered.as_millis()
    );

    let seen = seen.lock().await;
    let unavailable = seen
        .statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(unavailable > 0, "the outage was seen as 503s");
    for (status, body) in &seen.statuses {
        assert!(
            *status == StatusCode::OK || *status == StatusCode::SERVICE_UNAVAILABLE,
            "only 200 or 503, got {status}: {body}"
        );
        if *status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["error"], "unavailable", "{body}");
        }
    }
    assert!(
        seen.confirmed.len() >= 2,
        "writes were confirmed around the outage"
    );

    // Every confirmed package is stored whole; every other one whole or not at all.
    let db = Database::connect(&url).await.expect("connect");
    let count = |ids: &[String]| {
        let list = ids
            .iter()
            .map(|id| format!("'{id}'"))
            .collect::<Vec<_>>()
            .join(",");
        let db = &db;
        async move {
            db.query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT count(*) FROM certificates WHERE id IN ({list})"),
            ))
            .await
            .expect("query")
            .and_then(|row| row.try_get_by_index::<i64>(0).ok())
            .unwrap_or(-1)
        }
    };
    for ids in &seen.confirmed {
        assert_eq!(
            count(ids).await,
            ids.len() as i64,
            "a confirmed package was lost"
        );
    }
    for ids in &seen.attempted {
        let n = count(ids).await;
        assert!(
            n == 0 || n == ids.len() as i64,
            "a package half stored: {n} of {}",
            ids.len()
        );
    }
    db.close().await.ok();
    drop(process);
}
