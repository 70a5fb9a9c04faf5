//! Sign-in, sessions and tokens, throttling, and cross-site refusals, over HTTP.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Client, StatusCode};
use sea_orm::{EntityTrait, QueryOrder};

use crate::on_both_databases;
use crate::support::{ADMIN_PASSWORD, Backend, TestApp, password_of};

/// The session token out of a sign-in's `Set-Cookie`.
async fn token_of(app: &TestApp, name: &str, password: &str) -> String {
    let r = app
        .call(
            &app.client(),
            "login",
            &[("user_name", name), ("password", password)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cookie = r.headers[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("a session cookie")
}

/// `whoami` with a raw token: the user's name, or None when the token is refused.
async fn whoami_with(app: &TestApp, token: &str) -> Option<String> {
    let r = app
        .client()
        .post(format!("{}/api/whoami", app.base))
        .header(COOKIE, format!("tessera_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    body.get("name").and_then(|n| n.as_str()).map(String::from)
}

fn sign_hs256(header: &str, payload: &str, secret: &[u8]) -> String {
    sign_with(header, payload, secret, jsonwebtoken::Algorithm::HS256)
}

/// A JWT of the given header and payload, signed by hand (so nothing checks what it says).
fn sign_with(
    header: &str,
    payload: &str,
    secret: &[u8],
    algorithm: jsonwebtoken::Algorithm,
) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret),
        algorithm,
    )
    .unwrap();
    format!("{input}.{sig}")
}

async fn wrong_password_and_unknown_user_get_the_same_answer(backend: Backend) {
    let app = TestApp::start(backend).await;
    let c = app.client();
    let wrong = app
        .call(
            &c,
            "login",
            &[("user_name", "admin"), ("password", "nope-nope")],
        )
        .await;
    let unknown = app
        .call(
            &c,
            "login",
            &[("user_name", "nobody"), ("password", "nope-nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    assert_eq!(wrong.error(), Some("bad_credentials"));
    assert!(wrong.headers.get(SET_COOKIE).is_none());
    app.stop().await;
}

async fn sign_out_ends_the_session_at_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = token_of(&app, "admin", ADMIN_PASSWORD).await;
    assert_eq!(whoami_with(&app, &token).await.as_deref(), Some("admin"));

    let r = app
        .client()
        .post(format!("{}/api/logout", app.base))
        .header(COOKIE, format!("tessera_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cleared = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The same token, replayed after sign-out, is refused.
    assert_eq!(whoami_with(&app, &token).await, None);
    app.stop().await;
}

async fn disabling_a_user_or_resetting_their_password_ends_their_sessions(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let id = app.create_user(&admin, "alice", "user").await;
    let token = token_of(&app, "alice", &password_of("alice")).await;
    assert_eq!(whoami_with(&app, &token).await.as_deref(), Some("alice"));

    let r = app
        .call(
            &admin,
            "users/set_disabled",
            &[("user_id", &id), ("disabled", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(whoami_with(&app, &token).await, None);
    // A disabled user cannot sign in again, and is told why.
    let r = app
        .call(
            &app.client(),
            "login",
            &[("user_name", "alice"), ("password", &password_of("alice"))],
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, Some("account_disabled"))
    );

    app.call(
        &admin,
        "users/set_disabled",
        &[("user_id", &id), ("disabled", "false")],
    )
    .await;
    let token = token_of(&app, "alice", &password_of("alice")).await;
    let r = app
        .call(
            &admin,
            "users/reset_password",
            &[("user_id", &id), ("password", "brand-new-password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(whoami_with(&app, &token).await, None);
    app.sign_in("alice", "brand-new-password").await;
    app.stop().await;
}

async fn every_kind_of_bad_token_is_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = token_of(&app, "admin", ADMIN_PASSWORD).await;
    let parts: Vec<&str> = token.split('.').collect();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    // alg: none, with the real claims and no signature.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert_eq!(whoami_with(&app, &none).await, None);

    // Signed with a key that is not the installation's.
    let forged = sign_hs256(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims.to_string(),
        b"not the installation's secret key",
    );
    assert_eq!(whoami_with(&app, &forged).await, None);

    // A changed payload under the original signature.
    let mut changed = claims.clone();
    changed["exp"] = serde_json::json!(claims["exp"].as_i64().unwrap() + 86_400);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(changed.to_string()),
        parts[2]
    );
    assert_eq!(whoami_with(&app, &tampered).await, None);

    // Tokens signed with the installation's own key, each wrong in one way only.
    let secret = {
        use sea_orm::EntityTrait;
        let row = tessera::installation::entity::Entity::find_by_id(1)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(row.token_secret)
            .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims.clone();
        f(&mut c);
        c.to_string()
    };
    let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;
    // The control: signed by hand exactly as Tessera signs, it is accepted.
    let control = sign_hs256(hs256, &claims.to_string(), &secret);
    assert_eq!(whoami_with(&app, &control).await.as_deref(), Some("admin"));
    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            sign_hs256(
                hs256,
                &with(&|c| {
                    c["exp"] = (now - 60).into();
                    c["nbf"] = (now - 3600).into();
                }),
                &secret,
            ),
        ),
        (
            "no exp",
            sign_hs256(
                hs256,
                &with(&|c| {
                    c.as_object_mut()
                        .expect("claims are an object")
                        .remove("exp");
                }),
                &secret,
            ),
        ),
        (
            "exp as a string",
            sign_hs256(
                hs256,
                &with(&|c| c["exp"] = (now + 3600).to_string().into()),
                &secret,
            ),
        ),
        (
            "nbf a day ahead",
            sign_hs256(hs256, &with(&|c| c["nbf"] = (now + 86_400).into()), &secret),
        ),
        (
            "another installation's iss",
            sign_hs256(
                hs256,
                &with(&|c| c["iss"] = "another-installation".into()),
                &secret,
            ),
        ),
        (
            "HS512",
            sign_with(
                r#"{"alg":"HS512","typ":"JWT"}"#,
                &claims.to_string(),
                &secret,
                jsonwebtoken::Algorithm::HS512,
            ),
        ),
        (
            "HS384",
            sign_with(
                r#"{"alg":"HS384","typ":"JWT"}"#,
                &claims.to_string(),
                &secret,
                jsonwebtoken::Algorithm::HS384,
            ),
        ),
        (
            "RS256 header over an HS256 signature",
            sign_with(
                r#"{"alg":"RS256","typ":"JWT"}"#,
                &claims.to_string(),
                &secret,
                jsonwebtoken::Algorithm::HS256,
            ),
        ),
    ];
    for (what, token) in &cases {
        assert_eq!(whoami_with(&app, token).await, None, "{what}");
    }

    // A genuine token of another installation (its own key, its own id).
    let other = TestApp::start(backend).await;
    let foreign = token_of(&other, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        whoami_with(&other, &foreign).await.as_deref(),
        Some("admin")
    );
    assert_eq!(whoami_with(&app, &foreign).await, None);
    other.stop().await;

    // The genuine token still works: the refusals above were for the right reasons.
    assert_eq!(whoami_with(&app, &token).await.as_deref(), Some("admin"));
    app.stop().await;
}

async fn the_eleventh_attempt_is_throttled(backend: Backend) {
    let app = TestApp::start(backend).await;
    let c = app.client();
    for i in 1..=10 {
        let r = app
            .call(
                &c,
                "login",
                &[("user_name", "Admin"), ("password", "wrong-password")],
            )
            .await;
        assert_eq!(r.error(), Some("bad_credentials"), "attempt {i}");
    }
    // Even the right password is refused now, with how long to wait.
    let r = app
        .call(
            &c,
            "login",
            &[("user_name", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.error(), Some("too_many_attempts"));
    assert_eq!(r.body["minutes"], 15);
    // Other user names are not affected.
    let r = app
        .call(
            &c,
            "login",
            &[("user_name", "someone"), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(r.error(), Some("bad_credentials"));

    // Once the window passes, the right password works again.
    app.state.clock.advance(15 * 60 * 1000 + 1000);
    let r = app
        .call(
            &c,
            "login",
            &[("user_name", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.stop().await;
}

async fn foreign_origins_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let tenant = app.default_tenant(&admin).await;
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = admin
            .post(format!("{}/api/users/create", app.base))
            .header(header, value)
            .form(&[
                ("user_name", "mallory"),
                ("password", "mallory-password"),
                ("role", "administrator"),
                ("tenant_id", tenant.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{header}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "cross_site");
    }
    let list = app.call(&admin, "users/list", &[]).await;
    let names: Vec<&str> = list.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, vec!["admin"]);
    app.stop().await;
}

async fn a_no_javascript_form_post_signs_in_and_redirects(backend: Backend) {
    let app = TestApp::start(backend).await;
    let c = app.client();
    let post = |password: &'static str| {
        c.post(format!("{}/api/login", app.base))
            .header("accept", "text/html")
            .header("origin", &app.base)
            .header(
                "referer",
                format!("{}/login?next=%2Fsettings%2Fusers", app.base),
            )
            .form(&[
                ("user_name", "admin"),
                ("password", password),
                ("next", "/settings/users"),
            ])
            .send()
    };
    // A wrong password goes back to the form with the error in the URL.
    let r = post("wrong-password").await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = r.headers()["location"].to_str().unwrap();
    assert!(
        back.starts_with("/login?") || back.contains("/login?"),
        "{back}"
    );
    assert!(back.contains("__err="), "{back}");
    // The right one sets the cookie and goes where the visitor was headed.
    let r = post(ADMIN_PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "/settings/users");
    assert!(r.headers().get(SET_COOKIE).is_some());
    assert_eq!(
        app.get(&c, "/settings/users").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

async fn the_session_cookie_is_secure_behind_an_https_proxy(backend: Backend) {
    let cookie_of = |r: &crate::support::Reply| {
        r.headers[SET_COOKIE]
            .to_str()
            .expect("a cookie")
            .to_string()
    };
    let sign_in = |app: &TestApp, proto: Option<&'static str>| {
        let mut req = app
            .client()
            .post(format!("{}/api/login", app.base))
            .form(&[("user_name", "admin"), ("password", ADMIN_PASSWORD)]);
        if let Some(proto) = proto {
            req = req.header("x-forwarded-proto", proto);
        }
        async move { crate::support::Reply::read(req.send().await.expect("request")).await }
    };
    let app = TestApp::start(backend).await;
    let plain = cookie_of(&sign_in(&app, None).await);
    assert!(
        plain.contains("HttpOnly") && plain.contains("SameSite=Strict"),
        "{plain}"
    );
    assert!(!plain.contains("Secure"), "{plain}");
    let proxied = cookie_of(&sign_in(&app, Some("https")).await);
    assert!(proxied.ends_with("; Secure"), "{proxied}");
    // A secure cookie carries the `__Host-` prefix (for this host alone, the whole site, HTTPS),
    // and is what the server reads.
    assert!(proxied.starts_with("__Host-tessera_session="), "{proxied}");
    assert!(
        !proxied.contains("Domain") && proxied.contains("Path=/;"),
        "{proxied}"
    );
    let token = proxied
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("a token");
    let r = app
        .client()
        .post(format!("{}/api/whoami", app.base))
        .header(COOKIE, format!("__Host-tessera_session={token}"))
        .send()
        .await
        .expect("request");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["name"], "admin");
    app.stop().await;

    let app = TestApp::start_with(backend, &[("TESSERA_SECURE_COOKIES", "true")]).await;
    assert!(cookie_of(&sign_in(&app, None).await).ends_with("; Secure"));
    app.stop().await;
}

/// The number of sessions kept in the database.
async fn sessions_kept(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    tessera::auth::server::entity::session::Entity::find()
        .count(&app.db)
        .await
        .expect("a count")
}

async fn an_unused_session_ends_and_is_purged(backend: Backend) {
    const MINUTE: i64 = 60_000;
    let app = TestApp::start(backend).await;
    let used = token_of(&app, "admin", ADMIN_PASSWORD).await;
    let idle = token_of(&app, "admin", ADMIN_PASSWORD).await;
    // Used every 20 minutes, a session lives on past the idle timeout (30 minutes by default).
    for _ in 0..3 {
        app.state.clock.advance(20 * MINUTE);
        assert_eq!(whoami_with(&app, &used).await.as_deref(), Some("admin"));
    }
    // Unused for an hour, the other one has ended, though its 12 hours have not.
    assert_eq!(whoami_with(&app, &idle).await, None);
    // The sweeper deletes it, and only it.
    assert_eq!(sessions_kept(&app).await, 2);
    app.sweep().await;
    assert_eq!(sessions_kept(&app).await, 1);
    // Unused for 30 minutes, the used one ends too; the sweeper deletes it.
    app.state.clock.advance(30 * MINUTE);
    assert_eq!(whoami_with(&app, &used).await, None);
    app.sweep().await;
    assert_eq!(sessions_kept(&app).await, 0);
    app.stop().await;

    // The timeout is configurable.
    let app = TestApp::start_with(backend, &[("TESSERA_SESSION_IDLE_MINUTES", "5")]).await;
    let token = token_of(&app, "admin", ADMIN_PASSWORD).await;
    app.state.clock.advance(4 * MINUTE);
    assert_eq!(whoami_with(&app, &token).await.as_deref(), Some("admin"));
    app.state.clock.advance(5 * MINUTE);
    assert_eq!(whoami_with(&app, &token).await, None);
    app.stop().await;
}

/// `account/password` as `client`, with the current password, the new one and its repeat.
async fn change_password(
    app: &TestApp,
    client: &reqwest::Client,
    current: &str,
    new: &str,
    repeat: &str,
) -> crate::support::Reply {
    app.call(
        client,
        "account/password",
        &[
            ("current_password", current),
            ("new_password", new),
            ("password_repeat", repeat),
        ],
    )
    .await
}

async fn a_user_changes_their_own_password_with_the_current_one(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    app.create_user(&admin, "alice", "user").await;
    let old = password_of("alice");
    let here = app.sign_in("alice", &old).await;
    let elsewhere = token_of(&app, "alice", &old).await;
    let new = "alice-new-password";

    // Nobody signed in cannot.
    let r = change_password(&app, &app.client(), &old, new, new).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, Some("not_signed_in"))
    );
    // Each mistake is named, and changes nothing.
    for (current, new_password, repeat, field, problem) in [
        ("", new, new, "current_password", "required"),
        (
            "not-the-password",
            new,
            new,
            "current_password",
            "incorrect",
        ),
        (old.as_str(), "short", "short", "new_password", "too_short"),
        (
            old.as_str(),
            new,
            "alice-new-passwort",
            "password_repeat",
            "not_repeated",
        ),
    ] {
        let r = change_password(&app, &here, current, new_password, repeat).await;
        assert_eq!(
            (
                r.status,
                r.body["field"].as_str(),
                r.body["problem"]["problem"].as_str()
            ),
            (StatusCode::BAD_REQUEST, Some(field), Some(problem)),
            "{:?}",
            r.body
        );
    }
    assert_eq!(
        whoami_with(&app, &elsewhere).await.as_deref(),
        Some("alice")
    );

    // The right one: this browser stays signed in, the others are signed out, and only the new
    // password signs in.
    let r = change_password(&app, &here, &old, new, new).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let me = app.call(&here, "whoami", &[]).await;
    assert_eq!(me.body["name"], "alice");
    assert_eq!(whoami_with(&app, &elsewhere).await, None);
    let r = app
        .call(
            &app.client(),
            "login",
            &[("user_name", "alice"), ("password", &old)],
        )
        .await;
    assert_eq!(r.error(), Some("bad_credentials"));
    app.sign_in("alice", new).await;
    // The audit log names it.
    let log = app
        .call(
            &admin,
            "audit/list",
            &[("filter[kind]", "password_change"), ("filter[page]", "1")],
        )
        .await;
    let outcomes: Vec<&str> = log.body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["outcome"].as_str())
        .collect();
    assert!(outcomes.contains(&"ok"), "{:?}", log.body);

    // Wrong current passwords count as wrong sign-ins: guessing through a session left open is
    // throttled as at the sign-in page. Two failed already (a wrong current password, the old
    // password at sign-in); eight more make ten.
    let here = app.sign_in("alice", new).await;
    for i in 0..8 {
        let r = change_password(
            &app,
            &here,
            "a-wrong-guess",
            "whatever-else",
            "whatever-else",
        )
        .await;
        assert_eq!(
            r.body["problem"]["problem"], "incorrect",
            "guess {i}: {:?}",
            r.body
        );
    }
    let r = change_password(&app, &here, new, "whatever-else", "whatever-else").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts"))
    );
    app.stop().await;
}

async fn an_administrator_cannot_reset_their_own_password_without_the_current_one(
    backend: Backend,
) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let me = app.call(&admin, "whoami", &[]).await.body["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let r = app
        .call(
            &admin,
            "users/reset_password",
            &[
                ("user_id", me.as_str()),
                ("password", "taken-over-password"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.error(), r.body["kind"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"), Some("own_password")),
        "{:?}",
        r.body
    );
    // Nothing changed: the password, and the session.
    assert_eq!(
        app.call(&admin, "whoami", &[]).await.body["id"],
        me.as_str()
    );
    app.sign_in("admin", ADMIN_PASSWORD).await;
    // With the current one, as every user does, it works.
    let r = change_password(
        &app,
        &admin,
        ADMIN_PASSWORD,
        "taken-over-password",
        "taken-over-password",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.sign_in("admin", "taken-over-password").await;
    app.stop().await;
}

/// Times are shown in UTC, saying so, until a user chooses a time zone on Your account; then in
/// theirs (and only theirs), saying which. An unknown zone is refused and changes nothing.
async fn a_user_reads_times_in_the_time_zone_they_chose(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    app.create_user(&admin, "other-admin", "administrator")
        .await;
    let other = app
        .sign_in("other-admin", &password_of("other-admin"))
        .await;
    // The audit log's newest entry: the other administrator's sign-in, at a known time.
    let at = tessera::audit::entity::Entity::find()
        .order_by_desc(tessera::audit::entity::Column::Id)
        .one(&app.db)
        .await
        .expect("a read")
        .expect("an entry")
        .at;
    let utc = chrono::DateTime::from_timestamp_millis(at).expect("a time");
    let moscow = utc.with_timezone(&chrono::FixedOffset::east_opt(3 * 3600).expect("+03:00"));
    let page = async |client: &Client| {
        let r = app.get(client, "/settings/audit").await;
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.expect("the page")
    };
    let in_utc = format!("{} UTC", utc.format("%H:%M"));
    assert!(page(&admin).await.contains(&in_utc), "{in_utc}");

    let r = app
        .call(
            &admin,
            "account/time_zone",
            &[("time_zone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("time_zone"))
    );
    let r = app
        .call(
            &admin,
            "account/time_zone",
            &[("time_zone", "Europe/Moscow")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let in_moscow = format!("{} MSK", moscow.format("%H:%M"));
    let theirs = page(&admin).await;
    assert!(theirs.contains(&in_moscow), "{in_moscow}");
    assert!(!theirs.contains(&in_utc), "{in_utc}");
    // The other administrator still reads UTC; back to UTC with an empty choice.
    assert!(page(&other).await.contains(&in_utc), "{in_utc}");
    let r = app
        .call(&admin, "account/time_zone", &[("time_zone", "")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(page(&admin).await.contains(&in_utc), "{in_utc}");
    app.stop().await;
}

on_both_databases!(
    a_user_reads_times_in_the_time_zone_they_chose,
    an_unused_session_ends_and_is_purged,
    a_user_changes_their_own_password_with_the_current_one,
    an_administrator_cannot_reset_their_own_password_without_the_current_one,
    wrong_password_and_unknown_user_get_the_same_answer,
    sign_out_ends_the_session_at_once,
    disabling_a_user_or_resetting_their_password_ends_their_sessions,
    every_kind_of_bad_token_is_refused,
    the_session_cookie_is_secure_behind_an_https_proxy,
    the_eleventh_attempt_is_throttled,
    foreign_origins_are_refused_and_change_nothing,
    a_no_javascript_form_post_signs_in_and_redirects,
);
