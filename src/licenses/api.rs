//! Server functions of Settings > Licenses.
use leptos::prelude::*;

use super::model::LicensesSummary;
use crate::error::AppError;

#[server(endpoint = "licenses/overview")]
pub async fn licenses_overview() -> Result<LicensesSummary, AppError> {
    use crate::auth::server::{cap::ViewLicenses, require};
    use crate::server::state::app_state;
    let _who = require::<ViewLicenses>()?;
    let state = app_state()?;
    Ok(LicensesSummary {
        installation_id: state.installation_id.to_string(),
        tenants: crate::tenants::store::all(&state.db).await?,
        licenses_installed: 0,
    })
}
