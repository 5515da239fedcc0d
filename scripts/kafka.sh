#!/usr/bin/env bash
# A throwaway Apache Kafka (KRaft, no ZooKeeper) on loopback, for tests,
# benchmarks and the quick start. Only needs Java 17, Maven and python3.
#
#   scripts/kafka.sh fetch                            # get the pinned jars into .kafka/libs
#   scripts/kafka.sh start [--brokers N] [--name NAME] [--config KEY=VALUE]...
#                                                     # prints the bootstrap list on stdout
#   scripts/kafka.sh stop [--name NAME]               # stops the brokers, deletes their data
#   scripts/kafka.sh bootstrap [--name NAME]          # prints the bootstrap list again
#   scripts/kafka.sh kill-broker NAME K               # SIGKILL broker K (1-based), a crash
#   scripts/kafka.sh restart-broker NAME K            # (re)start broker K on its old port/data
#   scripts/kafka.sh tool CLASS ARGS...               # run a Kafka tool, e.g.
#       scripts/kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server B --list
#
# Everything lives in .kafka/ (git-ignored): libs/, and per cluster NAME (default
# "dev") NAME/brokerK.properties, NAME/brokerK.log, NAME/brokerK.pid, NAME/dataK/,
# NAME/bootstrap. Only the bootstrap list goes to stdout; all chatter to stderr.
set -euo pipefail

KAFKA_VERSION=4.1.1 # keep in sync with scripts/kafka/pom.xml
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KDIR="$ROOT/.kafka"
LIBS="$KDIR/libs"
LOG4J="$KDIR/log4j2.properties"
READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-60}" # seconds to wait for the brokers

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

fetch() {
  [[ "$(cat "$LIBS/VERSION" 2>/dev/null)" == "$KAFKA_VERSION" ]] && return
  command -v java >/dev/null || die "java not found (Java 17+ is required)"
  command -v mvn >/dev/null || die "mvn not found (Maven is required to fetch Kafka)"
  log "fetching Apache Kafka $KAFKA_VERSION jars with Maven into $LIBS"
  mkdir -p "$KDIR"
  rm -rf "$KDIR"/libs.*
  # Download into a temp dir and move it in place, so an interrupted fetch is retried.
  local tmp
  tmp="$(mktemp -d "$KDIR/libs.XXXXXX")"
  mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" >&2
  echo "$KAFKA_VERSION" >"$tmp/VERSION"
  chmod 755 "$tmp"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
}

# One log4j2 config for broker and tools: everything on stderr, level from
# -Dkafka.log.level (brokers use INFO and have stderr redirected to their log).
write_log4j() {
  mkdir -p "$KDIR"
  cat >"$LOG4J" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${sys:kafka.log.level:-WARN}
rootLogger.appenderRef.err.ref = err
EOF
}

# JVM options shared by the broker and the tools (log4j config, classpath).
java_base() { JAVA_BASE=(-Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*"); }

tool() {
  [[ $# -ge 1 ]] || die "usage: kafka.sh tool CLASS ARGS..."
  fetch
  [[ -f "$LOG4J" ]] || write_log4j
  java_base
  exec java -Xmx512m "${JAVA_BASE[@]}" "$@"
}

cluster_dir() { echo "$KDIR/$1"; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

launch() { # DIR K
  local dir="$1" k="$2"
  java_base
  # Small heap; G1 with short pauses like Kafka's own start script. nohup and
  # the redirections detach it from the caller's terminal and stdout.
  nohup java -Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Dkafka.log.level=INFO \
    "${JAVA_BASE[@]}" kafka.Kafka "$dir/broker$k.properties" \
    >>"$dir/broker$k.log" 2>&1 </dev/null &
  echo $! >"$dir/broker$k.pid"
}

# Wait until every running broker of the cluster (those with a pid file; see
# kill-broker) is registered, unfenced and answers ApiVersions, using Kafka's own
# BrokerApiVersionsCommand.
wait_ready() { # DIR
  local dir="$1" boot addrs n deadline=$((SECONDS + READY_TIMEOUT)) pidf k ok
  java_base
  boot="$(cat "$dir/bootstrap")"
  IFS=, read -r -a addrs <<<"$boot"
  while ((SECONDS < deadline)); do
    ok=1 n=0
    for pidf in "$dir"/broker*.pid; do
      pid_alive "$pidf" || { fail_logs "$dir" "$(basename "$pidf" .pid) exited"; return 1; }
      k="${pidf##*/broker}" k="${k%.pid}" n=$((n + 1))
      # A cheap TCP probe first, so as not to spin up a JVM per try while booting.
      (exec 3<>"/dev/tcp/127.0.0.1/${addrs[k - 1]#*:}") 2>/dev/null || ok=0
    done
    if ((ok)) && [[ "$(timeout 20 java -Xmx256m "${JAVA_BASE[@]}" \
      org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$boot" 2>/dev/null |
      grep -c 'isFenced: false) -> (')" -ge "$n" ]]; then
      return 0
    fi
    sleep 0.5
  done
  fail_logs "$dir" "not ready after ${READY_TIMEOUT}s"
}

fail_logs() { # DIR MESSAGE
  local f
  for f in "$1"/broker*.log; do
    log "---- tail of $f"
    tail -n 30 "$f" >&2 || true
  done
  log "cluster $(basename "$1"): $2"
  return 1
}

stop_pid() { # PIDFILE: SIGTERM, wait up to 15 s, then SIGKILL
  local pidf="$1" pid i
  pid_alive "$pidf" || { rm -f "$pidf"; return 0; }
  pid="$(cat "$pidf")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidf"
}

start() {
  local n=1 name=dev extra=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --brokers) n="$2"; shift 2 ;;
      --name) name="$2"; shift 2 ;;
      --config) extra+="$2"$'\n'; shift 2 ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "start: --brokers must be a positive number"
  local dir pidf
  dir="$(cluster_dir "$name")"
  for pidf in "$dir"/broker*.pid; do
    pid_alive "$pidf" && die "cluster '$name' is already running: scripts/kafka.sh stop --name $name"
  done
  fetch
  write_log4j
  java_base
  rm -rf "$dir"
  mkdir -p "$dir"

  # 2 free loopback ports per broker: client listener, then controller listener.
  local ports
  read -r -a ports <<<"$(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(2 * int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$n")"

  local k voters="" boot="" cluster_id isr=$((n > 1 ? 2 : 1))
  for ((k = 1; k <= n; k++)); do
    voters+="${voters:+,}$k@127.0.0.1:${ports[2 * k - 1]}"
    boot+="${boot:+,}127.0.0.1:${ports[2 * k - 2]}"
  done
  # A KRaft cluster id is 16 random bytes in URL-safe base64 without padding
  # (not starting with '-', which Kafka rejects on the command line).
  cluster_id="$(python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"): print(s); break')"

  for ((k = 1; k <= n; k++)); do
    cat >"$dir/broker$k.properties" <<EOF
# KRaft combined mode: every node is both a broker and a controller, with a
# static controller quorum (all nodes vote), so no ZooKeeper and no extra JVMs.
process.roles=broker,controller
node.id=$k
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[2 * k - 2]},CONTROLLER://127.0.0.1:${ports[2 * k - 1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[2 * k - 2]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data$k

auto.create.topics.enable=true
delete.topic.enable=true
num.partitions=1
default.replication.factor=$n
# Internal topics (consumer offsets, transaction state, share-group state)
# default to 3 replicas / min ISR 2: with fewer brokers, group commits and
# transactions would hang forever, so size them to the cluster.
offsets.topic.replication.factor=$n
transaction.state.log.replication.factor=$n
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$n
share.coordinator.state.topic.min.isr=$isr
# Don't wait 3 s for more members before the first consumer-group rebalance.
group.initial.rebalance.delay.ms=0
# Small footprint: 16 MiB segments, fewer threads, and a small compaction
# buffer (the default 128 MiB would eat a quarter of the heap).
log.segment.bytes=16777216
log.cleaner.dedupe.buffer.size=8388608
num.network.threads=2
num.io.threads=4
# Overrides given with --config KEY=VALUE (the last of a key wins).
$extra
EOF
  done
  # Write meta.properties and the initial metadata (kafka-storage format), in parallel.
  local pids=()
  for ((k = 1; k <= n; k++)); do
    java -Xmx256m "${JAVA_BASE[@]}" kafka.tools.StorageTool format \
      --cluster-id "$cluster_id" --config "$dir/broker$k.properties" >&2 &
    pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k" || die "formatting the storage failed"; done
  echo "$boot" >"$dir/bootstrap"
  for ((k = 1; k <= n; k++)); do launch "$dir" "$k"; done
  log "started $n broker(s) '$name', waiting for them to be ready (logs: $dir/broker*.log)"
  if ! wait_ready "$dir"; then
    stop --name "$name"
    exit 1
  fi
  echo "$boot"
}

stop() {
  local name=dev
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      *) die "stop: unknown argument $1" ;;
    esac
  done
  local dir pidf
  dir="$(cluster_dir "$name")"
  [[ -d "$dir" ]] || { log "no cluster '$name'"; return 0; }
  # Signal all brokers first so they shut down in parallel, then wait for each.
  for pidf in "$dir"/broker*.pid; do
    if pid_alive "$pidf"; then kill -TERM "$(cat "$pidf")" 2>/dev/null || true; fi
  done
  for pidf in "$dir"/broker*.pid; do
    [[ -e "$pidf" ]] && stop_pid "$pidf"
  done
  # Keep the logs and configs for post-mortems; the next start wipes them.
  rm -rf "$dir"/data* "$dir/bootstrap"
  log "stopped cluster '$name'"
}

bootstrap() {
  local name=dev
  [[ "${1:-}" == "--name" ]] && name="$2"
  local dir pidf
  dir="$(cluster_dir "$name")"
  for pidf in "$dir"/broker*.pid; do
    pid_alive "$pidf" && [[ -f "$dir/bootstrap" ]] && { cat "$dir/bootstrap"; return 0; }
  done
  die "cluster '$name' is not running: scripts/kafka.sh start --name $name"
}

broker_args() { # NAME K -> sets dir, k
  [[ $# -eq 2 && "$2" =~ ^[0-9]+$ ]] || die "usage: kafka.sh kill-broker|restart-broker NAME K"
  dir="$(cluster_dir "$1")"
  k="$2"
  [[ -f "$dir/broker$k.properties" ]] || die "no broker $k in cluster '$1'"
}

kill_broker() {
  local dir k
  broker_args "$@"
  pid_alive "$dir/broker$k.pid" && kill -KILL "$(cat "$dir/broker$k.pid")"
  rm -f "$dir/broker$k.pid"
  log "killed broker $k of '$1'"
}

restart_broker() {
  local dir k
  broker_args "$@"
  stop_pid "$dir/broker$k.pid"
  launch "$dir" "$k"
  log "restarted broker $k of '$1', waiting for the cluster to be ready"
  wait_ready "$dir"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  fetch) fetch ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  bootstrap) bootstrap "$@" ;;
  kill-broker) kill_broker "$@" ;;
  restart-broker) restart_broker "$@" ;;
  tool) tool "$@" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
