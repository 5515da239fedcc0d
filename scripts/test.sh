#!/usr/bin/env bash
# The project's test command: every test of `cargo test --lib --bins --tests`
# against a real Kafka, the test binaries run in parallel lanes (the benchmark
# under benches/ runs with scripts/bench.sh instead).
#   scripts/test.sh                          the whole suite
#   scripts/test.sh [CARGO TEST ARGS...]     e.g. scripts/test.sh --test get -- --nocapture
# Starts a throwaway single-node cluster ("test") with scripts/kafka.sh and stops
# it afterwards, unless KAFKA_RECORDS_TEST_BOOTSTRAP already points at a cluster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The tests' independent tools, from Debian: kcat (librdkafka) checks what
# reached Kafka; jq checks filters against a dump; curl, gzip and zstd read
# streams and compressed answers as a user's shell would.
missing=()
for tool in kcat jq curl gzip zstd; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "test.sh: ${missing[*]} not found, installing the Debian packages" >&2
  sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"; } >&2 ||
    { echo "test.sh: could not install ${missing[*]} (apt-get install failed)" >&2; exit 1; }
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

# Confluent's own Avro serializers (librdkafka with the Schema Registry
# client), used by tests/schemas.rs through tests/schemas_client.py.
if ! python3 -m pip show confluent-kafka 2>/dev/null | grep -qx 'Version: 2.16.1' ||
   ! python3 -c 'import fastavro, confluent_kafka.schema_registry.avro' 2>/dev/null; then
  echo "test.sh: installing confluent-kafka[avro,schemaregistry] from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'confluent-kafka[avro,schemaregistry]==2.16.1' >&2 ||
    { echo "test.sh: could not install confluent-kafka" >&2; exit 1; }
fi

# The Schema Registry the schema tests start (each its own, with
# scripts/registry.sh): fetched once here, so that no test waits for it.
scripts/registry.sh fetch >&2 ||
  { echo "test.sh: could not fetch the Schema Registry (scripts/registry.sh fetch)" >&2; exit 1; }

if [[ -z "${KAFKA_RECORDS_TEST_BOOTSTRAP:-}" ]]; then
  trap 'scripts/kafka.sh stop --name test' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  KAFKA_RECORDS_TEST_BOOTSTRAP="$(scripts/kafka.sh start --name test)"
fi
export KAFKA_RECORDS_TEST_BOOTSTRAP
echo "test.sh: KAFKA_RECORDS_TEST_BOOTSTRAP=$KAFKA_RECORDS_TEST_BOOTSTRAP" >&2

status=0
if [[ $# -gt 0 ]]; then
  cargo test --lib --bins --tests "$@" || status=$?
  exit "$status"
fi
# The whole suite: build every test binary, then run them in lanes (see
# scripts/test-lanes.py): those with Kafka clusters of their own one after
# another, the rest two at a time on the shared broker.
mkdir -p target/test-logs
cargo test --lib --bins --tests --no-run --message-format=json-render-diagnostics \
  > target/test-logs/artifacts.json || exit $?
python3 scripts/test-lanes.py target/test-logs/artifacts.json target/test-logs || status=$?
exit "$status"
