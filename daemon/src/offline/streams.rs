//! The project's own seeded benchmark streams with known drift onsets, in event contract v1.
//!
//! [`generate`] draws a stream of prediction events, their late feedback and its ground truth
//! ([`Truth`], the `NAME.truth.json` format of the shared `make_streams.py`, so that
//! `driftd replay --truth` scores both generators the same way). Everything is pure and
//! deterministic: the same [`StreamSpec`] gives byte-identical output, on any platform. Random
//! numbers come from [`driftd_detectors::synth::Rng`] (SplitMix64, Irwin–Hall normals) and the only
//! transcendental function needed (`exp`, for sigmoids and log-normal delays) is computed here with
//! IEEE-exact operations only, so no libm decides a last bit.
//!
//! # The model and its data
//!
//! Every event has 10 numeric features `num_0..num_9` (standard normal unless drifted) and 3
//! categorical ones: `cat_0` (`country_0..country_9`, uniform), `cat_1` (`device_0..device_3`,
//! uniform) and `cat_2` (`plan_0..plan_2`, uniform). The deployed model is a fixed logistic model,
//! logit `m(x) = w·num + 0.4·[cat_1 = device_0] − 0.3·[cat_0 = country_0]`; it predicts
//! `{"label": "1" if m(x) > 0 else "0", "score": sigmoid(m(x))}`. The true label is the sign of the
//! true logit `t(x)`, flipped with probability [`LABEL_NOISE`]. Before any concept drift `t = m`,
//! so the model is the true concept and its error rate is the label noise, ~10 %, whatever P(X)
//! does; a concept drift replaces `w` by `w'`, the same vector rotated by 45°, so that the model
//! and the new concept disagree on ~25 % of the inputs and the error rate rises to ~30 %.
//!
//! Event time starts at 2026-01-01T00:00:00.000Z and advances by 1 to 99 ms per event (uniform,
//! mean 50 ms). Each label arrives after a log-normal delay (median
//! [`StreamSpec::feedback_median_ms`], log-scale sd [`FEEDBACK_SIGMA`]); [`FEEDBACK_MISSING`] of the
//! labels never arrive. Ids are `<stream>-<index>`; the model name is the stream's name.
//!
//! # The streams (drift positions as fractions of `n_events`)
//!
//! | stream | what changes |
//! |---|---|
//! | `stable` | nothing (a monitor must raise no alarm) |
//! | `covariate_shift` | at 50 %: `num_0..num_2` mean +0.5 sd, `num_3` sd ×1.5; concept unchanged |
//! | `categorical_shift` | at 40 %: `cat_0` puts 60 % of its mass on `country_2`, `country_5`, `country_8`; at 70 %: an unseen `device_new` takes 10 % of `cat_1`; concept unchanged |
//! | `concept` | at 50 %: only the concept (`w` → `w'`); features and predictions never change |
//! | `gradual` | sigmoid mixture centred at 60 %, width 10 % (onset 55 %, end 65 %): the new regime has `num_0` mean +1, `num_5` mean −0.5 and the new concept `w'` |

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use driftd_detectors::synth::{Dist, Rng};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::offline::backtest::{
    DriftType, FeedbackDelay, Truth, TruthDrift, TruthFiles, TruthSegment,
};

/// Default number of prediction events per stream.
pub const DEFAULT_EVENTS: usize = 100_000;
/// Default seed.
pub const DEFAULT_SEED: u64 = 20_260_101;
/// Fewest events a stream may have (every drift needs room on both sides).
pub const MIN_EVENTS: usize = 100;
/// Number of numeric features (`num_0..`).
pub const NUMERIC_FEATURES: usize = 10;
/// Number of categorical features (`cat_0..`).
pub const CATEGORICAL_FEATURES: usize = 3;
/// Probability that a true label is flipped (the error rate of a model that knows the concept).
pub const LABEL_NOISE: f64 = 0.10;
/// Share of labels that never arrive.
pub const FEEDBACK_MISSING: f64 = 0.05;
/// Default median feedback delay, milliseconds (10 minutes, as in `make_streams.py`).
pub const DEFAULT_FEEDBACK_MEDIAN_MS: u64 = 600_000;
/// Log-scale standard deviation of the feedback delay.
pub const FEEDBACK_SIGMA: f64 = 1.0;
/// Event time of the first event: 2026-01-01T00:00:00Z, in milliseconds since the Unix epoch.
pub const START_MS: i64 = 1_767_225_600_000;
/// Largest gap between consecutive events, milliseconds (gaps are uniform on `1..=MAX_GAP_MS`).
pub const MAX_GAP_MS: u64 = 99;

const NUM_NAMES: [&str; NUMERIC_FEATURES] = [
    "num_0", "num_1", "num_2", "num_3", "num_4", "num_5", "num_6", "num_7", "num_8", "num_9",
];
const CAT_NAMES: [&str; CATEGORICAL_FEATURES] = ["cat_0", "cat_1", "cat_2"];
const COUNTRIES: [&str; 10] = [
    "country_0",
    "country_1",
    "country_2",
    "country_3",
    "country_4",
    "country_5",
    "country_6",
    "country_7",
    "country_8",
    "country_9",
];
/// The countries `cat_0` concentrates on in `categorical_shift`.
const HOT_COUNTRIES: [usize; 3] = [2, 5, 8];
const DEVICES: [&str; 4] = ["device_0", "device_1", "device_2", "device_3"];
const NEW_DEVICE: &str = "device_new";
const PLANS: [&str; 3] = ["plan_0", "plan_1", "plan_2"];
/// The deployed model's weights on `num_0..num_9`.
const WEIGHTS: [f64; NUMERIC_FEATURES] = [0.9, -0.7, 0.6, 0.5, -0.4, 0.35, 0.3, -0.25, 0.2, 0.15];
/// Direction the concept rotates towards (orthogonalised against [`WEIGHTS`]).
const ROTATION: [f64; NUMERIC_FEATURES] = [0.2, 0.5, 0.5, -0.3, 0.4, -0.2, 0.6, 0.1, -0.5, 0.3];

/// Which benchmark stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// No drift.
    Stable,
    /// Abrupt shift of some numeric features; concept unchanged.
    CovariateShift,
    /// A categorical feature concentrates, later an unseen category appears in another one.
    CategoricalShift,
    /// Abrupt concept drift: only the labels change.
    Concept,
    /// Sigmoid transition of two features and the concept.
    Gradual,
}

impl StreamKind {
    /// Every stream, in a stable order.
    pub const ALL: [StreamKind; 5] = [
        StreamKind::Stable,
        StreamKind::CovariateShift,
        StreamKind::CategoricalShift,
        StreamKind::Concept,
        StreamKind::Gradual,
    ];

    /// The stream's name (also its model name and default file name).
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Stable => "stable",
            StreamKind::CovariateShift => "covariate_shift",
            StreamKind::CategoricalShift => "categorical_shift",
            StreamKind::Concept => "concept",
            StreamKind::Gradual => "gradual",
        }
    }
}

impl fmt::Display for StreamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StreamKind {
    type Err = StreamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StreamKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| StreamError::UnknownStream(s.to_owned()))
    }
}

/// An invalid stream request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Fewer than [`MIN_EVENTS`] events.
    #[error("a stream needs at least {MIN_EVENTS} events, {0} were asked for")]
    TooFewEvents(usize),
    /// Not one of [`StreamKind::ALL`].
    #[error(
        "unknown stream `{0}` (known: stable, covariate_shift, categorical_shift, concept, gradual)"
    )]
    UnknownStream(String),
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSpec {
    /// Which stream.
    pub kind: StreamKind,
    /// Number of prediction events (at least [`MIN_EVENTS`]).
    pub n_events: usize,
    /// Seed; each kind derives its own generator from it, so streams of one seed are independent.
    pub seed: u64,
    /// Median feedback delay, milliseconds.
    pub feedback_median_ms: u64,
}

impl StreamSpec {
    /// `kind` with [`DEFAULT_EVENTS`], [`DEFAULT_SEED`] and [`DEFAULT_FEEDBACK_MEDIAN_MS`].
    pub fn new(kind: StreamKind) -> Self {
        StreamSpec {
            kind,
            n_events: DEFAULT_EVENTS,
            seed: DEFAULT_SEED,
            feedback_median_ms: DEFAULT_FEEDBACK_MEDIAN_MS,
        }
    }

    /// The same spec with `n_events` events.
    pub fn events(mut self, n_events: usize) -> Self {
        self.n_events = n_events;
        self
    }

    /// The same spec with another seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// A generated stream: JSON lines without their newline, and the ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedStream {
    /// The model name used in every event (the stream's name).
    pub model: String,
    /// Prediction events, in event-time order.
    pub predictions: Vec<String>,
    /// Feedback events, in arrival-time order (ties: prediction order).
    pub feedback: Vec<String>,
    /// The ground truth.
    pub truth: Truth,
}

/// The file names [`write_to_dir`] uses for stream `name`: predictions, feedback, truth.
pub fn file_names(name: &str) -> [String; 3] {
    [
        format!("{name}.predictions.jsonl"),
        format!("{name}.feedback.jsonl"),
        format!("{name}.truth.json"),
    ]
}

/// Writes `NAME.predictions.jsonl`, `NAME.feedback.jsonl` and `NAME.truth.json` (the shared
/// generator's names) into `dir`, creating it if needed. The truth's `stream` and `files` name the
/// written files.
pub fn write_to_dir(stream: &GeneratedStream, dir: &Path, name: &str) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let [pred_name, fb_name, truth_name] = file_names(name);
    for (file, lines) in [
        (&pred_name, &stream.predictions),
        (&fb_name, &stream.feedback),
    ] {
        let mut w = io::BufWriter::new(std::fs::File::create(dir.join(file))?);
        for line in lines {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    let mut truth = stream.truth.clone();
    truth.stream = Some(name.to_owned());
    truth.files = Some(TruthFiles {
        predictions: pred_name,
        feedback: fb_name,
    });
    let mut text = serde_json::to_string_pretty(&truth).map_err(io::Error::other)?;
    text.push('\n');
    std::fs::write(dir.join(truth_name), text)
}

/// `e^x` from IEEE-exact operations only (`+ - * /`, `round`), so that the result is the same on
/// every platform: Cody–Waite reduction `x = k ln 2 + r`, `|r| <= ln 2 / 2`, a degree-14 Taylor
/// polynomial for `e^r` (truncation error below 1e-17) and an exact scaling by `2^k`. Relative error
/// a few ulp; `x` is clamped to `[-700, 700]`.
pub fn exp_det(x: f64) -> f64 {
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const INV_LN2: f64 = std::f64::consts::LOG2_E;
    let x = x.clamp(-700.0, 700.0);
    let k = (x * INV_LN2).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0;
    for n in (1..=14).rev() {
        p = 1.0 + p * r / f64::from(n);
    }
    // k is in [-1010, 1010]: 2^k is a normal number, built exactly from its exponent bits.
    let two_k = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    p * two_k
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + exp_det(-z))
}

/// Rounds to 6 decimals (as the shared generator does) and turns `-0` into `0`.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6 + 0.0
}

fn dot(a: &[f64; NUMERIC_FEATURES], b: &[f64; NUMERIC_FEATURES]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `w'`: [`WEIGHTS`] rotated by 45° towards [`ROTATION`] (Gram–Schmidt), same length.
fn drifted_weights() -> [f64; NUMERIC_FEATURES] {
    let w = WEIGHTS;
    let proj = dot(&ROTATION, &w) / dot(&w, &w);
    let mut u = [0.0; NUMERIC_FEATURES];
    for j in 0..NUMERIC_FEATURES {
        u[j] = ROTATION[j] - proj * w[j];
    }
    let scale = (dot(&w, &w) / dot(&u, &u)).sqrt();
    let mut out = [0.0; NUMERIC_FEATURES];
    for j in 0..NUMERIC_FEATURES {
        out[j] = (w[j] + u[j] * scale) * std::f64::consts::FRAC_1_SQRT_2;
    }
    out
}

/// Formats epoch milliseconds as RFC 3339 with milliseconds and `Z`.
fn fmt_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// FNV-1a, to give every kind its own seed.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How event `i` is drawn.
struct Regime {
    shift: [f64; NUMERIC_FEATURES],
    scale: [f64; NUMERIC_FEATURES],
    cat0_concentrated: bool,
    new_device_share: f64,
    new_concept: bool,
}

/// Drift positions of one stream.
struct Plan {
    kind: StreamKind,
    /// First drift (covariate, categorical, concept) or the gradual onset.
    a: usize,
    /// Second drift (categorical) or the gradual end.
    b: usize,
    /// Gradual centre and width.
    center: usize,
    width: usize,
}

impl Plan {
    fn new(kind: StreamKind, n: usize) -> Self {
        let center = n * 6 / 10;
        let width = n / 10;
        let (a, b) = match kind {
            StreamKind::Stable => (n, n),
            StreamKind::CovariateShift | StreamKind::Concept => (n / 2, n),
            StreamKind::CategoricalShift => (n * 4 / 10, n * 7 / 10),
            StreamKind::Gradual => (center - width / 2, center + width / 2),
        };
        Plan {
            kind,
            a,
            b,
            center,
            width,
        }
    }

    /// The regime of event `i`; `u` is the event's own uniform draw (gradual mixing).
    fn regime(&self, i: usize, u: f64) -> Regime {
        let mut r = Regime {
            shift: [0.0; NUMERIC_FEATURES],
            scale: [1.0; NUMERIC_FEATURES],
            cat0_concentrated: false,
            new_device_share: 0.0,
            new_concept: false,
        };
        match self.kind {
            StreamKind::Stable => {}
            StreamKind::CovariateShift => {
                if i >= self.a {
                    r.shift[0] = 0.5;
                    r.shift[1] = 0.5;
                    r.shift[2] = 0.5;
                    r.scale[3] = 1.5;
                }
            }
            StreamKind::CategoricalShift => {
                r.cat0_concentrated = i >= self.a;
                if i >= self.b {
                    r.new_device_share = 0.10;
                }
            }
            StreamKind::Concept => r.new_concept = i >= self.a,
            StreamKind::Gradual => {
                let z = 4.0 * (i as f64 - self.center as f64) / self.width as f64;
                if u < sigmoid(z) {
                    r.shift[0] = 1.0;
                    r.shift[5] = -0.5;
                    r.new_concept = true;
                }
            }
        }
        r
    }

    /// The truth's drifts, without timestamps.
    fn drifts(&self) -> Vec<TruthDrift> {
        let drift = |onset_index: usize, kind: &str, features: &[(&str, &str)]| TruthDrift {
            onset_index: onset_index as u64,
            center_index: None,
            end_index: None,
            drift_type: DriftType::Abrupt,
            kind: kind.to_owned(),
            change: None,
            mixing: None,
            features: features
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            concept_changed: false,
            concept_change: None,
            onset_ts: None,
            center_ts: None,
            end_ts: None,
        };
        const ROTATED: &str = "true weights on num_0..num_9 rotated by 45 degrees: the deployed \
                               model disagrees with the new concept on ~25% of inputs";
        match self.kind {
            StreamKind::Stable => Vec::new(),
            StreamKind::CovariateShift => vec![drift(
                self.a,
                "covariate",
                &[
                    ("num_0", "mean +0.5 sd"),
                    ("num_1", "mean +0.5 sd"),
                    ("num_2", "mean +0.5 sd"),
                    ("num_3", "sd x1.5 (mean unchanged)"),
                ],
            )],
            StreamKind::CategoricalShift => vec![
                drift(
                    self.a,
                    "categorical",
                    &[(
                        "cat_0",
                        "uniform over 10 -> 60% mass on country_2, country_5, country_8",
                    )],
                ),
                drift(
                    self.b,
                    "new_category",
                    &[("cat_1", "unseen value 'device_new' at 10% share")],
                ),
            ],
            StreamKind::Concept => {
                let mut d = drift(self.a, "concept", &[]);
                d.concept_changed = true;
                d.change = Some("error rate ~10% -> ~30%".to_owned());
                d.concept_change = Some(ROTATED.to_owned());
                vec![d]
            }
            StreamKind::Gradual => {
                let mut d = drift(
                    self.a,
                    "covariate+concept",
                    &[
                        ("num_0", "mean +1.0 sd (new concept)"),
                        ("num_5", "mean -0.5 sd (new concept)"),
                    ],
                );
                d.drift_type = DriftType::Gradual;
                d.center_index = Some(self.center as u64);
                d.end_index = Some(self.b as u64);
                d.mixing = Some("P(new concept at t) = 1/(1+exp(-4(t-center)/width))".to_owned());
                d.concept_changed = true;
                d.concept_change = Some(ROTATED.to_owned());
                vec![d]
            }
        }
    }

    fn description(&self) -> &'static str {
        match self.kind {
            StreamKind::Stable => "stable: no drift",
            StreamKind::CovariateShift => "abrupt covariate shift, concept unchanged",
            StreamKind::CategoricalShift => {
                "categorical distribution shift, then an unseen category"
            }
            StreamKind::Concept => {
                "abrupt concept drift; P(X) and the predictions never change (only labels reveal it)"
            }
            StreamKind::Gradual => "gradual (sigmoid) drift of features and concept",
        }
    }
}

/// The features of one event, serialised as a JSON object in a fixed order.
struct FeatureRow<'a> {
    num: &'a [f64; NUMERIC_FEATURES],
    cat: [&'a str; CATEGORICAL_FEATURES],
}

impl Serialize for FeatureRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(NUMERIC_FEATURES + CATEGORICAL_FEATURES))?;
        for (name, x) in NUM_NAMES.iter().zip(self.num) {
            m.serialize_entry(name, &round6(*x))?;
        }
        for (name, c) in CAT_NAMES.iter().zip(self.cat) {
            m.serialize_entry(name, c)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct PredictionOut<'a> {
    label: &'a str,
    score: f64,
}

#[derive(Serialize)]
struct PredictionLine<'a> {
    kind: &'static str,
    id: &'a str,
    model: &'a str,
    ts: &'a str,
    features: FeatureRow<'a>,
    prediction: PredictionOut<'a>,
}

#[derive(Serialize)]
struct FeedbackLine<'a> {
    kind: &'static str,
    id: &'a str,
    model: &'a str,
    ts: &'a str,
    label: &'a str,
}

fn label_str(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Generates a stream. Deterministic: the same spec gives byte-identical lines and truth.
pub fn generate(spec: &StreamSpec) -> Result<GeneratedStream, StreamError> {
    let n = spec.n_events;
    if n < MIN_EVENTS {
        return Err(StreamError::TooFewEvents(n));
    }
    let model = spec.kind.name();
    let plan = Plan::new(spec.kind, n);
    let mut rng = Rng::new(Rng::new(spec.seed ^ fnv1a(model)).next_u64());
    let w_new = drifted_weights();
    let cat0_uniform = Dist::Categorical {
        weights: vec![1.0; COUNTRIES.len()],
    };
    let mut hot = vec![0.4 / (COUNTRIES.len() - HOT_COUNTRIES.len()) as f64; COUNTRIES.len()];
    for &c in &HOT_COUNTRIES {
        hot[c] = 0.2;
    }
    let cat0_hot = Dist::Categorical { weights: hot };

    let mut ts_ms: Vec<i64> = Vec::with_capacity(n);
    let mut predictions = Vec::with_capacity(n);
    // (arrival ms, prediction index, true label) of the labels that arrive.
    let mut arrivals: Vec<(i64, usize, bool)> = Vec::with_capacity(n);
    let mut errors: Vec<bool> = Vec::with_capacity(n);
    let mut positives: Vec<bool> = Vec::with_capacity(n);
    let mut t = START_MS;
    // Every event consumes the same draws in the same order, whatever its regime.
    for i in 0..n {
        let gap = 1 + (rng.uniform() * MAX_GAP_MS as f64) as i64;
        if i > 0 {
            t += gap;
        }
        ts_ms.push(t);
        let r = plan.regime(i, rng.uniform());
        let mut x = [0.0; NUMERIC_FEATURES];
        for (j, v) in x.iter_mut().enumerate() {
            *v = r.shift[j] + r.scale[j] * rng.normal();
        }
        let c0 = if r.cat0_concentrated {
            cat0_hot.sample(&mut rng)
        } else {
            cat0_uniform.sample(&mut rng)
        } as usize;
        let c1 = (rng.uniform() * DEVICES.len() as f64) as usize;
        let c1_new = rng.uniform() < r.new_device_share;
        let c2 = (rng.uniform() * PLANS.len() as f64) as usize;
        let device_effect = if c1 == 0 && !c1_new { 0.4 } else { 0.0 };
        let country_effect = if c0 == 0 { -0.3 } else { 0.0 };
        let extra = device_effect + country_effect;
        let logit_model = dot(&WEIGHTS, &x) + extra;
        let logit_true = if r.new_concept {
            dot(&w_new, &x) + extra
        } else {
            logit_model
        };
        let predicted = logit_model > 0.0;
        let y = (logit_true > 0.0) ^ (rng.uniform() < LABEL_NOISE);
        let arrives = rng.uniform() >= FEEDBACK_MISSING;
        let delay =
            (spec.feedback_median_ms as f64 * exp_det(FEEDBACK_SIGMA * rng.normal())).floor();
        errors.push(predicted != y);
        positives.push(y);
        if arrives {
            arrivals.push((t + delay as i64, i, y));
        }
        let id = format!("{model}-{i:07}");
        let ts = fmt_ms(t);
        let line = PredictionLine {
            kind: "prediction",
            id: &id,
            model,
            ts: &ts,
            features: FeatureRow {
                num: &x,
                cat: [
                    COUNTRIES[c0],
                    if c1_new { NEW_DEVICE } else { DEVICES[c1] },
                    PLANS[c2],
                ],
            },
            prediction: PredictionOut {
                label: label_str(predicted),
                score: round6(sigmoid(logit_model)),
            },
        };
        predictions.push(serde_json::to_string(&line).expect("plain data serialises"));
    }

    arrivals.sort_by_key(|&(at, i, _)| (at, i));
    let feedback: Vec<String> = arrivals
        .iter()
        .map(|&(at, i, y)| {
            let line = FeedbackLine {
                kind: "feedback",
                id: &format!("{model}-{i:07}"),
                model,
                ts: &fmt_ms(at),
                label: label_str(y),
            };
            serde_json::to_string(&line).expect("plain data serialises")
        })
        .collect();

    let mut drifts = plan.drifts();
    for d in &mut drifts {
        d.onset_ts = Some(fmt_ms(ts_ms[d.onset_index as usize]));
        d.center_ts = d.center_index.map(|c| fmt_ms(ts_ms[c as usize]));
        d.end_ts = d.end_index.map(|e| fmt_ms(ts_ms[e as usize]));
    }
    let mut bounds: Vec<usize> = vec![0, n];
    for d in &drifts {
        bounds.push(d.onset_index as usize);
        bounds.extend(d.end_index.map(|e| e as usize));
    }
    bounds.sort_unstable();
    bounds.dedup();
    // Rounded to 4 decimals, as the shared generator does (short decimals also read back exactly
    // with serde_json's default float parser, which is not correctly rounded for long ones).
    let share = |v: &[bool]| {
        let x = v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;
        (x * 1e4).round() / 1e4
    };
    let segments = bounds
        .windows(2)
        .map(|s| TruthSegment {
            start_index: s[0] as u64,
            end_index: s[1] as u64,
            start_ts: Some(fmt_ms(ts_ms[s[0]])),
            error_rate: Some(share(&errors[s[0]..s[1]])),
            positive_rate: Some(share(&positives[s[0]..s[1]])),
        })
        .collect();
    let [pred_name, fb_name, _] = file_names(model);
    let truth = Truth {
        description: Some(plan.description().to_owned()),
        drifts,
        segments,
        stream: Some(model.to_owned()),
        model_id: Some(model.to_owned()),
        n_events: Some(n as u64),
        n_feedback: Some(feedback.len() as u64),
        first_ts: Some(fmt_ms(ts_ms[0])),
        last_ts: Some(fmt_ms(ts_ms[n - 1])),
        feedback_delay: Some(FeedbackDelay {
            distribution: "lognormal".to_owned(),
            median_s: spec.feedback_median_ms as f64 / 1000.0,
            sigma: Some(FEEDBACK_SIGMA),
            missing_fraction: FEEDBACK_MISSING,
        }),
        files: Some(TruthFiles {
            predictions: pred_name,
            feedback: fb_name,
        }),
        generator: Some("driftd".to_owned()),
        seed: Some(spec.seed),
    };
    Ok(GeneratedStream {
        model: model.to_owned(),
        predictions,
        feedback,
        truth,
    })
}

/// Generates every stream of [`StreamKind::ALL`] with the same size and seed, by name.
pub fn generate_all(
    n_events: usize,
    seed: u64,
) -> Result<BTreeMap<&'static str, GeneratedStream>, StreamError> {
    StreamKind::ALL
        .into_iter()
        .map(|k| {
            Ok((
                k.name(),
                generate(&StreamSpec::new(k).events(n_events).seed(seed))?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests;
