#!/usr/bin/env bash
# The long chaos run: tests/chaos.rs with more fault rounds and more writers,
# built with optimizations. The test starts (and stops) its own 3-broker
# cluster with scripts/kafka.sh; nothing else needs to run.
#   scripts/chaos.sh [CARGO TEST ARGS...]
# KAFKA_RECORDS_CHAOS_ROUNDS (default here 10) and KAFKA_RECORDS_CHAOS_WRITERS
# (default here 8) size the run; scripts/test.sh runs the same test with 2
# rounds and 4 writers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# kcat (librdkafka) is the test's independent Kafka client.
if ! command -v kcat >/dev/null; then
  echo "chaos.sh: kcat not found, installing the Debian package" >&2
  sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq kcat; } >&2 ||
    { echo "chaos.sh: could not install kcat (apt-get install -y kcat failed)" >&2; exit 1; }
fi

export KAFKA_RECORDS_CHAOS_ROUNDS="${KAFKA_RECORDS_CHAOS_ROUNDS:-10}"
export KAFKA_RECORDS_CHAOS_WRITERS="${KAFKA_RECORDS_CHAOS_WRITERS:-8}"
echo "chaos.sh: $KAFKA_RECORDS_CHAOS_ROUNDS rounds, $KAFKA_RECORDS_CHAOS_WRITERS writers" >&2
exec cargo test --release --test chaos "$@" -- --nocapture
