// coffer's operator console: plain DOM, no framework, no build step. The token lives in this
// page's memory only (never in storage); data is always written with textContent.
"use strict";

const state = {
  token: null,
  project: null,
  instances: new Map(),
  flows: new Map(),
  streams: [],
  timers: [],
};

const $ = (id) => document.getElementById(id);

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function row(cells, attrs) {
  const tr = el("tr", null, attrs);
  for (const cell of cells) {
    if (cell instanceof Node) { const td = el("td"); td.appendChild(cell); tr.appendChild(td); }
    else tr.appendChild(el("td", cell));
  }
  return tr;
}

async function api(path, options) {
  const response = await fetch(`/v1.0/${state.project}${path}`, {
    ...(options || {}),
    headers: { "X-Auth-Token": state.token, "Content-Type": "application/json" },
  });
  if (response.status === 401) { logout("The session ended: log in again."); throw new Error("401"); }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const domain = { id: $("domain").value };
  const body = { auth: {
    identity: { methods: ["password"], password: { user: { name: $("username").value, domain, password: $("password").value } } },
    scope: { project: { name: $("project").value, domain } },
  } };
  let response;
  try {
    response = await fetch("/v3/auth/tokens", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (e) { $("login-error").textContent = `coffer cannot be reached: ${e}`; return; }
  if (response.status !== 201) { $("login-error").textContent = `Log in refused (HTTP ${response.status}).`; return; }
  const token = (await response.json()).token;
  if (!token.roles.some((r) => r.name === "admin")) { $("login-error").textContent = "The console is for admins: this user has no admin role on the project."; return; }
  state.token = response.headers.get("X-Subject-Token");
  state.project = token.project.id;
  $("password").value = "";
  $("login").hidden = true;
  $("nav").hidden = false;
  $("who").textContent = `${token.user.name} @ ${token.project.name}`;
  start();
}

function logout(message) {
  for (const s of state.streams) s.abort();
  for (const t of state.timers) clearInterval(t);
  historyStream = null;
  Object.assign(state, { token: null, project: null, streams: [], timers: [] });
  state.instances.clear(); state.flows.clear();
  $("overview").hidden = true; $("instance-page").hidden = true; $("nav").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

// Server-Sent Events read through fetch, so that the token goes in a header (EventSource
// cannot send one). Reconnects with Last-Event-ID after a break.
function follow(path, onEvent, onState) {
  const control = new AbortController();
  state.streams.push(control);
  let last = null;
  (async () => {
    while (!control.signal.aborted) {
      try {
        const headers = { "X-Auth-Token": state.token };
        if (last !== null) headers["Last-Event-ID"] = String(last);
        const response = await fetch(`/v1.0/${state.project}${path}`, { headers, signal: control.signal });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        if (onState) onState("live");
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = parseEvent(block);
            if (event) { last = event.id; onEvent(event); }
          }
        }
      } catch (e) {
        if (control.signal.aborted) return;
      }
      if (onState) onState("reconnecting");
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  return control;
}

function parseEvent(block) {
  let id = null, data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("id: ")) id = Number(line.slice(4));
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (id === null || !data) return null;
  try { return JSON.parse(data); } catch (e) { return null; }
}

function age(iso) {
  if (!iso) return "none yet";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso + (iso.endsWith("Z") ? "" : "Z"))) / 1000));
  return `${seconds} s`;
}

// ---- the overview ----

async function loadInstances() {
  const body = await api("/mgmt/instances?limit=1000");
  state.instances.clear();
  for (const i of body.instances) state.instances.set(i.id, i);
  renderInstances();
}

function renderInstances() {
  const tbody = $("instances").tBodies[0];
  tbody.replaceChildren();
  const counts = {};
  const list = [...state.instances.values()].sort((a, b) => (a.status + a.name).localeCompare(b.status + b.name));
  for (const i of list) {
    counts[i.status] = (counts[i.status] || 0) + 1;
    const link = el("a", i.name, { href: `#instance/${encodeURIComponent(i.id)}` });
    tbody.appendChild(row([link, i.status, i.operating_status || "-", age(i.service_status_updated), i.tenant_id || "", i.id],
      { "data-instance-id": i.id, "data-status": i.status }));
    tbody.lastChild.cells[1].className = "status";
    tbody.lastChild.cells[5].className = "id";
  }
  $("instance-counts").textContent = Object.entries(counts).map(([s, n]) => `${s} ${n}`).join(" · ") || "none";
}

async function loadFlows() {
  const body = await api("/mgmt/flows?status=running&limit=1000");
  state.flows.clear();
  for (const f of body.flows) state.flows.set(f.id, f);
  renderFlows();
}

function renderFlows() {
  const tbody = $("flows").tBodies[0];
  tbody.replaceChildren();
  for (const f of state.flows.values()) {
    tbody.appendChild(row([f.kind, f.target_id, `${f.step_name} (${f.step})`, f.attempts ?? 0, f.owner || "-",
      f.lease_left_ms !== undefined ? `${Math.round(f.lease_left_ms / 1000)} s` : "-"], { "data-flow-id": f.id }));
    tbody.lastChild.cells[1].className = "id";
  }
  if (!state.flows.size) tbody.appendChild(row(["none"]));
}

async function loadTree() {
  const body = await api("/mgmt/actors");
  $("tree-node").textContent = `node ${body.node_id}`;
  const list = el("ul");
  list.appendChild(treeNode(body.tree));
  $("tree").replaceChildren(list);
}

function treeNode(node) {
  const item = el("li", null, { "data-kind": node.kind, "data-id": node.id, "data-restarts": String(node.restarts ?? 0) });
  item.appendChild(el("span", `${node.kind} `));
  item.appendChild(el("span", node.id, { class: "id" }));
  if (node.kind !== "system") item.appendChild(el("span", ` restarts: ${node.restarts}`, { class: "restarts" }));
  if (typeof node.mailbox_depth === "number") item.appendChild(el("span", ` mailbox: ${node.mailbox_depth}`, { class: "mailbox" }));
  if (node.last_failure) item.appendChild(el("span", ` last failure: ${node.last_failure.reason} (${node.last_failure.at})`, { class: "failure" }));
  const children = node.children || [];
  if (children.length) {
    const sub = el("ul");
    for (const child of children) sub.appendChild(treeNode(child));
    if (node.children_total > children.length) sub.appendChild(el("li", `… and ${node.children_total - children.length} more`));
    item.appendChild(sub);
  }
  return item;
}

async function loadSupervisionEvents() {
  const body = await api("/mgmt/supervision-events?latest=30");
  const list = $("events");
  list.replaceChildren();
  for (const e of body.events) addSupervisionEvent(e);
}

function addSupervisionEvent(e) {
  const list = $("events");
  const kind = e.kind || e.actor_kind;
  list.prepend(el("li", `${e.at} ${kind} ${e.actor_id} ${e.event}${e.reason ? ": " + e.reason : ""}`));
  while (list.children.length > 30) list.lastChild.remove();
}

// Every process of the cluster, each with the actors it last reported; the cluster's leases.
async function loadServices() {
  const body = await api("/mgmt/services");
  const tbody = $("services").tBodies[0];
  tbody.replaceChildren();
  for (const s of body.services) {
    const actors = el("div");
    if (s.actors) {
      actors.appendChild(el("div", Object.entries(s.actors.counts || {}).map(([k, n]) => `${k} ${n}`).join(", ")));
      const list = el("ul");
      for (const a of s.actors.actors || []) {
        if (!a.restarts && !a.last_failure) continue;
        list.appendChild(el("li", `${a.kind} ${a.id}: restarts ${a.restarts}${a.last_failure ? ", last failure: " + a.last_failure.reason : ""}`));
      }
      if (list.children.length) actors.appendChild(list);
    }
    tbody.appendChild(row([s.role, s.node_id, s.host, s.pid, s.state, s.last_seen, actors], { "data-service-id": s.id, "data-role": s.role }));
  }
  const leases = $("leases");
  leases.replaceChildren();
  for (const l of body.leases || []) leases.appendChild(el("li", `${l.name}: held by ${l.owner} until ${l.lease_until}`));
  if (!leases.children.length) leases.appendChild(el("li", "none"));
}

let treeSoon = null;
let instancesSoon = null;
function onStreamEvent(e) {
  if (e.type === "instance") {
    const known = state.instances.get(e.instance.id) || { id: e.instance.id, tenant_id: e.project_id };
    if (e.instance.status === "DELETED") state.instances.delete(e.instance.id);
    else state.instances.set(e.instance.id, { ...known, name: e.instance.name, status: e.instance.status, operating_status: e.instance.operating_status });
    renderInstances();
    // The list's other columns (project, last heartbeat) are read again after a burst.
    clearTimeout(instancesSoon);
    instancesSoon = setTimeout(() => loadInstances().catch(() => {}), 500);
  } else if (e.type === "flow") {
    const f = e.flow;
    if (f.status === "running") state.flows.set(f.flow_id, { ...(state.flows.get(f.flow_id) || {}), id: f.flow_id, kind: f.flow_kind, target_id: f.target_id, step: f.step, step_name: f.step_name, attempts: f.attempts, owner: f.owner });
    else state.flows.delete(f.flow_id);
    renderFlows();
  } else if (e.type === "supervision") {
    addSupervisionEvent({ at: e.at, ...e.supervision });
    clearTimeout(treeSoon);
    treeSoon = setTimeout(() => loadTree().catch(() => {}), 200);
  }
  if (location.hash === `#instance/${encodeURIComponent(e.instance?.id || e.flow?.target_id || "")}`) {
    showInstance(decodeURIComponent(location.hash.slice(10))).catch(() => {});
  }
}

function start() {
  route();
  state.streams.push(follow("/events?all_projects=true", onStreamEvent, (s) => { $("live").textContent = `stream: ${s}`; }));
  const every = (ms, f) => state.timers.push(setInterval(() => f().catch(() => {}), ms));
  every(2000, loadTree);           // restart counters live in each process, not in the stream
  every(1000, async () => renderInstances());
  every(10000, loadInstances);     // heartbeats are not events: their times are read again
  every(5000, loadServices);
}

// ---- one instance ----

let historyStream = null;
async function showInstance(id) {
  $("overview").hidden = true;
  $("instance-page").hidden = false;
  $("instance-title").textContent = id;
  const path = encodeURIComponent(id);
  const view = (await api(`/mgmt/instances/${path}`)).instance;
  const facts = $("instance-facts");
  facts.replaceChildren();
  for (const [k, v] of [["Name", view.name], ["Status", view.status], ["Operating status", view.operating_status || "-"],
    ["Project", view.tenant_id], ["Datastore", `${view.datastore.type} ${view.datastore.version}`],
    ["Last heartbeat", `${view.service_status_updated || "none"} (${age(view.service_status_updated)} ago)`]]) {
    facts.appendChild(el("dt", k)); facts.appendChild(el("dd", v));
  }
  $("instance-fault").textContent = view.fault ? `${view.fault.message} (${view.fault.created})` : "none";
  const flows = (await api(`/mgmt/flows?target_id=${encodeURIComponent(id)}`)).flows;
  const tbody = $("instance-flows").tBodies[0];
  tbody.replaceChildren();
  for (const f of flows) tbody.appendChild(row([f.kind, `${f.step_name} (${f.step})`, f.status, f.attempts, f.last_error || "-", f.created]));
  const logs = $("instance-logs");
  logs.replaceChildren();
  try {
    const body = await fetch(`/v1.0/${encodeURIComponent(view.tenant_id)}/instances/${path}/log`, { headers: { "X-Auth-Token": state.token } });
    const list = body.ok ? (await body.json()).logs : [];
    for (const log of list) logs.appendChild(el("li", `${log.name} (${log.type}, ${log.status}) — POST /v1.0/${view.tenant_id}/instances/${id}/log {"name": "${log.name}", "publish": 1}`));
    if (!list.length) logs.appendChild(el("li", "none offered"));
  } catch (e) { logs.appendChild(el("li", "unavailable")); }
  if (historyStream?.id !== id) {
    if (historyStream) historyStream.control.abort();
    $("instance-history").replaceChildren();
    const control = follow(`/events?all_projects=true&target_id=${encodeURIComponent(id)}&last_event_id=0`, (e) => {
      const text = e.type === "instance" ? `${e.at} ${e.instance.status} ${e.instance.operating_status || ""} (task: ${e.instance.task_description || "-"})`
        : e.type === "flow" ? `${e.at} flow ${e.flow.flow_kind} ${e.flow.step_name} ${e.flow.status}`
        : e.type === "supervision" ? `${e.at} actor ${e.supervision.actor_kind} ${e.supervision.event}${e.supervision.reason ? ": " + e.supervision.reason : ""}`
        : `${e.at} ${e.type}`;
      $("instance-history").appendChild(el("li", text));
    });
    historyStream = { id, control };
  }
}

function route() {
  const hash = location.hash;
  if (hash.startsWith("#instance/")) { showInstance(decodeURIComponent(hash.slice(10))).catch(() => {}); return; }
  if (historyStream) { historyStream.control.abort(); historyStream = null; }
  $("instance-page").hidden = true;
  $("overview").hidden = false;
  Promise.all([loadInstances(), loadFlows(), loadTree(), loadSupervisionEvents(), loadServices()]).catch(() => {});
}

window.addEventListener("hashchange", () => { if (state.token) route(); });
document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout());
});
