#!/usr/bin/env bash
# Quick start: a local Kafka broker plus kafka-records on http://127.0.0.1:8001.
#   scripts/quickstart.sh [--schema-registry] [KAFKA-RECORDS ARGS...]
# Uses KAFKA_RECORDS_BOOTSTRAP_SERVERS if set, otherwise starts the "dev" broker
# with scripts/kafka.sh and stops it again when the service exits (Ctrl-C).
# --schema-registry also starts the "dev" Schema Registry with
# scripts/registry.sh (Apicurio, fetched on first use), points the service at
# it (--schema-registry-url, for the avro, protobuf and jsonschema formats) and
# stops it again on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

with_registry=0
if [[ "${1:-}" == --schema-registry ]]; then
  with_registry=1
  shift
fi

started=()
stop_started() {
  local what
  for what in "${started[@]}"; do
    case "$what" in
      kafka) scripts/kafka.sh stop --name dev ;;
      registry) scripts/registry.sh stop --name dev ;;
    esac
  done
}
trap stop_started EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n "${KAFKA_RECORDS_BOOTSTRAP_SERVERS:-}" ]]; then
  bootstrap="$KAFKA_RECORDS_BOOTSTRAP_SERVERS"
else
  started+=(kafka)
  bootstrap="$(scripts/kafka.sh start --name dev)"
fi
registry_args=()
if [[ $with_registry -eq 1 ]]; then
  started+=(registry)
  registry_url="$(scripts/registry.sh start --name dev)"
  registry_args=(--schema-registry-url "$registry_url")
fi

cargo build --release

cat >&2 <<EOF
kafka-records on http://127.0.0.1:8001 (Kafka at $bootstrap${registry_url:+, Schema Registry at $registry_url}). Try:
  curl -s -X POST localhost:8001/records -d '{"records":[{"topic":"hello","value":"world"}]}'
  curl -s 'localhost:8001/records/hello?distanceFromBeginning=0&limit=10'
EOF
if [[ $with_registry -eq 1 ]]; then
  cat >&2 <<'EOF'
  curl -s localhost:8001/records -d '{"records":[{"topic":"users","valueSerializer":"avro","value":{"name":"ann"},"valueSchema":{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}}]}'
  curl -s 'localhost:8001/records/users?valueDeserializer=avro&distanceFromBeginning=0&limit=10'
EOF
fi
echo "Press Ctrl-C to stop." >&2
# Not exec'd: the EXIT trap must still run to stop what was started above.
target/release/kafka-records --bootstrap-servers "$bootstrap" "${registry_args[@]}" "$@"
