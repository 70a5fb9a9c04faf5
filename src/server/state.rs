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
    /// Private to the server module: requests reach it through a [`super::caller::Caller`],
    /// which only a proof of who is calling makes.
    pub(in crate::server) db: DatabaseConnection,
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
    /// Settings > Usage's reports, kept until the next roll-up.
    pub usage_reports: Arc<crate::usage::cache::Reports>,
}

impl AppState {
    /// The connection, for the server's own work (start-up, background jobs) and for
    /// [`super::caller::Caller`].
    pub(in crate::server) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Closes the database connections, at shutdown (an instance in a test, a finished command).
    pub async fn close(&self) {
        if let Err(e) = self.db.clone().close().await {
            tracing::warn!(error = %e, "closing the database connections failed");
        }
    }

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
