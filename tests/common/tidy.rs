//! Shared helpers of the tidy tests, the tests in which the code base checks itself. One copy, not
//! a crate: each crate's tidy test includes this file as a module,
//!
//! - `detectors/tests/tidy.rs` and `retrain/tests/tidy.rs` with
//!   `#[path = "../../tests/common/tidy.rs"] mod tidy_common;`,
//! - `tests/e2e/tidy.rs` (the daemon's `e2e` test binary) with
//!   `#[path = "../common/tidy.rs"] mod tidy_common;`,
//!
//! and keeps only what is its own (a crate's list of forbidden names, the detectors' documentation
//! rule, the daemon's layers and systemd unit). Here are the pieces all three use: listing and
//! reading a folder's Rust files, the module-doc and forbidden-text checks, the import graph of a
//! crate (`module_of`, `module_edges`) and the circle finder (`find_circle`). Every helper is used
//! by every crate that includes the file, so none needs a `dead_code` allowance; the `#[test]`s at
//! the bottom check the helpers themselves and so run in each including test binary.
//!
//! The checks return the problems they find (one line each) instead of panicking, so that a test
//! reports all of them at once and the helpers can be tested on made-up input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Debugging leftovers that no Rust file may contain (tidy files excepted: they name them).
pub const LEFTOVERS: [&str; 3] = ["dbg!(", "todo!(", "unimplemented!("];

/// Module-level import graph of a crate: from a module (`a::b`, the crate root is never a key)
/// to the modules it imports from.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The `.rs` files under `dir`, recursively and sorted; `target` and hidden folders are left out.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
}

/// The `.rs` files under `dir` (as [`rust_files`]) with their text. Panics when there is none, so a
/// check over them cannot pass by reading nothing.
pub fn read_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let files: Vec<(PathBuf, String)> = rust_files(dir)
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (p, text)
        })
        .collect();
    assert!(!files.is_empty(), "no Rust file under {}", dir.display());
    files
}

/// The files whose first non-blank line is not a module doc (`//!` at the start of the line).
pub fn missing_module_docs(files: &[(PathBuf, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| {
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            !first.starts_with("//!")
        })
        .map(|(path, _)| format!("{}: no module doc (//!) at the top", path.display()))
        .collect()
}

/// A file's text up to its `#[cfg(test)] mod tests` (all of it if it has none): the library code.
pub fn library_code(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The code lines of `text`, numbered from 1 and trimmed; lines that are wholly a comment (`//`,
/// `///`, `//!`) are left out, a comment after code is kept.
pub fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.starts_with("//"))
}

/// Every place where one of `needles` occurs in the code lines (see [`code_lines`]) of `code`,
/// the text (or part of the text, see [`library_code`]) of the file at `path`.
pub fn uses_of(path: &Path, code: &str, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in code_lines(code) {
        for needle in needles {
            if line.contains(needle) {
                found.push(format!("{}:{n}: `{needle}` in: {line}", path.display()));
            }
        }
    }
    found
}

/// Fails with every place where one of `forbidden` occurs in the library code of the crate
/// sources under `src` (tests left out: `mod tests`, see [`library_code`], and `tests.rs` files).
pub fn assert_library_code_free_of(src: &Path, forbidden: &[&str]) {
    let mut problems = Vec::new();
    for (path, text) in read_sources(src) {
        if !path.ends_with("tests.rs") {
            problems.extend(uses_of(&path, library_code(&text), forbidden));
        }
    }
    assert!(
        problems.is_empty(),
        "in library code:\n{}",
        problems.join("\n")
    );
}

/// The module of a source file: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs`
/// are the crate root (empty).
pub fn module_of(src: &Path, file: &Path) -> Vec<String> {
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

/// Module-level import edges of the crate whose sources are in `src`: from each file's module to
/// the modules its code names through `crate::…` or `super::…` paths (`super` being the parent
/// module, as in Rust; comments, `mod tests` and `tests.rs` files left out). Edges between a module
/// and its own ancestors are left out: a folder is one stage.
pub fn module_edges(src: &Path) -> Graph {
    let files = read_sources(src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(f, _)| module_of(src, f)).collect();
    let mut edges = Graph::new();
    for (f, text) in &files {
        let me = module_of(src, f);
        if me.iter().any(|s| s == "tests") {
            // A test module may reach anywhere in its crate.
            continue;
        }
        for (_, line) in code_lines(library_code(text)) {
            let line = line.split("//").next().unwrap_or("");
            for start in ["crate::", "super::"] {
                let mut rest = line;
                while let Some(i) = rest.find(start) {
                    let mut after = &rest[i + start.len()..];
                    let mut path = if start == "crate::" {
                        Vec::new()
                    } else {
                        // `super` is the parent module, `super::super` its parent, and so on.
                        let mut parent = me.clone();
                        parent.pop();
                        while let Some(more) = after.strip_prefix("super::") {
                            parent.pop();
                            after = more;
                        }
                        parent
                    };
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

/// A circle of imports, if there is one: its modules in import order, the first repeated at the end.
pub fn find_circle(edges: &Graph) -> Option<Vec<String>> {
    fn visit(
        v: &str,
        edges: &Graph,
        state: &mut BTreeMap<String, u8>,
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
    let mut state = BTreeMap::new();
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

/// Asserts that the crate named `krate`, its sources in `src`, has no import circle between its
/// modules, and that its import graph was read at all (more than 5 edges).
pub fn assert_no_import_circle(krate: &str, src: &Path) {
    let edges = module_edges(src);
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 5,
        "{krate}: the import graph was not read"
    );
    if let Some(c) = find_circle(&edges) {
        panic!("{krate}: import circle {}", c.join(" -> "));
    }
}

/// The circle finder finds a circle and accepts a layered graph.
#[test]
fn the_circle_finder_works() {
    let g = |pairs: &[(&str, &str)]| {
        let mut m = Graph::new();
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

/// The text checks find a file without a module doc and a leftover in code, but not in comments
/// or in the tests at the end of a file.
#[test]
fn the_text_checks_work() {
    let files = [
        ("good.rs", "\n//! Docs.\nfn f() {}\n"),
        ("bad.rs", "// Not a module doc.\nfn f() {}\n"),
        ("indented.rs", "  //! Not at the start of the line.\n"),
    ]
    .map(|(p, t)| (PathBuf::from(p), t.to_owned()));
    assert_eq!(
        missing_module_docs(&files),
        [
            "bad.rs: no module doc (//!) at the top",
            "indented.rs: no module doc (//!) at the top"
        ]
    );
    let text = "//! Docs.\n/// dbg!( in a doc\nfn f() {\n    x(); // todo!(\n    dbg!(1);\n}\n\
                #[cfg(test)]\nmod tests {\n    fn g() { dbg!(2); }\n}\n";
    assert_eq!(
        uses_of(Path::new("f.rs"), library_code(text), &LEFTOVERS),
        [
            "f.rs:4: `todo!(` in: x(); // todo!(",
            "f.rs:5: `dbg!(` in: dbg!(1);"
        ]
    );
    assert_eq!(uses_of(Path::new("f.rs"), text, &LEFTOVERS).len(), 3);
}

/// The import-graph reader sees `crate::` and `super::` imports between modules (`super` of
/// `b/inner.rs` is `b`, so `super::sib` is its sibling `b::sib`), but not those of a module from
/// its own folder or in comments or tests; a circle written on disk is found.
#[test]
fn the_import_graph_reader_works() {
    let src = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tidy-graph-{}", std::process::id()))
        .join("src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(src.join("b")).unwrap();
    for (file, text) in [
        ("lib.rs", "//! Root.\nmod a;\nmod b;\nmod c;\n"),
        (
            "a.rs",
            "//! A.\nuse crate::b::inner::Thing;\nuse crate::a::X;\n",
        ),
        (
            "b/mod.rs",
            "//! B.\nmod inner;\nuse self::inner::Y; // crate::a\nuse super::c::V;\n",
        ),
        (
            "b/inner.rs",
            "//! Inner.\nuse super::super::c::Z;\nuse super::W;\nuse super::sib::Q;\n",
        ),
        ("b/sib.rs", "//! Sibling.\n"),
        (
            "c.rs",
            "//! C.\n// use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
        ),
    ] {
        std::fs::write(src.join(file), text).unwrap();
    }
    assert_eq!(module_of(&src, &src.join("b/mod.rs")), ["b"]);
    assert_eq!(module_of(&src, &src.join("b/inner.rs")), ["b", "inner"]);
    assert!(module_of(&src, &src.join("lib.rs")).is_empty());
    let edges = module_edges(&src);
    let pairs: Vec<(&str, &str)> = edges
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from.as_str(), to.as_str())))
        .collect();
    assert_eq!(
        pairs,
        [
            ("a", "b::inner"),
            ("b", "c"),
            ("b::inner", "b::sib"),
            ("b::inner", "c")
        ]
    );
    assert_eq!(find_circle(&edges), None);
    std::fs::write(src.join("c.rs"), "//! C.\nuse crate::a::X;\n").unwrap();
    let circle = find_circle(&module_edges(&src));
    std::fs::remove_dir_all(src.parent().unwrap()).unwrap();
    assert_eq!(circle.unwrap(), ["a", "b::inner", "c", "a"]);
}
