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
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each index: its name, its table and its columns.
const MADE: [(&str, &str, &str); 4] = [
    ("idx_users_tenant_name", "users", "tenant_id, name"),
    (
        "idx_seats_product_certificate",
        "seats",
        "product, certificate_id",
    ),
    (
        "idx_agents_tenant_license",
        "agents",
        "tenant_id, license_id",
    ),
    (
        "idx_certificates_type_expires",
        "certificates",
        "license_type, expires_at",
    ),
];

/// The index the last one replaces, as migration 2 made it.
const REPLACED: (&str, &str, &str) = ("idx_certificates_type", "certificates", "license_type");

/// Makes one index (the statement is the same on both databases).
async fn make(
    db: &impl ConnectionTrait,
    (name, table, columns): (&str, &str, &str),
) -> Result<(), DbErr> {
    db.execute_unprepared(&format!(
        "CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"
    ))
    .await
    .map(drop)
}

/// Drops one index.
async fn drop_index(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
        .await
        .map(drop)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for index in MADE {
            make(db, index).await?;
        }
        drop_index(db, REPLACED.0).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        make(db, REPLACED).await?;
        for (name, _, _) in MADE {
            drop_index(db, name).await?;
        }
        Ok(())
    }
}
