#!/usr/bin/env bash
# Benchmark of the ZImagefile frontend against BuildKit's stock Dockerfile
# frontend on the test stack (root; tools from `make tools`). Prints ratios
# measured in one run.
set -uo pipefail
cd "$(dirname "$0")/.."
ZLAYER_BENCH=1 go test -count=1 -timeout 30m -run '^TestBenchFrontend$' -v ./bench/frontend/ 2>&1 |
  grep -v -e 'DEPRECATION' -e '^=== RUN'
exit "${PIPESTATUS[0]}"
