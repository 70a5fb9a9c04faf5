//! The test harness: a real Tessera on a fresh database (a SQLite file, or a PostgreSQL database
//! at 127.0.0.1:5432 created for the test and dropped after it), served over HTTP on a free port.
use std::collections::HashMap;

use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;
use tessera::server::{self, clock::Clock, config::Config, state::AppState};

pub const ADMIN_PASSWORD: &str = "admin-password-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Sessions that outlive the days the tests move the clock by: in all, and unused.
pub const LONG_SESSIONS: &[(&str, &str)] = &[
    ("TESSERA_SESSION_HOURS", "720"),
    ("TESSERA_SESSION_IDLE_MINUTES", "43200"),
];

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    /// The test's own connection to the database, for looking at what the server wrote
    /// (the server's is private to it: requests reach it only through a checked caller).
    pub db: DatabaseConnection,
    /// The database it runs on, for other processes to share.
    pub database_url: String,
    /// Taken by [`TestApp::stop`]; a test that fails before it leaves it to `Drop`.
    cleanup: Option<Cleanup>,
    server: tokio::task::JoinHandle<()>,
}

/// What a test's database leaves behind, removed by [`TestApp::stop`] or, when the test failed
/// before reaching it, by `Drop`.
enum Cleanup {
    File(std::path::PathBuf),
    Database { admin_url: String, name: String },
}

impl Cleanup {
    async fn run(self) {
        match self {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Database { admin_url, name } => {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await.ok();
                }
            }
        }
    }
}

impl Drop for TestApp {
    /// A failed assertion unwinds past `stop`: the database is dropped all the same, on a thread
    /// of its own (the test's runtime may be the one unwinding).
    fn drop(&mut self) {
        self.server.abort();
        if let Some(cleanup) = self.cleanup.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(cleanup.run());
                }
            })
            .join();
        }
    }
}

pub fn postgres_base() -> String {
    std::env::var("TESSERA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, &[]).await
    }

    /// Starts with extra configuration variables.
    pub async fn start_with(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("tessera-test-{tag}.db"));
                (format!("sqlite://{}", path.display()), Cleanup::File(path))
            }
            Backend::Postgres => {
                let admin_url = format!("{}/postgres", postgres_base());
                let name = format!("tessera_test_{tag}");
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("PostgreSQL at 127.0.0.1:5432 (see README)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                (
                    format!("{}/{name}", postgres_base()),
                    Cleanup::Database { admin_url, name },
                )
            }
        };
        let mut map: HashMap<String, String> = HashMap::from([
            ("TESSERA_DATABASE_URL".into(), url.clone()),
            ("TESSERA_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
        ]);
        for (k, v) in vars {
            map.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| map.get(k).cloned()).expect("test configuration");
        let db = server::db::connect(&config)
            .await
            .expect("the test's own connection");
        let state = server::prepare(config, Clock::default())
            .await
            .expect("Tessera starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let app = server::http::router(state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestApp {
            base,
            state,
            db,
            database_url: url,
            cleanup: Some(cleanup),
            server,
        }
    }

    /// Another instance on the same database (or the same one restarted), with its own clock;
    /// not served over HTTP.
    pub async fn another_instance(&self, clock: Clock) -> AppState {
        self.another_instance_with(clock, &[]).await
    }

    /// [`TestApp::another_instance`], with more configuration.
    pub async fn another_instance_with(&self, clock: Clock, vars: &[(&str, &str)]) -> AppState {
        let mut map: HashMap<String, String> = HashMap::from([
            ("TESSERA_DATABASE_URL".into(), self.database_url.clone()),
            ("TESSERA_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
        ]);
        map.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_lookup(|k| map.get(k).cloned()).expect("test configuration");
        server::prepare(config, clock)
            .await
            .expect("another instance starts")
    }

    /// Stops the server and removes its database.
    pub async fn stop(mut self) {
        self.server.abort();
        let _ = (&mut self.server).await;
        self.state.close().await;
        self.db.clone().close().await.ok();
        if let Some(cleanup) = self.cleanup.take() {
            cleanup.run().await;
        }
    }

    /// A browser-like client of its own, with its own cookies, and no redirects followed.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Calls a server function as a page would (a same-origin form post); answers the status and
    /// the JSON body.
    pub async fn call(&self, client: &Client, endpoint: &str, form: &[(&str, &str)]) -> Reply {
        let res = client
            .post(format!("{}/api/{endpoint}", self.base))
            .header("origin", &self.base)
            .form(form)
            .send()
            .await
            .expect("request");
        Reply::read(res).await
    }

    /// A client like [`TestApp::client`] whose connections come from `ip` (any 127.x.y.z is this
    /// machine), so the server sees another client address.
    pub fn client_from(&self, ip: &str) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .local_address(ip.parse::<std::net::IpAddr>().expect("an address"))
            .build()
            .expect("client")
    }

    /// One round of the sweeper's work, as each instance runs it every 15 seconds.
    pub async fn sweep(&self) {
        server::sweep(&self.state).await;
    }

    /// Signs in and returns the client holding the session cookie.
    pub async fn sign_in(&self, name: &str, password: &str) -> Client {
        let client = self.client();
        let r = self
            .call(
                &client,
                "login",
                &[("user_name", name), ("password", password)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "sign in as {name}: {:?}", r.body);
        client
    }

    pub async fn admin(&self) -> Client {
        self.sign_in("admin", ADMIN_PASSWORD).await
    }

    /// Creates a user (as `admin`) and answers their id.
    pub async fn create_user(&self, admin: &Client, name: &str, role: &str) -> String {
        let tenant = self.default_tenant(admin).await;
        self.create_user_in(admin, name, role, &tenant).await
    }

    /// Creates a License manager of `tenant` and answers their signed-in client.
    pub async fn license_manager(&self, admin: &Client, name: &str, tenant: &str) -> Client {
        self.create_user_in(admin, name, "license_manager", tenant)
            .await;
        self.sign_in(name, &password_of(name)).await
    }

    /// Creates a user of `tenant` (as `admin`) and answers their id.
    pub async fn create_user_in(
        &self,
        admin: &Client,
        name: &str,
        role: &str,
        tenant: &str,
    ) -> String {
        let r = self
            .call(
                admin,
                "users/create",
                &[
                    ("user_name", name),
                    ("password", &password_of(name)),
                    ("role", role),
                    ("tenant_id", tenant),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "create {name}: {:?}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    pub async fn default_tenant(&self, admin: &Client) -> String {
        let r = self.call(admin, "users/list", &[]).await;
        r.body["tenants"][0]["id"]
            .as_str()
            .expect("default tenant")
            .to_string()
    }

    /// Loads a page as a browser would.
    pub async fn get(&self, client: &Client, path: &str) -> reqwest::Response {
        client
            .get(format!("{}{path}", self.base))
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await
            .expect("request")
    }
}

/// Serves another instance's state over HTTP as `TestApp` serves its own; answers its base URL
/// and the server's task.
pub async fn serve(state: AppState) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app =
        server::http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, task)
}

/// A vendor: a signing key whose public half the app trusts (see [`TestApp::start_with_vendor`]).
pub struct Vendor {
    pub key: ed25519_dalek::SigningKey,
    pub public_pem_path: std::path::PathBuf,
}

impl Vendor {
    pub fn new(seed: u8) -> Vendor {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let (_, public) = tessera::licenses::verify::key_pair_pem(&key).expect("key pair");
        let public_pem_path = std::env::temp_dir().join(format!(
            "tessera-test-vendor-{}.pub",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&public_pem_path, public).expect("write the public key");
        Vendor {
            key,
            public_pem_path,
        }
    }

    /// A certificate's JSON for `installation`, of `license_type`, with the fields its type needs.
    pub fn certificate(&self, installation: &str, license_type: &str) -> Value {
        let mut c = serde_json::json!({
            "format": 1,
            "id": uuid::Uuid::new_v4().to_string(),
            "installation_id": installation,
            "company_id": "acme",
            "product": "ai-server",
            "product_name": "AI Server",
            "type": license_type,
            "mode": "subscription",
            "validity_days": 365,
            "not_before": null,
            "not_after": null,
            "tenant_id": null,
            "issued_at": "2026-11-22T00:00:00Z"
        });
        match license_type {
            "agent" => c["binding"] = "floating".into(),
            "personal" => c["seats"] = 5.into(),
            "server" => c["feature"] = "telephony".into(),
            _ => {}
        }
        c
    }

    /// A package of these certificates, signed.
    pub fn package(&self, certs: &[Value]) -> String {
        certs
            .iter()
            .map(|c| {
                tessera::licenses::verify::sign_certificate(
                    &self.key,
                    &serde_json::to_vec(c).expect("json"),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl TestApp {
    pub async fn start_with_vendor(
        backend: Backend,
        vendor: &Vendor,
        vars: &[(&str, &str)],
    ) -> TestApp {
        let path = vendor.public_pem_path.display().to_string();
        let mut all: Vec<(&str, &str)> = vec![("TESSERA_VENDOR_KEYS", path.as_str())];
        all.extend_from_slice(vars);
        Self::start_with(backend, &all).await
    }

    /// Uploads a package file as the upload form does; answers the staged upload's id, or the
    /// refusal's status and body.
    pub async fn upload(
        &self,
        client: &Client,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<String, Reply> {
        let res = post_package(client, &self.base, &self.base, file_name, bytes)
            .await
            .expect("request");
        if res.status() == StatusCode::SEE_OTHER {
            return Ok(staged_id(&res).expect("the preview page"));
        }
        Err(Reply::read(res).await)
    }

    /// Uploads and answers the preview or refusal.
    pub async fn upload_outcome(&self, admin: &Client, text: &str) -> (String, Value) {
        let id = match self
            .upload(admin, "package.lcs", text.as_bytes().to_vec())
            .await
        {
            Ok(id) => id,
            Err(refused) => refused_upload_id(&refused),
        };
        let r = self
            .call(admin, "licenses/upload_outcome", &[("id", &id)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        (id, r.body)
    }

    pub async fn license_count(&self, client: &Client) -> u64 {
        let r = self.call(client, "licenses/summary", &[]).await;
        r.body["licenses_installed"].as_u64().expect("a count")
    }
}

/// Posts a package file to Tessera at `base` as the upload form does, from `origin`.
pub async fn post_package(
    client: &Client,
    base: &str,
    origin: &str,
    file_name: &str,
    bytes: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string());
    client
        .post(format!("{base}/licenses/upload"))
        .header("origin", origin)
        .multipart(reqwest::multipart::Form::new().part("package", part))
        .send()
        .await
}

/// The staged upload's id, from the redirect of an upload to its preview page.
pub fn staged_id(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("location")?
        .to_str()
        .ok()?
        .strip_prefix("/settings/licenses/upload/")
        .map(str::to_string)
}

/// The preview id a refused upload names, after checking it is a package refusal.
pub fn refused_upload_id(refused: &Reply) -> String {
    assert!(
        matches!(refused.status.as_u16(), 413 | 422),
        "{}: {:?}",
        refused.status,
        refused.body
    );
    assert_eq!(
        refused.error(),
        Some("package_refused"),
        "{:?}",
        refused.body
    );
    refused.body["upload"]
        .as_str()
        .and_then(|u| u.strip_prefix("/settings/licenses/upload/"))
        .expect("the refused upload's page")
        .to_string()
}

pub fn password_of(name: &str) -> String {
    format!("{name}-password")
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub async fn read(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            headers,
        }
    }

    /// The error's kind (`"forbidden"`, `"invalid"`, ...), if it is one.
    pub fn error(&self) -> Option<&str> {
        self.body.get("error").and_then(Value::as_str)
    }
}

/// Runs one async scenario on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario($crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A port free now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `tessera` server process, killed when dropped.
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
    /// Where its log goes when the test gave no file of its own: printed when the test fails,
    /// for the failure to say what the server saw (an internal error's cause is only logged).
    own_log: Option<std::path::PathBuf>,
}

impl Process {
    pub async fn start(database_url: &str) -> Process {
        Self::start_with(database_url, &[], None).await
    }

    /// Starts with more variables, its log (standard output and error) going to `log`.
    pub async fn start_with(
        database_url: &str,
        vars: &[(&str, &str)],
        log: Option<std::fs::File>,
    ) -> Process {
        Self::start_on(free_port(), database_url, vars, log).await
    }

    /// Starts on `port` (a process started again where the one before it served).
    pub async fn start_on(
        port: u16,
        database_url: &str,
        vars: &[(&str, &str)],
        log: Option<std::fs::File>,
    ) -> Process {
        let (log, own_log) = match log {
            Some(file) => (file, None),
            None => {
                let path = std::env::temp_dir().join(format!(
                    "tessera-process-{}.log",
                    uuid::Uuid::new_v4().simple()
                ));
                (
                    std::fs::File::create(&path).expect("a log file"),
                    Some(path),
                )
            }
        };
        let out = log.try_clone().expect("the log file, twice");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("serve")
            .env("TESSERA_DATABASE_URL", database_url)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("TESSERA_LOG", "warn")
            .envs(vars.iter().copied())
            .stdout(out)
            .stderr(log)
            .spawn()
            .expect("start tessera");
        // Owned at once, so it is killed and reaped whatever happens next.
        let mut process = Process {
            child,
            base: format!("http://127.0.0.1:{port}"),
            own_log,
        };
        // However long a busy machine takes: it answers, or it has exited.
        loop {
            if let Ok(r) = Client::new()
                .get(format!("{}/healthz", process.base))
                .send()
                .await
                && r.status() == StatusCode::OK
            {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("tessera at {} exited at start: {status}", process.base);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Asks it to stop, as a service manager does.
    pub fn terminate(&self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits up to `within` for it to exit; answers its status.
    pub async fn exit_status(
        &mut self,
        within: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + within;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }

    pub async fn checkout(&self, token: &str) -> Reply {
        self.agent_call("checkout", token).await
    }

    pub async fn release(&self, token: &str) -> Reply {
        self.agent_call("release", token).await
    }

    async fn agent_call(&self, path: &str, token: &str) -> Reply {
        as_agents_do(async || {
            let r = Client::new()
                .post(format!("{}/api/v1/agents/{path}", self.base))
                .bearer_auth(token)
                .send()
                .await
                .expect("an agent's call");
            Reply::read(r).await
        })
        .await
    }
}

/// An agent's call, asked again after a 503 as agents do (`Retry-After`, shortened here): a busy
/// machine may keep a claim waiting for a database connection past the pool's bound. A server
/// that answers nothing but 503 is a defect: after 300 answers (a minute) the last one is
/// returned, for the test's assertion to name.
pub async fn as_agents_do(call: impl AsyncFn() -> Reply) -> Reply {
    let mut asked = 0;
    loop {
        let reply = call().await;
        asked += 1;
        if reply.status != StatusCode::SERVICE_UNAVAILABLE || asked >= 300 {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(path) = self.own_log.take() {
            if std::thread::panicking() {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                eprintln!("tessera at {} logged:\n{}", self.base, tail.join("\n"));
            }
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The plan the database would follow for `query`, a line each: SQLite's `EXPLAIN QUERY PLAN`
/// details, PostgreSQL's `EXPLAIN` lines. Asked on `conn`, so that a transaction's settings
/// (`SET LOCAL enable_seqscan = off`) apply.
pub async fn plan_of(conn: &impl ConnectionTrait, query: &sea_orm::Statement) -> Vec<String> {
    let backend = conn.get_database_backend();
    let (explain, column) = match backend {
        sea_orm::DatabaseBackend::Postgres => ("EXPLAIN", "QUERY PLAN"),
        _ => ("EXPLAIN QUERY PLAN", "detail"),
    };
    conn.query_all_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        format!("{explain} {}", query.sql),
        query.values.clone().map_or_else(Vec::new, |v| v.0),
    ))
    .await
    .expect("a plan")
    .iter()
    .filter_map(|row| row.try_get::<String>("", column).ok())
    .collect()
}
