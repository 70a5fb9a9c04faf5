//! The report of Settings > Usage from the rollups read, pure: the charts' points and each
//! pool's right-sizing.
//!
//! With a tenant chosen, "in use" is that tenant's use (of its own pool and of the shared one)
//! and "owned" what those pools own; without, every tenant's together. Demand in a bucket is
//! what was in use plus the agents refused then; refused agents count against each floating
//! pool they could have drawn from (their tenant's and the shared one), since a refusal means
//! both were exhausted.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::entity::refusal;
use super::model::Point;
use super::rollup::{EVERY_TENANT, Key, REGISTERED_AGENTS, quantile};

/// A rollup row as a report reads it: when, under which key (shared by every bucket of the key,
/// so rows kept in memory hold each key once), the peak in use and what was owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub start: i64,
    pub key: Arc<Key>,
    pub peak: i32,
    pub owned: i32,
}

/// The keys of rows read, each held once.
#[derive(Default)]
pub struct Keys(HashSet<Arc<Key>>);

impl Keys {
    pub fn get(&mut self, key: Key) -> Arc<Key> {
        if let Some(kept) = self.0.get(&key) {
            return kept.clone();
        }
        let key = Arc::new(key);
        self.0.insert(key.clone());
        key
    }
}

/// One pool's figures, before names are put on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The pool, product and kind (tenant: the one chosen, or every tenant).
    pub key: Key,
    pub owned: i64,
    pub peak: i64,
    pub p95: i64,
    pub at_capacity_pct: u32,
    pub needed_peak: i64,
    pub needed_p95: i64,
    /// Checkouts refused that this pool could have served (floating pools only).
    pub refused: i64,
    /// The most distinct agents refused in one bucket (floating pools only).
    pub agents_refused: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub points: Vec<Point>,
    pub pools: Vec<Pool>,
}

/// Builds the report of the buckets of `span_ms` in `[from, until)` from the rollup rows (of
/// the chosen tenant and of every tenant) and the refusal rows (of the chosen tenant, or all).
pub fn build<'a>(
    rows: impl IntoIterator<Item = &'a Row>,
    refusals: impl IntoIterator<Item = &'a refusal::Model>,
    tenant: Option<&str>,
    from: i64,
    until: i64,
    span_ms: i64,
) -> Built {
    let buckets = usize::try_from((until - from) / span_ms).unwrap_or(0);
    let index = |start: i64| {
        usize::try_from((start - from) / span_ms)
            .ok()
            .filter(|i| *i < buckets)
    };
    let user = tenant.unwrap_or(EVERY_TENANT);
    // Pools in scope: with a tenant chosen, its own and the shared ones.
    let in_scope = |pool: &str| tenant.is_none_or(|t| pool.is_empty() || pool == t);
    let mut points: Vec<Point> = (0..buckets)
        .map(|i| Point {
            start: from + i as i64 * span_ms,
            ..Point::default()
        })
        .collect();
    // Per pool: the peaks and what was owned, bucket by bucket. Rows of one key share it, so a
    // row finds its pool's series by the key's address; the pool is looked up by name once per
    // key, not once per row.
    let mut series: Vec<(Vec<i64>, Vec<i64>)> = Vec::new();
    let mut slot_of_pool: HashMap<Key, usize> = HashMap::new();
    let mut slot_of_key: HashMap<*const Key, usize> = HashMap::new();
    for r in rows.into_iter().filter(|r| in_scope(&r.key.pool)) {
        let Some(i) = index(r.start) else { continue };
        let row_key = &*r.key;
        if row_key.kind == REGISTERED_AGENTS {
            if row_key.tenant == user {
                points[i].agents_registered += i64::from(r.peak);
            }
            continue;
        }
        let slot = *slot_of_key.entry(Arc::as_ptr(&r.key)).or_insert_with(|| {
            let pool = Key {
                tenant: user.to_string(),
                ..row_key.clone()
            };
            *slot_of_pool.entry(pool).or_insert_with(|| {
                series.push((vec![0; buckets], vec![0; buckets]));
                series.len() - 1
            })
        });
        let series = &mut series[slot];
        let p = &mut points[i];
        if row_key.tenant == EVERY_TENANT {
            series.1[i] += i64::from(r.owned);
            match row_key.kind.as_str() {
                "floating" => p.floating_owned += i64::from(r.owned),
                "personal" => p.seats_owned += i64::from(r.owned),
                _ => {}
            }
        }
        if row_key.tenant == user {
            series.0[i] += i64::from(r.peak);
            match row_key.kind.as_str() {
                "floating" => {
                    p.floating_peak += i64::from(r.peak);
                    p.agents_licensed += i64::from(r.peak);
                }
                "fixed" => p.agents_licensed += i64::from(r.peak),
                "personal" => p.seats_peak += i64::from(r.peak),
                _ => {}
            }
        }
    }
    let pools: BTreeMap<Key, (Vec<i64>, Vec<i64>)> = slot_of_pool
        .into_iter()
        .map(|(pool, slot)| (pool, std::mem::take(&mut series[slot])))
        .collect();
    // Agents refused and refusals per bucket, per tenant.
    let mut refused_by: HashMap<&str, (Vec<i64>, Vec<i64>)> = HashMap::new();
    for r in refusals {
        let Some(i) = index(r.start) else { continue };
        points[i].refused += r.refusals;
        points[i].refused_agents += i64::from(r.agents);
        let (agents, n) = refused_by
            .entry(r.tenant_id.as_str())
            .or_insert_with(|| (vec![0; buckets], vec![0; buckets]));
        agents[i] += i64::from(r.agents);
        n[i] += r.refusals;
    }
    let pools = pools
        .into_iter()
        .filter(|(_, (peaks, owned))| peaks.iter().chain(owned).any(|n| *n > 0))
        .map(|(key, (peaks, owned))| {
            // The tenants whose refused agents this pool could have served.
            let servable: Vec<&(Vec<i64>, Vec<i64>)> = refused_by
                .iter()
                .filter(|(t, _)| key.kind == "floating" && (key.pool.is_empty() || key.pool == **t))
                .map(|(_, v)| v)
                .collect();
            let agents_refused: Vec<i64> = (0..buckets)
                .map(|i| servable.iter().map(|(agents, _)| agents[i]).sum())
                .collect();
            let demand: Vec<i64> = (0..buckets).map(|i| peaks[i] + agents_refused[i]).collect();
            let owning = owned.iter().filter(|o| **o > 0).count();
            let full = peaks
                .iter()
                .zip(&owned)
                .filter(|(p, o)| **o > 0 && *p >= *o)
                .count();
            Pool {
                owned: owned.iter().rev().find(|o| **o > 0).copied().unwrap_or(0),
                peak: peaks.iter().copied().max().unwrap_or(0),
                p95: quantile(&peaks, 0.95),
                at_capacity_pct: (full * 100)
                    .checked_div(owning)
                    .map_or(0, |pct| u32::try_from(pct).unwrap_or(100)),
                needed_peak: demand.iter().copied().max().unwrap_or(0),
                needed_p95: quantile(&demand, 0.95),
                refused: servable.iter().flat_map(|(_, n)| n).sum(),
                agents_refused: agents_refused.iter().copied().max().unwrap_or(0),
                key,
            }
        })
        .collect();
    Built { points, pools }
}

/// Rollup rows of a finer span folded into buckets of `span_ms` (for buckets not yet rolled up):
/// per key, the highest peak and the most owned.
pub fn fold(rows: &[Row], span_ms: i64) -> Vec<Row> {
    let mut folded: BTreeMap<(i64, &Key), Row> = BTreeMap::new();
    for r in rows {
        let start = super::rollup::bucket_of(r.start, span_ms);
        folded
            .entry((start, &*r.key))
            .and_modify(|f| {
                f.peak = f.peak.max(r.peak);
                f.owned = f.owned.max(r.owned);
            })
            .or_insert_with(|| Row { start, ..r.clone() });
    }
    folded.into_values().collect()
}

/// Per product and license kind, the peak and 95th percentile of what was in use in the buckets
/// of `span_ms` in `[from, until)`, from the every-tenant rollup rows. A product's use in a
/// bucket is the sum of its pools' peaks there (exact when one pool serves it, at most the pools'
/// sum otherwise); a bucket without a row had none in use.
pub fn peaks_by_product(
    rows: &[Row],
    from: i64,
    until: i64,
    span_ms: i64,
) -> BTreeMap<(String, String), (i64, i64)> {
    let buckets = usize::try_from((until - from) / span_ms)
        .unwrap_or(0)
        .max(1);
    let mut series: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.key.tenant == EVERY_TENANT && r.key.kind != REGISTERED_AGENTS)
    {
        let Some(i) = usize::try_from((r.start - from) / span_ms)
            .ok()
            .filter(|i| r.start >= from && *i < buckets)
        else {
            continue;
        };
        series
            .entry((r.key.product.clone(), r.key.kind.clone()))
            .or_insert_with(|| vec![0; buckets])[i] += i64::from(r.peak);
    }
    series
        .into_iter()
        .map(|(key, values)| {
            let peak = values.iter().copied().max().unwrap_or(0);
            (key, (peak, quantile(&values, 0.95)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(start: i64, pool: &str, tenant: &str, peak: i32, owned: i32) -> Row {
        Row {
            start,
            key: Arc::new(Key {
                pool: pool.into(),
                tenant: tenant.into(),
                product: "p".into(),
                kind: "floating".into(),
            }),
            peak,
            owned,
        }
    }

    fn refused(start: i64, tenant: &str, agents: i32) -> refusal::Model {
        refusal::Model {
            span: "hour".into(),
            start,
            tenant_id: tenant.into(),
            reason: "no_license_free".into(),
            refusals: i64::from(agents) * 10,
            agents,
        }
    }

    #[test]
    fn finer_rows_fold_into_the_bucket_not_yet_rolled_up() {
        let minute = |start: i64, peak: i32, owned: i32| row(start, "", "*", peak, owned);
        let hour = super::super::rollup::HOUR_MS;
        let rows = [
            minute(hour, 2, 3),
            minute(hour + 60_000, 4, 3),
            minute(2 * hour, 1, 3),
            // Another pool in the same hour stays its own.
            row(hour + 60_000, "t", "*", 7, 7),
        ];
        let folded = fold(&rows, hour);
        let got: Vec<(&str, i64, i32, i32)> = folded
            .iter()
            .map(|f| (f.key.pool.as_str(), f.start, f.peak, f.owned))
            .collect();
        assert_eq!(
            got,
            vec![("", hour, 4, 3), ("t", hour, 7, 7), ("", 2 * hour, 1, 3)]
        );
    }

    #[test]
    fn a_products_peaks_sum_its_pools_and_count_empty_buckets_as_none_in_use() {
        // Twenty buckets; the shared pool and tenant t's pool in use in some of them.
        let mut rows: Vec<Row> = (0..5).map(|i| row(i, "", "*", 4, 6)).collect();
        rows.push(row(3, "t", "*", 3, 3));
        rows.push(row(3, "", "t", 9, 0)); // a tenant's own row: not counted twice
        rows.push(row(25, "", "*", 50, 50)); // outside the period
        let got = peaks_by_product(&rows, 0, 20, 1);
        // Peaks per bucket: 4, 4, 4, 7, 4, then fifteen zeros; the 95th percentile is the 19th
        // of 20 sorted values (4).
        assert_eq!(got[&("p".to_string(), "floating".to_string())], (7, 4));
        assert_eq!(got.len(), 1);
        assert!(peaks_by_product(&[], 0, 20, 1).is_empty());
    }

    #[test]
    fn every_tenant_charts_the_pools_and_sizes_them_by_demand() {
        // Four hours of the shared pool (owning 3): peaks 1, 3, 3, 2; two agents refused in the
        // third hour.
        let rows = [
            row(0, "", "*", 1, 3),
            row(1, "", "*", 3, 3),
            row(2, "", "*", 3, 3),
            row(3, "", "*", 2, 3),
            row(2, "", "t", 3, 0),
        ];
        let built = build(&rows, &[refused(2, "t", 2)], None, 0, 4, 1);
        let peaks: Vec<i64> = built.points.iter().map(|p| p.floating_peak).collect();
        assert_eq!(peaks, [1, 3, 3, 2], "every tenant's rows only");
        assert_eq!(built.points[2].refused, 20);
        assert_eq!(
            built.pools,
            vec![Pool {
                key: Key {
                    pool: String::new(),
                    tenant: "*".into(),
                    product: "p".into(),
                    kind: "floating".into()
                },
                owned: 3,
                peak: 3,
                p95: 3,
                at_capacity_pct: 50,
                needed_peak: 5,
                needed_p95: 5,
                refused: 20,
                agents_refused: 2,
            }]
        );
    }

    #[test]
    fn a_tenant_sees_its_use_of_its_pool_and_the_shared_one() {
        let rows = [
            row(0, "t", "*", 2, 2),
            row(0, "t", "t", 2, 0),
            row(0, "", "*", 5, 10),
            row(0, "", "t", 1, 0),
            row(0, "u", "*", 4, 4),
            row(0, "u", "u", 4, 0),
        ];
        let built = build(&rows, &[], Some("t"), 0, 2, 1);
        let p = built.points[0];
        assert_eq!(
            (p.floating_peak, p.floating_owned),
            (3, 12),
            "its use (2 + 1) of its pool and the shared one (2 + 10); not tenant u's"
        );
        assert_eq!(built.pools.len(), 2);
        assert!(built.pools.iter().all(|p| p.key.pool != "u"));
        let shared = &built.pools[0];
        assert_eq!(
            (shared.peak, shared.owned, shared.at_capacity_pct),
            (1, 10, 0)
        );
    }
}
