#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what building and testing vecstore needs on Debian 12, skipping
# what is already there. Non-interactive; run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential g++ clang libclang-rt-14-dev cmake ninja-build pkg-config python3 sqlite3 git curl util-linux  # libclang-rt: libFuzzer
  libsqlitecpp-dev libsqlite3-dev libeigen3-dev libboost-dev nlohmann-json3-dev
  catch2 libbenchmark-dev libcli11-dev libcpp-httplib-dev libfaiss-dev libhnswlib-dev libopenblas-dev
  python3-matplotlib  # tools/plot_benchmarks.py, run with /usr/bin/python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "vecstore setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
