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
    /// The products the user holds a seat of, by name.
    pub seats: Vec<HeldSeat>,
}

/// A seat a user holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldSeat {
    pub product: String,
    pub product_name: String,
}

/// A product with personal licenses, as Settings > Users offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatProduct {
    pub product: String,
    pub product_name: String,
    pub free: u32,
}

/// How many users a page of Settings > Users shows.
pub const USERS_PAGE: u64 = 50;

/// Settings > Users: a page of users (with their seats), the tenants they can be put in, and the
/// products whose seats can be given there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersListing {
    pub users: Vec<UserRow>,
    pub tenants: Vec<Tenant>,
    pub products: Vec<SeatProduct>,
    /// Users matching the search, over all pages.
    pub total: u64,
    /// From 1.
    pub page: u64,
    /// Whether the caller may create users and change them (Administrators); License managers
    /// see the list to give and recall seats, and nothing more.
    pub can_manage_users: bool,
    pub can_request: bool,
    pub can_upload: bool,
}
