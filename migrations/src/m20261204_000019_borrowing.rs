//! Borrowing (issue 23): an agent may keep its floating license, with a lease as long as the
//! borrow, while it has no connection at all (`agents.borrowed_until`, Unix ms); each tenant sets
//! the longest borrow (`tenants.max_borrow_hours`, none: borrowing off) and how many of its
//! pool's licenses are never borrowed (`tenants.keep_unborrowed`). `agents.license_held_until`
//! says until when the floating license taken from a shut-down agent stays held for its last
//! lease or borrow, as its page shows.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    BorrowedUntil,
    LicenseHeldUntil,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    MaxBorrowHours,
    KeepUnborrowed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One statement per column: SQLite alters one column at a time.
        let steps = [
            Table::alter()
                .table(Agents::Table)
                .add_column(big_integer_null(Agents::BorrowedUntil))
                .to_owned(),
            Table::alter()
                .table(Agents::Table)
                .add_column(big_integer_null(Agents::LicenseHeldUntil))
                .to_owned(),
            Table::alter()
                .table(Tenants::Table)
                .add_column(integer_null(Tenants::MaxBorrowHours))
                .to_owned(),
            Table::alter()
                .table(Tenants::Table)
                .add_column(integer(Tenants::KeepUnborrowed).default(0))
                .to_owned(),
        ];
        for step in steps {
            manager.alter_table(step).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let steps = [
            Table::alter()
                .table(Tenants::Table)
                .drop_column(Tenants::KeepUnborrowed)
                .to_owned(),
            Table::alter()
                .table(Tenants::Table)
                .drop_column(Tenants::MaxBorrowHours)
                .to_owned(),
            Table::alter()
                .table(Agents::Table)
                .drop_column(Agents::LicenseHeldUntil)
                .to_owned(),
            Table::alter()
                .table(Agents::Table)
                .drop_column(Agents::BorrowedUntil)
                .to_owned(),
        ];
        for step in steps {
            manager.alter_table(step).await?;
        }
        Ok(())
    }
}
