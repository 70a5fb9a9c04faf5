//! Attacks on the web console over HTTP (issue 20, items 5, 7, 8 and 11): the test clock's
//! route, the security headers and the script nonce, redirects after signing in, absurd pages
//! and searches, certificate ids that are not UUIDs, and the SQLite file's permissions.
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use serde_json::json;
use tessera::server::http::TEST_CLOCK_BUILT;

use crate::on_both_databases;
use crate::support::{ADMIN_PASSWORD, Backend, Reply, TestApp, Vendor, password_of};

const DAY_MS: i64 = 86_400_000;

/// `POST /__test/clock` a year on, as `client`.
async fn move_clock_a_year(app: &TestApp, client: &reqwest::Client) -> StatusCode {
    client
        .post(format!("{}/__test/clock", app.base))
        .json(&json!({ "advance_ms": 365 * DAY_MS }))
        .send()
        .await
        .expect("request")
        .status()
}

/// Item 5: the clock's route, asked for with `TESSERA_TEST_CLOCK=1`, does not exist in a build
/// without the `test-clock` feature (the tests' own build); in a build with it, only an
/// Administrator moves the clock. Nobody else moves it by a millisecond.
async fn only_an_administrator_of_a_test_build_moves_the_clock(backend: Backend) {
    let app = TestApp::start_with(backend, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let admin = app.admin().await;
    app.create_user(&admin, "plain", "user").await;
    app.create_user(&admin, "manager", "license_manager").await;
    let user = app.sign_in("plain", &password_of("plain")).await;
    let manager = app.sign_in("manager", &password_of("manager")).await;
    let before = app.state.clock.now_ms();
    let refused = if TEST_CLOCK_BUILT {
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
        ]
    } else {
        [StatusCode::NOT_FOUND; 3]
    };
    for (who, client, expected) in [
        ("a stranger", app.client(), refused[0]),
        ("a User", user, refused[1]),
        ("a License manager", manager, refused[2]),
    ] {
        assert_eq!(move_clock_a_year(&app, &client).await, expected, "{who}");
        assert!(
            app.state.clock.now_ms() - before < DAY_MS,
            "{who} moved the clock"
        );
    }
    let by_admin = move_clock_a_year(&app, &admin).await;
    if TEST_CLOCK_BUILT {
        assert_eq!(by_admin, StatusCode::OK);
        assert!(app.state.clock.now_ms() - before >= 365 * DAY_MS);
    } else {
        assert_eq!(by_admin, StatusCode::NOT_FOUND);
        assert!(app.state.clock.now_ms() - before < DAY_MS);
    }
    app.stop().await;
}

/// Each `<script ...>` element in `html`: its `nonce="..."` (`None` without one) and whether it
/// holds anything to run.
fn scripts(html: &str) -> Vec<(Option<String>, bool)> {
    html.match_indices("<script")
        .map(|(at, _)| {
            let rest = &html[at..];
            let tag = &rest[..rest.find('>').expect("a whole tag")];
            let body = &rest[tag.len() + 1..];
            let body = &body[..body.find("</script>").expect("a closed script")];
            let nonce = tag
                .split_once("nonce=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(nonce, _)| nonce.to_string());
            (nonce, !body.trim().is_empty() || tag.contains("src="))
        })
        .collect()
}

/// The nonce the `Content-Security-Policy` admits scripts by.
fn policy_nonce(csp: &str) -> String {
    let (_, rest) = csp.split_once("'nonce-").expect("a nonce in the policy");
    rest.split_once('\'').expect("a quoted nonce").0.to_string()
}

fn header(r: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> &str {
    r.get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("a readable header")
}

/// Item 7: every page has a Content-Security-Policy whose fresh nonce is on every script it
/// holds and admits nothing else inline, and the headers that keep it from being sniffed,
/// framed, cached or followed by a referrer; secrets (enrollment keys, agent tokens) are never
/// stored by a cache; HSTS over HTTPS only.
async fn pages_and_secrets_carry_the_security_headers(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let stranger = app.client();
    let mut nonces = Vec::new();
    for (client, path, status) in [
        (&stranger, "/login", StatusCode::OK),
        (&stranger, "/login?next=%2Fsettings%2Fusers", StatusCode::OK),
        (&admin, "/settings/licenses", StatusCode::OK),
        (&admin, "/settings/tenants", StatusCode::OK),
        (&admin, "/settings/users", StatusCode::OK),
        (&admin, "/no/such/page", StatusCode::NOT_FOUND),
    ] {
        let r = app.get(client, path).await;
        assert_eq!(r.status(), status, "{path}");
        let headers = r.headers().clone();
        let csp = header(&headers, CONTENT_SECURITY_POLICY).to_string();
        for part in [
            "default-src 'self'",
            "script-src 'self' 'nonce-",
            "'wasm-unsafe-eval'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {part} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        let nonce = policy_nonce(&csp);
        assert!(nonce.len() >= 22, "{path}: {nonce}");
        let html = r.text().await.expect("a page");
        let found = scripts(&html);
        assert!(
            found.iter().any(|(_, runs)| *runs),
            "{path}: the hydration script is there"
        );
        // Every script that runs carries exactly this answer's nonce. (leptos_i18n leaves an empty
        // `<script></script>` placeholder in the body, which a browser neither runs nor checks.)
        for (script_nonce, runs) in &found {
            if *runs || script_nonce.is_some() {
                assert_eq!(
                    script_nonce.as_deref(),
                    Some(nonce.as_str()),
                    "{path}: {html}"
                );
            }
        }
        assert_eq!(
            header(&headers, X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(&headers, REFERRER_POLICY), "same-origin", "{path}");
        assert_eq!(header(&headers, X_FRAME_OPTIONS), "DENY", "{path}");
        assert_eq!(header(&headers, CACHE_CONTROL), "no-store", "{path}");
        assert!(
            headers.get(STRICT_TRANSPORT_SECURITY).is_none(),
            "{path}: no HSTS over plain HTTP"
        );
        nonces.push(nonce);
    }
    // A fresh nonce for every answer.
    let mut distinct = nonces.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), nonces.len(), "{nonces:?}");

    // Answers holding secrets: the tenants (enrollment keys), an agent's registration (its
    // token), the users list.
    let tenants = app.call(&admin, "tenants/list", &[]).await;
    assert_eq!(tenants.status, StatusCode::OK);
    let key = crate::agents::enrollment_key(&app).await;
    let registered = Reply::read(
        app.client()
            .post(format!("{}/api/v1/agents/register", app.base))
            .json(&json!({ "enrollment_key": key, "machine_id": "headers-machine" }))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(registered.status, StatusCode::OK, "{:?}", registered.body);
    assert!(registered.body["token"].is_string());
    let refused = app.call(&stranger, "users/list", &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    for (what, reply) in [
        ("tenants/list", &tenants),
        ("agents/register", &registered),
        ("a refusal", &refused),
    ] {
        assert_eq!(header(&reply.headers, CACHE_CONTROL), "no-store", "{what}");
        assert_eq!(header(&reply.headers, X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(
            header(&reply.headers, CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'"),
            "{what}"
        );
    }

    // Behind a TLS-terminating proxy, HSTS.
    let r = stranger
        .get(format!("{}/login", app.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("request");
    assert!(
        header(r.headers(), STRICT_TRANSPORT_SECURITY).starts_with("max-age="),
        "{:?}",
        r.headers()
    );
    app.stop().await;
}

/// Item 8: after signing in with a `next` that a browser would read as another site (the tab
/// of `/%09/evil.example`, backslashes, dot segments, schemes), the answer's `Location` stays on
/// this site; a plain path of the site is still followed.
async fn signing_in_never_redirects_off_the_site(backend: Backend) {
    let app = TestApp::start(backend).await;
    let sign_in = |next: &str| {
        app.client()
            .post(format!("{}/api/login", app.base))
            .header("accept", "text/html")
            .header("origin", &app.base)
            .form(&[
                ("user_name", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", next),
            ])
            .send()
    };
    for next in [
        "/\t/evil.example/x",
        "/\n/evil.example/x",
        "/\r\n/evil.example",
        "/ /evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/.//evil.example",
        "/..//evil.example",
        "/%2e//evil.example",
        "https://evil.example/x",
        "javascript:alert(1)",
        "/\u{a0}/evil.example",
    ] {
        let r = sign_in(next).await.expect("request");
        assert_eq!(r.status(), StatusCode::FOUND, "{next:?}");
        assert_eq!(r.headers()[LOCATION], "/settings/licenses", "{next:?}");
    }
    // The page's own query string, as a browser sends it from `/login?next=/%09/evil.example`:
    // the hidden field carries the decoded tab.
    let page = app
        .get(&app.client(), "/login?next=/%09/evil.example/x")
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let r = sign_in("/settings/users?q=ivan").await.expect("request");
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[LOCATION], "/settings/users?q=ivan");
    app.stop().await;
}

/// A server function, its form, and the field its refusal names.
type Call<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

/// Item 11: a page number past any listing (`u64::MAX`, whose offset overflows) and a search
/// longer than any name are refused with 400, naming the field, by every listing's server
/// function; sane ones still answer.
async fn listings_refuse_absurd_pages_and_searches(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let huge = u64::MAX.to_string();
    let long = "x".repeat(201);
    let cases: Vec<Call> = vec![
        (
            "licenses/list",
            vec![
                ("query[q]", ""),
                ("query[sort]", "installed"),
                ("query[descending]", "true"),
                ("query[page]", &huge),
            ],
            "page",
        ),
        (
            "licenses/list",
            vec![
                ("query[q]", ""),
                ("query[sort]", "installed"),
                ("query[descending]", "true"),
                ("query[page]", "0"),
            ],
            "page",
        ),
        (
            "licenses/list",
            vec![
                ("query[q]", &long),
                ("query[sort]", "installed"),
                ("query[descending]", "true"),
                ("query[page]", "1"),
            ],
            "search",
        ),
        ("users/list", vec![("page", &huge)], "page"),
        ("users/list", vec![("page", "1000001")], "page"),
        ("users/list", vec![("q", &long)], "search"),
        (
            "audit/list",
            vec![("filter[kind]", ""), ("filter[page]", &huge)],
            "page",
        ),
        (
            "seats/candidates",
            vec![("product", "ai-server"), ("q", &long)],
            "search",
        ),
    ];
    for (endpoint, args, field) in &cases {
        let r = app.call(&admin, endpoint, args).await;
        assert_eq!(
            (r.status, r.error(), r.body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid"), Some(*field)),
            "{endpoint} {args:?}: {:?}",
            r.body
        );
    }
    let fine: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "licenses/list",
            vec![
                ("query[q]", &long[..200]),
                ("query[sort]", "installed"),
                ("query[descending]", "true"),
                ("query[page]", "1000000"),
            ],
        ),
        ("users/list", vec![("q", "adm"), ("page", "1")]),
        ("audit/list", vec![("filter[page]", "2")]),
        (
            "seats/candidates",
            vec![("product", "ai-server"), ("q", "a")],
        ),
    ];
    for (endpoint, args) in &fine {
        let r = app.call(&admin, endpoint, args).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{endpoint} {args:?}: {:?}",
            r.body
        );
    }
    app.stop().await;
}

/// Item 11: a certificate whose id is not a UUID is malformed at upload (a long one used to
/// pass the preview and fail with a 500 at confirmation on PostgreSQL); a UUID in capitals is
/// accepted, kept in lower case, and is the same certificate as its lower-case self.
async fn certificate_ids_are_uuids_in_any_case(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    for id in [
        "x".repeat(300),
        "license-1".to_string(),
        format!("{{{}}}", uuid::Uuid::new_v4()),
        uuid::Uuid::new_v4().simple().to_string(),
    ] {
        let mut c = vendor.certificate(&inst, "server");
        c["id"] = id.clone().into();
        let refused = app
            .upload(&admin, "package.lcs", vendor.package(&[c]).into_bytes())
            .await;
        let refused = match refused {
            Err(refused) => refused,
            Ok(staged) => {
                let r = app
                    .call(&admin, "licenses/upload_outcome", &[("id", &staged)])
                    .await;
                panic!("{id}: accepted, {:?}", r.body);
            }
        };
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{id}");
        assert_eq!(
            refused.body["refusal"]["blocks"][0]["refusal"]["reason"], "malformed",
            "{id}: {:?}",
            refused.body
        );
        let upload = crate::support::refused_upload_id(&refused);
        let r = app
            .call(&admin, "licenses/confirm", &[("id", &upload)])
            .await;
        assert!(r.status.is_client_error(), "{id}: {:?}", r.body);
    }
    assert_eq!(app.license_count(&admin).await, 0);

    let id = uuid::Uuid::new_v4().to_string();
    let mut upper = vendor.certificate(&inst, "server");
    upper["id"] = id.to_uppercase().into();
    let (staged, preview) = app.upload_outcome(&admin, &vendor.package(&[upper])).await;
    assert_eq!(preview["outcome"], "preview", "{preview}");
    let r = app
        .call(&admin, "licenses/confirm", &[("id", &staged)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    use sea_orm::EntityTrait;
    let stored: Vec<String> = tessera::licenses::entity::certificate::Entity::find()
        .all(&app.db)
        .await
        .expect("certificates")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(stored, vec![id.clone()]);
    // The same id in lower case is the certificate already installed.
    let mut lower = vendor.certificate(&inst, "server");
    lower["id"] = id.clone().into();
    let (staged, _) = app.upload_outcome(&admin, &vendor.package(&[lower])).await;
    let r = app
        .call(&admin, "licenses/confirm", &[("id", &staged)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (
            r.body["installed"].as_u64(),
            r.body["already_installed"].as_u64()
        ),
        (Some(0), Some(1)),
        "{:?}",
        r.body
    );
    assert_eq!(app.license_count(&admin).await, 1);
    app.stop().await;
}

on_both_databases!(
    only_an_administrator_of_a_test_build_moves_the_clock,
    pages_and_secrets_carry_the_security_headers,
    signing_in_never_redirects_off_the_site,
    listings_refuse_absurd_pages_and_searches,
    certificate_ids_are_uuids_in_any_case,
);

/// Item 11: a SQLite database made by Tessera, and the folders made for it, are the owner's
/// alone (0700 and 0600; SQLite gives its `-wal` and `-shm` files the database's mode), whatever
/// the umask lets other files be.
#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_file_and_its_folders_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let root = std::env::temp_dir().join(format!("tessera-perm-{}", uuid::Uuid::new_v4().simple()));
    let file = root.join("data").join("tessera.db");
    let vars = std::collections::HashMap::from([
        (
            "TESSERA_DATABASE_URL".to_string(),
            format!("sqlite://{}", file.display()),
        ),
        (
            "TESSERA_ADMIN_PASSWORD".to_string(),
            ADMIN_PASSWORD.to_string(),
        ),
    ]);
    let config = tessera::server::config::Config::from_lookup(|k| vars.get(k).cloned())
        .expect("configuration");
    let state = tessera::server::prepare(config, tessera::server::clock::Clock::default())
        .await
        .expect("Tessera starts");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&root), 0o700, "{}", root.display());
    assert_eq!(mode(&root.join("data")), 0o700);
    assert_eq!(mode(&file), 0o600);
    for suffix in ["-wal", "-shm"] {
        let side = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        if side.exists() {
            assert_eq!(mode(&side), 0o600, "{}", side.display());
        }
    }
    state.close().await;
    let _ = std::fs::remove_dir_all(&root);
}
