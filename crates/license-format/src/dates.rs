//! The dates of a certificate: RFC 3339 times, or bare dates meaning a whole day in UTC.
use chrono::{DateTime, NaiveDate, Utc};

/// `not_after`: an RFC 3339 time, or a bare date (`YYYY-MM-DD`) meaning the end of that day, UTC.
pub fn parse_date_end(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    Some(
        bare_date(s)?
            .and_hms_nano_opt(23, 59, 59, 999_999_999)?
            .and_utc(),
    )
}

/// `not_before`: an RFC 3339 time, or a bare date (`YYYY-MM-DD`) meaning the start of that day,
/// UTC.
pub fn parse_date_start(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    Some(bare_date(s)?.and_hms_opt(0, 0, 0)?.and_utc())
}

/// RFC 3339's full-date: exactly four, two and two digits (chrono alone would take `2027-1-5`).
fn bare_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}
