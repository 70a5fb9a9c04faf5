//! Refused checkouts, counted without writing on the request's path. A refusal is answered from
//! reads alone (or from memory, see `grants`); its count waits here and is written together
//! with the others at least once a second ([`flush`]). A crash loses at most the counts not yet
//! written: about a second's.
use std::collections::HashMap;
use std::sync::Mutex;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::agents::entity as agent;
use crate::error::AppError;
use crate::usage::entity::refused;
use crate::usage::rollup::{MINUTE_MS, bucket_of};

/// How often the counts waiting are written.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The reason of a checkout refused for want of a free license.
pub const NO_LICENSE_FREE: &str = "no_license_free";

/// Why a checkout was refused, as the usage record names it.
pub fn reason(why: &AppError) -> &'static str {
    match why {
        AppError::NoLicenseFree => NO_LICENSE_FREE,
        AppError::AgentShutDown => "agent_shut_down",
        AppError::LicenseExpired => "license_expired",
        AppError::LicenseRevoked => "license_revoked",
        _ => "other",
    }
}

/// One agent's refusals waiting: its tenant, and the counts per minute and reason.
#[derive(Default)]
struct Waiting {
    tenant_id: String,
    counts: HashMap<(i64, &'static str), u64>,
}

/// The refusals counted on this instance and not yet written, by agent.
#[derive(Default)]
pub struct Refusals {
    pending: Mutex<HashMap<String, Waiting>>,
}

impl Refusals {
    /// Counts one refused checkout of `agent_id` (of `tenant_id`), refused for `why` at `now`.
    pub fn count(&self, agent_id: &str, tenant_id: &str, why: &AppError, now: i64) {
        let key = (bucket_of(now, MINUTE_MS), reason(why));
        metrics::counter!(
            "tessera_refusals_total",
            "tenant" => tenant_id.to_string(),
            "reason" => key.1,
        )
        .increment(1);
        let mut pending = self.lock();
        let waiting = match pending.get_mut(agent_id) {
            Some(w) => w,
            None => pending
                .entry(agent_id.to_string())
                .or_insert_with(|| Waiting {
                    tenant_id: tenant_id.to_string(),
                    counts: HashMap::new(),
                }),
        };
        *waiting.counts.entry(key).or_default() += 1;
    }

    /// The refusals of `agent_id` counted here and not yet written.
    pub fn pending(&self, agent_id: &str) -> u64 {
        self.lock()
            .get(agent_id)
            .map_or(0, |w| w.counts.values().sum())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take(&self) -> HashMap<String, Waiting> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back counts a failed write did not keep.
    fn restore(&self, taken: HashMap<String, Waiting>) {
        let mut pending = self.lock();
        for (agent_id, w) in taken {
            let into = pending.entry(agent_id).or_insert_with(|| Waiting {
                tenant_id: w.tenant_id.clone(),
                counts: HashMap::new(),
            });
            for (key, n) in w.counts {
                *into.counts.entry(key).or_default() += n;
            }
        }
    }
}

/// Writes every count waiting, in one transaction: each agent's total, and the usage record's
/// count per minute, agent and reason. Answers how many refusals it wrote. On a failure the
/// counts wait for the next flush.
pub async fn flush(db: &DatabaseConnection, refusals: &Refusals) -> Result<u64, AppError> {
    let taken = refusals.take();
    if taken.is_empty() {
        return Ok(0);
    }
    let written = async {
        let txn = crate::server::db::begin_write(db).await?;
        let mut total = 0u64;
        for (agent_id, w) in &taken {
            let n: u64 = w.counts.values().sum();
            total += n;
            agent::Entity::update_many()
                .col_expr(
                    agent::Column::RefusedCount,
                    Expr::col(agent::Column::RefusedCount)
                        .add(i64::try_from(n).unwrap_or(i64::MAX)),
                )
                .filter(agent::Column::Id.eq(agent_id.clone()))
                .exec(&txn)
                .await?;
            for ((start, reason), n) in &w.counts {
                use refused::Column as C;
                let row = refused::ActiveModel {
                    start: Set(*start),
                    agent_id: Set(agent_id.clone()),
                    reason: Set((*reason).to_string()),
                    tenant_id: Set(w.tenant_id.clone()),
                    refusals: Set(i64::try_from(*n).unwrap_or(i64::MAX)),
                };
                refused::Entity::insert(row)
                    .on_conflict(
                        OnConflict::columns([C::Start, C::AgentId, C::Reason])
                            .value(
                                C::Refusals,
                                Expr::col((refused::Entity, C::Refusals))
                                    .add(Expr::col(("excluded", C::Refusals))),
                            )
                            .to_owned(),
                    )
                    .exec_without_returning(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok::<u64, AppError>(total)
    }
    .await;
    if written.is_err() {
        refusals.restore(taken);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_wait_per_agent_and_come_back_after_a_failed_write() {
        let r = Refusals::default();
        let none = AppError::NoLicenseFree;
        r.count("a", "t", &none, 0);
        r.count("a", "t", &AppError::AgentShutDown, 61_000);
        r.count("b", "t", &none, 0);
        assert_eq!((r.pending("a"), r.pending("b"), r.pending("c")), (2, 1, 0));
        let taken = r.take();
        assert_eq!(r.pending("a"), 0);
        r.count("a", "t", &none, 0);
        r.restore(taken);
        assert_eq!((r.pending("a"), r.pending("b")), (3, 1));
        let pending = r.lock();
        let a = &pending["a"].counts;
        assert_eq!(a[&(0, "no_license_free")], 2, "per minute and reason");
        assert_eq!(a[&(60_000, "agent_shut_down")], 1);
    }
}
