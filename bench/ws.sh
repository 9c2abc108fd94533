#!/usr/bin/env bash
# WebSocket fan-out, catalog-cache against Socket.IO + its Redis adapter, in ONE run
# (issue 8's benchmark; docs/PERFORMANCE.md#websocket-fan-out). Loopback only, every run
# bounded by a timeout; stops everything it started.
#
#   bench/ws.sh                                  # 100, 1,000, 10,000 clients; writes bench/results/ws-<date>/
#   SIZES="100 1000" NOTE="machine busy, preliminary" bench/ws.sh
#
# For each size (and each repetition), interleaved:
#   catalog-cache  instance A (fresh) holds N clients subscribed to `products`; instance B
#                  takes M `PUT /api/products/{id}` (admin token); both share the shared
#                  Redis under a private prefix and a database of their own, seeded here.
#                  bench/ws-load measures delivery latency at every client and A's RSS.
#   socketio       node A (fresh, bench/socketio/server.js) holds N Socket.IO clients in
#                  room "products"; node B takes the same PUTs and emits through the Redis
#                  adapter (own channel key); bench/ws-load --protocol socketio measures it
#                  with the same Rust client (the ratio is taken against this row).
#   socketio-node  the same, measured by bench/socketio/load.js (socket.io-client, one
#                  Node process): the peer's own client.
# A is restarted before each run so its RSS before/idle compares like with like.
#
# Env: SIZES ("100 1000 10000") UPDATES (50) INTERVAL_MS (max(200, clients / 10)) REPS (1) RUN_TIMEOUT (240 s)
#      CONNECT_CONCURRENCY (64) NOTE (a line put at the top of summary.md) OUT; the
#      service's own APP__* variables pass through (e.g. APP__REDIS__TIMEOUT_MS).
#      BASE_BIN: another catalog-cache binary (e.g. a copy of the main branch's release
#      build) measured as `catalog-cache-base` as instance A, interleaved in the same run
#      (an A/B of a change on a busy machine; B, the writer, is this tree's build).
#      NODE_CLIENT (1): 0 leaves out the socketio-node row (shorter A/B runs).
# Needs: cargo, node 20 + npm (npm ci from the registry), curl, redis-cli, psql, python3,
#        PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

SIZES="${SIZES:-100 1000 10000}"; UPDATES="${UPDATES:-50}"; INTERVAL_MS="${INTERVAL_MS:-}"
BASE_BIN="${BASE_BIN:-}"; NODE_CLIENT="${NODE_CLIENT:-1}"
REPS="${REPS:-1}"; RUN_TIMEOUT="${RUN_TIMEOUT:-240}"; CONNECT_CONCURRENCY="${CONNECT_CONCURRENCY:-64}"
NOTE="${NOTE:-}"
OUT="${OUT:-bench/results/ws-$(date -u +%F)}"
mkdir -p "$OUT"; rm -f "$OUT"/*.txt "$OUT"/*.tsv "$OUT"/*.log "$OUT"/summary.md
t_start=$SECONDS

# One file descriptor per client, in the load tool and in the server: raise the limit.
max_size=$(tr ' ' '\n' <<< "$SIZES" | sort -n | tail -1)
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then ulimit -n 65536; else ulimit -n "$hard"; fi
if [ "$(ulimit -n)" -lt $((max_size + 1024)) ]; then
  echo "ulimit -n is $(ulimit -n): too low for $max_size clients (raise the hard limit)" >&2; exit 1
fi

DB=catalog_cache_wsbench
PREFIX="ccws-$$:"
SIO_KEY="wsbench-sio-$$"
source bench/lib.sh
cleanup() {
  stop_all
  redis-cli --scan --pattern "${PREFIX}*" | xargs -r redis-cli del >/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "== build (release) and npm ci"
# One package at a time: built together, cargo would unify their dependencies' features
# and rebuild the service differently from `cargo build --release` (and bench/run.sh).
cargo build --release --quiet -p catalog-cache
cargo build --release --quiet -p ws-load
BIN=target/release/catalog-cache
LOAD=target/release/ws-load
(cd bench/socketio && npm ci --no-audit --no-fund --silent)

echo "== database $DB (100 demo products)"
export APP_ENV=production APP__LOG__LEVEL=warn HOST=127.0.0.1 APP__SERVER__WORKERS=2
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export REDIS_URL=redis://127.0.0.1:6379 REDIS_PREFIX="$PREFIX"
export SESSION_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
export ADMIN_TOKEN="$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
# The limiter is off, and the connection caps (settings of the WebSocket hub) generous.
export APP__RATE_LIMIT__ENABLED=false APP__SEED__DEMO_PRODUCTS=0
export APP__REALTIME__MAX_CONNECTIONS=20000 APP__REALTIME__MAX_CONNECTIONS_PER_IP=20000
$BIN seed --products 100

start_cc() { # NAME [BINARY] -> sets CC_PORT, CC_PID
  CC_PORT=$(free_port)
  PORT="$CC_PORT" "${2:-$BIN}" serve > "$OUT/$1.log" 2>&1 &
  CC_PID=$!; PIDS+=("$CC_PID")
  wait_ready "http://127.0.0.1:$CC_PORT/healthz" "$1" 120
}
start_sio() { # NAME -> sets SIO_PORT, SIO_PID
  SIO_PORT=$(free_port)
  node bench/socketio/server.js --port "$SIO_PORT" --key "$SIO_KEY" > "$OUT/$1.log" 2>&1 &
  SIO_PID=$!; PIDS+=("$SIO_PID")
  wait_ready "http://127.0.0.1:$SIO_PORT/health" "$1" 120
}

start_cc cc-b; CC_B_PORT=$CC_PORT
start_sio sio-b; SIO_B_PORT=$SIO_PORT
# The write instance answers a write before any client is connected.
curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"description":"ws.sh warm-up"}' "http://127.0.0.1:$CC_B_PORT/api/products/1"
curl -sf -o /dev/null -X PUT -H 'Content-Type: application/json' \
  -d '{"description":"ws.sh warm-up"}' "http://127.0.0.1:$SIO_B_PORT/api/products/1"

record() { # NAME SIZE REP FILE RC
  if ! grep -q '^RESULT' "$4"; then
    echo "$1 $2 clients (rep $3): no result (exit $5); see $4" >&2
    printf "%s\t%s\t%s\t%s\n" "$1" "$2" "$3" "$5" >> "$OUT/failed.tsv"
    return
  fi
  if [ ! -f "$OUT/runs.tsv" ]; then
    printf "impl\tsize\trep\texit\t%s\n" "$(grep '^COLUMNS' "$4" | cut -f2-)" > "$OUT/runs.tsv"
  fi
  printf "%s\t%s\t%s\t%s\t%s\n" "$1" "$2" "$3" "$5" "$(grep '^RESULT' "$4" | cut -f2-)" >> "$OUT/runs.tsv"
}

interval_note=${INTERVAL_MS:-"max(200, clients / 10)"}
echo "== runs: sizes $SIZES, $UPDATES updates $interval_note ms apart, $REPS rep(s)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq 1 "$REPS"); do
  for size in $SIZES; do
    # Updates far enough apart that each one's fan-out is measured on its own (the
    # target is per update), not a queue of them: 200 ms, 1 s at 10,000 clients.
    interval=${INTERVAL_MS:-$(( size / 10 > 200 ? size / 10 : 200 ))}
    COMMON=(--clients "$size" --updates "$UPDATES" --interval-ms "$interval"
      --connect-concurrency "$CONNECT_CONCURRENCY" --timeout-secs "$RUN_TIMEOUT")

    if [ -n "$BASE_BIN" ]; then
      start_cc "cc-base-a-$size-$rep" "$BASE_BIN"
      file="$OUT/catalog-cache-base.$size.rep$rep.txt"; rc=0
      timeout $((RUN_TIMEOUT + 10)) "$LOAD" --ws-url "ws://127.0.0.1:$CC_PORT/ws" \
        --write-url "http://127.0.0.1:$CC_B_PORT" --server-pid "$CC_PID" --label catalog-cache-base \
        "${COMMON[@]}" > "$file" 2>&1 || rc=$?
      stop "$CC_PID"
      grep -v '^COLUMNS\|^RESULT' "$file" || true
      record catalog-cache-base "$size" "$rep" "$file" "$rc"
    fi

    start_cc "cc-a-$size-$rep"
    file="$OUT/catalog-cache.$size.rep$rep.txt"; rc=0
    timeout $((RUN_TIMEOUT + 10)) "$LOAD" --ws-url "ws://127.0.0.1:$CC_PORT/ws" \
      --write-url "http://127.0.0.1:$CC_B_PORT" --server-pid "$CC_PID" --label catalog-cache \
      --per-update "$OUT/catalog-cache.$size.rep$rep.updates.tsv" "${COMMON[@]}" > "$file" 2>&1 || rc=$?
    stop "$CC_PID"
    grep -v '^COLUMNS\|^RESULT' "$file" || true
    record catalog-cache "$size" "$rep" "$file" "$rc"

    # Socket.IO measured by the same Rust client (the comparison) ...
    start_sio "sio-a-$size-$rep"
    file="$OUT/socketio.$size.rep$rep.txt"; rc=0
    timeout $((RUN_TIMEOUT + 10)) "$LOAD" --protocol socketio \
      --ws-url "ws://127.0.0.1:$SIO_PORT/socket.io/?EIO=4&transport=websocket" \
      --write-url "http://127.0.0.1:$SIO_B_PORT" --server-pid "$SIO_PID" --label socketio \
      "${COMMON[@]}" > "$file" 2>&1 || rc=$?
    stop "$SIO_PID"
    grep -v '^COLUMNS\|^RESULT' "$file" || true
    record socketio "$size" "$rep" "$file" "$rc"

    # ... and by its own client, socket.io-client in one Node process.
    [ "$NODE_CLIENT" = 0 ] && continue
    start_sio "sio-node-a-$size-$rep"
    file="$OUT/socketio-node.$size.rep$rep.txt"; rc=0
    timeout $((RUN_TIMEOUT + 10)) node bench/socketio/load.js --url "http://127.0.0.1:$SIO_PORT" \
      --write-url "http://127.0.0.1:$SIO_B_PORT" --server-pid "$SIO_PID" --label socketio-node \
      "${COMMON[@]}" > "$file" 2>&1 || rc=$?
    stop "$SIO_PID"
    grep -v '^COLUMNS\|^RESULT' "$file" || true
    record socketio-node "$size" "$rep" "$file" "$rc"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== summary"
[ -f "$OUT/runs.tsv" ] || { echo "no run produced a result" >&2; exit 1; }
{
  echo "# WebSocket fan-out: catalog-cache vs Socket.IO + Redis adapter"
  echo
  if [ -n "$NOTE" ]; then echo "**$NOTE**"; echo; fi
  echo "- $(date -u '+%F %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) cores; load average before $load_before, after $load_after"
  echo "- \`SIZES=\"$SIZES\" UPDATES=$UPDATES REPS=$REPS${INTERVAL_MS:+ INTERVAL_MS=$INTERVAL_MS} bench/ws.sh\` ($((SECONDS - t_start)) s; updates $interval_note ms apart)"
  echo "- latency: from the moment the update's HTTP write is sent to instance/node B to its delivery at each client on A (all clients, all updates); catalog-cache's write also commits to PostgreSQL, the Socket.IO node's does not"
  echo "- spread: each delivery's time after the same update's first delivery to any client: the fan-out alone, without the write and the trip to the first client"
  echo "- RSS per idle connection: (VmRSS of A with the clients connected, subscribed and idle for 2 s − VmRSS of the fresh A before) / clients"
  echo
  echo "- server CPU per delivery: CPU time of A (all threads, /proc/PID/task/*/schedstat) from the first write to the last delivery / deliveries; steadier than latency on a busy machine (Node client rows: NA)"
  echo "- load tool CPU per delivery: the same for bench/ws-load itself (all its clients and its writer), which shares the two cores with the server: what the clients cost bounds the latency a run can show (Node client rows: NA)"
  echo
  echo "| impl | clients | rep | delivered / expected | resync frames | p50 ms | p99 ms | max ms | spread p50 ms | spread p99 ms | write p50 ms | RSS KiB / idle conn | server CPU µs / delivery | load tool CPU µs / delivery | connect s | exit |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $11, $10, $24, $15, $16, $17, $25, $26, $18, $21, ($27 == "" ? "NA" : $27), ($28 == "" ? "NA" : $28), $23, $4 }' "$OUT/runs.tsv"
  echo
  echo "Side by side (median over the reps; both measured by bench/ws-load; ratio = Socket.IO p99 / catalog-cache p99):"
  echo
  echo "| clients | catalog-cache p50 ms | Socket.IO p50 ms | catalog-cache p99 ms | Socket.IO p99 ms | p99 ratio (target ≥ 5) | catalog-cache spread p99 ms | Socket.IO spread p99 ms | spread p99 ratio | Socket.IO p99 ms, Node client | catalog-cache KiB / conn | Socket.IO KiB / conn |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  med() { # IMPL SIZE COLUMN
    awk -F'\t' -v i="$1" -v s="$2" -v c="$3" 'NR > 1 && $1 == i && $2 == s && $c != "NA" {print $c}' "$OUT/runs.tsv" \
      | sort -g | awk '{v[NR] = $1} END {
          if (!NR) print "NA"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
  }
  for size in $SIZES; do
    cc=$(med catalog-cache "$size" 16); sio=$(med socketio "$size" 16)
    ratio=$(awk -v a="$sio" -v b="$cc" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.1f", a / b }')
    cc_spread=$(med catalog-cache "$size" 26); sio_spread=$(med socketio "$size" 26)
    spread_ratio=$(awk -v a="$sio_spread" -v b="$cc_spread" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.1f", a / b }')
    echo "| $size | $(med catalog-cache "$size" 15) | $(med socketio "$size" 15) | $cc | $sio | $ratio | $cc_spread | $sio_spread | $spread_ratio | $(med socketio-node "$size" 16) | $(med catalog-cache "$size" 21) | $(med socketio "$size" 21) |"
  done
  if [ -n "$BASE_BIN" ]; then
    echo
    echo "A/B in the same run: \`catalog-cache-base\` is \`$BASE_BIN\` (ratio = base / this tree; above 1 means this tree is faster or smaller):"
    echo
    echo "| clients | base p99 ms | this p99 ms | p99 ratio | base spread p99 ms | this spread p99 ms | spread p99 ratio | base KiB / conn | this KiB / conn | base CPU µs / delivery | this CPU µs / delivery | CPU ratio |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for size in $SIZES; do
      b=$(med catalog-cache-base "$size" 16); t=$(med catalog-cache "$size" 16)
      bs=$(med catalog-cache-base "$size" 26); ts=$(med catalog-cache "$size" 26)
      ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.2f", a / b }'; }
      bc=$(med catalog-cache-base "$size" 27); tc=$(med catalog-cache "$size" 27)
      echo "| $size | $b | $t | $(ratio "$b" "$t") | $bs | $ts | $(ratio "$bs" "$ts") | $(med catalog-cache-base "$size" 21) | $(med catalog-cache "$size" 21) | $bc | $tc | $(ratio "$bc" "$tc") |"
    done
  fi
  echo
  echo "Targets (issue 8): 100 clients across instances p99 < 10 ms; 10,000 clients p99 < 250 ms and < 20 KiB RSS per idle connection; fan-out p99 ≥ 5× lower than Socket.IO's."
  unpublished=$(grep -c 'product event not published' "$OUT/cc-b.log" || true)
  echo
  echo "catalog-cache B logged $unpublished product event(s) not published (a Redis command over \`redis.timeout_ms\`: the write committed, the clients get \`resync\` instead of the event)."
  if [ -f "$OUT/failed.tsv" ]; then
    echo; echo "Runs without a result: $(tr '\t\n' ' ;' < "$OUT/failed.tsv")"
  fi
} | tee "$OUT/summary.md"
