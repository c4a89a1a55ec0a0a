#!/usr/bin/env bash
# Benchmark of the node ingress against going to the replica directly and
# through a plain byte relay (keep-alive, small responses, load generator on
# loopback): throughput ratios, and added p99 at saturation, at a fixed rate
# and with one client, all measured in one run.
set -uo pipefail
cd "$(dirname "$0")/.."
ZLAYER_BENCH=1 go test -count=1 -timeout 5m -run '^TestBenchIngress$' -v ./bench/network/ 2>&1 | grep -v '^=== RUN'
exit "${PIPESTATUS[0]}"
