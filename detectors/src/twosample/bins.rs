//! [`Bins`]: fixed numeric bins derived from the reference's quantiles.

use serde::{Deserialize, Serialize};

use super::Sample;
use crate::error::{ConfigError, Validator};

/// Fixed bins on the real line, given by strictly increasing interior edges `e_1 < … < e_k`:
/// bin 0 is `(-inf, e_1)`, bin `i` is `[e_i, e_{i+1})`, bin `k` is `[e_k, +inf)` — a value equal
/// to an edge goes to the upper bin (NumPy's `searchsorted(edges, x, side="right")`). There are
/// `k + 1` bins and every finite value falls in exactly one, so histograms on the same `Bins` are
/// mergeable by adding counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    edges: Vec<f64>,
}

impl Bins {
    /// Bins whose edges are the reference's quantiles `i / n_bins`, `i = 1..n_bins` (NumPy's default
    /// linear interpolation), plus two **out-of-range** edges: the reference minimum and the next
    /// double above the reference maximum. Values below the reference's range and values above it
    /// get bins of their own (reference count 0), like unseen categories get the other/new bucket:
    /// without them a shifted constant column, or a shift beyond the top quantile, could land in the
    /// same bin as the reference and go unnoticed. Duplicate edges are removed, so a reference with
    /// heavy ties yields fewer bins. An empty reference gives a single bin.
    pub fn from_reference_quantiles(reference: &Sample, n_bins: usize) -> Self {
        let v = reference.values();
        let (Some(&min), Some(&max)) = (v.first(), v.last()) else {
            return Self { edges: Vec::new() };
        };
        let mut edges = Vec::with_capacity(n_bins + 1);
        edges.push(min);
        edges.extend((1..n_bins).filter_map(|i| reference.quantile(i as f64 / n_bins as f64)));
        edges.push(max.next_up());
        edges.dedup();
        Self { edges }
    }

    /// Same bins as [`Bins::from_reference_quantiles`], computed from unsorted values by selection
    /// (`O(n)` expected instead of a sort), NaN/±inf ignored. Used by
    /// [`super::NumericTest::evaluate_values`].
    pub fn from_unsorted_quantiles(values: &[f64], n_bins: usize) -> Self {
        let mut v: Vec<f64> = values
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .map(|x| if x == 0.0 { 0.0 } else { x })
            .collect();
        let n = v.len();
        if n == 0 {
            return Self { edges: Vec::new() };
        }
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut edges = Vec::with_capacity(n_bins + 1);
        edges.push(min);
        let mut start = 0usize; // everything before `start` is known to be <= the next order statistics
        for i in 1..n_bins {
            let q = i as f64 / n_bins as f64;
            let vi = (n - 1) as f64 * q;
            let prev = vi.floor();
            let lo = (prev.max(0.0) as usize).min(n - 1);
            let t = vi - prev;
            // Order statistic `lo` by selection on the not-yet-partitioned suffix.
            let a = if lo >= start {
                let (_, nth, _) = v[start..].select_nth_unstable_by(lo - start, f64::total_cmp);
                let a = *nth;
                start = lo;
                a
            } else {
                v[lo]
            };
            // Order statistic `lo + 1` is the minimum of what lies right of `lo`.
            let b = if lo + 1 < n {
                v[lo + 1..].iter().copied().fold(f64::INFINITY, f64::min)
            } else {
                a
            };
            let d = b - a;
            edges.push(if t >= 0.5 {
                b - d * (1.0 - t)
            } else {
                a + d * t
            });
        }
        edges.push(max.next_up());
        edges.dedup();
        Self { edges }
    }

    /// Histogram of unsorted values (binary search per value), NaN/±inf ignored.
    pub fn counts_unsorted(&self, values: &[f64]) -> Vec<u64> {
        let mut counts = vec![0u64; self.len()];
        for &x in values {
            if x.is_finite() {
                counts[self.index(x)] += 1;
            }
        }
        counts
    }

    /// Bins from explicit interior edges (must be finite and strictly increasing).
    pub fn from_edges(edges: Vec<f64>) -> Result<Self, ConfigError> {
        let mut v = Validator::new("bins");
        v.check(edges.iter().all(|e| e.is_finite()), "edges", || {
            "must be finite".into()
        });
        v.check(edges.windows(2).all(|w| w[0] < w[1]), "edges", || {
            "must be strictly increasing".into()
        });
        v.finish()?;
        Ok(Self { edges })
    }

    /// Interior edges.
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// Number of bins (`edges + 1`).
    pub fn len(&self) -> usize {
        self.edges.len() + 1
    }

    /// Always `false`: there is at least one bin.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Bin of a finite value.
    pub fn index(&self, x: f64) -> usize {
        // The edges are sorted, so the edges at or below `x` are a prefix and counting them is the
        // binary search's answer. With the dozen or so edges of a decile profile, a branch-free
        // count (which the compiler vectorises) beats a search whose every branch is a coin toss:
        // it runs for every feature of every event.
        if self.edges.len() <= 32 {
            self.edges.iter().map(|e| usize::from(*e <= x)).sum()
        } else {
            self.edges.partition_point(|e| *e <= x)
        }
    }

    /// Histogram of a sample (linear merge, the sample being sorted).
    pub fn counts(&self, sample: &Sample) -> Vec<u64> {
        let mut counts = vec![0u64; self.len()];
        let mut bin = 0usize;
        for &x in sample.values() {
            while bin < self.edges.len() && self.edges[bin] <= x {
                bin += 1;
            }
            counts[bin] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count and the binary search agree, on and between edges, below and above them all,
    /// for short and long edge lists.
    #[test]
    fn counting_and_searching_agree() {
        for n in [1usize, 2, 9, 31, 32, 33, 100] {
            let edges: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
            let b = Bins::from_edges(edges.clone()).unwrap();
            for k in -4..(2 * n as i64 + 4) {
                let x = k as f64 / 4.0;
                assert_eq!(
                    b.index(x),
                    edges.partition_point(|e| *e <= x),
                    "n {n}, x {x}"
                );
            }
        }
    }

    #[test]
    fn values_on_edges_go_up() {
        let b = Bins::from_edges(vec![1.0, 2.0]).unwrap();
        assert_eq!(b.index(0.5), 0);
        assert_eq!(b.index(1.0), 1);
        assert_eq!(b.index(2.0), 2);
        assert_eq!(
            b.counts(&Sample::new(&[0.0, 1.0, 1.5, 2.0, 9.0])),
            vec![1, 2, 2]
        );
    }

    #[test]
    fn selection_quantiles_equal_sorted_quantiles() {
        let mut rng = crate::synth::Rng::new(4);
        for n in [1usize, 2, 7, 100, 1001] {
            let xs: Vec<f64> = (0..n).map(|_| (rng.normal() * 4.0).round()).collect();
            for bins in [2usize, 4, 10, 33] {
                let sorted = Bins::from_reference_quantiles(&Sample::new(&xs), bins);
                assert_eq!(
                    Bins::from_unsorted_quantiles(&xs, bins),
                    sorted,
                    "n={n} bins={bins}"
                );
                assert_eq!(
                    sorted.counts_unsorted(&xs),
                    sorted.counts(&Sample::new(&xs))
                );
            }
        }
    }

    #[test]
    fn ties_collapse_bins_and_out_of_range_bins_remain() {
        let s = Sample::new(&[1.0; 50]);
        let b = Bins::from_reference_quantiles(&s, 10);
        assert_eq!(b.len(), 3);
        assert_eq!((b.index(0.5), b.index(1.0), b.index(1.5)), (0, 1, 2));
    }
}
