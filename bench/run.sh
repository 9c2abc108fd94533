#!/usr/bin/env bash
# Side-by-side wrk measurements: catalog-cache against the benchmark peers
# (../shared/peers: the actix-web floor and the express-seed reference implementation),
# in ONE run, interleaved, so the ratios compare like with like on a noisy machine.
#
#   bench/run.sh                    # writes bench/results/latest/{summary.md,runs.tsv,*.txt}
#
# Scenarios (each REPS times, interleaved a b c ... a b c ...):
#   floor-id      actix-floor    GET /api/products/{1..1000}           in-memory HashMap
#   cc-l1         catalog-cache  GET /api/products/{1..1000}           L1 hits (after warm-up)
#   express-id    express-seed   GET /api/products/{1..1000}           Redis-cached
#   cc-l2         catalog-cache  same, on an instance with L1 off      L2 (Redis) hits
#   cc-miss       catalog-cache  same, on an instance with L1 and L2 off   PostgreSQL every time
#   cc-list       catalog-cache  GET /api/products?category=X          L1 hits, 50 items a page
#   express-list  express-seed   GET /api/products?category=X          Redis-cached, 500 items
#   cc-l1-xff     catalog-cache  GET /api/products/{id} from 20,000 clients (ids-xff.lua), limiter off
#   cc-limited    catalog-cache  the same with the limiter on (default policies, 127.0.0.1 trusted)
#
# Env: DURATION (10s) CONNS (64) THREADS (1) REPS (3) WARMUP (5s) PEERS (/tmp/peers)
# Needs: cargo, node/npm, wrk, curl, redis-cli, PostgreSQL and Redis on 127.0.0.1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-10s}"; CONNS="${CONNS:-64}"; THREADS="${THREADS:-1}"; REPS="${REPS:-3}"
WARMUP="${WARMUP:-5s}"; PEERS="${PEERS:-/tmp/peers}"
OUT="${OUT:-bench/results/latest}"
SHARED_PEERS="${SHARED_PEERS:-$ROOT/../shared/peers}"
mkdir -p "$OUT"; rm -f "$OUT"/*.txt "$OUT"/*.tsv "$OUT"/*.log "$OUT"/summary.md

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_ready() { # URL NAME
  for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done
  echo "$2 not ready; see $OUT/$2.log" >&2; exit 1
}

echo "== peers (a writable copy at $PEERS)"
if [ ! -d "$PEERS" ]; then cp -r "$SHARED_PEERS" "$PEERS"; chmod -R u+w "$PEERS"; fi
(cd "$PEERS/actix-floor" && cargo build --release --quiet)
redis-cli --scan --pattern 'rate:*' | xargs -r redis-cli del >/dev/null
declare -A PEER_PID=()
PORT=3000 RATE_LIMIT_MAX=100000000 "$PEERS/express-seed/run.sh" > "$OUT/express-seed.log" 2>&1 &
PIDS+=($!); PEER_PID[express-seed]=$!
PORT=3100 "$PEERS/actix-floor/run.sh" > "$OUT/actix-floor.log" 2>&1 &
PIDS+=($!); PEER_PID[actix-floor]=$!

echo "== catalog-cache (release)"
cargo build --release --quiet
BIN=target/release/catalog-cache
export APP_ENV=production
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/catalog_cache_bench
export SESSION_SECRET="${SESSION_SECRET:-$(head -c 48 /dev/urandom | base64 | tr -d '\n')$(head -c 48 /dev/urandom | base64 | tr -d '\n')}"
export APP__LOG__LEVEL=warn
export HOST=127.0.0.1
$BIN seed --products 10000
redis-cli --scan --pattern 'ccbench*' | xargs -r redis-cli del >/dev/null
declare -A PID_OF=()
start_cc() { # NAME PORT PREFIX extra env...
  local name=$1 port=$2 prefix=$3; shift 3
  env PORT="$port" REDIS_PREFIX="$prefix" APP__RATE_LIMIT__ENABLED=false APP__SEED__DEMO_PRODUCTS=0 "$@" $BIN serve > "$OUT/$name.log" 2>&1 &
  PIDS+=($!); PID_OF[$name]=$!
}
start_cc cc 8090 ccbench1:
start_cc cc-nol1 8091 ccbench2: APP__CACHE__L1_ENABLED=false
start_cc cc-nocache 8092 ccbench3: APP__CACHE__L1_ENABLED=false APP__CACHE__L2_ENABLED=false
# The limited instance keeps the default policies (global: 1000 per 900 s per client)
# and trusts 127.0.0.1 as a proxy, so ids-xff.lua's X-Forwarded-For spreads the load over
# 20,000 clients, each far below its limit: every request runs the limiter's script and
# passes, as on a real service with many clients (one client at 30k req/s would only
# measure 429s, or, with the limit raised, a sorted set of millions of entries).
LIMITED_CONFIG=$(mktemp -d)
cp config/*.toml "$LIMITED_CONFIG/"
sed -i 's/^trusted_proxies = \[\]/trusted_proxies = ["127.0.0.1", "::1"]/' "$LIMITED_CONFIG/default.toml"
grep -q '^trusted_proxies = \["127.0.0.1"' "$LIMITED_CONFIG/default.toml"
start_cc cc-limited 8093 ccbench4: APP__RATE_LIMIT__ENABLED=true APP_CONFIG_DIR="$LIMITED_CONFIG"
for u in http://127.0.0.1:3000/health http://127.0.0.1:3100/health; do wait_ready "$u" "${u##*:}"; done
for p in 8090 8091 8092 8093; do wait_ready "http://127.0.0.1:$p/healthz" "cc-$p"; done

echo "== same product body shape?"
curl -s http://127.0.0.1:8090/api/products/1 | head -c 200; echo
curl -s http://127.0.0.1:3000/api/products/1 | head -c 200; echo

declare -A URL=(
  [floor-id]="http://127.0.0.1:3100 ids" [cc-l1]="http://127.0.0.1:8090 ids"
  [express-id]="http://127.0.0.1:3000 ids" [cc-l2]="http://127.0.0.1:8091 ids"
  [cc-miss]="http://127.0.0.1:8092 ids" [cc-list]="http://127.0.0.1:8090 categories"
  [express-list]="http://127.0.0.1:3000 categories" [cc-limited]="http://127.0.0.1:8093 ids-xff"
  [cc-l1-xff]="http://127.0.0.1:8090 ids-xff"
)
ORDER=(floor-id cc-l1 express-id cc-l2 cc-miss cc-list express-list cc-l1-xff cc-limited)

# The peers' scripts, plus ids-xff.lua of our own.
lua_path() { if [ -f "bench/$1.lua" ]; then echo "bench/$1.lua"; else echo "$PEERS/bench/$1.lua"; fi; }

echo "== warm-up ($WARMUP each, -c16)"
for s in "${ORDER[@]}"; do
  read -r base script <<< "${URL[$s]}"
  wrk -t1 -c16 -d"$WARMUP" -s "$(lua_path "$script")" "$base" | grep RESULT | sed "s/^/$s /"
done
curl -s -o /dev/null -D - http://127.0.0.1:8090/api/products/1 | grep -i x-cache
curl -s -o /dev/null -D - http://127.0.0.1:8091/api/products/1 | grep -i x-cache
curl -s -o /dev/null -D - http://127.0.0.1:8092/api/products/1 | grep -i x-cache

echo "== runs ($REPS x ${#ORDER[@]} scenarios, $DURATION each, -t$THREADS -c$CONNS)"
printf "scenario\trep\trps\tp50_us\tp99_us\terrors\tnon2xx\n" > "$OUT/runs.tsv"
for rep in $(seq 1 "$REPS"); do
  for s in "${ORDER[@]}"; do
    read -r base script <<< "${URL[$s]}"
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 30s --latency -s "$(lua_path "$script")" "$base" > "$OUT/$s.rep$rep.txt"
    line=$(grep RESULT "$OUT/$s.rep$rep.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$OUT/$s.rep$rep.txt"); non2xx=${non2xx:-0}
    rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<< "$line")
    p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<< "$line")
    p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<< "$line")
    errs=$(sed -E 's/.*err_connect=([0-9]+) err_read=([0-9]+) err_write=([0-9]+) err_status=([0-9]+) err_timeout=([0-9]+).*/\1+\2+\3+\4+\5/' <<< "$line" | bc)
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$s" "$rep" "$rps" "$p50" "$p99" "$errs" "$non2xx" | tee -a "$OUT/runs.tsv"
    sleep 2
  done
done

echo "== summary (medians)"
{
  echo "| scenario | req/s (median) | p50 µs | p99 µs | errors | non-2xx |"
  echo "|---|---:|---:|---:|---:|---:|"
  for s in "${ORDER[@]}"; do
    awk -F'\t' -v s="$s" '$1 == s' "$OUT/runs.tsv" | sort -t$'\t' -k3 -n | awk -F'\t' -v n="$REPS" '
      NR == int((n + 1) / 2) { printf "| %s | %.0f | %s | %s | %s | %s |\n", $1, $3, $4, $5, $6, $7 }'
  done
} | tee "$OUT/summary.md"
med() { awk -F'\t' -v s="$1" '$1 == s {print $3}' "$OUT/runs.tsv" | sort -n | awk -v n="$REPS" 'NR == int((n + 1) / 2)'; }
{
  echo
  echo "| ratio | value |"
  echo "|---|---:|"
  echo "| cc-l1 / floor-id | $(echo "scale=3; $(med cc-l1) / $(med floor-id)" | bc) |"
  echo "| cc-l1 / express-id | $(echo "scale=1; $(med cc-l1) / $(med express-id)" | bc) |"
  echo "| cc-limited / cc-l1-xff (limiter on / off) | $(echo "scale=3; $(med cc-limited) / $(med cc-l1-xff)" | bc) |"
  echo "| cc-limited / express-id (express's limiter is on) | $(echo "scale=1; $(med cc-limited) / $(med express-id)" | bc) |"
  echo "| cc-list / express-list | $(echo "scale=1; $(med cc-list) / $(med express-list)" | bc) |"
} | tee -a "$OUT/summary.md"

echo "== memory (VmHWM: peak RSS over the whole run; VmRSS: now)"
{
  echo
  echo "| server | peak RSS (VmHWM) | RSS at the end |"
  echo "|---|---:|---:|"
  for name in express-seed actix-floor; do
    pid=${PEER_PID[$name]}
    echo "| $name | $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status) | $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status) |"
  done
  for name in cc cc-nol1 cc-nocache cc-limited; do
    pid=${PID_OF[$name]}
    echo "| catalog-cache $name | $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status) | $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status) |"
  done
} | tee -a "$OUT/summary.md"
echo "rate-limiter fallbacks logged by cc-limited (0 means every check went to Redis): $(grep -c 'rate limiter cannot reach redis' "$OUT/cc-limited.log" || true)" | tee -a "$OUT/summary.md"
