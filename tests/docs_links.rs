//! Every relative link in the README, `tests/README.md` and `docs/` resolves: to a file or folder
//! inside the repository, and, when it names a heading (`#…`) of a Markdown file, to a heading
//! that file has. Links to other sites are not followed.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The documents whose links are checked, relative to the repository root.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs = vec![PathBuf::from("README.md"), PathBuf::from("tests/README.md")];
    let mut folders = vec![PathBuf::from("docs")];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(root.join(&folder)).expect("docs/ is readable") {
            let entry = entry.unwrap();
            let relative = folder.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                folders.push(relative);
            } else if relative.extension().is_some_and(|e| e == "md") {
                docs.push(relative);
            }
        }
    }
    docs.sort();
    docs
}

/// The targets of the Markdown links (`[text](target)`) outside fenced code blocks and inline code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut in_code = false;
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'`' => in_code = !in_code,
                b']' if !in_code && bytes.get(i + 1) == Some(&b'(') => {
                    if let Some(len) = line[i + 2..].find(')') {
                        targets.push(line[i + 2..i + 2 + len].to_owned());
                        i += 2 + len;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    targets
}

/// The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces
/// as hyphens, a repeated heading numbered `-1`, `-2`, ….
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let slug: String = title
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                '-' | '_' => Some(c),
                c if c.is_alphanumeric() => Some(c.to_lowercase().next().unwrap_or(c)),
                _ => None,
            })
            .collect();
        let mut candidate = slug.clone();
        let mut n = 0;
        while seen.contains(&candidate) {
            n += 1;
            candidate = format!("{slug}-{n}");
        }
        seen.insert(candidate);
    }
    seen
}

/// `path` with `.` and `..` resolved lexically; `None` when it climbs above its start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// What is wrong with the relative links of `doc` (a path relative to `root`) whose text is `text`.
fn dead_links(root: &Path, doc: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for target in link_targets(text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        if path.is_empty() {
            if !anchor.is_some_and(|a| anchors(text).contains(a)) {
                problems.push(format!("{}: `{target}`: no such heading here", doc.display()));
            }
            continue;
        }
        let Some(resolved) = normalize(&doc.parent().unwrap_or(Path::new("")).join(path)) else {
            problems.push(format!("{}: `{target}` points outside the repository", doc.display()));
            continue;
        };
        let full = root.join(&resolved);
        if !full.exists() {
            problems.push(format!("{}: `{target}`: no such file", doc.display()));
            continue;
        }
        if let Some(anchor) = anchor {
            let is_markdown = resolved.extension().is_some_and(|e| e == "md");
            let known = is_markdown && fs::read_to_string(&full).is_ok_and(|t| anchors(&t).contains(anchor));
            if !known {
                problems.push(format!("{}: `{target}`: no heading #{anchor}", doc.display()));
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = root();
    let docs = documents(&root);
    assert!(docs.len() > 3, "README.md, tests/README.md and docs/*.md: {docs:?}");
    let mut problems = Vec::new();
    let mut links = 0;
    for doc in &docs {
        let text = fs::read_to_string(root.join(doc)).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        links += link_targets(&text).len();
        problems.extend(dead_links(&root, doc, &text));
    }
    assert!(links > 20, "only {links} links found: the link reader is broken");
    assert!(problems.is_empty(), "dead links:\n{}", problems.join("\n"));
}

#[test]
fn the_check_finds_a_missing_file_a_missing_heading_and_a_link_out_of_the_repository() {
    let root = root();
    let text = "\
# Top heading
See [the api](api.md#errors), [this](#top-heading), [a site](https://example.com/x),
[gone](no-such-file.md), [no heading](api.md#no-such-heading), [out](../../elsewhere.md),
`[in code](nowhere.md)`.

```
[in a fence](nowhere.md)
```
";
    let problems = dead_links(&root, Path::new("docs/sample.md"), text);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("no-such-file.md") && problems[0].contains("no such file"));
    assert!(problems[1].contains("#no-such-heading"));
    assert!(problems[2].contains("outside the repository"));
}

#[test]
fn anchors_follow_githubs_rules() {
    let text = "# The walk of one `token.issue`\n## What `make test` needs\n## Tokens, and what checks them\n## Tokens, and what checks them\n";
    let got = anchors(text);
    for want in [
        "the-walk-of-one-tokenissue",
        "what-make-test-needs",
        "tokens-and-what-checks-them",
        "tokens-and-what-checks-them-1",
    ] {
        assert!(got.contains(want), "{want} not in {got:?}");
    }
}
