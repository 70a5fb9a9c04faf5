//! The audit log speaks each reader's language (issue 25): an entry's detail is stored as codes
//! with parameters too (`audit_log.detail_data`, JSON), beside its English words. Entries made
//! before have none, and are shown as stored: the log stays append-only.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    DetailData,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .add_column(text_null(AuditLog::DetailData))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .drop_column(AuditLog::DetailData)
                    .to_owned(),
            )
            .await
    }
}
