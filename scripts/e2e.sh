#!/usr/bin/env bash
# The admin dashboard end to end in headless Chromium (tests/e2e/dashboard.test.mjs,
# driven by playwright-core over CDP) against an instance of this checkout's debug
# binary with its own database, Redis prefix and port (scripts/lib/instance.sh).
# Installs Debian's chromium and the pinned playwright-core when missing. Saves a
# screenshot to target/e2e/dashboard.png.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "e2e: installing Debian's chromium"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --silent)
fi

source scripts/lib/instance.sh
start_instance e2e

ADMIN_EMAIL="admin-$$@example.com"
ADMIN_PASSWORD="$(py 'import secrets; print(secrets.token_urlsafe(18))')"
printf '%s\n' "$ADMIN_PASSWORD" | instance_cli create-admin --email "$ADMIN_EMAIL" >/dev/null

BASE_URL="$BASE" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  ADMIN_TOKEN="$TOKEN" CHROMIUM="$CHROMIUM" SCREENSHOT="target/e2e/dashboard.png" \
  node tests/e2e/dashboard.test.mjs
