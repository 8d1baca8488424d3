// KafClaw dashboard: lists recent tasks and pending approvals through the dashboard API,
// the group's members and recent group tasks when a Kafka group is attached, and the
// orchestrator's agents and zones when an orchestrator is attached.
// The token (when the gateway has one) is kept in sessionStorage and sent as a bearer
// header; data is always inserted as text, never as HTML.
"use strict";

const KEY = "kafclaw-token";
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const token = sessionStorage.getItem(KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    $("login").style.display = "block";
    throw new Error("the gateway wants its auth token");
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function when(ts) {
  return ts ? new Date(ts).toLocaleString() : "";
}

// Why the last Approve/Deny click was refused ("" when it went through). The refresh
// that follows a click would otherwise wipe the reason before anyone could read it, so
// it stays on the page until the next click or token.
let decisionError = "";

async function decide(id, approve) {
  decisionError = "";
  try {
    await api("/api/v1/approvals/" + encodeURIComponent(id), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ approve }),
    });
  } catch (e) {
    decisionError = (approve ? "Approve" : "Deny") + ": " + e.message;
  }
  await refresh();
}

async function refresh() {
  try {
    const s = await api("/api/v1/status");
    $("status").textContent =
      "mode " + s.mode + " · agent " + (s.agent_id || "-") + " · version " + s.version +
      " · up " + s.uptime_seconds + " s";
    const a = await api("/api/v1/approvals/pending?limit=50");
    const ab = $("approvals");
    ab.replaceChildren();
    for (const x of a.approvals) {
      const tr = document.createElement("tr");
      cell(tr, when(x.requested_at));
      cell(tr, x.tool);
      cell(tr, x.tier);
      cell(tr, JSON.stringify(x.args), "text");
      cell(tr, x.sender + " (" + x.channel + ")");
      const td = cell(tr, "");
      for (const [label, yes] of [["Approve", true], ["Deny", false]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.addEventListener("click", () => decide(x.approval_id, yes));
        td.appendChild(b);
      }
      ab.appendChild(tr);
    }
    if (a.approvals.length === 0) cell(ab.appendChild(document.createElement("tr")), "none");
    const t = await api("/api/v1/tasks?limit=25");
    const tb = $("tasks");
    tb.replaceChildren();
    for (const x of t.tasks) {
      const tr = document.createElement("tr");
      cell(tr, when(x.created_at));
      cell(tr, x.status, x.status);
      cell(tr, x.channel);
      cell(tr, x.sender);
      cell(tr, x.content_in, "text");
      cell(tr, x.error || x.content_out, "text");
      cell(tr, x.trace_id);
      tb.appendChild(tr);
    }
    await refreshGroup(s.group);
    await refreshOrchestrator(s.orchestrator);
    $("error").textContent = decisionError;
    $("login").style.display = "none";
  } catch (e) {
    $("error").textContent = e.message;
  }
}

async function refreshGroup(group) {
  $("group").hidden = !(group && group.wired);
  if ($("group").hidden) return;
  $("group-summary").textContent =
    "· " + group.group_name + " as " + group.agent_id + (group.joined ? " (joined)" : " (not joined)");
  const m = await api("/api/v1/group/members");
  const mb = $("group-members");
  mb.replaceChildren();
  for (const x of m.members) {
    const tr = document.createElement("tr");
    cell(tr, x.agent_id + (x.is_self ? " (this agent)" : ""));
    cell(tr, x.role);
    cell(tr, x.zone);
    cell(tr, (x.skills || []).join(", "));
    cell(tr, when(x.last_heartbeat));
    mb.appendChild(tr);
  }
  if (m.members.length === 0) cell(mb.appendChild(document.createElement("tr")), "none");
  const d = await api("/api/v1/group/tasks?limit=25");
  const db = $("group-tasks");
  db.replaceChildren();
  for (const x of d.delegations) {
    const tr = document.createElement("tr");
    cell(tr, when(x.created_at));
    cell(tr, x.event_type, x.event_type);
    cell(tr, x.task_id);
    cell(tr, x.sender_id);
    cell(tr, x.receiver_id);
    cell(tr, x.depth);
    cell(tr, x.summary, "text");
    cell(tr, x.trace_id);
    db.appendChild(tr);
  }
  if (d.delegations.length === 0) cell(db.appendChild(document.createElement("tr")), "none");
}

async function refreshOrchestrator(orch) {
  $("orchestrator").hidden = !(orch && orch.wired);
  if ($("orchestrator").hidden) return;
  $("orchestrator-summary").textContent =
    "· " + orch.agent_id + " as " + orch.role + (orch.zone_id ? " in zone " + orch.zone_id : "");
  const a = await api("/api/v1/orchestrator/agents");
  const ab = $("orchestrator-agents");
  ab.replaceChildren();
  for (const x of a.agents) {
    const tr = document.createElement("tr");
    cell(tr, x.agent_id + (x.agent_id === orch.agent_id ? " (this agent)" : ""));
    cell(tr, x.role);
    cell(tr, x.parent_id);
    cell(tr, x.zone_id);
    cell(tr, x.status, x.status);
    cell(tr, when(x.last_seen));
    ab.appendChild(tr);
  }
  if (a.agents.length === 0) cell(ab.appendChild(document.createElement("tr")), "none");
  const z = await api("/api/v1/orchestrator/zones");
  const zb = $("orchestrator-zones");
  zb.replaceChildren();
  for (const x of z.zones) {
    const tr = document.createElement("tr");
    cell(tr, x.zone_id + (x.name && x.name !== x.zone_id ? " (" + x.name + ")" : ""));
    cell(tr, x.visibility);
    cell(tr, x.owner_id);
    cell(tr, (x.members || []).join(", "));
    cell(tr, x.is_member ? "member" : "");
    zb.appendChild(tr);
  }
}

$("save-token").addEventListener("click", () => {
  sessionStorage.setItem(KEY, $("token").value.trim());
  $("token").value = "";
  decisionError = "";
  refresh();
});
refresh();
setInterval(refresh, 5000);
