//! The dashboard and the alerting rules against a real Prometheus (Debian's `prometheus` package)
//! scraping a running driftd.
//!
//! driftd consumes two seeded streams of the project's generator from a real Kafka-protocol broker
//! (tansu, fed by kafka-python): `covariate_shift` (data and prediction drift) and `concept` (concept
//! drift and an accuracy drop, visible only through labels). Prometheus scrapes driftd every second
//! and evaluates `dashboards/prometheus/driftd-rules.yml` every second. Then every expression of
//! `dashboards/driftd.json` (with `$model` → `.*`, as in `dashboards.rs`), its `label_values`
//! variable, and every rule is evaluated through Prometheus' HTTP API, and each must return at least
//! one sample with a finite value.
//!
//! Alerting rules are `<query> <comparison> <threshold>` (see `dashboards/README.md`). The whole
//! expression is empty whenever the condition is false — `up{job="driftd"} == 0` is empty while
//! driftd is up, which is the healthy case this test sets up — so for an alert it is the *query
//! part* that must return data, and the whole expression only has to be accepted by Prometheus
//! (`status: success`). `/api/v1/rules` must also show every rule of the file loaded and healthy.
//!
//! No expression is exempt: the test feeds what each needs. The stable half of both streams is
//! consumed and scraped before the drifting half, so that counters move between scrapes (the first
//! sample of a counter is never an increase), the labels arrive in two batches on either side of a
//! scrape (label-delay histogram), one malformed event is rejected and dead-lettered, one label comes
//! over HTTP, and driftd gets one SIGHUP (configuration reloads).
//!
//! A missing `prometheus` binary fails the test (run `scripts/test.sh`, which installs it); nothing
//! skips. `DRIFTD_PROMETHEUS` overrides the binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dashboards::{RULES, dashboard, dashboard_exprs, read, rule_exprs, variable_queries};
use crate::harness::*;

const TOKEN: &str = "prometheus-test-token-0123456789";
/// Prediction events per stream; each drifts at half of it.
const EVENTS: usize = 6_000;
/// How long each expression may take to return data once the stream is consumed (rates need two
/// scrapes of a moved counter; `increase` of a new onset series needs two scrapes of it).
const QUERY_DEADLINE: Duration = Duration::from_secs(60);

/// `prometheus`: `DRIFTD_PROMETHEUS`, else the one on `PATH`. Missing → the test fails.
fn prometheus_bin() -> PathBuf {
    crate::harness::find_tool(
        "DRIFTD_PROMETHEUS",
        &["prometheus"],
        "Run scripts/test.sh, which installs Debian's prometheus package, or: sudo apt-get \
         install prometheus (then stop its system service)",
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A Prometheus server of its own: temp config and storage, loopback port, killed on drop.
struct Prometheus {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
}

impl Prometheus {
    /// Scrapes `targets` (`host:port`) as job `driftd` every second and evaluates `rules` every
    /// second.
    fn start(targets: &[String], rules: &Path) -> Prometheus {
        let target = targets
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let bin = prometheus_bin();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: driftd\n    static_configs:\n      - targets: [{target}]\n",
                rules = serde_json::to_string(&rules.display().to_string()).unwrap(),
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut p = Prometheus {
            child: Some(child),
            port,
            dir,
            agent: agent(),
        };
        wait_for("Prometheus to be ready", Duration::from_secs(60), || {
            if let Some(c) = p.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("prometheus exited ({status}):\n{}", p.log());
            }
            matches!(http_get(&format!("{}/-/ready", p.base())), Some((200, _))).then_some(())
        });
        p
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GET an API path with (URL-encoded) query parameters; the JSON body, whatever the status
    /// (Prometheus answers 400/422 with `status: error` and the reason).
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let mut req = self.agent.get(format!("{}{path}", self.base()));
        for (k, v) in params {
            req = req.query(*k, *v);
        }
        let mut resp = req.call().map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        serde_json::from_str(&body).map_err(|e| format!("HTTP {status}: {e}: {body}"))
    }

    /// An instant query at the current time.
    fn query(&self, expr: &str) -> Result<Value, String> {
        self.api("/api/v1/query", &[("query", expr)])
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- prometheus log (tail) ---\n{}", tail(&self.log(), 30));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether a successful query response holds at least one sample with a finite value; otherwise
/// why not.
fn has_finite_data(resp: &Value) -> Result<(), String> {
    if resp["status"] != "success" {
        return Err(format!("query failed: {resp}"));
    }
    let data = &resp["data"];
    let values: Vec<&Value> = match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .map(|a| a.iter().map(|s| &s["value"][1]).collect())
            .unwrap_or_default(),
        Some("scalar") => vec![&data["result"][1]],
        Some("matrix") => data["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .flat_map(|s| s["values"].as_array().into_iter().flatten())
                    .map(|v| &v[1])
                    .collect()
            })
            .unwrap_or_default(),
        _ => return Err(format!("unexpected result: {data}")),
    };
    if values.is_empty() {
        return Err("empty result".to_owned());
    }
    let finite = values
        .iter()
        .filter_map(|v| v.as_str())
        .filter_map(|s| s.parse::<f64>().ok())
        .any(f64::is_finite);
    if finite {
        Ok(())
    } else {
        Err(format!("no finite value: {}", data["result"]))
    }
}

#[test]
fn data_means_a_sample_with_a_finite_value() {
    let resp = |t: &str, r: &str| -> Value {
        serde_json::from_str(&format!(
            r#"{{"status":"success","data":{{"resultType":"{t}","result":{r}}}}}"#
        ))
        .unwrap()
    };
    let sample = |v: &str| format!(r#"{{"metric":{{}},"value":[1.5,"{v}"]}}"#);
    assert!(has_finite_data(&resp("vector", &format!("[{}]", sample("0")))).is_ok());
    assert!(
        has_finite_data(&resp(
            "vector",
            &format!("[{},{}]", sample("NaN"), sample("0.25"))
        ))
        .is_ok()
    );
    assert!(has_finite_data(&resp("scalar", r#"[1.5,"3"]"#)).is_ok());
    assert!(has_finite_data(&resp("vector", "[]")).is_err());
    assert!(has_finite_data(&resp("vector", &format!("[{}]", sample("NaN")))).is_err());
    assert!(has_finite_data(&resp("vector", &format!("[{}]", sample("+Inf")))).is_err());
    let failed: Value =
        serde_json::from_str(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#)
            .unwrap();
    assert!(has_finite_data(&failed).is_err());
}

/// Splits an alerting rule `<query> <comparison> <threshold>` at its last comparison operator
/// outside brackets and strings, when the right-hand side is a number: `(query, op, threshold)`.
fn split_comparison(expr: &str) -> Option<(&str, &str, f64)> {
    let b = expr.as_bytes();
    let mut depth = 0i32;
    let mut last = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            c @ (b'=' | b'!' | b'<' | b'>') if depth == 0 => {
                let eq = b.get(i + 1) == Some(&b'=');
                let len = match (c, eq) {
                    (b'=' | b'!', true) => 2,
                    (b'<' | b'>', true) => 2,
                    (b'<' | b'>', false) => 1,
                    _ => 0,
                };
                if len > 0 {
                    last = Some((i, len));
                    i += len;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let (at, len) = last?;
    let threshold = expr[at + len..].trim().parse::<f64>().ok()?;
    Some((expr[..at].trim(), &expr[at..at + len], threshold))
}

#[test]
fn split_comparison_finds_the_query_of_an_alert() {
    assert_eq!(
        split_comparison(r#"up{job="driftd"} == 0"#),
        Some((r#"up{job="driftd"}"#, "==", 0.0))
    );
    assert_eq!(
        split_comparison("sum by (a) (rate(x{y=~\"a>b\"}[10m]))\n  / (\n  sum(z) + 1\n)\n  > 0.05"),
        Some((
            "sum by (a) (rate(x{y=~\"a>b\"}[10m]))\n  / (\n  sum(z) + 1\n)",
            ">",
            0.05
        ))
    );
    assert_eq!(
        split_comparison("max by (model) (m{metric=\"accuracy\"}) < 0.8"),
        Some(("max by (model) (m{metric=\"accuracy\"})", "<", 0.8))
    );
    assert_eq!(split_comparison("a >= b"), None);
    assert_eq!(split_comparison("sum(rate(x[5m]))"), None);
}

/// The lines of `file`.
fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The index of a generated event from its id (`<stream>-<index>`).
fn index_of(line: &str) -> usize {
    let v: Value = serde_json::from_str(line).unwrap();
    let id = v["id"].as_str().unwrap();
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

/// The two streams split at their drift (half of `EVENTS`): predictions of both models interleaved,
/// and the labels in prediction order (the generator orders them by arrival time, whose delays are
/// long against this short stream; in prediction order the error stream shows its change at once).
struct Feed {
    stable_predictions: Vec<String>,
    stable_feedback: Vec<String>,
    drift_predictions: Vec<String>,
    drift_feedback: Vec<String>,
}

fn feed(dir: &Path, streams: &[&str]) -> Feed {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.args(["streams", "--out-dir"]).arg(dir);
    for s in streams {
        cmd.args(["--stream", s]);
    }
    let out = cmd
        .args(["--events", &EVENTS.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "driftd streams: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let half = EVENTS / 2;
    let mut f = Feed {
        stable_predictions: Vec::new(),
        stable_feedback: Vec::new(),
        drift_predictions: Vec::new(),
        drift_feedback: Vec::new(),
    };
    let preds: Vec<Vec<String>> = streams
        .iter()
        .map(|s| lines(&dir.join(format!("{s}.predictions.jsonl"))))
        .collect();
    for i in 0..EVENTS {
        for p in &preds {
            let target = if i < half {
                &mut f.stable_predictions
            } else {
                &mut f.drift_predictions
            };
            target.push(p[i].clone());
        }
    }
    for s in streams {
        let mut fb: Vec<(usize, String)> = lines(&dir.join(format!("{s}.feedback.jsonl")))
            .into_iter()
            .map(|l| (index_of(&l), l))
            .collect();
        fb.sort_by_key(|(i, _)| *i);
        for (i, l) in fb {
            if i < half {
                f.stable_feedback.push(l);
            } else {
                f.drift_feedback.push(l);
            }
        }
    }
    f
}

/// Small windows so that drift is evaluated every 1,000 predictions of a model; p-value tests (KS,
/// chi-square) for every feature, so that driftd_drift_p_value has series.
const MONITOR: &str = r#"
[monitor]
reference_events = 1000
window_events = 1000
accuracy_reference_labels = 500
accuracy_window_labels = 500

[monitor.policy]
small_sample_max = 1000000

# The retraining loop's metrics need a loop that moves: retrain `concept` every 2 seconds (the
# first attempts fail for lack of labels, later ones shadow a candidate).
[models.concept.retrain]
schedule = "*/2 * * * * *"
min_examples = 200
on_alerts = []
"#;

/// The value of a single-sample instant query, if it has one.
fn scalar(p: &Prometheus, expr: &str) -> Option<f64> {
    let r = p.query(expr).ok()?;
    r["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_evaluates_every_dashboard_and_rule_expression_with_data() {
    let started = Instant::now();
    let streams = ["covariate_shift", "concept"];
    let broker = Broker::start(false);
    // One partition: the predictions of each model reach its monitor in stream order, so the
    // windows after the stable half hold only drifted events.
    let t = crate::kafka::topics(&broker, 1);
    let (pred, fb) = (t.predictions.clone(), t.feedback.clone());

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("streams");
    let mut f = feed(&data, &streams);
    // One label is posted over HTTP instead (in Kafka mode it goes through the feedback topic).
    let http_label = f.drift_feedback.pop().unwrap();
    let n_predictions = f.stable_predictions.len() + f.drift_predictions.len();
    let n_feedback = f.stable_feedback.len() + f.drift_feedback.len() + 1;
    assert_eq!(n_predictions, 2 * EVENTS);

    let mut d = Driftd::start(
        dir.path(),
        &crate::kafka::kafka_config(&broker, &t, MONITOR),
        &[
            ("DRIFTD_TEST_TOKEN", TOKEN),
            ("DRIFTD_REGISTRY_KEY", crate::registry::KEY),
        ],
    );
    // The serving tier too: `driftd serve` with a trained model, scraped beside `driftd run`.
    let (serve, serve_config) = crate::serve::serving(dir.path());
    let predict = || {
        let body = serde_json::to_string(&crate::serve::item(0.5)).unwrap();
        let (status, resp) = serve.predict("churn", Some(crate::serve::TOKEN), &body);
        assert_eq!(status, 200, "{resp}");
    };
    predict();
    let rules_file = repo_root().join(RULES);
    let serve_target = serve.base.trim_start_matches("http://").to_owned();
    let p = Prometheus::start(
        &[format!("127.0.0.1:{}", d.http_port), serve_target],
        &rules_file,
    );
    eprintln!(
        "[{:>5.1}s] broker, driftd and prometheus up",
        started.elapsed().as_secs_f64()
    );

    // The stable half, then wait until Prometheus has scraped its effect: every counter then has
    // a sample before the drifting half moves it.
    let file = |name: &str, l: &[String]| {
        let path = dir.path().join(name);
        write_lines(&path, l);
        path
    };
    let stable = f.stable_predictions.len() + f.stable_feedback.len();
    produce(
        &broker.bootstrap(),
        &pred,
        &file("stable.predictions.jsonl", &f.stable_predictions),
    );
    produce(
        &broker.bootstrap(),
        &fb,
        &file("stable.feedback.jsonl", &f.stable_feedback),
    );
    wait_for(
        "Prometheus to scrape the stable half",
        Duration::from_secs(90),
        || (scalar(&p, "sum(driftd_events_total)")? >= stable as f64).then_some(()),
    );
    eprintln!(
        "[{:>5.1}s] stable half ({stable} events) consumed and scraped",
        started.elapsed().as_secs_f64()
    );

    // The serving tier moves too: predictions, and a promotion the server swaps to.
    predict();
    crate::serve::promote_retrying(&serve_config, "churn", "2");
    wait_for(
        "driftd serve to swap to v2",
        Duration::from_secs(30),
        || {
            (serve
                .metrics()
                .sum("driftd_model_swaps_total", &[("model", "churn")])
                >= 1.0)
                .then_some(())
        },
    );
    predict();

    // The drifting half, one malformed event, one label over HTTP, one configuration reload.
    d.signal("HUP");
    let (bad, reason) = malformed(2);
    f.drift_predictions
        .insert(f.drift_predictions.len() / 2, bad);
    produce(
        &broker.bootstrap(),
        &pred,
        &file("drift.predictions.jsonl", &f.drift_predictions),
    );
    let (status, body) = http_post(
        &format!("{}/v1/feedback", d.base()),
        Some(TOKEN),
        http_label.as_bytes(),
    );
    assert_eq!(status, 202, "{body}");
    produce(
        &broker.bootstrap(),
        &fb,
        &file("drift.feedback.jsonl", &f.drift_feedback),
    );
    let m = wait_for(
        "driftd to consume the drifting half",
        Duration::from_secs(120),
        || {
            let m = d.metrics()?;
            let done = m.sum("driftd_events_total", &[("kind", "prediction")])
                >= n_predictions as f64
                && m.sum("driftd_events_total", &[("kind", "feedback")]) >= n_feedback as f64
                && m.sum("driftd_events_rejected_total", &[]) >= 1.0;
            done.then_some(m)
        },
    );
    eprintln!(
        "[{:>5.1}s] drifting half consumed",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        m.sum("driftd_events_total", &[("kind", "prediction")]),
        n_predictions as f64
    );
    assert_eq!(
        m.sum("driftd_events_total", &[("kind", "feedback")]),
        n_feedback as f64
    );
    assert_eq!(
        m.sum("driftd_events_rejected_total", &[("reason", reason)]),
        1.0
    );
    assert_eq!(
        m.sum("driftd_config_reloads_total", &[("outcome", "ok")]),
        1.0
    );
    // What the expressions below need from the streams: each kind of onset happened. The monitors
    // see events in event time: the last ones are released once every partition has been caught
    // up and silent for `[events.order] idle_timeout` (30 s), so the onsets may come a little after
    // the intake counts.
    let kinds = [
        ("covariate_shift", "data"),
        ("concept", "concept"),
        ("covariate_shift", "prediction"),
        ("concept", "accuracy"),
    ];
    let m = wait_for("an onset of each kind", Duration::from_secs(120), || {
        let m = d.metrics()?;
        kinds
            .iter()
            .all(|(model, kind)| {
                m.sum(
                    "driftd_drift_onsets_total",
                    &[("model", model), ("kind", kind)],
                ) >= 1.0
            })
            .then_some(m)
    });
    assert!(m.has("driftd_drift_p_value"), "no p-value series");

    // Everything to evaluate: (where, PromQL, must return data).
    let d_json = dashboard();
    let mut checks: Vec<(String, String, bool)> = Vec::new();
    for e in dashboard_exprs(&d_json) {
        let plain = e.expr.replace("$model", ".*");
        assert!(
            !plain.contains('$'),
            "{}: only $model may appear in expressions: {:?}",
            e.at,
            e.expr
        );
        checks.push((e.at, plain, true));
    }
    let n_dashboard = checks.len();
    assert!(n_dashboard > 40, "only {n_dashboard} dashboard expressions");

    // The rules as Prometheus loaded them: all of the file's, every one healthy.
    let file_rules = rule_exprs(&read(RULES));
    let loaded = wait_for(
        "every rule to be evaluated and healthy",
        Duration::from_secs(30),
        || {
            let r = p.api("/api/v1/rules", &[]).ok()?;
            let rules: Vec<Value> = r["data"]["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            (rules.len() == file_rules.len() && rules.iter().all(|r| r["health"] == "ok"))
                .then_some(rules)
        },
    );
    for e in &file_rules {
        let name = e.at.rsplit_once(": ").map_or("?", |(_, n)| n);
        let rule = loaded
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{}: not loaded by Prometheus", e.at));
        if rule["type"] == "alerting" {
            // The condition is usually false here (driftd is up, ready, lagging little…), so the
            // whole expression may be empty: it only has to be valid. Its query must return data.
            let (query, _, _) = split_comparison(&e.expr).unwrap_or_else(|| {
                panic!(
                    "{}: not `<query> <comparison> <threshold>`: {:?}",
                    e.at, e.expr
                )
            });
            checks.push((format!("{} (query part)", e.at), query.to_owned(), true));
            checks.push((format!("{} (whole)", e.at), e.expr.clone(), false));
        } else {
            checks.push((e.at.clone(), e.expr.clone(), true));
        }
    }

    // Every check, retried together until each passes or the deadline.
    let deadline = Instant::now() + QUERY_DEADLINE;
    let mut pending: Vec<(String, String, bool, String)> = checks
        .into_iter()
        .map(|(at, q, data)| (at, q, data, String::new()))
        .collect();
    let total = pending.len();
    loop {
        pending.retain_mut(|(_, q, need_data, why)| {
            let outcome = p.query(q).and_then(|r| {
                if *need_data {
                    has_finite_data(&r)
                } else if r["status"] == "success" {
                    Ok(())
                } else {
                    Err(format!("query failed: {r}"))
                }
            });
            match outcome {
                Ok(()) => false,
                Err(e) => {
                    *why = e;
                    true
                }
            }
        });
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        // Rates need the counters to move between two scrapes: on a loaded machine Prometheus'
        // first scrape of `driftd serve` may come after the predictions above, so keep some
        // traffic going while the checks wait.
        predict();
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        pending.is_empty(),
        "{} of {total} expressions returned no data within {QUERY_DEADLINE:?}:\n{}",
        pending.len(),
        pending
            .iter()
            .map(|(at, q, _, why)| format!("- {at}\n  {q}\n  → {why}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "[{:>5.1}s] {total} expressions evaluated ({n_dashboard} from the dashboard, {} rules)",
        started.elapsed().as_secs_f64(),
        file_rules.len()
    );

    // The dashboard's variable, `label_values(SELECTOR, LABEL)`, through the label values API.
    for (var, q) in variable_queries(&d_json) {
        let args = q
            .trim()
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {var}: unsupported query {q:?}"));
        let (selector, label) = args
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("variable {var}: {q:?}"));
        let r = p
            .api(
                &format!("/api/v1/label/{}/values", label.trim()),
                &[("match[]", selector.trim())],
            )
            .unwrap();
        let values: Vec<&str> = r["data"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for s in streams {
            assert!(
                values.contains(&s),
                "variable {var} ({q}): {s} not among {values:?}: {r}"
            );
        }
    }
    eprintln!("[{:>5.1}s] done", started.elapsed().as_secs_f64());
}
