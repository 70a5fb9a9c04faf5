//! `tessera`: serves the console and the agent API; `tessera migrate` only migrates.
use std::process::ExitCode;

use tessera::server::{self, clock::Clock, config::Config};

fn main() -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(start()),
        Err(e) => {
            eprintln!("tessera: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn start() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into()),
        )
        .with_target(false)
        .init();

    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // One line that names what is wrong.
            eprintln!("tessera: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    match args.first().map(String::as_str) {
        None | Some("serve") => {
            let state = server::prepare(config, Clock::default())
                .await
                .map_err(|e| e.to_string())?;
            log_memory_every_minute();
            server::serve(state).await.map_err(|e| e.to_string())
        }
        Some("migrate") => {
            let db = server::db::connect(&config)
                .await
                .map_err(|e| e.to_string())?;
            server::db::migrate(&db).await.map_err(|e| e.to_string())?;
            println!("the database schema is up to date");
            Ok(())
        }
        Some("request") => request(&config, &args[1..]).await,
        Some("usage") => usage(&config, &args[1..]).await,
        Some("healthcheck") => healthcheck(&config, &args[1..]).await,
        Some("--help") | Some("-h") | Some("help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

/// `tessera request --company-id ID --target-version V [--out FILE]`: the license request of this
/// installation, as the console makes it.
async fn request(config: &Config, args: &[String]) -> Result<(), String> {
    let mut company_id = None;
    let mut target_version = None;
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = || -> Result<String, String> { Err(format!("{a} needs a value")) };
        match a.as_str() {
            "--company-id" => company_id = Some(it.next().cloned().map_or_else(value, Ok)?),
            "--target-version" => target_version = Some(it.next().cloned().map_or_else(value, Ok)?),
            "--out" => out = Some(it.next().cloned().map_or_else(value, Ok)?),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    let (Some(company_id), Some(target_version)) = (company_id, target_version) else {
        return Err(format!(
            "request needs --company-id and --target-version\n{USAGE}"
        ));
    };
    let state = server::prepare(config.clone(), Clock::default())
        .await
        .map_err(|e| e.to_string())?;
    let request = server::command_line_request(&state, company_id.trim(), target_version.trim())
        .await
        .map_err(|e| e.to_string())?;
    let text = tessera::licenses::verify::encode_request(&request);
    match out {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| format!("cannot write {path}: {e}"))?
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// `tessera usage [--period P | --from DAY --to DAY] [--tenant ID] [--product ID]
/// [--format csv|pools-csv|json] [--out FILE]`: Settings > Usage's figures, as its exports.
async fn usage(config: &Config, args: &[String]) -> Result<(), String> {
    let mut filter = tessera::usage::model::UsageFilter::default();
    let mut format = server::UsageFormat::Csv;
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || -> Result<String, String> {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--period" => filter.period = Some(value()?),
            "--from" => filter.from = Some(value()?),
            "--to" => filter.to = Some(value()?),
            "--tenant" => filter.tenant = Some(value()?),
            "--product" => filter.product = Some(value()?),
            "--format" => {
                format = match value()?.as_str() {
                    "csv" => server::UsageFormat::Csv,
                    "pools-csv" => server::UsageFormat::PoolsCsv,
                    "json" => server::UsageFormat::Json,
                    other => {
                        return Err(format!("--format {other:?} is not csv, pools-csv or json"));
                    }
                }
            }
            "--out" => out = Some(value()?),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    // Days given without a period: that range.
    if filter.period.is_none() && (filter.from.is_some() || filter.to.is_some()) {
        filter.period = Some("range".to_string());
    }
    let text = server::command_line_usage(config, &filter, format)
        .await
        .map_err(|e| e.to_string())?;
    match out {
        Some(path) => std::fs::write(&path, text).map_err(|e| format!("cannot write {path}: {e}")),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// `tessera healthcheck [--url URL]`: asks the running Tessera's `/readyz` (at
/// `LEPTOS_SITE_ADDR`, or URL): exits 0 when it is ready, 1 saying why not (for container and
/// systemd health checks).
async fn healthcheck(config: &Config, args: &[String]) -> Result<(), String> {
    let url = match args {
        [] => {
            // Listening on every address: ask this machine's.
            let mut addr = config.site_addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}/readyz")
        }
        [flag, url] if flag == "--url" => url.clone(),
        _ => return Err(format!("healthcheck takes only --url URL\n{USAGE}")),
    };
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

const USAGE: &str = "usage: tessera [serve | migrate]
       tessera request --company-id ID --target-version VERSION [--out FILE.tlr]
       tessera usage [--period day|7d|30d|365d | --from YYYY-MM-DD --to YYYY-MM-DD]
                     [--tenant ID] [--product ID] [--format csv|pools-csv|json] [--out FILE]
       tessera healthcheck [--url http://HOST:PORT/readyz]   (exit 0 when ready)

Configuration, by environment:
  TESSERA_DATABASE_URL    sqlite://PATH or postgres://... (default sqlite://data/tessera.db)
  LEPTOS_SITE_ADDR        address to listen on (default 127.0.0.1:3000)
  TESSERA_VENDOR_KEYS     PEM file with the trusted vendor public keys
  TESSERA_ADMIN_PASSWORD  password of the first administrator \"admin\"
  TESSERA_SECURE_COOKIES  auto (Secure when the proxy says https), true or false";

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
