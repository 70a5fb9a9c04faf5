//! The usage record and its rollups: every change of what is in use is recorded by the ledger,
//! the record always sums to the state, and minutes, hours and days roll up with their peak,
//! lowest, mean and refusals, kept as long as configured.
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::agents::{enrollment_key, install_floating, post, register};
use crate::on_both_databases;
use crate::support::{Backend, LONG_SESSIONS, TestApp, Vendor};
use tessera::ledger::usage::{in_use, recorded};
use tessera::usage::entity::{event, refusal, rollup};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The record, summed, says what the state holds.
async fn assert_record_matches_state(app: &TestApp, step: &str) {
    let state = in_use(&app.db).await.expect("the state");
    let record = recorded(&app.db).await.expect("the record");
    assert_eq!(record, state, "after {step}");
}

/// The usage record's kinds and reasons, oldest first.
async fn happened(app: &TestApp) -> Vec<(String, Option<String>, String, i32)> {
    event::Entity::find()
        .order_by_asc(event::Column::Id)
        .all(&app.db)
        .await
        .expect("the record")
        .into_iter()
        .map(|e| (e.kind, e.reason, e.license_kind, e.delta))
        .collect()
}

fn ok(r: &crate::support::Reply) {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn the_record_follows_every_change_of_what_is_in_use(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    install_floating(&app, &vendor, 2).await;
    let inst = app.state.installation_id.to_string();
    let mut fixed = vendor.certificate(&inst, "agent");
    fixed["binding"] = "fixed".into();
    let personal = vendor.certificate(&inst, "personal");
    let (id, _) = app
        .upload_outcome(&admin, &vendor.package(&[fixed.clone(), personal]))
        .await;
    ok(&app.call(&admin, "licenses/confirm", &[("id", &id)]).await);
    assert_record_matches_state(&app, "installing").await;

    let key = enrollment_key(&app).await;
    let (_, a) = register(&app, &key, "a").await;
    let (b_id, b) = register(&app, &key, "b").await;
    let (c_id, c) = register(&app, &key, "c").await;
    for token in [&a, &b] {
        ok(&post(&app, "checkout", Some(token), None).await);
    }
    let refused = post(&app, "checkout", Some(&c), None).await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED);
    assert_record_matches_state(&app, "two claims and a refusal").await;

    ok(&post(&app, "release", Some(&a), None).await);
    ok(&app
        .call(&admin, "agents/shut_down", &[("agent_id", &b_id)])
        .await);
    ok(&post(&app, "checkout", Some(&c), None).await);
    assert_record_matches_state(&app, "a release, a shut-down and a claim").await;

    let fixed_id = fixed["id"].as_str().expect("an id");
    ok(&app
        .call(
            &admin,
            "agents/bind",
            &[
                ("agent_id", &c_id),
                ("license_id", fixed_id),
                ("understood", "yes"),
            ],
        )
        .await);
    assert_record_matches_state(&app, "binding a fixed license").await;
    ok(&app
        .call(&admin, "agents/delete", &[("agent_id", &c_id)])
        .await);
    assert_record_matches_state(&app, "deleting the agent").await;

    let users: Vec<String> = {
        let mut ids = Vec::new();
        for name in ["ann", "bob"] {
            ids.push(app.create_user(&admin, name, "user").await);
        }
        ids
    };
    let give = app
        .call(
            &admin,
            "seats/apply",
            &[
                ("product", "ai-server"),
                ("user_ids[0]", &users[0]),
                ("user_ids[1]", &users[1]),
            ],
        )
        .await;
    ok(&give);
    let recall = app
        .call(
            &admin,
            "seats/recall",
            &[("product", "ai-server"), ("user_ids[0]", &users[0])],
        )
        .await;
    ok(&recall);
    assert_record_matches_state(&app, "giving two seats and recalling one").await;
    ok(&post(&app, "checkout", Some(&a), None).await);

    let r = app
        .call(&admin, "licenses/delete_all", &[("confirmation", "DELETE")])
        .await;
    ok(&r);
    assert_record_matches_state(&app, "deleting every license").await;
    assert!(
        in_use(&app.db).await.expect("the state").is_empty(),
        "nothing is in use once every license is gone"
    );

    let s = |v: &str| v.to_string();
    let release = |why: &str, kind: &str| (s("release"), Some(s(why)), s(kind), -1);
    let took = |what: &str, kind: &str| (s(what), None, s(kind), 1);
    assert_eq!(
        happened(&app).await,
        vec![
            took("claim", "floating"),
            took("claim", "floating"),
            release("agent", "floating"),
            release("shut_down", "floating"),
            took("claim", "floating"),
            release("fixed", "floating"),
            took("bind", "fixed"),
            release("deleted", "fixed"),
            took("seat_given", "personal"),
            took("seat_given", "personal"),
            (s("seat_recalled"), None, s("personal"), -1),
            took("claim", "floating"),
            // Deleting everything: one change per key, by how many were in use.
            release("reset", "floating"),
            release("reset", "personal"),
        ],
        "each change, in order, with why"
    );
    app.stop().await;
}

/// The rollup row of `span` at `start` for the default tenant's use of the shared pool's floating
/// licenses (or every tenant's together).
async fn level(app: &TestApp, span: &str, start: i64, tenant: &str) -> Option<rollup::Model> {
    rollup::Entity::find()
        .filter(rollup::Column::Span.eq(span))
        .filter(rollup::Column::Start.eq(start))
        .filter(rollup::Column::Pool.eq(""))
        .filter(rollup::Column::TenantId.eq(tenant))
        .filter(rollup::Column::LicenseKind.eq("floating"))
        .one(&app.db)
        .await
        .expect("a read")
}

async fn refusals(app: &TestApp, span: &str, start: i64) -> Vec<(String, String, i64, i32)> {
    refusal::Entity::find()
        .filter(refusal::Column::Span.eq(span))
        .filter(refusal::Column::Start.eq(start))
        .all(&app.db)
        .await
        .expect("a read")
        .into_iter()
        .map(|r| (r.tenant_id, r.reason, r.refusals, r.agents))
        .collect()
}

/// When each recorded change happened, oldest first.
async fn change_times(app: &TestApp) -> Vec<i64> {
    event::Entity::find()
        .order_by_asc(event::Column::Id)
        .all(&app.db)
        .await
        .expect("the record")
        .into_iter()
        .map(|e| e.at)
        .collect()
}

async fn minutes_hours_and_days_roll_up_and_are_pruned(backend: Backend) {
    let vendor = Vendor::new(1);
    let mut vars = LONG_SESSIONS.to_vec();
    vars.extend([
        ("TESSERA_USAGE_EVENTS_DAYS", "2"),
        ("TESSERA_USAGE_MINUTES_DAYS", "2"),
        ("TESSERA_USAGE_HOURS_DAYS", "3"),
    ]);
    let app = TestApp::start_with_vendor(backend, &vendor, &vars).await;
    let admin = app.admin().await;
    let tenant = app.default_tenant(&admin).await;
    install_floating(&app, &vendor, 2).await;
    let key = enrollment_key(&app).await;
    let (_, a) = register(&app, &key, "a").await;
    let (_, b) = register(&app, &key, "b").await;
    let (_, c) = register(&app, &key, "c").await;
    // One second into a minute: a takes a license; 20 s later b; c is refused three times; at
    // 40 s a lets go. Each step has 19 s of room however slow the machine.
    let clock = &app.state.clock;
    let now = clock.now_ms();
    clock.advance(MINUTE - now.rem_euclid(MINUTE) + 1_000);
    let m0 = clock.now_ms() / MINUTE * MINUTE;
    ok(&post(&app, "checkout", Some(&a), None).await);
    clock.advance(19_000);
    ok(&post(&app, "checkout", Some(&b), None).await);
    for _ in 0..3 {
        let r = post(&app, "checkout", Some(&c), None).await;
        assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.body);
    }
    clock.advance(20_000);
    ok(&post(&app, "release", Some(&a), None).await);
    let times = change_times(&app).await;
    let [a_took, b_took, a_let_go] = times[..] else {
        panic!("three changes recorded: {times:?}");
    };
    assert!(a_let_go < m0 + MINUTE, "all in the first minute: {times:?}");
    app.state.ledger.flush_refusals().await.expect("written");

    // The minute ends: it is rolled up once it has settled.
    clock.advance(m0 + MINUTE + 6_000 - clock.now_ms());
    app.sweep().await;
    let first = level(&app, "minute", m0, &tenant)
        .await
        .expect("the first minute");
    let used = (b_took - a_took) + 2 * (a_let_go - b_took) + (m0 + MINUTE - a_let_go);
    assert_eq!(
        (first.peak, first.low, first.used_ms),
        (2, 0, used),
        "peak, lowest and time in use"
    );
    let whole = level(&app, "minute", m0, "*").await.expect("every tenant");
    assert_eq!((whole.peak, whole.used_ms, whole.owned), (2, used, 2));
    assert_eq!(
        refusals(&app, "minute", m0).await,
        vec![(tenant.clone(), "no_license_free".to_string(), 3, 1)]
    );
    assert!(
        level(&app, "minute", m0 + MINUTE, &tenant).await.is_none(),
        "a minute not yet settled is not rolled up"
    );

    // The hour ends: b held its license all along.
    let h0 = m0 / HOUR * HOUR;
    clock.advance(h0 + HOUR + 6_000 - clock.now_ms());
    app.sweep().await;
    let second = level(&app, "minute", m0 + MINUTE, &tenant)
        .await
        .expect("the next minute");
    assert_eq!((second.peak, second.low, second.used_ms), (1, 1, MINUTE));
    let hour = level(&app, "hour", h0, &tenant).await.expect("the hour");
    let rest = h0 + HOUR - (m0 + MINUTE);
    assert_eq!(
        (hour.peak, hour.low, hour.used_ms),
        (2, 0, used + rest),
        "the hour's peak, lowest and use"
    );
    assert_eq!(
        refusals(&app, "hour", h0).await,
        vec![(tenant.clone(), "no_license_free".to_string(), 3, 1)]
    );

    // The day ends.
    let d0 = m0 / DAY * DAY;
    clock.advance(d0 + DAY + HOUR + 6_000 - clock.now_ms());
    app.sweep().await;
    let day = level(&app, "day", d0, &tenant).await.expect("the day");
    assert_eq!(day.peak, 2);
    assert_eq!(day.used_ms, used + (d0 + DAY - (m0 + MINUTE)));
    let day_refusals = refusals(&app, "day", d0).await;
    assert_eq!(
        day_refusals,
        vec![(tenant.clone(), "no_license_free".to_string(), 3, 1)]
    );

    // Past two days the minutes and the record go, past three the hours; days stay.
    clock.advance(h0 + 2 * DAY + HOUR - clock.now_ms());
    app.sweep().await;
    assert!(
        level(&app, "minute", m0, &tenant).await.is_none(),
        "minutes pruned"
    );
    assert!(change_times(&app).await.is_empty(), "the record pruned");
    assert!(refusals(&app, "minute", m0).await.is_empty());
    assert!(
        level(&app, "hour", h0, &tenant).await.is_some(),
        "hours kept"
    );
    clock.advance(DAY);
    let before = clock.now_ms();
    app.sweep().await;
    assert!(
        level(&app, "hour", h0, &tenant).await.is_none(),
        "hours pruned"
    );
    assert!(level(&app, "day", d0, &tenant).await.is_some(), "days kept");
    assert_eq!(refusals(&app, "day", d0).await, day_refusals);
    // The minutes rolled meanwhile still show b's license, as the state does.
    let latest = bucket(before - tessera::usage::store::SETTLE_MS) - MINUTE;
    let last = level(&app, "minute", latest, &tenant)
        .await
        .expect("rolled");
    assert_eq!((last.peak, last.low), (1, 1));
    app.stop().await;
}

/// Settings > Usage through its server function, its exports and its page: an administrator sees
/// every tenant, a License manager of another tenant only their scope; a bad filter is refused.
async fn the_usage_report_shows_each_callers_scope_and_exports_it(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let home = app.default_tenant(&admin).await;
    install_floating(&app, &vendor, 2).await;
    let key = enrollment_key(&app).await;
    let mut tokens = Vec::new();
    for machine in ["a", "b", "c"] {
        tokens.push(register(&app, &key, machine).await.1);
    }
    let clock = &app.state.clock;
    let now = clock.now_ms();
    clock.advance(MINUTE - now.rem_euclid(MINUTE) + 1_000);
    let m0 = bucket(clock.now_ms());
    for t in &tokens[..2] {
        ok(&post(&app, "checkout", Some(t), None).await);
    }
    for _ in 0..3 {
        let r = post(&app, "checkout", Some(&tokens[2]), None).await;
        assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED);
    }
    app.state.ledger.flush_refusals().await.expect("written");
    clock.advance(m0 + MINUTE + 6_000 - clock.now_ms());
    app.sweep().await;

    let report = |client: reqwest::Client, form: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call(&client, "usage/report", &form).await
        }
    };
    let day = || vec![("filter[period]", "day".to_string())];
    let r = report(admin.clone(), day()).await;
    ok(&r);
    assert_eq!(r.body["span"], "minute");
    let point = |r: &crate::support::Reply| {
        r.body["points"]
            .as_array()
            .expect("points")
            .iter()
            .find(|p| p["start"] == m0)
            .cloned()
            .expect("the minute")
    };
    let p = point(&r);
    assert_eq!(
        (
            &p["floating_peak"],
            &p["floating_owned"],
            &p["refused"],
            &p["refused_agents"]
        ),
        (&2.into(), &2.into(), &3.into(), &1.into()),
        "{p}"
    );
    let pools = r.body["pools"].as_array().expect("pools");
    assert_eq!(pools.len(), 1, "{pools:?}");
    let shared = &pools[0];
    assert_eq!(shared["pool"], serde_json::Value::Null, "the shared pool");
    assert_eq!(
        (&shared["owned"], &shared["peak"], &shared["needed_peak"]),
        (&2.into(), &2.into(), &3.into()),
        "two owned, both in use, one more agent wanted one: {shared}"
    );

    // A License manager of another tenant: its agents used nothing of the shared pool.
    let other = app
        .call(&admin, "tenants/create", &[("name", "Other")])
        .await;
    ok(&other);
    let other = other.body["id"].as_str().expect("an id").to_string();
    let r = app
        .call(
            &admin,
            "users/create",
            &[
                ("user_name", "other-manager"),
                ("password", &crate::support::password_of("other-manager")),
                ("role", "license_manager"),
                ("tenant_id", &other),
            ],
        )
        .await;
    ok(&r);
    let manager = app
        .sign_in(
            "other-manager",
            &crate::support::password_of("other-manager"),
        )
        .await;
    let r = report(manager.clone(), day()).await;
    ok(&r);
    let tenants: Vec<&str> = r.body["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(tenants, [other.as_str()], "only their own tenant to choose");
    let p = point(&r);
    assert_eq!(
        (&p["floating_peak"], &p["floating_owned"], &p["refused"]),
        (&0.into(), &2.into(), &0.into()),
        "{p}"
    );
    let mut theirs = day();
    theirs.push(("filter[tenant]", home.clone()));
    let r = report(manager.clone(), theirs).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tenant")),
        "another tenant is refused: {:?}",
        r.body
    );
    let r = report(admin.clone(), vec![("filter[period]", "fortnight".into())]).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("period")),
        "{:?}",
        r.body
    );

    // The exports hold what the page shows.
    let csv = app
        .get(&admin, "/settings/usage.csv?period=day")
        .await
        .text()
        .await
        .expect("the CSV");
    let minute = chrono::DateTime::from_timestamp_millis(m0)
        .expect("a time")
        .format("%Y-%m-%d %H:%M")
        .to_string();
    assert!(csv.starts_with("start_utc,floating_in_use_peak,"), "{csv}");
    assert!(csv.contains(&format!("{minute},2,2,3,1,0,0\r\n")), "{csv}");
    let json: serde_json::Value = app
        .get(&admin, "/settings/usage.json?period=day")
        .await
        .json()
        .await
        .expect("the JSON");
    assert_eq!(
        json["pools"],
        report(admin.clone(), day()).await.body["pools"]
    );
    let pools_csv = app
        .get(&manager, "/settings/usage-pools.csv?period=day")
        .await
        .text()
        .await
        .expect("the pools");
    assert!(
        pools_csv.contains("shared,AI Server,floating,2,0,0,0,0,0,minute"),
        "{pools_csv}"
    );
    let page = app.get(&admin, "/settings/usage?period=day").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("the page");
    assert!(html.contains("data-testid=\"chart-floating\""), "the chart");
    assert!(html.contains("data-testid=\"pools\""), "the pools' table");

    // At the command line, the same figures; a wrong filter names what is wrong.
    let tessera = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env("TESSERA_DATABASE_URL", &app.database_url)
            .output()
            .expect("tessera runs")
    };
    let day = chrono::DateTime::from_timestamp_millis(m0)
        .expect("a time")
        .format("%Y-%m-%d")
        .to_string();
    let out = tessera(&["usage", "--from", &day, "--to", &day, "--format", "csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{minute},2,2,3,1,0,0\r\n")),
        "{text}"
    );
    let out = tessera(&["usage", "--period", "fortnight"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Period"),
        "names the period"
    );
    app.stop().await;
}

fn bucket(at: i64) -> i64 {
    at.div_euclid(MINUTE) * MINUTE
}

on_both_databases!(
    the_record_follows_every_change_of_what_is_in_use,
    minutes_hours_and_days_roll_up_and_are_pruned,
    the_usage_report_shows_each_callers_scope_and_exports_it,
);
