//! Attacks on sign-in made over HTTP, as an outsider would (issue 20, items 1, 2, 3 and 9): a
//! burst that outruns the throttle, locking the owner out from elsewhere, spraying names from one
//! address, flooding the audit log, oversized input, and a queue of password checks.
use futures::future::join_all;
use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use tessera::auth::server::throttle::{ADDRESS_MAX, NAME_MAX, NAMES_PER_ADDRESS, PAIR_MAX};
use tessera::server::clock::Clock;

use crate::on_both_databases;
use crate::support::{ADMIN_PASSWORD, Backend, Reply, TestApp, serve};

const WINDOW_MS: i64 = 15 * 60 * 1000;

/// One sign-in to send: from `client` (its address), to the server at `base`.
struct Try {
    client: Client,
    base: String,
    name: String,
    password: String,
    forwarded_for: Option<String>,
}

impl Try {
    fn new(client: &Client, base: &str, name: &str, password: &str) -> Try {
        Try {
            client: client.clone(),
            base: base.to_string(),
            name: name.to_string(),
            password: password.to_string(),
            forwarded_for: None,
        }
    }

    fn forwarded_for(mut self, hops: &str) -> Try {
        self.forwarded_for = Some(hops.to_string());
        self
    }

    async fn send(&self) -> Reply {
        let mut req = self
            .client
            .post(format!("{}/api/login", self.base))
            .form(&[("user_name", &self.name), ("password", &self.password)]);
        if let Some(hops) = &self.forwarded_for {
            req = req.header("x-forwarded-for", hops);
        }
        Reply::read(req.send().await.expect("request")).await
    }
}

/// Sends every try at once. With `again_while_busy`, those refused because too many checks were
/// in line are sent again, all at once, until none is: what remains is the throttle's answer.
async fn burst(tries: &[Try], again_while_busy: bool) -> Vec<Reply> {
    let mut replies: Vec<Option<Reply>> = tries.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..tries.len()).collect();
    for _round in 0..200 {
        if pending.is_empty() {
            return replies.into_iter().flatten().collect();
        }
        let answers = join_all(pending.iter().map(|&i| tries[i].send())).await;
        let mut again = Vec::new();
        for (i, r) in pending.into_iter().zip(answers) {
            if again_while_busy && r.error() == Some("busy") {
                again.push(i);
            } else {
                replies[i] = Some(r);
            }
        }
        pending = again;
    }
    panic!("sign-ins were still refused as busy after 200 rounds");
}

fn count(replies: &[Reply], status: u16, error: &str) -> usize {
    replies
        .iter()
        .filter(|r| r.status.as_u16() == status && r.error() == Some(error))
        .count()
}

/// What each answer was, for a failed assertion's message.
fn summary(replies: &[Reply]) -> Vec<String> {
    replies
        .iter()
        .map(|r| format!("{} {}", r.status.as_u16(), r.error().unwrap_or("-")))
        .collect()
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let backend = app.db.get_database_backend();
    let row = app
        .db
        .query_one_raw(Statement::from_string(backend, sql.to_string()))
        .await
        .expect("query")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("a count")
}

/// Attempts for `name` the throttle holds (failed ones, and any in flight).
async fn attempts_of(app: &TestApp, name: &str) -> i64 {
    scalar(
        app,
        &format!("SELECT COUNT(*) AS n FROM login_failures WHERE user_name = '{name}'"),
    )
    .await
}

async fn sign_in_failed_entries(app: &TestApp) -> i64 {
    scalar(
        app,
        "SELECT COUNT(*) AS n FROM audit_log WHERE kind = 'sign_in_failed'",
    )
    .await
}

async fn login(client: &Client, base: &str, name: &str, password: &str) -> Reply {
    Try::new(client, base, name, password).send().await
}

/// Sends a request whose body the server refuses unread. The refusal is written before the body
/// is read, and the server then closes the connection with the body's rest unread: the client may
/// fail writing it (a broken pipe, a reset) before it reads the answer. Such a try is sent again,
/// up to ten times, until the answer is read; the answer is what the test checks.
async fn refused_unread(request: impl Fn() -> reqwest::RequestBuilder) -> Reply {
    let mut failures = Vec::new();
    for _ in 0..10 {
        match request().send().await {
            Ok(res) => return Reply::read(res).await,
            Err(e) => failures.push(e.to_string()),
        }
    }
    panic!("no answer was read in ten tries: {failures:?}");
}

/// Item 1: 64 wrong passwords for one name sent at once, half to each of two instances sharing
/// the database. Before: all 64 were checked (64 × 401). Now: exactly the limit (10) are, the
/// rest are refused before their password is checked.
async fn a_burst_of_wrong_passwords_is_checked_at_most_the_limit(backend: Backend) {
    let app = TestApp::start(backend).await;
    let other = app.another_instance(Clock::default()).await;
    let (other_base, other_server) = serve(other.clone()).await;
    let attacker = app.client();
    let tries: Vec<Try> = (0..64)
        .map(|i| {
            let base = if i % 2 == 0 { &app.base } else { &other_base };
            Try::new(&attacker, base, "admin", "wrong-password")
        })
        .collect();
    let replies = burst(&tries, true).await;
    let checked = count(&replies, 401, "bad_credentials");
    let throttled = count(&replies, 429, "too_many_attempts");
    assert_eq!(
        (checked, throttled),
        (PAIR_MAX, 64 - PAIR_MAX),
        "{:?}",
        summary(&replies)
    );
    assert_eq!(attempts_of(&app, "admin").await, PAIR_MAX as i64);
    let refused = replies
        .iter()
        .find(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .expect("a refusal");
    assert!(refused.headers.get("retry-after").is_some());

    // The right password is refused as well, from this address, until the window passes.
    let r = login(&attacker, &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.error(), Some("too_many_attempts"), "{:?}", r.body);
    app.state.clock.advance(WINDOW_MS + 1000);
    let r = login(&attacker, &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // The success took its own reservation back: only the ten failures remain.
    assert_eq!(attempts_of(&app, "admin").await, PAIR_MAX as i64);
    // And the sweeper forgets failures older than the window.
    app.sweep().await;
    assert_eq!(attempts_of(&app, "admin").await, 0);

    other_server.abort();
    other.close().await;
    app.stop().await;
}

/// Item 2: ten wrong passwords from one address used to lock `admin` out for everyone. Now the
/// owner, from another address, signs in; only a name tried from many addresses (50 attempts)
/// is refused for all. A forged `X-Forwarded-For` changes nothing without a trusted proxy.
async fn an_attacker_from_one_address_cannot_keep_the_owner_out(backend: Backend) {
    let app = TestApp::start(backend).await;
    let attacker = app.client_from("127.0.0.2");
    for i in 1..=PAIR_MAX {
        let r = login(&attacker, &app.base, "admin", "wrong-password").await;
        assert_eq!(r.error(), Some("bad_credentials"), "attempt {i}");
    }
    let r = login(&attacker, &app.base, "admin", "wrong-password").await;
    assert_eq!(r.error(), Some("too_many_attempts"), "{:?}", r.body);
    // Claiming to be someone else does not help: nobody trusted forwarded it.
    let r = Try::new(&attacker, &app.base, "admin", "wrong-password")
        .forwarded_for("198.51.100.9")
        .send()
        .await;
    assert_eq!(r.error(), Some("too_many_attempts"), "{:?}", r.body);

    let owner = app.client_from("127.0.0.3");
    let r = login(&owner, &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // From more addresses, the name's own cap: 50 failures in the window refuse it everywhere.
    let addresses = (NAME_MAX - PAIR_MAX) / PAIR_MAX;
    for a in 0..addresses {
        let from = app.client_from(&format!("127.0.0.{}", 4 + a));
        for _ in 0..PAIR_MAX {
            let r = login(&from, &app.base, "admin", "wrong-password").await;
            assert_eq!(r.error(), Some("bad_credentials"), "{:?}", r.body);
        }
    }
    let r = login(&owner, &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.error(), Some("too_many_attempts"), "{:?}", r.body);
    app.state.clock.advance(WINDOW_MS + 1000);
    let r = login(&owner, &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.stop().await;
}

/// Item 2, behind a proxy: with `TESSERA_TRUSTED_PROXIES`, the address the proxy forwarded is
/// the one throttled; what a client writes to the left of it is not believed.
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled(backend: Backend) {
    let app = TestApp::start_with(backend, &[("TESSERA_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let proxy = app.client();
    let attacker = |password: &str| {
        Try::new(&proxy, &app.base, "admin", password).forwarded_for("203.0.113.7")
    };
    for _ in 0..PAIR_MAX {
        let r = attacker("wrong-password").send().await;
        assert_eq!(r.error(), Some("bad_credentials"), "{:?}", r.body);
    }
    let r = attacker(ADMIN_PASSWORD).send().await;
    assert_eq!(r.error(), Some("too_many_attempts"), "{:?}", r.body);
    // A hop the attacker wrote before the proxy's is not the address.
    let r = Try::new(&proxy, &app.base, "admin", ADMIN_PASSWORD)
        .forwarded_for("198.51.100.9, 203.0.113.7")
        .send()
        .await;
    assert_eq!(r.error(), Some("too_many_attempts"), "{:?}", r.body);
    // The owner, forwarded from another address, signs in.
    let r = Try::new(&proxy, &app.base, "admin", ADMIN_PASSWORD)
        .forwarded_for("198.51.100.9")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // A client that is not the proxy is its own address, whatever it forwards.
    let direct = app.client_from("127.0.0.2");
    for i in 0..=PAIR_MAX {
        let r = Try::new(&direct, &app.base, "admin", "wrong-password")
            .forwarded_for(&format!("192.0.2.{i}"))
            .send()
            .await;
        let expected = if i < PAIR_MAX {
            "bad_credentials"
        } else {
            "too_many_attempts"
        };
        assert_eq!(r.error(), Some(expected), "attempt {i}: {:?}", r.body);
    }
    app.stop().await;
}

/// Item 2: password spraying, one wrong password for each of many names from one address, is
/// capped per address (50 in the window); another address is not affected.
async fn one_address_spraying_many_names_is_capped(backend: Backend) {
    let app = TestApp::start(backend).await;
    let sprayer = app.client_from("127.0.0.2");
    let tries: Vec<Try> = (0..64)
        .map(|i| Try::new(&sprayer, &app.base, &format!("user{i}"), "Winter2026!"))
        .collect();
    let replies = burst(&tries, true).await;
    assert_eq!(
        (
            count(&replies, 401, "bad_credentials"),
            count(&replies, 429, "too_many_attempts")
        ),
        (ADDRESS_MAX, 64 - ADDRESS_MAX),
        "{:?}",
        summary(&replies)
    );
    let r = login(&sprayer, &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.error(), Some("too_many_attempts"), "{:?}", r.body);
    let r = login(
        &app.client_from("127.0.0.3"),
        &app.base,
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.stop().await;
}

/// Item 3: 300 refused sign-ins for one name used to add 300 audit rows at once, and 300 made-up
/// names as many. Now nothing is added while the window is open; when it closes, one entry per
/// name and address carries the count, and an address's made-up names beyond 20 share one entry.
async fn refused_sign_ins_become_one_audit_entry_per_name_address_and_window(backend: Backend) {
    let app = TestApp::start(backend).await;
    // Start at the beginning of a window, so that the floods fall in one.
    let now = app.state.clock.now_ms();
    app.state
        .clock
        .advance(WINDOW_MS - now.rem_euclid(WINDOW_MS) + 1000);
    let before = sign_in_failed_entries(&app).await;

    let one_name = app.client();
    let made_up = app.client_from("127.0.0.2");
    for round in 0..10 {
        let tries: Vec<Try> = (0..30)
            .map(|_| Try::new(&one_name, &app.base, "admin", "wrong-password"))
            .chain((0..30).map(|i| {
                let name = format!("nobody-{}", round * 30 + i);
                Try::new(&made_up, &app.base, &name, "wrong-password")
            }))
            .collect();
        let replies = burst(&tries, false).await;
        assert!(
            replies
                .iter()
                .all(|r| matches!(r.status.as_u16(), 401 | 429)),
            "{:?}",
            summary(&replies)
        );
    }
    // While the window is open, nothing was written.
    assert_eq!(sign_in_failed_entries(&app).await, before);

    app.state.clock.advance(WINDOW_MS);
    app.sweep().await;
    let rows = entries(&app).await;
    let from = |address: &str| -> Vec<&(String, String, String, String)> {
        rows.iter().filter(|(_, s, _, _)| s == address).collect()
    };
    let admin = from("127.0.0.1");
    assert_eq!(admin.len(), 1, "{rows:?}");
    let (actor, _, detail, outcome) = admin[0];
    assert_eq!(
        (actor.as_str(), outcome.as_str()),
        ("admin", "bad_credentials")
    );
    assert!(detail.starts_with("300 refused sign-ins"), "{detail}");
    let sprayed = from("127.0.0.2");
    assert_eq!(sprayed.len() as u64, NAMES_PER_ADDRESS + 1, "{sprayed:?}");
    assert!(sprayed.iter().any(|(actor, _, _, _)| actor == "*"));
    let total: i64 = sprayed
        .iter()
        .map(|(_, _, detail, _)| {
            detail
                .split(' ')
                .next()
                .and_then(|n| n.parse::<i64>().ok())
                .expect("a count first")
        })
        .sum();
    assert_eq!(total, 300);
    // Another sweep adds nothing: each window is closed once.
    app.sweep().await;
    assert_eq!(
        sign_in_failed_entries(&app).await,
        before + 1 + NAMES_PER_ADDRESS as i64 + 1
    );
    app.stop().await;
}

/// The sign-in audit entries as (actor, subject, detail, outcome).
async fn entries(app: &TestApp) -> Vec<(String, String, String, String)> {
    let backend = app.db.get_database_backend();
    app.db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT actor_name, subject, detail, outcome FROM audit_log \
             WHERE kind = 'sign_in_failed' ORDER BY id"
                .to_string(),
        ))
        .await
        .expect("query")
        .into_iter()
        .map(|row| {
            let s = |c: &str| row.try_get::<String>("", c).expect("a column");
            (s("actor_name"), s("subject"), s("detail"), s("outcome"))
        })
        .collect()
}

/// Item 3: the CSV export is streamed a batch at a time (no length known up front), and walks
/// past the batch size without losing or repeating an entry.
async fn the_audit_csv_is_streamed_in_batches(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    let backend_kind = app.db.get_database_backend();
    for chunk in 0..5 {
        let values: Vec<String> = (0..500)
            .map(|i| {
                format!(
                    "({}, NULL, 'someone', 'sign_in_failed', '10.0.0.{}', 'made here', 'bad_credentials')",
                    1_795_996_800_000i64 + chunk * 500 + i,
                    i % 250
                )
            })
            .collect();
        app.db
            .execute_raw(Statement::from_string(
                backend_kind,
                format!(
                    "INSERT INTO audit_log (at, actor_id, actor_name, kind, subject, detail, outcome) VALUES {}",
                    values.join(", ")
                ),
            ))
            .await
            .expect("insert entries");
    }
    let stored = scalar(&app, "SELECT COUNT(*) AS n FROM audit_log").await;
    assert!(stored > 2500);
    let res = admin
        .get(format!("{}/settings/audit.csv", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("content-length").is_none(),
        "a streamed answer has no length up front: {:?}",
        res.headers()
    );
    let text = res.text().await.expect("the file");
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines[0], "id,time_utc,user,kind,subject,detail,outcome");
    let ids: Vec<i64> = lines[1..]
        .iter()
        .map(|l| {
            l.split(',')
                .next()
                .and_then(|id| id.parse().ok())
                .expect("an id")
        })
        .collect();
    assert_eq!(ids.len() as i64, stored);
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, once each"
    );
    // A filter that does not parse is refused before anything is sent.
    let res = admin
        .get(format!("{}/settings/audit.csv?from=yesterday", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

/// Item 9: a password longer than any that can be set is refused before it is checked or
/// counted; a server function's body past 64 KiB is refused unread (413), naming the limit;
/// the package upload still takes large files.
async fn oversized_input_is_refused_before_any_work(backend: Backend) {
    let app = TestApp::start(backend).await;
    let c = app.client();
    let long = "p".repeat(257);
    let r = login(&c, &app.base, "admin", &long).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.body["field"], "password");
    assert_eq!(r.body["problem"]["problem"], "too_long");
    assert_eq!(r.body["problem"]["max"], 256);
    assert_eq!(attempts_of(&app, "admin").await, 0, "not counted");

    let huge = "p".repeat(1024 * 1024);
    let r = refused_unread(|| {
        c.post(format!("{}/api/login", app.base))
            .form(&[("user_name", "admin"), ("password", huge.as_str())])
    })
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert_eq!(r.body["field"], "request");
    assert_eq!(r.body["problem"]["max"], 64 * 1024);
    assert_eq!(attempts_of(&app, "admin").await, 0, "not counted");
    let admin = app.admin().await;
    let name = "t".repeat(100 * 1024);
    let r = refused_unread(|| {
        admin
            .post(format!("{}/api/tenants/create", app.base))
            .header("origin", &app.base)
            .form(&[("name", name.as_str())])
    })
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    // Not a server function: a package of 100 KiB arrives, and is refused for what it is. The
    // answer can come before the form's closing boundary is read (it once failed the client
    // under load, IncompleteMessage): sent again as above.
    let refused = refused_unread(|| {
        let part = reqwest::multipart::Part::bytes(vec![b'x'; 100 * 1024]).file_name("package.lcs");
        admin
            .post(format!("{}/licenses/upload", app.base))
            .header("origin", &app.base)
            .multipart(reqwest::multipart::Form::new().part("package", part))
    })
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert_eq!(
        refused.error(),
        Some("package_refused"),
        "{:?}",
        refused.body
    );
    // The server reads the rest of the form before it answers: a field of 4 MiB after the package
    // is no reason to lose the answer, sent once (without that, hyper closed the connection with
    // the 4 MiB unread and the client, still writing, got a reset).
    let part = reqwest::multipart::Part::bytes(vec![b'x'; 100 * 1024]).file_name("package.lcs");
    let form = reqwest::multipart::Form::new()
        .part("package", part)
        .text("after", "y".repeat(4 * 1024 * 1024));
    let res = admin
        .post(format!("{}/licenses/upload", app.base))
        .header("origin", &app.base)
        .multipart(form)
        .send()
        .await
        .expect("the answer to an upload with a field after the package is read");
    let refused = Reply::read(res).await;
    assert_eq!(
        refused.error(),
        Some("package_refused"),
        "{:?}",
        refused.body
    );
    app.stop().await;
}

/// Item 9: 96 sign-ins at once, each from its own address: those beyond the line of password
/// checks are answered 429 with `Retry-After` at once instead of waiting without bound.
async fn sign_ins_beyond_the_line_are_refused_with_retry_after(backend: Backend) {
    let app = TestApp::start(backend).await;
    let tries: Vec<Try> = (0..96)
        .map(|i| {
            let from = app.client_from(&format!("127.0.1.{}", i + 1));
            Try::new(&from, &app.base, &format!("user{i}"), "wrong-password")
        })
        .collect();
    let replies = burst(&tries, false).await;
    let busy: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.error() == Some("busy"))
        .collect();
    assert!(!busy.is_empty(), "{:?}", summary(&replies));
    for r in &busy {
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers["retry-after"], "1");
    }
    assert_eq!(
        busy.len() + count(&replies, 401, "bad_credentials"),
        96,
        "{:?}",
        summary(&replies)
    );
    // Refused at once, they were not counted as attempts.
    let counted = scalar(&app, "SELECT COUNT(*) AS n FROM login_failures").await;
    assert_eq!(counted as usize, 96 - busy.len());
    // Once the line is through, signing in works.
    let r = login(&app.client(), &app.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.stop().await;
}

on_both_databases!(
    a_burst_of_wrong_passwords_is_checked_at_most_the_limit,
    an_attacker_from_one_address_cannot_keep_the_owner_out,
    behind_a_trusted_proxy_the_forwarded_address_is_throttled,
    one_address_spraying_many_names_is_capped,
    refused_sign_ins_become_one_audit_entry_per_name_address_and_window,
    the_audit_csv_is_streamed_in_batches,
    oversized_input_is_refused_before_any_work,
    sign_ins_beyond_the_line_are_refused_with_retry_after,
);
