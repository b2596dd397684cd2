#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: installs what is missing, builds, runs the demo
# (examples/demo: one ingestion process and three query processes on one
# store, over the package descriptions of /var/lib/dpkg/status).
# Extra arguments go to the demo (vecstore_demo --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DVECSTORE_BUILD_TESTS=OFF >/dev/null
echo "Building the demo (build/demo)..."
cmake --build build/demo -j2 --target vecstore_demo
mkdir -p build/demo/run
./build/demo/examples/vecstore_demo --out build/demo/run "$@"
