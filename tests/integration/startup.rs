//! First start and configuration.
use tessera::server::{self, clock::Clock, config::Config};

use crate::on_both_databases;
use crate::support::{Backend, TestApp, Vendor, plan_of};

async fn the_installation_id_is_made_once_and_kept(backend: Backend) {
    let app = TestApp::start(backend).await;
    let first = app.state.installation_id.to_string();
    assert_eq!(
        uuid::Uuid::parse_str(&first).map(|u| u.get_version_num()),
        Ok(4)
    );
    // Starting again on the same database finds the same installation, tenant and administrator.
    let config = (*app.state.config).clone();
    let again = server::prepare(config, Clock::default()).await.unwrap();
    assert_eq!(&*again.installation_id, first.as_str());
    let tenants = tessera::tenants::store::all(&app.db).await.unwrap();
    assert_eq!(tenants.len(), 1);
    assert!(tenants[0].is_default);
    assert_eq!(tenants[0].name, "Default");
    again.close().await;
    app.admin().await;
    app.stop().await;
}

/// An installation upgraded from before `not_before_at` existed has it filled in from the
/// `not_before` its certificates were stored with (a bare date: the start of that day, UTC).
async fn an_upgrade_reads_the_stored_not_before(backend: Backend) {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::EntityTrait;
    use tessera::licenses::entity::certificate;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let dated = |not_before: &str| {
        let mut c = vendor.certificate(&inst, "agent");
        c["not_before"] = not_before.into();
        c
    };
    let certs = [
        dated("2027-01-01"),
        dated("2027-03-01T12:00:00+02:00"),
        vendor.certificate(&inst, "agent"),
    ];
    let (id, _) = app.upload_outcome(&admin, &vendor.package(&certs)).await;
    app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    let stored = || async {
        let mut rows: Vec<(String, Option<i64>)> = certificate::Entity::find()
            .all(&app.db)
            .await
            .expect("certificates")
            .into_iter()
            .map(|c| (c.id, c.not_before_at))
            .collect();
        rows.sort();
        rows
    };
    let expected = {
        let mut e: Vec<(String, Option<i64>)> = certs
            .iter()
            .zip([Some(1_798_761_600_000), Some(1_803_895_200_000), None])
            .map(|(c, at)| (c["id"].as_str().unwrap().to_string(), at))
            .collect();
        e.sort();
        e
    };
    assert_eq!(stored().await, expected, "as uploaded");

    // Back to the schema before the column (and every migration after it), then up again.
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let since = names
        .iter()
        .position(|n| n.ends_with("_not_before"))
        .expect("the not_before migration");
    let steps = u32::try_from(names.len() - since).expect("a few migrations");
    Migrator::down(&app.db, Some(steps)).await.expect("down");
    assert!(
        certificate::Entity::find().all(&app.db).await.is_err(),
        "the column is gone"
    );
    Migrator::up(&app.db, None).await.expect("up");
    assert_eq!(stored().await, expected, "filled in by the migration");
    app.stop().await;
}

/// Certificate ids stored in upper case by an earlier version are rewritten in lower case, with
/// every reference to them; a package naming them in any case then finds them.
async fn an_upgrade_lower_cases_the_stored_certificate_ids(backend: Backend) {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, EntityTrait};
    use tessera::licenses::entity::certificate;
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(backend, &vendor, &[]).await;
    let admin = app.admin().await;
    let inst = app.state.installation_id.to_string();
    let personal = vendor.certificate(&inst, "personal");
    let later = vendor.certificate(&inst, "agent");
    let mut revoker = vendor.certificate(&inst, "agent");
    revoker["revokes"] = serde_json::json!([later["id"]]);
    let package = vendor.package(&[personal.clone(), revoker]);
    let (id, _) = app.upload_outcome(&admin, &package).await;
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);
    let worker = app.create_user(&admin, "worker", "user").await;
    let r = app
        .call(
            &admin,
            "seats/apply",
            &[("product", "ai-server"), ("user_ids[0]", worker.as_str())],
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);

    // As an earlier version could have stored them: in upper case.
    for sql in [
        "UPDATE certificates SET id = UPPER(id), revokes = UPPER(revokes)",
        "UPDATE seats SET certificate_id = UPPER(certificate_id)",
    ] {
        app.db.execute_unprepared(sql).await.expect(sql);
    }
    // Back to before the lower-casing migration (and those after it), then up again.
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let at = names
        .iter()
        .position(|n| n == "m20261202_000014_lower_case_ids")
        .expect("the migration");
    let undone = u32::try_from(names.len() - at).expect("a few");
    Migrator::down(&app.db, Some(undone)).await.expect("down");
    Migrator::up(&app.db, None).await.expect("up");

    let ids: Vec<String> = certificate::Entity::find()
        .all(&app.db)
        .await
        .expect("certificates")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| *id == id.to_lowercase()), "{ids:?}");
    // The seat still counts against its license; the same package is installed already; the
    // license the stored revoker withdraws arrives withdrawn.
    let page = app
        .call(&admin, "seats/product", &[("product", "ai-server")])
        .await;
    assert_eq!(page.body["count"]["used"], 1, "{:?}", page.body);
    let (id, _) = app.upload_outcome(&admin, &package).await;
    let r = app.call(&admin, "licenses/confirm", &[("id", &id)]).await;
    assert_eq!(
        (
            r.body["installed"].as_u64(),
            r.body["already_installed"].as_u64()
        ),
        (Some(0), Some(2)),
        "{:?}",
        r.body
    );
    let (_, preview) = app.upload_outcome(&admin, &vendor.package(&[later])).await;
    assert_eq!(
        preview["items"][0]["effect"]["effect"], "arrives_revoked",
        "{preview}"
    );
    app.stop().await;
}

/// `/readyz` answers 200 `ready` while the database holds this build's schema; with the last
/// migration rolled back, 503 naming it (and `tessera healthcheck` exits 1 saying so); once
/// migrated again, ready. Anyone may ask, signed in or not.
async fn readiness_names_a_schema_that_is_not_current(backend: Backend) {
    use migration::{Migrator, MigratorTrait};
    let app = TestApp::start(backend).await;
    let url = format!("{}/readyz", app.base);
    let ask = async || {
        let r = reqwest::get(&url).await.expect("it answers");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    let healthcheck = async || {
        let args = ["healthcheck".to_string(), "--url".to_string(), url.clone()];
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
                .args(args)
                .output()
                .expect("tessera runs")
        })
        .await
        .expect("joined");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert_eq!(ask().await, (200, "ready".to_string()));
    let (code, stdout, _) = healthcheck().await;
    assert_eq!((code, stdout.trim()), (Some(0), "ready"));

    // Signed in before: a schema one migration behind may not serve a sign-in.
    let admin = app.admin().await;
    Migrator::down(&app.db, Some(1)).await.expect("down");
    let last = Migrator::migrations()
        .last()
        .map(|m| m.name().to_string())
        .expect("migrations");
    let (status, body) = ask().await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains(&last) && body.contains("tessera migrate"),
        "names the migration pending and what to run: {body}"
    );
    let signed_in = admin.get(&url).send().await.expect("it answers");
    assert_eq!(signed_in.status().as_u16(), 503, "the same, signed in");
    let (code, _, stderr) = healthcheck().await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("503") && stderr.contains(&last), "{stderr}");

    Migrator::up(&app.db, None).await.expect("up");
    assert_eq!(ask().await, (200, "ready".to_string()));
    app.stop().await;
}

on_both_databases!(
    readiness_names_a_schema_that_is_not_current,
    the_installation_id_is_made_once_and_kept,
    an_upgrade_lower_cases_the_stored_certificate_ids,
    an_upgrade_reads_the_stored_not_before,
);

#[tokio::test]
async fn an_unreachable_database_stops_start_up_naming_it() {
    let config = Config::from_lookup(|k| {
        (k == "TESSERA_DATABASE_URL").then(|| "postgres://nobody@127.0.0.1:1/none".to_string())
    })
    .unwrap();
    let err = match server::prepare(config, Clock::default()).await {
        Ok(_) => panic!("started on an unreachable database"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with("TESSERA_DATABASE_URL: cannot connect"),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}

/// An agent of tenant `t1`, as the ledger reads it, for building its questions.
fn an_agent() -> tessera::agents::entity::Model {
    tessera::agents::entity::Model {
        id: "a1".into(),
        tenant_id: "t1".into(),
        machine_id: "m1".into(),
        token_hash: String::new(),
        state: "running".into(),
        license_id: None,
        refused_count: 0,
        last_seen_at: 0,
        created_at: 0,
        registration_open: false,
        borrowed_until: None,
        license_held_until: None,
    }
}

/// On PostgreSQL a floating-license claim reads its index in the order it takes licenses, with
/// no sort of every free license (its planner does not take `IS NULL` for a constant: the
/// question names those columns in its order, so that it need not). Told not to read the table
/// (it is near empty here), the planner shows whether the index alone gives the order.
#[tokio::test]
async fn a_claim_on_postgresql_reads_its_index_in_order() {
    use sea_orm::{ConnectionTrait, QuerySelect, QueryTrait};
    use tessera::ledger::holdings::{Pool, free_in};
    let app = TestApp::start(Backend::Postgres).await;
    let backend = app.db.get_database_backend();
    let now = app.state.clock.now_ms();
    for pool in [Pool::Tenant, Pool::Shared] {
        let query = free_in(pool, &an_agent(), now).limit(1).build(backend);
        let txn = tessera::server::db::begin_write(&app.db)
            .await
            .expect("a transaction");
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await
            .expect("set");
        let plan = plan_of(&txn, &query).await;
        txn.rollback().await.expect("rollback");
        assert_claim_reads_the_index(&plan, &format!("{pool:?}"));
    }
    app.stop().await;
}

/// Right after a package installs 1,000 floating licenses, PostgreSQL's planner knows them: the
/// claim reads the free licenses' index in its order, as chosen from statistics (no setting
/// tells it not to read the table). Before `ANALYZE` followed each confirmed package, the planner
/// took the fresh table for near empty, sorted every free license for each claim (600 ms at
/// 20,000) and a Monday morning of 20,000 agents took 573 s.
#[tokio::test]
async fn after_an_upload_postgresql_plans_the_claim_from_what_is_installed() {
    use sea_orm::{ConnectionTrait, QuerySelect, QueryTrait};
    use tessera::ledger::holdings::{Pool, free_in};
    let vendor = Vendor::new(1);
    let app = TestApp::start_with_vendor(Backend::Postgres, &vendor, &[]).await;
    crate::agents::install_floating(&app, &vendor, 1_000).await;
    let backend = app.db.get_database_backend();
    let known = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'certificates'",
        ))
        .await
        .expect("the statistics")
        .and_then(|row| row.try_get_by_index::<i64>(0).ok());
    assert_eq!(known, Some(1_000), "the planner counts what was installed");
    let query = free_in(Pool::Shared, &an_agent(), app.state.clock.now_ms())
        .limit(1)
        .build(backend);
    let plan = plan_of(&app.db, &query).await;
    assert_claim_reads_the_index(&plan, "after an upload");
    app.stop().await;
}

/// A claim's plan reads the free licenses' index in its order: no sort of what it found.
fn assert_claim_reads_the_index(plan: &[String], case: &str) {
    assert!(
        plan.iter()
            .any(|l| l.contains("Index Scan using idx_certificates_free_floating"))
            && !plan.iter().any(|l| l.contains("Sort")),
        "{case}: {plan:?}"
    );
}

/// The two questions asked often of a large certificates table are answered from indexes, never
/// by scanning every certificate with its payload (SQLite's plans; PostgreSQL's depend on the
/// table's size): each upload's "which certificates withdraw others" (its partial index), and each
/// sweep's "which waiting ones fell due" (an index; on an empty table SQLite may prefer the type's
/// to `idx_certificates_waiting`), and a floating-license claim's look in either pool (its index,
/// in the order it takes licenses: no sort of every free license).
#[tokio::test]
async fn frequent_questions_are_read_through_their_indexes() {
    use sea_orm::{EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
    use tessera::ledger::holdings::{Pool, free_in};
    use tessera::ledger::{packages::revokers, platform::due_condition};
    use tessera::licenses::entity::certificate;
    let app = TestApp::start(Backend::Sqlite).await;
    let db = &app.db;
    let backend = db.get_database_backend();
    let due = certificate::Entity::find()
        .select_only()
        .column(certificate::Column::Id)
        .filter(due_condition(app.state.clock.now_ms()));
    let agent = an_agent();
    let now = app.state.clock.now_ms();
    let claim = |pool| free_in(pool, &agent, now).limit(1).build(backend);
    // The Licenses list sorted by status, a page deep, either way: its ids in the rank's index.
    let by_status = |order: sea_orm::Order| {
        certificate::Entity::find()
            .select_only()
            .column(certificate::Column::Id)
            .order_by(
                sea_orm::sea_query::Expr::col(sea_orm::sea_query::Alias::new(
                    tessera::ledger::status::RANK_COLUMN,
                )),
                order.clone(),
            )
            .order_by(certificate::Column::Id, order)
            .limit(50)
            .offset(1000)
            .build(backend)
    };
    // The sweeper's lapse of ranks reads the index of the time they lapse.
    let lapse = plan_of(
        db,
        &sea_orm::Statement::from_string(
            backend,
            format!("UPDATE certificates SET status_rank = 2 WHERE status_rank_until <= {now}"),
        ),
    )
    .await
    .into_iter()
    .next()
    .unwrap_or_default();
    assert!(
        // Covering since the pools' count triggers (migration 28): the rows are found first.
        lapse.contains("INDEX idx_certificates_status_rank_until"),
        "{lapse}"
    );
    for (query, index) in [
        (
            claim(Pool::Tenant),
            "USING INDEX idx_certificates_free_floating",
        ),
        (
            claim(Pool::Shared),
            "USING INDEX idx_certificates_free_floating",
        ),
        (
            revokers().build(backend),
            // Covering or not: the rows it names are the few revokers.
            "INDEX idx_certificates_revokers",
        ),
        (due.build(backend), "USING INDEX idx_certificates_"),
        (
            by_status(sea_orm::Order::Asc),
            "USING COVERING INDEX idx_certificates_status_rank",
        ),
        (
            by_status(sea_orm::Order::Desc),
            "USING COVERING INDEX idx_certificates_status_rank",
        ),
    ] {
        let detail = plan_of(db, &query).await;
        let full_scan = detail.iter().any(|d| d == "SCAN certificates");
        let sorted = detail.iter().any(|d| d.contains("TEMP B-TREE"));
        assert!(
            detail.iter().any(|d| d.contains(index)) && !full_scan && !sorted,
            "{index}: {detail:?}"
        );
    }
    app.stop().await;
}

/// SQLite plans a statement once, for any values bound to it: a question asked again with its
/// `LIMIT ?` bound again (as sea-orm's `.one()` is on every call) is not prepared again. Without
/// the planner's stability guarantee (`server::db`) each execution parsed and planned it anew.
#[tokio::test]
async fn sqlite_prepares_a_question_once_whatever_its_limit() {
    use libsqlite3_sys as ffi;
    let app = TestApp::start(Backend::Sqlite).await;
    let mut conn = app
        .db
        .get_sqlite_connection_pool()
        .acquire()
        .await
        .expect("a connection of the pool");
    let mut handle = conn.lock_handle().await.expect("its handle");
    let db = handle.as_raw_handle().as_ptr();
    let sql = c"SELECT id FROM certificates ORDER BY id LIMIT ?1";
    let mut stmt = std::ptr::null_mut();
    // SAFETY: `db` is the connection's open handle, locked; `stmt` is prepared here, used only
    // while `db` is, and finalized before the lock is given back.
    let reprepared = unsafe {
        let rc = ffi::sqlite3_prepare_v3(
            db,
            sql.as_ptr(),
            -1,
            ffi::SQLITE_PREPARE_PERSISTENT,
            &mut stmt,
            std::ptr::null_mut(),
        );
        assert_eq!(rc, ffi::SQLITE_OK, "the question is prepared");
        for limit in [1, 1, 50] {
            assert_eq!(ffi::sqlite3_bind_int64(stmt, 1, limit), ffi::SQLITE_OK);
            assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_DONE, "no certificates");
            assert_eq!(ffi::sqlite3_reset(stmt), ffi::SQLITE_OK);
        }
        let reprepared = ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0);
        ffi::sqlite3_finalize(stmt);
        reprepared
    };
    assert_eq!(reprepared, 0, "prepared again {reprepared} times");
}

/// A transaction Tessera begins holds SQLite's write lock from its `BEGIN`, before any statement:
/// one that took it at its first write could read, see another connection commit, and then fail
/// at once with "database is locked" (no busy timeout helps a stale snapshot). An administrator's
/// save failed so, in a browser test, while agents' last-seen times were being written. Here a
/// second connection that does not wait is refused the lock while the transaction is open, and
/// gets it once it has committed.
#[tokio::test]
async fn a_transaction_holds_sqlites_write_lock_from_its_begin() {
    use sea_orm::sqlx::{Connection, sqlite::SqliteConnectOptions};
    use std::str::FromStr;
    let app = TestApp::start(Backend::Sqlite).await;
    let options = SqliteConnectOptions::from_str(&app.database_url)
        .expect("the test's database")
        .busy_timeout(std::time::Duration::ZERO);
    let mut other = sea_orm::sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("a connection of its own");
    let txn = server::db::begin_write(&app.db)
        .await
        .expect("a transaction");
    let refused = sea_orm::sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect_err("the write lock is the transaction's");
    assert!(
        refused.to_string().contains("database is locked"),
        "{refused}"
    );
    txn.commit().await.expect("commit");
    sea_orm::sqlx::raw_sql("BEGIN IMMEDIATE; ROLLBACK")
        .execute(&mut other)
        .await
        .expect("the lock is free once it committed");
}
