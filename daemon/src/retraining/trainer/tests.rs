//! Unit tests of `retraining::trainer`.

use super::*;
use crate::contract::notice::{Notice, UPDATES_CHANNEL};
use crate::intake::pipeline::Pipeline;
use crate::intake::policy::ModelPolicy;
use crate::store::EmbeddedStore;
use driftd_retrain::Example;
use driftd_retrain::{AlgorithmConfig, EncoderConfig, Target, Value};
use secrecy::SecretString;
use std::sync::Mutex;

const KEY: &str = "a registry key of at least 32 bytes, for tests";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn a_schedule_fires_at_its_local_cron_time_once() {
    let cfg = RetrainConfig {
        schedule: Some("0 3 * * *".into()),
        timezone: "Europe/Berlin".into(),
        ..RetrainConfig::default()
    };
    let s = Schedule::parse(cfg.schedule.as_deref(), &cfg.timezone)
        .unwrap()
        .unwrap();
    let mut st = LoopState::default();
    let mut due_at = |t: &str| due(&cfg, Some(&s), &mut st, "m", at(t), &[], 0);
    // 03:00 in Berlin is 02:00 UTC in November (CET).
    assert_eq!(
        due_at("2026-11-22T01:00:00Z"),
        None,
        "first look arms the schedule"
    );
    assert_eq!(due_at("2026-11-22T01:59:59Z"), None);
    assert_eq!(due_at("2026-11-22T02:00:00Z").as_deref(), Some("schedule"));
    assert_eq!(due_at("2026-11-22T02:00:01Z"), None, "once per occurrence");
    assert_eq!(due_at("2026-11-23T01:59:00Z"), None);
    assert_eq!(due_at("2026-11-23T02:00:30Z").as_deref(), Some("schedule"));
    // In summer (CEST) it is 01:00 UTC.
    let mut st = LoopState::default();
    assert_eq!(
        due(
            &cfg,
            Some(&s),
            &mut st,
            "m",
            at("2026-07-01T00:00:00Z"),
            &[],
            0
        ),
        None
    );
    assert_eq!(
        st.next_schedule_ms,
        Some(at("2026-07-01T01:00:00Z").timestamp_millis())
    );
    assert!(Schedule::parse(Some("0 3 * *"), "UTC").is_err());
    assert!(
        Schedule::parse(Some("0 3 * * *"), "Mars/Olympus")
            .unwrap_err()
            .to_string()
            .contains("time zone")
    );
}

#[test]
fn alerts_trigger_after_debounce_interval_and_new_labels() {
    let cfg = RetrainConfig {
        debounce: Duration::from_secs(60),
        min_interval: Duration::from_secs(600),
        min_new_labels: 100,
        ..RetrainConfig::default()
    };
    let firing = |rule: &str, model: &str, since: &str| Firing {
        rule: rule.into(),
        model: model.into(),
        since: at(since),
    };
    let mut st = LoopState::default();
    let alerts = [firing("ConceptDrift", "m", "2026-11-22T10:00:00Z")];
    let t = |s: &str| at(s);
    // Within the debounce.
    assert_eq!(
        due(
            &cfg,
            None,
            &mut st,
            "m",
            t("2026-11-22T10:00:30Z"),
            &alerts,
            500
        ),
        None
    );
    // Other rules and other models do not count.
    let other = [
        firing("FeatureDrift", "m", "2026-11-22T09:00:00Z"),
        firing("ConceptDrift", "n", "2026-11-22T09:00:00Z"),
    ];
    assert_eq!(
        due(
            &cfg,
            None,
            &mut st,
            "m",
            t("2026-11-22T10:05:00Z"),
            &other,
            500
        ),
        None
    );
    // Past the debounce, the loop waits for min_new_labels labels after the alert.
    let mut d = |at: &str, labels: u64| due(&cfg, None, &mut st, "m", t(at), &alerts, labels);
    assert_eq!(d("2026-11-22T10:01:00Z", 500), None);
    assert_eq!(d("2026-11-22T10:01:10Z", 599), None);
    assert_eq!(
        d("2026-11-22T10:01:20Z", 600).as_deref(),
        Some("alert:ConceptDrift")
    );
    assert_eq!(st.alert_seen, Some(("ConceptDrift".into(), 500)));
    // Once that retrain started, the same episode (still firing) does not trigger again; a
    // new episode does.
    let mut answered = LoopState {
        alert_answered: Some((
            "ConceptDrift".into(),
            t("2026-11-22T10:00:00Z").timestamp_millis(),
        )),
        ..LoopState::default()
    };
    let later = t("2026-11-22T11:00:00Z");
    assert_eq!(
        due(&cfg, None, &mut answered, "m", later, &alerts, 5000),
        None
    );
    assert_eq!(answered.alert_seen, None);
    let again = [firing("ConceptDrift", "m", "2026-11-22T10:30:00Z")];
    assert_eq!(
        due(&cfg, None, &mut answered, "m", later, &again, 5000),
        None
    );
    assert_eq!(
        due(&cfg, None, &mut answered, "m", later, &again, 5100).as_deref(),
        Some("alert:ConceptDrift")
    );
    // The same once the alert has resolved: the drift was seen, its labels arrived.
    let mut resolved = LoopState {
        alert_seen: Some(("ConceptDrift".into(), 500)),
        ..LoopState::default()
    };
    let after = t("2026-11-22T10:02:00Z");
    assert_eq!(due(&cfg, None, &mut resolved, "m", after, &[], 599), None);
    assert_eq!(
        due(&cfg, None, &mut resolved, "m", after, &[], 600).as_deref(),
        Some("alert:ConceptDrift")
    );
    // It learns from those (at least min_examples of the newest).
    assert_eq!(
        recent_examples(&cfg, &st, "alert:ConceptDrift", 600),
        Some(500)
    );
    assert_eq!(
        recent_examples(&cfg, &st, "alert:ConceptDrift", 1600),
        Some(1100)
    );
    assert_eq!(recent_examples(&cfg, &st, "schedule", 1600), None);
    st.last_started_ms = Some(t("2026-11-22T10:01:00Z").timestamp_millis());
    st.labels_at_last = 500;
    // Minimum interval, then minimum new labels.
    assert_eq!(
        due(
            &cfg,
            None,
            &mut st,
            "m",
            t("2026-11-22T10:05:00Z"),
            &alerts,
            900
        ),
        None
    );
    assert_eq!(
        due(
            &cfg,
            None,
            &mut st,
            "m",
            t("2026-11-22T10:20:00Z"),
            &alerts,
            550
        ),
        None
    );
    assert!(
        due(
            &cfg,
            None,
            &mut st,
            "m",
            t("2026-11-22T10:20:00Z"),
            &alerts,
            600
        )
        .is_some()
    );
    // Not while a shadow runs; a manual request skips the minimums once idle.
    st.phase = Phase::Shadow {
        version: 2,
        started_ms: 0,
        trigger: "x".into(),
    };
    st.pending = Some("manual:test".into());
    assert_eq!(
        due(
            &cfg,
            None,
            &mut st,
            "m",
            t("2026-11-22T10:21:00Z"),
            &alerts,
            600
        ),
        None
    );
    st.phase = Phase::Idle;
    assert_eq!(
        due(
            &cfg,
            None,
            &mut st,
            "m",
            t("2026-11-22T10:21:00Z"),
            &[],
            600
        )
        .as_deref(),
        Some("manual:test")
    );
}

/// Concept A: y = (x > 0); concept B: y = (x < 0). `c` is noise.
fn truth(x: f64, concept_b: bool) -> &'static str {
    if (x > 0.0) != concept_b { "yes" } else { "no" }
}

fn x_of(i: u64) -> f64 {
    ((i * 7919) % 400) as f64 / 100.0 - 2.0 + 0.005
}

fn ts(i: u64) -> String {
    DateTime::from_timestamp_millis(1_800_000_000_000 + i as i64 * 1000)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A world with a registry, a live model trained on concept A, a pipeline that learns, and a
/// trainer with a hand-driven clock.
struct World {
    _dir: tempfile::TempDir,
    store: AnyStore,
    pipeline: Arc<Mutex<Pipeline>>,
    trainer: Trainer,
    clock: Arc<Mutex<DateTime<Utc>>>,
    next: u64,
    /// What a new trainer (a restart) is built from.
    learn: mpsc::Sender<LearnControl>,
    models: Vec<(String, RetrainConfig, Task)>,
    /// The size of every drift reference the trainer sent to the learners, in order.
    references: Arc<Mutex<Vec<usize>>>,
}

fn example(i: u64, concept_b: bool) -> driftd_retrain::Example {
    let x = x_of(i);
    Example {
        ts_ms: i as i64,
        features: [("x".to_owned(), Value::Number(x))].into(),
        target: Target::Label(truth(x, concept_b).into()),
        source: None,
    }
}

async fn world(retrain: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = AnyStore::Embedded(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap());
    let reg = Registry::new(store.clone(), Some(SecretString::from(KEY))).unwrap();
    let algo = AlgorithmConfig::default_for(Task::Classification);
    let data: Vec<Example> = (0..800).map(|i| example(i, false)).collect();
    let live = driftd_retrain::train(
        Task::Classification,
        &algo,
        &EncoderConfig::default(),
        &data,
    )
    .unwrap();
    let v = reg.register("m", &live, None, "import").await.unwrap();
    reg.promote("m", v.version, "initial", None, None)
        .await
        .unwrap();

    let loaded = crate::config::load_str(&format!(
"[registry]\nsigning_key = {{ value = \"{KEY}\" }}\n[monitor]\nenabled = false\n[models.m]\ntask = \"classification\"\n[models.m.retrain]\n{retrain}\n"
        ))
        .unwrap();
    let metrics = Arc::new(Metrics::new());
    let policy = ModelPolicy::new(&loaded.config.models, &loaded.config.events);
    let mut p = Pipeline::new(metrics.clone(), Default::default(), policy.clone());
    p.open_shard("test".into(), None);
    let pipeline = Arc::new(Mutex::new(p));
    let (learn, mut rx) = mpsc::channel::<LearnControl>(8);
    let pl = pipeline.clone();
    let references = Arc::new(Mutex::new(Vec::new()));
    let seen = references.clone();
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            if let LearnControl::SetReference(_, rows, _) = &c {
                seen.lock().unwrap().push(rows.len());
            }
            pl.lock().unwrap().learn_control(c);
        }
    });
    let clock = Arc::new(Mutex::new(at("2026-11-22T01:00:00Z")));
    let c = clock.clone();
    let models: Vec<_> = policy
        .retrained()
        .map(|(m, (c, t))| (m.clone(), c.clone(), *t))
        .collect();
    let trainer = Trainer::load(models.clone(), deps(&store, &learn, metrics, c))
        .await
        .unwrap();
    World {
        _dir: dir,
        store,
        pipeline,
        trainer,
        clock,
        next: 10_000,
        learn,
        models,
        references,
    }
}

/// A trainer's dependencies on the world's store, learners and clock.
fn deps(
    store: &AnyStore,
    learn: &mpsc::Sender<LearnControl>,
    metrics: Arc<Metrics>,
    clock: Arc<Mutex<DateTime<Utc>>>,
) -> TrainerDeps {
    let (firing_tx, firing) = watch::channel(Vec::new());
    std::mem::forget(firing_tx);
    TrainerDeps {
        store: store.clone(),
        keys: Keys::hmac(&SecretString::from(KEY)),
        learn: learn.clone(),
        metrics,
        firing,
        board: Arc::default(),
        announcer: Announcer::new(store.clone(), None, "test".into()),
        clock: Arc::new(move || *clock.lock().unwrap()),
    }
}

impl World {
    /// Asks the trainer for a retrain of `m` now; the phase it was requested in.
    async fn request_retrain(&mut self) -> String {
        let (tx, rx) = oneshot::channel();
        self.trainer
            .command(Command::Retrain("m".into(), "test".into(), tx))
            .await;
        rx.await.unwrap().unwrap()
    }

    /// `n` predictions served by `served` (the live model of the time), each labelled.
    fn traffic(&mut self, n: u64, served: &TrainedModel, concept_b: bool) {
        let mut p = self.pipeline.lock().unwrap();
        for _ in 0..n {
            let i = self.next;
            self.next += 1;
            let x = x_of(i);
            let f: driftd_retrain::Features = [("x".to_owned(), Value::Number(x))].into();
            let label = served.predict(&f).target.label().unwrap().to_owned();
            let pred = format!(
                r#"{{"kind":"prediction","id":"p{i}","model":"m","ts":"{}","features":{{"x":{x}}},"prediction":{{"label":"{label}"}}}}"#,
                ts(i)
            );
            let fb = format!(
                r#"{{"kind":"feedback","id":"p{i}","model":"m","ts":"{}","label":"{}"}}"#,
                ts(i),
                truth(x, concept_b)
            );
            for line in [pred, fb] {
                let off = p.shard("test").unwrap().next_offset;
                p.process("test", off, off + 1, line.as_bytes());
            }
        }
    }

    fn set_clock(&self, t: &str) {
        *self.clock.lock().unwrap() = at(t);
    }

    fn phase(&self) -> Phase {
        self.trainer.loops["m"].state.phase.clone()
    }

    /// Ticks until the phase is no longer training (the fit runs on the blocking pool; up to a
    /// minute, for a loaded machine).
    async fn settle(&mut self) {
        for _ in 0..3000 {
            self.trainer.tick().await;
            if !matches!(self.phase(), Phase::Training { .. }) && self.trainer.jobs.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("training did not finish: {:?}", self.phase());
    }

    /// A new trainer from the stored loop states, as after a SIGKILL: what the old one held
    /// only in memory is gone, and so is its lease (the embedded store's leases live in the
    /// process).
    async fn restart_trainer(&mut self) {
        for l in self.trainer.loops.values_mut() {
            if let Some(lease) = l.lease.take() {
                self.store.release_lease(&lease).await.unwrap();
            }
        }
        let metrics = Arc::new(Metrics::new());
        let deps = deps(&self.store, &self.learn, metrics, self.clock.clone());
        self.trainer = Trainer::load(self.models.clone(), deps).await.unwrap();
    }

    async fn live(&self) -> (u64, TrainedModel) {
        let r = Registry::new(self.store.clone(), Some(SecretString::from(KEY))).unwrap();
        let v = r.aliases("m").await.unwrap().live.unwrap();
        (v, r.load("m", v).await.unwrap().0)
    }
}

/// The next notice on the `model-updates` channel (within 5 s).
async fn next_notice(updates: &mut mpsc::Receiver<Vec<u8>>) -> Notice {
    let bytes = tokio::time::timeout(Duration::from_secs(5), updates.recv())
        .await
        .expect("a notice within 5 s")
        .expect("the subscription is open");
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_retrain_shadow_promotion_then_rollback_on_regression() {
    let mut w = world(
            "schedule = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\non_alerts = []\nmin_examples = 300\nwatch = \"1h\"\nshadow = { min_pairs = 100 }\nwatch_policy = { min_pairs = 100 }",
        )
        .await;
    let mut updates = w.store.subscribe(UPDATES_CHANNEL).await.unwrap();
    let (v1, old) = w.live().await;
    // Concept drift: labels follow concept B while the old model still serves.
    w.traffic(600, &old, true);
    w.trainer.tick().await;
    assert_eq!(w.phase(), Phase::Idle, "01:00 UTC: not yet");
    w.set_clock("2026-11-22T02:00:05Z");
    w.settle().await;
    let Phase::Shadow {
        version, trigger, ..
    } = w.phase()
    else {
        panic!("expected a shadow run, got {:?}", w.phase());
    };
    assert_eq!(trigger, "schedule");
    let reg = Registry::new(w.store.clone(), Some(SecretString::from(KEY))).unwrap();
    assert_eq!(
        reg.show("m", version).await.unwrap().meta.trigger,
        "schedule"
    );
    assert_eq!(reg.aliases("m").await.unwrap().candidate, Some(version));

    // Live traffic: the candidate is scored on every prediction, paired on labels.
    w.traffic(300, &old, true);
    w.trainer.tick().await;
    let Phase::Watch {
        version: live,
        previous,
        ..
    } = w.phase()
    else {
        panic!("expected a promotion, got {:?}", w.phase());
    };
    assert_eq!((live, previous), (version, v1));
    let rec = reg.show("m", version).await.unwrap();
    let promote = rec
        .decisions
        .iter()
        .find(|d| d.action == "promote")
        .unwrap();
    let record = promote.record.as_ref().unwrap();
    assert!(record.p_value.unwrap() < 0.05, "{record:?}");
    assert!(record.counts.c > record.counts.b);
    let notice = next_notice(&mut updates).await;
    assert_eq!(
        (notice.action.as_str(), notice.version, notice.replaced),
        ("promoted", version, Some(v1))
    );
    assert_eq!(notice.checksum, rec.checksum);

    // An injected regression: the concept flips back, the new live model is now wrong and the
    // previous one right. The watch rolls back.
    let (_, new) = w.live().await;
    w.traffic(300, &new, false);
    w.trainer.tick().await;
    assert_eq!(w.phase(), Phase::Idle);
    let aliases = reg.aliases("m").await.unwrap();
    assert_eq!((aliases.live, aliases.previous), (Some(v1), Some(version)));
    let rb = reg.show("m", version).await.unwrap();
    assert!(
        rb.decisions
            .iter()
            .any(|d| d.action == "rollback" && d.record.is_some()),
        "{:?}",
        rb.decisions
    );
    let notice = next_notice(&mut updates).await;
    assert_eq!(
        (notice.action.as_str(), notice.version),
        ("rolled_back", v1)
    );
    let events: Vec<&str> = w.trainer.loops["m"]
        .state
        .timeline
        .iter()
        .map(|s| s.event.as_str())
        .collect();
    assert_eq!(
        events,
        [
            "triggered",
            "trained",
            "shadow_started",
            "promoted",
            "watch_started",
            "rolled_back"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_candidate_is_rejected_with_a_stored_decision_and_the_live_model_stays() {
    // A one-split tree on x*x-like data cannot match the live logistic model: make the tree
    // useless by giving it nothing to split on (min_weight_split above the data size).
    let mut w = world(
            "on_alerts = []\nmin_examples = 300\nalgorithm = { algorithm = \"decision_tree\", max_depth = 1, min_weight_split = 100000.0 }",
        )
        .await;
    let (v1, old) = w.live().await;
    w.traffic(600, &old, false);
    assert_eq!(w.request_retrain().await, "idle");
    w.settle().await;
    assert_eq!(w.phase(), Phase::Idle);
    let reg = Registry::new(w.store.clone(), Some(SecretString::from(KEY))).unwrap();
    let versions = reg.versions("m").await.unwrap();
    let cand = versions.last().unwrap();
    assert_ne!(cand.meta.version, v1);
    assert_eq!(cand.meta.trigger, "manual:test");
    let d = cand
        .decisions
        .iter()
        .find(|d| d.action == "reject")
        .expect("a reject decision");
    assert!(d.note.contains("validation gate"), "{}", d.note);
    assert_eq!(reg.aliases("m").await.unwrap().live, Some(v1));
    let events: Vec<&str> = w.trainer.loops["m"]
        .state
        .timeline
        .iter()
        .map(|s| s.event.as_str())
        .collect();
    assert_eq!(events, ["requested", "triggered", "rejected"]);
}

/// The rows as comparable values.
fn rows(r: &[ReferenceRow]) -> Vec<(driftd_retrain::Features, Option<driftd_retrain::Prediction>)> {
    r.iter()
        .map(|r| (r.features.clone(), r.prediction.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_run_that_outlives_a_restart_promotes_with_the_fits_reference_rows() {
    let mut w =
        world("on_alerts = []\nmin_examples = 300\nwatch = \"0s\"\nshadow = { min_pairs = 100 }")
            .await;
    let (_, old) = w.live().await;
    w.traffic(600, &old, true);
    w.request_retrain().await;
    w.settle().await;
    let Phase::Shadow { version, .. } = w.phase() else {
        panic!("expected a shadow run, got {:?}", w.phase());
    };
    let fitted = rows(&w.trainer.loops["m"].reference);
    assert!(
        (400..600).contains(&fitted.len()),
        "the training split of 600 examples: {}",
        fitted.len()
    );

    // The process dies during the shadow run; the rows the fit made die with it.
    w.restart_trainer().await;
    assert!(matches!(w.phase(), Phase::Shadow { version: v, .. } if v == version));
    assert!(w.trainer.loops["m"].reference.is_empty());
    // Rebuilt from the buffer: the same rows (the examples of the version's training window,
    // scored by it).
    assert_eq!(
        rows(&w.trainer.training_reference("m", version).await),
        fitted
    );

    // The resumed shadow run decides and promotes.
    w.traffic(300, &old, true);
    w.trainer.tick().await;
    w.trainer.tick().await;
    assert_eq!(w.phase(), Phase::Idle);
    assert_eq!(w.live().await.0, version);
    // The drift reference was rebuilt from the training rows, once.
    assert_eq!(*w.references.lock().unwrap(), [fitted.len()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_cut_short_by_a_restart_is_finished_once_not_retried_forever() {
    let mut w =
        world("on_alerts = []\nmin_examples = 300\nwatch = \"0s\"\nshadow = { min_pairs = 100 }")
            .await;
    let (v1, old) = w.live().await;
    w.traffic(600, &old, true);
    w.request_retrain().await;
    w.settle().await;
    let Phase::Shadow { version, .. } = w.phase() else {
        panic!("expected a shadow run, got {:?}", w.phase());
    };
    w.traffic(300, &old, true);
    // The alias swap lands; the process dies before the loop's state says so.
    let reg = Registry::new(w.store.clone(), Some(SecretString::from(KEY))).unwrap();
    reg.promote("m", version, "shadow gate: before the crash", None, None)
        .await
        .unwrap();
    w.restart_trainer().await;
    assert!(matches!(w.phase(), Phase::Shadow { .. }));

    // The gate decides "promote" again: the promotion is finished, not attempted every tick.
    w.trainer.tick().await;
    assert_eq!(w.phase(), Phase::Idle);
    let aliases = reg.aliases("m").await.unwrap();
    assert_eq!(
        (aliases.live, aliases.candidate, aliases.previous),
        (Some(version), None, Some(v1))
    );
    let promotions = reg
        .show("m", version)
        .await
        .unwrap()
        .decisions
        .iter()
        .filter(|d| d.action == "promote")
        .count();
    assert_eq!(promotions, 1);
    let events: Vec<&str> = w.trainer.loops["m"]
        .state
        .timeline
        .iter()
        .map(|s| s.event.as_str())
        .collect();
    assert_eq!(
        events,
        [
            "requested",
            "triggered",
            "trained",
            "shadow_started",
            "promoted"
        ]
    );
    assert_eq!(
        w.references.lock().unwrap().len(),
        1,
        "the reference rebuilt once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_cut_short_by_a_restart_is_finished_not_swapped_back() {
    let mut w = world(
        "on_alerts = []\nmin_examples = 300\nwatch = \"1h\"\nshadow = { min_pairs = 100 }\nwatch_policy = { min_pairs = 100 }",
    )
    .await;
    let (v1, old) = w.live().await;
    w.traffic(600, &old, true);
    w.request_retrain().await;
    w.settle().await;
    w.traffic(300, &old, true);
    w.trainer.tick().await;
    let Phase::Watch { version, .. } = w.phase() else {
        panic!("expected a watch, got {:?}", w.phase());
    };
    // The concept flips back: the new live model is now wrong, the previous one right.
    let (_, new) = w.live().await;
    w.traffic(300, &new, false);
    // The rollback's swap lands; the process dies before its record and the loop's state.
    let reg = Registry::new(w.store.clone(), Some(SecretString::from(KEY))).unwrap();
    reg.rollback("m", "before the crash", None).await.unwrap();
    w.restart_trainer().await;
    assert!(matches!(w.phase(), Phase::Watch { .. }));

    // The watch decides "roll back" again: finished, not swapped back to the worse version.
    w.trainer.tick().await;
    assert_eq!(w.phase(), Phase::Idle);
    let aliases = reg.aliases("m").await.unwrap();
    assert_eq!((aliases.live, aliases.previous), (Some(v1), Some(version)));
    let records = reg
        .show("m", version)
        .await
        .unwrap()
        .decisions
        .iter()
        .filter(|d| d.action == "rollback" && d.record.is_some())
        .count();
    assert_eq!(records, 1, "the watch's decision record, stored once");
    let rollbacks = reg
        .show("m", v1)
        .await
        .unwrap()
        .decisions
        .iter()
        .filter(|d| d.action == "rollback")
        .count();
    assert_eq!(rollbacks, 1, "one swap back to v1");
}
