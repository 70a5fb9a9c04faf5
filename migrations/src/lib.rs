//! Tessera's schema, one migration per change. Run at start-up and by `tessera migrate`.
//! Times are stored as Unix milliseconds (BIGINT) so that SQLite and PostgreSQL compare them alike.
pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_foundation;
mod m20261122_000002_licenses;
mod m20261123_000003_agents;
mod m20261123_000004_tenant_release;
mod m20261123_000005_seats;
mod m20261130_000006_audit;
mod m20261130_000007_reminders;
mod m20261130_000008_certificate_state_index;
mod m20261201_000009_not_before;
mod m20261201_000010_revoker_index;
mod m20261202_000011_agent_registration;
mod m20261202_000012_sign_in_throttle;
mod m20261202_000013_session_idle;
mod m20261202_000014_lower_case_ids;
mod m20261203_000015_usage;
mod m20261203_000016_usage_clustered;
mod m20261204_000017_usage_lapses;
mod m20261204_000018_leases;
mod m20261204_000019_borrowing;
mod m20261205_000020_reminder_reads;
mod m20261205_000021_audit_detail_codes;
mod m20261205_000022_user_time_zone;
mod m20261205_000023_free_floating_index;
mod m20261205_000024_search_index;
mod m20261206_000025_status_rank;
mod m20261206_000026_page_indexes;
mod m20261206_000027_count_indexes;
mod m20261207_000028_pool_counts;
mod m20261207_000029_feature_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_licenses::Migration),
            Box::new(m20261123_000003_agents::Migration),
            Box::new(m20261123_000004_tenant_release::Migration),
            Box::new(m20261123_000005_seats::Migration),
            Box::new(m20261130_000006_audit::Migration),
            Box::new(m20261130_000007_reminders::Migration),
            Box::new(m20261130_000008_certificate_state_index::Migration),
            Box::new(m20261201_000009_not_before::Migration),
            Box::new(m20261201_000010_revoker_index::Migration),
            Box::new(m20261202_000011_agent_registration::Migration),
            Box::new(m20261202_000012_sign_in_throttle::Migration),
            Box::new(m20261202_000013_session_idle::Migration),
            Box::new(m20261202_000014_lower_case_ids::Migration),
            Box::new(m20261203_000015_usage::Migration),
            Box::new(m20261203_000016_usage_clustered::Migration),
            Box::new(m20261204_000017_usage_lapses::Migration),
            Box::new(m20261204_000018_leases::Migration),
            Box::new(m20261204_000019_borrowing::Migration),
            Box::new(m20261205_000020_reminder_reads::Migration),
            Box::new(m20261205_000021_audit_detail_codes::Migration),
            Box::new(m20261205_000022_user_time_zone::Migration),
            Box::new(m20261205_000023_free_floating_index::Migration),
            Box::new(m20261205_000024_search_index::Migration),
            Box::new(m20261206_000025_status_rank::Migration),
            Box::new(m20261206_000026_page_indexes::Migration),
            Box::new(m20261206_000027_count_indexes::Migration),
            Box::new(m20261207_000028_pool_counts::Migration),
            Box::new(m20261207_000029_feature_index::Migration),
        ]
    }
}
