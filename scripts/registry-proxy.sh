#!/usr/bin/env bash
# An authenticating TLS proxy in front of a Schema Registry, for the tests of
# the registry client's credentials and CA file (tests/schemas_auth.rs):
# Debian's nginx (installed with apt-get when missing) on a free loopback port,
# serving HTTPS with a throwaway CA and server certificate made by openssl at
# start, and passing only requests with the right credentials on to the
# registry (a real one, scripts/registry.sh).
#
#   scripts/registry-proxy.sh start --registry URL --auth basic|bearer [--name NAME] [--owner PID]
#                                           # prints the proxy's base URL on stdout
#   scripts/registry-proxy.sh stop [--name NAME]
#
# URL is the registry's Confluent-compatible base URL (what scripts/registry.sh
# start prints); the proxy's base URL is the same path on
# https://127.0.0.1:PORT. --auth basic asks for HTTP basic authentication (an
# htpasswd file made with `openssl passwd`), --auth bearer for
# `Authorization: Bearer TOKEN`; a request without them gets nginx's 401.
# User, password and token are random, made at each start.
#
# Everything lives in .registry/proxy-NAME/ (git-ignored; NAME defaults to
# "dev"; stop removes it): ca.pem (the CA to trust, for
# --schema-registry-ca-file), user-info (USER:PASSWORD) or token, url,
# access.log (one line per request: "METHOD PATH STATUS", the path decoded
# and without its query), error.log, nginx.out, nginx.conf and nginx.pid. Only the URL
# goes to stdout. --owner PID stops the proxy by itself once process PID has
# exited.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RDIR="$ROOT/.registry"
# shellcheck source=scripts/processes.sh
source "$ROOT/scripts/processes.sh"

log() { echo "registry-proxy.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# nginx from Debian, installed when missing (CI machines have nothing by hand).
find_nginx() {
  located() {
    NGINX="$(command -v nginx || true)"
    [[ -z "$NGINX" && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
    [[ -n "$NGINX" ]]
  }
  located && return
  # Proxies started at once install it once.
  mkdir -p "$RDIR"
  exec 9>"$RDIR/nginx-install.lock"
  flock 9
  if ! located; then
    log "nginx not found, installing the Debian package"
    local sudo=""
    [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq nginx; } >&2 ||
      die "could not install nginx (apt-get install failed)"
    located || die "nginx is not there after installing it"
  fi
  exec 9>&-
}


random() { openssl rand -hex "$1"; }

# A CA, and a certificate for 127.0.0.1 and localhost signed by it.
make_certificates() { # DIR
  local d="$1"
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=kafka-records test registry CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  rm -f "$d/server.csr" "$d/server.ext" "$d/ca.srl"
}

# 0 once GET URL/subjects through the proxy, with the credentials and the CA,
# answers 200 (so the registry behind it answers too).
answers() { # URL CA AUTHORIZATION
  python3 - "$1" "$2" "$3" <<'EOF' 2>/dev/null
import ssl, sys, urllib.request
url, ca, auth = sys.argv[1:4]
request = urllib.request.Request(url + "/subjects", headers={"Authorization": auth})
context = ssl.create_default_context(cafile=ca)
with urllib.request.urlopen(request, timeout=5, context=context) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

start() {
  local name=dev owner="" registry="" auth=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      --owner) owner="$2"; shift 2 ;;
      --registry) registry="$2"; shift 2 ;;
      --auth) auth="$2"; shift 2 ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  [[ -z "$owner" || "$owner" =~ ^[1-9][0-9]*$ ]] || die "start: --owner must be a process id"
  [[ "$auth" == basic || "$auth" == bearer ]] || die "start: --auth basic or --auth bearer"
  [[ "$registry" =~ ^http://([^/]+)(/.*)?$ ]] || die "start: --registry needs the registry's http:// base URL"
  local upstream="${BASH_REMATCH[1]}" path="${BASH_REMATCH[2]:-}"
  local dir="$RDIR/proxy-$name"
  pid_alive "$dir/nginx.pid" && die "proxy '$name' is already running: scripts/registry-proxy.sh stop --name $name"
  command -v openssl >/dev/null || die "openssl not found"
  find_nginx
  rm -rf "$dir"
  mkdir -p "$dir/tmp"
  make_certificates "$dir"

  local check user password token port url authorization
  if [[ "$auth" == basic ]]; then
    user="registry-user" password="$(random 12)"
    echo "$user:$(openssl passwd -apr1 "$password")" >"$dir/htpasswd"
    echo "$user:$password" >"$dir/user-info"
    check="auth_basic \"schema registry\"; auth_basic_user_file $dir/htpasswd;"
    authorization="Basic $(printf '%s' "$user:$password" | base64 -w0)"
  else
    token="$(random 24)"
    echo "$token" >"$dir/token"
    check="if (\$http_authorization != \"Bearer $token\") { return 401; }"
    authorization="Bearer $token"
  fi
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  url="https://127.0.0.1:$port$path"
  # As root, nginx's workers would otherwise run as nobody, who cannot read
  # the files here.
  local user_line=""
  [[ "$(id -u)" -eq 0 ]] && user_line="user root;"
  cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  log_format requests '\$request_method \$uri \$status';
  access_log $dir/access.log requests;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $dir/server.pem;
    ssl_certificate_key $dir/server.key;
    location / {
      $check
      proxy_pass http://$upstream;
      proxy_set_header Authorization "";
    }
  }
}
EOF
  # daemon off, detached here: the pid file then names the process to stop.
  (cd "$dir" && exec nohup "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    >>"$dir/nginx.out" 2>&1 </dev/null) &
  echo $! >"$dir/nginx.pid"
  log "started nginx '$name' ($auth) in front of $registry, waiting for it (log: $dir/error.log)"
  local deadline=$((SECONDS + 30))
  until answers "$url" "$dir/ca.pem" "$authorization"; do
    if ! pid_alive "$dir/nginx.pid" || ((SECONDS >= deadline)); then
      tail -n 20 "$dir/error.log" "$dir/nginx.out" >&2 || true
      stop --name "$name"
      die "the proxy did not answer with the registry's subjects"
    fi
    sleep 0.1
  done
  # The readiness check's own line is not a request of the tests.
  : >"$dir/access.log"
  echo "$url" >"$dir/url"
  if [[ -n "$owner" ]]; then
    watch_owner "$owner" "$dir/owner.pid" "$ROOT/scripts/registry-proxy.sh" stop --name "$name"
  fi
  echo "$url"
}

stop() {
  local name=dev
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      *) die "stop: unknown argument $1" ;;
    esac
  done
  local dir="$RDIR/proxy-$name"
  [[ -d "$dir" ]] || { log "no proxy '$name'"; return 0; }
  # SIGTERM: nginx's fast shutdown (its workers go with it).
  terminate "$dir/nginx.pid" 10 "$dir/owner.pid"
  rm -rf "$dir"
  log "stopped proxy '$name'"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) sed -n '2,/^set -e/{/^set -e/!p}' "$0" >&2; exit 2 ;;
esac
