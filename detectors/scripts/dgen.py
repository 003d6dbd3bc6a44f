"""Python twin of `driftd_detectors::synth`: seeded data, bit-for-bit identical to the Rust side.

Only exactly-rounded IEEE operations are used (+ - * / floor), never log/cos, so that the values
do not depend on the C library. Every fixture stores the sum of its generated values and the Rust
tests check it, so any divergence between the two generators fails loudly.
"""

from __future__ import annotations

import math

MASK = (1 << 64) - 1
TWO_M53 = 1.0 / 9007199254740992.0


class Rng:
    """SplitMix64."""

    def __init__(self, seed: int):
        self.state = seed & MASK

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self) -> float:
        return float(self.next_u64() >> 11) * TWO_M53

    def normal(self) -> float:
        s = 0.0
        for _ in range(12):
            s += self.uniform()
        return s - 6.0


def sample(dist: dict, rng: Rng) -> float:
    t = dist["type"]
    if t == "normal":
        return dist["loc"] + dist["scale"] * rng.normal()
    if t == "uniform":
        return dist["low"] + (dist["high"] - dist["low"]) * rng.uniform()
    if t == "cauchy":
        while True:
            a = rng.normal()
            b = rng.normal()
            if b != 0.0:
                return dist["loc"] + dist["scale"] * (a / b)
    if t == "pareto":
        return dist["scale"] / (1.0 - rng.uniform())
    if t == "discrete":
        return float(math.floor(rng.uniform() * float(dist["k"])))
    if t == "rounded":
        return float(math.floor((dist["loc"] + dist["scale"] * rng.normal()) * dist["step"])) / dist["step"]
    if t == "bernoulli":
        return 1.0 if rng.uniform() < dist["p"] else 0.0
    if t == "categorical":
        w = dist["weights"]
        total = 0.0
        for x in w:
            total += x
        u = rng.uniform() * total
        acc = 0.0
        for i, x in enumerate(w):
            acc += x
            if u < acc:
                return float(i)
        return float(len(w) - 1)
    raise ValueError(f"unknown distribution {t}")


def sample_n(dist: dict, seed: int, n: int) -> list[float]:
    rng = Rng(seed)
    return [sample(dist, rng) for _ in range(n)]


def stream(recipe: dict) -> list[float]:
    """`StreamRecipe::generate`: one generator for all segments, in order."""
    rng = Rng(recipe["seed"])
    out = []
    for seg in recipe["segments"]:
        for _ in range(seg["len"]):
            out.append(sample(seg["dist"], rng))
    return out


def checksum(values) -> float:
    """Left-to-right sum, as the Rust tests compute it."""
    s = 0.0
    for v in values:
        s += v
    return s


if __name__ == "__main__":
    r = Rng(0)
    assert r.next_u64() == 0xE220A8397B1DCDAF
    print("ok")
