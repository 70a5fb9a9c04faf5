//! What the seat server functions answer, shared by the server and the client.
use serde::{Deserialize, Serialize};

/// A product's seats after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatCount {
    pub total: u32,
    pub used: u32,
    pub free: u32,
}

/// The most users one Apply may name.
pub const APPLY_MAX: usize = 10_000;

use crate::auth::model::Role;
use crate::licenses::domain::{Expiry, Status};
use crate::licenses::format::LicenseType;

/// One license of a product, as its page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductLicense {
    pub id: String,
    pub license_type: LicenseType,
    pub seats: Option<u32>,
    pub feature: Option<String>,
    pub start: Option<i64>,
    pub due: Option<Expiry>,
    pub status: Status,
}

/// A user holding a seat of the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub user_id: String,
    pub name: String,
    pub tenant_name: String,
    pub role: Role,
    pub since: i64,
}

/// A product's page: its licenses, seats and holders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSeats {
    pub product: String,
    pub product_name: String,
    pub licenses: Vec<ProductLicense>,
    /// Seats of its valid personal licenses; zeros for a product with none.
    pub count: SeatCount,
    /// One page of the holders, by name.
    pub holders: Vec<Holder>,
    /// Holders in all, over every page.
    pub holders_total: u64,
    /// The page of holders shown, from 1.
    pub holders_page: u64,
    pub can_manage: bool,
}

/// A user who could be given a seat (enabled, holding none of the product).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub user_id: String,
    pub name: String,
    pub tenant_name: String,
    pub role: Role,
}

/// How many holders a page of the product's page lists.
pub const HOLDERS_PAGE: u64 = 50;

/// The users a picker offers, by name, and whether it stopped looking before the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidates {
    pub users: Vec<Candidate>,
    /// Some users past those looked at were not looked at: a search finds them.
    pub more: bool,
}

/// How many candidates a search shows.
pub const CANDIDATES_MAX: usize = 100;

/// How many users, in name order, a picker looks through for ones without a seat. Bounded, so
/// that a product whose holders come first by name (50,000 of them at 500,000 licenses) costs
/// what one held by nobody does: past them, the picker asks for a search.
pub const CANDIDATES_LOOKED_AT: u64 = 2000;

/// A license as the signed-in user sees their own: a seat they hold, or a server license that
/// unlocks a feature for everyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyLicense {
    pub product_name: String,
    /// The feature a server license unlocks; `None` for a seat.
    pub feature: Option<String>,
    pub status: Status,
    pub due: Option<Expiry>,
}
