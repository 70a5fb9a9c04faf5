//! Sign-in throttling by name *and* client address: `login_failures` (each row an attempt
//! reserved before its password was checked, kept when it failed) gains the client's address,
//! indexed for the per-address limit; `sign_in_refusals` counts refused sign-ins per name, address
//! and 15-minute window, so that a flood of them becomes one audit entry per window, not a row
//! each. Rows from before (no address) keep counting for their name.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Address,
    At,
}

#[derive(DeriveIden)]
enum SignInRefusals {
    Table,
    Id,
    UserName,
    Address,
    WindowStart,
    ShownName,
    FirstAt,
    LastAt,
    Failed,
    Throttled,
    Other,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LoginFailures::Table)
                    .add_column(string_len(LoginFailures::Address, 64).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_failures_address_at")
                    .table(LoginFailures::Table)
                    .col(LoginFailures::Address)
                    .col(LoginFailures::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignInRefusals::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SignInRefusals::Id))
                    .col(string_len(SignInRefusals::UserName, 64))
                    .col(string_len(SignInRefusals::Address, 64))
                    .col(big_integer(SignInRefusals::WindowStart))
                    .col(string_len(SignInRefusals::ShownName, 64))
                    .col(big_integer(SignInRefusals::FirstAt))
                    .col(big_integer(SignInRefusals::LastAt))
                    .col(big_integer(SignInRefusals::Failed))
                    .col(big_integer(SignInRefusals::Throttled))
                    .col(big_integer(SignInRefusals::Other))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sign_in_refusals_key")
                    .table(SignInRefusals::Table)
                    .col(SignInRefusals::UserName)
                    .col(SignInRefusals::Address)
                    .col(SignInRefusals::WindowStart)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sign_in_refusals_window")
                    .table(SignInRefusals::Table)
                    .col(SignInRefusals::WindowStart)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SignInRefusals::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_login_failures_address_at")
                    .table(LoginFailures::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LoginFailures::Table)
                    .drop_column(LoginFailures::Address)
                    .to_owned(),
            )
            .await
    }
}
