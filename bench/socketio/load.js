// The Socket.IO side of bench/ws.sh: what bench/ws-load measures for catalog-cache,
// against two server.js nodes sharing Redis (loopback only, bounded).
//
//   node load.js --url http://127.0.0.1:3201 --write-url http://127.0.0.1:3202 \
//     --clients 1000 --updates 50 --server-pid <pid of node A>
//
// 1. Reads node A's RSS, opens N socket.io-client connections to it (WebSocket transport,
//    at most --connect-concurrency handshakes at once), each emits `subscribe`
//    ["products"] and waits for the ack.
// 2. Waits --settle-ms, reads the RSS again (growth / N = one idle connection).
// 3. Makes M `PUT /api/products/:id` on node B, paced --interval-ms apart, each carrying
//    its send time (µs on this process's monotonic clock) in the description; every
//    client records each delivery's latency, duplicates and order.
// 4. Prints readable lines, a COLUMNS line and a RESULT line with ws-load's columns;
//    exits 3 when a delivery was lost, duplicated or out of order, or a client failed.
"use strict";

const fs = require("node:fs");
const net = require("node:net");
const { parseArgs } = require("node:util");
const { performance } = require("node:perf_hooks");
const { io } = require("socket.io-client");

const TSV_HEADER = [
  "label", "clients", "connected", "connect_failed", "updates_ok", "expected", "received", "lost",
  "duplicates", "out_of_order", "p50_ms", "p99_ms", "max_ms", "write_p50_ms", "rss_before_kib",
  "rss_idle_kib", "rss_per_conn_kib", "rss_after_kib", "connect_s", "resyncs", "spread_p50_ms",
  "spread_p99_ms", "server_cpu_us_per_delivery", "client_cpu_us_per_delivery",
].join("\t");
const MAX_CLIENTS = 20000;
const MAX_UPDATES = 10000;
const MAX_DELIVERIES = 5000000;
const HANDSHAKE_TIMEOUT_MS = 30000;
const WRITE_TIMEOUT_MS = 10000;

function fail(message, code = 2) {
  console.error(`load.js: ${message}`);
  process.exit(code);
}

function options() {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      "write-url": { type: "string" },
      clients: { type: "string", default: "100" },
      updates: { type: "string", default: "50" },
      "interval-ms": { type: "string", default: "200" },
      products: { type: "string", default: "20" },
      "connect-concurrency": { type: "string", default: "64" },
      "server-pid": { type: "string" },
      "settle-ms": { type: "string", default: "2000" },
      "drain-secs": { type: "string", default: "15" },
      "timeout-secs": { type: "string", default: "300" },
      label: { type: "string", default: "socketio" },
    },
  });
  const int = (name, min, max) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be ${min}..=${max}`);
    return n;
  };
  const o = {
    url: loopback(values.url, "--url"),
    writeUrl: loopback(values["write-url"], "--write-url"),
    clients: int("clients", 1, MAX_CLIENTS),
    updates: int("updates", 1, MAX_UPDATES),
    intervalMs: int("interval-ms", 0, 60000),
    products: int("products", 1, 1e9),
    concurrency: int("connect-concurrency", 1, MAX_CLIENTS),
    serverPid: values["server-pid"] === undefined ? null : int("server-pid", 1, 2 ** 31),
    settleMs: int("settle-ms", 0, 600000),
    drainSecs: int("drain-secs", 0, 3600),
    timeoutSecs: int("timeout-secs", 1, 3600),
    label: values.label,
  };
  if (o.clients * o.updates > MAX_DELIVERIES) fail(`--clients × --updates must be at most ${MAX_DELIVERIES}`);
  return o;
}

// Load goes to this machine only.
function loopback(text, flag) {
  if (!text) fail(`${flag} is required`);
  let url;
  try {
    url = new URL(text);
  } catch {
    fail(`${flag}: not a URL`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const ok =
    url.protocol === "http:" &&
    (host === "localhost" || host === "::1" || (net.isIPv4(host) && host.startsWith("127.")));
  if (!ok) fail(`${flag}: only http:// to loopback (127.0.0.0/8, ::1, localhost) is allowed`);
  return url;
}

const micros = () => Math.round(performance.now() * 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function vmRssKib(pid) {
  if (pid === null) return null;
  const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  if (!line) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(line.replace(/[^0-9]/g, ""));
}

// Nearest-rank percentile of sorted samples, as ws-load computes it.
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

// Per-run state shared by the clients.
function makeRun(o) {
  const tag = `load-js-${process.pid}-${Date.now()}`;
  return {
    tag,
    pattern: new RegExp(`^${tag} seq=(\\d+) t_us=(\\d+)$`),
    latencies: new Float64Array(o.clients * o.updates),
    seqs: new Uint32Array(o.clients * o.updates),
    received: 0,
    duplicates: 0,
    outOfOrder: 0,
    complete: 0,
    firstEnd: null,
  };
}

function connectOne(o, run) {
  return new Promise((resolve, reject) => {
    const socket = io(o.url.href, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: HANDSHAKE_TIMEOUT_MS,
    });
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("handshake timed out"));
    }, HANDSHAKE_TIMEOUT_MS);
    const seen = new Uint8Array(o.updates);
    let count = 0;
    let lastOffset = null;
    let done = false;
    socket.on("product.updated", (event) => {
      const at = micros();
      const m = run.pattern.exec(event?.product?.description ?? "");
      if (!m) return;
      const seq = Number(m[1]);
      if (seq >= o.updates || seen[seq]) {
        run.duplicates += 1;
        return;
      }
      seen[seq] = 1;
      count += 1;
      run.seqs[run.received] = seq;
      run.latencies[run.received++] = Math.max(0, at - Number(m[2]));
      if (lastOffset !== null && event.offset <= lastOffset) run.outOfOrder += 1;
      lastOffset = event.offset;
      if (count === o.updates) {
        done = true;
        run.complete += 1;
      }
    });
    socket.on("disconnect", (reason) => {
      if (!done && run.firstEnd === null && reason !== "io client disconnect") run.firstEnd = reason;
    });
    socket.once("connect_error", (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
    socket.once("connect", () => {
      socket.emit("subscribe", ["products"], (ack) => {
        clearTimeout(timer);
        if (ack?.type === "subscribed") resolve(socket);
        else {
          socket.close();
          reject(new Error(`subscribe refused: ${JSON.stringify(ack)}`));
        }
      });
    });
  });
}

// N clients, at most `concurrency` handshakes in flight.
async function connectAll(o, run) {
  const sockets = [];
  let next = 0;
  let failed = 0;
  let firstFailure = null;
  const worker = async () => {
    while (next < o.clients) {
      next += 1;
      try {
        sockets.push(await connectOne(o, run));
      } catch (error) {
        failed += 1;
        firstFailure ??= error.message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.clients) }, worker));
  if (firstFailure) console.error(`load.js: first failed client: ${firstFailure}`);
  return { sockets, failed };
}

async function writeAll(o, run) {
  const report = { ok: 0, failed: 0, firstFailure: null, latencies: [] };
  for (let seq = 0; seq < o.updates; seq += 1) {
    const started = performance.now();
    const id = (seq % o.products) + 1;
    const sentUs = micros();
    try {
      const res = await fetch(new URL(`/api/products/${id}`, o.writeUrl), {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ description: `${run.tag} seq=${seq} t_us=${sentUs}` }),
        signal: AbortSignal.timeout(WRITE_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      report.ok += 1;
      report.latencies.push(micros() - sentUs);
    } catch (error) {
      report.failed += 1;
      report.firstFailure ??= error.message;
    }
    await sleep(Math.max(0, o.intervalMs - (performance.now() - started)));
  }
  if (report.firstFailure) console.error(`load.js: ${report.failed} writes failed; the first: ${report.firstFailure}`);
  return report;
}

async function main() {
  const o = options();
  const timer = setTimeout(() => fail(`gave up after ${o.timeoutSecs} s`, 1), o.timeoutSecs * 1000);
  const run = makeRun(o);
  const t0 = performance.now();
  const rssBefore = vmRssKib(o.serverPid);
  const { sockets, failed } = await connectAll(o, run);
  const connectS = (performance.now() - t0) / 1000;
  if (sockets.length === 0) fail(`no client could subscribe to ${o.url}`, 1);
  await sleep(o.settleMs);
  const rssIdle = vmRssKib(o.serverPid);

  const writes = await writeAll(o, run);
  const drainUntil = performance.now() + o.drainSecs * 1000;
  while (run.complete < sockets.length && performance.now() < drainUntil) await sleep(20);
  const rssAfter = vmRssKib(o.serverPid);
  for (const socket of sockets) socket.disconnect();
  if (run.firstEnd) console.error(`load.js: a client's socket ended before it was done: ${run.firstEnd}`);

  // Fan-out spread: each delivery's time after the same update's first delivery.
  const first = new Float64Array(o.updates).fill(Infinity);
  for (let i = 0; i < run.received; i += 1) first[run.seqs[i]] = Math.min(first[run.seqs[i]], run.latencies[i]);
  const spreads = new Float64Array(run.received);
  for (let i = 0; i < run.received; i += 1) spreads[i] = run.latencies[i] - first[run.seqs[i]];
  spreads.sort();
  const latencies = run.latencies.slice(0, run.received).sort();
  const writeLatencies = Float64Array.from(writes.latencies).sort();
  const expected = sockets.length * writes.ok;
  const lost = Math.max(0, expected - run.received);
  const perConn = rssBefore === null ? null : (rssIdle - rssBefore) / sockets.length;
  const ms = (us) => (us === null ? "NA" : (us / 1000).toFixed(3));
  const label = o.label;
  console.log(`${label}: ${sockets.length} of ${o.clients} clients subscribed to products in ${connectS.toFixed(2)} s (${failed} failed)`);
  if (perConn !== null) {
    console.log(
      `${label}: server RSS ${(rssBefore / 1024).toFixed(1)} MiB before, ${(rssIdle / 1024).toFixed(1)} MiB idle with the clients: ${perConn.toFixed(1)} KiB per idle connection`,
    );
  }
  console.log(`${label}: ${writes.ok} updates written (write round trip p50 ${ms(percentile(writeLatencies, 50))} ms)`);
  // Socket.IO has no resync message: a lost event is only a lost delivery.
  console.log(`${label}: deliveries ${run.received}/${expected} (${lost} lost, ${run.duplicates} duplicate, ${run.outOfOrder} out of order; 0 resync frames)`);
  console.log(
    `${label}: update-to-delivery latency p50 ${ms(percentile(latencies, 50))} ms, p99 ${ms(percentile(latencies, 99))} ms, max ${ms(percentile(latencies, 100))} ms`,
  );
  console.log(
    `${label}: fan-out spread (after the update's first delivery) p50 ${ms(percentile(spreads, 50))} ms, p99 ${ms(percentile(spreads, 99))} ms`,
  );
  const fields = [
    label, o.clients, sockets.length, failed, writes.ok, expected, run.received, lost, run.duplicates,
    run.outOfOrder, ms(percentile(latencies, 50)), ms(percentile(latencies, 99)), ms(percentile(latencies, 100)),
    ms(percentile(writeLatencies, 50)), rssBefore ?? "NA", rssIdle ?? "NA",
    perConn === null ? "NA" : perConn.toFixed(2), rssAfter ?? "NA", connectS.toFixed(2), 0,
    ms(percentile(spreads, 50)), ms(percentile(spreads, 99)), "NA", "NA",
  ];
  console.log(`COLUMNS\t${TSV_HEADER}`);
  console.log(`RESULT\t${fields.join("\t")}`);
  clearTimeout(timer);
  const complete = failed === 0 && lost === 0 && run.duplicates === 0 && run.outOfOrder === 0;
  // Sockets close in the background; leave without waiting for them.
  setTimeout(() => process.exit(complete ? 0 : 3), 200);
}

main().catch((error) => fail(error.stack ?? String(error), 1));
