//! Runs a command while the machine is licensed (`tessera-agent run`).
//!
//! The command starts once a checkout is granted. Its lease is renewed at `renew_after` (half of
//! it), so it never runs out while Tessera answers. While Tessera cannot be reached, or refuses,
//! the command goes on until the lease held ends, and is stopped then (SIGTERM, then SIGKILL
//! after [`Options::grace`]). The licence state is written to a status file the command can
//! read (its path in the command's `TESSERA_AGENT_STATUS`).
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use std::process::{Child, Command};

use crate::{Client, Error, Outcome, State, now_ms};

pub struct Options {
    /// Tessera's base URL.
    pub server: String,
    /// The tenant's enrollment key.
    pub enrollment_key: String,
    pub machine_id: String,
    /// Where the registration and the last lease are kept.
    pub state: PathBuf,
    /// Where the licence state is written for the command; `None`: beside the state file.
    pub status: Option<PathBuf>,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// How soon to ask again after a refusal or while Tessera cannot be reached.
    pub retry: Duration,
    /// How long a call to Tessera may take.
    pub timeout: Duration,
    /// How long the command has to stop after SIGTERM.
    pub grace: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The command exited by itself, with this code (the floating license was given back).
    CommandExited(i32),
    /// The license was lost: refused, or Tessera unreachable, past the lease's end. The command
    /// was stopped.
    LicenseLost,
    /// SIGTERM or SIGINT: the command was stopped and the license given back.
    Stopped,
}

/// What the status file says.
#[derive(Debug, Serialize)]
struct Status<'a> {
    licensed: bool,
    agent_id: &'a str,
    license_id: Option<&'a str>,
    /// The lease's end, Unix ms.
    valid_until: Option<i64>,
    renew_after: Option<i64>,
    /// The last answer: `licensed`, the refusal's code, or `unreachable`.
    last_answer: &'a str,
    /// Checkouts in a row that were not granted (refused, or Tessera unreachable).
    failures: u32,
    updated_at: i64,
}

/// Registers (once: the state file keeps it), then keeps the command running while licensed.
pub async fn run(opts: Options) -> Result<Ended, Error> {
    let client = Client::new(&opts.server, opts.timeout)?;
    let mut state = registered(&client, &opts).await?;
    let status_path = opts
        .status
        .clone()
        .unwrap_or_else(|| opts.state.with_extension("status.json"));
    let mut child: Option<Child> = None;
    let mut sigterm = terminate_signal()?;
    let mut failures = 0;
    loop {
        let mut outcome = client.checkout(&mut state).await;
        if let Outcome::Refused { status: 401, .. } = outcome {
            // The token is no longer valid (an administrator reset the registration): register
            // again with the enrollment key, and ask again at once.
            if let Ok(again) = client
                .register(&opts.enrollment_key, &opts.machine_id, None)
                .await
            {
                state = State {
                    lease: state.lease.take(),
                    renew_after: state.renew_after,
                    ..again
                };
                state.save(&opts.state)?;
                outcome = client.checkout(&mut state).await;
            }
        }
        let last_answer = match &outcome {
            Outcome::Licensed(_) => {
                state.save(&opts.state)?;
                "licensed".to_string()
            }
            Outcome::Refused { error, .. } => error.clone(),
            Outcome::Unreachable(_) => "unreachable".to_string(),
        };
        failures = match outcome {
            Outcome::Licensed(_) => 0,
            _ => failures + 1,
        };
        // A borrow made meanwhile by `tessera-agent borrow` is in the state file.
        if let Ok(Some(saved)) = State::load(&opts.state) {
            state.adopt_longer_lease(saved);
        }
        let now = now_ms();
        let lease = state.licensed_at(now);
        let status = Status {
            licensed: lease.is_some(),
            agent_id: &state.agent_id,
            license_id: lease.as_ref().and_then(|c| c.license_id.as_deref()),
            valid_until: lease.as_ref().map(|c| c.valid_until),
            renew_after: state.renew_after,
            last_answer: &last_answer,
            failures,
            updated_at: now,
        };
        write_status(&status_path, &status)?;
        match (&lease, child.is_some()) {
            (Some(_), false) => child = Some(start(&opts.command, &status_path)?),
            (None, true) => {
                if let Some(c) = child.take() {
                    stop(c, opts.grace).await;
                }
                return Ok(Ended::LicenseLost);
            }
            _ => {}
        }
        // Next: the renewal when licensed, else soon again; never past the lease's end.
        let mut wake = match (&outcome, state.renew_after) {
            (Outcome::Licensed(_), Some(renew)) if renew > now => renew,
            _ => now + duration_ms(opts.retry),
        };
        if let Some(l) = &lease {
            wake = wake.min(l.valid_until);
        }
        let sleep = tokio::time::sleep(Duration::from_millis(
            u64::try_from((wake - now).max(10)).unwrap_or(10),
        ));
        let woke = tokio::select! {
            () = sleep => Woke::Timer,
            code = wait(&mut child) => Woke::Exited(code),
            _ = tokio::signal::ctrl_c() => Woke::Signal,
            _ = sigterm.recv() => Woke::Signal,
        };
        match woke {
            Woke::Timer => {}
            Woke::Exited(code) => {
                let _ = client.release(&mut state).await;
                state.save(&opts.state)?;
                return Ok(Ended::CommandExited(code));
            }
            Woke::Signal => {
                if let Some(c) = child.take() {
                    stop(c, opts.grace).await;
                }
                let _ = client.release(&mut state).await;
                state.save(&opts.state)?;
                return Ok(Ended::Stopped);
            }
        }
    }
}

enum Woke {
    Timer,
    Exited(i32),
    Signal,
}

/// The state file's registration with this server and machine, or a new one (asked again
/// while Tessera cannot be reached).
async fn registered(client: &Client, opts: &Options) -> Result<State, Error> {
    if let Some(state) = State::load(&opts.state)?
        && state.server == client.server()
        && state.machine_id == opts.machine_id
    {
        return Ok(state);
    }
    loop {
        match client
            .register(&opts.enrollment_key, &opts.machine_id, None)
            .await
        {
            Ok(state) => {
                state.save(&opts.state)?;
                return Ok(state);
            }
            Err(Error::Unreachable(why)) => {
                eprintln!(
                    "tessera-agent: registering: Tessera cannot be reached ({why}); asking again"
                );
                tokio::time::sleep(opts.retry).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn start(command: &[String], status: &Path) -> Result<Child, Error> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::Setup("no command to run".into()))?;
    Command::new(program)
        .args(args)
        .env("TESSERA_AGENT_STATUS", status)
        .spawn()
        .map_err(|e| Error::Setup(format!("starting {program}: {e}")))
}

/// Waits for the command to exit (never, when there is none); answers its exit code. Polled:
/// std's `Child` has no future to wait on.
async fn wait(child: &mut Option<Child>) -> i32 {
    let Some(c) = child else {
        return std::future::pending().await;
    };
    loop {
        match c.try_wait() {
            Ok(Some(status)) => return status.code().unwrap_or(1),
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => return 1,
        }
    }
}

/// SIGTERM, then SIGKILL if it has not exited within `grace`.
async fn stop(child: Child, grace: Duration) {
    // std sends only SIGKILL; `kill` is how a shell asks politely.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut some = Some(child);
    if tokio::time::timeout(grace, wait(&mut some)).await.is_err()
        && let Some(mut c) = some
    {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Written whole or not at all: the command may read it at any moment.
fn write_status(path: &Path, status: &Status<'_>) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(status).map_err(|e| Error::Setup(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::Setup(format!("writing {}: {e}", path.display())))
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(unix)]
fn terminate_signal() -> Result<tokio::signal::unix::Signal, Error> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Setup(format!("listening for SIGTERM: {e}")))
}
