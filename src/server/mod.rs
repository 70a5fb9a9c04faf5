//! The server: configuration, database, the HTTP stack, and start-up.
pub mod caller;
pub mod client;
pub mod clock;
pub mod config;
pub mod csv;
pub mod db;
pub mod headers;
pub mod http;
pub mod monitoring;
pub mod operate;
pub mod request_id;
pub mod respond;
pub mod route;
pub mod state;

use axum::serve::ListenerExt;
use std::sync::Arc;

use leptos::config::LeptosOptions;

use crate::auth::server::passwords::PasswordHasher;
use crate::auth::server::tokens::TokenKeys;
use crate::licenses::verify::{Limits, TrustedKeys};
use clock::Clock;
use config::Config;
use state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Database(#[from] db::DbStartError),
    #[error("first start: {0}")]
    FirstStart(crate::error::AppError),
    #[error("LEPTOS_SITE_ADDR: cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
}

/// Connects, migrates, runs first start, and builds the shared state.
pub async fn prepare(config: Config, clock: Clock) -> Result<AppState, StartError> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    match crate::ledger::isolation::outside_their_tenant(&db).await {
        Ok(outside) if !outside.is_empty() => {
            let listed: Vec<String> = outside.iter().map(ToString::to_string).collect();
            tracing::warn!(
                count = outside.len(),
                holdings = %listed.join("; "),
                "holdings made before tenant isolation hold another tenant's licenses: kept; recall them where they should not be"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not look for holdings outside their tenant"),
    }
    match crate::licenses::search::prepare(&db).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "searching the Licenses list reads every license: PostgreSQL's pg_trgm extension is \
             missing or not permitted (install postgresql-contrib; the indexes are made at the \
             next start)"
        ),
        Err(e) => tracing::warn!(error = %e, "could not look for the search indexes"),
    }
    let passwords = PasswordHasher::default();
    let installed = crate::installation::first_start::ensure(
        &db,
        &passwords,
        config.admin_password.as_deref(),
        clock.now_ms(),
    )
    .await
    .map_err(StartError::FirstStart)?;
    let vendor_keys = match &config.vendor_keys_pem {
        None => TrustedKeys::default(),
        Some(pem) => TrustedKeys::from_pem(pem).map_err(|e| {
            StartError::Config(config::ConfigError {
                variable: "TESSERA_VENDOR_KEYS",
                reason: e.to_string(),
            })
        })?,
    };
    if let Some(seen) = installed.clock_seen_at {
        clock.observe(seen);
    }
    let limits = Limits {
        max_bytes: config.max_package_bytes,
        max_certificates: config.max_certificates,
    };
    let leptos = LeptosOptions::builder()
        .output_name("tessera")
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(config.site_addr)
        .env(leptos::config::Env::PROD)
        .build();
    if config.metrics && config.metrics_token.is_none() {
        tracing::warn!(
            "/metrics answers anyone who reaches it: set TESSERA_METRICS_TOKEN, or keep /metrics \
             from the network at the reverse proxy"
        );
    }
    let metrics = if config.metrics {
        Some(monitoring::install().map_err(|reason| {
            StartError::Config(config::ConfigError {
                variable: "TESSERA_METRICS",
                reason,
            })
        })?)
    } else {
        None
    };
    let ledger = crate::ledger::Ledger::new(
        db.clone(),
        crate::ledger::leases::Leases::new(
            installed.lease_key.clone(),
            installed.installation_id.clone(),
        ),
    );
    // Other instances' changes reach this one's remembered grants (PostgreSQL).
    ledger.listen();
    Ok(AppState {
        tokens: Arc::new(TokenKeys::new(
            &installed.token_secret,
            &installed.installation_id,
        )),
        installation_id: installed.installation_id.into(),
        ledger,
        db,
        config: Arc::new(config),
        passwords,
        clock,
        leptos,
        vendor_keys: Arc::new(vendor_keys),
        limits,
        usage_reports: Arc::default(),
        metrics,
        sweeps: Arc::default(),
    })
}

/// The license request made at the command line (`tessera request`): whoever runs the binary
/// against the database holds the installation already, so no permission is asked.
pub async fn command_line_request(
    state: &AppState,
    company_id: &str,
    target_version: &str,
) -> Result<crate::licenses::format::LicenseRequest, crate::error::AppError> {
    crate::licenses::store::license_request(
        &state.db,
        &state.installation_id,
        state.ledger.leases().public_key_pem(),
        company_id,
        target_version,
        state.config.usage_retention,
        state.clock.now_ms(),
    )
    .await
}

/// What `tessera usage` writes: Settings > Usage's exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageFormat {
    /// The charts' buckets.
    Csv,
    /// The right-sizing table.
    PoolsCsv,
    /// All of it.
    Json,
}

/// Settings > Usage's figures for `filter`, every tenant, at the command line (`tessera usage`):
/// whoever runs the binary against the database holds the installation already.
pub async fn command_line_usage(
    config: &Config,
    filter: &crate::usage::model::UsageFilter,
    format: UsageFormat,
) -> Result<String, String> {
    let db = db::connect(config).await.map_err(|e| e.to_string())?;
    let now = Clock::default().now_ms();
    let checked = filter.check(now).map_err(|e| e.to_string())?;
    // One report: nothing to keep it for.
    let reports = crate::usage::cache::Reports::default();
    let report =
        crate::usage::store::report(&db, &reports, None, &checked, config.usage_retention, now)
            .await
            .map_err(|e| e.to_string())?;
    Ok(match format {
        UsageFormat::Csv => crate::usage::export::buckets_csv(&report),
        UsageFormat::PoolsCsv => crate::usage::export::pools_csv(&report),
        UsageFormat::Json => serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?,
    })
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
/// Reads the usage page's first views into memory in the background, so the first administrator
/// to open Settings > Usage after a start does not wait for a year of rollups to be read.
fn spawn_usage_warm_up(state: AppState) {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let keep = state.config.usage_retention;
        let now = state.clock.now_ms();
        match crate::usage::store::warm(&state.db, &state.usage_reports, keep, now).await {
            Ok(()) => tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "usage views read ahead"
            ),
            Err(e) => tracing::warn!(error = %e, "reading the usage views ahead failed"),
        }
    });
}

pub async fn serve(state: AppState) -> Result<(), StartError> {
    let addr = state.config.site_addr;
    // TCP_NODELAY on every connection: without it, the last segment of a large page waits for
    // the client's delayed acknowledgement (40 ms) whenever Nagle's algorithm holds it back, on
    // about one kept-alive request in fifty (the usage page's day view: p99 57 ms, p50 11).
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Listen(addr, e))?
        .tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY could not be set on a connection");
            }
        });
    spawn_sweeper(state.clone());
    spawn_deliverer(state.clone());
    spawn_noted_flusher(state.clone());
    spawn_usage_warm_up(state.clone());
    let ledger = state.ledger.clone();
    let app = http::router(state);
    tracing::info!("Tessera listening on http://{addr}");
    // On SIGTERM or SIGINT: stop accepting, let the requests in flight finish, but not for longer
    // than the deadline.
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    // The socket's address is the client's (or its proxy's): sign-in throttling counts by it.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stopping.send(true);
    });
    let deadline = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_DEADLINE).await;
    };
    let served = tokio::select! {
        served = std::future::IntoFuture::into_future(server) => {
            served.map_err(|e| StartError::Listen(addr, e)).map(|()| {
                tracing::info!("stopped: every request in flight was answered");
            })
        }
        () = deadline => {
            tracing::warn!(
                seconds = SHUTDOWN_DEADLINE.as_secs(),
                "stopped: requests still in flight after the deadline were dropped"
            );
            Ok(())
        }
    };
    // The refusals counted and the last-seen times noted since the last write are not lost to a
    // stop.
    if let Err(e) = ledger.flush_noted().await {
        tracing::warn!(error = %e, "writing refused checkouts' counts and last-seen times at shutdown failed");
    }
    served
}

/// How long requests in flight may take to finish after a stop signal.
pub const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Every 15 seconds: releases the floating licenses of agents silent for longer than their
/// tenant allows, activates the licenses whose first valid day has come, makes the expiry
/// reminders that fell due (with their webhook deliveries, queued), keeps the latest time seen,
/// turns the refused sign-ins of each closed window into audit entries, and deletes the sessions
/// that ended. Each instance sweeps; the work is idempotent.
fn spawn_sweeper(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(15));
        loop {
            tick.tick().await;
            sweep(&state).await;
        }
    });
}

/// Every second: writes the refused checkouts counted and the agents' last-seen times noted in
/// memory (`ledger::refusals`, `ledger::seen`).
fn spawn_noted_flusher(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::ledger::refusals::FLUSH_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = state.ledger.flush_noted().await {
                tracing::warn!(error = %e, "writing refused checkouts' counts or last-seen times failed; kept for the next try");
            }
        }
    });
}

/// Every 15 seconds, apart from the sweeper (a slow receiver delays no activation): posts the
/// webhook deliveries due. Each delivery is claimed before it is posted, so of several instances
/// one posts it.
fn spawn_deliverer(state: AppState) {
    if state.config.webhook.is_none() {
        return;
    }
    tokio::spawn(async move {
        let client = match crate::expiry::webhook::client() {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "no webhook deliveries: the HTTP client could not be built");
                return;
            }
        };
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(15));
        loop {
            tick.tick().await;
            deliver_webhooks(&state, &client).await;
        }
    });
}

/// One round of the deliverer's work: posts the webhook deliveries due (tests call it).
pub async fn deliver_webhooks(state: &AppState, client: &reqwest::Client) {
    let Some(config) = state.config.webhook.as_ref() else {
        return;
    };
    if let Err(e) =
        crate::expiry::webhook::deliver_due(&state.db, client, config, state.clock.now_ms()).await
    {
        tracing::warn!(error = %e, "delivering webhooks failed");
    }
}

/// One round of the sweeper's work (tests call it after moving the clock).
pub async fn sweep(state: &AppState) {
    let now = state.clock.now_ms();
    match crate::ledger::holdings::release_silent(&state.ledger, now).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(released = n, "released floating licenses of silent agents");
        }
        Err(e) => tracing::warn!(error = %e, "releasing silent agents' licenses failed"),
    }
    match crate::ledger::platform::activate_due(&state.ledger, now).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(activated = n, "activated licenses on their first valid day");
        }
        Err(e) => tracing::warn!(error = %e, "activating licenses that fell due failed"),
    }
    match crate::ledger::status::expire_ranks(&state.ledger, now).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(licenses = n, "sorted lapsed licenses among the expired"),
        Err(e) => tracing::warn!(error = %e, "updating lapsed licenses' status rank failed"),
    }
    if let Some(t) = state.clock.tampering() {
        tracing::warn!(
            system_ms = t.system_ms,
            seen_ms = t.seen_ms,
            "clock tampering: the system clock is more than a day behind the latest time seen; expiries count from the latest time seen"
        );
    }
    if let Err(e) = crate::expiry::store::keep_clock(&state.db, state.clock.now_ms()).await {
        tracing::warn!(error = %e, "keeping the latest time seen failed");
    }
    match crate::auth::server::throttle::close_windows(&state.db, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(entries = n, "counted refused sign-ins into the audit log"),
        Err(e) => tracing::warn!(error = %e, "closing the refused sign-ins' windows failed"),
    }
    let idle_ms = state.config.session_idle_secs * 1000;
    match crate::auth::server::sessions::purge_ended(&state.db, now, idle_ms).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(sessions = n, "purged ended sessions"),
        Err(e) => tracing::warn!(error = %e, "purging ended sessions failed"),
    }
    let webhook = state.config.webhook.is_some();
    if let Err(e) = crate::expiry::store::sweep(&state.db, now, webhook).await {
        tracing::warn!(error = %e, "making expiry reminders failed");
    }
    let keep = state.config.usage_retention;
    // The refusals counted so far belong to the minutes about to be rolled up.
    if let Err(e) = state.ledger.flush_noted().await {
        tracing::warn!(error = %e, "writing refused checkouts' counts failed; kept for the next try");
    }
    match crate::usage::store::roll_up(&state.db, now, keep).await {
        Ok(r) => {
            tracing::debug!(
                minutes = r.minutes,
                hours = r.hours,
                days = r.days,
                "rolled usage up"
            );
            if r.minutes + r.hours + r.days > 0 {
                let reports = &state.usage_reports;
                let views = crate::usage::store::refresh(&state.db, reports, keep, now).await;
                tracing::debug!(views, "usage views built ahead");
            }
        }
        Err(e) => tracing::warn!(error = %e, "rolling usage up failed"),
    }
    let threshold = state.config.shortage_refusals;
    match crate::expiry::store::shortages(&state.db, now, threshold, webhook).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(alerts = n, "made shortage alerts"),
        Err(e) => tracing::warn!(error = %e, "making shortage alerts failed"),
    }
    match crate::usage::store::prune(&state.db, now, keep).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(rows = n, "pruned usage history past its retention"),
        Err(e) => tracing::warn!(error = %e, "pruning usage history failed"),
    }
    state.sweeps.finished(state.clock.now_ms());
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
