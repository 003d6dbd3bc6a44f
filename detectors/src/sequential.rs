//! Streaming drift detection: every feature tested every few events on a sliding window, with the
//! false-alarm rate bounded across features and across repeated looks.
//!
//! ## The method
//!
//! Each feature's values are mapped to the reference's columns — the reference-quantile bins of a
//! numeric feature ([`crate::twosample::Bins`], out-of-range bins included), the categories of a
//! categorical one (other/new bucket included) — and **pooled** so that every column expects at
//! least [`SequentialSettings::min_expected`] values of a window under the reference (adjacent bins
//! merge; rare categories share one column). A [`SlidingTest`] keeps the columns of the last
//! [`SequentialSettings::window_events`] values in a ring and, every
//! [`SequentialSettings::look_every`] values, tests that window against the reference with the
//! **likelihood-ratio (G) test of homogeneity** on the 2 × k table (SciPy's
//! `chi2_contingency(…, correction=False, lambda_="log-likelihood")`), `p = P(χ²_{k-1} ≥ G)`.
//!
//! **False alarms.** A model with `m` tested quantities (features and the prediction) is looked at
//! `10⁶ / look_every` times per million predictions; each look rejects at
//!
//! ```text
//! α_look = false_alarms_per_million · look_every / (10⁶ · m)
//! ```
//!
//! By the union bound, the expected number of rejections among all features and all looks of a
//! million stable predictions is at most `false_alarms_per_million` — **whatever the dependence**
//! between overlapping windows and between features (Bonferroni on the expected count needs no
//! independence; it is conservative because consecutive windows share most of their values). A
//! drift onset needs a rejection, so the bound holds for false onsets too. With the defaults
//! (0.01 per million, a look every 100 values, 26 quantities) `α_look ≈ 3.8·10⁻⁸`.
//!
//! **Why this and not a CUSUM per feature.** A CUSUM or Page–Hinkley on a standardised statistic
//! watches one direction of change (the mean, or one category's share) and needs the post-change
//! size to tune; a windowed G-test sees any change of the distribution — location, scale, shape, a
//! new category, a missing one — with one threshold set by the false-alarm budget, and its
//! statistic is the one a reviewer can recompute with SciPy. Its delay is that of the window filling
//! with drifted values: for a 0.5 sd mean shift on ten decile bins about half the default
//! 1,000-event window (measured in the daemon's README). The G statistic is used rather than
//! Pearson's because its tail follows χ² much more closely when a column expects few values (the
//! signed root of a likelihood ratio is nearly normal), which matters at `α ≈ 10⁻⁸`.
//!
//! **Effect-size floor.** A rejection counts as drift only when the window's Jensen–Shannon
//! distance from the reference (pooled columns) reaches [`SequentialSettings::effect_floor`]. The
//! window never grows, so power does not grow with the stream; the floor keeps the meaning of a
//! drift the same whatever the look rate.
//!
//! **Hysteresis.** A feature in drift leaves it only when a look's p-value rises above
//! [`SequentialSettings::exit_p`], so a drift near the threshold does not flicker into several
//! onsets.
//!
//! References: Lorden, *Procedures for reacting to a change in distribution* (Ann. Math. Statist.
//! 1971) for the run-length view of sequential detection; Sokal & Rohlf, *Biometry* §17 for the
//! G-test and its accuracy at small expected counts; Wald-style union bounds as in Lai,
//! *Sequential changepoint detection in quality control and dynamical systems* (JRSS B 1995).
//!
//! ```
//! use driftd_detectors::sequential::{SequentialSettings, SlidingTest};
//! let s = SequentialSettings::default();
//! // A reference of ten equally likely columns (e.g. decile bins of 10,000 values).
//! let mut t = SlidingTest::new(&[1_000; 10], &s);
//! for i in 0..1_000 {
//!     t.push(i % 10); // like the reference
//! }
//! assert!(!t.look(s.alpha_look(1)).reject);
//! for _ in 0..600 {
//!     t.push(9); // the top column only
//! }
//! assert!(t.look(s.alpha_look(1)).reject);
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Validator};
use crate::special::chi2_sf;
use crate::twosample::binned;

/// Settings of streaming detection (`[monitor.streaming]` in the daemon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SequentialSettings {
    /// Values in the sliding window each look tests (default 1,000).
    pub window_events: usize,
    /// A look every this many values (default 100).
    pub look_every: usize,
    /// Expected false drift onsets per million predictions of a stable model, all features and the
    /// prediction together (default 0.01).
    pub false_alarms_per_million: f64,
    /// Least number of values a pooled column expects in a window under the reference (default 10).
    pub min_expected: f64,
    /// Least Jensen–Shannon distance (natural log) between the window and the reference for a
    /// rejection to count as drift (default 0.05).
    pub effect_floor: f64,
    /// A feature in drift leaves it when a look's p-value is above this (default 0.01).
    pub exit_p: f64,
}

impl Default for SequentialSettings {
    fn default() -> Self {
        Self {
            window_events: 1_000,
            look_every: 100,
            false_alarms_per_million: 0.01,
            min_expected: 10.0,
            effect_floor: 0.05,
            exit_p: 0.01,
        }
    }
}

impl SequentialSettings {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("streaming detection");
        v.check(self.window_events >= 20, "window_events", || {
            format!("must be at least 20, got {}", self.window_events)
        });
        v.check(
            self.look_every >= 1 && self.look_every <= self.window_events,
            "look_every",
            || {
                format!(
                    "must be between 1 and window_events, got {}",
                    self.look_every
                )
            },
        );
        v.open_interval(
            "false_alarms_per_million",
            self.false_alarms_per_million,
            0.0,
            1e6,
        );
        v.positive("min_expected", self.min_expected);
        v.non_negative("effect_floor", self.effect_floor);
        v.open_interval("exit_p", self.exit_p, 0.0, 1.0);
        v.finish()
    }

    /// The level of one look at one of `tests` quantities (see the [module documentation](self)).
    pub fn alpha_look(&self, tests: usize) -> f64 {
        self.false_alarms_per_million * self.look_every as f64 / (1e6 * tests.max(1) as f64)
    }
}

/// The result of one look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Look {
    /// The G statistic of the window against the reference.
    pub statistic: f64,
    /// Its p-value (`χ²` with `dof` degrees of freedom).
    pub p_value: f64,
    /// Degrees of freedom: pooled columns − 1.
    pub dof: usize,
    /// Jensen–Shannon distance of the window from the reference (pooled columns).
    pub effect: f64,
    /// Values in the window.
    pub n: usize,
    /// `p_value < α` and `effect ≥` the floor.
    pub reject: bool,
}

/// One quantity's sliding window of pooled columns (see the [module documentation](self)); its
/// owner looks every `look_every` values.
/// Serialisable: a restored test continues exactly like the original.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlidingTest {
    /// Reference counts per pooled column.
    reference: Vec<u64>,
    /// Raw column → pooled column.
    map: Vec<u8>,
    /// The window's pooled columns, oldest at `pos` once full.
    ring: Vec<u8>,
    pos: usize,
    /// Counts per pooled column of the values in `ring`.
    counts: Vec<u32>,
    capacity: usize,
    effect_floor: f64,
    exit_p: f64,
    /// In the drift state after the last look.
    in_drift: bool,
}

/// At most this many pooled columns (they are stored as bytes).
pub const MAX_COLUMNS: usize = 255;

impl SlidingTest {
    /// A test of windows against reference counts per raw column (bins in order, or categories),
    /// pooled to [`SequentialSettings::min_expected`] per column. Ordered columns (numeric bins)
    /// merge with their neighbours; for categories use [`SlidingTest::new_unordered`].
    pub fn new(reference: &[u64], s: &SequentialSettings) -> Self {
        let map = pool_ordered(reference, s.window_events, s.min_expected);
        Self::with_map(reference, map, s)
    }

    /// As [`SlidingTest::new`] for unordered columns (categories): columns expecting enough values
    /// stay on their own, the rare ones share one column.
    pub fn new_unordered(reference: &[u64], s: &SequentialSettings) -> Self {
        let map = pool_unordered(reference, s.window_events, s.min_expected);
        Self::with_map(reference, map, s)
    }

    fn with_map(reference: &[u64], map: Vec<u8>, s: &SequentialSettings) -> Self {
        let k = map.iter().map(|&c| c as usize + 1).max().unwrap_or(1);
        let mut pooled = vec![0u64; k];
        for (raw, &c) in reference.iter().zip(&map) {
            pooled[c as usize] += raw;
        }
        Self {
            reference: pooled,
            map,
            ring: Vec::with_capacity(s.window_events),
            pos: 0,
            counts: vec![0; k],
            capacity: s.window_events,
            effect_floor: s.effect_floor,
            exit_p: s.exit_p,
            in_drift: false,
        }
    }

    /// Pooled columns.
    pub fn columns(&self) -> usize {
        self.reference.len()
    }

    /// Adds one value, by its raw column (out-of-range columns are ignored). When to look is the
    /// caller's schedule (every `look_every` values once [`SlidingTest::is_full`]).
    pub fn push(&mut self, raw: usize) {
        let Some(&c) = self.map.get(raw) else {
            return;
        };
        if self.ring.len() < self.capacity {
            self.ring.push(c);
        } else {
            let old = std::mem::replace(&mut self.ring[self.pos], c);
            self.counts[old as usize] -= 1;
            self.pos += 1;
            if self.pos == self.capacity {
                self.pos = 0;
            }
        }
        self.counts[c as usize] += 1;
    }

    /// Whether the window holds `window_events` values.
    pub fn is_full(&self) -> bool {
        self.ring.len() == self.capacity
    }

    /// Values in the window.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// `true` before the first value.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// In the drift state after the last [`SlidingTest::update_state`].
    pub fn in_drift(&self) -> bool {
        self.in_drift
    }

    /// Tests the window against the reference at level `alpha`, without changing the state.
    pub fn look(&self, alpha: f64) -> Look {
        let current: Vec<u64> = self.counts.iter().map(|&c| u64::from(c)).collect();
        let (statistic, p_value, dof) = g_test(&self.reference, &current);
        let effect = binned::jensen_shannon(&self.reference, &current);
        Look {
            statistic,
            p_value,
            dof,
            effect,
            n: self.ring.len(),
            reject: dof > 0 && p_value < alpha && effect >= self.effect_floor,
        }
    }

    /// Looks at level `alpha` and moves the drift state: in on a rejection, out when the p-value
    /// rises above `exit_p`. Returns the look and whether the state *entered* drift.
    pub fn update_state(&mut self, alpha: f64) -> (Look, bool) {
        let look = self.look(alpha);
        let was = self.in_drift;
        self.in_drift = self.state_after(&look);
        (look, self.in_drift && !was)
    }

    /// The drift state `look` would leave: in on a rejection, out when its p-value is above
    /// `exit_p`, otherwise as it is.
    pub fn state_after(&self, look: &Look) -> bool {
        look.reject || (self.in_drift && look.p_value <= self.exit_p)
    }

    /// The reference counts, the window's counts per pooled column and the raw → pooled map.
    pub fn columns_ref(&self) -> (&[u64], &[u32], &[u8]) {
        (&self.reference, &self.counts, &self.map)
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.ring.capacity() + self.map.capacity() + 12 * self.reference.len()
    }
}

/// The likelihood-ratio (G) statistic of homogeneity of two rows of counts, and its degrees of
/// freedom (non-empty columns − 1): `G = 2 Σ O ln(O / E)` over the 2 × k table, `E` from the
/// margins, and `p = P(χ²_dof ≥ G)` (SciPy's `chi2_contingency(…, correction=False,
/// lambda_="log-likelihood")`). With fewer than two non-empty columns, or an empty row,
/// `(0, 1, 0)`. Returns `(G, p_value, dof)`.
pub fn g_test(reference: &[u64], current: &[u64]) -> (f64, f64, usize) {
    let nr: f64 = reference.iter().sum::<u64>() as f64;
    let nc: f64 = current.iter().sum::<u64>() as f64;
    let cols = reference
        .iter()
        .zip(current)
        .filter(|(r, c)| **r + **c > 0)
        .count();
    if cols < 2 || nr == 0.0 || nc == 0.0 {
        return (0.0, 1.0, 0);
    }
    let n = nr + nc;
    let mut g = 0.0;
    for (&r, &c) in reference.iter().zip(current) {
        let col = (r + c) as f64;
        if col == 0.0 {
            continue;
        }
        for (o, row) in [(r as f64, nr), (c as f64, nc)] {
            if o > 0.0 {
                g += o * (o / (row * col / n)).ln();
            }
        }
    }
    let g = (2.0 * g).max(0.0);
    (g, chi2_sf(g, (cols - 1) as f64), cols - 1)
}

/// Pools ordered columns left to right until each expects `min_expected` values in a window of
/// `window` (the last group joins its left neighbour when short). A reference that cannot make two
/// such columns keeps its non-empty columns apart, so a near-constant feature is still tested.
/// Columns the reference never saw (out-of-range bins) keep columns of their own: see
/// [`apart_empty`].
fn pool_ordered(reference: &[u64], window: usize, min_expected: f64) -> Vec<u8> {
    pool(reference, window, min_expected, pool_ordered_at)
}

/// Pools the columns the reference saw with `by` at the count `min_expected` needs, or, when that
/// leaves a single column, at one reference value per column; never-seen columns apart.
fn pool(
    reference: &[u64],
    window: usize,
    min_expected: f64,
    by: fn(&[u64], f64) -> Vec<u8>,
) -> Vec<u8> {
    apart_empty(reference, |seen| {
        let pooled = by(seen, needed(seen, window, min_expected));
        if pooled.iter().copied().max().unwrap_or(0) >= 1 {
            return pooled;
        }
        by(seen, 1.0)
    })
}

/// Reference values a column needs to expect `min_expected` values in a window of `window`.
fn needed(reference: &[u64], window: usize, min_expected: f64) -> f64 {
    let total: u64 = reference.iter().sum();
    if total == 0 {
        f64::INFINITY
    } else {
        min_expected * total as f64 / window as f64
    }
}

/// Pools the columns the reference saw with `pool`, and gives each column it never saw (an
/// out-of-range bin, the other/new bucket of categories all kept by name) a column of its own.
///
/// Under the reference such a column is (almost) never filled — a value beyond the reference's
/// range has probability `1 / (n + 1)` whatever the distribution, a category the reference never
/// showed is rarer still — so it adds no degree of freedom while stable (the G-test skips empty
/// columns), yet a handful of values there is strong evidence: a new category at 10 % is found
/// within a few hundred values instead of diluted into a frequent column.
fn apart_empty(reference: &[u64], pool: impl FnOnce(&[u64]) -> Vec<u8>) -> Vec<u8> {
    let seen: Vec<usize> = (0..reference.len()).filter(|&i| reference[i] > 0).collect();
    if seen.is_empty() {
        return vec![0; reference.len()];
    }
    let counts: Vec<u64> = seen.iter().map(|&i| reference[i]).collect();
    let pooled = pool(&counts);
    let mut next = pooled.iter().copied().max().unwrap_or(0) as usize + 1;
    let mut map = vec![0u8; reference.len()];
    let mut k = 0;
    for (i, m) in map.iter_mut().enumerate() {
        if reference[i] > 0 {
            *m = pooled[k];
            k += 1;
        } else {
            *m = next.min(MAX_COLUMNS - 1) as u8;
            next += 1;
        }
    }
    map
}

fn pool_ordered_at(reference: &[u64], need: f64) -> Vec<u8> {
    let mut map = Vec::with_capacity(reference.len());
    let mut group = 0usize;
    let mut acc = 0.0;
    let mut last_full = None;
    for &r in reference {
        map.push(group.min(MAX_COLUMNS - 1) as u8);
        acc += r as f64;
        if acc >= need {
            last_full = Some(group.min(MAX_COLUMNS - 1));
            group += 1;
            acc = 0.0;
        }
    }
    // A trailing group short of `need` joins the last full one.
    if let Some(full) = last_full {
        for c in map.iter_mut() {
            if *c as usize > full {
                *c = full as u8;
            }
        }
    }
    map
}

/// Pools unordered columns: those expecting `min_expected` values stay on their own (the most
/// frequent [`MAX_COLUMNS`] − 1), the rest share one column, which joins the smallest kept column
/// when it is short itself. A reference that cannot make two such columns keeps its non-empty
/// columns apart, so a near-constant feature is still tested. Columns the reference never saw keep
/// columns of their own ([`apart_empty`]).
fn pool_unordered(reference: &[u64], window: usize, min_expected: f64) -> Vec<u8> {
    pool(reference, window, min_expected, pool_by_rank)
}

/// Columns with at least `need` reference values keep a column each, most frequent first; the
/// rest share the next one, or the last kept one when their total is short of `need`.
fn pool_by_rank(reference: &[u64], need: f64) -> Vec<u8> {
    let mut order: Vec<usize> = (0..reference.len()).collect();
    order.sort_by(|&a, &b| reference[b].cmp(&reference[a]).then(a.cmp(&b)));
    let mut map = vec![0u8; reference.len()];
    let mut kept = 0usize;
    let mut rest = 0u64;
    let mut rare = Vec::new();
    for i in order {
        if reference[i] as f64 >= need && kept < MAX_COLUMNS - 2 {
            map[i] = kept as u8;
            kept += 1;
        } else {
            rest += reference[i];
            rare.push(i);
        }
    }
    let shared = if (rest as f64) < need && kept >= 1 {
        kept - 1
    } else {
        kept
    };
    for i in rare {
        map[i] = shared as u8;
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_pooling_merges_neighbours_to_the_expected_count() {
        // 10,000 reference values; window 1,000, min 10 ⇒ columns need ≥ 100 reference values.
        let r = [0, 50, 60, 3000, 40, 40, 30, 6780, 0];
        let m = pool_ordered(&r, 1_000, 10.0);
        // (The out-of-range bins at both ends, never seen, keep columns of their own.)
        assert_eq!(m, vec![4, 0, 0, 1, 2, 2, 2, 3, 5]);
    }

    #[test]
    fn a_near_constant_reference_still_gets_two_columns() {
        let m = pool_ordered(&[0, 9_990, 10, 0], 1_000, 10.0);
        assert_eq!(m, vec![2, 0, 1, 3]);
    }

    #[test]
    fn unordered_pooling_keeps_frequent_categories_and_shares_the_rare() {
        let r = [5_000, 20, 4_900, 30, 50, 0];
        let m = pool_unordered(&r, 1_000, 10.0);
        // 5000 → 0, 4900 → 1; the rare ones (100 ≥ 100) share column 2; the empty bucket keeps 3.
        assert_eq!(m, vec![0, 2, 1, 2, 2, 3]);
        let m = pool_unordered(&[9_000, 940, 30, 30, 0], 1_000, 10.0);
        // rare share 60 < 100: joins the smallest kept column (940 → 1).
        assert_eq!(m, vec![0, 1, 1, 1, 2]);
    }

    #[test]
    fn g_matches_a_hand_computed_table() {
        // 2x2: [[10, 20], [20, 10]]: E = 15 everywhere; G = 2·(2·10 ln(10/15) + 2·20 ln(20/15)).
        let (g, _, dof) = g_test(&[10, 20], &[20, 10]);
        let want = 2.0 * (20.0 * (10.0f64 / 15.0).ln() + 40.0 * (20.0f64 / 15.0).ln());
        assert!((g - want).abs() < 1e-12, "{g} vs {want}");
        assert_eq!(dof, 1);
        assert_eq!(g_test(&[10, 0], &[5, 0]), (0.0, 1.0, 0));
    }

    #[test]
    fn the_window_forgets_its_oldest_values() {
        let s = SequentialSettings {
            window_events: 100,
            look_every: 10,
            ..Default::default()
        };
        let mut t = SlidingTest::new(&[500, 500], &s);
        for i in 0..99 {
            t.push(i % 2);
        }
        assert!(!t.is_full());
        t.push(1);
        assert!(t.is_full());
        assert_eq!(t.counts, vec![50, 50]);
        for _ in 0..100 {
            t.push(1);
        }
        assert_eq!(t.counts, vec![0, 100]);
        assert_eq!(t.len(), 100);
    }

    #[test]
    fn the_state_has_hysteresis() {
        let s = SequentialSettings {
            window_events: 200,
            look_every: 200,
            ..Default::default()
        };
        let mut t = SlidingTest::new(&[5_000, 5_000], &s);
        for _ in 0..200 {
            t.push(1);
        }
        let (look, entered) = t.update_state(1e-6);
        assert!(look.reject && entered && t.in_drift());
        // Partly back: not significant at 1e-6, still below exit_p — stays in drift, no new onset.
        for i in 0..160 {
            t.push(i % 2);
        }
        let (look, entered) = t.update_state(1e-6);
        assert!(!look.reject && look.p_value < s.exit_p, "{look:?}");
        assert!(!entered && t.in_drift());
        for i in 0..200 {
            t.push(i % 2);
        }
        let (_, entered) = t.update_state(1e-6);
        assert!(!entered && !t.in_drift());
    }
}
