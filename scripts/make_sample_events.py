#!/usr/bin/env python3
"""Writes tests/data/sample-events.jsonl: a small, seeded stream in event contract v1.

Two models (churn: classification with a categorical feature; eta: regression), feedback for most
predictions (some late, some never), a mean shift in churn's `age` halfway through, and a handful
of malformed lines of different kinds so that a first run shows rejections too.
Standard library only:  python3 scripts/make_sample_events.py > tests/data/sample-events.jsonl
"""
import datetime as dt
import json
import random

rng = random.Random(20261121)
t0 = dt.datetime(2026, 11, 21, 10, 0, 0, tzinfo=dt.timezone.utc)
out = []


def ts(i):
    return (t0 + dt.timedelta(seconds=i)).isoformat().replace("+00:00", "Z")


for i in range(2000):
    shift = 8.0 if i >= 1000 else 0.0
    age = round(rng.gauss(40 + shift, 10), 1)
    plan = rng.choice(["free", "pro", "team"])
    score = round(min(max(rng.random() * 0.6 + (0.3 if age > 45 else 0.0), 0.0), 1.0), 3)
    out.append({"kind": "prediction", "id": f"c{i}", "model": "churn", "model_version": "1",
                "ts": ts(i), "features": {"age": age, "tenure_days": rng.randint(1, 2000), "plan": plan},
                "prediction": {"label": "1" if score >= 0.5 else "0", "score": score}})
    if rng.random() < 0.8:
        out.append({"kind": "feedback", "id": f"c{i}", "model": "churn", "ts": ts(i + 30),
                    "label": "1" if rng.random() < score else "0", "source": "crm"})
    if i % 4 == 0:
        dist = round(rng.uniform(0.5, 20.0), 2)
        out.append({"kind": "prediction", "id": f"e{i}", "model": "eta", "ts": ts(i),
                    "features": {"distance_km": dist, "hour": rng.randint(0, 23)},
                    "prediction": {"value": round(dist * 3.1 + 4, 2)}})
        out.append({"kind": "feedback", "id": f"e{i}", "model": "eta", "ts": ts(i + 600),
                    "value": round(dist * 3.0 + 5 + rng.gauss(0, 2), 2)})

lines = [json.dumps(e, separators=(",", ":")) for e in out]
bad = [
    '{"kind":"prediction","id":"x1","model":"churn"',  # invalid_json (truncated)
    '["not","an","object"]',  # not_an_object
    '{"kind":"prediction","id":"x2","model":"churn","ts":"2026-11-21T10:00:00Z"}',  # missing_field
    '{"kind":"prediction","id":"x3","model":"churn","ts":"yesterday","features":{}}',  # bad_timestamp
    '{"kind":"prediction","id":"x4","model":"churn","ts":"2026-11-21T10:00:00Z","features":{"age":NaN}}',  # non_finite_feature
    '{"kind":"click","id":"x5","model":"churn","ts":"2026-11-21T10:00:00Z"}',  # unknown_kind
]
for j, b in enumerate(bad):
    lines.insert(300 * (j + 1), b)
print("\n".join(lines))
