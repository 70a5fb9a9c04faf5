//! Licenses in: uploaded packages, their certificates with activation state, staged uploads
//! awaiting confirmation, and each tenant's platform expiry.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    /// Unix ms until which the tenant's platform is licensed; null with `platform_permanent`
    /// false means never licensed.
    PlatformUntil,
    PlatformPermanent,
    /// Unlimited agents until this time (ms), from platform-unlimited-agents licenses.
    UnlimitedAgentsUntil,
    UnlimitedAgentsPermanent,
}

#[derive(DeriveIden)]
enum Packages {
    Table,
    Id,
    FileName,
    Sha256,
    UploadedBy,
    UploadedAt,
    CertificateCount,
}

#[derive(DeriveIden)]
enum Certificates {
    Table,
    Id,
    PackageId,
    Block,
    Kid,
    /// The signed payload, exactly as received.
    Payload,
    Sig,
    Product,
    ProductName,
    LicenseType,
    Mode,
    ValidityDays,
    NotBefore,
    NotAfter,
    /// `not_after` as Unix ms (end of that day for bare dates), for filtering and sorting.
    NotAfterAt,
    Seats,
    Binding,
    Feature,
    TenantId,
    CompanyId,
    IssuedAt,
    Revokes,
    InstalledAt,
    ActivatedAt,
    /// When what it licenses expires, as computed at activation; null when permanent or unused.
    ExpiresAt,
    Permanent,
    AssignedTenantId,
    BoundAgentId,
    RevokedBy,
    /// Set when it expired for a reason other than time (its agent was deleted).
    EndedReason,
}

#[derive(DeriveIden)]
enum PendingUploads {
    Table,
    Id,
    UploadedBy,
    FileName,
    Content,
    Outcome,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            big_integer_null(Tenants::PlatformUntil),
            boolean(Tenants::PlatformPermanent).default(false).take(),
            big_integer_null(Tenants::UnlimitedAgentsUntil),
            boolean(Tenants::UnlimitedAgentsPermanent)
                .default(false)
                .take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Packages::Table)
                    .if_not_exists()
                    .col(string_len(Packages::Id, 36).primary_key())
                    .col(string_len(Packages::FileName, 255))
                    .col(string_len(Packages::Sha256, 64))
                    .col(string_len(Packages::UploadedBy, 64))
                    .col(big_integer(Packages::UploadedAt))
                    .col(integer(Packages::CertificateCount))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Certificates::Table)
                    .if_not_exists()
                    .col(string_len(Certificates::Id, 64).primary_key())
                    .col(string_len(Certificates::PackageId, 36))
                    .col(integer(Certificates::Block))
                    .col(string_len(Certificates::Kid, 16))
                    .col(text(Certificates::Payload))
                    .col(string(Certificates::Sig))
                    .col(string(Certificates::Product))
                    .col(string(Certificates::ProductName))
                    .col(string_len(Certificates::LicenseType, 32))
                    .col(string_len(Certificates::Mode, 16))
                    .col(integer_null(Certificates::ValidityDays))
                    .col(string_null(Certificates::NotBefore))
                    .col(string_null(Certificates::NotAfter))
                    .col(big_integer_null(Certificates::NotAfterAt))
                    .col(integer_null(Certificates::Seats))
                    .col(string_len_null(Certificates::Binding, 16))
                    .col(string_null(Certificates::Feature))
                    .col(string_null(Certificates::TenantId))
                    .col(string(Certificates::CompanyId))
                    .col(string(Certificates::IssuedAt))
                    .col(text(Certificates::Revokes))
                    .col(big_integer(Certificates::InstalledAt))
                    .col(big_integer_null(Certificates::ActivatedAt))
                    .col(big_integer_null(Certificates::ExpiresAt))
                    .col(boolean(Certificates::Permanent).default(false))
                    .col(string_len_null(Certificates::AssignedTenantId, 36))
                    .col(string_len_null(Certificates::BoundAgentId, 36))
                    .col(string_len_null(Certificates::RevokedBy, 64))
                    .col(string_len_null(Certificates::EndedReason, 32))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Certificates::Table, Certificates::PackageId)
                            .to(Packages::Table, Packages::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_certificates_type", Certificates::LicenseType),
            ("idx_certificates_product_name", Certificates::ProductName),
            ("idx_certificates_installed_at", Certificates::InstalledAt),
            ("idx_certificates_tenant", Certificates::AssignedTenantId),
            ("idx_certificates_agent", Certificates::BoundAgentId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Certificates::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(PendingUploads::Table)
                    .if_not_exists()
                    .col(string_len(PendingUploads::Id, 36).primary_key())
                    .col(string_len(PendingUploads::UploadedBy, 36))
                    .col(string_len(PendingUploads::FileName, 255))
                    .col(text(PendingUploads::Content))
                    .col(text(PendingUploads::Outcome))
                    .col(big_integer(PendingUploads::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PendingUploads::Table.into_iden(),
            Certificates::Table.into_iden(),
            Packages::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for col in [
            Tenants::PlatformUntil.into_iden(),
            Tenants::PlatformPermanent.into_iden(),
            Tenants::UnlimitedAgentsUntil.into_iden(),
            Tenants::UnlimitedAgentsPermanent.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
