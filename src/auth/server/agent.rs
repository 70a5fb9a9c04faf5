//! An agent's bearer token, checked: the agent API's handlers take a `Caller<Agent>`, made here.
//! Checkout runs on every inference request, so the grant remembered for the token is looked at
//! before the database; only a token with no fresh grant costs a read.
use axum::extract::FromRequestParts;
use axum::response::Response;
use http::header::AUTHORIZATION;
use http::request::Parts;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::agents::entity as agent;
use crate::error::AppError;
use crate::ledger::grants::Hit;
use crate::licenses::verify::sha256_hex;
use crate::server::caller::Caller;
use crate::server::respond::error_response;
use crate::server::state::AppState;

/// Proof that the caller holds an agent's token.
pub enum Agent {
    /// A grant made for this token a moment ago, still fresh: the agent is known without a read.
    Remembered(Hit),
    /// The agent the token names, read from the database, with the grants' generation as it was
    /// before the read (a grant made from this read is kept only if nothing changed since).
    Found {
        agent: agent::Model,
        token_hash: String,
        generation: u64,
    },
}

impl Agent {
    pub fn id(&self) -> &str {
        match self {
            Agent::Remembered(hit) => &hit.agent_id,
            Agent::Found { agent, .. } => &agent.id,
        }
    }
}

impl FromRequestParts<AppState> for Caller<Agent> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let found = async {
            let token_hash = token_hash(bearer(parts))?;
            let grants = state.ledger.grants();
            // The fast path reads memory only, and copies the state once, for the caller.
            if let Some(hit) = grants.get(&token_hash, state.clock.now_ms()) {
                return Ok(Agent::Remembered(hit));
            }
            let generation = grants.generation();
            let lookup = super::guard::anyone_with(state.clone());
            let agent = authenticate(lookup.db(), &token_hash).await?;
            Ok(Agent::Found {
                agent,
                token_hash,
                generation,
            })
        };
        match found.await {
            Ok(proof) => Ok(Caller::new(state.clone(), proof)),
            Err(e) => Err(error_response(&e)),
        }
    }
}

/// The hash of the bearer token a request presents, if it presents a plausible one (registering
/// again proves itself with it).
pub fn presented_token_hash(headers: &http::HeaderMap) -> Option<String> {
    token_hash(bearer_of(headers)).ok()
}

fn bearer(parts: &Parts) -> Option<&str> {
    bearer_of(&parts.headers)
}

fn bearer_of(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The SHA-256 of a bearer token as stored, if the token is plausible at all.
fn token_hash(token: Option<&str>) -> Result<String, AppError> {
    let token = token
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or(AppError::BadAgentCredentials)?;
    Ok(sha256_hex(token.as_bytes()))
}

/// The agent whose bearer token hashes to `hash`.
async fn authenticate(db: &impl ConnectionTrait, hash: &str) -> Result<agent::Model, AppError> {
    agent::Entity::find()
        .filter(agent::Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .ok_or(AppError::BadAgentCredentials)
}
