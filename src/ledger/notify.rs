//! Instances sharing a PostgreSQL database tell each other which remembered checkout answers a
//! change made stale, so a license freed on one instance serves an agent refused on another at
//! its next checkout, not after the grants' freshness bound.
//!
//! Each change that forgets grants sends `NOTIFY` inside its transaction (PostgreSQL delivers it
//! at commit, and never for a rollback); every instance listens on [`CHANNEL`] and forgets the
//! same grants. While the listener is not subscribed (at start, after its connection failed),
//! grants are remembered only as briefly as refusals
//! ([`super::grants::REFUSAL_FRESH_MS`]); once it listens again everything is forgotten (it may
//! have missed changes meanwhile). SQLite has one writer process: nothing to tell.
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::grants::Scope;
use crate::error::AppError;

/// The notification channel.
pub const CHANNEL: &str = "tessera_ledger";

/// How long to wait before listening again after the connection failed.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// A scope as a notification's payload: `*`, `t:<tenant>` or `a:<agent>`.
pub fn payload(scope: &Scope) -> String {
    match scope {
        Scope::Every => "*".to_string(),
        Scope::Tenant(t) => format!("t:{t}"),
        Scope::Agent(a) => format!("a:{a}"),
    }
}

/// The scope a payload names; anything unreadable is read as every grant (forgetting too much
/// is only slower).
pub fn scope_of(payload: &str) -> Scope {
    match payload.split_once(':') {
        Some(("t", t)) if !t.is_empty() => Scope::Tenant(t.to_string()),
        Some(("a", a)) if !a.is_empty() => Scope::Agent(a.to_string()),
        _ => Scope::Every,
    }
}

/// Sends the notification of `scope` inside `txn` (PostgreSQL only).
pub async fn send(txn: &impl ConnectionTrait, scope: &Scope) -> Result<(), AppError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload(scope).into()],
    ))
    .await?;
    Ok(())
}

/// What the listener has done: for the operations' figures and for tests, which wait for it.
#[derive(Default)]
pub struct Heard {
    /// Notifications applied.
    pub notifications: AtomicU64,
    /// Times it started listening (the first time, and after each lost connection).
    pub subscriptions: AtomicU64,
}

impl Heard {
    pub fn notifications(&self) -> u64 {
        self.notifications.load(Ordering::Acquire)
    }

    pub fn subscriptions(&self) -> u64 {
        self.subscriptions.load(Ordering::Acquire)
    }
}

/// Listens for other instances' changes for as long as the process runs (PostgreSQL only).
pub fn spawn_listener(db: &DatabaseConnection, ledger: super::Ledger) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    // Not hearing yet: grants live briefly until the listener is subscribed.
    ledger.grants.hearing(false);
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&pool, &ledger).await {
                ledger.grants.hearing(false);
                tracing::warn!(error = %e, "listening for other instances' changes failed; listening again");
            }
            tokio::time::sleep(RETRY).await;
        }
    });
}

/// Subscribes, forgets everything (changes may have been missed while not subscribed), then
/// applies each notification. A lost connection is re-established and subscribed again by the
/// listener itself before it answers `None` (sqlx's eager reconnect): then everything is
/// forgotten again. When it cannot reconnect, the error ends this listener; a new one follows.
async fn listen(
    pool: &sea_orm::sqlx::PgPool,
    ledger: &super::Ledger,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        // Forgets everything: changes may have been missed while not subscribed.
        ledger.grants.hearing(true);
        ledger.heard.subscriptions.fetch_add(1, Ordering::AcqRel);
        tracing::debug!("listening for other instances' changes");
        while let Some(n) = listener.try_recv().await? {
            ledger.grants.forget(scope_of(n.payload()));
            ledger.heard.notifications.fetch_add(1, Ordering::AcqRel);
        }
        tracing::warn!(
            "the connection listening for other instances' changes was lost; listening again"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_their_scope_and_anything_else_is_every_grant() {
        for scope in [
            Scope::Every,
            Scope::Tenant("t-1".into()),
            Scope::Agent("a:b".into()),
        ] {
            assert_eq!(scope_of(&payload(&scope)), scope);
        }
        assert_eq!(scope_of("x:1"), Scope::Every);
        assert_eq!(scope_of("a:"), Scope::Every);
        assert_eq!(scope_of(""), Scope::Every);
    }
}
