#!/usr/bin/env python3
"""A group agent that speaks only the Go KafClaw wire format, written from the
documented format (docs/group-protocol.md, docs/envelope.md) with kafka-python.

It writes envelopes exactly as a Go agent does: {type, correlation_id, sender_id,
timestamp (RFC 3339 with nanoseconds), payload}, no extensions, no record keys.
It joins by announce, heartbeats every --heartbeat seconds, answers every request
that is not its own (as Go agents do: no claims, target_id ignored) with a
task_status "accepted" on the responses topic, then a response carrying the
request's task id: "echo: <content>", or status "rejected" for content starting
with "reject". On SIGTERM or SIGINT it announces leave and exits.

Prints "ready" on stdout once it reads requests and has announced its join.
"""

import argparse
import datetime
import json
import signal
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def go_timestamp():
    now = datetime.datetime.now(datetime.timezone.utc)
    # Go's RFC3339Nano: nanoseconds with trailing zeros removed, "Z" for UTC.
    frac = f"{now.microsecond:06d}000".rstrip("0")
    base = now.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def envelope(kind, correlation_id, sender, payload):
    return {
        "type": kind,
        "correlation_id": correlation_id,
        "sender_id": sender,
        "timestamp": go_timestamp(),
        "payload": payload,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--agent-id", required=True)
    ap.add_argument("--heartbeat", type=float, default=1.0)
    args = ap.parse_args()
    me = args.agent_id
    topic = lambda suffix: f"group.{args.group}.{suffix}"

    producer = KafkaProducer(bootstrap_servers=args.brokers.split(","))

    def send(suffix, env):
        # No key, as Go KafClaw never sets one.
        producer.send(topic(suffix), value=json.dumps(env).encode()).get(timeout=10)

    identity = {
        "agent_id": me,
        "agent_name": "Go-format agent",
        "soul_summary": "Answers with an echo.",
        "capabilities": ["read_file", "exec"],
        "channels": ["cli"],
        "model": "none",
        "joined_at": go_timestamp()[:19] + "Z",
        "status": "active",
    }

    def ns():
        return str(time.time_ns())

    consumer = KafkaConsumer(bootstrap_servers=args.brokers.split(","), group_id=None,
                             enable_auto_commit=False)
    requests = topic("requests")
    deadline = time.time() + 60
    parts = None
    while time.time() < deadline:
        parts = consumer.partitions_for_topic(requests)
        if parts:
            break
        time.sleep(0.2)
    if not parts:
        print(f"topic {requests} does not exist", file=sys.stderr)
        return 2
    assignment = [TopicPartition(requests, p) for p in sorted(parts)]
    consumer.assign(assignment)
    consumer.seek_to_end(*assignment)
    for tp in assignment:
        consumer.position(tp)

    send("announce", envelope("announce", "join-" + ns(), me,
                              {"action": "join", "identity": identity}))
    print("ready", flush=True)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    next_beat = time.time() + args.heartbeat
    while not stopping:
        batches = consumer.poll(timeout_ms=100)
        for records in batches.values():
            for rec in records:
                try:
                    env = json.loads(rec.value)
                except ValueError:
                    continue
                req = env.get("payload") or {}
                if env.get("sender_id") == me or req.get("requester_id") == me:
                    continue
                task_id = req.get("task_id", "")
                send("responses", envelope("task_status", task_id, me, {
                    "task_id": task_id, "responder_id": me, "status": "accepted"}))
                content = req.get("content", "")
                if content.startswith("reject"):
                    status, answer = "rejected", "the Go-format agent refuses: " + content
                else:
                    status, answer = "completed", "echo: " + content
                send("responses", envelope("response", task_id, me, {
                    "task_id": task_id, "responder_id": me,
                    "content": answer, "status": status}))
        if time.time() >= next_beat:
            send("announce", envelope("announce", "hb-" + ns(), me,
                                      {"action": "heartbeat", "identity": identity}))
            next_beat = time.time() + args.heartbeat
    send("announce", envelope("announce", "leave-" + ns(), me,
                              {"action": "leave", "identity": identity}))
    producer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
