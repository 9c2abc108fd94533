#!/usr/bin/env bash
# Runs every test: unit, property and API tests, bench/ws-load's included (cargo nextest
# --workspace, one process per test, several at once; the crates have no doc tests), then
# schemathesis against the OpenAPI document of a running instance. Needs PostgreSQL on
# 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (see README). Extra arguments go to nextest (e.g. `-E 'test(cart)'`);
# SKIP_SCHEMATHESIS=1 skips the second step.
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
