#!/usr/bin/env bash
# Limiter-on / limiter-off throughput for each algorithm, in ONE run, interleaved
# (off log gcra gcra1 off ...), with the same 20,000 clients (bench/ids-xff.lua) and
# the same L1-hit route, against a private redis-server; loopback only.
#
#   bench/limiter.sh                 # ~2 minutes on an idle machine; writes bench/results/limiter-latest/
#
# Four release instances of catalog-cache, 2 workers each, 127.0.0.1 trusted as a proxy:
#   off   (8190) limiter off
#   log   (8191) limiter on, the default policies, every one `sliding_log`
#   gcra  (8192) limiter on, the default policies, every one `gcra`
#   gcra1 (8193) the same with rate_limit.batch_max = 1: one script run per request, as
#                before group commit
# GET /api/products/{id} meets only the `global` policy (1000 per 900 s per client); each
# client stays far below it, so every request runs the script and passes.
# With BASE_BIN (another build of catalog-cache, e.g. main's), a fifth instance runs it
# with the `gcra` policies (8194, `gcra-base`) in the same interleaved runs: an A/B of a
# change to the limiter on the same machine at the same time.
# Env: DURATION (5s) CONNS (64) REPS (3) WARMUP (3s) REDIS_PORT (6398) OUT BASE_BIN
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-5s}"; CONNS="${CONNS:-64}"; REPS="${REPS:-3}"; WARMUP="${WARMUP:-3s}"
REDIS_PORT="${REDIS_PORT:-6398}"; OUT="${OUT:-bench/results/limiter-latest}"
mkdir -p "$OUT"; rm -f "$OUT"/*.txt "$OUT"/*.tsv "$OUT"/*.log "$OUT"/summary.md

source bench/lib.sh
WORK=$(mktemp -d)
cleanup() {
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT

start_private_redis "$REDIS_PORT" "$WORK"
# CPU time (utime + stime, in clock ticks of 10 ms) of a process: per request it shows
# the cost apart from how much of the shared machine the run happened to get.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

cargo build --release --quiet
BIN=target/release/catalog-cache
export APP_ENV=production APP__LOG__LEVEL=warn HOST=127.0.0.1 APP__SERVER__WORKERS=2
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/catalog_cache_limiter_bench
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export SESSION_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
$BIN seed --products 1000

# One config folder per algorithm: trust 127.0.0.1 and set every policy's algorithm.
config_for() { # NAME ALGORITHM (a folder per instance: an instance reads it as it starts)
  local dir="$WORK/config-$1"
  mkdir -p "$dir"; cp config/*.toml "$dir/"
  sed -i -e 's/^trusted_proxies = \[\]/trusted_proxies = ["127.0.0.1", "::1"]/' \
    -e '/^algorithm = /d' \
    -e "s/^window_secs = \(.*\)$/window_secs = \1\nalgorithm = \"$2\"/" "$dir/default.toml"
  grep -q '^trusted_proxies = \["127.0.0.1"' "$dir/default.toml"
  echo "$dir"
}
declare -A PID_OF=()
start_cc() { # NAME PORT extra env... (BIN: the build to run)
  local name=$1 port=$2; shift 2
  env PORT="$port" REDIS_PREFIX="cclim-$name:" APP__SEED__DEMO_PRODUCTS=0 "$@" "${RUN_BIN:-$BIN}" serve \
    > "$OUT/$name.log" 2>&1 &
  PIDS+=($!); PID_OF[$name]=$!
}
start_cc off 8190 APP__RATE_LIMIT__ENABLED=false
start_cc log 8191 APP__RATE_LIMIT__ENABLED=true APP_CONFIG_DIR="$(config_for log sliding_log)"
start_cc gcra 8192 APP__RATE_LIMIT__ENABLED=true APP_CONFIG_DIR="$(config_for gcra gcra)"
start_cc gcra1 8193 APP__RATE_LIMIT__ENABLED=true APP__RATE_LIMIT__BATCH_MAX=1 APP_CONFIG_DIR="$(config_for gcra1 gcra)"
declare -A PORT_OF=([off]=8190 [log]=8191 [gcra]=8192 [gcra1]=8193 [gcra-base]=8194)
ORDER=(off log gcra gcra1)
if [ -n "${BASE_BIN:-}" ]; then
  RUN_BIN="$BASE_BIN" start_cc gcra-base 8194 APP__RATE_LIMIT__ENABLED=true APP_CONFIG_DIR="$(config_for gcra-base gcra)"
  ORDER+=(gcra-base)
fi
for s in "${ORDER[@]}"; do wait_ready "http://127.0.0.1:${PORT_OF[$s]}/healthz" "$s"; done
curl -s -D - -o /dev/null -H 'X-Forwarded-For: 198.18.0.1' http://127.0.0.1:8191/api/products/1 | grep -i '^ratelimit'
curl -s -D - -o /dev/null -H 'X-Forwarded-For: 198.18.0.1' http://127.0.0.1:8192/api/products/1 | grep -i '^ratelimit'

for s in "${ORDER[@]}"; do
  wrk -t1 -c16 -d"$WARMUP" -s bench/ids-xff.lua "http://127.0.0.1:${PORT_OF[$s]}" | grep RESULT | sed "s/^/warm-up $s /"
done
printf "scenario\trep\trps\tp50_us\tp99_us\terrors\tnon2xx\tserver_cpu_us_per_req\tredis_cpu_us_per_req\tevalsha_calls\tevalsha_us_per_call\trequests\n" > "$OUT/runs.tsv"
for rep in $(seq 1 "$REPS"); do
  for s in "${ORDER[@]}"; do
    redis-cli -p "$REDIS_PORT" config resetstat > /dev/null
    s0=$(ticks "${PID_OF[$s]}"); r0=$(ticks "$REDIS_PID")
    wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s bench/ids-xff.lua "http://127.0.0.1:${PORT_OF[$s]}" > "$OUT/$s.rep$rep.txt"
    s1=$(ticks "${PID_OF[$s]}"); r1=$(ticks "$REDIS_PID")
    # Script runs in Redis during the run (the limiter's, and the idle instances' job
    # polls): requests per run is the batch size group commit reached.
    evalsha=$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | awk -F'[:,=]' '/^cmdstat_evalsha:/ {print $3 "\t" $7}')
    evalsha=${evalsha:-$(printf '0\t0')}
    line=$(grep RESULT "$OUT/$s.rep$rep.txt")
    n=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<< "$line")
    scpu=$(echo "scale=1; ($s1 - $s0) * 10000 / $n" | bc); rcpu=$(echo "scale=1; ($r1 - $r0) * 10000 / $n" | bc)
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$OUT/$s.rep$rep.txt"); non2xx=${non2xx:-0}
    rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<< "$line")
    p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<< "$line")
    p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<< "$line")
    errs=$(sed -E 's/.*err_connect=([0-9]+) err_read=([0-9]+) err_write=([0-9]+) err_status=([0-9]+) err_timeout=([0-9]+).*/\1+\2+\3+\4+\5/' <<< "$line" | bc)
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$s" "$rep" "$rps" "$p50" "$p99" "$errs" "$non2xx" "$scpu" "$rcpu" "$evalsha" "$n" | tee -a "$OUT/runs.tsv"
    sleep 1
  done
done

med() { awk -F'\t' -v s="$1" '$1 == s {print $3}' "$OUT/runs.tsv" | sort -n | awk -v n="$REPS" 'NR == int((n + 1) / 2)'; }
{
  echo "| scenario | req/s (median of $REPS) | each run | server CPU µs / request | Redis CPU µs / request | requests per script run | µs per script run (in Redis) |"
  echo "|---|---:|---|---|---|---|---|"
  for s in "${ORDER[@]}"; do
    each() { awk -F'\t' -v s="$s" -v c="$1" -v f="$2" '$1 == s {printf f " / ", $c}' "$OUT/runs.tsv" | sed 's| / $||'; }
    per_run=$(awk -F'\t' -v s="$s" '$1 == s {if ($10 > 0) printf "%.1f / ", $12 / $10; else printf "- / "}' "$OUT/runs.tsv" | sed 's| / $||')
    echo "| $s | $(printf '%.0f' "$(med "$s")") | $(each 3 '%.0f') | $(each 8 '%s') | $(each 9 '%s') | $per_run | $(each 11 '%s') |"
  done
  echo
  echo "| ratio | value |"
  echo "|---|---:|"
  echo "| sliding_log on / off | $(echo "scale=3; $(med log) / $(med off)" | bc) |"
  echo "| gcra on / off | $(echo "scale=3; $(med gcra) / $(med off)" | bc) |"
  echo "| gcra, one run per request (batch_max 1) on / off | $(echo "scale=3; $(med gcra1) / $(med off)" | bc) |"
  if [ -n "${BASE_BIN:-}" ]; then
    echo "| gcra of BASE_BIN ($BASE_BIN) on / off | $(echo "scale=3; $(med gcra-base) / $(med off)" | bc) |"
  fi
  echo
  echo "Redis keys after the run: log $(redis-cli -p "$REDIS_PORT" --scan --pattern 'cclim-log:rl:*' | wc -l), gcra $(redis-cli -p "$REDIS_PORT" --scan --pattern 'cclim-gcra:rl:*' | wc -l); used_memory $(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory_human:/ {print $2}' | tr -d '\r')"
  echo "non-2xx answers in all runs (must be 0: every request passes): $(awk -F'\t' 'NR > 1 {n += $7} END {print n + 0}' "$OUT/runs.tsv")"
  echo "fallbacks logged (0 means every check went to Redis): log $(grep -c 'rate limiter cannot reach redis' "$OUT/log.log" || true), gcra $(grep -c 'rate limiter cannot reach redis' "$OUT/gcra.log" || true), gcra1 $(grep -c 'rate limiter cannot reach redis' "$OUT/gcra1.log" || true)"
} | tee "$OUT/summary.md"
