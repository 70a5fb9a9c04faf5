//! Tenants: each needs its own platform license; a default one always exists.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod entity;

pub const DEFAULT_TENANT_NAME: &str = "Default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

#[cfg(feature = "ssr")]
pub mod store {
    use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};

    use super::{Tenant, entity};
    use crate::error::AppError;

    /// All tenants, the default first, then by name.
    pub async fn all(db: &DatabaseConnection) -> Result<Vec<Tenant>, AppError> {
        let rows = entity::Entity::find()
            .order_by_desc(entity::Column::IsDefault)
            .order_by_asc(entity::Column::Name)
            .all(db)
            .await?;
        Ok(rows.into_iter().map(Tenant::from).collect())
    }
}
