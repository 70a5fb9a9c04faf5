//! The usage record and its rollups.
//!
//! - `usage_events`: what the ledger changed, one row per change of what is in use (a claim, a
//!   binding, a release and why, a seat given or recalled, an activation), with the change in
//!   the number in use (`delta`) under its key: the pool (a tenant's, or `''` for the shared one),
//!   the tenant that uses it, the product and the kind of license.
//! - `usage_refused`: refused checkouts per minute, agent and reason (flushed from memory).
//! - `usage_rollups`: per minute, hour and day (`span`) and key: the peak, lowest and
//!   time-integrated number in use (`used_ms`, the mean times the bucket's length) and what was
//!   owned. Tenant `'*'` is every tenant together.
//! - `usage_refusals`: per span, tenant and reason: refusals and the distinct agents refused.
//! - `usage_progress`: how far each span is rolled up (one row).
//! - `reminders.refusals`: a shortage alert's refused checkouts in its hour.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Id,
    At,
    Kind,
    Reason,
    Pool,
    TenantId,
    Product,
    LicenseKind,
    Subject,
    CertificateId,
    Delta,
}

#[derive(DeriveIden)]
enum UsageRefused {
    Table,
    Start,
    AgentId,
    TenantId,
    Reason,
    Refusals,
}

#[derive(DeriveIden)]
enum UsageRollups {
    Table,
    Span,
    Start,
    Pool,
    TenantId,
    Product,
    LicenseKind,
    Peak,
    Low,
    UsedMs,
    Owned,
}

#[derive(DeriveIden)]
enum UsageRefusals {
    Table,
    Span,
    Start,
    TenantId,
    Reason,
    Refusals,
    Agents,
}

/// Shortage alerts are reminders too: of a tenant's refused checkouts in one hour.
#[derive(DeriveIden)]
enum Reminders {
    Table,
    /// Checkouts refused in the hour (a shortage alert; `NULL` for an expiry reminder).
    Refusals,
}

#[derive(DeriveIden)]
enum UsageProgress {
    Table,
    Id,
    MinutesUntil,
    HoursUntil,
    DaysUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsageEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(UsageEvents::Id))
                    .col(big_integer(UsageEvents::At))
                    .col(string_len(UsageEvents::Kind, 16))
                    .col(string_len_null(UsageEvents::Reason, 16))
                    .col(string_len(UsageEvents::Pool, 64))
                    .col(string_len(UsageEvents::TenantId, 64))
                    .col(string_len(UsageEvents::Product, 128))
                    .col(string_len(UsageEvents::LicenseKind, 16))
                    .col(string_len(UsageEvents::Subject, 64))
                    .col(string_len_null(UsageEvents::CertificateId, 64))
                    .col(integer(UsageEvents::Delta))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_usage_events_at")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageRefused::Table)
                    .if_not_exists()
                    .col(big_integer(UsageRefused::Start))
                    .col(string_len(UsageRefused::AgentId, 64))
                    .col(string_len(UsageRefused::TenantId, 64))
                    .col(string_len(UsageRefused::Reason, 32))
                    .col(big_integer(UsageRefused::Refusals))
                    .primary_key(
                        Index::create()
                            .col(UsageRefused::Start)
                            .col(UsageRefused::AgentId)
                            .col(UsageRefused::Reason),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageRollups::Table)
                    .if_not_exists()
                    .col(string_len(UsageRollups::Span, 8))
                    .col(big_integer(UsageRollups::Start))
                    .col(string_len(UsageRollups::Pool, 64))
                    .col(string_len(UsageRollups::TenantId, 64))
                    .col(string_len(UsageRollups::Product, 128))
                    .col(string_len(UsageRollups::LicenseKind, 16))
                    .col(integer(UsageRollups::Peak))
                    .col(integer(UsageRollups::Low))
                    .col(big_integer(UsageRollups::UsedMs))
                    .col(integer(UsageRollups::Owned))
                    .primary_key(
                        Index::create()
                            .col(UsageRollups::Span)
                            .col(UsageRollups::Start)
                            .col(UsageRollups::Pool)
                            .col(UsageRollups::TenantId)
                            .col(UsageRollups::Product)
                            .col(UsageRollups::LicenseKind),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageRefusals::Table)
                    .if_not_exists()
                    .col(string_len(UsageRefusals::Span, 8))
                    .col(big_integer(UsageRefusals::Start))
                    .col(string_len(UsageRefusals::TenantId, 64))
                    .col(string_len(UsageRefusals::Reason, 32))
                    .col(big_integer(UsageRefusals::Refusals))
                    .col(integer(UsageRefusals::Agents))
                    .primary_key(
                        Index::create()
                            .col(UsageRefusals::Span)
                            .col(UsageRefusals::Start)
                            .col(UsageRefusals::TenantId)
                            .col(UsageRefusals::Reason),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageProgress::Table)
                    .if_not_exists()
                    .col(integer(UsageProgress::Id).primary_key())
                    .col(big_integer(UsageProgress::MinutesUntil))
                    .col(big_integer(UsageProgress::HoursUntil))
                    .col(big_integer(UsageProgress::DaysUntil))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Reminders::Table)
                    .add_column(big_integer_null(Reminders::Refusals))
                    .to_owned(),
            )
            .await?;
        // Nothing rolled up yet: the first roll starts at the first minute it has a record of.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(UsageProgress::Table)
                    .columns([
                        UsageProgress::Id,
                        UsageProgress::MinutesUntil,
                        UsageProgress::HoursUntil,
                        UsageProgress::DaysUntil,
                    ])
                    .values_panic([1.into(), 0i64.into(), 0i64.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Reminders::Table)
                    .drop_column(Reminders::Refusals)
                    .to_owned(),
            )
            .await?;
        for table in [
            UsageProgress::Table.into_iden(),
            UsageRefusals::Table.into_iden(),
            UsageRollups::Table.into_iden(),
            UsageRefused::Table.into_iden(),
            UsageEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
