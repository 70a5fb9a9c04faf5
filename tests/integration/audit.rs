//! The audit log: operations and refusals leave entries naming who, what and the result; the
//! filters and the CSV export; only Administrators read it; nobody changes it, not even
//! through the database.
use reqwest::{Client, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::Value;

use crate::on_both_databases;
use crate::support::{Backend, Reply, TestApp, Vendor, password_of};

const DAY: i64 = 86_400_000;

async fn list(app: &TestApp, client: &Client, filter: &[(&str, &str)]) -> Reply {
    let keys: Vec<String> = filter.iter().map(|(k, _)| format!("filter[{k}]")).collect();
    let mut form: Vec<(&str, &str)> = vec![("filter[page]", "1")];
    form.extend(
        keys.iter()
            .map(String::as_str)
            .zip(filter.iter().map(|(_, v)| *v)),
    );
    app.call(client, "audit/list", &form).await
}

/// The rows of a listing, as (actor, kind, subject, outcome), newest first.
fn rows(r: &Reply) -> Vec<(String, String, String, String)> {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("actor_name"), s("kind"), s("subject"), s("outcome"))
        })
        .collect()
}

fn total(r: &Reply) -> u64 {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["total"].as_u64().expect("total")
}

fn day_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time")
        .format("%Y-%m-%d")
        .to_string()
}

async fn csv(app: &TestApp, client: &Client, query: &str) -> reqwest::Response {
    client
        .get(format!("{}/settings/audit.csv{query}", app.base))
        .send()
        .await
        .expect("request")
}

async fn operations_and_refusals_are_recorded(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let u = app.create_user(&admin, "ivan", "user").await;
    app.create_user(&admin, "manager", "license_manager").await;
    let manager = app.sign_in("manager", &password_of("manager")).await;

    // A failed sign-in names the name typed, never the password (counted: its entry is made
    // when its window closes, below).
    let r = app
        .call(
            &app.client(),
            "login",
            &[("user_name", "ivan"), ("password", "not-the-password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A package confirmed, a seat given, then refused for the same user.
    let cert = vendor.certificate(&app.state.installation_id, "personal");
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&[cert])).await;
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let apply = [("product", "ai-server"), ("user_ids[0]", u.as_str())];
    assert_eq!(
        app.call(&manager, "seats/apply", &apply).await.status,
        StatusCode::OK
    );
    let r = app.call(&manager, "seats/apply", &apply).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Not allowed at all: recorded as forbidden.
    let r = app
        .call(
            &manager,
            "licenses/delete_all",
            &[("confirmation", "DELETE")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // An agent registers and is shut down; the manager signs out.
    let key = crate::agents::enrollment_key(&app).await;
    let (agent, _) = crate::agents::register(&app, &key, "box-7").await;
    let r = app
        .call(&manager, "agents/shut_down", &[("agent_id", &agent)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        app.call(&manager, "logout", &[]).await.status,
        StatusCode::OK
    );
    // A tenant made, and a second one refused for its name.
    for _ in 0..2 {
        app.call(&admin, "tenants/create", &[("name", "Acme")])
            .await;
    }
    // The refused sign-ins' window closes.
    app.state.clock.advance(15 * 60 * 1000);
    app.sweep().await;

    let all = rows(&list(&app, &admin, &[]).await);
    let has = |actor: &str, kind: &str, subject: &str, outcome: &str| {
        all.iter()
            .any(|(a, k, s, o)| a == actor && k == kind && s.contains(subject) && o == outcome)
    };
    assert!(has("admin", "sign_in", "admin", "ok"), "{all:?}");
    assert!(has("admin", "user_create", "ivan", "ok"), "{all:?}");
    assert!(
        has("ivan", "sign_in_failed", "", "bad_credentials"),
        "{all:?}"
    );
    assert!(has("admin", "license_upload", "", "ok"), "{all:?}");
    assert!(has("admin", "license_confirm", "", "ok"), "{all:?}");
    assert!(has("manager", "seats_apply", "ai-server", "ok"), "{all:?}");
    assert!(
        has("manager", "seats_apply", "ai-server", "conflict"),
        "{all:?}"
    );
    assert!(
        has("manager", "licenses_delete_all", "", "forbidden"),
        "{all:?}"
    );
    assert!(
        has("agent box-7", "agent_register", "box-7", "ok"),
        "{all:?}"
    );
    assert!(has("manager", "agent_shut_down", "box-7", "ok"), "{all:?}");
    assert!(has("manager", "sign_out", "manager", "ok"), "{all:?}");
    assert!(has("admin", "tenant_create", "Acme", "ok"), "{all:?}");
    assert!(has("admin", "tenant_create", "Acme", "invalid"), "{all:?}");
    // Newest first: the refused sign-ins' entry, appended when their window closed, then the
    // tenants.
    assert_eq!(all[0].1, "sign_in_failed");
    assert_eq!(all[1].1, "tenant_create");
    // No password anywhere in the log.
    let everything = list(&app, &admin, &[]).await.body.to_string();
    assert!(!everything.contains("not-the-password"));
    assert!(!everything.contains(&password_of("ivan")));
    app.stop().await;
}

async fn filters_narrow_the_log_and_bad_ones_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let first_day = day_of(app.state.clock.now_ms());
    app.create_user(&admin, "olga", "user").await;
    app.state.clock.advance(3 * DAY);
    let later_day = day_of(app.state.clock.now_ms());
    // Sessions last hours, not days: sign in again.
    let admin = app.admin().await;
    app.sign_in("olga", &password_of("olga")).await;
    app.call(&admin, "tenants/create", &[("name", "Later")])
        .await;

    let r = list(&app, &admin, &[("kind", "sign_in")]).await;
    let signed: Vec<_> = rows(&r).into_iter().map(|r| r.0).collect();
    assert_eq!(signed, vec!["olga", "admin", "admin"]);

    let r = list(&app, &admin, &[("user", "OL")]).await;
    assert!(rows(&r).iter().all(|r| r.0 == "olga"));
    assert_eq!(total(&r), 1);

    let r = list(&app, &admin, &[("from", &later_day)]).await;
    let kinds: Vec<_> = rows(&r).into_iter().map(|r| r.1).collect();
    assert_eq!(kinds, vec!["tenant_create", "sign_in", "sign_in"]);
    let r = list(&app, &admin, &[("from", &first_day), ("to", &first_day)]).await;
    let kinds: Vec<_> = rows(&r).into_iter().map(|r| r.1).collect();
    assert_eq!(kinds, vec!["user_create", "sign_in"]);

    let before = total(&list(&app, &admin, &[]).await);
    for (field, value, named) in [
        ("from", "2026-02-30", "date_from"),
        ("to", "tomorrow", "date_to"),
        ("kind", "drop_everything", "audit_kind"),
    ] {
        let r = list(&app, &admin, &[(field, value)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
        assert_eq!(r.error(), Some("invalid"));
        assert_eq!(r.body["field"], Value::from(named), "{:?}", r.body);
        let csv = csv(&app, &admin, &format!("?{field}={value}")).await;
        assert_eq!(csv.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(total(&list(&app, &admin, &[]).await), before);

    // The page shows the same, without JavaScript.
    let page = app
        .get(&admin, "/settings/audit?kind=tenant_create")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Later"), "{page}");
    assert!(page.contains("/settings/audit.csv?kind=tenant_create"));
    app.stop().await;
}

async fn the_csv_holds_every_entry_quoted_and_only_administrators_get_it(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    for name in ["smith, john", "=HYPERLINK(\"http://evil\")"] {
        let r = app
            .call(
                &app.client(),
                "login",
                &[("user_name", name), ("password", "wrong-password")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Their entries are made when the window closes.
    app.state.clock.advance(15 * 60 * 1000);
    app.sweep().await;
    let res = csv(&app, &admin, "").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"tessera-audit.csv\""
    );
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "id,time_utc,user,kind,subject,detail,outcome");
    assert!(text.contains(",\"smith, john\",sign_in_failed,"), "{text}");
    assert!(
        text.contains(",\"'=HYPERLINK(\"\"http://evil\"\")\",sign_in_failed,"),
        "{text}"
    );
    assert!(text.contains(",admin,sign_in,admin,"), "{text}");
    // Filtered like the page.
    let only = csv(&app, &admin, "?kind=sign_in_failed&user=smith")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(only.trim_end().split("\r\n").count(), 2, "{only}");

    app.create_user(&admin, "plain", "user").await;
    app.create_user(&admin, "manager", "license_manager").await;
    for (client, status, error) in [
        (
            app.sign_in("plain", &password_of("plain")).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            app.sign_in("manager", &password_of("manager")).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (app.client(), StatusCode::UNAUTHORIZED, "not_signed_in"),
    ] {
        let r = Reply::read(csv(&app, &client, "").await).await;
        assert_eq!((r.status, r.error()), (status, Some(error)));
        let r = list(&app, &client, &[]).await;
        assert_eq!((r.status, r.error()), (status, Some(error)));
    }
    app.stop().await;
}

async fn entries_cannot_be_changed_and_outlive_delete_all(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let cert = vendor.certificate(&app.state.installation_id, "agent");
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&[cert])).await;
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    let before = total(&list(&app, &admin, &[]).await);
    assert!(before >= 3);

    for sql in [
        "UPDATE audit_log SET outcome = 'ok'",
        "UPDATE audit_log SET actor_name = 'nobody' WHERE kind = 'sign_in'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE kind = 'license_confirm'",
    ] {
        let r = app.db.execute_unprepared(sql).await;
        let err = r.expect_err(sql).to_string();
        assert!(
            err.contains("audit log entries cannot be changed"),
            "{sql}: {err}"
        );
    }
    assert_eq!(total(&list(&app, &admin, &[]).await), before);

    let r = app
        .call(&admin, "licenses/delete_all", &[("confirmation", "DELETE")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let after = list(&app, &admin, &[]).await;
    assert_eq!(total(&after), before + 1);
    assert_eq!(rows(&after)[0].1, "licenses_delete_all");
    app.stop().await;
}

/// An entry's detail is stored as codes with parameters (for each reader's language) beside its
/// English words; a refusal keeps the error itself. Entries older than the codes read as stored.
async fn details_are_codes_and_older_entries_read_as_stored(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let cert = vendor.certificate(&app.state.installation_id, "agent");
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&[cert])).await;
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for _ in 0..2 {
        app.call(&admin, "tenants/create", &[("name", "Acme")])
            .await;
    }
    // As an older Tessera wrote it: words only.
    app.db
        .execute_unprepared(
            "INSERT INTO audit_log (at, actor_id, actor_name, kind, subject, detail, outcome) \
             VALUES (1, NULL, 'admin', 'agent_bind', 'box-1', 'conflict: AlreadyBound', 'conflict')",
        )
        .await
        .expect("an entry as an older Tessera wrote it");

    let listed = list(&app, &admin, &[]).await.body;
    let entries = listed["rows"].as_array().expect("rows");
    let find = |kind: &str, outcome: &str| {
        entries
            .iter()
            .find(|e| e["kind"] == kind && e["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {kind} {outcome}: {listed}"))
    };
    let confirmed = find("license_confirm", "ok");
    assert_eq!(
        confirmed["data"],
        serde_json::json!({ "said": { "code": "installed", "installed": 1, "already": 0 } })
    );
    assert_eq!(confirmed["detail"], "1 installed, 0 already installed");
    let refused = find("tenant_create", "invalid");
    let why = &refused["data"]["refused"];
    assert_eq!(
        (why["error"].as_str(), why["field"].as_str()),
        (Some("invalid"), Some("tenant_name")),
        "the refusal, as the API said it: {refused}"
    );
    assert!(why.to_string().contains("taken"), "{refused}");
    let older = find("agent_bind", "conflict");
    assert_eq!(older["data"], Value::Null);
    assert_eq!(older["detail"], "conflict: AlreadyBound");
    app.stop().await;
}

on_both_databases!(
    details_are_codes_and_older_entries_read_as_stored,
    operations_and_refusals_are_recorded,
    filters_narrow_the_log_and_bad_ones_are_refused,
    the_csv_holds_every_entry_quoted_and_only_administrators_get_it,
    entries_cannot_be_changed_and_outlive_delete_all,
);
