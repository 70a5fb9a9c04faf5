//! The HTTP stack: pages, server functions, static files, and the layers every request passes.
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{self, HOST, ORIGIN};
use http::{HeaderMap, Method, StatusCode};
use leptos::prelude::provide_context;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::limit::RequestBodyLimitLayer;

use super::config::Config;
use super::respond::error_response;
use super::route::Route;
use super::state::AppState;
use crate::app::{App, shell};
use crate::auth::server::middleware::resolve_session;
use crate::error::AppError;

/// The largest request body accepted, at least (twice the package limit if that is more): the
/// package upload's.
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The largest body any request but the upload's takes: server functions' forms of names, ids
/// and passwords, and the agents' JSON. Anyone may post to some (signing in, registering), so
/// none reads megabytes before it knows who is asking.
pub const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// The routes that take large bodies (up to [`BODY_LIMIT`]): the package upload alone.
pub const LARGE_BODY_PATHS: [&str; 1] = ["/licenses/upload"];

/// The pages' routes, generated once per process. Generating runs the whole app with resource
/// loading suppressed by a process-wide flag, and a resource first polled by a page rendered
/// meanwhile (by another router of the same process, as the integration tests run many) waits for
/// ever (leptos-rs/leptos#4773): seen once as an integration test hung on a page, every thread
/// idle. In production there is one router, built before serving: this only keeps it so.
///
/// The app is run on a thread of its own, inside a Tokio runtime that is never driven: the
/// tasks its isomorphic effects spawn (leptos_i18n's, which writes the language cookie) are
/// dropped unpolled. Spawned on the server's runtime they raced the end of generation, and one
/// polled after it read a disposed signal and panicked (seen once in CI, on a loaded machine).
pub fn page_routes() -> Vec<AxumRouteListing> {
    static PAGES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    PAGES.get_or_init(generate_pages).clone()
}

fn generate_pages() -> Vec<AxumRouteListing> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let undriven = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a Tokio runtime without I/O or timers builds");
                let _entered = undriven.enter();
                generate_route_list(App)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The smallest answer worth compressing, in bytes.
pub const COMPRESS_ABOVE_BYTES: u16 = 1024;

pub fn router(state: AppState) -> Router {
    let body_limit = BODY_LIMIT.max(state.limits.max_bytes as usize * 2 + 1024 * 1024);
    let pages = page_routes();
    let context = {
        let state = state.clone();
        move || {
            provide_context(state.clone());
            super::headers::provide_nonce();
        }
    };
    let shell_fn = {
        let options = state.leptos.clone();
        move || shell(options.clone())
    };
    if state.config.test_clock && TEST_CLOCK_BUILT {
        tracing::warn!(
            "TESSERA_TEST_CLOCK=1: POST /__test/clock lets Administrators move the clock; \
             a test build, never in production"
        );
    } else if state.config.test_clock {
        tracing::warn!(
            "TESSERA_TEST_CLOCK=1 is ignored: this build has no test clock (cargo feature \
             test-clock)"
        );
    }
    let app = routes(&state.config)
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, route.handler)
        })
        .route(
            "/api/{*fn_name}",
            post({
                let context = context.clone();
                move |req: Request| leptos_axum::handle_server_fns_with_context(context, req)
            }),
        )
        .leptos_routes_with_context(&state, pages, context.clone(), shell_fn)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(middleware::from_fn(api_error_status))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            resolve_session,
        ))
        .layer(middleware::from_fn(refuse_cross_site))
        .layer(middleware::from_fn(small_bodies))
        .layer(RequestBodyLimitLayer::new(body_limit))
        // Answers of a kilobyte or less go as they are: brotli on a checkout's answer (about 600
        // bytes) was most of what a checkout cost the server beyond a bare `/healthz` (107
        // against 43 us of CPU a request at 10,000 req/s; BENCHMARKS.md, session 29), to save a
        // few hundred bytes. Otherwise tower-http's default: not gRPC, images or event streams.
        .layer(
            CompressionLayer::new().compress_when(
                SizeAbove::new(COMPRESS_ABOVE_BYTES)
                    .and(NotForContentType::GRPC)
                    .and(NotForContentType::IMAGES)
                    .and(NotForContentType::SSE),
            ),
        )
        .layer(CatchPanicLayer::custom(|_panic| {
            // The panic's text is logged by the panic hook, never sent.
            error_response(&crate::error::internal("a request handler panicked"))
        }))
        // Every answer gets them, refusals and panics too.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            super::headers::security_headers,
        ));
    // Timed when metrics are on (the time of everything but giving the request its id).
    let app = if state.config.metrics {
        app.layer(middleware::from_fn(super::monitoring::time_requests))
    } else {
        app
    };
    app.layer(middleware::from_fn_with_state(
        state.clone(),
        super::request_id::assign,
    ))
    .with_state(state)
}

/// Every route that is neither a page nor a server function.
pub fn routes(config: &Config) -> Vec<Route> {
    let mut routes = vec![
        Route::get("/healthz", || async { "ok" }),
        Route::get("/readyz", ready),
        // 404 unless TESSERA_METRICS=1; the bearer token when TESSERA_METRICS_TOKEN is set.
        Route::get("/metrics", super::monitoring::scrape),
    ];
    routes.extend(crate::agents::api::routes());
    // The handler reads the file in chunks and stops one byte past the package limit, so that
    // a larger package gets its own clear refusal rather than axum's 2 MB cap.
    routes.push(
        Route::post("/licenses/upload", crate::licenses::upload::upload_package)
            .body_limit(DefaultBodyLimit::disable()),
    );
    routes.push(Route::get("/settings/audit.csv", crate::audit::csv::export));
    routes.push(Route::get("/settings/usage.csv", crate::usage::export::csv));
    routes.push(Route::get(
        "/settings/usage-pools.csv",
        crate::usage::export::pools,
    ));
    routes.push(Route::get(
        "/settings/usage.json",
        crate::usage::export::json,
    ));
    #[cfg(feature = "test-clock")]
    if config.test_clock {
        routes.push(Route::post("/__test/clock", test_clock::move_clock));
    }
    #[cfg(not(feature = "test-clock"))]
    let _ = config;
    routes
}

/// Whether this instance can serve (for load balancers, orchestrators and `tessera
/// healthcheck`): 200 `ready`, or 503 saying what is not. Anyone may ask, like `/healthz`: it
/// tells nothing an outsider could use.
async fn ready(who: super::caller::Caller<crate::auth::server::Anyone>) -> Response {
    match super::db::readiness(who.db()).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            format!("not ready: {why}"),
        )
            .into_response(),
    }
}

/// Whether this build has the browser tests' clock route (cargo feature `test-clock`). Without
/// it, `TESSERA_TEST_CLOCK=1` mounts nothing: the route's code is not even compiled in.
pub const TEST_CLOCK_BUILT: bool = cfg!(feature = "test-clock");

#[cfg(feature = "test-clock")]
mod test_clock {
    use axum::response::{IntoResponse, Response};

    use crate::auth::server::{Granted, cap::MoveTestClock};
    use crate::error::AppError;
    use crate::server::caller::Caller;
    use crate::server::respond::error_response;

    /// `{"advance_ms": N}`: moves the clock by N ms (never back: the clock never goes back)
    /// and runs the sweeper's work at once. Administrators only; mounted only in a build with
    /// the `test-clock` feature and with `TESSERA_TEST_CLOCK=1`, for the browser tests.
    pub async fn move_clock(
        who: Caller<Granted<MoveTestClock>>,
        axum::Json(body): axum::Json<serde_json::Value>,
    ) -> Response {
        let Some(ms) = body
            .get("advance_ms")
            .and_then(serde_json::Value::as_i64)
            .filter(|ms| *ms >= 0)
        else {
            return error_response(&AppError::invalid(
                crate::error::Field::Request,
                crate::error::Problem::Required,
            ));
        };
        let state = who.state();
        tracing::warn!(by = %who.viewer().name, ms, "the test clock moved");
        state.clock.advance(ms);
        state.ledger.time_moved();
        crate::server::sweep(state).await;
        axum::Json(serde_json::json!({ "now_ms": state.clock.now_ms() })).into_response()
    }
}

/// Leptos answers every server function error with 500; give each its own status instead, so a
/// refusal is a 4xx (and an unreadable argument a 400) whoever sends it.
async fn api_error_status(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    if !is_api || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return error_response(&crate::error::internal("unreadable error body"));
    };
    let err = serde_json::from_slice::<AppError>(&bytes).ok();
    if let Some(err) = &err {
        parts.status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let mut response = Response::from_parts(parts, Body::from(bytes));
    if let Some(err) = &err {
        super::respond::set_retry_after(&mut response, err);
    }
    response
}

/// Every body but the upload's is small: one that says it is longer than [`SMALL_BODY_LIMIT`] is
/// refused unread (413, naming the limit), and one that does not say is cut off there (the
/// server function then cannot read its arguments: 400).
async fn small_bodies(req: Request, next: Next) -> Response {
    if LARGE_BODY_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let length = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > SMALL_BODY_LIMIT as u64) {
        return super::respond::too_large_response(SMALL_BODY_LIMIT);
    }
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, SMALL_BODY_LIMIT)));
    next.run(req).await
}

/// Leptos does no CSRF check: a state-changing request that a browser marks as coming from
/// another site is refused before it reaches any handler.
async fn refuse_cross_site(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && is_cross_site(req.headers()) {
        tracing::warn!(path = %req.uri().path(), "refused a cross-site request");
        return error_response(&AppError::CrossSite);
    }
    next.run(req).await
}

/// Whether the browser says the request comes from another origin. Requests without `Origin`
/// or `Sec-Fetch-Site` come from programs (agents, curl), which carry no ambient cookie risk.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(origin_authority) = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
    else {
        return true; // "null" or unparsable
    };
    !origin_authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    /// Generating the pages leaves no task on the server's runtime to be polled after the app it
    /// ran is gone. On a current-thread runtime nothing spawned can run before the test yields,
    /// so what generation spawned there is still counted alive.
    #[tokio::test(flavor = "current_thread")]
    async fn generating_the_pages_spawns_nothing_on_the_servers_runtime() {
        let alive = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        assert_eq!(alive(), 0);
        let pages = generate_pages();
        assert!(pages.iter().any(|page| page.path() == "/login"));
        assert_eq!(alive(), 0, "generating spawned onto the server's runtime");
        // The same app generated here spawns its effects here: the count above can fail.
        let _ = generate_route_list(App);
        assert!(alive() > 0);
    }

    #[test]
    fn same_origin_and_programs_pass() {
        assert!(!is_cross_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ])));
        assert!(!is_cross_site(&headers(&[("host", "127.0.0.1:3000")])));
        assert!(!is_cross_site(&headers(&[
            ("host", "lic.corp"),
            ("origin", "https://lic.corp"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn foreign_origins_are_refused() {
        assert!(is_cross_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://evil.example")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3001")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "null")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("sec-fetch-site", "same-site")
        ])));
    }
}
