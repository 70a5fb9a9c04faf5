//! User accounts of the console.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub password_hash: String,
    pub role: String,
    pub tenant_id: String,
    pub disabled: bool,
    pub locale: Option<String>,
    /// The IANA time zone the user reads times in; none: UTC.
    pub time_zone: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
