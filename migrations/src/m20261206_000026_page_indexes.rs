//! Indexes that keep three pages' questions from reading every certificate (issue 24, item 1):
//! - `idx_certificates_lease_held`: the few licenses held for a shut-down agent's last lease
//!   (partial: most have none). Agents' "held" count and Tenants' free pool read them apart.
//! - `idx_certificates_assignable`: Settings > Tenants' licenses that can be assigned (agent
//!   licenses not bound, not withdrawn or ended), in the order the page lists them.
//! - The Licenses list's sorts by product and by installation, with the id that breaks ties in
//!   the index (replacing the single-column indexes): a page is read in the index's order, either
//!   way, instead of sorting every license that shares a product name or an upload.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each index: its name, and its columns (and condition) as SQL both databases read alike.
const MADE: [(&str, &str); 4] = [
    (
        "idx_certificates_lease_held",
        "(lease_held_until) WHERE lease_held_until IS NOT NULL",
    ),
    (
        "idx_certificates_assignable",
        "(license_type, bound_agent_id, revoked_by, ended_reason, product_name, id)",
    ),
    ("idx_certificates_product_name_id", "(product_name, id)"),
    ("idx_certificates_installed_at_id", "(installed_at, id)"),
];

/// The single-column indexes the last two replace, as migration 2 made them.
const REPLACED: [(&str, &str); 2] = [
    ("idx_certificates_product_name", "(product_name)"),
    ("idx_certificates_installed_at", "(installed_at)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // sea-query's index builder has no WHERE; the statements are the same on both databases.
        let db = manager.get_connection();
        for (name, columns) in MADE {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON certificates {columns}"
            ))
            .await?;
        }
        for (name, _) in REPLACED {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, columns) in REPLACED {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON certificates {columns}"
            ))
            .await?;
        }
        for (name, _) in MADE {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}
