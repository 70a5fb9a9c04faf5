//! The agent API over HTTP: register, checkout, heartbeat, refusals, and never more than bought.
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{Backend, Process, Reply, TestApp, Vendor};

pub(crate) async fn enrollment_key(app: &TestApp) -> String {
    use sea_orm::EntityTrait;
    tessera::tenants::entity::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.is_default)
        .and_then(|t| t.enrollment_key)
        .expect("the default tenant has an enrollment key")
}

pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = Client::new().post(format!("{}/api/v1/agents/{path}", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Reply::read(req.send().await.unwrap()).await
}

pub(crate) async fn register(app: &TestApp, key: &str, machine: &str) -> (String, String) {
    let r = post(
        app,
        "register",
        None,
        Some(json!({ "enrollment_key": key, "machine_id": machine })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    (
        r.body["agent_id"].as_str().unwrap().to_string(),
        r.body["token"].as_str().unwrap().to_string(),
    )
}

/// Registers a machine again, proving it with its agent's own token.
pub(crate) async fn register_again(
    app: &TestApp,
    key: &str,
    machine: &str,
    token: &str,
) -> (String, String) {
    let r = post(
        app,
        "register",
        Some(token),
        Some(json!({ "enrollment_key": key, "machine_id": machine })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    (
        r.body["agent_id"].as_str().unwrap().to_string(),
        r.body["token"].as_str().unwrap().to_string(),
    )
}

/// Installs `n` floating agent licenses.
pub(crate) async fn install_floating(app: &TestApp, vendor: &Vendor, n: usize) {
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let certs: Vec<Value> = (0..n).map(|_| vendor.certificate(&inst, "agent")).collect();
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&certs)).await;
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.body["installed"].as_u64(), Some(n as u64), "{:?}", r.body);
}

async fn register_checkout_and_heartbeat(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let key = enrollment_key(&app).await;
    let (id, token) = register(&app, &key, "machine-a").await;
    // Registering again (with its own token) is the same agent, with a new token; the old one
    // stops working.
    let (id2, token2) = register_again(&app, &key, "machine-a", &token).await;
    assert_eq!(id, id2);
    assert_ne!(token, token2);
    assert_eq!(
        post(&app, "checkout", Some(&token), None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // No license installed: refused with 402, and counted.
    let r = post(&app, "checkout", Some(&token2), None).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::PAYMENT_REQUIRED, Some("no_license_free"))
    );

    install_floating(&app, &vendor, 1).await;
    let r = post(&app, "checkout", Some(&token2), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["basis"], "floating");
    let license = r.body["license_id"].as_str().unwrap().to_string();
    // It keeps the same license on every later request.
    let again = post(&app, "checkout", Some(&token2), None).await;
    assert_eq!(again.body["license_id"], license.as_str());
    // Another machine finds none free.
    let (_, other) = register(&app, &key, "machine-b").await;
    assert_eq!(
        post(&app, "checkout", Some(&other), None).await.status,
        StatusCode::PAYMENT_REQUIRED
    );

    let r = post(&app, "heartbeat", Some(&token2), None).await;
    assert_eq!(
        (r.status, r.body["ok"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    // When its floating license expires, the agent lets it go and looks for a free one: none.
    app.state.clock.advance(366 * 86_400_000);
    let r = post(&app, "checkout", Some(&token2), None).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::PAYMENT_REQUIRED, Some("no_license_free"))
    );
    use sea_orm::EntityTrait;
    let expired = tessera::licenses::entity::certificate::Entity::find_by_id(license.clone())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the expired license is kept");
    assert_eq!(
        expired.bound_agent_id, None,
        "the expired license was let go"
    );
    // A new floating license installed: the agent takes it at its next request.
    install_floating(&app, &vendor, 1).await;
    let r = post(&app, "checkout", Some(&token2), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_ne!(r.body["license_id"], license.as_str());

    // Counted in memory, written every second (and at every stop): written now.
    app.state
        .ledger
        .flush_noted()
        .await
        .expect("the counts written");
    let refused = tessera::agents::entity::Entity::find_by_id(id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .refused_count;
    assert_eq!(
        refused, 2,
        "the first 402 and the one after the expiry were counted"
    );
    app.stop().await;
}

async fn bad_input_gets_a_clear_4xx(backend: Backend) {
    let app = TestApp::start(backend).await;
    let key = enrollment_key(&app).await;
    let client = Client::new();
    let url = format!("{}/api/v1/agents/register", app.base);
    let cases: Vec<(reqwest::RequestBuilder, StatusCode)> = vec![
        (
            client
                .post(&url)
                .json(&json!({ "enrollment_key": "tek_nope", "machine_id": "m" })),
            StatusCode::UNAUTHORIZED,
        ),
        (
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{not json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            client
                .post(&url)
                .json(&json!({ "enrollment_key": key, "machine_id": 42 })),
            StatusCode::BAD_REQUEST,
        ),
        (
            client.post(&url).json(&json!({ "enrollment_key": key })),
            StatusCode::BAD_REQUEST,
        ),
        (
            client
                .post(&url)
                .json(&json!({ "enrollment_key": key, "machine_id": " " })),
            StatusCode::BAD_REQUEST,
        ),
        (
            client
                .post(&url)
                .json(&json!({ "enrollment_key": key, "machine_id": "x".repeat(201) })),
            StatusCode::BAD_REQUEST,
        ),
        // 200 characters are the most, as sent: surrounding spaces count.
        (
            client.post(&url).json(
                &json!({ "enrollment_key": key, "machine_id": format!("  {}", "x".repeat(199)) }),
            ),
            StatusCode::BAD_REQUEST,
        ),
        // Past the agent API's 16 KiB (and below the 64 KiB of every other body).
        (
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(format!("{{\"enrollment_key\":\"{}\"}}", "k".repeat(40_000))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    // Every refusal is one the OpenAPI document states for the route.
    let doc: Value = client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let register_doc = &doc["paths"]["/api/v1/agents/register"]["post"];
    for (i, (req, expected)) in cases.into_iter().enumerate() {
        let r = Reply::read(req.send().await.unwrap()).await;
        assert_eq!(r.status, expected, "case {i}: {:?}", r.body);
        assert!(r.error().is_some(), "case {i}: a JSON error: {:?}", r.body);
        assert!(
            register_doc["responses"][r.status.as_str()].is_object(),
            "case {i}: {} is documented",
            r.status
        );
    }
    let machine_id = &doc["components"]["schemas"]["RegisterRequest"]["properties"]["machine_id"];
    assert_eq!(
        (&machine_id["minLength"], &machine_id["maxLength"]),
        (&json!(1), &json!(200)),
        "the constraints the server enforces are stated: {machine_id}"
    );
    for token in [None, Some("forged-token")] {
        let r = post(&app, "checkout", token, None).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, Some("bad_agent_credentials"))
        );
    }
    for path in [
        "/api/v1/agents/register",
        "/api/v1/agents/checkout",
        "/api/v1/agents/heartbeat",
    ] {
        assert!(
            doc["paths"][path]["post"]["responses"]["200"].is_object(),
            "{path}"
        );
    }
    app.stop().await;
}

async fn a_hundred_agents_race_for_ten_floating_licenses(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    install_floating(&app, &vendor, 10).await;
    let key = enrollment_key(&app).await;
    let mut tokens = Vec::new();
    for i in 0..100 {
        tokens.push(register(&app, &key, &format!("machine-{i}")).await.1);
    }
    for round in 0..2 {
        let results =
            futures::future::join_all(tokens.iter().map(|t| post(&app, "checkout", Some(t), None)))
                .await;
        let licensed: Vec<&str> = results
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .map(|r| r.body["license_id"].as_str().unwrap())
            .collect();
        let refused = results
            .iter()
            .filter(|r| r.status == StatusCode::PAYMENT_REQUIRED)
            .count();
        assert_eq!((licensed.len(), refused), (10, 90), "round {round}");
        let distinct: std::collections::HashSet<_> = licensed.iter().collect();
        assert_eq!(distinct.len(), 10, "no license held by two agents");
    }
    app.stop().await;
}

/// How many of a race's answers were licenses (and how many distinct), and how many refusals.
fn tally(results: &[Reply]) -> (usize, usize, usize) {
    let licensed: Vec<&str> = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .map(|r| r.body["license_id"].as_str().expect("a license id"))
        .collect();
    let refused = results
        .iter()
        .filter(|r| r.status == StatusCode::PAYMENT_REQUIRED)
        .count();
    let distinct: std::collections::HashSet<_> = licensed.iter().collect();
    (licensed.len(), distinct.len(), refused)
}

/// Every agent of `tokens` checks out at once, each asking again after a 503
/// ([`crate::support::as_agents_do`]).
async fn checkout_all(app: &TestApp, tokens: &[String]) -> Vec<Reply> {
    let checkout = async |token: &String| {
        crate::support::as_agents_do(async || post(app, "checkout", Some(token), None).await).await
    };
    futures::future::join_all(tokens.iter().map(checkout)).await
}

/// A claim never refuses while a license is free, however many race: `N` agents racing for
/// exactly `N` floating licenses all get one; after they give them back, `N + M` racing for the
/// `N`: exactly `N` licensed, `M` refused. (PostgreSQL once refused 2 of 500 first checkouts while
/// licenses were free: every claimer tried the same first row and gave up after 16 lost races.)
async fn racing_agents_take_every_free_license_and_no_more(backend: Backend) {
    const N: usize = 100;
    const M: usize = 30;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    install_floating(&app, &vendor, N).await;
    let key = enrollment_key(&app).await;
    let mut tokens = Vec::new();
    for i in 0..N + M {
        tokens.push(register(&app, &key, &format!("machine-{i}")).await.1);
    }
    let exact = checkout_all(&app, &tokens[..N]).await;
    assert_eq!(
        tally(&exact),
        (N, N, 0),
        "N agents for N licenses; other answers: {:?}",
        others(&exact)
    );

    // Given back at once too, each asking again after a 503 as agents do (on a busy machine a
    // release may wait past the pool's bound for SQLite's one writer).
    let released = futures::future::join_all(tokens[..N].iter().map(async |t| {
        crate::support::as_agents_do(async || post(&app, "release", Some(t), None).await).await
    }))
    .await;
    assert!(
        released.iter().all(|r| r.status == StatusCode::OK),
        "every release answered; other answers: {:?}",
        others(&released)
    );

    let more = checkout_all(&app, &tokens).await;
    assert_eq!(
        tally(&more),
        (N, N, M),
        "N + M agents for N licenses; other answers: {:?}",
        others(&more)
    );
    app.stop().await;
}

/// The answers that are neither a license nor a refusal, to say what went wrong.
fn others(results: &[Reply]) -> Vec<(StatusCode, &Value)> {
    results
        .iter()
        .filter(|r| ![StatusCode::OK, StatusCode::PAYMENT_REQUIRED].contains(&r.status))
        .map(|r| (r.status, &r.body))
        .collect()
}

/// Two more Tessera processes on the test's PostgreSQL database, the agents split between them:
/// `N` agents race for exactly `N` floating licenses and all get one; after giving them back,
/// `N + M` race for them: exactly `N` licensed, `M` refused; the database agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgresql_grant_every_free_license_and_no_more() {
    const N: usize = 60;
    const M: usize = 20;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Postgres, &vendor, &[]).await;
    install_floating(&app, &vendor, N).await;
    let key = enrollment_key(&app).await;
    let mut tokens = Vec::new();
    for i in 0..N + M {
        tokens.push(register(&app, &key, &format!("machine-{i}")).await.1);
    }
    let processes = [
        Process::start(&app.database_url).await,
        Process::start(&app.database_url).await,
    ];
    // Each agent always talks to the same process, so the one that releases its license is the
    // one that forgets its grant.
    let checkout_all = async |tokens: &[String]| {
        futures::future::join_all(
            tokens
                .iter()
                .enumerate()
                .map(|(i, t)| processes[i % 2].checkout(t)),
        )
        .await
    };

    let exact = checkout_all(&tokens[..N]).await;
    assert_eq!(
        tally(&exact),
        (N, N, 0),
        "N agents for N licenses; other answers: {:?}",
        others(&exact)
    );

    let released = futures::future::join_all(
        tokens[..N]
            .iter()
            .enumerate()
            .map(|(i, t)| processes[i % 2].release(t)),
    )
    .await;
    assert!(released.iter().all(|r| r.status == StatusCode::OK));

    let more = checkout_all(&tokens).await;
    assert_eq!(
        tally(&more),
        (N, N, M),
        "N + M agents for N licenses; other answers: {:?}",
        others(&more)
    );

    // And the database agrees: N licenses held, each by one agent.
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let held = tessera::licenses::entity::certificate::Entity::find()
        .filter(tessera::licenses::entity::certificate::Column::BoundAgentId.is_not_null())
        .count(&app.db)
        .await
        .unwrap();
    let holders = tessera::agents::entity::Entity::find()
        .filter(tessera::agents::entity::Column::LicenseId.is_not_null())
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!((held, holders), (N as u64, N as u64));
    drop(processes);
    app.stop().await;
}

/// Claims waiting on one another's locks can deadlock on PostgreSQL, which breaks the cycle by
/// giving up one transaction (the test above met it once in many runs, as a 500). Such an error
/// is `Contended` (503, `Retry-After: 1`), which checkout runs again, never `internal`: two
/// transactions here lock two rows in opposite orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_postgresql_breaks_is_contended_and_tried_again() {
    use sea_orm::ConnectionTrait;
    use tessera::error::{AppError, gave_way};
    let app = TestApp::start(Backend::Postgres).await;
    app.db
        .execute_unprepared(
            "CREATE TABLE knot (id int PRIMARY KEY, n int); INSERT INTO knot VALUES (1, 0), (2, 0)",
        )
        .await
        .expect("a table of two rows");
    let begin = || tessera::server::db::begin_write(&app.db);
    let (one, two) = (begin().await.unwrap(), begin().await.unwrap());
    one.execute_unprepared("UPDATE knot SET n = 1 WHERE id = 1")
        .await
        .unwrap();
    two.execute_unprepared("UPDATE knot SET n = 1 WHERE id = 2")
        .await
        .unwrap();
    // Each waits for the other's row: PostgreSQL gives one of them up.
    let (a, b) = tokio::join!(
        one.execute_unprepared("UPDATE knot SET n = 2 WHERE id = 2"),
        two.execute_unprepared("UPDATE knot SET n = 2 WHERE id = 1"),
    );
    let mut errors: Vec<sea_orm::DbErr> = [a.err(), b.err()].into_iter().flatten().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let err = errors.remove(0);
    assert!(gave_way(&err), "{err:?}");
    let answered = AppError::from(err);
    assert_eq!(
        (&answered, answered.status(), answered.retry_after_secs()),
        (&AppError::Contended, 503, Some(1))
    );
    drop((one, two));
    app.stop().await;
}

/// Waits until `reached` holds, for as long as a defect would take (a deadline only names it).
async fn until(what: &str, reached: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !reached() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Two instances on one PostgreSQL: a license freed through one serves an agent the other has
/// just refused (and remembers refusing) as soon as the other hears of it, not after the grants'
/// freshness bound; a listener whose connection is cut subscribes again and forgets everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_license_freed_on_one_instance_serves_an_agent_refused_on_another() {
    use tessera::server::clock::Clock;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Postgres, &vendor, &[]).await;
    install_floating(&app, &vendor, 1).await;
    let key = enrollment_key(&app).await;
    let (_, holder) = register(&app, &key, "holder").await;
    let (_, waiting) = register(&app, &key, "waiting").await;
    let other = app.another_instance(Clock::default()).await;
    let heard = other.ledger.clone();
    until("the other instance listens", || {
        heard.heard().subscriptions() >= 1
    })
    .await;
    let (other_base, _task) = crate::support::serve(other).await;
    let on_other = async |token: &str, path: &str| {
        Reply::read(
            Client::new()
                .post(format!("{other_base}/api/v1/agents/{path}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("the other instance answers"),
        )
        .await
    };

    assert_eq!(
        post(&app, "checkout", Some(&holder), None).await.status,
        StatusCode::OK
    );
    until("the claim is heard", || heard.heard().notifications() >= 1).await;
    for _ in 0..2 {
        let r = on_other(&waiting, "checkout").await;
        assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.body);
    }
    let before = heard.heard().notifications();
    assert_eq!(
        post(&app, "release", Some(&holder), None).await.status,
        StatusCode::OK
    );
    until("the release is heard", || {
        heard.heard().notifications() > before
    })
    .await;
    let r = on_other(&waiting, "checkout").await;
    assert_eq!(r.status, StatusCode::OK, "licensed at once: {:?}", r.body);

    // Cut every listener's connection: each subscribes again (and forgets all it remembered).
    let this = app.state.ledger.clone();
    let (subscribed, this_subscribed) =
        (heard.heard().subscriptions(), this.heard().subscriptions());
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .await
        .expect("the listeners' connections cut");
    until("both instances listen again", || {
        heard.heard().subscriptions() > subscribed && this.heard().subscriptions() > this_subscribed
    })
    .await;
    // Now the other way round: refused (and remembered) here, freed there.
    let r = post(&app, "checkout", Some(&holder), None).await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.body);
    let before = this.heard().notifications();
    assert_eq!(on_other(&waiting, "release").await.status, StatusCode::OK);
    until("this instance hears the other's release", || {
        this.heard().notifications() > before
    })
    .await;
    let r = post(&app, "checkout", Some(&holder), None).await;
    assert_eq!(r.status, StatusCode::OK, "licensed at once: {:?}", r.body);
    app.stop().await;
}

/// Settings > Agents lists 50 agents a page, by machine id, of all tenants or of one.
async fn the_agents_list_pages_and_filters_by_tenant(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let key = enrollment_key(&app).await;
    for i in 0..55 {
        register(&app, &key, &format!("m-{i:03}")).await;
    }
    let r = app
        .call(&admin, "tenants/create", &[("name", "Branch")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let branch = tessera::tenants::entity::Entity::find()
        .filter(tessera::tenants::entity::Column::Name.eq("Branch"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let branch_key = branch.enrollment_key.clone().unwrap();
    register(&app, &branch_key, "branch-a").await;
    register(&app, &branch_key, "branch-b").await;

    let list = |form: Vec<(&'static str, String)>| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call(&admin, "agents/list", &form).await.body
        }
    };
    let first = list(vec![]).await;
    assert_eq!(first["total"], 57);
    assert_eq!(first["agents"].as_array().map(Vec::len), Some(50));
    assert_eq!(first["agents"][0]["machine_id"], "branch-a");
    let second = list(vec![("page", "2".into())]).await;
    assert_eq!(second["page"], 2);
    assert_eq!(second["agents"].as_array().map(Vec::len), Some(7));
    assert_eq!(second["agents"][6]["machine_id"], "m-054");
    let of_branch = list(vec![("tenant", branch.id.clone())]).await;
    assert_eq!(of_branch["total"], 2);
    assert_eq!(of_branch["tenant"]["name"], "Branch");
    // The page, filtered, says whose agents these are.
    let html = app
        .get(&admin, &format!("/settings/agents?tenant={}", branch.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Agents of tenant") && html.contains("Branch") && html.contains("branch-b")
    );
    assert!(!html.contains("m-000"));
    app.stop().await;
}

/// A refused checkout writes nothing: it is answered from reads (then from memory), counted in
/// memory and written with the others every second; Settings > Agents shows the count written
/// plus what waits. A license coming free is served at the next checkout, however recently the
/// agent was refused.
async fn a_refused_checkout_writes_nothing_and_is_counted(backend: Backend) {
    use sea_orm::EntityTrait;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    install_floating(&app, &vendor, 1).await;
    let key = enrollment_key(&app).await;
    let (_, holder) = register(&app, &key, "holder").await;
    let (waiting_id, waiting) = register(&app, &key, "waiting").await;
    assert_eq!(
        post(&app, "checkout", Some(&holder), None).await.status,
        StatusCode::OK
    );
    let stored = || async {
        tessera::agents::entity::Entity::find_by_id(waiting_id.clone())
            .one(&app.db)
            .await
            .expect("a read")
            .expect("the agent")
    };
    let before = stored().await;
    for i in 0..20 {
        let r = post(&app, "checkout", Some(&waiting), None).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::PAYMENT_REQUIRED, Some("no_license_free")),
            "refusal {i}"
        );
    }
    // Nothing written: not the count, not the agent's row.
    assert_eq!(stored().await, before);
    let listed = || async {
        let r = app
            .call(&admin, "agents/get", &[("agent_id", &waiting_id)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["agent"]["refused_count"].as_u64()
    };
    assert_eq!(listed().await, Some(20), "the counts waiting are shown");
    assert_eq!(app.state.ledger.flush_noted().await.expect("written"), 20);
    assert_eq!(stored().await.refused_count, 20);
    assert_eq!(listed().await, Some(20), "counted once");

    // The holder lets go: the waiting agent, refused a moment ago, is licensed at once.
    assert_eq!(
        post(&app, "release", Some(&holder), None).await.status,
        StatusCode::OK
    );
    let r = post(&app, "checkout", Some(&waiting), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Refused again (the holder now waits); a new license is served at once too.
    let r = post(&app, "checkout", Some(&holder), None).await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.body);
    install_floating(&app, &vendor, 1).await;
    let r = post(&app, "checkout", Some(&holder), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.stop().await;
}

/// A checkout's answer goes uncompressed whatever the agent accepts (compressing it cost more
/// than the rest of a checkout answered from memory), and pages are still compressed.
async fn small_answers_go_uncompressed_and_pages_compressed(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    install_floating(&app, &vendor, 1).await;
    let key = enrollment_key(&app).await;
    let (_, token) = register(&app, &key, "machine-a").await;
    for _ in 0..2 {
        // The first answer claims the license; the second comes from memory.
        let res = Client::new()
            .post(format!("{}/api/v1/agents/checkout", app.base))
            .bearer_auth(&token)
            .header("accept-encoding", "br, gzip")
            .send()
            .await
            .expect("checkout");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers().get("content-encoding"), None);
        let body = res.bytes().await.expect("the answer");
        assert!(
            body.len() <= usize::from(tessera::server::http::COMPRESS_ABOVE_BYTES),
            "a checkout's answer is {} bytes",
            body.len()
        );
        let answer: Value = serde_json::from_slice(&body).expect("JSON as sent");
        assert_eq!(answer["basis"], "floating");
    }
    let admin = app.admin().await;
    let page = admin
        .get(format!("{}/settings/licenses", app.base))
        .header("accept", "text/html")
        .header("accept-encoding", "br")
        .send()
        .await
        .expect("the Licenses page");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers().get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"br"[..])
    );
    app.stop().await;
}

on_both_databases!(
    small_answers_go_uncompressed_and_pages_compressed,
    a_refused_checkout_writes_nothing_and_is_counted,
    the_agents_list_pages_and_filters_by_tenant,
    register_checkout_and_heartbeat,
    bad_input_gets_a_clear_4xx,
    a_hundred_agents_race_for_ten_floating_licenses,
    racing_agents_take_every_free_license_and_no_more,
);
