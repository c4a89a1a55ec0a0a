#!/usr/bin/env bash
# Benchmark of the node's DNS server against Debian's unbound serving the
# same names as local data on the same machine, with the same load
# generator: answers/s and p99 of each and their ratios.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v unbound >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    # Only the binary is used: the bench runs its own instance on a free
    # loopback port, whatever the package's own service does.
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends unbound >/dev/null ||
      { echo "bench/dns.sh: installing unbound failed"; exit 1; }
  else
    echo "bench/dns.sh: unbound is missing (apt-get install unbound)"; exit 1
  fi
fi
ZLAYER_BENCH=1 go test -count=1 -timeout 5m -run '^TestBenchDNS$' -v ./bench/resolver/ 2>&1 | grep -v '^=== RUN'
exit "${PIPESTATUS[0]}"
