//! Unit tests of `retraining::learn`.

use super::*;
use crate::contract::event::{ParseOptions, parse_event};
use driftd_retrain::{AlgorithmConfig, EncoderConfig};
use driftd_retrain::{Decision, shadow_decision, train};
use std::collections::BTreeMap;
use std::time::Duration;

fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(1_800_000_000_000 + ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
fn pred(id: &str, t: i64, x: f64, label: &str) -> String {
    format!(
        r#"{{"kind":"prediction","id":"{id}","model":"m","ts":"{}","features":{{"x":{x},"c":"a"}},"prediction":{{"label":"{label}"}}}}"#,
        ts(t)
    )
}
fn fb(id: &str, t: i64, label: &str) -> String {
    format!(
        r#"{{"kind":"feedback","id":"{id}","model":"m","ts":"{}","label":"{label}"}}"#,
        ts(t)
    )
}
/// Feeds one line; whether the challenger disagreed with the served label.
fn feed(l: &mut Learner, line: &str) -> bool {
    let ev = parse_event(line.as_bytes(), &ParseOptions::default()).expect("valid event");
    l.observe(&ev)
}
fn cfg() -> RetrainConfig {
    RetrainConfig {
        buffer_max_examples: 2500,
        pending_max: 100,
        ..RetrainConfig::default()
    }
}

#[test]
fn labels_join_features_in_either_order_and_the_buffer_is_bounded() {
    let mut l = Learner::new(cfg(), Task::Classification, "1");
    // Prediction first, then feedback.
    feed(&mut l, &pred("a", 1_000, 1.0, "yes"));
    assert_eq!(l.waiting(), 1);
    feed(&mut l, &fb("a", 2_000, "no"));
    assert_eq!((l.waiting(), l.len()), (0, 1));
    // Feedback first.
    feed(&mut l, &fb("b", 3_000, "yes"));
    feed(&mut l, &pred("b", 2_500, 2.0, "yes"));
    let ex = l.examples();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[1].target, TrainTarget::Label("yes".into()));
    assert_eq!(ex[1].features["x"], Value::Number(2.0));
    assert_eq!(ex[1].ts_ms, 1_800_000_000_000 + 2_500);
    // Count bound: whole chunks drop, never below buffer_max_examples.
    for i in 0..5000 {
        feed(&mut l, &pred(&format!("p{i}"), 10_000 + i, 0.5, "yes"));
        feed(&mut l, &fb(&format!("p{i}"), 10_000 + i, "yes"));
    }
    assert!(l.len() >= 2500 && l.len() < 2500 + CHUNK, "{}", l.len());
    assert_eq!(l.labels_total, 5002);
    // Pending bound: unlabelled predictions beyond pending_max are dropped and counted.
    for i in 0..150 {
        feed(&mut l, &pred(&format!("u{i}"), 20_000 + i, 0.5, "yes"));
    }
    assert_eq!(l.waiting(), 100);
    assert_eq!(l.dropped_pending, 50);
}

/// Feedback with `source` keeps it with the label, in either order and across a checkpoint of
/// the early label; a head written before sources were kept still restores.
#[test]
fn the_source_of_a_label_is_kept_with_it() {
    let fb_from = |id: &str, t: i64, source: &str| {
        fb(id, t, "yes").replace("\"label\"", &format!("\"source\":\"{source}\",\"label\""))
    };
    let mut l = Learner::new(cfg(), Task::Classification, "1");
    feed(&mut l, &pred("a", 1_000, 1.0, "yes"));
    feed(&mut l, &fb_from("a", 2_000, "analyst-7"));
    feed(&mut l, &fb_from("b", 3_000, "review-queue"));
    feed(&mut l, &fb("c", 3_000, "no"));
    // "b" and "c" wait for their predictions across a checkpoint.
    let put: BTreeMap<String, Vec<u8>> = l.checkpoint("m").into_iter().collect();
    let mut r = Learner::new(cfg(), Task::Classification, "1");
    r.restore("m", &put[&head_key("m")], |k| put.get(k).cloned())
        .unwrap();
    feed(&mut r, &pred("b", 2_500, 2.0, "yes"));
    feed(&mut r, &pred("c", 2_600, 3.0, "yes"));
    let sources: Vec<Option<String>> = r.examples().into_iter().map(|e| e.source).collect();
    assert_eq!(
        sources,
        [Some("analyst-7".into()), Some("review-queue".into()), None]
    );
    // A head from before the journal, which listed what waits (and, before sources were kept,
    // had no `early_sources`), still reads.
    let mut old: serde_json::Value = serde_json::from_slice(&put[&head_key("m")]).unwrap();
    assert!(old["join"].is_object(), "the journaled join store's record");
    let old = old.as_object_mut().unwrap();
    old.remove("join");
    let yes = serde_json::to_value(TrainTarget::Label("yes".into())).unwrap();
    old.insert("waiting".into(), serde_json::json!([]));
    old.insert(
        "early".into(),
        serde_json::json!([["b", yes, 1_800_000_003_000i64]]),
    );
    let mut r = Learner::new(cfg(), Task::Classification, "1");
    r.restore("m", &serde_json::to_vec(&old).unwrap(), |k| {
        put.get(k).cloned()
    })
    .unwrap();
    feed(&mut r, &pred("b", 2_500, 2.0, "yes"));
    assert_eq!(r.examples()[1].source, None);
}

#[test]
fn age_bound_drops_old_chunks() {
    let mut c = cfg();
    c.buffer_max_age = Duration::from_secs(10);
    let mut l = Learner::new(c, Task::Classification, "1");
    for i in 0..3000i64 {
        let t = i * 10; // 30 s of event time
        feed(&mut l, &pred(&format!("p{i}"), t, 0.5, "yes"));
        feed(&mut l, &fb(&format!("p{i}"), t, "yes"));
    }
    let ex = l.examples();
    assert!(ex.len() < 3000);
    // Every kept chunk has an example within 10 s of the newest one.
    assert!(ex.first().unwrap().ts_ms - 1_800_000_000_000 >= 29_990 - 10_000 - CHUNK as i64 * 10);
}

#[test]
fn checkpoints_write_only_changed_chunks_and_restore_exactly() {
    let mut l = Learner::new(cfg(), Task::Classification, "1");
    let mut store: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let apply = |l: &mut Learner, store: &mut BTreeMap<String, Vec<u8>>| {
        let put = l.checkpoint("m");
        let n = put.len();
        for (k, v) in put {
            store.insert(k, v);
        }
        l.mark_clean();
        n
    };
    for i in 0..3500 {
        feed(&mut l, &pred(&format!("p{i}"), i, i as f64, "yes"));
        feed(&mut l, &fb(&format!("p{i}"), i, "no"));
    }
    feed(&mut l, &pred("w", 9_999, 1.0, "yes"));
    let written = apply(&mut l, &mut store);
    assert_eq!(
        written,
        1 + 3 + 1,
        "head + 3 chunks (the first dropped by the bound) + the join store's first snapshot"
    );
    feed(&mut l, &pred("x", 10_000, 1.0, "yes"));
    feed(&mut l, &fb("x", 10_001, "yes"));
    assert_eq!(
        apply(&mut l, &mut store),
        3,
        "head + the open chunk + one journal segment only"
    );
    assert_eq!(apply(&mut l, &mut store), 0, "nothing changed");
    // The ring bounds the chunk keys: 2500 / 1000 + 2 slots.
    let chunks = store.keys().filter(|k| k.contains("/chunk/")).count();
    assert!(chunks <= 4, "{:?}", store.keys().collect::<Vec<_>>());
    let mut r = Learner::new(cfg(), Task::Classification, "1");
    r.restore("m", &store[&head_key("m")], |k| store.get(k).cloned())
        .unwrap();
    assert_eq!(r.examples(), l.examples());
    assert_eq!((r.waiting(), r.labels_total), (l.waiting(), l.labels_total));
    // The waiting prediction still joins after the restore.
    feed(&mut r, &fb("w", 10_002, "no"));
    assert_eq!(r.len(), l.len() + 1);
}

#[test]
fn the_shadow_pairs_served_and_challenger_answers_on_labels() {
    let mut l = Learner::new(cfg(), Task::Classification, "1");
    // A challenger that learned y = (x > 0).
    let data: Vec<Example> = (0..600)
        .map(|i| {
            let x = (i % 40) as f64 - 19.5;
            Example {
                ts_ms: i,
                features: [
                    ("x".to_owned(), Value::Number(x)),
                    ("c".to_owned(), Value::Category("a".into())),
                ]
                .into(),
                target: TrainTarget::Label(if x > 0.0 { "yes" } else { "no" }.into()),
                source: None,
            }
        })
        .collect();
    let algo = AlgorithmConfig::default_for(Task::Classification);
    let m = train(
        Task::Classification,
        &algo,
        &EncoderConfig::default(),
        &data,
    )
    .unwrap();
    let policy = ShadowPolicy {
        min_pairs: 100,
        ..ShadowPolicy::default()
    };
    l.set_shadow(ShadowKind::Candidate, 7, Arc::new(m), &policy);
    // The served model always answers "yes": wrong whenever x <= 0.
    let mut disagreed = 0;
    for i in 0..400 {
        let x = (i % 40) as f64 - 19.5;
        let truth = if x > 0.0 { "yes" } else { "no" };
        disagreed += usize::from(feed(&mut l, &pred(&format!("s{i}"), i, x, "yes")));
        assert!(!feed(&mut l, &fb(&format!("s{i}"), i + 1, truth)));
    }
    // The challenger says "no" where the served model says "yes": the review queue hears of it.
    assert_eq!(disagreed, 200);
    let s = l.shadow.as_ref().unwrap();
    assert_eq!((s.scored, s.paired), (400, 400));
    let t = s.tally.table();
    // The served model is wrong on the 200 negatives, the challenger right on all.
    assert_eq!(t.n(), 400);
    let d = shadow_decision(&s.tally, &policy);
    assert_eq!(d.decision, Decision::Promote, "{d:?}");
    // A checkpointed run restores its tally; re-attaching the same version keeps it.
    let put = l.checkpoint("m");
    let head = &put.iter().find(|(k, _)| k == &head_key("m")).unwrap().1;
    let mut r = Learner::new(cfg(), Task::Classification, "1");
    let chunks: BTreeMap<String, Vec<u8>> = put.iter().cloned().collect();
    r.restore("m", head, |k| chunks.get(k).cloned()).unwrap();
    assert!(r.shadow.as_ref().unwrap().model.is_none());
    let model = l.shadow.as_ref().unwrap().model.clone().unwrap();
    r.set_shadow(ShadowKind::Candidate, 7, model, &policy);
    assert_eq!(r.shadow.as_ref().unwrap().tally.table(), t);
}

/// The learner's waiting predictions (with their features) are journaled: what a checkpoint
/// writes follows the traffic since the last one, not the number of predictions waiting.
#[test]
fn a_checkpoint_writes_the_same_bytes_whether_ten_or_a_hundred_thousand_wait() {
    let bytes_after_waiting = |waiting: usize| {
        let mut l = Learner::new(
            RetrainConfig {
                pending_max: 200_000,
                ..cfg()
            },
            Task::Classification,
            "1",
        );
        for i in 0..waiting {
            feed(&mut l, &pred(&format!("w{i}"), i as i64, 1.0, "yes"));
        }
        l.checkpoint("m");
        l.mark_clean();
        for i in 0..1_000 {
            feed(&mut l, &pred(&format!("n{i}"), 1_000_000 + i, 2.0, "yes"));
        }
        let put = l.checkpoint("m");
        assert!(put.iter().any(|(k, _)| k.starts_with("learn/m/join/log/")));
        assert_eq!(l.waiting(), waiting + 1_000);
        put.iter().map(|(_, v)| v.len()).sum::<usize>()
    };
    let (small, large) = (bytes_after_waiting(10_000), bytes_after_waiting(100_000));
    assert!(
        (large as f64) < 1.1 * small as f64,
        "10k waiting: {small} bytes; 100k waiting: {large} bytes"
    );
}
