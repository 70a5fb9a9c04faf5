//! The security headers every answer carries: a Content-Security-Policy whose script nonce is
//! fresh for each response, `nosniff`, the referrer kept on the site, framing refused, HSTS when
//! served over HTTPS, and `no-store` on everything but the static files (pages and answers carry
//! enrollment keys, agent tokens, users and licenses).
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use http::HeaderValue;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};

use super::state::AppState;

/// This request's script nonce: made by [`security_headers`] before anything renders, put into
/// the Content-Security-Policy of the answer, and given to Leptos ([`provide_nonce`]) so that
/// its hydration and data scripts carry it.
#[derive(Debug, Clone)]
pub struct CspNonce(pub Arc<str>);

/// HSTS for a year; not `includeSubDomains`, since other hosts of the domain are not Tessera's
/// to decide.
const HSTS: &str = "max-age=31536000";

/// The policy: everything from this site only; scripts only from it or inline with this
/// response's nonce; WASM compiled by those scripts (`'wasm-unsafe-eval'`), no other `eval`; no
/// inline styles, plugins, `<base>` or foreign form targets; never framed.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The policy without a nonce, as a header: the same for every answer that has none.
static WITHOUT_NONCE: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
    HeaderValue::from_str(&content_security_policy(None))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"))
});

/// A nonce of 128 random bits, base64 (the characters a CSP nonce allows). Without randomness
/// there is none, and the policy admits no inline script at all (pages work without JavaScript).
fn fresh_nonce() -> Option<Arc<str>> {
    let mut bytes = [0u8; 16];
    match getrandom::fill(&mut bytes) {
        Ok(()) => Some(
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into(),
        ),
        Err(e) => {
            tracing::error!("getrandom failed for a CSP nonce: {e}");
            None
        }
    }
}

/// Static files (the WASM client, its JavaScript, the stylesheet, images, fonts) may be cached;
/// everything else is an answer for this caller only.
fn cacheable(res: &Response) -> bool {
    res.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            [
                "application/wasm",
                "application/javascript",
                "text/javascript",
                "text/css",
                "image/",
                "font/",
            ]
            .iter()
            .any(|p| t.starts_with(p))
        })
}

pub async fn security_headers(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // Only pages run scripts: answers under /api/ (server functions, the agent API, which
    // agents call on every inference request) get the policy without a nonce, made once.
    let nonce = if req.uri().path().starts_with("/api/") {
        None
    } else {
        fresh_nonce()
    };
    let https = state.config.secure_cookies.for_request(req.headers());
    if let Some(nonce) = &nonce {
        req.extensions_mut().insert(CspNonce(nonce.clone()));
    }
    let mut res = next.run(req).await;
    let no_store = !cacheable(&res);
    let headers = res.headers_mut();
    let csp = match nonce.as_deref() {
        Some(nonce) => HeaderValue::from_str(&content_security_policy(Some(nonce))).ok(),
        None => Some(WITHOUT_NONCE.clone()),
    };
    if let Some(csp) = csp {
        headers.insert(CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Not `no-referrer`: with it browsers send `Origin: null` on same-site form posts, which the
    // cross-site check refuses.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    if no_store {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Gives Leptos this request's nonce (in the render's context, after leptos_axum provided one of
/// its own, which this replaces): `HydrationScripts` and the streamed data scripts use it.
pub fn provide_nonce() {
    use leptos::prelude::{provide_context, use_context};
    if let Some(CspNonce(nonce)) = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned())
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh_and_fit_a_policy() {
        let (a, b) = (fresh_nonce().unwrap(), fresh_nonce().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        let csp = content_security_policy(Some(&a));
        assert!(csp.contains(&format!("'nonce-{a}'")));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(HeaderValue::from_str(&csp).is_ok());
        let without = content_security_policy(None);
        assert!(!without.contains("nonce"));
        assert!(without.contains("script-src 'self' 'wasm-unsafe-eval'"));
        assert_eq!(WITHOUT_NONCE.to_str().ok(), Some(without.as_str()));
    }
}
