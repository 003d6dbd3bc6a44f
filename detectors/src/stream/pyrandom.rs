//! CPython's `random.Random`, just enough of it for KSWIN: seeding from an integer, `getrandbits`,
//! `_randbelow` and `sample(range(n), k)`.
//!
//! River's KSWIN draws its comparison window with `random.Random(seed).sample(...)`. Reproducing
//! the exact draws (Mersenne Twister MT19937 seeded with `init_by_array` on the 32-bit words of the
//! seed, then CPython 3.11's `sample` algorithm) is what makes our KSWIN detection indices identical
//! to River's. The state is serialisable so a checkpointed KSWIN resumes the same sequence.

use serde::{Deserialize, Serialize};

const N: usize = 624;
const M: usize = 397;

/// MT19937 as used by CPython.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub(crate) struct PyRandom {
    mt: Vec<u32>,
    index: usize,
}

impl PyRandom {
    /// `random.Random(seed)` for a non-negative integer seed.
    pub(crate) fn new(seed: u64) -> Self {
        // CPython splits abs(seed) into 32-bit words, least significant first (at least one word).
        let key: Vec<u32> = if seed >> 32 == 0 {
            vec![seed as u32]
        } else {
            vec![seed as u32, (seed >> 32) as u32]
        };
        let mut r = Self {
            mt: vec![0; N],
            index: N,
        };
        r.init_genrand(19_650_218);
        let mut i = 1usize;
        let mut j = 0usize;
        let klen = key.len();
        let mut k = N.max(klen);
        while k > 0 {
            let prev = r.mt[i - 1];
            r.mt[i] = (r.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                r.mt[0] = r.mt[N - 1];
                i = 1;
            }
            if j >= klen {
                j = 0;
            }
            k -= 1;
        }
        k = N - 1;
        while k > 0 {
            let prev = r.mt[i - 1];
            r.mt[i] = (r.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                r.mt[0] = r.mt[N - 1];
                i = 1;
            }
            k -= 1;
        }
        r.mt[0] = 0x8000_0000;
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..N {
            let prev = self.mt[i - 1];
            self.mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn genrand_u32(&mut self) -> u32 {
        const MAG01: [u32; 2] = [0, 0x9908_b0df];
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        if self.index >= N {
            for kk in 0..N {
                let y = (self.mt[kk] & UPPER) | (self.mt[(kk + 1) % N] & LOWER);
                self.mt[kk] = self.mt[(kk + M) % N] ^ (y >> 1) ^ MAG01[(y & 1) as usize];
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `getrandbits(k)` for `1 <= k <= 32`.
    fn getrandbits(&mut self, k: u32) -> u32 {
        self.genrand_u32() >> (32 - k)
    }

    /// `_randbelow_with_getrandbits(n)`: uniform in `0..n` by rejection.
    pub(crate) fn randbelow(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `sample(range(n), k)` (CPython ≥ 3.11 algorithm, including its choice between the
    /// pool-based and the set-based method).
    pub(crate) fn sample_range(&mut self, n: u32, k: u32) -> Vec<u32> {
        let mut setsize: u64 = 21;
        if k > 5 {
            // 4 ** ceil(log(3k, 4)) computed exactly on integers.
            let target = 3 * u64::from(k);
            let mut p = 1u64;
            while p < target {
                p *= 4;
            }
            setsize += p;
        }
        let mut out = Vec::with_capacity(k as usize);
        if u64::from(n) <= setsize {
            let mut pool: Vec<u32> = (0..n).collect();
            for i in 0..k {
                let j = self.randbelow(n - i) as usize;
                out.push(pool[j]);
                pool[j] = pool[(n - i - 1) as usize];
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k as usize);
            for _ in 0..k {
                let mut j = self.randbelow(n);
                while selected.contains(&j) {
                    j = self.randbelow(n);
                }
                selected.insert(j);
                out.push(j);
            }
        }
        out
    }
}

impl Serialize for PyRandom {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PyRandom::serialize(self, s)
    }
}

/// Deserialisation checks the invariants the code relies on, so a corrupted checkpoint is an error,
/// not a panic later.
impl<'de> Deserialize<'de> for PyRandom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = PyRandom::deserialize(d)?;
        let check = |v: &PyRandom| -> Result<(), String> {
            if v.mt.len() != N || v.index > N {
                return Err("invalid Mersenne Twister state".into());
            }
            Ok(())
        };
        check(&v).map_err(serde::de::Error::custom)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cpython_mt19937() {
        // python3 -c "import random; r = random.Random(42); print([r.getrandbits(32) for _ in range(3)])"
        let mut r = PyRandom::new(42);
        assert_eq!(
            [r.genrand_u32(), r.genrand_u32(), r.genrand_u32()],
            [2_746_317_213, 478_163_327, 107_420_369]
        );
    }

    #[test]
    fn sample_matches_cpython_pool_and_set_methods() {
        // python3 -c "import random; print(random.Random(1).sample(range(70), 5))"
        assert_eq!(
            PyRandom::new(1).sample_range(70, 5),
            vec![17, 8, 32, 15, 63]
        );
        // python3 -c "import random; print(random.Random(2**40 + 5).sample(range(1000), 3))"
        assert_eq!(
            PyRandom::new((1 << 40) + 5).sample_range(1000, 3),
            vec![516, 529, 275]
        );
    }
}
