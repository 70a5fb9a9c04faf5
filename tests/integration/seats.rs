//! Personal seats through their server functions, without the pages: each refusal changes
//! nothing, and two administrators applying at once never give more seats than there are.
use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::on_both_databases;
use crate::support::{Backend, Reply, TestApp, Vendor, password_of};

const DAY: i64 = 86_400_000;

/// Installs one personal license of product "ai-server" with five seats, valid 365 days.
async fn install_personal(app: &TestApp, admin: &Client, vendor: &Vendor) {
    let cert = vendor.certificate(&app.state.installation_id, "personal");
    let (id, _) = app.upload_outcome(admin, &vendor.package(&[cert])).await;
    let r = app.call(admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn seats(app: &TestApp, client: &Client, endpoint: &str, users: &[&str]) -> Reply {
    let keys: Vec<String> = (0..users.len()).map(|i| format!("user_ids[{i}]")).collect();
    let mut form: Vec<(&str, &str)> = vec![("product", "ai-server")];
    form.extend(keys.iter().map(String::as_str).zip(users.iter().copied()));
    app.call(client, endpoint, &form).await
}

fn counts(r: &Reply) -> (u64, u64, u64) {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let n = |k: &str| r.body[k].as_u64().unwrap_or(u64::MAX);
    (n("total"), n("used"), n("free"))
}

fn refusal(r: &Reply) -> (StatusCode, Option<&str>, Value) {
    (
        r.status,
        r.error(),
        r.body
            .get("kind")
            .or(r.body.get("free"))
            .cloned()
            .unwrap_or(Value::Null),
    )
}

async fn users(app: &TestApp, admin: &Client, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            app.create_user(admin, &format!("{prefix}{i}"), "user")
                .await,
        );
    }
    ids
}

/// The names listed under `key` in `endpoint`'s answer about product "ai-server", and the answer.
async fn listed(
    app: &TestApp,
    admin: &Client,
    endpoint: &str,
    arg: (&str, &str),
    key: &str,
) -> (Vec<String>, Value) {
    let r = app
        .call(admin, endpoint, &[("product", "ai-server"), arg])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let names = r.body[key]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["name"].as_str().map(str::to_string))
        .collect();
    (names, r.body)
}

async fn seats_are_given_and_recalled_and_every_refusal_changes_nothing(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    install_personal(&app, &admin, &vendor).await;
    let u = users(&app, &admin, "u", 7).await;
    let ids: Vec<&str> = u.iter().map(String::as_str).collect();

    assert_eq!(
        counts(&seats(&app, &admin, "seats/apply", &ids[..3]).await),
        (5, 3, 2)
    );
    // More than are free: refused whole, saying how many are free.
    let r = seats(&app, &admin, "seats/apply", &ids[3..6]).await;
    assert_eq!(
        refusal(&r),
        (StatusCode::CONFLICT, Some("not_enough_seats"), 2.into())
    );
    // Already holding one; an unknown user; none at all; an unknown product.
    let r = seats(&app, &admin, "seats/apply", &[ids[0], ids[3]]).await;
    assert_eq!(
        refusal(&r),
        (
            StatusCode::CONFLICT,
            Some("conflict"),
            "already_holds".into()
        )
    );
    let r = seats(&app, &admin, "seats/apply", &[ids[3], "nobody"]).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("user"))
    );
    let r = seats(&app, &admin, "seats/apply", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let r = app
        .call(
            &admin,
            "seats/apply",
            &[("product", "nope"), ("user_ids[0]", ids[3])],
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("product"))
    );
    // A disabled user.
    let r = app
        .call(
            &admin,
            "users/set_disabled",
            &[("user_id", ids[6]), ("disabled", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = seats(&app, &admin, "seats/apply", &[ids[6]]).await;
    assert_eq!(
        refusal(&r),
        (
            StatusCode::CONFLICT,
            Some("conflict"),
            "user_disabled".into()
        )
    );
    // Recalling a seat not held refuses the whole recall.
    let r = seats(&app, &admin, "seats/recall", &[ids[0], ids[4]]).await;
    assert_eq!(
        refusal(&r),
        (StatusCode::CONFLICT, Some("conflict"), "not_held".into())
    );
    // Nothing above changed anything: still 3 used.
    assert_eq!(
        counts(&seats(&app, &admin, "seats/apply", &ids[3..5]).await),
        (5, 5, 0)
    );
    // Recall one; its seat goes to another at once.
    assert_eq!(
        counts(&seats(&app, &admin, "seats/recall", &[ids[1]]).await),
        (5, 4, 1)
    );
    assert_eq!(
        counts(&seats(&app, &admin, "seats/apply", &[ids[5]]).await),
        (5, 5, 0)
    );

    // The product's page: its count and holders; the picker offers the others, by name,
    // tenant or role, never a disabled user.
    let page = app
        .call(&admin, "seats/product", &[("product", "ai-server")])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert_eq!(
        (
            page.body["count"]["used"].as_u64(),
            page.body["count"]["free"].as_u64()
        ),
        (Some(5), Some(0))
    );
    let holders: Vec<&str> = page.body["holders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert_eq!(holders, ["u0", "u2", "u3", "u4", "u5"]);
    let found = app
        .call(
            &admin,
            "seats/candidates",
            &[("product", "ai-server"), ("q", "")],
        )
        .await;
    let names: Vec<&str> = found.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        (names, found.body["more"].as_bool()),
        (vec!["admin", "u1"], Some(false)),
        "holders and the disabled u6 are not offered; every user was looked at"
    );
    let found = app
        .call(
            &admin,
            "seats/candidates",
            &[("product", "ai-server"), ("q", "administrator")],
        )
        .await;
    assert_eq!(found.body["users"].as_array().map(Vec::len), Some(1));
    let r = app
        .call(&admin, "seats/product", &[("product", "nope")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A License manager may; a User may not.
    app.create_user(&admin, "manager", "license_manager").await;
    let manager = app.sign_in("manager", &password_of("manager")).await;
    assert_eq!(
        counts(&seats(&app, &manager, "seats/recall", &[ids[5]]).await),
        (5, 4, 1)
    );
    let user = app.sign_in("u2", &password_of("u2")).await;
    // Their own licenses: the seat they hold.
    let mine = app.call(&user, "seats/mine", &[]).await;
    assert_eq!(mine.status, StatusCode::OK, "{:?}", mine.body);
    assert_eq!(mine.body[0]["product_name"], "AI Server");
    assert_eq!(mine.body[0]["status"], "activated");
    let none = app
        .call(
            &app.sign_in("u1", &password_of("u1")).await,
            "seats/mine",
            &[],
        )
        .await;
    assert_eq!(none.body, serde_json::json!([]));
    let r = seats(&app, &user, "seats/apply", &[ids[1]]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    app.stop().await;
}

async fn an_expired_personal_license_grants_nothing(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, crate::support::LONG_SESSIONS).await;
    let admin = app.admin().await;
    install_personal(&app, &admin, &vendor).await;
    let u = users(&app, &admin, "u", 2).await;
    // Activated by its first seat, valid 365 days from then.
    assert_eq!(
        counts(&seats(&app, &admin, "seats/apply", &[&u[0]]).await),
        (5, 1, 4)
    );
    for _ in 0..13 {
        app.state.clock.advance(29 * DAY);
    }
    app.state.clock.advance(DAY);
    let admin = app.admin().await;
    let r = seats(&app, &admin, "seats/apply", &[&u[1]]).await;
    assert_eq!(
        refusal(&r),
        (StatusCode::CONFLICT, Some("not_enough_seats"), 0.into())
    );
    // Recalling still works, and frees nothing usable.
    assert_eq!(
        counts(&seats(&app, &admin, "seats/recall", &[&u[0]]).await),
        (0, 0, 0)
    );
    app.stop().await;
}

async fn two_administrators_applying_at_once_never_exceed_the_seats(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    install_personal(&app, &admin, &vendor).await;
    let other = app.admin().await;
    for round in 0..3 {
        let a = users(&app, &admin, &format!("a{round}-"), 3).await;
        let b = users(&app, &admin, &format!("b{round}-"), 3).await;
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        let (ra, rb) = futures::join!(
            seats(&app, &admin, "seats/apply", &a),
            seats(&app, &other, "seats/apply", &b)
        );
        let (won, lost, winners, loser) = match (ra.status, rb.status) {
            (StatusCode::OK, StatusCode::CONFLICT) => (ra, rb, &a, &b),
            (StatusCode::CONFLICT, StatusCode::OK) => (rb, ra, &b, &a),
            other => {
                panic!("round {round}: one whole success and one whole refusal, got {other:?}")
            }
        };
        assert_eq!(counts(&won), (5, 3, 2));
        assert_eq!(
            refusal(&lost),
            (StatusCode::CONFLICT, Some("not_enough_seats"), 2.into())
        );
        // The refused users hold nothing.
        let r = seats(&app, &admin, "seats/recall", &loser[..1]).await;
        assert_eq!(
            refusal(&r),
            (StatusCode::CONFLICT, Some("conflict"), "not_held".into())
        );
        // Give the seats back for the next round.
        assert_eq!(
            counts(&seats(&app, &admin, "seats/recall", winners).await),
            (5, 0, 5)
        );
    }
    app.stop().await;
}

/// Settings > Users: each user's seats, given and recalled user by user, by a License manager
/// too, who sees the list but changes no user; searched and paged.
async fn settings_users_lists_seats_and_gives_them_user_by_user(backend: Backend) {
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    install_personal(&app, &admin, &vendor).await;
    let u = users(&app, &admin, "member", 50).await;
    let manager_id = app.create_user(&admin, "manager", "license_manager").await;
    let lm = app.sign_in("manager", &password_of("manager")).await;
    let user = app.sign_in("member0", &password_of("member0")).await;

    let list = |client: &Client, q: &'static str, page: &'static str| {
        let client = client.clone();
        let app = &app;
        async move {
            app.call(&client, "users/list", &[("q", q), ("page", page)])
                .await
        }
    };
    let r = list(&lm, "", "1").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["total"], 52);
    assert_eq!(r.body["users"].as_array().map(Vec::len), Some(50));
    assert_eq!(r.body["can_manage_users"], false);
    assert_eq!(r.body["can_upload"], false);
    assert_eq!(r.body["products"][0]["product"], "ai-server");
    assert_eq!(r.body["products"][0]["free"], 5);
    let r = list(&lm, "", "2").await;
    assert_eq!(r.body["users"].as_array().map(Vec::len), Some(2));
    assert_eq!(list(&user, "", "1").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        list(&app.client(), "", "1").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Given from the users page as a form post: back to the list, saying so.
    let r = lm
        .post(format!("{}/api/seats/apply", app.base))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .header("referer", format!("{}/settings/users", app.base))
        .form(&[
            ("product", "ai-server"),
            ("user_ids[0]", u[7].as_str()),
            ("back", "users"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "/settings/users?done=applied");
    let r = list(&lm, "MEMBER7", "1").await;
    assert_eq!(r.body["total"], 1, "{:?}", r.body);
    assert_eq!(r.body["users"][0]["seats"][0]["product_name"], "AI Server");
    assert_eq!(r.body["products"][0]["free"], 4);
    // A search matching nobody, and one naming the tenant.
    assert_eq!(list(&lm, "nobody%", "1").await.body["total"], 0);
    assert_eq!(list(&admin, "default", "1").await.body["total"], 52);

    // The page: a License manager sees seats and their buttons, no user management.
    let page = app.get(&lm, "/settings/users?q=member7").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("AI Server"), "the seat is listed");
    assert!(html.contains("Recall"), "with its recall button");
    assert!(!html.contains("Reset password"), "no user management");
    assert!(!html.contains("Upload licenses"), "no upload");
    let html = app
        .get(&admin, "/settings/users?q=member7")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(html.contains("Reset password") && html.contains("Upload licenses"));
    assert_eq!(
        app.get(&user, "/settings/users").await.status(),
        StatusCode::FORBIDDEN
    );

    // A product with more holders than a page: its page lists them 50 at a time, by name.
    let mut crm = vendor.certificate(&app.state.installation_id, "personal");
    crm["product"] = "crm".into();
    crm["seats"] = 60.into();
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&[crm])).await;
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    let keys: Vec<String> = (0..u.len()).map(|i| format!("user_ids[{i}]")).collect();
    let mut form: Vec<(&str, &str)> = vec![("product", "crm")];
    form.extend(
        keys.iter()
            .map(String::as_str)
            .zip(u.iter().map(String::as_str)),
    );
    assert_eq!(
        counts(&app.call(&lm, "seats/apply", &form).await),
        (60, 50, 10)
    );
    let page = |n: &'static str| {
        let lm = lm.clone();
        let app = &app;
        async move {
            app.call(&lm, "seats/product", &[("product", "crm"), ("page", n)])
                .await
        }
    };
    let first = page("1").await;
    assert_eq!(first.body["holders_total"], 50);
    assert_eq!(first.body["holders"].as_array().map(Vec::len), Some(50));
    assert_eq!(first.body["holders"][0]["name"], "member0");
    assert_eq!(first.body["holders"][49]["name"], "member9");
    app.call(
        &lm,
        "seats/apply",
        &[("product", "crm"), ("user_ids[0]", manager_id.as_str())],
    )
    .await;
    let second = page("2").await;
    assert_eq!(second.body["holders_page"], 2);
    assert_eq!(second.body["holders"].as_array().map(Vec::len), Some(1));
    assert_eq!(second.body["holders"][0]["name"], "member9");
    // A page past the last shows the last.
    assert_eq!(page("9").await.body["holders_page"], 2);

    // Recalled from the list, user by user: the seat is free again.
    let r = seats(&app, &lm, "seats/recall", &[&u[7]]).await;
    assert_eq!(counts(&r), (5, 0, 5));
    let held = list(&lm, "member7", "1").await.body["users"][0]["seats"].clone();
    assert_eq!(held.as_array().map(Vec::len), Some(1), "{held:?}");
    assert_eq!(held[0]["product"], "crm", "ai-server's seat is gone");
    app.stop().await;
}

/// A product held by more users than a page's sort reads (`HOLDERS_SORTED_MAX`, 1,000): its
/// holders are found by asking each user in name order, and page the same. The picker looks
/// through the first `CANDIDATES_LOOKED_AT` users by name (all holders here, and before
/// "admin") and says that it stopped there; a search finds the others.
async fn many_holders_are_paged_by_name(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};
    use tessera::seats::model::CANDIDATES_LOOKED_AT;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let cert = vendor.certificate(&app.state.installation_id, "personal");
    let cert_id = cert["id"].as_str().unwrap().to_string();
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&[cert])).await;
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let tenant: String = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id FROM tenants WHERE is_default = true",
        ))
        .await
        .expect("a query")
        .expect("the default tenant")
        .try_get("", "id")
        .expect("its id");
    // Written straight to the database: 2,030 users through the API would hash 2,030 passwords.
    // Named to come before "admin".
    const N: usize = CANDIDATES_LOOKED_AT as usize + 30;
    let users: Vec<String> = (0..N)
        .map(|i| format!("('bulk-{i}', 'a-{i:04}', 'x', 'user', '{tenant}', false, 0)"))
        .collect();
    let held: Vec<String> = (0..N)
        .map(|i| format!("('seat-{i}', 'ai-server', '{cert_id}', 'bulk-{i}', 0, 'bulk-0')"))
        .collect();
    for sql in [
        format!(
            "INSERT INTO users (id, name, password_hash, role, tenant_id, disabled, created_at) \
             VALUES {}",
            users.join(", ")
        ),
        format!(
            "INSERT INTO seats (id, product, certificate_id, user_id, granted_at, granted_by) \
             VALUES {}",
            held.join(", ")
        ),
    ] {
        app.db.execute_unprepared(&sql).await.expect("rows written");
    }
    let page = async |n: &str| {
        let (names, body) = listed(&app, &admin, "seats/product", ("page", n), "holders").await;
        (body["holders_total"].as_u64(), names)
    };
    let expected = |from: usize, to: usize| -> Vec<String> {
        (from..to).map(|i| format!("a-{i:04}")).collect()
    };
    assert_eq!(page("1").await, (Some(N as u64), expected(0, 50)));
    assert_eq!(page("2").await, (Some(N as u64), expected(50, 100)));
    assert_eq!(page("41").await, (Some(N as u64), expected(2000, N)));

    let picker = async |q: &str| {
        let (names, body) = listed(&app, &admin, "seats/candidates", ("q", q), "users").await;
        (names, body["more"].as_bool())
    };
    // The first 2,000 by name all hold one: none offered, and the picker says it stopped.
    assert_eq!(picker("").await, (vec![], Some(true)));
    // A search reaches past them: 30 holders matched, none offered, nothing left unread.
    assert_eq!(picker("a-20").await, (vec![], Some(false)));
    app.db
        .execute_unprepared("DELETE FROM seats WHERE user_id = 'bulk-7'")
        .await
        .expect("a seat removed");
    assert_eq!(picker("").await, (expected(7, 8), Some(true)));
    assert_eq!(picker("a-000").await, (expected(7, 8), Some(false)));
    app.stop().await;
}

on_both_databases!(
    many_holders_are_paged_by_name,
    settings_users_lists_seats_and_gives_them_user_by_user,
    seats_are_given_and_recalled_and_every_refusal_changes_nothing,
    an_expired_personal_license_grants_nothing,
    two_administrators_applying_at_once_never_exceed_the_seats,
);
