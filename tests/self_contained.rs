//! The repository is self-contained: no file in it reads or points at a `../shared` folder
//! beside the checkout. Test data (the vendors' token vectors) lives in `tests/fixtures/`, the
//! public API contract rtcgate implements in `docs/contract/`; a clone on its own builds, tests
//! and documents itself.
//!
//! It reads every file git would hand a clone (tracked, plus new files not ignored), so a
//! fixture or a note about to be committed is held to the same rule.

use std::path::Path;
use std::process::Command;

/// What a reference to the folder outside the repository looks like in code, scripts and prose.
const OUTSIDE: &str = "../shared";

fn repository_files(root: &Path) -> Vec<String> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("this test lists the repository's files with git, which did not run: {e}"));
    assert!(out.status.success(), "git ls-files failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("file names are UTF-8")
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

fn mentions(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn no_file_reads_or_points_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = repository_files(root);
    // A listing that missed the tree (the wrong folder, say) would find nothing and pass.
    for expected in ["src/lib.rs", "scripts/build.sh", "tests/fixtures/vectors/livekit_jwt.json", "README.md"] {
        assert!(
            files.iter().any(|f| f == expected),
            "git ls-files did not list {expected}: is {} the repository?",
            root.display()
        );
    }
    let mut offenders = Vec::new();
    for name in &files {
        if name == file!() {
            continue; // it names the folder to look for it
        }
        // A file deleted in the work tree but not yet in the index: nothing to read.
        let Ok(bytes) = std::fs::read(root.join(name)) else { continue };
        if !mentions(&bytes, OUTSIDE) {
            continue;
        }
        let lines: Vec<String> = String::from_utf8_lossy(&bytes)
            .lines()
            .enumerate()
            .filter(|(_, line)| line.contains(OUTSIDE))
            .map(|(i, line)| format!("  {name}:{}: {}", i + 1, line.trim()))
            .collect();
        offenders.push(if lines.is_empty() { format!("  {name} (binary)") } else { lines.join("\n") });
    }
    assert!(
        offenders.is_empty(),
        "files that read or point at {OUTSIDE} (put the data in tests/fixtures/ or docs/ and point there):\n{}",
        offenders.join("\n")
    );
}

/// Every `src/….rs` or `src/….js` path a file names (a comment pointing at the code, a test
/// reading a source file, a doc) exists: code that moves takes its pointers with it.
#[test]
fn every_source_path_a_file_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = repository_files(root);
    let mut dangling = Vec::new();
    for name in &files {
        if name.starts_with("tests/fixtures/") || name.ends_with(".lock") || name.ends_with("package-lock.json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(name)) else { continue };
        for (i, line) in text.lines().enumerate() {
            for path in source_paths(line) {
                if !root.join(&path).is_file() {
                    dangling.push(format!("  {name}:{}: {path}", i + 1));
                }
            }
        }
    }
    assert!(
        dangling.is_empty(),
        "paths named but not in the tree (moved? update the pointer):\n{}",
        dangling.join("\n")
    );
}

/// The `src/<segments>.rs|.js` paths in `line`: segments of letters, digits and `_`, split by `/`.
fn source_paths(line: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("src/") {
        let preceded_by_word =
            rest[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || "_/.-".contains(c));
        let tail = &rest[at..];
        let end =
            tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '.')).unwrap_or(tail.len());
        let candidate = tail[..end].trim_end_matches('.');
        if !preceded_by_word && (candidate.ends_with(".rs") || candidate.ends_with(".js")) {
            paths.push(candidate.to_owned());
        }
        rest = &tail[4..];
    }
    paths
}

#[test]
fn source_paths_are_found_where_prose_and_code_name_them() {
    assert_eq!(
        source_paths("see src/api/router.rs, and `src/edge/glue.js`."),
        ["src/api/router.rs", "src/edge/glue.js"]
    );
    assert_eq!(source_paths("path.join(ROOT, 'src', 'router.rs')"), Vec::<String>::new());
    assert_eq!(source_paths("a/src/x.rs and mysrc/y.rs"), Vec::<String>::new(), "only paths from the root");
    assert_eq!(source_paths("src/ alone, src/api/ a folder"), Vec::<String>::new());
}
