//! The crate checks itself: every source file starts with a module doc, no debugging leftovers, no
//! I/O, threads, clocks or async in the library code (the crate is pure), no import circle between
//! its modules, and the fixture says which SciPy made it, matching the versions its script pins.
//! The generic checks are shared with the other crates' tidy tests (`tests/common/tidy.rs`).

#[path = "../../tests/common/tidy.rs"]
mod tidy_common;

use std::path::{Path, PathBuf};

use tidy_common::{LEFTOVERS, assert_library_code_free_of, missing_module_docs, read_sources};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let files = read_sources(&src());
    assert!(files.len() >= 9);
    let problems = missing_module_docs(&files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn library_code_is_pure_and_clean() {
    let impure = [
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
    assert_library_code_free_of(&src(), &[&LEFTOVERS[..], &impure[..]].concat());
}

/// No two modules of the crate import each other, directly or around a circle.
#[test]
fn no_import_circle_between_modules() {
    tidy_common::assert_no_import_circle("retrain", &src());
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
