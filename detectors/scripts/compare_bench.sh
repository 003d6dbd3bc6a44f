#!/usr/bin/env bash
# Runs the criterion benchmarks of driftd-detectors and the same work in Python (River, SciPy,
# NumPy, pandas, Frouros), then prints a Markdown table of times and ratios (Python / Rust).
#
#   detectors/scripts/compare_bench.sh            # from anywhere inside the repository
#
# Python environments (outside the repository; see bench_python.py for the pinned versions):
#   REF_PY      interpreter with numpy, scipy, river, pandas   (default /tmp/refvenv/bin/python)
#   FROUROS_PY  interpreter with frouros 0.9 (for CUSUM)        (default /tmp/frouvenv/bin/python)
# Set SKIP_RUST=1 to reuse the last criterion results.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
REF_PY="${REF_PY:-/tmp/refvenv/bin/python}"
FROUROS_PY="${FROUROS_PY:-/tmp/frouvenv/bin/python}"
out="$(mktemp -d)"

if [[ "${SKIP_RUST:-0}" != "1" ]]; then
  (cd "$root" && cargo bench -p driftd-detectors --bench detectors) >"$out/cargo.log" 2>&1 \
    || { cat "$out/cargo.log"; exit 1; }
fi
(cd "$here" && "$REF_PY" bench_python.py) >"$out/py.json"
if [[ -x "$FROUROS_PY" ]]; then
  (cd "$here" && "$FROUROS_PY" bench_python.py --only cusum) >"$out/py_cusum.json"
else
  echo '{}' >"$out/py_cusum.json"
fi
target="$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

python3 - "$target/criterion" "$out/py.json" "$out/py_cusum.json" <<'PY'
import json, os, sys

crit, py_main, py_cusum = sys.argv[1:4]
py = json.load(open(py_main))
py.update(json.load(open(py_cusum)))

def rust_seconds(bench_id):
    path = os.path.join(crit, *bench_id.split("/"), "new", "estimates.json")
    if not os.path.exists(path):
        return None
    return json.load(open(path))["mean"]["point_estimate"] * 1e-9

def fmt(s):
    if s is None:
        return "—"
    for unit, f in (("s", 1), ("ms", 1e3), ("µs", 1e6), ("ns", 1e9)):
        if s * f >= 1:
            return f"{s * f:.3g} {unit}"
    return f"{s * 1e12:.3g} ps"

baselines = {"cusum": "Frouros 0.9 CUSUM"}
print("Stream detectors, cost per update (10,000 updates on a stationary stream):\n")
print("| detector | driftd | Python baseline | baseline | ratio |")
print("|---|---|---|---|---|")
for name in ["adwin", "page_hinkley", "kswin", "cusum", "ddm", "eddm", "hddm_a", "hddm_w"]:
    r, p = rust_seconds(f"stream/{name}"), py.get(f"stream/{name}")
    r1, p1 = (r / 1e4 if r else None), (p / 1e4 if p else None)
    ratio = f"{p1 / r1:.0f}×" if r1 and p1 else "—"
    print(f"| {name} | {fmt(r1)} | {fmt(p1)} | {baselines.get(name, 'River 0.26')} | {ratio} |")

print("\nTwo-sample tests from raw values (both samples of size n):\n")
print("| test | n | driftd | Python | baseline | ratio |")
print("|---|---|---|---|---|---|")
names = {"ks": "scipy.stats.ks_2samp", "wasserstein": "scipy.stats.wasserstein_distance",
         "psi": "NumPy, same bins", "chi_square": "pandas value_counts + scipy chi2_contingency"}
for test in ["ks", "wasserstein", "psi", "chi_square"]:
    for n in [10000, 100000, 1000000]:
        key = f"twosample/{test}/{n}"
        r, p = rust_seconds(key), py.get(key)
        ratio = f"{p / r:.1f}×" if r and p else "—"
        print(f"| {test} | {n:,} | {fmt(r)} | {fmt(p)} | {names[test]} | {ratio} |")

print("\nAutomatic test choice on a 50-feature window from summaries (40 numeric, 10 categorical):\n")
print("| values per feature in the window | driftd | goal |")
print("|---|---|---|")
for n in [1000, 100000, 1000000]:
    r = rust_seconds(f"summary_eval/50_features/{n}")
    print(f"| {n:,} | {fmt(r)} | < 1 ms |")
PY
