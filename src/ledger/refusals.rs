//! Refused checkouts, counted without writing on the request's path. A refusal is answered from
//! reads alone (or from memory, see `grants`); its count waits here and is written together
//! with the others at least once a second ([`flush`]). A crash loses at most the counts not yet
//! written: about a second's.
use std::collections::HashMap;
use std::sync::Mutex;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};

use crate::agents::entity as agent;
use crate::error::AppError;

/// How often the counts waiting are written.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The refusals counted on this instance and not yet written, by agent.
#[derive(Default)]
pub struct Refusals {
    pending: Mutex<HashMap<String, u64>>,
}

impl Refusals {
    /// Counts one refused checkout of `agent_id`.
    pub fn count(&self, agent_id: &str) {
        let mut pending = self.lock();
        match pending.get_mut(agent_id) {
            Some(n) => *n += 1,
            None => {
                pending.insert(agent_id.to_string(), 1);
            }
        }
    }

    /// The refusals of `agent_id` counted here and not yet written.
    pub fn pending(&self, agent_id: &str) -> u64 {
        self.lock().get(agent_id).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take(&self) -> HashMap<String, u64> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back counts a failed write did not keep.
    fn restore(&self, counts: HashMap<String, u64>) {
        let mut pending = self.lock();
        for (agent_id, n) in counts {
            *pending.entry(agent_id).or_default() += n;
        }
    }
}

/// Writes every count waiting, in one transaction; answers how many refusals it wrote. On a
/// failure the counts wait for the next flush.
pub async fn flush(db: &DatabaseConnection, refusals: &Refusals) -> Result<u64, AppError> {
    let counts = refusals.take();
    if counts.is_empty() {
        return Ok(0);
    }
    let written = async {
        let txn = db.begin().await?;
        for (agent_id, n) in &counts {
            agent::Entity::update_many()
                .col_expr(
                    agent::Column::RefusedCount,
                    Expr::col(agent::Column::RefusedCount)
                        .add(i64::try_from(*n).unwrap_or(i64::MAX)),
                )
                .filter(agent::Column::Id.eq(agent_id.clone()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok::<u64, AppError>(counts.values().sum())
    }
    .await;
    if written.is_err() {
        refusals.restore(counts);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_wait_per_agent_and_come_back_after_a_failed_write() {
        let r = Refusals::default();
        r.count("a");
        r.count("a");
        r.count("b");
        assert_eq!((r.pending("a"), r.pending("b"), r.pending("c")), (2, 1, 0));
        let taken = r.take();
        assert_eq!(r.pending("a"), 0);
        r.count("a");
        r.restore(taken);
        assert_eq!((r.pending("a"), r.pending("b")), (3, 1));
    }
}
