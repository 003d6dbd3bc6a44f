#!/usr/bin/env bash
# A fuzzing campaign over what strangers send driftd: the event parser (raw bytes, event-shaped
# JSON with hostile values, mutated events, round trips), the configuration loader (raw text, the
# reference configuration with hostile values) and the HTTP bodies (feedback batches, silences,
# inhibition rules, promotions, predict requests). The properties live in
# daemon/src/{contract,config,http,serve}/fuzz.rs; the suite runs them with 1,000 cases each,
# this script for as long as asked, each round with fresh random seeds.
#
#   scripts/fuzz.sh --minutes 60 [--cases-per-round 20000]
#
# Prints the rounds, the inputs tried per property and the failures (proptest prints each failure
# shrunk to a minimal input: make it a regression test). The engine is proptest, not a
# coverage-guided fuzzer (those need a nightly compiler here), so no coverage figure is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=10
cases=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --cases-per-round) cases="$2"; shift 2 ;;
    *) echo "usage: scripts/fuzz.sh [--minutes N] [--cases-per-round N]" >&2; exit 2 ;;
  esac
done
# Built once; the rounds run the test binary itself, so a campaign is one build, whatever happens
# to the sources meanwhile.
bin=$(cargo test -p driftd --lib --release --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["lib"]:
        print(m["executable"])')
[ -x "$bin" ] || { echo "fuzz.sh: could not build the test binary" >&2; exit 1; }
end=$(( $(date +%s) + minutes * 60 ))
rounds=0
failures=0
properties=$("$bin" fuzz:: --list 2>/dev/null | grep -c ': test$' || true)
while [ "$(date +%s)" -lt "$end" ]; do
  rounds=$((rounds + 1))
  if ! DRIFTD_FUZZ_CASES="$cases" "$bin" --quiet fuzz:: > "target/fuzz-round-$rounds.log" 2>&1; then
    failures=$((failures + 1))
    echo "round $rounds: FAILED — see target/fuzz-round-$rounds.log" >&2
  else
    rm -f "target/fuzz-round-$rounds.log"
  fi
done
echo "rounds: $rounds · properties: $properties · inputs tried per property: $((rounds * cases)) · failing rounds: $failures"
