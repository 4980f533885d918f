// Time-series charts as SVG polylines: no library, no build step.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, parent) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

// points: [{t: ms since epoch, v: number}], newest last; draws the last 5 minutes
function drawChart(svg, points, title, unit) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = 320, H = 140, L = 38, R = 8, T = 16, B = 18;
  svgEl("text", {x: L, y: 11}, svg).textContent = title;
  const pts = points.filter((p) => Number.isFinite(p.v));
  svg.dataset.points = String(pts.length);
  if (pts.length === 0) {
    svgEl("text", {x: L, y: H / 2}, svg).textContent = "no data yet";
    return;
  }
  const t1 = pts[pts.length - 1].t, t0 = Math.min(pts[0].t, t1 - 10000);
  let lo = Math.min(...pts.map((p) => p.v)), hi = Math.max(...pts.map((p) => p.v));
  if (hi - lo < 1e-9) { lo -= 0.5 * (Math.abs(lo) || 1) * 0.1; hi += 0.5 * (Math.abs(hi) || 1) * 0.1; }
  const x = (t) => L + ((t - t0) / Math.max(t1 - t0, 1)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  svgEl("line", {x1: L, y1: T, x2: L, y2: H - B}, svg);
  svgEl("line", {x1: L, y1: H - B, x2: W - R, y2: H - B}, svg);
  svgEl("text", {x: 2, y: T + 8}, svg).textContent = fmt(hi);
  svgEl("text", {x: 2, y: H - B}, svg).textContent = fmt(lo);
  svgEl("text", {x: W - R - 60, y: H - 4}, svg).textContent =
    `${Math.round((t1 - t0) / 1000)} s ${unit || ""}`;
  svgEl("polyline", {points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ")}, svg);
}

function fmt(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

// the rate of a counter: its increase over the last 2 s of samples, per second
// (updates arrive in bursts; differences of neighbours would spike)
function rateOf(points, windowMs = 2000) {
  const out = [];
  let j = 0;
  for (let i = 1; i < points.length; i++) {
    while (points[i].t - points[j].t > windowMs) j++;
    const dt = (points[i].t - points[j].t) / 1000;
    const dv = points[i].v - points[j].v; // a counter that went down was reset (re-route)
    if (dt >= 0.5) out.push({t: points[i].t, v: Math.max(dv, 0) / dt});
  }
  return out;
}
