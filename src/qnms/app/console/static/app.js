// qnms console: login, live picture over server-sent events, units, map, actions.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  me: null, units: [], net: null, events: null,
  selectedUnit: null, selected: null, // {kind, id}
  unitHistory: {}, elementHistory: {}, linkStates: {},
};
// what the page showed and when (page clock): read by tests and bench/console_latency.py
window.qnmsSeen = [];
let map = null;

async function api(method, url, body) {
  const init = {method, headers: {}, credentials: "same-origin"};
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  return {ok: resp.ok, status: resp.status, data};
}

function errorText(d) {
  if (!d) return "request failed";
  if (d.error === "rpc-error") {
    return `rpc-error ${d["error-tag"]}` + (d["error-app-tag"] ? ` (${d["error-app-tag"]})` : "") +
      (d["error-path"] ? `\npath: ${d["error-path"]}` : "") + `\n${d["error-message"]}`;
  }
  return (d.field ? `${d.field}: ` : "") + (d.message || d.error);
}

// -- login ------------------------------------------------------------------------

async function login(ev) {
  ev.preventDefault();
  $("#login-error").textContent = "";
  $("#login-button").disabled = true;
  const r = await api("POST", "/api/login", {user: $("#login-user").value, password: $("#login-password").value});
  $("#login-button").disabled = false;
  if (!r.ok) { $("#login-error").textContent = errorText(r.data); return; }
  start(r.data);
}

async function logout() {
  await api("POST", "/api/logout");
  location.reload();
}

function start(me) {
  state.me = me;
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#whoami").hidden = false;
  $("#logout").hidden = false;
  $("#whoami").textContent = `${me.user}${me.operator ? " (operator)" : ""}`;
  document.body.dataset.user = me.user;
  map = new TopologyMap($("#topology"), select);
  if (!me.topology) $("#network-name").textContent = "(the northbound serves no topology)";
  loadEndpoints();
  connect();
}

async function loadEndpoints() {
  const r = await api("GET", "/api/data/applications");
  const apps = member(member(r.data, "applications"), "application") || [];
  const list = $("#endpoint-urns");
  for (const a of apps) {
    const o = document.createElement("option");
    o.value = a.endpoint;
    o.textContent = a.name;
    list.appendChild(o);
  }
}

// -- the live feed ------------------------------------------------------------------

function connect() {
  const es = new EventSource("/api/events");
  state.events = es;
  es.onopen = () => { $("#live").dataset.state = "on"; $("#live").textContent = "live"; };
  es.onerror = () => { $("#live").dataset.state = "off"; $("#live").textContent = "reconnecting"; };
  es.addEventListener("units", (e) => onUnits(JSON.parse(e.data)));
  es.addEventListener("networks", (e) => onNetworks(JSON.parse(e.data)));
  es.addEventListener("notification", (e) => onNotification(JSON.parse(e.data)));
  es.addEventListener("closed", () => { es.close(); $("#live").textContent = "session ended"; });
}

function now() { return performance.timeOrigin + performance.now(); }

function onUnits(doc) {
  state.units = member(member(doc, "service-units"), "service-unit") || [];
  const t = now();
  for (const u of state.units) {
    const h = (state.unitHistory[u.name] ||= []);
    const m = u.qos?.measured || {};
    h.push({t, fidelity: num(m["achieved-fidelity"]), delivered: num(u.delivery?.["delivered-units"]) ?? 0});
    if (h.length > 2000) h.shift();
  }
  renderUnits();
  window.qnmsSeen.push({t: now(), what: "units", n: state.units.length});
}

function onNetworks(doc) {
  const net = quantumNetwork(doc);
  if (!net) return;
  state.net = net;
  $("#network-name").textContent = net.id || "";
  map.render(net);
  const t = now();
  for (const l of net.links) {
    const h = (state.elementHistory["link:" + l.id] ||= []);
    const last = h[h.length - 1];
    if (!last || last.fidelity !== l.fidelity || last.rate !== l.rate) h.push({t, fidelity: l.fidelity, rate: l.rate});
    if (state.linkStates[l.id] !== undefined && state.linkStates[l.id] !== l.state) {
      window.qnmsSeen.push({t: now(), what: "link", link: l.id, state: l.state});
    }
    state.linkStates[l.id] = l.state;
  }
  for (const n of net.nodes) {
    const h = (state.elementHistory["node:" + n.id] ||= []);
    const last = h[h.length - 1];
    if (!last || last.occupancy !== n.occupancy || last.quis !== n.quis) h.push({t, occupancy: n.occupancy, quis: n.quis});
  }
  highlightSelected();
  if (state.selected) showPanel();
}

function onNotification(doc) {
  const n = doc["ietf-restconf:notification"] || {};
  const c = n["qnms-service:service-unit-state-change"] || {};
  const li = document.createElement("li");
  li.dataset.unit = c.name || "";
  li.dataset.state = c.state || "";
  li.textContent = `${n.eventTime} ${c.name}: ${c["previous-state"] || "-"} -> ${c.state}` + (c.reason ? ` (${c.reason})` : "");
  $("#events").prepend(li);
}

// -- units --------------------------------------------------------------------------

function pathOf(u) {
  const hops = (u.path?.hop || []).slice().sort((a, b) => a.index - b.index);
  return hops.map((h) => h.node);
}

function cell(tr, field, text) {
  const td = document.createElement("td");
  td.dataset.field = field;
  td.textContent = text;
  tr.appendChild(td);
  return td;
}

function renderUnits() {
  const tbody = $("#units-table tbody");
  tbody.textContent = "";
  for (const u of state.units) {
    const tr = document.createElement("tr");
    tr.dataset.unit = u.name;
    tr.dataset.state = u.state || "";
    if (u.name === state.selectedUnit) tr.classList.add("selected");
    const m = u.qos?.measured || {};
    const r = u.restoration?.counters || {};
    cell(tr, "name", u.name);
    cell(tr, "state", u.state || "-");
    cell(tr, "endpoints", (u.endpoint || []).map((e) => e.urn).join("\n"));
    cell(tr, "path", pathOf(u).join(" > ") || "-");
    cell(tr, "quis", (u.qui || []).map((q) => `${q.id} (${q.domain})`).join("\n") || "-");
    cell(tr, "target-fidelity", u.qos?.["target-fidelity"] ?? "-");
    cell(tr, "achieved-fidelity", m["achieved-fidelity"] ?? "-");
    cell(tr, "delivered", u.delivery?.["delivered-units"] ?? "0");
    const restorations = (num(r["refresh-count"]) || 0) + (num(r["reroute-count"]) || 0) + (num(u["rebinding-count"]) || 0);
    cell(tr, "restorations", String(restorations));
    cell(tr, "last", [r["last-action"], u["failure-reason"]].filter(Boolean).join("; ") || "-");
    const td = document.createElement("td");
    const del = document.createElement("button");
    del.textContent = "Delete";
    del.className = "delete";
    del.dataset.unit = u.name;
    del.addEventListener("click", (ev) => { ev.stopPropagation(); deleteUnit(u.name); });
    td.appendChild(del);
    tr.appendChild(td);
    tr.addEventListener("click", () => selectUnit(u.name));
    tbody.appendChild(tr);
  }
  highlightSelected();
  drawUnitCharts();
}

function selectUnit(name) {
  state.selectedUnit = name;
  for (const tr of document.querySelectorAll("#units-table tr.selected")) tr.classList.remove("selected");
  document.querySelector(`#units-table tr[data-unit="${CSS.escape(name)}"]`)?.classList.add("selected");
  highlightSelected();
  drawUnitCharts();
}

function highlightSelected() {
  if (!map) return;
  const u = state.units.find((x) => x.name === state.selectedUnit);
  map.highlight(u?.name, u ? pathOf(u) : null, u?.state);
}

function drawUnitCharts() {
  const name = state.selectedUnit;
  const h = state.unitHistory[name] || [];
  $("#unit-chart-title").textContent = name ? `Unit ${name}` : "Select a unit for its live charts";
  drawChart($("#unit-fidelity-chart"), h.map((p) => ({t: p.t, v: p.fidelity})), "achieved fidelity");
  drawChart($("#unit-rate-chart"), rateOf(h.map((p) => ({t: p.t, v: p.delivered}))), "delivery rate (units/s)");
}

async function deleteUnit(name) {
  $("#unit-error").textContent = "";
  const r = await api("DELETE", `/api/service-units/${encodeURIComponent(name)}`);
  if (!r.ok) $("#unit-error").textContent = errorText(r.data);
}

async function createUnit(ev) {
  ev.preventDefault();
  const err = $("#create-error");
  err.textContent = "";
  delete err.dataset.field;
  const body = Object.fromEntries(new FormData($("#create-form")).entries());
  const r = await api("POST", "/api/service-units", body);
  if (!r.ok) {
    err.textContent = errorText(r.data);
    err.dataset.field = r.data?.field || r.data?.["error-path"] || "";
    err.dataset.tag = r.data?.["error-tag"] || r.data?.error || "";
    return;
  }
  selectUnit(body.name);
}

// -- the side panel -----------------------------------------------------------------

function select(kind, id) {
  state.selected = {kind, id};
  map.select(kind, id);
  showPanel();
}

function channelUnder(link) {
  // the channel a fault cuts: a quantum channel itself, or the one a quantum link runs over
  if (link.kind === "quantum-channel") return link;
  if (link.kind === "quantum-link" && link.channel) return state.net.links.find((l) => l.id === link.channel);
  return null;
}

function showPanel() {
  const {kind, id} = state.selected;
  const net = state.net;
  const item = kind === "node" ? net.nodes.find((n) => n.id === id) : net.links.find((l) => l.id === id);
  $("#panel-title").textContent = `${kind} ${id}`;
  $("#panel").dataset.selected = `${kind}:${id}`;
  $("#panel-json").textContent = item ? JSON.stringify(item.raw, null, 1) : "(gone)";
  const h = state.elementHistory[`${kind}:${id}`] || [];
  if (kind === "node") {
    drawChart($("#element-chart"), h.map((p) => ({t: p.t, v: p.occupancy})), "memory occupancy (%)");
    drawChart($("#element-chart-2"), h.map((p) => ({t: p.t, v: p.quis})), "active QUIs");
  } else {
    drawChart($("#element-chart"), h.map((p) => ({t: p.t, v: p.fidelity})), "link fidelity (mean)");
    drawChart($("#element-chart-2"), h.map((p) => ({t: p.t, v: p.rate})), "generation rate (pairs/s)");
  }
  const channel = kind === "link" && item ? channelUnder(item) : null;
  const canFault = state.me.faults && channel;
  $("#panel-faults").hidden = !canFault;
  if (canFault) $("#panel-faults").dataset.channel = channel.id.split("/").pop();
}

async function fault(kind) {
  const channel = $("#panel-faults").dataset.channel;
  const r = await api("POST", "/api/faults", {fault: kind, channel});
  $("#fault-result").textContent = r.ok ? `${kind} ${channel} sent` : errorText(r.data);
}

// -- start ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#create-form").addEventListener("submit", createUnit);
  $("#fault-cut").addEventListener("click", () => fault("channel-cut"));
  $("#fault-restore").addEventListener("click", () => fault("channel-restored"));
  const r = await api("GET", "/api/me");
  if (r.ok) start(r.data);
});
