//! Licenses in, over HTTP: upload with preview, confirmation, idempotence, every refusal of the
//! format, the limits, racing uploads, the list, requests and deleting everything.
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{Backend, TestApp, Vendor, password_of, plan_of, post_package};
use tessera::licenses::model::SEARCH_COUNTED;
use tessera::licenses::search;

/// Each preview item's effect, by name.
pub(crate) fn effects(outcome: &Value) -> Vec<String> {
    outcome["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i["effect"]["effect"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The reason of each refused block, in order.
fn reasons(outcome: &Value) -> Vec<(u64, String)> {
    assert_eq!(outcome["outcome"], "refused", "{outcome}");
    match outcome["refusal"]["reason"].as_str() {
        Some("bad_certificates") => outcome["refusal"]["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .map(|b| {
                (
                    b["block"].as_u64().unwrap_or(0),
                    b["refusal"]["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect(),
        Some(other) => vec![(0, other.to_string())],
        None => panic!("no reason: {outcome}"),
    }
}

async fn a_package_is_previewed_confirmed_and_idempotent(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let mut certs = vec![vendor.certificate(&inst, "platform")];
    certs.extend((0..10).map(|_| vendor.certificate(&inst, "agent")));
    certs.push(vendor.certificate(&inst, "personal"));
    certs.push(vendor.certificate(&inst, "server"));
    let package = vendor.package(&certs);

    let (id, preview) = app.upload_outcome(&admin, &package).await;
    assert_eq!(preview["outcome"], "preview", "{preview}");
    assert_eq!(
        (preview["total"].as_u64(), preview["new"].as_u64()),
        (Some(13), Some(13))
    );
    let e = effects(&preview);
    assert_eq!(e[0], "extends_tenant");
    assert_eq!(preview["items"][0]["effect"]["tenant"], "Default");
    assert!(e[1..11].iter().all(|x| x == "adds_agent_license"));
    assert_eq!(e[11], "adds_seats");
    assert_eq!(e[12], "unlocks_feature");
    // The summary counts the ten agent licenses as one line.
    let agents = preview["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["effect"]["effect"] == "adds_agent_license")
        .unwrap();
    assert_eq!(agents["count"], 10);
    // Nothing changed yet.
    assert_eq!(app.license_count(&admin).await, 0);

    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (
            r.body["installed"].as_u64(),
            r.body["already_installed"].as_u64()
        ),
        (Some(13), Some(0))
    );
    assert_eq!(app.license_count(&admin).await, 13);
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    let until = summary["tenants"][0]["platform"]["At"]
        .as_i64()
        .expect("licensed");
    let year = 365 * 86_400_000;
    assert!(
        (until - app.state.clock.now_ms() - year).abs() < 60_000,
        "{summary}"
    );

    // A package of several megabytes (over axum's default body limit) is read whole.
    let big: Vec<Value> = (0..2500)
        .map(|_| vendor.certificate(&inst, "agent"))
        .collect();
    let big = vendor.package(&big);
    assert!(big.len() > 2 * 1024 * 1024, "{}", big.len());
    let (_, outcome) = app.upload_outcome(&admin, &big).await;
    assert_eq!(
        (outcome["outcome"].as_str(), outcome["total"].as_u64()),
        (Some("preview"), Some(2500))
    );

    // The same package again changes nothing.
    let (id, again) = app.upload_outcome(&admin, &package).await;
    assert_eq!(again["new"], 0);
    assert!(effects(&again).iter().all(|e| e == "already_installed"));
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(
        (
            r.body["installed"].as_u64(),
            r.body["already_installed"].as_u64()
        ),
        (Some(0), Some(13))
    );
    assert_eq!(app.license_count(&admin).await, 13);
    let summary2 = app.call(&admin, "licenses/summary", &[]).await.body;
    assert_eq!(
        summary2["tenants"], summary["tenants"],
        "the expiry did not stack twice"
    );
    app.stop().await;
}

async fn every_bad_package_is_refused_whole_and_changes_nothing(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(
        backend,
        &vendor,
        &[
            ("TESSERA_MAX_PACKAGE_BYTES", "20000"),
            ("TESSERA_MAX_CERTIFICATES", "6"),
        ],
    )
    .await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let good = || vendor.certificate(&inst, "agent");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good();
        f(&mut c);
        c
    };

    // Whole-file refusals.
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "empty"),
        (b"just some text".to_vec(), "no_certificates"),
        (vec![0xff, 0xfe, 0x00, 0x41], "not_text"),
        (vec![b'x'; 20_001], "too_large"),
        (
            vendor
                .package(&(0..7).map(|_| good()).collect::<Vec<_>>())
                .into_bytes(),
            "too_many_certificates",
        ),
    ];
    for (bytes, reason) in cases {
        let refused = app
            .upload(&admin, "x.lcs", bytes)
            .await
            .expect_err("refused");
        assert_eq!(
            refused.body["refusal"]["reason"], reason,
            "{:?}",
            refused.body
        );
        let id = crate::support::refused_upload_id(&refused);
        let r = app
            .call(&admin, "licenses/upload_outcome", &[("id", &id)])
            .await;
        assert_eq!(reasons(&r.body), vec![(0, reason.to_string())], "{reason}");
    }

    // Certificate refusals, each named by block with its reason; good blocks around them too.
    let other = Vendor::new(9);
    let bad_b64 = "-----BEGIN TESSERA CERTIFICATE-----\n%%%not base64%%%\n-----END TESSERA CERTIFICATE-----\n";
    let mut tampered = vendor.package(&[good()]);
    {
        // Change the product inside the signed payload, keeping the envelope well formed.
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let body: String = tampered
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let mut env: Value = serde_json::from_slice(&STANDARD.decode(body).unwrap()).unwrap();
        let payload = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(env["payload"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        env["payload"] = URL_SAFE_NO_PAD
            .encode(payload.replace("AI Server", "AI Server Pro"))
            .into();
        tampered =
            tessera::licenses::verify::armor("CERTIFICATE", &serde_json::to_vec(&env).unwrap());
    }
    let dup = good();
    let package = [
        vendor.package(&[good()]), // 1 good
        bad_b64.to_string(),       // 2
        vendor.package(&[with(&|c| {
            c.as_object_mut().unwrap().remove("mode");
        })]), // 3
        vendor.package(&[with(&|c| c["validity_days"] = "forever".into())]), // 4
        other.package(&[good()]),  // 5
        vendor.package(&[with(&|c| c["type"] = "galaxy".into())]), // 6
    ]
    .join("\n");
    let (_, outcome) = app.upload_outcome(&admin, &package).await;
    let got = reasons(&outcome);
    assert_eq!(
        got,
        vec![
            (2, "malformed".into()),
            (3, "malformed".into()),
            (4, "malformed".into()),
            (5, "unknown_key".into()),
            (6, "invalid_certificate".into()),
        ],
        "{outcome}"
    );
    let package = [
        tampered,                                                                  // 1
        vendor.package(&[with(&|c| c["installation_id"] = "another-one".into())]), // 2
        vendor.package(&[with(&|c| c["not_after"] = "2020-01-01".into())]),        // 3
        vendor.package(&[dup.clone(), dup]),                                       // 4, 5
    ]
    .join("\n");
    let (_, outcome) = app.upload_outcome(&admin, &package).await;
    assert_eq!(
        reasons(&outcome),
        vec![
            (1, "bad_signature".into()),
            (2, "other_installation".into()),
            (3, "already_expired".into()),
            (5, "duplicate_in_package".into()),
        ],
        "{outcome}"
    );
    // A refused upload cannot be confirmed, and nothing was stored.
    let refused = app
        .upload(&admin, "x.lcs", package.into_bytes())
        .await
        .expect_err("refused");
    let id = crate::support::refused_upload_id(&refused);
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    assert_eq!(app.license_count(&admin).await, 0);
    app.stop().await;
}

async fn racing_confirmations_install_once(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let mut certs = vec![vendor.certificate(&inst, "platform")];
    certs.extend((0..20).map(|_| vendor.certificate(&inst, "agent")));
    let package = vendor.package(&certs);
    let (a, _) = app.upload_outcome(&admin, &package).await;
    let (b, _) = app.upload_outcome(&admin, &package).await;
    let (fa, fb) = ([("id", a.as_str())], [("id", b.as_str())]);
    let (ra, rb) = tokio::join!(
        app.call(&admin, "licenses/confirm", &fa),
        app.call(&admin, "licenses/confirm", &fb),
    );
    assert_eq!(
        (ra.status, rb.status),
        (StatusCode::OK, StatusCode::OK),
        "{:?} {:?}",
        ra.body,
        rb.body
    );
    let installed = ra.body["installed"].as_u64().unwrap() + rb.body["installed"].as_u64().unwrap();
    assert_eq!(installed, 21, "one wins: {:?} {:?}", ra.body, rb.body);
    assert_eq!(app.license_count(&admin).await, 21);
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    let until = summary["tenants"][0]["platform"]["At"].as_i64().unwrap();
    let year = 365 * 86_400_000;
    assert!(
        (until - app.state.clock.now_ms() - year).abs() < 60_000,
        "stacked once: {summary}"
    );
    app.stop().await;
}

/// A certificate withdrawn before it arrives (its revoker installed earlier, or later in the same
/// package) is kept as revoked and licenses nothing: a platform license adds no days.
async fn a_certificate_revoked_before_it_arrives_licenses_nothing(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let platform = vendor.certificate(&inst, "platform");
    let server = vendor.certificate(&inst, "server");
    let mut revoker = vendor.certificate(&inst, "agent");
    revoker["revokes"] = serde_json::json!([platform["id"]]);
    let (id, _) = app
        .upload_outcome(&admin, &vendor.package(&[revoker]))
        .await;
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The platform license after its revoker; the server license before its revoker, in one package.
    let mut second = vendor.certificate(&inst, "agent");
    second["revokes"] = serde_json::json!([server["id"]]);
    let (id, preview) = app
        .upload_outcome(&admin, &vendor.package(&[platform, server, second]))
        .await;
    assert_eq!(
        effects(&preview),
        ["arrives_revoked", "arrives_revoked", "adds_agent_license"],
        "{preview}"
    );
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.body["installed"].as_u64(), Some(3), "{:?}", r.body);
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    assert!(
        summary["tenants"][0]["platform"].is_null(),
        "no days added: {summary}"
    );
    let revoked = app
        .call(
            &admin,
            "licenses/list",
            &[
                ("query[q]", ""),
                ("query[status]", "revoked"),
                ("query[sort]", "installed"),
                ("query[descending]", "true"),
                ("query[page]", "1"),
            ],
        )
        .await;
    assert_eq!(
        revoked.body["total"].as_u64(),
        Some(2),
        "{:?}",
        revoked.body
    );
    app.stop().await;
}

/// Withdrawing a platform license in force takes the days it added out of its tenant's expiry;
/// the licenses stacked after it are counted again as if it had never been.
async fn a_withdrawn_platform_license_takes_its_days_with_it(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, crate::support::LONG_SESSIONS).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let day = 86_400_000;
    let platform = |days: i64| {
        let mut c = vendor.certificate(&inst, "platform");
        c["validity_days"] = days.into();
        c
    };
    let (a, b) = (platform(30), platform(10));
    let install = |certs: Vec<serde_json::Value>| {
        let app = &app;
        let admin = &admin;
        let package = vendor.package(&certs);
        async move {
            let (id, _) = app.upload_outcome(admin, &package).await;
            let r = app.call(admin, "licenses/confirm", &[("id", &id)]).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
    };
    let platform_until = || {
        let app = &app;
        let admin = &admin;
        async move {
            let summary = app.call(admin, "licenses/summary", &[]).await.body;
            summary["tenants"][0]["platform"]["At"].as_i64()
        }
    };
    let start = app.state.clock.now_ms();
    install(vec![a.clone()]).await;
    app.state.clock.advance(5 * day);
    install(vec![b.clone()]).await;
    let both = platform_until().await.expect("licensed");
    assert!(
        (both - start - 40 * day).abs() < 60_000,
        "30 + 10 days: {both}"
    );

    // The vendor withdraws the 30-day license: the 10 days now count from when b was activated.
    let b_activated = app.state.clock.now_ms();
    let mut revoker = vendor.certificate(&inst, "agent");
    revoker["revokes"] = serde_json::json!([a["id"]]);
    install(vec![revoker]).await;
    let left = platform_until().await.expect("still licensed by b");
    assert!(
        (left - b_activated - 10 * day).abs() < 60_000,
        "only b's 10 days, from its activation: {left}"
    );
    let rows = app
        .call(
            &admin,
            "licenses/list",
            &[
                ("query[q]", ""),
                ("query[status]", "activated"),
                ("query[sort]", "installed"),
                ("query[descending]", "true"),
                ("query[page]", "1"),
            ],
        )
        .await
        .body;
    let b_row = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == b["id"])
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        b_row["due"]["At"].as_i64(),
        Some(left),
        "b's own expiry follows: {rows}"
    );

    // Withdrawing the last one lapses the tenant there and then: not back to demo mode.
    let mut revoker = vendor.certificate(&inst, "agent");
    revoker["revokes"] = serde_json::json!([b["id"]]);
    let withdrawn_at = app.state.clock.now_ms();
    install(vec![revoker]).await;
    let lapsed = platform_until().await.expect("a lapsed platform, not none");
    assert!(
        (lapsed - withdrawn_at).abs() < 60_000,
        "lapsed on withdrawal: {lapsed}"
    );
    let r = app.call(&admin, "tenants/list", &[]).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, Some("platform_expired")),
        "{:?}",
        r.body
    );
    app.stop().await;
}

async fn the_list_searches_filters_sorts_and_pages(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let mut certs = vec![vendor.certificate(&inst, "platform")];
    for i in 0..60 {
        let mut c = vendor.certificate(&inst, "agent");
        c["product_name"] = format!("Agent {i:02}").into();
        certs.push(c);
    }
    let mut crm = vendor.certificate(&inst, "personal");
    crm["product_name"] = "CRM Sales".into();
    crm["product"] = "crm".into();
    certs.push(crm.clone());
    let mut cyrillic = vendor.certificate(&inst, "agent");
    cyrillic["product_name"] = "Сервер ИИ".into();
    cyrillic["product"] = "ru_srv".into();
    certs.push(cyrillic);
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&certs)).await;
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;

    let list = |pairs: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let mut form: Vec<(String, String)> = vec![
                ("query[q]".into(), String::new()),
                ("query[sort]".into(), "installed".into()),
                ("query[descending]".into(), "true".into()),
                ("query[page]".into(), "1".into()),
            ];
            for (k, v) in pairs {
                form.retain(|(fk, _)| fk != &format!("query[{k}]"));
                form.push((format!("query[{k}]"), v));
            }
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let r = app.call(&admin, "licenses/list", &f).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            r.body
        }
    };
    let page = list(vec![]).await;
    assert_eq!(page["total"], 63);
    assert_eq!(page["rows"].as_array().unwrap().len(), 50);
    let page2 = list(vec![("page", "2".into())]).await;
    assert_eq!(page2["rows"].as_array().unwrap().len(), 13);

    // Through the index (three characters or more) and without it (fewer), whatever the case
    // and the alphabet; `%`, `_` and quotes are only characters.
    let found = list(vec![("q", "crm".into())]).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["rows"][0]["product_name"], "CRM Sales");
    for (q, total, first) in [
        ("CrM", 1, Some("CRM Sales")),
        ("СЕРВЕР", 1, Some("Сервер ИИ")),
        ("ИИ", 1, Some("Сервер ИИ")),
        // Shorter than a trigram: product names, codes and features, case folded in every
        // alphabet on both databases.
        ("ии", 1, Some("Сервер ИИ")),
        ("Rm", 1, Some("CRM Sales")),
        ("5", 15, None),
        ("u_s", 1, Some("Сервер ИИ")),
        ("_s", 1, Some("Сервер ИИ")),
        ("%", 0, None),
        ("\"crm\"", 0, None),
        ("\"", 0, None),
        ("agent 0", 10, None),
        ("Agent", 60, None),
        ("ai-server", 61, None),
    ] {
        let found = list(vec![("q", q.into())]).await;
        assert_eq!(found["total"], total, "{q}: {found}");
        if let Some(first) = first {
            assert_eq!(found["rows"][0]["product_name"], first, "{q}");
        }
    }
    let id = found["rows"][0]["id"].as_str().expect("an id").to_string();
    let by_id = list(vec![("q", id[..13].to_uppercase())]).await;
    assert_eq!(by_id["total"], 1, "a certificate by the start of its id");

    let unused = list(vec![("status", "unused".into())]).await;
    assert_eq!(
        unused["total"], 62,
        "agents and seats wait; the platform activated"
    );
    let activated = list(vec![("status", "activated".into())]).await;
    assert_eq!(activated["total"], 1);
    assert_eq!(activated["rows"][0]["license_type"], "platform");
    let personal = list(vec![("license_type", "personal".into())]).await;
    assert_eq!(personal["total"], 1);

    let sorted = list(vec![
        ("sort", "product".into()),
        ("descending", "false".into()),
    ])
    .await;
    let names: Vec<&str> = sorted["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["product_name"].as_str().unwrap())
        .collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(names[0], "AI Server");
    let by_status = list(vec![
        ("sort", "status".into()),
        ("descending", "true".into()),
    ])
    .await;
    assert_eq!(by_status["rows"][0]["status"], "activated");

    // Deleted, nothing is found; installed again, it is.
    let search_rows = || async {
        if backend != Backend::Sqlite {
            return None;
        }
        let row = app
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT count(*) AS n FROM certificates_search",
            ))
            .await
            .expect("the search table")
            .expect("a count");
        Some(row.try_get::<i64>("", "n").expect("n"))
    };
    if backend == Backend::Sqlite {
        assert_eq!(search_rows().await, Some(63));
    }
    let r = app
        .call(&admin, "licenses/delete_all", &[("confirmation", "DELETE")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(list(vec![("q", "crm".into())]).await["total"], 0);
    if backend == Backend::Sqlite {
        assert_eq!(search_rows().await, Some(0));
    }
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&[crm])).await;
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(list(vec![("q", "CRM".into())]).await["total"], 1);

    // More licenses share a word than SQLite's index is read for: the same answers, read from
    // the licenses (in ASCII) or still through the index (in another alphabet, whose case only
    // the index folds).
    let many = search::SELECTIVE_MAX as usize + 10;
    let bulk: Vec<_> = (0..many)
        .map(|i| {
            let mut c = vendor.certificate(&inst, "agent");
            c["product_name"] = format!("Агент {i}").into();
            c
        })
        .collect();
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&bulk)).await;
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for (q, total) in [
        ("AI-SERVER", many),
        ("агент", many),
        ("АГЕНТ 10", 21),
        ("crm", 1),
    ] {
        let found = list(vec![("q", q.into())]).await;
        // Counted to 1,000 (`a_broad_search_is_counted_to_a_limit`).
        let counted = SEARCH_COUNTED as usize;
        assert_eq!(
            (&found["total"], &found["more"]),
            (&json!(total.min(counted)), &json!(total > counted)),
            "{q}"
        );
        assert_eq!(
            found["rows"].as_array().map(Vec::len),
            Some(total.min(50)),
            "{q}"
        );
    }
    app.stop().await;
}

/// A search of three characters or more reads its index (SQLite's FTS5 table, PostgreSQL's
/// trigram indexes), not every certificate.
/// A search is counted to 1,000 past its page's start, not to its end: the page says more match,
/// and the count goes on as the reader pages on; the list without a search is counted whole.
async fn a_broad_search_is_counted_to_a_limit(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    crate::agents::install_floating(&app, &vendor, 1_060).await;
    let admin = app.admin().await;
    for q in ["server", "se", ""] {
        for (page, total, more) in [("1", 1_000, true), ("2", 1_050, true), ("22", 1_060, false)] {
            let r = app
                .call(
                    &admin,
                    "licenses/list",
                    &[
                        ("query[q]", q),
                        ("query[sort]", "installed"),
                        ("query[descending]", "true"),
                        ("query[page]", page),
                    ],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            // Without a search, every license is counted.
            let (total, more) = if q.is_empty() {
                (1_060, false)
            } else {
                (total, more)
            };
            assert_eq!(
                (r.body["total"].as_u64(), r.body["more"].as_bool()),
                (Some(total), Some(more)),
                "{q:?}, page {page}"
            );
            let rows = r.body["rows"].as_array().expect("rows").len();
            assert_eq!(
                rows,
                if page == "22" { 10 } else { 50 },
                "{q:?}, page {page}"
            );
        }
    }
    app.stop().await;
}

async fn the_search_reads_its_indexes(backend: Backend) {
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect, QueryTrait};
    use tessera::licenses::entity::certificate;
    let app = TestApp::start(backend).await;
    let db_backend = app.db.get_database_backend();
    // SQLite: the question asked of the FTS5 table first. PostgreSQL: the condition itself.
    let query = match backend {
        Backend::Sqlite => Statement::from_sql_and_values(
            db_backend,
            search::PROBE,
            ["\"server\"".into(), 1001.into()],
        ),
        Backend::Postgres => certificate::Entity::find()
            .select_only()
            .column(certificate::Column::Id)
            .filter(
                search::condition(&app.db, "server")
                    .await
                    .expect("a condition"),
            )
            .build(db_backend),
    };
    let wanted = match backend {
        Backend::Sqlite => "VIRTUAL TABLE INDEX 0:M",
        Backend::Postgres => "Index Scan on idx_certificates_search_product_name",
    };
    // On a near-empty table PostgreSQL's planner rightly prefers reading it: told not to, it
    // shows the index it has.
    let txn = tessera::server::db::begin_write(&app.db)
        .await
        .expect("a transaction");
    if backend == Backend::Postgres {
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await
            .expect("set");
    }
    let lines = plan_of(&txn, &query).await;
    assert!(lines.iter().any(|l| l.contains(wanted)), "{lines:?}");
    // A search shorter than a trigram: each column's distinct values by a skip through an index.
    for column in search::SHORT {
        let sql = search::distinct_values(column);
        let lines = plan_of(&txn, &Statement::from_string(db_backend, sql)).await;
        let scans = |l: &String| match backend {
            Backend::Sqlite => l.contains("SCAN certificates"),
            Backend::Postgres => l.contains("Seq Scan"),
        };
        assert!(
            lines
                .iter()
                .any(|l| l.contains("Index") || l.contains("INDEX"))
                && !lines.iter().any(scans),
            "{column:?}: {lines:?}"
        );
    }
    txn.rollback().await.expect("rollback");

    // PostgreSQL: an index a failed concurrent build left invalid is made again at the next
    // start, and two instances starting at once both find all four.
    if backend == Backend::Postgres {
        app.db
            .execute_unprepared(
                "UPDATE pg_index SET indisvalid = false \
                 WHERE indexrelid = 'idx_certificates_search_product'::regclass",
            )
            .await
            .expect("an index made invalid");
        let left = search::valid(&app.db).await.expect("the valid indexes");
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(!left.iter().any(|i| i == "idx_certificates_search_product"));
        let (a, b) = tokio::join!(search::prepare(&app.db), search::prepare(&app.db));
        assert_eq!((a.ok(), b.ok()), (Some(true), Some(true)));
        let all = search::valid(&app.db).await.expect("the valid indexes");
        assert_eq!(all.len(), 4, "{all:?}");
    }
    app.stop().await;
}

async fn roles_see_and_change_exactly_what_they_may(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    app.create_user(&admin, "manager", "license_manager").await;
    app.create_user(&admin, "plain", "user").await;
    let manager = app.sign_in("manager", &password_of("manager")).await;
    let user = app.sign_in("plain", &password_of("plain")).await;
    let inst = app.state.installation_id.to_string();
    let package = vendor.package(&[vendor.certificate(&inst, "agent")]);

    // The License manager sees the list but may not upload, confirm, request or delete.
    let summary = app.call(&manager, "licenses/summary", &[]).await;
    assert_eq!(summary.status, StatusCode::OK);
    assert_eq!(
        (
            summary.body["can_upload"].as_bool(),
            summary.body["can_delete"].as_bool()
        ),
        (Some(false), Some(false))
    );
    let refused = app
        .upload(&manager, "p.lcs", package.clone().into_bytes())
        .await
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = app
        .upload(&user, "p.lcs", package.clone().into_bytes())
        .await
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = app
        .upload(&app.client(), "p.lcs", package.clone().into_bytes())
        .await
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let (id, _) = app.upload_outcome(&admin, &package).await;
    for client in [&manager, &user] {
        let r = app.call(client, "licenses/confirm", &[("id", &id)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = app
            .call(client, "licenses/delete_all", &[("confirmation", "DELETE")])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        app.call(&user, "licenses/summary", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    // A cross-site upload is refused before it is read.
    let r = post_package(
        &admin,
        &app.base,
        "http://evil.example",
        "p.lcs",
        package.into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.license_count(&admin).await, 0);
    app.stop().await;
}

/// The license request `admin` downloads, decoded; and its usage counts (agents registered and
/// licensed, users in all and licensed).
/// Where the installation says to send a request: the vendor contact on Settings > Licenses,
/// the one beside a request made now, and the request file's second line.
async fn where_to_send(app: &TestApp, admin: &reqwest::Client) -> (Value, Value, String) {
    let summary = app.call(admin, "licenses/summary", &[]).await.body;
    let r = app
        .call(
            admin,
            "licenses/request",
            &[("company_id", "acme"), ("target_version", "8.1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let text = r.body["text"].as_str().expect("the request's text");
    let second = text.lines().nth(1).unwrap_or_default().to_string();
    (
        summary["vendor_contact"].clone(),
        r.body["vendor"].clone(),
        second,
    )
}

async fn request_of(
    app: &TestApp,
    admin: &reqwest::Client,
) -> (tessera::licenses::format::LicenseRequest, [u64; 4]) {
    let r = app
        .call(
            admin,
            "licenses/request",
            &[("company_id", "acme"), ("target_version", "8.1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.body["file_name"]
            .as_str()
            .expect("a file name")
            .ends_with(".tlr")
    );
    let request = tessera::licenses::verify::decode_request(
        r.body["text"].as_str().expect("the request's text"),
    )
    .expect("a readable request");
    let u = &request.usage;
    let usage = [
        u.agents_registered,
        u.agents_licensed,
        u.users_total,
        u.users_licensed,
    ];
    (request, usage)
}

async fn a_request_names_the_installation_and_delete_all_needs_the_word(backend: Backend) {
    let vendor = Vendor::new(1);
    let contact = [
        ("TESSERA_VENDOR_EMAIL", "licensing@vendor.example"),
        (
            "TESSERA_VENDOR_URL",
            "https://portal.vendor.example/licenses",
        ),
    ];
    let app = TestApp::start_with_vendor(backend, &vendor, &contact).await;
    let admin = app.admin().await;
    // Where to send it: on Settings > Licenses, beside the request, and in the file's comment.
    let expected = serde_json::json!({
        "email": "licensing@vendor.example",
        "url": "https://portal.vendor.example/licenses",
    });
    assert_eq!(
        where_to_send(&app, &admin).await,
        (
            expected.clone(),
            expected,
            "Send this file to your vendor: licensing@vendor.example or \
             https://portal.vendor.example/licenses."
                .to_string()
        )
    );
    let (request, usage) = request_of(&app, &admin).await;
    assert_eq!(request.installation_id, &*app.state.installation_id);
    assert_eq!(
        (request.company_id.as_str(), request.target_version.as_str()),
        ("acme", "8.1")
    );
    assert_eq!(request.tenants.len(), 1);
    assert_eq!(usage, [0, 0, 1, 0]);
    // The usage counts what is there: two agents, one holding a floating license; one of two
    // users holding a seat.
    let inst = app.state.installation_id.to_string();
    let (id, _) = app
        .upload_outcome(
            &admin,
            &vendor.package(&[
                vendor.certificate(&inst, "agent"),
                vendor.certificate(&inst, "personal"),
            ]),
        )
        .await;
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    let key = crate::agents::enrollment_key(&app).await;
    let (_, token) = crate::agents::register(&app, &key, "usage-1").await;
    crate::agents::register(&app, &key, "usage-2").await;
    let r = crate::agents::post(&app, "checkout", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let holder = app.create_user(&admin, "holder", "user").await;
    let r = app
        .call(
            &admin,
            "seats/apply",
            &[("product", "ai-server"), ("user_ids[0]", &holder)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (request, usage) = request_of(&app, &admin).await;
    assert_eq!(usage, [2, 1, 2, 1]);
    assert_eq!(request.installed.len(), 2);
    app.call(&admin, "licenses/delete_all", &[("confirmation", "DELETE")])
        .await;
    let r = app
        .call(
            &admin,
            "licenses/request",
            &[("company_id", " "), ("target_version", "8.1")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("company_id"))
    );

    let inst = app.state.installation_id.to_string();
    let (id, _) = app
        .upload_outcome(
            &admin,
            &vendor.package(&[vendor.certificate(&inst, "platform")]),
        )
        .await;
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    let r = app
        .call(&admin, "licenses/delete_all", &[("confirmation", "delete")])
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("confirmation"))
    );
    assert_eq!(app.license_count(&admin).await, 1);
    let r = app
        .call(&admin, "licenses/delete_all", &[("confirmation", "DELETE")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.license_count(&admin).await, 0);
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    assert!(
        summary["tenants"][0]["platform"].is_null(),
        "back to demo mode: {summary}"
    );
    app.stop().await;
}

async fn without_vendor_keys_the_upload_says_so(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let summary = app.call(&admin, "licenses/summary", &[]).await.body;
    assert_eq!(summary["vendor_keys"], serde_json::json!([]));
    // No vendor contact either: the request names no one, and says the usual.
    let none = serde_json::json!({ "email": null, "url": null });
    assert_eq!(
        where_to_send(&app, &admin).await,
        (
            none.clone(),
            none,
            "Send this file to your vendor.".to_string()
        )
    );
    let vendor = Vendor::new(1);
    let inst = app.state.installation_id.to_string();
    let (_, outcome) = app
        .upload_outcome(
            &admin,
            &vendor.package(&[vendor.certificate(&inst, "agent")]),
        )
        .await;
    assert_eq!(reasons(&outcome), vec![(0, "no_trusted_keys".to_string())]);
    app.stop().await;
}

/// Abusive uploads, at the default limits (8 MiB, 20,000 certificates): each a clear 4xx that
/// names what is wrong, no panic, nothing installed; the server goes on working.
async fn abusive_uploads_get_a_clear_4xx_and_change_nothing(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let good = vendor.package(&[vendor.certificate(&inst, "agent")]);
    let limit = 8 * 1024 * 1024;
    let armored = |bytes: &[u8]| tessera::licenses::verify::armor("CERTIFICATE", bytes);
    let signed = |payload: &str| {
        tessera::licenses::verify::sign_certificate(&vendor.key, payload.as_bytes())
    };
    let certificate = vendor.certificate(&inst, "agent").to_string();
    let with_duplicate_id = certificate.replacen('{', r#"{"id":"an-earlier-id","#, 1);
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let deep_payload = certificate.replacen(
        '{',
        &format!(
            r#"{{"extra":{}{}, "#,
            "{\"a\":".repeat(5_000),
            "1".to_string() + &"}".repeat(5_000)
        ),
        1,
    );
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(good.encode_utf16().flat_map(|u| u.to_le_bytes()))
        .collect();
    let mut not_utf8 = good.clone().into_bytes();
    not_utf8.splice(0..0, [b'#', 0xC3, 0x28, b'\n']);
    let many = "-----BEGIN TESSERA CERTIFICATE-----\nAA==\n-----END TESSERA CERTIFICATE-----\n"
        .repeat(20_001);
    let bom_in_block = good.replacen("CERTIFICATE-----\n", "CERTIFICATE-----\n\u{FEFF}", 1);

    // (what, file name, bytes, status, error, reason of the refusal if a package refusal)
    type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "empty",
            "x.lcs",
            Vec::new(),
            422,
            "package_refused",
            Some("empty"),
        ),
        (
            "one byte over the limit",
            "x.lcs",
            vec![b'\n'; limit + 1],
            413,
            "package_refused",
            Some("too_large"),
        ),
        (
            "not UTF-8",
            "x.lcs",
            not_utf8,
            422,
            "package_refused",
            Some("not_text"),
        ),
        (
            "UTF-16 with its BOM",
            "x.lcs",
            utf16,
            422,
            "package_refused",
            Some("not_text"),
        ),
        (
            "a BOM inside a block",
            "x.lcs",
            bom_in_block.into_bytes(),
            422,
            "package_refused",
            Some("bad_certificates"),
        ),
        (
            "an envelope nested 100,000 deep",
            "x.lcs",
            armored(deep(100_000).as_bytes()).into_bytes(),
            422,
            "package_refused",
            Some("bad_certificates"),
        ),
        (
            "a signed payload nested 5,000 deep",
            "x.lcs",
            signed(&deep_payload).into_bytes(),
            422,
            "package_refused",
            Some("bad_certificates"),
        ),
        (
            "a signed payload with its id twice",
            "x.lcs",
            signed(&with_duplicate_id).into_bytes(),
            422,
            "package_refused",
            Some("bad_certificates"),
        ),
        (
            "20,001 certificates",
            "x.lcs",
            many.into_bytes(),
            422,
            "package_refused",
            Some("too_many_certificates"),
        ),
        (
            "a path for a name",
            "../../x.lcs",
            good.clone().into_bytes(),
            400,
            "invalid",
            None,
        ),
        (
            "a Windows path",
            "..\\..\\x.lcs",
            good.clone().into_bytes(),
            400,
            "invalid",
            None,
        ),
    ];
    for (what, name, bytes, status, error, reason) in cases {
        let refused = app.upload(&admin, name, bytes).await.expect_err(what);
        assert_eq!(
            refused.status.as_u16(),
            status,
            "{what}: {:?}",
            refused.body
        );
        assert_eq!(refused.error(), Some(error), "{what}: {:?}", refused.body);
        match reason {
            Some(reason) => {
                assert_eq!(refused.body["refusal"]["reason"], reason, "{what}");
                // Its page says why, with the same status.
                let page = app
                    .get(&admin, refused.body["upload"].as_str().expect("page"))
                    .await;
                assert_eq!(page.status().as_u16(), status, "{what}");
            }
            None => assert_eq!(refused.body["field"], "file", "{what}"),
        }
        if reason == Some("bad_certificates") {
            let blocks = refused.body["refusal"]["blocks"]
                .as_array()
                .expect("blocks");
            assert_eq!(blocks[0]["refusal"]["reason"], "malformed", "{what}");
        }
        assert_eq!(app.license_count(&admin).await, 0, "{what}");
    }
    // A browser (asking for a page) is sent to the refusal's page instead.
    let res = admin
        .post(format!("{}/licenses/upload", app.base))
        .header("origin", &app.base)
        .header("accept", "text/html")
        .multipart(reqwest::multipart::Form::new().part(
            "package",
            reqwest::multipart::Part::bytes(Vec::new()).file_name("x.lcs"),
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // The limit itself is allowed: a good package padded to exactly 8 MiB, with a UTF-8 BOM as
    // Windows editors write it, is previewed and installs.
    let mut at_limit = [0xEF, 0xBB, 0xBF].to_vec();
    at_limit.extend_from_slice(good.as_bytes());
    at_limit.resize(limit, b'\n');
    let id = app
        .upload(&admin, "x.lcs", at_limit)
        .await
        .expect("a package of exactly the limit is taken");
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.body["installed"], 1, "{:?}", r.body);
    assert_eq!(app.license_count(&admin).await, 1);
    app.stop().await;
}

on_both_databases!(
    abusive_uploads_get_a_clear_4xx_and_change_nothing,
    a_package_is_previewed_confirmed_and_idempotent,
    every_bad_package_is_refused_whole_and_changes_nothing,
    racing_confirmations_install_once,
    a_certificate_revoked_before_it_arrives_licenses_nothing,
    a_withdrawn_platform_license_takes_its_days_with_it,
    the_list_searches_filters_sorts_and_pages,
    the_search_reads_its_indexes,
    a_broad_search_is_counted_to_a_limit,
    roles_see_and_change_exactly_what_they_may,
    a_request_names_the_installation_and_delete_all_needs_the_word,
    without_vendor_keys_the_upload_says_so,
);
