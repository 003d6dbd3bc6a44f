//! The review queue over real HTTP (issue: human in the loop): a running `driftd run` offers two
//! experts different predictions to label, each claimed for a while; a claim that expires
//! returns its item; the experts' labels go through `POST /v1/feedback`, carry their token's name
//! as the source, take the items out of the queue, move coverage, and a second label of the same
//! prediction by the other expert is counted as agreement or disagreement.

use std::collections::BTreeSet;
use std::time::Duration;

use driftd::offline::streams::{StreamKind, StreamSpec, generate};
use serde_json::Value as Json;

use crate::harness::*;

fn ureq_get(url: &str, token: &str) -> (u16, Json) {
    let (code, body) = http_get_auth(url, token);
    (code, serde_json::from_str(&body).unwrap_or(Json::Null))
}

fn ids(v: &Json) -> BTreeSet<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Two experts' tokens (both of role `feedback`).
const ANA: &str = "review-token-ana-0123456789";
const BEN: &str = "review-token-ben-0123456789";

/// A `driftd run` that has applied 12,000 predictions of the covariate-shift stream and no label
/// (every one waits for its label), with the experts' tokens and `extra` TOML appended.
fn running_with_predictions(extra: &str) -> (tempfile::TempDir, Driftd, String) {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&StreamSpec::new(StreamKind::CovariateShift).events(12_000)).unwrap();
    let events = dir.path().join("events.jsonl");
    write_lines(&events, &s.predictions);
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"

[[http.tokens]]
name = "ana"
role = "feedback"
token = {{ value = "{ANA}" }}

[[http.tokens]]
name = "ben"
role = "feedback"
token = {{ value = "{BEN}" }}

[source]
kind = "file"
path = "{}"
follow = true
{extra}
"#,
        events.display()
    );
    let d = Driftd::start(dir.path(), &cfg, &[]);
    wait_for("every prediction applied", Duration::from_secs(300), || {
        let m = d.metrics()?;
        (m.sum("driftd_events_total", &[("kind", "prediction")]) >= s.predictions.len() as f64)
            .then_some(())
    });
    (dir, d, s.model)
}

#[test]
fn two_experts_get_different_items_claims_expire_and_their_labels_reach_the_monitor() {
    let (_dir, d, model) = running_with_predictions("[monitor.review]\nclaim_seconds = 2");
    let (ana, ben) = (ANA, BEN);
    let model = model.as_str();
    let url = format!("{}/v1/models/{model}/review?limit=5", d.base());
    let (code, a) = ureq_get(&url, ana);
    assert_eq!(code, 200, "{a}");
    let queued = a["queue"]["items"].as_u64().unwrap();
    assert!(queued >= 10, "about 1 % of 2,000 waiting predictions: {a}");
    let a_ids = ids(&a);
    assert_eq!(a_ids.len(), 5);
    for item in a["items"].as_array().unwrap() {
        assert!(item["features"]["num_0"].is_number(), "{item}");
        assert!(item["prediction"]["score"].is_number());
        assert!(!item["reasons"].as_array().unwrap().is_empty());
        let pi = item["inclusion_probability"].as_f64().unwrap();
        assert!(pi > 0.0 && pi <= 1.0);
        assert!(item["claimed_until"].is_string());
    }
    // The items come most worth a label first.
    let weights: Vec<f64> = a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["weight"].as_f64().unwrap())
        .collect();
    assert!(weights.windows(2).all(|w| w[0] >= w[1]), "{weights:?}");
    // Two experts at once: different items.
    let (_, b) = ureq_get(&url, ben);
    let b_ids = ids(&b);
    assert!(!b_ids.is_empty());
    assert!(a_ids.is_disjoint(&b_ids), "{a_ids:?} {b_ids:?}");
    // A skip gives one back at once; an expired claim gives the rest back.
    let skipped = a_ids.iter().next().unwrap().clone();
    let (code, body) = http_post(
        &format!("{}/v1/models/{model}/review/{skipped}/release", d.base()),
        Some(ana),
        b"",
    );
    assert_eq!((code, body.contains("true")), (200, true), "{body}");
    wait_for(
        "ana's claims expire and ben is offered her items",
        Duration::from_secs(30),
        || {
            let (_, b2) = ureq_get(
                &format!("{}/v1/models/{model}/review?limit=50", d.base()),
                ben,
            );
            ids(&b2).is_superset(&a_ids).then_some(())
        },
    );

    // Ana labels her five (no `source`: her token's name is).
    let labels: Vec<String> = a_ids
        .iter()
        .map(|id| {
            format!(r#"{{"kind":"feedback","id":"{id}","model":"{model}","ts":"2026-01-01T01:00:00Z","label":"1"}}"#)
        })
        .collect();
    let (code, body) = http_post(
        &format!("{}/v1/feedback", d.base()),
        Some(ana),
        format!("[{}]", labels.join(",")).as_bytes(),
    );
    assert_eq!(code, 202, "{body}");
    let (_, after) = ureq_get(&url, ana);
    assert_eq!(after["labels"]["labelled"], 5);
    assert_eq!(after["labels"]["today"], 5, "all on one day (event time)");
    assert_eq!(after["labels"]["by_source"]["ana"], 5);
    assert!(after["labels"]["coverage"].as_f64().unwrap() > 0.0);
    let interval = after["labels"]["accuracy_interval"].as_array().unwrap();
    assert!(interval[0].as_f64().unwrap() <= interval[1].as_f64().unwrap());
    assert_eq!(
        after["queue"]["items"].as_u64().unwrap(),
        queued - 5,
        "labelled items leave the queue"
    );
    // Ben labels one of them again, differently: a disagreement.
    let again = a_ids.iter().next().unwrap();
    let (code, _) = http_post(
        &format!("{}/v1/feedback", d.base()),
        Some(ben),
        format!(r#"{{"kind":"feedback","id":"{again}","model":"{model}","ts":"2026-01-01T01:00:00Z","label":"0"}}"#).as_bytes(),
    );
    assert_eq!(code, 202);
    let m = wait_for("the labels' metrics", Duration::from_secs(30), || {
        let m = d.metrics()?;
        (m.sum(
            "driftd_label_agreement_total",
            &[("model", model), ("outcome", "disagree")],
        ) == 1.0)
            .then_some(m)
    });
    assert_eq!(
        m.sum(
            "driftd_labels_by_source_total",
            &[("model", model), ("source", "ana")]
        ),
        5.0
    );
    assert_eq!(
        m.sum(
            "driftd_labels_by_source_total",
            &[("model", model), ("source", "ben")]
        ),
        1.0
    );
    assert!(m.sum("driftd_review_queue_items", &[("model", model)]) >= 1.0);
    // Not for tokens of other roles, nor for a model never seen.
    assert_eq!(http_get(&url).map(|r| r.0), Some(401));
    let (code, _) = ureq_get(&format!("{}/v1/models/nobody/review", d.base()), ana);
    assert_eq!(code, 404);
}

/// An expert at `/review` in Debian's Chromium, driven by Playwright: gives her token, labels
/// five predictions with the keyboard, and the labels reach the monitor with her name as their
/// source; a screenshot goes to `target/e2e-artifacts/review-page.png`.
#[test]
fn an_expert_labels_five_items_with_the_keyboard_on_the_review_page() {
    let (_dir, d, model) = running_with_predictions("");
    let (token, model) = (ANA, model.as_str());
    let shots = repo_root().join("target/e2e-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("review-page.png");
    let out = std::process::Command::new("node")
        .arg(repo_root().join("tests/tools/review_page.cjs"))
        .args([&d.base(), token, "5"])
        .arg(&shot)
        .env(
            "DRIFTD_NODE_MODULES",
            repo_root().join(".testbed/node/node_modules"),
        )
        .env(
            "DRIFTD_CHROMIUM",
            find_tool(
                "DRIFTD_CHROMIUM",
                &["chromium", "chromium-browser"],
                "run scripts/test.sh",
            ),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the page test failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&d.log_text(), 20)
    );
    let said: Json = serde_json::from_slice(&out.stdout).unwrap();
    let labelled: BTreeSet<String> = said["labelled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(labelled.len(), 5, "five different items: {said}");
    assert_eq!(said["given"], "5");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    // The labels reached the monitor, from her.
    let (_, v) = ureq_get(&format!("{}/v1/models/{model}/review", d.base()), token);
    assert_eq!(v["labels"]["labelled"], 5, "{v}");
    assert_eq!(v["labels"]["by_source"]["ana"], 5);
    assert_eq!(v["labels"]["today"], 5);
    assert!(v["labels"]["coverage"].as_f64().unwrap() > 0.0);
    assert!(
        ids(&v).is_disjoint(&labelled),
        "labelled items left the queue"
    );
    // The page itself is open and fetches nothing.
    let (code, page) = http_get(&format!("{}/review", d.base())).unwrap();
    assert_eq!(code, 200);
    assert!(!page.contains("src=") && page.contains("<label for=\"token\">"));
}

/// `driftd replay --label-budget 0.02` on the project's concept-drift stream: the review queue's
/// choice (uncertainty, drifting regions, a random share) finds the concept drift sooner than
/// labelling the same number of predictions at random.
#[test]
fn a_labelling_budget_spent_by_the_review_policy_finds_concept_drift_sooner_than_at_random() {
    use driftd::offline::streams::write_to_dir;
    let dir = tempfile::tempdir().unwrap();
    let kind = StreamKind::Concept;
    let name = kind.name();
    let stream = generate(&StreamSpec::new(kind).events(100_000)).unwrap();
    write_to_dir(&stream, dir.path(), name).unwrap();
    let run = |policy: &str| -> (u64, f64) {
        let report = dir.path().join(format!("{policy}.jsonl"));
        crate::replay::exec_replay(
            dir.path(),
            &[
                "--events",
                &format!("{name}.predictions.jsonl"),
                "--feedback",
                &format!("{name}.feedback.jsonl"),
                "--truth",
                &format!("{name}.truth.json"),
                "--label-budget",
                "0.02",
                "--label-policy",
                policy,
            ],
            &report,
        );
        let (_, summary) = crate::replay::read_report(&report);
        let b = &summary["backtest"]["summary"];
        assert_eq!(b["detected"], 1, "{policy}: {summary}");
        assert_eq!(b["false_alarms"], 0, "{policy}: {summary}");
        let labelled = summary["models"][name]["labelled"].as_u64().unwrap();
        (labelled, b["mean_delay_events"].as_f64().unwrap())
    };
    let (review_labels, review_delay) = run("review");
    let (random_labels, random_delay) = run("random");
    // The same budget: about 2 % of 100,000 predictions each.
    for n in [review_labels, random_labels] {
        assert!((1_700..=2_300).contains(&n), "{n} labels");
    }
    assert!(
        review_delay < random_delay,
        "review {review_delay} predictions after the drift, random {random_delay}"
    );
    eprintln!("labels {review_labels} / {random_labels}; delay {review_delay} / {random_delay}");
}
