//! Server functions of seats. Administrators and License managers (`CanManageLicUsers`).
use leptos::prelude::*;

use super::model::SeatCount;
use crate::error::AppError;

/// Gives each user a seat of `product`: all of them, or none (409 saying how many are free).
#[server(endpoint = "seats/apply")]
pub async fn apply_seats(product: String, user_ids: Vec<String>) -> Result<SeatCount, AppError> {
    use crate::auth::server::{cap::ManageSeats, require};
    let who = require::<ManageSeats>()?;
    let state = crate::server::state::app_state()?;
    let done =
        super::store::apply(&state.db, &who, &product, &user_ids, state.clock.now_ms()).await?;
    tracing::info!(by = %who.viewer().name, %product, users = user_ids.len(), "seats given");
    Ok(done)
}

/// Takes the seats of `product` back from each user: all of them, or none.
#[server(endpoint = "seats/recall")]
pub async fn recall_seats(product: String, user_ids: Vec<String>) -> Result<SeatCount, AppError> {
    use crate::auth::server::{cap::ManageSeats, require};
    let who = require::<ManageSeats>()?;
    let state = crate::server::state::app_state()?;
    let done =
        super::store::recall(&state.db, &who, &product, &user_ids, state.clock.now_ms()).await?;
    tracing::info!(by = %who.viewer().name, %product, users = user_ids.len(), "seats recalled");
    Ok(done)
}
