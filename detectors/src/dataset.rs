//! Across features: multiple-testing correction and the dataset-drift rule.
//!
//! Testing 50 features at `alpha = 0.05` flags about 2.5 of them by chance on a stable dataset.
//! [`Correction`] adjusts the p-values of the features that were tested with a p-value:
//!
//! * **Bonferroni** — `min(1, m·p)`: controls the probability of *any* false alarm (conservative);
//! * **Benjamini–Hochberg** — step-up adjusted p-values `min_{j ≥ i} (m / j) p_(j)`: controls the
//!   expected share of false alarms among the flagged features (as
//!   `scipy.stats.false_discovery_control(p, method="bh")`, against which it is tested).
//!
//! `m` is the number of features whose test produced a p-value. Distance tests (which have no
//! p-value) are left as they are. A feature then drifts when its adjusted p-value is below the test's
//! `alpha` and its effect reaches the floor (see [`crate::auto`]).
//!
//! **Dataset drift** (Evidently's rule): the dataset drifts when the share of drifted features among
//! the features that could be evaluated reaches `drift_share` (default 0.5). Features with "not enough
//! data" are reported but not counted in the share; if none could be evaluated there is no dataset
//! drift. Every per-feature result is kept in the report.

use serde::{Deserialize, Serialize};

use crate::auto::{AutoPolicy, FeatureVerdict};
use crate::error::{ConfigError, Validator};

/// Multiple-testing correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// No correction (Evidently's behaviour).
    None,
    /// Bonferroni (family-wise error rate).
    Bonferroni,
    /// Benjamini–Hochberg (false discovery rate). The default.
    #[default]
    BenjaminiHochberg,
}

/// Adjusted p-values, in the input order. NaN inputs are treated as 1.
pub fn adjust(p_values: &[f64], correction: Correction) -> Vec<f64> {
    let m = p_values.len();
    let ps: Vec<f64> = p_values
        .iter()
        .map(|p| if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) })
        .collect();
    match correction {
        Correction::None => ps,
        Correction::Bonferroni => ps.iter().map(|p| (p * m as f64).min(1.0)).collect(),
        Correction::BenjaminiHochberg => {
            let mut order: Vec<usize> = (0..m).collect();
            order.sort_by(|&a, &b| ps[a].total_cmp(&ps[b]));
            let mut adjusted = vec![0.0; m];
            let mut running = 1.0f64;
            for rank in (0..m).rev() {
                let i = order[rank];
                running = running.min(ps[i] * m as f64 / (rank + 1) as f64);
                adjusted[i] = running.min(1.0);
            }
            adjusted
        }
    }
}

/// Settings of the dataset-level decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetPolicy {
    /// Correction across features (default Benjamini–Hochberg).
    pub correction: Correction,
    /// Share of drifted features at which the dataset drifts (default 0.5).
    pub drift_share: f64,
    /// The effect-size floor applied after correction (default: the auto policy's, 0.1).
    pub effect_floor: Option<f64>,
}

impl Default for DatasetPolicy {
    fn default() -> Self {
        Self {
            correction: Correction::BenjaminiHochberg,
            drift_share: 0.5,
            effect_floor: AutoPolicy::default().effect_floor,
        }
    }
}

impl DatasetPolicy {
    /// Evidently's behaviour: no correction, no floor, share 0.5.
    pub fn evidently() -> Self {
        Self {
            correction: Correction::None,
            drift_share: 0.5,
            effect_floor: None,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("dataset policy");
        v.check(
            self.drift_share > 0.0 && self.drift_share <= 1.0,
            "drift_share",
            || format!("must be in (0, 1], got {}", self.drift_share),
        );
        if let Some(f) = self.effect_floor {
            v.non_negative("effect_floor", f);
        }
        v.finish()
    }
}

/// One feature in a [`DatasetReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReport {
    /// Feature name.
    pub name: String,
    /// The feature's verdict before correction.
    pub verdict: FeatureVerdict,
    /// Adjusted p-value (p-value tests only).
    pub adjusted_p_value: Option<f64>,
    /// Final decision after correction and floor.
    pub drift: bool,
}

/// Result over all features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetReport {
    /// Every feature, in input order.
    pub features: Vec<FeatureReport>,
    /// Features whose test could run.
    pub evaluated: usize,
    /// Features that drifted.
    pub drifted: usize,
    /// `drifted / evaluated` (0 when nothing was evaluated).
    pub share: f64,
    /// `share >= drift_share` with at least one evaluated feature.
    pub dataset_drift: bool,
}

/// Applies the correction and the dataset rule to per-feature verdicts.
pub fn evaluate(features: Vec<(String, FeatureVerdict)>, policy: &DatasetPolicy) -> DatasetReport {
    let with_p: Vec<(usize, f64)> = features
        .iter()
        .enumerate()
        .filter_map(|(i, (_, v))| v.outcome.verdict().and_then(|x| x.p_value).map(|p| (i, p)))
        .collect();
    let adjusted = adjust(
        &with_p.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        policy.correction,
    );
    let mut adj_by_feature = vec![None; features.len()];
    for ((i, _), a) in with_p.iter().zip(adjusted) {
        adj_by_feature[*i] = Some(a);
    }
    let mut reports = Vec::with_capacity(features.len());
    let (mut evaluated, mut drifted) = (0usize, 0usize);
    for ((name, verdict), adj) in features.into_iter().zip(adj_by_feature) {
        let drift = match verdict.outcome.verdict() {
            None => false,
            Some(v) => {
                evaluated += 1;
                match adj {
                    Some(p) => {
                        let floor_ok = match policy.effect_floor {
                            Some(f) => verdict.effect.is_none_or(|e| e >= f),
                            None => true,
                        };
                        p < v.threshold && floor_ok
                    }
                    None => v.drift,
                }
            }
        };
        drifted += usize::from(drift);
        reports.push(FeatureReport {
            name,
            verdict,
            adjusted_p_value: adj,
            drift,
        });
    }
    let share = if evaluated == 0 {
        0.0
    } else {
        drifted as f64 / evaluated as f64
    };
    DatasetReport {
        features: reports,
        evaluated,
        drifted,
        share,
        dataset_drift: evaluated > 0 && share >= policy.drift_share,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bonferroni_and_bh_by_hand() {
        let p = [0.01, 0.04, 0.03, 0.2];
        assert_eq!(
            adjust(&p, Correction::Bonferroni),
            vec![0.04, 0.16, 0.12, 0.8]
        );
        // BH: sorted 0.01 0.03 0.04 0.2 -> 0.04, 0.06, 0.0533.., 0.2 -> monotone: 0.04, 0.0533, 0.0533, 0.2
        let bh = adjust(&p, Correction::BenjaminiHochberg);
        let expect = [0.04, 0.16 / 3.0, 0.16 / 3.0, 0.2];
        for (a, b) in bh.iter().zip(expect) {
            assert!((a - b).abs() < 1e-15, "{bh:?}");
        }
    }
}
