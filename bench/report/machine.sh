#!/usr/bin/env bash
# The machine and software a benchmark ran on, as a markdown table (bench/run.sh).
#   bench/report/machine.sh "<load average before the run>"
set -euo pipefail
cd "$(dirname "$0")/../.."
version() { "$@" 2>&1 | head -n1 || true; }
model=$(lscpu 2>/dev/null | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
cat <<EOF2
| | |
|---|---|
| date | $(date -u '+%F %H:%M UTC') |
| cores (\`nproc\`) | $(nproc) |
| CPU | ${model:-unknown} |
| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) |
| kernel | $(uname -sr) |
| load average before the run (1, 5, 15 min) | ${1:-unknown} |
| commit | $commit |
| rustc | $(version rustc --version) |
| wrk | $(version wrk --version | awk '{print $1, $2}') |
| node | $(version node --version) |
| Redis | $(version redis-server --version | awk '{print $3}' | tr -d 'v=') |
| PostgreSQL | $(psql -h 127.0.0.1 -U postgres -Atc 'show server_version' 2>/dev/null || echo unknown) |
| nginx | $(version nginx -v | sed 's|.*nginx/||') |
| gnuplot | $(version gnuplot --version) |
EOF2
