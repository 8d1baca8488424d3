#!/usr/bin/env bash
# KafClaw group demo: three agents on a local Kafka broker.
#   counter    - a command-skill worker (no model): skills `wordcount` (wc -w) and `shout`
#   researcher - an LLM agent offering the skill `summarise`   (needs OPENAI_API_KEY)
#   lead       - an LLM agent you chat with; it delegates       (needs OPENAI_API_KEY)
# Usage: examples/group-demo/run.sh [start|stop]   (from anywhere inside the repository)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${KAFCLAW_DEMO_STATE:-${TMPDIR:-/tmp}/kafclaw-group-demo}"
kafclaw="$repo/target/debug/kafclaw"

stop() {
  for pidfile in "$state"/*/gateway.pid; do
    [ -f "$pidfile" ] || continue
    kill -TERM "$(cat "$pidfile")" 2>/dev/null || true   # each agent leaves the group
    rm -f "$pidfile"
  done
  echo "agents stopped (the broker keeps running: cargo xtask kafka stop)"
}

start_agent() {
  local name="$1"
  mkdir -p "$state/$name"
  chmod 700 "$state" "$state/$name"
  install -m 600 "$here/$name/config.json" "$state/$name/config.json"
  KAFCLAW_HOME="$state/$name" "$kafclaw" gateway --mode group \
    >"$state/$name/gateway.out" 2>"$state/$name/gateway.log" &
  echo $! >"$state/$name/gateway.pid"
  # The first line on stdout says where it listens.
  for _ in $(seq 1 120); do
    if [ -s "$state/$name/gateway.out" ]; then
      echo "$name: $(head -n 1 "$state/$name/gateway.out")"
      return 0
    fi
    if ! kill -0 "$(cat "$state/$name/gateway.pid")" 2>/dev/null; then
      echo "$name did not start:"; tail -n 20 "$state/$name/gateway.log"; exit 1
    fi
    sleep 0.5
  done
  echo "$name did not start within 60 s; see $state/$name/gateway.log"; exit 1
}

case "${1:-start}" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop]"; exit 2 ;;
esac

cd "$repo"
cargo xtask kafka start            # a local Apache Kafka broker on 127.0.0.1:9092
cargo build -p kafclaw
start_agent counter
if [ -n "${OPENAI_API_KEY:-}" ]; then
  start_agent researcher
  start_agent lead
  cat <<'TXT'

Ask the lead; its model finds the skills in the group and delegates:
  curl -s localhost:18790/chat -H 'content-type: application/json' \
    -d '{"message": "Use the group: have the text \"Kafka keeps an ordered log of records\" summarised, and its words counted. Tell me both."}'
Then open the lead's dashboard (http://127.0.0.1:18791) or its trace:
  curl -s localhost:18791/api/v1/trace/<trace_id from the answer>   # group_spans: the other agents' spans
TXT
else
  cat <<'TXT'

No OPENAI_API_KEY: only the command-skill worker runs. Give it work from the command line
(the CLI is the requester; the worker answers without any model):
TXT
fi
echo "  KAFCLAW_GROUP_KAFKA_BROKERS=127.0.0.1:9092 KAFCLAW_GROUP_GROUP_NAME=demo \\"
echo "    $kafclaw group submit --skill wordcount 'Kafka keeps an ordered log of records'"
echo "  KAFCLAW_GROUP_KAFKA_BROKERS=127.0.0.1:9092 KAFCLAW_GROUP_GROUP_NAME=demo $kafclaw group members"
echo "Stop the agents with: $0 stop"
