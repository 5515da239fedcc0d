#!/usr/bin/env bash
# Fuzzes the request parsers with cargo-fuzz (libFuzzer): the POST body parser,
# the NDJSON line reader and the GET/DELETE query parsers, the targets under
# fuzz/fuzz_targets (their properties are in src/fuzzing.rs). Fails when any
# target finds a crash.
#   scripts/fuzz.sh [--release] [SECONDS]    each target runs SECONDS (default 60)
#
# - By default the targets are built without optimisations (cargo-fuzz's
#   --dev): on two cores the service and its dependencies, instrumented, build
#   in about 5 minutes of wall time (9 of CPU) instead of 22 (28 of CPU)
#   optimised, and CI's bounded run needs a build more than it needs speed:
#   a target then runs a few hundred inputs a second (a `filter=` in a query
#   compiles a jq program), some 15,000 in a minute. --release builds them
#   optimised (the fuzz workspace's release profile, opt-level 1, with 16
#   codegen units) for longer runs.
# - Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) when missing.
# - cargo-fuzz builds with nightly-only compiler flags (-Zsanitizer=address
#   and coverage instrumentation). The script uses rustup's `nightly`
#   toolchain when it is installed; otherwise (or with
#   KAFKA_RECORDS_FUZZ_STABLE=1) the default toolchain with RUSTC_BOOTSTRAP=1,
#   which makes a stable compiler accept them (its address sanitizer runtime
#   ships with rust-std like nightly's).
# - Seeds: fuzz/seeds/<target> (committed); inputs found along the way grow
#   fuzz/corpus/<target> (ignored), so later runs start where earlier ones
#   stopped. Token dictionaries: fuzz/dicts/<target>.dict.
# - A crash leaves its input in fuzz/artifacts/<target>/crash-*; replay it with
#   `cargo +nightly fuzz run --dev <target> fuzz/artifacts/<target>/crash-...`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=(--dev)
if [[ "${1:-}" == "--release" ]]; then
  build=(--release --codegen-units 16)
  shift
fi
seconds="${1:-60}"
if [[ ! "$seconds" =~ ^[1-9][0-9]*$ || $# -gt 1 ]]; then
  echo "usage: scripts/fuzz.sh [--release] [SECONDS per target]" >&2
  exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz not found, installing it with cargo install" >&2
  cargo install cargo-fuzz --locked >&2 ||
    { echo "fuzz.sh: could not install cargo-fuzz" >&2; exit 1; }
fi

toolchain=()
if [[ "${KAFKA_RECORDS_FUZZ_STABLE:-}" != 1 ]] && rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  echo "fuzz.sh: building with $(rustc --version) and RUSTC_BOOTSTRAP=1 (no nightly toolchain used)" >&2
  export RUSTC_BOOTSTRAP=1
fi
echo "fuzz.sh: $(cargo "${toolchain[@]}" fuzz --version), $(rustc "${toolchain[@]}" --version)" >&2

# The fuzz workspace keeps no lock file of its own: it starts from the
# service's, so both build the same versions (cargo adds libfuzzer-sys).
cp Cargo.lock fuzz/Cargo.lock
# Debug assertions stay on (an overflow is a crash too), and the address
# sanitizer (cargo-fuzz's default), in either build.
cargo "${toolchain[@]}" fuzz build "${build[@]}" >&2

failed=()
for target in $(cargo "${toolchain[@]}" fuzz list); do
  echo "fuzz.sh: $target for ${seconds}s" >&2
  mkdir -p "fuzz/corpus/$target"
  if ! cargo "${toolchain[@]}" fuzz run "${build[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -dict="fuzz/dicts/$target.dict" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 >&2; then
    failed+=("$target")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: crashes found by ${failed[*]}; inputs are under fuzz/artifacts/" >&2
  exit 1
fi
echo "fuzz.sh: no crash" >&2
