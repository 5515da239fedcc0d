#!/usr/bin/env bash
# Quick start: a local Kafka broker plus kafka-records on http://127.0.0.1:8001.
#   scripts/quickstart.sh [KAFKA-RECORDS ARGS...]
# Uses KAFKA_RECORDS_BOOTSTRAP_SERVERS if set, otherwise starts the "dev" broker
# with scripts/kafka.sh and stops it again when the service exits (Ctrl-C).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${KAFKA_RECORDS_BOOTSTRAP_SERVERS:-}" ]]; then
  bootstrap="$KAFKA_RECORDS_BOOTSTRAP_SERVERS"
else
  trap 'scripts/kafka.sh stop --name dev' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  bootstrap="$(scripts/kafka.sh start --name dev)"
fi

cargo build --release

cat >&2 <<EOF
kafka-records on http://127.0.0.1:8001 (Kafka at $bootstrap). Try:
  curl -s -X POST localhost:8001/records -d '{"records":[{"topic":"hello","value":"world"}]}'
  curl -s 'localhost:8001/records/hello?distanceFromBeginning=0&limit=10'
Press Ctrl-C to stop.
EOF
# Not exec'd: the EXIT trap must still run to stop the broker started above.
target/release/kafka-records --bootstrap-servers "$bootstrap" "$@"
