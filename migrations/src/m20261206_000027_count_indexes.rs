//! Two counts that read a whole table without an index (issue 24, item 1), at 100,000 users and
//! 50,000 seats of one product:
//! - `idx_users_tenant_name`: Settings > Tenants counts each tenant's users, and a License
//!   manager's lists ask for their own tenant's users only (56 ms to 6 ms).
//! - `idx_seats_product_certificate`: a product's page counts the seats held from each of its
//!   licenses (76 ms: each seat's row was read for its license).
//! - `idx_agents_tenant_license`: Settings > Tenants counts each tenant's licensed agents (every
//!   agent's row was read: 6,600 pages at 20,000 agents).
//! - `idx_certificates_type_expires` replaces `idx_certificates_type`: the sweeper's look for
//!   licenses expiring within the reminders' horizon read every agent license's row every 15
//!   seconds (about 35,000 pages at 500,000 licenses, 135 ms; now 1 ms). Its first column serves
//!   whatever the index it replaces served.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    TenantId,
    Name,
}

#[derive(DeriveIden)]
enum Seats {
    Table,
    Product,
    CertificateId,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    TenantId,
    LicenseId,
}

#[derive(DeriveIden)]
enum Certificates {
    Table,
    LicenseType,
    ExpiresAt,
}

/// The index the last one replaces, as migration 2 made it.
const REPLACED: &str = "idx_certificates_type";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in [
            Index::create()
                .if_not_exists()
                .name("idx_users_tenant_name")
                .table(Users::Table)
                .col(Users::TenantId)
                .col(Users::Name)
                .to_owned(),
            Index::create()
                .if_not_exists()
                .name("idx_seats_product_certificate")
                .table(Seats::Table)
                .col(Seats::Product)
                .col(Seats::CertificateId)
                .to_owned(),
            Index::create()
                .if_not_exists()
                .name("idx_agents_tenant_license")
                .table(Agents::Table)
                .col(Agents::TenantId)
                .col(Agents::LicenseId)
                .to_owned(),
            Index::create()
                .if_not_exists()
                .name("idx_certificates_type_expires")
                .table(Certificates::Table)
                .col(Certificates::LicenseType)
                .col(Certificates::ExpiresAt)
                .to_owned(),
        ] {
            manager.create_index(index).await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(REPLACED)
                    .table(Certificates::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(REPLACED)
                    .table(Certificates::Table)
                    .col(Certificates::LicenseType)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_certificates_type_expires")
                    .table(Certificates::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_agents_tenant_license")
                    .table(Agents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_users_tenant_name")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_seats_product_certificate")
                    .table(Seats::Table)
                    .to_owned(),
            )
            .await
    }
}
