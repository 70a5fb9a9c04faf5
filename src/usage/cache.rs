//! Reports already built, kept while the rollups they were read from are unchanged.
//!
//! A report reads only rollup rows, and every rollup row is written by a roll-up that moves the
//! usage progress mark forward in the same transaction (`store::roll_up`). So a report built
//! under a mark is exact for as long as the mark stays where it is: about a minute, during which
//! every administrator reloading the page is answered from here. The products offered are kept
//! the same way (so a product uploaded since shows from the next roll-up, with its first use).
//! The first report asked for under a newer mark drops every older one. Each instance keeps its
//! own; they agree, since the mark is read from the shared database with every report.
//!
//! A map cleared on a newer mark rather than a cache crate: nothing here ever needs evicting by
//! age or use, only by mark, and a bound on its size keeps odd filters from piling up.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::model::Choice;
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
    kept: Mutex<Kept>,
}

/// What is kept under one mark.
#[derive(Default)]
struct Kept {
    mark: Mark,
    built: HashMap<Wanted, Arc<Built>>,
    /// The products to choose from.
    products: Option<Arc<Vec<Choice>>>,
}

impl Kept {
    /// Whether what is kept was read under `mark`; a newer mark drops it all first.
    fn under(&mut self, mark: Mark) -> bool {
        if mark < self.mark {
            return false;
        }
        if mark != self.mark {
            *self = Kept {
                mark,
                ..Kept::default()
            };
        }
        true
    }
}

impl Reports {
    /// The report built for `wanted` under `mark`, if one is kept.
    pub fn get(&self, mark: Mark, wanted: &Wanted) -> Option<Arc<Built>> {
        let kept = self.kept.lock().ok()?;
        (kept.mark == mark).then(|| kept.built.get(wanted).cloned())?
    }

    /// Keeps a report built under `mark`, unless a newer mark has been seen meanwhile.
    pub fn put(&self, mark: Mark, wanted: Wanted, built: Arc<Built>) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        if !kept.under(mark) {
            return;
        }
        if kept.built.len() >= KEPT {
            kept.built.clear();
        }
        kept.built.insert(wanted, built);
    }

    /// The products read under `mark`, if kept.
    pub fn products(&self, mark: Mark) -> Option<Arc<Vec<Choice>>> {
        let kept = self.kept.lock().ok()?;
        (kept.mark == mark).then(|| kept.products.clone())?
    }

    /// Keeps the products read under `mark`, unless a newer mark has been seen meanwhile.
    pub fn put_products(&self, mark: Mark, products: Arc<Vec<Choice>>) {
        if let Ok(mut kept) = self.kept.lock()
            && kept.under(mark)
        {
            kept.products = Some(products);
        }
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
    fn the_products_are_kept_with_the_reports_of_their_mark() {
        let reports = Reports::default();
        let (m1, m2) = ((60_000, 0, 0), (120_000, 0, 0));
        let list = |name: &str| {
            Arc::new(vec![Choice {
                id: name.into(),
                name: name.into(),
            }])
        };
        reports.put(m1, wanted(0), built(1));
        reports.put_products(m1, list("a"));
        assert_eq!(reports.products(m1), Some(list("a")));
        assert_eq!(reports.get(m1, &wanted(0)), Some(built(1)), "kept beside");
        assert_eq!(reports.products(m2), None, "read again after a roll-up");
        reports.put_products(m2, list("b"));
        assert_eq!(
            reports.get(m2, &wanted(0)),
            None,
            "the older reports are gone"
        );
        reports.put_products(m1, list("late"));
        assert_eq!(reports.products(m2), Some(list("b")));
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
