//! Each pool's count of live licenses, kept by the database (issue 24, item 1): Settings >
//! Agents counted every floating agent license on each load (500,000 licenses: 57 ms through a
//! covering index, linear in the pool).
//!
//! `certificate_counts` holds, for each license type, binding and tenant (`''` for none), how
//! many of its licenses have a live stored rank (Unused or Activated: `status_rank < 2`,
//! migration 25). Triggers keep it on every insert, delete and change of a column it reads,
//! whichever code writes; a checkout's claim changes none of them (activation moves the rank from
//! Unused to Activated, both live), so the storm of first checkouts never writes a counter row.
//! What time alone changes is the stored rank's lapse: a reader subtracts the few licenses whose
//! rank has lapsed and that the sweeper has not marked yet (`ledger::status::live_count`), read
//! through the index of the time ranks lapse.
//!
//! Lock order on PostgreSQL: a change that moves a license between counts holds the
//! installation row first (every administrative change, and the sweeper's lapse of ranks), so two
//! such changes never take the same counter rows in opposite orders.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CertificateCounts {
    Table,
    LicenseType,
    Binding,
    TenantId,
    Live,
}

/// A row's count key (`row` is `new.` or `old.`, or empty in the backfill).
fn key(row: &str) -> String {
    format!("{row}license_type, COALESCE({row}binding, ''), COALESCE({row}assigned_tenant_id, '')")
}

/// The statement adding one to the count of `row`'s key.
fn add(row: &str) -> String {
    format!(
        "INSERT INTO certificate_counts (license_type, binding, tenant_id, live) \
         SELECT {}, 1 WHERE {row}status_rank < 2 \
         ON CONFLICT (license_type, binding, tenant_id) \
         DO UPDATE SET live = certificate_counts.live + 1;",
        key(row)
    )
}

/// The statement taking one from the count of `row`'s key.
fn take(row: &str) -> String {
    format!(
        "UPDATE certificate_counts SET live = live - 1 \
         WHERE {row}status_rank < 2 AND (license_type, binding, tenant_id) = ({});",
        key(row)
    )
}

/// The columns a count reads: a change of none of them leaves every count as it is.
const READ: &str = "license_type, binding, assigned_tenant_id, status_rank";

/// The condition under which an update moves a license between counts (or in or out of one).
fn moved(old: &str, new: &str, distinct: &str) -> String {
    format!(
        "({old}status_rank < 2) {distinct} ({new}status_rank < 2) \
         OR {old}license_type {distinct} {new}license_type \
         OR {old}binding {distinct} {new}binding \
         OR {old}assigned_tenant_id {distinct} {new}assigned_tenant_id"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CertificateCounts::Table)
                    .col(
                        ColumnDef::new(CertificateCounts::LicenseType)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(CertificateCounts::Binding).text().not_null())
                    .col(
                        ColumnDef::new(CertificateCounts::TenantId)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CertificateCounts::Live)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CertificateCounts::LicenseType)
                            .col(CertificateCounts::Binding)
                            .col(CertificateCounts::TenantId),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "INSERT INTO certificate_counts (license_type, binding, tenant_id, live) \
             SELECT {key}, COUNT(*) FROM certificates WHERE status_rank < 2 GROUP BY {key}",
            key = key("")
        ))
        .await?;
        if manager.get_database_backend() == DbBackend::Sqlite {
            let (add_new, take_old) = (add("new."), take("old."));
            for (name, event, body) in [
                ("insert", "INSERT".to_string(), add_new.clone()),
                ("delete", "DELETE".to_string(), take_old.clone()),
                (
                    "update",
                    format!("UPDATE OF {READ}"),
                    format!("{take_old} {add_new}"),
                ),
            ] {
                let when = if name == "update" {
                    format!("WHEN {}", moved("old.", "new.", "IS NOT"))
                } else {
                    String::new()
                };
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER certificate_counts_{name} AFTER {event} ON certificates \
                     {when} BEGIN {body} END"
                ))
                .await?;
            }
        } else {
            db.execute_unprepared(&format!(
                "CREATE FUNCTION certificate_counts() RETURNS trigger AS $$ BEGIN \
                 IF TG_OP <> 'INSERT' THEN {} END IF; \
                 IF TG_OP <> 'DELETE' THEN {} END IF; \
                 RETURN NULL; END $$ LANGUAGE plpgsql",
                take("OLD."),
                add("NEW.")
            ))
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER certificate_counts AFTER INSERT OR DELETE ON certificates \
                 FOR EACH ROW EXECUTE FUNCTION certificate_counts()",
            )
            .await?;
            // Every update, the claim's included, asks the condition; only a move calls the
            // function (the rank is set by a BEFORE trigger: NEW is the row as stored).
            db.execute_unprepared(&format!(
                "CREATE TRIGGER certificate_counts_update AFTER UPDATE ON certificates \
                 FOR EACH ROW WHEN ({}) EXECUTE FUNCTION certificate_counts()",
                moved("OLD.", "NEW.", "IS DISTINCT FROM")
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Sqlite {
            for name in ["insert", "delete", "update"] {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS certificate_counts_{name}"))
                    .await?;
            }
        } else {
            for name in ["certificate_counts", "certificate_counts_update"] {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name} ON certificates"))
                    .await?;
            }
            db.execute_unprepared("DROP FUNCTION IF EXISTS certificate_counts()")
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table(CertificateCounts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
