//! Expiry reminders (each made once: unique per subject, expiry and threshold), their webhook
//! deliveries, and the latest time the installation has seen (so a clock set back is noticed).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reminders {
    Table,
    Id,
    /// `tenant_platform`, `tenant_unlimited_agents` or `certificate`.
    SubjectKind,
    SubjectId,
    /// What people read: a tenant's or a product's name.
    SubjectName,
    LicenseType,
    TenantId,
    ExpiresAt,
    DaysBefore,
    DueAt,
    MadeAt,
    ReadAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    ReminderId,
    Body,
    Attempts,
    NextAttemptAt,
    DeliveredAt,
    LastError,
    GaveUp,
}

#[derive(DeriveIden)]
enum Installation {
    Table,
    ClockSeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reminders::Table)
                    .if_not_exists()
                    .col(string_len(Reminders::Id, 36).primary_key())
                    .col(string_len(Reminders::SubjectKind, 32))
                    .col(string_len(Reminders::SubjectId, 64))
                    .col(string(Reminders::SubjectName))
                    .col(string_len(Reminders::LicenseType, 32))
                    .col(string_len_null(Reminders::TenantId, 36))
                    .col(big_integer(Reminders::ExpiresAt))
                    .col(integer(Reminders::DaysBefore))
                    .col(big_integer(Reminders::DueAt))
                    .col(big_integer(Reminders::MadeAt))
                    .col(big_integer_null(Reminders::ReadAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reminders_once")
                    .table(Reminders::Table)
                    .col(Reminders::SubjectKind)
                    .col(Reminders::SubjectId)
                    .col(Reminders::ExpiresAt)
                    .col(Reminders::DaysBefore)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reminders_made")
                    .table(Reminders::Table)
                    .col(Reminders::MadeAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(string_len(WebhookDeliveries::Id, 36).primary_key())
                    .col(string_len(WebhookDeliveries::ReminderId, 36))
                    .col(text(WebhookDeliveries::Body))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(big_integer(WebhookDeliveries::NextAttemptAt))
                    .col(big_integer_null(WebhookDeliveries::DeliveredAt))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(boolean(WebhookDeliveries::GaveUp))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_reminder")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::ReminderId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Installation::Table)
                    .add_column(big_integer_null(Installation::ClockSeenAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Installation::Table)
                    .drop_column(Installation::ClockSeenAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Reminders::Table).to_owned())
            .await
    }
}
