//! Rollups of the usage record, pure: from what is in use now and the changes that led there,
//! what was in use in each bucket (peak, lowest, time-integrated), walking back from now.
//!
//! Walking back from the ledger's present state, rather than forward from a stored level, keeps
//! the figures anchored in the truth: a change the record missed could only shift the buckets
//! rolled after it happened, never every bucket after.
use std::collections::{BTreeMap, HashMap};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The key of every tenant together (the pool's whole use).
pub const EVERY_TENANT: &str = "*";

/// The license kind of the rollup rows that count registered agents (pool and product empty),
/// from the usage record's registrations and deletions like any other key.
pub const REGISTERED_AGENTS: &str = "agents";

/// What a license in use is counted under.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The tenant whose pool it is drawn from; `""`: the shared pool (or personal seats).
    pub pool: String,
    /// The tenant of the agent or user holding it, or [`EVERY_TENANT`].
    pub tenant: String,
    pub product: String,
    /// `floating`, `fixed` or `personal`.
    pub kind: String,
}

impl Key {
    /// The same pool and product, every tenant together.
    pub fn every_tenant(&self) -> Key {
        Key {
            tenant: EVERY_TENANT.to_string(),
            ..self.clone()
        }
    }
}

/// One change of the number in use, at a time (Unix ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub at: i64,
    pub key: Key,
    pub delta: i64,
}

/// What was in use under a key during one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub peak: i64,
    pub low: i64,
    /// In use times milliseconds: the mean is this over the bucket's length.
    pub used_ms: i64,
}

/// The start of the bucket of `span` ms holding `at`.
pub fn bucket_of(at: i64, span: i64) -> i64 {
    at.div_euclid(span) * span
}

/// Adds the every-tenant key beside each tenant's.
fn with_every_tenant(changes: &[Change]) -> Vec<Change> {
    let mut all = Vec::with_capacity(changes.len() * 2);
    for c in changes {
        all.push(c.clone());
        if c.key.tenant != EVERY_TENANT {
            all.push(Change {
                key: c.key.every_tenant(),
                ..c.clone()
            });
        }
    }
    all
}

/// The level of each key at `from`, given the levels `now` and every change since `from`.
fn levels_at(now_levels: &HashMap<Key, i64>, changes: &[Change], from: i64) -> HashMap<Key, i64> {
    let mut levels = HashMap::new();
    for (key, n) in now_levels {
        *levels.entry(key.clone()).or_insert(0) += n;
        if key.tenant != EVERY_TENANT {
            *levels.entry(key.every_tenant()).or_insert(0) += n;
        }
    }
    for c in changes.iter().filter(|c| c.at >= from) {
        *levels.entry(c.key.clone()).or_insert(0) -= c.delta;
    }
    levels
}

/// Each bucket of `span` ms in `[from, to)` (both bucket starts) with what was in use under each
/// key, for keys in use or changed then. `now_levels` are the numbers in use per tenant's key
/// now (at or after `to`), and `changes` every change since `from` (later ones included), per
/// tenant's key; the every-tenant keys are added. Changes at one instant count together: a
/// release and a claim in the same millisecond are no dip.
pub fn buckets(
    now_levels: &HashMap<Key, i64>,
    changes: &[Change],
    from: i64,
    to: i64,
    span: i64,
) -> BTreeMap<(i64, Key), Level> {
    let mut changes = with_every_tenant(changes);
    changes.retain(|c| c.at >= from);
    changes.sort_by_key(|c| c.at);
    let mut level = levels_at(now_levels, &changes, from);
    let mut out = BTreeMap::new();
    let mut next = changes.iter().peekable();
    let mut start = from;
    while start < to {
        let end = start + span;
        // Every key's state through this bucket: (level, since, peak, low, used).
        let mut open: HashMap<Key, (i64, i64, i64, i64, i64)> = level
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(k, n)| (k.clone(), (*n, start, *n, *n, 0)))
            .collect();
        while let Some(c) = next.next_if(|c| c.at < end) {
            let at = c.at;
            let mut instant = vec![c];
            while let Some(c) = next.next_if(|c| c.at == at) {
                instant.push(c);
            }
            let mut touched: Vec<&Key> = Vec::new();
            for c in instant {
                let (n, since, _, _, used) = open.entry(c.key.clone()).or_insert_with(|| {
                    let n = level.get(&c.key).copied().unwrap_or(0);
                    (n, start, n, n, 0)
                });
                *used += *n * (at - *since);
                *since = at;
                *n += c.delta;
                touched.push(&c.key);
            }
            for key in touched {
                if let Some((n, _, peak, low, _)) = open.get_mut(key) {
                    *peak = (*peak).max(*n);
                    *low = (*low).min(*n);
                }
            }
        }
        for (key, (n, since, peak, low, used)) in open {
            out.insert(
                (start, key.clone()),
                Level {
                    peak,
                    low,
                    used_ms: used + n * (end - since),
                },
            );
            level.insert(key, n);
        }
        start = end;
    }
    out
}

/// A bucket of a longer span from the buckets of a shorter one it holds: the highest peak, the
/// lowest low (0 when a shorter bucket is missing: nothing was in use then), the sum of use.
pub fn combine(parts: &[Level], expected: usize) -> Level {
    Level {
        peak: parts.iter().map(|l| l.peak).max().unwrap_or(0),
        low: if parts.len() < expected {
            0
        } else {
            parts.iter().map(|l| l.low).min().unwrap_or(0)
        },
        used_ms: parts.iter().map(|l| l.used_ms).sum(),
    }
}

/// The `q`-quantile (0..=1) of `values` by the nearest-rank method; 0 for none.
pub fn quantile(values: &[i64], q: f64) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    // Nearest rank: the smallest value with at least q of the values at or below it.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tenant: &str) -> Key {
        Key {
            pool: String::new(),
            tenant: tenant.into(),
            product: "p".into(),
            kind: "floating".into(),
        }
    }

    fn change(at: i64, tenant: &str, delta: i64) -> Change {
        Change {
            at,
            key: key(tenant),
            delta,
        }
    }

    #[test]
    fn a_minute_has_its_peak_low_and_time_in_use() {
        // Now (at 3 min) two are in use by tenant a. At 0:20 one was taken, at 0:50 another,
        // at 1:30 one given back, at 2:10 one taken: 0,1,2 | 2,1 | 1,2.
        let now = HashMap::from([(key("a"), 2)]);
        let changes = [
            change(20_000, "a", 1),
            change(50_000, "a", 1),
            change(90_000, "a", -1),
            change(130_000, "a", 1),
        ];
        let b = buckets(&now, &changes, 0, 3 * MINUTE_MS, MINUTE_MS);
        assert_eq!(
            b[&(0, key("a"))],
            Level {
                peak: 2,
                low: 0,
                used_ms: 30_000 + 2 * 10_000
            }
        );
        assert_eq!(
            b[&(MINUTE_MS, key("a"))],
            Level {
                peak: 2,
                low: 1,
                used_ms: 2 * 30_000 + 30_000
            }
        );
        assert_eq!(
            b[&(2 * MINUTE_MS, key("a"))],
            Level {
                peak: 2,
                low: 1,
                used_ms: 10_000 + 2 * 50_000
            }
        );
        // The pool's whole use is the same with one tenant.
        assert_eq!(b[&(0, key(EVERY_TENANT))], b[&(0, key("a"))]);
    }

    #[test]
    fn the_pools_peak_is_of_the_sum_not_the_sum_of_peaks() {
        // Tenant a uses one in the first half minute, b one in the second: each peaks at 1,
        // the pool at 1 too.
        let now = HashMap::new();
        let changes = [
            change(0, "a", 1),
            change(30_000, "a", -1),
            change(30_000, "b", 1),
            change(59_999, "b", -1),
        ];
        let b = buckets(&now, &changes, 0, MINUTE_MS, MINUTE_MS);
        assert_eq!(b[&(0, key("a"))].peak, 1);
        assert_eq!(b[&(0, key("b"))].peak, 1);
        let all = b[&(0, key(EVERY_TENANT))];
        assert_eq!((all.peak, all.low), (1, 0));
        assert_eq!(all.used_ms, 59_999);
    }

    #[test]
    fn changes_in_one_instant_make_no_dip_and_later_ones_are_walked_back() {
        // A replacement (release and claim in one ms) leaves the low at 1; the claim after `to`
        // is taken off the present level.
        let now = HashMap::from([(key("a"), 2)]);
        let changes = [
            change(10_000, "a", -1),
            change(10_000, "a", 1),
            change(70_000, "a", 1),
        ];
        let b = buckets(&now, &changes, 0, MINUTE_MS, MINUTE_MS);
        assert_eq!(
            b[&(0, key("a"))],
            Level {
                peak: 1,
                low: 1,
                used_ms: MINUTE_MS
            }
        );
        assert!(!b.contains_key(&(MINUTE_MS, key("a"))), "only [from, to)");
    }

    #[test]
    fn an_idle_key_has_no_bucket_and_a_steady_one_has_each() {
        let now = HashMap::from([(key("a"), 3), (key("b"), 0)]);
        let b = buckets(&now, &[], 0, 2 * MINUTE_MS, MINUTE_MS);
        assert_eq!(b.len(), 4, "a and every tenant, two minutes: {b:?}");
        assert!(b.values().all(|l| *l
            == Level {
                peak: 3,
                low: 3,
                used_ms: 3 * MINUTE_MS
            }));
    }

    #[test]
    fn longer_buckets_combine_shorter_ones() {
        let l = |peak, low, used_ms| Level { peak, low, used_ms };
        assert_eq!(combine(&[l(3, 1, 10), l(5, 2, 20)], 2), l(5, 1, 30));
        assert_eq!(
            combine(&[l(3, 1, 10)], 2),
            l(3, 0, 10),
            "a missing part is idle"
        );
        assert_eq!(combine(&[], 60), l(0, 0, 0));
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.95), 95);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[7], 0.95), 7);
        assert_eq!(quantile(&[], 0.95), 0);
        assert_eq!(quantile(&[1, 9, 3, 5], 0.5), 3);
    }
}
