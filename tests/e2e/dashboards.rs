//! The Grafana dashboard, its provisioning files and the Prometheus rules in `dashboards/` are
//! checked against the code and against real Prometheus tooling:
//!
//! - every metric named in a dashboard expression, a variable query or an alerting rule is in the
//!   catalogue (`driftd::telemetry::metrics::Metrics::NAMES`, histograms through their `_bucket`, `_sum` and
//!   `_count` series), plus Prometheus' own `up`; and every catalogue metric has a panel;
//! - every panel queries through the `${datasource}` variable, and the only Grafana variable in
//!   expressions is `$model`, so that substituting it yields plain PromQL;
//! - `promtool` (Debian's `prometheus` package, installed by `scripts/test.sh`) checks the rules, the
//!   example scrape config, the rules' unit tests, and the PromQL syntax of every dashboard
//!   expression. A missing `promtool` fails the test; nothing skips.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use driftd::telemetry::metrics::Metrics;
use serde_json::Value;

use crate::harness::repo_root;

const DASHBOARD: &str = "dashboards/driftd.json";
pub(crate) const RULES: &str = "dashboards/prometheus/driftd-rules.yml";
const RULES_TESTS: &str = "dashboards/prometheus/driftd-rules.test.yml";
const PROMETHEUS_CONFIG: &str = "dashboards/prometheus/prometheus.yml";
const README: &str = "dashboards/README.md";
const RUNBOOK: &str = "https://example.invalid/driftd/runbook#";

pub(crate) fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

pub(crate) fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// `promtool`: `DRIFTD_PROMTOOL`, else the one on `PATH`. Missing → the test fails.
fn promtool() -> PathBuf {
    crate::harness::find_tool(
        "DRIFTD_PROMTOOL",
        &["promtool"],
        "Run scripts/test.sh, which installs promtool, or: sudo apt-get install prometheus",
    )
}

/// Runs `promtool ARGS` in the repository root; returns its output, failing the test on error.
fn run_promtool(args: &[&str]) -> String {
    let out = Command::new(promtool())
        .current_dir(repo_root())
        .args(args)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("$ promtool {}\n{text}", args.join(" "));
    assert!(
        out.status.success(),
        "promtool {} failed:\n{text}",
        args.join(" ")
    );
    text
}

/// The catalogue's metric types (`counter`, `gauge`, `histogram`…) by name, from a fresh registry's
/// exposition. A labelled family is exported only once it has a series, so the histogram vectors
/// get one here.
fn catalogue_types() -> BTreeMap<String, String> {
    let m = Metrics::new();
    m.label_delay.with_label_values(&["m"]).observe(1.0);
    m.retrain_duration
        .with_label_values(&["m", "candidate"])
        .observe(1.0);
    m.render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.to_owned()))
        })
        .collect()
}

/// The catalogue family a series name belongs to (`driftd_x_seconds_bucket` → `driftd_x_seconds`
/// when that is a histogram), or an error saying why it does not.
fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Result<&'a str, String> {
    if name == "up" || Metrics::NAMES.contains(&name) {
        return Ok(name);
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && Metrics::NAMES.contains(&base)
        {
            return match types.get(base).map(String::as_str) {
                Some("histogram") => Ok(base),
                Some(ty) => Err(format!("{name}: {base} is a {ty}, not a histogram")),
                None => Err(format!(
                    "{name}: the type of {base} is unknown; if it is a histogram vector, give \
                     it a series in catalogue_types() (tests/e2e/dashboards.rs)"
                )),
            };
        }
    }
    Err(format!(
        "{name} is not in the catalogue (daemon/src/telemetry/metrics.rs, Metrics::NAMES)"
    ))
}

/// The metric names a PromQL expression selects: identifiers outside strings, label matchers,
/// range brackets and label lists, that are neither keywords nor called as functions.
fn metric_names(expr: &str) -> Vec<String> {
    // Keywords, and aggregation operators (which may be followed by `by (…)` rather than `(`).
    const KEYWORDS: &str = "by without on ignoring group_left group_right bool and or unless \
        offset inf nan atan2 sum min max avg group stddev stdvar count count_values bottomk topk \
        quantile limitk limit_ratio";
    const LABEL_LISTS: &str = "by without on ignoring group_left group_right";
    let is = |list: &str, ident: &str| list.split_whitespace().any(|k| k == ident);
    let b = expr.as_bytes();
    let skip_string = |mut i: usize| -> usize {
        let quote = b[i];
        i += 1;
        while i < b.len() && b[i] != quote {
            if b[i] == b'\\' && quote != b'`' {
                i += 1;
            }
            i += 1;
        }
        i + 1
    };
    let skip_to = |mut i: usize, close: u8| -> usize {
        while i < b.len() && b[i] != close {
            if matches!(b[i], b'"' | b'\'' | b'`') {
                i = skip_string(i);
            } else {
                i += 1;
            }
        }
        i + 1
    };
    let next_non_space = |mut i: usize| -> Option<u8> {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        b.get(i).copied()
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_string(i);
        } else if c == b'{' {
            i = skip_to(i, b'}');
        } else if c == b'[' {
            i = skip_to(i, b']');
        } else if c == b'#' {
            i = skip_to(i, b'\n');
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            // Numbers and durations: 0.95, 1e-3 (the `-3` lexes apart, harmlessly), 5m, 0x1f.
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let ident = &expr[start..i];
            let next = next_non_space(i);
            if is(LABEL_LISTS, ident) && next == Some(b'(') {
                i = skip_to(i, b')');
            } else if is(KEYWORDS, ident) || next == Some(b'(') {
                // A keyword, or a function or aggregation being called.
            } else {
                out.push(ident.to_owned());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The metric names of a Grafana Prometheus variable query: `label_values(METRIC_SELECTOR, label)`,
/// `metrics(…)`, `query_result(EXPR)`, or a plain series selector.
fn variable_query_names(query: &str) -> Vec<String> {
    let q = query.trim();
    if let Some(args) = q
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
    {
        // The selector is everything before the last comma (a selector may contain commas).
        let selector = args.rsplit_once(',').map_or(args, |(s, _)| s);
        return metric_names(selector);
    }
    if let Some(e) = q
        .strip_prefix("query_result(")
        .and_then(|s| s.strip_suffix(')'))
    {
        return metric_names(e);
    }
    metric_names(q)
}

/// One PromQL expression found in the dashboard or the rules, with where it came from.
pub(crate) struct Expr {
    pub(crate) at: String,
    pub(crate) expr: String,
}

/// Every `expr` of every panel target and annotation, with the panel's title.
pub(crate) fn dashboard_exprs(d: &Value) -> Vec<Expr> {
    fn walk(v: &Value, at: &str, out: &mut Vec<Expr>) {
        match v {
            Value::Object(m) => {
                let at = match m.get("title").and_then(Value::as_str) {
                    Some(t) => format!("{DASHBOARD}: panel {t:?}"),
                    None => at.to_owned(),
                };
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", Value::String(s)) => out.push(Expr {
                            at: at.clone(),
                            expr: s.clone(),
                        }),
                        // Variables are checked by `variable_queries`.
                        ("templating", _) => {}
                        _ => walk(v, &at, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, at, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(d, DASHBOARD, &mut out);
    out
}

/// The query variables: name → query strings (`definition`, and `query` as a string or object).
pub(crate) fn variable_queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in d["templating"]["list"].as_array().expect("templating.list") {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or("?").to_owned();
        for q in [&v["definition"], &v["query"], &v["query"]["query"]] {
            if let Some(s) = q.as_str().filter(|s| !s.is_empty()) {
                out.push((name.clone(), s.to_owned()));
            }
        }
    }
    out
}

/// The rules of a Prometheus rules file, read with a line parser (no YAML crate here): for each
/// `- alert:`/`- record:` entry, its name and its `expr` (plain, quoted, or a `|`/`>` block).
pub(crate) fn rule_exprs(text: &str) -> Vec<Expr> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut rule = String::from("?");
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        let indent = line.len() - t.len();
        i += 1;
        if let Some(name) = t
            .strip_prefix("- alert:")
            .or_else(|| t.strip_prefix("- record:"))
        {
            rule = name.trim().to_owned();
            continue;
        }
        let Some(value) = t.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        let expr = if value.starts_with('|') || value.starts_with('>') {
            let mut block = Vec::new();
            while i < lines.len() {
                let l = lines[i];
                let lt = l.trim_start();
                if !lt.is_empty() && l.len() - lt.len() <= indent {
                    break;
                }
                block.push(lt);
                i += 1;
            }
            block.join("\n")
        } else if let Some(q) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            q.replace("\\\"", "\"").replace("\\\\", "\\")
        } else if let Some(q) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            q.replace("''", "'")
        } else {
            value.to_owned()
        };
        out.push(Expr {
            at: format!("{RULES}: {rule}"),
            expr,
        });
    }
    out
}

/// GitHub's anchor for a Markdown heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn the_promql_lexer_finds_metric_names_only() {
    let names = |e: &str| metric_names(e);
    assert_eq!(
        names(
            r#"histogram_quantile(0.95, sum by (le, model) (rate(driftd_label_delay_seconds_bucket{model=~"$model"}[5m])))"#
        ),
        ["driftd_label_delay_seconds_bucket"]
    );
    assert_eq!(
        names(
            "0 * max by (model, feature, test) (a{x=\"}\"}) + on (model, feature) group_left max by (model, feature) (b)"
        ),
        ["a", "b"]
    );
    assert_eq!(
        names("count(x == 1) or vector(0) and on(job) y offset 5m unless z > bool 1e-3"),
        ["x", "y", "z"]
    );
    assert_eq!(
        names("sum(rate(a[5m])) by (model) / ignoring(kind) group_right(model) c"),
        ["a", "c"]
    );
    assert_eq!(
        names("time() - process_start_time_seconds"),
        ["process_start_time_seconds"]
    );
    assert_eq!(
        variable_query_names(r#"label_values(driftd_events_total{kind="a,b"}, model)"#),
        ["driftd_events_total"]
    );
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x > 1\n        for: 1m\n      - alert: B\n        expr: |\n          sum(y)\n            / sum(z)\n        labels: {}\n      - record: r:c\n        expr: \"w{a=\\\"b\\\"}\"\n";
    let parsed: Vec<(String, String)> = rule_exprs(rules)
        .into_iter()
        .map(|e| (e.at, e.expr))
        .collect();
    assert_eq!(
        parsed,
        [
            (format!("{RULES}: A"), "x > 1".to_owned()),
            (format!("{RULES}: B"), "sum(y)\n/ sum(z)".to_owned()),
            (format!("{RULES}: r:c"), r#"w{a="b"}"#.to_owned()),
        ]
    );
    assert_eq!(slug("Low label coverage"), "low-label-coverage");
}

#[test]
fn every_metric_in_the_dashboard_and_the_rules_is_in_the_catalogue() {
    let types = catalogue_types();
    let d = dashboard();
    let mut problems = Vec::new();
    let mut shown = BTreeSet::new();
    let exprs = dashboard_exprs(&d);
    assert!(
        exprs.len() > 40,
        "only {} dashboard expressions",
        exprs.len()
    );
    for e in &exprs {
        let names = metric_names(&e.expr);
        if names.is_empty() && !e.expr.contains("vector(") {
            problems.push(format!("{}: no metric in {:?}", e.at, e.expr));
        }
        for n in names {
            match family(&n, &types) {
                Ok(f) => {
                    shown.insert(f.to_owned());
                }
                Err(why) => problems.push(format!("{}: {why}", e.at)),
            }
        }
    }
    let vars = variable_queries(&d);
    assert!(!vars.is_empty(), "no query variables");
    for (var, q) in &vars {
        let names = variable_query_names(q);
        if names.is_empty() {
            problems.push(format!("{DASHBOARD}: variable {var}: no metric in {q:?}"));
        }
        for n in names {
            if let Err(why) = family(&n, &types) {
                problems.push(format!("{DASHBOARD}: variable {var}: {why}"));
            }
        }
    }
    let rules = rule_exprs(&read(RULES));
    assert!(rules.len() >= 11, "only {} rules in {RULES}", rules.len());
    for e in &rules {
        let names = metric_names(&e.expr);
        if names.is_empty() {
            problems.push(format!("{}: no metric in {:?}", e.at, e.expr));
        }
        for n in names {
            if let Err(why) = family(&n, &types) {
                problems.push(format!("{}: {why}", e.at));
            }
        }
    }
    // The other way round: every catalogue metric has a panel, so a new metric comes with one.
    for name in Metrics::NAMES {
        if !shown.contains(*name) {
            problems.push(format!(
                "{name} is in the catalogue but no panel of {DASHBOARD} shows it"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_dashboard_is_a_grafana_model_with_datasource_and_model_variables() {
    let d = dashboard();
    assert_eq!(d["uid"], "driftd-overview");
    assert_eq!(d["title"], "driftd");
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(
        d["id"].is_null(),
        "a provisioned dashboard has no numeric id"
    );

    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no {name} variable"))
    };
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let model = var("model");
    assert_eq!(model["type"], "query");
    assert_eq!(model["multi"], true);
    assert_eq!(model["includeAll"], true);
    assert_eq!(
        model["definition"],
        "label_values(driftd_events_total, model)"
    );
    assert_eq!(
        model["datasource"],
        serde_json::json!({"type": "prometheus", "uid": "${datasource}"})
    );

    let panels = d["panels"].as_array().expect("panels");
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Fleet overview",
        "Feature drift",
        "Accuracy & labels",
        "Predictions",
        "Intake",
    ] {
        assert!(rows.contains(&want), "no row {want:?} (rows: {rows:?})");
    }

    // Unique ids, and a layout on Grafana's 24-column grid without overlaps.
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(&str, u64, u64, u64, u64)> = Vec::new();
    for p in panels {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(
            p["panels"].as_array().is_none_or(Vec::is_empty) || p["collapsed"] == true,
            "{title}: an expanded row keeps its panels at the top level"
        );
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "{title}: duplicate panel id {id}");
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
            g[k].as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        });
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: gridPos {g}");
        for (other, ox, oy, ow, oh) in &boxes {
            let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
            assert!(!overlap, "panels {title:?} and {other:?} overlap");
        }
        boxes.push((title, x, y, w, h));
    }
}

#[test]
fn every_panel_queries_through_the_datasource_variable() {
    let d = dashboard();
    let want = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let mut problems = Vec::new();
    let mut queried = 0;
    for p in d["panels"].as_array().expect("panels") {
        let title = p["title"].as_str().unwrap_or("?");
        if p["type"] == "row" {
            if !p["datasource"].is_null() && p["datasource"] != want {
                problems.push(format!("row {title:?}: datasource {}", p["datasource"]));
            }
            continue;
        }
        if p["datasource"] != want {
            problems.push(format!("panel {title:?}: datasource {}", p["datasource"]));
        }
        let targets = p["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("panel {title:?}: no query"));
        }
        for t in targets {
            if !t["datasource"].is_null() && t["datasource"] != want {
                problems.push(format!(
                    "panel {title:?} query {}: datasource {}",
                    t["refId"], t["datasource"]
                ));
            }
            if t["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                problems.push(format!("panel {title:?} query {}: no expr", t["refId"]));
            }
        }
        queried += 1;
    }
    assert!(queried > 20, "only {queried} panels with queries");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `$model` is the only Grafana variable in expressions (no `$__rate_interval`, `$__range`…), so
/// `model=~".*"` turns each into plain PromQL that Prometheus can evaluate; promtool parses them all
/// (as recording rules of a scratch file).
#[test]
fn dashboard_expressions_are_valid_promql() {
    let d = dashboard();
    let exprs = dashboard_exprs(&d);
    let mut problems = Vec::new();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let plain = e.expr.replace("$model", ".*");
        if plain.contains('$') {
            problems.push(format!(
                "{}: only $model may appear in expressions: {:?}",
                e.at, e.expr
            ));
        }
        rules.push_str(&format!(
            "      - record: driftd_dashboard:expr_{i}\n        expr: {}\n",
            serde_json::to_string(&plain).unwrap()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-exprs.yml");
    std::fs::write(&path, &rules).unwrap();
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("run promtool");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    eprintln!("$ promtool check rules <every dashboard expression>\n{text}");
    let index: Vec<String> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("driftd_dashboard:expr_{i}: {}: {}", e.at, e.expr))
        .collect();
    assert!(
        out.status.success() && text.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "promtool rejects a dashboard expression:\n{text}\n{}",
        index.join("\n")
    );
}

#[test]
fn the_rules_and_the_scrape_config_pass_promtool() {
    let out = run_promtool(&["check", "rules", "--lint=all", "--lint-fatal", RULES]);
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run_promtool(&["test", "rules", RULES_TESTS]);
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run_promtool(&["check", "config", PROMETHEUS_CONFIG]);
    assert!(
        out.contains("is valid prometheus config file syntax"),
        "{out}"
    );
    let config = read(PROMETHEUS_CONFIG);
    for want in ["job_name: driftd", "localhost:9464", "driftd-rules.yml"] {
        assert!(config.contains(want), "{PROMETHEUS_CONFIG} lacks {want}");
    }
}

/// Every alert has a severity, a summary, a description and a runbook link to a placeholder host
/// whose anchor is a heading of `dashboards/README.md`; every alert has a unit test.
#[test]
fn every_alert_is_labelled_annotated_tested_and_has_a_runbook() {
    let rules = read(RULES);
    let tests = read(RULES_TESTS);
    let readme = read(README);
    let anchors: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(slug)
        .collect();
    let mut alerts: Vec<(String, String)> = Vec::new();
    for line in rules.lines() {
        match line.trim_start().strip_prefix("- alert:") {
            Some(name) => alerts.push((name.trim().to_owned(), String::new())),
            None => {
                if let Some((_, body)) = alerts.last_mut() {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(alerts.len() >= 11, "only {} alerts", alerts.len());
    let mut problems = Vec::new();
    for (name, body) in &alerts {
        let field = |k: &str| {
            body.lines()
                .find_map(|l| l.trim_start().strip_prefix(k))
                .map(|v| v.trim().trim_matches('"').to_owned())
        };
        match field("severity:").as_deref() {
            Some("critical" | "warning" | "info") => {}
            other => problems.push(format!("{name}: severity {other:?}")),
        }
        for k in ["summary:", "description:"] {
            if field(k).is_none_or(|v| v.is_empty()) {
                problems.push(format!("{name}: no {k}"));
            }
        }
        match field("runbook_url:") {
            Some(url) => match url.strip_prefix(RUNBOOK) {
                Some(anchor) if anchors.contains(anchor) => {}
                Some(anchor) => problems.push(format!(
                    "{name}: runbook anchor #{anchor} is not a ### heading of {README}"
                )),
                None => problems.push(format!("{name}: runbook_url {url} is not under {RUNBOOK}")),
            },
            None => problems.push(format!("{name}: no runbook_url")),
        }
        if !tests.contains(&format!("alertname: {name}\n")) {
            problems.push(format!("{name}: no test in {RULES_TESTS}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn grafana_provisioning_points_at_prometheus_and_the_documented_path() {
    let ds = read("dashboards/provisioning/datasources/driftd.yaml");
    for want in [
        "apiVersion: 1",
        "type: prometheus",
        "url: http://localhost:9090",
        "editable: true",
    ] {
        assert!(ds.contains(want), "datasource provisioning lacks {want:?}");
    }
    let provider = read("dashboards/provisioning/dashboards/driftd.yaml");
    let path = provider
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("path:"))
        .map(str::trim)
        .expect("dashboard provider has a path");
    assert!(provider.contains("type: file"));
    assert!(
        read(README).contains(path),
        "{README} does not document the dashboard path {path}"
    );
}
