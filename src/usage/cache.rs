//! Reports already built, kept while the rollups they were read from are unchanged.
//!
//! A report reads only rollup rows, and every rollup row is written by a roll-up that moves the
//! usage progress mark forward in the same transaction (`store::roll_up`). So a report built
//! under a mark is exact for as long as the mark stays where it is: about a minute, during which
//! every administrator reloading the page is answered from here. The first report asked for
//! under a newer mark drops every older one. Each instance keeps its own; they agree, since the
//! mark is read from the shared database with every report.
//!
//! A map cleared on a newer mark rather than a cache crate: nothing here ever needs evicting by
//! age or use, only by mark, and a bound on its size keeps odd filters from piling up.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::report::Built;

/// How many different views are kept under one mark.
const KEPT: usize = 64;

/// Where the roll-up stands: the minutes, hours and days rolled up until (Unix ms).
pub type Mark = (i64, i64, i64);

/// What a report was built for: the tenant and product chosen, and its buckets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wanted {
    pub tenant: Option<String>,
    pub product: Option<String>,
    pub span_ms: i64,
    pub from: i64,
    pub until: i64,
}

#[derive(Default)]
pub struct Reports {
    kept: Mutex<(Mark, HashMap<Wanted, Arc<Built>>)>,
}

impl Reports {
    /// The report built for `wanted` under `mark`, if one is kept.
    pub fn get(&self, mark: Mark, wanted: &Wanted) -> Option<Arc<Built>> {
        let kept = self.kept.lock().ok()?;
        (kept.0 == mark).then(|| kept.1.get(wanted).cloned())?
    }

    /// Keeps a report built under `mark`, unless a newer mark has been seen meanwhile.
    pub fn put(&self, mark: Mark, wanted: Wanted, built: Arc<Built>) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        if mark < kept.0 {
            return;
        }
        if mark != kept.0 || kept.1.len() >= KEPT {
            kept.0 = mark;
            kept.1.clear();
        }
        kept.1.insert(wanted, built);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(from: i64) -> Wanted {
        Wanted {
            tenant: None,
            product: None,
            span_ms: 60_000,
            from,
            until: from + 60_000,
        }
    }

    fn built(n: i64) -> Arc<Built> {
        Arc::new(Built {
            points: vec![super::super::model::Point {
                start: n,
                ..Default::default()
            }],
            pools: vec![],
        })
    }

    #[test]
    fn a_report_is_kept_until_the_mark_moves_and_never_goes_back() {
        let reports = Reports::default();
        let (m1, m2) = ((60_000, 0, 0), (120_000, 0, 0));
        reports.put(m1, wanted(0), built(1));
        assert_eq!(reports.get(m1, &wanted(0)), Some(built(1)));
        assert_eq!(reports.get(m1, &wanted(60_000)), None, "another view");
        assert_eq!(reports.get(m2, &wanted(0)), None, "rolled up since");
        reports.put(m2, wanted(0), built(2));
        assert_eq!(reports.get(m2, &wanted(0)), Some(built(2)));
        assert_eq!(
            reports.get(m1, &wanted(0)),
            None,
            "the older mark's are gone"
        );
        // A report built under the older mark, finished late, is not kept.
        reports.put(m1, wanted(60_000), built(3));
        assert_eq!(reports.get(m2, &wanted(60_000)), None);
        assert_eq!(reports.get(m1, &wanted(60_000)), None);
    }

    #[test]
    fn at_most_kept_views_are_held() {
        let reports = Reports::default();
        let m = (60_000, 0, 0);
        for i in 0..=KEPT as i64 {
            reports.put(m, wanted(i), built(i));
        }
        let held = (0..=KEPT as i64)
            .filter(|i| reports.get(m, &wanted(*i)).is_some())
            .count();
        assert!((1..=KEPT).contains(&held), "{held}");
        assert_eq!(
            reports.get(m, &wanted(KEPT as i64)),
            Some(built(KEPT as i64))
        );
    }
}
