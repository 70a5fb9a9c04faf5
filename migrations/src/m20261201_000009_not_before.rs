//! `not_before` as a time (Unix ms, the start of the day for a bare date), so that "may it be
//! activated yet" is a comparison in SQL like `not_after_at`'s; filled for the certificates
//! installed before it existed. The sweeper asks every 15 s which waiting certificates fell due:
//! a partial index holds only those not activated with a `not_before`, so that question never
//! reads the whole table.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Certificates {
    Table,
    Id,
    NotBefore,
    NotBeforeAt,
}

const WAITING: &str = "idx_certificates_waiting";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Certificates::Table)
                    .add_column(
                        ColumnDef::new(Certificates::NotBeforeAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // sea-query's index builder has no WHERE; the statement is the same on both databases.
        db.execute_unprepared(&format!(
            "CREATE INDEX IF NOT EXISTS {WAITING} ON certificates (not_before_at) \
             WHERE activated_at IS NULL AND not_before_at IS NOT NULL"
        ))
        .await?;
        let select = Query::select()
            .columns([Certificates::Id, Certificates::NotBefore])
            .from(Certificates::Table)
            .and_where(Expr::col(Certificates::NotBefore).is_not_null())
            .to_owned();
        for row in db.query_all(&select).await? {
            let id: String = row.try_get("", "id")?;
            let text: String = row.try_get("", "not_before")?;
            // Every stored `not_before` passed the upload's date check; one that would not parse
            // now is left unset rather than stopping the upgrade.
            let Some(at) = start_of(&text) else { continue };
            let update = Query::update()
                .table(Certificates::Table)
                .value(Certificates::NotBeforeAt, at)
                .and_where(Expr::col(Certificates::Id).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {WAITING}"))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Certificates::Table)
                    .drop_column(Certificates::NotBeforeAt)
                    .to_owned(),
            )
            .await
    }
}

/// An RFC 3339 time, or a bare date at the start of its day, UTC, in Unix ms (as the upload reads
/// `not_before`).
fn start_of(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}
