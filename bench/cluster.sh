#!/usr/bin/env bash
# Cluster benchmark: join to ready, failover, leader loss, a 30-replica
# deploy over four nodes against one, API write latency and a server's RSS
# against a single node's; and ready on node 3 to routed by node 1's
# ingress (BenchmarkClusterIngress, goal <= 1 s); nodes in network
# namespaces, one run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -run '^$' -bench '^BenchmarkCluster(Ingress)?$' -benchtime 1x -timeout 30m ./bench/cluster "$@"
