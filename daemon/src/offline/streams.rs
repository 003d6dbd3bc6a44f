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
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::contract::event::{
        Body, FeatureValue, ParseOptions, PredictionOutput, Target, parse_event,
    };
    use crate::contract::onset::{Onset, OnsetKind};
    use crate::offline::backtest::score;

    /// What the tests read back from the generated lines, through the real event parser.
    struct Parsed {
        ids: Vec<String>,
        ts_ms: Vec<i64>,
        num: Vec<[f64; NUMERIC_FEATURES]>,
        cat: Vec<[String; CATEGORICAL_FEATURES]>,
        predicted: Vec<bool>,
        score: Vec<f64>,
        /// Label by prediction index, for the labels that arrive.
        label: Vec<Option<bool>>,
        /// Arrival time of each feedback line, in file order.
        feedback_ts_ms: Vec<i64>,
    }

    fn parse(g: &GeneratedStream) -> Parsed {
        let opts = ParseOptions::default();
        let mut p = Parsed {
            ids: Vec::new(),
            ts_ms: Vec::new(),
            num: Vec::new(),
            cat: Vec::new(),
            predicted: Vec::new(),
            score: Vec::new(),
            label: Vec::new(),
            feedback_ts_ms: Vec::new(),
        };
        for line in &g.predictions {
            let ev = parse_event(line.as_bytes(), &opts).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(ev.model, g.model);
            let Body::Prediction { features, output } = ev.body else {
                panic!("not a prediction: {line}")
            };
            let mut num = [f64::NAN; NUMERIC_FEATURES];
            let mut cat: [String; CATEGORICAL_FEATURES] = Default::default();
            assert_eq!(features.0.len(), NUMERIC_FEATURES + CATEGORICAL_FEATURES);
            for (name, v) in &features.0 {
                match v {
                    FeatureValue::Number(x) => {
                        num[name.strip_prefix("num_").unwrap().parse::<usize>().unwrap()] = *x
                    }
                    FeatureValue::Category(c) => {
                        cat[name.strip_prefix("cat_").unwrap().parse::<usize>().unwrap()] =
                            c.to_string()
                    }
                    FeatureValue::Missing => panic!("missing value in {line}"),
                }
            }
            assert!(num.iter().all(|x| x.is_finite()));
            assert!(cat.iter().all(|c| !c.is_empty()));
            let Some(PredictionOutput::Class {
                label: Some(label),
                score: Some(score),
                ..
            }) = output
            else {
                panic!("no label and score: {line}")
            };
            assert!(label == "0" || label == "1", "{line}");
            p.ids.push(ev.id.to_string());
            p.ts_ms.push(ev.ts.timestamp_millis());
            p.num.push(num);
            p.cat.push(cat);
            p.predicted.push(label == "1");
            p.score.push(score);
        }
        let index: HashMap<&str, usize> = p
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        assert_eq!(index.len(), p.ids.len(), "ids are not unique");
        let mut label = vec![None; p.ids.len()];
        for line in &g.feedback {
            let ev = parse_event(line.as_bytes(), &opts).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(ev.model, g.model);
            let Body::Feedback {
                target: Target::Label(l),
                ..
            } = ev.body
            else {
                panic!("not a labelled feedback: {line}")
            };
            let i = index[ev.id.as_ref()];
            assert!(label[i].is_none(), "two labels for {}", ev.id);
            assert!(l == "0" || l == "1");
            label[i] = Some(l == "1");
            p.feedback_ts_ms.push(ev.ts.timestamp_millis());
            assert!(
                ev.ts.timestamp_millis() >= p.ts_ms[i],
                "label before prediction"
            );
        }
        p.label = label;
        p
    }

    fn gen_kind(kind: StreamKind, n: usize) -> (GeneratedStream, Parsed) {
        let g = generate(&StreamSpec::new(kind).events(n)).unwrap();
        let p = parse(&g);
        (g, p)
    }

    fn mean(xs: impl Iterator<Item = f64>) -> f64 {
        let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
        s / n as f64
    }

    fn num_mean(p: &Parsed, j: usize, r: std::ops::Range<usize>) -> f64 {
        mean(p.num[r].iter().map(|x| x[j]))
    }

    fn num_sd(p: &Parsed, j: usize, r: std::ops::Range<usize>) -> f64 {
        let m = num_mean(p, j, r.clone());
        mean(p.num[r].iter().map(|x| (x[j] - m) * (x[j] - m))).sqrt()
    }

    /// Error rate over the labelled events of `r` (measured from the files, not the truth).
    fn error_rate(p: &Parsed, r: std::ops::Range<usize>) -> f64 {
        mean(r.filter_map(|i| p.label[i].map(|y| f64::from(u8::from(y != p.predicted[i])))))
    }

    fn shares(p: &Parsed, j: usize, r: std::ops::Range<usize>) -> BTreeMap<String, f64> {
        let len = r.len() as f64;
        let mut out = BTreeMap::new();
        for c in &p.cat[r] {
            *out.entry(c[j].clone()).or_insert(0.0) += 1.0 / len;
        }
        out
    }

    /// Total variation distance between two categorical distributions.
    fn tv(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> f64 {
        let keys: HashSet<&String> = a.keys().chain(b.keys()).collect();
        keys.into_iter()
            .map(|k| (a.get(k).unwrap_or(&0.0) - b.get(k).unwrap_or(&0.0)).abs())
            .sum::<f64>()
            / 2.0
    }

    /// The features whose distribution differs between `before` and `after`, by measurement:
    /// numeric mean moved by more than 0.1 sd or sd ratio off by more than 10 %, categorical total
    /// variation above 0.05.
    fn moved_features(
        p: &Parsed,
        before: std::ops::Range<usize>,
        after: std::ops::Range<usize>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for j in 0..NUMERIC_FEATURES {
            let dm = num_mean(p, j, after.clone()) - num_mean(p, j, before.clone());
            let ratio = num_sd(p, j, after.clone()) / num_sd(p, j, before.clone());
            if dm.abs() > 0.1 || (ratio - 1.0).abs() > 0.1 {
                out.push(format!("num_{j}"));
            }
        }
        for j in 0..CATEGORICAL_FEATURES {
            if tv(&shares(p, j, before.clone()), &shares(p, j, after.clone())) > 0.05 {
                out.push(format!("cat_{j}"));
            }
        }
        out
    }

    fn truth_features(g: &GeneratedStream, drift: usize) -> Vec<String> {
        g.truth.drifts[drift].features.keys().cloned().collect()
    }

    #[test]
    fn same_seed_gives_identical_bytes_and_another_seed_differs() {
        for kind in StreamKind::ALL {
            let spec = StreamSpec::new(kind).events(3_000);
            let a = generate(&spec).unwrap();
            let b = generate(&spec).unwrap();
            assert_eq!(a, b, "{kind}");
            let c = generate(&spec.clone().seed(spec.seed + 1)).unwrap();
            assert_ne!(a.predictions, c.predictions, "{kind}");
            assert_ne!(a.feedback, c.feedback, "{kind}");

            let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            write_to_dir(&a, d1.path(), "s").unwrap();
            write_to_dir(&b, d2.path(), "s").unwrap();
            for f in file_names("s") {
                let x = std::fs::read(d1.path().join(&f)).unwrap();
                let y = std::fs::read(d2.path().join(&f)).unwrap();
                assert!(!x.is_empty());
                assert_eq!(x, y, "{kind} {f}");
            }
        }
        // Different kinds of one seed are independent draws, not shifted copies of one stream.
        let s = generate(&StreamSpec::new(StreamKind::Stable).events(1_000)).unwrap();
        let c = generate(&StreamSpec::new(StreamKind::Concept).events(1_000)).unwrap();
        let feats = |l: &str| l[l.find("\"features\"").unwrap()..].to_owned();
        assert_ne!(feats(&s.predictions[0]), feats(&c.predictions[0]));
    }

    #[test]
    fn every_line_is_a_valid_event_with_monotonic_time_and_late_labels() {
        for kind in StreamKind::ALL {
            let n = 5_000;
            let (g, p) = gen_kind(kind, n);
            assert_eq!(g.predictions.len(), n);
            assert_eq!(g.model, kind.name());
            assert_eq!(g.truth.model_id.as_deref(), Some(kind.name()));
            assert_eq!(g.truth.n_events, Some(n as u64));
            assert_eq!(g.truth.n_feedback, Some(g.feedback.len() as u64));
            assert_eq!(
                g.truth.first_ts.as_deref(),
                Some("2026-01-01T00:00:00.000Z")
            );
            assert!(g.predictions[0].contains(r#""ts":"2026-01-01T00:00:00.000Z""#));
            assert!(
                p.ts_ms.windows(2).all(|w| w[0] < w[1]),
                "{kind}: time not increasing"
            );
            assert_eq!(
                g.truth.last_ts.as_deref(),
                Some(fmt_ms(p.ts_ms[n - 1]).as_str())
            );
            let mean_gap = (p.ts_ms[n - 1] - p.ts_ms[0]) as f64 / (n - 1) as f64;
            assert!(
                (45.0..55.0).contains(&mean_gap),
                "{kind}: mean gap {mean_gap}"
            );
            assert!(
                p.feedback_ts_ms.windows(2).all(|w| w[0] <= w[1]),
                "{kind}: feedback order"
            );
            let labelled = p.label.iter().filter(|l| l.is_some()).count() as f64 / n as f64;
            assert!(
                (0.93..0.97).contains(&labelled),
                "{kind}: {labelled} labelled"
            );
            for i in 0..n {
                assert!((0.0..=1.0).contains(&p.score[i]));
                if p.predicted[i] {
                    assert!(
                        p.score[i] >= 0.5,
                        "{kind}: label 1 with score {}",
                        p.score[i]
                    );
                } else {
                    assert!(
                        p.score[i] <= 0.5,
                        "{kind}: label 0 with score {}",
                        p.score[i]
                    );
                }
            }
            // Median label delay ~ 10 minutes.
            let mut delays: Vec<i64> = Vec::new();
            let at: HashMap<&str, i64> = p
                .ids
                .iter()
                .map(String::as_str)
                .zip(p.ts_ms.iter().copied())
                .collect();
            for line in &g.feedback {
                let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
                delays.push(ev.ts.timestamp_millis() - at[ev.id.as_ref()]);
            }
            delays.sort_unstable();
            let median = delays[delays.len() / 2] as f64 / 1000.0;
            assert!(
                (540.0..660.0).contains(&median),
                "{kind}: median delay {median} s"
            );
            // Every drift's timestamps are those of the events at its indices.
            for d in &g.truth.drifts {
                assert_eq!(
                    d.onset_ts.as_deref(),
                    Some(fmt_ms(p.ts_ms[d.onset_index as usize]).as_str())
                );
                if let Some(c) = d.center_index {
                    assert_eq!(
                        d.center_ts.as_deref(),
                        Some(fmt_ms(p.ts_ms[c as usize]).as_str())
                    );
                }
            }
            // Segment error rates (all events) agree with what the labels that arrive show.
            for s in &g.truth.segments {
                let measured = error_rate(&p, s.start_index as usize..s.end_index as usize);
                let stated = s.error_rate.unwrap();
                assert!(
                    (measured - stated).abs() < 0.015,
                    "{kind}: segment {s:?} measured {measured}"
                );
            }
        }
    }

    #[test]
    fn stable_stream_has_no_drift_in_its_data() {
        let n = 40_000;
        let (g, p) = gen_kind(StreamKind::Stable, n);
        assert!(g.truth.drifts.is_empty());
        assert_eq!(g.truth.segments.len(), 1);
        for (a, b) in [(0..n / 2, n / 2..n), (0..n / 4, 3 * n / 4..n)] {
            assert!(moved_features(&p, a.clone(), b.clone()).is_empty());
            let (ea, eb) = (error_rate(&p, a), error_rate(&p, b));
            assert!(
                (0.08..0.12).contains(&ea) && (0.08..0.12).contains(&eb),
                "{ea} {eb}"
            );
        }
        for j in 0..NUMERIC_FEATURES {
            assert!(num_mean(&p, j, 0..n).abs() < 0.03);
            assert!((num_sd(&p, j, 0..n) - 1.0).abs() < 0.03);
        }
        let c0 = shares(&p, 0, 0..n);
        assert_eq!(c0.len(), 10);
        assert!(c0.values().all(|s| (s - 0.1).abs() < 0.015), "{c0:?}");
    }

    #[test]
    fn covariate_shift_moves_exactly_the_stated_features_by_the_stated_amounts() {
        let n = 40_000;
        let (g, p) = gen_kind(StreamKind::CovariateShift, n);
        let c = g.truth.drifts[0].onset_index as usize;
        assert_eq!(c, n / 2);
        assert!(!g.truth.drifts[0].concept_changed);
        let (before, after) = (0..c, c..n);
        assert_eq!(
            moved_features(&p, before.clone(), after.clone()),
            truth_features(&g, 0)
        );
        for j in 0..3 {
            let dm = num_mean(&p, j, after.clone()) - num_mean(&p, j, before.clone());
            assert!((dm - 0.5).abs() < 0.05, "num_{j} moved {dm}");
        }
        let ratio = num_sd(&p, 3, after.clone()) / num_sd(&p, 3, before.clone());
        assert!((ratio - 1.5).abs() < 0.05, "num_3 sd ratio {ratio}");
        let dm3 = num_mean(&p, 3, after.clone()) - num_mean(&p, 3, before.clone());
        assert!(dm3.abs() < 0.05, "num_3 mean moved {dm3}");
        // The concept is unchanged: the error rate stays at the label noise.
        let (eb, ea) = (
            error_rate(&p, before.clone()),
            error_rate(&p, after.clone()),
        );
        assert!(
            (eb - 0.10).abs() < 0.015 && (ea - 0.10).abs() < 0.015,
            "{eb} {ea}"
        );
        // ... while the predictions move (num_0..num_2 carry weight): prediction drift is real.
        let pb = mean(p.score[before].iter().copied());
        let pa = mean(p.score[after].iter().copied());
        assert!((pa - pb).abs() > 0.03, "score mean {pb} -> {pa}");
        // Nothing moves within a segment.
        assert!(moved_features(&p, 0..c / 2, c / 2..c).is_empty());
    }

    #[test]
    fn categorical_shift_concentrates_then_adds_an_unseen_category() {
        let n = 40_000;
        let (g, p) = gen_kind(StreamKind::CategoricalShift, n);
        let c1 = g.truth.drifts[0].onset_index as usize;
        let c2 = g.truth.drifts[1].onset_index as usize;
        assert_eq!((c1, c2), (16_000, 28_000));
        assert_eq!(moved_features(&p, 0..c1, c1..c2), truth_features(&g, 0));
        assert_eq!(moved_features(&p, c1..c2, c2..n), truth_features(&g, 1));
        let hot = |r: std::ops::Range<usize>| {
            let s = shares(&p, 0, r);
            ["country_2", "country_5", "country_8"]
                .iter()
                .map(|c| s.get(*c).copied().unwrap_or(0.0))
                .sum::<f64>()
        };
        let (h0, h1) = (hot(0..c1), hot(c1..n));
        assert!((h0 - 0.3).abs() < 0.02, "hot share before {h0}");
        assert!((h1 - 0.6).abs() < 0.02, "hot share after {h1}");
        let new_share =
            |r: std::ops::Range<usize>| shares(&p, 1, r).get(NEW_DEVICE).copied().unwrap_or(0.0);
        assert_eq!(new_share(0..c2), 0.0, "device_new before its onset");
        let s = new_share(c2..n);
        assert!((s - 0.10).abs() < 0.015, "device_new share {s}");
        assert!(p.cat[c2..].iter().take(200).any(|c| c[1] == NEW_DEVICE));
        for r in [0..c1, c1..c2, c2..n] {
            let e = error_rate(&p, r);
            assert!((e - 0.10).abs() < 0.015, "error rate {e}");
        }
    }

    #[test]
    fn concept_drift_changes_only_the_labels() {
        let n = 40_000;
        let (g, p) = gen_kind(StreamKind::Concept, n);
        let d = &g.truth.drifts[0];
        assert!(d.concept_changed && d.features.is_empty());
        let c = d.onset_index as usize;
        let (before, after) = (0..c, c..n);
        assert!(moved_features(&p, before.clone(), after.clone()).is_empty());
        let rate = |r: std::ops::Range<usize>| mean(r.map(|i| f64::from(u8::from(p.predicted[i]))));
        let (rb, ra) = (rate(before.clone()), rate(after.clone()));
        assert!(
            (rb - ra).abs() < 0.02,
            "predicted positive rate {rb} -> {ra}"
        );
        let (eb, ea) = (
            error_rate(&p, before.clone()),
            error_rate(&p, after.clone()),
        );
        assert!((eb - 0.10).abs() < 0.015, "error before {eb}");
        assert!((ea - 0.30).abs() < 0.03, "error after {ea}");
        // The jump is at the onset, not somewhere near it.
        let (e1, e2) = (error_rate(&p, c - 4_000..c), error_rate(&p, c..c + 4_000));
        assert!(e1 < 0.14 && e2 > 0.24, "{e1} {e2}");
    }

    #[test]
    fn gradual_drift_follows_its_sigmoid() {
        let n = 40_000;
        let (g, p) = gen_kind(StreamKind::Gradual, n);
        let d = &g.truth.drifts[0];
        assert_eq!(d.drift_type, DriftType::Gradual);
        assert!(d.concept_changed);
        let (onset, center, end) = (
            d.onset_index as usize,
            d.center_index.unwrap() as usize,
            d.end_index.unwrap() as usize,
        );
        assert_eq!((onset, center, end), (22_000, 24_000, 26_000));
        assert_eq!(moved_features(&p, 0..onset, end..n), truth_features(&g, 0));
        // Share of new-regime events: ~0 well before, ~1/2 around the centre, ~1 after the end.
        let m0 = |r: std::ops::Range<usize>| num_mean(&p, 0, r);
        let (early, mid, late) = (
            m0(0..onset - 2_000),
            m0(center - 500..center + 500),
            m0(end + 2_000..n),
        );
        assert!(early.abs() < 0.03, "num_0 early {early}");
        assert!((mid - 0.5).abs() < 0.1, "num_0 at the centre {mid}");
        assert!((late - 1.0).abs() < 0.04, "num_0 late {late}");
        let m5 = num_mean(&p, 5, end + 2_000..n);
        assert!((m5 + 0.5).abs() < 0.04, "num_5 late {m5}");
        // Monotone transition: means of consecutive 2,000-event blocks across the window rise
        // (expected shares of the new regime ~0.05, 0.27, 0.73, 0.95).
        let blocks: Vec<f64> = [onset - 2_000, onset, center, end]
            .iter()
            .map(|&s| m0(s..s + 2_000))
            .collect();
        assert!(blocks.windows(2).all(|w| w[0] < w[1]), "{blocks:?}");
        let (eb, ea) = (error_rate(&p, 0..onset), error_rate(&p, end..n));
        assert!((eb - 0.10).abs() < 0.015, "error before {eb}");
        assert!(ea > eb + 0.08, "error {eb} -> {ea}");
    }

    #[test]
    fn written_files_have_the_shared_names_and_the_truth_reads_back() {
        let g = generate(&StreamSpec::new(StreamKind::CategoricalShift).events(500)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_to_dir(&g, &dir.path().join("sub"), "cs").unwrap();
        let base = dir.path().join("sub");
        let preds = std::fs::read_to_string(base.join("cs.predictions.jsonl")).unwrap();
        assert_eq!(preds.lines().collect::<Vec<_>>(), g.predictions);
        assert!(preds.ends_with('\n'));
        let fb = std::fs::read_to_string(base.join("cs.feedback.jsonl")).unwrap();
        assert_eq!(fb.lines().count(), g.feedback.len());
        let truth: Truth =
            serde_json::from_str(&std::fs::read_to_string(base.join("cs.truth.json")).unwrap())
                .unwrap();
        assert_eq!(truth.stream.as_deref(), Some("cs"));
        assert_eq!(
            truth.files.as_ref().unwrap().predictions,
            "cs.predictions.jsonl"
        );
        // Everything else reads back exactly.
        let mut expected = g.truth.clone();
        expected.stream = truth.stream.clone();
        expected.files = truth.files.clone();
        assert_eq!(truth, expected);
    }

    #[test]
    fn generated_truth_scores_an_oracle_as_perfect_and_a_wrong_feature_as_false() {
        let g = generate(&StreamSpec::new(StreamKind::CategoricalShift).events(10_000)).unwrap();
        let mut onsets = Vec::new();
        for d in &g.truth.drifts {
            for f in d.features.keys() {
                onsets.push(Onset {
                    ts: d.onset_ts.clone().unwrap(),
                    model: g.model.clone(),
                    kind: OnsetKind::Data,
                    feature: Some(f.clone()),
                    test: "chi2".to_owned(),
                    statistic: 1.0,
                    p_value: None,
                    threshold: 0.5,
                    event_index: d.onset_index + 100,
                });
            }
        }
        let mut wrong = onsets[0].clone();
        wrong.feature = Some("cat_2".to_owned());
        onsets.push(wrong);
        let r = score(&onsets, &g.truth);
        assert_eq!((r.summary.detected, r.summary.missed), (2, 0));
        assert_eq!(r.summary.false_alarms, 1);
        assert_eq!(r.summary.false_alarms_by_stream["data:cat_2"], 1);
        assert_eq!(r.summary.max_delay_events, Some(100));
        assert_eq!(r.summary.mean_delay_seconds, Some(0.0));
    }

    #[test]
    fn exp_det_matches_the_platform_exp() {
        let mut x = -40.0;
        while x < 40.0 {
            let (a, b) = (exp_det(x), x.exp());
            assert!(((a - b) / b).abs() < 1e-14, "exp({x}): {a} vs {b}");
            x += 0.0137;
        }
        assert_eq!(exp_det(0.0), 1.0);
        assert!(exp_det(-1e9) > 0.0 && exp_det(1e9).is_finite());
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn specs_and_names_are_validated() {
        assert_eq!(
            generate(&StreamSpec::new(StreamKind::Stable).events(99)),
            Err(StreamError::TooFewEvents(99))
        );
        assert!(generate(&StreamSpec::new(StreamKind::Gradual).events(MIN_EVENTS)).is_ok());
        for k in StreamKind::ALL {
            assert_eq!(k.name().parse::<StreamKind>(), Ok(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::from(k.name())
            );
        }
        assert!("sea".parse::<StreamKind>().is_err());
        let all = generate_all(200, 1).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(fmt_ms(START_MS), "2026-01-01T00:00:00.000Z");
    }
}
