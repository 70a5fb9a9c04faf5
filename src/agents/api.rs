//! The agent API under `/api/v1/`: JSON in and out, a bearer token per agent, described by the
//! OpenAPI document at `/api/v1/openapi.json`. Every refusal is a JSON `AppError` with its status.
use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};

use super::model::RegisterRequest;
use super::store;
use crate::auth::server::agent::presented_token_hash;
use crate::auth::server::{Agent, Anyone};
use crate::error::{AppError, Field, Problem};
use crate::ledger::grants::Computed;
use crate::ledger::holdings;
use crate::server::caller::Caller;
use crate::server::respond::error_response;
use crate::server::route::Route;

/// The largest agent request body.
const AGENT_BODY_LIMIT: usize = 16 * 1024;

/// The agent API's routes, each with the agent body limit.
pub fn routes() -> Vec<Route> {
    [
        Route::post("/api/v1/agents/register", register),
        Route::post("/api/v1/agents/checkout", check_out),
        Route::post("/api/v1/agents/heartbeat", heartbeat),
        Route::post("/api/v1/agents/release", release),
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

/// A JSON body, or a 4xx naming what is wrong with it.
fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    json.map(|Json(t)| t).map_err(|rejection| {
        AppError::invalid(
            Field::Request,
            Problem::Malformed {
                detail: rejection.body_text(),
            },
        )
    })
}

/// Registering proves itself with the tenant's enrollment key, which the store checks.
async fn register(
    who: Caller<Anyone>,
    headers: http::HeaderMap,
    json: Result<Json<RegisterRequest>, JsonRejection>,
) -> Response {
    answer(
        async {
            let req = body(json)?;
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

async fn check_out(who: Caller<Agent>) -> Response {
    answer(
        async {
            let now = who.now();
            match who.proof() {
                Agent::Remembered(hit) => {
                    if hit.write_seen {
                        let (ledger, agent_id) = (who.ledger().clone(), hit.agent_id.clone());
                        tokio::spawn(async move {
                            if let Err(e) = holdings::seen(&ledger, &agent_id, now).await {
                                tracing::warn!(error = %e, "recording an agent's last-seen time failed");
                            }
                        });
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
        .await,
    )
}

async fn heartbeat(who: Caller<Agent>) -> Response {
    answer(
        async {
            holdings::seen(who.ledger(), who.id(), who.now()).await?;
            Ok(serde_json::json!({ "ok": true }))
        }
        .await,
    )
}

async fn release(who: Caller<Agent>) -> Response {
    answer(
        async {
            holdings::release(who.ledger(), who.id(), who.now()).await?;
            Ok(serde_json::json!({ "ok": true }))
        }
        .await,
    )
}

async fn openapi() -> Json<serde_json::Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 description of every agent route, body and error.
pub fn openapi_document() -> serde_json::Value {
    use serde_json::json;
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        })
    };
    let bearer = json!([{ "agentToken": [] }]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tessera agent API",
            "version": "1",
            "description": "Agents register with their tenant's enrollment key, then check out on every inference request."
        },
        "paths": {
            "/api/v1/agents/register": {
                "post": {
                    "summary": "Register this machine's agent (one per machine id and tenant). Registering a machine again takes its agent's own token as the bearer (the same agent, a new token, its state kept), or an administrator's reset of its registration; the enrollment key alone is refused 409",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RegisterRequest" } } } },
                    "responses": {
                        "200": { "description": "Registered", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Registered" } } } },
                        "400": error("Malformed JSON, a wrong type, or a missing or too long machine_id"),
                        "401": error("Unknown or rotated enrollment key"),
                        "409": error("The machine is registered already and the request does not carry its agent's token (kind: machine_registered), or the tenant has as many agents as it allows (kind: agent_limit)"),
                        "413": error("Body over 16 KiB")
                    }
                }
            },
            "/api/v1/agents/checkout": {
                "post": {
                    "summary": "Check out for one inference request",
                    "security": bearer,
                    "responses": {
                        "200": { "description": "Licensed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CheckedOut" } } } },
                        "401": error("Missing, forged or revoked agent token"),
                        "402": error("No license is free (error: no_license_free); the refusal is counted"),
                        "403": error("The agent's fixed license expired (license_expired) or was revoked (license_revoked), or the agent was shut down (agent_shut_down); a floating license that lapsed is exchanged for a free one"),
                        "503": error("The database is unavailable")
                    }
                }
            },
            "/api/v1/agents/heartbeat": {
                "post": {
                    "summary": "Tell Tessera the agent is alive",
                    "security": bearer,
                    "responses": {
                        "200": { "description": "Noted", "content": { "application/json": { "schema": { "type": "object", "properties": { "ok": { "type": "boolean" } } } } } },
                        "401": error("Missing, forged or revoked agent token")
                    }
                }
            },
            "/api/v1/agents/release": {
                "post": {
                    "summary": "Give back the floating license this agent holds (it stays registered; its next checkout takes one again)",
                    "security": bearer,
                    "responses": {
                        "200": { "description": "Released, or nothing to release", "content": { "application/json": { "schema": { "type": "object", "properties": { "ok": { "type": "boolean" } } } } } },
                        "401": error("Missing, forged or revoked agent token")
                    }
                }
            },
            "/api/v1/openapi.json": {
                "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3.1" } } }
            }
        },
        "components": {
            "securitySchemes": { "agentToken": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "RegisterRequest": {
                    "type": "object", "required": ["enrollment_key", "machine_id"],
                    "properties": { "enrollment_key": { "type": "string" }, "machine_id": { "type": "string", "maxLength": 200 } }
                },
                "Registered": {
                    "type": "object", "required": ["agent_id", "tenant_id", "token"],
                    "properties": { "agent_id": { "type": "string" }, "tenant_id": { "type": "string" }, "token": { "type": "string" } }
                },
                "CheckedOut": {
                    "type": "object", "required": ["licensed", "basis"],
                    "properties": {
                        "licensed": { "type": "boolean" },
                        "basis": { "enum": ["unlimited_agents", "fixed", "floating"] },
                        "license_id": { "type": ["string", "null"] },
                        "expires_at": { "type": ["integer", "null"], "description": "Unix milliseconds; null is permanent" }
                    }
                },
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": { "error": { "type": "string", "description": "bad_agent_credentials, no_license_free, license_expired, license_revoked, agent_shut_down, invalid, unavailable, internal" } }
                }
            }
        }
    })
}
