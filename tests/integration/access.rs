//! Every server function, called as anonymous, User, License manager and Administrator, over
//! HTTP and without the page: exactly the allowed roles get through.
use reqwest::StatusCode;

use crate::on_both_databases;
use crate::support::{Backend, TestApp, Vendor, password_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    User,
    LicenseManager,
    Administrator,
}

const CALLERS: [Caller; 4] = [
    Caller::Anonymous,
    Caller::User,
    Caller::LicenseManager,
    Caller::Administrator,
];

/// Who may call each server function. A server function missing here fails
/// `every_registered_server_function_is_in_the_matrix`.
fn allowed(endpoint: &str, caller: Caller) -> bool {
    use Caller::*;
    match endpoint {
        "whoami" | "login" | "language" | "notifications/alerts" => true,
        "notifications/list" | "notifications/mark_read" => {
            matches!(caller, LicenseManager | Administrator)
        }
        "logout" | "seats/mine" => caller != Anonymous,
        "licenses/summary" | "licenses/list" => matches!(caller, LicenseManager | Administrator),
        "licenses/request"
        | "licenses/upload_outcome"
        | "licenses/confirm"
        | "licenses/delete_all" => caller == Administrator,
        "users/list" => matches!(caller, LicenseManager | Administrator),
        "users/create" | "users/set_role" | "users/set_disabled" | "users/reset_password" => {
            caller == Administrator
        }
        "tenants/list"
        | "tenants/create"
        | "tenants/rename"
        | "tenants/delete"
        | "tenants/rotate_key"
        | "tenants/set_release"
        | "tenants/assign" => caller == Administrator,
        "agents/list" | "agents/get" | "agents/bind" | "agents/shut_down" => {
            matches!(caller, LicenseManager | Administrator)
        }
        "agents/delete" => caller == Administrator,
        "audit/list" => caller == Administrator,
        "seats/apply" | "seats/recall" | "seats/product" | "seats/candidates" => {
            matches!(caller, LicenseManager | Administrator)
        }
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
    /// An unbound floating agent license, for putting in a pool.
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
        "tenants/assign" => vec![
            ("tenant_id", f.tenant.clone()),
            ("license_id", f.pool_license.clone()),
        ],
        "agents/get" | "agents/shut_down" | "agents/delete" => {
            vec![("agent_id", f.agent.clone())]
        }
        "seats/product" => vec![("product", "ai-server".into())],
        "audit/list" => vec![
            ("filter[kind]", "sign_in".into()),
            ("filter[page]", "1".into()),
        ],
        "seats/candidates" => vec![("product", "ai-server".into()), ("q", String::new())],
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

const ENDPOINTS: [&str; 36] = [
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
    "tenants/assign",
    "agents/list",
    "agents/get",
    "agents/bind",
    "agents/shut_down",
    "agents/delete",
    "seats/apply",
    "seats/recall",
    "seats/product",
    "seats/candidates",
    "seats/mine",
    "notifications/alerts",
    "notifications/list",
    "notifications/mark_read",
    "audit/list",
    // Last: it deletes the licenses the calls above use.
    "licenses/delete_all",
];

#[test]
fn every_registered_server_function_is_in_the_matrix() {
    let registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    assert!(!registered.is_empty());
    for path in &registered {
        assert!(
            ENDPOINTS.contains(&path.as_str()),
            "server function {path} is not in the authorization matrix"
        );
        // And the matrix has an answer for it.
        let _ = allowed(path, Caller::Anonymous);
    }
    assert_eq!(registered.len(), ENDPOINTS.len(), "{registered:?}");
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
    // Nothing changed, and the session still works.
    assert_eq!(
        app.call(&admin, "users/list", &[]).await.body["total"],
        users_before
    );
    app.stop().await;
}

async fn each_server_function_admits_exactly_its_roles(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let tenant = app.default_tenant(&admin).await;
    let target = app.create_user(&admin, "target", "user").await;
    let inst = app.state.installation_id.to_string();
    let package = vendor.package(&[vendor.certificate(&inst, "agent")]);
    app.create_user(&admin, "plain", "user").await;
    app.create_user(&admin, "manager", "license_manager").await;
    // Licenses for the agent calls: one floating for pools, and a fixed one per bind.
    let pool = vendor.certificate(&inst, "agent");
    let mut fixed: Vec<serde_json::Value> = (0..8)
        .map(|_| {
            let mut c = vendor.certificate(&inst, "agent");
            c["binding"] = "fixed".into();
            c
        })
        .collect();
    let mut all = fixed.clone();
    all.push(pool.clone());
    all.push(vendor.certificate(&inst, "personal"));
    let (staged, _) = app.upload_outcome(&admin, &vendor.package(&all)).await;
    let r = app
        .call(&admin, "licenses/confirm", &[("id", &staged)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = crate::agents::enrollment_key(&app).await;

    for endpoint in ENDPOINTS {
        for caller in CALLERS {
            // A fresh session per call, so that logout does not end the next call's session.
            let client = match caller {
                Caller::Anonymous => app.client(),
                Caller::User => app.sign_in("plain", &password_of("plain")).await,
                Caller::LicenseManager => app.sign_in("manager", &password_of("manager")).await,
                Caller::Administrator => app.admin().await,
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
            let fixed_license = match (endpoint, allowed(endpoint, caller)) {
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
            let form: Vec<(&str, &str)> =
                args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let r = app.call(&client, endpoint, &form).await;
            if allowed(endpoint, caller) {
                assert_eq!(
                    r.status,
                    StatusCode::OK,
                    "{endpoint} as {caller:?} should be allowed: {:?}",
                    r.body
                );
            } else {
                let expected = if caller == Caller::Anonymous {
                    (StatusCode::UNAUTHORIZED, "not_signed_in")
                } else {
                    (StatusCode::FORBIDDEN, "forbidden")
                };
                assert_eq!(
                    (r.status, r.error()),
                    (expected.0, Some(expected.1)),
                    "{endpoint} as {caller:?} should be refused: {:?}",
                    r.body
                );
            }
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
    each_server_function_admits_exactly_its_roles,
    settings_pages_send_strangers_to_sign_in_and_others_to_403,
);
