//! The crate checks itself: every source file starts with a module doc, no debugging leftovers, no
//! I/O, threads, clocks or async in the library code (the crate is pure), and the fixture says
//! which SciPy made it, matching the versions its script pins.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn library_files() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read_to_string(&p).expect("read file")))
        .collect()
}

/// Code lines outside `#[cfg(test)]` modules, without comments.
fn code_lines(text: &str) -> Vec<&str> {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//"))
        .collect()
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let files = library_files();
    assert!(files.len() >= 9);
    for (path, text) in files {
        assert!(
            text.trim_start().starts_with("//!"),
            "{} has no module documentation",
            path.display()
        );
    }
}

#[test]
fn library_code_is_pure_and_clean() {
    let forbidden = [
        "dbg!(",
        "todo!(",
        "unimplemented!(",
        "println!(",
        "eprintln!(",
        "std::fs",
        "std::net",
        "std::thread",
        "std::time",
        "Instant::now",
        "SystemTime",
        "std::env",
        "tokio",
        "async ",
        "thread_rng",
        "from_entropy",
        "anyhow",
    ];
    for (path, text) in library_files() {
        for line in code_lines(&text) {
            for f in forbidden {
                assert!(
                    !line.contains(f),
                    "{}: `{f}` in library code: {line}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn fixture_versions_match_the_pinned_script() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let script = std::fs::read_to_string(dir.join("make_fixtures.py")).expect("fixture script");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).expect("fixture"))
            .expect("parse fixture");
    for lib in ["numpy", "scipy"] {
        let version = fixture["versions"][lib].as_str().expect("version recorded");
        assert!(
            script.contains(&format!("{lib}=={version}")),
            "stats.json was made with {lib} {version}, which make_fixtures.py does not pin"
        );
    }
}
