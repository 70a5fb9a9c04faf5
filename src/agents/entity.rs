//! Registered agents.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub machine_id: String,
    pub token_hash: String,
    pub state: String,
    pub license_id: Option<String>,
    pub refused_count: i64,
    pub last_seen_at: i64,
    pub created_at: i64,
    /// An administrator reset the registration: the next one of this machine is accepted.
    pub registration_open: bool,
    /// Until when it borrows its floating license (Unix ms): its leases run that long.
    pub borrowed_until: Option<i64>,
    /// Shut down: until when the floating license taken from it stays held for its last lease
    /// or borrow (Unix ms).
    pub license_held_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
