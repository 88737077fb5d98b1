#!/bin/sh
# Installs every Debian package scry needs to build, test and benchmark.
# Idempotent: installs only what is missing. Works as root or with sudo.
set -eu

PACKAGES="build-essential cmake pkg-config zlib1g-dev libprotobuf-c-dev
protobuf-c-compiler libunwind-dev libdw-dev libelf-dev golang-go
google-perftools libgoogle-perftools-dev python3 procps
libjemalloc2 libjemalloc-dev heaptrack g++ libmicrohttpd-dev curl prometheus chromium
wrk linux-perf protobuf-compiler"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "scry: installing missing packages:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
