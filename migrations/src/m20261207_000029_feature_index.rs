//! The index a search shorter than a trigram reads for features (`licenses::search::short`): a
//! loose index scan of their distinct values. Partial: only server licenses name a feature.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_certificates_feature";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // sea-query's index builder has no WHERE; the statement is the same on both databases.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {NAME} ON certificates (feature) \
                 WHERE feature IS NOT NULL"
            ))
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {NAME}"))
            .await
            .map(drop)
    }
}
