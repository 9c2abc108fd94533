# Shared by the benchmark scripts (sourced, not run): the servers a script starts are in
# PIDS; OUT is where their logs go.
PIDS=()

wait_ready() { # URL NAME [TRIES, 0.5 s apart; 300]
  for _ in $(seq 1 "${3:-300}"); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done
  echo "$2 not ready; see $OUT/$2.log" >&2; exit 1
}

stop() { # PID (and forget it, so the exit trap never signals a reused PID)
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

stop_all() { # every server still in PIDS
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

start_private_redis() { # PORT DIR: a throwaway redis-server (no persistence); sets REDIS_PID
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$2" \
    --logfile "$2/redis.log" --daemonize no &
  REDIS_PID=$!; PIDS+=("$REDIS_PID")
}
