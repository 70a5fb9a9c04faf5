//! The few certificates that withdraw others, indexed apart: each upload reads them all (to
//! install a certificate revoked before it arrives as revoked), and without this index that read
//! was a scan of every certificate with its signed payload. The query must spell the condition
//! exactly so (`revokes <> '[]'`, a literal) for either database to use a partial index.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_certificates_revokers";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // sea-query's index builder has no WHERE; the statement is the same on both databases.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {NAME} ON certificates (id, revokes) WHERE revokes <> '[]'"
            ))
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {NAME}"))
            .await
            .map(|_| ())
    }
}
