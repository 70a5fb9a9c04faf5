//! A stored status rank, so the Licenses list sorts by status through an index (issue 24): at
//! 50,000 certificates the sort by status computed a `CASE` over every row and sorted them all
//! (page 400: 174 ms).
//!
//! `status_rank` is the status's place in the sort (Unused 0, Activated 1, Expired 2, Revoked 3)
//! and `status_rank_until` the time at which it lapses to Expired (its `not_after`, or an activated
//! license's expiry, whichever is first; none for Expired and Revoked). The database keeps both
//! from a certificate's own columns on every insert and on every change of a column they read
//! (triggers: whichever code writes, the rank follows); what time alone changes is applied by the
//! sweeper (`ledger::status::expire_ranks`), which reads `status_rank_until`'s index: its cost is
//! the licenses that lapsed, not the installation's size. The entity does not map either column:
//! no code writes them.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Certificates {
    Table,
    Id,
    StatusRank,
    StatusRankUntil,
}

const RANK_INDEX: &str = "idx_certificates_status_rank";
const UNTIL_INDEX: &str = "idx_certificates_status_rank_until";

/// The rank from a row's columns (`row` is `new.` in a trigger, empty in the backfill).
fn rank(row: &str) -> String {
    format!(
        "CASE WHEN {row}revoked_by IS NOT NULL THEN 3 WHEN {row}ended_reason IS NOT NULL THEN 2 \
         WHEN {row}activated_at IS NOT NULL THEN 1 ELSE 0 END"
    )
}

/// When that rank lapses to Expired. `least` is the backend's two-argument minimum.
fn until(row: &str, least: &str) -> String {
    format!(
        "CASE WHEN {row}revoked_by IS NOT NULL OR {row}ended_reason IS NOT NULL THEN NULL \
         WHEN {row}activated_at IS NULL OR {row}permanent OR {row}expires_at IS NULL \
         THEN {row}not_after_at \
         WHEN {row}not_after_at IS NULL THEN {row}expires_at \
         ELSE {least}({row}expires_at, {row}not_after_at) END"
    )
}

/// The columns the rank reads: a change of any of them recomputes it.
const READ: &str = "revoked_by, ended_reason, activated_at, expires_at, permanent, not_after_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        for (column, default) in [
            (Certificates::StatusRank, Some(0)),
            (Certificates::StatusRankUntil, None),
        ] {
            let mut def = ColumnDef::new(column);
            match default {
                Some(d) => def.small_integer().not_null().default(d),
                None => def.big_integer().null(),
            };
            manager
                .alter_table(
                    Table::alter()
                        .table(Certificates::Table)
                        .add_column(&mut def)
                        .to_owned(),
                )
                .await?;
        }
        let least = if backend == DbBackend::Sqlite {
            "min"
        } else {
            "LEAST"
        };
        db.execute_unprepared(&format!(
            "UPDATE certificates SET status_rank = {}, status_rank_until = {}",
            rank(""),
            until("", least)
        ))
        .await?;
        if backend == DbBackend::Sqlite {
            // SQLite's triggers cannot change the row being written: they write it again (not
            // a column they watch, so they do not fire themselves).
            let set = format!(
                "UPDATE certificates SET status_rank = {}, status_rank_until = {} \
                 WHERE id = new.id;",
                rank("new."),
                until("new.", least)
            );
            db.execute_unprepared(&format!(
                "CREATE TRIGGER certificates_status_rank_insert AFTER INSERT ON certificates \
                 BEGIN {set} END"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER certificates_status_rank_update AFTER UPDATE OF {READ} \
                 ON certificates BEGIN {set} END"
            ))
            .await?;
        } else {
            db.execute_unprepared(&format!(
                "CREATE FUNCTION certificates_status_rank() RETURNS trigger AS $$ BEGIN \
                 NEW.status_rank := {}; NEW.status_rank_until := {}; RETURN NEW; END \
                 $$ LANGUAGE plpgsql",
                rank("NEW."),
                until("NEW.", least)
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER certificates_status_rank BEFORE INSERT OR UPDATE OF {READ} \
                 ON certificates FOR EACH ROW EXECUTE FUNCTION certificates_status_rank()"
            ))
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(RANK_INDEX)
                    .table(Certificates::Table)
                    .col(Certificates::StatusRank)
                    .col(Certificates::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(UNTIL_INDEX)
                    .table(Certificates::Table)
                    .col(Certificates::StatusRankUntil)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared("DROP TRIGGER IF EXISTS certificates_status_rank_insert")
                .await?;
            db.execute_unprepared("DROP TRIGGER IF EXISTS certificates_status_rank_update")
                .await?;
        } else {
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS certificates_status_rank ON certificates",
            )
            .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS certificates_status_rank()")
                .await?;
        }
        for name in [RANK_INDEX, UNTIL_INDEX] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Certificates::Table)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Certificates::StatusRank, Certificates::StatusRankUntil] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Certificates::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
