"""Check that the CUSUM indices in tests/fixtures/streams.json (produced by make_fixtures.py's
transcription of Frouros's recurrence) are what the real Frouros package reports.

Frouros pins old NumPy/SciPy that conflict with River, so it lives in its own venv:

    python3 -m venv /tmp/frouvenv && /tmp/frouvenv/bin/pip install frouros==0.9.0
    /tmp/frouvenv/bin/python detectors/scripts/check_cusum_frouros.py

Only the default `mode = "up"` exists in Frouros; other modes are driftd extensions and are skipped.
"""

import json
import os
import sys

import dgen
from frouros.detectors.concept_drift import CUSUM, CUSUMConfig

HERE = os.path.dirname(os.path.abspath(__file__))
fx = json.load(open(os.path.join(HERE, "..", "tests", "fixtures", "streams.json")))
data = {s["name"]: dgen.stream(s["recipe"]) for s in fx["streams"]}
checked = 0
for det in fx["detectors"]:
    cfg = det["config"]
    if cfg["type"] != "cusum" or cfg.get("mode", "up") != "up":
        continue
    for name, expected in det["results"].items():
        c = CUSUM(config=CUSUMConfig(delta=cfg.get("delta", 0.005), lambda_=cfg.get("lambda", 50.0),
                                     min_num_instances=cfg.get("min_instances", 30)))
        drifts, prev = [], False
        for i, x in enumerate(data[name]):
            if prev:
                c.reset()
            c.update(value=x)
            prev = c.drift
            if prev:
                drifts.append(i)
        if drifts != expected["drifts"]:
            print(f"MISMATCH {cfg} {name}: frouros {drifts[:5]} fixture {expected['drifts'][:5]}")
            sys.exit(1)
        checked += 1
print(f"frouros CUSUM agrees with the fixture on {checked} (setting, stream) pairs")
