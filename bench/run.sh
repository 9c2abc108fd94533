#!/usr/bin/env bash
# The benchmark report in ONE command: regenerates docs/PERFORMANCE.md (the part between
# `<!-- generated:begin -->` and `<!-- generated:end -->`; the hand-written analysis
# around it stays) from one run, with the machine, the date and every command it ran.
#
#   bench/run.sh            # ~12 minutes of its own on an idle machine, plus bench/ws.sh and bench/jobs.sh;
#                           # writes bench/results/latest/ and docs/PERFORMANCE.md
#   DURATION=2s QUICK=1 REPORT=/tmp/p/PERFORMANCE.md bench/run.sh   # a check that every part works (~5 minutes)
#
# catalog-cache against the benchmark peers (../shared/peers: the actix-web floor and the
# express-seed reference implementation), interleaved (a b c ... a b c ...) so the ratios
# compare like with like on a noisy machine:
#   floor-id      actix-floor    GET /api/products/{1..1000}           in-memory HashMap
#   cc-l1         catalog-cache  GET /api/products/{1..1000}           L1 hits (after warm-up)
#   express-id    express-seed   GET /api/products/{1..1000}           Redis-cached
#   cc-l2         catalog-cache  same, on an instance with L1 off      L2 (Redis) hits
#   cc-miss       catalog-cache  same, on an instance with L1 and L2 off   PostgreSQL every time
#   cc-list       catalog-cache  GET /api/products?category=X          L1 hits, 50 items a page
#   express-list  express-seed   GET /api/products?category=X          Redis-cached, 500 items
#   cc-l1-xff     catalog-cache  GET /api/products/{id} from 20,000 clients (ids-xff.lua), limiter off
#   cc-limited    catalog-cache  the same with the limiter on (default policies, 127.0.0.1 trusted)
# then:
#   connections   cc-l1, floor-id and express-id at SWEEP_CONNS connections (table and PNG plot)
#   cluster       three instances behind nginx (scripts/cluster.sh) against one instance
#                 direct and one cluster instance direct, the cc-l1 scenario
#   propagation   bench/propagation: N writes on one instance, each timed from its answer
#                 until the other instance's L1 no longer serves the old version
#   ws, jobs      bench/ws.sh and bench/jobs.sh (or bench/jobs/run.sh) when present, with
#                 their own servers; their summary.md goes into the report
#
# Env: DURATION (10s) CONNS (64) THREADS (1) REPS (3) WARMUP (5s) PEERS (/tmp/peers)
#      SWEEP_CONNS ("1 16 64 256") SWEEP_DURATION (DURATION) WRITES (200)
#      REPORT (docs/PERFORMANCE.md) NOTE (a line printed at the top of the report) OUT
#      WS_REPS (1) JOBS_REPS (3): repetitions of bench/ws.sh and bench/jobs.sh
#      QUICK=1: one repetition, 1 s warm-ups, the smallest ws/jobs runs (to check the script)
# Installs wrk, gnuplot-nox, bc and nginx-light with apt-get when missing. Needs cargo,
# node/npm, curl, redis-cli, psql, python3, PostgreSQL and Redis on 127.0.0.1.
# Loopback only; every run is bounded by `timeout`; everything started is stopped on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

QUICK="${QUICK:-0}"
DURATION="${DURATION:-10s}"; CONNS="${CONNS:-64}"; THREADS="${THREADS:-1}"
if [ "$QUICK" = 1 ]; then REPS="${REPS:-1}"; WARMUP="${WARMUP:-1s}"; else REPS="${REPS:-3}"; WARMUP="${WARMUP:-5s}"; fi
PEERS="${PEERS:-/tmp/peers}"
SWEEP_CONNS="${SWEEP_CONNS:-1 16 64 256}"; SWEEP_DURATION="${SWEEP_DURATION:-$DURATION}"
WRITES="${WRITES:-200}"
# The other benchmarks' repetitions (their own defaults), set here so this script's REPS
# does not leak into them through the environment.
if [ "$QUICK" = 1 ]; then WS_REPS=1; JOBS_REPS=1; else WS_REPS="${WS_REPS:-1}"; JOBS_REPS="${JOBS_REPS:-3}"; fi
REPORT="${REPORT:-docs/PERFORMANCE.md}"; NOTE="${NOTE:-}"
OUT="${OUT:-bench/results/latest}"
SHARED_PEERS="${SHARED_PEERS:-$ROOT/../shared/peers}"
mkdir -p "$OUT"
rm -rf "$OUT"/*.txt "$OUT"/*.tsv "$OUT"/*.log "$OUT"/*.md "$OUT"/*.png "$OUT"/ws "$OUT"/jobs
T_START=$SECONDS
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------
# Bookkeeping: every command that matters goes through `run`, which records it for the
# report's command list; `section` times each part.
COMMANDS="$OUT/commands.txt"; : > "$COMMANDS"
note_cmd() { # the command line, each word quoted for the shell where it needs it
  local word line=""
  for word in "$@"; do
    if [[ -z $word || $word =~ [^A-Za-z0-9_./:=@%+,-] ]]; then line+="'${word//\'/\'\\\'\'}' "; else line+="$word "; fi
  done
  printf '%s\n' "${line% }" >> "$COMMANDS"
}
run() { note_cmd "$@"; "$@"; }
# Servers run in the background (`&`) with their output in $OUT/<name>.log.
T_SECTION=$SECONDS; SECTION=""
section() {
  [ -n "$SECTION" ] && printf "%s\t%s\n" "$SECTION" $((SECONDS - T_SECTION)) >> "$OUT/timings.tsv"
  SECTION="$1"; T_SECTION=$SECONDS
  echo "== $1"
}
secs() { # 10s | 2m -> seconds
  case "$1" in *m) echo $(( ${1%m} * 60 )) ;; *s) echo "${1%s}" ;; *) echo "$1" ;; esac
}

source bench/lib.sh
CLUSTER_UP=0
stop_servers() {
  if [ -n "${FLOOR_NGINX:-}" ] && [ -f "$FLOOR_NGINX/nginx.pid" ]; then
    nginx -c "$FLOOR_NGINX/nginx.conf" -s stop 2>/dev/null || true
  fi
  if [ "$CLUSTER_UP" = 1 ]; then env "${CLUSTER_ENV[@]}" scripts/cluster.sh down || true; CLUSTER_UP=0; fi
  stop_all
}
WORK=$(mktemp -d)
cleanup() {
  stop_servers
  redis-cli --scan --pattern 'ccbench*' | xargs -r redis-cli del >/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

section "tools"
need() { # COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null && return 0
  echo "installing Debian's $2 (for $1)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
}
need wrk wrk; need gnuplot gnuplot-nox; need bc bc; need nginx nginx-light
for tool in cargo node npm curl redis-cli psql python3 ss; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
PORTS_USED=(3000 3100 8090 8091 8092 8093 8094 8095 8096 8097 8098 8099)
for p in "${PORTS_USED[@]}"; do
  if ss -Hltn "sport = :$p" | grep -q .; then
    echo "port $p is in use: stop what listens there first" >&2; exit 1
  fi
done

section "machine"
bench/report/machine.sh "$LOAD_BEFORE" > "$OUT/machine.md"
cat "$OUT/machine.md"

# ---------------------------------------------------------------------------------------
section "peers (a writable copy at $PEERS)"
if [ ! -d "$PEERS" ]; then cp -r "$SHARED_PEERS" "$PEERS"; chmod -R u+w "$PEERS"; fi
(cd "$PEERS/actix-floor" && cargo build --release --quiet)
redis-cli --scan --pattern 'rate:*' | xargs -r redis-cli del >/dev/null
declare -A PEER_PID=()
note_cmd env PORT=3000 RATE_LIMIT_MAX=100000000 "$PEERS/express-seed/run.sh"
PORT=3000 RATE_LIMIT_MAX=100000000 "$PEERS/express-seed/run.sh" > "$OUT/express-seed.log" 2>&1 &
PIDS+=($!); PEER_PID[express-seed]=$!
note_cmd env PORT=3100 "$PEERS/actix-floor/run.sh"
PORT=3100 "$PEERS/actix-floor/run.sh" > "$OUT/actix-floor.log" 2>&1 &
PIDS+=($!); PEER_PID[actix-floor]=$!

section "catalog-cache and bench/propagation (release)"
# Built apart: a joint build would unify the two crates' features and rebuild the service.
run cargo build --release --quiet --bin catalog-cache
run cargo build --release --quiet -p propagation
BIN=target/release/catalog-cache
export APP_ENV=production
DB_NAME=catalog_cache_bench
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB_NAME
export SESSION_SECRET="${SESSION_SECRET:-$(head -c 48 /dev/urandom | base64 | tr -d '\n')$(head -c 48 /dev/urandom | base64 | tr -d '\n')}"
# The writer of the propagation runs acts as admin with this token (48 hex characters).
export ADMIN_TOKEN="${ADMIN_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export APP__LOG__LEVEL=warn
export HOST=127.0.0.1
run $BIN seed --products 10000
redis-cli --scan --pattern 'ccbench*' | xargs -r redis-cli del >/dev/null
declare -A PID_OF=()
start_cc() { # NAME PORT PREFIX extra env...
  local name=$1 port=$2 prefix=$3; shift 3
  note_cmd env PORT="$port" REDIS_PREFIX="$prefix" APP__RATE_LIMIT__ENABLED=false APP__SEED__DEMO_PRODUCTS=0 "$@" $BIN serve
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
LIMITED_CONFIG="$WORK/config-limited"
mkdir -p "$LIMITED_CONFIG"; cp config/*.toml "$LIMITED_CONFIG/"
sed -i 's/^trusted_proxies = \[\]/trusted_proxies = ["127.0.0.1", "::1"]/' "$LIMITED_CONFIG/default.toml"
grep -q '^trusted_proxies = \["127.0.0.1"' "$LIMITED_CONFIG/default.toml"
echo "# config/*.toml copied to \$WORK/config-limited, with rate_limit.trusted_proxies = [\"127.0.0.1\", \"::1\"]" >> "$COMMANDS"
start_cc cc-limited 8093 ccbench4: APP__RATE_LIMIT__ENABLED=true APP_CONFIG_DIR="$LIMITED_CONFIG"
# The propagation writer: a second instance on cc's Redis prefix (so it shares cc's L2 and
# invalidation channel) and the same database.
start_cc cc-writer 8094 ccbench1:
for u in http://127.0.0.1:3000/health http://127.0.0.1:3100/health; do wait_ready "$u" "${u##*:}"; done
for p in 8090 8091 8092 8093 8094; do wait_ready "http://127.0.0.1:$p/healthz" "cc-$p"; done

echo "== same product body shape?"
curl -s http://127.0.0.1:8090/api/products/1 | head -c 200; echo
curl -s http://127.0.0.1:3000/api/products/1 | head -c 200; echo

declare -A URL=(
  [floor-id]="http://127.0.0.1:3100 ids" [cc-l1]="http://127.0.0.1:8090 ids"
  [express-id]="http://127.0.0.1:3000 ids" [cc-l2]="http://127.0.0.1:8091 ids"
  [cc-miss]="http://127.0.0.1:8092 ids" [cc-list]="http://127.0.0.1:8090 categories"
  [express-list]="http://127.0.0.1:3000 categories" [cc-limited]="http://127.0.0.1:8093 ids-xff"
  [cc-l1-xff]="http://127.0.0.1:8090 ids-xff"
  [cc-direct]="http://127.0.0.1:8090 ids" [cluster-nginx]="http://127.0.0.1:8098 ids"
  [cluster-a-direct]="http://127.0.0.1:8095 ids" [floor-nginx]="http://127.0.0.1:8099 ids"
)
ORDER=(floor-id cc-l1 express-id cc-l2 cc-miss cc-list express-list cc-l1-xff cc-limited)

# The peers' scripts, plus ids-xff.lua of our own.
lua_path() { if [ -f "bench/$1.lua" ]; then echo "bench/$1.lua"; else echo "$PEERS/bench/$1.lua"; fi; }

# wrk_run SCENARIO CONNS DURATION FILE: one bounded wrk run, raw output in FILE; sets
# RPS P50 P99 ERRS NON2XX (globals, so a failed run stops the script under `set -e`).
wrk_run() {
  local s=$1 c=$2 d=$3 file=$4 base script line
  read -r base script <<< "${URL[$s]}"
  run timeout $(( $(secs "$d") + 60 )) wrk -t"$THREADS" -c"$c" -d"$d" --timeout 30s --latency \
    -s "$(lua_path "$script")" "$base" > "$file"
  line=$(grep RESULT "$file")
  NON2XX=$(awk '/Non-2xx/ {print $NF}' "$file"); NON2XX=${NON2XX:-0}
  RPS=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<< "$line")
  P50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<< "$line")
  P99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<< "$line")
  ERRS=$(sed -E 's/.*err_connect=([0-9]+) err_read=([0-9]+) err_write=([0-9]+) err_status=([0-9]+) err_timeout=([0-9]+).*/\1+\2+\3+\4+\5/' <<< "$line" | bc)
}
warm() { # SCENARIO...
  local s base script
  for s in "$@"; do
    read -r base script <<< "${URL[$s]}"
    run timeout $(( $(secs "$WARMUP") + 60 )) wrk -t1 -c16 -d"$WARMUP" -s "$(lua_path "$script")" "$base" \
      | grep RESULT | sed "s/^/warm-up $s /"
  done
}
# measure TSV SCENARIO...: REPS interleaved rounds of the scenarios, one row each.
measure() {
  local tsv=$1; shift
  printf "scenario\trep\trps\tp50_us\tp99_us\terrors\tnon2xx\n" > "$tsv"
  local rep s
  for rep in $(seq 1 "$REPS"); do
    for s in "$@"; do
      wrk_run "$s" "$CONNS" "$DURATION" "$OUT/$s.rep$rep.txt"
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$s" "$rep" "$RPS" "$P50" "$P99" "$ERRS" "$NON2XX" | tee -a "$tsv"
      sleep 2
    done
  done
}
# med TSV SCENARIO: median req/s of the scenario's rows.
med() { awk -F'\t' -v s="$2" '$1 == s {print $3}' "$1" | sort -n | awk -v n="$REPS" 'NR == int((n + 1) / 2)'; }
# medians_table TSV SCENARIO...: one markdown row per scenario (the median run's figures).
medians_table() {
  local tsv=$1 s; shift
  echo "| scenario | req/s (median of $REPS) | p50 µs | p99 µs | errors | non-2xx |"
  echo "|---|---:|---:|---:|---:|---:|"
  for s in "$@"; do
    awk -F'\t' -v s="$s" '$1 == s' "$tsv" | sort -t$'\t' -k3 -n | awk -F'\t' -v n="$REPS" '
      NR == int((n + 1) / 2) { printf "| %s | %.0f | %s | %s | %s | %s |\n", $1, $3, $4, $5, $6, $7 }'
  done
}
ratio() { echo "scale=$3; $1 / $2" | bc | sed "s/^\./0./"; }

section "warm-up ($WARMUP each, -c16)"
warm "${ORDER[@]}"
curl -s -o /dev/null -D - http://127.0.0.1:8090/api/products/1 | grep -i x-cache
curl -s -o /dev/null -D - http://127.0.0.1:8091/api/products/1 | grep -i x-cache
curl -s -o /dev/null -D - http://127.0.0.1:8092/api/products/1 | grep -i x-cache

section "reads ($REPS x ${#ORDER[@]} scenarios, $DURATION each, -t$THREADS -c$CONNS)"
measure "$OUT/runs.tsv" "${ORDER[@]}"
R="$OUT/runs.tsv"
{
  medians_table "$R" "${ORDER[@]}"
  echo
  echo "| ratio | value |"
  echo "|---|---:|"
  echo "| cc-l1 / floor-id | $(ratio "$(med "$R" cc-l1)" "$(med "$R" floor-id)" 3) |"
  echo "| cc-l1 / express-id | $(ratio "$(med "$R" cc-l1)" "$(med "$R" express-id)" 1) |"
  echo "| cc-limited / cc-l1-xff (limiter on / off) | $(ratio "$(med "$R" cc-limited)" "$(med "$R" cc-l1-xff)" 3) |"
  echo "| cc-limited / express-id (express's limiter is on) | $(ratio "$(med "$R" cc-limited)" "$(med "$R" express-id)" 1) |"
  echo "| cc-list / express-list | $(ratio "$(med "$R" cc-list)" "$(med "$R" express-list)" 1) |"
  echo
  echo "Each run (req/s): $(for s in "${ORDER[@]}"; do printf '%s %s; ' "$s" "$(awk -F'\t' -v s="$s" '$1 == s {printf "%.0f / ", $3}' "$R" | sed 's| / $||')"; done)"
  echo
  echo "Rate-limiter fallbacks logged by cc-limited (0 means every check went to Redis): $(grep -c 'rate limiter cannot reach redis' "$OUT/cc-limited.log" || true)."
} | tee "$OUT/summary.md"

# ---------------------------------------------------------------------------------------
section "connections: ${SWEEP_CONNS// /, } (cc-l1, floor-id, express-id; $SWEEP_DURATION each)"
declare -A SWEEP_NAME=([cc-l1]=catalog-cache [floor-id]=actix-floor [express-id]=express-seed)
printf "server\tconns\trps\tp50_us\tp99_us\terrors\tnon2xx\n" > "$OUT/sweep.tsv"
for c in $SWEEP_CONNS; do
  for s in cc-l1 floor-id express-id; do
    wrk_run "$s" "$c" "$SWEEP_DURATION" "$OUT/sweep-$s.c$c.txt"
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "${SWEEP_NAME[$s]}" "$c" "$RPS" "$P50" "$P99" "$ERRS" "$NON2XX" | tee -a "$OUT/sweep.tsv"
    printf "%s\t%s\t%s\t%s\n" "$c" "$RPS" "$P50" "$P99" >> "$OUT/sweep-${SWEEP_NAME[$s]}.tsv"
    sleep 1
  done
done
PLOT_NAME=performance-connections.png
run gnuplot -e "dir='$OUT'; out='$OUT/$PLOT_NAME'; subtitle='$(date -u +%F), $(nproc) cores, one run of ${SWEEP_DURATION} per point'" bench/report/connections.gp
{
  echo "![throughput and p99 against connections]($PLOT_NAME)"
  echo
  echo "| connections | catalog-cache req/s | p99 µs | actix-floor req/s | p99 µs | express-seed req/s | p99 µs |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  for c in $SWEEP_CONNS; do
    printf "| %s |" "$c"
    for n in catalog-cache actix-floor express-seed; do
      awk -F'\t' -v n="$n" -v c="$c" '$1 == n && $2 == c { printf " %.0f | %s |", $3, $5 }' "$OUT/sweep.tsv"
    done
    echo
  done
  echo
  echo "Errors and non-2xx answers over all these runs: $(awk -F'\t' 'NR > 1 {e += $6; n += $7} END {print e + 0 " and " n + 0}' "$OUT/sweep.tsv")."
} | tee "$OUT/sweep.md"

# ---------------------------------------------------------------------------------------
section "cluster: three instances behind nginx against one instance direct"
CLUSTER_ENV=(CLUSTER_DIR="$WORK/cluster" CLUSTER_PORT=8098 INSTANCE_PORTS="8095 8096 8097"
  BINARY="$BIN" REDIS_PREFIX=ccbench-cluster: DEMO_PRODUCTS=0 APP__RATE_LIMIT__ENABLED=false)
redis-cli --scan --pattern 'ccbench-cluster:*' | xargs -r redis-cli del >/dev/null
CLUSTER_UP=1
run env "${CLUSTER_ENV[@]}" scripts/cluster.sh up
# nginx's own cost on this machine: the same nginx configuration in front of the actix
# floor (one upstream, port 8099), so the cluster's ratio can be read against the ratio
# a server with no work of its own gets through the same proxy.
FLOOR_NGINX="$WORK/floor-nginx"
mkdir -p "$FLOOR_NGINX"
sed -e "s#$WORK/cluster/#$FLOOR_NGINX/#g" -e "s#listen 127.0.0.1:8098;#listen 127.0.0.1:8099;#" \
  -e '/^ *server 127.0.0.1:809[5-7] /d' \
  -e 's#^\( *upstream catalog_cache {\)#\1\n        server 127.0.0.1:3100;#' \
  "$WORK/cluster/nginx.conf" > "$FLOOR_NGINX/nginx.conf"
mkdir -p "$FLOOR_NGINX/nginx-tmp"
note_cmd "nginx -c $FLOOR_NGINX/nginx.conf   # scripts/cluster.sh's nginx.conf, upstream 127.0.0.1:3100 (actix-floor), listening on 8099"
nginx -c "$FLOOR_NGINX/nginx.conf"
wait_ready http://127.0.0.1:8099/health floor-nginx
CLUSTER_ORDER=(cc-direct cluster-nginx cluster-a-direct floor-id floor-nginx)
warm cluster-nginx cluster-a-direct floor-nginx
measure "$OUT/cluster.tsv" "${CLUSTER_ORDER[@]}"
C="$OUT/cluster.tsv"
{
  echo "Same database, same wrk scenario as cc-l1 (\`-t$THREADS -c$CONNS -d$DURATION\`, ids.lua, L1 hits after"
  echo "warm-up), the limiter off everywhere; the three instances (2 workers each), nginx and wrk"
  echo "share the machine's $(nproc) cores."
  echo
  medians_table "$C" "${CLUSTER_ORDER[@]}"
  echo
  echo "| ratio | value |"
  echo "|---|---:|"
  echo "| cluster-nginx / cc-direct | $(ratio "$(med "$C" cluster-nginx)" "$(med "$C" cc-direct)" 3) |"
  echo "| cluster-nginx / cluster-a-direct | $(ratio "$(med "$C" cluster-nginx)" "$(med "$C" cluster-a-direct)" 3) |"
  echo "| floor-nginx / floor-id (nginx's own cost: the floor behind the same nginx) | $(ratio "$(med "$C" floor-nginx)" "$(med "$C" floor-id)" 3) |"
  echo "| cluster-nginx / floor-nginx (both behind nginx) | $(ratio "$(med "$C" cluster-nginx)" "$(med "$C" floor-nginx)" 3) |"
  echo "| cc-direct / floor-id (both direct) | $(ratio "$(med "$C" cc-direct)" "$(med "$C" floor-id)" 3) |"
  echo
  echo "Requests each instance answered through nginx (its access log, whole section): $(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^upstream=/) print $i}' "$WORK/cluster/nginx-access.log" | sort | uniq -c | awk '{printf "%s %s; ", $2, $1}')"
} | tee "$OUT/cluster.md"
cp "$WORK/cluster/nginx.conf" "$OUT/cluster-nginx.conf"
nginx -c "$FLOOR_NGINX/nginx.conf" -s stop
env "${CLUSTER_ENV[@]}" scripts/cluster.sh down; CLUSTER_UP=0

# ---------------------------------------------------------------------------------------
section "propagation: $WRITES writes on cc-writer (8094), polled on cc (8090)"
PROP_RC=0
run timeout 600 target/release/propagation --write-url http://127.0.0.1:8094 --read-url http://127.0.0.1:8090 \
  --writes "$WRITES" --first-id 9801 --ids 200 --samples "$OUT/propagation.tsv" \
  > "$OUT/propagation.txt" 2>&1 || PROP_RC=$?
cat "$OUT/propagation.txt"
bench/report/propagation.sh "$OUT/propagation.txt" "$PROP_RC" "$OUT/cc-writer.log" "$OUT/cc.log" | tee "$OUT/propagation.md"

section "memory"
rss_row() { # LABEL PID
  echo "| $1 | $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$2/status") | $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$2/status") |"
}
{
  echo "| server | peak RSS (VmHWM) | RSS at the end |"
  echo "|---|---:|---:|"
  for name in express-seed actix-floor; do rss_row "$name" "${PEER_PID[$name]}"; done
  for name in cc cc-nol1 cc-nocache cc-limited cc-writer; do rss_row "catalog-cache $name" "${PID_OF[$name]}"; done
} | tee "$OUT/memory.md"
stop_servers

# ---------------------------------------------------------------------------------------
# The other helpers' benchmarks start their own servers; each gets a bounded time.
section "WebSocket fan-out (bench/ws.sh)"
if [ -x bench/ws.sh ]; then
  WS_ENV=(OUT="$OUT/ws" NOTE="$NOTE" REPS="$WS_REPS")
  [ "$QUICK" = 1 ] && WS_ENV+=(SIZES=100 UPDATES=10)
  rc=0; run timeout 1200 env "${WS_ENV[@]}" bench/ws.sh > "$OUT/ws.txt" 2>&1 || rc=$?
  bench/report/include.sh bench/ws.sh "$OUT/ws/summary.md" "$rc" "$OUT/ws.txt" > "$OUT/ws.md"
else
  echo "not run: bench/ws.sh missing" > "$OUT/ws.md"
fi
cat "$OUT/ws.md"

section "queue throughput (bench/jobs.sh)"
JOBS_SCRIPT=""
for candidate in bench/jobs.sh bench/jobs/run.sh; do [ -x "$candidate" ] && { JOBS_SCRIPT=$candidate; break; }; done
if [ -n "$JOBS_SCRIPT" ]; then
  JOBS_ENV=(OUT="$OUT/jobs" REPS="$JOBS_REPS")
  [ "$QUICK" = 1 ] && JOBS_ENV+=(JOBS=1000)
  rc=0; run timeout 1200 env "${JOBS_ENV[@]}" "$JOBS_SCRIPT" > "$OUT/jobs.txt" 2>&1 || rc=$?
  bench/report/include.sh "$JOBS_SCRIPT" "$OUT/jobs/summary.md" "$rc" "$OUT/jobs.txt" > "$OUT/jobs.md"
else
  echo "not run: bench/jobs.sh missing" > "$OUT/jobs.md"
fi
cat "$OUT/jobs.md"

# ---------------------------------------------------------------------------------------
section "report"
printf "total\t%s\n" $((SECONDS - T_START)) >> "$OUT/timings.tsv"
mkdir -p "$(dirname "$REPORT")"
[ "$(realpath "$OUT")" = "$(realpath "$(dirname "$REPORT")")" ] || cp "$OUT/$PLOT_NAME" "$(dirname "$REPORT")/$PLOT_NAME"
bench/report/assemble.sh "$OUT" docs/PERFORMANCE.md "$REPORT" "$NOTE" "$LOAD_BEFORE"
echo "report: $REPORT (plot: $(dirname "$REPORT")/$PLOT_NAME; raw output: $OUT)"
