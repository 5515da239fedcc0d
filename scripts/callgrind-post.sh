#!/usr/bin/env bash
# Instructions the service spends per POST /records of 100 records of about
# 100 bytes, counted by valgrind's callgrind: a count, not a time, so it repeats
# on a shared machine where timings drift.
#   scripts/callgrind-post.sh [REQUESTS]        (default 320)
# Runs the release binary under callgrind twice, with 20 and with 20+REQUESTS
# keep-alive POSTs, and prints the difference per request (start-up and the
# first requests cancel out). Starts a throwaway broker unless
# KAFKA_RECORDS_BENCH_BOOTSTRAP points at one. Annotate a run with
#   callgrind_annotate --inclusive=yes target/callgrind/post.long.out
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
requests="${1:-320}"

if ! command -v valgrind >/dev/null; then
  echo "callgrind-post.sh: valgrind not found, installing the Debian package" >&2
  sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq valgrind; } >&2
fi
if [[ -z "${KAFKA_RECORDS_BENCH_BOOTSTRAP:-}" ]]; then
  trap 'scripts/kafka.sh stop --name callgrind' EXIT
  KAFKA_RECORDS_BENCH_BOOTSTRAP="$(scripts/kafka.sh start --name callgrind)"
fi
cargo build --release --quiet
mkdir -p target/callgrind

# Total instructions of one run of the service that answers $2 POSTs.
run() {
  local name=$1 posts=$2 port
  port=$((20000 + RANDOM % 20000))
  KAFKA_RECORDS_LOG=warn valgrind --tool=callgrind \
    --callgrind-out-file="target/callgrind/post.$name.out" \
    target/release/kafka-records --bootstrap-servers "$KAFKA_RECORDS_BENCH_BOOTSTRAP" \
    --listen "127.0.0.1:$port" >/dev/null 2>"target/callgrind/post.$name.log" &
  local pid=$!
  python3 - "$port" "$posts" <<'PYEOF'
import http.client, json, sys, time
port, posts = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 120
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("GET", "/ready")
        if c.getresponse().status == 204:
            break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit("callgrind-post.sh: the service did not become ready")
    time.sleep(0.5)
body = json.dumps({"records": [{"topic": "callgrind-post", "value": "x" * 100 + str(i)}
                               for i in range(100)]})
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(posts):
    c.request("POST", "/records", body)
    r = c.getresponse()
    answer = r.read()
    if r.status != 200:
        sys.exit(f"callgrind-post.sh: POST answered {r.status}: {answer[:300]!r}")
PYEOF
  kill -INT "$pid"
  wait "$pid" || true
  awk '/^(summary|totals):/ {print $2; exit}' "target/callgrind/post.$name.out"
}

short=$(run short 20)
long=$(run long $((20 + requests)))
echo "instructions per 100-record POST: $(((long - short) / requests)) (runs of 20 and $((20 + requests)) POSTs: $short and $long)"
