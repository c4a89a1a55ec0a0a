#!/usr/bin/env bash
# Node benchmark: deploy 20 replicas against starting the same containers with
# the containerd client, serve's idle RSS, converge time after a restart with
# 50 containers; ratios measured in one run on the integration stack.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -run '^$' -bench '^BenchmarkNode$' -benchtime 1x -timeout 30m ./bench/node "$@"
