//! [`QuantileSketch`]: a KLL quantile sketch with a fixed memory footprint and a deterministic coin.
//!
//! **Why not the `datasketches` crate.** Its KLL sketch (0.6) works well, but it draws the compaction
//! coin from a thread-local generator seeded from the OS: the same data gives a different sketch on
//! every run. driftd needs summaries that are reproducible (a window rebuilt from a replay must give
//! the same verdicts; tests must not flake) and checkpointable with serde. This sketch implements
//! the same algorithm (Karnin, Lang & Liberty 2016, with the lazy compaction and level capacities
//! of the Apache DataSketches implementation: `c = 2/3`, minimum level width `M = 8`) with the coin
//! drawn from a SplitMix64 state stored in the sketch.
//!
//! **Memory.** Items live in one buffer allocated at construction with room for the capacity of
//! [`MAX_LEVELS`] levels (1,165 values for the default `k = 256`, 1,001 for `k = 200`), enough for
//! any stream shorter than `2^60` values, plus a scratch buffer of the same size; neither grows, so
//! the footprint ([`QuantileSketch::heap_bytes`], 19.1 KB for `k = 256`) is the same after 10³ and
//! after 10⁹ updates.
//!
//! **Accuracy.** Normalised rank error at most `2.296 / k^0.9723` with 99 % confidence
//! (DataSketches' published bound for this design): 1.05 % for the default `k = 256`, 1.33 % for
//! `k = 200`; see [`QuantileSketch::rank_error_bound`]. Tests check it on seeded data. The default is
//! 256 rather than DataSketches' 200 because Wasserstein distances computed from sketches are much
//! more accurate with it (measured on normal data, 24 seeded pairs: mean error 0.003 vs 0.011
//! reference standard deviations, worst 0.008 vs 0.022), which matters against the usual 0.1
//! threshold; larger `k` gains little more (0.0025 at 400) and costs evaluation time.
//!
//! Reference: Z. Karnin, K. Lang, E. Liberty, "Optimal quantile approximation in streams",
//! FOCS 2016.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ConfigError, SummaryError, Validator};

/// Maximum number of levels (items at level `h` weigh `2^h`).
pub const MAX_LEVELS: usize = 61;
/// Minimum capacity of a level.
const MIN_WIDTH: usize = 8;
/// Default accuracy parameter.
pub const DEFAULT_K: u16 = 256;

fn level_capacity(k: u16, num_levels: usize, level: usize) -> usize {
    let depth = (num_levels - level - 1) as i32;
    ((f64::from(k) * (2.0f64 / 3.0).powi(depth)).round() as usize).max(MIN_WIDTH)
}

fn total_capacity(k: u16, num_levels: usize) -> usize {
    (0..num_levels)
        .map(|h| level_capacity(k, num_levels, h))
        .sum()
}

/// A KLL quantile sketch over `f64` (see the [module documentation](self)).
#[derive(Clone)]
pub struct QuantileSketch {
    k: u16,
    n: u64,
    min: f64,
    max: f64,
    /// Fixed-size item buffer; level `h` occupies `buf[levels[h]..levels[h + 1]]`, free space is
    /// `buf[..levels[0]]`.
    buf: Vec<f64>,
    /// Level boundaries (`num_levels + 1` meaningful entries, fixed length `MAX_LEVELS + 1`).
    levels: Vec<usize>,
    num_levels: usize,
    /// `total_capacity(k, num_levels)`, cached: it is checked on every update and only changes
    /// when a level is added (derived state, not serialised).
    capacity: usize,
    level0_sorted: bool,
    /// SplitMix64 state of the compaction coin.
    rng: u64,
    /// Fixed-size scratch for merging a compacted half into the next level.
    scratch: Vec<f64>,
}

impl PartialEq for QuantileSketch {
    fn eq(&self, other: &Self) -> bool {
        self.k == other.k
            && self.n == other.n
            && self.rng == other.rng
            && self.min.to_bits() == other.min.to_bits()
            && self.max.to_bits() == other.max.to_bits()
            && self.levels_vec() == other.levels_vec()
    }
}

impl std::fmt::Debug for QuantileSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantileSketch")
            .field("k", &self.k)
            .field("n", &self.n)
            .field("retained", &self.retained())
            .field("levels", &self.num_levels)
            .field("min", &self.min())
            .field("max", &self.max())
            .finish()
    }
}

impl QuantileSketch {
    /// A sketch with accuracy parameter `k` (8 ..= 65535; larger is more accurate and bigger) and the
    /// seed of its compaction coin.
    pub fn new(k: u16, seed: u64) -> Result<Self, ConfigError> {
        let mut v = Validator::new("quantile sketch");
        v.check(k >= 8, "k", || format!("must be >= 8, got {k}"));
        v.finish()?;
        let cap = total_capacity(k, MAX_LEVELS);
        let mut levels = vec![cap; MAX_LEVELS + 1];
        levels[0] = cap;
        Ok(Self {
            k,
            n: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            buf: vec![0.0; cap],
            levels,
            num_levels: 1,
            capacity: total_capacity(k, 1),
            level0_sorted: true,
            rng: seed,
            scratch: Vec::with_capacity(cap),
        })
    }

    /// The default sketch (`k = 256`).
    pub fn with_default_k(seed: u64) -> Self {
        Self::new(DEFAULT_K, seed).unwrap_or_else(|_| unreachable!("DEFAULT_K is valid"))
    }

    /// Accuracy parameter.
    pub fn k(&self) -> u16 {
        self.k
    }

    /// Number of values summarised.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// `true` before the first value.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Exact minimum (`None` when empty).
    pub fn min(&self) -> Option<f64> {
        (self.n > 0).then_some(self.min)
    }

    /// Exact maximum (`None` when empty).
    pub fn max(&self) -> Option<f64> {
        (self.n > 0).then_some(self.max)
    }

    /// Number of values retained.
    pub fn retained(&self) -> usize {
        self.buf.len() - self.levels[0]
    }

    /// Heap memory held, in bytes: constant for a given `k` (the buffers never grow).
    pub fn heap_bytes(&self) -> usize {
        (self.buf.capacity() + self.scratch.capacity()) * std::mem::size_of::<f64>()
            + self.levels.capacity() * std::mem::size_of::<usize>()
    }

    /// `true` while the sketch holds every value it was given (no compaction yet): its queries are
    /// exact.
    pub fn is_exact(&self) -> bool {
        self.retained() as u64 == self.n
    }

    /// Rank error to allow for: 0 while [`QuantileSketch::is_exact`], else
    /// [`QuantileSketch::rank_error_bound`].
    pub fn error_bound(&self) -> f64 {
        if self.is_exact() {
            0.0
        } else {
            self.rank_error_bound()
        }
    }

    /// Normalised rank error bound at 99 % confidence (DataSketches' formula for two-sided queries:
    /// `2.296 / k^0.9723`).
    pub fn rank_error_bound(&self) -> f64 {
        2.296 / f64::from(self.k).powf(0.9723)
    }

    fn coin(&mut self) -> usize {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) & 1) as usize
    }

    /// Adds a value; NaN and infinities are ignored (callers count them).
    pub fn update(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.retained() >= self.capacity {
            self.compress_once();
        }
        let pos = self.levels[0] - 1;
        self.buf[pos] = if x == 0.0 { 0.0 } else { x };
        self.levels[0] = pos;
        self.level0_sorted = self.retained_at(0) <= 1;
        self.n += 1;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    fn retained_at(&self, h: usize) -> usize {
        self.levels[h + 1] - self.levels[h]
    }

    fn add_level(&mut self) {
        assert!(
            self.num_levels < MAX_LEVELS,
            "quantile sketch exceeded {MAX_LEVELS} levels"
        );
        self.num_levels += 1;
        self.capacity = total_capacity(self.k, self.num_levels);
        self.levels[self.num_levels] = self.buf.len();
    }

    /// Compacts the lowest level that is at or over its capacity.
    fn compress_once(&mut self) {
        let h = (0..self.num_levels)
            .find(|&h| self.retained_at(h) >= level_capacity(self.k, self.num_levels, h))
            .unwrap_or(self.num_levels - 1);
        if h == self.num_levels - 1 {
            self.add_level();
        }
        let (s, e) = (self.levels[h], self.levels[h + 1]);
        if h == 0 && !self.level0_sorted {
            self.buf[s..e].sort_unstable_by(f64::total_cmp);
        }
        let len = e - s;
        let odd = len % 2;
        let p = (len - odd) / 2;
        if p == 0 {
            return;
        }
        let coin = self.coin();
        // Keep every other item (random parity) at the right end of the pair region, high index first.
        for i in (0..p).rev() {
            self.buf[e - p + i] = self.buf[s + odd + coin + 2 * i];
        }
        // Merge the kept half with level h + 1 (both sorted) into buf[e - p .. levels[h + 2]].
        let end = self.levels[h + 2];
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.buf[e - p..e]);
        let (mut a, mut b, mut w) = (0usize, e, e - p);
        while a < p {
            if b < end && self.buf[b] < self.scratch[a] {
                self.buf[w] = self.buf[b];
                b += 1;
            } else {
                self.buf[w] = self.scratch[a];
                a += 1;
            }
            w += 1;
        }
        // Close the gap: shift lower levels (and the odd leftover) right by p.
        let lo = self.levels[0];
        self.buf.copy_within(lo..s + odd, lo + p);
        for l in self.levels.iter_mut().take(h + 1) {
            *l += p;
        }
        self.levels[h + 1] = e - p;
        if h == 0 {
            self.level0_sorted = true;
        }
    }

    /// Merges another sketch into this one (same `k` required). The result summarises both streams.
    pub fn merge(&mut self, other: &QuantileSketch) -> Result<(), SummaryError> {
        if self.k != other.k {
            return Err(SummaryError::SketchKMismatch(self.k, other.k));
        }
        if other.n == 0 {
            return Ok(());
        }
        for h in 0..other.num_levels {
            let items = other.level_items(h);
            let mut done = 0;
            while done < items.len() {
                while self.num_levels <= h {
                    self.add_level();
                }
                let free = self.levels[0];
                if free == 0 {
                    self.compress_once();
                    continue;
                }
                let take = free.min(items.len() - done);
                self.insert_into_level(h, &items[done..done + take]);
                done += take;
            }
        }
        self.n += other.n;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        while self.retained() > self.capacity {
            self.compress_once();
        }
        Ok(())
    }

    fn insert_into_level(&mut self, h: usize, items: &[f64]) {
        let c = items.len();
        let (lo, start) = (self.levels[0], self.levels[h]);
        self.buf.copy_within(lo..start, lo - c);
        for l in self.levels.iter_mut().take(h) {
            *l -= c;
        }
        self.levels[h] = start - c;
        self.buf[start - c..start].copy_from_slice(items);
        if h == 0 {
            self.level0_sorted = false;
        } else {
            let (s, e) = (self.levels[h], self.levels[h + 1]);
            self.buf[s..e].sort_unstable_by(f64::total_cmp);
        }
    }

    fn level_items(&self, h: usize) -> &[f64] {
        &self.buf[self.levels[h]..self.levels[h + 1]]
    }

    fn levels_vec(&self) -> Vec<Vec<f64>> {
        (0..self.num_levels)
            .map(|h| {
                let mut v = self.level_items(h).to_vec();
                if h == 0 {
                    v.sort_unstable_by(f64::total_cmp);
                }
                v
            })
            .collect()
    }

    /// The retained items as a weighted, sorted sample (the basis of every query).
    pub fn sorted_view(&self) -> SortedView {
        let mut level0 = self.level_items(0).to_vec();
        if !self.level0_sorted {
            level0.sort_unstable_by(f64::total_cmp);
        }
        let mut runs: Vec<(&[f64], u64)> = Vec::with_capacity(self.num_levels);
        runs.push((&level0, 1));
        for h in 1..self.num_levels {
            runs.push((self.level_items(h), 1u64 << h));
        }
        SortedView::from_sorted_runs(runs)
    }
}

/// Sorted `(value, weight)` pairs with equal values combined: a weighted empirical distribution.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SortedView {
    /// Distinct values, ascending.
    pub values: Vec<f64>,
    /// Weight of each value.
    pub weights: Vec<u64>,
    /// Sum of the weights (the number of values summarised).
    pub total: u64,
}

impl SortedView {
    /// Merges sorted runs (each with one weight) into a view: runs are merged one after the other
    /// (smallest weights first, as KLL's lower levels are the small ones) through two reusable
    /// buffers, equal values combined at the end.
    pub(crate) fn from_sorted_runs(runs: Vec<(&[f64], u64)>) -> Self {
        let total_len: usize = runs.iter().map(|(v, _)| v.len()).sum();
        let mut acc: Vec<(f64, u64)> = Vec::with_capacity(total_len);
        let mut next: Vec<(f64, u64)> = Vec::with_capacity(total_len);
        for (run, w) in runs {
            next.clear();
            let (mut i, mut j) = (0usize, 0usize);
            while i < acc.len() && j < run.len() {
                if acc[i].0 <= run[j] {
                    next.push(acc[i]);
                    i += 1;
                } else {
                    next.push((run[j], w));
                    j += 1;
                }
            }
            next.extend_from_slice(&acc[i..]);
            next.extend(run[j..].iter().map(|v| (*v, w)));
            std::mem::swap(&mut acc, &mut next);
        }
        let mut values: Vec<f64> = Vec::with_capacity(acc.len());
        let mut weights: Vec<u64> = Vec::with_capacity(acc.len());
        let mut total = 0u64;
        for (v, w) in acc {
            total += w;
            if values.last() == Some(&v) {
                if let Some(last) = weights.last_mut() {
                    *last += w;
                }
            } else {
                values.push(v);
                weights.push(w);
            }
        }
        Self {
            values,
            weights,
            total,
        }
    }

    /// A view of an exact sorted sample (all weights 1).
    pub fn from_sorted_values(sorted: &[f64]) -> Self {
        Self::from_sorted_runs(vec![(sorted, 1)])
    }

    /// Fraction of the weight at values `<= x`.
    pub fn rank(&self, x: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let idx = self.values.partition_point(|v| *v <= x);
        self.weights[..idx].iter().sum::<u64>() as f64 / self.total as f64
    }

    /// Smallest retained value whose cumulative weight fraction reaches `q` (`None` when empty).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let target = (q.clamp(0.0, 1.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut acc = 0u64;
        for (v, w) in self.values.iter().zip(&self.weights) {
            acc += w;
            if acc >= target {
                return Some(*v);
            }
        }
        self.values.last().copied()
    }
}

/// Serialised form: the levels (level 0 sorted) and the scalars, not the fixed buffer.
#[derive(Serialize, Deserialize)]
struct SketchRepr {
    k: u16,
    n: u64,
    min: Option<f64>,
    max: Option<f64>,
    rng: u64,
    levels: Vec<Vec<f64>>,
}

impl Serialize for QuantileSketch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SketchRepr {
            k: self.k,
            n: self.n,
            min: self.min(),
            max: self.max(),
            rng: self.rng,
            levels: self.levels_vec(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for QuantileSketch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = SketchRepr::deserialize(d)?;
        let mut sk = QuantileSketch::new(r.k, r.rng).map_err(D::Error::custom)?;
        if r.levels.is_empty() || r.levels.len() > MAX_LEVELS {
            return Err(D::Error::custom("invalid number of sketch levels"));
        }
        let total: usize = r.levels.iter().map(Vec::len).sum();
        let weight: u128 = r
            .levels
            .iter()
            .enumerate()
            .map(|(h, l)| (l.len() as u128) << h)
            .sum();
        if total > sk.buf.len() || weight != u128::from(r.n) {
            return Err(D::Error::custom("sketch levels inconsistent with n"));
        }
        sk.num_levels = r.levels.len();
        sk.capacity = total_capacity(sk.k, sk.num_levels);
        let mut end = sk.buf.len();
        for h in (0..sk.num_levels).rev() {
            let items = &r.levels[h];
            if items.iter().any(|x| !x.is_finite()) || items.windows(2).any(|w| w[0] > w[1]) {
                return Err(D::Error::custom("sketch levels must be finite and sorted"));
            }
            sk.levels[h + 1] = end;
            sk.buf[end - items.len()..end].copy_from_slice(items);
            end -= items.len();
        }
        sk.levels[0] = end;
        for l in sk.levels.iter_mut().skip(sk.num_levels + 1) {
            *l = sk.buf.len();
        }
        sk.n = r.n;
        sk.min = r.min.unwrap_or(f64::INFINITY);
        sk.max = r.max.unwrap_or(f64::NEG_INFINITY);
        sk.level0_sorted = true;
        Ok(sk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Dist, Rng};

    fn weight_sum(s: &QuantileSketch) -> u64 {
        (0..s.num_levels)
            .map(|h| (s.retained_at(h) as u64) << h)
            .sum()
    }

    #[test]
    fn weights_always_account_for_every_value() {
        let mut s = QuantileSketch::with_default_k(1);
        let mut rng = Rng::new(5);
        for i in 1..=50_000u64 {
            s.update(rng.normal());
            if i % 997 == 0 {
                assert_eq!(weight_sum(&s), i);
                assert!(s.retained() <= total_capacity(s.k, s.num_levels));
            }
        }
        let v = s.sorted_view();
        assert_eq!(v.total, 50_000);
        assert!(v.values.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rank_error_stays_within_the_bound_on_seeded_data() {
        let dists = [
            Dist::Normal {
                loc: 0.0,
                scale: 1.0,
            },
            Dist::Pareto { scale: 1.0 },
            Dist::Rounded {
                loc: 0.0,
                scale: 3.0,
                step: 1.0,
            },
            Dist::Uniform {
                low: -5.0,
                high: 5.0,
            },
        ];
        for (i, d) in dists.iter().enumerate() {
            for n in [5_000usize, 150_000] {
                let xs = d.sample_n(&mut Rng::new(100 + i as u64), n);
                let mut s = QuantileSketch::with_default_k(i as u64);
                xs.iter().for_each(|x| s.update(*x));
                let mut sorted = xs.clone();
                sorted.sort_unstable_by(f64::total_cmp);
                let view = s.sorted_view();
                let worst = (0..200)
                    .map(|j| {
                        let x = sorted[j * n / 200];
                        let exact = sorted.partition_point(|v| *v <= x) as f64 / n as f64;
                        (view.rank(x) - exact).abs()
                    })
                    .fold(0.0, f64::max);
                assert!(
                    worst <= s.rank_error_bound(),
                    "{d:?} n={n}: rank error {worst}"
                );
            }
        }
    }

    #[test]
    fn exact_below_capacity() {
        let mut s = QuantileSketch::with_default_k(1);
        for i in 0..100 {
            s.update(f64::from(i));
        }
        assert_eq!(s.retained(), 100);
        assert_eq!(s.sorted_view().rank(49.0), 0.5);
    }

    #[test]
    fn merge_preserves_weight_and_accuracy() {
        let mut rng = Rng::new(9);
        let xs = Dist::Normal {
            loc: 0.0,
            scale: 1.0,
        }
        .sample_n(&mut rng, 200_000);
        let mut a = QuantileSketch::with_default_k(1);
        let mut b = QuantileSketch::with_default_k(2);
        for (i, x) in xs.iter().enumerate() {
            if i % 3 == 0 {
                a.update(*x)
            } else {
                b.update(*x)
            }
        }
        a.merge(&b).unwrap();
        assert_eq!(a.n(), 200_000);
        assert_eq!(weight_sum(&a), 200_000);
        let mut sorted = xs.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let view = a.sorted_view();
        let worst = (1..100)
            .map(|i| {
                let x = sorted[i * 2000];
                let exact = sorted.partition_point(|v| *v <= x) as f64 / 200_000.0;
                (view.rank(x) - exact).abs()
            })
            .fold(0.0, f64::max);
        assert!(worst <= a.rank_error_bound(), "rank error {worst}");
        assert!(matches!(
            a.merge(&QuantileSketch::new(100, 0).unwrap()),
            Err(SummaryError::SketchKMismatch(256, 100))
        ));
    }

    #[test]
    fn serde_round_trip_keeps_the_sketch() {
        let mut s = QuantileSketch::with_default_k(3);
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            s.update(rng.normal());
        }
        let json = serde_json::to_string(&s).unwrap();
        let mut back: QuantileSketch = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.sorted_view(), s.sorted_view());
        // They continue identically (same coin state).
        for _ in 0..5_000 {
            let x = rng.normal();
            s.update(x);
            back.update(x);
        }
        assert_eq!(back.sorted_view(), s.sorted_view());
    }
}
