//! Categorical samples and the tests that need category semantics (chi-square, two-proportion Z).
//!
//! **Unseen categories.** Tests compare the current window against the *reference's* categories.
//! Every current value whose category the reference never saw is counted in one explicit
//! **other/new bucket** (a last column whose reference count is 0); the bucket's size and its most
//! frequent members are reported ([`Unseen`]), and the tests stay finite: chi-square and the distances
//! handle a zero reference count, PSI/KL smooth it (see [`super::binned`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::special::{chi2_sf, normal_sf};

/// Counts of a categorical sample. Missing values are counted apart and never enter a test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCounts {
    counts: BTreeMap<String, u64>,
    missing: u64,
}

impl CategoryCounts {
    /// Empty counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts the values (`None` = missing).
    pub fn from_values<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = Option<S>>,
        S: AsRef<str>,
    {
        let mut c = Self::new();
        for v in values {
            match v {
                Some(s) => c.add(s.as_ref(), 1),
                None => c.missing += 1,
            }
        }
        c
    }

    /// Adds `n` occurrences of `category`.
    pub fn add(&mut self, category: &str, n: u64) {
        if let Some(c) = self.counts.get_mut(category) {
            *c += n;
        } else {
            self.counts.insert(category.to_string(), n);
        }
    }

    /// Adds `n` missing values.
    pub fn add_missing(&mut self, n: u64) {
        self.missing += n;
    }

    /// Count of one category.
    pub fn get(&self, category: &str) -> u64 {
        self.counts.get(category).copied().unwrap_or(0)
    }

    /// Categories and counts, sorted by category.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counts.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Number of distinct categories.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// Number of non-missing values.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Number of missing values.
    pub fn missing(&self) -> u64 {
        self.missing
    }
}

/// Current-window categories the reference never saw (the other/new bucket).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unseen {
    /// Number of current values in unseen categories.
    pub count: u64,
    /// Their share of the current window.
    pub share: f64,
    /// Number of distinct unseen categories (when known; summaries cap the names they keep).
    pub distinct: u64,
    /// The most frequent unseen categories with their counts (at most [`Unseen::MAX_EXAMPLES`]).
    pub examples: Vec<(String, u64)>,
}

impl Unseen {
    /// How many unseen categories are listed by name.
    pub const MAX_EXAMPLES: usize = 10;
}

/// Reference and current counts aligned on the reference's categories (sorted by name) plus a last
/// other/new column (reference count 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Aligned {
    /// Category names, the last one being the other/new bucket (`None`).
    pub categories: Vec<Option<String>>,
    /// Reference counts per column.
    pub reference: Vec<u64>,
    /// Current counts per column.
    pub current: Vec<u64>,
    /// What fell in the other/new bucket.
    pub unseen: Unseen,
}

/// Aligns `current` on the categories of `reference`.
pub fn align(reference: &CategoryCounts, current: &CategoryCounts) -> Aligned {
    let mut categories: Vec<Option<String>> = reference.counts.keys().cloned().map(Some).collect();
    let mut r: Vec<u64> = reference.counts.values().copied().collect();
    let mut c: Vec<u64> = reference.counts.keys().map(|k| current.get(k)).collect();
    let mut unseen: Vec<(String, u64)> = current
        .counts
        .iter()
        .filter(|(k, _)| !reference.counts.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let new_total: u64 = unseen.iter().map(|(_, v)| v).sum();
    let distinct = unseen.len() as u64;
    unseen.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    unseen.truncate(Unseen::MAX_EXAMPLES);
    categories.push(None);
    r.push(0);
    c.push(new_total);
    let total = current.total();
    Aligned {
        categories,
        reference: r,
        current: c,
        unseen: Unseen {
            count: new_total,
            share: if total == 0 {
                0.0
            } else {
                new_total as f64 / total as f64
            },
            distinct,
            examples: unseen,
        },
    }
}

/// Pearson's chi-square test of homogeneity on the 2×k table (reference row, current row), as
/// `scipy.stats.chi2_contingency(table, correction=False)` after dropping empty columns.
///
/// We use the homogeneity test rather than a goodness-of-fit test against the reference's
/// proportions (Evidently's choice) because both rows are samples, and because it stays defined when
/// the current window has categories the reference lacks. Yates' correction is not applied (SciPy
/// applies it only when `k = 2`); without it the statistic equals the square of the two-proportion
/// Z statistic for binary features. With fewer than two non-empty columns the statistic is 0 and
/// the p-value 1 (nothing to compare; SciPy returns the same).
///
/// Returns `(statistic, p_value, degrees_of_freedom)`.
pub fn chi_square(reference: &[u64], current: &[u64]) -> (f64, f64, usize) {
    let cols: Vec<(f64, f64)> = reference
        .iter()
        .zip(current)
        .filter(|(r, c)| **r + **c > 0)
        .map(|(r, c)| (*r as f64, *c as f64))
        .collect();
    let (nr, nc): (f64, f64) = (
        cols.iter().map(|c| c.0).sum(),
        cols.iter().map(|c| c.1).sum(),
    );
    if cols.len() < 2 || nr == 0.0 || nc == 0.0 {
        return (0.0, 1.0, cols.len().saturating_sub(1));
    }
    let n = nr + nc;
    let mut stat = 0.0;
    for (r, c) in &cols {
        let col = r + c;
        let (er, ec) = (nr * col / n, nc * col / n);
        stat += (r - er) * (r - er) / er + (c - ec) * (c - ec) / ec;
    }
    let dof = cols.len() - 1;
    (stat, chi2_sf(stat, dof as f64), dof)
}

/// Two-proportion Z-test (pooled variance, two-sided), Evidently's `z_stat_test`:
/// `z = (p_ref - p_cur) / sqrt(P (1 - P) (1/n_ref + 1/n_cur))` where `p` is the share of the
/// *success* category and `P` the pooled share; `p = 2 P(Z > |z|)`. When `P` is 0 or 1 (both samples
/// entirely one category) `z = 0, p = 1`. Returns `(z, p_value)`.
pub fn z_test(
    success_reference: u64,
    n_reference: u64,
    success_current: u64,
    n_current: u64,
) -> (f64, f64) {
    let (n1, n2) = (n_reference as f64, n_current as f64);
    let p1 = success_reference as f64 / n1;
    let p2 = success_current as f64 / n2;
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if var <= 0.0 || !var.is_finite() {
        return (0.0, 1.0);
    }
    let z = (p1 - p2) / var.sqrt();
    (z, (2.0 * normal_sf(z.abs())).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseen_categories_go_to_the_bucket() {
        let r = CategoryCounts::from_values(["a", "b", "b"].map(Some));
        let c = CategoryCounts::from_values([Some("a"), Some("z"), Some("z"), Some("y"), None]);
        let al = align(&r, &c);
        assert_eq!(al.reference, vec![1, 2, 0]);
        assert_eq!(al.current, vec![1, 0, 3]);
        assert_eq!(al.unseen.count, 3);
        assert_eq!(al.unseen.distinct, 2);
        assert_eq!(al.unseen.examples[0], ("z".to_string(), 2));
        assert_eq!(c.missing(), 1);
        let (stat, p, dof) = chi_square(&al.reference, &al.current);
        assert!(stat.is_finite() && p.is_finite() && dof == 2);
    }

    #[test]
    fn z_squared_equals_chi_square_for_two_categories() {
        let (z, pz) = z_test(30, 100, 45, 120);
        let (chi, pc, dof) = chi_square(&[30, 70], &[45, 75]);
        assert_eq!(dof, 1);
        assert!((z * z - chi).abs() < 1e-12 * chi);
        // Same quantity through two statrs routes (erfc vs the incomplete gamma): ~1e-10 apart.
        assert!((pz - pc).abs() < 1e-9, "{pz} vs {pc}");
    }
}
