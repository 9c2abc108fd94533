//! The layers of `src/` import downwards: the rules below, each with its reason. They
//! are the loops found and removed so far (the state every handler reaches lives below
//! the routes and the middleware, shared response types below the routes, the settings'
//! parsers below the settings). Read from the source text; a broken rule fails here,
//! naming the import.
//!
//! An edge is a `crate::…`, `super::…` or child-module path outside a `#[cfg(test)] mod
//! tests` block, resolved to the longest module it names. A module using its own
//! ancestors (`super::Decision` in `ratelimit::actor`) is not an edge: a parent declares
//! its children, so that is the usual shape of a module and its parts.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every module of `src/` (by path, `a::b`) and its file; `lib` and `main` are the roots.
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut modules = BTreeMap::new();
    for file in files {
        let relative = file
            .strip_prefix(&src)
            .expect("under src/")
            .with_extension("");
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        // Test-only files (`hub/tests.rs`) may import anything, like the test blocks.
        if parts == ["lib"] || parts == ["main"] || parts.last().is_some_and(|p| p == "tests") {
            continue;
        }
        modules.insert(parts.join("::"), file);
    }
    modules
}

/// The code of a file without its comments and its `#[cfg(test)] mod tests` block.
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("a readable source file");
    let lines: Vec<&str> = text.lines().collect();
    let mut code = String::new();
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map(|l| l.trim_start()).unwrap_or("");
        if line.trim_start() == "#[cfg(test)]" && next.starts_with("mod tests") {
            break;
        }
        let without_comment = match line.find("//") {
            // `redis://` in a string is not a comment; good enough for paths.
            Some(at) if !line[..at].ends_with(':') => &line[..at],
            _ => line,
        };
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

/// The paths one `{…}` group or plain path names, each as a list of segments.
fn expand(prefix: &[String], text: &str) -> Vec<Vec<String>> {
    let text = text.trim();
    let Some(open) = text.find('{') else {
        let first = text.split_whitespace().next().unwrap_or("");
        let mut path = prefix.to_vec();
        path.extend(
            first
                .split("::")
                .filter(|s| !s.is_empty() && *s != "self")
                .map(str::to_string),
        );
        return vec![path];
    };
    let mut base = prefix.to_vec();
    base.extend(
        text[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
    let inner = &text[open + 1..text.rfind('}').unwrap_or(text.len())];
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(|item| expand(&base, item))
        .collect()
}

/// The path text starting at `at`: identifiers, `::`, and one balanced `{…}` group.
fn path_text(code: &str, at: usize) -> &str {
    let bytes = code.as_bytes();
    let mut end = at;
    let mut depth = 0;
    while end < bytes.len() {
        let c = bytes[end] as char;
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    end += 1;
                    break;
                }
            }
            c if depth > 0 || c.is_alphanumeric() || c == '_' || c == ':' => {}
            _ => break,
        }
        end += 1;
    }
    &code[at..end]
}

fn graph() -> Graph {
    let modules = modules();
    let resolve = |segments: &[String]| -> Option<String> {
        (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut graph = Graph::new();
    for (module, file) in &modules {
        let code = code_of(file);
        let own: Vec<String> = module.split("::").map(str::to_string).collect();
        let mut targets = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            targets.extend(expand(&[], &path_text(&code, at)["crate::".len()..]));
        }
        for (at, _) in code.match_indices("super::") {
            if code[..at].ends_with("super::") {
                continue; // counted from the first `super::` of the run
            }
            let mut text = path_text(&code, at);
            let mut base = own.clone();
            // `super` of a module file is its parent; `mod.rs` is its directory's module.
            while let Some(rest) = text.strip_prefix("super::") {
                base.pop();
                text = rest;
            }
            targets.extend(expand(&base, text));
        }
        // `use child::…` inside a module reaches its own child module.
        for (at, _) in code.match_indices("use ") {
            let text = path_text(&code, at + 4);
            let head = text.split("::").next().unwrap_or("");
            let child = format!("{module}::{head}");
            if text.contains("::") && modules.contains_key(&child) {
                targets.extend(expand(&own, text));
            }
        }
        for target in targets {
            let Some(target) = resolve(&target) else {
                continue;
            };
            let ancestor = module == &target || module.starts_with(&format!("{target}::"));
            if !ancestor {
                graph.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

/// The modules `module` imports (none when it imports nothing of the crate).
fn imports_of<'g>(graph: &'g Graph, module: &str) -> impl Iterator<Item = &'g String> {
    graph.get(module).into_iter().flatten()
}

/// Each rule: the modules it is about (by prefix), what they must not import (by
/// prefix), and why.
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "state",
        &["routes", "middleware", "startup", "cli"],
        "the state every handler reaches lives below the routes and the middleware",
    ),
    (
        "middleware",
        &["routes", "startup", "cli"],
        "middleware reaches the state, not the module that builds the app",
    ),
    (
        "auth",
        &["routes", "middleware", "startup", "cli"],
        "auth is below the routes and middleware that use it",
    ),
    (
        "domain",
        &["routes", "middleware", "startup", "state"],
        "shared request and response types sit below every route",
    ),
    (
        "redis_client",
        &["state", "routes", "middleware", "startup"],
        "the Redis client is below everything that holds it",
    ),
    (
        "metrics::prometheus",
        &["state", "routes", "startup"],
        "the recorder is called from the Redis client and the middleware, below the state",
    ),
    (
        "ratelimit::policy",
        &["configuration"],
        "the settings are validated with this parser",
    ),
    (
        "ratelimit::identity",
        &["configuration"],
        "the settings are validated with this parser",
    ),
    (
        "origin",
        &["configuration"],
        "the settings are validated with this parser",
    ),
    (
        "jobs::cron",
        &["configuration"],
        "the settings are validated with this parser",
    ),
    (
        "jobs::id",
        &["configuration"],
        "the schedules' parser uses it",
    ),
];

fn is_under(module: &str, prefix: &str) -> bool {
    module == prefix || module.starts_with(&format!("{prefix}::"))
}

#[test]
fn imports_point_down_the_layers() {
    let graph = graph();
    let mut broken = Vec::new();
    for (module, targets) in &graph {
        // Start-up builds the app; only the command line (the binary's entry) starts it.
        if module != "cli" && targets.contains("startup") {
            broken.push(format!("{module} imports startup"));
        }
        // Routes share types through `domain::responses`, never through a sibling (the
        // OpenAPI document names every route: that is its job).
        if let Some(route) = module.strip_prefix("routes::").filter(|r| *r != "openapi") {
            let own = route.split("::").next().unwrap_or(route);
            for target in targets.iter().filter(|t| t.starts_with("routes::")) {
                if !is_under(target, &format!("routes::{own}")) {
                    broken.push(format!("{module} imports the sibling route {target}"));
                }
            }
        }
        for (about, forbidden, why) in RULES {
            if !is_under(module, about) {
                continue;
            }
            for target in targets {
                if forbidden.iter().any(|f| is_under(target, f)) {
                    broken.push(format!("{module} imports {target}: {why}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_reader_sees_the_imports() {
    // An empty graph would pass the rules: the reader must find imports of every form.
    let graph = graph();
    let imports = |m: &str| imports_of(&graph, m).cloned().collect::<BTreeSet<_>>();
    // `use crate::state::AppState;`
    assert!(imports("routes::products").contains("state"), "{graph:#?}");
    // `use super::script::{decode, invocation};`
    assert!(
        imports("ratelimit::actor").contains("ratelimit::script"),
        "{graph:#?}"
    );
    // `use crate::{a, b::c}` groups and `crate::x::y` paths in code.
    assert!(
        imports("routes::metrics").contains("metrics::scrape"),
        "{graph:#?}"
    );
    assert!(
        imports("configuration").contains("ratelimit::policy"),
        "{graph:#?}"
    );
    // Every rule is about modules that exist.
    let modules = modules();
    for (about, _, _) in RULES {
        assert!(
            modules.keys().any(|m| is_under(m, about)),
            "no module {about}: a rule about nothing"
        );
    }
}
