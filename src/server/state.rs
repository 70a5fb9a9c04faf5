//! What every request handler shares.
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sea_orm::DatabaseConnection;

use super::clock::Clock;
use super::config::Config;
use crate::auth::server::passwords::PasswordHasher;
use crate::auth::server::tokens::TokenKeys;
use crate::licenses::verify::{Checks, Limits, TrustedKeys};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub installation_id: Arc<str>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: PasswordHasher,
    pub clock: Clock,
    pub leptos: LeptosOptions,
    pub vendor_keys: Arc<TrustedKeys>,
    pub limits: Limits,
    /// The one owner of license state, and the checkout grants remembered from it.
    pub ledger: crate::ledger::Ledger,
}

impl AppState {
    /// What an uploaded package is checked against.
    pub fn package_checks(&self) -> Checks<'_> {
        Checks {
            keys: &self.vendor_keys,
            installation_id: &self.installation_id,
            limits: &self.limits,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The state, inside a server function or a page rendered on the server.
pub fn app_state() -> Result<AppState, crate::error::AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        crate::error::internal("the application state is missing from the request context")
    })
}
