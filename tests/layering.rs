//! The source tree keeps one direction: every module belongs to a unit, units sit in layers,
//! and a file may import its own layer or the layers below it, never the ones above, and never
//! so that units import each other in a circle. This test reads every `src/**/*.rs`, collects
//! the `crate::…` (and `super::…`) paths each one uses — in `use` lines and inline — and holds
//! them to the table below, the way `tests/query_plans.rs` holds every statement to an index.
//!
//! Test code is left out: a trailing `#[cfg(test)] mod tests { … }` block, and a file that its
//! parent declares under `#[cfg(test)]`. Tests may reach anything (`crate::native` above all).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, top (entry points) to bottom (the ground floor). A unit is a top-level module
/// (`src/<unit>.rs` or `src/<unit>/`), except under `resources/`, where each resource
/// (`resources::rooms`, `resources::tokens`, …) is a unit of its own. A unit may import units in
/// its own layer or any layer below it.
const LAYERS: &[(&str, &[&str])] = &[
    ("entry", &["edge", "native"]),
    ("composition", &["app"]),
    ("resources", &["resources"]),
    ("plumbing", &["idempotency", "api"]),
    ("adapters", &["store", "vendors"]),
    ("domain", &["domain", "crypto"]),
    ("ground", &["error", "runtime", "http", "config", "time", "log", "byte_cache"]),
];

/// Units that may import only the units listed (and their own unit).
const ONLY_IMPORTS: &[(&str, &[&str])] =
    &[("store", &["domain", "crypto", "error", "runtime", "http", "config", "time", "log", "byte_cache"])];

/// Units that must never import the units (or unit families) listed.
const NEVER_IMPORTS: &[(&str, &[&str])] = &[("vendors", &["store", "resources", "app"])];

/// A resource's `api` (its HTTP face) never imports another resource's `api`: what two
/// resources share is a decision (a `service`) or plumbing (`api/`).
const RESOURCE_FAMILY: &str = "resources";
const RESOURCE_FACE: &str = "api";

// ---------------------------------------------------------------------------------------------

/// One `crate::` path a file uses, already resolved to absolute module segments.
#[derive(Debug, Clone)]
struct Use {
    line: usize,
    path: Vec<String>,
}

#[derive(Debug)]
struct SourceFile {
    /// Relative to `src/`, with `/` separators.
    rel: String,
    /// The module this file is (`vendors::livekit::wire`); empty for `lib.rs`.
    module: Vec<String>,
    uses: Vec<Use>,
}

/// The module path of a file under `src/`: `a/b.rs` → `a::b`, `a/mod.rs` → `a`, `lib.rs` → root.
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The unit a module belongs to.
fn unit_of(module: &[String]) -> Option<String> {
    let first = module.first()?;
    if first == RESOURCE_FAMILY {
        return Some(match module.get(1) {
            Some(resource) => format!("{RESOURCE_FAMILY}::{resource}"),
            None => RESOURCE_FAMILY.to_owned(),
        });
    }
    Some(first.clone())
}

/// The family a unit belongs to for the layer table (`resources::rooms` → `resources`).
fn family(unit: &str) -> &str {
    unit.split("::").next().unwrap_or(unit)
}

fn layer_of(unit: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, units)| units.contains(&family(unit)))
}

/// Blanks out comments and string/char literals (keeping line breaks, so offsets still map to
/// lines), and cuts the trailing `#[cfg(test)] mod tests` block.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        if b == b'/' && next == Some(b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if b == b'/' && next == Some(b'*') {
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(if bytes[i] == b'\n' { b'\n' } else { b' ' });
                    i += 1;
                }
            }
        } else if b == b'r' && (next == Some(b'"') || next == Some(b'#')) && !ident_before(bytes, i) {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while bytes.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if bytes.get(j) != Some(&b'"') {
                out.push(b);
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let end = find(bytes, j + 1, &close).map(|e| e + close.len()).unwrap_or(bytes.len());
            blank(&bytes[i..end], &mut out);
            i = end;
        } else if b == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(bytes.len());
            blank(&bytes[i..end], &mut out);
            i = end;
        } else if b == b'\'' {
            // A char literal ('a', '\n', '\u{..}'), not a lifetime ('a).
            let end = if next == Some(b'\\') {
                find(bytes, i + 3, b"'").map(|e| e + 1)
            } else if bytes.get(i + 2) == Some(&b'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&bytes[i..end], &mut out);
                    i = end;
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    let code = String::from_utf8(out).expect("blanking keeps UTF-8 boundaries of ASCII code");
    cut_test_block(&code)
}

fn ident_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..bytes.len().saturating_sub(needle.len() - 1)).find(|&k| bytes[k..].starts_with(needle))
}

fn blank(span: &[u8], out: &mut Vec<u8>) {
    // Multi-byte characters inside a literal become as many spaces as they have bytes.
    out.extend(span.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
}

/// Everything from a `#[cfg(test)]` followed by `mod tests {` to the end of the file is test
/// code (the project's convention: the test module comes last).
fn cut_test_block(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]" {
            let next = lines[i + 1..].iter().map(|l| l.trim()).find(|l| !l.is_empty());
            if next.is_some_and(|l| l.starts_with("mod tests {") || l.starts_with("pub mod tests {")) {
                return lines[..i].join("\n");
            }
        }
    }
    code.to_owned()
}

/// Child modules a file declares under `#[cfg(test)]` (`#[cfg(test)] mod tests;`): whole files
/// of test code.
fn test_only_children(code: &str) -> Vec<String> {
    let lines: Vec<&str> = code.lines().map(str::trim).collect();
    let mut children = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if *line == "#[cfg(test)]" {
            if let Some(next) = lines.get(i + 1) {
                let decl = next.strip_prefix("pub ").unwrap_or(next);
                if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                    children.push(name.trim().to_owned());
                }
            }
        }
    }
    children
}

/// Expands the use tree (or plain path) that starts at `s[0]`, right after `crate::`:
/// `a::b::{c, d::{e, f}}` → `a::b::c`, `a::b::d::e`, `a::b::d::f`. Returns the paths and how
/// many bytes were read.
fn expand(s: &[u8]) -> (Vec<Vec<String>>, usize) {
    let mut prefix: Vec<String> = Vec::new();
    let mut i = 0;
    loop {
        while s.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if s.get(i) == Some(&b'{') {
            i += 1;
            let mut paths = Vec::new();
            loop {
                while s.get(i).is_some_and(|c| c.is_ascii_whitespace() || *c == b',') {
                    i += 1;
                }
                match s.get(i) {
                    None => break,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    Some(_) => {
                        let (inner, read) = expand(&s[i..]);
                        i += read.max(1);
                        for p in inner {
                            let mut full = prefix.clone();
                            full.extend(p.into_iter().filter(|seg| seg != "self"));
                            paths.push(full);
                        }
                    }
                }
            }
            return (paths, i);
        }
        let start = i;
        while s.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            i += 1;
        }
        if i == start {
            // `*`, or the end of a path.
            if s.get(i) == Some(&b'*') {
                i += 1;
            }
            return (vec![prefix], i);
        }
        prefix.push(String::from_utf8_lossy(&s[start..i]).into_owned());
        // ` as name` ends a use path.
        if s[i..].starts_with(b"::") {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// Every `crate::` and `super::` path in `code`, with its line, resolved against `module`.
fn uses_in(code: &str, module: &[String]) -> Vec<Use> {
    let bytes = code.as_bytes();
    let line_of = |offset: usize| bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    let mut uses = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_path = !ident_before(bytes, i) && (i < 2 || &bytes[i - 2..i] != b"::");
        let (base, skip): (Vec<String>, usize) = if starts_path && bytes[i..].starts_with(b"crate::") {
            (Vec::new(), "crate::".len())
        } else if starts_path && bytes[i..].starts_with(b"super::") {
            // `super` of `a/b.rs` (module a::b) is `a`; of `a/mod.rs` (module a) it is the root.
            let mut j = i;
            let mut base = module.to_vec();
            while bytes[j..].starts_with(b"super::") {
                base.pop();
                j += "super::".len();
            }
            (base, j - i)
        } else {
            i += 1;
            continue;
        };
        let (paths, read) = expand(&bytes[i + skip..]);
        for p in paths {
            let mut path = base.clone();
            path.extend(p);
            if !path.is_empty() {
                uses.push(Use { line: line_of(i), path });
            }
        }
        i += skip + read.max(1);
    }
    uses
}

fn parse(files: &[(String, String)]) -> Vec<SourceFile> {
    let mut test_only: BTreeSet<Vec<String>> = BTreeSet::new();
    for (rel, text) in files {
        let module = module_of(rel);
        for child in test_only_children(text) {
            let mut m = module.clone();
            m.push(child);
            test_only.insert(m);
        }
    }
    files
        .iter()
        .filter(|(rel, _)| rel != "lib.rs" && !test_only.contains(&module_of(rel)))
        .map(|(rel, text)| {
            let module = module_of(rel);
            let uses = uses_in(&code_only(text), &module);
            SourceFile { rel: rel.clone(), module, uses }
        })
        .collect()
}

/// Arrows between units: (from, to) → the first file:line that draws it.
fn arrows(files: &[SourceFile]) -> BTreeMap<(String, String), String> {
    let mut arrows = BTreeMap::new();
    for f in files {
        let Some(from) = unit_of(&f.module) else { continue };
        for u in &f.uses {
            let Some(to) = unit_of(&u.path) else { continue };
            if to != from {
                arrows.entry((from.clone(), to)).or_insert_with(|| format!("src/{}:{}", f.rel, u.line));
            }
        }
    }
    arrows
}

/// One cycle through each group of units that import each other (Tarjan's strongly connected
/// components, then a path around each one).
fn cycles(arrows: &BTreeMap<(String, String), String>) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in arrows.keys() {
        graph.entry(from).or_default().push(to);
        graph.entry(to).or_default();
    }
    struct Tarjan<'a> {
        graph: &'a BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for &w in &self.graph[v] {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                loop {
                    let w = self.stack.pop().expect("v is on the stack");
                    self.on_stack.remove(w);
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.components.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for &v in graph.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.components
        .iter()
        .map(|component| {
            // Walk from the first unit, inside the component, back to it (breadth first: the
            // shortest such cycle).
            let members: BTreeSet<&str> = component.iter().copied().collect();
            let start = *members.iter().next().expect("a component has members");
            let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            let mut last = start;
            'search: while let Some(v) = queue.pop_front() {
                for &w in &graph[v] {
                    if !members.contains(w) {
                        continue;
                    }
                    if w == start {
                        last = v;
                        break 'search;
                    }
                    if !came_from.contains_key(w) {
                        came_from.insert(w, v);
                        queue.push_back(w);
                    }
                }
            }
            let mut cycle = vec![start.to_owned()];
            let mut v = last;
            while v != start {
                cycle.push(v.to_owned());
                v = came_from[v];
            }
            cycle.push(start.to_owned());
            cycle.reverse();
            let mut all: Vec<String> = component.iter().map(|s| s.to_string()).collect();
            all.sort();
            cycle.push(format!("(all of: {})", all.join(", ")));
            cycle
        })
        .collect()
}

/// Every way the files break the rules, one line each.
fn violations(files: &[SourceFile]) -> Vec<String> {
    let mut found = Vec::new();
    let mut unplaced = BTreeSet::new();
    for f in files {
        let Some(from) = unit_of(&f.module) else { continue };
        let from_layer = layer_of(&from);
        if from_layer.is_none() {
            unplaced.insert(from.clone());
        }
        for u in &f.uses {
            let Some(to) = unit_of(&u.path) else { continue };
            if to == from {
                continue;
            }
            let at = format!("src/{}:{}", f.rel, u.line);
            let path = u.path.join("::");
            if let (Some(fl), Some(tl)) = (from_layer, layer_of(&to)) {
                if tl < fl {
                    found.push(format!(
                        "upward: {at}: {from} ({}) imports crate::{path} ({})",
                        LAYERS[fl].0, LAYERS[tl].0
                    ));
                }
            }
            if let Some((_, allowed)) = ONLY_IMPORTS.iter().find(|(unit, _)| *unit == family(&from)) {
                if !allowed.contains(&family(&to)) {
                    found.push(format!("{at}: {from} may import only {allowed:?}, not crate::{path}"));
                }
            }
            if let Some((_, banned)) = NEVER_IMPORTS.iter().find(|(unit, _)| *unit == family(&from)) {
                if banned.contains(&family(&to)) {
                    found.push(format!("{at}: {from} must never import {}: crate::{path}", family(&to)));
                }
            }
            let is_face = |m: &[String]| m.len() >= 3 && m[0] == RESOURCE_FAMILY && m[2] == RESOURCE_FACE;
            if is_face(&f.module) && is_face(&u.path) && f.module[1] != u.path[1] {
                found.push(format!("{at}: resource api imports another resource's api: crate::{path}"));
            }
        }
    }
    for unit in unplaced {
        found.push(format!("unplaced: unit `{unit}` is in no layer of the table"));
    }
    for cycle in cycles(&arrows(files)) {
        found.push(format!("cycle: {}", cycle.join(" → ")));
    }
    found
}

fn read_tree(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("src is readable").map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

fn source_tree() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&root, &root, &mut files);
    parse(&files)
}

#[test]
fn the_source_tree_keeps_its_layers() {
    let files = source_tree();
    let arrows = arrows(&files);
    let units: BTreeSet<&String> = arrows.keys().flat_map(|(a, b)| [a, b]).collect();
    let top_level: BTreeSet<(&str, &str)> =
        arrows.keys().map(|(a, b)| (family(a), family(b))).filter(|(a, b)| a != b).collect();
    eprintln!(
        "{} files, {} units, {} arrows between units ({} between top-level modules)",
        files.len(),
        units.len(),
        arrows.len(),
        top_level.len()
    );
    let found = violations(&files);
    assert!(found.is_empty(), "{} layering violations:\n{}", found.len(), found.join("\n"));
}

// The checks themselves, each shown able to fail on a small made-up tree.

fn tree(files: &[(&str, &str)]) -> Vec<SourceFile> {
    parse(&files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect::<Vec<_>>())
}

#[test]
fn a_cycle_between_two_units_is_found() {
    let found = violations(&tree(&[
        ("time.rs", "use crate::log::warn;\n"),
        ("log.rs", "pub fn warn() { crate::time::now(); }\n"),
    ]));
    assert_eq!(found, ["cycle: log → time → log → (all of: log, time)"]);
}

#[test]
fn an_upward_import_is_found_with_its_line() {
    let found = violations(&tree(&[("store/rooms.rs", "\n\nuse crate::{error::ApiError, app::App};\n")]));
    assert!(found
        .iter()
        .any(|v| v.starts_with("upward: src/store/rooms.rs:3: store (adapters) imports crate::app::App")));
    assert!(found.iter().any(|v| v.contains("store may import only")), "{found:?}");
}

#[test]
fn a_resource_api_importing_another_resource_api_is_found() {
    let found = violations(&tree(&[
        ("resources/tokens/api.rs", "use crate::resources::rooms::api::load;\nuse crate::resources::rooms::service;\n"),
        ("resources/rooms/api.rs", "use super::service::create;\n"),
    ]));
    assert_eq!(
        found,
        ["src/resources/tokens/api.rs:1: resource api imports another resource's api: crate::resources::rooms::api::load"]
    );
}

#[test]
fn vendors_importing_the_store_is_found() {
    let found = violations(&tree(&[("vendors/livekit/mod.rs", "fn f() { super::super::store::rooms::find(); }\n")]));
    assert_eq!(found, ["src/vendors/livekit/mod.rs:1: vendors must never import store: crate::store::rooms::find"]);
}

#[test]
fn a_unit_missing_from_the_table_is_found() {
    let found = violations(&tree(&[("handlers/rooms.rs", "use crate::error::ApiError;\n")]));
    assert_eq!(found, ["unplaced: unit `handlers` is in no layer of the table"]);
}

#[test]
fn comments_strings_and_test_code_draw_no_arrows() {
    let files = tree(&[
        (
            "store/rooms.rs",
            "// crate::app::App in a comment\n/* crate::app */\nconst S: &str = \"crate::app::App\";\n\
             #[cfg(test)]\nmod fixtures;\n\n#[cfg(test)]\nmod tests {\n    use crate::native::Db;\n}\n",
        ),
        ("store/rooms/fixtures.rs", "use crate::app::App;\n"),
    ]);
    assert!(files.iter().all(|f| f.uses.is_empty()), "{files:?}");
    assert!(violations(&files).is_empty());
}

#[test]
fn use_trees_expand_to_each_path() {
    let files = tree(&[(
        "api/auth.rs",
        "use crate::{\n    error::{ApiError, ErrorCode},\n    store::{self, keys::Key},\n};\nuse crate::time as clock;\n",
    )]);
    let paths: Vec<(usize, String)> = files[0].uses.iter().map(|u| (u.line, u.path.join("::"))).collect();
    assert_eq!(
        paths,
        [
            (1, "error::ApiError".to_owned()),
            (1, "error::ErrorCode".to_owned()),
            (1, "store".to_owned()),
            (1, "store::keys::Key".to_owned()),
            (5, "time".to_owned()),
        ]
    );
}
