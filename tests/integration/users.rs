//! Settings > Users: bad input gets a clear 4xx and changes nothing.
use reqwest::StatusCode;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

async fn user_names(app: &TestApp, admin: &reqwest::Client) -> Vec<String> {
    let r = app.call(admin, "users/list", &[]).await;
    r.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect()
}

async fn bad_new_users_are_refused_with_the_field_named(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let tenant = app.default_tenant(&admin).await;
    app.create_user(&admin, "bob", "user").await;
    let before = user_names(&app, &admin).await;

    let cases: [(&str, &str, &str, &str, &str, &str); 6] = [
        (
            "bob",
            "long-enough-1",
            "user",
            &tenant,
            "user_name",
            "taken",
        ),
        ("carol", "short", "user", &tenant, "password", "too_short"),
        (
            "",
            "long-enough-1",
            "user",
            &tenant,
            "user_name",
            "required",
        ),
        (
            "a b",
            "long-enough-1",
            "user",
            &tenant,
            "user_name",
            "bad_characters",
        ),
        (
            "dave",
            "long-enough-1",
            "user",
            "no-such-tenant",
            "tenant",
            "unknown",
        ),
        (
            "erin",
            "long-enough-1",
            "superuser",
            &tenant,
            "request",
            "malformed",
        ),
    ];
    for (name, password, role, tenant_id, field, problem) in cases {
        let r = app
            .call(
                &admin,
                "users/create",
                &[
                    ("user_name", name),
                    ("password", password),
                    ("role", role),
                    ("tenant_id", tenant_id),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {:?}", r.body);
        assert_eq!(r.error(), Some("invalid"));
        assert_eq!(r.body["field"], field, "{name}: {:?}", r.body);
        assert_eq!(
            r.body["problem"]["problem"], problem,
            "{name}: {:?}",
            r.body
        );
    }
    // A missing argument is a 400 that names it, not a 500.
    let r = app
        .call(&admin, "users/create", &[("user_name", "frank")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(user_names(&app, &admin).await, before);
    app.stop().await;
}

async fn roles_change_and_take_effect_on_the_next_request(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let id = app.create_user(&admin, "grace", "user").await;
    let grace = app.sign_in("grace", "grace-password").await;
    assert_eq!(
        app.call(&grace, "licenses/summary", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .call(
            &admin,
            "users/set_role",
            &[("user_id", &id), ("role", "license_manager")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.call(&grace, "licenses/summary", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["installation_id"], &*app.state.installation_id);
    app.stop().await;
}

async fn an_administrator_cannot_lock_themselves_out(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let me = app.call(&admin, "whoami", &[]).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (endpoint, args) in [
        (
            "users/set_role",
            [("user_id", me.as_str()), ("role", "user")],
        ),
        (
            "users/set_disabled",
            [("user_id", me.as_str()), ("disabled", "true")],
        ),
    ] {
        let r = app.call(&admin, endpoint, &args).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{endpoint}: {:?}", r.body);
        assert_eq!(r.body["kind"], "own_account");
    }
    let r = app
        .call(
            &admin,
            "users/reset_password",
            &[("user_id", "no-such-user"), ("password", "long-enough-1")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("user"))
    );
    let r = app
        .call(
            &admin,
            "users/reset_password",
            &[("user_id", &me), ("password", "short")],
        )
        .await;
    // Their own password they change on Your account, with the current one.
    assert_eq!(
        (r.status, r.body["kind"].as_str()),
        (StatusCode::CONFLICT, Some("own_password"))
    );
    // The administrator is still an enabled administrator with the old password.
    app.admin().await;
    app.stop().await;
}

on_both_databases!(
    bad_new_users_are_refused_with_the_field_named,
    roles_change_and_take_effect_on_the_next_request,
    an_administrator_cannot_lock_themselves_out,
);
