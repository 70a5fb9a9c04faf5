//! Licenses lapse by time, with no write of their own: the roll-up records each lapse in the
//! usage record at its time, and remembers how far it has looked (`usage_progress.lapses_until`,
//! Unix ms), so each is recorded once. Activations and lapses are recorded under the license's
//! type, which may be `platform_unlimited_agents`: `usage_events.license_kind` widens to 32
//! (PostgreSQL; SQLite does not hold text to a length). Going down leaves it wide: narrowing
//! could fail on what was recorded since.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageProgress {
    Table,
    LapsesUntil,
}

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    LicenseKind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageProgress::Table)
                    .add_column(big_integer(UsageProgress::LapsesUntil).default(0))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageEvents::Table)
                        .modify_column(string_len(UsageEvents::LicenseKind, 32))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageProgress::Table)
                    .drop_column(UsageProgress::LapsesUntil)
                    .to_owned(),
            )
            .await
    }
}
