//! The table entry of a plain route (neither a page nor a server function), which capabilities
//! hand to the router.
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{MethodRouter, get, post};
use http::Method;

use super::state::AppState;

/// A route besides the pages and the server functions. The router is built from [`routes`], and
/// the authorization test walks the same table, so no route can be added without an answer for
/// who may call it.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub(super) handler: MethodRouter<AppState>,
}

impl Route {
    pub fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
        Route {
            method: Method::GET,
            path,
            handler: get(handler),
        }
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Route {
        Route {
            method: Method::POST,
            path,
            handler: post(handler),
        }
    }

    /// The route with its own body limit in place of axum's default.
    pub fn body_limit(self, limit: DefaultBodyLimit) -> Route {
        Route {
            handler: self.handler.layer(limit),
            ..self
        }
    }
}
