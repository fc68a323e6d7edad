/**
 * `GET /`: the status page, one HTML document with its CSS and script inline and no external
 * asset (the lab may be offline). Its script fetches `/status.json` every 1.5 s and draws the
 * services, the BitClone connections as a small graph (this node in the middle, outbound
 * arrows out, inbound arrows in, pending dashed), each job as a progress bar, the miners with
 * their rates, the LSP connections, the tracker and the key-value store. Read-only: it sends
 * nothing but GETs of `/status.json`, and every value from the network is shown as text (never
 * parsed as HTML). The {@linkcode STATUS_PAGE_CSP} header allows only this script and style.
 *
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";

const STYLE = `
:root { color-scheme: light dark; --ok: #2e7d32; --warn: #b26a00; --bad: #c62828; --in: #1565c0;
  --out: #2e7d32; --line: #8884; font: 14px/1.4 system-ui, sans-serif; }
body { margin: 0 auto; max-width: 1100px; padding: 12px 16px; }
header { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 16px; margin: 18px 0 6px; }
.muted { opacity: .7; }
#banner { padding: 6px 10px; border-radius: 4px; background: var(--bad); color: #fff; }
#banner[hidden] { display: none; }
.grid { display: grid; grid-template-columns: minmax(300px, 480px) 1fr; gap: 16px; }
@media (max-width: 800px) { .grid { grid-template-columns: 1fr; } }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 8px 2px 0; border-bottom: 1px solid var(--line);
  font-variant-numeric: tabular-nums; }
th { font-weight: 600; }
.state-running { color: var(--ok); } .state-stopping { color: var(--warn); }
.state-stopped, .state-failed { color: var(--bad); }
svg { width: 100%; height: auto; }
svg text { font-size: 11px; fill: currentColor; }
.edge-outbound { stroke: var(--out); } .edge-inbound { stroke: var(--in); }
.edge-pending { stroke: var(--warn); stroke-dasharray: 4 3; }
.mark-outbound { fill: var(--out); } .mark-inbound { fill: var(--in); } .mark-pending { fill: var(--warn); }
.job { margin: 6px 0 10px; }
.bar { height: 14px; border-radius: 7px; background: var(--line); overflow: hidden; }
.fill { height: 100%; width: 0; background: var(--ok); transition: width .8s; }
.empty { opacity: .6; font-style: italic; }
`;

const SCRIPT = `
"use strict";
var REFRESH_MS = 1500;
function el(tag, attrs, text) {
  var e = document.createElement(tag);
  if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function svgEl(tag, attrs, text) {
  var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (var k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function num(n) {
  if (n === null || n === undefined) return "-";
  var units = ["", "k", "M", "G", "T", "P"], i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + units[i];
}
function percent(f) {
  var p = 100 * f;
  return p === 0 || p >= 1 ? p.toFixed(1) : p.toPrecision(2);
}
function dur(s) {
  s = Math.round(s);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
}
function table(id, head, rows, empty) {
  var box = document.getElementById(id);
  if (rows.length === 0) { box.replaceChildren(el("p", { "class": "empty" }, empty)); return; }
  var t = el("table"), tr = el("tr");
  head.forEach(function (h) { tr.appendChild(el("th", null, h)); });
  t.appendChild(tr);
  rows.forEach(function (r) {
    var row = el("tr", r.attrs || null);
    r.cells.forEach(function (c) {
      var td = el("td", null, c && c.text !== undefined ? c.text : c);
      if (c && c.cls) td.className = c.cls;
      row.appendChild(td);
    });
    t.appendChild(row);
  });
  box.replaceChildren(t);
}
function drawServices(d) {
  table("services", ["service", "state", "listening", "uptime"], d.services.map(function (s) {
    return { attrs: { "data-service": s.name }, cells: [s.name, { text: s.state, cls: "state-" + s.state },
      s.listening.map(function (a) { return a.transport + " " + a.port; }).join(", "),
      dur(s.uptimeSec)] };
  }).concat(d.disabled.map(function (n) {
    return { attrs: { "data-service": n }, cells: [n, { text: "disabled", cls: "muted" }, "", ""] };
  })), "no service");
}
function drawPeers(d) {
  var svg = document.getElementById("graph");
  var p = d.peer, conns = p ? p.connections : [];
  var W = 480, H = 300, cx = W / 2, cy = H / 2, R = 100; // room for a full address on each side
  svg.replaceChildren();
  var defs = svgEl("defs", {});
  ["outbound", "inbound", "pending"].forEach(function (k) {
    var m = svgEl("marker", { id: "arrow-" + k, viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    m.appendChild(svgEl("path", { d: "M0,0L10,5L0,10z", "class": "mark-" + k }));
    defs.appendChild(m);
  });
  svg.appendChild(defs);
  conns.forEach(function (c, i) {
    var a = -Math.PI / 2 + 2 * Math.PI * i / Math.max(conns.length, 1);
    var x = cx + R * Math.cos(a), y = cy + R * Math.sin(a);
    var kind = c.state === "established" ? c.direction : "pending";
    var g = svgEl("g", { "class": "peer", "data-direction": c.direction, "data-state": c.state,
      "data-address": c.address || c.remote || "" });
    var sx = cx + 22 * Math.cos(a), sy = cy + 22 * Math.sin(a);
    var ex = x - 9 * Math.cos(a), ey = y - 9 * Math.sin(a);
    var line = svgEl("line", c.direction === "inbound"
      ? { x1: ex, y1: ey, x2: sx, y2: sy } : { x1: sx, y1: sy, x2: ex, y2: ey });
    line.setAttribute("class", "edge-" + kind);
    line.setAttribute("stroke-width", "2");
    line.setAttribute("marker-end", "url(#arrow-" + kind + ")");
    g.appendChild(line);
    g.appendChild(svgEl("circle", { cx: x, cy: y, r: 8, "class": "edge-" + kind, fill: "none",
      "stroke-width": "2" }));
    var anchor = Math.cos(a) < -0.3 ? "end" : Math.cos(a) > 0.3 ? "start" : "middle";
    var tx = x + 12 * Math.cos(a), ty = y + 12 * Math.sin(a) + (Math.sin(a) > 0.3 ? 10 : 0);
    g.appendChild(svgEl("text", { x: tx, y: ty, "text-anchor": anchor }, c.address || c.remote || "?"));
    if (c.userAgent) {
      g.appendChild(svgEl("text", { x: tx, y: ty + 12, "text-anchor": anchor, "class": "muted" },
        c.userAgent + (c.version ? " v" + c.version : "")));
    }
    svg.appendChild(g);
  });
  svg.appendChild(svgEl("circle", { cx: cx, cy: cy, r: 20, fill: "none", stroke: "currentColor",
    "stroke-width": "2" }));
  svg.appendChild(svgEl("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, "this node"));
  document.getElementById("peer-summary").textContent = p
    ? p.inbound + " in, " + p.outbound + " out, " + p.pending + " pending; " + p.known +
      " addresses known (" + p.tried + " tried)"
    : "the peer service is not running";
  table("peers", ["peer", "direction", "state", "agent", "version", "for"], conns.map(function (c) {
    return { attrs: { "data-address": c.address || c.remote || "" }, cells: [c.address || c.remote || "?",
      c.direction, c.state, c.userAgent || "", c.version || "", dur(c.ageSec)] };
  }), "no connection");
}
function drawJobs(d) {
  var box = document.getElementById("jobs");
  var m = d.miner, jobs = m ? m.jobs : [];
  if (jobs.length === 0) {
    box.replaceChildren(el("p", { "class": "empty" }, m ? "no job" : "the miner service is not running"));
  } else {
    box.replaceChildren.apply(box, jobs.map(function (j) {
      var pct = percent(j.progress);
      var div = el("div", { "class": "job", "data-job": j.id, "data-progress": j.progress,
        "data-searched": j.searched });
      div.appendChild(el("div", null, "job " + j.id + ": " + j.data + " [" + j.lower + ".." + j.upper +
        "] from " + (j.clientAddress || "connection " + j.client)));
      var bar = el("div", { "class": "bar", role: "progressbar", "aria-valuemin": "0",
        "aria-valuemax": "100", "aria-valuenow": pct });
      var fill = el("div", { "class": "fill" });
      fill.style.width = (j.progress > 0 ? Math.max(0.5, 100 * j.progress) : 0) + "%";
      bar.appendChild(fill);
      div.appendChild(bar);
      div.appendChild(el("div", { "class": "muted" }, pct + "% · " + num(j.searched) + " of " +
        num(j.total) + " nonces · " + num(j.rate) + " nonces/s · " + dur(j.elapsedSec) +
        " · miners " + (j.miners.length ? j.miners.map(function (id) {
          var w = m.miners.filter(function (x) { return x.id === id; })[0];
          return id + (w && w.rate !== null ? " (" + num(w.rate) + "/s)" : "");
        }).join(", ") : "none")));
      return div;
    }));
  }
  table("miners", ["miner", "address", "rate (nonces/s)", "chunks", "jobs"], (m ? m.miners : []).map(
    function (w) {
      return { attrs: { "data-miner": w.id }, cells: [w.id, w.address || "", num(w.rate), w.chunks,
        w.jobs.join(", ")] };
    }), "no miner");
  table("lsp", ["connection", "address", "role"], (m ? m.connections : []).map(function (c) {
    return { cells: [c.id, c.address || "", c.role] };
  }), "no LSP connection");
}
function drawOthers(d) {
  var t = d.tracker, k = d.kv;
  document.getElementById("tracker").textContent = t
    ? t.served + " served, " + t.invalid + " invalid, " + t.refused + " refused, " + t.failed +
      " failed; " + t.active + " open; " + t.entries + " entries"
    : "not running";
  document.getElementById("kv").textContent = k
    ? k.keys + " keys; " + k.members.length + " members (" + k.members.filter(function (m) {
      return m.state === "alive"; }).length + " alive); " + k.requests + " requests"
    : "not running";
}
function draw(d) {
  document.getElementById("version").textContent = "bitclone " + d.version;
  document.getElementById("uptime").textContent = "up " + dur(d.uptimeSec);
  document.getElementById("time").textContent = "updated " + d.time.replace("T", " ").slice(0, 19) + " UTC";
  drawServices(d); drawPeers(d); drawJobs(d); drawOthers(d);
}
var failures = 0;
function refresh() {
  fetch("status.json", { cache: "no-store" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (d) {
    failures = 0;
    document.getElementById("banner").hidden = true;
    draw(d);
    document.body.setAttribute("data-updated", d.time);
  }).catch(function (e) {
    failures++;
    var b = document.getElementById("banner");
    b.textContent = "the node does not answer (" + e.message + "); retrying";
    b.hidden = failures < 2;
  }).finally(function () { setTimeout(refresh, REFRESH_MS); });
}
refresh();
`;

const BODY = `
<header><h1>bitclone node</h1><span id="version" class="muted"></span><span id="uptime"></span>
<span id="time" class="muted"></span></header>
<p id="banner" hidden></p>
<h2>Services</h2><div id="services"><p class="empty">loading…</p></div>
<div class="grid">
<section><h2>BitClone peers</h2><svg id="graph" viewBox="0 0 480 300" role="img"
 aria-label="peer connections"></svg><p id="peer-summary" class="muted"></p></section>
<section><h2>Connections</h2><div id="peers"></div></section>
</div>
<h2>Mining jobs</h2><div id="jobs"></div>
<h2>Miners</h2><div id="miners"></div>
<h2>LSP connections (miner server)</h2><div id="lsp"></div>
<h2>Tracker</h2><p id="tracker"></p>
<h2>Key-value store</h2><p id="kv"></p>
`;

function cspHash(text: string): string {
  const digest = sha256(new TextEncoder().encode(text));
  let bin = "";
  for (const b of digest) bin += String.fromCharCode(b);
  return `'sha256-${btoa(bin)}'`;
}

/** The page's HTML. */
export const STATUS_PAGE_HTML: string = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bitclone node</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head><body>${BODY}<script>${SCRIPT}</script>
</body></html>
`;

/**
 * The page's `Content-Security-Policy`: nothing loads but this script and style (by hash) and
 * `/status.json` from the same origin; no form, frame or base URL.
 *
 * @example
 * ```ts
 * import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from "./page.ts";
 * import assert from "node:assert/strict";
 * assert.match(STATUS_PAGE_CSP, /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+\/]+=*'/);
 * assert.ok(!/https?:\/\//.test(STATUS_PAGE_HTML.replaceAll("http://www.w3.org/2000/svg", "")));
 * ```
 */
export const STATUS_PAGE_CSP: string = [
  "default-src 'none'",
  `script-src ${cspHash(SCRIPT)}`,
  `style-src ${cspHash(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
