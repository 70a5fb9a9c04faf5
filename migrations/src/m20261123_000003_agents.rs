//! Agents: processes on target machines that ask, on every inference request, whether they may
//! run. Each tenant gets an enrollment key for registering them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    EnrollmentKey,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
    TenantId,
    MachineId,
    /// SHA-256 of the agent's bearer token, hex.
    TokenHash,
    /// `running` or `shut_down`.
    State,
    /// The certificate it holds, if any.
    LicenseId,
    RefusedCount,
    LastSeenAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(string_len_null(Tenants::EnrollmentKey, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Agents::Table)
                    .if_not_exists()
                    .col(string_len(Agents::Id, 36).primary_key())
                    .col(string_len(Agents::TenantId, 36))
                    .col(string_len(Agents::MachineId, 200))
                    .col(string_len(Agents::TokenHash, 64))
                    .col(string_len(Agents::State, 16))
                    .col(string_len_null(Agents::LicenseId, 64))
                    .col(big_integer(Agents::RefusedCount).default(0))
                    .col(big_integer(Agents::LastSeenAt))
                    .col(big_integer(Agents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "idx_agents_tenant_machine",
                vec![Agents::TenantId, Agents::MachineId],
                true,
            ),
            ("idx_agents_token", vec![Agents::TokenHash], true),
        ] {
            let mut index = Index::create();
            index.name(name).table(Agents::Table);
            for c in cols {
                index.col(c);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Agents::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::EnrollmentKey)
                    .to_owned(),
            )
            .await
    }
}
