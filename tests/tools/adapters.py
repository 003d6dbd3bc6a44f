#!/usr/bin/env python3
"""Writes contract-v1 predictions as other model servers log them, for driftd's adapter tests.

  adapters.py oip --predictions P.jsonl --requests IN.jsonl --responses OUT.jsonl
  adapters.py kserve --predictions P.jsonl --out EVENTS.jsonl
  adapters.py kserve-http --predictions P.jsonl --url URL --token T [--limit N]

`oip`: each prediction becomes an Open Inference Protocol V2 request and response, as MLServer's
Kafka server reads and writes them (mlserver/kafka/: the request keyed by its id with the
`mlserver-model` header, the response keyed by the same id with MLServer's CloudEvents headers;
docs/user-guide/content-type.md: `content_type` "pd", one tensor per column, shape [1, 1]). Each is
a record as `kcat -J` prints it ({"key", "headers", "ts", "payload"}), for `kafka_tool.py produce
--records`; the response's time is 3 ms after the request's.

`kserve`: each prediction becomes KServe's payload-logger pair (pkg/logger: one id, types
org.kubeflow.serving.inference.request / .response, the InferenceService's name as an
extension) in CloudEvents' structured mode, one JSON object per line, with V2 bodies.

`kserve-http`: the same pairs POSTed in binary mode (Ce-* headers, the body as is), as KServe's
logger sends them; prints how many were accepted (202).

The output tensors are `predict` (the label, BYTES) and `score` (FP64), in the features' order.
"""
import argparse
import json
import urllib.request
from datetime import datetime, timezone


def millis(ts):
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp() * 1000)


def tensor(name, value, shape):
    if isinstance(value, str):
        return {"name": name, "shape": shape, "datatype": "BYTES", "parameters": {"content_type": "str"}, "data": [value]}
    return {"name": name, "shape": shape, "datatype": "FP64", "data": [value]}


def bodies(ev, shape):
    request = {"id": ev["id"], "parameters": {"content_type": "pd"},
               "inputs": [tensor(k, v, shape) for k, v in ev["features"].items()]}
    p = ev.get("prediction") or {}
    outputs = []
    if "label" in p:
        outputs.append(tensor("predict", p["label"], shape))
    if "score" in p:
        outputs.append(tensor("score", p["score"], shape))
    response = {"model_name": ev["model"], "id": ev["id"], "parameters": {}, "outputs": outputs}
    return request, response


def predictions(path):
    with open(path) as f:
        for line in f:
            if line.strip():
                ev = json.loads(line)
                if ev.get("kind") == "prediction":
                    yield ev


def oip(args):
    with open(args.requests, "w") as rq, open(args.responses, "w") as rs:
        for ev in predictions(args.predictions):
            request, response = bodies(ev, [1, 1])
            ts = millis(ev["ts"])
            rq.write(json.dumps({"key": ev["id"], "headers": ["mlserver-model", ev["model"]], "ts": ts,
                                 "payload": json.dumps(request)}) + "\n")
            rs.write(json.dumps({"key": ev["id"], "headers": [
                "Ce-Specversion", "0.3", "Ce-Source", "io.seldon.serving.deployment.mlserver",
                "Ce-Type", "io.seldon.serving.inference.response", "Ce-Modelid", ev["model"],
                "Ce-Inferenceservicename", "mlserver", "Ce-Endpoint", ev["model"],
                "Ce-Id", ev["id"], "Ce-Requestid", ev["id"]], "ts": ts + 3,
                "payload": json.dumps(response)}) + "\n")


def kserve_pair(ev):
    request, response = bodies(ev, [1])
    common = {"specversion": "1.0", "id": ev["id"], "source": "http://localhost:9081/",
              "inferenceservicename": ev["model"], "namespace": "default", "component": "predictor",
              "endpoint": "", "metadata": "{}", "datacontenttype": "application/json"}
    return ({**common, "type": "org.kubeflow.serving.inference.request", "time": ev["ts"], "data": request},
            {**common, "type": "org.kubeflow.serving.inference.response", "time": ev["ts"], "data": response})


def kserve(args):
    with open(args.out, "w") as out:
        for ev in predictions(args.predictions):
            for half in kserve_pair(ev):
                out.write(json.dumps(half) + "\n")


def kserve_http(args):
    accepted = 0
    for i, ev in enumerate(predictions(args.predictions)):
        if args.limit is not None and i >= args.limit:
            break
        for half in kserve_pair(ev):
            data = half.pop("data")
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {args.token}"}
            for k, v in half.items():
                if k != "datacontenttype":
                    headers["Ce-" + k[0].upper() + k[1:]] = v
            req = urllib.request.Request(args.url, data=json.dumps(data).encode(), headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                if r.status == 202:
                    accepted += 1
    print(accepted)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("oip")
    o.add_argument("--predictions", required=True)
    o.add_argument("--requests", required=True)
    o.add_argument("--responses", required=True)
    k = sub.add_parser("kserve")
    k.add_argument("--predictions", required=True)
    k.add_argument("--out", required=True)
    h = sub.add_parser("kserve-http")
    h.add_argument("--predictions", required=True)
    h.add_argument("--url", required=True)
    h.add_argument("--token", required=True)
    h.add_argument("--limit", type=int)
    args = ap.parse_args()
    {"oip": oip, "kserve": kserve, "kserve-http": kserve_http}[args.cmd](args)


if __name__ == "__main__":
    main()
