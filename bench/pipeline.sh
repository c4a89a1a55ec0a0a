#!/usr/bin/env bash
# Pipeline makespan benchmark: zlayer's dependency-driven scheduler against
# the critical path, one bake call per wave with barriers, and sequential
# builds, all measured in this run on the integration stack.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -run '^$' -bench BenchmarkPipelineMakespan -benchtime 1x -timeout 30m ./bench/pipeline "$@"
