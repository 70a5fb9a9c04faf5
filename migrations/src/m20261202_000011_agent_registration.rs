//! Agent registration under control: a machine registered once registers again only with its
//! agent's own token, or after an administrator reopens it (`registration_open`); a tenant may
//! cap its number of agents (`max_agents`, no cap when null).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    /// An administrator reset this agent's registration: its token is revoked, and the next
    /// registration of its machine with the enrollment key is accepted (once).
    RegistrationOpen,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    /// The most agents the tenant may register.
    MaxAgents,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Agents::Table)
                    .add_column(boolean(Agents::RegistrationOpen).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(integer_null(Tenants::MaxAgents))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::MaxAgents)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Agents::Table)
                    .drop_column(Agents::RegistrationOpen)
                    .to_owned(),
            )
            .await
    }
}
