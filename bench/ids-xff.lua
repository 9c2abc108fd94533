-- wrk script: GET /api/products/{id}, id cycling 1..N (N = env IDS, default 1000), each
-- request from one of M clients (M = env CLIENTS, default 20000) named in
-- X-Forwarded-For with addresses from 198.18.0.0/15, the range set aside for
-- benchmarks (RFC 2544). Only a server that trusts the direct peer (127.0.0.1) as a
-- proxy reads the header; it is just a header here, no traffic goes to those addresses.
local n = tonumber(os.getenv("IDS") or "1000")
local clients = tonumber(os.getenv("CLIENTS") or "20000")
local counter = 0
local client = 0

request = function()
  counter = counter % n + 1
  client = client % clients + 1
  local ip = string.format("198.%d.%d.%d", 18 + math.floor(client / 65536) % 2,
    math.floor(client / 256) % 256, client % 256)
  return wrk.format("GET", "/api/products/" .. counter, { ["X-Forwarded-For"] = ip })
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d bytes=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout))
end
