// The same measurement as jobs_bench.rs for Bull (the reference design's library) and
// BullMQ: JOBS no-op jobs added INFLIGHT at a time, processed CONCURRENCY at once by one
// worker in this process, removed on completion. Latency: processor start minus the job's
// timestamp (its add). Throughput: JOBS over first add to last completed event.
// Usage: node bench.js bull|bullmq   (prints one JSON line)
'use strict';

const JOBS = Number(process.env.JOBS || 10000);
const CONCURRENCY = Number(process.env.CONCURRENCY || 50);
const INFLIGHT = Number(process.env.INFLIGHT || 32);
const REDIS = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT || 6379) };

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

async function addAll(add) {
  let next = 0;
  const lanes = Array.from({ length: INFLIGHT }, async () => {
    while (next < JOBS) {
      next += 1;
      await add();
    }
  });
  await Promise.all(lanes);
}

function report(impl, waits, seconds, enqueueSeconds) {
  waits.sort((a, b) => a - b);
  console.log(JSON.stringify({
    impl, jobs: waits.length, concurrency: CONCURRENCY, inflight: INFLIGHT, seconds,
    enqueueSeconds, jobsPerSec: waits.length / seconds,
    p50Ms: percentile(waits, 50), p99Ms: percentile(waits, 99),
  }));
}

async function bull() {
  const Bull = require('bull');
  const prefix = `ccbench-bull-${process.pid}`;
  const queue = new Bull('noop', { redis: REDIS, prefix });
  await queue.isReady();
  const waits = [];
  let completed = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  queue.on('completed', () => { completed += 1; if (completed === JOBS) finish(Date.now()); });
  queue.process(CONCURRENCY, async (job) => { waits.push(Date.now() - job.timestamp); });
  const started = Date.now();
  await addAll(() => queue.add({}, { removeOnComplete: true }));
  const enqueueSeconds = (Date.now() - started) / 1000;
  const ended = await finished;
  report('bull', waits, (ended - started) / 1000, enqueueSeconds);
  await queue.obliterate({ force: true });
  await queue.close();
}

async function bullmq() {
  const { Queue, Worker } = require('bullmq');
  const prefix = `ccbench-bullmq-${process.pid}`;
  const queue = new Queue('noop', { connection: REDIS, prefix });
  const waits = [];
  let completed = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  const worker = new Worker('noop', async (job) => { waits.push(Date.now() - job.timestamp); },
    { connection: REDIS, prefix, concurrency: CONCURRENCY });
  worker.on('completed', () => { completed += 1; if (completed === JOBS) finish(Date.now()); });
  await worker.waitUntilReady();
  const started = Date.now();
  await addAll(() => queue.add('noop', {}, { removeOnComplete: true }));
  const enqueueSeconds = (Date.now() - started) / 1000;
  const ended = await finished;
  report('bullmq', waits, (ended - started) / 1000, enqueueSeconds);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
}

const which = process.argv[2];
const run = which === 'bull' ? bull : which === 'bullmq' ? bullmq : null;
if (!run) {
  console.error('usage: node bench.js bull|bullmq');
  process.exit(2);
}
run().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
