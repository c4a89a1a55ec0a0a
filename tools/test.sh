#!/usr/bin/env bash
# Runs the whole test suite verbosely into out/test.log and prints what a
# reader needs: every test's result line (so a skipped integration test is
# visible), each package's verdict, a count, and on failure the full output
# of the failing packages.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
log=out/test.log
timeout=${TEST_TIMEOUT:-45m}
echo "go test -v -count=1 -timeout $timeout -p 2 ./...  (ZLAYER_INTEGRATION=${ZLAYER_INTEGRATION:-}; full log: $log)"
export ZLAYER_BIN=${ZLAYER_BIN:-$PWD/bin}
go build -o bin/zlstack ./integration/cmd/zlstack
marker=out/.test-start
touch "$marker"
go test -v -count=1 -timeout "$timeout" -p 2 "$@" ./... >"$log" 2>&1
rc=$?
# A test that panicked or timed out skips its cleanup; stop the stacks this
# run started and left behind, by the PIDs they recorded.
[ -n "${ZLAYER_KEEP_STACK:-}" ] || for st in $(find /tmp -maxdepth 2 -name stack.json -path '/tmp/zl*' -newer "$marker" 2>/dev/null); do
  echo "stopping a stack a test left behind: $(dirname "$st")"
  bin/zlstack down "$(dirname "$st")" || rc=1
done
grep -E '^\s*--- (PASS|FAIL|SKIP)|^(ok|FAIL|---)\s|^panic:|build failed|\[setup failed\]' "$log"
pass=$(grep -cE '^\s*--- PASS' "$log")
fail=$(grep -cE '^\s*--- FAIL' "$log")
skip=$(grep -cE '^\s*--- SKIP' "$log")
if [ $rc -ne 0 ]; then
  echo
  echo "==== output of failing packages (last 400 lines each) ===="
  awk '/^=== RUN/ && !inpkg {inpkg=1; buf=""} {buf=buf $0 "\n"} /^(ok|FAIL)[ \t]/ {if ($1=="FAIL") printf "%s", buf; buf=""; inpkg=0}' "$log" | tail -n 400
  [ "$fail" -eq 0 ] && fail=1
fi
echo
echo "tests: $pass passed, $fail failed, $skip skipped"
exit $rc
