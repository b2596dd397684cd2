#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: installs what is missing, builds, runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DVECSTORE_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo -j2 --target vecstore_quickstart
mkdir -p build/demo/run
./build/demo/examples/vecstore_quickstart build/demo/run/quickstart.db
