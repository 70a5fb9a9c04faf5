//! Server functions of seats. Administrators and License managers (`CanManageLicUsers`).
use leptos::prelude::*;

use super::model::{Candidates, MyLicense, ProductSeats, SeatCount};
use crate::error::AppError;

/// A form post returns to the page it came from, which says what was done: Settings > Users
/// when `back` is `users`, the product's page otherwise.
#[cfg(feature = "ssr")]
fn back_to(back: Option<&str>, product: &str, done: &str) {
    if back == Some("users") {
        leptos_axum::redirect(&format!("/settings/users?done={done}"));
    } else {
        leptos_axum::redirect(&format!(
            "/settings/licenses/product/{}?done={done}",
            crate::ui::url::encode_component(product)
        ));
    }
}

/// A product's page: its licenses, seats and the users holding them.
#[server(endpoint = "seats/product")]
pub async fn get_product(product: String, page: Option<u64>) -> Result<ProductSeats, AppError> {
    use crate::auth::server::{cap::ViewLicenses, require};
    let who = require::<ViewLicenses>()?;
    let page = page.unwrap_or(1);
    super::store::product(who.db(), &who, &product, page, who.now()).await
}

/// Users who could be given a seat of `product`, by name, tenant or role.
#[server(endpoint = "seats/candidates")]
pub async fn seat_candidates(product: String, q: String) -> Result<Candidates, AppError> {
    use crate::auth::server::{cap::ManageSeats, require};
    let who = require::<ManageSeats>()?;
    let q = crate::ui::listing::search(&q)?;
    super::store::candidates(who.db(), &who, &product, q).await
}

/// Gives each user a seat of `product`: all of them, or none (409 saying how many are free).
#[server(endpoint = "seats/apply")]
pub async fn apply_seats(
    product: String,
    user_ids: Vec<String>,
    back: Option<String>,
) -> Result<SeatCount, AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::ManageSeats, require};
    audited(AuditKind::SeatsApply, product.clone(), async move {
        let who = require::<ManageSeats>()?;
        let now = who.now();
        let done =
            crate::ledger::seats::apply(who.ledger(), &who, &product, &user_ids, now).await?;
        tracing::info!(by = %who.viewer().name, %product, users = user_ids.len(), "seats given");
        back_to(back.as_deref(), &product, "applied");
        Ok(done)
    })
    .await
}

/// Takes the seats of `product` back from each user: all of them, or none.
#[server(endpoint = "seats/recall")]
pub async fn recall_seats(
    product: String,
    user_ids: Vec<String>,
    back: Option<String>,
) -> Result<SeatCount, AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::ManageSeats, require};
    audited(AuditKind::SeatsRecall, product.clone(), async move {
        let who = require::<ManageSeats>()?;
        let now = who.now();
        let done =
            crate::ledger::seats::recall(who.ledger(), &who, &product, &user_ids, now).await?;
        tracing::info!(by = %who.viewer().name, %product, users = user_ids.len(), "seats recalled");
        back_to(back.as_deref(), &product, "recalled");
        Ok(done)
    })
    .await
}

/// The caller's own licenses. Any signed-in user may ask.
#[server(endpoint = "seats/mine")]
pub async fn my_licenses() -> Result<Vec<MyLicense>, AppError> {
    let who = crate::auth::server::signed_in()?;
    super::store::mine(who.db(), &who.viewer().id, who.now()).await
}
