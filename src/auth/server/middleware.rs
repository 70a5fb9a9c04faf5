//! Resolves the session cookie into the caller, once per request.
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::COOKIE;

use super::guard::Authenticated;
use super::sessions;
use crate::server::state::AppState;

/// The session cookie over plain HTTP.
pub const COOKIE_NAME: &str = "tessera_session";
/// The session cookie when it is `Secure`: a browser takes a `__Host-` cookie only from HTTPS,
/// for this host alone (no `Domain`) and the whole site, so neither a sibling subdomain nor a
/// plain-HTTP answer can plant or overwrite it.
pub const SECURE_COOKIE_NAME: &str = "__Host-tessera_session";

/// The value of the session cookie in a `Cookie` header: the `__Host-` one when both are sent.
pub fn session_token(headers: &http::HeaderMap) -> Option<&str> {
    let cookies = || {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
    };
    let named = |wanted: &str| cookies().find(|(name, _)| *name == wanted).map(|(_, v)| v);
    named(SECURE_COOKIE_NAME).or_else(|| named(COOKIE_NAME))
}

/// The `Set-Cookie` value that stores a session token.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    if secure {
        format!(
            "{SECURE_COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}; Secure"
        )
    } else {
        format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}")
    }
}

/// Whether the session cookie set in answer to the current server function is to be `Secure`.
pub fn secure_cookies(state: &AppState) -> Result<bool, crate::error::AppError> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()
        .ok_or_else(|| crate::error::internal("no request parts in context"))?;
    Ok(state.config.secure_cookies.for_request(&parts.headers))
}

/// The `Set-Cookie` value that removes it.
pub fn clear_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// Paths that never look at a session: the health and readiness checks answer whatever the
/// database's state or the caller's cookies, and agents authenticate with their bearer token.
fn sessionless(path: &str) -> bool {
    path == "/healthz" || path == "/readyz" || path.starts_with("/api/v1/agents/")
}

pub async fn resolve_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if sessionless(req.uri().path()) {
        return next.run(req).await;
    }
    if let Some(token) = session_token(req.headers()) {
        let now = state.clock.now_ms();
        if let Some(claims) = state.tokens.verify(token, now / 1000) {
            let who = super::guard::anyone_with(state.clone());
            let idle_ms = state.config.session_idle_secs * 1000;
            match sessions::resolve(who.db(), &claims.jti, &claims.sub, now, idle_ms).await {
                Ok(Some(viewer)) => {
                    req.extensions_mut().insert(Authenticated {
                        viewer,
                        session_id: claims.jti,
                    });
                }
                Ok(None) => {}
                // Who is calling cannot be known while the database is down: say so (503)
                // rather than answer as if the caller were signed out.
                Err(e) => {
                    let page = req.method() == http::Method::GET
                        && crate::server::respond::wants_html(req.headers());
                    return if page && e == crate::error::AppError::Unavailable {
                        crate::server::respond::unavailable_page()
                    } else {
                        crate::server::respond::error_response(&e)
                    };
                }
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_among_other_cookies() {
        let mut h = http::HeaderMap::new();
        h.insert(
            COOKIE,
            "a=1; tessera_session=abc.def.ghi; b=2".parse().unwrap(),
        );
        assert_eq!(session_token(&h), Some("abc.def.ghi"));
        h.insert(COOKIE, "tessera_sessionx=1".parse().unwrap());
        assert_eq!(session_token(&h), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let c = session_cookie("t", 60, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(c.starts_with("tessera_session=t;"));
    }

    #[test]
    fn a_secure_cookie_has_the_host_prefix_and_wins() {
        let c = session_cookie("t", 60, true);
        assert!(c.starts_with("__Host-tessera_session=t;") && c.ends_with("; Secure"));
        assert!(c.contains("Path=/") && !c.contains("Domain"));
        let mut h = http::HeaderMap::new();
        h.insert(
            COOKIE,
            "tessera_session=plain; __Host-tessera_session=secure"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_token(&h), Some("secure"));
    }
}
