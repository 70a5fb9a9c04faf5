//! An index covering what a certificate's status and binding are decided from, so that counting
//! the usable agent licenses of a large installation (Settings > Agents) reads the index, not
//! every row with its signed payload; and one on the product, which a product's page and its
//! seat pools look certificates up by.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Certificates {
    Table,
    Product,
    LicenseType,
    Binding,
    BoundAgentId,
    RevokedBy,
    EndedReason,
    NotAfterAt,
    ActivatedAt,
    ExpiresAt,
    Permanent,
}

const NAME: &str = "idx_certificates_state";
const BY_PRODUCT: &str = "idx_certificates_product";

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
                    .col(Certificates::NotAfterAt)
                    .col(Certificates::ActivatedAt)
                    .col(Certificates::ExpiresAt)
                    .col(Certificates::Permanent)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_PRODUCT)
                    .table(Certificates::Table)
                    .col(Certificates::Product)
                    .col(Certificates::LicenseType)
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
