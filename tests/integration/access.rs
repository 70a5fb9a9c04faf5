//! Everything the router serves (server functions, the agent API and other routes, and pages),
//! called over HTTP as anonymous, User, License manager, Administrator, an administrator of
//! another tenant, a License manager of another tenant, and an agent: exactly the allowed callers
//! get through, and a License manager never reaches another tenant's agents or users.
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tessera::server::config::Config;

use crate::on_both_databases;
use crate::support::{ADMIN_PASSWORD, Backend, Reply, TestApp, Vendor, password_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    User,
    LicenseManager,
    Administrator,
    /// An administrator whose account belongs to a tenant other than the one the calls act on.
    OtherTenantAdministrator,
    /// A License manager of a tenant other than the one the calls act on: admitted where a
    /// License manager is, but the agents and users of the calls are not theirs to touch.
    OtherTenantLicenseManager,
    /// A registered agent, with its bearer token and no session.
    Agent,
}

/// What a License manager of another tenant gets from a call on this tenant's agent or users: the
/// agent or user is as unknown to them as a missing one (its existence is not told either).
fn out_of_scope(entry: &str, caller: Caller) -> Option<(StatusCode, &'static str)> {
    if caller != Caller::OtherTenantLicenseManager {
        return None;
    }
    match entry {
        "agents/get" => Some((StatusCode::NOT_FOUND, "not_found")),
        "agents/bind" | "agents/shut_down" | "agents/borrow" | "seats/apply" | "seats/recall" => {
            Some((StatusCode::BAD_REQUEST, "invalid"))
        }
        _ => None,
    }
}

impl Caller {
    /// Signed in to the console (agents and strangers are not).
    fn has_session(self) -> bool {
        !matches!(self, Caller::Anonymous | Caller::Agent)
    }
}

/// Who may call each server function, route and page: the one table this test holds Tessera to.
/// Server functions are named by endpoint, routes and pages by `METHOD /path`. An entry the router
/// serves but this table lacks fails the test.
///
/// The Administrator is the installation's built-in role (PRODUCT.md: "everything ... manage users
/// and tenants"), so an administrator whose account lives in another tenant is allowed the same:
/// the table says so explicitly rather than by omission.
fn allowed(entry: &str, caller: Caller) -> bool {
    use Caller::*;
    let admin = matches!(caller, Administrator | OtherTenantAdministrator);
    let manager = admin || matches!(caller, LicenseManager | OtherTenantLicenseManager);
    match entry {
        "whoami" | "login" | "language" | "notifications/alerts" => true,
        "notifications/list" | "notifications/mark_read" => manager,
        "logout" | "seats/mine" | "account/password" | "account/time_zone" => caller.has_session(),
        "licenses/summary" | "licenses/list" => manager,
        "licenses/request"
        | "licenses/upload_outcome"
        | "licenses/confirm"
        | "licenses/delete_all" => admin,
        "users/list" => manager,
        "users/create" | "users/set_role" | "users/set_disabled" | "users/reset_password" => admin,
        "tenants/list"
        | "tenants/create"
        | "tenants/rename"
        | "tenants/delete"
        | "tenants/rotate_key"
        | "tenants/set_release"
        | "tenants/set_max_agents"
        | "tenants/set_lease_time"
        | "tenants/set_borrowing"
        | "tenants/assign" => admin,
        "agents/list"
        | "agents/get"
        | "agents/bind"
        | "agents/shut_down"
        | "agents/borrow"
        | "agents/api_reference" => manager,
        "agents/reset_registration" | "agents/delete" => admin,
        "audit/list" => admin,
        "usage/report" => manager,
        "seats/apply" | "seats/recall" | "seats/product" | "seats/candidates" => manager,

        // Routes.
        "GET /healthz" | "GET /readyz" | "GET /api/v1/openapi.json" => true,
        // The scrape token is the credential (TESSERA_METRICS_TOKEN), which no caller here
        // holds: a session is no way in (operations::metrics_… scrapes with it).
        "GET /metrics" => false,
        // The enrollment key in the body is the credential, whoever sends it.
        "POST /api/v1/agents/register" => true,
        "POST /api/v1/agents/checkout"
        | "POST /api/v1/agents/heartbeat"
        | "POST /api/v1/agents/release"
        | "POST /api/v1/agents/borrow"
        | "POST /api/v1/agents/return" => caller == Agent,
        "POST /licenses/upload" | "GET /settings/audit.csv" => admin,
        "GET /settings/usage.csv"
        | "GET /settings/usage-pools.csv"
        | "GET /settings/usage.json" => manager,
        // Only in a build with the `test-clock` feature, with TESSERA_TEST_CLOCK=1.
        "POST /__test/clock" => admin,

        // Pages.
        "GET /login" => true,
        "GET /" | "GET /account" => caller.has_session(),
        // It only forwards to Settings > Licenses, which decides.
        "GET /settings" => true,
        "GET /settings/licenses"
        | "GET /settings/licenses/product/{product}"
        | "GET /settings/agents"
        | "GET /settings/agents/{id}"
        | "GET /settings/agent-api"
        | "GET /settings/notifications"
        | "GET /settings/usage"
        | "GET /settings/users" => manager,
        "GET /settings/licenses/request"
        | "GET /settings/licenses/upload"
        | "GET /settings/licenses/upload/{id}"
        | "GET /settings/tenants"
        | "GET /settings/audit" => admin,
        other => panic!("{other} has no entry in the authorization matrix"),
    }
}

/// What the calls act on; made afresh for each call where a call uses it up.
struct Fixture {
    target_user: String,
    tenant: String,
    upload: String,
    /// A tenant with nothing in it, for deleting.
    spare_tenant: String,
    /// A registered agent, for deleting.
    agent: String,
    /// An unbound fixed agent license, for binding to `agent`.
    fixed_license: String,
    /// An unbound agent license, for putting in a pool.
    pool_license: String,
    /// A user without a seat of "ai-server" (for recall: with one).
    seat_user: String,
}

/// Well-formed arguments for each server function, so only the caller decides the answer.
fn arguments(endpoint: &str, f: &Fixture) -> Vec<(String, String)> {
    let pairs: Vec<(&str, String)> = match endpoint {
        "licenses/list" => vec![
            ("query[q]", String::new()),
            ("query[sort]", "installed".into()),
            ("query[descending]", "true".into()),
            ("query[page]", "1".into()),
        ],
        "licenses/request" => vec![
            ("company_id", "acme".into()),
            ("target_version", "8.1".into()),
        ],
        "licenses/upload_outcome" | "licenses/confirm" => vec![("id", f.upload.clone())],
        "licenses/delete_all" => vec![("confirmation", "DELETE".into())],
        "login" => vec![
            ("user_name", "target".into()),
            ("password", password_of("target")),
        ],
        "users/create" => vec![
            (
                "user_name",
                format!("new-{}", uuid::Uuid::new_v4().simple()),
            ),
            ("password", "a-long-password".into()),
            ("role", "user".into()),
            ("tenant_id", f.tenant.clone()),
        ],
        "users/set_role" => vec![("user_id", f.target_user.clone()), ("role", "user".into())],
        "users/set_disabled" => vec![
            ("user_id", f.target_user.clone()),
            ("disabled", "false".into()),
        ],
        "language" => vec![("locale", "ru".into())],
        "account/time_zone" => vec![("time_zone", "Europe/Moscow".into())],
        // A wrong current password: changing the callers' own would end the other sessions the
        // matrix goes on using (the change itself: auth::a_user_changes_their_own_password...).
        "account/password" => vec![
            ("current_password", "not-the-current-one".into()),
            ("new_password", "a-long-new-password".into()),
            ("password_repeat", "a-long-new-password".into()),
        ],
        "users/reset_password" => vec![
            ("user_id", f.target_user.clone()),
            ("password", password_of("target")),
        ],
        "tenants/create" => vec![("name", format!("t-{}", uuid::Uuid::new_v4().simple()))],
        "tenants/rename" => vec![
            ("tenant_id", f.spare_tenant.clone()),
            ("name", format!("r-{}", uuid::Uuid::new_v4().simple())),
        ],
        "tenants/delete" | "tenants/rotate_key" => vec![("tenant_id", f.spare_tenant.clone())],
        "tenants/set_release" => vec![("tenant_id", f.tenant.clone()), ("minutes", "15".into())],
        // No cap: the matrix registers an agent for every call.
        "tenants/set_max_agents" => vec![("tenant_id", f.tenant.clone()), ("max", String::new())],
        "tenants/set_lease_time" => {
            vec![("tenant_id", f.tenant.clone()), ("seconds", "300".into())]
        }
        // Borrowing stays on: the agent calls borrow.
        "tenants/set_borrowing" => vec![
            ("tenant_id", f.tenant.clone()),
            ("max_hours", "24".into()),
            ("keep", "0".into()),
        ],
        "agents/borrow" => vec![("agent_id", f.agent.clone()), ("hours", "1".into())],
        "tenants/assign" => vec![
            ("tenant_id", f.tenant.clone()),
            ("license_id", f.pool_license.clone()),
        ],
        "agents/get" | "agents/shut_down" | "agents/reset_registration" | "agents/delete" => {
            vec![("agent_id", f.agent.clone())]
        }
        "seats/product" => vec![("product", "ai-server".into())],
        "audit/list" => vec![
            ("filter[kind]", "sign_in".into()),
            ("filter[page]", "1".into()),
        ],
        "seats/candidates" => vec![("product", "ai-server".into()), ("q", String::new())],
        "usage/report" => vec![("filter[period]", "30d".into())],
        "seats/apply" | "seats/recall" => vec![
            ("product", "ai-server".into()),
            ("user_ids[0]", f.seat_user.clone()),
        ],
        "agents/bind" => vec![
            ("agent_id", f.agent.clone()),
            ("license_id", f.fixed_license.clone()),
            ("understood", "yes".into()),
        ],
        _ => vec![],
    };
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

const ENDPOINTS: [&str; 45] = [
    "whoami",
    "language",
    "login",
    "logout",
    "licenses/summary",
    "licenses/list",
    "licenses/request",
    "licenses/upload_outcome",
    "licenses/confirm",
    "users/list",
    "users/create",
    "users/set_role",
    "users/set_disabled",
    "users/reset_password",
    "tenants/list",
    "tenants/create",
    "tenants/rename",
    "tenants/delete",
    "tenants/rotate_key",
    "tenants/set_release",
    "tenants/set_max_agents",
    "tenants/set_lease_time",
    "tenants/set_borrowing",
    "tenants/assign",
    "agents/list",
    "agents/get",
    "agents/bind",
    "agents/api_reference",
    "agents/shut_down",
    "agents/borrow",
    "agents/reset_registration",
    "agents/delete",
    "seats/apply",
    "seats/recall",
    "seats/product",
    "seats/candidates",
    "seats/mine",
    "account/password",
    "account/time_zone",
    "notifications/alerts",
    "notifications/list",
    "notifications/mark_read",
    "audit/list",
    "usage/report",
    // Last: it deletes the licenses the calls above use.
    "licenses/delete_all",
];

/// What the router serves, read from Tessera itself: its server functions, its other routes (the
/// table the router is built from) and its pages (the Leptos route list), in the order the matrix
/// calls them (server functions last, in [`ENDPOINTS`]' order: the last deletes every license).
fn served(config: &Config) -> Vec<String> {
    let mut entries: Vec<String> = tessera::server::http::routes(config)
        .iter()
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    for page in tessera::server::http::page_routes() {
        let entry = format!("GET {}", page.path());
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    let mut functions: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    let position = |f: &String| ENDPOINTS.iter().position(|e| e == f).unwrap_or(usize::MAX);
    functions.sort_by_key(position);
    entries.extend(functions);
    entries
}

fn test_config(vars: &[(&str, &str)]) -> Config {
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| vars.get(k).cloned()).expect("a configuration")
}

#[tokio::test]
async fn everything_the_router_serves_is_in_the_matrix() {
    // Asking for the browser tests' clock route too: a build with the `test-clock` feature
    // serves it, and then it has its entry.
    let entries = served(&test_config(&[("TESSERA_TEST_CLOCK", "1")]));
    for expected in [
        "POST /api/v1/agents/checkout",
        "POST /licenses/upload",
        "GET /settings/audit.csv",
        "GET /settings/licenses",
        "licenses/confirm",
    ] {
        assert!(
            entries.iter().any(|e| e == expected),
            "{expected}: {entries:?}"
        );
    }
    for entry in &entries {
        // Panics for an entry the matrix lacks.
        let _ = allowed(entry, Caller::Anonymous);
        if !entry.contains(' ') {
            assert!(
                ENDPOINTS.contains(&entry.as_str()),
                "{entry} is not in ENDPOINTS"
            );
        }
    }
    let functions = entries.iter().filter(|e| !e.contains(' ')).count();
    assert_eq!(functions, ENDPOINTS.len());
    // A build without the `test-clock` feature (a release) has no clock route, even when
    // asked for it; with the feature, only when asked.
    let clock = |entries: &[String]| entries.iter().any(|e| e.contains("__test"));
    assert_eq!(
        clock(&entries),
        tessera::server::http::TEST_CLOCK_BUILT,
        "{entries:?}"
    );
    assert!(!clock(&served(&test_config(&[]))));
}

/// Every server function the router serves, asked by a signed-in administrator from another site
/// (by `Origin` or by `Sec-Fetch-Site`), or with GET: refused before it runs.
async fn every_server_function_refuses_foreign_sites_and_gets(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let users_before = app.call(&admin, "users/list", &[]).await.body["total"].clone();
    let paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect();
    assert_eq!(paths.len(), ENDPOINTS.len());
    for path in &paths {
        for (header, value) in [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ] {
            let r = admin
                .post(format!("{}{path}", app.base))
                .header(header, value)
                .form(&[("confirmation", "DELETE"), ("name", "mallory")])
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with {header}");
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            assert_eq!(body["error"], "cross_site", "{path}");
        }
        let r = admin
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "GET {path}");
    }
    // The other state-changing routes too (the agent API included: a browser may not post to it
    // from another site either).
    let posts: Vec<&str> = tessera::server::http::routes(&app.state.config)
        .iter()
        .filter(|r| r.method == Method::POST)
        .map(|r| r.path)
        .collect();
    assert!(posts.contains(&"/licenses/upload"), "{posts:?}");
    for path in posts {
        let r = admin
            .post(format!("{}{path}", app.base))
            .header("origin", "https://evil.example")
            .body("{}")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Nothing changed, and the session still works.
    assert_eq!(
        app.call(&admin, "users/list", &[]).await.body["total"],
        users_before
    );
    app.stop().await;
}

/// One caller: a client with its cookies, and an agent's bearer token for the agent.
struct Who {
    client: reqwest::Client,
    token: Option<String>,
}

impl Who {
    fn request(&self, app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .request(method, format!("{}{path}", app.base))
            .header("origin", &app.base);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }
}

/// Things the routes and pages act on, made once.
struct Shared {
    upload: String,
    agent: String,
    enrollment_key: String,
    package: String,
}

/// Calls a route or page as `who`, with well-formed input, and answers status, body and
/// `Location`.
async fn visit(
    app: &TestApp,
    who: &Who,
    entry: &str,
    shared: &Shared,
) -> (StatusCode, Value, String) {
    let (method, pattern) = entry.split_once(' ').expect("METHOD /path");
    let path = pattern.replace("{product}", "ai-server").replace(
        "{id}",
        if pattern.contains("upload") {
            &shared.upload
        } else {
            &shared.agent
        },
    );
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    let mut req = who.request(app, method, &path);
    req = match pattern {
        // Moving the clock by nothing, for the build with the `test-clock` feature.
        "/__test/clock" => req.json(&serde_json::json!({ "advance_ms": 0 })),
        "/api/v1/agents/borrow" => req.json(&serde_json::json!({ "hours": 1 })),
        "/api/v1/agents/register" => req.json(&serde_json::json!({
            "enrollment_key": shared.enrollment_key,
            "machine_id": format!("m-{}", uuid::Uuid::new_v4().simple()),
        })),
        "/licenses/upload" => req.multipart(
            reqwest::multipart::Form::new().part(
                "package",
                reqwest::multipart::Part::bytes(shared.package.clone().into_bytes())
                    .file_name("package.lcs"),
            ),
        ),
        _ if pattern.starts_with("/api/") => req.json(&serde_json::json!({})),
        _ => req.header("accept", "text/html"),
    };
    let res = req.send().await.expect("request");
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
        location,
    )
}

/// Each kind of caller's calls are a test of their own, so that they run side by side (all seven
/// in one test took 65 to 72 s, the longest of the suite).
macro_rules! admits_exactly_its_callers {
    ($($test:ident: $caller:ident),* $(,)?) => {
        $(
            async fn $test(backend: Backend) {
                everything_served_admits_exactly_its_callers(backend, Caller::$caller).await
            }
            on_both_databases!($test);
        )*
        /// Every kind of caller has its test, once: a new kind does not compile without one,
        /// and a kind named twice is an unreachable pattern (the lints refuse it).
        const _: fn(Caller) = |caller| match caller {
            $(Caller::$caller => {})*
        };
    };
}

admits_exactly_its_callers!(
    everything_served_admits_exactly_anonymous_callers: Anonymous,
    everything_served_admits_exactly_users: User,
    everything_served_admits_exactly_license_managers: LicenseManager,
    everything_served_admits_exactly_administrators: Administrator,
    everything_served_admits_exactly_other_tenants_administrators: OtherTenantAdministrator,
    everything_served_admits_exactly_other_tenants_license_managers: OtherTenantLicenseManager,
    everything_served_admits_exactly_agents: Agent,
);

/// Everything served, called as `caller`: exactly what [`allowed`] says gets through.
async fn everything_served_admits_exactly_its_callers(backend: Backend, caller: Caller) {
    let vendor = Vendor::new(1);
    // The clock route asked for: served (and so called) in a build with `test-clock`.
    let app = TestApp::start_with_vendor(
        backend,
        &vendor,
        &[
            ("TESSERA_TEST_CLOCK", "1"),
            ("TESSERA_METRICS", "true"),
            ("TESSERA_METRICS_TOKEN", "only-the-scraper-has-it"),
        ],
    )
    .await;
    let admin = app.admin().await;
    let tenant = app.default_tenant(&admin).await;
    let target = app.create_user(&admin, "target", "user").await;
    let inst = app.state.installation_id.to_string();
    let package = vendor.package(&[vendor.certificate(&inst, "agent")]);
    app.create_user(&admin, "plain", "user").await;
    app.create_user(&admin, "manager", "license_manager").await;
    // The other administrator's and License manager's accounts live in a tenant of their own.
    let other_tenant = app
        .call(&admin, "tenants/create", &[("name", "Elsewhere")])
        .await;
    let r = app
        .call(
            &admin,
            "users/create",
            &[
                ("user_name", "elsewhere-manager"),
                ("password", &password_of("elsewhere-manager")),
                ("role", "license_manager"),
                (
                    "tenant_id",
                    other_tenant.body["id"].as_str().expect("a tenant id"),
                ),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .call(
            &admin,
            "users/create",
            &[
                ("user_name", "elsewhere-admin"),
                ("password", &password_of("elsewhere-admin")),
                ("role", "administrator"),
                (
                    "tenant_id",
                    other_tenant.body["id"].as_str().expect("a tenant id"),
                ),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Licenses for the agent calls: floating ones for pools and checkouts, and a fixed one per bind.
    // The pool's is fixed: no checkout or borrow of the floating ones can take it first.
    let mut pool = vendor.certificate(&inst, "agent");
    pool["binding"] = "fixed".into();
    let mut fixed: Vec<serde_json::Value> = (0..8)
        .map(|_| {
            let mut c = vendor.certificate(&inst, "agent");
            c["binding"] = "fixed".into();
            c
        })
        .collect();
    let mut all = fixed.clone();
    all.push(pool.clone());
    // Floating: the agent caller's checkout and borrow, and a borrow per allowed `agents/borrow`.
    all.extend((0..6).map(|_| vendor.certificate(&inst, "agent")));
    let mut personal = vendor.certificate(&inst, "personal");
    personal["seats"] = 50.into();
    all.push(personal);
    let (staged, _) = app.upload_outcome(&admin, &vendor.package(&all)).await;
    let r = app
        .call(&admin, "licenses/confirm", &[("id", &staged)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = crate::agents::enrollment_key(&app).await;
    let r = app
        .call(
            &admin,
            "tenants/set_borrowing",
            &[
                ("tenant_id", tenant.as_str()),
                ("max_hours", "24"),
                ("keep", "0"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let (client, token) = match caller {
        Caller::Anonymous => (app.client(), None),
        Caller::User => (app.sign_in("plain", &password_of("plain")).await, None),
        Caller::LicenseManager => (app.sign_in("manager", &password_of("manager")).await, None),
        Caller::Administrator => (app.admin().await, None),
        Caller::OtherTenantAdministrator => (
            app.sign_in("elsewhere-admin", &password_of("elsewhere-admin"))
                .await,
            None,
        ),
        Caller::OtherTenantLicenseManager => (
            app.sign_in("elsewhere-manager", &password_of("elsewhere-manager"))
                .await,
            None,
        ),
        Caller::Agent => {
            let (_, token) = crate::agents::register(&app, &key, "the-agent-caller").await;
            (app.client(), Some(token))
        }
    };
    let who = &Who { client, token };
    let (upload, _) = app.upload_outcome(&admin, &package).await;
    let (agent, _) = crate::agents::register(&app, &key, "a-listed-agent").await;
    let shared = Shared {
        upload,
        agent,
        enrollment_key: key.clone(),
        package: package.clone(),
    };

    let entries = served(&app.state.config);
    for entry in &entries {
        let allow = allowed(entry, caller);
        if let Some((_, path)) = entry.split_once(' ') {
            let (status, body, location) = visit(&app, who, entry, &shared).await;
            let body_start: String = body.to_string().chars().take(300).collect();
            let context = format!("{entry} as {caller:?}: {status} {location} {body_start}");
            let is_page = !path.starts_with("/api/")
                && entry.starts_with("GET ")
                && !path.contains('.')
                && path != "/healthz"
                && path != "/readyz"
                && path != "/metrics";
            match (is_page, allow) {
                // "/settings" itself only forwards to the licenses page.
                (true, true) if path == "/settings" => {
                    assert!(status.is_redirection(), "{context}");
                    assert_eq!(location, "/settings/licenses", "{context}");
                }
                (true, true) => assert_eq!(status, StatusCode::OK, "{context}"),
                (true, false) if !caller.has_session() => {
                    assert_eq!(status, StatusCode::FOUND, "{context}");
                    assert!(location.starts_with("/login"), "{context}");
                    if path.starts_with("/settings/") {
                        assert!(location.starts_with("/login?next=/settings/"), "{context}");
                    }
                }
                (true, false) => assert_eq!(status, StatusCode::FORBIDDEN, "{context}"),
                (false, true) if path == "/licenses/upload" => {
                    assert_eq!(status, StatusCode::SEE_OTHER, "{context}");
                    assert!(
                        location.starts_with("/settings/licenses/upload/"),
                        "{context}"
                    );
                }
                (false, true) => assert_eq!(status, StatusCode::OK, "{context}"),
                (false, false) => {
                    let expected = if path.starts_with("/api/v1/agents/") {
                        (StatusCode::UNAUTHORIZED, "bad_agent_credentials")
                    } else if path == "/metrics" {
                        (StatusCode::UNAUTHORIZED, "not_signed_in")
                    } else if caller.has_session() {
                        (StatusCode::FORBIDDEN, "forbidden")
                    } else {
                        (StatusCode::UNAUTHORIZED, "not_signed_in")
                    };
                    assert_eq!(
                        (status, body["error"].as_str()),
                        (expected.0, Some(expected.1)),
                        "{context}"
                    );
                }
            }
            continue;
        }
        let endpoint = entry.as_str();
        // Signing in and out changes the client's session: those calls get a client of
        // their own.
        let fresh;
        let who = if matches!(endpoint, "login" | "logout") && !caller.has_session() {
            fresh = Who {
                client: app.client(),
                token: who.token.clone(),
            };
            &fresh
        } else if matches!(endpoint, "login" | "logout") {
            let (name, password) = match caller {
                Caller::User => ("plain".to_string(), password_of("plain")),
                Caller::LicenseManager => ("manager".to_string(), password_of("manager")),
                Caller::OtherTenantAdministrator => (
                    "elsewhere-admin".to_string(),
                    password_of("elsewhere-admin"),
                ),
                Caller::OtherTenantLicenseManager => (
                    "elsewhere-manager".to_string(),
                    password_of("elsewhere-manager"),
                ),
                _ => ("admin".to_string(), ADMIN_PASSWORD.to_string()),
            };
            fresh = Who {
                client: app.sign_in(&name, &password).await,
                token: None,
            };
            &fresh
        } else {
            who
        };
        // Each call gets an upload of its own to look at or confirm.
        let (upload, _) = app.upload_outcome(&admin, &package).await;
        let spare = app
            .call(
                &admin,
                "tenants/create",
                &[("name", &format!("s-{}", uuid::Uuid::new_v4().simple()))],
            )
            .await;
        let machine = format!("m-{}", uuid::Uuid::new_v4().simple());
        let (agent, _) = crate::agents::register(&app, &key, &machine).await;
        let fixed_license = match (endpoint, allow) {
            ("agents/bind", true) => fixed.pop().expect("enough fixed licenses"),
            _ => fixed[0].clone(),
        };
        let seat_user = app
            .create_user(
                &admin,
                &format!("s-{}", uuid::Uuid::new_v4().simple()),
                "user",
            )
            .await;
        if endpoint == "seats/recall" {
            let r = app
                .call(
                    &admin,
                    "seats/apply",
                    &[("product", "ai-server"), ("user_ids[0]", &seat_user)],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
        let fixture = Fixture {
            seat_user,
            target_user: target.clone(),
            tenant: tenant.clone(),
            upload,
            spare_tenant: spare.body["id"].as_str().unwrap_or_default().to_string(),
            agent,
            fixed_license: fixed_license["id"].as_str().unwrap_or_default().to_string(),
            pool_license: pool["id"].as_str().unwrap_or_default().to_string(),
        };
        let args = arguments(endpoint, &fixture);
        let r = Reply::read(
            who.request(&app, Method::POST, &format!("/api/{endpoint}"))
                .form(&args)
                .send()
                .await
                .expect("request"),
        )
        .await;
        if allow && endpoint == "account/password" {
            // Through the check of who calls, refused only for the password it was given.
            assert_eq!(
                (r.status, r.error(), r.body["field"].as_str()),
                (
                    StatusCode::BAD_REQUEST,
                    Some("invalid"),
                    Some("current_password")
                ),
                "{endpoint} as {caller:?}: {:?}",
                r.body
            );
        } else if let (true, Some(expected)) = (allow, out_of_scope(endpoint, caller)) {
            assert_eq!(
                (r.status, r.error()),
                (expected.0, Some(expected.1)),
                "{endpoint} as {caller:?}: another tenant's, so unknown: {:?}",
                r.body
            );
        } else if allow {
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{endpoint} as {caller:?} should be allowed: {:?}",
                r.body
            );
        } else {
            let expected = if caller.has_session() {
                (StatusCode::FORBIDDEN, "forbidden")
            } else {
                (StatusCode::UNAUTHORIZED, "not_signed_in")
            };
            assert_eq!(
                (r.status, r.error()),
                (expected.0, Some(expected.1)),
                "{endpoint} as {caller:?} should be refused: {:?}",
                r.body
            );
        }
    }
    app.stop().await;
}

async fn settings_pages_send_strangers_to_sign_in_and_others_to_403(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    app.create_user(&admin, "plain", "user").await;
    app.create_user(&admin, "manager", "license_manager").await;
    let user = app.sign_in("plain", &password_of("plain")).await;
    let manager = app.sign_in("manager", &password_of("manager")).await;

    for path in [
        "/settings/licenses",
        "/settings/users",
        "/settings/tenants",
        "/settings/agents",
        "/settings/audit",
    ] {
        let r = app.get(&app.client(), path).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{path}");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(to, format!("/login?next={path}"));

        assert_eq!(
            app.get(&user, path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            app.get(&admin, path).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        app.get(&manager, "/settings/licenses").await.status(),
        StatusCode::OK
    );
    // License managers see the users list, to give and recall seats there.
    assert_eq!(
        app.get(&manager, "/settings/users").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&manager, "/settings/tenants").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&manager, "/settings/agents").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&manager, "/settings/audit").await.status(),
        StatusCode::FORBIDDEN
    );

    let page = app
        .get(&admin, "/settings/licenses")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&*app.state.installation_id),
        "the installation id is shown"
    );
    assert!(page.contains("No licenses installed yet."));
    app.stop().await;
}

on_both_databases!(
    every_server_function_refuses_foreign_sites_and_gets,
    settings_pages_send_strangers_to_sign_in_and_others_to_403,
);
