#!/usr/bin/env bash
# The side-by-side benchmark: direct Kafka layer, kafka-records, and (when one
# runs) the Strimzi Kafka Bridge, against one local broker, in one run.
#   scripts/bench.sh [--quick] [--bridge-url URL]
#                    [--only read|write|paging|long-polls|topics|tail|latency|search|stream-memory]
# --only takes a comma-separated list too (--only tail,latency,search,stream-memory:
# the stream workloads, beside kcat and jq). KAFKA_RECORDS_BENCH_BRIDGE_URL
# works as --bridge-url. Prints a table of medians and ratios.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# 2,000 concurrent long polls need more than the usual 1,024 descriptors,
# in the benchmark and in the service it starts.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# With KAFKA_RECORDS_BENCH_BOOTSTRAP set (e.g. the cluster a bridge already
# uses), that cluster is measured; otherwise a throwaway broker is started.
if [[ -z "${KAFKA_RECORDS_BENCH_BOOTSTRAP:-}" ]]; then
  trap 'scripts/kafka.sh stop --name bench' EXIT
  KAFKA_RECORDS_BENCH_BOOTSTRAP="$(scripts/kafka.sh start --name bench)"
  # So the benchmark can say how much CPU the broker used per request.
  KAFKA_RECORDS_BENCH_BROKER_PIDS="$(cat .kafka/bench/broker*.pid | paste -sd,)"
  export KAFKA_RECORDS_BENCH_BROKER_PIDS
fi
export KAFKA_RECORDS_BENCH_BOOTSTRAP
cargo build --release --quiet
cargo bench --quiet --bench compare -- "$@"
