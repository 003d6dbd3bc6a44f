//! The code base checks itself: every Rust file starts with a module doc, no leftover debugging
//! macros, and the systemd unit verifies where `systemd-analyze` exists.

use std::path::{Path, PathBuf};

use crate::harness::repo_root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_has_a_module_doc_and_no_leftovers() {
    let root = repo_root();
    let mut files = Vec::new();
    for d in ["daemon", "detectors", "retrain", "tests"] {
        rust_files(&root.join(d), &mut files);
    }
    assert!(files.len() > 10);
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(format!("{}: no module doc (//!) at the top", f.display()));
        }
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in ["dbg!(", "todo!(", "unimplemented!("] {
                if code.contains(bad) && !f.ends_with("tidy.rs") {
                    problems.push(format!("{}:{}: {bad}", f.display(), i + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn systemd_unit_is_well_formed() {
    let unit = std::fs::read_to_string(repo_root().join("config/driftd.service")).unwrap();
    for want in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "DynamicUser=yes",
        "ExecReload=",
    ] {
        assert!(unit.contains(want), "driftd.service lacks {want}");
    }
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed here; structural checks only");
        return;
    };
    if !out.status.success() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("driftd.service");
    let exe = env!("CARGO_BIN_EXE_driftd");
    std::fs::write(&copy, unit.replace("/usr/local/bin/driftd", exe)).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify:\n{err}");
}

/// The module of a source file: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs`
/// are the crate root (empty).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Module-level import edges of one crate: from each file's module to the modules its code names
/// through `crate::…` or `super::…` paths (comments, `mod tests` and `tests.rs` files left out). Edges between a
/// module and its own ancestors are left out: a folder is one stage.
fn module_edges(
    src: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let me = module_of(src, f);
        if me.iter().any(|s| s == "tests") {
            // A test module may reach anywhere in its crate.
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let code = match text.find("#[cfg(test)]\nmod tests") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            for (start, base) in [
                ("crate::", Vec::new()),
                ("super::", {
                    let mut b = me.clone();
                    if !f.ends_with("mod.rs") {
                        b.pop();
                    }
                    b.pop();
                    b
                }),
            ] {
                let mut rest = line;
                while let Some(i) = rest.find(start) {
                    let after = &rest[i + start.len()..];
                    let mut path = base.clone();
                    for seg in after.split("::") {
                        let seg: String = seg
                            .chars()
                            .take_while(|c| {
                                c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'
                            })
                            .collect();
                        if seg.is_empty() {
                            break;
                        }
                        path.push(seg);
                    }
                    while !path.is_empty() && !modules.contains(&path) {
                        path.pop();
                    }
                    let related = path.starts_with(&me) || me.starts_with(&path);
                    if !path.is_empty() && !related {
                        edges
                            .entry(me.join("::"))
                            .or_default()
                            .insert(path.join("::"));
                    }
                    rest = after;
                }
            }
        }
    }
    edges
}

/// A circle of imports, if there is one.
fn find_circle(
    edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        v: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        state: &mut std::collections::BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(v.to_owned(), 1);
        stack.push(v.to_owned());
        for w in edges.get(v).into_iter().flatten() {
            match state.get(w.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == w).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(w.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(w, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(v.to_owned(), 2);
        None
    }
    let mut state = std::collections::BTreeMap::new();
    for v in edges.keys() {
        if state.get(v.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(v, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// No two modules of a crate import each other, directly or around a circle: each layer uses only
/// the ones below it.
#[test]
fn no_import_circle_between_modules() {
    let root = repo_root();
    for krate in ["daemon", "detectors", "retrain"] {
        let edges = module_edges(&root.join(krate).join("src"));
        assert!(
            edges.values().map(|e| e.len()).sum::<usize>() > 5,
            "{krate}: the import graph was not read"
        );
        if let Some(c) = find_circle(&edges) {
            panic!("{krate}: import circle {}", c.join(" -> "));
        }
    }
}

/// The circle finder finds a circle and accepts a layered graph.
#[test]
fn the_circle_finder_works() {
    let g = |pairs: &[(&str, &str)]| {
        let mut m: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for (a, b) in pairs {
            m.entry(a.to_string()).or_default().insert(b.to_string());
        }
        m
    };
    assert_eq!(find_circle(&g(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        find_circle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

/// The daemon's layers, bottom first: the order of the `pub mod` lines of `lib.rs`.
fn daemon_layers(src: &Path) -> Vec<String> {
    std::fs::read_to_string(src.join("lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect()
}

/// Imports that run upwards: from a module to one in a layer above its own (tests left out).
fn upward_imports(
    layers: &[String],
    edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Vec<String> {
    let layer = |m: &str| {
        let top = m.split("::").next().unwrap_or("");
        layers.iter().position(|l| l == top)
    };
    let mut bad = Vec::new();
    for (from, tos) in edges {
        if from.split("::").any(|s| s == "tests") {
            continue;
        }
        let Some(lf) = layer(from) else {
            bad.push(format!("{from} is in no layer: add it to lib.rs"));
            continue;
        };
        for to in tos {
            if layer(to).is_some_and(|lt| lt > lf) {
                bad.push(format!("{from} -> {to}"));
            }
        }
    }
    bad
}

/// Each of the daemon's folders is one layer, listed in `lib.rs` from the bottom up; nothing imports
/// from a layer above its own, so the contract at the bottom depends on no stage, and the stages
/// depend only on what comes before them in the loop.
#[test]
fn layers_only_import_downwards() {
    let src = repo_root().join("daemon/src");
    let layers = daemon_layers(&src);
    assert!(layers.len() > 8, "lib.rs lists the layers: {layers:?}");
    assert_eq!(layers[0], "contract", "the contract is the bottom layer");
    let bad = upward_imports(&layers, &module_edges(&src));
    assert!(
        bad.is_empty(),
        "imports that run upwards:\n  {}",
        bad.join("\n  ")
    );
}

/// The layer check finds an upward import and a module in no layer.
#[test]
fn the_layer_check_works() {
    let layers: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    edges.entry("c::x".into()).or_default().insert("a".into());
    edges.entry("b".into()).or_default().insert("a::y".into());
    assert!(upward_imports(&layers, &edges).is_empty());
    edges.entry("a::y".into()).or_default().insert("b".into());
    edges.entry("d".into()).or_default().insert("a".into());
    assert_eq!(
        upward_imports(&layers, &edges),
        ["a::y -> b", "d is in no layer: add it to lib.rs"]
    );
}
