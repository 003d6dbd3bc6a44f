//! The shadow gate: live model and candidate predict the same labelled traffic; paired tests decide
//! whether the candidate is promoted.
//!
//! **Tally.** A [`ShadowTally`] accumulates the pairs:
//!
//! * classification — the 2×2 table of (live right/wrong) × (candidate right/wrong), exact and
//!   `O(1)` in memory, over every pair since the tally started;
//! * regression — both absolute errors of the **most recent** `max_regression_pairs` pairs
//!   (default 5,000; a ring buffer, 24 bytes a pair). The signed-rank test needs the ranks of all
//!   differences, which no exact bounded-memory summary provides, so the test runs on the newest
//!   window; `pairs_seen` in the record says how many pairs there were in total.
//!
//! Tallies are serialisable (checkpoints) and mergeable ([`ShadowTally::merge`]), like the
//! daemon's per-shard state.
//!
//! **Decision** ([`shadow_decision`]), with `n` the pairs used and `effect` the candidate's
//! advantage — accuracy points `(c − b)/n` for classification, relative MAE
//! `(MAE_live − MAE_candidate)/MAE_live` for regression:
//!
//! 1. `n < min_pairs` → **Continue** (too little data; the test is still computed and recorded).
//! 2. The one-sided test in the candidate's favour has `p < alpha` **and** `effect ≥ min_effect` →
//!    **Promote**.
//! 3. Otherwise, the one-sided test in the *live model's* favour has `p < alpha` → **Reject**
//!    (the candidate is significantly worse).
//! 4. Otherwise → **Continue**. Two equally good models therefore continue until the daemon's
//!    maximum shadow duration ends the comparison as [`Decision::Inconclusive`]
//!    ([`ShadowDecision::inconclusive`]); so does a candidate that is significantly but less than
//!    `min_effect` better.
//!
//! Tests ([`crate::stats`]): classification uses McNemar's test on the discordant pairs — `b` =
//! live right and candidate wrong, `c` = live wrong and candidate right — exact binomial below 25
//! discordant pairs, chi-square with continuity correction from 25 on; one-sided, `greater` (`c > b`)
//! for promotion and `less` for rejection. Regression uses the Wilcoxon signed-rank test on
//! `d = |error_live| − |error_candidate|` (positive when the candidate is closer), SciPy's defaults
//! (zeros dropped, no continuity correction, exact for small samples), one-sided `greater` for
//! promotion and `less` for rejection. The recorded `p_value` is the promotion test's.
//!
//! **Repeated looks.** The daemon re-evaluates as pairs arrive; every look is a fixed-sample test,
//! so over many looks the chance of a false promotion exceeds `alpha`. `min_pairs` and
//! `min_effect` bound this in practice (no look before `min_pairs`; a chance fluctuation must also
//! be a large one); a strict guarantee would need a sequential test (alpha spending), which this
//! version does not implement.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::Task;
use crate::error::{Problem, ShadowError};
use crate::stats::{self, Alternative, ShadowTest, WilcoxonMethod};

/// Default number of most recent regression pairs kept.
pub const DEFAULT_MAX_REGRESSION_PAIRS: usize = 5_000;
/// Largest accepted `max_regression_pairs` (24 MB of pairs).
pub const MAX_REGRESSION_PAIRS_LIMIT: usize = 1_000_000;

/// Settings of the shadow gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShadowPolicy {
    /// Significance level of the one-sided tests, in (0, 1). Default 0.05.
    pub alpha: f64,
    /// Fewest pairs before any decision other than Continue. Default 200.
    pub min_pairs: u64,
    /// Smallest advantage worth a promotion: accuracy points (classification) or relative MAE
    /// (regression); `>= 0`. Default 0.01.
    pub min_effect: f64,
    /// Most recent regression pairs kept by a tally (1 to 1,000,000, at least `min_pairs`).
    /// Default 5,000.
    pub max_regression_pairs: usize,
}

impl Default for ShadowPolicy {
    fn default() -> Self {
        ShadowPolicy {
            alpha: 0.05,
            min_pairs: 200,
            min_effect: 0.01,
            max_regression_pairs: DEFAULT_MAX_REGRESSION_PAIRS,
        }
    }
}

impl ShadowPolicy {
    /// Every problem with these settings (empty when valid).
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha < 1.0) {
            p.push(Problem::new(
                "alpha",
                format!("must be in (0, 1), got {}", self.alpha),
            ));
        }
        if self.min_pairs == 0 {
            p.push(Problem::new("min_pairs", "must be at least 1"));
        }
        if !(self.min_effect.is_finite() && self.min_effect >= 0.0) {
            p.push(Problem::new(
                "min_effect",
                format!("must be a finite number >= 0, got {}", self.min_effect),
            ));
        }
        if !(1..=MAX_REGRESSION_PAIRS_LIMIT).contains(&self.max_regression_pairs) {
            p.push(Problem::new(
                "max_regression_pairs",
                format!(
                    "must be between 1 and {MAX_REGRESSION_PAIRS_LIMIT}, got {}",
                    self.max_regression_pairs
                ),
            ));
        } else if (self.max_regression_pairs as u64) < self.min_pairs {
            p.push(Problem::new(
                "max_regression_pairs",
                format!(
                    "must be at least min_pairs ({}), got {}",
                    self.min_pairs, self.max_regression_pairs
                ),
            ));
        }
        p
    }
}

/// The 2×2 table of paired classification outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairTable {
    /// Both right.
    pub both_right: u64,
    /// Live right, candidate wrong (McNemar's `b`).
    pub live_only: u64,
    /// Live wrong, candidate right (McNemar's `c`).
    pub candidate_only: u64,
    /// Both wrong.
    pub both_wrong: u64,
}

impl PairTable {
    /// All pairs.
    pub fn n(&self) -> u64 {
        self.both_right + self.live_only + self.candidate_only + self.both_wrong
    }
}

/// One regression pair: both absolute errors on the same labelled event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionPair {
    /// Event time.
    pub ts_ms: i64,
    /// `|truth − live prediction|`.
    pub live_error: f64,
    /// `|truth − candidate prediction|`.
    pub candidate_error: f64,
}

/// Paired outcomes of the live model and a candidate on the same labelled traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowTally {
    task: Task,
    table: PairTable,
    pairs: VecDeque<RegressionPair>,
    capacity: usize,
    seen: u64,
    first_ts_ms: Option<i64>,
    last_ts_ms: Option<i64>,
}

impl ShadowTally {
    /// An empty tally for `task`, keeping `policy.max_regression_pairs` regression pairs.
    pub fn new(task: Task, policy: &ShadowPolicy) -> Self {
        Self::with_capacity(task, policy.max_regression_pairs)
    }

    /// An empty tally keeping at most `max_regression_pairs` regression pairs (at least 1).
    pub fn with_capacity(task: Task, max_regression_pairs: usize) -> Self {
        ShadowTally {
            task,
            table: PairTable::default(),
            pairs: VecDeque::new(),
            capacity: max_regression_pairs.clamp(1, MAX_REGRESSION_PAIRS_LIMIT),
            seen: 0,
            first_ts_ms: None,
            last_ts_ms: None,
        }
    }

    fn expect(&self, task: Task) -> Result<(), ShadowError> {
        if self.task == task {
            Ok(())
        } else {
            Err(ShadowError::WrongTask(self.task))
        }
    }

    fn stamp(&mut self, ts_ms: i64) {
        self.seen += 1;
        self.first_ts_ms = Some(self.first_ts_ms.map_or(ts_ms, |t| t.min(ts_ms)));
        self.last_ts_ms = Some(self.last_ts_ms.map_or(ts_ms, |t| t.max(ts_ms)));
    }

    /// Records a classification pair: whether each model was right on one labelled event.
    pub fn record_classification(
        &mut self,
        ts_ms: i64,
        live_correct: bool,
        candidate_correct: bool,
    ) -> Result<(), ShadowError> {
        self.expect(Task::Classification)?;
        let t = &mut self.table;
        match (live_correct, candidate_correct) {
            (true, true) => t.both_right += 1,
            (true, false) => t.live_only += 1,
            (false, true) => t.candidate_only += 1,
            (false, false) => t.both_wrong += 1,
        }
        self.stamp(ts_ms);
        Ok(())
    }

    /// Records a classification pair from the labels.
    pub fn record_labels(
        &mut self,
        ts_ms: i64,
        truth: &str,
        live: &str,
        candidate: &str,
    ) -> Result<(), ShadowError> {
        self.record_classification(ts_ms, live == truth, candidate == truth)
    }

    /// Records a regression pair from the truth and both predictions. NaN/±inf are refused.
    pub fn record_regression(
        &mut self,
        ts_ms: i64,
        truth: f64,
        live: f64,
        candidate: f64,
    ) -> Result<(), ShadowError> {
        self.expect(Task::Regression)?;
        let (live_error, candidate_error) = ((truth - live).abs(), (truth - candidate).abs());
        if !(live_error.is_finite() && candidate_error.is_finite()) {
            return Err(ShadowError::NonFinite);
        }
        if self.pairs.len() == self.capacity {
            self.pairs.pop_front();
        }
        self.pairs.push_back(RegressionPair {
            ts_ms,
            live_error,
            candidate_error,
        });
        self.stamp(ts_ms);
        Ok(())
    }

    /// Adds another tally of the same task (e.g. another shard's). Regression pairs are merged by
    /// event time and the newest `capacity` kept.
    pub fn merge(&mut self, other: &ShadowTally) -> Result<(), ShadowError> {
        self.expect(other.task)?;
        let (a, b) = (&mut self.table, &other.table);
        a.both_right += b.both_right;
        a.live_only += b.live_only;
        a.candidate_only += b.candidate_only;
        a.both_wrong += b.both_wrong;
        if !other.pairs.is_empty() {
            let mut all: Vec<RegressionPair> = self
                .pairs
                .drain(..)
                .chain(other.pairs.iter().copied())
                .collect();
            all.sort_by_key(|p| p.ts_ms); // stable: ties keep self's pairs first
            let skip = all.len().saturating_sub(self.capacity);
            self.pairs = all.into_iter().skip(skip).collect();
        }
        self.seen += other.seen;
        for ts in [other.first_ts_ms, other.last_ts_ms].into_iter().flatten() {
            self.first_ts_ms = Some(self.first_ts_ms.map_or(ts, |t| t.min(ts)));
            self.last_ts_ms = Some(self.last_ts_ms.map_or(ts, |t| t.max(ts)));
        }
        Ok(())
    }

    /// The task of the tally.
    pub fn task(&self) -> Task {
        self.task
    }

    /// The classification table.
    pub fn table(&self) -> PairTable {
        self.table
    }

    /// The retained regression pairs, oldest first.
    pub fn regression_pairs(&self) -> impl Iterator<Item = &RegressionPair> {
        self.pairs.iter()
    }

    /// Pairs recorded since the tally started (including regression pairs no longer retained).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Pairs the test uses: all for classification, the retained ones for regression.
    pub fn len(&self) -> u64 {
        match self.task {
            Task::Classification => self.table.n(),
            Task::Regression => self.pairs.len() as u64,
        }
    }

    /// Whether no pair is used yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The outcome of the shadow gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The candidate is significantly better, by at least `min_effect`: promote it.
    Promote,
    /// The candidate is significantly worse: drop it.
    Reject,
    /// Not enough evidence yet: keep shadowing.
    Continue,
    /// The daemon ended the comparison without a decision (maximum duration reached).
    Inconclusive,
}

/// Pair counts in a decision record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCounts {
    /// Pairs where the live model did better (classification: live right, candidate wrong;
    /// regression: smaller live error).
    pub b: u64,
    /// Pairs where the candidate did better.
    pub c: u64,
    /// Pairs used (including ties / concordant pairs).
    pub n: u64,
}

/// The evidence a decision rests on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowWindow {
    /// Pairs recorded since the shadow phase started.
    pub pairs_seen: u64,
    /// Pairs the test used (regression: the retained most recent ones).
    pub pairs_used: u64,
    /// Event time of the oldest pair recorded (classification) or retained (regression).
    pub from_ms: Option<i64>,
    /// Event time of the newest pair.
    pub to_ms: Option<i64>,
}

/// Everything needed to audit a shadow decision. Serialisable (JSON for the daemon's log/API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The test run: `mcnemar_exact`, `mcnemar_chi2` or `wilcoxon_signed_rank` (`None` when no
    /// pair was available or the record is an inconclusive ending).
    pub test: Option<ShadowTest>,
    /// For Wilcoxon: how its p-value was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<WilcoxonMethod>,
    /// The promotion test's statistic (McNemar chi-square: the chi-square statistic; exact: `c`;
    /// Wilcoxon: `R⁺` of `|error_live| − |error_candidate|`).
    pub statistic: Option<f64>,
    /// One-sided p-value that the candidate is better.
    pub p_value: Option<f64>,
    /// One-sided p-value that the candidate is worse (the rejection test).
    pub p_value_worse: Option<f64>,
    /// Pair counts.
    pub counts: PairCounts,
    /// The candidate's advantage: accuracy points (classification) or relative MAE reduction
    /// (regression). When the live MAE is 0 it is 0 if the candidate's is too, else −1.
    pub effect: Option<f64>,
    /// Live model's accuracy (classification) or MAE (regression) on the pairs used.
    pub live_metric: Option<f64>,
    /// Candidate's accuracy or MAE on the pairs used.
    pub candidate_metric: Option<f64>,
    /// The policy the decision applied (`None` for an inconclusive ending without evidence).
    pub policy: Option<ShadowPolicy>,
    /// Pairs and event-time span.
    pub window: ShadowWindow,
    /// Why, in words.
    pub reason: String,
}

/// A decision and its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowDecision {
    /// Promote, reject, continue or inconclusive.
    pub decision: Decision,
    /// The evidence.
    pub record: DecisionRecord,
}

impl ShadowDecision {
    /// An inconclusive ending without evidence (e.g. the maximum duration passed before any pair).
    pub fn inconclusive(reason: impl Into<String>) -> ShadowDecision {
        ShadowDecision {
            decision: Decision::Inconclusive,
            record: DecisionRecord {
                test: None,
                method: None,
                statistic: None,
                p_value: None,
                p_value_worse: None,
                counts: PairCounts::default(),
                effect: None,
                live_metric: None,
                candidate_metric: None,
                policy: None,
                window: ShadowWindow::default(),
                reason: reason.into(),
            },
        }
    }

    /// Ends a comparison as inconclusive, keeping the evidence of the last decision (typically the
    /// last `Continue` when the maximum duration is reached).
    pub fn into_inconclusive(mut self, reason: impl Into<String>) -> ShadowDecision {
        self.decision = Decision::Inconclusive;
        self.record.reason = reason.into();
        self
    }
}

struct Evidence {
    test: Option<ShadowTest>,
    method: Option<WilcoxonMethod>,
    statistic: Option<f64>,
    p_better: Option<f64>,
    p_worse: Option<f64>,
    counts: PairCounts,
    effect: Option<f64>,
    live_metric: Option<f64>,
    candidate_metric: Option<f64>,
    from_ms: Option<i64>,
}

fn classification_evidence(t: &ShadowTally) -> Evidence {
    let table = t.table;
    let (b, c, n) = (table.live_only, table.candidate_only, table.n());
    let (better, worse) = (
        stats::mcnemar(b, c, Alternative::Greater),
        stats::mcnemar(b, c, Alternative::Less),
    );
    let nf = n as f64;
    let computed = n > 0;
    Evidence {
        test: computed.then_some(better.test),
        method: None,
        statistic: computed.then_some(better.statistic),
        p_better: computed.then_some(better.p_value),
        p_worse: computed.then_some(worse.p_value),
        counts: PairCounts { b, c, n },
        effect: computed.then(|| (c as f64 - b as f64) / nf),
        live_metric: computed.then(|| (table.both_right + table.live_only) as f64 / nf),
        candidate_metric: computed.then(|| (table.both_right + table.candidate_only) as f64 / nf),
        from_ms: t.first_ts_ms,
    }
}

fn regression_evidence(t: &ShadowTally) -> Evidence {
    let d: Vec<f64> = t
        .pairs
        .iter()
        .map(|p| p.live_error - p.candidate_error)
        .collect();
    let n = d.len() as u64;
    let counts = PairCounts {
        b: d.iter().filter(|x| **x < 0.0).count() as u64,
        c: d.iter().filter(|x| **x > 0.0).count() as u64,
        n,
    };
    let better = stats::wilcoxon(&d, Alternative::Greater);
    let worse = stats::wilcoxon(&d, Alternative::Less);
    let (mae_live, mae_cand) = if n > 0 {
        let nf = n as f64;
        (
            Some(t.pairs.iter().map(|p| p.live_error).sum::<f64>() / nf),
            Some(t.pairs.iter().map(|p| p.candidate_error).sum::<f64>() / nf),
        )
    } else {
        (None, None)
    };
    let effect = mae_live.zip(mae_cand).map(|(l, c)| {
        if l > 0.0 {
            (l - c) / l
        } else if c > 0.0 {
            -1.0
        } else {
            0.0
        }
    });
    Evidence {
        test: better.map(|_| ShadowTest::WilcoxonSignedRank),
        method: better.map(|w| w.method),
        statistic: better.map(|w| w.statistic),
        p_better: better.map(|w| w.p_value),
        p_worse: worse.map(|w| w.p_value),
        counts,
        effect,
        live_metric: mae_live,
        candidate_metric: mae_cand,
        from_ms: t.pairs.front().map(|p| p.ts_ms),
    }
}

/// The shadow gate's decision on the pairs tallied so far (see the [module documentation](self)
/// for the rules). The policy is used as given; validate it with [`ShadowPolicy::validate`] when
/// loading the configuration.
///
/// ```
/// use driftd_retrain::{shadow_decision, Decision, ShadowPolicy, ShadowTally, Task};
/// let policy = ShadowPolicy::default();
/// let mut tally = ShadowTally::new(Task::Classification, &policy);
/// for i in 0..1000 {
///     // live right 80 % of the time, candidate 90 %, mostly on the same events
///     let live = i % 10 < 8;
///     let candidate = i % 10 < 9;
///     tally.record_classification(i, live, candidate).unwrap();
/// }
/// let d = shadow_decision(&tally, &policy);
/// assert_eq!(d.decision, Decision::Promote);
/// assert!(d.record.p_value.unwrap() < 0.05);
/// assert_eq!((d.record.counts.b, d.record.counts.c), (0, 100));
/// ```
pub fn shadow_decision(tally: &ShadowTally, policy: &ShadowPolicy) -> ShadowDecision {
    let ev = match tally.task {
        Task::Classification => classification_evidence(tally),
        Task::Regression => regression_evidence(tally),
    };
    let n = ev.counts.n;
    let effect_text = |e: f64| match tally.task {
        Task::Classification => format!("{:+.2} accuracy points", e * 100.0),
        Task::Regression => format!("{:+.2} % MAE", -e * 100.0),
    };
    let (decision, reason) = match (ev.p_better, ev.p_worse, ev.effect) {
        _ if n < policy.min_pairs => (
            Decision::Continue,
            format!("{n} of {} pairs needed", policy.min_pairs),
        ),
        (Some(pb), Some(pw), Some(e)) => {
            if pb < policy.alpha && e >= policy.min_effect {
                (
                    Decision::Promote,
                    format!(
                        "candidate better: p = {pb:.3e} < alpha {} and effect {} >= minimum {}",
                        policy.alpha,
                        effect_text(e),
                        effect_text(policy.min_effect)
                    ),
                )
            } else if pw < policy.alpha {
                (
                    Decision::Reject,
                    format!(
                        "candidate worse: p = {pw:.3e} < alpha {} (effect {})",
                        policy.alpha,
                        effect_text(e)
                    ),
                )
            } else if pb < policy.alpha {
                (
                    Decision::Continue,
                    format!(
                        "candidate significantly better (p = {pb:.3e}) but effect {} below minimum {}",
                        effect_text(e),
                        effect_text(policy.min_effect)
                    ),
                )
            } else {
                (
                    Decision::Continue,
                    format!(
                        "no significant difference yet (p = {pb:.3}, effect {})",
                        effect_text(e)
                    ),
                )
            }
        }
        _ => (Decision::Continue, "no pairs to test".to_owned()),
    };
    ShadowDecision {
        decision,
        record: DecisionRecord {
            test: ev.test,
            method: ev.method,
            statistic: ev.statistic,
            p_value: ev.p_better,
            p_value_worse: ev.p_worse,
            counts: ev.counts,
            effect: ev.effect,
            live_metric: ev.live_metric,
            candidate_metric: ev.candidate_metric,
            policy: Some(policy.clone()),
            window: ShadowWindow {
                pairs_seen: tally.seen,
                pairs_used: n,
                from_ms: ev.from_ms,
                to_ms: tally.last_ts_ms,
            },
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_validation() {
        assert!(ShadowPolicy::default().validate().is_empty());
        let bad = ShadowPolicy {
            alpha: 1.0,
            min_pairs: 0,
            min_effect: -0.1,
            max_regression_pairs: 0,
        };
        let keys: Vec<_> = bad.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["alpha", "min_pairs", "min_effect", "max_regression_pairs"]
        );
        let small = ShadowPolicy {
            max_regression_pairs: 100,
            ..Default::default()
        };
        assert_eq!(small.validate()[0].key, "max_regression_pairs");
    }

    #[test]
    fn wrong_task_and_non_finite_are_refused() {
        let mut c = ShadowTally::with_capacity(Task::Classification, 10);
        assert_eq!(
            c.record_regression(0, 1.0, 1.0, 1.0),
            Err(ShadowError::WrongTask(Task::Classification))
        );
        let mut r = ShadowTally::with_capacity(Task::Regression, 10);
        assert_eq!(
            r.record_regression(0, f64::NAN, 1.0, 1.0),
            Err(ShadowError::NonFinite)
        );
        assert!(r.record_classification(0, true, true).is_err());
        assert_eq!((r.seen(), r.len()), (0, 0));
        assert!(c.merge(&r).is_err());
    }

    #[test]
    fn ring_keeps_newest_and_merge_by_time() {
        let mut a = ShadowTally::with_capacity(Task::Regression, 3);
        for i in 0..5 {
            a.record_regression(i * 10, 0.0, 1.0, 0.5).unwrap();
        }
        let ts: Vec<i64> = a.regression_pairs().map(|p| p.ts_ms).collect();
        assert_eq!(ts, [20, 30, 40]);
        assert_eq!((a.seen(), a.len()), (5, 3));
        let mut b = ShadowTally::with_capacity(Task::Regression, 3);
        b.record_regression(35, 0.0, 1.0, 0.5).unwrap();
        b.record_regression(5, 0.0, 1.0, 0.5).unwrap();
        a.merge(&b).unwrap();
        let ts: Vec<i64> = a.regression_pairs().map(|p| p.ts_ms).collect();
        assert_eq!(ts, [30, 35, 40]);
        assert_eq!(a.seen(), 7);
        let d = shadow_decision(&a, &ShadowPolicy::default());
        assert_eq!(d.record.window.from_ms, Some(30));
        assert_eq!(d.record.window.to_ms, Some(40));
    }

    #[test]
    fn empty_tally_continues_and_inconclusive_serialises() {
        let policy = ShadowPolicy::default();
        for task in [Task::Classification, Task::Regression] {
            let d = shadow_decision(&ShadowTally::new(task, &policy), &policy);
            assert_eq!(d.decision, Decision::Continue);
            assert_eq!(d.record.p_value, None);
        }
        let d = ShadowDecision::inconclusive("shadow phase exceeded 7 days");
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""decision":"inconclusive""#), "{json}");
        let back: ShadowDecision = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
    }
}
