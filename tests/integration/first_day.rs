//! `not_before`: a license cannot be activated before its first valid day. Platform and server
//! licenses that would activate by themselves are assigned and wait, and the sweeper activates
//! them on that day; agent and personal licenses are neither bound, claimed nor given before it.
use reqwest::StatusCode;
use serde_json::Value;

use crate::agents::{enrollment_key, post, register};
use crate::licenses::effects;
use crate::on_both_databases;
use crate::support::{Backend, LONG_SESSIONS, Reply, TestApp, Vendor};

const DAY: i64 = 86_400_000;

/// A day, as the vendor writes `not_before`, `days` after `now` (Unix ms).
fn day_after(now: i64, days: i64) -> (String, i64) {
    let t = chrono::DateTime::from_timestamp_millis(now + days * DAY).expect("a time");
    let day = t.date_naive();
    let start = day
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis();
    (day.format("%Y-%m-%d").to_string(), start)
}

fn platform_of(summary: &Value, tenant: &str) -> Value {
    summary["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["tenant"]["name"] == tenant)
        .map(|t| t["platform"].clone())
        .unwrap_or(Value::Null)
}

async fn activations_audited(app: &TestApp) -> usize {
    use sea_orm::EntityTrait;
    tessera::audit::entity::Entity::find()
        .all(&app.db)
        .await
        .expect("audit rows")
        .into_iter()
        .filter(|r| r.kind == "license_activate" && r.actor_name == "tessera")
        .count()
}

/// Moves the test's clock to `at` (Unix ms).
fn move_clock_to(app: &TestApp, at: i64) {
    app.state.clock.advance(at - app.state.clock.now_ms());
}

async fn licenses_wait_for_their_first_day(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let now = app.state.clock.now_ms();
    let (first_day, first_ms) = day_after(now, 10);
    let later = |license_type: &str| {
        let mut c = vendor.certificate(&inst, license_type);
        c["not_before"] = first_day.clone().into();
        c
    };
    let platform = later("platform");
    let server = later("server");
    let mut fixed = later("agent");
    fixed["binding"] = "fixed".into();
    let floating = later("agent");
    let personal = later("personal");

    // The preview says when each activates; nothing is activated on confirmation.
    let (id, preview) = app
        .upload_outcome(
            &admin,
            &vendor.package(&[platform.clone(), server, fixed.clone(), floating, personal]),
        )
        .await;
    assert_eq!(
        effects(&preview),
        [
            "extends_tenant_from",
            "unlocks_feature_from",
            "adds_agent_license",
            "adds_agent_license",
            "adds_seats"
        ],
        "{preview}"
    );
    assert_eq!(preview["items"][0]["effect"]["from"], first_ms, "{preview}");
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.body["installed"].as_u64(), Some(5), "{:?}", r.body);
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    assert_eq!(platform_of(&summary, "Default"), Value::Null, "{summary}");
    // Its tenant's card says when its platform license activates.
    assert_eq!(activates_on(&app, &admin, "Default").await, first_ms);
    let list = |status: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            app.call(
                admin,
                "licenses/list",
                &[
                    ("query[q]", ""),
                    ("query[status]", status),
                    ("query[sort]", "installed"),
                    ("query[descending]", "true"),
                    ("query[page]", "1"),
                ],
            )
            .await
            .body
        }
    };
    let unused = list("unused").await;
    assert_eq!(unused["total"], 5, "{unused}");
    assert!(
        unused["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["waits_until"] == first_ms),
        "every row says when it may be activated: {unused}"
    );

    // Before that day: no floating license to claim, the fixed one cannot be bound (409, with
    // the day), and no seat can be given.
    let (agent, token) = register(&app, &enrollment_key(&app).await, "machine-a").await;
    let refused = post(&app, "checkout", Some(&token), None).await;
    assert_eq!(
        refused.status,
        StatusCode::PAYMENT_REQUIRED,
        "{:?}",
        refused.body
    );
    let fixed_id = fixed["id"].as_str().unwrap().to_string();
    let bind = || {
        let app = &app;
        let admin = &admin;
        let form = [
            ("agent_id", agent.clone()),
            ("license_id", fixed_id.clone()),
            ("understood", "yes".to_string()),
        ];
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call(admin, "agents/bind", &form).await
        }
    };
    let r: Reply = bind().await;
    assert_eq!(
        (r.status, r.error(), r.body["from"].as_i64()),
        (StatusCode::CONFLICT, Some("not_yet_valid"), Some(first_ms)),
        "{:?}",
        r.body
    );
    let user = app.create_user(&admin, "ann", "user").await;
    let give = || {
        let app = &app;
        let admin = &admin;
        let user = user.clone();
        async move {
            app.call(
                admin,
                "seats/apply",
                &[("product", "ai-server"), ("user_ids[0]", &user)],
            )
            .await
        }
    };
    let r = give().await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, Some("not_enough_seats")),
        "{:?}",
        r.body
    );
    // A sweep before the day changes nothing.
    app.state.clock.advance(9 * DAY);
    tessera::server::sweep(&app.state).await;
    assert_eq!(list("unused").await["total"], 5);

    // On the day, the sweeper activates the platform and server licenses, as of that day.
    move_clock_to(&app, first_ms + 60_000);
    tessera::server::sweep(&app.state).await;
    tessera::server::sweep(&app.state).await;
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    assert_eq!(
        platform_of(&summary, "Default"),
        serde_json::json!({ "At": first_ms + 365 * DAY }),
        "{summary}"
    );
    assert_eq!(list("activated").await["total"], 2);
    assert_eq!(
        activations_audited(&app).await,
        2,
        "activated once each, however often the sweeper runs"
    );
    // And the others may now be used.
    let r = post(&app, "checkout", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = bind().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = give().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // With two tenants, an administrator's assignment before the day waits for it too (signed in
    // again: sessions last 30 days at most).
    let admin = app.admin().await;
    let r = app
        .call(&admin, "tenants/create", &[("name", "Acme")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let acme = r.body["id"].as_str().unwrap().to_string();
    let (second_day, second_ms) = day_after(app.state.clock.now_ms(), 20);
    let mut renewal = vendor.certificate(&inst, "platform");
    renewal["not_before"] = second_day.into();
    renewal["validity_days"] = 30.into();
    let (id, preview) = app
        .upload_outcome(&admin, &vendor.package(std::slice::from_ref(&renewal)))
        .await;
    assert_eq!(effects(&preview), ["awaits_tenant"], "{preview}");
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    let renewal_id = renewal["id"].as_str().unwrap();
    let form = [("tenant_id", acme.as_str()), ("license_id", renewal_id)];
    let assign = || app.call(&admin, "tenants/assign", &form);
    let r = assign().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    assert_eq!(platform_of(&summary, "Acme"), Value::Null, "{summary}");
    assert_eq!(activates_on(&app, &admin, "Acme").await, second_ms);
    // Assigned, it is offered no more; assigned again, it says so.
    let listing = app.call(&admin, "tenants/list", &[]).await.body;
    assert!(
        !listing["assignable"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == renewal_id),
        "{listing}"
    );
    let r = assign().await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    move_clock_to(&app, second_ms + 1);
    tessera::server::sweep(&app.state).await;
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    assert_eq!(
        platform_of(&summary, "Acme"),
        serde_json::json!({ "At": second_ms + 30 * DAY }),
        "activated as of its first day, not of the sweep: {summary}"
    );
    assert_eq!(activations_audited(&app).await, 3, "{summary}");
    assert_eq!(activates_on(&app, &admin, "Acme").await, Value::Null);
    app.stop().await;
}

/// What the tenant card of `name` says about a platform license waiting for its first day.
async fn activates_on(app: &TestApp, admin: &reqwest::Client, name: &str) -> Value {
    let listing = app.call(admin, "tenants/list", &[]).await.body;
    listing["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .map(|t| t["platform_activates_on"].clone())
        .unwrap_or_else(|| panic!("no tenant {name}: {listing}"))
}

on_both_databases!(licenses_wait_for_their_first_day);
