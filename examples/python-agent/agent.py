#!/usr/bin/env python3
"""A KafClaw group agent in Python, written from docs/wire-protocol.md alone.

It joins a group, heartbeats, keeps a roster, provides one skill (claims each
request on tasks.status and runs it only when its claim is the first one in
partition order), answers targeted and open requests the same way, and submits
tasks to other agents' skills and waits for the answers.

Every event it wants a caller to see goes to stdout as one JSON object per line:
  {"event": "ready", "agent_id": ...}
  {"event": "roster", "members": [...]}            whenever the live set changes
  {"event": "served", "task_id": ..., "requester_id": ..., "skill": ...}
  {"event": "answer", "ask": i, "skill": ..., "task_id": ..., "status": ...,
   "responder_id": ..., "content": ...}              for each --ask
Diagnostics go to stderr.
"""

import argparse
import datetime
import json
import os
import re
import secrets
import signal
import sys
import time
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

# The eleven fixed group topics, with their manifest category and description.
GROUP_TOPICS = {
    "announce": ("control", "Join/leave/heartbeat announcements"),
    "control.roster": ("control", "Topic registry manifest and member capabilities"),
    "control.onboarding": ("control", "Agent onboarding protocol messages"),
    "requests": ("tasks", "General task requests"),
    "responses": ("tasks", "General task responses"),
    "tasks.status": ("tasks", "Task status updates and progress"),
    "traces": ("observe", "Trace spans for distributed tracing"),
    "observe.audit": ("observe", "Administrative audit events"),
    "memory.shared": ("memory", "Shared memory items via LFS"),
    "memory.context": ("memory", "Ephemeral context sharing"),
    "orchestrator": ("control", "Orchestrator discovery and coordination"),
}
SKILL_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def env(name, default=None):
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def rfc3339(ts=None):
    """UTC time in RFC 3339 with nanosecond digits, like Go's RFC3339Nano."""
    now = datetime.datetime.fromtimestamp(ts if ts is not None else time.time(),
                                          datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def uuid7():
    """A version-7 UUID: 48 bits of Unix milliseconds, then random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)          # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)          # RFC 4122 variant
    return str(uuid.UUID(int=value))


def partitions(consumer, name, wait=60):
    """The partitions of a topic, waiting for a topic created a moment ago to show up."""
    deadline = time.time() + wait
    while True:
        parts = consumer.partitions_for_topic(name)
        if parts:
            return [TopicPartition(name, p) for p in sorted(parts)]
        if time.time() > deadline:
            raise SystemExit(f"topic {name} does not exist (create the group's topics first)")
        time.sleep(0.2)


def merge_manifest(local, incoming):
    """Entry by entry: unknown skill topics are added, consumers are united."""
    if local is None:
        local = dict(incoming, skill_topics=[], core_topics=incoming.get("core_topics") or [])
    for d in incoming.get("skill_topics") or []:
        if not isinstance(d, dict):
            continue
        have = next((l for l in local["skill_topics"] if l["name"] == d.get("name")), None)
        if have is None:
            local["skill_topics"].append(dict(d, consumers=sorted(set(d.get("consumers") or []))))
        else:
            have["consumers"] = sorted(set(have["consumers"]) | set(d.get("consumers") or []))
    local["version"] = max(local.get("version") or 0, incoming.get("version") or 0)
    return local


class Agent:
    def __init__(self, args):
        self.args = args
        self.me = args.agent_id
        self.group = args.group
        self.hb = args.heartbeat
        self.window = self.hb * args.missed_heartbeats
        self.skill = args.skill
        self.brokers = args.brokers.split(",")
        self.joined = False
        self.members = {}        # agent id -> {"last_seen": unix seconds, "skills": [...]}
        self.printed_roster = None
        self.winners = {}        # task id -> agent id of the first claim
        self.claimed = {}        # task id -> (topic, request payload) we claimed and wait on
        self.done = set()        # task ids we ran
        self.asks = []           # {"skill", "content", "task_id", "sent", "deadline"}
        self.answered = set()
        self.failed_asks = 0
        self.next_beat = 0.0
        self.extra_beat_at = 0.0
        self.producer = KafkaProducer(bootstrap_servers=self.brokers, acks="all")

    # ------------------------------------------------------------ helpers

    def topic(self, suffix):
        return f"group.{self.group}.{suffix}"

    def skill_topic(self, skill, direction):
        return self.topic(f"skill.{skill}.{direction}")

    def emit(self, **event):
        print(json.dumps(event), flush=True)

    def identity(self):
        return {
            "agent_id": self.me,
            "agent_name": f"Python agent {self.me}",
            "soul_summary": "An example agent written in Python with kafka-python.",
            "capabilities": [],
            "channels": [],
            "model": "",
            "joined_at": self.joined_at,
            "status": "active",
            "skills": [self.skill] if self.skill else [],
        }

    def send(self, topic, key, kind, correlation_id, payload):
        envelope = {
            "type": kind,
            "correlation_id": correlation_id,
            "sender_id": self.me,
            "timestamp": rfc3339(),
            "payload": payload,
            "message_id": uuid7(),
            "schema_version": 1,
        }
        self.producer.send(
            topic,
            key=key.encode(),
            value=json.dumps(envelope, separators=(",", ":")).encode(),
            headers=[("kafclaw-message-id", envelope["message_id"].encode())],
        ).get(timeout=30)

    def announce(self, action):
        self.send(self.topic("announce"), self.me, "announce",
                  f"{'hb' if action == 'heartbeat' else action}-{time.time_ns()}",
                  {"action": action, "identity": self.identity()})

    def status(self, task_id, status):
        self.send(self.topic("tasks.status"), task_id, "task_status", task_id,
                  {"task_id": task_id, "responder_id": self.me, "status": status})

    # ------------------------------------------------------------ start

    def ensure_topics(self, names):
        admin = KafkaAdminClient(bootstrap_servers=self.brokers)
        try:
            for name in names:
                try:
                    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()

    def start(self):
        started = time.time()
        self.joined_at = rfc3339(started)[:19] + "Z"
        topics = [self.topic(t) for t in ("announce", "requests", "tasks.status")]
        own = []
        if self.skill:
            own = [self.skill_topic(self.skill, d) for d in ("requests", "responses")]
        for ask in self.args.ask:
            skill, _, content = ask.partition("=")
            if not SKILL_RE.match(skill):
                raise SystemExit(f"--ask {ask!r}: the skill name must be letters, digits, _ or -")
            self.asks.append({"skill": skill, "content": content, "task_id": None})
            own.append(self.skill_topic(skill, "responses"))
            own.append(self.skill_topic(skill, "requests"))
        # The eleven fixed group topics, then the skill topics (Kafka brokers often
        # refuse to auto-create topics; creating an existing one is no error).
        fixed = [self.topic(t) for t in GROUP_TOPICS]
        self.ensure_topics(fixed + sorted(set(own)))
        topics += sorted({t for t in own if t.endswith(".responses")} |
                         ({self.skill_topic(self.skill, "requests")} if self.skill else set()))
        self.consumer = KafkaConsumer(bootstrap_servers=self.brokers, group_id=None,
                                      enable_auto_commit=False)
        tps = []
        for name in topics:
            tps += partitions(self.consumer, name)
        self.consumer.assign(tps)
        # Start positions by record time: the announce topic from one expiry window
        # back (to learn the current members), everything else from now. The end
        # offsets are read first, so nothing written after `started` is skipped.
        ends = self.consumer.end_offsets(tps)
        since = {tp: int(((started - self.window) if tp.topic == self.topic("announce")
                          else started) * 1000) for tp in tps}
        found = self.consumer.offsets_for_times(since)
        for tp in tps:
            hit = found.get(tp)
            self.consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        self.announce("join")
        if self.skill:
            self.register_skill()
        self.joined = True
        self.members[self.me] = {"last_seen": time.time(), "skills": self.identity()["skills"]}
        self.next_beat = time.time() + self.hb
        self.emit(event="ready", agent_id=self.me)

    def register_skill(self):
        """Adds this agent to the topic manifest's entries for its skill and publishes
        the whole manifest on control.roster (read from the start: it is state)."""
        name = self.topic("control.roster")
        reader = KafkaConsumer(bootstrap_servers=self.brokers, group_id=None,
                               enable_auto_commit=False)
        tps = partitions(reader, name)
        reader.assign(tps)
        ends = reader.end_offsets(tps)
        reader.seek_to_beginning(*tps)
        manifest = None
        while any(reader.position(tp) < ends[tp] for tp in tps):
            for records in reader.poll(timeout_ms=200).values():
                for rec in records:
                    try:
                        incoming = json.loads(rec.value).get("payload")
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(incoming, dict) and incoming.get("group_name") == self.group:
                        manifest = merge_manifest(manifest, incoming)
        reader.close()
        if manifest is None:
            manifest = {
                "group_name": self.group, "version": 0, "updated_at": rfc3339(),
                "updated_by": "", "skill_topics": [],
                "core_topics": [{"name": self.topic(t), "category": c, "description": d,
                                 "consumers": []} for t, (c, d) in GROUP_TOPICS.items()],
            }
        mine = {"group_name": self.group, "version": 0, "skill_topics": [
            {"name": self.skill_topic(self.skill, d), "category": "skill",
             "description": f"Skill {d} for {self.skill}", "consumers": [self.me]}
            for d in ("requests", "responses")]}
        before = json.dumps(manifest["skill_topics"], sort_keys=True)
        manifest = merge_manifest(manifest, mine)
        if json.dumps(manifest["skill_topics"], sort_keys=True) != before or manifest["version"] == 0:
            manifest.update(version=manifest["version"] + 1, updated_at=rfc3339(),
                            updated_by=self.me)
            self.send(name, self.group, "roster", f"roster-{time.time_ns()}", manifest)

    # ------------------------------------------------------------ records

    def on_record(self, rec):
        try:
            env_ = json.loads(rec.value)
        except ValueError:
            print(f"skipping a record that is not JSON on {rec.topic}", file=sys.stderr)
            return
        if not isinstance(env_, dict) or not isinstance(env_.get("payload"), dict):
            return
        payload, sender, kind = env_["payload"], env_.get("sender_id", ""), env_.get("type")
        t = rec.topic
        if t == self.topic("announce") and kind == "announce":
            self.on_announce(payload, sender, rec.timestamp / 1000.0)
        elif t == self.topic("tasks.status") or (t == self.topic("responses")
                                                 and kind == "task_status"):
            self.on_status(payload, sender)
        elif t == self.topic("requests") and kind == "request":
            self.on_request(t, payload, sender)
        elif self.skill and t == self.skill_topic(self.skill, "requests"):
            self.on_request(t, payload, sender)
        elif t.endswith(".responses") and kind in ("response", "skill_response"):
            self.on_response(payload)

    def on_announce(self, payload, sender, record_time):
        identity = payload.get("identity") or {}
        agent = identity.get("agent_id", "")
        if not agent or agent != sender or agent == self.me:
            return
        action = payload.get("action")
        if action == "leave":
            self.members.pop(agent, None)
        elif action in ("join", "heartbeat"):
            self.members[agent] = {"last_seen": min(record_time, time.time()),
                                   "skills": identity.get("skills") or []}
            if action == "join" and self.joined and time.time() >= self.extra_beat_at:
                # Answer a newcomer at once, so it learns about us quickly.
                self.extra_beat_at = time.time() + self.hb
                self.announce("heartbeat")

    def on_request(self, topic, req, sender):
        task_id = req.get("task_id", "")
        if not task_id or sender == self.me or req.get("requester_id") == self.me:
            return
        target = req.get("target_id") or ""
        skill = req.get("skill") or ""
        if target:
            if target == self.me:
                self.status(task_id, "accepted")
                self.run(topic, req)
            return
        if skill and skill != self.skill:
            return
        if task_id in self.winners or task_id in self.claimed:
            return                       # somebody already won, or we claimed
        self.claimed[task_id] = (topic, req)
        self.status(task_id, "accepted")

    def on_status(self, st, sender):
        task_id = st.get("task_id", "")
        if st.get("status") != "accepted" or task_id in self.winners:
            return
        if st.get("responder_id") != sender:
            return                       # a claim must come from its claimant
        self.winners[task_id] = sender
        claim = self.claimed.pop(task_id, None)
        if claim and sender == self.me:
            self.run(*claim)

    def run(self, topic, req):
        task_id = req["task_id"]
        if task_id in self.done:
            return
        self.done.add(task_id)
        answer = {"task_id": task_id, "responder_id": self.me,
                  "content": f"{self.me} (python) did: {req.get('content', '')}",
                  "status": "completed"}
        if topic == self.topic("requests"):
            self.send(self.topic("responses"), task_id, "response", task_id, answer)
        else:
            skill = topic[len(self.topic("skill.")):-len(".requests")]
            self.send(self.skill_topic(skill, "responses"), task_id, "skill_response",
                      task_id, answer)
        self.status(task_id, "completed")
        self.emit(event="served", task_id=task_id, requester_id=req.get("requester_id", ""),
                  skill=req.get("skill", ""))

    def on_response(self, resp):
        for i, ask in enumerate(self.asks):
            if ask["task_id"] and ask["task_id"] == resp.get("task_id") and i not in self.answered:
                self.answered.add(i)
                self.failed_asks += resp.get("status") != "completed"
                self.emit(event="answer", ask=i, skill=ask["skill"], task_id=ask["task_id"],
                          status=resp.get("status", ""), responder_id=resp.get("responder_id", ""),
                          content=resp.get("content", ""))

    # ------------------------------------------------------------ periodic work

    def live(self):
        now = time.time()
        return {a: m for a, m in self.members.items()
                if a == self.me or now - m["last_seen"] <= self.window}

    def tick(self):
        now = time.time()
        if now >= self.next_beat:
            self.announce("heartbeat")
            self.members[self.me]["last_seen"] = now
            self.next_beat = now + self.hb
        live = self.live()
        ids = sorted(live)
        if ids != self.printed_roster:
            self.printed_roster = ids
            self.emit(event="roster", members=ids)
        for i, ask in enumerate(self.asks):
            if ask["task_id"] is None and any(ask["skill"] in m["skills"] for a, m in live.items()
                                              if a != self.me):
                ask["task_id"] = uuid.uuid4().hex
                ask["deadline"] = now + self.args.task_timeout
                self.send(self.skill_topic(ask["skill"], "requests"), ask["task_id"],
                          "skill_request", ask["task_id"],
                          {"task_id": ask["task_id"], "description": ask["content"][:80],
                           "content": ask["content"], "requester_id": self.me,
                           "skill": ask["skill"]})
            elif ask["task_id"] and i not in self.answered and now > ask["deadline"]:
                self.answered.add(i)
                self.failed_asks += 1
                self.emit(event="answer", ask=i, skill=ask["skill"], task_id=ask["task_id"],
                          status="timeout", responder_id="", content="")

    def serve(self, stopping):
        while not stopping:
            for records in self.consumer.poll(timeout_ms=50).values():
                for rec in records:
                    self.on_record(rec)
            self.tick()
            if self.args.exit_after_asks and len(self.answered) == len(self.asks):
                break
        self.announce("leave")
        self.producer.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", default=env("KAFCLAW_GROUP_KAFKA_BROKERS", "127.0.0.1:9092"))
    ap.add_argument("--group", default=env("KAFCLAW_GROUP_GROUP_NAME"))
    ap.add_argument("--agent-id", default=env("KAFCLAW_GROUP_AGENT_ID"))
    ap.add_argument("--skill", default=env("KAFCLAW_AGENT_SKILL"),
                    help="the skill this agent provides (letters, digits, _ and -)")
    ap.add_argument("--heartbeat", type=float,
                    default=float(env("KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS", "30")))
    ap.add_argument("--missed-heartbeats", type=int,
                    default=int(env("KAFCLAW_GROUP_MISSED_HEARTBEATS", "3")))
    ap.add_argument("--task-timeout", type=float,
                    default=float(env("KAFCLAW_GROUP_DEFAULT_TASK_TIMEOUT_SECS", "60")))
    ap.add_argument("--ask", action="append", default=[], metavar="SKILL=TEXT",
                    help="submit TEXT to SKILL once a provider is live (repeatable)")
    ap.add_argument("--exit-after-asks", action="store_true",
                    help="leave and exit once every --ask has its answer")
    args = ap.parse_args()
    for name in ("group", "agent_id"):
        if not getattr(args, name):
            ap.error(f"--{name.replace('_', '-')} (or its KAFCLAW_GROUP_* variable) is required")
    if args.skill and not SKILL_RE.match(args.skill):
        ap.error(f"--skill {args.skill!r}: letters, digits, _ and - only")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    agent = Agent(args)
    agent.start()
    agent.serve(stopping)
    return 1 if agent.failed_asks else 0


if __name__ == "__main__":
    sys.exit(main())
