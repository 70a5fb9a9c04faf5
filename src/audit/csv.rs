//! The audit log as CSV (`GET /settings/audit.csv`, the page's filter in the address): RFC 4180
//! quoting, and a cell a spreadsheet would take for a formula is made plain text.
use std::collections::HashMap;

use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};

use super::model::{AuditFilter, AuditRow};
use crate::auth::server::Granted;
use crate::auth::server::cap::ViewAudit;
use crate::error::AppError;
use crate::server::caller::Caller;
use crate::server::respond::error_response;

/// Entries read from the database at a time.
const BATCH: u64 = 1000;

pub const HEADER: [&str; 7] = [
    "id", "time_utc", "user", "kind", "subject", "detail", "outcome",
];

/// One CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled), and
/// prefixed with `'` when it starts with `=`, `+`, `-` or `@`, so that a spreadsheet shows it
/// as text rather than running it as a formula.
pub fn field(raw: &str) -> String {
    let neutral = if raw.starts_with(['=', '+', '-', '@']) {
        format!("'{raw}")
    } else {
        raw.to_string()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// One CSV record, CRLF-terminated.
pub fn record<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells.into_iter().map(field).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

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
    let filter = AuditFilter::from_params(|k| params.get(k).cloned());
    match body(&who, &filter).await {
        Ok(csv) => (
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    CONTENT_DISPOSITION,
                    "attachment; filename=\"tessera-audit.csv\"",
                ),
                (CACHE_CONTROL, "no-store"),
            ],
            csv,
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

/// Every matching entry, newest first, read a batch at a time.
async fn body(who: &Caller<Granted<ViewAudit>>, filter: &AuditFilter) -> Result<String, AppError> {
    let filter = filter.check()?;
    let mut out = record(HEADER);
    let mut before = None;
    loop {
        let rows = super::store::batch(who.db(), who, &filter, before, BATCH).await?;
        for r in &rows {
            out.push_str(&row_record(r));
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == BATCH => before = Some(last.id),
            _ => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_cells_stay_as_they_are() {
        assert_eq!(field("alice"), "alice");
        assert_eq!(field(""), "");
        assert_eq!(field("Иван 2026"), "Иван 2026");
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted() {
        assert_eq!(field("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn formulas_become_text() {
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("+7"), "'+7");
        assert_eq!(field("-2"), "'-2");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("=HYPERLINK(\"x\",1)"), "\"'=HYPERLINK(\"\"x\"\",1)\"");
        assert_eq!(field("a=b"), "a=b");
    }

    #[test]
    fn records_end_with_crlf() {
        assert_eq!(record(["a", "b,c"]), "a,\"b,c\"\r\n");
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
            outcome: "ok".into(),
        };
        assert_eq!(
            row_record(&r),
            "7,2026-11-30 00:00:00,admin,tenant_create,'=cmd,,ok\r\n"
        );
    }
}
