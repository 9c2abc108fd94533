#!/usr/bin/env bash
# Redis memory of the rate limiter per identity, for both algorithms, on a private
# redis-server (loopback, no persistence; the shared Redis on 6379 is not touched).
#
#   bench/limiter-memory.sh            # prints a markdown table; ~1 minute
#
# - sliding_log: N identities (default 10,000), each at the full `global` quota: a sorted
#   set of LIMIT (1000) entries, members shaped like the limiter's (`{32 hex}:{sequence}`),
#   scores in ms, PEXPIRE as the script sets it. Built server-side in Lua batches (ten
#   million ZADDs through the real script would take minutes), then checked against one key
#   filled by src/ratelimit/script.lua itself (LIMIT runs through redis-benchmark).
# The script's arguments: a batch of one request (`1 <member> 1 <algorithm> <limit> <window>`).
# - gcra: N identities, one TAT integer each with its PX, checked the same way.
# Reported: `used_memory` delta (INFO memory) / N, and MEMORY USAGE of one key.
# Env: N (10000) LIMIT (1000) PORT (6399)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${N:-10000}"; LIMIT="${LIMIT:-1000}"; PORT="${PORT:-6399}"
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
  --logfile "$DIR/redis.log" --daemonize no &
RPID=$!
trap 'kill $RPID 2>/dev/null || true; wait $RPID 2>/dev/null || true; rm -rf "$DIR"' EXIT
R() { redis-cli -p "$PORT" "$@"; }
for _ in $(seq 1 50); do R ping >/dev/null 2>&1 && break; sleep 0.1; done

used() { R info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
ident() { echo "cc:rl:global:{ip:198.18.$(( $1 / 256 )).$(( $1 % 256 ))}"; }

# ARGV: first id, count, entries per key, base ms; keys named as the middleware names them.
FILL_LOG='
local first, count, n, base = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for id = first, first + count - 1 do
  local key = "cc:rl:global:{ip:198.18." .. math.floor(id / 256) .. "." .. (id % 256) .. "}"
  for j = 1, n do
    redis.call("ZADD", key, base + j, "9f1c2b7e4d3a4f6b8c0d1e2f3a4b5c6d:" .. (id * n + j))
  end
  redis.call("PEXPIRE", key, 900000)
end
return count'
FILL_GCRA='
local first, count, base = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for id = first, first + count - 1 do
  local key = "cc:rl:global:gcra:{ip:198.18." .. math.floor(id / 256) .. "." .. (id % 256) .. "}"
  redis.call("SET", key, string.format("%d", base * 1000 + id), "PX", 900000)
end
return count'

NOW_MS=$(( $(date +%s) * 1000 ))
BATCH=100
SHA=$(R script load "$(cat "$ROOT/src/ratelimit/script.lua")")

R flushall >/dev/null; sleep 0.2
before=$(used)
for ((first = 0; first < N; first += BATCH)); do
  R eval "$FILL_LOG" 0 "$first" "$BATCH" "$LIMIT" "$NOW_MS" >/dev/null
done
after=$(used)
log_per=$(( (after - before) / N ))
log_key=$(R memory usage "$(ident 7)" samples 0)
log_card=$(R zcard "$(ident 7)")
# The same quota filled by the limiter's own script (each run adds one entry).
REAL='cc:rl:global:{ip:203.0.113.7}'
redis-benchmark -p "$PORT" -q -n "$LIMIT" -c 1 -r 1000000000 \
  evalsha "$SHA" 1 "$REAL" 1 0123456789abcdef0123456789abcdef:__rand_int__ 1 l "$LIMIT" 900000 >/dev/null
real_log_key=$(R memory usage "$REAL" samples 0)
real_card=$(R zcard "$REAL")

R flushall >/dev/null; sleep 0.2
before=$(used)
for ((first = 0; first < N; first += BATCH * 10)); do
  R eval "$FILL_GCRA" 0 "$first" "$(( BATCH * 10 ))" "$NOW_MS" >/dev/null
done
after=$(used)
gcra_per=$(( (after - before) / N ))
gcra_key=$(R memory usage "cc:rl:global:gcra:{ip:198.18.0.7}" samples 0)
REALG='cc:rl:global:gcra:{ip:203.0.113.7}'
R evalsha "$SHA" 1 "$REALG" 1 member 1 g "$LIMIT" 900000 >/dev/null
real_gcra_key=$(R memory usage "$REALG" samples 0)

cat <<EOF
| algorithm | identities | entries per identity | used_memory delta / identity | MEMORY USAGE of one key (synthetic / filled by script.lua) | total for $N identities |
|---|---:|---:|---:|---:|---:|
| sliding_log | $N | $log_card (script: $real_card) | $log_per B | $log_key B / $real_log_key B | $(( log_per * N / 1024 / 1024 )) MiB |
| gcra | $N | 1 | $gcra_per B | $gcra_key B / $real_gcra_key B | $(( gcra_per * N / 1024 )) KiB |
EOF
echo "redis: $(R info server | awk -F: '/^redis_version:/ {print $2}' | tr -d '\r'), zset-max-listpack-entries $(R config get zset-max-listpack-entries | tail -1)"
