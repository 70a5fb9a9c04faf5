//! Answers handlers and server functions share: a JSON error with its status, a `Set-Cookie`, the
//! page shown while the database is down. Kept apart from the router (`http.rs`), which composes
//! the handlers, so that handlers need not import the file that imports them.
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};

use crate::error::AppError;

/// Adds a `Set-Cookie` to the answer of the current server function.
pub fn append_set_cookie(value: &str) -> Result<(), AppError> {
    let header = http::HeaderValue::from_str(value).map_err(crate::error::internal)?;
    let response = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
        .ok_or_else(|| crate::error::internal("no response options in context"))?;
    response.append_header(http::header::SET_COOKIE, header);
    Ok(())
}

/// A JSON error answer with the error's own status.
pub fn error_response(err: &AppError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(err).unwrap_or_else(|_| "{}".to_string());
    let mut response = (status, [(CONTENT_TYPE, "application/json")], body).into_response();
    set_retry_after(&mut response, err);
    response
}

/// A body past `max` bytes: 413, naming the limit (`invalid`, field `request`, `too_long`).
pub fn too_large_response(max: usize) -> Response {
    let mut response = error_response(&AppError::invalid(
        crate::error::Field::Request,
        crate::error::Problem::TooLong {
            max: u32::try_from(max).unwrap_or(u32::MAX),
        },
    ));
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    response
}

/// `Retry-After`, when the error asks the client to wait (503, 429).
pub fn set_retry_after(response: &mut Response, err: &AppError) {
    if let Some(secs) = err.retry_after_secs() {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
}

/// Whether the client asks for a page (a browser's navigation or form post), not for JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// The answer to a page asked for while the database cannot be reached: a plain page in both
/// languages (nothing else can be rendered without the database), 503 with `Retry-After`.
pub fn unavailable_page() -> Response {
    const PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
        <meta http-equiv=\"refresh\" content=\"5\"><title>Tessera</title>\
        <link rel=\"stylesheet\" href=\"/pkg/tessera.css\"></head>\
        <body><main>\
        <h1>Tessera cannot reach its database</h1>\
        <p>Nothing was changed. This page tries again every 5 seconds.</p>\
        <p lang=\"ru\">Tessera не может связаться с базой данных. Ничего не изменено; \
        страница повторит попытку через 5 секунд.</p></main></body></html>";
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (http::header::RETRY_AFTER, "5"),
        ],
        PAGE,
    )
        .into_response()
}
