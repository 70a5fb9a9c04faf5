//! Every translation key exists in both languages, and every key is used by the code.
use std::collections::BTreeSet;
use std::path::Path;

const PLURAL_SUFFIXES: [&str; 6] = ["_zero", "_one", "_two", "_few", "_many", "_other"];
const MACROS: [&str; 4] = ["t!(", "t_string!(", "td_string!(", "td_display!("];

fn keys_of(locale: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("locales/{locale}.json"));
    let text = std::fs::read_to_string(&path).expect("locale file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("locale JSON");
    let mut keys = BTreeSet::new();
    flatten("", &json, &mut keys);
    keys
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let k = PLURAL_SUFFIXES
                    .iter()
                    .find_map(|s| k.strip_suffix(s))
                    .unwrap_or(k);
                let key = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The keys named by `t!(i18n, key ...)` and its siblings in the sources.
fn used_keys() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut used = BTreeSet::new();
    for file in files {
        if file.ends_with("ui/i18n_check.rs") {
            continue; // its comments name the macros
        }
        let text = std::fs::read_to_string(&file).expect("source");
        for mac in MACROS {
            for (at, _) in text.match_indices(mac) {
                // Skip `ident_t!(`: only the macros themselves.
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = &text[at + mac.len()..];
                let Some(comma) = rest.find(',') else {
                    continue;
                };
                let key: String = rest[comma + 1..]
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                    .collect();
                if !key.is_empty() {
                    used.insert(key);
                }
            }
        }
    }
    used
}

#[test]
fn english_and_russian_have_the_same_keys() {
    let en = keys_of("en");
    let ru = keys_of("ru");
    let missing_in_ru: Vec<_> = en.difference(&ru).collect();
    let missing_in_en: Vec<_> = ru.difference(&en).collect();
    assert!(
        missing_in_ru.is_empty(),
        "missing in ru.json: {missing_in_ru:?}"
    );
    assert!(
        missing_in_en.is_empty(),
        "missing in en.json: {missing_in_en:?}"
    );
}

#[test]
fn every_key_is_used_and_every_used_key_exists() {
    let defined = keys_of("en");
    let used = used_keys();
    let unused: Vec<_> = defined.difference(&used).collect();
    let undefined: Vec<_> = used.difference(&defined).collect();
    assert!(unused.is_empty(), "keys no code uses: {unused:?}");
    assert!(
        undefined.is_empty(),
        "keys used but not defined: {undefined:?}"
    );
}
