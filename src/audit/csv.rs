//! The audit log as CSV (`GET /settings/audit.csv`, the page's filter in the address): RFC 4180
//! quoting, and a cell a spreadsheet would take for a formula is made plain text. The file is
//! streamed a batch of entries at a time, so a log of any length never sits in memory whole.
use std::collections::HashMap;

use axum::body::Body;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};

use super::model::{AuditFilter, AuditRow, CheckedFilter};
use crate::auth::server::Granted;
use crate::auth::server::cap::ViewAudit;
use crate::error::AppError;
use crate::server::caller::Caller;
use crate::server::csv::record;
use crate::server::respond::error_response;

/// Entries read from the database at a time.
const BATCH: u64 = 1000;

pub const HEADER: [&str; 7] = [
    "id", "time_utc", "user", "kind", "subject", "detail", "outcome",
];

fn time_utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub fn row_record(r: &AuditRow) -> String {
    let id = r.id.to_string();
    let at = time_utc(r.at);
    record([
        id.as_str(),
        at.as_str(),
        r.actor_name.as_str(),
        r.kind.as_str(),
        r.subject.as_str(),
        r.detail.as_str(),
        r.outcome.as_str(),
    ])
}

pub async fn export(
    who: Caller<Granted<ViewAudit>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let filter = match AuditFilter::from_params(|k| params.get(k).cloned()).check() {
        Ok(filter) => filter,
        Err(e) => return error_response(&e),
    };
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"tessera-audit.csv\"",
            ),
            (CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(batches(who, filter)),
    )
        .into_response()
}

/// Where the walk through the log is.
enum Walk {
    Header,
    /// Entries older than this one are next (all, if `None`).
    Before(Option<i64>),
    Done,
}

/// The header, then every matching entry, newest first, one chunk per batch read. A read that
/// fails ends the stream with an error, so the client sees a broken download, not a short file.
fn batches(
    who: Caller<Granted<ViewAudit>>,
    filter: CheckedFilter,
) -> impl futures::Stream<Item = Result<String, AppError>> + Send + 'static {
    futures::stream::try_unfold(
        (Walk::Header, who, filter),
        |(walk, who, filter)| async move {
            let before = match walk {
                Walk::Header => {
                    return Ok(Some((record(HEADER), (Walk::Before(None), who, filter))));
                }
                Walk::Before(before) => before,
                Walk::Done => return Ok(None),
            };
            let rows = super::store::batch(who.db(), &who, &filter, before, BATCH)
                .await
                .inspect_err(|e| tracing::warn!("the audit CSV stopped: {e}"))?;
            let next = match rows.last() {
                Some(last) if rows.len() as u64 == BATCH => Walk::Before(Some(last.id)),
                _ => Walk::Done,
            };
            if rows.is_empty() {
                return Ok(None);
            }
            let chunk: String = rows.iter().map(row_record).collect();
            Ok(Some((chunk, (next, who, filter))))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_end_with_crlf() {
        assert_eq!(
            record(HEADER),
            "id,time_utc,user,kind,subject,detail,outcome\r\n"
        );
        let r = AuditRow {
            id: 7,
            at: 1_795_996_800_000,
            actor_name: "admin".into(),
            kind: "tenant_create".into(),
            subject: "=cmd".into(),
            detail: String::new(),
            data: None,
            outcome: "ok".into(),
        };
        assert_eq!(
            row_record(&r),
            "7,2026-11-30 00:00:00,admin,tenant_create,'=cmd,,ok\r\n"
        );
    }
}
