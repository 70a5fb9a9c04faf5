//! Generates the `i18n` module from `locales/*.json` (leptos_i18n): one key per string, checked
//! at compile time in both languages.
use leptos_i18n_build::{Config, ParseOptions, TranslationsInfos};
use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=Cargo.toml");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("i18n");
    // `interpolate_display` lets strings with values be made outside views (dates, messages).
    let options = ParseOptions::default().interpolate_display(true);
    let cfg = Config::new("en")?.add_locale("ru")?.parse_options(options);
    let translations = TranslationsInfos::parse(cfg)?;
    translations.emit_diagnostics();
    translations.rerun_if_locales_changed();
    translations.generate_i18n_module(out)?;
    Ok(())
}
