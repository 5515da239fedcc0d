#!/usr/bin/env bash
# Debian's librdkafka for the benchmark's librdkafka floor (floors/, linked
# dynamically against it): installs librdkafka-dev when pkg-config cannot
# find the library. Run by .ci/run before it lints floors/, and by
# scripts/bench.sh before it builds them.
set -euo pipefail
if pkg-config --exists rdkafka 2>/dev/null; then
  exit 0
fi
sudo=""
if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
echo "librdkafka.sh: librdkafka-dev not found, installing the Debian package" >&2
{ $sudo apt-get update -qq && $sudo apt-get install -y -qq librdkafka-dev pkg-config; } >&2 ||
  { echo "librdkafka.sh: could not install librdkafka-dev (apt-get install failed)" >&2; exit 1; }
