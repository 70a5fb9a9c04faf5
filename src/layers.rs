//! The shape of the code, checked: a capability reaches another only through its vocabulary
//! (entities, models, domain types) and its server functions, never its store or its pages; the
//! capability folders' store-and-page imports form no cycle; and the few edges that remain are
//! listed here with their reason (ARCHITECTURE.md says the same). Composition (`app/`, `server/`,
//! `installation/`) and the shared layers (`ledger/`, `auth/`, `ui/`, `error`) are not capabilities.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const CAPABILITIES: [&str; 8] = [
    "agents", "audit", "expiry", "licenses", "seats", "tenants", "usage", "users",
];

/// A capability's internals: what it reads and writes, and what it renders.
const INTERNAL: [&str; 7] = [
    "store", "pages", "manage", "upload", "csv", "console", "schedule",
];

/// Edges into another capability's internals that remain, each with its reason.
const ALLOWED: [(&str, &str, &str); 4] = [
    (
        "audit",
        "store",
        "the audit trail's writer (Entry, record, audited): every capability records what it did \
         in the same transaction, so it is shared like the ledger",
    ),
    (
        "tenants",
        "store",
        "Settings > Users lists and offers the tenants (tenants::store::all): the tenants' one \
         read of their list, rather than a second copy of it in users",
    ),
    (
        "seats",
        "store",
        "Settings > Users shows each product's free seats (seats::store::seat_products): the \
         seat arithmetic stays in one place",
    ),
    (
        "usage",
        "store",
        "the license request carries the usage summary (usage::store::summary): the rollups are \
         read in one place",
    ),
];

/// `crate::<cap>::<module>` paths in `text`, braces expanded one level:
/// `crate::audit::{model::AuditKind, store::audited}` gives `audit::model` and `audit::store`.
fn crate_paths(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let cap: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = &rest[cap.len()..];
        let Some(after) = after.strip_prefix("::") else {
            continue;
        };
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars().chain([',']) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let module = item.trim().split("::").next().unwrap_or("").to_string();
                        if !module.is_empty() {
                            found.push((cap.clone(), module));
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let module: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((cap, module));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every capability's imports of another capability's modules: (from, to, module) → files.
fn edges() -> BTreeMap<(String, String, String), BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for from in CAPABILITIES {
        let mut files = Vec::new();
        rust_files(&src.join(from), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a source file");
            for (to, module) in crate_paths(&text) {
                if to != from && CAPABILITIES.contains(&to.as_str()) {
                    let name = file
                        .strip_prefix(&src)
                        .unwrap_or(&file)
                        .display()
                        .to_string();
                    edges
                        .entry((from.to_string(), to, module))
                        .or_default()
                        .insert(name);
                }
            }
        }
    }
    edges
}

#[test]
fn paths_are_read_with_their_braces() {
    assert_eq!(
        crate_paths("use crate::audit::{model::AuditKind, store::{audited, Entry}};"),
        vec![
            ("audit".to_string(), "model".to_string()),
            ("audit".to_string(), "store".to_string())
        ]
    );
    assert_eq!(
        crate_paths("crate::ledger::holdings::seen(&l)"),
        vec![("ledger".to_string(), "holdings".to_string())]
    );
}

#[test]
fn no_capability_reaches_into_another_but_the_listed_edges() {
    let unlisted: Vec<String> = edges()
        .into_iter()
        .filter(|((_, _, module), _)| INTERNAL.contains(&module.as_str()))
        .filter(|((_, to, module), _)| !ALLOWED.iter().any(|(cap, m, _)| cap == to && m == module))
        .map(|((from, to, module), files)| format!("{from} -> {to}::{module} in {files:?}"))
        .collect();
    assert!(
        unlisted.is_empty(),
        "capabilities reach into each other's internals (use the ledger, a model, or a server \
         function; or list the edge with its reason): {unlisted:#?}"
    );
}

#[test]
fn the_internal_edges_between_capabilities_form_no_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((from, to, module), _) in edges() {
        if INTERNAL.contains(&module.as_str()) || module == "api" {
            graph.entry(from).or_default().insert(to);
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        on_path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = on_path.iter().position(|n| n == node) {
            let mut cycle = on_path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        on_path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, on_path, done) {
                return Some(cycle);
            }
        }
        on_path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        let cycle = visit(node, &graph, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "an import cycle: {cycle:?}");
    }
}
