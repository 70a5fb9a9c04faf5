//! The ledger's reads agree with its pure rules, on the database itself.
use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    Statement,
};
use tessera::ledger::status::{expire_ranks, live_count, status_condition};
use tessera::licenses::domain::{Status, status};
use tessera::licenses::entity::{certificate, package};
use tessera::licenses::format::{Binding, LicenseType};

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

/// Every combination of what decides a certificate's status (activated or not; an expiry in the
/// past, exactly now, in the future or none; permanent; revoked; ended; `not_after` past, exactly
/// now, future or none), 256 certificates: the SQL condition of each status selects exactly those
/// the pure `status` gives it, so the list's status filter and sort say what the pages say.
async fn the_sql_status_condition_agrees_with_the_pure_status(backend: Backend) {
    let app = TestApp::start(backend).await;
    let db = &app.db;
    package::ActiveModel {
        id: Set("p".into()),
        file_name: Set("p.lcs".into()),
        sha256: Set(String::new()),
        uploaded_by: Set("test".into()),
        uploaded_at: Set(NOW),
        certificate_count: Set(256),
    }
    .insert(db)
    .await
    .expect("a package");
    let times = [None, Some(NOW - DAY), Some(NOW), Some(NOW + DAY)];
    let mut made = Vec::new();
    for activated in [false, true] {
        for expires_at in times {
            for permanent in [false, true] {
                for revoked in [false, true] {
                    for ended in [false, true] {
                        for not_after_at in times {
                            let id = format!("c{:03}", made.len());
                            let c = certificate::ActiveModel {
                                id: Set(id.clone()),
                                package_id: Set("p".into()),
                                block: Set(made.len() as i32),
                                kid: Set("k".into()),
                                payload: Set("{}".into()),
                                sig: Set(String::new()),
                                product: Set("ai".into()),
                                product_name: Set("AI".into()),
                                license_type: Set("agent".into()),
                                mode: Set("subscription".into()),
                                validity_days: Set(Some(30)),
                                not_before: Set(None),
                                not_before_at: Set(None),
                                not_after: Set(None),
                                not_after_at: Set(not_after_at),
                                seats: Set(None),
                                binding: Set(Some("floating".into())),
                                feature: Set(None),
                                tenant_id: Set(None),
                                company_id: Set("acme".into()),
                                issued_at: Set("2026-01-01T00:00:00Z".into()),
                                revokes: Set("[]".into()),
                                installed_at: Set(NOW - 2 * DAY),
                                activated_at: Set(activated.then_some(NOW - 2 * DAY)),
                                expires_at: Set(expires_at),
                                permanent: Set(permanent),
                                assigned_tenant_id: Set(None),
                                bound_agent_id: Set(None),
                                revoked_by: Set(revoked.then(|| "r".to_string())),
                                ended_reason: Set(ended.then(|| "agent_deleted".to_string())),
                                lease_held_until: Set(None),
                            }
                            .insert(db)
                            .await
                            .expect("a certificate");
                            made.push(c);
                        }
                    }
                }
            }
        }
    }
    assert_eq!(made.len(), 256);
    let mut seen = 0;
    for s in [
        Status::Unused,
        Status::Activated,
        Status::Expired,
        Status::Revoked,
    ] {
        let mut by_sql: Vec<String> = certificate::Entity::find()
            .select_only()
            .column(certificate::Column::Id)
            .filter(status_condition(s, NOW))
            .filter(certificate::Column::PackageId.eq("p"))
            .into_tuple()
            .all(db)
            .await
            .expect("the status query");
        by_sql.sort();
        let by_rule: Vec<String> = made
            .iter()
            .filter(|c| status(&c.state(), NOW) == s)
            .map(|c| c.id.clone())
            .collect();
        assert_eq!(by_sql, by_rule, "{s:?}");
        assert!(!by_rule.is_empty(), "{s:?}: the combinations reach it");
        seen += by_rule.len();
    }
    assert_eq!(seen, 256, "each certificate has exactly one status");

    // The stored rank the list sorts by (migration 25): kept by the database on insert, by the
    // sweeper for what time changes; the same as the pure status's place, at each step.
    expire_ranks(&app.state.ledger, NOW)
        .await
        .expect("lapsed ranks");
    assert_ranks(db, &made, NOW).await;
    assert_pool_counts(db, "made").await;
    // Every row written again, its revocation and end taken back: the update keeps the rank.
    certificate::Entity::update_many()
        .col_expr(
            certificate::Column::RevokedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            certificate::Column::EndedReason,
            Expr::value(Option::<String>::None),
        )
        .filter(certificate::Column::PackageId.eq("p"))
        .exec(db)
        .await
        .expect("taken back");
    let made: Vec<certificate::Model> = certificate::Entity::find()
        .filter(certificate::Column::PackageId.eq("p"))
        .all(db)
        .await
        .expect("the certificates");
    expire_ranks(&app.state.ledger, NOW)
        .await
        .expect("lapsed ranks");
    assert_ranks(db, &made, NOW).await;
    assert_pool_counts(db, "taken back").await;
    // Two days on, the live count is right before the sweeper's round marks what lapsed; the
    // round moves what lapsed, and only that.
    let later = NOW + 2 * DAY;
    let live_at = |now: i64| {
        made.iter()
            .filter(|c| matches!(status(&c.state(), now), Status::Unused | Status::Activated))
            .count() as u64
    };
    assert_ne!(
        live_at(NOW),
        live_at(later),
        "some live licenses lapse in two days"
    );
    for now in [NOW, later] {
        let live = live_count(db, LicenseType::Agent, Some(Binding::Floating), now)
            .await
            .expect("the live count");
        assert_eq!(live, live_at(now), "live at {now}, before the sweep");
    }
    let lapsed = expire_ranks(&app.state.ledger, later)
        .await
        .expect("lapsed ranks");
    assert!(lapsed > 0, "some licenses lapse in two days");
    assert_ranks(db, &made, later).await;
    assert_pool_counts(db, "lapsed").await;
    let live = live_count(db, LicenseType::Agent, Some(Binding::Floating), later)
        .await
        .expect("the live count");
    assert_eq!(live, live_at(later), "live after the sweep");
    // Moved to a tenant, and every license deleted: the counts follow.
    certificate::Entity::update_many()
        .col_expr(certificate::Column::AssignedTenantId, Expr::value("t"))
        .filter(certificate::Column::Id.lt("c100"))
        .exec(db)
        .await
        .expect("assigned");
    assert_pool_counts(db, "assigned").await;
    certificate::Entity::delete_many()
        .exec(db)
        .await
        .expect("deleted");
    assert_pool_counts(db, "deleted").await;
    let live = live_count(db, LicenseType::Agent, Some(Binding::Floating), later)
        .await
        .expect("the live count");
    assert_eq!(live, 0, "none left");
    assert_eq!(
        expire_ranks(&app.state.ledger, later).await.expect("again"),
        0,
        "once"
    );
    app.stop().await;
}

/// The live count the database keeps for each pool (migration 28) is the count of the licenses
/// whose stored rank is live (Unused or Activated), pool by pool, whatever wrote them.
pub async fn assert_pool_counts(db: &impl ConnectionTrait, ctx: &str) {
    let read = |sql: &'static str| async move {
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("the counts")
            .into_iter()
            .map(|r| {
                (
                    (
                        r.try_get_by_index::<String>(0).expect("type"),
                        r.try_get_by_index::<String>(1).expect("binding"),
                        r.try_get_by_index::<String>(2).expect("tenant"),
                    ),
                    r.try_get_by_index::<i64>(3).expect("count"),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    let kept = read(
        "SELECT license_type, binding, tenant_id, live FROM certificate_counts WHERE live <> 0",
    )
    .await;
    let counted = read(
        "SELECT license_type, COALESCE(binding, ''), COALESCE(assigned_tenant_id, ''), \
         COUNT(*) FROM certificates WHERE status_rank < 2 \
         GROUP BY license_type, COALESCE(binding, ''), COALESCE(assigned_tenant_id, '')",
    )
    .await;
    assert_eq!(kept, counted, "{ctx}: each pool's live count");
}

/// The stored rank of each certificate is its status's place at `now`.
async fn assert_ranks(db: &impl ConnectionTrait, made: &[certificate::Model], now: i64) {
    let stored: HashMap<String, i64> = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, status_rank FROM certificates WHERE package_id = 'p'",
        ))
        .await
        .expect("the ranks")
        .into_iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).expect("id"),
                i64::from(r.try_get_by_index::<i16>(1).expect("rank")),
            )
        })
        .collect();
    for c in made {
        let rank = match status(&c.state(), now) {
            Status::Unused => 0,
            Status::Activated => 1,
            Status::Expired => 2,
            Status::Revoked => 3,
        };
        assert_eq!(
            stored.get(&c.id),
            Some(&rank),
            "{} at {now}: {:?}",
            c.id,
            c.state()
        );
    }
}

on_both_databases!(the_sql_status_condition_agrees_with_the_pure_status);
