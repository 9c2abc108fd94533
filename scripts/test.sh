#!/usr/bin/env bash
# Runs every test: unit, property and API tests (cargo nextest, one process per test,
# several at once; the crate has no doc tests). Needs PostgreSQL on 127.0.0.1:5432 and Redis on
# 127.0.0.1:6379 (see README). Extra arguments go to nextest (e.g. `-E 'test(cart)'`).
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${NEXTEST_PROFILE:-default}"
cargo nextest run --profile "$profile" "$@"
