//! Borrowing (issue 23): an agent keeps its floating license, under a lease as long as the
//! borrow, within its tenant's rules; a borrowed license is never granted twice.
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::agents::{enrollment_key, install_floating, post, register};
use crate::on_both_databases;
use crate::support::{Backend, LONG_SESSIONS, Reply, TestApp, Vendor};

const HOUR: i64 = 3_600_000;

async fn set_borrowing(
    app: &TestApp,
    admin: &reqwest::Client,
    tenant: &str,
    max_hours: &str,
    keep: &str,
) -> Reply {
    app.call(
        admin,
        "tenants/set_borrowing",
        &[
            ("tenant_id", tenant),
            ("max_hours", max_hours),
            ("keep", keep),
        ],
    )
    .await
}

fn borrow_body(hours: i64) -> Option<Value> {
    Some(json!({ "hours": hours }))
}

/// The lease's end, read from its payload (the leases tests check its signature).
fn lease_end(r: &Reply) -> i64 {
    use base64::Engine;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(r.body["lease"]["payload"].as_str().expect("a lease"))
        .expect("base64url");
    let claims: Value = serde_json::from_slice(&payload).expect("the lease's JSON");
    claims["valid_until"].as_i64().expect("valid_until")
}

fn refused_as(r: &Reply, status: StatusCode, what: &str) {
    let said = r.body["kind"]
        .as_str()
        .or(r.body["field"].as_str())
        .or(r.error());
    assert_eq!((r.status, said), (status, Some(what)), "{:?}", r.body);
}

async fn borrowing_runs_to_its_end_within_the_tenants_rules(backend: Backend) {
    let vendor = Vendor::new(1);
    // The clock moves by hours: sessions that last.
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let key = enrollment_key(&app).await;
    install_floating(&app, &vendor, 3).await;
    let (a, a_token) = register(&app, &key, "laptop-a").await;
    let (b, b_token) = register(&app, &key, "laptop-b").await;
    let (_, c_token) = register(&app, &key, "server-c").await;
    let (_, d_token) = register(&app, &key, "server-d").await;
    let tenant = app.default_tenant(&admin).await;
    let agent_row = async |id: &str| {
        use sea_orm::EntityTrait;
        tessera::agents::entity::Entity::find_by_id(id.to_string())
            .one(&app.db)
            .await
            .unwrap()
            .expect("the agent")
    };

    // Off unless the tenant allows it.
    let r = post(&app, "borrow", Some(&a_token), borrow_body(8)).await;
    refused_as(&r, StatusCode::CONFLICT, "borrowing_off");
    for (max, keep, field) in [
        ("2161", "0", "max_borrow_hours"),
        ("24", "-1", "keep_unborrowed"),
    ] {
        let r = set_borrowing(&app, &admin, &tenant, max, keep).await;
        refused_as(&r, StatusCode::BAD_REQUEST, field);
    }
    let r = set_borrowing(&app, &admin, &tenant, "24", "2").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Past the tenant's longest borrow: refused, nothing taken.
    let r = post(&app, "borrow", Some(&a_token), borrow_body(25)).await;
    refused_as(&r, StatusCode::BAD_REQUEST, "borrow_hours");
    assert_eq!(r.body["problem"]["max"], 24, "{:?}", r.body);
    let row = agent_row(&a).await;
    assert_eq!((row.license_id, row.borrowed_until), (None, None));

    // Holding nothing, it takes a license and borrows it: the lease runs to the borrow's end.
    let at = app.state.clock.now_ms();
    let borrowed = post(&app, "borrow", Some(&a_token), borrow_body(8)).await;
    let end = lease_end(&borrowed);
    assert!((at..=app.state.clock.now_ms()).contains(&(end - 8 * HOUR)));
    assert_eq!(borrowed.body["borrowed_until"], end);
    // Its checkouts carry the same lease.
    let again = post(&app, "checkout", Some(&a_token), None).await;
    assert_eq!(again.body["lease"], borrowed.body["lease"]);

    // Three licenses, two kept unborrowed: a second borrow is refused, by the agent or on its
    // page, and the agent still checks out as usual.
    let r = post(&app, "borrow", Some(&b_token), borrow_body(1)).await;
    refused_as(&r, StatusCode::CONFLICT, "kept_unborrowed");
    let r = app
        .call(&admin, "agents/borrow", &[("agent_id", &b), ("hours", "1")])
        .await;
    refused_as(&r, StatusCode::CONFLICT, "kept_unborrowed");
    assert_eq!(
        agent_row(&b).await.license_id,
        None,
        "a refusal takes nothing"
    );
    let b_lease = post(&app, "checkout", Some(&b_token), None).await;
    assert_eq!(b_lease.status, StatusCode::OK, "{:?}", b_lease.body);

    // Silent for hours: a borrowing agent's license is not released.
    let r = app
        .call(
            &admin,
            "tenants/set_release",
            &[("tenant_id", &tenant), ("minutes", "30")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.state.clock.advance(2 * HOUR);
    let now = app.state.clock.now_ms();
    let released = tessera::ledger::holdings::release_silent(&app.state.ledger, now)
        .await
        .unwrap();
    assert_eq!(released, 1, "the silent agent that does not borrow (b)");
    assert!(agent_row(&a).await.license_id.is_some(), "a keeps its loan");
    let r = app
        .call(
            &admin,
            "tenants/set_release",
            &[("tenant_id", &tenant), ("minutes", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Shut down, its license stays held until the borrow ends, and its page says so.
    let r = app
        .call(&admin, "agents/shut_down", &[("agent_id", &a)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let page = app.call(&admin, "agents/get", &[("agent_id", &a)]).await;
    assert_eq!(page.body["license_held_until"], end, "{:?}", page.body);
    let c_lease = post(&app, "checkout", Some(&c_token), None).await;
    assert_eq!(c_lease.status, StatusCode::OK, "{:?}", c_lease.body);
    let d_lease = post(&app, "checkout", Some(&d_token), None).await;
    assert_eq!(d_lease.status, StatusCode::OK, "b's, released");
    let b_again = post(&app, "checkout", Some(&b_token), None).await;
    refused_as(&b_again, StatusCode::PAYMENT_REQUIRED, "no_license_free");
    app.state
        .clock
        .advance(end - app.state.clock.now_ms() - 1_000);
    let b_again = post(&app, "checkout", Some(&b_token), None).await;
    refused_as(&b_again, StatusCode::PAYMENT_REQUIRED, "no_license_free");
    app.state.clock.advance(2_000);
    let b_again = post(&app, "checkout", Some(&b_token), None).await;
    assert_eq!(b_again.status, StatusCode::OK, "{:?}", b_again.body);
    assert_eq!(b_again.body["license_id"], borrowed.body["license_id"]);

    // Borrowed and given back early: leases of the tenant's lease time again, at once.
    let r = set_borrowing(&app, &admin, &tenant, "24", "0").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let at = app.state.clock.now_ms();
    let lent = post(&app, "borrow", Some(&b_token), borrow_body(24)).await;
    let lent_end = lease_end(&lent);
    assert!((at..=app.state.clock.now_ms()).contains(&(lent_end - 24 * HOUR)));
    // Borrowing again never shortens the borrow.
    let shorter = post(&app, "borrow", Some(&b_token), borrow_body(1)).await;
    assert_eq!(lease_end(&shorter), lent_end);
    let r = post(&app, "return", Some(&b_token), None).await;
    assert_eq!((r.status, &r.body["ok"]), (StatusCode::OK, &json!(true)));
    assert_eq!(agent_row(&b).await.borrowed_until, None);
    let at = app.state.clock.now_ms();
    let short = post(&app, "checkout", Some(&b_token), None).await;
    assert!((at..=app.state.clock.now_ms()).contains(&(lease_end(&short) - 300_000)));
    assert_eq!(short.body["borrowed_until"], Value::Null);
    // Giving back nothing changes nothing.
    let r = post(&app, "return", Some(&b_token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The audit log names who borrowed: the administrator or the agent's machine.
    let audit = app
        .call(
            &admin,
            "audit/list",
            &[("filter[kind]", "agent_borrow"), ("filter[page]", "1")],
        )
        .await;
    let said: Vec<(&str, &str)> = audit.body["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| Some((r["actor_name"].as_str()?, r["outcome"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    // The agents' own borrows, and the administrator's refused one.
    assert!(said.contains(&("laptop-a", "ok")), "{:?}", audit.body);
    assert!(said.contains(&("admin", "conflict")), "{:?}", audit.body);
    app.stop().await;
}

on_both_databases!(borrowing_runs_to_its_end_within_the_tenants_rules);

/// Two Tessera instances on one PostgreSQL database, agents racing to borrow and to check out
/// on either: never more licensed than licenses, never one license twice, and the number kept
/// unborrowed holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_lend_or_grant_more_licenses_than_exist() {
    use tessera::server::clock::Clock;
    const LICENSES: usize = 10;
    const KEEP: usize = 4;
    const AGENTS: usize = 30;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Postgres, &vendor, &[]).await;
    let admin = app.admin().await;
    install_floating(&app, &vendor, LICENSES).await;
    let key = enrollment_key(&app).await;
    let tenant = app.default_tenant(&admin).await;
    let r = set_borrowing(&app, &admin, &tenant, "48", &KEEP.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut tokens = Vec::new();
    for i in 0..AGENTS {
        tokens.push(register(&app, &key, &format!("racer-{i}")).await.1);
    }
    let (other_base, _task) =
        crate::support::serve(app.another_instance(Clock::default()).await).await;
    let bases = [app.base.clone(), other_base];
    let call = async |i: usize, path: &str, body: Option<Value>| {
        let mut req = Client::new()
            .post(format!("{}/api/v1/agents/{path}", bases[i % 2]))
            .bearer_auth(&tokens[i]);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::read(req.send().await.expect("an instance answers")).await
    };

    // Everyone borrows at once: as many as are not kept.
    let borrows =
        futures::future::join_all((0..AGENTS).map(|i| call(i, "borrow", borrow_body(12)))).await;
    let lent: Vec<&Reply> = borrows
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(lent.len(), LICENSES - KEEP, "{:?}", borrows_said(&borrows));
    assert!(
        borrows
            .iter()
            .filter(|r| r.status != StatusCode::OK)
            .all(|r| r.body["kind"] == "kept_unborrowed"),
        "{:?}",
        borrows_said(&borrows)
    );

    // Everyone checks out at once: the kept licenses go to the first, no license twice.
    let checkouts = futures::future::join_all((0..AGENTS).map(|i| call(i, "checkout", None))).await;
    let licensed: Vec<&str> = checkouts
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .filter_map(|r| r.body["license_id"].as_str())
        .collect();
    let distinct: std::collections::HashSet<&str> = licensed.iter().copied().collect();
    assert_eq!(
        (licensed.len(), distinct.len()),
        (LICENSES, LICENSES),
        "{:?}",
        borrows_said(&checkouts)
    );
    assert!(
        checkouts
            .iter()
            .filter(|r| r.status != StatusCode::OK)
            .all(|r| r.error() == Some("no_license_free"))
    );
    app.stop().await;
}

fn borrows_said(replies: &[Reply]) -> Vec<(StatusCode, String)> {
    replies
        .iter()
        .map(|r| (r.status, r.body.to_string()))
        .collect()
}
