//! The HTTP contract fuzzer: a real `driftd run` (file source, tokens of every role, a registry
//! with two versions) and a real `driftd serve` publish their OpenAPI documents at
//! `/openapi.json`; each document must list exactly the routes its router registers, and
//! schemathesis (from the test venv, `scripts/lib.sh`) runs every check it has against the live
//! server with the document: no 5xx, every status documented, bodies, headers and content types
//! as documented, schema-conforming data accepted and non-conforming data refused, unsupported
//! methods answered 405, authentication not ignored.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::access::{ADMIN, FEEDBACK, READ, start_with_every_role};
use crate::harness::*;
use crate::serve::{TOKEN as PREDICT, serving};

/// Test cases per operation and phase: enough to reach every documented status of these small
/// APIs, few enough that each server's run takes about a minute.
const MAX_EXAMPLES: &str = "200";

/// The (method, path) pairs `.route("PATH", get(..).post(..))` calls register in `source`.
fn registered_routes(source: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        let lit = &rest[open + 1..];
        let close = lit.find('"').expect("a closed path literal");
        let path = &lit[..close];
        // The method router: up to the `)` that closes `.route(`.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .expect("a closed .route(");
        let methods = &rest[open + 1 + close + 1..end];
        for m in ["get", "post", "delete", "put", "patch"] {
            let called = methods.match_indices(&format!("{m}(")).any(|(i, _)| {
                i == 0
                    || !methods.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && methods.as_bytes()[i - 1] != b'_'
            });
            if called {
                out.insert((m.to_owned(), path.to_owned()));
            }
        }
        rest = &rest[end..];
    }
    out
}

/// The (method, path) pairs of an OpenAPI document.
fn documented_routes(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in ["get", "post", "delete", "put", "patch"] {
            if item.get(m).is_some() {
                out.insert((m.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// Fetches `base/openapi.json` without a token and checks it against the routes `sources`
/// register.
fn check_document(base: &str, sources: &[&str]) -> serde_json::Value {
    let (status, body) = http_get(&format!("{base}/openapi.json")).expect("GET /openapi.json");
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("the document is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["scheme"], "bearer", "{doc}");
    let mut registered = BTreeSet::new();
    for s in sources {
        let text = std::fs::read_to_string(repo_root().join(s)).unwrap();
        registered.extend(registered_routes(&text));
    }
    assert!(
        registered.len() >= 5,
        "the route reader found {registered:?}"
    );
    assert_eq!(
        registered,
        documented_routes(&doc),
        "the routes registered in {sources:?} (left) and those /openapi.json documents (right)"
    );
    doc
}

/// What no schema can say, told to schemathesis' `positive_data_acceptance` check: a silence
/// valid in form is still refused (422) when it has already ended or starts after it ends —
/// which depends on the clock, not the body's shape.
const SILENCES: &str = r#"
[[operations]]
include-name = "POST /v1/silences"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422", "429"]
"#;

/// `schemathesis` of the test venv.
fn schemathesis() -> PathBuf {
    let exe = python().with_file_name("schemathesis");
    assert!(
        exe.exists(),
        "{} is missing: run scripts/test.sh, which installs schemathesis into the test venv",
        exe.display()
    );
    exe
}

/// Path parameters that name the model the servers have (`churn`), so that schemathesis reaches
/// past the 404 of an unknown model into predictions and the registry's records, promotions and
/// rollbacks.
const KNOWN_MODEL: &str = r#"
[parameters]
"path.model" = "churn"
"#;

/// Runs schemathesis with every check against `base` (the document at `base/openapi.json`),
/// sending `token`; `filter` narrows the operations (e.g. `--include-path /v1/feedback`) and
/// `extra` is added to its configuration. Fails the test with schemathesis' output unless it
/// exits 0.
fn fuzz(dir: &Path, base: &str, token: &str, filter: &[&str], extra: &str) {
    let started = Instant::now();
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, extra).unwrap();
    let out = Command::new(schemathesis())
        .current_dir(dir)
        .arg("--no-color")
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", "14"])
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(filter)
        .output()
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis against {base} {filter:?} failed ({}):\n{text}",
        out.status
    );
    eprintln!(
        "schemathesis {filter:?}: passed in {:.0?}\n{}",
        started.elapsed(),
        tail(&text, 40)
    );
}

/// `driftd run` with tokens of every role (the roles' boundaries are `access.rs`'s; here they make
/// the token table realistic), two versions of `churn` in its registry, and limits well above what
/// schemathesis sends.
fn start_run(dir: &Path) -> Driftd {
    start_with_every_role(
        dir,
        "",
        "anonymous_rate = 100000\nanonymous_burst = 100000",
        "",
    )
}

/// The `error` code of an error answer, which must be JSON.
fn error_code(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"].as_str().unwrap_or_default().to_owned()
}

/// The contract fuzzer's findings on `driftd run`, replayed with their inputs before the fuzzing
/// (which promotes and rolls back at random): a promotion written `{"version": 2.0}` is one of
/// version 2 (schemathesis sent `1620.0`, a JSON Schema integer, and got 400), and promoting the
/// live version is a 409 conflict (it was a 422). With them, the two plain-text answers axum gave
/// that the document could not describe, now `ApiError` JSON: a body over the limit (413) and a
/// version that is not a number (400).
fn findings_stay_fixed(base: &str) {
    let promote = format!("{base}/v1/registry/churn/promote");
    let (s, body) = http_post(&promote, Some(ADMIN), br#"{"version": 2.0}"#);
    assert_eq!(s, 200, "{body}");
    let (s, body) = http_post(&promote, Some(ADMIN), br#"{"version": 2}"#);
    assert_eq!((s, error_code(&body)), (409, "conflict".into()), "{body}");
    // Over `http.max_body_bytes` (1 MiB by default; a lower one would make schemathesis' larger
    // valid batches 413s too).
    let big = format!("[{}]", vec!["{}"; 600_000].join(","));
    let (s, body) = http_post(
        &format!("{base}/v1/feedback"),
        Some(FEEDBACK),
        big.as_bytes(),
    );
    assert_eq!(
        (s, error_code(&body)),
        (413, "body_too_large".into()),
        "{body}"
    );
    let (s, body) = http_get_auth(&format!("{base}/v1/registry/churn/versions/two"), READ);
    assert_eq!((s, error_code(&body)), (400, "bad_path".into()), "{body}");
}

/// `driftd run`'s document lists every route of `http/`, and schemathesis finds nothing: the
/// admin API with the admin token (it grants read and operator too), feedback with the feedback
/// token (no other role may post labels).
#[test]
fn run_documents_every_route_and_schemathesis_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_run(dir.path());
    wait_for(
        "driftd run ready",
        std::time::Duration::from_secs(60),
        || d.ready().then_some(()),
    );
    let base = d.base();
    check_document(&base, &["daemon/src/http/mod.rs"]);
    findings_stay_fixed(&base);
    fuzz(
        dir.path(),
        &base,
        ADMIN,
        &["--exclude-path", "/v1/feedback"],
        SILENCES,
    );
    let model_routes = ["--include-path-regex", "^/v1/(models|registry)/"];
    fuzz(dir.path(), &base, ADMIN, &model_routes, KNOWN_MODEL);
    fuzz(
        dir.path(),
        &base,
        FEEDBACK,
        &["--include-path", "/v1/feedback"],
        "",
    );
    assert!(d.ready(), "driftd run is still ready:\n{}", d.log_text());
}

/// `driftd serve`'s document lists every route of `serve/`, and schemathesis finds nothing with
/// a predict token.
#[test]
fn serve_documents_every_route_and_schemathesis_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, _config) = serving(dir.path());
    let base = serve.base.clone();
    wait_for(
        "driftd serve ready",
        std::time::Duration::from_secs(60),
        || http_get(&format!("{base}/readyz")).and_then(|(s, _)| (s == 200).then_some(())),
    );
    check_document(&base, &["daemon/src/serve/api.rs"]);
    fuzz(dir.path(), &base, PREDICT, &[], "");
    fuzz(dir.path(), &base, PREDICT, &[], KNOWN_MODEL);
    let (status, _) = http_get(&format!("{base}/readyz")).expect("serve answers");
    assert_eq!(status, 200);
}
