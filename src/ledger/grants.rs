//! The checkout fast path. Checkout runs on every inference request, so a grant the database made
//! is remembered in memory and answered from there until a change of license state makes it
//! stale, its lease is due for renewal or its license's expiry comes, and never longer than
//! [`GRANT_MAX_AGE_MS`]. The ledger forgets grants as its changes commit, only as widely as the
//! change reaches: one agent's (its claim, release, binding), one tenant's (its pool, its
//! platform), or all (a package, the shared pool); another instance sharing the database forgets
//! the same grants when PostgreSQL delivers the change's notification ([`super::notify`]), and a
//! listener that lost its connection forgets everything. The age bound only covers what no
//! change announces (a database edited by hand). Claims of floating licenses always go to the
//! database, so no license is ever held by two agents there.
//!
//! Refusals are remembered the same way (shortage is when agents retry hardest), but briefly,
//! for [`REFUSAL_FRESH_MS`]: any change of license state forgets every one, since a release, a
//! new license or an assignment in any scope may serve a refused agent, and so does time (a
//! shut-down agent's license comes free when its last lease ends, with no change to announce it).
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use crate::agents::model::CheckedOut;
use crate::error::AppError;

/// The longest a grant is answered from memory (changes forget it sooner; so do its lease's
/// renewal time and its license's expiry). A backstop for what no change announces.
pub const GRANT_MAX_AGE_MS: i64 = 300_000;
/// How long a refusal is answered from memory, unless a change forgets it sooner.
pub const REFUSAL_FRESH_MS: i64 = 2_000;
/// How often a cached agent's last-seen time is written to the database.
pub const SEEN_EVERY_MS: i64 = 30_000;
/// How many recent forgettings are kept to judge a grant computed meanwhile; a grant computed
/// before the oldest of them is not kept (only a cache miss).
const FORGOTTEN_KEPT: usize = 4_096;

/// What checkout answers an agent: its grant, or why it is refused.
pub type Answer = Result<CheckedOut, AppError>;

/// Whether a refusal only changes with license state (and so may be remembered until it changes).
fn remembered_refusal(e: &AppError) -> bool {
    matches!(
        e,
        AppError::NoLicenseFree
            | AppError::AgentShutDown
            | AppError::LicenseExpired
            | AppError::LicenseRevoked
    )
}

struct Grant {
    agent_id: String,
    tenant_id: String,
    answer: Answer,
    fresh_until: i64,
    seen_written: i64,
}

/// A remembered answer, and whether the agent's last-seen time is due to be written.
pub struct Hit {
    pub agent_id: String,
    pub tenant_id: String,
    pub answer: Answer,
    pub write_seen: bool,
}

/// Which remembered grants a change of license state can make stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Any agent's: licenses arrived or ended, the shared pool changed.
    Every,
    /// The agents of one tenant: its pool or its platform license changed, or it was deleted.
    Tenant(String),
    /// One agent's own: its claim, release, binding, shutdown or deletion.
    Agent(String),
}

impl Scope {
    fn reaches(&self, agent_id: &str, tenant_id: &str) -> bool {
        match self {
            Scope::Every => true,
            Scope::Tenant(t) => t == tenant_id,
            Scope::Agent(a) => a == agent_id,
        }
    }
}

/// Who a grant is for, and the generation read before it was computed.
pub struct Computed<'a> {
    pub generation: u64,
    pub agent_id: &'a str,
    pub tenant_id: &'a str,
}

#[derive(Default)]
pub struct Grants {
    by_token_hash: RwLock<HashMap<String, Grant>>,
    /// Bumped by every forgetting, so a grant computed before a change it reaches is not kept.
    generation: AtomicU64,
    /// The latest forgettings, oldest first, with the generation each made.
    forgotten: Mutex<VecDeque<(u64, Scope)>>,
    /// Set while other instances' changes may go unheard (PostgreSQL's listener is not
    /// subscribed): grants then live no longer than refusals.
    unheard: AtomicBool,
}

impl Grants {
    /// Whether other instances' changes are heard (see [`super::notify`]). Whenever this changes,
    /// everything is forgotten: what was remembered meanwhile may have missed a change.
    pub(crate) fn hearing(&self, heard: bool) {
        self.unheard.store(!heard, Ordering::Release);
        self.forget(Scope::Every);
    }

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
                    tenant_id: g.tenant_id.clone(),
                    answer: g.answer.clone(),
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
            tenant_id: g.tenant_id.clone(),
            answer: g.answer.clone(),
            write_seen,
        })
    }

    /// Remembers an answer made at `now`: a grant, unless a change that reaches its agent was
    /// forgotten since its generation was read (the grant may predate that change); a refusal
    /// that only license state can change, unless any change was forgotten since. Other refusals
    /// are not remembered.
    pub fn put(&self, computed: Computed<'_>, token_hash: String, answer: Answer, now: i64) {
        let (expires_at, life) = match &answer {
            Ok(out) if self.unheard.load(Ordering::Acquire) => (out.good_until(), REFUSAL_FRESH_MS),
            Ok(out) => (out.good_until(), GRANT_MAX_AGE_MS),
            Err(e) if remembered_refusal(e) => (None, REFUSAL_FRESH_MS),
            Err(_) => return,
        };
        // Answers go stale at spread-out times (up to 28 % of their life early, by the last hex
        // digit of the token's hash), so many agents answered at once do not all return to the
        // database together.
        let spread = token_hash
            .bytes()
            .last()
            .map_or(0, |b| i64::from(b % 16) * (life / 32));
        let fresh_until = match expires_at {
            Some(t) => t.min(now + life - spread),
            None => now + life - spread,
        };
        // The map's lock is held across the check, so no forgetting slips between the two.
        let Ok(mut map) = self.by_token_hash.write() else {
            return;
        };
        let stale = match answer {
            Ok(_) => self.changed_since(&computed),
            Err(_) => self.generation() != computed.generation,
        };
        if stale {
            return;
        }
        // Bounded: a stale entry is dropped at the next change, and agents are few.
        if map.len() >= 100_000 {
            map.clear();
        }
        map.insert(
            token_hash,
            Grant {
                agent_id: computed.agent_id.to_string(),
                tenant_id: computed.tenant_id.to_string(),
                answer,
                fresh_until,
                seen_written: now,
            },
        );
    }

    /// Whether a forgetting since `computed.generation` reaches its agent (or is too old to tell).
    fn changed_since(&self, computed: &Computed<'_>) -> bool {
        let now = self.generation();
        if now == computed.generation {
            return false;
        }
        let Ok(forgotten) = self.forgotten.lock() else {
            return true;
        };
        let oldest_known = forgotten.front().map_or(now, |(g, _)| *g);
        if computed.generation + 1 < oldest_known {
            return true;
        }
        forgotten
            .iter()
            .filter(|(g, _)| *g > computed.generation)
            .any(|(_, scope)| scope.reaches(computed.agent_id, computed.tenant_id))
    }

    /// Forgets the grants a committed change reaches. Only the ledger calls it, as its changes
    /// commit, and the test clock's route. Answers the new generation.
    pub(crate) fn forget(&self, scope: Scope) -> u64 {
        let mut map = self
            .by_token_hash
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &scope {
            Scope::Every => map.clear(),
            // Refusals go with any change: it may have freed what they lacked.
            _ => map.retain(|_, g| g.answer.is_ok() && !scope.reaches(&g.agent_id, &g.tenant_id)),
        }
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let mut forgotten = self
            .forgotten
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if forgotten.len() >= FORGOTTEN_KEPT {
            forgotten.pop_front();
        }
        forgotten.push_back((generation, scope));
        generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::model::Basis;

    fn put(g: &Grants, generation: u64, hash: &str, agent: &str, out: CheckedOut, now: i64) {
        let computed = Computed {
            generation,
            agent_id: agent,
            tenant_id: "t",
        };
        g.put(computed, hash.into(), Ok(out), now);
    }

    fn out(expires_at: Option<i64>) -> CheckedOut {
        CheckedOut {
            licensed: true,
            basis: Basis::Floating,
            license_id: Some("c".into()),
            expires_at,
            lease: None,
            renew_after: None,
            borrowed_until: None,
        }
    }

    #[test]
    fn a_grant_is_answered_until_it_is_stale_or_its_license_expires() {
        let g = Grants::default();
        // A hash ending in "0" goes stale after the whole age bound; others up to 28 % earlier.
        put(&g, g.generation(), "a0", "a", out(None), 1_000);
        assert!(g.get("a0", 1_000 + GRANT_MAX_AGE_MS - 1).is_some());
        assert!(g.get("a0", 1_000 + GRANT_MAX_AGE_MS).is_none());
        put(&g, g.generation(), "af", "a", out(None), 1_000);
        assert!(g.get("af", 1_000 + GRANT_MAX_AGE_MS / 2).is_some());
        assert!(g.get("af", 1_000 + GRANT_MAX_AGE_MS - 1).is_none());
        // A refusal lives briefly, whatever changes.
        let refused = Computed {
            generation: g.generation(),
            agent_id: "b",
            tenant_id: "t",
        };
        g.put(refused, "b0".into(), Err(AppError::NoLicenseFree), 1_000);
        assert!(g.get("b0", 1_000 + REFUSAL_FRESH_MS - 1).is_some());
        assert!(g.get("b0", 1_000 + REFUSAL_FRESH_MS).is_none());
        put(&g, g.generation(), "a0", "a", out(Some(1_500)), 1_000);
        assert!(g.get("a0", 1_499).is_some());
        assert!(
            g.get("a0", 1_500).is_none(),
            "never past the license's expiry"
        );
        let renewing = CheckedOut {
            renew_after: Some(1_200),
            ..out(Some(1_500))
        };
        put(&g, g.generation(), "a0", "a", renewing, 1_000);
        assert!(g.get("a0", 1_199).is_some());
        assert!(
            g.get("a0", 1_200).is_none(),
            "never past the time its lease is to be renewed"
        );
    }

    #[test]
    fn while_other_instances_are_unheard_grants_live_as_briefly_as_refusals() {
        let g = Grants::default();
        g.hearing(false);
        put(&g, g.generation(), "a0", "a", out(None), 0);
        assert!(g.get("a0", REFUSAL_FRESH_MS - 1).is_some());
        assert!(g.get("a0", REFUSAL_FRESH_MS).is_none());
        put(&g, g.generation(), "a0", "a", out(None), 0);
        // Hearing again forgets what was remembered meanwhile, and grants live long again.
        g.hearing(true);
        assert!(g.get("a0", 1).is_none());
        put(&g, g.generation(), "a0", "a", out(None), 0);
        assert!(g.get("a0", REFUSAL_FRESH_MS).is_some());
    }

    #[test]
    fn forgetting_drops_grants_and_refuses_those_computed_before() {
        let g = Grants::default();
        let before = g.generation();
        put(&g, before, "h", "a", out(None), 0);
        g.forget(Scope::Every);
        assert!(g.get("h", 1).is_none());
        put(&g, before, "h", "a", out(None), 0);
        assert!(
            g.get("h", 1).is_none(),
            "computed before the change: not kept"
        );
    }

    #[test]
    fn a_change_forgets_only_the_grants_it_reaches() {
        let g = Grants::default();
        let at = |agent: &'static str, tenant: &'static str, generation| Computed {
            generation,
            agent_id: agent,
            tenant_id: tenant,
        };
        let before = g.generation();
        g.put(at("a1", "t1", before), "h1".into(), Ok(out(None)), 0);
        g.put(at("a2", "t1", before), "h2".into(), Ok(out(None)), 0);
        g.put(at("a3", "t2", before), "h3".into(), Ok(out(None)), 0);

        // One agent's claim: its own grant goes, its neighbours' stay.
        g.forget(Scope::Agent("a1".into()));
        assert!(g.get("h1", 1).is_none());
        assert!(g.get("h2", 1).is_some() && g.get("h3", 1).is_some());
        // A grant for another agent computed before that claim is still kept; one for a1 is not.
        g.put(at("a2", "t1", before), "h2".into(), Ok(out(None)), 0);
        assert!(g.get("h2", 1).is_some());
        g.put(at("a1", "t1", before), "h1".into(), Ok(out(None)), 0);
        assert!(g.get("h1", 1).is_none(), "computed before its own claim");

        // A change of tenant t1's pool: t1's agents go, t2's stay.
        g.forget(Scope::Tenant("t1".into()));
        assert!(g.get("h2", 1).is_none());
        assert!(g.get("h3", 1).is_some());
        g.put(at("a3", "t2", before), "h3".into(), Ok(out(None)), 0);
        assert!(g.get("h3", 1).is_some());
        g.put(at("a2", "t1", before), "h2".into(), Ok(out(None)), 0);
        assert!(g.get("h2", 1).is_none(), "computed before its pool changed");

        // Everything: nothing computed before is kept.
        g.forget(Scope::Every);
        assert!(g.get("h3", 1).is_none());
        g.put(at("a3", "t2", before), "h3".into(), Ok(out(None)), 0);
        assert!(g.get("h3", 1).is_none());
    }

    #[test]
    fn a_grant_older_than_the_forgettings_kept_is_not_kept() {
        let g = Grants::default();
        let before = g.generation();
        for i in 0..=FORGOTTEN_KEPT {
            g.forget(Scope::Agent(format!("other{i}")));
        }
        let computed = Computed {
            generation: before,
            agent_id: "a",
            tenant_id: "t",
        };
        g.put(computed, "h".into(), Ok(out(None)), 0);
        assert!(g.get("h", 1).is_none(), "cannot tell what reached it");
    }

    #[test]
    fn a_refusal_is_remembered_until_any_change_and_only_if_none_came_since() {
        let g = Grants::default();
        let at = |agent: &'static str, tenant: &'static str, generation| Computed {
            generation,
            agent_id: agent,
            tenant_id: tenant,
        };
        let before = g.generation();
        g.put(
            at("a1", "t1", before),
            "h1".into(),
            Err(AppError::NoLicenseFree),
            0,
        );
        g.put(at("a2", "t1", before), "h2".into(), Ok(out(None)), 0);
        assert!(matches!(
            g.get("h1", 1).map(|h| h.answer),
            Some(Err(AppError::NoLicenseFree))
        ));
        // A change reaching another tenant's agent only: the refusal goes all the same (a license
        // may have come free), the grant stays.
        g.forget(Scope::Agent("elsewhere".into()));
        assert!(g.get("h1", 1).is_none());
        assert!(g.get("h2", 1).is_some());
        // Decided before that change: not kept, though the change did not reach its agent.
        g.put(
            at("a1", "t1", before),
            "h1".into(),
            Err(AppError::NoLicenseFree),
            0,
        );
        assert!(g.get("h1", 1).is_none());
        // Refusals that are not about license state are never remembered.
        let now = g.generation();
        g.put(
            at("a1", "t1", now),
            "h1".into(),
            Err(AppError::Unavailable),
            0,
        );
        assert!(g.get("h1", 1).is_none());
    }

    #[test]
    fn the_last_seen_write_falls_due_once_per_period() {
        let g = Grants::default();
        // A long-lived grant, to see the last-seen period pass.
        let mut map_out = out(None);
        map_out.expires_at = None;
        put(&g, g.generation(), "h", "a", map_out, 0);
        if let Ok(mut m) = g.by_token_hash.write() {
            m.get_mut("h").unwrap().fresh_until = i64::MAX;
        }
        assert!(!g.get("h", SEEN_EVERY_MS - 1).unwrap().write_seen);
        assert!(g.get("h", SEEN_EVERY_MS).unwrap().write_seen);
        assert!(!g.get("h", SEEN_EVERY_MS + 1).unwrap().write_seen);
    }
}
