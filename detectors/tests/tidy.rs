//! The crate checks itself: every source file starts with a module doc, no debugging leftovers, no
//! I/O, threads or clocks in the library code (the crate is pure), no import circle between its
//! modules, and every stream detector has its own documented file with an example and a reference.
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
    let problems = missing_module_docs(&read_sources(&src()));
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
    ];
    assert_library_code_free_of(&src(), &[&LEFTOVERS[..], &impure[..]].concat());
}

/// No two modules of the crate import each other, directly or around a circle.
#[test]
fn no_import_circle_between_modules() {
    tidy_common::assert_no_import_circle("detectors", &src());
}

#[test]
fn every_stream_detector_file_documents_method_example_and_reference() {
    for name in [
        "adwin",
        "page_hinkley",
        "kswin",
        "cusum",
        "ddm",
        "eddm",
        "hddm_a",
        "hddm_w",
    ] {
        let path = src().join(format!("stream/{name}.rs"));
        let text = std::fs::read_to_string(&path).expect("detector file");
        for needle in [
            "**Input.**",
            "**Parameters**",
            "**Example**",
            "```",
            "Reference",
        ] {
            assert!(text.contains(needle), "{name}.rs lacks {needle}");
        }
    }
}
