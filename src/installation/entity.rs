//! The single row that names this installation.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "installation")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub installation_id: String,
    /// Key of the session tokens (HS256), base64; shared by every instance on one database.
    pub token_secret: String,
    pub created_at: i64,
    /// The latest time any instance has seen: a clock set back behind it is noticed.
    pub clock_seen_at: Option<i64>,
    /// The seed of the Ed25519 key that signs agents' leases, base64; shared by every instance.
    pub lease_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
