//! The installation, tenants, users, their sessions, and failed sign-ins.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// Column names are the table's, as the schema spells them.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Installation {
    Table,
    Id,
    InstallationId,
    TokenSecret,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    IsDefault,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    PasswordHash,
    Role,
    TenantId,
    Disabled,
    Locale,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Id,
    UserName,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Installation::Table)
                    .if_not_exists()
                    .col(integer(Installation::Id).primary_key())
                    .col(string_len(Installation::InstallationId, 36))
                    .col(string(Installation::TokenSecret))
                    .col(big_integer(Installation::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .if_not_exists()
                    .col(string_len(Tenants::Id, 36).primary_key())
                    .col(string_len_uniq(Tenants::Name, 128))
                    .col(boolean(Tenants::IsDefault))
                    .col(big_integer(Tenants::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string_len(Users::Id, 36).primary_key())
                    .col(string_len_uniq(Users::Name, 64))
                    .col(string(Users::PasswordHash))
                    .col(string_len(Users::Role, 32))
                    .col(string_len(Users::TenantId, 36))
                    .col(boolean(Users::Disabled))
                    .col(string_len_null(Users::Locale, 8))
                    .col(big_integer(Users::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(string_len(Sessions::Id, 36).primary_key())
                    .col(string_len(Sessions::UserId, 36))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .if_not_exists()
                    .col(big_pk_auto(LoginFailures::Id))
                    .col(string_len(LoginFailures::UserName, 64))
                    .col(big_integer(LoginFailures::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_failures_name_at")
                    .table(LoginFailures::Table)
                    .col(LoginFailures::UserName)
                    .col(LoginFailures::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginFailures::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
            Tenants::Table.into_iden(),
            Installation::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
