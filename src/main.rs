//! `tessera`: serves the console and the agent API (`serve`, the default), and the operator's
//! commands beside it. Every setting is an environment variable and a flag that mirrors it (a
//! flag wins); `tessera --help` lists them with their defaults.
use std::io::Read;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tessera::server::{self, clock::Clock, config::Config};

#[derive(Parser, Debug)]
#[command(
    name = "tessera",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("TESSERA_COMMIT"), ")"),
    about = "Tessera: the license manager of an on-premises platform",
    args_conflicts_with_subcommands = false
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the console and the agent API (the default).
    Serve,
    /// Bring the database's schema up to date, or with `status` say where it stands.
    Migrate {
        #[arg(value_enum)]
        what: Option<MigrateWhat>,
    },
    /// Copy the SQLite database, consistently, while Tessera serves.
    Backup {
        /// The file to write, or a folder to write `tessera-INSTALLATION-mSCHEMA-TIME.db` in.
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
    },
    /// Put a backup in place of the SQLite database (Tessera stopped): checked first.
    Restore {
        /// The backup made by `tessera backup`.
        file: std::path::PathBuf,
    },
    /// Write this installation's license request (.tlr), as the console makes it.
    Request {
        #[arg(long)]
        company_id: String,
        #[arg(long)]
        target_version: String,
        /// Where to write it (standard output if not given).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Settings > Usage's figures, as its exports.
    Usage(UsageArgs),
    /// Ask a running Tessera whether it is ready: exit 0 if so, 1 saying why not.
    Healthcheck {
        /// `/readyz` to ask (default: this machine's, at --site-addr).
        #[arg(long)]
        url: Option<String>,
    },
    /// Users, from the machine itself.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Give a user a new password (the way in when the administrator's is lost): every session of
    /// theirs ends, their sign-in throttle is cleared, the audit log records it.
    ResetPassword {
        name: String,
        /// Read the new password from standard input (otherwise one is made and printed).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MigrateWhat {
    /// Say which migrations are applied and which are pending; change nothing.
    Status,
}

#[derive(Args, Debug)]
struct UsageArgs {
    /// day, 7d, 30d or 365d (or give --from and --to).
    #[arg(long)]
    period: Option<String>,
    /// The first day, YYYY-MM-DD (UTC).
    #[arg(long)]
    from: Option<String>,
    /// The last day, included.
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long)]
    product: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Where to write it (standard output if not given).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// The charts' buckets.
    Csv,
    /// The right-sizing table.
    PoolsCsv,
    /// All of it.
    Json,
}

/// Every setting: a flag, or else its environment variable, or else the default (the one
/// `Config::from_lookup` applies, named in each help line).
#[derive(Args, Debug)]
#[command(next_help_heading = "Settings (flag, or its environment variable)")]
struct Settings {
    /// sqlite://PATH or postgres://USER@HOST/DATABASE [default: sqlite://data/tessera.db]
    #[arg(
        long,
        env = "TESSERA_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// The address to listen on [default: 127.0.0.1:3000]
    #[arg(long, env = "LEPTOS_SITE_ADDR", global = true)]
    site_addr: Option<String>,
    /// The folder of the console's static files [default: target/site]
    #[arg(long, env = "LEPTOS_SITE_ROOT", global = true)]
    site_root: Option<String>,
    /// A PEM file of the trusted vendor public keys [default: none: packages cannot be verified]
    #[arg(long, env = "TESSERA_VENDOR_KEYS", global = true)]
    vendor_keys: Option<String>,
    /// The vendor's licensing address, named on the license request page and in the request file [default: none]
    #[arg(long, env = "TESSERA_VENDOR_EMAIL", global = true)]
    vendor_email: Option<String>,
    /// The vendor's licensing portal (http:// or https://), named beside it [default: none]
    #[arg(long, env = "TESSERA_VENDOR_URL", global = true)]
    vendor_url: Option<String>,
    /// The first administrator's password, made when there are no users [default: random, printed once]
    #[arg(
        long,
        env = "TESSERA_ADMIN_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    admin_password: Option<String>,
    /// auto (Secure when the proxy says https), true or false [default: auto]
    #[arg(long, env = "TESSERA_SECURE_COOKIES", global = true)]
    secure_cookies: Option<String>,
    /// How long a sign-in lasts, in hours [default: 12]
    #[arg(long, env = "TESSERA_SESSION_HOURS", global = true)]
    session_hours: Option<String>,
    /// How long a sign-in lasts unused, in minutes [default: 30]
    #[arg(long, env = "TESSERA_SESSION_IDLE_MINUTES", global = true)]
    session_idle_minutes: Option<String>,
    /// The reverse proxies in front (addresses or blocks, comma-separated) [default: none]
    #[arg(long, env = "TESSERA_TRUSTED_PROXIES", global = true)]
    trusted_proxies: Option<String>,
    /// The largest license package accepted, in bytes [default: 8388608]
    #[arg(long, env = "TESSERA_MAX_PACKAGE_BYTES", global = true)]
    max_package_bytes: Option<String>,
    /// The most certificates in one package [default: 20000]
    #[arg(long, env = "TESSERA_MAX_CERTIFICATES", global = true)]
    max_certificates: Option<String>,
    /// The log filter, in tracing's syntax [default: info,sqlx=warn,sea_orm=warn]
    #[arg(long, env = "TESSERA_LOG", global = true)]
    log: Option<String>,
    /// text, or json for one JSON object a line [default: text]
    #[arg(long, env = "TESSERA_LOG_FORMAT", global = true)]
    log_format: Option<String>,
    /// Where expiry reminders and shortage alerts are posted (http:// or https://) [default: none]
    #[arg(long, env = "TESSERA_WEBHOOK_URL", global = true)]
    webhook_url: Option<String>,
    /// The key the webhook's deliveries are signed with, 16 characters or more [default: none]
    #[arg(
        long,
        env = "TESSERA_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    webhook_secret: Option<String>,
    /// Days the usage record's changes are kept [default: 90]
    #[arg(long, env = "TESSERA_USAGE_EVENTS_DAYS", global = true)]
    usage_events_days: Option<String>,
    /// Days usage per minute is kept [default: 14]
    #[arg(long, env = "TESSERA_USAGE_MINUTES_DAYS", global = true)]
    usage_minutes_days: Option<String>,
    /// Days usage per hour is kept [default: 400]
    #[arg(long, env = "TESSERA_USAGE_HOURS_DAYS", global = true)]
    usage_hours_days: Option<String>,
    /// Days usage per day is kept, 0 for ever [default: 0]
    #[arg(long, env = "TESSERA_USAGE_DAYS_DAYS", global = true)]
    usage_days_days: Option<String>,
    /// A tenant's refusals in an hour beyond which a shortage alert is made [default: 10]
    #[arg(long, env = "TESSERA_SHORTAGE_REFUSALS", global = true)]
    shortage_refusals: Option<String>,
    /// true serves Prometheus metrics at /metrics [default: false]
    #[arg(long, env = "TESSERA_METRICS", global = true)]
    metrics: Option<String>,
    /// The bearer token /metrics asks for, 16 characters or more [default: none: anyone may scrape]
    #[arg(
        long,
        env = "TESSERA_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    metrics_token: Option<String>,
    /// 1 mounts the browser tests' clock route, in a test-clock build only [default: off]
    #[arg(long, env = "TESSERA_TEST_CLOCK", global = true, hide = true)]
    test_clock: Option<String>,
}

impl Settings {
    /// The settings given, by their environment variable's name.
    fn given(&self) -> Vec<(&'static str, &str)> {
        let all: [(&'static str, &Option<String>); 25] = [
            ("TESSERA_DATABASE_URL", &self.database_url),
            ("LEPTOS_SITE_ADDR", &self.site_addr),
            ("LEPTOS_SITE_ROOT", &self.site_root),
            ("TESSERA_VENDOR_KEYS", &self.vendor_keys),
            ("TESSERA_VENDOR_EMAIL", &self.vendor_email),
            ("TESSERA_VENDOR_URL", &self.vendor_url),
            ("TESSERA_ADMIN_PASSWORD", &self.admin_password),
            ("TESSERA_SECURE_COOKIES", &self.secure_cookies),
            ("TESSERA_SESSION_HOURS", &self.session_hours),
            ("TESSERA_SESSION_IDLE_MINUTES", &self.session_idle_minutes),
            ("TESSERA_TRUSTED_PROXIES", &self.trusted_proxies),
            ("TESSERA_MAX_PACKAGE_BYTES", &self.max_package_bytes),
            ("TESSERA_MAX_CERTIFICATES", &self.max_certificates),
            ("TESSERA_LOG", &self.log),
            ("TESSERA_LOG_FORMAT", &self.log_format),
            ("TESSERA_WEBHOOK_URL", &self.webhook_url),
            ("TESSERA_WEBHOOK_SECRET", &self.webhook_secret),
            ("TESSERA_USAGE_EVENTS_DAYS", &self.usage_events_days),
            ("TESSERA_USAGE_MINUTES_DAYS", &self.usage_minutes_days),
            ("TESSERA_USAGE_HOURS_DAYS", &self.usage_hours_days),
            ("TESSERA_USAGE_DAYS_DAYS", &self.usage_days_days),
            ("TESSERA_SHORTAGE_REFUSALS", &self.shortage_refusals),
            ("TESSERA_METRICS", &self.metrics),
            ("TESSERA_METRICS_TOKEN", &self.metrics_token),
            ("TESSERA_TEST_CLOCK", &self.test_clock),
        ];
        all.into_iter()
            .filter_map(|(name, v)| Some((name, v.as_deref()?)))
            .collect()
    }

    fn config(&self) -> Result<Config, String> {
        let given = self.given();
        Config::from_lookup(|name| {
            given
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
        .map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    // clap prints --help, --version and its refusals (an unknown flag: exit 2) itself.
    let cli = Cli::parse();
    if let Err(message) = start_logging(&cli.settings) {
        eprintln!("tessera: {message}");
        return ExitCode::FAILURE;
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => match runtime.block_on(run(cli)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                // One line that names what is wrong.
                eprintln!("tessera: {message}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("tessera: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs as text (the default) or one JSON object a line (`--log-format json`), each line of a
/// request carrying its id (the `request` span).
fn start_logging(settings: &Settings) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(
        settings
            .log
            .as_deref()
            .unwrap_or("info,sqlx=warn,sea_orm=warn"),
    )
    .map_err(|e| format!("TESSERA_LOG: {e}"))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match settings.log_format.as_deref().unwrap_or("text") {
        "text" => logs.init(),
        "json" => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        other => return Err(format!("TESSERA_LOG_FORMAT: {other:?} is not text or json")),
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = cli.settings.config()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            // A restore refuses while this is held (SQLite).
            let _serving = server::operate::hold_serving(&config)?;
            let state = server::prepare(config, Clock::default())
                .await
                .map_err(|e| e.to_string())?;
            log_memory_every_minute();
            server::serve(state).await.map_err(|e| e.to_string())
        }
        Command::Migrate { what: None } => {
            let db = server::db::connect(&config)
                .await
                .map_err(|e| e.to_string())?;
            server::db::migrate(&db).await.map_err(|e| e.to_string())?;
            println!("the database schema is up to date");
            Ok(())
        }
        Command::Migrate {
            what: Some(MigrateWhat::Status),
        } => {
            let status = server::operate::migration_status(&config).await?;
            print!("{status}");
            Ok(())
        }
        Command::Backup { out } => {
            let written = server::operate::backup(&config, &out).await?;
            println!("{}", written.display());
            Ok(())
        }
        Command::Restore { file } => {
            let restored = server::operate::restore(&config, &file).await?;
            println!("{restored}");
            Ok(())
        }
        Command::Request {
            company_id,
            target_version,
            out,
        } => {
            let state = server::prepare(config, Clock::default())
                .await
                .map_err(|e| e.to_string())?;
            let request =
                server::command_line_request(&state, company_id.trim(), target_version.trim())
                    .await
                    .map_err(|e| e.to_string())?;
            let send_to = state.config.vendor_contact.send_to();
            let text = tessera::licenses::verify::encode_request_to(&request, &send_to);
            write_out(out, &text)
        }
        Command::Usage(args) => usage(&config, args).await,
        Command::Healthcheck { url } => healthcheck(&config, url).await,
        Command::User {
            command:
                UserCommand::ResetPassword {
                    name,
                    password_stdin,
                },
        } => {
            let given = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
                Some(text.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let made = given.is_none();
            let password = server::operate::reset_password(&config, &name, given).await?;
            if made {
                println!("the new password of {name}: {password}");
            } else {
                println!("the password of {name} is changed");
            }
            Ok(())
        }
    }
}

/// Writes `text` to `out`, or to standard output.
fn write_out(out: Option<std::path::PathBuf>, text: &str) -> Result<(), String> {
    match out {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// `tessera usage`: Settings > Usage's figures, every tenant or one, as its exports.
async fn usage(config: &Config, args: UsageArgs) -> Result<(), String> {
    let mut filter = tessera::usage::model::UsageFilter {
        period: args.period,
        from: args.from,
        to: args.to,
        tenant: args.tenant,
        product: args.product,
    };
    // Days given without a period: that range.
    if filter.period.is_none() && (filter.from.is_some() || filter.to.is_some()) {
        filter.period = Some("range".to_string());
    }
    let format = match args.format {
        Format::Csv => server::UsageFormat::Csv,
        Format::PoolsCsv => server::UsageFormat::PoolsCsv,
        Format::Json => server::UsageFormat::Json,
    };
    let text = server::command_line_usage(config, &filter, format).await?;
    write_out(args.out, &text)
}

/// `tessera healthcheck`: asks the running Tessera's `/readyz` (at `--site-addr`, or `--url`):
/// exits 0 when it is ready, 1 saying why not (for container and systemd health checks).
async fn healthcheck(config: &Config, url: Option<String>) -> Result<(), String> {
    let url = url.unwrap_or_else(|| {
        // Listening on every address: ask this machine's.
        let mut addr = config.site_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}/readyz")
    });
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let answer = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url} does not answer: {e}"))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if status.is_success() {
        println!("{}", body.trim());
        Ok(())
    } else {
        Err(format!("{url} answered {status}: {}", body.trim()))
    }
}

/// jemalloc, for every allocation of the process (SQLite's too: the crate is built to replace
/// `malloc` itself). glibc's allocator kept the free space of each arena's busiest moment: under
/// the soak's mixed load its RSS drifted upward by up to a few MiB a minute however it was tuned;
/// jemalloc gives unused pages back within a second and stays close to level (BENCHMARKS.md,
/// "Memory, session 7").
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation: a background thread gives dirty pages back
/// to the system after `dirty_decay_ms` (instead of whichever request next allocates), with no
/// second, "muzzy" stage; two arenas (the default is four a core: on the soak's two cores, eight
/// arenas held 150-178 MiB where two hold 102-145).
#[cfg(unix)]
#[unsafe(no_mangle)]
#[used]
#[allow(non_upper_case_globals)]
static malloc_conf: &[u8; 70] =
    b"background_thread:true,narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Every minute, at debug level under the target `tessera::memory`: the bytes the program holds
/// (jemalloc's `allocated`) and what the allocator keeps from the system for them (`resident`).
/// `scripts/soak.sh` reads these lines to tell a leak (allocated grows) from an allocator that
/// keeps more (resident grows alone). Nothing is measured unless that target is enabled.
#[cfg(unix)]
fn log_memory_every_minute() {
    if !tracing::enabled!(target: "tessera::memory", tracing::Level::DEBUG) {
        return;
    }
    tokio::spawn(async {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let read = || -> Result<(usize, usize), tikv_jemalloc_ctl::Error> {
                tikv_jemalloc_ctl::epoch::advance()?;
                Ok((
                    tikv_jemalloc_ctl::stats::allocated::read()?,
                    tikv_jemalloc_ctl::stats::resident::read()?,
                ))
            };
            match read() {
                Ok((allocated, resident)) => tracing::debug!(
                    target: "tessera::memory",
                    allocated_kib = allocated / 1024,
                    resident_kib = resident / 1024,
                    "memory"
                ),
                Err(e) => {
                    tracing::warn!(target: "tessera::memory", error = %e, "cannot read jemalloc's statistics");
                    return;
                }
            }
        }
    });
}

#[cfg(not(unix))]
fn log_memory_every_minute() {}
