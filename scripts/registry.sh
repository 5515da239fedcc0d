#!/usr/bin/env bash
# A throwaway Schema Registry on loopback, for tests of the Schema Registry
# formats: Apicurio Registry 3.3.3 with in-memory storage, through its
# Confluent-compatible API. Only needs Maven, python3 and a JDK 21 or newer
# under /usr/lib/jvm (the newest one there is used, Temurin first; or set
# REGISTRY_JAVA to a java binary). REGISTRY_JAVA_OPTS adds JVM options after the
# script's own, so -Dkey=value there overrides any setting below.
#
#   scripts/registry.sh fetch                          # get the app into .registry/
#   scripts/registry.sh start [--name NAME] [--owner PID]
#                                                      # prints the base URL on stdout
#   scripts/registry.sh stop [--name NAME]             # stops it; its schemas are gone
#   scripts/registry.sh url [--name NAME]              # prints the base URL again
#
# The base URL is the Confluent-compatible API,
# http://127.0.0.1:PORT/apis/ccompat/v7, on a free loopback port (its management
# interface, /health/ready and /metrics, on another). start returns once GET /subjects answers
# 200, or fails with the log's tail after REGISTRY_READY_TIMEOUT seconds (180).
# To start faster on a small machine it runs with the JIT's first tier only and
# a class-data archive (.registry/apicurio-registry-VERSION.jsa, written by the
# JVM when a registry stops, made again if the JDK changes).
#
# Confluent-like settings: schema ids are content ids (the same schema under two
# subjects has one id, as in Confluent's registry; Apicurio's "legacy id mode"
# would give global ids, one per version), and the global compatibility rule is
# BACKWARD, Confluent's default (an incompatible version gets 409). Known
# differences from Confluent: a schema registered again in another formatting
# under the same subject is found, but under another subject it gets a new id
# (Confluent stores the canonical form, so it reuses the id); and a version
# refused with 409 uses up an id.
#
# Everything lives in .registry/ (git-ignored): the unpacked app in
# apicurio-registry-VERSION/, and per registry NAME (default "dev") NAME/url,
# NAME/registry.pid and NAME/registry.log. Only the URL goes to stdout; all
# chatter to stderr.
#
# --owner PID stops the registry by itself once process PID has exited.
set -euo pipefail

VERSION=3.3.3
ARTIFACT="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RDIR="$ROOT/.registry"
# shellcheck source=scripts/processes.sh
source "$ROOT/scripts/processes.sh"
APP="$RDIR/apicurio-registry-$VERSION"
READY_TIMEOUT="${REGISTRY_READY_TIMEOUT:-180}"

log() { echo "registry.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# The newest JDK 21+ under /usr/lib/jvm, Temurin before others (or $REGISTRY_JAVA).
find_java() {
  if [[ -n "${REGISTRY_JAVA:-}" ]]; then
    JAVA="$REGISTRY_JAVA"
    return
  fi
  local best="" best_major=0 best_temurin=0 d major temurin
  for d in /usr/lib/jvm/*/; do
    [[ -x "$d/bin/java" && -f "$d/release" ]] || continue
    major="$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$d/release")"
    [[ "$major" =~ ^[0-9]+$ ]] || continue
    ((major >= 21)) || continue
    temurin=0
    [[ "$d" == *temurin* ]] && temurin=1
    if ((temurin > best_temurin || (temurin == best_temurin && major > best_major))); then
      best="$d" best_major="$major" best_temurin="$temurin"
    fi
  done
  [[ -n "$best" ]] || die "no JDK 21 or newer under /usr/lib/jvm (Apicurio Registry $VERSION needs one); set REGISTRY_JAVA"
  JAVA="${best%/}/bin/java"
}

# The path of quarkus-run.jar in the unpacked app.
run_jar() { find "$APP" -maxdepth 3 -name quarkus-run.jar -print -quit; }

fetch() {
  [[ -f "$APP/VERSION" && -n "$(run_jar)" ]] && return
  command -v mvn >/dev/null || die "mvn not found (Maven is required to fetch Apicurio Registry)"
  log "fetching Apicurio Registry $VERSION (about 160 MB) with Maven into $APP"
  mkdir -p "$RDIR"
  # Leftovers of interrupted fetches (not those of a fetch running now).
  find "$RDIR" -maxdepth 1 -name "apicurio-registry-$VERSION.*" -mmin +60 -exec rm -rf {} + 2>/dev/null || true
  local tmp
  tmp="$(mktemp -d "$APP.XXXXXX")"
  # No project: the plugin is named with its version, and Maven runs in the
  # temp dir so that no pom.xml around is picked up.
  if ! (cd "$tmp" && mvn -q -B -Dstyle.color=never \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="$ARTIFACT" -DoutputDirectory="$tmp/download" >&2); then
    rm -rf "$tmp"
    die "fetching $ARTIFACT failed (see Maven's output above)"
  fi
  mkdir "$tmp/app"
  tar xzf "$tmp"/download/*.tar.gz -C "$tmp/app" || { rm -rf "$tmp"; die "unpacking $ARTIFACT failed"; }
  echo "$VERSION" >"$tmp/app/VERSION"
  chmod 755 "$tmp/app"
  # A start running beside this one may have fetched it meanwhile: keep the first.
  [[ -f "$APP/VERSION" ]] || rm -rf "$APP"
  mv -T "$tmp/app" "$APP" 2>/dev/null || true
  rm -rf "$tmp"
  [[ -n "$(run_jar)" ]] || die "no quarkus-run.jar in $APP"
}


# 0 once GET URL/subjects answers 200.
answers() { # URL
  python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/subjects", timeout=5) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

start() {
  local name=dev owner=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      --owner) owner="$2"; shift 2 ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  [[ -z "$owner" || "$owner" =~ ^[1-9][0-9]*$ ]] || die "start: --owner must be a process id"
  local dir="$RDIR/$name"
  pid_alive "$dir/registry.pid" && die "registry '$name' is already running: scripts/registry.sh stop --name $name"
  find_java
  fetch
  rm -rf "$dir"
  mkdir -p "$dir"

  # The ports are free when picked, but another process (another registry
  # starting beside this one) may take one before the app binds it: then the
  # app exits saying so, and it is started again on other ports.
  local ports url attempt taken
  for attempt in 1 2 3; do
    read -r -a ports <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
    url="http://127.0.0.1:${ports[0]}/apis/ccompat/v7"
    # Small heap, serial GC (fewer threads on a small machine). C1 only and the
    # class-data archive: on 2 busy cores C2 compiling at start-up tripled the
    # start time (about 80 s against 25 s, and 12 s with the archive). Storage: H2
    # in memory (the app's default, named here). Runs in NAME/ so that anything it
    # writes lands there; nohup and the redirections detach it from the caller.
    # shellcheck disable=SC2086 # REGISTRY_JAVA_OPTS is a list of options
    (cd "$dir" && exec nohup "$JAVA" -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -XX:+AutoCreateSharedArchive -XX:SharedArchiveFile="$APP.jsa" \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="${ports[0]}" \
      -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="${ports[1]}" \
      -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
      -Dapicurio.datasource.url="jdbc:h2:mem:registry" \
      -Dapicurio.ccompat.legacy-id-mode.enabled=false \
      -Dapicurio.rules.global.compatibility=BACKWARD \
      ${REGISTRY_JAVA_OPTS:-} -jar "$(run_jar)" >>"$dir/registry.log" 2>&1 </dev/null) &
    echo $! >"$dir/registry.pid"
    log "started Apicurio Registry $VERSION '$name' with $JAVA, waiting for it (log: $dir/registry.log)"

    local deadline=$((SECONDS + READY_TIMEOUT))
    taken=0
    until answers "$url"; do
      if ! pid_alive "$dir/registry.pid" || ((SECONDS >= deadline)); then
        if ((attempt < 3)) && ! pid_alive "$dir/registry.pid" &&
          grep -q "seems to be in use by another process" "$dir/registry.log"; then
          taken=1
          break
        fi
        log "---- tail of $dir/registry.log"
        tail -n 40 "$dir/registry.log" >&2 || true
        if pid_alive "$dir/registry.pid"; then log "not ready after ${READY_TIMEOUT}s"; else log "it exited"; fi
        stop --name "$name"
        exit 1
      fi
      sleep 0.3
    done
    ((taken)) || break
    log "another process took port ${ports[0]} or ${ports[1]} first; starting again on other ports"
    mv "$dir/registry.log" "$dir/registry.log.$attempt"
  done
  echo "$url" >"$dir/url"
  [[ -n "$owner" ]] && watch_owner "$owner" "$dir/owner.pid" "$ROOT/scripts/registry.sh" stop --name "$name"
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
  local dir="$RDIR/$name"
  [[ -d "$dir" ]] || { log "no registry '$name'"; return 0; }
  # Up to 30 s: the first stop without a class-data archive writes it (75 MB),
  # which took 15 s on a busy machine.
  terminate "$dir/registry.pid" 30 "$dir/owner.pid"
  # Keep the log for post-mortems; the next start wipes it.
  rm -f "$dir/registry.pid" "$dir/url" "$dir/owner.pid"
  log "stopped registry '$name'"
}

url() {
  local name=dev
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      *) die "url: unknown argument $1" ;;
    esac
  done
  local dir="$RDIR/$name"
  if ! pid_alive "$dir/registry.pid" || [[ ! -f "$dir/url" ]]; then
    die "registry '$name' is not running: scripts/registry.sh start --name $name"
  fi
  cat "$dir/url"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  fetch) fetch ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  url) url "$@" ;;
  *) sed -n '2,/^set -e/{/^set -e/!p}' "$0" >&2; exit 2 ;;
esac
