// The network map: RFC 8345 topology state (ietf-network-state + qnms-topology) as SVG.
"use strict";

// a member of an RFC 7951 object by its local name, whatever module qualifies it
function member(obj, name) {
  if (!obj || typeof obj !== "object") return undefined;
  if (name in obj) return obj[name];
  for (const k of Object.keys(obj)) if (k.endsWith(":" + name)) return obj[k];
  return undefined;
}

function num(v) {
  const n = typeof v === "string" ? parseFloat(v) : v;
  return Number.isFinite(n) ? n : undefined;
}

// the quantum network of a networks document: {id, nodes: [...], links: [...]}
function quantumNetwork(doc) {
  const nets = member(member(doc, "networks"), "network") || [];
  const net = nets.find((n) => member(member(n, "network-types"), "quantum-network") !== undefined) || nets[0];
  if (!net) return null;
  const nodes = (member(net, "node") || []).map((n) => {
    const q = member(n, "quantum-node") || {};
    const mem = member(q, "memory") || [];
    const occ = mem.map((m) => num(member(m, "occupancy"))).filter((v) => v !== undefined);
    return {
      id: member(n, "node-id"), raw: n, domain: member(q, "domain") || "", role: String(member(q, "role") || ""),
      state: member(q, "oper-state") || "", border: member(q, "border") === true,
      occupancy: occ.length ? occ.reduce((a, b) => a + b, 0) / occ.length : undefined,
      quis: num(member(q, "active-quis")),
    };
  });
  const links = (member(net, "link") || []).map((l) => {
    const q = member(l, "quantum-link") || {};
    const tm = member(q, "telemetry") || {};
    return {
      id: member(l, "link-id"), raw: l,
      source: member(member(l, "source"), "source-node"), dest: member(member(l, "destination"), "dest-node"),
      kind: member(q, "kind") || "quantum-link", state: member(q, "oper-state") || "",
      channel: member(q, "channel"),
      fidelity: num(member(tm, "mean-fidelity")) ?? num(member(tm, "last-fidelity")),
      rate: num(member(tm, "generation-rate")),
    };
  });
  return {id: member(net, "network-id"), nodes, links};
}

function fidelityColour(f) {
  if (f === undefined) return "#5d9c76";
  const x = Math.max(0, Math.min(1, (f - 0.5) / 0.5)); // 0.5 .. 1 -> amber .. green
  return `hsl(${Math.round(40 + 100 * x)}, 70%, ${Math.round(45 - 10 * x)}%)`;
}

class TopologyMap {
  constructor(svg, onSelect) {
    this.svg = svg;
    this.onSelect = onSelect;
    this.pos = {};
    this.layoutKey = "";
    this.elements = {}; // "node:<id>" | "link:<id>" -> svg element
  }

  layout(net) {
    const domains = [...new Set(net.nodes.map((n) => n.domain))].sort();
    const W = 1000, H = 560, pad = 20, gap = 24;
    const dw = (W - 2 * pad - gap * (domains.length - 1)) / Math.max(domains.length, 1);
    this.boxes = {};
    domains.forEach((d, i) => {
      const x = pad + i * (dw + gap);
      this.boxes[d] = {x, y: pad, w: dw, h: H - 2 * pad};
      const mine = net.nodes.filter((n) => n.domain === d).sort((a, b) => a.id.localeCompare(b.id));
      // on an ellipse, end nodes and the others alternating (so a chain end - repeaters
      // - end draws as a ring, not a knot), the first end node on the left
      const ends = mine.filter((n) => /end/.test(n.role)), rest = mine.filter((n) => !/end/.test(n.role));
      const ring = [];
      while (ends.length || rest.length) {
        if (ends.length) ring.push(ends.shift());
        if (rest.length) ring.push(rest.shift());
      }
      const cx = x + dw / 2, cy = H / 2, rx = dw / 2 - 60, ry = H / 2 - 80;
      ring.forEach((n, k) => {
        const a = Math.PI + (2 * Math.PI * k) / ring.length;
        this.pos[n.id] = {x: cx + rx * Math.cos(a), y: cy + ry * Math.sin(a)};
      });
    });
  }

  render(net) {
    const key = net.nodes.map((n) => n.id + "@" + n.domain).sort().join(",");
    if (key !== this.layoutKey) {
      this.layoutKey = key;
      this.layout(net);
      this.build(net);
    }
    for (const n of net.nodes) {
      const g = this.elements["node:" + n.id];
      if (!g) continue;
      g.dataset.state = n.state;
      g.dataset.border = String(n.border);
      g.dataset.role = n.role;
    }
    for (const l of net.links) {
      const el = this.elements["link:" + l.id];
      if (!el) continue;
      el.dataset.state = l.state;
      el.dataset.fidelity = l.fidelity === undefined ? "" : String(l.fidelity);
      if (l.kind === "quantum-link") el.style.stroke = fidelityColour(l.fidelity);
      el.querySelector("title").textContent =
        `${l.id} (${l.kind}) ${l.state}` + (l.fidelity !== undefined ? ` F=${l.fidelity.toFixed(3)}` : "");
    }
  }

  build(net) {
    const svg = this.svg;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    this.elements = {};
    for (const [d, b] of Object.entries(this.boxes)) {
      const g = svgEl("g", {class: "domain", "data-domain": d}, svg);
      svgEl("rect", {x: b.x, y: b.y, width: b.w, height: b.h, rx: 10}, g);
      svgEl("text", {x: b.x + 10, y: b.y + 20}, g).textContent = d || "(no domain)";
    }
    const lines = svgEl("g", {class: "links"}, svg);
    for (const l of net.links) {
      const a = this.pos[l.source], b = this.pos[l.dest];
      if (!a || !b) continue;
      // the two directions of a quantum link side by side; channels of the CS further out
      const off = l.kind === "quantum-link" ? (l.source < l.dest ? 3 : -3) : l.kind === "classical-assist" ? -11 : 11;
      const [p, q] = l.source < l.dest ? [a, b] : [b, a]; // one orientation per node pair
      const dx = q.x - p.x, dy = q.y - p.y, len = Math.hypot(dx, dy) || 1;
      const ox = (-dy / len) * off, oy = (dx / len) * off;
      const el = svgEl("line", {
        class: "link", "data-link": l.id, "data-kind": l.kind, "data-source": l.source, "data-dest": l.dest,
        x1: a.x + ox, y1: a.y + oy, x2: b.x + ox, y2: b.y + oy,
      }, lines);
      if (l.kind !== "quantum-link" && l.kind !== "classical-assist") {
        el.style.stroke = "#9aa3b5";
        el.style.strokeWidth = "2";
      }
      svgEl("title", {}, el);
      el.addEventListener("click", () => this.onSelect("link", l.id));
      this.elements["link:" + l.id] = el;
    }
    const nodes = svgEl("g", {class: "nodes"}, svg);
    for (const n of net.nodes) {
      const p = this.pos[n.id];
      const g = svgEl("g", {class: "node", "data-node": n.id, "data-domain": n.domain,
        transform: `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`}, nodes);
      svgEl("circle", {r: 14}, g);
      svgEl("text", {y: 30}, g).textContent = n.id;
      svgEl("text", {y: 42, class: "role"}, g).textContent = n.role.split(":").pop();
      g.addEventListener("click", () => this.onSelect("node", n.id));
      this.elements["node:" + n.id] = g;
    }
  }

  select(kind, id) {
    for (const el of this.svg.querySelectorAll(".selected")) el.classList.remove("selected");
    const el = this.elements[kind + ":" + id];
    if (el) el.classList.add("selected");
  }

  // highlight a unit's path: its nodes and the quantum links between consecutive hops
  highlight(unitName, path, state) {
    for (const el of this.svg.querySelectorAll(".on-path")) el.classList.remove("on-path");
    this.svg.dataset.pathUnit = unitName || "";
    this.svg.dataset.pathState = state || "";
    this.svg.dataset.path = (path || []).join(" ");
    if (!path) return;
    const pairs = new Set();
    for (let i = 1; i < path.length; i++) {
      pairs.add(path[i - 1] + ">" + path[i]);
      pairs.add(path[i] + ">" + path[i - 1]);
    }
    for (const n of path) this.elements["node:" + n]?.classList.add("on-path");
    for (const el of this.svg.querySelectorAll(".link[data-kind='quantum-link']")) {
      if (pairs.has(el.dataset.source + ">" + el.dataset.dest)) el.classList.add("on-path");
    }
  }
}
