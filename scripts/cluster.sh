#!/usr/bin/env bash
# Three instances of catalog-cache behind nginx on this machine, sharing its PostgreSQL
# and Redis:
#
#   scripts/cluster.sh up       # build, start instances a, b, c and nginx; print the URLs
#   scripts/cluster.sh status   # each part: pid, port, and whether it answers
#   scripts/cluster.sh down     # stop exactly what `up` started (by its pid files)
#   scripts/cluster.sh restart a   # one instance, gracefully (a rolling deploy's step)
#
# nginx (Debian's nginx-light, installed when missing) listens on CLUSTER_PORT (8088),
# balances round robin over the instances on INSTANCE_PORTS (8181 8182 8183), upgrades
# WebSockets, sets X-Forwarded-For, and connects to the instances from 127.0.0.2
# (proxy_bind): the instances trust that address only, so a client that reaches an
# instance directly cannot choose its rate-limit identity with the header.
#
# Environment: CLUSTER_DIR (target/cluster: config, pids, logs), CLUSTER_PORT,
# INSTANCE_PORTS, DATABASE_URL (postgres://postgres@127.0.0.1:5432/catalog_cache_cluster),
# REDIS_URL (redis://127.0.0.1:6379), REDIS_PREFIX (ccc:), PROFILE (release or debug),
# DEMO_PRODUCTS (50), BINARY (a built catalog-cache to run instead of building one),
# ADMIN_TOKEN and SESSION_SECRET (generated once and kept in CLUSTER_DIR, so every
# instance shares them across restarts), TRUST_LOOPBACK_XFF=1 (nginx believes the
# X-Forwarded-For of clients on 127.0.0.1, so one load generator can stand for many
# clients), and any APP__* setting or APP_CONFIG_FILE (a TOML file over the repository's
# config, e.g. the cluster's own [[jobs.schedules]]), which every instance gets (emails
# are written to CLUSTER_DIR/mail unless APP__EMAIL__FILE_DIR or APP__EMAIL__SMTP_URL
# says otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER_DIR="${CLUSTER_DIR:-$PWD/target/cluster}"
CLUSTER_PORT="${CLUSTER_PORT:-8088}"
read -r -a PORTS <<<"${INSTANCE_PORTS:-8181 8182 8183}"
NAMES=(a b c)
PROFILE="${PROFILE:-release}"
PROXY_ADDRESS=127.0.0.2

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/catalog_cache_cluster}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export REDIS_PREFIX="${REDIS_PREFIX:-ccc:}"

pid_file() { echo "$CLUSTER_DIR/$1.pid"; }
alive() { [ -f "$(pid_file "$1")" ] && kill -0 "$(cat "$(pid_file "$1")")" 2>/dev/null; }
binary() { echo "${BINARY:-target/$PROFILE/catalog-cache}"; }

secret() { # FILE BYTES: a random hex secret kept in FILE
  [ -s "$1" ] || python3 -c "import secrets; print(secrets.token_hex($2))" >"$1"
  cat "$1"
}

wait_for() { # URL NAME LOG
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "cluster: $2 did not answer $1; see $3" >&2
  return 1
}

# The repository's configuration with nginx's address as the one trusted proxy (a list,
# so a file setting rather than an environment variable).
write_config() {
  mkdir -p "$CLUSTER_DIR/config"
  cp config/*.toml "$CLUSTER_DIR/config/"
  sed -i "s/^trusted_proxies = \[\]/trusted_proxies = [\"$PROXY_ADDRESS\"]/" "$CLUSTER_DIR/config/default.toml"
  grep -q "^trusted_proxies = \[\"$PROXY_ADDRESS\"\]" "$CLUSTER_DIR/config/default.toml"
}

write_nginx_conf() {
  local servers=""
  for port in "${PORTS[@]}"; do
    # A failed instance is skipped for 2 s; nginx retries an idempotent request on the next.
    servers+="    server 127.0.0.1:$port max_fails=1 fail_timeout=2s;"$'\n'
  done
  local realip=""
  if [ "${TRUST_LOOPBACK_XFF:-0}" = 1 ]; then
    # Load generators on this machine stand for many clients: nginx takes the client
    # address from their X-Forwarded-For, as it would behind a trusted balancer.
    realip="set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;"
  fi
  cat >"$CLUSTER_DIR/nginx.conf" <<EOF
# Written by scripts/cluster.sh; every path is under $CLUSTER_DIR.
worker_processes 1;
pid $CLUSTER_DIR/nginx.pid;
error_log $CLUSTER_DIR/nginx-error.log warn;
events { worker_connections 16384; }
http {
    # Which instance answered each request (the cluster tests read it).
    log_format cluster '\$remote_addr "\$request" \$status upstream=\$upstream_addr';
    access_log $CLUSTER_DIR/nginx-access.log cluster;
    client_body_temp_path $CLUSTER_DIR/nginx-tmp/body;
    proxy_temp_path $CLUSTER_DIR/nginx-tmp/proxy;
    fastcgi_temp_path $CLUSTER_DIR/nginx-tmp/fastcgi;
    uwsgi_temp_path $CLUSTER_DIR/nginx-tmp/uwsgi;
    scgi_temp_path $CLUSTER_DIR/nginx-tmp/scgi;

    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      '';
    }
    upstream catalog_cache {
$servers        keepalive 64;
        # Shorter than the instances' own keep-alive (5 s): nginx closes an idle
        # connection before an instance can, so no request meets a closing connection.
        keepalive_timeout 4s;
    }
    server {
        listen 127.0.0.1:$CLUSTER_PORT;
        $realip
        location / {
            proxy_pass http://catalog_cache;
            proxy_http_version 1.1;
            proxy_bind $PROXY_ADDRESS;
            proxy_set_header Host \$host;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            # With its port (\$host drops it): the origin the browser addressed, which
            # /ws and the CSRF rule compare the page's Origin with.
            proxy_set_header X-Forwarded-Host \$http_host;
            # WebSockets stay open between server pings (realtime.ping_interval_secs).
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
        }
    }
}
EOF
}

start_instance() { # NAME PORT
  local name=$1 port=$2
  if alive "$name"; then
    echo "cluster: instance $name already running (pid $(cat "$(pid_file "$name")"))"
    return 0
  fi
  env APP_ENV="${APP_ENV:-production}" HOST=127.0.0.1 PORT="$port" \
    ADMIN_TOKEN="$ADMIN_TOKEN" SESSION_SECRET="$SESSION_SECRET" \
    APP__SERVER__INSTANCE_ID="$name" \
    APP_CONFIG_DIR="$CLUSTER_DIR/config" \
    APP__SEED__DEMO_PRODUCTS="${DEMO_PRODUCTS:-50}" \
    APP__EMAIL__FILE_DIR="${APP__EMAIL__FILE_DIR:-$CLUSTER_DIR/mail}" \
    "$(binary)" serve >>"$CLUSTER_DIR/$name.log" 2>&1 &
  echo $! >"$(pid_file "$name")"
}

up() {
  mkdir -p "$CLUSTER_DIR/nginx-tmp"
  if ! command -v nginx >/dev/null; then
    echo "cluster: installing Debian's nginx-light"
    # Several clusters may start at once on a fresh machine (the test suite does): wait
    # for another's install to release dpkg's lock instead of failing on it.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q nginx-light >/dev/null
  fi
  if [ -n "${BINARY:-}" ]; then :
  elif [ "$PROFILE" = release ]; then cargo build --release --quiet --bin catalog-cache
  else cargo build --quiet --bin catalog-cache; fi
  ADMIN_TOKEN="${ADMIN_TOKEN:-$(secret "$CLUSTER_DIR/admin-token" 24)}"
  SESSION_SECRET="${SESSION_SECRET:-$(secret "$CLUSTER_DIR/session-secret" 48)}"
  export ADMIN_TOKEN SESSION_SECRET
  write_config
  # The first instance creates and migrates the database; the others start once it has.
  start_instance "${NAMES[0]}" "${PORTS[0]}"
  wait_for "http://127.0.0.1:${PORTS[0]}/readyz" "${NAMES[0]}" "$CLUSTER_DIR/${NAMES[0]}.log"
  for i in 1 2; do start_instance "${NAMES[$i]}" "${PORTS[$i]}"; done
  for i in 1 2; do
    wait_for "http://127.0.0.1:${PORTS[$i]}/readyz" "${NAMES[$i]}" "$CLUSTER_DIR/${NAMES[$i]}.log"
  done
  write_nginx_conf
  if alive nginx; then
    nginx -c "$CLUSTER_DIR/nginx.conf" -s reload
  else
    rm -f "$CLUSTER_DIR/nginx.pid"
    nginx -c "$CLUSTER_DIR/nginx.conf"
  fi
  wait_for "http://127.0.0.1:$CLUSTER_PORT/readyz" nginx "$CLUSTER_DIR/nginx-error.log"
  echo "cluster: up at http://127.0.0.1:$CLUSTER_PORT (instances ${PORTS[*]}; admin token in $CLUSTER_DIR/admin-token)"
}

stop_pid() { # NAME
  local name=$1 file pid
  file="$(pid_file "$name")"
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

down() {
  stop_pid nginx
  for name in "${NAMES[@]}"; do stop_pid "$name"; done
  echo "cluster: down"
}

status() {
  local failed=0
  for i in 0 1 2; do
    local name=${NAMES[$i]} port=${PORTS[$i]} state
    if alive "$name"; then
      state=$(curl -fsS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" 2>/dev/null || echo "no answer")
      echo "instance $name  pid $(cat "$(pid_file "$name")")  port $port  /readyz $state"
      [ "$state" = 200 ] || failed=1
    else
      echo "instance $name  stopped"; failed=1
    fi
  done
  if alive nginx; then
    state=$(curl -fsS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CLUSTER_PORT/readyz" 2>/dev/null || echo "no answer")
    echo "nginx       pid $(cat "$(pid_file nginx)")  port $CLUSTER_PORT  /readyz $state"
    [ "$state" = 200 ] || failed=1
  else
    echo "nginx       stopped"; failed=1
  fi
  return $failed
}

# Graceful restart of one instance (SIGTERM: it finishes what it is serving), as a
# rolling deploy does; nginx sends its traffic to the others meanwhile.
restart() { # NAME
  local name=$1 i port=""
  for i in 0 1 2; do [ "${NAMES[$i]}" = "$name" ] && port=${PORTS[$i]}; done
  [ -n "$port" ] || { echo "cluster: no instance $name" >&2; exit 2; }
  ADMIN_TOKEN="${ADMIN_TOKEN:-$(secret "$CLUSTER_DIR/admin-token" 24)}"
  SESSION_SECRET="${SESSION_SECRET:-$(secret "$CLUSTER_DIR/session-secret" 48)}"
  export ADMIN_TOKEN SESSION_SECRET
  stop_pid "$name"
  start_instance "$name" "$port"
  wait_for "http://127.0.0.1:$port/readyz" "$name" "$CLUSTER_DIR/$name.log"
  echo "cluster: instance $name restarted"
}

case "${1:-}" in
  up) up ;;
  restart) restart "${2:-}" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status|restart a|b|c" >&2; exit 2 ;;
esac
