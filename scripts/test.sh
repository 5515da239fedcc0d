#!/usr/bin/env bash
# The project's test command: every test of `cargo test --lib --bins --tests`
# against a real Kafka, the test binaries run in parallel lanes (the benchmark
# under benches/ runs with scripts/bench.sh instead).
#   scripts/test.sh                          the whole suite
#   scripts/test.sh --core                   the core integration tests only (below)
#   scripts/test.sh --kafka-version V ...    against Apache Kafka V (e.g. 3.9.1, 2.8.2;
#                                            see scripts/kafka.sh), its clusters and tools
#   scripts/test.sh [CARGO TEST ARGS...]     e.g. scripts/test.sh --test get -- --nocapture
# Starts a throwaway single-node cluster ("test", or "test-V" with --kafka-version)
# with scripts/kafka.sh and stops it afterwards, unless KAFKA_RECORDS_TEST_BOOTSTRAP
# already points at a cluster (then set KAFKA_RECORDS_TEST_KAFKA_VERSION to its
# release if it is not the default). The tests learn the release from
# KAFKA_RECORDS_TEST_KAFKA_VERSION, which this script sets.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The core integration tests, which the version matrix runs on every Kafka
# release of the README's table: produce and fetch with every format (the
# Schema Registry's Avro, Protobuf and JSON Schema included), headers, seeks,
# long polls, cursors and streams, groups, transactions and read_committed,
# delete, the topics and groups routes, TLS and SASL.
CORE=(post get writes reads read_committed delete ndjson_post streams groups group_routes
  topics transactions kafka_security schemas)

version="" core=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kafka-version)
      [[ $# -ge 2 ]] || { echo "test.sh: --kafka-version needs a release, e.g. 3.9.1" >&2; exit 2; }
      version="$2"; shift 2 ;;
    --core) core=1; shift ;;
    *) break ;;
  esac
done
if [[ $core -eq 1 && $# -gt 0 ]]; then
  echo "test.sh: --core runs the core test binaries; it takes no cargo arguments ($*)" >&2
  exit 2
fi
if [[ -n "$version" ]]; then
  # Every scripts/kafka.sh call (clusters of the tests' own, Java tools) and the
  # tests themselves use this release.
  export KAFKA_SH_KAFKA_VERSION="$version" KAFKA_RECORDS_TEST_KAFKA_VERSION="$version"
fi

# The tests' independent tools, from Debian: kcat (librdkafka) checks what
# reached Kafka; jq checks filters against a dump; curl, gzip and zstd read
# streams and compressed answers as a user's shell would; chromium, driven by
# node, is the real browser of tests/page.rs; nginx is the authenticating TLS
# proxy in front of the Schema Registry of tests/schemas_auth.rs
# (scripts/registry-proxy.sh).
missing=()
for tool in kcat jq curl gzip zstd chromium; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "test.sh: ${missing[*]} not found, installing the Debian packages" >&2
  sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"; } >&2 ||
    { echo "test.sh: could not install ${missing[*]} (apt-get install failed)" >&2; exit 1; }
fi

# playwright-core, which drives chromium for tests/page.rs: the version pinned
# by tests/page/package-lock.json, installed into tests/page/node_modules
# (ignored by git). It uses the machine's chromium; it downloads no browser.
pinned="$(node -p "require('./tests/page/package.json').dependencies['playwright-core']")"
installed="$(node -p "try { require('./tests/page/node_modules/playwright-core/package.json').version } catch { '' }")"
if [[ "$installed" != "$pinned" ]]; then
  echo "test.sh: installing playwright-core $pinned (npm ci in tests/page)" >&2
  (cd tests/page && npm ci --no-audit --no-fund --loglevel=error) >&2 ||
    { echo "test.sh: could not install playwright-core (npm ci in tests/page failed)" >&2; exit 1; }
fi

# The reference OpenAPI validator, used by tests/openapi.rs.
if ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  echo "test.sh: installing openapi-spec-validator from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0 >&2 ||
    { echo "test.sh: could not install openapi-spec-validator" >&2; exit 1; }
fi

# Generates requests from /openapi.json, used by tests/generated.rs.
if ! python3 -m pip show schemathesis 2>/dev/null | grep -qx 'Version: 4.32.5'; then
  echo "test.sh: installing schemathesis from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5 >&2 ||
    { echo "test.sh: could not install schemathesis" >&2; exit 1; }
fi

# Confluent's own Avro, Protobuf and JSON Schema serializers, pinned (used by
# tests/schemas.rs through tests/schemas_client.py, and tests/read_committed.rs,
# whose open transaction tests/open_transaction.py holds).
scripts/confluent-kafka.sh

# The Schema Registry the schema tests start (each its own, with
# scripts/registry.sh): fetched once here, so that no test waits for it.
scripts/registry.sh fetch >&2 ||
  { echo "test.sh: could not fetch the Schema Registry (scripts/registry.sh fetch)" >&2; exit 1; }

if [[ -z "${KAFKA_RECORDS_TEST_BOOTSTRAP:-}" ]]; then
  name="test${version:+-$version}"
  trap 'scripts/kafka.sh stop --name "$name"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  KAFKA_RECORDS_TEST_BOOTSTRAP="$(scripts/kafka.sh start --name "$name")"
  # The release kafka.sh started (its default, or KAFKA_SH_KAFKA_VERSION).
  : "${KAFKA_RECORDS_TEST_KAFKA_VERSION:=$(cat ".kafka/$name/version")}"
fi
export KAFKA_RECORDS_TEST_BOOTSTRAP
[[ -z "${KAFKA_RECORDS_TEST_KAFKA_VERSION:-}" ]] || export KAFKA_RECORDS_TEST_KAFKA_VERSION
echo "test.sh: KAFKA_RECORDS_TEST_BOOTSTRAP=$KAFKA_RECORDS_TEST_BOOTSTRAP" \
  "KAFKA_RECORDS_TEST_KAFKA_VERSION=${KAFKA_RECORDS_TEST_KAFKA_VERSION:-}" >&2

# Kafka creates its offsets and transaction logs on first use, which on a
# fresh broker can outlast the few seconds a test's request waits: the
# service creates both once (a transaction, and a group read that commits)
# before any test runs.
warm_up() {
  local port pid url log="$logs/warm-up.log" ok=0
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  target/debug/kafka-records --bootstrap-servers "$KAFKA_RECORDS_TEST_BOOTSTRAP" \
    --listen "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do
    curl -sf "$url/ready" >/dev/null 2>&1 && { ok=1; break; }
    sleep 0.2
  done
  if [[ $ok -eq 1 ]]; then
    ok=0
    curl -s -X POST -H 'content-type: application/json' "$url/topics" \
      -d '{"name": "test-warm-up", "partitions": 1}' >>"$log" 2>&1
    curl -sf -X POST -H 'content-type: application/json' "$url/records" \
      -d '{"transactionId": "test-warm-up", "timeout": "120s", "records": [{"topic": "test-warm-up", "value": "warm"}]}' \
      >>"$log" 2>&1 &&
      curl -sf "$url/records/test-warm-up?groupId=test-warm-up&distanceFromBeginning=0&timeout=120s" \
        >>"$log" 2>&1 && ok=1
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if [[ $ok -ne 1 ]]; then
    echo "test.sh: could not create Kafka's offsets and transaction logs through the service (see $log)" >&2
    cat "$log" >&2
    return 1
  fi
  echo "test.sh: Kafka's offsets and transaction logs are there" >&2
}

status=0
if [[ $# -gt 0 ]]; then
  # Every target, unless the arguments (before a `--`) choose some.
  selection=(--lib --bins --tests)
  for arg in "$@"; do
    [[ $arg == -- ]] && break
    case "$arg" in --test|--test=*|--lib|--bins|--bin|--bin=*) selection=() ;; esac
  done
  cargo test "${selection[@]}" "$@" || status=$?
  exit "$status"
fi
# Build the test binaries (every one, or the core ones), then run them in lanes
# (see scripts/test-lanes.py): those with Kafka clusters of their own one after
# another, the rest two at a time on the shared broker.
targets=(--lib --bins --tests)
logs=target/test-logs
if [[ $core -eq 1 ]]; then
  targets=()
  for t in "${CORE[@]}"; do targets+=(--test "$t"); done
  logs="target/test-logs/core-${KAFKA_RECORDS_TEST_KAFKA_VERSION:-default}"
fi
mkdir -p "$logs"
cargo test "${targets[@]}" --no-run --message-format=json-render-diagnostics \
  > "$logs/artifacts.json" || exit $?
warm_up || exit $?
python3 scripts/test-lanes.py "$logs/artifacts.json" "$logs" || status=$?
exit "$status"
