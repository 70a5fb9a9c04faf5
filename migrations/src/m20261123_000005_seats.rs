//! Personal seats: which user holds a seat of which product, drawn from which license.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Seats {
    Table,
    Id,
    Product,
    CertificateId,
    UserId,
    GrantedAt,
    GrantedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Seats::Table)
                    .if_not_exists()
                    .col(string_len(Seats::Id, 36).primary_key())
                    .col(string(Seats::Product))
                    .col(string_len(Seats::CertificateId, 64))
                    .col(string_len(Seats::UserId, 36))
                    .col(big_integer(Seats::GrantedAt))
                    .col(string_len(Seats::GrantedBy, 36))
                    .to_owned(),
            )
            .await?;
        // One seat of a product per user, whatever races.
        manager
            .create_index(
                Index::create()
                    .name("idx_seats_product_user")
                    .table(Seats::Table)
                    .col(Seats::Product)
                    .col(Seats::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_seats_certificate", Seats::CertificateId),
            ("idx_seats_user", Seats::UserId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Seats::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Seats::Table).to_owned())
            .await
    }
}
