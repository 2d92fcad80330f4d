// The txflow console: polls GET /v1/status, draws it, and sends the operator's actions.
// No library, no build step: tables from the document, two line charts on canvas.
"use strict";

const TOKEN = "txflow.token"; // sessionStorage: forgotten when the tab closes
const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});
let timer = null;
let reading = 0; // the latest refresh: only it schedules the next (one polling loop)

async function call(method, path) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, {method, headers});
  return {status: response.status, doc: await response.json().catch(() => null)};
}

async function refresh() {
  clearTimeout(timer);
  const mine = ++reading;
  let interval = 2000;
  try {
    const {status, doc} = await call("GET", "../v1/status");
    if (mine !== reading) return; // a later refresh (after an action) reads newer
    if (status === 401) return askToken();
    if (status !== 200) throw new Error(doc?.detail ?? `HTTP ${status}`);
    render(doc);
    interval = doc.history.interval_ms;
    setState(`updated ${new Date(doc.at).toLocaleTimeString()}`, "ok");
  } catch (error) {
    setState(`not updated: ${error.message}`, "bad");
  }
  if (mine === reading) timer = setTimeout(refresh, interval);
}

function setState(text, kind) {
  $("state").textContent = text;
  $("state").dataset.kind = kind;
}

function askToken() {
  setState(sessionStorage.getItem(TOKEN) ? "that token was refused" : "a token is needed", "bad");
  sessionStorage.removeItem(TOKEN);
  $("board").hidden = $("logout").hidden = true;
  $("login").hidden = false;
}

function render(doc) {
  $("board").hidden = false;
  $("login").hidden = true;
  $("logout").hidden = !sessionStorage.getItem(TOKEN);
  $("mode").hidden = doc.actions;
  $("mode").textContent = "read-only: actions need TXFLOW_API_TOKEN";
  const points = doc.history.points;
  chart($("throughput"), $("throughput-legend"), points, doc.history.interval_ms, [
    {key: "accepted_per_s", label: "accepted", color: "#2563eb"},
    {key: "processed_per_s", label: "processed", color: "#16a34a"},
  ]);
  chart($("latency"), $("latency-legend"), points, doc.history.interval_ms, [
    {key: "p50_ms", label: "p50", color: "#9333ea"},
    {key: "p99_ms", label: "p99", color: "#dc2626"},
  ]);
  fill("shards", doc.shards, (s) => [s.shard, s.owner ?? "none", s.epoch, s.lag ?? "?", s.pending,
    seconds(s.oldest_pending_ms), s.dlq, s.parked, s.held,
    s.commit_rate === null ? "–" : number.format(s.commit_rate)],
    (row, s) => Object.assign(row.dataset, {shard: s.shard, owner: s.owner ?? "",
                                            commitRate: s.commit_rate ?? ""}));
  fill("workers", doc.workers, (w) => [w.id, seconds(w.expires_in_ms), w.shards.join(" ") || "–"],
    (row, w) => { row.dataset.worker = w.id; });
  const waiting = doc.shards.reduce((sum, s) => sum + s.dlq, 0);
  $("dead-letters-count").textContent = `(${waiting}${waiting > doc.dead_letters.length ? `, the oldest ${doc.dead_letters.length} shown` : ""})`;
  const refused = doc.actions ? null : "actions need TXFLOW_API_TOKEN on ingest";
  fill("dead-letters", doc.dead_letters, (d) => [d.shard, d.id, d.tx?.account_id ?? "?",
    d.tx?.tx_id ?? "?", d.reason, button("Replay", {action: "replay", id: d.id},
      refused ?? (d.tx ? null : "the entry cannot be decoded: nothing to replay"))],
    (row, d) => { row.dataset.id = d.id; });
  const parked = doc.shards.reduce((sum, s) => sum + s.parked, 0);
  $("parked-count").textContent = `(${parked}${parked > doc.parked.length ? `, ${doc.parked.length} shown` : ""})`;
  fill("parked", doc.parked, (p) => [p.shard, p.account, p.held, new Date(p.since).toLocaleString(),
    p.reason, [button("Retry", {action: "retry", account: p.account}, refused),
               button("Skip", {action: "skip", account: p.account}, refused)]],
    (row, p) => { row.dataset.account = p.account; });
}

function seconds(ms) {
  return ms === null ? "–" : `${number.format(ms / 1000)} s`;
}

// A button for an action; ``refused`` says why it is disabled (null: enabled).
function button(label, data, refused) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  Object.assign(b.dataset, data);
  b.disabled = refused !== null;
  if (refused !== null) b.title = refused;
  return b;
}

// Rows are rebuilt from the document on every refresh; text goes in as text, never as HTML.
function fill(id, items, cells, mark) {
  const table = $(id), headings = table.tHead.rows[0].cells;
  table.tBodies[0].replaceChildren(...items.map((item) => {
    const row = document.createElement("tr");
    for (const cell of cells(item)) {
      const td = row.insertCell();
      td.className = headings[td.cellIndex].className; // a number column is aligned right
      td.append(...[cell].flat().map((c) => (c instanceof Node ? c : String(c))));
    }
    mark(row, item);
    return row;
  }));
}

// Lines over the sampled points; a gap of more than three intervals (no one was
// watching) breaks the line rather than drawing a slope across it.
function chart(canvas, legend, points, interval, series) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * ratio;
  canvas.height = canvas.clientHeight * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  const width = canvas.clientWidth, height = canvas.clientHeight, left = 48, bottom = 18;
  const values = points.flatMap((p) => series.map((s) => p[s.key])).filter((v) => v !== null);
  const step = niceStep(Math.max(4, ...values) / 4), top = 4 * step; // four round steps
  const t0 = points.length ? points[0].at : 0, t1 = points.length ? points.at(-1).at : 1;
  const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (width - left - 4);
  const y = (v) => 4 + (1 - v / top) * (height - bottom - 4);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = g.strokeStyle = "#9ca3af";
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    g.globalAlpha = 0.3;
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(width, y(v)); g.stroke();
    g.globalAlpha = 1;
    g.fillText(number.format(v), 2, y(v) + 4);
  }
  if (points.length) {
    g.fillText(new Date(t0).toLocaleTimeString(), left, height - 4);
    const end = new Date(t1).toLocaleTimeString();
    g.fillText(end, width - g.measureText(end).width - 4, height - 4);
  }
  g.lineWidth = 2;
  legend.replaceChildren(...series.map((s) => {
    g.strokeStyle = g.fillStyle = s.color;
    g.beginPath();
    let previous = null;
    for (const p of points) {
      const v = p[s.key];
      const joined = previous && previous[s.key] !== null && p.at - previous.at <= 3 * interval;
      if (v !== null) {
        joined ? g.lineTo(x(p.at), y(v)) : g.moveTo(x(p.at), y(v));
        g.fillRect(x(p.at) - 1.5, y(v) - 1.5, 3, 3); // a lone point shows too
      }
      previous = p;
    }
    g.stroke();
    const last = points.length ? points.at(-1)[s.key] : null;
    const seen = points.map((p) => p[s.key]).filter((v) => v !== null);
    const peak = seen.length ? Math.max(...seen) : null;
    const item = document.createElement("span");
    item.style.color = s.color;
    item.dataset.series = s.key;
    item.dataset.last = last ?? "";
    item.dataset.peak = peak ?? "";
    item.textContent = `${s.label} ${last === null ? "–" : number.format(last)}`
      + (peak === null ? "" : ` (peak ${number.format(peak)})`);
    return item;
  }));
}

// The least of 1, 2, 5, 10, 20, 50… not below v.
function niceStep(v) {
  const power = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * power).find((c) => c >= v);
}

async function act(b) {
  const {action} = b.dataset;
  let path;
  if (action === "replay") {
    path = `../v1/dlq/${encodeURIComponent(b.dataset.id)}/replay`;
  } else {
    path = `../v1/parked/${encodeURIComponent(b.dataset.account)}/${action}`;
    if (action === "skip") {
      const note = prompt(`Skip the first held entry of ${b.dataset.account}? Why (kept with the dead letter):`);
      if (!note) return;
      path += `?note=${encodeURIComponent(note)}`;
    }
  }
  b.disabled = true;
  try {
    const {status, doc} = await call("POST", path);
    if (status === 401) return askToken();
    $("message").textContent = doc?.message ?? doc?.detail
      ?? (doc?.stream_id ? `replayed ${doc.id} as ${doc.stream_id}` : `HTTP ${status}`);
    const done = status === 200 && (doc.status === undefined || doc.status === "released");
    $("message").dataset.kind = done ? "ok" : "bad";
  } catch (error) {
    $("message").textContent = `not sent: ${error.message}`;
    $("message").dataset.kind = "bad";
  }
  refresh();
}

document.addEventListener("click", (event) => {
  const b = event.target.closest("button[data-action]");
  if (b) act(b);
});
$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN, $("token").value.trim());
  $("token").value = "";
  refresh();
});
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN);
  refresh();
});
refresh();
