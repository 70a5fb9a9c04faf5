//! Signed leases (issue 23): every granted checkout carries a lease, signed with the
//! installation's own key, that its public key alone verifies.
use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use tessera::usage::entity::{event, rollup};
use tessera_license::{Envelope, LeaseClaims, LeaseError, decode_request, verify_lease};

use crate::agents::{enrollment_key, install_floating, post, register};
use crate::on_both_databases;
use crate::support::{Backend, Reply, TestApp, Vendor};

fn lease_of(r: &Reply) -> Envelope {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    serde_json::from_value(r.body["lease"].clone()).expect("a granted checkout carries a lease")
}

fn verified(key: &VerifyingKey, r: &Reply) -> LeaseClaims {
    verify_lease(key, &lease_of(r)).expect("the lease verifies with the installation's key")
}

async fn set_lease_time(
    app: &TestApp,
    admin: &reqwest::Client,
    tenant: &str,
    seconds: &str,
) -> Reply {
    app.call(
        admin,
        "tenants/set_lease_time",
        &[("tenant_id", tenant), ("seconds", seconds)],
    )
    .await
}

async fn a_granted_checkout_carries_a_lease_its_installations_key_alone_verifies(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let key = enrollment_key(&app).await;
    let r = post(
        &app,
        "register",
        None,
        Some(serde_json::json!({ "enrollment_key": key, "machine_id": "machine-a" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (agent_id, token) = (
        r.body["agent_id"].as_str().unwrap().to_string(),
        r.body["token"].as_str().unwrap().to_string(),
    );
    let pem = r.body["lease_public_key"].as_str().unwrap().to_string();
    let public = VerifyingKey::from_public_key_pem(&pem).expect("an Ed25519 SPKI public key");

    // The same key on Settings > Licenses and in the license request.
    let summary = app.call(&admin, "licenses/summary", &[]).await;
    assert_eq!(summary.body["lease_public_key"], pem.as_str());
    assert_eq!(
        summary.body["lease_key_id"],
        tessera_license::key_id(public.as_bytes()).as_str()
    );
    let request = app
        .call(
            &admin,
            "licenses/request",
            &[("company_id", "acme"), ("target_version", "8.1")],
        )
        .await;
    let request = decode_request(request.body["text"].as_str().unwrap()).unwrap();
    assert_eq!(request.lease_public_key.as_deref(), Some(pem.as_str()));

    // A refusal carries none.
    let refused = post(&app, "checkout", Some(&token), None).await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(refused.body.get("lease"), None);

    install_floating(&app, &vendor, 1).await;
    let before = app.state.clock.now_ms();
    let granted = post(&app, "checkout", Some(&token), None).await;
    let claims = verified(&public, &granted);
    let tenant_id = claims.tenant_id.clone();
    assert_eq!(
        (
            claims.agent_id.as_str(),
            claims.machine_id.as_str(),
            claims.license_id.as_ref().map(|l| Value::from(l.as_str())),
            claims.basis.as_str(),
            claims.installation_id.as_str(),
        ),
        (
            agent_id.as_str(),
            "machine-a",
            Some(granted.body["license_id"].clone()),
            "floating",
            &*app.state.installation_id,
        )
    );
    // The tenant's lease time (5 minutes by default) from the checkout; renewed at half of it.
    assert!((before..=app.state.clock.now_ms()).contains(&claims.issued_at));
    assert_eq!(claims.valid_until, claims.issued_at + 300_000);
    assert_eq!(granted.body["renew_after"], claims.issued_at + 150_000);

    // OpenSSL verifies it too, as docs/agent-api.md shows: any Ed25519 implementation can.
    let dir = std::env::temp_dir().join(format!("tessera-lease-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url")
    };
    let lease = lease_of(&granted);
    std::fs::write(dir.join("lease.pub"), &pem).unwrap();
    std::fs::write(dir.join("payload.json"), b64(&lease.payload)).unwrap();
    std::fs::write(dir.join("payload.sig"), b64(&lease.sig)).unwrap();
    let openssl = |payload: &str| {
        std::process::Command::new("openssl")
            .current_dir(&dir)
            .args([
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                "lease.pub",
                "-rawin",
            ])
            .args(["-in", payload, "-sigfile", "payload.sig"])
            .output()
            .expect("openssl runs")
    };
    let verified_by_openssl = openssl("payload.json");
    assert!(
        verified_by_openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&verified_by_openssl.stderr)
    );
    std::fs::write(
        dir.join("forged.json"),
        String::from_utf8(b64(&lease.payload))
            .unwrap()
            .replace("\"valid_until\":", "\"valid_until\":9"),
    )
    .unwrap();
    assert!(!openssl("forged.json").status.success());
    let _ = std::fs::remove_dir_all(&dir);

    // No other key verifies it, whatever the lease says about its key.
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
    assert!(matches!(
        verify_lease(&other, &lease_of(&granted)),
        Err(LeaseError::OtherKey { .. })
    ));
    let forged = Envelope {
        kid: tessera_license::key_id(other.as_bytes()),
        ..lease_of(&granted)
    };
    assert_eq!(verify_lease(&other, &forged), Err(LeaseError::BadSignature));

    // Signed once per half lease: the same lease until then, a new one after.
    let to = |at: i64| app.state.clock.advance(at - app.state.clock.now_ms());
    to(claims.issued_at + 90_000);
    let again = post(&app, "checkout", Some(&token), None).await;
    assert_eq!(lease_of(&again), lease_of(&granted));
    to(claims.issued_at + 150_000);
    let renewed = post(&app, "checkout", Some(&token), None).await;
    assert_ne!(lease_of(&renewed), lease_of(&granted));
    let next = verified(&public, &renewed);
    assert!(next.issued_at >= claims.issued_at + 150_000);
    assert_eq!(next.valid_until, next.issued_at + 300_000);

    // A tenant's own lease time: out of range is refused and changes nothing; in range, the
    // next checkout is signed with it.
    for bad in ["1", "86401", "soon"] {
        let r = set_lease_time(&app, &admin, &tenant_id, bad).await;
        assert_eq!(
            (
                r.status,
                r.body["field"].as_str(),
                r.body["problem"]["problem"].as_str()
            ),
            (
                StatusCode::BAD_REQUEST,
                Some("lease_time"),
                Some("out_of_range")
            ),
            "{:?}",
            r.body
        );
    }
    let r = set_lease_time(&app, &admin, &tenant_id, "20").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let listing = app.call(&admin, "tenants/list", &[]).await.body;
    assert_eq!(listing["tenants"][0]["lease_seconds"], 20, "{listing}");
    // The change forgot the tenant's grants: the next checkout is signed with the new time.
    let short = post(&app, "checkout", Some(&token), None).await;
    let c = verified(&public, &short);
    assert_eq!(c.valid_until - c.issued_at, 20_000);

    // Never past the license's own expiry: a day's lease an hour before the license ends ends
    // with the license.
    let r = set_lease_time(&app, &admin, &tenant_id, "86400").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let expires_at = short.body["expires_at"]
        .as_i64()
        .expect("a license of 365 days");
    app.state
        .clock
        .advance(expires_at - app.state.clock.now_ms() - 3_600_000);
    let last = post(&app, "checkout", Some(&token), None).await;
    assert_eq!(verified(&public, &last).valid_until, expires_at);
    app.stop().await;
}

/// An agent shut down may work on under its lease while it cannot reach Tessera: its floating
/// license goes to no other agent before that lease has ended.
async fn a_shut_down_agents_floating_license_is_free_when_its_lease_ends(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let key = enrollment_key(&app).await;
    install_floating(&app, &vendor, 1).await;
    let (first, first_token) = register(&app, &key, "first").await;
    let (_, second_token) = register(&app, &key, "second").await;
    let tenant_id = app.default_tenant(&admin).await;
    let r = set_lease_time(&app, &admin, &tenant_id, "60").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Leases of the 5 minutes before may still run that long: past them.
    app.state.clock.advance(300_000);
    let granted = post(&app, "checkout", Some(&first_token), None).await;
    let lease = unchecked_claims(&granted);
    assert_eq!(lease.valid_until - lease.issued_at, 60_000);
    // Shortening the lease time does not shorten the leases signed before.
    let r = set_lease_time(&app, &admin, &tenant_id, "20").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let shut_at = app.state.clock.now_ms();
    let r = app
        .call(&admin, "agents/shut_down", &[("agent_id", &first)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        post(&app, "checkout", Some(&first_token), None)
            .await
            .error(),
        Some("agent_shut_down")
    );
    // Held while its lease may run (a refusal is remembered for 2 s at most).
    let refused = post(&app, "checkout", Some(&second_token), None).await;
    assert_eq!(
        refused.error(),
        Some("no_license_free"),
        "{:?}",
        refused.body
    );
    // In use while held (the gauge of licenses in use reads this).
    let held = tessera::ledger::usage::held_for_leases(&app.db, app.state.clock.now_ms())
        .await
        .expect("a read");
    assert_eq!(held.values().sum::<i64>(), 1, "{held:?}");
    let to = |at: i64| app.state.clock.advance(at - app.state.clock.now_ms());
    to(lease.valid_until - 3_000);
    assert!(app.state.clock.now_ms() > shut_at + 20_000);
    let refused = post(&app, "checkout", Some(&second_token), None).await;
    assert_eq!(
        refused.error(),
        Some("no_license_free"),
        "{:?}",
        refused.body
    );
    // Once it has ended, the next agent takes it.
    to(shut_at + 60_000 + 2_000);
    assert!(app.state.clock.now_ms() > lease.valid_until);
    let taken = post(&app, "checkout", Some(&second_token), None).await;
    assert_eq!(taken.status, StatusCode::OK, "{:?}", taken.body);
    assert_eq!(taken.body["license_id"], granted.body["license_id"]);
    let claimed_at = unchecked_claims(&taken).issued_at;

    // The usage record counts it in use while it was held: released when its hold ends, and
    // every minute rolled up from the first agent's checkout to the second's adds up to that.
    let released = event::Entity::find()
        .filter(event::Column::Reason.eq("shut_down"))
        .one(&app.db)
        .await
        .expect("the record")
        .expect("the shut-down's release");
    assert!(released.at >= lease.valid_until, "{released:?}");
    assert!(released.at < claimed_at, "{released:?}");
    const MINUTE: i64 = 60_000;
    to(claimed_at / MINUTE * MINUTE + 2 * MINUTE);
    app.sweep().await;
    let minutes = rollup::Entity::find()
        .filter(rollup::Column::Span.eq("minute"))
        .filter(rollup::Column::TenantId.eq(tenant_id.as_str()))
        .filter(rollup::Column::LicenseKind.eq("floating"))
        .filter(rollup::Column::Start.lte(claimed_at))
        .all(&app.db)
        .await
        .expect("the minutes rolled up");
    let used: i64 = minutes.iter().map(|m| m.used_ms).sum();
    let rest_of_last_minute = claimed_at / MINUTE * MINUTE + MINUTE - claimed_at;
    assert_eq!(
        used,
        (released.at - lease.issued_at) + rest_of_last_minute,
        "in use from the checkout ({}) to its hold's end ({}), and again from {claimed_at}",
        lease.issued_at,
        released.at
    );
    app.stop().await;
}

/// The claims of a lease, read without checking its signature (the other test checks that).
fn unchecked_claims(r: &Reply) -> LeaseClaims {
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(lease_of(r).payload)
        .expect("base64url");
    serde_json::from_slice(&payload).expect("the lease's JSON")
}

on_both_databases!(
    a_granted_checkout_carries_a_lease_its_installations_key_alone_verifies,
    a_shut_down_agents_floating_license_is_free_when_its_lease_ends,
);
