//! `tessera`: serves the console and the agent API; `tessera migrate` only migrates.
use std::process::ExitCode;

use tessera::server::{self, clock::Clock, config::Config};

fn main() -> ExitCode {
    // Before any thread of the runtime exists, so that none has an arena of its own yet.
    tune_allocator();
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
            trim_heap_every_minute();
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
    let request = tessera::licenses::store::license_request(
        &state.db,
        &state.installation_id,
        company_id.trim(),
        target_version.trim(),
        state.clock.now_ms(),
    )
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

const USAGE: &str = "usage: tessera [serve | migrate]
       tessera request --company-id ID --target-version VERSION [--out FILE.tlr]

Configuration, by environment:
  TESSERA_DATABASE_URL    sqlite://PATH or postgres://... (default sqlite://data/tessera.db)
  LEPTOS_SITE_ADDR        address to listen on (default 127.0.0.1:3000)
  TESSERA_VENDOR_KEYS     PEM file with the trusted vendor public keys
  TESSERA_ADMIN_PASSWORD  password of the first administrator \"admin\"
  TESSERA_SECURE_COOKIES  auto (Secure when the proxy says https), true or false";

/// Two settings of glibc's allocator, each measured by the soak (BENCHMARKS.md, "Hardening").
///
/// The mmap threshold is fixed at 128 KiB: every allocation that large gets a mapping of its own,
/// given back to the system when freed. By default glibc raises the threshold to the size of each
/// large block freed (up to 32 MiB), after which blocks that size are carved from the per-thread
/// arenas and kept there: each 8 MiB upload body or 19 MiB argon2 buffer freed on another thread
/// left its size behind in one more arena, and the process grew by steps for as long as it ran
/// (3.5 MiB a minute in the soak).
///
/// The arenas are as many as the cores (glibc's default is eight a core). Each arena keeps the
/// free space of its busiest moment in pieces between blocks still in use; with the default's 16
/// arenas on two cores the soak held 150-169 MiB for 32-72 MiB in use; with 2, 114-141 MiB. RSS
/// still drifts up by up to a few MiB a minute over 12-20 minutes (BENCHMARKS.md, "Memory,
/// session 6").
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets one of glibc's allocator parameters (under its own lock); it
    // touches no memory of ours and any value is valid. Called before other threads start.
    let (threshold, arenas) = unsafe {
        (
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024),
            libc::mallopt(libc::M_ARENA_MAX, cores),
        )
    };
    if (threshold, arenas) != (1, 1) {
        eprintln!("tessera: could not tune the allocator: memory may grow by steps");
    }
}

/// Every minute, gives the whole free pages inside glibc's arenas back to the system. A request
/// that builds a large answer (the Licenses list of thousands of rows) takes several MiB in small
/// blocks from its thread's arena; freed, they stay with the arena, pinned by whatever was
/// allocated after them, and every arena (up to 16 on two cores) keeps the size of its busiest
/// moment. Measured in the soak: 132 MB held for 46 MB in use after two minutes.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap_every_minute() {
    tokio::spawn(async {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            // Off the async threads: it walks every arena's free blocks (milliseconds).
            let trimmed = tokio::task::spawn_blocking(|| {
                // SAFETY: malloc_trim only returns free memory of glibc's own to the system
                // (madvise of whole free pages); nothing in use moves.
                unsafe { libc::malloc_trim(0) }
            });
            if trimmed.await.is_err() {
                return;
            }
        }
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap_every_minute() {}
