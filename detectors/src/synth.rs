//! Seeded synthetic data, bit-for-bit reproducible in Rust and in Python.
//!
//! Tests, benchmarks and doc examples need streams and samples that the reference scripts
//! (`scripts/make_fixtures.py`, `scripts/bench_python.py`) can regenerate *exactly*, so that the
//! fixtures only store a recipe (`seed`, distribution, size) instead of megabytes of numbers.
//! To be reproducible across languages and C libraries the recipe uses only operations that IEEE 754
//! rounds exactly (`+ - * /`, `floor`), never `ln`/`cos`, whose last bit depends on the libm:
//!
//! * the bit source is SplitMix64 (Steele, Lea & Flood 2014), state advanced by `0x9E3779B97F4A7C15`;
//! * [`Rng::uniform`] is `(next_u64() >> 11) * 2^-53`, in `[0, 1)`;
//! * [`Rng::normal`] is the Irwin–Hall approximation: the sum of 12 uniforms minus 6 (mean 0,
//!   variance 1, support `[-6, 6]`), summed left to right;
//! * [`Dist::Cauchy`] is a ratio of two such normals (heavy tails), [`Dist::Pareto`] is `1/(1-u)`.
//!
//! The Python twin is `scripts/dgen.py`; every fixture stores the sum of its generated values so that
//! a divergence between the two generators fails loudly instead of silently comparing other data.
//!
//! ```
//! use driftd_detectors::synth::{Dist, Rng};
//! let mut rng = Rng::new(7);
//! let xs = Dist::Normal { loc: 0.0, scale: 1.0 }.sample_n(&mut rng, 1000);
//! let mean = xs.iter().sum::<f64>() / 1000.0;
//! assert!(mean.abs() < 0.1);
//! ```

use serde::{Deserialize, Serialize};

/// SplitMix64 pseudo-random generator (not cryptographic; reproducible across languages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose stream is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform double in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// An approximately standard normal value: sum of 12 uniforms minus 6 (Irwin–Hall).
    pub fn normal(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += self.uniform();
        }
        s - 6.0
    }
}

/// A distribution that [`Rng`] can sample reproducibly. Serialised as `{"type": "normal", ...}`,
/// the same shape the Python fixture scripts write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Dist {
    /// `loc + scale * normal()`.
    Normal {
        /// Location (mean).
        loc: f64,
        /// Scale (standard deviation).
        scale: f64,
    },
    /// `low + (high - low) * uniform()`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound (exclusive).
        high: f64,
    },
    /// `loc + scale * normal() / normal()`: symmetric, Cauchy-like heavy tails.
    Cauchy {
        /// Location (median).
        loc: f64,
        /// Scale.
        scale: f64,
    },
    /// `scale / (1 - uniform())`: Pareto with tail index 1, support `[scale, inf)`.
    Pareto {
        /// Minimum value.
        scale: f64,
    },
    /// `floor(uniform() * k)` as a float: `k` equally likely integers `0..k` (heavy ties).
    Discrete {
        /// Number of distinct values.
        k: u32,
    },
    /// A normal value rounded down to `1/step` resolution: `floor(x * step) / step` (ties).
    Rounded {
        /// Location.
        loc: f64,
        /// Scale.
        scale: f64,
        /// Grid resolution: 10 means one decimal.
        step: f64,
    },
    /// `1.0` with probability `p`, else `0.0` (an error stream).
    Bernoulli {
        /// Probability of `1.0`.
        p: f64,
    },
    /// Integer category index drawn with the given (unnormalised) weights, as a float.
    Categorical {
        /// Relative weights of categories `0..weights.len()`.
        weights: Vec<f64>,
    },
}

impl Dist {
    /// Draws one value.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        match self {
            Dist::Normal { loc, scale } => loc + scale * rng.normal(),
            Dist::Uniform { low, high } => low + (high - low) * rng.uniform(),
            Dist::Cauchy { loc, scale } => loop {
                let a = rng.normal();
                let b = rng.normal();
                if b != 0.0 {
                    break loc + scale * (a / b);
                }
            },
            Dist::Pareto { scale } => scale / (1.0 - rng.uniform()),
            Dist::Discrete { k } => (rng.uniform() * f64::from(*k)).floor(),
            Dist::Rounded { loc, scale, step } => {
                ((loc + scale * rng.normal()) * step).floor() / step
            }
            Dist::Bernoulli { p } => {
                if rng.uniform() < *p {
                    1.0
                } else {
                    0.0
                }
            }
            Dist::Categorical { weights } => {
                let total: f64 = weights.iter().sum();
                let u = rng.uniform() * total;
                let mut acc = 0.0;
                for (i, w) in weights.iter().enumerate() {
                    acc += w;
                    if u < acc {
                        return i as f64;
                    }
                }
                (weights.len().saturating_sub(1)) as f64
            }
        }
    }

    /// Draws `n` values.
    pub fn sample_n(&self, rng: &mut Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.sample(rng)).collect()
    }
}

/// One piece of a piecewise-stationary stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Number of values in the segment.
    pub len: usize,
    /// Their distribution.
    pub dist: Dist,
}

/// A seeded stream made of consecutive segments (abrupt drift at each boundary), drawn from one
/// generator in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecipe {
    /// Seed of the single [`Rng`] used for all segments.
    pub seed: u64,
    /// The segments, in order.
    pub segments: Vec<Segment>,
}

impl StreamRecipe {
    /// Generates the stream.
    pub fn generate(&self) -> Vec<f64> {
        let mut rng = Rng::new(self.seed);
        let mut out = Vec::with_capacity(self.segments.iter().map(|s| s.len).sum());
        for seg in &self.segments {
            for _ in 0..seg.len {
                out.push(seg.dist.sample(&mut rng));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_output_for_seed_zero() {
        // First outputs of the reference splitmix64.c for state 0.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut r = Rng::new(1);
        let xs: Vec<f64> = (0..100_000).map(|_| r.normal()).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.01, "mean {m}");
        assert!((v - 1.0).abs() < 0.02, "var {v}");
    }
}
