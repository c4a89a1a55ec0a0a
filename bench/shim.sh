#!/usr/bin/env bash
# Benchmark of containerd-shim-zlayer-v1 against io.containerd.runc.v2 on the
# test stack (root; tools from `make tools`). Prints ratios measured in one run.
set -uo pipefail
cd "$(dirname "$0")/.."
ZLAYER_BENCH=1 go test -count=1 -timeout 20m -run '^TestBenchShim$' -v ./bench/shim/ 2>&1 |
  grep -v -e 'DEPRECATION' -e '^=== RUN'
exit "${PIPESTATUS[0]}"
