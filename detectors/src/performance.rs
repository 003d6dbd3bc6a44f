//! Model performance over windows of labelled predictions, in bounded memory, and significance
//! tests for a drop against a reference period.
//!
//! * [`Classification`]: confusion counts (capped number of classes), accuracy, per-class and macro
//!   precision/recall/F1; for binary models with scores, ROC AUC (from a fixed 1,000-bin score
//!   histogram: ties within a bin count half, so the AUC is exact up to the bin width of 0.001),
//!   log loss and Brier score.
//! * [`Regression`]: MAE, RMSE, MAPE (over non-zero targets), R², from running sums.
//! * [`accuracy_drop`]: one-sided two-proportion z-test that the current accuracy is *below* the
//!   reference accuracy; [`error_increase`]: one-sided Welch t-test that the mean absolute error
//!   grew (statrs' Student's t for the p-value). A drop is reported only when it is significant
//!   *and* at least `min_effect` large, for the same reason as the drift tests' effect floor.
//!
//! Everything is mergeable by addition, so per-shard windows can be combined.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Bins of the score histogram used for ROC AUC.
pub const SCORE_BINS: usize = 1000;
/// Most distinct classes tracked; further labels count in an `"__other__"` class.
pub const MAX_CLASSES: usize = 64;
const OTHER: &str = "__other__";
const EPS: f64 = 1e-15;

/// Classification performance of one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// `true -> predicted -> count` (nested so that it serialises to JSON objects).
    confusion: BTreeMap<String, BTreeMap<String, u64>>,
    classes: Vec<String>,
    /// Score histograms of positives and negatives (binary models with scores).
    pos_bins: Vec<u64>,
    neg_bins: Vec<u64>,
    log_loss_sum: f64,
    brier_sum: f64,
    scored: u64,
    n: u64,
    correct: u64,
}

/// Figures of a classification window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// Labelled predictions.
    pub n: u64,
    /// Share predicted right.
    pub accuracy: f64,
    /// Per class: precision, recall, F1, support.
    pub per_class: BTreeMap<String, ClassScores>,
    /// Unweighted mean over classes with support or predictions.
    pub macro_precision: f64,
    /// Unweighted mean recall.
    pub macro_recall: f64,
    /// Unweighted mean F1.
    pub macro_f1: f64,
    /// ROC AUC of the positive-class score (binary with scores).
    pub roc_auc: Option<f64>,
    /// Mean log loss of the positive-class score.
    pub log_loss: Option<f64>,
    /// Mean Brier score.
    pub brier: Option<f64>,
    /// Confusion counts: true class → predicted class → count (classes capped at
    /// [`MAX_CLASSES`], the rest under `other`).
    #[serde(default)]
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
}

/// One class's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// TP / (TP + FP); 0 when nothing was predicted as this class.
    pub precision: f64,
    /// TP / (TP + FN); 0 without support.
    pub recall: f64,
    /// Harmonic mean of the two; 0 when both are 0.
    pub f1: f64,
    /// True instances.
    pub support: u64,
}

impl Classification {
    fn class(&mut self, c: &str) -> String {
        if self.classes.iter().any(|k| k == c) {
            return c.to_owned();
        }
        if self.classes.len() < MAX_CLASSES {
            self.classes.push(c.to_owned());
            self.classes.sort();
            return c.to_owned();
        }
        OTHER.to_owned()
    }

    /// Adds one labelled prediction. `score` is the probability of the positive class, for binary
    /// models (`positive` says whether the true label is the positive class).
    pub fn update(&mut self, truth: &str, predicted: &str, score: Option<(f64, bool)>) {
        let t = self.class(truth);
        let p = self.class(predicted);
        self.n += 1;
        self.correct += u64::from(t == p);
        *self.confusion.entry(t).or_default().entry(p).or_default() += 1;
        if let Some((s, positive)) = score.filter(|(s, _)| s.is_finite() && (0.0..=1.0).contains(s))
        {
            if self.pos_bins.is_empty() {
                self.pos_bins = vec![0; SCORE_BINS];
                self.neg_bins = vec![0; SCORE_BINS];
            }
            let bin = ((s * SCORE_BINS as f64) as usize).min(SCORE_BINS - 1);
            let y = if positive { 1.0 } else { 0.0 };
            if positive {
                self.pos_bins[bin] += 1;
            } else {
                self.neg_bins[bin] += 1;
            }
            let sc = s.clamp(EPS, 1.0 - EPS);
            self.log_loss_sum += -(y * sc.ln() + (1.0 - y) * (1.0 - sc).ln());
            self.brier_sum += (s - y) * (s - y);
            self.scored += 1;
        }
    }

    /// Labelled predictions.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Right predictions.
    pub fn correct(&self) -> u64 {
        self.correct
    }

    /// Adds another window's counts.
    pub fn merge(&mut self, o: &Classification) {
        for (t, row) in &o.confusion {
            for (p, c) in row {
                let t = self.class(t);
                let p = self.class(p);
                *self.confusion.entry(t).or_default().entry(p).or_default() += c;
            }
        }
        if !o.pos_bins.is_empty() {
            if self.pos_bins.is_empty() {
                self.pos_bins = vec![0; SCORE_BINS];
                self.neg_bins = vec![0; SCORE_BINS];
            }
            for i in 0..SCORE_BINS {
                self.pos_bins[i] += o.pos_bins[i];
                self.neg_bins[i] += o.neg_bins[i];
            }
        }
        self.log_loss_sum += o.log_loss_sum;
        self.brier_sum += o.brier_sum;
        self.scored += o.scored;
        self.n += o.n;
        self.correct += o.correct;
    }

    /// The window's figures (`None` when empty).
    pub fn report(&self) -> Option<ClassificationReport> {
        if self.n == 0 {
            return None;
        }
        let mut per_class = BTreeMap::new();
        for c in &self.classes {
            let tp = self
                .confusion
                .get(c)
                .and_then(|row| row.get(c))
                .copied()
                .unwrap_or(0);
            let support: u64 = self.confusion.get(c).map_or(0, |row| row.values().sum());
            let predicted: u64 = self.confusion.values().filter_map(|row| row.get(c)).sum();
            let precision = if predicted > 0 {
                tp as f64 / predicted as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp as f64 / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            per_class.insert(
                c.clone(),
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                },
            );
        }
        let k = per_class.len().max(1) as f64;
        let (roc_auc, log_loss, brier) = if self.scored > 0 {
            (
                self.auc(),
                Some(self.log_loss_sum / self.scored as f64),
                Some(self.brier_sum / self.scored as f64),
            )
        } else {
            (None, None, None)
        };
        Some(ClassificationReport {
            n: self.n,
            accuracy: self.correct as f64 / self.n as f64,
            macro_precision: per_class.values().map(|c| c.precision).sum::<f64>() / k,
            macro_recall: per_class.values().map(|c| c.recall).sum::<f64>() / k,
            macro_f1: per_class.values().map(|c| c.f1).sum::<f64>() / k,
            per_class,
            roc_auc,
            log_loss,
            brier,
            confusion: self.confusion.clone(),
        })
    }

    /// Mann–Whitney form of the AUC over the score histogram (ties within a bin count half).
    fn auc(&self) -> Option<f64> {
        let pos: u64 = self.pos_bins.iter().sum();
        let neg: u64 = self.neg_bins.iter().sum();
        if pos == 0 || neg == 0 {
            return None;
        }
        let mut below = 0u64; // negatives in lower bins
        let mut wins = 0.0f64;
        for i in 0..self.pos_bins.len() {
            wins += self.pos_bins[i] as f64 * (below as f64 + 0.5 * self.neg_bins[i] as f64);
            below += self.neg_bins[i];
        }
        Some(wins / (pos as f64 * neg as f64))
    }
}

/// Regression performance of one window (running sums; mergeable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    n: u64,
    abs_sum: f64,
    abs_sq_sum: f64,
    sq_sum: f64,
    ape_sum: f64,
    ape_n: u64,
    y_sum: f64,
    y_sq_sum: f64,
}

/// Figures of a regression window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    /// Labelled predictions.
    pub n: u64,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute percentage error over non-zero targets (`None` if all targets are 0).
    pub mape: Option<f64>,
    /// Coefficient of determination (`None` when the targets are constant).
    pub r2: Option<f64>,
}

impl Regression {
    /// Adds one labelled prediction; non-finite values are ignored.
    pub fn update(&mut self, truth: f64, predicted: f64) {
        if !truth.is_finite() || !predicted.is_finite() {
            return;
        }
        let e = predicted - truth;
        self.n += 1;
        self.abs_sum += e.abs();
        self.abs_sq_sum += e * e;
        self.sq_sum += e * e;
        if truth != 0.0 {
            self.ape_sum += (e / truth).abs();
            self.ape_n += 1;
        }
        self.y_sum += truth;
        self.y_sq_sum += truth * truth;
    }

    /// Labelled predictions.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Adds another window.
    pub fn merge(&mut self, o: &Regression) {
        self.n += o.n;
        self.abs_sum += o.abs_sum;
        self.abs_sq_sum += o.abs_sq_sum;
        self.sq_sum += o.sq_sum;
        self.ape_sum += o.ape_sum;
        self.ape_n += o.ape_n;
        self.y_sum += o.y_sum;
        self.y_sq_sum += o.y_sq_sum;
    }

    /// Mean and sample variance of the absolute error.
    fn abs_moments(&self) -> (f64, f64) {
        let n = self.n as f64;
        let mean = self.abs_sum / n;
        let var = if self.n > 1 {
            ((self.abs_sq_sum - n * mean * mean) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        (mean, var)
    }

    /// The window's figures (`None` when empty).
    pub fn report(&self) -> Option<RegressionReport> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let ss_tot = self.y_sq_sum - self.y_sum * self.y_sum / n;
        Some(RegressionReport {
            n: self.n,
            mae: self.abs_sum / n,
            rmse: (self.sq_sum / n).sqrt(),
            mape: (self.ape_n > 0).then(|| self.ape_sum / self.ape_n as f64),
            r2: (ss_tot > 1e-12 * n.max(1.0)).then(|| 1.0 - self.sq_sum / ss_tot),
        })
    }
}

/// A significance test of a performance drop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropTest {
    /// `accuracy` or `mae`.
    pub metric: String,
    /// Reference value of the metric.
    pub reference: f64,
    /// Current value.
    pub current: f64,
    /// Test statistic (z or t).
    pub statistic: f64,
    /// One-sided p-value of "the current window is worse".
    pub p_value: f64,
    /// Significance level.
    pub alpha: f64,
    /// Significant and at least `min_effect` worse.
    pub drop: bool,
}

/// Fewest labelled predictions per side before a drop test runs.
pub const MIN_LABELS: u64 = 30;

/// One-sided two-proportion z-test: is the current accuracy lower than the reference accuracy?
/// `min_effect` is the smallest absolute drop that counts (e.g. 0.02 = two points).
pub fn accuracy_drop(
    reference: &Classification,
    current: &Classification,
    alpha: f64,
    min_effect: f64,
) -> Option<DropTest> {
    let (n1, n2) = (reference.n, current.n);
    if n1 < MIN_LABELS || n2 < MIN_LABELS {
        return None;
    }
    let (p1, p2) = (
        reference.correct as f64 / n1 as f64,
        current.correct as f64 / n2 as f64,
    );
    let pooled = (reference.correct + current.correct) as f64 / (n1 + n2) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    let z = if se > 0.0 { (p1 - p2) / se } else { 0.0 };
    let normal = Normal::new(0.0, 1.0).expect("standard normal");
    let p_value = 1.0 - normal.cdf(z);
    Some(DropTest {
        metric: "accuracy".into(),
        reference: p1,
        current: p2,
        statistic: z,
        p_value,
        alpha,
        drop: p_value < alpha && p1 - p2 >= min_effect,
    })
}

/// One-sided Welch t-test: is the current mean absolute error larger than the reference's?
/// `min_effect` is the smallest relative increase that counts (e.g. 0.1 = 10 %).
pub fn error_increase(
    reference: &Regression,
    current: &Regression,
    alpha: f64,
    min_effect: f64,
) -> Option<DropTest> {
    if reference.n < MIN_LABELS || current.n < MIN_LABELS {
        return None;
    }
    let (m1, v1) = reference.abs_moments();
    let (m2, v2) = current.abs_moments();
    let (n1, n2) = (reference.n as f64, current.n as f64);
    let se2 = v1 / n1 + v2 / n2;
    let (t, p_value) = if se2 > 0.0 {
        let t = (m2 - m1) / se2.sqrt();
        let df = se2 * se2 / ((v1 / n1).powi(2) / (n1 - 1.0) + (v2 / n2).powi(2) / (n2 - 1.0));
        let dist = StudentsT::new(0.0, 1.0, df.max(1.0)).expect("valid Student's t");
        (t, 1.0 - dist.cdf(t))
    } else {
        (0.0, if m2 > m1 { 0.0 } else { 1.0 })
    };
    Some(DropTest {
        metric: "mae".into(),
        reference: m1,
        current: m2,
        statistic: t,
        p_value,
        alpha,
        drop: p_value < alpha && m2 >= m1 * (1.0 + min_effect),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_figures_match_hand_computation() {
        let mut c = Classification::default();
        // true, predicted: 3 TP(a), 1 FN(a->b), 2 FP(b->a), 4 TN(b)
        for _ in 0..3 {
            c.update("a", "a", None);
        }
        c.update("a", "b", None);
        for _ in 0..2 {
            c.update("b", "a", None);
        }
        for _ in 0..4 {
            c.update("b", "b", None);
        }
        let r = c.report().unwrap();
        assert_eq!(r.n, 10);
        assert!((r.accuracy - 0.7).abs() < 1e-12);
        let a = &r.per_class["a"];
        assert!((a.precision - 3.0 / 5.0).abs() < 1e-12);
        assert!((a.recall - 3.0 / 4.0).abs() < 1e-12);
        assert!((a.f1 - 2.0 * 0.6 * 0.75 / 1.35).abs() < 1e-12);
        let b = &r.per_class["b"];
        assert!((b.precision - 4.0 / 5.0).abs() < 1e-12);
        assert!((b.recall - 4.0 / 6.0).abs() < 1e-12);
        assert!((r.macro_recall - (0.75 + 4.0 / 6.0) / 2.0).abs() < 1e-12);
        assert_eq!(r.roc_auc, None);
    }

    #[test]
    fn auc_log_loss_and_brier_match_hand_computation() {
        let mut c = Classification::default();
        // positives at 0.9, 0.8, 0.3; negatives at 0.7, 0.2 → pairs won: 0.9>0.7,0.2; 0.8>0.7,0.2;
        // 0.3>0.2 → 5 of 6.
        for (s, pos) in [
            (0.9, true),
            (0.8, true),
            (0.3, true),
            (0.7, false),
            (0.2, false),
        ] {
            c.update(
                if pos { "1" } else { "0" },
                if s >= 0.5 { "1" } else { "0" },
                Some((s, pos)),
            );
        }
        let r = c.report().unwrap();
        assert!((r.roc_auc.unwrap() - 5.0 / 6.0).abs() < 1e-12);
        let ll = -(0.9f64.ln() + 0.8f64.ln() + 0.3f64.ln() + 0.3f64.ln() + 0.8f64.ln()) / 5.0;
        assert!((r.log_loss.unwrap() - ll).abs() < 1e-12);
        let brier = (0.01 + 0.04 + 0.49 + 0.49 + 0.04) / 5.0;
        assert!((r.brier.unwrap() - brier).abs() < 1e-12);
    }

    #[test]
    fn regression_figures_match_hand_computation() {
        let mut r = Regression::default();
        for (t, p) in [(1.0, 2.0), (2.0, 2.0), (4.0, 3.0), (0.0, 1.0)] {
            r.update(t, p);
        }
        let rep = r.report().unwrap();
        assert!((rep.mae - 0.75).abs() < 1e-12);
        assert!((rep.rmse - (3.0f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((rep.mape.unwrap() - (1.0 + 0.0 + 0.25) / 3.0).abs() < 1e-12);
        // mean y = 1.75, ss_tot = 0.5625+0.0625+5.0625+3.0625 = 8.75, ss_res = 3
        assert!((rep.r2.unwrap() - (1.0 - 3.0 / 8.75)).abs() < 1e-12);
    }

    #[test]
    fn merging_windows_equals_one_window() {
        let mut a = Classification::default();
        let mut b = Classification::default();
        let mut all = Classification::default();
        for i in 0..100u32 {
            let (t, p, s) = (
                if i % 3 == 0 { "1" } else { "0" },
                if i % 4 == 0 { "1" } else { "0" },
                f64::from(i) / 100.0,
            );
            let w = if i < 40 { &mut a } else { &mut b };
            w.update(t, p, Some((s, t == "1")));
            all.update(t, p, Some((s, t == "1")));
        }
        a.merge(&b);
        let (m, w) = (a.report().unwrap(), all.report().unwrap());
        // Counts are exact; sums of floats may differ in the last bit (summation order).
        assert_eq!(
            (m.n, &m.per_class, m.roc_auc),
            (w.n, &w.per_class, w.roc_auc)
        );
        assert!((m.log_loss.unwrap() - w.log_loss.unwrap()).abs() < 1e-12);
        assert!((m.brier.unwrap() - w.brier.unwrap()).abs() < 1e-12);
    }

    #[test]
    fn windows_round_trip_through_json() {
        let mut c = Classification::default();
        c.update("1", "0", Some((0.4, true)));
        c.update("0", "0", Some((0.1, false)));
        let back: Classification =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn drops_need_significance_and_size() {
        let mut reference = Classification::default();
        let mut same = Classification::default();
        let mut worse = Classification::default();
        for i in 0..2000u32 {
            reference.update("1", if i % 10 == 0 { "0" } else { "1" }, None); // 90 %
            same.update("1", if i % 10 == 1 { "0" } else { "1" }, None); // 90 %
            worse.update("1", if i % 10 < 3 { "0" } else { "1" }, None); // 70 %
        }
        let d = accuracy_drop(&reference, &worse, 0.01, 0.02).unwrap();
        assert!(d.drop && d.p_value < 1e-10, "{d:?}");
        let d = accuracy_drop(&reference, &same, 0.01, 0.02).unwrap();
        assert!(!d.drop && (d.p_value - 0.5).abs() < 1e-9, "{d:?}");
        // Improvement is not a drop.
        assert!(!accuracy_drop(&worse, &reference, 0.01, 0.02).unwrap().drop);
        assert!(accuracy_drop(&Classification::default(), &worse, 0.01, 0.02).is_none());

        let mut r1 = Regression::default();
        let mut r2 = Regression::default();
        for i in 0..500u32 {
            let noise = f64::from(i % 7) - 3.0;
            r1.update(10.0, 10.0 + noise * 0.5);
            r2.update(10.0, 10.0 + noise * 1.0);
        }
        let d = error_increase(&r1, &r2, 0.01, 0.1).unwrap();
        assert!(
            d.drop && (d.current / d.reference - 2.0).abs() < 1e-9,
            "{d:?}"
        );
        assert!(!error_increase(&r2, &r1, 0.01, 0.1).unwrap().drop);
    }
}
