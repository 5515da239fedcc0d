#!/usr/bin/env bash
# The page's figures (README, "The page"): the size of the page and its files
# as sent gzip-compressed, the time to first render on loopback (median of
# five cold loads in headless chromium), and the service's resident memory
# while the page tails a busy topic (kcat writing RATE records a second) for
# SECONDS seconds, sampled every second.
#   scripts/page-figures.sh [SECONDS] [RATE]      defaults: 60 s, 500 records/s
# Uses the release build (or KAFKA_RECORDS_BINARY), a throwaway broker (or KAFKA_RECORDS_BOOTSTRAP_SERVERS),
# Debian's chromium and tests/page's playwright-core (scripts/test.sh installs both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}" rate="${2:-500}"

command -v chromium >/dev/null || { echo "page-figures: chromium not found (apt-get install chromium)" >&2; exit 1; }
[[ -d tests/page/node_modules/playwright-core ]] ||
  (cd tests/page && npm ci --no-audit --no-fund --loglevel=error)

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n "${own_broker:-}" ]]; then
    scripts/kafka.sh stop --name page-figures >/dev/null
    rm -rf .kafka/page-figures
  fi
}
trap cleanup EXIT
if [[ -z "${KAFKA_RECORDS_BOOTSTRAP_SERVERS:-}" ]]; then
  own_broker=1
  KAFKA_RECORDS_BOOTSTRAP_SERVERS="$(scripts/kafka.sh start --name page-figures | tail -1)"
fi
bootstrap="$KAFKA_RECORDS_BOOTSTRAP_SERVERS"

# KAFKA_RECORDS_BINARY: a binary built already (else the release build).
binary="${KAFKA_RECORDS_BINARY:-target/release/kafka-records}"
[[ -n "${KAFKA_RECORDS_BINARY:-}" ]] || cargo build --release --quiet
out="$(mktemp)"
started=$(date +%s%N)
"$binary" --bootstrap-servers "$bootstrap" --listen 127.0.0.1:0 >"$out" 2>/dev/null &
service=$!
pids+=("$service")
for _ in $(seq 1000); do grep -q listening "$out" && break; sleep 0.01; done
url="$(sed -n 's/^listening on //p' "$out")"
# Start time: until the page answers, and until the first API call (the
# topics list) has its answer from Kafka.
until curl -sf -o /dev/null "$url/"; do sleep 0.01; done
page_ms=$(( ($(date +%s%N) - started) / 1000000 ))
until curl -sf -o /dev/null "$url/topics"; do sleep 0.01; done
topics_ms=$(( ($(date +%s%N) - started) / 1000000 ))
echo "start: the page answers after $page_ms ms, GET /topics after $topics_ms ms"
echo "service RSS idle: $(awk '/VmRSS/ {print $2}' "/proc/$service/status") KiB; binary $(stat -c %s "$binary") bytes"

# Size as sent: the page, its script and its styles, gzip-compressed.
total=0
for path in / /ui/app.js /ui/app.css; do
  raw=$(curl -s "$url$path" | wc -c)
  gz=$(curl -s -H 'Accept-Encoding: gzip' "$url$path" | wc -c)
  echo "size $path: $raw bytes, $gz gzip"
  total=$((total + gz))
done
echo "size total gzip: $total bytes"

# A busy topic: kcat writing about $rate records a second of ~200 bytes.
topic="page-busy-$$"
python3 -c "
import sys, time, json
n = 0
while True:
    start = time.time()
    for _ in range($rate // 10):
        sys.stdout.write(json.dumps({'n': n, 'at': time.time(), 'pad': 'x' * 150}) + '\n')
        n += 1
    sys.stdout.flush()
    time.sleep(max(0, 0.1 - (time.time() - start)))
" 2>/dev/null | kcat -b "$bootstrap" -P -t "$topic" 2>/dev/null &
pids+=("$!")
sleep 3

rss() { awk '/VmRSS/ {print $2}' "/proc/$service/status"; }
echo "service RSS before the page: $(rss) KiB"
samples="$(mktemp)"
( while kill -0 "$service" 2>/dev/null; do rss >>"$samples"; sleep 1; done ) &
pids+=("$!")
CHROMIUM="$(command -v chromium)" PAGE_URL="$url" PAGE_TOPIC="$topic" FIGURES_SECONDS="$seconds" \
  node tests/page/figures.mjs
sort -n "$samples" | awk '{v[NR]=$1} END {printf "service RSS while tailing: min %d KiB, median %d KiB, max %d KiB (%d samples)\n", v[1], v[int((NR+1)/2)], v[NR], NR}'
echo "service RSS after: $(rss) KiB"
