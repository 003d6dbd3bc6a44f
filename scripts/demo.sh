#!/usr/bin/env bash
# Sets up and runs driftd on the embedded default — no external service:
#  0. `driftd demo`: the whole loop in one process, under a minute — a synthetic stream with a concept
#     drift, detection, the alert, retraining, the shadow test, promotion and recovery, as a timeline;
#  1. `driftd run` on the bundled sample events (embedded state, rejects to a file): what it accepted
#     and rejected, by model and reason;
#  2. `driftd streams` + `driftd replay`: a seeded stream with a covariate shift at event 25,000, and
#     the drift onsets driftd finds in it, scored against the known truth.
# Extra arguments go to `driftd run`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_build_deps
log "building driftd"
cargo build --quiet -p driftd
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "driftd demo: drift -> alert -> retrain -> shadow -> promotion -> recovery (about 30 s)"
target/debug/driftd demo --listen 127.0.0.1:0
log "driftd run --events tests/data/sample-events.jsonl (state in $work)"
target/debug/driftd run --events tests/data/sample-events.jsonl --state "$work/state.redb" \
  --listen 127.0.0.1:0 "$@"
log "driftd streams + driftd replay: 50,000 predictions, 3 numeric features shifted and 1 widened at 25,000"
target/debug/driftd streams --out-dir "$work" --stream covariate_shift --events 50000 >/dev/null
target/debug/driftd replay --events "$work/covariate_shift.predictions.jsonl" \
  --feedback "$work/covariate_shift.feedback.jsonl" --truth "$work/covariate_shift.truth.json" \
  --report "$work/onsets.jsonl" --alerts "$work/alerts.jsonl"
echo "drift onsets (one JSON line each):"
grep -v '"summary"' "$work/onsets.jsonl" || echo "  (none)"
echo "backtest against the known truth:"
tail -n 1 "$work/onsets.jsonl" | python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]["backtest"]["summary"]; print("  drifts %d, detected %d, missed %d, false alarms %d, delay %s events" % (s["drifts"], s["detected"], s["missed"], s["false_alarms"], s.get("max_delay_events")))' 2>/dev/null || tail -n 1 "$work/onsets.jsonl"
echo "alerts the default rules would have sent (event time; receiver: the log):"
python3 - "$work/alerts.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    n = json.loads(line)
    if "summary" in n:
        print("  per rule, firing episodes:", n["summary"]["fired"])
        continue
    names = ", ".join(a["labels"].get("feature") or a["rule"] for a in n["alerts"])
    print(f'  {n["created"]}  {n["status"].upper():8} {len(n["alerts"])} alert(s): {names}')
PY
