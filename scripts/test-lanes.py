#!/usr/bin/env python3
"""Runs the built test binaries in lanes, for scripts/test.sh.

Usage: test-lanes.py ARTIFACTS_JSON LOG_DIR

ARTIFACTS_JSON is the output of `cargo test --no-run --message-format=json`.
Binaries that start Kafka clusters of their own and kill brokers run one
after another in their own lane, so that they never compete with each other;
every other binary runs two at a time beside them, the longest first (as far
as earlier runs tell), most of them on the one test broker. Each binary's output is printed whole when it ends, with its duration;
the exit status is 1 if any binary failed.
"""

import json
import os
import subprocess
import sys
import threading
import time

# Binaries with clusters of their own whose brokers they stop and kill; slow,
# and sensitive to load. (kafka_security's secure cluster is its own too, but
# nothing stops its brokers: it runs in the other lanes.)
OWN_CLUSTERS = ["chaos", "faults", "transactions", "outages"]
SHARED_LANES = 2

# Seconds each binary took in a CI run (2 cores, all lanes busy): the other
# lanes start the longest first, so that they end together. Binaries not
# named here come last.
TYPICAL_SECONDS = {
    "generated": 300, "schemas": 250, "groups": 205, "group_routes": 180,
    "page": 140, "schemas_auth": 140, "readme": 90, "kafka_security": 87,
    "post": 84, "streams": 81, "writes": 77, "topics": 66, "reads": 30,
    "read_committed": 27, "connections": 26, "openapi": 24, "get": 20,
    "ndjson_post": 18, "shutdown": 14,
}


def artifacts(path):
    """(name, executable) of every test binary cargo built."""
    found = []
    with open(path) as f:
        for line in f:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
                continue
            if not msg.get("profile", {}).get("test"):
                continue
            target = msg["target"]
            kind = target["kind"][0]
            name = target["name"] if kind == "test" else f"{kind}:{target['name']}"
            found.append((name, msg["executable"]))
    return found


def main():
    built, log_dir = sys.argv[1], sys.argv[2]
    os.makedirs(log_dir, exist_ok=True)
    binaries = artifacts(built)
    if not binaries:
        print("test-lanes: no test binaries were built", file=sys.stderr)
        return 1
    own = [b for b in binaries if b[0] in OWN_CLUSTERS]
    shared = [b for b in binaries if b[0] not in OWN_CLUSTERS]
    queue = sorted(shared, key=lambda b: -TYPICAL_SECONDS.get(b[0], 0))
    lock = threading.Lock()
    results = {}

    def run(name, exe):
        started = time.monotonic()
        log = os.path.join(log_dir, f"{name.replace(':', '-')}.log")
        with open(log, "wb") as out:
            rc = subprocess.call([exe], stdout=out, stderr=subprocess.STDOUT)
        took = time.monotonic() - started
        with lock:
            results[name] = (rc, took)
            with open(log, "rb") as f:
                sys.stdout.write(f"\n===== {name}: {'ok' if rc == 0 else 'FAILED'} in {took:.0f} s =====\n")
                sys.stdout.flush()
                sys.stdout.buffer.write(f.read())
                sys.stdout.flush()

    def shared_lane():
        while True:
            with lock:
                if not queue:
                    return
                name, exe = queue.pop(0)
            run(name, exe)

    def own_lane():
        for name, exe in own:
            run(name, exe)

    started = time.monotonic()
    threads = [threading.Thread(target=own_lane)]
    threads += [threading.Thread(target=shared_lane) for _ in range(SHARED_LANES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = sorted(n for n, (rc, _) in results.items() if rc != 0)
    print(f"\n===== test binaries: {len(results)} run in {time.monotonic() - started:.0f} s =====")
    for name, (rc, took) in sorted(results.items(), key=lambda r: -r[1][1]):
        print(f"  {took:6.0f} s  {'ok    ' if rc == 0 else 'FAILED'}  {name}")
    if failed:
        print(f"FAILED: {', '.join(failed)} (logs in {log_dir})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
