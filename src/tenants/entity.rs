//! Tenants: isolated parts of the installation.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub created_at: i64,
    pub platform_until: Option<i64>,
    pub platform_permanent: bool,
    pub unlimited_agents_until: Option<i64>,
    pub unlimited_agents_permanent: bool,
    pub enrollment_key: Option<String>,
    pub release_after_minutes: Option<i32>,
    /// The most agents it may register; `None`: no cap.
    pub max_agents: Option<i32>,
    /// How long a checkout's signed lease lets its agents work without asking again.
    pub lease_seconds: i32,
    /// After the lease time was shortened: until when leases signed with the longer time may
    /// still run (Unix ms).
    pub longer_leases_until: Option<i64>,
    /// The longest borrow of a floating license, in hours; `None`: borrowing is off.
    pub max_borrow_hours: Option<i32>,
    /// How many of the pool's licenses its agents may not borrow.
    pub keep_unborrowed: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for super::Tenant {
    fn from(m: Model) -> Self {
        super::Tenant {
            id: m.id,
            name: m.name,
            is_default: m.is_default,
        }
    }
}
