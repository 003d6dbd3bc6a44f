//! `driftd replay`: recorded events through the monitors, in event time, with no wall clock and
//! no external service. The same input gives the same report, byte for byte.
//!
//! Input: a predictions file (JSON lines; it may hold feedback too) and optionally a feedback file.
//! Each file is in event-time order (as a log is; disorder within `[events.order]
//! allowed_lateness` is tolerated); they are merged in the daemon's event-time order
//! ([`crate::intake::order`]), so a replay sees exactly what `driftd run` sees on any partitioning. Output: one JSON
//! line per drift onset ([`Onset`]), then one summary line `{"summary": {...}}`; with a truth file,
//! the summary holds the backtest score ([`crate::offline::backtest`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;

use crate::alert::Status;
use crate::alert::engine::Engine;
use crate::alert::task::Derived;
use crate::config::Config;
use crate::contract::event::EventKind;
use crate::contract::event::{ParseOptions, RejectReason, parse_event};
use crate::contract::onset::{Onset, OnsetKind};
use crate::contract::sample::Sample;
use crate::intake::order::{OrderKey, OrderSettings, Orderer, Release, kind_rank};
use crate::intake::pipeline::ts_ns;
use crate::intake::policy::ModelPolicy;
use crate::monitor::{ModelMonitor, MonitorSettings};
use crate::offline::backtest::Truth;
use crate::offline::backtest::score;
use crate::report::{AlertRow, ModelReport, render};

/// Per-model figures in the summary line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelSummary {
    /// Prediction events.
    pub predictions: u64,
    /// Feedback events.
    pub feedback: u64,
    /// Predictions joined with their label.
    pub labelled: u64,
    /// Of those, wrong (classification).
    pub errors: u64,
    /// Windows evaluated.
    pub windows: u64,
    /// Onsets by kind.
    pub onsets: BTreeMap<OnsetKind, u64>,
    /// Predictions evicted from the join store unlabelled.
    pub join_evicted: u64,
    /// Feedback seen twice (counted once).
    pub duplicate_feedback: u64,
}

/// The summary line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplaySummary {
    /// Valid events processed.
    pub events: u64,
    /// Rejected events by reason.
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Per model.
    pub models: BTreeMap<String, ModelSummary>,
    /// Onsets written.
    pub onsets: u64,
    /// Events older than what was already released (applied at once, out of order): a file
    /// whose disorder exceeds `[events.order] allowed_lateness`.
    #[serde(skip_serializing_if = "is_zero")]
    pub late_events: u64,
    /// Events released early because the order buffer was full.
    #[serde(skip_serializing_if = "is_zero")]
    pub forced_events: u64,
    /// The backtest score, with `--truth`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest: Option<serde_json::Value>,
    /// With `--label-budget`: feedback events withheld (their prediction was not chosen).
    #[serde(skip_serializing_if = "is_zero")]
    pub labels_withheld: u64,
    /// With `--alerts`: how many times each rule's alerts were notified as firing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<BTreeMap<String, u64>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The alert engine driven in event time: ticks every `evaluation_interval` of event time with
/// the monitors' samples and intake figures derived from the events themselves.
struct AlertBacktest {
    engine: Engine,
    interval_ms: i64,
    next_tick_ms: Option<i64>,
    out: BufWriter<File>,
    /// Accepted events per model and rejected events so far, turned into rates, staleness and
    /// the reject ratio by the daemon's own [`Derived`](crate::alert::task::Derived), in event time.
    events: BTreeMap<String, u64>,
    rejected: u64,
    derived: Derived,
    fired: BTreeMap<String, u64>,
    /// Every alert of every notification, for the HTML report: (its model label, the row).
    rows: Vec<(Option<String>, AlertRow)>,
    /// Firing episodes already counted: (fingerprint, started).
    seen: std::collections::BTreeSet<(String, i64)>,
    notifications: u64,
}

impl AlertBacktest {
    fn open(cfg: &Config, path: &Path) -> anyhow::Result<Self> {
        Ok(AlertBacktest {
            engine: Engine::new(cfg.alerting.engine()),
            interval_ms: (cfg.alerting.evaluation_interval.as_millis() as i64).max(1),
            next_tick_ms: None,
            out: BufWriter::new(
                File::create(path).with_context(|| format!("creating {}", path.display()))?,
            ),
            events: BTreeMap::new(),
            rejected: 0,
            derived: Default::default(),
            fired: BTreeMap::new(),
            rows: Vec::new(),
            seen: std::collections::BTreeSet::new(),
            notifications: 0,
        })
    }

    /// Ticks for every interval boundary up to `now_ms` (event time).
    fn advance(
        &mut self,
        now_ms: i64,
        monitors: &BTreeMap<String, ModelMonitor>,
        policy: &ModelPolicy,
        settings: &MonitorSettings,
    ) -> anyhow::Result<()> {
        if self.next_tick_ms.is_none() {
            // The baseline, at the first event (as the daemon's first tick is one interval in).
            if let Some(t) = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms) {
                self.derived.samples(t, BTreeMap::new(), 0);
            }
        }
        let mut next = *self.next_tick_ms.get_or_insert(now_ms + self.interval_ms);
        if now_ms < next {
            return Ok(());
        }
        // Every boundary is a tick, through quiet stretches too (zero rates, growing staleness,
        // repeat notifications: what the daemon would have seen). The monitors do not change
        // meanwhile, so their samples are taken once.
        let mut from_monitors = Vec::new();
        for (model, m) in monitors {
            from_monitors.extend(m.samples(policy.monitor_settings(model, settings)));
        }
        while next <= now_ms {
            self.tick(next, &from_monitors)?;
            next += self.interval_ms;
        }
        self.next_tick_ms = Some(next);
        Ok(())
    }

    fn tick(&mut self, tick_ms: i64, from_monitors: &[Sample]) -> anyhow::Result<()> {
        let now = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(tick_ms)
            .context("event time out of range")?;
        let mut samples = from_monitors.to_vec();
        samples.extend(
            self.derived
                .samples(now, self.events.clone(), self.rejected),
        );
        for n in self.engine.tick(now, &samples) {
            self.notifications += 1;
            for a in &n.alerts {
                self.rows.push((
                    a.labels.get("model").cloned(),
                    AlertRow {
                        ts: n
                            .created
                            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        status: if a.status == Status::Firing {
                            "firing"
                        } else {
                            "resolved"
                        }
                        .to_owned(),
                        rule: a.rule.clone(),
                        labels: a
                            .labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        value: a.value,
                    },
                ));
                let new = self
                    .seen
                    .insert((a.fingerprint.clone(), a.starts_at.timestamp_millis()));
                if a.status == Status::Firing && new {
                    *self.fired.entry(a.rule.clone()).or_default() += 1;
                }
            }
            serde_json::to_writer(&mut self.out, &n)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The alerts about `model` (and those about no model in particular).
    fn rows_of(&self, model: &str) -> Vec<AlertRow> {
        self.rows
            .iter()
            .filter(|(m, _)| m.as_deref().is_none_or(|m| m == model))
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn finish(mut self) -> anyhow::Result<BTreeMap<String, u64>> {
        serde_json::to_writer(
            &mut self.out,
            &serde_json::json!({ "summary": { "notifications": self.notifications, "fired": &self.fired } }),
        )?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(self.fired)
    }
}

/// Reads the input files and yields their lines in the order the daemon's monitors see events
/// ([`crate::intake::order`]): each file is one participant shard of an [`Orderer`] with the configured
/// `[events.order]` settings, the file whose clock is behind is read next, and a file at its end
/// no longer holds the watermark back. So `driftd replay` and `driftd run` on any partitioning of
/// the same events give the same sequence. Lines that do not parse come out at once (they are
/// rejected either way).
struct Ordered {
    files: Vec<(Arc<str>, std::io::Lines<BufReader<File>>, bool)>,
    order: Orderer,
    parse: ParseOptions,
    ready: std::collections::VecDeque<Arc<[u8]>>,
    /// Events applied out of order (older than what was already released).
    late: u64,
    /// Events released before the watermark passed them (the buffer bound).
    forced: u64,
}

impl Ordered {
    fn open(
        a: &Path,
        b: Option<&Path>,
        settings: OrderSettings,
        parse: ParseOptions,
    ) -> anyhow::Result<Self> {
        let open = |p: &Path| -> anyhow::Result<std::io::Lines<BufReader<File>>> {
            Ok(BufReader::with_capacity(
                1 << 20,
                File::open(p).with_context(|| format!("opening {}", p.display()))?,
            )
            .lines())
        };
        let mut files = vec![(Arc::<str>::from("events"), open(a)?, false)];
        if let Some(b) = b {
            files.push((Arc::<str>::from("feedback"), open(b)?, false));
        }
        let mut order = Orderer::new(settings);
        for (name, _, _) in &files {
            order.open(name.clone(), true, None, None);
        }
        Ok(Ordered {
            files,
            order,
            parse,
            ready: Default::default(),
            late: 0,
            forced: 0,
        })
    }

    /// The next line in order, or `None` at the end of every file.
    fn pop(&mut self) -> anyhow::Result<Option<Arc<[u8]>>> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(Some(b));
            }
            if let Some((h, why)) = self.order.pop_ready(self.order.watermark()) {
                if why == Release::Forced {
                    self.forced += 1;
                }
                return Ok(Some(h.key.bytes));
            }
            // Read on from the file that is furthest behind in event time.
            let next = self
                .files
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.2)
                .min_by_key(|(_, f)| self.order.max_ts(&f.0).map_or(i64::MIN, |t| t))
                .map(|(i, _)| i);
            let Some(i) = next else {
                return Ok(self.order.pop_any().map(|h| h.key.bytes));
            };
            let (name, lines, done) = &mut self.files[i];
            let line = loop {
                match lines.next() {
                    Some(l) => {
                        let l = l.context("reading events")?;
                        if !l.trim().is_empty() {
                            break Some(l);
                        }
                    }
                    None => break None,
                }
            };
            let Some(line) = line else {
                *done = true;
                self.order.set_idle(name, true);
                continue;
            };
            let bytes: Arc<[u8]> = Arc::from(line.into_bytes());
            let key = match parse_event(&bytes, &self.parse) {
                Ok(ev) => OrderKey {
                    ts: ts_ns(&ev),
                    kind: kind_rank(ev.kind()),
                    bytes: bytes.clone(),
                },
                Err(_) => {
                    self.ready.push_back(bytes);
                    continue;
                }
            };
            if let Some(late) = self.order.push(name, 0, key) {
                self.late += 1;
                self.ready.push_back(late.key.bytes);
            }
        }
    }
}

/// Monitors of the models that have a `reference_file`, with their reference built from it.
pub fn reference_monitors(cfg: &Config) -> anyhow::Result<BTreeMap<String, ModelMonitor>> {
    let policy = ModelPolicy::new(&cfg.models, &cfg.events);
    let parse = ParseOptions {
        max_event_bytes: cfg.events.max_event_bytes,
        default_kind: None,
    };
    let mut out = BTreeMap::new();
    for (name, m) in &cfg.models {
        let Some(path) = &m.reference_file else {
            continue;
        };
        let settings = policy.monitor_settings(name, &cfg.monitor);
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("reading the reference of model {name}: {}", path.display())
        })?;
        let events = text
            .lines()
            .filter_map(|l| parse_event(l.as_bytes(), &parse).ok())
            .filter(|e| e.model == name.as_str());
        let mut monitor = ModelMonitor::new(name, &m.positive_label, settings);
        let n = monitor.set_reference(events, settings);
        anyhow::ensure!(
            n > 0,
            "the reference file {} holds no valid prediction of model {name}",
            path.display()
        );
        tracing::info!(model = %name, predictions = n, file = %path.display(), "reference loaded from file");
        out.insert(name.clone(), monitor);
    }
    Ok(out)
}

/// Options of one replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions<'a> {
    /// Predictions (and possibly feedback).
    pub events: &'a Path,
    /// Feedback, merged by event time.
    pub feedback: Option<&'a Path>,
    /// Where the report goes.
    pub report: &'a Path,
    /// Ground truth to score against.
    pub truth: Option<&'a Path>,
    /// Where the alert backtest goes: one JSON line per notification the `[alerting]` rules
    /// would have sent (event time), then a summary line.
    pub alerts: Option<&'a Path>,
    /// Join-store entries kept in memory per model and per kind (waiting predictions, early
    /// feedback, joined ids); older ones go to a temporary file in `spill_dir`, so memory stays
    /// flat however long the input. `None`: all in memory. Results are the same either way.
    pub join_memory: Option<usize>,
    /// Where the join store's temporary files go (default: the system's temporary directory).
    pub spill_dir: Option<&'a Path>,
    /// Where the HTML report goes ([`crate::report`]): per model the drift timeline, the
    /// distributions, the tests, labels and accuracy, and (with `alerts`) the alerts.
    pub html: Option<&'a Path>,
    /// Simulates experts with a labelling budget: only this share of the predictions get their
    /// feedback applied, chosen by the policy; the rest is withheld.
    pub label_budget: Option<(f64, LabelPolicy)>,
}

/// Which predictions a simulated labelling budget labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LabelPolicy {
    /// The review queue's choice (`[monitor.review]`: uncertainty, drifting regions, a random
    /// share), at `sample_rate` = the budget.
    Review,
    /// Uniformly at random (the same hash of the id, compared with the budget).
    Random,
}

/// Runs a replay; returns the summary (also written as the report's last line).
pub fn replay(cfg: &Config, opts: &ReplayOptions<'_>) -> anyhow::Result<ReplaySummary> {
    let mut budgeted = cfg.monitor.clone();
    if let Some((b, _)) = opts.label_budget {
        budgeted.review.enabled = true;
        budgeted.review.sample_rate = b;
    }
    let settings: &MonitorSettings = &budgeted;
    let track = |m: &mut ModelMonitor| {
        if let Some((_, LabelPolicy::Review)) = opts.label_budget {
            m.review_mut().selected = Some(Default::default());
        }
    };
    let parse = ParseOptions {
        max_event_bytes: cfg.events.max_event_bytes,
        default_kind: None,
    };
    let policy = ModelPolicy::new(&cfg.models, &cfg.events);
    let mut out = BufWriter::new(
        File::create(opts.report).with_context(|| format!("creating {}", opts.report.display()))?,
    );
    let mut input = Ordered::open(
        opts.events,
        opts.feedback,
        cfg.events.order.settings(),
        parse,
    )?;
    let mut monitors: BTreeMap<String, ModelMonitor> = reference_monitors(cfg)?;
    let spill_dir = opts
        .spill_dir
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    let spill = |m: &mut ModelMonitor| -> anyhow::Result<()> {
        if let Some(hot) = opts.join_memory {
            m.spill_joins_to(&spill_dir, hot)
                .map_err(|e| anyhow::anyhow!("the join store's temporary file: {e}"))?;
        }
        Ok(())
    };
    for m in monitors.values_mut() {
        spill(m)?;
        track(m);
    }
    let mut summary = ReplaySummary::default();
    let mut all_onsets: Vec<Onset> = Vec::new();
    let keep_onsets = opts.truth.is_some() || opts.html.is_some();
    let mut alerts = opts
        .alerts
        .map(|p| AlertBacktest::open(cfg, p))
        .transpose()?;
    while let Some(line) = input.pop()? {
        let ev = match parse_event(&line, &parse) {
            Ok(ev) => ev,
            Err(r) => {
                *summary.rejected.entry(r.reason).or_default() += 1;
                if let Some(a) = alerts.as_mut() {
                    a.rejected += 1;
                }
                continue;
            }
        };
        if let Err(r) = policy.check(&ev.model) {
            *summary.rejected.entry(r.reason).or_default() += 1;
            if let Some(a) = alerts.as_mut() {
                a.rejected += 1;
            }
            continue;
        }
        if let Some(a) = alerts.as_mut() {
            a.advance(ev.ts.timestamp_millis(), &monitors, &policy, settings)?;
        }
        summary.events += 1;
        let model = ev.model.as_ref();
        if !monitors.contains_key(model) {
            if monitors.len() >= cfg.events.max_models {
                *summary
                    .rejected
                    .entry(RejectReason::TooManyModels)
                    .or_default() += 1;
                if let Some(a) = alerts.as_mut() {
                    a.rejected += 1;
                }
                continue;
            }
            let positive = cfg
                .models
                .get(model)
                .map_or("1", |m| m.positive_label.as_str());
            let mut m =
                ModelMonitor::new(model, positive, policy.monitor_settings(model, settings));
            spill(&mut m)?;
            track(&mut m);
            monitors.insert(model.to_owned(), m);
        }
        if let Some(a) = alerts.as_mut() {
            *a.events.entry(model.to_owned()).or_insert(0) += 1;
        }
        let m = monitors.get_mut(model).expect("inserted above");
        if let (Some((b, pol)), EventKind::Feedback) = (opts.label_budget, ev.kind()) {
            let chosen = match pol {
                LabelPolicy::Random => crate::monitor::review::uniform(model, &ev.id) < b,
                LabelPolicy::Review => m
                    .review()
                    .selected
                    .as_ref()
                    .is_some_and(|s| s.contains(ev.id.as_ref())),
            };
            if !chosen {
                summary.labels_withheld += 1;
                continue;
            }
        }
        let settings_m = policy.monitor_settings(model, settings);
        let ms = summary.models.entry(model.to_owned()).or_default();
        match ev.kind() {
            EventKind::Prediction => ms.predictions += 1,
            EventKind::Feedback => ms.feedback += 1,
        }
        let onsets = m.observe(&ev, settings_m);
        // Label delays feed the daemon's histogram; a replay has no use for them.
        let _ = m.take_label_delays();
        if summary.events.is_multiple_of(100_000)
            && let Some(e) = m.join().spill_error()
        {
            anyhow::bail!("the join store's temporary file failed: {e}");
        }
        for onset in onsets {
            serde_json::to_writer(&mut out, &onset)?;
            out.write_all(b"\n")?;
            *ms.onsets.entry(onset.kind).or_default() += 1;
            summary.onsets += 1;
            if keep_onsets {
                all_onsets.push(onset);
            }
        }
    }
    summary.late_events = input.late;
    summary.forced_events = input.forced;
    for (name, m) in &monitors {
        let ms = summary.models.entry(name.clone()).or_default();
        let (labelled, errors) = m.labels();
        ms.labelled = labelled;
        ms.errors = errors;
        ms.windows = m.evaluations;
        ms.join_evicted = m.join().evicted;
        ms.duplicate_feedback = m.join().duplicate_feedback;
    }
    if let Some(e) = monitors.values().find_map(|m| m.join().spill_error()) {
        anyhow::bail!("the join store's temporary file failed: {e}");
    }
    let mut alert_rows: Option<BTreeMap<String, Vec<AlertRow>>> = None;
    if let Some(mut a) = alerts {
        // One more boundary after the last event, so what was due then is reported too.
        if let Some(next) = a.next_tick_ms {
            let mut from_monitors = Vec::new();
            for (model, m) in &monitors {
                from_monitors.extend(m.samples(policy.monitor_settings(model, settings)));
            }
            a.tick(next, &from_monitors)?;
        }
        alert_rows = Some(monitors.keys().map(|m| (m.clone(), a.rows_of(m))).collect());
        summary.alerts = Some(a.finish()?);
    }
    if let Some(truth_path) = opts.truth {
        let text = std::fs::read_to_string(truth_path)
            .with_context(|| format!("reading {}", truth_path.display()))?;
        let truth: Truth = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", truth_path.display()))?;
        let score = score(&all_onsets, &truth);
        summary.backtest = Some(serde_json::to_value(score)?);
    }
    if let Some(path) = opts.html {
        let per_model: Vec<(&String, &ModelMonitor, Vec<Onset>)> = monitors
            .iter()
            .map(|(name, m)| {
                let onsets = all_onsets
                    .iter()
                    .filter(|o| o.model == *name)
                    .cloned()
                    .collect();
                (name, m, onsets)
            })
            .collect();
        let reports: Vec<ModelReport<'_>> = per_model
            .iter()
            .map(|(name, m, onsets)| ModelReport {
                model: name,
                monitor: m,
                tests: m.peek(policy.monitor_settings(name, settings)),
                onsets,
                feedback: summary.models.get(*name).map(|s| s.feedback),
                alerts: alert_rows
                    .as_ref()
                    .map(|r| r.get(*name).cloned().unwrap_or_default()),
            })
            .collect();
        let title = opts.events.display().to_string();
        let html = render(&title, "driftd replay", &reports).map_err(|e| anyhow::anyhow!("{e}"))?;
        std::fs::write(path, html).with_context(|| format!("writing {}", path.display()))?;
    }
    serde_json::to_writer(&mut out, &serde_json::json!({ "summary": &summary }))?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(summary)
}
