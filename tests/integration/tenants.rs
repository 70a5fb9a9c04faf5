//! Settings > Tenants and Settings > Agents through their server functions, without the pages:
//! tenants, platform assignment with stacking, agent pools, binding, shutting down, deleting,
//! and the release of silent agents' floating licenses.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::agents::{enrollment_key, install_floating, post, register};
use crate::on_both_databases;
use crate::support::{Backend, LONG_SESSIONS, Reply, TestApp, Vendor};

const DAY: i64 = 86_400_000;

/// Uploads and confirms a package of these certificates.
async fn install(app: &TestApp, admin: &reqwest::Client, vendor: &Vendor, certs: &[Value]) {
    let (id, _) = app.upload_outcome(admin, &vendor.package(certs)).await;
    let r = app.call(admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn tenants(app: &TestApp, admin: &reqwest::Client) -> Value {
    let r = app.call(admin, "tenants/list", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

fn tenant<'a>(listing: &'a Value, name: &str) -> &'a Value {
    listing["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tenant {name} in {listing}"))
}

async fn create_tenant(app: &TestApp, admin: &reqwest::Client, name: &str) -> String {
    let r = app.call(admin, "tenants/create", &[("name", name)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

fn assert_invalid(r: &Reply, field: &str, problem: &str) {
    assert_eq!(
        (
            r.status,
            r.error(),
            r.body["field"].as_str(),
            r.body["problem"]["problem"].as_str()
        ),
        (
            StatusCode::BAD_REQUEST,
            Some("invalid"),
            Some(field),
            Some(problem)
        ),
        "{:?}",
        r.body
    );
}

/// An expiry `{"At": ms}` within `[lo, hi]`: the app's clock runs while a test waits.
fn assert_at(v: &Value, lo: i64, hi: i64) {
    let at = v["At"]
        .as_i64()
        .unwrap_or_else(|| panic!("not a date: {v}"));
    assert!((lo..=hi).contains(&at), "{at} not in [{lo}, {hi}]");
}

fn assert_conflict(r: &Reply, kind: &str) {
    assert_eq!(
        (r.status, r.error(), r.body["kind"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"), Some(kind)),
        "{:?}",
        r.body
    );
}

async fn tenants_are_created_renamed_and_deleted_under_their_rules(backend: Backend) {
    let app = TestApp::start_with(backend, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let acme = create_tenant(&app, &admin, "  Acme  ").await;
    let listing = tenants(&app, &admin).await;
    let t = tenant(&listing, "Acme");
    assert!(t["enrollment_key"].as_str().unwrap().starts_with("tek_"));
    assert_eq!(t["platform"], Value::Null);

    // Names: required, unique regardless of case, bounded.
    let r = app.call(&admin, "tenants/create", &[("name", " ")]).await;
    assert_invalid(&r, "tenant_name", "required");
    let r = app
        .call(&admin, "tenants/create", &[("name", "ACME")])
        .await;
    assert_invalid(&r, "tenant_name", "taken");
    let long = "x".repeat(65);
    let r = app.call(&admin, "tenants/create", &[("name", &long)]).await;
    assert_invalid(&r, "tenant_name", "too_long");

    let r = app
        .call(
            &admin,
            "tenants/rename",
            &[("tenant_id", &acme), ("name", "Acme Corp")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .call(
            &admin,
            "tenants/rename",
            &[("tenant_id", &acme), ("name", "Default")],
        )
        .await;
    assert_invalid(&r, "tenant_name", "taken");
    tenant(&tenants(&app, &admin).await, "Acme Corp");

    // Not the default; not while it has users (or agents).
    let default = app.default_tenant(&admin).await;
    let r = app
        .call(&admin, "tenants/delete", &[("tenant_id", &default)])
        .await;
    assert_conflict(&r, "default_tenant");
    let r = app
        .call(
            &admin,
            "users/create",
            &[
                ("user_name", "worker"),
                ("password", "a-long-password"),
                ("role", "user"),
                ("tenant_id", &acme),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .call(&admin, "tenants/delete", &[("tenant_id", &acme)])
        .await;
    assert_conflict(&r, "tenant_in_use");

    let empty = create_tenant(&app, &admin, "Empty").await;
    let key = tenant(&tenants(&app, &admin).await, "Empty")["enrollment_key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .call(&admin, "tenants/delete", &[("tenant_id", &empty)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        tenants(&app, &admin).await["tenants"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Its enrollment key went with it.
    let r = post(
        &app,
        "register",
        None,
        Some(json!({ "enrollment_key": key, "machine_id": "m" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .call(&admin, "tenants/delete", &[("tenant_id", &empty)])
        .await;
    assert_invalid(&r, "tenant", "unknown");
    app.stop().await;
}

async fn a_rotated_enrollment_key_stops_registering(backend: Backend) {
    let app = TestApp::start_with(backend, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let old = enrollment_key(&app).await;
    let (agent, token) = register(&app, &old, "machine-a").await;
    let default = app.default_tenant(&admin).await;
    let r = app
        .call(&admin, "tenants/rotate_key", &[("tenant_id", &default)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new = r.body.as_str().unwrap().to_string();
    assert_ne!(new, old);
    let r = post(
        &app,
        "register",
        None,
        Some(json!({ "enrollment_key": old, "machine_id": "machine-b" })),
    )
    .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, Some("bad_agent_credentials"))
    );
    // Agents registered before keep their tokens; the new key registers the same machine again.
    assert_eq!(
        post(&app, "heartbeat", Some(&token), None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        crate::agents::register_again(&app, &new, "machine-a", &token)
            .await
            .0,
        agent
    );
    app.stop().await;
}

async fn platform_licenses_are_assigned_once_and_stack(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let acme = create_tenant(&app, &admin, "Acme").await;
    let inst = app.state.installation_id.to_string();
    // With two tenants, a platform license naming none waits for an assignment.
    let mut first = vendor.certificate(&inst, "platform");
    first["validity_days"] = 30.into();
    let mut second = vendor.certificate(&inst, "platform_unlimited_agents");
    second["validity_days"] = 10.into();
    let personal = vendor.certificate(&inst, "personal");
    install(
        &app,
        &admin,
        &vendor,
        &[first.clone(), second.clone(), personal.clone()],
    )
    .await;
    assert_eq!(
        tenant(&tenants(&app, &admin).await, "Acme")["platform"],
        Value::Null
    );
    let assignable = tenants(&app, &admin).await["assignable"].clone();
    assert_eq!(assignable.as_array().unwrap().len(), 2, "{assignable}");

    let id = |c: &Value| c["id"].as_str().unwrap().to_string();
    let assign = |license: String, tenant: String| {
        let app = &app;
        let admin = &admin;
        async move {
            app.call(
                admin,
                "tenants/assign",
                &[("tenant_id", &tenant), ("license_id", &license)],
            )
            .await
        }
    };
    let before = app.state.clock.now_ms();
    let r = assign(id(&first), acme.clone()).await;
    let after = app.state.clock.now_ms();
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Ten days later the second one extends from the current expiry, not from now.
    app.state.clock.advance(10 * DAY);
    let before2 = app.state.clock.now_ms();
    let r = assign(id(&second), acme.clone()).await;
    let after2 = app.state.clock.now_ms();
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let listing = tenants(&app, &admin).await;
    let t = tenant(&listing, "Acme");
    assert_at(&t["platform"], before + 40 * DAY, after + 40 * DAY);
    // Unlimited agents count from now: there were none before.
    assert_at(
        &t["unlimited_agents"],
        before2 + 10 * DAY,
        after2 + 10 * DAY,
    );
    assert!(listing["assignable"].as_array().unwrap().is_empty());

    // Twice: refused, and nothing changes.
    let default = app.default_tenant(&admin).await;
    let r = assign(id(&first), default.clone()).await;
    assert_conflict(&r, "already_assigned");
    assert_eq!(
        tenant(&tenants(&app, &admin).await, "Default")["platform"],
        Value::Null
    );
    // A personal license is not for tenants; an unknown one does not exist.
    assert_invalid(
        &assign(id(&personal), default.clone()).await,
        "license",
        "wrong_type",
    );
    assert_invalid(
        &assign("nope".into(), default.clone()).await,
        "license",
        "unknown",
    );
    app.stop().await;
}

async fn agent_licenses_join_a_tenant_pool_and_serve_its_agents_first(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let acme = create_tenant(&app, &admin, "Acme").await;
    let inst = app.state.installation_id.to_string();
    let pooled = vendor.certificate(&inst, "agent");
    install(&app, &admin, &vendor, std::slice::from_ref(&pooled)).await;
    let pooled_id = pooled["id"].as_str().unwrap();
    let r = app
        .call(
            &admin,
            "tenants/assign",
            &[("tenant_id", &acme), ("license_id", pooled_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(tenant(&tenants(&app, &admin).await, "Acme")["pool_free"], 1);

    // An agent of the default tenant may not take Acme's license.
    let (_, outsider) = register(&app, &enrollment_key(&app).await, "outsider").await;
    assert_eq!(
        post(&app, "checkout", Some(&outsider), None).await.status,
        StatusCode::PAYMENT_REQUIRED
    );
    let acme_key = tenant(&tenants(&app, &admin).await, "Acme")["enrollment_key"]
        .as_str()
        .unwrap()
        .to_string();
    let (insider_id, insider) = register(&app, &acme_key, "insider").await;
    let r = post(&app, "checkout", Some(&insider), None).await;
    assert_eq!(r.body["license_id"], pooled_id, "{:?}", r.body);
    // Acme's card names its agent, licensed.
    let listing = tenants(&app, &admin).await;
    let acme_card = tenant(&listing, "Acme");
    assert_eq!(
        (
            acme_card["agents"].as_u64(),
            acme_card["agents_with_license"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(acme_card["agent_glance"][0]["machine_id"], "insider");
    assert_eq!(acme_card["agent_glance"][0]["has_license"], true);
    assert_eq!(
        tenant(&listing, "Default")["agent_glance"][0]["has_license"],
        false
    );
    // Bound now: it cannot move to another pool.
    let r = app
        .call(
            &admin,
            "tenants/assign",
            &[("tenant_id", ""), ("license_id", pooled_id)],
        )
        .await;
    assert_conflict(&r, "already_bound");
    assert_eq!(tenant(&listing, "Acme")["pool_free"], 0);

    // Shut down, its license stays out of the free pool for the last lease the agent may still
    // work under (the tenant's 5 minutes), then returns to it.
    let r = app
        .call(&admin, "agents/shut_down", &[("agent_id", &insider_id)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(tenant(&tenants(&app, &admin).await, "Acme")["pool_free"], 0);
    app.state.clock.advance(5 * 60_000);
    assert_eq!(tenant(&tenants(&app, &admin).await, "Acme")["pool_free"], 1);
    app.stop().await;
}

fn fixed(vendor: &Vendor, inst: &str, days: Option<u32>) -> Value {
    let mut c = vendor.certificate(inst, "agent");
    c["binding"] = "fixed".into();
    c["validity_days"] = days.map_or(Value::Null, Value::from);
    c
}

async fn agent_detail(app: &TestApp, client: &reqwest::Client, agent: &str) -> Value {
    let r = app.call(client, "agents/get", &[("agent_id", agent)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

/// The attack of issue 20, item 4: anyone holding the enrollment key (every agent machine has
/// it) re-registered another agent's machine id, took its fixed license under a new token, cut
/// the real agent off, and undid an administrator's shut down. Now the machine registers again
/// only with its agent's own token, or once after an administrator resets its registration.
async fn an_enrollment_key_alone_cannot_take_over_a_machine(backend: Backend) {
    use crate::agents::register_again;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let license = fixed(&vendor, &inst, Some(30));
    install(&app, &admin, &vendor, std::slice::from_ref(&license)).await;
    let key = enrollment_key(&app).await;
    let (victim, token) = register(&app, &key, "victim").await;
    let license_id = license["id"].as_str().unwrap();
    let r = app
        .call(
            &admin,
            "agents/bind",
            &[
                ("agent_id", &victim),
                ("license_id", license_id),
                ("understood", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        post(&app, "checkout", Some(&token), None).await.body["license_id"],
        license_id
    );

    // The attacker: the enrollment key and the victim's machine id, with no token or a forged one.
    let attack = json!({ "enrollment_key": key, "machine_id": "victim" });
    for forged in [None, Some("forged-token")] {
        let r = post(&app, "register", forged, Some(attack.clone())).await;
        assert_eq!(
            (r.status, r.error(), r.body["kind"].as_str()),
            (
                StatusCode::CONFLICT,
                Some("conflict"),
                Some("machine_registered")
            ),
            "{:?}",
            r.body
        );
    }
    // Nothing changed: the victim still checks out its fixed license with its token.
    let r = post(&app, "checkout", Some(&token), None).await;
    assert_eq!(
        (r.status, r.body["license_id"].as_str()),
        (StatusCode::OK, Some(license_id)),
        "{:?}",
        r.body
    );

    // Shut down, the machine stays down even when it registers again with its own token.
    let r = app
        .call(&admin, "agents/shut_down", &[("agent_id", &victim)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (same, token) = register_again(&app, &key, "victim", &token).await;
    assert_eq!(same, victim);
    assert_eq!(
        post(&app, "checkout", Some(&token), None).await.error(),
        Some("agent_shut_down")
    );
    assert_eq!(
        post(&app, "register", None, Some(attack.clone()))
            .await
            .status,
        StatusCode::CONFLICT
    );

    // Only an Administrator resets a registration: a License manager may not.
    app.create_user(&admin, "manager", "license_manager").await;
    let manager = app
        .sign_in("manager", &crate::support::password_of("manager"))
        .await;
    let r = app
        .call(
            &manager,
            "agents/reset_registration",
            &[("agent_id", &victim)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    // The reset revokes the token at once and lets the machine register once more, running.
    let r = app
        .call(
            &admin,
            "agents/reset_registration",
            &[("agent_id", &victim)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        post(&app, "checkout", Some(&token), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (same, fresh) = register(&app, &key, "victim").await;
    assert_eq!(same, victim, "the same agent, its fixed license kept");
    let r = post(&app, "checkout", Some(&fresh), None).await;
    assert_eq!(
        (r.status, r.body["license_id"].as_str()),
        (StatusCode::OK, Some(license_id)),
        "{:?}",
        r.body
    );
    // Once: the enrollment key alone is refused again.
    assert_eq!(
        post(&app, "register", None, Some(attack)).await.status,
        StatusCode::CONFLICT
    );
    // Recorded: the License manager's refusal and the Administrator's reset.
    let audit = app
        .call(
            &admin,
            "audit/list",
            &[
                ("filter[kind]", "agent_reset_registration"),
                ("filter[page]", "1"),
            ],
        )
        .await;
    let outcomes: Vec<&str> = audit.body["rows"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["outcome"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(outcomes.len(), 2, "{:?}", audit.body);
    app.stop().await;
}

/// A tenant may cap its agents: a new machine beyond the cap is refused 409, and nothing is
/// written; machines registered already register again with their tokens.
async fn a_tenant_caps_its_agents(backend: Backend) {
    use crate::agents::register_again;
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let key = enrollment_key(&app).await;
    let default = tenant(&tenants(&app, &admin).await, "Default")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, token) = register(&app, &key, "m1").await;
    register(&app, &key, "m2").await;
    for bad in ["-1", "lots", "1000001"] {
        let r = app
            .call(
                &admin,
                "tenants/set_max_agents",
                &[("tenant_id", &default), ("max", bad)],
            )
            .await;
        assert_invalid(&r, "max_agents", "out_of_range");
    }
    let r = app
        .call(
            &admin,
            "tenants/set_max_agents",
            &[("tenant_id", &default), ("max", "2")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        tenant(&tenants(&app, &admin).await, "Default")["max_agents"],
        2
    );
    let r = post(
        &app,
        "register",
        None,
        Some(json!({ "enrollment_key": key, "machine_id": "m3" })),
    )
    .await;
    assert_eq!(
        (r.status, r.body["kind"].as_str()),
        (StatusCode::CONFLICT, Some("agent_limit")),
        "{:?}",
        r.body
    );
    let listing = app.call(&admin, "agents/list", &[]).await.body;
    assert_eq!(listing["total"], 2, "{listing:?}");
    register_again(&app, &key, "m1", &token).await;
    // No limit again: the third machine registers.
    let r = app
        .call(
            &admin,
            "tenants/set_max_agents",
            &[("tenant_id", &default), ("max", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    register(&app, &key, "m3").await;
    app.stop().await;
}

/// Issue 20, item 6: a License manager acts within their own tenant (its agents, users and
/// seats, filtered inside the queries); a license issued for a tenant serves that tenant only.
async fn a_license_manager_acts_within_their_tenant(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let acme = create_tenant(&app, &admin, "Acme").await;
    let r = app
        .call(
            &admin,
            "users/create",
            &[
                ("user_name", "acme-manager"),
                ("password", &crate::support::password_of("acme-manager")),
                ("role", "license_manager"),
                ("tenant_id", &acme),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .call(
            &admin,
            "users/create",
            &[
                ("user_name", "acme-worker"),
                ("password", &crate::support::password_of("acme-worker")),
                ("role", "user"),
                ("tenant_id", &acme),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let home_worker = app.create_user(&admin, "home-worker", "user").await;
    let manager = app
        .sign_in("acme-manager", &crate::support::password_of("acme-manager"))
        .await;
    let listing = tenants(&app, &admin).await;
    let acme_key = tenant(&listing, "Acme")["enrollment_key"]
        .as_str()
        .unwrap()
        .to_string();
    let home_key = enrollment_key(&app).await;
    let (home_agent, home_token) = register(&app, &home_key, "home-machine").await;
    let (acme_agent, acme_token) = register(&app, &acme_key, "acme-machine").await;

    // Lists: their tenant's agents and users only.
    let agents = app.call(&manager, "agents/list", &[]).await;
    assert_eq!(agents.status, StatusCode::OK, "{:?}", agents.body);
    let ids: Vec<&str> = agents.body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, vec![acme_agent.as_str()]);
    let users = app.call(&manager, "users/list", &[]).await;
    assert_eq!(users.status, StatusCode::OK, "{:?}", users.body);
    let names: Vec<&str> = users.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert!(
        names.contains(&"acme-worker")
            && !names.contains(&"home-worker")
            && !names.contains(&"admin"),
        "{names:?}"
    );

    // Another tenant's agent is unknown to them: no detail, no shut down.
    let r = app
        .call(&manager, "agents/get", &[("agent_id", &home_agent)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = app
        .call(&manager, "agents/shut_down", &[("agent_id", &home_agent)])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);

    // Seats: another tenant's user is unknown to them; nothing is given.
    let inst = app.state.installation_id.to_string();
    let mut personal = vendor.certificate(&inst, "personal");
    personal["seats"] = 5.into();
    let product = personal["product"].as_str().unwrap().to_string();
    // A floating agent license issued for Acme, and one for any tenant.
    let mut for_acme = vendor.certificate(&inst, "agent");
    for_acme["tenant_id"] = acme.clone().into();
    install(&app, &admin, &vendor, &[personal, for_acme.clone()]).await;
    let r = app
        .call(
            &manager,
            "seats/apply",
            &[("product", &product), ("user_ids[0]", &home_worker)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let held = app
        .call(&admin, "seats/product", &[("product", &product)])
        .await;
    assert_eq!(held.body["holders_total"], 0, "{:?}", held.body);

    // The Acme license serves Acme's agent, never the Default tenant's.
    let r = post(&app, "checkout", Some(&home_token), None).await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.body);
    let r = post(&app, "checkout", Some(&acme_token), None).await;
    assert_eq!(
        (r.status, r.body["license_id"].as_str()),
        (StatusCode::OK, for_acme["id"].as_str()),
        "{:?}",
        r.body
    );
    // The Administrator acts on every tenant.
    let r = app
        .call(&admin, "agents/get", &[("agent_id", &home_agent)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.stop().await;
}

async fn a_fixed_license_binds_for_good_and_stacks(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    app.create_user(&admin, "manager", "license_manager").await;
    let manager = app
        .sign_in("manager", &crate::support::password_of("manager"))
        .await;
    let inst = app.state.installation_id.to_string();
    let acme = create_tenant(&app, &admin, "Acme").await;
    let (a, b, floating, acmes, for_acme) = (
        fixed(&vendor, &inst, Some(30)),
        fixed(&vendor, &inst, Some(60)),
        vendor.certificate(&inst, "agent"),
        fixed(&vendor, &inst, Some(30)),
        fixed(&vendor, &inst, Some(30)),
    );
    let mut for_acme = for_acme;
    for_acme["tenant_id"] = acme.clone().into();
    install(
        &app,
        &admin,
        &vendor,
        &[
            a.clone(),
            b.clone(),
            floating.clone(),
            acmes.clone(),
            for_acme.clone(),
        ],
    )
    .await;
    let id = |c: &Value| c["id"].as_str().unwrap().to_string();
    let r = app
        .call(
            &admin,
            "tenants/assign",
            &[("tenant_id", &acme), ("license_id", &id(&acmes))],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = enrollment_key(&app).await;
    let (agent, token) = register(&app, &key, "machine-a").await;
    let (other, _) = register(&app, &key, "machine-b").await;
    // The agent's page offers the fixed licenses it may be bound to: neither one in Acme's pool
    // nor one issued for Acme (the agent is the Default tenant's), nor a floating one.
    let offered = |d: &Value| {
        let mut ids: Vec<String> = d["fixed_free"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    };
    let mut ours = vec![id(&a), id(&b)];
    ours.sort();
    assert_eq!(offered(&agent_detail(&app, &admin, &agent).await), ours);
    let bind = |client: &reqwest::Client, agent: &str, license: String, understood: &str| {
        let form = [
            ("agent_id".to_string(), agent.to_string()),
            ("license_id".to_string(), license),
            ("understood".to_string(), understood.to_string()),
        ];
        let client = client.clone();
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.call(&client, "agents/bind", &form).await
        }
    };

    // The confirmation is required.
    assert_invalid(
        &bind(&manager, &agent, id(&a), "").await,
        "confirmation",
        "required",
    );
    // A License manager may bind.
    let before = app.state.clock.now_ms();
    let r = bind(&manager, &agent, id(&a), "yes").await;
    let after = app.state.clock.now_ms();
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let d = agent_detail(&app, &admin, &agent).await;
    assert_at(
        &d["agent"]["licensed_until"],
        before + 30 * DAY,
        after + 30 * DAY,
    );
    assert_eq!(d["agent"]["basis"], "fixed");
    assert_eq!(
        offered(&d),
        vec![id(&b)],
        "a bound license is offered no more"
    );
    let r = post(&app, "checkout", Some(&token), None).await;
    assert_eq!(
        (r.status, r.body["basis"].as_str()),
        (StatusCode::OK, Some("fixed"))
    );

    // Never again: not to another agent, not to the same one.
    assert_conflict(&bind(&admin, &other, id(&a), "yes").await, "already_bound");
    assert_conflict(&bind(&admin, &agent, id(&a), "yes").await, "already_bound");
    // Floating licenses are not bound by hand.
    assert_invalid(
        &bind(&admin, &other, id(&floating), "yes").await,
        "license",
        "wrong_type",
    );
    // A second fixed license on the same agent extends it from its current expiry.
    app.state.clock.advance(5 * DAY);
    let r = bind(&admin, &agent, id(&b), "yes").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let d = agent_detail(&app, &admin, &agent).await;
    assert_at(
        &d["agent"]["licensed_until"],
        before + 90 * DAY,
        after + 90 * DAY,
    );

    // Shutting down keeps a fixed license bound.
    let r = app
        .call(&manager, "agents/shut_down", &[("agent_id", &agent)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = post(&app, "checkout", Some(&token), None).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, Some("agent_shut_down"))
    );
    let d = agent_detail(&app, &admin, &agent).await;
    assert_eq!(d["agent"]["state"], "shut_down");
    assert_eq!(d["agent"]["license"]["id"], id(&b).as_str());

    // Deleting is for Administrators; it ends the licenses bound to the agent.
    let r = app
        .call(&manager, "agents/delete", &[("agent_id", &agent)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call(&admin, "agents/delete", &[("agent_id", &agent)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        post(&app, "checkout", Some(&token), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .call(
            &admin,
            "licenses/list",
            &[
                ("query[q]", ""),
                ("query[sort]", "installed"),
                ("query[descending]", "true"),
                ("query[page]", "1"),
                ("query[status]", "expired"),
            ],
        )
        .await;
    assert_eq!(
        r.body["total"], 2,
        "both fixed licenses expired: {:?}",
        r.body
    );
    let r = app
        .call(&admin, "agents/get", &[("agent_id", &agent)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn shutting_down_frees_a_floating_license_for_another_agent(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    install_floating(&app, &vendor, 1).await;
    let key = enrollment_key(&app).await;
    let (first, first_token) = register(&app, &key, "machine-a").await;
    let (_, second_token) = register(&app, &key, "machine-b").await;
    let r = post(&app, "checkout", Some(&first_token), None).await;
    let license = r.body["license_id"].as_str().unwrap().to_string();
    let expires = r.body["expires_at"].clone();
    assert_eq!(
        post(&app, "checkout", Some(&second_token), None)
            .await
            .status,
        StatusCode::PAYMENT_REQUIRED
    );
    let listing = app.call(&admin, "agents/list", &[]).await.body;
    assert_eq!(
        (
            listing["floating_held"].as_u64(),
            listing["floating_total"].as_u64()
        ),
        (Some(1), Some(1))
    );

    app.state.clock.advance(DAY);
    let r = app
        .call(&admin, "agents/shut_down", &[("agent_id", &first)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Free once the lease it may still work under has ended (the tenant's 5 minutes).
    assert_eq!(
        post(&app, "checkout", Some(&second_token), None)
            .await
            .error(),
        Some("no_license_free")
    );
    app.state.clock.advance(5 * 60_000);
    let r = post(&app, "checkout", Some(&second_token), None).await;
    assert_eq!(r.body["license_id"], license.as_str(), "{:?}", r.body);
    // Its validity runs from its first activation: taking it again does not renew it.
    assert_eq!(r.body["expires_at"], expires);
    let listing = app.call(&admin, "agents/list", &[]).await.body;
    assert_eq!(listing["floating_held"], 1);
    // The shut-down machine is refused until it registers again.
    assert_eq!(
        post(&app, "checkout", Some(&first_token), None)
            .await
            .error(),
        Some("agent_shut_down")
    );
    app.stop().await;
}

async fn silent_agents_lose_their_floating_license_only_where_the_tenant_says(backend: Backend) {
    use tessera::ledger::holdings::release_silent;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    install_floating(&app, &vendor, 1).await;
    let key = enrollment_key(&app).await;
    let (_, quiet) = register(&app, &key, "quiet").await;
    let (_, waiting) = register(&app, &key, "waiting").await;
    assert_eq!(
        post(&app, "checkout", Some(&quiet), None).await.status,
        StatusCode::OK
    );

    // Off by default: an hour of silence changes nothing.
    app.state.clock.advance(60 * 60_000);
    assert_eq!(
        release_silent(&app.state.ledger, app.state.clock.now_ms())
            .await
            .unwrap(),
        0
    );

    let default = app.default_tenant(&admin).await;
    for bad in ["-1", "abc", "10081"] {
        let r = app
            .call(
                &admin,
                "tenants/set_release",
                &[("tenant_id", &default), ("minutes", bad)],
            )
            .await;
        assert_invalid(&r, "release_after", "out_of_range");
    }
    let r = app
        .call(
            &admin,
            "tenants/set_release",
            &[("tenant_id", &default), ("minutes", "30")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // A heartbeat keeps it.
    assert_eq!(
        post(&app, "heartbeat", Some(&quiet), None).await.status,
        StatusCode::OK
    );
    app.state.clock.advance(29 * 60_000);
    assert_eq!(
        release_silent(&app.state.ledger, app.state.clock.now_ms())
            .await
            .unwrap(),
        0
    );
    app.state.clock.advance(2 * 60_000);
    assert_eq!(
        release_silent(&app.state.ledger, app.state.clock.now_ms())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        post(&app, "checkout", Some(&waiting), None).await.status,
        StatusCode::OK
    );
    app.stop().await;
}

/// A user of `tenant` (made by the administrator), named `name`, of `role`; answers their id.
async fn user_of(
    app: &TestApp,
    admin: &reqwest::Client,
    name: &str,
    role: &str,
    tenant: &str,
) -> String {
    let r = app
        .call(
            admin,
            "users/create",
            &[
                ("user_name", name),
                ("password", &crate::support::password_of(name)),
                ("role", role),
                ("tenant_id", tenant),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["id"].as_str().expect("an id").to_string()
}

async fn a_tenants_personal_licenses_and_reminders_are_its_own(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, LONG_SESSIONS).await;
    let admin = app.admin().await;
    let acme = create_tenant(&app, &admin, "Acme").await;
    let home = app.default_tenant(&admin).await;
    user_of(&app, &admin, "acme-manager", "license_manager", &acme).await;
    let acme_workers = [
        user_of(&app, &admin, "acme-worker-1", "user", &acme).await,
        user_of(&app, &admin, "acme-worker-2", "user", &acme).await,
    ];
    let home_workers = [
        app.create_user(&admin, "home-worker-1", "user").await,
        app.create_user(&admin, "home-worker-2", "user").await,
    ];
    let manager = app
        .sign_in("acme-manager", &crate::support::password_of("acme-manager"))
        .await;
    let inst = app.state.installation_id.to_string();
    // Seats of "ai-server": three issued for Acme (valid 20 days), one for any tenant.
    let mut for_acme = vendor.certificate(&inst, "personal");
    for_acme["tenant_id"] = acme.clone().into();
    for_acme["seats"] = 3.into();
    for_acme["validity_days"] = 20.into();
    let mut shared = vendor.certificate(&inst, "personal");
    shared["seats"] = 1.into();
    // And a Default tenant's product, valid 20 days.
    let mut for_home = vendor.certificate(&inst, "personal");
    for_home["tenant_id"] = home.clone().into();
    for_home["product"] = "home-product".into();
    for_home["product_name"] = "Home Product".into();
    for_home["validity_days"] = 20.into();
    install(
        &app,
        &admin,
        &vendor,
        &[for_acme.clone(), shared.clone(), for_home],
    )
    .await;
    let give = |client: &reqwest::Client, product: &'static str, user: &str| {
        let (client, user) = (client.clone(), user.to_string());
        let app = &app;
        async move {
            app.call(
                &client,
                "seats/apply",
                &[("product", product), ("user_ids[0]", user.as_str())],
            )
            .await
        }
    };

    // Acme's users take Acme's seats first, leaving the shared one for every tenant.
    for worker in &acme_workers {
        let r = give(&manager, "ai-server", worker).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let r = give(&admin, "ai-server", &home_workers[0]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Acme's third seat is free, but not for the Default tenant's users.
    let r = give(&admin, "ai-server", &home_workers[1]).await;
    assert_eq!(
        (r.status, r.error(), r.body["free"].as_u64()),
        (StatusCode::CONFLICT, Some("not_enough_seats"), Some(0)),
        "{:?}",
        r.body
    );
    let holders_of = |r: &Reply| -> Vec<String> {
        r.body["holders"]
            .as_array()
            .expect("holders")
            .iter()
            .filter_map(|h| h["name"].as_str().map(String::from))
            .collect()
    };
    // The product as Acme's License manager sees it: Acme's holders, the seats that serve Acme.
    let page = app
        .call(&manager, "seats/product", &[("product", "ai-server")])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert_eq!(holders_of(&page), ["acme-worker-1", "acme-worker-2"]);
    assert_eq!(
        (
            page.body["count"]["total"].as_u64(),
            page.body["count"]["free"].as_u64()
        ),
        (Some(4), Some(1)),
        "{:?}",
        page.body["count"]
    );
    // The Administrator sees everyone's.
    let page = app
        .call(&admin, "seats/product", &[("product", "ai-server")])
        .await;
    assert_eq!(
        holders_of(&page),
        ["acme-worker-1", "acme-worker-2", "home-worker-1"]
    );

    // Reminders: Acme's License manager is reminded of Acme's license, not the Default tenant's.
    let r = give(&admin, "home-product", &home_workers[0]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.sweep().await;
    let reminded = |r: &Reply| -> Vec<String> {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let mut names: Vec<String> = r.body["reminders"]
            .as_array()
            .expect("reminders")
            .iter()
            .filter_map(|n| n["subject_name"].as_str().map(String::from))
            .collect();
        names.sort();
        names
    };
    let theirs = app.call(&manager, "notifications/list", &[]).await;
    assert_eq!(reminded(&theirs), ["AI Server"]);
    let all = app.call(&admin, "notifications/list", &[]).await;
    assert_eq!(reminded(&all), ["AI Server", "Home Product"]);
    let bell = |client: &reqwest::Client| {
        let (client, app) = (client.clone(), &app);
        async move { app.call(&client, "notifications/alerts", &[]).await.body["unread"].clone() }
    };
    assert_eq!(
        (bell(&manager).await, bell(&admin).await),
        (1.into(), 2.into())
    );
    // Marking all read marks theirs only: each user reads their own notifications.
    let r = app.call(&manager, "notifications/mark_read", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (bell(&manager).await, bell(&admin).await),
        (0.into(), 2.into())
    );

    // None of this breaks the rule; a holding made before it (written straight into the
    // database, as an older version could have) is listed, and kept.
    assert_eq!(
        tessera::ledger::isolation::outside_their_tenant(&app.db)
            .await
            .expect("a listing"),
        []
    );
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use tessera::seats::entity as seat;
        let held = seat::Entity::find()
            .filter(seat::Column::UserId.eq(home_workers[0].clone()))
            .filter(seat::Column::Product.eq("ai-server"))
            .one(&app.db)
            .await
            .expect("a read")
            .expect("home-worker-1's seat");
        seat::Entity::update_many()
            .col_expr(
                seat::Column::CertificateId,
                sea_orm::sea_query::Expr::value(for_acme["id"].as_str().expect("an id")),
            )
            .filter(seat::Column::Id.eq(held.id))
            .exec(&app.db)
            .await
            .expect("an update");
    }
    let outside = tessera::ledger::isolation::outside_their_tenant(&app.db)
        .await
        .expect("a listing");
    assert_eq!(outside.len(), 1, "{outside:?}");
    assert_eq!(
        outside[0].to_string(),
        format!(
            "user home-worker-1 of tenant {home} holds license {} of tenant {acme}",
            for_acme["id"].as_str().expect("an id")
        )
    );
    app.stop().await;
}

on_both_databases!(
    a_tenants_personal_licenses_and_reminders_are_its_own,
    tenants_are_created_renamed_and_deleted_under_their_rules,
    a_rotated_enrollment_key_stops_registering,
    platform_licenses_are_assigned_once_and_stack,
    agent_licenses_join_a_tenant_pool_and_serve_its_agents_first,
    a_fixed_license_binds_for_good_and_stacks,
    shutting_down_frees_a_floating_license_for_another_agent,
    silent_agents_lose_their_floating_license_only_where_the_tenant_says,
    an_enrollment_key_alone_cannot_take_over_a_machine,
    a_tenant_caps_its_agents,
    a_license_manager_acts_within_their_tenant,
);
