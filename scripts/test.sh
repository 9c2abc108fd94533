#!/usr/bin/env bash
# Runs every test: unit, property and API tests, bench/ws-load's included (cargo nextest
# --workspace, one process per test, several at once; the crates have no doc tests), then
# schemathesis against the OpenAPI document of a running instance. Needs PostgreSQL on
# 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (see README); the cluster tests need nginx and
# the dashboard test Chromium (both installed when missing, as root). Then the admin
# dashboard end to end in headless Chromium (scripts/e2e.sh). Extra arguments go to
# nextest (e.g. `-E 'test(cart)'`); SKIP_SCHEMATHESIS=1 and SKIP_E2E=1 skip those steps.
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
cargo nextest run --workspace --profile "${NEXTEST_PROFILE:-default}" "$@"
echo "test.sh: nextest took $((SECONDS - t0)) s"

if [ "${SKIP_SCHEMATHESIS:-0}" != "1" ]; then
  t0=$SECONDS
  scripts/schemathesis.sh
  echo "test.sh: schemathesis took $((SECONDS - t0)) s"
fi

if [ "${SKIP_E2E:-0}" != "1" ]; then
  t0=$SECONDS
  scripts/e2e.sh
  echo "test.sh: e2e took $((SECONDS - t0)) s"
fi
