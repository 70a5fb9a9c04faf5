//! The index a floating-license claim reads (issue 24): the free agent licenses of one pool (a
//! tenant's, or the shared one) in the order they are taken, oldest installed first. Every column
//! before the pool is one the claim asks for by equality or `IS NULL`, so the claim reads the
//! first row that is free rather than sorting every free license; with 20,000 free licenses a
//! Monday morning of 20,000 agents' first checkouts sorted them 20,000 times.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Certificates {
    Table,
    LicenseType,
    Binding,
    BoundAgentId,
    RevokedBy,
    EndedReason,
    AssignedTenantId,
    InstalledAt,
    Id,
}

const NAME: &str = "idx_certificates_free_floating";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Certificates::Table)
                    .col(Certificates::LicenseType)
                    .col(Certificates::Binding)
                    .col(Certificates::BoundAgentId)
                    .col(Certificates::RevokedBy)
                    .col(Certificates::EndedReason)
                    .col(Certificates::AssignedTenantId)
                    .col(Certificates::InstalledAt)
                    .col(Certificates::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Certificates::Table)
                    .to_owned(),
            )
            .await
    }
}
