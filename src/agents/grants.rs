//! The checkout fast path. Checkout runs on every inference request, so a grant the database made
//! is remembered in memory for [`FRESH_MS`] (never past the license's own expiry) and answered
//! from there. The ledger forgets them as its changes commit (all of them, or one agent's for a
//! change of that agent's own holding); another instance sharing the database sees such a change
//! within [`FRESH_MS`]. Claims of
//! floating licenses always go to the database, so no license is ever held by two agents there.
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::model::CheckedOut;

/// How long a grant is answered from memory.
pub const FRESH_MS: i64 = 2_000;
/// How often a cached agent's last-seen time is written to the database.
pub const SEEN_EVERY_MS: i64 = 30_000;

struct Grant {
    agent_id: String,
    out: CheckedOut,
    fresh_until: i64,
    seen_written: i64,
}

/// A remembered grant, and whether the agent's last-seen time is due to be written.
pub struct Hit {
    pub agent_id: String,
    pub out: CheckedOut,
    pub write_seen: bool,
}

#[derive(Default)]
pub struct Grants {
    by_token_hash: RwLock<HashMap<String, Grant>>,
    /// Bumped by every [`Grants::forget_all`], so a grant computed before a change is not kept.
    generation: AtomicU64,
}

impl Grants {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, token_hash: &str, now: i64) -> Option<Hit> {
        {
            let map = self.by_token_hash.read().ok()?;
            let g = map.get(token_hash)?;
            if now >= g.fresh_until {
                return None;
            }
            if now - g.seen_written < SEEN_EVERY_MS {
                return Some(Hit {
                    agent_id: g.agent_id.clone(),
                    out: g.out.clone(),
                    write_seen: false,
                });
            }
        }
        // Due for a last-seen write: only one caller gets to do it.
        let mut map = self.by_token_hash.write().ok()?;
        let g = map.get_mut(token_hash)?;
        let write_seen = now - g.seen_written >= SEEN_EVERY_MS;
        if write_seen {
            g.seen_written = now;
        }
        Some(Hit {
            agent_id: g.agent_id.clone(),
            out: g.out.clone(),
            write_seen,
        })
    }

    /// Remembers a grant made at `now`, unless grants were forgotten since `generation` was read.
    pub fn put(
        &self,
        generation: u64,
        token_hash: String,
        agent_id: String,
        out: CheckedOut,
        now: i64,
    ) {
        // Agents' grants go stale at spread-out times (up to 0.56 s early, by the last hex digit of
        // the token's hash), so many agents granted at once do not all return to the database together.
        let spread = token_hash
            .bytes()
            .last()
            .map_or(0, |b| i64::from(b % 16) * (FRESH_MS / 32));
        let fresh_until = match out.expires_at {
            Some(t) => t.min(now + FRESH_MS - spread),
            None => now + FRESH_MS - spread,
        };
        if let Ok(mut map) = self.by_token_hash.write()
            && self.generation() == generation
        {
            // Bounded: a stale entry is dropped at the next change, and agents are few.
            if map.len() >= 100_000 {
                map.clear();
            }
            map.insert(
                token_hash,
                Grant {
                    agent_id,
                    out,
                    fresh_until,
                    seen_written: now,
                },
            );
        }
    }

    /// Forgets every grant. Only the ledger calls it, as a change that may touch any license,
    /// tenant or agent commits.
    /// Answers the new generation.
    pub(crate) fn forget_all(&self) -> u64 {
        let mut map = self
            .by_token_hash
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.clear();
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Forgets one agent's grants: the ledger calls it as a change of that agent's own holding
    /// (its claim, its release) commits. Other agents' remembered grants stay: that change cannot
    /// have made them stale.
    /// The generation moves on too, so a grant of this agent computed before the change is
    /// not kept; the new generation is answered.
    pub(crate) fn forget_agent(&self, agent_id: &str) -> u64 {
        let mut map = self
            .by_token_hash
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, g| g.agent_id != agent_id);
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::model::Basis;

    fn out(expires_at: Option<i64>) -> CheckedOut {
        CheckedOut {
            licensed: true,
            basis: Basis::Floating,
            license_id: Some("c".into()),
            expires_at,
        }
    }

    #[test]
    fn a_grant_is_answered_until_it_is_stale_or_its_license_expires() {
        let g = Grants::default();
        // A hash ending in "0" goes stale after the whole FRESH_MS; others up to 0.56 s earlier.
        g.put(g.generation(), "a0".into(), "a".into(), out(None), 1_000);
        assert!(g.get("a0", 1_000 + FRESH_MS - 1).is_some());
        assert!(g.get("a0", 1_000 + FRESH_MS).is_none());
        g.put(g.generation(), "af".into(), "a".into(), out(None), 1_000);
        assert!(g.get("af", 1_000 + FRESH_MS / 2).is_some());
        assert!(g.get("af", 1_000 + FRESH_MS - 1).is_none());
        g.put(
            g.generation(),
            "a0".into(),
            "a".into(),
            out(Some(1_500)),
            1_000,
        );
        assert!(g.get("a0", 1_499).is_some());
        assert!(
            g.get("a0", 1_500).is_none(),
            "never past the license's expiry"
        );
    }

    #[test]
    fn forgetting_drops_grants_and_refuses_those_computed_before() {
        let g = Grants::default();
        let before = g.generation();
        g.put(before, "h".into(), "a".into(), out(None), 0);
        g.forget_all();
        assert!(g.get("h", 1).is_none());
        g.put(before, "h".into(), "a".into(), out(None), 0);
        assert!(
            g.get("h", 1).is_none(),
            "computed before the change: not kept"
        );
    }

    #[test]
    fn the_last_seen_write_falls_due_once_per_period() {
        let g = Grants::default();
        // A long-lived grant, to see the last-seen period pass.
        let mut map_out = out(None);
        map_out.expires_at = None;
        g.put(g.generation(), "h".into(), "a".into(), map_out, 0);
        if let Ok(mut m) = g.by_token_hash.write() {
            m.get_mut("h").unwrap().fresh_until = i64::MAX;
        }
        assert!(!g.get("h", SEEN_EVERY_MS - 1).unwrap().write_seen);
        assert!(g.get("h", SEEN_EVERY_MS).unwrap().write_seen);
        assert!(!g.get("h", SEEN_EVERY_MS + 1).unwrap().write_seen);
    }
}
