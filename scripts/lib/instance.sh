# Sourced by the scripts that test a running instance (schemathesis.sh, e2e.sh): starts
# this checkout's debug binary with a database, Redis prefix, port, admin token and
# session secret of its own, and removes everything it made on exit, whatever happened.
#
#   source scripts/lib/instance.sh
#   start_instance NAME [VAR=value ...]   # sets BASE, TOKEN, DB_URL, PREFIX, INSTANCE_PID
#
# Environment: DATABASE_SERVER (postgres://postgres@127.0.0.1:5432), REDIS_URL
# (redis://127.0.0.1:6379).
DATABASE_SERVER="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
INSTANCE_PID=""

py() { python3 -c "$1"; }

stop_instance() {
  [ -n "${MAIL_DIR:-}" ] && rm -rf "$MAIL_DIR"
  if [ -n "$INSTANCE_PID" ]; then
    kill -TERM "$INSTANCE_PID" 2>/dev/null || true
    wait "$INSTANCE_PID" 2>/dev/null || true
    INSTANCE_PID=""
  fi
  if [ -n "${DB_NAME:-}" ]; then
    psql "$DATABASE_SERVER/postgres" -qc "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "${PREFIX:-}" ]; then
    # In one Lua script: fuzzed keys hold quotes and spaces that a shell pipe would mangle.
    redis-cli -u "$REDIS_URL" EVAL "local c='0' repeat local r=redis.call('SCAN',c,'MATCH',ARGV[1],'COUNT',1000) c=r[1] for _,k in ipairs(r[2]) do redis.call('DEL',k) end until c=='0' return 1" 0 "${PREFIX}*" >/dev/null || true
  fi
}

start_instance() { # NAME [VAR=value ...]
  local name=$1; shift
  # A no-op when the binary is current (as after the nextest step in CI).
  cargo build --quiet --bin catalog-cache
  local run_id="${name}$$$(date +%s)"
  DB_NAME="cc_${run_id}"
  DB_URL="$DATABASE_SERVER/$DB_NAME"
  PREFIX="${run_id}:"
  PORT="$(py 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  TOKEN="$(py 'import secrets; print(secrets.token_hex(24))')"
  SECRET="$(py 'import secrets; print(secrets.token_hex(48))')"
  INSTANCE_LOG="target/${name}-service.log"
  BASE="http://127.0.0.1:$PORT"
  # Emails of product creates go to a folder of this run's own, removed afterwards.
  MAIL_DIR="$(mktemp -d)"
  trap stop_instance EXIT

  env APP_ENV=test \
    APP_CONFIG_DIR="$PWD/config" \
    DATABASE_URL="$DB_URL" \
    REDIS_URL="$REDIS_URL" \
    REDIS_PREFIX="$PREFIX" \
    PORT="$PORT" \
    ADMIN_TOKEN="$TOKEN" \
    SESSION_SECRET="$SECRET" \
    APP__SEED__DEMO_PRODUCTS=20 \
    APP__EMAIL__FILE_DIR="$MAIL_DIR" \
    "$@" \
    target/debug/catalog-cache serve >"$INSTANCE_LOG" 2>&1 &
  INSTANCE_PID=$!

  for _ in $(seq 1 150); do
    curl -fsS "$BASE/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$INSTANCE_PID" 2>/dev/null || { echo "$name: the service did not start"; cat "$INSTANCE_LOG"; exit 1; }
    sleep 0.2
  done
  echo "$name: the service did not answer /healthz"; cat "$INSTANCE_LOG"; exit 1
}

# Runs the CLI against the instance's database, as an operator would.
instance_cli() {
  env APP_ENV=test APP_CONFIG_DIR="$PWD/config" DATABASE_URL="$DB_URL" REDIS_URL="$REDIS_URL" \
    REDIS_PREFIX="$PREFIX" SESSION_SECRET="$SECRET" target/debug/catalog-cache "$@"
}
