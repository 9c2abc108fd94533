#!/usr/bin/env bash
# Runs schemathesis (every check) against /api/openapi.json of a running instance and
# fails on any 5xx or any answer the document does not describe.
#
# The instance is this checkout's debug binary (built if missing) with a database, Redis
# prefix and port of its own, the rate limiter off (the test environment) and an admin
# token, so product writes and /admin are exercised too. Everything it made is removed
# at the end, whatever happened. Needs PostgreSQL and Redis as for `cargo test`.
#
# Environment: ST_MAX_EXAMPLES (default 30) cases per operation and phase,
# ST_SEED (default 1) for a reproducible run, DATABASE_SERVER, REDIS_URL, PYTHON (the
# interpreter the venv is made with, default python3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION="4.32.5"
VENV="target/schemathesis-venv"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-30}"
SEED="${ST_SEED:-1}"
DATABASE_SERVER="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "schemathesis: installing $ST_VERSION into $VENV"
  "${PYTHON:-python3.11}" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi
# A no-op when the binary is current (as after `cargo test` in CI).
cargo build --quiet --bin catalog-cache

RUN_ID="st$$$(date +%s)"
DB_NAME="cc_${RUN_ID}"
PREFIX="${RUN_ID}:"
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
TOKEN="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))')"
SECRET="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(48))')"
LOG="target/schemathesis-service.log"
SERVICE_PID=""

# Emails of product creates go to a folder of this run's own, removed afterwards.
MAIL_DIR="$(mktemp -d)"
cleanup() {
  rm -rf "$MAIL_DIR"
  if [ -n "$SERVICE_PID" ]; then
    kill -TERM "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
  psql "$DATABASE_SERVER/postgres" -qc "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 || true
  # In one Lua script: fuzzed keys hold quotes and spaces that a shell pipe would mangle.
  redis-cli -u "$REDIS_URL" EVAL "local c='0' repeat local r=redis.call('SCAN',c,'MATCH',ARGV[1],'COUNT',1000) c=r[1] for _,k in ipairs(r[2]) do redis.call('DEL',k) end until c=='0' return 1" 0 "${PREFIX}*" >/dev/null || true
}
trap cleanup EXIT

APP_ENV=test \
  APP_CONFIG_DIR="$PWD/config" \
  DATABASE_URL="$DATABASE_SERVER/$DB_NAME" \
  REDIS_URL="$REDIS_URL" \
  REDIS_PREFIX="$PREFIX" \
  PORT="$PORT" \
  ADMIN_TOKEN="$TOKEN" \
  SESSION_SECRET="$SECRET" \
  APP__SEED__DEMO_PRODUCTS=20 \
  APP__EMAIL__FILE_DIR="$MAIL_DIR" \
  target/debug/catalog-cache serve >"$LOG" 2>&1 &
SERVICE_PID=$!

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVICE_PID" 2>/dev/null || { echo "schemathesis: the service did not start"; cat "$LOG"; exit 1; }
  sleep 0.2
done

echo "schemathesis: $MAX_EXAMPLES examples per operation, seed $SEED, against $BASE"
# GET /ws is excluded: an HTTP fuzzer cannot speak a WebSocket handshake (101 switches
# protocols); tests/api/websocket.rs covers it, including the JSON 400 of a plain GET.
"$VENV/bin/schemathesis" run "$BASE/api/openapi.json" \
  --exclude-path /ws \
  --checks all \
  --header "Authorization: Bearer $TOKEN" \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --workers 2 \
  --request-timeout 10 \
  --report junit --report-dir target/schemathesis-report
