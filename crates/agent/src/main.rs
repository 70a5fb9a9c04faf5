//! `tessera-agent`: runs a command while this machine is licensed by Tessera, and answers what
//! its lease says (docs/agent-api.md, "The agent kit").
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tessera_agent::supervise::{self, Ended};
use tessera_agent::{Client, Error, State, machine_id, now_ms};

#[derive(Parser)]
#[command(
    version,
    about = "Runs a command while this machine is licensed by Tessera"
)]
struct Cli {
    /// The state file: the registration (its token is a secret) and the last lease.
    #[arg(
        long,
        env = "TESSERA_AGENT_STATE",
        default_value = "tessera-agent.json",
        global = true
    )]
    state: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register (once), check out, start CMD once licensed, keep the lease renewed, and stop CMD
    /// when the license is lost (at the lease's end). Exits with CMD's code when it exits by
    /// itself (giving the floating license back), 3 when the license was lost.
    Run {
        /// Tessera's base URL.
        #[arg(long, env = "TESSERA_SERVER")]
        server: String,
        /// A file holding the tenant's enrollment key.
        #[arg(long, env = "TESSERA_ENROLLMENT_KEY_FILE")]
        enrollment_key: PathBuf,
        /// This machine's id; derived from /etc/machine-id when not given.
        #[arg(long, env = "TESSERA_MACHINE_ID")]
        machine_id: Option<String>,
        /// Where to write the licence state for CMD (JSON; its path is in CMD's
        /// TESSERA_AGENT_STATUS). Default: beside the state file.
        #[arg(long, env = "TESSERA_AGENT_STATUS_FILE")]
        status_file: Option<PathBuf>,
        /// Seconds between attempts while refused or while Tessera cannot be reached.
        #[arg(long, default_value_t = 5)]
        retry_seconds: u64,
        /// The command to run, after `--`.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Print the lease held, and exit 0 when it licenses this machine now, 1 when not.
    Status,
    /// Give the floating license back (and with it the lease).
    Release,
    /// Borrow the floating license for HOURS (up to the tenant's longest borrow): its lease then
    /// runs that long, so the machine works with no connection to Tessera. A running
    /// `tessera-agent run` on the same state file takes the borrowed lease.
    Borrow {
        #[arg(long)]
        hours: u32,
    },
    /// Give a borrow back early (the license stays, under short leases again).
    Return,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tessera-agent: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Run {
            server,
            enrollment_key,
            machine_id: explicit,
            status_file,
            retry_seconds,
            cmd,
        } => {
            let key = std::fs::read_to_string(&enrollment_key).map_err(|e| {
                Error::Setup(format!(
                    "reading the enrollment key {}: {e}",
                    enrollment_key.display()
                ))
            })?;
            let ended = supervise::run(supervise::Options {
                server,
                enrollment_key: key.trim().to_string(),
                machine_id: machine_id(explicit.as_deref())?,
                state: cli.state,
                status: status_file,
                command: cmd,
                retry: Duration::from_secs(retry_seconds.max(1)),
                timeout: Duration::from_secs(10),
                grace: Duration::from_secs(10),
            })
            .await?;
            Ok(match ended {
                Ended::CommandExited(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                Ended::LicenseLost => {
                    eprintln!("tessera-agent: the license was lost; the command was stopped");
                    ExitCode::from(3)
                }
                Ended::Stopped => ExitCode::SUCCESS,
            })
        }
        Command::Status => {
            let state = load(&cli.state)?;
            let now = now_ms();
            println!(
                "agent     {} (machine {})",
                state.agent_id, state.machine_id
            );
            println!("server    {}", state.server);
            let Some(claims) = state.lease_claims() else {
                println!("lease     none");
                return Ok(ExitCode::from(1));
            };
            println!(
                "license   {} ({})",
                claims
                    .license_id
                    .as_deref()
                    .unwrap_or("none: unlimited agents"),
                claims.basis
            );
            println!("issued    {}", iso(claims.issued_at));
            println!("valid to  {}", iso(claims.valid_until));
            let licensed = state.licensed_at(now).is_some();
            if licensed {
                println!(
                    "licensed  yes, {} s left",
                    (claims.valid_until - now) / 1_000
                );
            } else {
                println!("licensed  no: the lease has ended");
            }
            Ok(ExitCode::from(u8::from(!licensed)))
        }
        Command::Release => {
            let (client, mut state) = registered(&cli.state)?;
            client.release(&mut state).await?;
            state.save(&cli.state)?;
            println!("released");
            Ok(ExitCode::SUCCESS)
        }
        Command::Borrow { hours } => {
            let (client, mut state) = registered(&cli.state)?;
            let claims = client.borrow(&mut state, hours).await?;
            state.save(&cli.state)?;
            println!("borrowed until {}", iso(claims.valid_until));
            Ok(ExitCode::SUCCESS)
        }
        Command::Return => {
            let (client, mut state) = registered(&cli.state)?;
            client.give_back(&mut state).await?;
            state.save(&cli.state)?;
            println!("returned");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The registration kept in the state file at `path`.
fn load(path: &Path) -> Result<State, Error> {
    State::load(path)?
        .ok_or_else(|| Error::Setup(format!("{} holds no registration", path.display())))
}

/// The registration at `path`, and a client of the Tessera it was made with.
fn registered(path: &Path) -> Result<(Client, State), Error> {
    let state = load(path)?;
    Ok((Client::new(&state.server, Duration::from_secs(10))?, state))
}

/// A time as RFC 3339, in UTC.
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
