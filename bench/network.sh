#!/usr/bin/env bash
# Benchmarks of the node ingress, all measured within one run each:
#  - against going to the replica directly and through a plain byte relay
#    (TestBenchIngress: keep-alive, small responses, Go load generator);
#  - against HAProxy and nginx in front of the same replica (TestBenchPeers:
#    four cases, wrk and the Go load generator, rounds alternated), printing
#    each case's throughput, p99 and CPU-per-request ratios to the best peer.
# haproxy, nginx-light and wrk come from Debian: installed here when missing
# (as root; otherwise the peer comparison is skipped). Loopback only.
# ZLAYER_BENCH_PROFILE=DIR adds the ingress's pprof profiles, context
# switches and strace syscall counts per request for every peer.
set -uo pipefail
cd "$(dirname "$0")/.."
missing=()
for p in haproxy nginx-light wrk; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  echo "network bench: installing ${missing[*]}" >&2
  # The packages' scripts must not start their daemons on this host: the
  # bench starts its own, on loopback ports, and stops them by PID.
  policy=/usr/sbin/policy-rc.d added_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; added_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  [ -n "$added_policy" ] && rm -f "$policy"
fi
ZLAYER_BENCH=1 go test -count=1 -timeout 15m -run '^TestBench(Ingress|Peers)$' -v ./bench/network/ 2>&1 | grep -v '^=== RUN'
exit "${PIPESTATUS[0]}"
