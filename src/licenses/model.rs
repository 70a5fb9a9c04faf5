//! What Settings > Licenses shows.
use serde::{Deserialize, Serialize};

use crate::tenants::Tenant;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicensesSummary {
    pub installation_id: String,
    pub tenants: Vec<Tenant>,
    pub licenses_installed: u64,
}
