#!/usr/bin/env bash
# A signed-in client's read latency while anonymous sockets replay the history without
# end (issue 19, item 3), against one release instance in production settings (2
# workers, redis.timeout_ms 50) on a private redis-server, loopback only:
#
#   bench/replay-attack.sh      # ~1 minute; writes bench/results/replay-attack-latest/
#
# A 3,000-event history is written first; then the same signed-in client reads
# GET /api/products/{1..100} one at a time for IDLE_SECS alone, and for ATTACK_SECS
# while ATTACKERS anonymous sockets send {"type":"subscribe","topics":["products"],
# "since":1} again and again. Prints p50/p99 of both phases and their ratio, how often
# the request-path breaker opened during the attack, and the instance's log lines.
# Env: BIN (built when unset), ATTACKERS (50), IDLE_SECS (10), ATTACK_SECS (15),
# PORT (8197), REDIS_PORT (6397), OUT
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PORT="${PORT:-8197}"; REDIS_PORT="${REDIS_PORT:-6397}"
OUT="${OUT:-bench/results/replay-attack-latest}"
mkdir -p "$OUT"
source bench/lib.sh
WORK=$(mktemp -d)
trap 'stop_all; rm -rf "$WORK"' EXIT

VENV=target/bench-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q websockets==13.1 httpx==0.27.2

if [ -z "${BIN:-}" ]; then cargo build --release --quiet --bin catalog-cache; BIN=target/release/catalog-cache; fi
start_private_redis "$REDIS_PORT" "$WORK"
export APP_ENV=production HOST=127.0.0.1 PORT APP__SERVER__WORKERS=2 APP__RATE_LIMIT__ENABLED=false
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/catalog_cache_replay_bench
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export SESSION_SECRET="$(head -c 96 /dev/urandom | base64 -w0)"
export ADMIN_TOKEN="$(head -c 32 /dev/urandom | base64 -w0 | tr -d '+/=')bench"
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS catalog_cache_replay_bench WITH (FORCE)"
"$BIN" seed --products 100
"$BIN" serve >"$OUT/instance.log" 2>&1 &
PIDS+=("$!")
wait_ready "http://127.0.0.1:$PORT/readyz" instance
BASE="http://127.0.0.1:$PORT" TOKEN="$ADMIN_TOKEN" "$VENV/bin/python" bench/replay-attack/attack.py | tee "$OUT/result.json"
echo "instance log lines: $(wc -l <"$OUT/instance.log")" | tee -a "$OUT/result.json"
