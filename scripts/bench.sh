#!/usr/bin/env bash
# The side-by-side benchmark: the project's own Kafka layer, two Kafka clients
# it did not write (rskafka, librdkafka: floors/), kafka-records, and (when one
# runs) the Strimzi Kafka Bridge, against one local broker, in one run; then
# one-shot calls as whole processes (curl, kcat, Kafka's console tools),
# scaling, an Avro read on a Schema Registry it starts, and the rest.
#   scripts/bench.sh [--quick] [--bridge-url URL]
#                    [--only read|write|processes|scaling|avro|paging|long-polls|topics|tail|latency|search|stream-memory]
# --only takes a comma-separated list too (--only tail,latency,search,stream-memory:
# the stream workloads, beside kcat and jq). KAFKA_RECORDS_BENCH_BRIDGE_URL
# works as --bridge-url; KAFKA_RECORDS_BENCH_NAME names the broker and the
# registry it starts (default "bench"). Prints tables of medians and ratios.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# 2,000 concurrent long polls need more than the usual 1,024 descriptors,
# in the benchmark and in the service it starts.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The whole-process rows' tools, from Debian: hyperfine times them, GNU time
# gives their peak memory.
missing=()
for tool in kcat curl hyperfine; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /usr/bin/time ]] || missing+=(time)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "bench.sh: ${missing[*]} not found, installing the Debian packages" >&2
  sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"; } >&2 ||
    { echo "bench.sh: could not install ${missing[*]} (apt-get install failed)" >&2; exit 1; }
fi
# Debian's librdkafka, which the librdkafka floor links.
scripts/librdkafka.sh

# Whether a workload runs, as the benchmark decides it (--only).
only=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ "${args[$i]}" == "--only" ]] && only="${args[$((i + 1))]:-}"
done
selected() { # NAME: runs when --only is absent or one of its words is part of NAME
  [[ -z "$only" ]] && return 0
  local w words
  IFS=',' read -ra words <<<"$only"
  for w in "${words[@]}"; do [[ "$1" == *"$w"* ]] && return 0; done
  return 1
}

name="${KAFKA_RECORDS_BENCH_NAME:-bench}"
cleanup=()
trap 'for c in "${cleanup[@]}"; do eval "$c" || true; done' EXIT

# With KAFKA_RECORDS_BENCH_BOOTSTRAP set (e.g. the cluster a bridge already
# uses), that cluster is measured; otherwise a throwaway broker is started.
if [[ -z "${KAFKA_RECORDS_BENCH_BOOTSTRAP:-}" ]]; then
  cleanup+=("scripts/kafka.sh stop --name $name")
  KAFKA_RECORDS_BENCH_BOOTSTRAP="$(scripts/kafka.sh start --name "$name")"
  # So the benchmark can say how much CPU the broker used per request.
  KAFKA_RECORDS_BENCH_BROKER_PIDS="$(cat ".kafka/$name"/broker*.pid | paste -sd,)"
  export KAFKA_RECORDS_BENCH_BROKER_PIDS
fi
export KAFKA_RECORDS_BENCH_BOOTSTRAP

# The Avro read: a registry of its own (Apicurio), Confluent's Python client,
# and the registry's management port, whose metrics count its requests.
if selected avro && [[ -z "${KAFKA_RECORDS_BENCH_REGISTRY_URL:-}" ]]; then
  scripts/confluent-kafka.sh
  cleanup+=("scripts/registry.sh stop --name $name")
  KAFKA_RECORDS_BENCH_REGISTRY_URL="$(scripts/registry.sh start --name "$name")"
  port="$(tr '\0' '\n' <"/proc/$(cat ".registry/$name/registry.pid")/cmdline" |
    sed -n 's/^-Dquarkus.management.port=//p')"
  export KAFKA_RECORDS_BENCH_REGISTRY_METRICS="http://127.0.0.1:$port/metrics"
fi
export KAFKA_RECORDS_BENCH_REGISTRY_URL="${KAFKA_RECORDS_BENCH_REGISTRY_URL:-}"

cargo build --release --quiet
cargo build --release --quiet -p kafka-records-floors
cargo bench --quiet --bench compare -- "$@"
