//! The code base checks itself: every Rust file starts with a module doc, no leftover debugging
//! macros, no import circle between the modules of a crate, the daemon's layers import only
//! downwards, and both systemd units verify and keep their exposure at or below 2.0. The generic checks are
//! shared with the other crates' tidy tests (`tests/common/tidy.rs`).

#[path = "../common/tidy.rs"]
mod tidy_common;

use std::path::Path;

use crate::harness::repo_root;
use tidy_common::{
    Graph, LEFTOVERS, assert_library_code_free_of, missing_module_docs, module_edges, read_sources,
    uses_of,
};

#[test]
fn every_rust_file_has_a_module_doc_and_no_leftovers() {
    let root = repo_root();
    let mut files = Vec::new();
    for d in ["daemon", "detectors", "retrain", "tests"] {
        files.extend(read_sources(&root.join(d)));
    }
    assert!(files.len() > 10);
    let mut problems = missing_module_docs(&files);
    for (path, text) in &files {
        // The tidy tests name the leftovers they look for.
        if !path.ends_with("tidy.rs") {
            problems.extend(uses_of(path, text, &LEFTOVERS));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `systemd-analyze` (installed by `scripts/test.sh`; this test fails rather than skip without it).
fn systemd_analyze(args: &[&str], unit: &Path) -> std::process::Output {
    std::process::Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "systemd-analyze cannot run ({e}): run scripts/test.sh, which installs it, or \
                 apt-get install systemd"
            )
        })
}

/// Both units — `driftd run` (`config/driftd.service`) and `driftd serve`
/// (`config/driftd-serve.service`) — have their essential settings, pass `systemd-analyze verify`,
/// and keep `systemd-analyze security --offline=yes` exposure at or below 2.0.
#[test]
fn systemd_units_verify_and_stay_hardened() {
    let common = [
        "Restart=on-failure",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "DynamicUser=yes",
        "User=driftd",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
    ];
    let units: [(&str, &[&str]); 2] = [
        (
            "driftd.service",
            &[
                "Type=notify",
                "WatchdogSec=",
                "ExecReload=",
                "driftd run --config",
            ],
        ),
        (
            "driftd-serve.service",
            &["Type=exec", "driftd serve --config"],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_driftd");
    for (name, own) in units {
        let unit = std::fs::read_to_string(repo_root().join("config").join(name)).unwrap();
        for want in common.iter().chain(own) {
            assert!(unit.contains(want), "{name} lacks {want:?}");
        }
        let copy = dir.path().join(name);
        std::fs::write(&copy, unit.replace("/usr/local/bin/driftd", exe)).unwrap();
        let out = systemd_analyze(&["verify"], &copy);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "systemd-analyze verify {name}:\n{err}"
        );
        let out = systemd_analyze(&["security", "--offline=yes", "--no-pager"], &copy);
        let text = String::from_utf8_lossy(&out.stdout);
        let exposure: f64 = text
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|rest| rest.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no exposure level for {name}:\n{text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        assert!(exposure <= 2.0, "{name}: exposure {exposure} > 2.0\n{text}");
    }
}

/// No two modules of a crate import each other, directly or around a circle: each layer uses only
/// the ones below it. (The library crates check themselves too; this covers the whole workspace.)
#[test]
fn no_import_circle_between_modules() {
    let root = repo_root();
    for krate in ["daemon", "detectors", "retrain"] {
        tidy_common::assert_no_import_circle(krate, &root.join(krate).join("src"));
    }
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
fn upward_imports(layers: &[String], edges: &Graph) -> Vec<String> {
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
    let mut edges = Graph::new();
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

/// The layers a folder's `mod.rs` says it may depend on: the layer names in its
/// `//! May depend on: …` paragraph (`None` without one).
fn declared_dependencies(
    doc: &str,
    layers: &[String],
) -> Option<std::collections::BTreeSet<String>> {
    let mut lines = doc.lines().map_while(|l| l.strip_prefix("//!"));
    let first = lines.find_map(|l| l.trim().strip_prefix("May depend on:").map(str::to_owned))?;
    let paragraph = std::iter::once(first)
        .chain(lines.map_while(|l| (!l.trim().is_empty()).then(|| l.to_owned())))
        .collect::<Vec<_>>()
        .join(" ");
    Some(
        paragraph
            .split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .filter(|w| layers.iter().any(|l| l == w))
            .map(str::to_owned)
            .collect(),
    )
}

/// What is wrong with one folder's declaration: a layer named that is not below it, an import of
/// a layer it does not name.
fn declaration_problems(
    layer: &str,
    declared: &std::collections::BTreeSet<String>,
    layers: &[String],
    edges: &Graph,
) -> Vec<String> {
    let at = |m: &str| {
        layers
            .iter()
            .position(|l| l == m.split("::").next().unwrap_or(""))
    };
    let mine = at(layer);
    let mut bad: Vec<String> = declared
        .iter()
        .filter(|d| at(d) >= mine)
        .map(|d| format!("{layer} names {d}, which is not below it"))
        .collect();
    let used: std::collections::BTreeSet<String> = edges
        .iter()
        .filter(|(from, _)| from.split("::").next() == Some(layer))
        .flat_map(|(_, tos)| tos.iter())
        .filter_map(|to| to.split("::").next().map(str::to_owned))
        .filter(|to| to != layer)
        .collect();
    bad.extend(
        used.difference(declared)
            .map(|u| format!("{layer} imports {u} but does not say it may")),
    );
    bad
}

/// Every stage's `mod.rs` opens with what the stage does and ends its doc with what it may depend
/// on; the list names only lower layers and covers every import the stage makes.
#[test]
fn each_stage_says_what_it_may_depend_on() {
    let src = repo_root().join("daemon/src");
    let layers = daemon_layers(&src);
    let edges = module_edges(&src);
    let mut bad = Vec::new();
    for layer in &layers {
        let path = src.join(layer).join("mod.rs");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        if !doc.starts_with("//! ") {
            bad.push(format!("{}: no module doc", path.display()));
            continue;
        }
        match declared_dependencies(&doc, &layers) {
            None if layer == "contract" => {}
            None => bad.push(format!("{}: no `May depend on:` line", path.display())),
            Some(declared) => bad.extend(declaration_problems(layer, &declared, &layers, &edges)),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The declaration check reads the paragraph and finds both kinds of problem.
#[test]
fn the_declaration_check_works() {
    let layers: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let doc = "//! Stage b.\n//!\n//! May depend on: a,\n//! and c.\n//!\n//! Not: b.\n";
    let declared = declared_dependencies(doc, &layers).unwrap();
    assert_eq!(declared.iter().collect::<Vec<_>>(), ["a", "c"]);
    let mut edges = Graph::new();
    edges
        .entry("b::x".into())
        .or_default()
        .insert("a::y".into());
    assert_eq!(
        declaration_problems("b", &declared, &layers, &edges),
        ["b names c, which is not below it"]
    );
    edges.entry("c".into()).or_default().insert("a".into());
    edges.entry("c".into()).or_default().insert("b".into());
    let c: std::collections::BTreeSet<String> = ["a".to_owned()].into();
    assert_eq!(
        declaration_problems("c", &c, &layers, &edges),
        ["c imports b but does not say it may"]
    );
    assert_eq!(declared_dependencies("//! No list.\n", &layers), None);
}

/// What the contract and the monitors may not touch: clocks, the async runtime, the network and
/// the services (time is the events' own; see `monitor/mod.rs`).
const IMPURE: &[&str] = &[
    "Utc::now",
    "SystemTime",
    "Instant::now",
    "tokio",
    "std::net",
    "rdkafka",
    "redis::",
    "lettre",
    "reqwest",
    "axum",
];

/// The contract layer and the monitors are pure: no clock, no runtime, no network, so that the
/// daemon and `driftd replay` decide the same things from the same events. (They stay folders of
/// the daemon crate, not a crate of their own: the join store's cold tier, a temporary redb file
/// for long replays, is their one piece of file I/O; this test keeps the rest out meanwhile.)
#[test]
fn the_contract_and_the_monitors_read_no_clock_and_no_network() {
    let src = repo_root().join("daemon/src");
    for dir in ["contract", "monitor"] {
        assert_library_code_free_of(&src.join(dir), IMPURE);
    }
    let planted = "fn f() -> i64 {\n    chrono::Utc::now().timestamp()\n}\n";
    assert_eq!(uses_of(Path::new("x.rs"), planted, IMPURE).len(), 1);
}
