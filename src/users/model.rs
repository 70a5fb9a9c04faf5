//! Users as the pages see them.
use serde::{Deserialize, Serialize};

use crate::auth::model::Role;
use crate::tenants::Tenant;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub tenant_id: String,
    pub tenant_name: String,
    pub disabled: bool,
}

/// Settings > Users: the users and the tenants they can be put in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersListing {
    pub users: Vec<UserRow>,
    pub tenants: Vec<Tenant>,
}
