//! What Settings > Usage shows and asks: the filter in the address, and the report.
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Field, Problem};

/// The periods offered; `Range` is the days typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
    Year,
    Range,
}

impl Period {
    pub const ALL: [Period; 5] = [
        Period::Day,
        Period::Week,
        Period::Month,
        Period::Year,
        Period::Range,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "7d",
            Period::Month => "30d",
            Period::Year => "365d",
            Period::Range => "range",
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Its length, for all but a typed range.
    pub fn days(self) -> Option<i64> {
        match self {
            Period::Day => Some(1),
            Period::Week => Some(7),
            Period::Month => Some(30),
            Period::Year => Some(365),
            Period::Range => None,
        }
    }
}

/// The page's filter as typed in the address (`?period=7d&tenant=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageFilter {
    #[serde(default)]
    pub period: Option<String>,
    /// The first day of a range, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// The last day of a range, included.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
}

/// A filter whose every part was understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUsage {
    pub period: Period,
    /// Unix ms, included.
    pub from_ms: i64,
    /// Unix ms, excluded.
    pub until_ms: i64,
    pub tenant: Option<String>,
    pub product: Option<String>,
}

const DAY_MS: i64 = 86_400_000;
/// The longest range one page shows: ten years of days.
const MAX_DAYS: i64 = 3_660;

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl UsageFilter {
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> UsageFilter {
        UsageFilter {
            period: get("period"),
            from: get("from"),
            to: get("to"),
            tenant: get("tenant"),
            product: get("product"),
        }
    }

    /// The query string that shows the same (for the exports' links).
    pub fn to_params(&self) -> String {
        let mut pairs = Vec::new();
        for (k, v) in [
            ("period", &self.period),
            ("from", &self.from),
            ("to", &self.to),
            ("tenant", &self.tenant),
            ("product", &self.product),
        ] {
            if let Some(v) = non_empty(v) {
                pairs.push((k, v));
            }
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::ui::url::encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Checks every part against `now`: the period is one offered (the last 7 days by default),
    /// a range's days parse, come in order and span at most ten years.
    pub fn check(&self, now: i64) -> Result<CheckedUsage, AppError> {
        let period = match non_empty(&self.period) {
            None => Period::Week,
            Some(p) => {
                Period::parse(&p).ok_or(AppError::invalid(Field::Period, Problem::Unknown))?
            }
        };
        let (from_ms, until_ms) = match period.days() {
            Some(days) => (now - days * DAY_MS, now),
            None => {
                let day = |field, raw: &Option<String>| {
                    non_empty(raw)
                        .ok_or(AppError::invalid(field, Problem::Required))
                        .and_then(|d| crate::audit::model::parse_day(field, &d))
                };
                let from = day(Field::DateFrom, &self.from)?;
                let until = day(Field::DateTo, &self.to)? + DAY_MS;
                if until <= from {
                    return Err(AppError::invalid(Field::DateTo, Problem::BeforeFrom));
                }
                if until - from > MAX_DAYS * DAY_MS {
                    return Err(AppError::invalid(
                        Field::DateTo,
                        Problem::OutOfRange {
                            min: 1,
                            max: MAX_DAYS as u32,
                        },
                    ));
                }
                (from, until)
            }
        };
        Ok(CheckedUsage {
            period,
            from_ms,
            until_ms,
            tenant: non_empty(&self.tenant),
            product: non_empty(&self.product),
        })
    }
}

impl CheckedUsage {
    /// The same view asked at `now`: a period of the last days moves with the clock, a range of
    /// dates stays where it is.
    pub fn at(&self, now: i64) -> CheckedUsage {
        let mut moved = self.clone();
        if let Some(days) = self.period.days() {
            (moved.from_ms, moved.until_ms) = (now - days * DAY_MS, now);
        }
        moved
    }
}

/// A tenant or product to choose from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub name: String,
}

/// One bucket of the charts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    /// Unix ms.
    pub start: i64,
    /// Floating agent licenses in use, at the bucket's peak.
    pub floating_peak: i64,
    /// Floating agent licenses owned.
    pub floating_owned: i64,
    /// Refused checkouts.
    pub refused: i64,
    /// Distinct agents refused.
    pub refused_agents: i64,
    /// Personal seats held, at the bucket's peak.
    pub seats_peak: i64,
    pub seats_owned: i64,
    /// Agents registered (as the bucket was rolled up).
    pub agents_registered: i64,
    /// Agents holding a license (floating or fixed), at the bucket's peak.
    pub agents_licensed: i64,
}

impl Point {
    /// Registered agents holding no license, at the fewest (registered less the peak licensed).
    pub fn agents_idle(&self) -> i64 {
        (self.agents_registered - self.agents_licensed).max(0)
    }
}

/// One pool's right-sizing: what it owned, how much was used, and how many would have served
/// the demand (in use plus agents refused in the same bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUse {
    /// The tenant whose pool it is; `None`: the shared pool (or personal seats).
    pub pool: Option<Choice>,
    pub product: Choice,
    /// `floating`, `fixed` or `personal`.
    pub kind: String,
    /// Owned at the end of the period.
    pub owned: i64,
    pub peak: i64,
    /// The 95th percentile of the buckets' peaks.
    pub p95: i64,
    /// The share of buckets (in %) in which every license owned was in use.
    pub at_capacity_pct: u32,
    /// Licenses that would have served the peak demand, and 95% of the buckets' demand.
    pub needed_peak: i64,
    pub needed_p95: i64,
    /// Checkouts refused that the pool could have served (floating pools; 0 for others).
    pub refused: i64,
    /// The most distinct agents refused in one bucket that the pool could have served.
    pub agents_refused: i64,
}

impl PoolUse {
    /// Licenses beyond the peak: never all in use at once in the period.
    pub fn never_used(&self) -> i64 {
        (self.owned - self.peak).max(0)
    }
}

/// What Settings > Usage shows for a filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    pub period: Period,
    pub from_ms: i64,
    pub until_ms: i64,
    /// `minute`, `hour` or `day`: the finest kept for the period.
    pub span: String,
    pub span_ms: i64,
    /// The tenants the caller may choose (a License manager: their own), and the one chosen.
    pub tenants: Vec<Choice>,
    pub tenant: Option<String>,
    pub products: Vec<Choice>,
    pub product: Option<String>,
    pub points: Vec<Point>,
    pub pools: Vec<PoolUse>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(period: &str, from: &str, to: &str) -> UsageFilter {
        UsageFilter {
            period: Some(period.into()),
            from: Some(from.into()),
            to: Some(to.into()),
            ..UsageFilter::default()
        }
    }

    #[test]
    fn periods_end_now_and_ranges_take_whole_days() {
        let now = 100 * DAY_MS + 5;
        let week = UsageFilter::default().check(now).expect("the default");
        assert_eq!(
            (week.period, week.from_ms, week.until_ms),
            (Period::Week, now - 7 * DAY_MS, now)
        );
        let range = filter("range", "2026-11-01", "2026-11-02")
            .check(now)
            .expect("two days");
        assert_eq!(range.until_ms - range.from_ms, 2 * DAY_MS);
    }

    #[test]
    fn a_wrong_filter_names_its_field() {
        let refused = |f: UsageFilter| f.check(0).expect_err("refused");
        assert_eq!(
            refused(filter("fortnight", "", "")),
            AppError::invalid(Field::Period, Problem::Unknown)
        );
        assert_eq!(
            refused(filter("range", "", "2026-11-02")),
            AppError::invalid(Field::DateFrom, Problem::Required)
        );
        assert_eq!(
            refused(filter("range", "2026-11-03", "2026-11-02")),
            AppError::invalid(Field::DateTo, Problem::BeforeFrom)
        );
        assert!(matches!(
            refused(filter("range", "2000-01-01", "2026-11-02")),
            AppError::Invalid {
                field: Field::DateTo,
                ..
            }
        ));
    }

    #[test]
    fn the_address_keeps_what_was_typed() {
        let f = UsageFilter {
            period: Some("30d".into()),
            tenant: Some("a b".into()),
            ..UsageFilter::default()
        };
        assert_eq!(f.to_params(), "period=30d&tenant=a%20b");
        assert_eq!(UsageFilter::from_params(|_| None).to_params(), "");
    }
}
