#!/usr/bin/env bash
# Runs schemathesis (every check) against /api/openapi.json of a running instance and
# fails on any 5xx or any answer the document does not describe.
#
# The instance (scripts/lib/instance.sh) has a database, Redis prefix and port of its
# own, the rate limiter off (the test environment) and an admin token, so product
# writes and /admin are exercised too. Everything it made is removed at the end. Needs
# PostgreSQL and Redis as for `cargo test`.
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

# A venv records its own path: one copied or moved with target/ must be made again.
if ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
  rm -rf "$VENV"
  echo "schemathesis: installing $ST_VERSION into $VENV"
  "${PYTHON:-python3.11}" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi

source scripts/lib/instance.sh
start_instance schemathesis

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
