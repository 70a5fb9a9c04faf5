//! One audit log entry. Rows are only ever inserted.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub kind: String,
    pub subject: String,
    pub detail: String,
    /// The detail as codes with parameters (`model::DetailData`, JSON); none before migration 21.
    #[sea_orm(column_type = "Text", nullable)]
    pub detail_data: Option<String>,
    pub outcome: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
