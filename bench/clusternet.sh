#!/usr/bin/env bash
# Cluster network benchmark: throughput and round-trip latency to a bridge
# replica from another node over host-gw and over WireGuard, against the
# same from the replica's own node; nodes in network namespaces, one run.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -run '^$' -bench '^BenchmarkClusterNet$' -benchtime 1x -timeout 20m ./bench/clusternet "$@"
