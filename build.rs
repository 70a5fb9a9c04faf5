//! Generates the `i18n` module from `locales/*.json` (leptos_i18n): one key per string, checked
//! at compile time in both languages.
use leptos_i18n_build::{Config, ParseOptions, TranslationsInfos};
use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("i18n");
    // `interpolate_display` lets strings with values be made outside views (dates, messages).
    let options = ParseOptions::default().interpolate_display(true);
    let cfg = Config::new("en")?.add_locale("ru")?.parse_options(options);
    let translations = TranslationsInfos::parse(cfg)?;
    translations.emit_diagnostics();
    translations.rerun_if_locales_changed();
    translations.generate_i18n_module(out)?;
    commit();
    Ok(())
}

/// `TESSERA_COMMIT` for `tessera --version`: the commit a release is built from (given, or asked
/// of git; "unknown" outside a git checkout). A debug build says "debug" and is not built again
/// for each commit (the release is: its commit must be the one it says).
fn commit() {
    println!("cargo::rerun-if-env-changed=TESSERA_COMMIT");
    if let Ok(given) = std::env::var("TESSERA_COMMIT") {
        println!("cargo::rustc-env=TESSERA_COMMIT={given}");
        return;
    }
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        println!("cargo::rustc-env=TESSERA_COMMIT=debug");
        return;
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Built again when HEAD moves: HEAD itself, and the branch's file when it has one.
    let mut watched = vec![
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    for file in watched.into_iter().flatten() {
        // A file that does not exist would make cargo run this every time.
        if std::path::Path::new(&file).exists() {
            println!("cargo::rerun-if-changed={file}");
        }
    }
    println!("cargo::rustc-env=TESSERA_COMMIT={commit}");
}
