//! What the agent API says, as plain types shared by the server and its clients.
use serde::{Deserialize, Serialize};

use crate::licenses::domain::Expiry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Running,
    ShutDown,
}

impl AgentState {
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentState::Running => "running",
            AgentState::ShutDown => "shut_down",
        }
    }

    pub fn parse(s: &str) -> Option<AgentState> {
        [AgentState::Running, AgentState::ShutDown]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub enrollment_key: String,
    pub machine_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub agent_id: String,
    pub tenant_id: String,
    /// The bearer token for checkout and heartbeat. Registering again issues a new one.
    pub token: String,
}

/// Why an agent is licensed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Its tenant's platform license covers unlimited agents.
    UnlimitedAgents,
    Fixed,
    Floating,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedOut {
    pub licensed: bool,
    pub basis: Basis,
    /// The certificate it holds (none under unlimited agents).
    pub license_id: Option<String>,
    /// Until when, in Unix milliseconds; null when permanent.
    pub expires_at: Option<i64>,
}

impl CheckedOut {
    pub fn new(basis: Basis, license_id: Option<String>, until: Expiry) -> CheckedOut {
        CheckedOut {
            licensed: true,
            basis,
            license_id,
            expires_at: match until {
                Expiry::Never => None,
                Expiry::At(t) => Some(t),
            },
        }
    }
}
