//! `driftd replay`: recorded events through the monitors, in event time, with no wall clock and
//! no external service. The same input gives the same report, byte for byte.
//!
//! Input: a predictions file (JSON lines; it may hold feedback too) and optionally a feedback file.
//! Each file must be in event-time order (as a log is); the two are merged by `ts`. Output: one JSON
//! line per drift onset ([`Onset`]), then one summary line `{"summary": {...}}`; with a truth file,
//! the summary holds the backtest score ([`crate::backtest`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::backtest::{Onset, OnsetKind};
use crate::config::Config;
use crate::event::{ParseOptions, RejectReason, parse_event, parse_ts};
use crate::monitor::{ModelMonitor, MonitorSettings};
use crate::pipeline::ModelPolicy;

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
    /// The backtest score, with `--truth`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TsOnly<'a> {
    #[serde(borrow, default)]
    ts: Option<&'a str>,
}

fn ts_key(line: &str) -> i64 {
    serde_json::from_str::<TsOnly<'_>>(line)
        .ok()
        .and_then(|t| t.ts.and_then(parse_ts))
        .map_or(i64::MIN, |t| t.timestamp_millis())
}

/// Reads lines of two files merged by event time (each file in its own order).
struct Merged {
    a: std::io::Lines<BufReader<File>>,
    b: Option<std::io::Lines<BufReader<File>>>,
    next_a: Option<(i64, String)>,
    next_b: Option<(i64, String)>,
}

impl Merged {
    fn open(a: &Path, b: Option<&Path>) -> anyhow::Result<Self> {
        let open = |p: &Path| -> anyhow::Result<std::io::Lines<BufReader<File>>> {
            Ok(BufReader::with_capacity(
                1 << 20,
                File::open(p).with_context(|| format!("opening {}", p.display()))?,
            )
            .lines())
        };
        let mut m = Merged {
            a: open(a)?,
            b: b.map(open).transpose()?,
            next_a: None,
            next_b: None,
        };
        m.next_a = next(&mut m.a, m.b.is_some())?;
        if let Some(b) = m.b.as_mut() {
            m.next_b = next(b, true)?;
        }
        Ok(m)
    }

    fn pop(&mut self) -> anyhow::Result<Option<String>> {
        let take_a = match (&self.next_a, &self.next_b) {
            (None, None) => return Ok(None),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            // Ties go to the predictions file, so a label never overtakes its prediction at
            // the same instant.
            (Some((ta, _)), Some((tb, _))) => ta <= tb,
        };
        let merge = self.b.is_some();
        if take_a {
            let line = self.next_a.take().map(|x| x.1);
            self.next_a = next(&mut self.a, merge)?;
            Ok(line)
        } else {
            let line = self.next_b.take().map(|x| x.1);
            if let Some(b) = self.b.as_mut() {
                self.next_b = next(b, true)?;
            }
            Ok(line)
        }
    }
}

fn next(
    lines: &mut std::io::Lines<BufReader<File>>,
    need_ts: bool,
) -> anyhow::Result<Option<(i64, String)>> {
    for line in lines.by_ref() {
        let line = line.context("reading events")?;
        if line.trim().is_empty() {
            continue;
        }
        let ts = if need_ts { ts_key(&line) } else { 0 };
        return Ok(Some((ts, line)));
    }
    Ok(None)
}

/// Monitors of the models that have a `reference_file`, with their reference built from it.
pub fn reference_monitors(cfg: &Config) -> anyhow::Result<BTreeMap<String, ModelMonitor>> {
    let policy = ModelPolicy::from_config(cfg);
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
}

/// Runs a replay; returns the summary (also written as the report's last line).
pub fn replay(cfg: &Config, opts: &ReplayOptions<'_>) -> anyhow::Result<ReplaySummary> {
    let settings: &MonitorSettings = &cfg.monitor;
    let parse = ParseOptions {
        max_event_bytes: cfg.events.max_event_bytes,
        default_kind: None,
    };
    let policy = ModelPolicy::from_config(cfg);
    let mut out = BufWriter::new(
        File::create(opts.report).with_context(|| format!("creating {}", opts.report.display()))?,
    );
    let mut input = Merged::open(opts.events, opts.feedback)?;
    let mut monitors: BTreeMap<String, ModelMonitor> = reference_monitors(cfg)?;
    let mut summary = ReplaySummary::default();
    let mut all_onsets: Vec<Onset> = Vec::new();
    let keep_onsets = opts.truth.is_some();
    while let Some(line) = input.pop()? {
        let ev = match parse_event(line.as_bytes(), &parse) {
            Ok(ev) => ev,
            Err(r) => {
                *summary.rejected.entry(r.reason).or_default() += 1;
                continue;
            }
        };
        if let Err(r) = policy.check(&ev.model) {
            *summary.rejected.entry(r.reason).or_default() += 1;
            continue;
        }
        summary.events += 1;
        let model = ev.model.as_ref();
        if !monitors.contains_key(model) {
            if monitors.len() >= cfg.events.max_models {
                *summary
                    .rejected
                    .entry(RejectReason::TooManyModels)
                    .or_default() += 1;
                continue;
            }
            let positive = cfg
                .models
                .get(model)
                .map_or("1", |m| m.positive_label.as_str());
            monitors.insert(
                model.to_owned(),
                ModelMonitor::new(model, positive, policy.monitor_settings(model, settings)),
            );
        }
        let m = monitors.get_mut(model).expect("inserted above");
        let settings_m = policy.monitor_settings(model, settings);
        let ms = summary.models.entry(model.to_owned()).or_default();
        match ev.kind() {
            crate::event::EventKind::Prediction => ms.predictions += 1,
            crate::event::EventKind::Feedback => ms.feedback += 1,
        }
        let onsets = m.observe(&ev, settings_m);
        // Label delays feed the daemon's histogram; a replay has no use for them.
        let _ = m.take_label_delays();
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
    for (name, m) in &monitors {
        let ms = summary.models.entry(name.clone()).or_default();
        let (labelled, errors) = m.labels();
        ms.labelled = labelled;
        ms.errors = errors;
        ms.windows = m.evaluations;
        ms.join_evicted = m.join().evicted;
        ms.duplicate_feedback = m.join().duplicate_feedback;
    }
    if let Some(truth_path) = opts.truth {
        let text = std::fs::read_to_string(truth_path)
            .with_context(|| format!("reading {}", truth_path.display()))?;
        let truth: crate::backtest::Truth = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", truth_path.display()))?;
        let score = crate::backtest::score(&all_onsets, &truth);
        summary.backtest = Some(serde_json::to_value(score)?);
    }
    serde_json::to_writer(&mut out, &serde_json::json!({ "summary": &summary }))?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(summary)
}
