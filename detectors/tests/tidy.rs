//! The crate checks itself: every source file starts with a module doc, no debugging leftovers, no
//! I/O, threads or clocks in the library code (the crate is pure), and every stream detector has its
//! own documented file with an example and a reference.

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
    for (path, text) in library_files() {
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
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/stream/{name}.rs"));
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
