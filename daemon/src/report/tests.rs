//! The report on a generated drift stream: every chart drawn, names escaped, alerts listed.

use super::*;
use crate::contract::event::{ParseOptions, parse_event};
use crate::monitor::MonitorSettings;
use crate::offline::streams::{StreamKind, StreamSpec, generate};

fn monitored(n: usize) -> (ModelMonitor, Vec<Onset>) {
    let s = generate(
        &StreamSpec::new(StreamKind::CovariateShift)
            .events(n)
            .seed(5),
    )
    .unwrap();
    let settings = MonitorSettings::default();
    let mut m = ModelMonitor::new(&s.model, "1", &settings);
    let mut onsets = Vec::new();
    // Predictions and labels by event time, as the daemon would see them.
    let mut all: Vec<&String> = s.predictions.iter().chain(&s.feedback).collect();
    all.sort_by_key(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["ts"].as_str().unwrap().to_owned()
    });
    for l in all {
        let ev = parse_event(l.as_bytes(), &ParseOptions::default()).unwrap();
        onsets.extend(m.observe(&ev, &settings));
    }
    (m, onsets)
}

#[test]
fn a_report_draws_every_chart_and_lists_what_happened() {
    let (m, onsets) = monitored(30_000);
    assert!(!onsets.is_empty(), "the stream drifts");
    let settings = MonitorSettings::default();
    let alerts = vec![AlertRow {
        ts: "2026-01-01T00:10:00Z".into(),
        status: "firing".into(),
        rule: "FeatureDrift<script>".into(),
        labels: "model=covariate_shift".into(),
        value: 1.0,
    }];
    let html = render(
        "covariate_shift.jsonl",
        "replayed",
        &[ModelReport {
            model: "covariate_shift",
            monitor: &m,
            tests: m.peek(&settings),
            onsets: &onsets,
            feedback: Some(1),
            alerts: Some(alerts),
        }],
    )
    .unwrap();
    let dists = m.distributions();
    assert_eq!(dists.len(), 14, "13 features and the prediction");
    // Timeline, features in drift, labels, one per distribution.
    let charts = html.matches("<figure class=\"chart\"").count();
    assert_eq!(charts, 3 + dists.len());
    assert_eq!(html.matches("<svg ").count(), charts);
    // Onsets are marks, bars are rectangles.
    assert!(html.matches("<circle").count() >= onsets.len());
    assert!(
        html.matches("<rect").count() > 2 * dists.iter().map(|d| d.columns.len()).sum::<usize>()
    );
    for o in &onsets {
        assert!(html.contains(&o.ts), "onset {} listed", o.ts);
    }
    assert!(html.contains("FeatureDrift&lt;script&gt;"), "escaped");
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "one script, the page's own"
    );
    // Nothing to fetch (the only address is the SVG namespace).
    assert!(
        !html.contains("src=") && !html.contains("href=\"http") && !html.contains("url("),
        "nothing fetched"
    );
    // A shifted feature's window differs from its reference; the distributions are shares.
    let num0 = dists.iter().find(|d| d.feature == "num_0").unwrap();
    assert!((num0.reference.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!((num0.current.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // The history covers the stream.
    let pts = m.history().points();
    assert!(pts.len() > 50);
    assert_eq!(pts.last().unwrap().predictions % 100, 0);
}

#[test]
fn a_model_without_a_reference_yet_gets_a_page_that_says_so() {
    let (m, onsets) = monitored(2_000);
    assert!(onsets.is_empty());
    let html = render(
        "x",
        "live",
        &[ModelReport {
            model: "m<1>",
            monitor: &m,
            tests: None,
            onsets: &onsets,
            feedback: None,
            alerts: None,
        }],
    )
    .unwrap();
    assert!(html.contains("id=\"model-m&lt;1&gt;\""));
    assert!(html.contains("the reference is filling"));
    assert!(html.contains("GET /v1/alerts"));
}
