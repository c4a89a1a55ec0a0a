#!/usr/bin/env bash
# Benchmark of the zlayer-node image in dockerd (root; tools from `make
# tools`): docker run to node ready and to the first answer of a deployed
# service, against a plain container in the same run; image size.
set -uo pipefail
cd "$(dirname "$0")/.."
ZLAYER_BENCH=1 ZLAYER_INTEGRATION=require go test -count=1 -timeout 20m -run '^TestBenchDockerNode$' -v ./bench/dockernode/ 2>&1 |
  grep -v -e 'DEPRECATION' -e '^=== RUN' -e '^\s*time='
exit "${PIPESTATUS[0]}"
