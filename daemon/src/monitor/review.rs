//! The review queue: the predictions still waiting for a label that most deserve one from a
//! human expert, and the labels experts gave.
//!
//! **Policy** (`[monitor.review]`). Each prediction that waits for its label gets a weight
//! `w = r + (1 − r) · max(u, d, c)` in `[r, 1]`, with `r = random_share`:
//! - `u`, its **uncertainty**: `1 − |2s − 1|` for a binary score `s` (1 on the decision boundary,
//!   0 at certainty), the normalised entropy `H(p) / ln k` of class probabilities;
//! - `d`, **drift**: 1 when one of its feature values falls in a region that is over-represented
//!   now in a feature in the drift state (a column of the sliding window holding at least 1.5
//!   times its reference share), else 0;
//! - **disagreement**: 1 when a shadowed challenger (the retraining loop's candidate) gave it
//!   another label than the served one — there a label tells the shadow gate the most (it weighs
//!   in as `max(u, d, 1)`; the learners score the challenger after the monitors, so such a
//!   prediction is weighed again: [`ReviewQueue::reconsider`]);
//! - the floor `r` is the **random** share: every prediction keeps a chance, so the labelled
//!   sample still covers the whole stream.
//!
//! A prediction enters the queue with probability `π = min(1, sample_rate · w / w̄)` (`w̄` the
//! running mean weight over the last thousand predictions, so about `sample_rate` of the
//! predictions enter whatever the mix), decided by a uniform number drawn from the hash of its
//! model and id: deterministic, so `driftd replay` and `driftd run` choose the same items. Each
//! item records its `π`: labels of queued items are a Poisson sample of the stream with known
//! inclusion probabilities, so accuracy can be estimated without bias by weighting each labelled
//! item by `1/π` (Horvitz–Thompson). The queue holds at most `capacity` items; when full, a new
//! item replaces the lowest-weight one if it weighs more (dropped items are counted). An item
//! leaves when its label arrives.
//!
//! **Who labelled it**: the feedback's `source` is counted per model (at most [`MAX_SOURCES`]
//! names; the rest as `other`); when a reviewed prediction is labelled again by another source,
//! the two labels are compared (agreement counted).

use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher as _;

use serde::{Deserialize, Serialize};

/// Most distinct label sources counted per model; later ones count as `other`.
pub const MAX_SOURCES: usize = 32;
/// Labels of reviewed items remembered to compare a second label with.
pub const LABELLED_MEMORY: usize = 1024;

/// `[monitor.review]`: the review queue's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewSettings {
    /// Keep a review queue.
    pub enabled: bool,
    /// The share of predictions expected to enter the queue.
    pub sample_rate: f64,
    /// The floor of every prediction's weight: the random share of the choice.
    pub random_share: f64,
    /// Most items in the queue.
    pub capacity: usize,
    /// How long an expert's claim on an item lasts (wall clock, seconds): the item is not offered
    /// to others meanwhile.
    pub claim_seconds: u64,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            enabled: true,
            sample_rate: 0.01,
            random_share: 0.2,
            capacity: 256,
            claim_seconds: 600,
        }
    }
}

impl ReviewSettings {
    /// The problems of these settings, by key under `at`.
    pub fn problems(&self, at: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(self.sample_rate > 0.0 && self.sample_rate <= 1.0) {
            out.push((format!("{at}.sample_rate"), "must be in (0, 1]".to_owned()));
        }
        if !(0.0..=1.0).contains(&self.random_share) || self.random_share == 0.0 {
            out.push((
                format!("{at}.random_share"),
                "must be in (0, 1]: every prediction keeps a chance".to_owned(),
            ));
        }
        if self.capacity == 0 || self.capacity > 100_000 {
            out.push((format!("{at}.capacity"), "must be 1 to 100000".to_owned()));
        }
        if self.claim_seconds == 0 {
            out.push((format!("{at}.claim_seconds"), "must be positive".to_owned()));
        }
        out
    }
}

/// One prediction waiting for a human label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The prediction's id (label it with feedback of this id).
    pub id: String,
    /// Its event time (ms since the epoch).
    pub ts_ms: i64,
    /// Its features, as the event carried them (a JSON object).
    pub features: String,
    /// What the model said (a JSON object: label, score, probabilities or value).
    pub prediction: String,
    /// Its weight `w` (higher: more worth a label).
    pub weight: f64,
    /// The probability it had of entering the queue (`π`, for weighted estimates).
    pub inclusion: f64,
    /// Why it was chosen: `uncertain`, `drifting: FEATURE`, `random`.
    pub reasons: Vec<String>,
}

/// Why a prediction weighs what it does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Why {
    /// Uncertainty in [0, 1].
    pub uncertainty: f64,
    /// Features whose drifting region holds this prediction's value.
    pub drifting: Vec<String>,
    /// A shadowed challenger gave it another label than the served one.
    pub disagreement: bool,
}

/// Agreement between two sources on one prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// The same label.
    Agree,
    /// Different labels.
    Disagree,
}

/// A model's review queue and its label bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewQueue {
    /// The items (checkpointed apart with `labelled`: [`ReviewQueue::checkpoint`]; the rest of
    /// this struct, small counters, travels in the monitor's record).
    #[serde(skip)]
    items: Vec<Item>,
    /// Running mean weight.
    mean_weight: f64,
    /// Predictions weighed so far (the running mean's count, capped).
    weighed: u64,
    /// Items that did not fit (the queue full of heavier ones).
    pub dropped: u64,
    /// Labels by source (at most [`MAX_SOURCES`] names, then `other`).
    pub sources: BTreeMap<String, u64>,
    /// Labels of reviewed items: (id, label, source), oldest first.
    #[serde(skip)]
    labelled: VecDeque<(String, String, String)>,
    /// The UTC day (days since the epoch) of the latest label's event time, and the labels of
    /// that day: "labels today" for the experts' page.
    #[serde(default)]
    pub today: (i64, u64),
    /// Second labels that agreed / disagreed with the first.
    pub agreed: u64,
    /// See `agreed`.
    pub disagreed: u64,
    /// Set when the items or the reviewed labels changed (the daemon checkpoints them apart).
    #[serde(skip)]
    pub dirty: bool,
    /// When set, every id chosen for review is noted here, whether or not it fits the queue
    /// (`driftd replay --label-budget` simulates the experts labelling exactly those).
    #[serde(skip)]
    pub selected: Option<std::collections::HashSet<String>>,
}

impl Default for ReviewQueue {
    fn default() -> Self {
        ReviewQueue {
            items: Vec::new(),
            mean_weight: 0.5,
            weighed: 0,
            dropped: 0,
            sources: BTreeMap::new(),
            labelled: VecDeque::new(),
            today: (0, 0),
            agreed: 0,
            disagreed: 0,
            dirty: false,
            selected: None,
        }
    }
}

/// A uniform number in [0, 1) from a prediction's model and id (a fixed-seed hash: the same on
/// every run of this build).
pub fn uniform(model: &str, id: &str) -> f64 {
    let h = foldhash::fast::FixedState::with_seed(0x5eed_2026).hash_one((model, id));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A prediction's weight: the random floor plus the strongest of uncertainty, drift and
/// disagreement.
fn weight(s: &ReviewSettings, why: &Why) -> f64 {
    let d = if why.drifting.is_empty() { 0.0 } else { 1.0 };
    let c = if why.disagreement { 1.0 } else { 0.0 };
    s.random_share + (1.0 - s.random_share) * why.uncertainty.max(d).max(c)
}

/// The uncertainty of a binary score: 1 on the decision boundary, 0 at certainty.
pub fn score_uncertainty(s: f64) -> f64 {
    (1.0 - (2.0 * s - 1.0).abs()).clamp(0.0, 1.0)
}

/// The normalised entropy of class probabilities (1: uniform, 0: one class certain).
pub fn entropy_uncertainty(p: &[f64]) -> f64 {
    let total: f64 = p.iter().filter(|x| **x > 0.0).sum();
    if p.len() < 2 || total <= 0.0 {
        return 0.0;
    }
    let h: f64 = p
        .iter()
        .filter(|x| **x > 0.0)
        .map(|x| {
            let q = x / total;
            -q * q.ln()
        })
        .sum();
    (h / (p.len() as f64).ln()).clamp(0.0, 1.0)
}

impl ReviewQueue {
    /// Items in the queue.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The oldest item's event time (ms).
    pub fn oldest_ms(&self) -> Option<i64> {
        self.items.iter().map(|i| i.ts_ms).min()
    }

    /// The items, most worth a label first (then oldest first).
    pub fn ranked(&self) -> Vec<&Item> {
        let mut v: Vec<&Item> = self.items.iter().collect();
        v.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.ts_ms.cmp(&b.ts_ms)));
        v
    }

    /// Weighs a prediction waiting for its label and decides whether it enters the queue.
    /// `item` builds the item (features, prediction) only when it does.
    pub fn consider(
        &mut self,
        s: &ReviewSettings,
        model: &str,
        id: &str,
        why: Why,
        item: impl FnOnce() -> (i64, String, String),
    ) {
        let w = weight(s, &why);
        self.weighed = (self.weighed + 1).min(1_000);
        self.mean_weight += (w - self.mean_weight) / self.weighed as f64;
        self.admit(s, model, id, why, w, item);
    }

    /// Weighs again a prediction already considered, now that more is known (a shadowed
    /// challenger disagreed with it): its item weighs more, or it gets the chance of entering that
    /// its new weight gives (the same draw: a prediction in at the old weight stays in), without
    /// counting it twice in the running mean.
    pub fn reconsider(
        &mut self,
        s: &ReviewSettings,
        model: &str,
        id: &str,
        why: Why,
        item: impl FnOnce() -> (i64, String, String),
    ) {
        let w = weight(s, &why);
        let pi = self.inclusion(s, w);
        if let Some(it) = self.items.iter_mut().find(|i| i.id == id) {
            if w > it.weight {
                it.weight = w;
                it.inclusion = pi;
                it.reasons.retain(|r| r != "random");
                it.reasons.push("disagreement".to_owned());
                self.dirty = true;
            }
            return;
        }
        self.admit(s, model, id, why, w, item);
    }

    fn admit(
        &mut self,
        s: &ReviewSettings,
        model: &str,
        id: &str,
        why: Why,
        w: f64,
        item: impl FnOnce() -> (i64, String, String),
    ) {
        let pi = self.inclusion(s, w);
        if uniform(model, id) >= pi {
            return;
        }
        if let Some(sel) = self.selected.as_mut() {
            sel.insert(id.to_owned());
        }
        let mut reasons = Vec::new();
        if why.uncertainty >= 0.5 {
            reasons.push(format!("uncertain ({:.2})", why.uncertainty));
        }
        reasons.extend(why.drifting.iter().map(|f| format!("drifting: {f}")));
        if why.disagreement {
            reasons.push("disagreement".to_owned());
        }
        if reasons.is_empty() {
            reasons.push("random".to_owned());
        }
        if self.items.len() >= s.capacity {
            let lightest = self
                .items
                .iter()
                .enumerate()
                .min_by(|a, b| {
                    a.1.weight
                        .total_cmp(&b.1.weight)
                        .then(a.1.ts_ms.cmp(&b.1.ts_ms))
                })
                .map(|(i, it)| (i, it.weight));
            match lightest {
                Some((i, lw)) if lw < w => {
                    self.items.swap_remove(i);
                    self.dropped += 1;
                }
                _ => {
                    self.dropped += 1;
                    return;
                }
            }
        }
        let (ts_ms, features, prediction) = item();
        self.items.push(Item {
            id: id.to_owned(),
            ts_ms,
            features,
            prediction,
            weight: w,
            inclusion: pi,
            reasons,
        });
        self.dirty = true;
    }

    /// A label joined its prediction `id`: if `id` was queued, it leaves the queue and its label
    /// is remembered for a second opinion.
    pub fn labelled(&mut self, id: &str, label: &str, source: Option<&str>) {
        let source = source.filter(|s| !s.is_empty()).unwrap_or("unknown");
        if let Some(i) = self.items.iter().position(|it| it.id == id) {
            self.items.swap_remove(i);
            if self.labelled.len() >= LABELLED_MEMORY {
                self.labelled.pop_front();
            }
            self.labelled
                .push_back((id.to_owned(), label.to_owned(), source.to_owned()));
            self.dirty = true;
        }
    }

    /// A label for a prediction already labelled: compared with a reviewed item's first label
    /// when it comes from another source.
    pub fn second_label(
        &mut self,
        id: &str,
        label: &str,
        source: Option<&str>,
    ) -> Option<Agreement> {
        let source = source.filter(|s| !s.is_empty()).unwrap_or("unknown");
        let (_, first, by) = self.labelled.iter().find(|(i, _, _)| i == id)?;
        if by == source {
            return None;
        }
        Some(if first == label {
            self.agreed += 1;
            Agreement::Agree
        } else {
            self.disagreed += 1;
            Agreement::Disagree
        })
    }

    /// Counts one label from `source` (`None` or empty: `unknown`) given at `ts_ms` (event time).
    pub fn count_source(&mut self, source: Option<&str>, ts_ms: i64) {
        let day = ts_ms.div_euclid(86_400_000);
        match day.cmp(&self.today.0) {
            std::cmp::Ordering::Greater => self.today = (day, 1),
            std::cmp::Ordering::Equal => self.today.1 += 1,
            // A label of an earlier day: not today's.
            std::cmp::Ordering::Less => {}
        }
        let source = source.filter(|s| !s.is_empty()).unwrap_or("unknown");
        // Counted on every feedback event: no allocation once the source is known.
        if let Some(n) = self.sources.get_mut(source) {
            *n += 1;
            return;
        }
        let key = if self.sources.len() < MAX_SOURCES {
            source
        } else {
            "other"
        };
        *self.sources.entry(key.to_owned()).or_default() += 1;
    }

    /// The record checkpointed apart, when [`ReviewQueue::dirty`]: the items and the reviewed
    /// labels (the counters are in the monitor's record, written at every checkpoint anyway).
    pub fn checkpoint(&self) -> Vec<u8> {
        serde_json::to_vec(&(&self.items, &self.labelled)).expect("the queue serialises")
    }

    /// Restores what [`ReviewQueue::checkpoint`] wrote.
    pub fn restore_items(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        (self.items, self.labelled) = serde_json::from_slice(bytes)?;
        Ok(())
    }

    /// The probability of entering the queue at weight `w`.
    fn inclusion(&self, s: &ReviewSettings, w: f64) -> f64 {
        (s.sample_rate * w / self.mean_weight.max(1e-9)).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> (i64, String, String) {
        (0, "{}".into(), "{}".into())
    }

    #[test]
    fn uncertainty_is_one_on_the_boundary_and_zero_at_certainty() {
        assert_eq!(score_uncertainty(0.5), 1.0);
        assert_eq!(score_uncertainty(1.0), 0.0);
        assert_eq!(score_uncertainty(0.0), 0.0);
        assert!((score_uncertainty(0.75) - 0.5).abs() < 1e-12);
        assert!((entropy_uncertainty(&[1.0 / 3.0; 3]) - 1.0).abs() < 1e-12);
        assert_eq!(entropy_uncertainty(&[1.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn about_the_sample_rate_enters_and_uncertain_ones_more_often() {
        let s = ReviewSettings {
            capacity: 100_000,
            ..ReviewSettings::default()
        };
        let mut q = ReviewQueue::default();
        let n = 200_000;
        for i in 0..n {
            // Scores spread over [0, 1]: a quarter near the boundary.
            let score = (i % 100) as f64 / 99.0;
            let why = Why {
                uncertainty: score_uncertainty(score),
                ..Why::default()
            };
            q.consider(&s, "m", &format!("p{i}"), why, item);
        }
        let share = q.len() as f64 / n as f64;
        assert!((share - 0.01).abs() < 0.002, "share {share}");
        let uncertain = q
            .items
            .iter()
            .filter(|i| i.reasons[0].starts_with("uncertain"))
            .count();
        let random = q.items.iter().filter(|i| i.reasons[0] == "random").count();
        assert!(
            uncertain > 2 * random,
            "{uncertain} uncertain, {random} random"
        );
        // Each item's inclusion probability is what decided it: π ≥ its uniform draw.
        assert!(q.items.iter().all(|i| uniform("m", &i.id) < i.inclusion));
    }

    #[test]
    fn the_queue_is_bounded_keeps_the_heaviest_and_labels_take_items_out() {
        let s = ReviewSettings {
            capacity: 3,
            sample_rate: 1.0,
            ..ReviewSettings::default()
        };
        let mut q = ReviewQueue::default();
        for (i, u) in [0.1, 0.9, 0.5, 0.95, 0.0].into_iter().enumerate() {
            let why = Why {
                uncertainty: u,
                drifting: if i == 4 { vec!["num_0".into()] } else { vec![] },
                disagreement: false,
            };
            q.consider(&s, "m", &format!("p{i}"), why, || {
                (i as i64, "{}".into(), "{}".into())
            });
        }
        assert_eq!(q.len(), 3);
        let ids: Vec<&str> = q.ranked().iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            ["p4", "p3", "p1"],
            "drift weighs 1, then the most uncertain"
        );
        assert_eq!(q.ranked()[0].reasons, ["drifting: num_0"]);
        assert!(q.dropped >= 2);
        q.count_source(Some("ana"), 86_400_000 * 3 + 5);
        q.labelled("p3", "1", Some("ana"));
        assert_eq!(q.len(), 2);
        // Another expert labels it again: compared; the same expert again is not.
        assert_eq!(
            q.second_label("p3", "0", Some("ben")),
            Some(Agreement::Disagree)
        );
        assert_eq!(q.second_label("p3", "1", Some("ana")), None);
        assert_eq!(
            q.second_label("p3", "1", Some("cy")),
            Some(Agreement::Agree)
        );
        assert_eq!((q.agreed, q.disagreed), (1, 1));
        assert_eq!(q.sources["ana"], 1);
        // The counters in the monitor's record, the items and reviewed labels apart.
        let mut restored: ReviewQueue =
            serde_json::from_slice(&serde_json::to_vec(&q).unwrap()).unwrap();
        restored.restore_items(&q.checkpoint()).unwrap();
        restored.dirty = q.dirty;
        assert_eq!(restored, q);
    }

    #[test]
    fn a_disagreement_weighs_a_prediction_up_without_counting_it_twice() {
        let s = ReviewSettings {
            sample_rate: 0.05,
            ..ReviewSettings::default()
        };
        let mut q = ReviewQueue::default();
        let certain = || Why::default();
        let mut missed = Vec::new();
        for i in 0..2_000 {
            let id = format!("p{i}");
            q.consider(&s, "m", &id, certain(), item);
            if !q.items.iter().any(|it| it.id == id) {
                missed.push(id);
            }
        }
        let (mean, before) = (q.mean_weight, q.len());
        // Disagreements on 200 predictions the queue passed over: weight 1 instead of 0.2, so
        // about five times the chance; the same draw, so π(1) ≥ π(0.2) holds for each.
        for id in missed.iter().take(200) {
            let why = Why {
                disagreement: true,
                ..Why::default()
            };
            q.reconsider(&s, "m", id, why, item);
        }
        assert_eq!(q.mean_weight, mean, "not counted twice");
        let added: Vec<&Item> = q
            .items
            .iter()
            .filter(|i| i.reasons == ["disagreement"])
            .collect();
        assert_eq!(added.len(), q.len() - before);
        assert!(!added.is_empty() && added.iter().all(|i| i.weight == 1.0));
        // An item already queued is weighed up in place.
        let first = q.items[0].id.clone();
        let w0 = q.items[0].weight;
        let why = Why {
            disagreement: true,
            ..Why::default()
        };
        q.reconsider(&s, "m", &first, why, item);
        let it = q.items.iter().find(|i| i.id == first).unwrap();
        assert!(it.weight >= w0 && it.reasons.contains(&"disagreement".to_owned()));
    }

    #[test]
    fn sources_beyond_the_cap_count_as_other() {
        let mut q = ReviewQueue::default();
        for i in 0..(MAX_SOURCES + 5) {
            q.count_source(Some(&format!("s{i}")), 1_000);
        }
        q.count_source(None, 86_400_000 + 1);
        assert_eq!(q.today, (1, 1), "a new day starts the count again");
        q.count_source(None, 5);
        assert_eq!(q.today, (1, 1), "an earlier day's label is not today's");
        assert_eq!(q.sources.len(), MAX_SOURCES + 1);
        assert_eq!(
            q.sources["other"], 7,
            "5 over the cap and the two unnamed ones"
        );
    }
}

#[cfg(test)]
mod on_a_stream {
    use crate::contract::event::{ParseOptions, parse_event};
    use crate::monitor::{ModelMonitor, MonitorSettings};
    use crate::offline::streams::{StreamKind, StreamSpec, generate};

    /// On the covariate-shift stream (num_0..num_3 shift at mid-stream), with no label: the queue
    /// fills with about 1 % of the predictions, and once the shift is found, predictions in the
    /// shifted region are chosen for it.
    #[test]
    fn a_drifting_region_sends_its_predictions_to_review() {
        let s = generate(
            &StreamSpec::new(StreamKind::CovariateShift)
                .events(30_000)
                .seed(3),
        )
        .unwrap();
        let settings = MonitorSettings::default();
        let mut m = ModelMonitor::new(&s.model, "1", &settings);
        for l in &s.predictions {
            m.observe(
                &parse_event(l.as_bytes(), &ParseOptions::default()).unwrap(),
                &settings,
            );
        }
        let q = m.review();
        assert_eq!(
            q.len(),
            settings.review.capacity,
            "full: {} dropped",
            q.dropped
        );
        let drifting = q
            .ranked()
            .iter()
            .filter(|i| i.reasons.iter().any(|r| r.starts_with("drifting: num_")))
            .count();
        assert!(drifting > 0, "{:#?}", &q.ranked()[..3]);
        // The heaviest first: drift and certain uncertainty weigh 1.
        assert_eq!(q.ranked()[0].weight, 1.0);
        let first: serde_json::Value = serde_json::from_str(&q.ranked()[0].features).unwrap();
        assert!(first["num_0"].is_number() && first["cat_0"].is_string());
    }
}
