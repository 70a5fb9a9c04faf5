//! Signed leases (issue 23): the installation's own Ed25519 key, which signs every granted
//! checkout's lease (`installation.lease_key`: the 32-byte seed, base64; made at the next start
//! when missing), each tenant's lease time (`tenants.lease_seconds`, 5 minutes unless set, and
//! `tenants.longer_leases_until`: after the time is shortened, until when leases signed with the
//! longer one may still run), and
//! the time until which a floating license taken from a shut-down agent stays held for its
//! lease (`certificates.lease_held_until`, Unix ms).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Installation {
    Table,
    LeaseKey,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    LeaseSeconds,
    LongerLeasesUntil,
}

#[derive(DeriveIden)]
enum Certificates {
    Table,
    LeaseHeldUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One statement per column: SQLite alters one column at a time.
        let steps = [
            Table::alter()
                .table(Installation::Table)
                .add_column(string_null(Installation::LeaseKey))
                .to_owned(),
            Table::alter()
                .table(Tenants::Table)
                .add_column(integer(Tenants::LeaseSeconds).default(300))
                .to_owned(),
            Table::alter()
                .table(Tenants::Table)
                .add_column(big_integer_null(Tenants::LongerLeasesUntil))
                .to_owned(),
            Table::alter()
                .table(Certificates::Table)
                .add_column(big_integer_null(Certificates::LeaseHeldUntil))
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
                .table(Certificates::Table)
                .drop_column(Certificates::LeaseHeldUntil)
                .to_owned(),
            Table::alter()
                .table(Tenants::Table)
                .drop_column(Tenants::LongerLeasesUntil)
                .to_owned(),
            Table::alter()
                .table(Tenants::Table)
                .drop_column(Tenants::LeaseSeconds)
                .to_owned(),
            Table::alter()
                .table(Installation::Table)
                .drop_column(Installation::LeaseKey)
                .to_owned(),
        ];
        for step in steps {
            manager.alter_table(step).await?;
        }
        Ok(())
    }
}
