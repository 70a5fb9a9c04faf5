//! Every request's id: the one a trusted proxy sends in `X-Request-Id`, else one made here. It
//! names the span every log line written while serving the request belongs to, it is the id an
//! internal error's body carries (`error::internal`), and it is sent back in `X-Request-Id`, so
//! an administrator's report of a failure leads straight to its log lines.
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;

use super::state::AppState;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER: &str = "x-request-id";

/// The id of the request this task is serving, if it serves one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A new id: this process's random prefix and a count (no system call per request), at least
/// twelve hexadecimal digits.
pub fn fresh() -> String {
    static PREFIX: LazyLock<u32> = LazyLock::new(|| uuid::Uuid::new_v4().as_u128() as u32);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:08x}{:04x}",
        *PREFIX,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether an id sent by a proxy is kept: short and plain (letters, digits, `-`, `_`, `.`), so
/// it cannot break a log line or a header.
fn plain(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Gives the request its id and serves it inside the id's span.
pub async fn assign(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let from_proxy = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
        .filter(|peer| {
            state
                .config
                .trusted_proxies
                .iter()
                .any(|c| c.contains(*peer))
        })
        .and_then(|_| req.headers().get(HEADER))
        .and_then(|v| v.to_str().ok())
        .filter(|id| plain(id))
        .map(str::to_string);
    let id = from_proxy.unwrap_or_else(fresh);
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let mut res = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, value);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_taken_from_a_proxy() {
        assert!(plain("7f3a-01.b_c"));
        assert!(plain(&"a".repeat(64)));
        assert!(!plain(""));
        assert!(!plain(&"a".repeat(65)));
        assert!(!plain("a b"));
        assert!(!plain("a\"}"));
        assert_eq!(fresh().len(), 12);
        assert_ne!(fresh(), fresh());
    }

    #[tokio::test]
    async fn the_current_id_is_the_requests_own() {
        assert_eq!(current(), None, "outside a request");
        let inside = REQUEST_ID
            .scope("r1".to_string(), async { current() })
            .await;
        assert_eq!(inside.as_deref(), Some("r1"));
    }
}
