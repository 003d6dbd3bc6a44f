//! [`Sample`]: a numeric sample prepared once for every test (finite values, sorted).

use serde::{Deserialize, Serialize};

/// A numeric sample ready for two-sample tests: non-finite values (NaN, ±inf) are **dropped and
/// counted**, never propagated; the finite values are sorted once, so comparing one reference
/// against many windows does not sort the reference again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    sorted: Vec<f64>,
    non_finite: u64,
}

impl Sample {
    /// Prepares a sample (copies, filters, sorts: `O(n log n)`).
    pub fn new(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let non_finite = (values.len() - sorted.len()) as u64;
        sorted.sort_unstable_by(f64::total_cmp);
        // -0.0 and 0.0 compare equal in every test: normalise so total_cmp ties them too.
        for x in &mut sorted {
            if *x == 0.0 {
                *x = 0.0;
            }
        }
        Self { sorted, non_finite }
    }

    /// Takes ownership of already-sorted finite values (checked in debug builds).
    pub fn from_sorted(sorted: Vec<f64>) -> Self {
        debug_assert!(sorted.iter().all(|x| x.is_finite()));
        debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
        Self {
            sorted,
            non_finite: 0,
        }
    }

    /// The finite values, ascending.
    pub fn values(&self) -> &[f64] {
        &self.sorted
    }

    /// Number of finite values.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// `true` when there is no finite value.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// How many NaN/±inf values were dropped.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Arithmetic mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        self.sorted.iter().sum::<f64>() / self.sorted.len() as f64
    }

    /// Population standard deviation (`ddof = 0`, NumPy's `np.std` default; 0 when empty).
    pub fn std(&self) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        let m = self.mean();
        (self.sorted.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / self.sorted.len() as f64)
            .sqrt()
    }

    /// Number of distinct values.
    pub fn distinct(&self) -> usize {
        if self.sorted.is_empty() {
            return 0;
        }
        1 + self.sorted.windows(2).filter(|w| w[0] != w[1]).count()
    }

    /// NumPy's default (`method="linear"`) quantile, bit for bit: virtual index `(n-1)·q`, then
    /// `a + (b-a)·t` for `t < 0.5` and `b - (b-a)·(1-t)` otherwise. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let vi = (n - 1) as f64 * q;
        let prev = vi.floor();
        let lo = (prev.max(0.0) as usize).min(n - 1);
        let hi = (lo + 1).min(n - 1);
        let t = vi - prev;
        let (a, b) = (self.sorted[lo], self.sorted[hi]);
        let d = b - a;
        Some(if t >= 0.5 {
            b - d * (1.0 - t)
        } else {
            a + d * t
        })
    }
}

/// Average ranks (1-based, ties get the mean of their ranks) of two sorted samples within their
/// pooled sample, plus `Σ (t³ - t)` over tie groups. Linear time: a merge of the sorted inputs.
pub(crate) struct PooledRanks {
    /// Ranks of the first sample's values, in its (sorted) order.
    pub a: Vec<f64>,
    /// Ranks of the second sample's values, in its (sorted) order.
    pub b: Vec<f64>,
    /// `Σ (t³ - t)` over groups of tied values.
    pub tie_term: f64,
    /// `true` when at least one value occurs more than once in the pooled sample.
    pub has_ties: bool,
}

pub(crate) fn pooled_ranks(a: &[f64], b: &[f64]) -> PooledRanks {
    let (mut ra, mut rb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let (mut i, mut j) = (0usize, 0usize);
    let mut rank_start = 1.0f64; // rank of the first element of the next group
    let mut tie_term = 0.0;
    let mut has_ties = false;
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => unreachable!(),
        };
        let ci = a[i..].iter().take_while(|x| **x == v).count();
        let cj = b[j..].iter().take_while(|y| **y == v).count();
        let t = (ci + cj) as f64;
        let avg = rank_start + (t - 1.0) / 2.0;
        ra.extend(std::iter::repeat_n(avg, ci));
        rb.extend(std::iter::repeat_n(avg, cj));
        if ci + cj > 1 {
            has_ties = true;
            tie_term += t * t * t - t;
        }
        rank_start += t;
        i += ci;
        j += cj;
    }
    PooledRanks {
        a: ra,
        b: rb,
        tie_term,
        has_ties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_and_counts_non_finite() {
        let s = Sample::new(&[3.0, f64::NAN, 1.0, f64::INFINITY, 2.0, f64::NEG_INFINITY]);
        assert_eq!(s.values(), &[1.0, 2.0, 3.0]);
        assert_eq!(s.non_finite(), 3);
    }

    #[test]
    fn ranks_with_ties() {
        let r = pooled_ranks(&[1.0, 2.0, 2.0], &[2.0, 3.0]);
        assert_eq!(r.a, vec![1.0, 3.0, 3.0]);
        assert_eq!(r.b, vec![3.0, 5.0]);
        assert_eq!(r.tie_term, 24.0);
        assert!(r.has_ties);
    }
}
