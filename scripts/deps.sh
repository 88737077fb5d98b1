#!/bin/sh
# Installs every Debian package scry needs to build, test and benchmark.
# Idempotent: installs only what is missing. Works as root or with sudo.
set -eu

PACKAGES="build-essential cmake pkg-config zlib1g-dev libprotobuf-c-dev
protobuf-c-compiler libunwind-dev libdw-dev libelf-dev golang-go
google-perftools libgoogle-perftools-dev python3 procps
libjemalloc2 libjemalloc-dev heaptrack g++ libmicrohttpd-dev curl prometheus chromium
wrk linux-perf protobuf-compiler libcurl4-openssl-dev pigz zstd xz-utils clang"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "scry: installing missing packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# ---- Node.js and the OpenTelemetry JS SDK, for tests/otel/ --------------
# tests/otel/interop.sh (and span_name.sh's collector) run the OpenTelemetry
# JavaScript SDK under Node.js: any node >= 18.19 (Debian bookworm's nodejs
# is 18.19). The npm packages are pinned by tests/otel/node/package-lock.json
# and installed next to it, again whenever the lock file is newer.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "scry: installing nodejs and npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
otel_node="$(cd "$(dirname "$0")/.." && pwd)/tests/otel/node"
if [ ! -d "$otel_node/node_modules" ] || [ "$otel_node/package-lock.json" -nt "$otel_node/node_modules" ]; then
  echo "scry: installing the OpenTelemetry JS SDK for tests/otel (npm ci)"
  npm ci --prefix "$otel_node" --no-audit --no-fund --loglevel=error >/dev/null
  touch "$otel_node/node_modules"
fi
