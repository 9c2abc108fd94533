// The admin dashboard: this instance's snapshot every second over the WebSocket topic
// `admin:metrics` (GET /admin/metrics/cache polled while the socket is down), the
// deployment from /admin/metrics/cluster, queues from /admin/queues, and the actions.
"use strict";

const WINDOW_SECS = 600;
const POLL_MS = 2000;
const SLOW_POLL_MS = 5000;
const CLUSTER_POLL_MS = 2000;
const RECONNECT_MS = 3000;

const $ = (id) => document.getElementById(id);

// ---- formatting -------------------------------------------------------------------
const percent = (x) => (x == null || Number.isNaN(x) ? "–" : `${(x * 100).toFixed(1)} %`);
const integer = (x) => (x == null ? "–" : Math.round(x).toLocaleString("en"));
function bytes(x) {
  if (x == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i += 1; }
  return `${x.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
function duration(secs) {
  if (secs == null) return "–";
  const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = Math.floor(secs % 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`;
}
function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

// ---- reading a snapshot (the JSON of GET /admin/metrics/cache) ----------------------
const l1Requests = (s) => s.cache.l1.hits + s.cache.l1.misses + s.cache.l1.stale;
const l2Requests = (s) => s.cache.l2.hits + s.cache.l2.misses + s.cache.l2.stale;
const requestCount = (s) => (s.http && s.http.requests != null ? s.http.requests : l1Requests(s));
const limitedCount = (s) => (s.rateLimiter ? s.rateLimiter.limited : null);

// ---- the charts ---------------------------------------------------------------------
const series = { t: [], l1: [], l2: [], rps: [], mem: [] };
let previous = null;

function chart(target, labels, colours, yRange) {
  const width = Math.max(300, target.clientWidth || 400);
  const opts = {
    width, height: 180,
    // Always the last 10 minutes, so one point or a gap still reads as time.
    scales: {
      x: { time: true, range: () => [Date.now() / 1000 - WINDOW_SECS, Date.now() / 1000] },
      y: yRange ? { range: yRange } : {},
    },
    series: [{}].concat(labels.map((label, i) => ({ label, stroke: colours[i], width: 2, spanGaps: false }))),
    axes: [{}, { size: 55 }],
    legend: { live: true },
  };
  return new uPlot(opts, [[]].concat(labels.map(() => [])), target);
}

const charts = {
  hits: chart($("chart-hits"), ["L1", "L2"], ["#2457c5", "#b35c00"], [0, 1]),
  requests: chart($("chart-requests"), ["requests/s"], ["#1f7a3a"]),
  memory: chart($("chart-memory"), ["used"], ["#7a3db8"]),
  clusterHits: chart($("chart-cluster-hits"), ["L1", "L2"], ["#2457c5", "#b35c00"], [0, 1]),
  clusterRequests: chart($("chart-cluster-requests"), ["requests/s"], ["#1f7a3a"]),
};

// The whole deployment: every live instance's snapshot summed (from the cluster view).
const clusterSeries = { t: [], l1: [], l2: [], rps: [] };
let clusterPrevious = null;
const sum = (all, f) => all.reduce((n, s) => n + f(s), 0);

function pushCluster(instances) {
  const now = Date.now() / 1000;
  const totals = {
    l1Served: sum(instances, (s) => s.cache.l1.hits + s.cache.l1.stale),
    l1All: sum(instances, l1Requests),
    l2Served: sum(instances, (s) => s.cache.l2.hits + s.cache.l2.stale),
    l2All: sum(instances, l2Requests),
    requests: sum(instances, requestCount),
    ids: instances.map((s) => (s.instance ? s.instance.id : "?")).join(","),
  };
  // A counter that fell (an instance restarted or left) starts the deltas afresh.
  if (clusterPrevious && clusterPrevious.ids === totals.ids) {
    const dt = Math.max(0.001, now - clusterPrevious.at);
    const d = (k) => Math.max(0, totals[k] - clusterPrevious.totals[k]);
    clusterSeries.t.push(now);
    clusterSeries.l1.push(d("l1All") > 0 ? d("l1Served") / d("l1All") : null);
    clusterSeries.l2.push(d("l2All") > 0 ? d("l2Served") / d("l2All") : null);
    clusterSeries.rps.push(d("requests") / dt);
    while (clusterSeries.t.length && clusterSeries.t[0] < now - WINDOW_SECS) {
      for (const k of Object.keys(clusterSeries)) clusterSeries[k].shift();
    }
    charts.clusterHits.setData([clusterSeries.t, clusterSeries.l1, clusterSeries.l2]);
    charts.clusterRequests.setData([clusterSeries.t, clusterSeries.rps]);
  }
  clusterPrevious = { at: now, totals };
}

function push(snapshot) {
  const now = Date.now() / 1000;
  if (previous) {
    const dt = Math.max(0.001, now - previous.at);
    const d = (f) => Math.max(0, f(snapshot) - f(previous.snapshot));
    const l1Served = d((s) => s.cache.l1.hits + s.cache.l1.stale);
    const l2Served = d((s) => s.cache.l2.hits + s.cache.l2.stale);
    const l1All = d(l1Requests), l2All = d(l2Requests);
    series.t.push(now);
    series.l1.push(l1All > 0 ? l1Served / l1All : null);
    series.l2.push(l2All > 0 ? l2Served / l2All : null);
    series.rps.push(d(requestCount) / dt);
    series.mem.push(snapshot.redis.connected ? snapshot.redis.memory.usedMemory / 1048576 : null);
    while (series.t.length && series.t[0] < now - WINDOW_SECS) {
      for (const k of Object.keys(series)) series[k].shift();
    }
    charts.hits.setData([series.t, series.l1, series.l2]);
    charts.requests.setData([series.t, series.rps]);
    charts.memory.setData([series.t, series.mem]);
    $("request-rate").textContent = (d(requestCount) / dt).toFixed(1);
  }
  previous = { at: now, snapshot };
}

function render(snapshot) {
  const c = snapshot.cache;
  $("hit-rate").textContent = percent(c.hitRate);
  $("l1-hit-rate").textContent = percent(c.l1.hitRate);
  $("l2-hit-rate").textContent = percent(c.l2.hitRate);
  const breaker = $("breaker");
  breaker.textContent = c.breaker.state;
  breaker.className = `state-${c.breaker.state}`;
  const r = snapshot.redis;
  $("redis-memory").textContent = r.connected ? r.memory.usedMemoryHuman : "down";
  $("redis-evictions").textContent = r.connected ? integer(r.memory.evictedKeys) : "–";
  $("l1-bytes").textContent = bytes(c.l1.bytes);
  $("ws-connections").textContent = snapshot.websocket ? integer(snapshot.websocket.connections) : "–";
  $("rate-limited").textContent = integer(limitedCount(snapshot));
  if (snapshot.instance) {
    $("instance").textContent =
      `instance ${snapshot.instance.id} · v${snapshot.instance.version} · up ${duration(snapshot.instance.uptimeSeconds)}`;
  }
  push(snapshot);
}

// ---- HTTP helpers -------------------------------------------------------------------
// The session's CSRF token, sent on every unsafe request: the same-origin `Origin` a
// browser sends would do, but not behind a proxy that rewrites the host.
let csrfToken = null;
async function csrfHeaders() {
  if (csrfToken === null) {
    const res = await fetch("/api/auth/csrf", { credentials: "same-origin" });
    const body = res.ok ? await res.json().catch(() => null) : null;
    csrfToken = (body && body.data && body.data.token) || null;
  }
  return csrfToken ? { "X-CSRF-Token": csrfToken } : {};
}

async function api(path, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  if (method !== "GET" && method !== "HEAD") {
    options = { ...options, headers: { ...(options.headers || {}), ...(await csrfHeaders()) } };
  }
  const res = await fetch(path, { credentials: "same-origin", ...options });
  if (res.status === 401 || res.status === 403) {
    window.location.assign("/admin/login");
    throw new Error("signed out");
  }
  const body = await res.json().catch(() => null);
  return { status: res.status, ok: res.ok, body };
}
const errorText = (answer) =>
  (answer.body && answer.body.error && answer.body.error.message) || `failed (${answer.status})`;

// ---- live feed: the WebSocket, or polling while it is down ---------------------------
let socket = null;
let pollTimer = null;

function setFeed(kind, text) {
  const feed = $("feed");
  feed.className = `badge ${kind}`;
  feed.textContent = text;
}

async function pollOnce() {
  try {
    const answer = await api("/admin/metrics/cache");
    if (answer.ok) render(answer.body);
  } catch (e) {
    setFeed("down", "unreachable");
  }
}

function startPolling() {
  if (pollTimer) return;
  setFeed("polling", "polling");
  pollOnce();
  pollTimer = setInterval(pollOnce, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${window.location.host}/ws`);
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "subscribe", topics: ["admin:metrics"] }));
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "subscribed") {
      stopPolling();
      setFeed("live", "live");
    } else if (message.type === "admin.metrics") {
      render(message.snapshot);
    } else if (message.type === "error") {
      startPolling();
    }
  });
  socket.addEventListener("close", () => {
    startPolling();
    setTimeout(connect, RECONNECT_MS);
  });
}

// ---- the deployment and the queues ----------------------------------------------------
async function refreshCluster() {
  const answer = await api("/admin/metrics/cluster");
  if (!answer.ok) return;
  const body = $("cluster").tBodies[0];
  body.replaceChildren();
  pushCluster(answer.body.instances || []);
  for (const s of answer.body.instances || []) {
    const row = body.insertRow();
    cell(row, s.instance ? s.instance.id : "?");
    cell(row, s.instance ? duration(s.instance.uptimeSeconds) : "–");
    cell(row, percent(s.cache.hitRate));
    cell(row, bytes(s.cache.l1.bytes));
    cell(row, s.cache.breaker.state, `state-${s.cache.breaker.state}`);
    cell(row, s.websocket ? integer(s.websocket.connections) : "–");
    cell(row, integer(limitedCount(s)));
  }
}

async function refreshQueues() {
  const answer = await api("/admin/queues");
  if (!answer.ok) return;
  const queues = answer.body.data || [];
  const body = $("queues").tBodies[0];
  body.replaceChildren();
  for (const q of queues) {
    const row = body.insertRow();
    cell(row, q.name);
    for (const f of ["waiting", "active", "delayed", "completed", "failed", "processedPerMinute"]) {
      cell(row, integer(q[f]));
    }
  }
  const failures = $("failures").tBodies[0];
  const rows = [];
  for (const q of queues) {
    const failed = await api(`/admin/queues/${encodeURIComponent(q.name)}/failed?limit=10`);
    if (failed.ok) for (const job of failed.body.data || []) rows.push([q.name, job]);
  }
  failures.replaceChildren();
  for (const [queue, job] of rows.slice(0, 20)) {
    const row = failures.insertRow();
    cell(row, queue);
    cell(row, job.id);
    cell(row, `${job.attemptsMade} of ${job.attempts}`);
    cell(row, job.failedReason || "", "error-text");
    const actions = cell(row, "");
    actions.append(jobButton("Retry", "POST", queue, job, "retry"), " ",
      jobButton("Remove", "DELETE", queue, job, ""));
  }
}

function jobButton(label, method, queue, job, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.className = method === "DELETE" ? "secondary" : "";
  button.setAttribute("aria-label", `${label} job ${job.id} of ${queue}`);
  button.addEventListener("click", async () => {
    const path = `/admin/queues/${encodeURIComponent(queue)}/jobs/${encodeURIComponent(job.id)}` +
      (action ? `/${action}` : "");
    const answer = await api(path, { method });
    const out = $("job-answer");
    out.className = `answer ${answer.ok ? "ok" : "failed"}`;
    out.textContent = answer.ok
      ? `${label === "Retry" ? "Retried" : "Removed"} job ${job.id} of ${queue}`
      : `${label} job ${job.id}: ${errorText(answer)}`;
    refreshQueues();
  });
  return button;
}

// ---- invalidation ----------------------------------------------------------------------
$("invalidate-kind").addEventListener("change", (event) => {
  $("invalidate-value").disabled = event.target.value === "all";
});

$("invalidate").addEventListener("submit", async (event) => {
  event.preventDefault();
  const kind = $("invalidate-kind").value;
  const value = $("invalidate-value").value;
  const body = kind === "all" ? { all: true } : { [kind]: value };
  const answer = await api("/admin/cache/invalidate", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const out = $("invalidate-answer");
  out.className = `answer ${answer.ok ? "ok" : "failed"}`;
  out.textContent = answer.ok ? answer.body.message : errorText(answer);
});

$("logout").addEventListener("click", async () => {
  await fetch("/api/auth/logout", {
    method: "POST",
    credentials: "same-origin",
    headers: await csrfHeaders(),
  });
  window.location.assign("/admin/login");
});

// ---- start -----------------------------------------------------------------------------
startPolling();
connect();
refreshCluster();
refreshQueues();
setInterval(refreshCluster, CLUSTER_POLL_MS);
setInterval(refreshQueues, SLOW_POLL_MS);
