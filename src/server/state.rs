//! What every request handler shares.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

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
    /// What renders the metrics, when they are enabled (`TESSERA_METRICS`).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// When the sweeper last finished a round, for the metrics.
    pub sweeps: Arc<Sweeps>,
}

/// The sweeper's rounds, as the metrics report them.
#[derive(Debug, Default)]
pub struct Sweeps {
    last_ms: AtomicI64,
    licenses_read_ms: AtomicI64,
}

impl Sweeps {
    /// A round finished at `now`.
    pub fn finished(&self, now: i64) {
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// When the last round finished (0: none yet).
    pub fn last_ms(&self) -> i64 {
        self.last_ms.load(Ordering::Relaxed)
    }

    /// Whether the license gauges are to be read now (at most once every `every_ms`, however
    /// many scrape): the first to ask after that claims the reading.
    pub fn claim_license_reading(&self, now: i64, every_ms: i64) -> bool {
        let last = self.licenses_read_ms.load(Ordering::Relaxed);
        now - last >= every_ms
            && self
                .licenses_read_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
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
