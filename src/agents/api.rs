//! The agent API under `/api/v1/`: JSON in and out, a bearer token per agent, described by the
//! OpenAPI document at `/api/v1/openapi.json`. Every refusal is a JSON `AppError` with its status.
//!
//! The document is derived (utoipa) from the types the handlers read and answer and from each
//! handler's `#[utoipa::path]`, which lists every status it answers: a change to a type changes
//! the document, and the test command fuzzes the API from it (scripts/api-fuzz.sh, schemathesis).
use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};

use utoipa::OpenApi;

use super::model::{Basis, BorrowRequest, CheckedOut, Done, Lease, RegisterRequest, Registered};
use super::store;
use crate::auth::server::agent::presented_token_hash;
use crate::auth::server::{Agent, Anyone};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::ledger::grants::Computed;
use crate::ledger::holdings;
use crate::server::caller::Caller;
use crate::server::respond::{error_response, too_large_response};
use crate::server::route::Route;

/// The largest agent request body.
pub const AGENT_BODY_LIMIT: usize = 16 * 1024;

/// The routes in the order an agent meets them, as the reference page lists them.
pub const ROUTE_ORDER: [&str; 7] = [
    "/api/v1/agents/register",
    "/api/v1/agents/checkout",
    "/api/v1/agents/heartbeat",
    "/api/v1/agents/release",
    "/api/v1/agents/borrow",
    "/api/v1/agents/return",
    "/api/v1/openapi.json",
];

/// The agent API's routes, each with the agent body limit.
pub fn routes() -> Vec<Route> {
    [
        Route::post("/api/v1/agents/register", register),
        Route::post("/api/v1/agents/checkout", check_out),
        Route::post("/api/v1/agents/heartbeat", heartbeat),
        Route::post("/api/v1/agents/release", release),
        Route::post("/api/v1/agents/borrow", borrow),
        Route::post("/api/v1/agents/return", give_back),
        Route::get("/api/v1/openapi.json", openapi),
    ]
    .into_iter()
    .map(|route| route.body_limit(DefaultBodyLimit::max(AGENT_BODY_LIMIT)))
    .collect()
}

fn answer<T: serde::Serialize>(result: Result<T, AppError>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => error_response(&e),
    }
}

/// The 4xx naming what is wrong with a JSON body: 413 past [`AGENT_BODY_LIMIT`], 400 for anything
/// else (not JSON, a wrong type, a missing field).
fn refused_body(rejection: &JsonRejection) -> Response {
    if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        too_large_response(AGENT_BODY_LIMIT)
    } else {
        error_response(&AppError::invalid(
            Field::Request,
            Problem::Malformed {
                detail: rejection.body_text(),
            },
        ))
    }
}

/// Registering proves itself with the tenant's enrollment key, which the store checks.
#[utoipa::path(
    post,
    path = "/api/v1/agents/register",
    tag = "agents",
    summary = "Register this machine's agent",
    description = "One agent per machine id and tenant. Registering a machine again takes its \
        agent's own token as the bearer (the same agent, a new token, its state kept), or an \
        administrator's reset of its registration; the enrollment key alone is refused 409.",
    request_body = RegisterRequest,
    responses(
        (status = 200, description = "Registered", body = Registered),
        (status = 400, description = "Not JSON, a wrong type, or a missing, empty or too long \
            machine_id (error: invalid, with the field and the problem)", body = AppError),
        (status = 401, description = "Unknown or rotated enrollment key \
            (error: bad_agent_credentials)", body = AppError),
        (status = 403, description = "The tenant's platform license has expired \
            (error: platform_expired)", body = AppError),
        (status = 409, description = "The machine is registered already and the request does \
            not carry its agent's token (kind: machine_registered), or the tenant has as many \
            agents as it allows (kind: agent_limit)", body = AppError),
        (status = 413, description = "A body over 16 KiB", body = AppError),
        (status = 503, description = "The database is unavailable (Retry-After)", body = AppError),
    ),
    security((), ("agentToken" = [])),
)]
async fn register(
    who: Caller<Anyone>,
    headers: http::HeaderMap,
    json: Result<Json<RegisterRequest>, JsonRejection>,
) -> Response {
    let req = match json {
        Ok(Json(req)) => req,
        Err(rejection) => return refused_body(&rejection),
    };
    answer(
        async {
            store::register(
                who.db(),
                who.ledger(),
                &req.enrollment_key,
                &req.machine_id,
                presented_token_hash(&headers).as_deref(),
                who.now(),
            )
            .await
        }
        .await,
    )
}

/// Every answer from memory when it can be: a grant or a refusal computed for this token since
/// the license state last changed.
#[utoipa::path(
    post,
    path = "/api/v1/agents/checkout",
    tag = "agents",
    summary = "Check out for one inference request",
    responses(
        (status = 200, description = "Licensed", body = CheckedOut),
        (status = 401, description = "A missing, forged or revoked agent token \
            (error: bad_agent_credentials)", body = AppError),
        (status = 402, description = "No license is free (error: no_license_free); the refusal \
            is counted", body = AppError),
        (status = 403, description = "The agent's fixed license expired (license_expired) or \
            was revoked (license_revoked), or the agent was shut down (agent_shut_down); a \
            floating license that lapsed is exchanged for a free one", body = AppError),
        (status = 503, description = "The database is unavailable (unavailable), or gave the \
            claim up for another's three times in a row (contended); Retry-After says when to \
            try again", body = AppError),
    ),
    security(("agentToken" = [])),
)]
async fn check_out(who: Caller<Agent>) -> Response {
    let answered = async {
        let now = who.now();
        match who.proof() {
            Agent::Remembered(hit) => {
                metrics::counter!("tessera_grant_cache_total", "result" => "hit").increment(1);
                if hit.write_seen {
                    who.ledger().seen().note(&hit.agent_id, now);
                }
                if let Err(why) = &hit.answer {
                    who.ledger()
                        .refusals()
                        .count(&hit.agent_id, &hit.tenant_id, why, now);
                }
                hit.answer.clone()
            }
            Agent::Found {
                agent,
                token_hash,
                generation,
            } => {
                metrics::counter!("tessera_grant_cache_total", "result" => "miss").increment(1);
                let (answer, generation) =
                    holdings::check_out(who.ledger(), agent, *generation, now).await?;
                let computed = Computed {
                    generation,
                    agent_id: &agent.id,
                    tenant_id: &agent.tenant_id,
                };
                who.ledger()
                    .grants()
                    .put(computed, token_hash.clone(), answer.clone(), now);
                answer
            }
        }
    }
    .await;
    let result = match &answered {
        Ok(_) => "licensed",
        Err(e) => e.code(),
    };
    metrics::counter!("tessera_checkouts_total", "result" => result).increment(1);
    answer(answered)
}

#[utoipa::path(
    post,
    path = "/api/v1/agents/heartbeat",
    tag = "agents",
    summary = "Tell Tessera the agent is alive",
    description = "A floating license is kept only while its agent is heard from (checkouts \
        count), where its tenant releases silent agents' licenses.",
    responses(
        (status = 200, description = "Noted", body = Done),
        (status = 401, description = "A missing, forged or revoked agent token \
            (error: bad_agent_credentials)", body = AppError),
        (status = 503, description = "The database is unavailable (Retry-After)", body = AppError),
    ),
    security(("agentToken" = [])),
)]
async fn heartbeat(who: Caller<Agent>) -> Response {
    answer(
        async {
            holdings::seen(who.ledger(), who.id(), who.now()).await?;
            Ok(Done { ok: true })
        }
        .await,
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/agents/release",
    tag = "agents",
    summary = "Give back the floating license this agent holds",
    description = "The agent stays registered; its next checkout takes a license again.",
    responses(
        (status = 200, description = "Released, or nothing to release", body = Done),
        (status = 401, description = "A missing, forged or revoked agent token \
            (error: bad_agent_credentials)", body = AppError),
        (status = 503, description = "The database is unavailable (Retry-After)", body = AppError),
    ),
    security(("agentToken" = [])),
)]
async fn release(who: Caller<Agent>) -> Response {
    answer(
        async {
            holdings::release(who.ledger(), who.id(), who.now()).await?;
            Ok(Done { ok: true })
        }
        .await,
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/agents/borrow",
    tag = "agents",
    summary = "Borrow a floating license, to work offline",
    description = "Keeps the floating license this agent holds (taking a free one first when it \
        holds none) for the hours asked, up to its tenant's longest borrow: the lease in the \
        answer, and every lease until then, runs to the borrow's end (never past the license's \
        expiry), so the agent may work with no connection at all. Borrowing again never \
        shortens a borrow. Ends early by `return` or `release`.",
    request_body = BorrowRequest,
    responses(
        (status = 200, description = "Borrowed: the grant and its lease", body = CheckedOut),
        (status = 400, description = "Not JSON, a wrong type or missing hours, or hours outside \
            1 to the tenant's longest borrow (error: invalid, field: borrow_hours)", body = AppError),
        (status = 401, description = "A missing, forged or revoked agent token \
            (error: bad_agent_credentials)", body = AppError),
        (status = 402, description = "It holds no license and none is free \
            (error: no_license_free)", body = AppError),
        (status = 403, description = "The agent was shut down (agent_shut_down)", body = AppError),
        (status = 409, description = "Its tenant does not allow borrowing (kind: borrowing_off), \
            one more borrow would leave fewer licenses unborrowed than the tenant keeps \
            (kind: kept_unborrowed), or it is licensed by a fixed license or unlimited agents \
            (kind: not_floating)", body = AppError),
        (status = 413, description = "A body over 16 KiB", body = AppError),
        (status = 503, description = "The database is unavailable (Retry-After)", body = AppError),
    ),
    security(("agentToken" = [])),
)]
async fn borrow(who: Caller<Agent>, json: Result<Json<BorrowRequest>, JsonRejection>) -> Response {
    let req = match json {
        Ok(Json(req)) => req,
        Err(rejection) => return refused_body(&rejection),
    };
    answer(
        crate::ledger::borrowing::borrow(
            who.ledger(),
            crate::ledger::borrowing::Borrower::Agent,
            who.id(),
            req.hours,
            who.now(),
        )
        .await,
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/agents/return",
    tag = "agents",
    summary = "Give a borrow back early",
    description = "The agent keeps its license, under leases of its tenant's lease time again; \
        the borrowed lease must be thrown away. Nothing borrowed: nothing changes.",
    responses(
        (status = 200, description = "Given back, or nothing borrowed", body = Done),
        (status = 401, description = "A missing, forged or revoked agent token \
            (error: bad_agent_credentials)", body = AppError),
        (status = 503, description = "The database is unavailable (Retry-After)", body = AppError),
    ),
    security(("agentToken" = [])),
)]
async fn give_back(who: Caller<Agent>) -> Response {
    answer(
        async {
            crate::ledger::borrowing::give_back(who.ledger(), who.id(), who.now()).await?;
            Ok(Done { ok: true })
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "document",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
)]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(AgentApi::openapi())
}

/// The agent API's OpenAPI 3.1 document: every route, body, constraint and error.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera agent API",
        version = "1",
        description = "Agents register with their tenant's enrollment key, then check out on \
            every inference request with the bearer token registering gave them."
    ),
    paths(register, check_out, heartbeat, release, borrow, give_back, openapi),
    components(schemas(RegisterRequest, Registered, BorrowRequest, CheckedOut, Lease, Basis, Done, AppError, Field, Problem, ConflictKind)),
    modifiers(&AgentToken),
)]
pub struct AgentApi;

/// The bearer token scheme the secured routes name.
struct AgentToken;

impl utoipa::Modify for AgentToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "agentToken",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

/// The document as JSON, as `/api/v1/openapi.json` serves it.
pub fn openapi_document() -> serde_json::Value {
    serde_json::to_value(AgentApi::openapi()).unwrap_or_default()
}
