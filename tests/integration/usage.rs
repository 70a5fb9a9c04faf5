//! The usage record and its rollups: every change of what is in use is recorded by the ledger,
//! the record always sums to the state, and minutes, hours and days roll up with their peak,
//! lowest, mean and refusals, kept as long as configured.
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::agents::{enrollment_key, install_floating, post, register};
use crate::on_both_databases;
use crate::support::{Backend, LONG_SESSIONS, TestApp, Vendor};
use tessera::ledger::usage::{in_use, recorded, state};
use tessera::usage::entity::{event, refusal, rollup};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The record, summed, says what the state holds (licenses and seats in use, agents registered).
async fn assert_record_matches_state(app: &TestApp, step: &str) {
    let state = state(&app.db).await.expect("the state");
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
    // A license's first use activates it (it counts in no one's use).
    let activated = |kind: &str| (s("activated"), None, s(kind), 0);
    assert_eq!(
        happened(&app).await,
        vec![
            took("registered", "agents"),
            took("registered", "agents"),
            took("registered", "agents"),
            activated("floating"),
            took("claim", "floating"),
            activated("floating"),
            took("claim", "floating"),
            release("agent", "floating"),
            release("shut_down", "floating"),
            // The license a let go: activated already.
            took("claim", "floating"),
            release("fixed", "floating"),
            activated("fixed"),
            took("bind", "fixed"),
            release("deleted", "fixed"),
            (s("lapsed"), Some(s("agent_deleted")), s("fixed"), 0),
            (s("removed"), None, s("agents"), -1),
            activated("personal"),
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

/// When each recorded change of a license in use happened, oldest first.
async fn change_times(app: &TestApp) -> Vec<i64> {
    event::Entity::find()
        .filter(event::Column::LicenseKind.ne(tessera::usage::rollup::REGISTERED_AGENTS))
        // Activations and lapses change no one's use.
        .filter(event::Column::Delta.ne(0))
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
    // One second into an hour: a takes a license; 20 s later b; c is refused three times; at
    // 40 s a lets go. Each step has 19 s of room however slow the machine. The first minute of
    // an hour, so that the next minute has settled when the hour has (a run that began in an
    // hour's last minute once found the next minute not yet rolled up).
    let clock = &app.state.clock;
    let now = clock.now_ms();
    clock.advance(HOUR - now.rem_euclid(HOUR) + 1_000);
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
    app.state.ledger.flush_noted().await.expect("written");

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
    assert!(happened(&app).await.is_empty(), "the record pruned");
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
    app.state.ledger.flush_noted().await.expect("written");
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
    assert_eq!(
        (&shared["refused"], &shared["agents_refused"]),
        (&3.into(), &1.into()),
        "three refusals, of one agent: {shared}"
    );

    // The last 7 days, in hours: the hour not yet over is folded from its minutes at once.
    let r = report(admin.clone(), vec![("filter[period]", "7d".to_string())]).await;
    ok(&r);
    assert_eq!(r.body["span"], "hour");
    let hour = r.body["points"]
        .as_array()
        .expect("points")
        .iter()
        .find(|p| p["start"] == m0 / HOUR * HOUR)
        .cloned()
        .expect("the current hour");
    assert_eq!(
        (
            &hour["floating_peak"],
            &hour["refused"],
            &hour["refused_agents"]
        ),
        (&2.into(), &3.into(), &1.into()),
        "{hour}"
    );
    let shared = &r.body["pools"][0];
    assert_eq!(
        (&shared["peak"], &shared["refused"], &shared["needed_peak"]),
        (&2.into(), &3.into(), &3.into()),
        "{shared}"
    );

    // A License manager of another tenant: its agents used nothing of the shared pool.
    let other = app
        .call(&admin, "tenants/create", &[("name", "Other")])
        .await;
    ok(&other);
    let other = other.body["id"].as_str().expect("an id").to_string();
    let manager = app.license_manager(&admin, "other-manager", &other).await;
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
    // Two of the three agents registered held a license.
    assert!(
        csv.contains(&format!("{minute},2,2,3,1,0,0,2,3\r\n")),
        "{csv}"
    );
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
        pools_csv.contains("shared,AI Server,floating,2,0,0,2,0,0,0,0,0,minute"),
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
        text.contains(&format!("{minute},2,2,3,1,0,0,2,3\r\n")),
        "{text}"
    );
    let out = tessera(&["usage", "--period", "fortnight"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Period"),
        "names the period"
    );

    // The views asked last are built again by the sweeper after a roll-up, before anyone asks:
    // under the new mark, the views kept are there already.
    let day_view = vec![("filter[period]", "day".to_string())];
    ok(&report(admin.clone(), day_view).await);
    clock.advance(MINUTE);
    app.sweep().await;
    let rolled = tessera::usage::entity::progress::Entity::find()
        .one(&app.db)
        .await
        .expect("progress")
        .expect("progress row");
    let (mark, views) = app.state.usage_reports.kept();
    assert_eq!(
        mark,
        (rolled.minutes_until, rolled.hours_until, rolled.days_until),
        "built under the mark just moved"
    );
    assert!(views >= 2, "the day's view, the manager's: {views}");
    app.stop().await;
}

fn bucket(at: i64) -> i64 {
    at.div_euclid(MINUTE) * MINUTE
}

/// The checkouts refused for want of a free license, per bucket of `span`, every tenant's.
async fn refusals_per(app: &TestApp, span: &str) -> std::collections::BTreeMap<i64, i64> {
    let mut per = std::collections::BTreeMap::new();
    for r in refusal::Entity::find()
        .filter(refusal::Column::Span.eq(span))
        .filter(refusal::Column::Reason.eq("no_license_free"))
        .all(&app.db)
        .await
        .expect("refusals")
    {
        *per.entry(r.start).or_default() += r.refusals;
    }
    per
}

/// A key of the record: pool, tenant (or `*`), product, license kind.
type RecordKey = (String, String, String, String);

/// Per key (each tenant's and every tenant's together), the level after each instant at which
/// the record changed it, oldest first: recomputed here, independently of `usage::rollup`.
fn levels_from_record(
    events: &[event::Model],
) -> std::collections::BTreeMap<RecordKey, Vec<(i64, i64)>> {
    let mut out: std::collections::BTreeMap<RecordKey, Vec<(i64, i64)>> = Default::default();
    for e in events {
        for tenant in [e.tenant_id.as_str(), "*"] {
            let key = (
                e.pool.clone(),
                tenant.to_string(),
                e.product.clone(),
                e.license_kind.clone(),
            );
            let steps = out.entry(key).or_default();
            let before = steps.last().map_or(0, |(_, n)| *n);
            match steps.last_mut() {
                Some((at, n)) if *at == e.at => *n += i64::from(e.delta),
                _ => steps.push((e.at, before + i64::from(e.delta))),
            }
        }
    }
    out
}

/// Peak, lowest and time in use in `[start, end)` of a key's levels (the level entering the
/// bucket counts, as does the level after each instant in it).
fn measure(steps: &[(i64, i64)], start: i64, end: i64) -> (i64, i64, i64) {
    let first = steps.partition_point(|(at, _)| *at < start);
    let mut n = first.checked_sub(1).map_or(0, |i| steps[i].1);
    let (mut peak, mut low, mut used, mut since) = (n, n, 0, start);
    for (at, after) in steps[first..].iter().take_while(|(at, _)| *at < end) {
        used += n * (at - since);
        since = *at;
        n = *after;
        peak = peak.max(n);
        low = low.min(n);
    }
    (peak, low, used + n * (end - since))
}

/// A month on the test clock, in about seventy steps of one to fourteen hours: agents take
/// and let go of floating licenses, go silent and are released by the sweeper, are refused and
/// shut down; seats are given and recalled. Every minute, hour and day rolled up equals what the
/// usage record says, recomputed here; every refused checkout answered is counted once, in its
/// hour. On PostgreSQL half the agents go through a second instance sharing the database: no
/// refusal is lost or counted twice, and one that crashes loses only what it had not written
/// (at most its last second's counts).
async fn a_simulated_month_rolls_up_exactly_what_the_record_says(backend: Backend) {
    use std::collections::BTreeMap;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let mut admin = app.admin().await;
    install_floating(&app, &vendor, 3).await;
    let inst = app.state.installation_id.to_string();
    let (id, _) = app
        .upload_outcome(
            &admin,
            &vendor.package(&[vendor.certificate(&inst, "personal")]),
        )
        .await;
    ok(&app.call(&admin, "licenses/confirm", &[("id", &id)]).await);
    let users = [
        app.create_user(&admin, "ann", "user").await,
        app.create_user(&admin, "bob", "user").await,
    ];
    // Agents silent for an hour lose their floating license.
    let home = app.default_tenant(&admin).await;
    ok(&app
        .call(
            &admin,
            "tenants/set_release",
            &[("tenant_id", &home), ("minutes", "60")],
        )
        .await);
    let key = enrollment_key(&app).await;
    let mut agents = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        agents.push(register(&app, &key, name).await);
    }
    let clock = &app.state.clock;
    // The second instance shares the test clock (and the database) on PostgreSQL.
    let other = match backend {
        Backend::Postgres => Some(app.another_instance(clock.clone()).await),
        Backend::Sqlite => None,
    };
    let other_base = match &other {
        Some(state) => Some(crate::support::serve(state.clone()).await.0),
        None => None,
    };
    let on = |j: usize| match &other_base {
        Some(base) if j % 2 == 1 => base.clone(),
        _ => app.base.clone(),
    };
    let agent_call = async |j: usize, path: &str, token: &str| {
        crate::support::Reply::read(
            reqwest::Client::new()
                .post(format!("{}/api/v1/agents/{path}", on(j)))
                .bearer_auth(token)
                .send()
                .await
                .expect("an instance answers"),
        )
        .await
    };
    let flush_all = async || {
        app.state.ledger.flush_noted().await.expect("written");
        if let Some(state) = &other {
            state.ledger.flush_noted().await.expect("written");
        }
    };

    let began = clock.now_ms();
    // Refused checkouts answered (402: none free), per hour.
    let mut refused_per_hour: BTreeMap<i64, i64> = BTreeMap::new();
    let mut shut = false;
    let mut step = 0i64;
    while clock.now_ms() < began + 30 * DAY {
        clock.advance((60 + (step * 389) % 780) * MINUTE + 1_000);
        if step % 10 == 0 {
            // Sessions last 30 days at most: the administrator signs in again now and then.
            admin = app.admin().await;
        }
        if step == 50 {
            // e takes a license (the others let theirs go first) and is shut down holding it.
            for (j, (_, token)) in agents.iter().enumerate().take(4) {
                ok(&agent_call(j, "release", token).await);
            }
            let (e_id, e_token) = &agents[4];
            ok(&agent_call(4, "checkout", e_token).await);
            clock.advance(1_000);
            ok(&app
                .call(&admin, "agents/shut_down", &[("agent_id", e_id)])
                .await);
            shut = true;
        }
        for (j, (_, token)) in agents.iter().enumerate() {
            let turn = step + j as i64;
            if shut && j == 4 {
                continue;
            }
            clock.advance(1_000);
            if turn % 4 == 0 {
                ok(&agent_call(j, "release", token).await);
            } else if turn % 3 != 0 {
                let r = agent_call(j, "checkout", token).await;
                match r.status {
                    StatusCode::OK => {}
                    StatusCode::PAYMENT_REQUIRED => {
                        *refused_per_hour
                            .entry(clock.now_ms() / HOUR * HOUR)
                            .or_default() += 1;
                    }
                    other => panic!("checkout answered {other}: {:?}", r.body),
                }
            }
        }
        let user = &users[usize::from(step % 20 >= 10)];
        match step % 10 {
            3 => ok(&app
                .call(
                    &admin,
                    "seats/apply",
                    &[("product", "ai-server"), ("user_ids[0]", user)],
                )
                .await),
            8 => ok(&app
                .call(
                    &admin,
                    "seats/recall",
                    &[("product", "ai-server"), ("user_ids[0]", user)],
                )
                .await),
            _ => {}
        }
        // Each instance writes its counts within a second, long before a minute settles.
        flush_all().await;
        app.sweep().await;
        // The administrator looks at the usage now and then: the rows read are kept and
        // extended by each roll-up from here on.
        for period in ["day", "7d", "30d"] {
            for tenant in ["", home.as_str()] {
                let filter = [("filter[period]", period), ("filter[tenant]", tenant)];
                ok(&app.call(&admin, "usage/report", &filter).await);
            }
        }
        step += 1;
    }
    // Past the last hour and day, so they are rolled up too.
    clock.advance(DAY + HOUR);
    flush_all().await;
    app.sweep().await;
    assert!(step > 60, "a month of steps: {step}");
    assert!(!refused_per_hour.is_empty(), "some checkouts were refused");

    let events = event::Entity::find()
        .order_by_asc(event::Column::At)
        .order_by_asc(event::Column::Id)
        .all(&app.db)
        .await
        .expect("the record");
    let reasons: std::collections::BTreeSet<String> =
        events.iter().filter_map(|e| e.reason.clone()).collect();
    for why in ["agent", "silent", "shut_down"] {
        assert!(
            reasons.contains(why),
            "a release because {why}: {reasons:?}"
        );
    }
    // What the kept rows give, extended roll-up after roll-up, is what reading them all gives.
    let keep = app.state.config.usage_retention;
    let now = clock.now_ms();
    let home_filter = [None, Some(home.clone())];
    for (period, tenant) in ["day", "7d", "30d"]
        .into_iter()
        .flat_map(|p| home_filter.iter().map(move |t| (p, t.clone())))
    {
        let filter = tessera::usage::model::UsageFilter {
            period: Some(period.to_string()),
            tenant,
            ..Default::default()
        }
        .check(now)
        .expect("a filter");
        let kept = &app.state.usage_reports;
        let read = tessera::usage::cache::Reports::default();
        let store = async |reports| {
            tessera::usage::store::report(&app.db, reports, None, &filter, keep, now)
                .await
                .expect("a report")
        };
        let (warm, cold) = (store(kept).await, store(&read).await);
        assert!(
            warm.points.iter().any(|p| p.floating_peak > 0),
            "{period}: some use"
        );
        let differ = warm.points.iter().zip(&cold.points).find(|(w, c)| w != c);
        assert_eq!(warm.points.len(), cold.points.len(), "{period}");
        assert_eq!(differ, None, "{period}, {:?}: kept, read", filter.tenant);
        assert_eq!(warm.pools, cold.pools, "{period}, {:?}", filter.tenant);
        assert_eq!(warm, cold, "{period}, {:?}", filter.tenant);
    }
    let levels = levels_from_record(&events);
    let rolled = tessera::usage::entity::progress::Entity::find()
        .one(&app.db)
        .await
        .expect("progress")
        .expect("progress row");
    for (span, length, until) in [
        ("minute", MINUTE, rolled.minutes_until),
        ("hour", HOUR, rolled.hours_until),
        ("day", DAY, rolled.days_until),
    ] {
        let rows = rollup::Entity::find()
            .filter(rollup::Column::Span.eq(span))
            .all(&app.db)
            .await
            .expect("rollups");
        assert!(!rows.is_empty(), "{span}s rolled up");
        let mut stored = std::collections::BTreeSet::new();
        for r in &rows {
            assert!(r.start + length <= until, "{span} {} is final", r.start);
            let key = (
                r.pool.clone(),
                r.tenant_id.clone(),
                r.product.clone(),
                r.license_kind.clone(),
            );
            let steps = levels.get(&key).map_or(&[][..], Vec::as_slice);
            assert_eq!(
                (i64::from(r.peak), i64::from(r.low), r.used_ms),
                measure(steps, r.start, r.start + length),
                "the {span} at {} of {key:?}",
                r.start
            );
            stored.insert((r.start, key));
        }
        // Every hour and day in which something was in use has its row (minutes before the
        // last 14 days are pruned).
        if span != "minute" {
            for (key, steps) in &levels {
                let mut start = began / length * length;
                while start < until {
                    let (peak, _, _) = measure(steps, start, start + length);
                    assert!(
                        peak == 0 || stored.contains(&(start, key.clone())),
                        "the {span} at {start} of {key:?} is rolled up"
                    );
                    start += length;
                }
            }
        }
    }
    // Each refusal once, in its hour; the days hold them all.
    assert_eq!(
        refusals_per(&app, "hour").await,
        refused_per_hour,
        "refusals per hour"
    );
    let total: i64 = refused_per_hour.values().sum();
    assert_eq!(refusals_per(&app, "day").await.values().sum::<i64>(), total);

    // The license request tells the vendor what the month used: the peak and 95th percentile
    // of the hours rolled up, and the refusals (all within the last 30 days' hours).
    let r = app
        .call(
            &admin,
            "licenses/request",
            &[("company_id", "acme"), ("target_version", "8.1")],
        )
        .await;
    ok(&r);
    let request = tessera::licenses::verify::decode_request(r.body["text"].as_str().expect("text"))
        .expect("a readable request");
    let now = clock.now_ms();
    let from = (now - 30 * DAY) / HOUR * HOUR;
    let shared = levels
        .get(&(
            String::new(),
            "*".to_string(),
            "ai-server".to_string(),
            "floating".to_string(),
        ))
        .expect("the shared pool's use");
    let mut hourly: Vec<i64> = Vec::new();
    let mut start = from;
    while start < now / HOUR * HOUR + HOUR {
        // Hours not yet rolled up count as none in use, as in the request.
        hourly.push(if start + HOUR <= rolled.hours_until {
            measure(shared, start, start + HOUR).0
        } else {
            0
        });
        start += HOUR;
    }
    let peak = hourly.iter().copied().max().unwrap_or(0);
    hourly.sort_unstable();
    let p95 = hourly[(hourly.len() * 95).div_ceil(100) - 1];
    let floating = request
        .usage_summary
        .iter()
        .find(|p| p.product == "ai-server" && p.license_kind == "floating")
        .expect("the floating licenses' use");
    assert_eq!(floating.owned, 3);
    let month = &floating.periods[0];
    assert_eq!(
        (month.days, month.bucket.as_str(), month.peak, month.p95),
        (
            30,
            "hour",
            u64::try_from(peak).unwrap_or(0),
            u64::try_from(p95).unwrap_or(0)
        ),
        "{floating:?}"
    );
    assert_eq!(month.peak, 3, "every license was in use at some hour");
    let in_month: i64 = refused_per_hour
        .iter()
        .filter(|(hour, _)| **hour >= from)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(month.refusals, u64::try_from(in_month).unwrap_or(0));
    assert!(month.complete, "the record covers the last 30 days");
    let year = &floating.periods[2];
    assert_eq!((year.days, year.complete), (365, false));
    assert_eq!(year.refusals, u64::try_from(total).unwrap_or(0));
    let seats = request
        .usage_summary
        .iter()
        .find(|p| p.license_kind == "personal")
        .expect("the seats' use");
    assert_eq!(
        (
            seats.owned,
            seats.periods[2].peak,
            seats.periods[2].refusals
        ),
        (5, 1, 0)
    );

    // A crash of the second instance loses only the counts it had not yet written.
    if let Some(state) = other {
        // Every license was let go by the sweeper (silent a day): a, c and d take all three.
        for j in [0, 2, 3] {
            ok(&post(&app, "checkout", Some(&agents[j].1), None).await);
        }
        let (agent_id, token) = &agents[1];
        let hour = clock.now_ms() / HOUR * HOUR;
        let mut answered = 0u64;
        for _ in 0..3 {
            if agent_call(1, "checkout", token).await.status == StatusCode::PAYMENT_REQUIRED {
                answered += 1;
            }
        }
        let pending = state.ledger.refusals().pending(agent_id);
        assert_eq!(
            (pending, answered),
            (3, 3),
            "counted in memory, not yet written"
        );
        // Never written (no background writer runs for it here), as after a crash.
        drop(state);
        clock.advance(HOUR);
        app.sweep().await;
        clock.advance(HOUR);
        app.sweep().await;
        assert_eq!(
            refusals_per(&app, "hour")
                .await
                .get(&hour)
                .copied()
                .unwrap_or(0),
            0,
            "the unwritten counts are lost, and nothing else"
        );
        assert_eq!(
            refusals_per(&app, "hour").await.values().sum::<i64>(),
            total
        );
    }
    app.stop().await;
}

/// What the record holds of licenses coming into force and lapsing, by time: (kind, reason,
/// certificate, at).
async fn in_force(app: &TestApp) -> Vec<(String, Option<String>, String, i64)> {
    let mut found: Vec<(String, Option<String>, String, i64)> = event::Entity::find()
        .filter(event::Column::Kind.is_in(["activated", "lapsed"]))
        .all(&app.db)
        .await
        .expect("the record")
        .into_iter()
        .map(|e| (e.kind, e.reason, e.certificate_id.unwrap_or_default(), e.at))
        .collect();
    found.sort_by_key(|e| (e.3, e.0.clone(), e.2.clone()));
    found
}

async fn a_license_lapses_in_the_record_at_its_end_and_once(backend: Backend) {
    use tessera::licenses::entity::certificate;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let clock = &app.state.clock;
    let upload = async |certs: &[serde_json::Value]| {
        let (id, _) = app.upload_outcome(&admin, &vendor.package(certs)).await;
        ok(&app.call(&admin, "licenses/confirm", &[("id", &id)]).await);
    };
    let id = |c: &serde_json::Value| c["id"].as_str().expect("an id").to_string();
    // A floating license valid a day from its first checkout, which activates it.
    let mut short = vendor.certificate(&inst, "agent");
    short["validity_days"] = 1.into();
    // A platform license, which comes into force on the only tenant as it is uploaded.
    let platform = vendor.certificate(&inst, "platform");
    upload(&[short.clone(), platform.clone()]).await;
    let key = enrollment_key(&app).await;
    let (_, token) = register(&app, &key, "a").await;
    clock.advance(MINUTE);
    let claimed_at = clock.now_ms();
    ok(&post(&app, "checkout", Some(&token), None).await);
    // One never used, valid until the day after tomorrow; a server license (in force from its
    // upload) that a later one withdraws.
    let mut unused = vendor.certificate(&inst, "agent");
    unused["not_after"] = chrono::DateTime::from_timestamp_millis(claimed_at + 2 * DAY)
        .expect("a date")
        .format("%Y-%m-%d")
        .to_string()
        .into();
    let doomed = vendor.certificate(&inst, "server");
    clock.advance(MINUTE);
    let installed_at = clock.now_ms();
    upload(&[unused.clone(), doomed.clone()]).await;
    let mut withdrawing = vendor.certificate(&inst, "server");
    withdrawing["revokes"] = serde_json::json!([doomed["id"]]);
    clock.advance(MINUTE);
    let withdrawing_uploaded = clock.now_ms();
    upload(std::slice::from_ref(&withdrawing)).await;
    app.sweep().await;
    let stored = async |c: &serde_json::Value| {
        certificate::Entity::find_by_id(id(c))
            .one(&app.db)
            .await
            .expect("read")
            .expect("installed")
    };
    let activated_at =
        async |c: &serde_json::Value| stored(c).await.activated_at.expect("in force");
    let ends_at = async |c: &serde_json::Value| {
        let c = stored(c).await;
        c.expires_at.or(c.not_after_at).expect("an end")
    };
    let (short_end, unused_end) = (ends_at(&short).await, ends_at(&unused).await);
    assert!(short_end > clock.now_ms() && unused_end > short_end);
    let s = |v: &str| v.to_string();
    let activated = |c: &serde_json::Value, at: i64| (s("activated"), None, id(c), at);
    let lapsed = |c: &serde_json::Value, why: &str, at: i64| (s("lapsed"), Some(s(why)), id(c), at);
    // The withdrawal happened as the withdrawing license came into force.
    let withdrawn_at = activated_at(&withdrawing).await;
    assert!(withdrawn_at >= withdrawing_uploaded);
    let so_far = vec![
        activated(&platform, activated_at(&platform).await),
        activated(&short, activated_at(&short).await),
        activated(&doomed, activated_at(&doomed).await),
        activated(&withdrawing, withdrawn_at),
        lapsed(&doomed, "withdrawn", withdrawn_at),
    ];
    assert!(so_far[1].3 >= claimed_at && so_far[2].3 >= installed_at);
    let platform_on = event::Entity::find()
        .filter(event::Column::CertificateId.eq(id(&platform)))
        .one(&app.db)
        .await
        .expect("the record")
        .map(|e| (e.license_kind, e.pool, e.tenant_id));
    let home = app.default_tenant(&admin).await;
    assert_eq!(
        platform_on,
        Some(("platform".to_string(), home.clone(), home)),
        "on its tenant"
    );
    assert_eq!(
        in_force(&app).await,
        so_far,
        "nothing has lapsed by time yet"
    );

    // Past the first end: it lapses, at its end, once however often the sweeper looks.
    clock.advance(short_end + MINUTE - clock.now_ms());
    app.sweep().await;
    clock.advance(MINUTE);
    app.sweep().await;
    let mut expected = so_far.clone();
    expected.push(lapsed(&short, "expired", short_end));
    assert_eq!(in_force(&app).await, expected);
    // Past the last valid day of the one never used (Tessera stopped meanwhile: one sweep).
    clock.advance(unused_end + 3 * DAY - clock.now_ms());
    app.sweep().await;
    app.sweep().await;
    expected.push(lapsed(&unused, "expired", unused_end));
    assert_eq!(in_force(&app).await, expected);
    assert_record_matches_state(&app, "lapses, which change no one's use").await;
    app.stop().await;
}

on_both_databases!(
    a_license_lapses_in_the_record_at_its_end_and_once,
    the_record_follows_every_change_of_what_is_in_use,
    minutes_hours_and_days_roll_up_and_are_pruned,
    the_usage_report_shows_each_callers_scope_and_exports_it,
    a_simulated_month_rolls_up_exactly_what_the_record_says,
);
