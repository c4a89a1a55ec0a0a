#!/usr/bin/env bash
# make bench: every benchmark, one after the other (they share the machine's
# two cores, so running them together would measure each other). Each prints
# ratios against a baseline measured in the same run. Name some to run only
# those: bench/run.sh shim node
set -uo pipefail
cd "$(dirname "$0")"
all=(frontend pipeline shim node network dns cluster clusternet dockernode)
sel=("$@")
[ ${#sel[@]} -eq 0 ] && sel=("${all[@]}")
failed=()
for b in "${sel[@]}"; do
  printf '\n==== bench/%s.sh ====\n' "$b"
  bash "./$b.sh" || failed+=("$b")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "benchmarks that failed: ${failed[*]}"
  exit 1
fi
