//! Training data and shadow scoring, inside the pipeline: the per-event half of closing the loop.
//!
//! For every model with a `[models.NAME.retrain]` section, the pipeline keeps a [`Learner`]:
//!
//! * **Features of predictions waiting for their label** (bounded by count and event-time age,
//!   like the monitor's join store). Feedback that arrives first waits in a smaller bounded map.
//! * **The training buffer**: labelled examples (features joined with feedback), bounded by count
//!   (`buffer_max_examples`) and event-time age (`buffer_max_age`), oldest first. It is kept in the
//!   state store in chunks of [`CHUNK`] examples; a checkpoint writes only the chunks that changed
//!   (mostly the newest one). Chunks live in a fixed ring of keys (`learn/{model}/chunk/{slot}`),
//!   so the keys a model uses are bounded and dropped chunks are simply overwritten.
//! * **The shadow run**, when the trainer (`trainer.rs`) has one going: a challenger model (the
//!   candidate, or after a promotion the previous live model) is scored on the features of every
//!   prediction event — its answer is never served — and when the label arrives the paired outcome
//!   (served answer right/wrong vs challenger right/wrong, or both errors for regression) goes into
//!   a [`ShadowTally`].
//!
//! Everything here is synchronous and runs on the intake path, so it is cheap: one `predict` per
//! prediction while a shadow runs (see `cargo bench -p driftd-retrain --bench train`), map
//! operations otherwise. Training itself runs elsewhere (the trainer, on the blocking pool).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use driftd_retrain::{
    Example, Features as TrainFeatures, ShadowPolicy, ShadowTally, Target as TrainTarget, Task,
    TrainedModel, Value,
};
use serde::{Deserialize, Serialize};

use crate::contract::event::{Body, Event, FeatureValue, Features, PredictionOutput, Target};
use crate::monitor::join::Predicted;
use crate::monitor::join::{Bounds, JoinStore, Stamped};
use crate::monitor::predicted;
use crate::retraining::config::RetrainConfig;

/// Examples per stored chunk of the training buffer.
pub const CHUNK: usize = 1000;

/// Whether a shadow run tests a candidate, or watches a fresh promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShadowKind {
    /// The candidate is scored beside the live model; it is promoted if significantly better.
    Candidate,
    /// After a promotion the previous live model is scored beside the new one; driftd rolls back
    /// if the previous one is significantly better.
    Watch,
}

impl ShadowKind {
    /// `candidate` or `watch`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShadowKind::Candidate => "candidate",
            ShadowKind::Watch => "watch",
        }
    }
}

/// A shadow run: the challenger scored on live traffic, and the paired outcomes so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShadowRun {
    /// Candidate or watch.
    pub kind: ShadowKind,
    /// The challenger's registry version.
    pub version: u64,
    /// Paired outcomes (served answer vs challenger) on labelled predictions.
    pub tally: ShadowTally,
    /// Predictions the challenger scored.
    pub scored: u64,
    /// Labels of scored predictions that formed a pair.
    pub paired: u64,
    /// The challenger itself; not checkpointed (the trainer loads it from the registry again
    /// after a restart).
    #[serde(skip)]
    pub model: Option<Arc<TrainedModel>>,
}

/// A prediction's features waiting for its label, and what the challenger said.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting {
    ts_ms: i64,
    features: TrainFeatures,
    /// What was served (from the prediction event), if the event said.
    served: Option<TrainTarget>,
    /// (challenger version, its answer).
    challenger: Option<(u64, TrainTarget)>,
}

impl Stamped for Waiting {
    fn ts_ms(&self) -> i64 {
        self.ts_ms
    }
}

/// Feedback that came before its prediction: the target, its event time and its source.
type EarlyLabel = (TrainTarget, i64, Option<String>);

/// The learner's checkpoint of everything but the buffer's chunks and its join store's entries.
#[derive(Debug, Clone, Default, Deserialize)]
struct Head {
    /// Heads written before the join store was journaled list what waits here.
    #[serde(default)]
    waiting: Vec<(String, Waiting)>,
    #[serde(default)]
    early: Vec<(String, TrainTarget, i64)>,
    /// The sources of early labels that named one, by id (a map beside `early`, so heads
    /// written before sources were kept still read).
    #[serde(default)]
    early_sources: BTreeMap<String, String>,
    /// The join store's record (its counters and journal position): its entries are in the
    /// journal's keys under [`join_prefix`], written in the same checkpoint.
    #[serde(default)]
    join: Option<JoinStore<Waiting, EarlyLabel>>,
    first_chunk: u64,
    chunks: u64,
    slots: u64,
    labels_total: u64,
    dropped_pending: u64,
    shadow: Option<ShadowRun>,
}

/// [`Head`] as written: the join store by reference, its entries journaled.
#[derive(Serialize)]
struct HeadRef<'a> {
    join: &'a JoinStore<Waiting, EarlyLabel>,
    first_chunk: u64,
    chunks: u64,
    slots: u64,
    labels_total: u64,
    dropped_pending: u64,
    shadow: &'a Option<ShadowRun>,
}

/// Per-model training data and shadow state. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Learner {
    cfg: RetrainConfig,
    task: Task,
    positive: String,
    /// Predictions waiting for their label, and labels waiting for their prediction: the same
    /// join store the monitor uses (without its memory of joined ids).
    join: JoinStore<Waiting, EarlyLabel>,
    /// Chunks of the buffer, oldest first; chunk `first_chunk + i` is `chunks[i]`.
    chunks: VecDeque<Vec<Example>>,
    first_chunk: u64,
    /// Chunk numbers changed since the last checkpoint (the last one, mostly).
    dirty_chunks: Vec<u64>,
    /// Size of the ring of chunk keys.
    slots: u64,
    head_dirty: bool,
    /// Labelled examples ever added (the trainer's "new labels since" counter).
    pub labels_total: u64,
    /// Predictions whose features were dropped unlabelled (count or TTL bound).
    pub dropped_pending: u64,
    /// The shadow run, if one is going.
    pub shadow: Option<ShadowRun>,
}

/// Converts an event's features into training features.
pub fn train_features(f: &Features<'_>) -> TrainFeatures {
    f.0.iter()
        .map(|(k, v)| {
            let v = match v {
                FeatureValue::Number(x) => Value::Number(*x),
                FeatureValue::Category(c) => Value::Category(c.to_string()),
                FeatureValue::Missing => Value::Missing,
            };
            (k.to_string(), v)
        })
        .collect()
}

fn train_target(t: &Target<'_>) -> TrainTarget {
    match t {
        Target::Label(l) => TrainTarget::Label(l.to_string()),
        Target::Value(v) => TrainTarget::Value(*v),
    }
}

/// Key of a model's learner head (pending features, shadow tally, chunk range).
pub fn head_key(model: &str) -> String {
    format!("learn/{model}/head")
}

/// The prefix of a model's learner join-store journal keys (waiting predictions and early labels,
/// written as changes since the last checkpoint: [`crate::monitor::join::journal`]).
pub fn join_prefix(model: &str) -> String {
    format!("learn/{model}/join")
}

/// Key of the ring slot holding chunk `n` of a model's training buffer.
pub fn chunk_key(model: &str, n: u64, slots: u64) -> String {
    format!("learn/{model}/chunk/{}", n % slots.max(1))
}

/// A stored chunk: its number (checked on restore, since slots are reused) and its examples.
#[derive(Serialize, Deserialize)]
struct Chunk<E> {
    n: u64,
    examples: E,
}

fn slots_for(cfg: &RetrainConfig) -> u64 {
    // Whole chunks are dropped only while the rest still holds the maximum, so at most
    // max/CHUNK + 2 chunks are alive at once.
    (cfg.buffer_max_examples / CHUNK) as u64 + 2
}

impl Learner {
    /// An empty learner.
    pub fn new(cfg: RetrainConfig, task: Task, positive_label: &str) -> Learner {
        let slots = slots_for(&cfg);
        let mut join = JoinStore::default();
        // Checkpoints write what changed, not every waiting prediction's features.
        join.journaled();
        Learner {
            cfg,
            task,
            positive: positive_label.to_owned(),
            join,
            chunks: VecDeque::new(),
            first_chunk: 0,
            dirty_chunks: Vec::new(),
            slots,
            head_dirty: false,
            labels_total: 0,
            dropped_pending: 0,
            shadow: None,
        }
    }

    /// Replaces the settings (SIGHUP); bounds apply from the next event. A larger buffer gets a
    /// larger ring of keys: every chunk is written again under the new layout.
    pub fn set_config(&mut self, cfg: RetrainConfig) {
        let slots = slots_for(&cfg);
        self.cfg = cfg;
        self.relayout(slots);
    }

    fn relayout(&mut self, slots: u64) {
        if slots > self.slots {
            self.slots = slots;
            self.dirty_chunks =
                (self.first_chunk..self.first_chunk + self.chunks.len() as u64).collect();
            self.head_dirty = true;
        }
    }

    /// Labelled examples in the buffer.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.chunks.iter().all(Vec::is_empty)
    }

    /// Predictions waiting for their label.
    pub fn waiting(&self) -> usize {
        self.join.len()
    }

    /// A copy of the buffer, oldest first (for training off the intake path).
    pub fn examples(&self) -> Vec<Example> {
        self.chunks.iter().flatten().cloned().collect()
    }

    /// What was served, read as the monitor reads it.
    fn served(&self, out: Option<&PredictionOutput<'_>>) -> Option<TrainTarget> {
        Some(match predicted(out?, &self.positive)? {
            Predicted::Label(l) => TrainTarget::Label(l.into()),
            Predicted::Value(v) => TrainTarget::Value(v),
        })
    }

    /// Feeds one validated event of this model. Returns whether a shadowed challenger gave this
    /// prediction another label than the served one (the review queue weighs such predictions
    /// up: a label there tells the shadow gate the most).
    pub fn observe(&mut self, ev: &Event<'_>) -> bool {
        let ts_ms = ev.ts.timestamp_millis();
        let mut disagreed = false;
        match &ev.body {
            Body::Prediction { features, output } => {
                let features = train_features(features);
                let served = self.served(output.as_ref());
                let challenger = self.shadow.as_mut().and_then(|s| {
                    let m = s.model.as_ref()?;
                    s.scored += 1;
                    Some((s.version, m.predict(&features).target))
                });
                disagreed = matches!(
                    (&served, &challenger),
                    (Some(TrainTarget::Label(a)), Some((_, TrainTarget::Label(b)))) if a != b
                );
                let id = ev.id.as_ref();
                let w = Waiting {
                    ts_ms,
                    features,
                    served,
                    challenger,
                };
                if let Some((target, _, source)) = self.join.take_early(id) {
                    self.labelled(w, target, ts_ms, source);
                } else if self.join.is_pending(id) {
                    // A repeated prediction id: the first one stands.
                } else {
                    self.join.add_pending(id, w);
                    self.head_dirty = true;
                }
            }
            Body::Feedback { target, source } => {
                let target = train_target(target);
                let source = source.as_deref().map(str::to_owned);
                let id = ev.id.as_ref();
                if let Some(w) = self.join.take_pending(id) {
                    self.labelled(w, target, ts_ms, source);
                } else if !self.join.has_early(id) {
                    self.join.add_early(id, (target, ts_ms, source));
                    self.head_dirty = true;
                }
            }
        }
        self.enforce_bounds(ts_ms);
        disagreed
    }

    /// A prediction met its label: pair it for the shadow run, add it to the buffer.
    fn labelled(
        &mut self,
        w: Waiting,
        target: TrainTarget,
        label_ts_ms: i64,
        source: Option<String>,
    ) {
        if let (Some(s), Some((version, challenger)), Some(served)) =
            (self.shadow.as_mut(), &w.challenger, &w.served)
            && s.version == *version
        {
            let ok = match (&target, served, challenger) {
                (TrainTarget::Label(t), TrainTarget::Label(l), TrainTarget::Label(c)) => s
                    .tally
                    .record_labels(label_ts_ms.max(w.ts_ms), t, l, c)
                    .is_ok(),
                (TrainTarget::Value(t), TrainTarget::Value(l), TrainTarget::Value(c)) => s
                    .tally
                    .record_regression(label_ts_ms.max(w.ts_ms), *t, *l, *c)
                    .is_ok(),
                _ => false,
            };
            if ok {
                s.paired += 1;
            }
        }
        let example = Example {
            ts_ms: w.ts_ms,
            features: w.features,
            target,
            source,
        };
        self.push_example(example);
    }

    fn push_example(&mut self, e: Example) {
        let newest = e.ts_ms;
        if self.chunks.back().is_none_or(|c| c.len() >= CHUNK) {
            self.chunks.push_back(Vec::with_capacity(CHUNK));
        }
        let last = self.first_chunk + self.chunks.len() as u64 - 1;
        self.chunks.back_mut().expect("a chunk was ensured").push(e);
        if self.dirty_chunks.last() != Some(&last) {
            self.dirty_chunks.push(last);
        }
        self.labels_total += 1;
        self.head_dirty = true;
        // Bounds: whole chunks go, oldest first, so that stored chunks never need rewriting.
        let max_age = self.cfg.buffer_max_age.as_millis() as i64;
        while self.chunks.len() > 1 {
            let total = self.len();
            let front = &self.chunks[0];
            let too_many = total - front.len() >= self.cfg.buffer_max_examples;
            let too_old = front
                .iter()
                .map(|e| e.ts_ms)
                .max()
                .is_some_and(|t| newest - t > max_age);
            if !(too_many || too_old) {
                break;
            }
            self.chunks.pop_front();
            self.dirty_chunks.retain(|&c| c != self.first_chunk);
            self.first_chunk += 1;
        }
    }

    /// Applies `pending_max` and `pending_ttl` to the waiting predictions (a tenth of
    /// `pending_max` to early feedback), counting the predictions dropped unlabelled.
    fn enforce_bounds(&mut self, now_ms: i64) {
        let before = self.join.evicted;
        let bounds = Bounds {
            max: self.cfg.pending_max,
            // The learner keeps no memory of joined ids: a repeated label finds nothing to join.
            dedupe: 0,
            ttl_ms: i64::try_from(self.cfg.pending_ttl.as_millis()).unwrap_or(i64::MAX),
        };
        self.join.enforce(bounds, now_ms);
        let dropped = self.join.evicted - before;
        if dropped > 0 {
            self.dropped_pending += dropped;
            self.head_dirty = true;
        }
    }

    /// Starts (or replaces) a shadow run. A run of the same kind and version that was restored
    /// from a checkpoint keeps its tally and only gets its model back.
    pub fn set_shadow(
        &mut self,
        kind: ShadowKind,
        version: u64,
        model: Arc<TrainedModel>,
        policy: &ShadowPolicy,
    ) {
        match &mut self.shadow {
            Some(s) if s.kind == kind && s.version == version => s.model = Some(model),
            _ => {
                self.shadow = Some(ShadowRun {
                    kind,
                    version,
                    tally: ShadowTally::new(self.task, policy),
                    scored: 0,
                    paired: 0,
                    model: Some(model),
                });
            }
        }
        self.head_dirty = true;
    }

    /// Ends the shadow run.
    pub fn clear_shadow(&mut self) {
        self.shadow = None;
        self.head_dirty = true;
    }

    /// The checkpoint entries that changed since the last [`Learner::mark_clean`]: the dirty
    /// chunks and the head. Nothing is cleared until the write succeeded.
    pub fn checkpoint(&self, model: &str) -> Vec<(String, Vec<u8>)> {
        let mut put = Vec::new();
        for &n in &self.dirty_chunks {
            if let Some(c) = n
                .checked_sub(self.first_chunk)
                .and_then(|i| self.chunks.get(i as usize))
            {
                match serde_json::to_vec(&Chunk { n, examples: c }) {
                    Ok(b) => put.push((chunk_key(model, n, self.slots), b)),
                    Err(e) => tracing::error!(model, error = %e, "cannot serialise training data"),
                }
            }
        }
        let journal = self.join.checkpoint_puts(&join_prefix(model));
        if self.head_dirty || !put.is_empty() || !journal.is_empty() {
            put.extend(journal);
            let head = HeadRef {
                join: &self.join,
                first_chunk: self.first_chunk,
                chunks: self.chunks.len() as u64,
                slots: self.slots,
                labels_total: self.labels_total,
                dropped_pending: self.dropped_pending,
                shadow: &self.shadow,
            };
            match serde_json::to_vec(&head) {
                Ok(b) => put.push((head_key(model), b)),
                Err(e) => tracing::error!(model, error = %e, "cannot serialise the learner"),
            }
        }
        put
    }

    /// The keys [`Learner::checkpoint`] deletes in the same write (journal segments replaced by
    /// a snapshot).
    pub fn checkpoint_deletes(&self, model: &str) -> Vec<String> {
        self.join.checkpoint_deletes(&join_prefix(model))
    }

    /// Records that the last [`Learner::checkpoint`] was written.
    pub fn mark_clean(&mut self) {
        self.dirty_chunks.clear();
        self.head_dirty = false;
        self.join.checkpoint_committed();
    }

    /// Restores a learner from its stored head; `get(key)` reads the other keys it names
    /// ([`Learner::stored_keys`]: the chunks and the join store's journal).
    pub fn restore(
        &mut self,
        model: &str,
        head: &[u8],
        mut get: impl FnMut(&str) -> Option<Vec<u8>>,
    ) -> Result<(), RestoreError> {
        let h: Head = serde_json::from_slice(head).map_err(RestoreError::Head)?;
        if let Some(mut join) = h.join {
            let keys = join.journal_keys(&join_prefix(model));
            join.restore_journal(keys.iter().map(|k| get(k)))
                .map_err(RestoreError::Journal)?;
            self.join = join;
        } else {
            // A head from before the journal: its entries are listed in it; the next checkpoint
            // writes them as a snapshot.
            self.join = JoinStore::default();
            for (id, w) in h.waiting {
                self.join.add_pending(&id, w);
            }
            let mut sources = h.early_sources;
            for (id, t, ts) in h.early {
                let source = sources.remove(&id);
                self.join.add_early(&id, (t, ts, source));
            }
            self.join.journaled();
        }
        self.chunks.clear();
        for n in h.first_chunk..h.first_chunk + h.chunks {
            let key = chunk_key(model, n, h.slots);
            let bytes = get(&key).ok_or(RestoreError::MissingChunk(n))?;
            let c: Chunk<Vec<Example>> = serde_json::from_slice(&bytes)
                .map_err(|source| RestoreError::Chunk { n, source })?;
            if c.n != n {
                return Err(RestoreError::WrongChunk { n, found: c.n });
            }
            self.chunks.push_back(c.examples);
        }
        self.first_chunk = h.first_chunk;
        self.labels_total = h.labels_total;
        self.dropped_pending = h.dropped_pending;
        self.shadow = h.shadow;
        self.dirty_chunks.clear();
        self.head_dirty = false;
        self.slots = h.slots.max(1);
        self.relayout(slots_for(&self.cfg));
        Ok(())
    }

    /// The keys a restore reads besides the head: the chunks' ring slots and the join store's
    /// journal.
    pub fn stored_keys(model: &str, head: &[u8]) -> Result<Vec<String>, RestoreError> {
        let h: Head = serde_json::from_slice(head).map_err(RestoreError::Head)?;
        let mut v: Vec<String> = (h.first_chunk..h.first_chunk + h.chunks)
            .map(|n| chunk_key(model, n, h.slots))
            .collect();
        v.sort_unstable();
        v.dedup();
        if let Some(join) = &h.join {
            v.extend(join.journal_keys(&join_prefix(model)));
        }
        Ok(v)
    }

    /// A summary for the admin API.
    pub fn status(&self) -> serde_json::Value {
        let range = self.chunks.iter().flatten().map(|e| e.ts_ms);
        let (first, last) = range.fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
        serde_json::json!({
            "examples": self.len(),
            "labels_total": self.labels_total,
            "waiting": self.join.len(),
            "early_feedback": self.join.early_len(),
            "dropped_pending": self.dropped_pending,
            "first_ts_ms": (first != i64::MAX).then_some(first),
            "last_ts_ms": (last != i64::MIN).then_some(last),
            "shadow": self.shadow.as_ref().map(|s| serde_json::json!({
                "kind": s.kind.as_str(),
                "version": s.version,
                "scored": s.scored,
                "paired": s.paired,
                "table": s.tally.table(),
            })),
        })
    }
}

/// Why stored training data cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The head (pending features, shadow tally, chunk range) does not decode.
    #[error("training data head: {0}")]
    Head(serde_json::Error),
    /// The join store's journal (waiting predictions, early labels) does not decode.
    #[error("training data join store: {0}")]
    Journal(serde_json::Error),
    /// A chunk the head lists is not in the store.
    #[error("training data chunk {0} is missing")]
    MissingChunk(u64),
    /// A chunk does not decode.
    #[error("chunk {n}: {source}")]
    Chunk {
        /// The chunk's number.
        n: u64,
        /// Why.
        source: serde_json::Error,
    },
    /// A ring slot holds another chunk than the head expects (an older layout).
    #[error("slot of chunk {n} holds chunk {found}")]
    WrongChunk {
        /// The chunk expected.
        n: u64,
        /// The chunk found.
        found: u64,
    },
}

/// One row of a rebuilt drift reference: training features and the new model's answer on them.
#[derive(Debug, Clone)]
pub struct ReferenceRow {
    /// The features.
    pub features: TrainFeatures,
    /// What the model predicts on them.
    pub prediction: Option<driftd_retrain::Prediction>,
}

impl ReferenceRow {
    /// As a prediction event, for [`crate::monitor::ModelMonitor::set_reference`].
    pub fn event<'a>(&'a self, model: &'a str, ts: chrono::DateTime<chrono::Utc>) -> Event<'a> {
        use std::borrow::Cow;
        let features = Features(
            self.features
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Number(x) => FeatureValue::Number(*x),
                        Value::Category(c) => FeatureValue::Category(Cow::Borrowed(c.as_str())),
                        Value::Missing => FeatureValue::Missing,
                    };
                    (Cow::Borrowed(k.as_str()), v)
                })
                .collect(),
        );
        let output = self.prediction.as_ref().map(|p| match &p.target {
            TrainTarget::Label(l) => PredictionOutput::Class {
                label: Some(Cow::Borrowed(l.as_str())),
                score: p.score,
                probabilities: Vec::new(),
            },
            TrainTarget::Value(v) => PredictionOutput::Value(*v),
        });
        Event {
            id: Cow::Borrowed("reference"),
            model: Cow::Borrowed(model),
            model_version: None,
            ts,
            body: Body::Prediction { features, output },
        }
    }
}

/// Commands of the trainer (`trainer.rs`) to the pipeline (through the source task's control
/// channel), so that the learners stay owned by the intake loop.
#[derive(Debug)]
pub enum LearnControl {
    /// A copy of the model's training buffer and its label counter (`None`: not retrained).
    Examples(
        String,
        tokio::sync::oneshot::Sender<Option<(Vec<Example>, u64)>>,
    ),
    /// Starts scoring a challenger on the model's prediction events.
    SetShadow {
        /// The model.
        model: String,
        /// Candidate or watch.
        kind: ShadowKind,
        /// The challenger's registry version.
        version: u64,
        /// The challenger.
        challenger: Arc<TrainedModel>,
        /// The gate's settings (the tally's capacity).
        policy: ShadowPolicy,
    },
    /// Ends the model's shadow run.
    ClearShadow(String),
    /// The shadow run so far (without its model).
    Shadow(String, tokio::sync::oneshot::Sender<Option<ShadowRun>>),
    /// Rebuilds the model's drift reference from these rows; answers how many were used.
    SetReference(
        String,
        Vec<ReferenceRow>,
        tokio::sync::oneshot::Sender<usize>,
    ),
    /// The learner's summary for the admin API.
    Status(
        String,
        tokio::sync::oneshot::Sender<Option<serde_json::Value>>,
    ),
    /// The label counter only (the trainer's tick: no pass over the buffer).
    Labels(String, tokio::sync::oneshot::Sender<Option<u64>>),
}

#[cfg(test)]
mod tests;
