#!/usr/bin/env python3
"""A third-party Kafka client for driftd's end-to-end tests (kafka-python, pure Python).

It stands in for the users' own services: it produces events to topics exactly as a serving tier
would, and reads topics (e.g. the dead-letter topic) with their headers.

  kafka_tool.py produce --bootstrap HOST:PORT --topic T --file EVENTS.jsonl [--retry-seconds S]
                        [--key-field id [--only-partitions 0,2,...]] [--partition N]
                        [--skip K] [--limit N] [--records]
  kafka_tool.py consume --bootstrap HOST:PORT --topic T --expect N --timeout S --out OUT.jsonl
  kafka_tool.py committed --bootstrap HOST:PORT --topic T --group G

`produce` sends each non-empty line as one message (the raw bytes), waits for every
acknowledgement (acks=all) and prints the count. By default messages have no key; with
`--key-field F` each is keyed by the JSON field F of the event (as a serving tier keys by
prediction id) and lands on the partition the client's default partitioner (murmur2) chooses;
`--only-partitions` then sends only the lines whose partition is listed (to hold a partition back
and produce it later). `--partition N` sends every line to partition N. `--records`: each line is a record as
`kcat -J` prints it ({"key", "headers": [name, value, ...], "ts", "payload"}), produced with its
key, headers and timestamp. `--skip` and `--limit`
apply to the lines that pass the filter. `consume` reads from the beginning without a
consumer group until N messages or the timeout, and writes one JSON object per message:
{"partition", "offset", "value", "headers": {name: value}}. `committed` prints the group's
committed offset of each partition of the topic as JSON ({"0": 2900, "1": null}; null: none),
read with an offset fetch that does not join the group.
"""
import argparse
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2


def produce(args):
    deadline = time.time() + args.retry_seconds
    # Progress on stderr, for tests that produce while the broker is down: the client waits for
    # a broker while it connects, and says so when it has one.
    print(f"connecting to {args.bootstrap}", file=sys.stderr, flush=True)
    while True:
        try:
            producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=5,
                                     retries=10, request_timeout_ms=15000)
            print("connected", file=sys.stderr, flush=True)
            break
        except Exception as e:  # broker not up yet
            if time.time() > deadline:
                raise
            print(f"waiting for the broker: {e}", file=sys.stderr)
            time.sleep(0.5)
    only = None
    if args.only_partitions is not None:
        only = {int(p) for p in args.only_partitions.split(",") if p != ""}
    partitions = None
    if args.key_field is not None:
        deadline = time.time() + args.retry_seconds
        while not partitions:
            partitions = sorted(producer.partitions_for(args.topic) or [])
            if not partitions and time.time() > deadline:
                raise SystemExit(f"no partitions for {args.topic}")
    futures = []
    passed = 0
    with open(args.file, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line.strip():
                continue
            if partitions is not None and only is not None:
                key = str(json.loads(line)[args.key_field]).encode()
                if partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)] not in only:
                    continue
            passed += 1
            if passed <= args.skip:
                continue
            if args.limit is not None and passed > args.skip + args.limit:
                break
            if args.records:
                # A record as `kcat -J` prints it: key, headers [name, value, ...], ts, payload.
                r = json.loads(line)
                hs = r.get("headers") or []
                headers = [(hs[i], hs[i + 1].encode()) for i in range(0, len(hs), 2)]
                key = r["key"].encode() if r.get("key") is not None else None
                futures.append(producer.send(args.topic, value=r["payload"].encode(), key=key,
                                             headers=headers, timestamp_ms=r.get("ts"),
                                             partition=args.partition))
            elif args.partition is not None:
                futures.append(producer.send(args.topic, value=line, partition=args.partition))
            elif partitions is not None:
                key = str(json.loads(line)[args.key_field]).encode()
                part = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
                futures.append(producer.send(args.topic, value=line, key=key, partition=part))
            else:
                futures.append(producer.send(args.topic, value=line))
    producer.flush(timeout=120)
    for fut in futures:
        fut.get(timeout=60)
    producer.close()
    print(len(futures))


def consume(args):
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    deadline = time.time() + args.timeout
    parts = None
    while parts is None and time.time() < deadline:
        parts = consumer.partitions_for_topic(args.topic)
        if parts is None:
            time.sleep(0.2)
    tps = [TopicPartition(args.topic, p) for p in sorted(parts or [])]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    out = []
    while len(out) < args.expect and time.time() < deadline:
        batch = consumer.poll(timeout_ms=500)
        for tp, msgs in batch.items():
            for m in msgs:
                out.append({
                    "partition": m.partition,
                    "offset": m.offset,
                    "value": m.value.decode("utf-8", "replace") if m.value is not None else None,
                    "headers": {k: (v.decode("utf-8", "replace") if v is not None else None) for k, v in (m.headers or [])},
                })
    consumer.close()
    with open(args.out, "w") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")
    print(len(out))


def partitions(consumer, topic, timeout):
    deadline = time.time() + timeout
    parts = None
    while parts is None and time.time() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            time.sleep(0.2)
    if parts is None:
        raise SystemExit(f"no partitions for {topic}")
    return [TopicPartition(topic, p) for p in sorted(parts)]


def committed(args):
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=args.group,
                             enable_auto_commit=False)
    out = {str(tp.partition): consumer.committed(tp, timeout_ms=10000)
           for tp in partitions(consumer, args.topic, 30)}
    consumer.close()
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("produce")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--retry-seconds", type=float, default=30)
    p.add_argument("--key-field")
    p.add_argument("--only-partitions")
    p.add_argument("--partition", type=int)
    p.add_argument("--skip", type=int, default=0)
    p.add_argument("--limit", type=int)
    p.add_argument("--records", action="store_true")
    c = sub.add_parser("consume")
    c.add_argument("--bootstrap", required=True)
    c.add_argument("--topic", required=True)
    c.add_argument("--expect", type=int, required=True)
    c.add_argument("--timeout", type=float, default=60)
    c.add_argument("--out", required=True)
    k = sub.add_parser("committed")
    k.add_argument("--bootstrap", required=True)
    k.add_argument("--topic", required=True)
    k.add_argument("--group", required=True)
    args = ap.parse_args()
    {"produce": produce, "consume": consume, "committed": committed}[args.cmd](args)


if __name__ == "__main__":
    main()
