#!/usr/bin/env bash
# A throwaway Apache Kafka on loopback, for tests, benchmarks, the quick start
# and the compatibility matrix: KRaft (no ZooKeeper) for Kafka 4.x and 3.x, and
# for Kafka 2.8 ZooKeeper mode with a ZooKeeper of the cluster's own. Only needs
# Java 17, Maven and python3.
#
#   scripts/kafka.sh fetch [--kafka-version V]        # get the jars into .kafka/libs-V
#   scripts/kafka.sh start [--kafka-version V] [--brokers N] [--name NAME]
#                          [--config KEY=VALUE]... [--secure] [--owner PID]
#                                                     # prints the bootstrap list on stdout;
#                                                     # started again on other ports (up to
#                                                     # 3 times) when a port was taken meanwhile
#   scripts/kafka.sh stop [--name NAME]               # stops the brokers, deletes their data
#   scripts/kafka.sh bootstrap [--name NAME] [--listener L]
#                                                     # prints the bootstrap list again
#   scripts/kafka.sh kill-broker NAME K               # SIGKILL broker K (1-based), a crash
#   scripts/kafka.sh restart-broker NAME K            # (re)start broker K on its old port/data
#   scripts/kafka.sh tool [--kafka-version V | --name NAME] CLASS ARGS...
#                                                     # run a Kafka tool, e.g.
#       scripts/kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server B --list
#
# Kafka versions: --kafka-version V, else $KAFKA_SH_KAFKA_VERSION, else 4.1.1.
# Tested: 4.1.1 and 3.9.1 (KRaft), 2.8.2 (ZooKeeper mode), all on Java 17; other
# 4.x, 3.3+ and 2.8.x releases are tried with a warning. Each version's jars are
# fetched with Maven (scripts/kafka/pom.xml for 4.x, pom-3.xml, pom-2.xml) into
# .kafka/libs-V (an older checkout's .kafka/libs becomes a link to its libs-V).
# A cluster remembers its version (NAME/version), so kill-broker, restart-broker
# and `tool --name NAME` use its jars without the flag; `tool` without either
# flag uses the default. The tools' classes differ between versions:
# TopicCommand is org.apache.kafka.tools.TopicCommand in 3.9.1 and 4.x,
# kafka.admin.TopicCommand in 2.8.2; ConfigCommand is kafka.admin.ConfigCommand
# in all three.
#
# Everything lives in .kafka/ (git-ignored): libs-V/, and per cluster NAME
# (default "dev") NAME/version, NAME/brokerK.properties, NAME/brokerK.log,
# NAME/brokerK.pid, NAME/dataK/, NAME/bootstrap. Only the bootstrap list goes to
# stdout; all chatter to stderr. In ZooKeeper mode the cluster's ZooKeeper has
# NAME/zookeeper.properties, .log, .pid and NAME/data-zookeeper/, on a free
# loopback port that `bootstrap --listener zookeeper` prints (for tools' --zookeeper).
# There, restart-broker after kill-broker first waits until the killed broker's
# ZooKeeper session has expired (up to 18 s), as Kafka 2.8 will not start before.
#
# --secure adds, besides the PLAINTEXT listener (still the first one and the
# inter-broker one), four listeners on free loopback ports: SSL, SASL_PLAINTEXT,
# SASL_SSL and MTLS (SSL that requires a client certificate). SASL listeners
# enable PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for the user in NAME/users
# ("alice:PASSWORD", a fresh random password per cluster; its SCRAM credentials
# are added by kafka-storage format in KRaft mode, which needs Kafka 3.5+, and
# through ZooKeeper in ZooKeeper mode). A throwaway CA signs the brokers'
# certificate (for 127.0.0.1 and localhost) and a client certificate, made with
# openssl (or keytool and java without it, or with KAFKA_SH_CERT_TOOL=keytool;
# Kafka 2.8 gets the broker key encrypted, as its PEM key store requires):
#   NAME/ca.pem                     the CA that signed the brokers' certificate
#   NAME/client.pem, client.key     a client certificate and key (for MTLS)
#   NAME/other-ca.pem               a CA that signed nothing (to test refusals)
#   NAME/bootstrap.L                the bootstrap list of listener L: ssl,
#                                   sasl_plaintext, sasl_ssl, mtls
# `bootstrap --listener L` prints NAME/bootstrap.L.
#
# --owner PID stops the cluster by itself once process PID has exited (tests
# use it so that a cluster shared by a whole test binary never outlives it).
set -euo pipefail

DEFAULT_VERSION=4.1.1 # keep in sync with kafka.version in scripts/kafka/pom.xml
TESTED_VERSIONS="4.1.1 3.9.1 2.8.2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KDIR="$ROOT/.kafka"
READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-180}" # seconds to wait for the brokers (a loaded machine, several clusters at once)

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Selects Kafka version V: sets KAFKA_VERSION, KAFKA_MAJOR, KAFKA_MINOR, MODE
# (kraft or zookeeper), POM (which scripts/kafka/pom*.xml fetches it), LIBS (its
# jars), LOG4J (its logging config: log4j2 for 4.x, log4j 1 for older) and
# APIVERSIONS (the class of kafka-broker-api-versions).
use_version() { # V
  [[ "$1" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
    die "--kafka-version: expected a release like 3.9.1, not '$1'"
  KAFKA_VERSION="$1" KAFKA_MAJOR="${BASH_REMATCH[1]}" KAFKA_MINOR="${BASH_REMATCH[2]}"
  case "$KAFKA_MAJOR" in
    4)
      MODE=kraft POM=pom.xml LOG4J="$KDIR/log4j2.properties"
      APIVERSIONS=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    3)
      ((KAFKA_MINOR >= 3)) || die "Kafka $1: KRaft before 3.3 was not production-ready; use 3.3 or newer"
      MODE=kraft POM=pom-3.xml LOG4J="$KDIR/log4j.properties"
      APIVERSIONS=kafka.admin.BrokerApiVersionsCommand ;;
    2)
      ((KAFKA_MINOR == 8)) || die "Kafka $1: of the 2.x releases only 2.8 is supported (ZooKeeper mode)"
      MODE=zookeeper POM=pom-2.xml LOG4J="$KDIR/log4j.properties"
      APIVERSIONS=kafka.admin.BrokerApiVersionsCommand ;;
    *) die "Kafka $1 is not supported (4.x, 3.3 to 3.9 and 2.8 are)" ;;
  esac
  LIBS="$KDIR/libs-$KAFKA_VERSION"
}

# The version cluster NAME runs (clusters started before NAME/version existed
# ran the default).
cluster_version() { # NAME
  cat "$(cluster_dir "$1")/version" 2>/dev/null || echo "$DEFAULT_VERSION"
}

# The pinned version's jars used to live in .kafka/libs: move them to
# .kafka/libs-V and leave a link behind, for brokers started from there and for
# the script of an older checkout.
migrate_libs() {
  local old="$KDIR/libs" v
  [[ -d "$old" && ! -L "$old" && -f "$old/VERSION" ]] || return 0
  v="$(cat "$old/VERSION")"
  [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ && ! -e "$KDIR/libs-$v" ]] || return 0
  if mv -T "$old" "$KDIR/libs-$v" 2>/dev/null; then
    ln -sfn "libs-$v" "$old"
    log "moved $old to $KDIR/libs-$v"
  fi
}

fetch() {
  migrate_libs
  [[ "$(cat "$LIBS/VERSION" 2>/dev/null)" == "$KAFKA_VERSION" ]] && return
  command -v java >/dev/null || die "java not found (Java 17+ is required)"
  command -v mvn >/dev/null || die "mvn not found (Maven is required to fetch Kafka)"
  log "fetching Apache Kafka $KAFKA_VERSION jars with Maven into $LIBS"
  mkdir -p "$KDIR"
  # Leftovers of interrupted fetches (not those of a fetch running now).
  find "$KDIR" -maxdepth 1 \( -name 'libs.*' -o -name "libs-$KAFKA_VERSION.*" \) -mmin +60 \
    -exec rm -rf {} + 2>/dev/null || true
  # Download into a temp dir and move it in place, so an interrupted fetch is retried.
  local tmp
  tmp="$(mktemp -d "$LIBS.XXXXXX")"
  if ! mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/$POM" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" >&2; then
    rm -rf "$tmp"
    die "fetching Apache Kafka $KAFKA_VERSION failed (see Maven's output above)"
  fi
  echo "$KAFKA_VERSION" >"$tmp/VERSION"
  chmod 755 "$tmp"
  # A start running beside this one may have fetched the same version: keep the first.
  [[ -f "$LIBS/VERSION" ]] || rm -rf "$LIBS"
  mv -T "$tmp" "$LIBS" 2>/dev/null || rm -rf "$tmp"
}

# One logging config for broker, ZooKeeper and tools: everything on stderr,
# level from -Dkafka.log.level, WARN without it (brokers use INFO and have
# stderr redirected to their log). log4j2 for Kafka 4.x, log4j 1 (reload4j)
# for 3.x and 2.x. Written aside and renamed, as starts may run side by side.
write_log4j() {
  mkdir -p "$KDIR"
  local tmp
  tmp="$(mktemp "$LOG4J.XXXXXX")"
  if ((KAFKA_MAJOR >= 4)); then
    cat >"$tmp" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${sys:kafka.log.level:-WARN}
rootLogger.appenderRef.err.ref = err
EOF
  else
    # log4j 1 looks ${kafka.log.level} up in the system properties first, then here.
    cat >"$tmp" <<'EOF'
kafka.log.level=WARN
log4j.rootLogger=${kafka.log.level}, err
log4j.appender.err=org.apache.log4j.ConsoleAppender
log4j.appender.err.Target=System.err
log4j.appender.err.layout=org.apache.log4j.PatternLayout
log4j.appender.err.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
  fi
  chmod 644 "$tmp"
  mv -f "$tmp" "$LOG4J"
}

# JVM options shared by the broker and the tools (log4j config, classpath).
java_base() {
  if ((KAFKA_MAJOR >= 4)); then
    JAVA_BASE=(-Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*")
  else
    JAVA_BASE=(-Djava.awt.headless=true -Dlog4j.configuration="file:$LOG4J" -cp "$LIBS/*")
  fi
}

tool() {
  local version="" name=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --kafka-version) version="$2"; shift 2 ;;
      --name) name="$2"; shift 2 ;;
      *) break ;;
    esac
  done
  [[ $# -ge 1 ]] || die "usage: kafka.sh tool [--kafka-version V | --name NAME] CLASS ARGS..."
  if [[ -n "$name" ]]; then
    [[ -d "$(cluster_dir "$name")" ]] || die "tool: no cluster '$name'"
    [[ -z "$version" || "$version" == "$(cluster_version "$name")" ]] ||
      die "tool: cluster '$name' runs Kafka $(cluster_version "$name"), not $version"
    version="$(cluster_version "$name")"
  fi
  use_version "${version:-$REQUESTED_VERSION}"
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
# BrokerApiVersionsCommand. (Before 4.0 it does not print isFenced, but then
# fenced brokers are not in the metadata it lists.)
wait_ready() { # DIR
  local dir="$1" boot addrs n deadline=$((SECONDS + READY_TIMEOUT)) pidf k ok pattern
  java_base
  boot="$(cat "$dir/bootstrap")"
  IFS=, read -r -a addrs <<<"$boot"
  pattern='isFenced: false) -> ('
  ((KAFKA_MAJOR >= 4)) || pattern=') -> ('
  while ((SECONDS < deadline)); do
    ok=1 n=0
    if [[ "$MODE" == zookeeper ]] && ! pid_alive "$dir/zookeeper.pid"; then
      fail_logs "$dir" "zookeeper exited"
      return 1
    fi
    for pidf in "$dir"/broker*.pid; do
      pid_alive "$pidf" || { fail_logs "$dir" "$(basename "$pidf" .pid) exited"; return 1; }
      k="${pidf##*/broker}" k="${k%.pid}" n=$((n + 1))
      # A cheap TCP probe first, so as not to spin up a JVM per try while booting.
      (exec 3<>"/dev/tcp/127.0.0.1/${addrs[k - 1]#*:}") 2>/dev/null || ok=0
    done
    if ((ok)) && [[ "$(timeout 20 java -Xmx256m "${JAVA_BASE[@]}" \
      "$APIVERSIONS" --bootstrap-server "$boot" 2>/dev/null |
      grep -cF "$pattern")" -ge "$n" ]]; then
      return 0
    fi
    sleep 0.5
  done
  fail_logs "$dir" "not ready after ${READY_TIMEOUT}s"
}

fail_logs() { # DIR MESSAGE
  local f
  for f in "$1"/broker*.log "$1"/zookeeper.log; do
    [[ -f "$f" ]] || continue
    log "---- tail of $f"
    tail -n 30 "$f" >&2 || true
  done
  log "cluster $(basename "$1"): $2"
  return 1
}

# ---- ZooKeeper mode (Kafka 2.8): one standalone ZooKeeper per cluster ----

zk_launch() { # DIR
  local dir="$1"
  java_base
  nohup java -Xms32m -Xmx256m -Dkafka.log.level=INFO "${JAVA_BASE[@]}" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zookeeper.properties" \
    >>"$dir/zookeeper.log" 2>&1 </dev/null &
  echo $! >"$dir/zookeeper.pid"
}

# Wait until the cluster's ZooKeeper serves: it answers the `srvr` four-letter word.
zk_wait() { # DIR
  local dir="$1" port out deadline=$((SECONDS + READY_TIMEOUT))
  port="$(cat "$dir/bootstrap.zookeeper")" port="${port##*:}"
  while ((SECONDS < deadline)); do
    pid_alive "$dir/zookeeper.pid" || { fail_logs "$dir" "zookeeper exited"; return 1; }
    out="$( { exec 3<>"/dev/tcp/127.0.0.1/$port" && printf srvr >&3 && timeout 2 cat <&3; } 2>/dev/null)" || true
    [[ "$out" == *"Mode: standalone"* ]] && return 0
    sleep 0.2
  done
  fail_logs "$dir" "zookeeper not ready after ${READY_TIMEOUT}s"
}

# A broker killed with SIGKILL stays registered (/brokers/ids/K, an ephemeral
# node of its ZooKeeper session) until that session expires (18 s by default),
# and Kafka 2.8 exits at start while the old registration is there. Wait until
# the `dump` four-letter word no longer lists it.
zk_wait_unregistered() { # DIR K
  local dir="$1" k="$2" port out deadline=$((SECONDS + READY_TIMEOUT)) said=0
  port="$(cat "$dir/bootstrap.zookeeper")" port="${port##*:}"
  while ((SECONDS < deadline)); do
    out="$( { exec 3<>"/dev/tcp/127.0.0.1/$port" && printf dump >&3 && timeout 2 cat <&3; } 2>/dev/null)" || true
    if [[ "$out" == *"ephemeral nodes dump"* ]] && ! grep -qxE "[[:space:]]*/brokers/ids/$k" <<<"$out"; then
      return 0
    fi
    if ((!said)); then
      log "waiting for broker $k's old ZooKeeper session to expire"
      said=1
    fi
    sleep 0.5
  done
  die "broker $k is still registered in ZooKeeper after ${READY_TIMEOUT}s"
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
  local n=1 name=dev extra="" secure=0 owner="" version="$REQUESTED_VERSION"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --brokers) n="$2"; shift 2 ;;
      --name) name="$2"; shift 2 ;;
      --config) extra+="$2"$'\n'; shift 2 ;;
      --secure) secure=1; shift ;;
      --owner) owner="$2"; shift 2 ;;
      --kafka-version) version="$2"; shift 2 ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "start: --brokers must be a positive number"
  [[ -z "$owner" || "$owner" =~ ^[1-9][0-9]*$ ]] || die "start: --owner must be a process id"
  use_version "$version"
  [[ " $TESTED_VERSIONS " == *" $KAFKA_VERSION "* ]] ||
    log "warning: Kafka $KAFKA_VERSION is untested with this script (tested: $TESTED_VERSIONS)"
  if ((secure)) && [[ "$MODE" == kraft && "$KAFKA_MAJOR" == 3 ]] && ((KAFKA_MINOR < 5)); then
    die "start --secure: Kafka $KAFKA_VERSION in KRaft mode cannot create SCRAM users" \
      "(kafka-storage format --add-scram came with 3.5); use 3.5 or newer"
  fi
  local dir pidf
  dir="$(cluster_dir "$name")"
  for pidf in "$dir"/broker*.pid "$dir"/zookeeper.pid; do
    pid_alive "$pidf" && die "cluster '$name' is already running: scripts/kafka.sh stop --name $name"
  done
  fetch
  write_log4j
  java_base
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$KAFKA_VERSION" >"$dir/version"
  # From here on, a start that fails stops whatever it started (see on_exit).
  STARTING="$name"

  # Free loopback ports, per broker: client listener, controller listener (KRaft
  # only), and with --secure the SSL, SASL_PLAINTEXT, SASL_SSL and MTLS
  # listeners; in ZooKeeper mode one more, the last, for ZooKeeper.
  local ports first_secure=2 zk=0
  if [[ "$MODE" == zookeeper ]]; then first_secure=1 zk=1; fi
  local per=$((first_secure + (secure ? 4 : 0)))
  read -r -a ports <<<"$(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$((per * n + zk))")"

  local k voters="" boot="" cluster_id isr=$((n > 1 ? 2 : 1))
  for ((k = 1; k <= n; k++)); do
    voters+="${voters:+,}$k@127.0.0.1:${ports[per * (k - 1) + 1]}"
    boot+="${boot:+,}127.0.0.1:${ports[per * (k - 1)]}"
  done
  # A KRaft cluster id is 16 random bytes in URL-safe base64 without padding
  # (not starting with '-', which Kafka rejects on the command line).
  cluster_id="$(python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"): print(s); break')"

  local format_args=() scram_config="" listeners advertised protocols node share="" zk_connect=""
  ((secure)) && secure_setup "$dir" "$n" "$per" "$first_secure"
  if [[ "$MODE" == zookeeper ]]; then
    zk_connect="127.0.0.1:${ports[per * n]}"
    echo "$zk_connect" >"$dir/bootstrap.zookeeper"
    cat >"$dir/zookeeper.properties" <<EOF
# A standalone ZooKeeper for this cluster only, on loopback.
dataDir=$dir/data-zookeeper
clientPort=${ports[per * n]}
clientPortAddress=127.0.0.1
maxClientCnxns=0
# No AdminServer (it would take port 8080); only the four-letter words kafka.sh uses.
admin.enableServer=false
4lw.commands.whitelist=srvr,dump
EOF
  fi
  if ((KAFKA_MAJOR >= 4)); then
    share="share.coordinator.state.topic.replication.factor=$n
share.coordinator.state.topic.min.isr=$isr"
  fi
  for ((k = 1; k <= n; k++)); do
    listeners="PLAINTEXT://127.0.0.1:${ports[per * (k - 1)]}"
    advertised="PLAINTEXT://127.0.0.1:${ports[per * (k - 1)]}"
    protocols="PLAINTEXT:PLAINTEXT"
    if [[ "$MODE" == kraft ]]; then
      listeners+=",CONTROLLER://127.0.0.1:${ports[per * (k - 1) + 1]}"
      protocols+=",CONTROLLER:PLAINTEXT"
    fi
    if ((secure)); then
      local extra_listeners="" l i=$first_secure
      for l in SSL SASL_PLAINTEXT SASL_SSL MTLS; do
        extra_listeners+=",$l://127.0.0.1:${ports[per * (k - 1) + i]}"
        i=$((i + 1))
      done
      listeners+="$extra_listeners"
      advertised+="$extra_listeners"
      protocols+=",SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL"
    fi
    if [[ "$MODE" == kraft ]]; then
      node="# KRaft combined mode: every node is both a broker and a controller, with a
# static controller quorum (all nodes vote), so no ZooKeeper and no extra JVMs.
process.roles=broker,controller
node.id=$k
controller.quorum.voters=$voters
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER"
    else
      node="# ZooKeeper mode: the brokers register in the cluster's own ZooKeeper
# (zookeeper.properties), which also elects the controller among them.
broker.id=$k
zookeeper.connect=$zk_connect
listeners=$listeners
advertised.listeners=$advertised"
    fi
    cat >"$dir/broker$k.properties" <<EOF
$node
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
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
$share
# Don't wait 3 s for more members before the first consumer-group rebalance.
group.initial.rebalance.delay.ms=0
# Small footprint: 16 MiB segments, fewer threads, and a small compaction
# buffer (the default 128 MiB would eat a quarter of the heap).
log.segment.bytes=16777216
log.cleaner.dedupe.buffer.size=8388608
num.network.threads=2
num.io.threads=4
$( ((secure)) && cat "$dir/secure.properties")
# Overrides given with --config KEY=VALUE (the last of a key wins).
$extra
EOF
  done
  if [[ "$MODE" == kraft ]]; then
    # Write meta.properties and the initial metadata (kafka-storage format), in parallel.
    local pids=()
    for ((k = 1; k <= n; k++)); do
      java -Xmx256m "${JAVA_BASE[@]}" kafka.tools.StorageTool format \
        --cluster-id "$cluster_id" --config "$dir/broker$k.properties" "${format_args[@]}" >&2 &
      pids+=($!)
    done
    for k in "${pids[@]}"; do wait "$k" || die "formatting the storage failed"; done
  else
    # ZooKeeper first; the brokers write their meta.properties themselves.
    zk_launch "$dir"
    log "started zookeeper for '$name' on $zk_connect (log: $dir/zookeeper.log)"
    zk_wait "$dir" || exit 1
    if [[ -n "$scram_config" ]]; then
      # SCRAM credentials live in ZooKeeper: add them before any broker starts.
      quietly "$dir/scram.log" java -Xmx256m "${JAVA_BASE[@]}" kafka.admin.ConfigCommand \
        --zookeeper "$zk_connect" --alter --entity-type users --entity-name alice \
        --add-config "$scram_config"
    fi
  fi
  echo "$boot" >"$dir/bootstrap"
  for ((k = 1; k <= n; k++)); do launch "$dir" "$k"; done
  log "started $n broker(s) '$name' (Kafka $KAFKA_VERSION), waiting for them to be ready (logs: $dir/broker*.log)"
  wait_ready "$dir" || exit 1
  STARTING=""
  [[ -n "$owner" ]] && watch_owner "$name" "$owner"
  echo "$boot"
}

# ---- --secure: TLS material, SASL users, listener settings ----

# Writes the certificates, NAME/users, NAME/bootstrap.L and NAME/secure.properties
# (the broker settings), and sets the SCRAM credentials: format_args in KRaft
# mode, scram_config (for kafka-configs --zookeeper) in ZooKeeper mode. The
# listeners' ports are ports[PER * (K - 1) + FIRST] onwards for broker K.
secure_setup() { # DIR N PER FIRST
  local dir="$1" n="$2" per="$3" k l i password
  make_certs "$dir"
  # A fresh password per cluster: tests can check that it is never echoed.
  password="$(python3 -c 'import secrets; print("pw-" + secrets.token_urlsafe(18))')"
  echo "alice:$password" >"$dir/users"
  i="$4"
  for l in ssl sasl_plaintext sasl_ssl mtls; do
    local list=""
    for ((k = 1; k <= n; k++)); do list+="${list:+,}127.0.0.1:${ports[per * (k - 1) + i]}"; done
    echo "$list" >"$dir/bootstrap.$l"
    i=$((i + 1))
  done
  local plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"$password\";"
  local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  {
    echo "# --secure: TLS from a throwaway CA; SASL users from NAME/users."
    echo "ssl.keystore.type=PEM"
    if ((KAFKA_MAJOR >= 3)); then
      echo "ssl.keystore.location=$dir/broker-keystore.pem"
    else
      # Kafka 2.x reads a PEM key store only with an encrypted key and its password.
      echo "ssl.keystore.location=$dir/broker-keystore-encrypted.pem"
      echo "ssl.key.password=$PEM_KEY_PASSWORD"
    fi
    echo "ssl.truststore.type=PEM"
    echo "ssl.truststore.location=$dir/ca.pem"
    echo "listener.name.mtls.ssl.client.auth=required"
    echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    for l in sasl_plaintext sasl_ssl; do
      echo "listener.name.$l.plain.sasl.jaas.config=$plain"
      echo "listener.name.$l.scram-sha-256.sasl.jaas.config=$scram"
      echo "listener.name.$l.scram-sha-512.sasl.jaas.config=$scram"
    done
  } >"$dir/secure.properties"
  if [[ "$MODE" == kraft ]]; then
    # SCRAM credentials go into the cluster metadata when the storage is formatted.
    format_args=(--add-scram "SCRAM-SHA-256=[name=alice,password=$password]"
      --add-scram "SCRAM-SHA-512=[name=alice,password=$password]")
  else
    # In ZooKeeper mode, into ZooKeeper before the brokers start (see start).
    scram_config="SCRAM-SHA-256=[password=$password],SCRAM-SHA-512=[password=$password]"
  fi
}

# A throwaway CA; a broker certificate for 127.0.0.1 and localhost and a client
# certificate, both signed by it; and a second CA that signed nothing. All PEM,
# keys unencrypted PKCS#8 (EC P-256). openssl when present, else keytool + java.
make_certs() { # DIR
  local dir="$1"
  if command -v openssl >/dev/null && [[ "${KAFKA_SH_CERT_TOOL:-openssl}" == openssl ]]; then
    certs_openssl "$dir"
  else
    certs_keytool "$dir"
  fi
  # The brokers read their key and certificate chain from one PEM file.
  cat "$dir/broker.key" "$dir/broker.pem" "$dir/ca.pem" >"$dir/broker-keystore.pem"
  if ((KAFKA_MAJOR < 3)); then
    encrypt_key "$dir" "$dir/broker.key" >"$dir/broker-encrypted.key"
    cat "$dir/broker-encrypted.key" "$dir/broker.pem" "$dir/ca.pem" >"$dir/broker-keystore-encrypted.pem"
  fi
}

PEM_KEY_PASSWORD=throwaway

# Prints KEY (PEM, unencrypted PKCS#8) as an encrypted PKCS#8 PEM key with
# password $PEM_KEY_PASSWORD, for Kafka 2.x. It looks the cipher up by the name
# the JDK gives the key's algorithm, which for PBES2 (openssl's default) is just
# "PBES2" and fails; a PKCS#12 PBE algorithm (SHA-1 and 3DES: weak, but the key
# is a throwaway one on loopback) has a name it can use. A few lines of Java, so
# that it works with or without openssl.
encrypt_key() { # DIR KEY
  cat >"$1/PemEncrypt.java" <<'EOF'
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.EncryptedPrivateKeyInfo;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.PBEParameterSpec;

public class PemEncrypt {
    public static void main(String[] a) throws Exception {
        String pem = Files.readString(Path.of(a[0])).replaceAll("-----[A-Z ]+-----", "");
        byte[] pkcs8 = Base64.getMimeDecoder().decode(pem);
        byte[] salt = new byte[8];
        new SecureRandom().nextBytes(salt);
        String alg = "PBEWithSHA1AndDESede";
        Cipher cipher = Cipher.getInstance(alg);
        cipher.init(Cipher.ENCRYPT_MODE,
            SecretKeyFactory.getInstance(alg).generateSecret(new PBEKeySpec(a[1].toCharArray())),
            new PBEParameterSpec(salt, 10000));
        byte[] der = new EncryptedPrivateKeyInfo(cipher.getParameters(), cipher.doFinal(pkcs8)).getEncoded();
        System.out.print("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
            + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
            + "\n-----END ENCRYPTED PRIVATE KEY-----\n");
    }
}
EOF
  java "$1/PemEncrypt.java" "$2" "$PEM_KEY_PASSWORD" || die "encrypting $2 failed"
}

quietly() { # LOG CMD...: runs CMD with its chatter in LOG, shown only on failure
  local out="$1"
  shift
  "$@" >>"$out" 2>&1 || { cat "$out" >&2; die "$1 failed (see above)"; }
}

certs_openssl() { # DIR
  local d="$1" name
  for name in ca other-ca; do
    quietly "$d/certs.log" openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -noenc -keyout "$d/$name.key" -out "$d/$name.pem" -days 30 \
      -subj "/CN=kafka-records throwaway $name" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  done
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth,clientAuth" \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" >"$d/broker.ext"
  printf '%s\n' "extendedKeyUsage=clientAuth" \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" >"$d/client.ext"
  for name in broker client; do
    quietly "$d/certs.log" openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
      -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=kafka-records $name"
    quietly "$d/certs.log" openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -CAcreateserial -days 30 -extfile "$d/$name.ext" -out "$d/$name.pem"
  done
}

certs_keytool() { # DIR
  local d="$1" pw=throwaway name
  for name in ca other-ca; do
    quietly "$d/certs.log" keytool -genkeypair -noprompt -storepass "$pw" -storetype PKCS12 \
      -keystore "$d/$name.p12" -alias "$name" -keyalg EC -groupname secp256r1 -validity 30 \
      -dname "CN=kafka-records throwaway $name" -ext bc:c=ca:true -ext ku:c=keyCertSign,cRLSign
    quietly "$d/certs.log" keytool -exportcert -noprompt -storepass "$pw" -keystore "$d/$name.p12" \
      -alias "$name" -rfc -file "$d/$name.pem"
  done
  # RSA for the keys that leave Java: its PKCS#8 EC keys lack the public key,
  # which rustls' ring provider needs.
  for name in broker client; do
    local ext=(-ext bc:c=ca:false -ext ku:c=digitalSignature -ext eku=clientAuth)
    [[ "$name" == broker ]] && ext=(-ext bc:c=ca:false -ext ku:c=digitalSignature
      -ext "eku=serverAuth,clientAuth" -ext "san=ip:127.0.0.1,dns:localhost")
    quietly "$d/certs.log" keytool -genkeypair -noprompt -storepass "$pw" -storetype PKCS12 \
      -keystore "$d/$name.p12" -alias "$name" -keyalg RSA -keysize 2048 -validity 30 \
      -dname "CN=kafka-records $name"
    quietly "$d/certs.log" keytool -certreq -noprompt -storepass "$pw" -keystore "$d/$name.p12" \
      -alias "$name" -file "$d/$name.csr"
    quietly "$d/certs.log" keytool -gencert -noprompt -storepass "$pw" -keystore "$d/ca.p12" \
      -alias ca -infile "$d/$name.csr" -outfile "$d/$name.pem" -rfc -validity 30 "${ext[@]}"
  done
  # keytool cannot write a private key as PEM; a few lines of Java can.
  cat >"$d/PemKey.java" <<'EOF'
import java.io.FileInputStream;
import java.security.KeyStore;
import java.util.Base64;

public class PemKey {
    public static void main(String[] a) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(a[0])) { ks.load(in, a[1].toCharArray()); }
        byte[] pkcs8 = ks.getKey(a[2], a[1].toCharArray()).getEncoded();
        System.out.print("-----BEGIN PRIVATE KEY-----\n"
            + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(pkcs8)
            + "\n-----END PRIVATE KEY-----\n");
    }
}
EOF
  for name in broker client; do
    java "$d/PemKey.java" "$d/$name.p12" "$pw" "$name" >"$d/$name.key" ||
      die "exporting the $name key failed"
  done
}

# Stops cluster NAME once process PID has exited, from a detached watcher.
watch_owner() { # NAME PID
  local name="$1" owner="$2" dir
  dir="$(cluster_dir "$name")"
  # shellcheck disable=SC2016 # $1.. are the inner shell's arguments
  setsid nohup bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" stop --name "$3"' \
    watch "$owner" "$ROOT/scripts/kafka.sh" "$name" >/dev/null 2>&1 </dev/null &
  echo $! >"$dir/owner.pid"
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
  # ZooKeeper mode: ZooKeeper last, the brokers need it to shut down cleanly.
  [[ -e "$dir/zookeeper.pid" ]] && stop_pid "$dir/zookeeper.pid"
  # The owner watcher, unless it is the one stopping the cluster.
  if [[ -f "$dir/owner.pid" && "$(cat "$dir/owner.pid")" != "$$" ]]; then
    kill "$(cat "$dir/owner.pid")" 2>/dev/null || true
  fi
  # Keep the logs and configs for post-mortems; the next start wipes them.
  # (data* includes ZooKeeper's data-zookeeper, bootstrap.* its bootstrap.zookeeper.)
  rm -rf "$dir"/data* "$dir/bootstrap" "$dir"/bootstrap.* "$dir/owner.pid"
  log "stopped cluster '$name'"
}

bootstrap() {
  local name=dev file=bootstrap
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name="$2"; shift 2 ;;
      --listener)
        case "$2" in
          plaintext) file=bootstrap ;;
          ssl | sasl_plaintext | sasl_ssl | mtls | zookeeper) file="bootstrap.$2" ;;
          *) die "bootstrap: --listener is plaintext, ssl, sasl_plaintext, sasl_ssl, mtls or zookeeper" ;;
        esac
        shift 2 ;;
      *) die "bootstrap: unknown argument $1" ;;
    esac
  done
  local dir pidf
  dir="$(cluster_dir "$name")"
  for pidf in "$dir"/broker*.pid; do
    if pid_alive "$pidf"; then
      if [[ "$file" == bootstrap.zookeeper ]]; then
        [[ -f "$dir/$file" ]] || die "cluster '$name' runs no ZooKeeper (Kafka $(cluster_version "$name") runs in KRaft mode)"
      fi
      [[ -f "$dir/$file" ]] || die "cluster '$name' has no $file (start it with --secure)"
      cat "$dir/$file"
      return 0
    fi
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
  use_version "$(cluster_version "$1")"
  fetch
  [[ -f "$LOG4J" ]] || write_log4j
  stop_pid "$dir/broker$k.pid"
  [[ "$MODE" == zookeeper ]] && zk_wait_unregistered "$dir" "$k"
  launch "$dir" "$k"
  log "restarted broker $k of '$1', waiting for the cluster to be ready"
  wait_ready "$dir"
}

# A start that fails part way stops what it had started (ZooKeeper, brokers).
STARTING=""
on_exit() {
  local rc=$?
  if [[ -n "$STARTING" ]]; then
    local name="$STARTING"
    STARTING=""
    stop --name "$name" || true
  fi
  return "$rc"
}
trap on_exit EXIT

fetch_cmd() {
  local version="$REQUESTED_VERSION"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --kafka-version) version="$2"; shift 2 ;;
      *) die "fetch: unknown argument $1" ;;
    esac
  done
  use_version "$version"
  fetch
}

# A start picks free ports, then the JVMs bind them: another process may take
# one in between, and a broker (or ZooKeeper) then exits with "Address already
# in use". Such a start is made again, on other ports, up to three times.
start_retrying() {
  local name=dev try i next
  for ((i = 1; i < $#; i++)); do
    next=$((i + 1))
    [[ "${!i}" == --name ]] && name="${!next}"
  done
  for try in 1 2 3; do
    "${BASH_SOURCE[0]}" start-once "$@" && return 0
    grep -qs "Address already in use" "$(cluster_dir "$name")"/*.log || return 1
    ((try < 3)) && log "a port of cluster '$name' was taken before Kafka bound it; starting it again on other ports"
  done
  return 1
}

REQUESTED_VERSION="${KAFKA_SH_KAFKA_VERSION:-$DEFAULT_VERSION}"
cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  fetch) fetch_cmd "$@" ;;
  start) start_retrying "$@" ;;
  start-once) start "$@" ;;
  stop) stop "$@" ;;
  bootstrap) bootstrap "$@" ;;
  kill-broker) kill_broker "$@" ;;
  restart-broker) restart_broker "$@" ;;
  tool) tool "$@" ;;
  *) sed -n '2,/^set -e/{/^set -e/!p}' "$0" >&2; exit 2 ;;
esac
