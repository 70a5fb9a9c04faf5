//! Expiry with the clock moved: reminders made once each (and after a restart only if missed),
//! enforcement from the millisecond a platform lapses until a renewal is uploaded, signed and
//! retried webhook deliveries, and a clock set back.
use std::sync::{Arc, Mutex};

use reqwest::{Client, StatusCode};
use serde_json::Value;
use tessera::licenses::domain::DAY_MS;
use tessera::server::clock::Clock;

use crate::agents::{enrollment_key, post};
use crate::on_both_databases;
use crate::support::{Backend, TestApp, Vendor, password_of};

/// Uploads and confirms a platform license of `days` days; with one tenant it activates at
/// once, so the platform expires `days` days from now.
async fn install_platform(app: &TestApp, admin: &Client, vendor: &Vendor, days: u32) {
    let mut cert = vendor.certificate(&app.state.installation_id, "platform");
    cert["validity_days"] = days.into();
    let (id, _) = app.upload_outcome(admin, &vendor.package(&[cert])).await;
    let r = app.call(admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// Uploads and confirms a package of these certificates.
async fn install_certs(app: &TestApp, admin: &Client, vendor: &Vendor, certs: &[Value]) {
    let (id, _) = app.upload_outcome(admin, &vendor.package(certs)).await;
    let r = app.call(admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// Registers machine "m-1" with `key`; answers the reply, whatever it is.
async fn register_machine(app: &TestApp, key: &str) -> crate::support::Reply {
    let body = serde_json::json!({ "enrollment_key": key, "machine_id": "m-1" });
    post(app, "register", None, Some(body)).await
}

/// When the default tenant's platform license runs out.
async fn platform_until(app: &TestApp) -> i64 {
    use sea_orm::EntityTrait;
    tessera::tenants::entity::Entity::find()
        .all(&app.db)
        .await
        .expect("tenants")
        .into_iter()
        .find(|t| t.is_default)
        .and_then(|t| t.platform_until)
        .expect("the default tenant's platform is licensed")
}

/// The reminders made, by days before, newest threshold last. Signs in afresh: moving the clock
/// by days ends sessions.
async fn reminders(app: &TestApp) -> Vec<u64> {
    let admin = app.admin().await;
    let r = app.call(&admin, "notifications/list", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut days: Vec<u64> = r.body["reminders"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["days_before"].as_u64()).collect())
        .unwrap_or_default();
    days.sort_unstable_by(|a, b| b.cmp(a));
    days
}

async fn reminders_are_made_once_and_after_a_restart_only_if_missed(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    install_platform(&app, &admin, &vendor, 100).await;
    let sweep = |state| async move { tessera::server::sweep(state).await };

    // 56 days in: nothing is due yet.
    app.state.clock.advance(54 * DAY_MS);
    sweep(&app.state).await;
    assert_eq!(reminders(&app).await, Vec::<u64>::new());
    // 45 days before: one reminder, made once however often the sweeper runs.
    app.state.clock.advance(DAY_MS + 60_000);
    sweep(&app.state).await;
    sweep(&app.state).await;
    assert_eq!(reminders(&app).await, vec![45]);
    let admin = app.admin().await;
    let alerts = app.call(&admin, "notifications/alerts", &[]).await;
    assert_eq!(alerts.body["unread"], 1);
    assert!(
        alerts.body["banner"][0]["subject_name"]
            .as_str()
            .is_some_and(|n| n == "Default"),
        "{:?}",
        alerts.body
    );

    // A restart (a second instance on the same database, its clock 30 days before): it makes
    // the 30-day reminder; the first instance, sweeping too, makes no second one.
    let clock = Clock::default();
    clock.advance(70 * DAY_MS + 120_000);
    let restarted = app.another_instance(clock).await;
    app.state.clock.advance(15 * DAY_MS);
    sweep(&restarted).await;
    sweep(&app.state).await;
    assert_eq!(reminders(&app).await, vec![45, 30]);

    // Down from 30 days before until 6.5 days before: the reminders of 15 and 7 days fell due
    // meanwhile; on restart the latest of them is made, once.
    restarted.clock.advance(23 * DAY_MS + 12 * 3_600_000);
    sweep(&restarted).await;
    sweep(&restarted).await;
    assert_eq!(reminders(&app).await, vec![45, 30, 7]);
    restarted.close().await;

    // Mark as read: the bell goes quiet, for the administrator who read them only. Another
    // administrator reads their own, one at a time.
    let admin = app.admin().await;
    app.create_user(&admin, "second-admin", "administrator")
        .await;
    let second = app
        .sign_in("second-admin", &crate::support::password_of("second-admin"))
        .await;
    let unread = |who| {
        let app = &app;
        async move {
            let alerts = app.call(who, "notifications/alerts", &[]).await;
            alerts.body["unread"].as_u64().expect("a count")
        }
    };
    assert_eq!((unread(&admin).await, unread(&second).await), (3, 3));
    let r = app.call(&admin, "notifications/mark_read", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((unread(&admin).await, unread(&second).await), (0, 3));
    let listed = app.call(&second, "notifications/list", &[]).await.body;
    let first_id = listed["reminders"][0]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let r = app
        .call(&second, "notifications/mark_read", &[("id", &first_id)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Marked again (a second tab): nothing changes.
    let r = app
        .call(&second, "notifications/mark_read", &[("id", &first_id)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((unread(&admin).await, unread(&second).await), (0, 2));
    let listed = app.call(&second, "notifications/list", &[]).await.body;
    let read: Vec<bool> = listed["reminders"]
        .as_array()
        .expect("reminders")
        .iter()
        .map(|r| r["read"].as_bool().expect("read or not"))
        .collect();
    assert_eq!(read, [true, false, false], "{listed}");
    app.stop().await;
}

async fn enforcement_begins_when_the_platform_lapses_and_ends_on_upload(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    install_platform(&app, &admin, &vendor, 30).await;
    app.create_user(&admin, "worker", "user").await;
    app.create_user(&admin, "manager", "license_manager").await;
    let key = enrollment_key(&app).await;

    // One second before the lapse: all works. (Moving the clock by days ends sessions: sign in
    // afresh.)
    let until = platform_until(&app).await;
    app.state
        .clock
        .advance(until - app.state.clock.now_ms() - 5_000);
    let admin = app.admin().await;
    let worker = app.sign_in("worker", &password_of("worker")).await;
    app.state
        .clock
        .advance(until - app.state.clock.now_ms() - 1_000);
    assert_eq!(
        app.call(&admin, "users/list", &[]).await.status,
        StatusCode::OK
    );
    let home = app.get(&worker, "/").await.text().await.unwrap_or_default();
    assert!(!home.contains("The platform license has expired"));

    // From the lapse on: management refused with the date, Settings > Licenses still works.
    app.state.clock.advance(1_000);
    for endpoint in ["users/list", "tenants/list", "agents/list"] {
        let r = app.call(&admin, endpoint, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{endpoint}: {:?}", r.body);
        assert_eq!(r.error(), Some("platform_expired"), "{endpoint}");
        assert!(r.body["on"].as_i64().is_some(), "{endpoint}: the date");
    }
    assert_eq!(
        app.call(&admin, "licenses/summary", &[]).await.status,
        StatusCode::OK
    );
    let page = app.get(&worker, "/").await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("The platform license has expired")
    );
    let page = app.get(&admin, "/settings/users").await;
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("Upload a new license")
    );
    assert_eq!(
        app.get(&admin, "/settings/licenses").await.status(),
        StatusCode::OK
    );
    let r = register_machine(&app, &key).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.error(), Some("platform_expired"));

    // A License manager signing in now lands on Settings > Licenses, wherever they were headed.
    let c = app.client();
    let r = c
        .post(format!("{}/api/login", app.base))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .header("referer", format!("{}/login", app.base))
        .form(&[
            ("user_name", "manager"),
            ("password", password_of("manager").as_str()),
            ("next", "/settings/agents"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.headers()["location"], "/settings/licenses");

    // Setting the clock back does not undo the lapse.
    app.state.clock.advance(-3 * DAY_MS);
    assert_eq!(
        app.call(&admin, "users/list", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let summary = app.call(&admin, "licenses/summary", &[]).await;
    assert!(
        summary.body["clock_warning"]["seen_ms"].as_i64().is_some(),
        "the tampering is reported: {:?}",
        summary.body
    );
    app.state.clock.advance(3 * DAY_MS);

    // A renewal lifts it all at once.
    install_platform(&app, &admin, &vendor, 365).await;
    assert_eq!(
        app.call(&admin, "users/list", &[]).await.status,
        StatusCode::OK
    );
    let home = app.get(&worker, "/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let r = register_machine(&app, &key).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.stop().await;
}

/// What the test's webhook receiver was sent.
#[derive(Clone, Debug)]
struct Received {
    signature: String,
    timestamp: i64,
    delivery: String,
    body: String,
}

/// A receiver on 127.0.0.1 that fails its first `failures` requests with 500.
async fn receiver(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    use axum::http::HeaderMap;
    let log: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen = log.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let mut log = seen.lock().unwrap_or_else(|e| e.into_inner());
                log.push(Received {
                    signature: h("x-tessera-signature"),
                    timestamp: h("x-tessera-timestamp").parse().unwrap_or_default(),
                    delivery: h("x-tessera-delivery"),
                    body,
                });
                if log.len() <= failures {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, log)
}

async fn webhook_deliveries_are_signed_and_retried_with_backoff(backend: Backend) {
    const SECRET: &str = "a-webhook-secret-of-some-length";
    let (url, log) = receiver(2).await;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(
        backend,
        &vendor,
        &[
            ("TESSERA_WEBHOOK_URL", url.as_str()),
            ("TESSERA_WEBHOOK_SECRET", SECRET),
        ],
    )
    .await;
    let admin = app.admin().await;
    install_platform(&app, &admin, &vendor, 60).await;
    let client = tessera::expiry::webhook::client().expect("client");
    let count = || log.lock().map(|l| l.len()).unwrap_or_default();

    // A round of the sweeper (which queues the reminder's delivery), then of the deliverer.
    let round = || async {
        tessera::server::sweep(&app.state).await;
        tessera::server::deliver_webhooks(&app.state, &client).await;
    };
    app.state.clock.advance(15 * DAY_MS + 60_000);
    round().await;
    assert_eq!(count(), 1, "the first attempt, refused with 500");
    // Not again before its backoff (1 s)...
    round().await;
    assert_eq!(count(), 1);
    // ...then again (500), and after 2 s more, delivered.
    app.state.clock.advance(1_000);
    round().await;
    assert_eq!(count(), 2);
    app.state.clock.advance(2_000);
    round().await;
    assert_eq!(count(), 3);
    // Delivered: never again.
    app.state.clock.advance(60_000);
    round().await;
    assert_eq!(count(), 3);

    let received = log.lock().map(|l| l.clone()).unwrap_or_default();
    for r in &received {
        assert_eq!(
            r.signature,
            tessera::expiry::webhook::signature(SECRET, r.timestamp, &r.body),
            "signed"
        );
        assert_eq!(r.delivery, received[0].delivery, "one delivery, retried");
        let body: Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(body["event"], "license.expiring");
        assert_eq!(body["days_before"], 45);
        assert_eq!(body["name"], "Default");
        assert_eq!(body["license_type"], "platform");
    }
    assert_ne!(
        received[0].signature,
        tessera::expiry::webhook::signature(
            "another-secret-entirely",
            received[0].timestamp,
            &received[0].body
        )
    );
    app.stop().await;
}

/// A receiver on 127.0.0.1 that logs each post at once and answers it only when `gate` gives a
/// permit: meanwhile the post stays in flight.
async fn held_receiver() -> (String, Arc<Mutex<Vec<String>>>, Arc<tokio::sync::Semaphore>) {
    use axum::http::HeaderMap;
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (seen, held) = (log.clone(), gate.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let (seen, held) = (seen.clone(), held.clone());
            async move {
                let delivery = headers
                    .get("x-tessera-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(delivery);
                if let Ok(permit) = held.acquire().await {
                    permit.forget();
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, log, gate)
}

async fn two_instances_post_a_delivery_once_and_a_slow_receiver_holds_up_no_sweep(
    backend: Backend,
) {
    let (url, log, gate) = held_receiver().await;
    let webhook = [
        ("TESSERA_WEBHOOK_URL", url.as_str()),
        ("TESSERA_WEBHOOK_SECRET", "a-webhook-secret-of-some-length"),
    ];
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &webhook).await;
    let admin = app.admin().await;
    install_platform(&app, &admin, &vendor, 60).await;
    let other = app
        .another_instance_with(app.state.clock.clone(), &webhook)
        .await;
    let client = tessera::expiry::webhook::client().expect("client");
    let posts = || log.lock().map(|l| l.clone()).unwrap_or_default();

    app.state.clock.advance(15 * DAY_MS + 60_000);
    tessera::server::sweep(&app.state).await;
    // The first instance posts the reminder; its receiver holds the answer.
    let first = tokio::spawn({
        let (state, client) = (app.state.clone(), client.clone());
        async move { tessera::server::deliver_webhooks(&state, &client).await }
    });
    while posts().is_empty() {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Meanwhile the other instance posts nothing (the delivery is claimed), and sweeps to the
    // end: a reminder due on the other license is made while the post hangs.
    tessera::server::deliver_webhooks(&other, &client).await;
    let mut server = vendor.certificate(&app.state.installation_id, "server");
    server["validity_days"] = 30.into();
    // (Signed in again: days have passed.)
    let admin = app.admin().await;
    install_certs(&app, &admin, &vendor, &[server]).await;
    tessera::server::sweep(&other).await;
    assert_eq!(
        reminders(&app).await.len(),
        2,
        "the server license's 30-day reminder"
    );
    assert!(!first.is_finished(), "the first post is still in flight");
    gate.add_permits(1);
    first.await.expect("the first deliverer");
    // The second reminder's delivery: posted by one instance of the two, as well.
    gate.add_permits(8);
    let (a, b) = tokio::join!(
        tessera::server::deliver_webhooks(&app.state, &client),
        tessera::server::deliver_webhooks(&other, &client)
    );
    let _: ((), ()) = (a, b);
    // Once delivered, neither posts again, not even after a claim would have run out.
    app.state
        .clock
        .advance(tessera::expiry::webhook::CLAIM_MS + 1_000);
    tessera::server::deliver_webhooks(&app.state, &client).await;
    tessera::server::deliver_webhooks(&other, &client).await;
    let mut delivered = posts();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    delivered.dedup();
    assert_eq!(
        delivered.len(),
        2,
        "two deliveries, each posted once: {:?}",
        posts()
    );
    app.stop().await;
}

/// More than `TESSERA_SHORTAGE_REFUSALS` checkouts of a tenant's agents refused for want of a
/// free license in one hour: one notification and one `license.shortage` delivery for that
/// tenant and hour, however often the sweeper runs; none at the threshold; the next hour's
/// shortage makes the next. A License manager sees their own tenant's alerts only.
async fn a_shortage_is_told_once_per_tenant_and_hour(backend: Backend) {
    use crate::agents::{install_floating, register};
    const HOUR: i64 = 3_600_000;
    let (url, log) = receiver(0).await;
    let vendor = Vendor::new(1);
    let mut vars = crate::support::LONG_SESSIONS.to_vec();
    vars.extend([
        ("TESSERA_WEBHOOK_URL", url.as_str()),
        ("TESSERA_WEBHOOK_SECRET", "a-webhook-secret-of-some-length"),
        ("TESSERA_SHORTAGE_REFUSALS", "3"),
    ]);
    let app = TestApp::start_with_vendor(backend, &vendor, &vars).await;
    let admin = app.admin().await;
    install_floating(&app, &vendor, 1).await;
    let key = enrollment_key(&app).await;
    let (_, holder) = register(&app, &key, "holder").await;
    let (_, waiting) = register(&app, &key, "waiting").await;
    let clock = &app.state.clock;
    // A minute into an hour: everything below happens in it.
    clock.advance(HOUR - clock.now_ms().rem_euclid(HOUR) + 60_000);
    assert_eq!(
        post(&app, "checkout", Some(&holder), None).await.status,
        StatusCode::OK
    );
    let refuse = async |n: usize| {
        for _ in 0..n {
            let r = post(&app, "checkout", Some(&waiting), None).await;
            assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.body);
        }
    };
    let client = tessera::expiry::webhook::client().expect("client");
    let round = || async {
        tessera::server::sweep(&app.state).await;
        tessera::server::deliver_webhooks(&app.state, &client).await;
    };
    let shortages = async |who: &Client| {
        let r = app.call(who, "notifications/list", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["reminders"]
            .as_array()
            .expect("reminders")
            .iter()
            .filter(|x| x["subject_kind"] == "shortage")
            .map(|x| x["refusals"].as_u64().expect("a count"))
            .collect::<Vec<u64>>()
    };
    let bodies = || -> Vec<Value> {
        log.lock()
            .map(|l| l.clone())
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_str(&r.body).expect("JSON"))
            .collect()
    };

    refuse(3).await;
    round().await;
    assert!(
        shortages(&admin).await.is_empty(),
        "three is not more than three"
    );
    assert!(bodies().is_empty());
    refuse(1).await;
    round().await;
    round().await;
    assert_eq!(
        shortages(&admin).await,
        vec![4],
        "one alert, of four refusals"
    );
    let sent = bodies();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["event"], "license.shortage");
    assert_eq!(sent[0]["tenant"], "Default");
    assert_eq!(
        (&sent[0]["refusals"], &sent[0]["agents_refused"]),
        (&4.into(), &1.into())
    );
    // More refusals in the same hour: still the one alert.
    refuse(5).await;
    round().await;
    assert_eq!(shortages(&admin).await.len(), 1);
    assert_eq!(bodies().len(), 1);

    // The next hour, a shortage again: a second alert.
    clock.advance(HOUR);
    refuse(4).await;
    round().await;
    assert_eq!(shortages(&admin).await.len(), 2);
    assert_eq!(bodies().len(), 2);

    // A License manager of another tenant is told nothing of the default tenant's shortage.
    let other = app
        .call(&admin, "tenants/create", &[("name", "Other")])
        .await;
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);
    let other = other.body["id"].as_str().expect("an id").to_string();
    let manager = app.license_manager(&admin, "other-manager", &other).await;
    assert!(shortages(&manager).await.is_empty());
    // The default tenant's own License manager is told.
    let home = app.default_tenant(&admin).await;
    let manager = app.license_manager(&admin, "home-manager", &home).await;
    assert_eq!(shortages(&manager).await.len(), 2);
    app.stop().await;
}

on_both_databases!(
    a_shortage_is_told_once_per_tenant_and_hour,
    reminders_are_made_once_and_after_a_restart_only_if_missed,
    enforcement_begins_when_the_platform_lapses_and_ends_on_upload,
    webhook_deliveries_are_signed_and_retried_with_backoff,
    two_instances_post_a_delivery_once_and_a_slow_receiver_holds_up_no_sweep,
);
