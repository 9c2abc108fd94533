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
# Emails go to an SMTP port where nothing listens, in one attempt: the product created
# below leaves a failed email job for the page to retry. Redis calls get 1 s instead of
# 50 ms: this debug build shares 2 cores with Chromium, whose start-up once held a session
# read past 50 ms and the page saw a 503 (this test is about the page, not Redis's speed).
start_instance e2e APP__EMAIL__SMTP_URL="smtp://127.0.0.1:9" APP__JOBS__EMAIL__ATTEMPTS=1 \
  APP__REDIS__TIMEOUT_MS=1000

ADMIN_EMAIL="admin-$$@example.com"
ADMIN_PASSWORD="$(py 'import secrets; print(secrets.token_urlsafe(18))')"
printf '%s\n' "$ADMIN_PASSWORD" | instance_cli create-admin --email "$ADMIN_EMAIL" >/dev/null

curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"E2E Lamp","description":"Lights the test","category":"Home","price":9.5,"stock":3}' \
  "$BASE/api/products"
FAILED_JOB=""
for _ in $(seq 1 100); do
  FAILED_JOB="$(curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/admin/queues/email/failed" |
    python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print("email/" + d[0]["id"] if d else "")')"
  [ -n "$FAILED_JOB" ] && break
  sleep 0.2
done
[ -n "$FAILED_JOB" ] || { echo "e2e: no failed email job to retry"; cat "$INSTANCE_LOG"; exit 1; }

BASE_URL="$BASE" FAILED_JOB="$FAILED_JOB" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  ADMIN_TOKEN="$TOKEN" CHROMIUM="$CHROMIUM" SCREENSHOT="target/e2e/dashboard.png" \
  node tests/e2e/dashboard.test.mjs
