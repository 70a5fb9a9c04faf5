//! Agents' last-seen times, noted without writing on the request's path. A checkout answered from
//! memory notes its agent here at most every [`super::grants::SEEN_EVERY_MS`]; the times waiting
//! are written together, in one transaction, with the refused checkouts' counts
//! ([`super::refusals::FLUSH_EVERY`]). One transaction a second instead of one per agent is what
//! keeps 20,000 agents' last-seen times from taking SQLite's write lock 700 times a second. A
//! crash loses at most a second of them: a last-seen time is not license state, and the silent
//! agents' release waits minutes.
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::agents::entity as agent;
use crate::error::AppError;

/// How many agents one statement names.
const CHUNK: usize = 500;

/// The last-seen times noted on this instance and not yet written, by agent.
#[derive(Default)]
pub struct Seen {
    pending: Mutex<HashMap<String, i64>>,
}

impl Seen {
    /// Notes that `agent_id` was seen at `at`.
    pub fn note(&self, agent_id: &str, at: i64) {
        let mut pending = self.lock();
        match pending.get_mut(agent_id) {
            Some(t) => *t = (*t).max(at),
            None => {
                pending.insert(agent_id.to_string(), at);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts back times a failed write did not keep.
    fn restore(&self, taken: HashMap<String, i64>) {
        for (agent_id, at) in taken {
            self.note(&agent_id, at);
        }
    }
}

/// Writes every time waiting, in one transaction, never moving a time back (another instance
/// may have written a later one). Answers how many agents it wrote. On a failure the times wait
/// for the next flush.
pub async fn flush(db: &DatabaseConnection, seen: &Seen) -> Result<usize, AppError> {
    let taken = std::mem::take(&mut *seen.lock());
    if taken.is_empty() {
        return Ok(0);
    }
    // Agents seen at the same time are written by one statement.
    let mut by_time: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (agent_id, at) in &taken {
        by_time.entry(*at).or_default().push(agent_id);
    }
    let written = async {
        let txn = crate::server::db::begin_write(db).await?;
        for (at, agents) in &by_time {
            for chunk in agents.chunks(CHUNK) {
                agent::Entity::update_many()
                    .col_expr(agent::Column::LastSeenAt, Expr::value(*at))
                    .filter(agent::Column::Id.is_in(chunk.iter().copied()))
                    .filter(agent::Column::LastSeenAt.lt(*at))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    match written {
        Ok(()) => Ok(taken.len()),
        Err(e) => {
            seen.restore(taken);
            Err(e)
        }
    }
}
