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
