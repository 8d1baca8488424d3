#!/usr/bin/env bash
# A KafClaw group agent in bash with kcat and jq, written from docs/wire-protocol.md alone.
#
# It joins a group, heartbeats, keeps a roster, provides one skill (claims each
# request on tasks.status and runs it only when its claim is the first one in
# partition order), answers targeted and open requests the same way, and submits
# tasks to other agents' skills and waits for the answers.
#
# A minimal agent: it writes only the five Go envelope fields (no message_id or
# other extension), sets no record headers, and cannot create topics (kcat has no
# admin requests): the group's topics and its skill's two topics must exist.
#
# Events for a caller go to stdout, one JSON object per line: ready, roster,
# served, answer (one per --ask). Diagnostics go to stderr.
#
# usage: agent.sh [--brokers H:P,..] [--group G] [--agent-id ID] [--skill S]
#                 [--heartbeat SECS] [--missed-heartbeats N] [--task-timeout SECS]
#                 [--ask SKILL=TEXT]... [--exit-after-asks]
set -uo pipefail

brokers=${KAFCLAW_GROUP_KAFKA_BROKERS:-127.0.0.1:9092}
group=${KAFCLAW_GROUP_GROUP_NAME:-}
me=${KAFCLAW_GROUP_AGENT_ID:-}
skill=${KAFCLAW_AGENT_SKILL:-}
heartbeat=${KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS:-30}
missed=${KAFCLAW_GROUP_MISSED_HEARTBEATS:-3}
task_timeout=${KAFCLAW_GROUP_DEFAULT_TASK_TIMEOUT_SECS:-60}
exit_after_asks=0
ask_skill=() ask_content=() ask_task=() ask_deadline=() ask_done=()

die() { echo "error: $*" >&2; exit 2; }
valid_skill() { [[ $1 =~ ^[A-Za-z0-9_-]+$ ]]; }

while (($#)); do
    case $1 in
        --brokers) brokers=${2:?--brokers needs a value}; shift 2 ;;
        --group) group=${2:?--group needs a value}; shift 2 ;;
        --agent-id) me=${2:?--agent-id needs a value}; shift 2 ;;
        --skill) skill=${2:?--skill needs a value}; shift 2 ;;
        --heartbeat) heartbeat=${2:?--heartbeat needs a value}; shift 2 ;;
        --missed-heartbeats) missed=${2:?--missed-heartbeats needs a value}; shift 2 ;;
        --task-timeout) task_timeout=${2:?--task-timeout needs a value}; shift 2 ;;
        --ask)
            a=${2:?--ask needs SKILL=TEXT}
            valid_skill "${a%%=*}" || die "--ask $a: the skill name must be letters, digits, _ or -"
            ask_skill+=("${a%%=*}")
            if [[ $a == *=* ]]; then ask_content+=("${a#*=}"); else ask_content+=(""); fi
            ask_task+=("") ask_deadline+=(0) ask_done+=(0)
            shift 2 ;;
        --exit-after-asks) exit_after_asks=1; shift ;;
        *) die "unknown argument $1" ;;
    esac
done
[[ -n $group ]] || die "--group (or KAFCLAW_GROUP_GROUP_NAME) is required"
[[ -n $me ]] || die "--agent-id (or KAFCLAW_GROUP_AGENT_ID) is required"
[[ -z $skill ]] || valid_skill "$skill" || die "--skill $skill: letters, digits, _ and - only"
command -v kcat >/dev/null || die "kcat is not installed (Debian: apt-get install kcat)"
command -v jq >/dev/null || die "jq is not installed (Debian: apt-get install jq)"

# The tested versions (README.md): kcat 1.7 and jq 1.6, by major.minor. Another
# version exits 2 before anything is read or written (the option and output formats
# this script relies on differ between releases).
tested_kcat=1.7 tested_jq=1.6
kcat_version=$(kcat -V 2>&1 | sed -n 's/^Version \([0-9][0-9]*\.[0-9][0-9]*[0-9.]*\).*/\1/p' | head -n 1)
jq_version=$(jq --version 2>&1 | sed -n 's/^jq-\([0-9][0-9]*\.[0-9][0-9]*[0-9.]*\).*/\1/p' | head -n 1)
[[ $kcat_version =~ ^([0-9]+\.[0-9]+) && ${BASH_REMATCH[1]} == "$tested_kcat" ]] \
    || die "kcat ${kcat_version:-of an unknown version} ($(command -v kcat)): this agent is tested with kcat $tested_kcat.x only (Debian bookworm: kcat 1.7.1-2)"
[[ $jq_version =~ ^([0-9]+\.[0-9]+) && ${BASH_REMATCH[1]} == "$tested_jq" ]] \
    || die "jq ${jq_version:-of an unknown version} ($(command -v jq)): this agent is tested with jq $tested_jq.x only (Debian bookworm: jq 1.6-2.1)"
echo "shell agent $me: bash $BASH_VERSION, kcat $kcat_version, jq $jq_version" >&2

# Seconds (maybe fractional, e.g. 0.5) to milliseconds, without floating point.
to_ms() {
    local s=$1 int frac
    [[ $s =~ ^[0-9]*\.?[0-9]*$ && $s =~ [0-9] ]] || die "not a number of seconds: $s"
    int=${s%%.*} frac=
    [[ $s == *.* ]] && frac=${s#*.}
    frac=${frac}000
    echo $(( 10#${int:-0} * 1000 + 10#${frac:0:3} ))
}
now_ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }
rfc3339() {   # UTC, microseconds
    local t=$EPOCHREALTIME day
    TZ=UTC printf -v day '%(%Y-%m-%dT%H:%M:%S)T' "${t%.*}"
    echo "$day.${t#*.}Z"
}
emit() { jq -nc "$@"; }

[[ $missed =~ ^[1-9][0-9]*$ ]] || die "--missed-heartbeats must be a positive whole number, not $missed"
hb_ms=$(to_ms "$heartbeat")
window_ms=$(( hb_ms * missed ))
timeout_ms=$(to_ms "$task_timeout")
((hb_ms > 0)) || die "--heartbeat must be positive"
topic() { echo "group.$group.$1"; }
t_announce=$(topic announce) t_requests=$(topic requests) t_responses=$(topic responses)
t_status=$(topic tasks.status) t_skill_requests=
[[ -z $skill ]] || t_skill_requests=$(topic "skill.$skill.requests")
kcat_opts=(-b "$brokers" -X partitioner=murmur2_random)   # Java's murmur2, like every agent

# send TOPIC KEY TYPE CORRELATION_ID PAYLOAD_JSON
send() {
    jq -nc --arg type "$3" --arg cid "$4" --arg sender "$me" --arg ts "$(rfc3339)" \
        --argjson payload "$5" \
        '{type: $type, correlation_id: $cid, sender_id: $sender, timestamp: $ts, payload: $payload}' \
        | kcat -P "${kcat_opts[@]}" -t "$1" -k "$2" \
        || echo "could not produce to $1" >&2
}
identity() {
    local skills='[]'
    [[ -n $skill ]] && skills=$(jq -nc --arg s "$skill" '[$s]')
    jq -nc --arg id "$me" --arg joined "$joined_at" --argjson skills "$skills" \
        '{agent_id: $id, agent_name: ("Shell agent " + $id),
          soul_summary: "An example agent written in bash with kcat and jq.",
          capabilities: [], channels: [], model: "", joined_at: $joined,
          status: "active", skills: $skills}'
}
announce() {   # ACTION
    local prefix=$1 payload
    [[ $1 == heartbeat ]] && prefix=hb
    payload=$(jq -nc --arg action "$1" --argjson identity "$(identity)" '{action: $action, identity: $identity}')
    send "$t_announce" "$me" announce "$prefix-${EPOCHREALTIME/./}000" "$payload"
}
status() {     # TASK_ID STATUS
    send "$t_status" "$1" task_status "$1" \
        "$(jq -nc --arg t "$1" --arg me "$me" --arg s "$2" '{task_id: $t, responder_id: $me, status: $s}')"
}

# The eleven fixed group topics: name, manifest category, description.
core_topics=$(jq -nc --arg g "$group" '[
    ["announce", "control", "Join/leave/heartbeat announcements"],
    ["control.roster", "control", "Topic registry manifest and member capabilities"],
    ["control.onboarding", "control", "Agent onboarding protocol messages"],
    ["requests", "tasks", "General task requests"],
    ["responses", "tasks", "General task responses"],
    ["tasks.status", "tasks", "Task status updates and progress"],
    ["traces", "observe", "Trace spans for distributed tracing"],
    ["observe.audit", "observe", "Administrative audit events"],
    ["memory.shared", "memory", "Shared memory items via LFS"],
    ["memory.context", "memory", "Ephemeral context sharing"],
    ["orchestrator", "control", "Orchestrator discovery and coordination"]]
    | map({name: "group.\($g).\(.[0])", category: .[1], description: .[2], consumers: []})')

# Registers the skill: reads every manifest on control.roster (it is state), merges
# them entry by entry, adds this agent to its skill's two entries and publishes the
# whole manifest when that changed it.
register_skill() {
    local t manifest
    t=$(topic control.roster)
    manifest=$(kcat -C -e -q -J "${kcat_opts[@]}" -t "$t" -o beginning 2>/dev/null \
        | jq -c --arg g "$group" '(.payload | try fromjson catch null) | .payload?
            | select(type == "object" and .group_name == $g)' \
        | jq -nc --arg g "$group" --arg me "$me" --arg s "$skill" --arg ts "$(rfc3339)" \
            --argjson core "$core_topics" '
            def merge($a; $b):
                reduce (($b.skill_topics // [])[] | select(type == "object")) as $d ($a;
                    if any(.skill_topics[]; .name == $d.name)
                    then .skill_topics |= map(if .name == $d.name
                        then .consumers = ((.consumers + ($d.consumers // [])) | unique) else . end)
                    else .skill_topics += [$d + {consumers: (($d.consumers // []) | unique)}] end)
                | .version = ([.version // 0, $b.version // 0] | max);
            (reduce inputs as $m (null;
                merge(. // ($m + {skill_topics: [], core_topics: ($m.core_topics // [])}); $m))
             // {group_name: $g, version: 0, core_topics: $core, skill_topics: [],
                 updated_at: $ts, updated_by: ""}) as $old
            | merge($old; {version: 0, skill_topics: [("requests", "responses") as $d
                | {name: "group.\($g).skill.\($s).\($d)", category: "skill",
                   description: "Skill \($d) for \($s)", consumers: [$me]}]}) as $new
            | if $new.skill_topics != $old.skill_topics
              then $new + {version: ($new.version + 1), updated_at: $ts, updated_by: $me}
              else empty end')
    [[ -z $manifest ]] || send "$t" "$group" roster "roster-${EPOCHREALTIME/./}000" "$manifest"
}

# Topics this agent reads; it waits for them to exist.
read_topics=("$(topic announce)" "$(topic requests)" "$(topic tasks.status)")
[[ -n $skill ]] && read_topics+=("$(topic "skill.$skill.requests")")
for s in "${ask_skill[@]}"; do read_topics+=("$(topic "skill.$s.responses")"); done
deadline=$(( $(now_ms) + 60000 ))
for t in "${read_topics[@]}" "$(topic control.roster)"; do
    until kcat -L "${kcat_opts[@]}" -t "$t" -J 2>/dev/null \
            | jq -e '.topics[0].partitions | length > 0' >/dev/null; do
        (( $(now_ms) < deadline )) || die "topic $t does not exist (kcat cannot create topics; create the group's and the skill's topics first)"
        sleep 0.2
    done
done

# One kcat per topic, started by record time (announce one expiry window back, the
# rest from now), each piped through jq into one FIFO: one line per record, fields
# separated by \x1f, the content kept as a JSON string. Lines stay under PIPE_BUF,
# so the writers never interleave.
workdir=$(mktemp -d)
mkfifo "$workdir/records"
exec 3<>"$workdir/records"
pids=()
cleanup() {
    ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null
    rm -rf "$workdir"
}
trap cleanup EXIT
started=$(now_ms)
joined_at=$(TZ=UTC printf '%(%Y-%m-%dT%H:%M:%S)TZ' -1)
extract='(.payload | try fromjson catch null) as $e
    | select(($e | type) == "object" and (($e.payload // null) | type) == "object")
    | $e.payload as $p
    | [.topic, .ts, $e.type, $e.sender_id, $p.action, $p.identity.agent_id,
       (($p.identity.skills // []) | if type == "array" then join(",") else "" end),
       $p.task_id, $p.requester_id, $p.target_id, $p.skill, $p.status, $p.responder_id]
    | map(if . == null then "" else tostring | gsub("\u001f"; " ") end)
    | . + [($p.content // "" | tostring | tojson)]
    | join("\u001f")'
for t in "${read_topics[@]}"; do
    since=$started
    [[ $t == "$t_announce" ]] && since=$(( started - window_ms ))
    kcat -C -u -q -J "${kcat_opts[@]}" -t "$t" -o "s@$since" \
        > >(jq --unbuffered -r "$extract" >&3) 2> >(grep -v '^%' >&2) &
    pids+=($!)
done

declare -A last_seen=() skills_of=() winners=() claimed=() done_tasks=()
announce join
[[ -z $skill ]] || register_skill
last_seen[$me]=$(now_ms)
skills_of[$me]=$skill
emit --arg id "$me" '{event: "ready", agent_id: $id}'
next_beat=$(( $(now_ms) + hb_ms ))
extra_beat_at=0
printed_roster=
stopping=0
trap 'stopping=1' TERM INT

run_task() {   # TOPIC TASK_ID REQUESTER SKILL CONTENT_JSON
    local topic=$1 task=$2 answer_topic type answer
    [[ -n ${done_tasks[$task]:-} ]] && return
    done_tasks[$task]=1
    answer=$(jq -nc --arg t "$task" --arg me "$me" --argjson c "$5" \
        '{task_id: $t, responder_id: $me, content: ($me + " (shell) did: " + $c), status: "completed"}')
    if [[ $topic == "$t_requests" ]]; then
        answer_topic=$t_responses type=response
    else
        answer_topic=${topic%.requests}.responses type=skill_response
    fi
    send "$answer_topic" "$task" "$type" "$task" "$answer"
    status "$task" completed
    emit --arg t "$task" --arg r "$3" --arg s "$4" '{event: "served", task_id: $t, requester_id: $r, skill: $s}'
}

on_record() {
    local t=$1 ts=$2 type=$3 sender=$4 action=$5 agent=$6 skills=$7 task=$8 requester=$9
    local target=${10} rskill=${11} st=${12} responder=${13} content=${14}
    if [[ $t == "$t_announce" && $type == announce ]]; then
        [[ -n $agent && $agent == "$sender" && $agent != "$me" ]] || return
        case $action in
            leave) unset "last_seen[$agent]" "skills_of[$agent]" ;;
            join|heartbeat)
                local now; now=$(now_ms)
                last_seen[$agent]=$(( ts < now ? ts : now ))
                skills_of[$agent]=$skills
                if [[ $action == join ]] && (( now >= extra_beat_at )); then
                    extra_beat_at=$(( now + hb_ms ))   # answer a newcomer at once
                    announce heartbeat
                fi ;;
        esac
    elif [[ $t == "$t_status" || ($t == "$t_responses" && $type == task_status) ]]; then
        [[ $st == accepted && -n $task && -z ${winners[$task]:-} && $responder == "$sender" ]] || return
        winners[$task]=$sender
        if [[ -n ${claimed[$task]:-} ]]; then
            local claim=${claimed[$task]}
            unset "claimed[$task]"
            if [[ $sender == "$me" ]]; then
                local ctopic=${claim%%$'\x1f'*} rest=${claim#*$'\x1f'}
                local creq=${rest%%$'\x1f'*} rest2=${rest#*$'\x1f'}
                run_task "$ctopic" "$task" "$creq" "${rest2%%$'\x1f'*}" "${rest2#*$'\x1f'}"
            fi
        fi
    elif [[ ($t == "$t_requests" && $type == request) || ( -n $skill && $t == "$t_skill_requests") ]]; then
        [[ -n $task && $sender != "$me" && $requester != "$me" ]] || return
        if [[ -n $target ]]; then
            if [[ $target == "$me" ]]; then
                status "$task" accepted
                run_task "$t" "$task" "$requester" "$rskill" "$content"
            fi
            return
        fi
        [[ -z $rskill || $rskill == "$skill" ]] || return
        [[ -z ${winners[$task]:-} && -z ${claimed[$task]:-} ]] || return
        claimed[$task]="$t"$'\x1f'"$requester"$'\x1f'"$rskill"$'\x1f'"$content"
        status "$task" accepted
    elif [[ $t == *.responses && ($type == response || $type == skill_response) ]]; then
        local i
        for i in "${!ask_task[@]}"; do
            if [[ -n ${ask_task[i]} && ${ask_task[i]} == "$task" && ${ask_done[i]} == 0 ]]; then
                ask_done[i]=1
                [[ $st == completed ]] || failed_asks=$(( failed_asks + 1 ))
                emit --argjson i "$i" --arg s "${ask_skill[i]}" --arg t "$task" --arg st "$st" \
                    --arg r "$responder" --argjson c "$content" \
                    '{event: "answer", ask: $i, skill: $s, task_id: $t, status: $st, responder_id: $r, content: $c}'
            fi
        done
    fi
}

tick() {
    local now i id ids=() u
    now=$(now_ms)
    if (( now >= next_beat )); then
        next_beat=$(( now + hb_ms ))
        last_seen[$me]=$now
        announce heartbeat
    fi
    for id in "${!last_seen[@]}"; do
        if [[ $id == "$me" ]] || (( now - last_seen[$id] <= window_ms )); then ids+=("$id"); fi
    done
    local sorted
    sorted=$(printf '%s\n' "${ids[@]}" | sort | paste -sd, -)
    if [[ $sorted != "$printed_roster" ]]; then
        printed_roster=$sorted
        emit --arg m "$sorted" '{event: "roster", members: ($m | split(","))}'
    fi
    for i in "${!ask_skill[@]}"; do
        if [[ -z ${ask_task[i]} ]]; then
            for id in "${ids[@]}"; do
                [[ $id != "$me" && ",${skills_of[$id]:-}," == *",${ask_skill[i]},"* ]] || continue
                u=$(</proc/sys/kernel/random/uuid)
                ask_task[i]=${u//-/}
                ask_deadline[i]=$(( now + timeout_ms ))
                send "$(topic "skill.${ask_skill[i]}.requests")" "${ask_task[i]}" skill_request "${ask_task[i]}" \
                    "$(jq -nc --arg t "${ask_task[i]}" --arg c "${ask_content[i]}" --arg me "$me" --arg s "${ask_skill[i]}" \
                        '{task_id: $t, description: $c[0:80], content: $c, requester_id: $me, skill: $s}')"
                break
            done
        elif [[ ${ask_done[i]} == 0 ]] && (( now > ask_deadline[i] )); then
            ask_done[i]=1
            failed_asks=$(( failed_asks + 1 ))
            emit --argjson i "$i" --arg s "${ask_skill[i]}" --arg t "${ask_task[i]}" \
                '{event: "answer", ask: $i, skill: $s, task_id: $t, status: "timeout", responder_id: "", content: ""}'
        fi
    done
}

failed_asks=0
while ((!stopping)); do
    while IFS=$'\x1f' read -r -t 0.05 -u 3 -a f; do
        ((${#f[@]} >= 14)) && on_record "${f[@]:0:14}"
    done
    tick
    if ((exit_after_asks)); then
        pending=0
        for d in "${ask_done[@]}"; do ((d)) || pending=1; done
        ((pending)) || break
    fi
done
announce leave
exit $(( failed_asks > 0 ))
