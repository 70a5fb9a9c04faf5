//! Tessera's agent kit: what an agent needs to be licensed by Tessera, and to keep working
//! through a Tessera outage on its signed lease (docs/agent-api.md).
//!
//! - [`Client`]: the agent API (register, check out, heartbeat, release). A granted checkout's
//!   lease is verified with the installation's public key before it is kept.
//! - [`State`]: what an agent keeps between runs (its token, the installation's public key and
//!   its last lease), in a file only its user reads.
//! - [`machine_id`]: a stable machine id from `/etc/machine-id`, unless one is given.
//! - [`supervise`]: runs a command while the machine is licensed (the `tessera-agent run`
//!   command).
//!
//! "Am I licensed now?" is [`State::licensed_at`]: from the last lease alone, with no call to
//! Tessera, so it answers while Tessera cannot be reached.
mod client;
mod machine;
mod state;
pub mod supervise;

pub use client::{Client, Error, Outcome};
pub use machine::machine_id;
pub use state::State;

/// Unix milliseconds now, by the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How far the machine's clock may be behind the installation's and a fresh lease still count.
pub const CLOCK_SKEW_MS: i64 = 60_000;
