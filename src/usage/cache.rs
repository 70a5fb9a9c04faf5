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
//! Beneath the reports, the rollup rows they are built from are kept too, per span and scope
//! ([`Windows`]): a rollup row before its span's mark is final, so a window of them is extended
//! by the rows rolled up since it was read, never read again. A report asked for under a new
//! mark is then built from memory, not from some hundred thousand rows read again.
//!
//! Maps cleared on a newer mark or past a bound rather than a cache crate: nothing here needs
//! evicting by age or use, only by mark (reports) or size (windows), and a bound keeps odd
//! filters from piling up.
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use super::entity::refusal;
use super::model::{CheckedUsage, Choice};
use super::report::{Built, Row};
use super::store::Span;

/// How many different views are kept under one mark.
const KEPT: usize = 64;

/// How many of the views asked last are built again after each roll-up.
const ASKED: usize = 8;

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
    /// The rollup rows they are built from.
    pub windows: Windows,
    /// Held while a report is built: the requests that find no report kept wait for the one
    /// being built rather than each building it (after a roll-up, every administrator's page
    /// would otherwise read and build the same view at once).
    pub building: tokio::sync::Mutex<()>,
    /// The views asked last, most recent first, with the caller's tenant scope: the sweeper
    /// builds them again after each roll-up, before anyone asks (`store::refresh`).
    asked: Mutex<Vec<(Option<String>, CheckedUsage)>>,
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

    /// Notes a view asked for, to build it again after the next roll-ups.
    pub fn asked_for(&self, scope: Option<&str>, filter: &CheckedUsage) {
        let Ok(mut asked) = self.asked.lock() else {
            return;
        };
        // The same view, whenever it was asked: a period of the last days moves with the clock.
        let same = |(s, f): &(Option<String>, CheckedUsage)| {
            s.as_deref() == scope && *f == filter.at(f.until_ms)
        };
        if asked.first().is_some_and(same) {
            return;
        }
        asked.retain(|v| !same(v));
        asked.insert(0, (scope.map(str::to_string), filter.clone()));
        asked.truncate(ASKED);
    }

    /// The mark the kept views were built under, and how many there are.
    pub fn kept(&self) -> (Mark, usize) {
        self.kept
            .lock()
            .map(|k| (k.mark, k.built.len()))
            .unwrap_or_default()
    }

    /// The views asked last, most recent first.
    pub fn asked(&self) -> Vec<(Option<String>, CheckedUsage)> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
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

/// The rows kept in every window together, at most (some 24 bytes each: about 50 MB).
const KEPT_ROWS: usize = 2_000_000;

/// Which rollup rows a window holds: one span's, narrowed to a report's tenant and product.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shape {
    pub span: Span,
    pub tenant: Option<String>,
    pub product: Option<String>,
}

/// The final rollup and refusal rows of one shape in `[from, until)`, in order of their start.
#[derive(Debug, Default)]
pub struct Window {
    pub from: i64,
    pub until: i64,
    pub rows: Vec<Row>,
    pub refusals: Vec<refusal::Model>,
}

impl Window {
    /// Whether it holds every row of `[from, until)`.
    pub fn covers(&self, from: i64, until: i64) -> bool {
        self.from <= from && until <= self.until
    }

    /// Its rows starting in `[from, until)`.
    pub fn rows_in(&self, from: i64, until: i64) -> &[Row] {
        &self.rows[within(&self.rows, |r| r.start, from..until)]
    }

    /// Its refusal rows starting in `[from, until)`.
    pub fn refusals_in(&self, from: i64, until: i64) -> &[refusal::Model] {
        &self.refusals[within(&self.refusals, |r| r.start, from..until)]
    }

    /// This window and `read` (rows of `[read_from, read_until)`, adjoining or overlapping it)
    /// as one, holding no row before `keep_from`.
    pub fn joined(&self, read: Window, keep_from: i64) -> Window {
        let from = self.from.min(read.from).max(keep_from);
        let until = self.until.max(read.until);
        let read_range = read.from..read.until;
        Window {
            from,
            until,
            rows: merged(&self.rows, read.rows, |r| r.start, &read_range, from),
            refusals: merged(
                &self.refusals,
                read.refusals,
                |r| r.start,
                &read_range,
                from,
            ),
        }
    }
}

/// `kept` without what starts in `read_range`, and `read` (which covers it), from `from` on,
/// in order of their start.
fn merged<T: Clone>(
    kept: &[T],
    read: Vec<T>,
    start: impl Fn(&T) -> i64,
    read_range: &Range<i64>,
    from: i64,
) -> Vec<T> {
    let mut all: Vec<T> = kept
        .iter()
        .filter(|t| !read_range.contains(&start(t)))
        .cloned()
        .chain(read)
        .filter(|t| start(t) >= from)
        .collect();
    all.sort_by_key(|t| start(t));
    all
}

/// The positions of the items of `sorted` (ordered by `start`) starting in `range`.
fn within<T>(sorted: &[T], start: impl Fn(&T) -> i64, range: Range<i64>) -> Range<usize> {
    let lo = sorted.partition_point(|t| start(t) < range.start);
    let hi = sorted.partition_point(|t| start(t) < range.end);
    lo..hi.max(lo)
}

/// The windows of rollup rows kept, per shape.
#[derive(Default)]
pub struct Windows {
    kept: Mutex<HashMap<Shape, Arc<Window>>>,
}

impl Windows {
    pub fn get(&self, shape: &Shape) -> Option<Arc<Window>> {
        self.kept.lock().ok()?.get(shape).cloned()
    }

    /// Keeps `window` for `shape`, in place of what was kept for it; past [`KEPT_ROWS`] in all,
    /// the other shapes' are dropped.
    pub fn put(&self, shape: Shape, window: Arc<Window>) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        kept.remove(&shape);
        let held: usize = kept.values().map(|w| w.rows.len()).sum();
        if held + window.rows.len() > KEPT_ROWS {
            kept.clear();
        }
        if window.rows.len() <= KEPT_ROWS {
            kept.insert(shape, window);
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

    fn window(from: i64, until: i64) -> Window {
        let key = Arc::new(super::super::rollup::Key {
            pool: String::new(),
            tenant: "*".into(),
            product: "p".into(),
            kind: "floating".into(),
        });
        Window {
            from,
            until,
            rows: (from..until)
                .map(|start| Row {
                    start,
                    key: key.clone(),
                    peak: i32::try_from(start).unwrap_or(0),
                    owned: 9,
                })
                .collect(),
            refusals: vec![],
        }
    }

    fn starts(rows: &[Row]) -> Vec<i64> {
        rows.iter().map(|r| r.start).collect()
    }

    #[test]
    fn a_window_is_extended_by_what_was_rolled_up_since_and_trimmed() {
        let kept = window(0, 5);
        assert!(kept.covers(1, 5) && !kept.covers(1, 6));
        assert_eq!(starts(kept.rows_in(2, 4)), [2, 3]);
        assert_eq!(starts(kept.rows_in(7, 9)), [] as [i64; 0]);
        // Two buckets rolled up since; the oldest dropped.
        let joined = kept.joined(window(5, 7), 1);
        assert_eq!((joined.from, joined.until), (1, 7));
        assert_eq!(starts(&joined.rows), [1, 2, 3, 4, 5, 6]);
        // Older rows read before it, overlapping: each bucket once.
        let joined = kept.joined(window(-2, 3), -10);
        assert_eq!((joined.from, joined.until), (-2, 5));
        assert_eq!(starts(&joined.rows), [-2, -1, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn windows_past_the_bound_make_room() {
        let windows = Windows::default();
        let shape = |span| Shape {
            span,
            tenant: None,
            product: None,
        };
        windows.put(shape(Span::Minute), Arc::new(window(0, 10)));
        windows.put(shape(Span::Hour), Arc::new(window(0, 10)));
        assert!(windows.get(&shape(Span::Minute)).is_some());
        let big = KEPT_ROWS as i64 - 15;
        windows.put(shape(Span::Day), Arc::new(window(0, big)));
        assert!(windows.get(&shape(Span::Minute)).is_none(), "dropped");
        assert_eq!(
            windows.get(&shape(Span::Day)).map(|w| w.rows.len()),
            Some(KEPT_ROWS - 15)
        );
        // Replacing a shape's window frees what it held first.
        windows.put(shape(Span::Day), Arc::new(window(0, big + 10)));
        assert!(windows.get(&shape(Span::Day)).is_some());
        windows.put(shape(Span::Hour), Arc::new(window(0, 5)));
        assert!(windows.get(&shape(Span::Day)).is_some(), "room for both");
    }
}
