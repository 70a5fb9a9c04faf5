//! The agent API, as an agent calls it.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_license::{Envelope, LeaseClaims, verify_lease};

use crate::State;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Tessera did not answer (connection refused, timed out) or answered 503.
    #[error("Tessera cannot be reached: {0}")]
    Unreachable(String),
    /// Tessera answered with a refusal: `error` is the API's code (`no_license_free`, …).
    #[error("Tessera refused ({status}): {error}")]
    Refused { status: u16, error: String },
    /// A granted checkout's lease does not verify with the installation's key.
    #[error("the lease Tessera sent does not verify: {0}")]
    BadLease(String),
    /// Something on this machine: a file, an option.
    #[error("{0}")]
    Setup(String),
}

/// What a checkout came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Licensed, under this (verified) lease, kept in the state.
    Licensed(LeaseClaims),
    /// Not licensed: the API's error code (`no_license_free`, `agent_shut_down`, …). The lease
    /// already held still runs to its end.
    Refused { status: u16, error: String },
    /// Tessera could not be reached; the lease already held still runs to its end.
    Unreachable(String),
}

/// A client of one Tessera's agent API.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// `server` is Tessera's base URL (`https://tessera.example.com`); every call gives up after
    /// `timeout`.
    pub fn new(server: &str, timeout: Duration) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Setup(e.to_string()))?;
        Ok(Client {
            base: server.trim_end_matches('/').to_string(),
            http,
        })
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let mut req = self
            .http
            .post(format!("{}/api/v1/agents/{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer = req
            .send()
            .await
            .map_err(|e| Error::Unreachable(e.to_string()))?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || status.is_server_error() {
            return Err(Error::Unreachable(format!("{status}")));
        }
        Err(Error::Refused {
            status: status.as_u16(),
            error: body["error"].as_str().unwrap_or("unknown").to_string(),
        })
    }

    /// Registers this machine with a tenant's enrollment key (or again with the agent's own
    /// token, to rotate it). The new state holds no lease yet.
    pub async fn register(
        &self,
        enrollment_key: &str,
        machine_id: &str,
        token: Option<&str>,
    ) -> Result<State, Error> {
        let body = json!({ "enrollment_key": enrollment_key.trim(), "machine_id": machine_id });
        let r = self.call("register", token, Some(body)).await?;
        let field = |name: &str| {
            r[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::Setup(format!("register answered without `{name}`")))
        };
        Ok(State {
            server: self.base.clone(),
            machine_id: machine_id.to_string(),
            agent_id: field("agent_id")?,
            tenant_id: field("tenant_id")?,
            token: field("token")?,
            lease_public_key: field("lease_public_key")?,
            lease: None,
            renew_after: None,
        })
    }

    /// Checks out. A granted lease is verified with the installation's key and kept in `state`;
    /// a refusal or an outage leaves the lease held as it is.
    pub async fn checkout(&self, state: &mut State) -> Outcome {
        match self.call("checkout", Some(&state.token), None).await {
            Ok(body) => match self.keep_lease(state, &body) {
                Ok(claims) => Outcome::Licensed(claims),
                // A lease that does not verify is not a license: treated as no answer.
                Err(e) => Outcome::Unreachable(e.to_string()),
            },
            Err(Error::Refused { status, error }) => Outcome::Refused { status, error },
            Err(e) => Outcome::Unreachable(e.to_string()),
        }
    }

    fn keep_lease(&self, state: &mut State, body: &Value) -> Result<LeaseClaims, Error> {
        let lease: Envelope = serde_json::from_value(body["lease"].clone())
            .map_err(|e| Error::BadLease(format!("no lease in the answer: {e}")))?;
        let claims = verify_lease(&state.public_key()?, &lease)
            .map_err(|e| Error::BadLease(e.to_string()))?;
        if claims.agent_id != state.agent_id {
            return Err(Error::BadLease(format!(
                "the lease is for agent {}, not this one",
                claims.agent_id
            )));
        }
        state.lease = Some(lease);
        state.renew_after = body["renew_after"].as_i64();
        Ok(claims)
    }

    /// Tells Tessera the agent is alive.
    pub async fn heartbeat(&self, state: &State) -> Result<(), Error> {
        self.call("heartbeat", Some(&state.token), None)
            .await
            .map(drop)
    }

    /// Borrows the floating license for `hours` (up to the tenant's longest borrow): the lease
    /// kept in `state` then runs to the borrow's end, with no connection needed until then.
    pub async fn borrow(&self, state: &mut State, hours: u32) -> Result<LeaseClaims, Error> {
        let body = self
            .call(
                "borrow",
                Some(&state.token),
                Some(json!({ "hours": hours })),
            )
            .await?;
        self.keep_lease(state, &body)
    }

    /// Gives a borrow back early. The borrowed lease is forgotten: the next checkout brings a
    /// lease of the tenant's lease time.
    pub async fn give_back(&self, state: &mut State) -> Result<(), Error> {
        self.call("return", Some(&state.token), None).await?;
        state.lease = None;
        state.renew_after = None;
        Ok(())
    }

    /// Gives the floating license back, and with it the lease: it is forgotten.
    pub async fn release(&self, state: &mut State) -> Result<(), Error> {
        self.call("release", Some(&state.token), None).await?;
        state.lease = None;
        state.renew_after = None;
        Ok(())
    }
}
